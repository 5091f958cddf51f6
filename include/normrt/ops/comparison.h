// Comparisons, logical ops, where and masked_fill, CPU and CUDA, as PyTorch 1.13's: bool results (DType::Bool),
// NumPy/PyTorch broadcasting, and the operands compared in their promoted dtype (result_type, as arithmetic: an int64
// tensor beside a floating one is compared as float32, so 16777217 == 16777216.0; a number beside a tensor is one of
// PyTorch's wrapped numbers). NaN equals nothing: eq is false and ne true beside one. The result is laid out as the
// first operand with the result's shape (normrt/ops/elementwise.h), contiguous when none has it.
#pragma once
#include "normrt/tensor.h"

namespace normrt::ops {

enum class CompareOp { Eq, Ne, Lt, Le, Gt, Ge };

Tensor compare(CompareOp op, const Tensor& a, const Tensor& b);
Tensor compare(CompareOp op, const Tensor& a, Scalar b);

Tensor eq(const Tensor& a, const Tensor& b);
Tensor ne(const Tensor& a, const Tensor& b);
Tensor lt(const Tensor& a, const Tensor& b);
Tensor le(const Tensor& a, const Tensor& b);
Tensor gt(const Tensor& a, const Tensor& b);
Tensor ge(const Tensor& a, const Tensor& b);
Tensor eq(const Tensor& a, Scalar b);
Tensor ne(const Tensor& a, Scalar b);
Tensor lt(const Tensor& a, Scalar b);
Tensor le(const Tensor& a, Scalar b);
Tensor gt(const Tensor& a, Scalar b);
Tensor ge(const Tensor& a, Scalar b);

// Elementwise truth of any dtype (a value is true where it is not zero; NaN is true), broadcast; bool results.
Tensor logical_and(const Tensor& a, const Tensor& b);
Tensor logical_or(const Tensor& a, const Tensor& b);
Tensor logical_xor(const Tensor& a, const Tensor& b);
Tensor logical_not(const Tensor& t);

// torch.where(condition, a, b): a's element where condition (a bool tensor) is true, else b's; the three broadcast
// together and the result has a and b's promoted dtype ("where expected condition to be a boolean tensor, but got a
// tensor with dtype Float"). A number is a 0-dim operand: int64 if integral, else float32 (which beside a float16
// tensor counts only as floating, as a wrapped number).
Tensor where(const Tensor& condition, const Tensor& a, const Tensor& b);
Tensor where(const Tensor& condition, Scalar a, const Tensor& b);
Tensor where(const Tensor& condition, const Tensor& a, Scalar b);

// t with value wherever mask (bool, broadcast to t's shape) is true, in t's dtype (value converted as fill_ converts
// it, and refused where it does not fit). masked_fill_ writes t in place and leaves it untouched when refused;
// masked_fill also takes a mask that broadcasts t to a larger shape, as PyTorch's.
Tensor masked_fill(const Tensor& t, const Tensor& mask, Scalar value);
Tensor& masked_fill_(Tensor& t, const Tensor& mask, Scalar value);

// PyTorch's bitwise ops of int64 and bool tensors (on bools, the logical ops), broadcast, in the operands' promoted
// dtype (int64 beside bool is int64; a number beside a tensor is one of PyTorch's wrapped numbers, so t & 2.5 is a
// float op); floating operands are refused in PyTorch's words ("bitwise_and_cpu" not implemented for 'Float').
Tensor bitwise_and(const Tensor& a, const Tensor& b);
Tensor bitwise_or(const Tensor& a, const Tensor& b);
Tensor bitwise_xor(const Tensor& a, const Tensor& b);
Tensor bitwise_and(const Tensor& a, Scalar b);
Tensor bitwise_or(const Tensor& a, Scalar b);
Tensor bitwise_xor(const Tensor& a, Scalar b);
Tensor bitwise_not(const Tensor& t);
// Shifts of int64 tensors (bools beside them promoted; bool and floating results refused: "lshift_cpu" not
// implemented for 'Bool'): a << b and the arithmetic a >> b, the count taken modulo 64 as PyTorch 1.13's CPU kernel
// takes it (1 << 64 is 1, 1 << -1 is 1 << 63; PyTorch 2 gives 0 and the sign there).
Tensor bitwise_left_shift(const Tensor& a, const Tensor& b);
Tensor bitwise_right_shift(const Tensor& a, const Tensor& b);
Tensor bitwise_left_shift(const Tensor& a, Scalar b);
Tensor bitwise_right_shift(const Tensor& a, Scalar b);
Tensor bitwise_left_shift(Scalar a, const Tensor& b);
Tensor bitwise_right_shift(Scalar a, const Tensor& b);

// In place, with PyTorch's refusals in its order: other broadcast to self's shape ("output with shape [2] doesn't
// match the broadcast shape [3, 2]"), then the result's dtype held by self's ("result type Long can't be cast to the
// desired output type Bool"), then the op's own. A refusal leaves self and its version untouched.
Tensor& bitwise_and_(Tensor& self, const Tensor& other);
Tensor& bitwise_or_(Tensor& self, const Tensor& other);
Tensor& bitwise_xor_(Tensor& self, const Tensor& other);
Tensor& bitwise_left_shift_(Tensor& self, const Tensor& other);
Tensor& bitwise_right_shift_(Tensor& self, const Tensor& other);
Tensor& bitwise_and_(Tensor& self, Scalar other);
Tensor& bitwise_or_(Tensor& self, Scalar other);
Tensor& bitwise_xor_(Tensor& self, Scalar other);
Tensor& bitwise_left_shift_(Tensor& self, Scalar other);
Tensor& bitwise_right_shift_(Tensor& self, Scalar other);
Tensor& bitwise_not_(Tensor& self);

// Whether any (all) elements are true (not zero), as a 0-dim bool tensor on t's device; all of no elements is true.
// Over a dimension: a bool tensor without it (kept as size 1 with keepdim).
Tensor any(const Tensor& t);
Tensor all(const Tensor& t);
Tensor any(const Tensor& t, int64_t dim, bool keepdim = false);
Tensor all(const Tensor& t, int64_t dim, bool keepdim = false);
// The number of elements that are not zero (NaN counts), as a 0-dim int64 tensor, or over a dimension.
Tensor count_nonzero(const Tensor& t);
Tensor count_nonzero(const Tensor& t, int64_t dim);

// Where t is NaN, +-infinity, or neither (bool, t's shape and memory format); an int64 or bool tensor is all finite.
Tensor isnan(const Tensor& t);
Tensor isinf(const Tensor& t);
Tensor isfinite(const Tensor& t);

// torch.isclose: |a - b| <= atol + rtol * |b| elementwise, or a == b (equal infinities), or both NaN with equal_nan; a
// and b of one dtype ("Long did not match Float"), rtol and atol not negative. The arithmetic runs in the operands'
// dtype as PyTorch's (bools as float32). allclose: whether every element is close (reads the answer to the host).
Tensor isclose(const Tensor& a, const Tensor& b, double rtol = 1e-5, double atol = 1e-8, bool equal_nan = false);
bool allclose(const Tensor& a, const Tensor& b, double rtol = 1e-5, double atol = 1e-8, bool equal_nan = false);
// torch.equal: the same shape and equal values (compared in the promoted dtype, so NaN is never equal); reads the
// answer to the host.
bool equal(const Tensor& a, const Tensor& b);

}  // namespace normrt::ops

namespace normrt {
// libtorch's operators: bool tensors.
Tensor operator==(const Tensor& a, const Tensor& b);
Tensor operator!=(const Tensor& a, const Tensor& b);
Tensor operator<(const Tensor& a, const Tensor& b);
Tensor operator<=(const Tensor& a, const Tensor& b);
Tensor operator>(const Tensor& a, const Tensor& b);
Tensor operator>=(const Tensor& a, const Tensor& b);
Tensor operator==(const Tensor& a, Scalar b);
Tensor operator!=(const Tensor& a, Scalar b);
Tensor operator<(const Tensor& a, Scalar b);
Tensor operator<=(const Tensor& a, Scalar b);
Tensor operator>(const Tensor& a, Scalar b);
Tensor operator>=(const Tensor& a, Scalar b);
// ops::bitwise_not, bitwise_and, bitwise_or, bitwise_xor: on bool tensors the logical ops, on int64 ones their bits.
Tensor operator~(const Tensor& t);
Tensor operator&(const Tensor& a, const Tensor& b);
Tensor operator|(const Tensor& a, const Tensor& b);
Tensor operator^(const Tensor& a, const Tensor& b);
Tensor operator&(const Tensor& a, Scalar b);
Tensor operator|(const Tensor& a, Scalar b);
Tensor operator^(const Tensor& a, Scalar b);
// ops::bitwise_left_shift / bitwise_right_shift.
Tensor operator<<(const Tensor& a, const Tensor& b);
Tensor operator>>(const Tensor& a, const Tensor& b);
Tensor operator<<(const Tensor& a, Scalar b);
Tensor operator>>(const Tensor& a, Scalar b);
// The in-place ops (ops::bitwise_and_ ...).
Tensor& operator&=(Tensor& a, const Tensor& b);
Tensor& operator|=(Tensor& a, const Tensor& b);
Tensor& operator^=(Tensor& a, const Tensor& b);
Tensor& operator<<=(Tensor& a, const Tensor& b);
Tensor& operator>>=(Tensor& a, const Tensor& b);
Tensor& operator&=(Tensor& a, Scalar b);
Tensor& operator|=(Tensor& a, Scalar b);
Tensor& operator^=(Tensor& a, Scalar b);
Tensor& operator<<=(Tensor& a, Scalar b);
Tensor& operator>>=(Tensor& a, Scalar b);
}  // namespace normrt
