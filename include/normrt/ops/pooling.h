// Pooling over 1, 2 or 3 spatial dimensions with torch.nn.functional's semantics: max pooling (with argmax indices for
// the backward; NaN propagates, ties go to the first element in scan order), average pooling (ceil_mode,
// count_include_pad, divisor_override), adaptive average and adaptive max pooling. Input (N, C, *spatial) or
// unbatched (C, *spatial), float32 (float16/bfloat16: computed in float32, outputs rounded once). CPU loops and CUDA
// kernels share one arithmetic (kernels/pooling_math.cuh); both are deterministic.
#pragma once
#include <cstdint>
#include <optional>
#include <vector>

#include "normrt/tensor.h"

namespace normrt::ops {

struct PoolParams {
  // One value for every spatial dimension or one per dimension; an empty stride means the kernel size.
  std::vector<int64_t> kernel_size;
  std::vector<int64_t> stride;
  std::vector<int64_t> padding{0};
  std::vector<int64_t> dilation{1};  // max pooling only
  bool ceil_mode = false;
  bool count_include_pad = true;     // average pooling only
  // Average pooling: divide every window's sum by this instead (PyTorch's divisor_override; not 0).
  std::optional<int64_t> divisor_override;
};

struct MaxPoolResult {
  Tensor output;
  Tensor indices;  // int64, the argmax's flat index within its (n, c) plane, as PyTorch's return_indices
};

// `spatial` is the pooling's rank (1, 2, 3: max_pool1d/2d/3d).
MaxPoolResult max_pool(const Tensor& input, int spatial, const PoolParams& params);
// `indices` as max_pool returned them. On the CPU an index outside its input plane is refused ("Found an invalid max
// index"); the GPU's gather adds nothing for an index outside its window.
Tensor max_pool_backward(const Tensor& grad_output, const Tensor& input, const Tensor& indices, int spatial,
                         const PoolParams& params);
Tensor avg_pool(const Tensor& input, int spatial, const PoolParams& params);
Tensor avg_pool_backward(const Tensor& grad_output, const Tensor& input, int spatial, const PoolParams& params);
// output_size: one value per spatial dimension (or one for all).
Tensor adaptive_avg_pool(const Tensor& input, int spatial, const std::vector<int64_t>& output_size);
Tensor adaptive_avg_pool_backward(const Tensor& grad_output, const Tensor& input, int spatial);
// Adaptive max pooling (torch.nn.functional.adaptive_max_pool1d/2d/3d with return_indices): output o along a dimension
// takes the max over inputs [floor(o * in / out), ceil((o + 1) * in / out)) by max_pool's rule, its flat index within
// the plane in `indices`.
MaxPoolResult adaptive_max_pool(const Tensor& input, int spatial, const std::vector<int64_t>& output_size);
Tensor adaptive_max_pool_backward(const Tensor& grad_output, const Tensor& input, const Tensor& indices, int spatial);

}  // namespace normrt::ops
