// Elementwise arithmetic, CPU and CUDA, with NumPy/PyTorch broadcasting and type promotion: the result's dtype is
// PyTorch's result_type (the operands' when they share it; the dimensioned one's against a 0-dim tensor of the same
// category; a floating dtype beats int64, even a 0-dim one's; float32 where two floating dtypes meet; true division
// of int64 operands is float32). float16/bfloat16 are computed in float32 and rounded once to the result's dtype,
// int64 exactly (sums, differences and products wrap around as PyTorch's); in-place ops keep the destination's
// dtype and refuse a floating result for an int64 destination. Shapes are aligned at their last dimensions and a
// dimension of size 1 (or a missing one) stretches to the other's size, so a per-channel vector of shape (C, 1, 1)
// scales an (N, C, H, W) batch. A number (Scalar) is one of PyTorch's wrapped numbers: it takes the tensor's dtype
// (an integer keeps an int64 tensor int64) except that a floating number makes an int64 tensor's result float32. A
// number on the left is the same wrapped number: 2 / i is float32 and 2.5 - i too (Python's types; libtorch fills an
// int64 tensor with the number first), and n / t divides once (Python multiplies by t's reciprocal, rounding twice).
#pragma once
#include "normrt/tensor.h"

namespace normrt::ops {

enum class BinaryOp { Add, Sub, Mul, Div };

// a op b, broadcast; a and b on one device.
Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b);
// a op= b in place; b must broadcast to a's shape ("output with shape [..] doesn't match the broadcast shape [..]").
Tensor& binary_(BinaryOp op, Tensor& a, const Tensor& b);

Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor& add_(Tensor& a, const Tensor& b);
Tensor& sub_(Tensor& a, const Tensor& b);
Tensor& mul_(Tensor& a, const Tensor& b);
Tensor& div_(Tensor& a, const Tensor& b);

// The shape a and b broadcast to; throws PyTorch's "The size of tensor a (3) must match the size of tensor b (4)
// at non-singleton dimension 1".
Shape broadcast_shape(const Shape& a, const Shape& b);

// Adds `gradient` into tensor.grad(), which starts as a copy of the first gradient.
void accumulate_grad(Tensor& tensor, const Tensor& gradient);

}  // namespace normrt::ops

namespace normrt {

// Operators as in libtorch: t + u, t * 2.0, 1 / t, t -= u, i += 1 (i int64), ...
Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator+(const Tensor& a, Scalar b);
Tensor operator-(const Tensor& a, Scalar b);
Tensor operator*(const Tensor& a, Scalar b);
Tensor operator/(const Tensor& a, Scalar b);
Tensor operator+(Scalar a, const Tensor& b);
Tensor operator-(Scalar a, const Tensor& b);
Tensor operator*(Scalar a, const Tensor& b);
Tensor operator/(Scalar a, const Tensor& b);
Tensor& operator+=(Tensor& a, const Tensor& b);
Tensor& operator-=(Tensor& a, const Tensor& b);
Tensor& operator*=(Tensor& a, const Tensor& b);
Tensor& operator/=(Tensor& a, const Tensor& b);
Tensor& operator+=(Tensor& a, Scalar b);
Tensor& operator-=(Tensor& a, Scalar b);
Tensor& operator*=(Tensor& a, Scalar b);
Tensor& operator/=(Tensor& a, Scalar b);

}  // namespace normrt
