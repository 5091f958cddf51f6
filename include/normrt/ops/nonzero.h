// The selections and indexing by a tensor, CPU and CUDA, as PyTorch 1.13's: ops whose result's size is the number of
// selected elements, each taken in row-major (flat index) order whatever the memory format, so the same result on
// every device and every run. An element is selected where it is not zero (NaN is, -0.0 is not) or where a bool mask
// is true. On a GPU the count (or an index's range) is read back to the host first: these ops wait for the device (as
// PyTorch's) and are refused inside a CUDA graph capture.
#pragma once
#include <vector>

#include "normrt/tensor.h"

namespace normrt::ops {

// The coordinates of t's nonzero elements: an int64 tensor (count, t.dim()), a row per element in row-major order
// (torch.nonzero; a 0-dim t is one element, with no coordinates). argwhere is the same.
Tensor nonzero(const Tensor& t);
Tensor argwhere(const Tensor& t);
// The same as one int64 tensor (count) per dimension (torch.nonzero(t, as_tuple=True)); a 0-dim t as a 1-d one.
std::vector<Tensor> nonzero_as_tuple(const Tensor& t);

// The elements of t where mask (bool) is true, t and mask broadcast together: a 1-d tensor of t's dtype.
Tensor masked_select(const Tensor& t, const Tensor& mask);

// t with source's elements, in their row-major order, placed where mask (bool) is true, in row-major order; source
// (t's dtype, any shape) must hold at least as many elements as mask has true ones. masked_scatter_ writes t in place
// (mask broadcast to t's shape) and leaves it untouched when refused; masked_scatter also takes a mask that broadcasts
// t to a larger shape, as PyTorch's.
Tensor masked_scatter(const Tensor& t, const Tensor& mask, const Tensor& source);
Tensor& masked_scatter_(Tensor& t, const Tensor& mask, const Tensor& source);

// t[indices], as libtorch's t.index({indices}) and Python's indexing by one tensor: a bool mask over t's leading
// dimensions (of their sizes; a 0-dim mask over none) takes the sub-tensors where it is true, in row-major order, as
// (count, t's remaining sizes...); an int64 tensor takes entries of dim 0 (negative ones from its end), as
// (indices' sizes..., t's remaining sizes...). Refused in PyTorch's words: another index dtype, a mask of other sizes
// or too many dimensions, an entry out of range.
Tensor index(const Tensor& t, const Tensor& indices);
// t[indices] = values (t's dtype, broadcast to t[indices]'s shape), in place, as t.index_put_({indices}, values);
// with accumulate, added instead (a repeated entry adds each of its values, in order; bool adds as an or), and
// without, a repeated entry keeps its last value. Through a bool mask of 1 or more dimensions, one value is written as
// masked_fill_ writes it: of any dtype, converted as fill_ converts it (PyTorch's CPU index_put_ does so; its GPU one
// only for a value on the CPU). Leaves t untouched when refused. index_put works on a copy.
Tensor& index_put_(Tensor& t, const Tensor& indices, const Tensor& values, bool accumulate = false);
Tensor index_put(const Tensor& t, const Tensor& indices, const Tensor& values, bool accumulate = false);

}  // namespace normrt::ops
