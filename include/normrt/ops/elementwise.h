#pragma once
#include "normrt/tensor.h"

namespace normrt::ops {

// a += b elementwise (same shape, dtype float32, same device). Returns a.
Tensor& add_(Tensor& a, const Tensor& b);

// Adds `gradient` into tensor.grad(), which starts as a copy of the first gradient.
void accumulate_grad(Tensor& tensor, const Tensor& gradient);

}  // namespace normrt::ops
