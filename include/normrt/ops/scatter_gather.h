// torch.gather, Tensor.scatter_ / scatter and scatter_add_ / scatter_add with PyTorch 1.13's semantics and errors, on
// the CPU and CUDA, every dtype (float32, float16, bfloat16, int64; int64 indices).
//
// A position of `index` with value v stands for the element at its own coordinates with v along `dim`: gather reads
// it from input, scatter writes src's element at the position's coordinates there. `index` has the dimensions of
// input (of self and src), no size larger than input's or self's except along `dim`, and none larger than src's; a
// 0-dim tensor counts as one element of one dimension. With an empty index nothing is checked but the dtypes. On the CPU an index outside
// [0, size along dim) is refused ("index 7 is out of bounds for dimension 1 with size 4") before anything is written;
// a device does not stop to check: gather gives NaN there (0 for int64), scatter leaves the position out.
//
// Several positions writing one element are applied in index order (row-major), as PyTorch's CPU loop applies them:
// scatter keeps the last, scatter_add adds them to the element one by one, each addition rounded to the dtype
// (float16 and bfloat16 through float). A device does the same without atomics: the same bits, run to run.
#pragma once
#include <cstdint>

#include "normrt/scalar.h"
#include "normrt/tensor.h"

namespace normrt::ops {

// Shaped as index, contiguous, in input's dtype.
Tensor gather(const Tensor& input, int64_t dim, const Tensor& index);
// gather's backward, as PyTorch's: zeros of input_sizes in grad's dtype, scatter_add_ of grad (index's shape).
Tensor gather_backward(const Tensor& grad, const Shape& input_sizes, int64_t dim, const Tensor& index);

// In place (self keeps its memory format; its version is bumped); src has self's dtype.
Tensor& scatter_(Tensor& self, int64_t dim, const Tensor& index, const Tensor& src);
// value converted to self's dtype as fill_ converts it (refused where it cannot hold it).
Tensor& scatter_(Tensor& self, int64_t dim, const Tensor& index, Scalar value);
Tensor& scatter_add_(Tensor& self, int64_t dim, const Tensor& index, const Tensor& src);
// Out of place: a contiguous copy of self scattered into, as PyTorch's.
Tensor scatter(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src);
Tensor scatter(const Tensor& self, int64_t dim, const Tensor& index, Scalar value);
Tensor scatter_add(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src);

}  // namespace normrt::ops
