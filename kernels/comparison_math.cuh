// Comparisons, logical and bitwise ops, the float classes and the index map of where, shared by the CPU loops
// (src/comparison.cpp) and the kernels (kernels/comparison.cu): each element's result is one of these functions, so
// both devices give the same results.
//
// A Plan maps output element i (in the output's storage order) to the offsets of up to three operands, each dense in
// its own memory format and broadcast to the output's shape (stride 0 along a broadcast dimension).
#pragma once
#include <cstdint>
#include <type_traits>

#include "hd.h"

namespace normrt::cmpmath {

constexpr int kMaxDims = 5;  // normrt::kMaxDims
constexpr int kOperands = 3;

// Eq .. Ge compare values as PyTorch's (IEEE: NaN equals nothing, Ne is true beside a NaN, -0 == 0); And, Or and Xor
// are PyTorch's logical_and / logical_or / logical_xor (each operand true where it is not zero, NaN too).
enum class Compare : int { Eq = 0, Ne = 1, Lt = 2, Le = 3, Gt = 4, Ge = 5, And = 6, Or = 7, Xor = 8 };

template <typename T>
NORMRT_HD inline bool apply(Compare op, T x, T y) {
  switch (op) {
    case Compare::Eq: return x == y;
    case Compare::Ne: return x != y;
    case Compare::Lt: return x < y;
    case Compare::Le: return x <= y;
    case Compare::Gt: return x > y;
    case Compare::Ge: return x >= y;
    case Compare::And: return x != T(0) && y != T(0);
    case Compare::Or: return x != T(0) || y != T(0);
    case Compare::Xor: break;
  }
  return (x != T(0)) != (y != T(0));
}

// The bitwise ops of int64 tensors, on their bits (U: uint64_t). The shifts take the count modulo 64 as PyTorch
// 1.13's CPU kernel does (C++'s shift on x86, whose instruction masks the count): 1 << 64 is 1, 1 << -1 is 1 << 63;
// a right shift is arithmetic (the sign bit fills in).
enum class BitOp : int { And = 0, Or = 1, Xor = 2, ShiftLeft = 3, ShiftRight = 4 };

template <typename U>
NORMRT_HD inline U apply_bits(BitOp op, U x, U y) {
  constexpr U kCountMask = sizeof(U) * 8 - 1;
  switch (op) {
    case BitOp::And: return x & y;
    case BitOp::Or: return x | y;
    case BitOp::ShiftLeft: return x << (y & kCountMask);
    case BitOp::ShiftRight: return static_cast<U>(static_cast<std::make_signed_t<U>>(x) >> (y & kCountMask));
    case BitOp::Xor: break;
  }
  return x ^ y;
}

// The classes isnan, isinf and isfinite test, read from a floating value's bits: `exponent` is the dtype's exponent
// field (all ones in it: an infinity or a NaN), `fraction` the bits below it (nonzero there: a NaN).
enum class FloatClass : int { NaN = 0, Inf = 1, Finite = 2 };

template <typename U>
NORMRT_HD inline bool in_class(FloatClass c, U bits, U exponent, U fraction) {
  const bool top = (bits & exponent) == exponent;
  switch (c) {
    case FloatClass::NaN: return top && (bits & fraction) != 0;
    case FloatClass::Inf: return top && (bits & fraction) == 0;
    case FloatClass::Finite: break;
  }
  return !top;
}

struct Plan {
  int ndim = 0;  // dimensions after coalescing (0: a single element)
  int64_t numel = 0;
  int64_t sizes[kMaxDims] = {};
  int64_t strides[kOperands][kMaxDims] = {};
};

// The operands' element offsets for output element i.
NORMRT_HD inline void offsets(const Plan& p, int64_t i, int64_t (&at)[kOperands]) {
  for (int k = 0; k < kOperands; ++k) at[k] = 0;
  for (int d = p.ndim - 1; d >= 0; --d) {
    const int64_t coordinate = i % p.sizes[d];
    i /= p.sizes[d];
    for (int k = 0; k < kOperands; ++k) at[k] += coordinate * p.strides[k][d];
  }
}

}  // namespace normrt::cmpmath
