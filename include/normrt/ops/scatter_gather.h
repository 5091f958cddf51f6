// torch.gather, Tensor.scatter_ / scatter (with reduce="add" or "multiply"), scatter_add_ / scatter_add and
// scatter_reduce_ / scatter_reduce with PyTorch 1.13's semantics and errors, on the CPU and CUDA, every dtype (float32,
// float16, bfloat16, int64, bool; int64 indices).
//
// A position of `index` with value v stands for the element at its own coordinates with v along `dim`: gather reads
// it from input, scatter writes src's element at the position's coordinates there. `index` has the dimensions of
// input (of self and src), no size larger than input's or self's except along `dim`, and none larger than src's; a
// 0-dim tensor counts as one element of one dimension. With an empty index nothing is checked but the dtypes. On the
// CPU an index outside [0, size along dim) is refused ("index 7 is out of bounds for dimension 1 with size 4") before
// anything is written; a device does not stop to check: gather gives NaN there (0 for int64), scatter leaves the
// position out.
//
// Several positions writing one element are applied in index order (row-major), as PyTorch's CPU loop applies them:
// scatter keeps the last, scatter_add adds them to the element one by one, each addition rounded to the dtype
// (float16 and bfloat16 through float), scatter_reduce reduces them into it likewise. A device does the same without
// atomics: the same bits, run to run.
#pragma once
#include <cstdint>
#include <string_view>

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

// scatter with reduce "add" (scatter_add's sums) or "multiply" (each product rounded to the dtype as a sum is); a bool
// sum is an or, a bool product an and.
Tensor& scatter_(Tensor& self, int64_t dim, const Tensor& index, const Tensor& src, std::string_view reduce);
Tensor& scatter_(Tensor& self, int64_t dim, const Tensor& index, Scalar value, std::string_view reduce);
Tensor scatter(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src, std::string_view reduce);
Tensor scatter(const Tensor& self, int64_t dim, const Tensor& index, Scalar value, std::string_view reduce);

// Each element of self with positions: its positions' src values reduced into it in index order by `reduce`, one of
// "sum", "prod", "mean", "amax", "amin" (PyTorch's CPU bits: float16 and bfloat16 round at each step; amax and amin
// take a NaN src and keep a NaN element; of equal values, zeros of either sign, the first stays). With include_self
// the reduction starts from the element, else from the reduction's identity (0, 1, -inf, +inf; int64's lowest and
// largest). "mean" sums, then divides by the count of positions (plus one with include_self), counted in self's dtype
// as PyTorch counts (float16 stops at 2048), int64 rounding down; a bool mean is refused, the other bool reductions
// are or (sum, amax) and and (prod, amin). Elements without positions keep their values.
Tensor& scatter_reduce_(Tensor& self, int64_t dim, const Tensor& index, const Tensor& src, std::string_view reduce,
                        bool include_self = true);
Tensor scatter_reduce(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src, std::string_view reduce,
                      bool include_self = true);

}  // namespace normrt::ops
