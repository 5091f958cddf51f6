// searchsorted and bucketize, CPU and CUDA, as PyTorch 1.13: the int64 index at which each value would be inserted into
// sorted boundaries, before the first boundary at or above it (left, the default) or after the last one at or below it
// (right: `right = true` or side "right"; side "left" beside right = true is refused: "torch.searchsorted(): side and
// right can't be set to opposites, got side of left while right was True").
//
// searchsorted(sorted_sequence, values): sorted_sequence is 1-D (every value searched in it) or has the values' leading
// dimensions (each row of its last one searched for the values of the same row: "torch.searchsorted(): boundaries
// tensor should be 1 dimension or the first N-1 dimensions of boundaries tensor and input value tensor must match,
// ..."); `sorter`, int64 of sorted_sequence's shape, gives each row's order when the sequence itself is not sorted.
// Values and boundaries are compared in their result type (PyTorch's result_type: a 0-dim tensor counts by its category
// and a number is a wrapped one, so a float32 number beside float16 boundaries is rounded to float16 first; two bool
// tensors are refused: "\"searchsorted_out_cpu\" not implemented for 'Bool'", on a GPU "searchsorted_out_cuda"). The
// search is PyTorch's binary search step by step, so unsorted boundaries and NaNs give its indices (a NaN value goes
// last). The result has the values' shape, contiguous (a number gives a 0-dim tensor). PyTorch reads past its
// boundaries for a sorter entry outside [0, N); normrt refuses one (on a GPU checking reads a flag back, a
// synchronisation). out_int32 is not offered: normrt has no int32 dtype.
//
// bucketize(input, boundaries) is searchsorted(boundaries, input) for 1-D boundaries ("boundaries tensor must be 1
// dimension, but got dim(2)").
#pragma once
#include <optional>
#include <string_view>

#include "normrt/scalar.h"
#include "normrt/tensor.h"

namespace normrt::ops {

Tensor searchsorted(const Tensor& sorted_sequence, const Tensor& values, bool right = false,
                    std::optional<std::string_view> side = std::nullopt, const Tensor& sorter = Tensor());
Tensor searchsorted(const Tensor& sorted_sequence, Scalar value, bool right = false,
                    std::optional<std::string_view> side = std::nullopt, const Tensor& sorter = Tensor());

Tensor bucketize(const Tensor& input, const Tensor& boundaries, bool right = false);
Tensor bucketize(Scalar input, const Tensor& boundaries, bool right = false);

}  // namespace normrt::ops
