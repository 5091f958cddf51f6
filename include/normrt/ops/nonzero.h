// The selections, CPU and CUDA, as PyTorch 1.13's: ops whose result's size is the number of selected elements, each
// taken in row-major (flat index) order whatever the memory format, so the same result on every device and every run.
// An element is selected where it is not zero (NaN is, -0.0 is not) or where a bool mask is true. On a GPU the count
// is read back to the host before the result is allocated: these ops wait for the device (as PyTorch's) and are
// refused inside a CUDA graph capture.
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

}  // namespace normrt::ops
