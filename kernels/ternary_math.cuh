// The per-element math of addcmul, addcdiv, lerp and clamp with tensor bounds (src/ternary.cpp), shared by the CPU
// loops and the CUDA kernels (kernels/ternary.cu), so that both compute the same bits: PyTorch 1.13's CPU formulas,
// probed on it. float16 and bfloat16 are computed in float and rounded once, as PyTorch's CPU computes bfloat16 (the
// value and the weight are floats); int64 (addcmul only) wraps around.
//
// clamp with tensor bounds is PyTorch's scalar loop's min(max(x, lo), hi).
//
// PyTorch's scalar formulas with each multiply-add contracted to one rounding, as its compiler contracts them (and its
// vectorised addcmul's fmadd computes): addcmul is fma(value * t1, t2, self); addcdiv rounds each step, self +
// (value * t1) / t2; lerp is start + weight * (end - start) for weight < 0.5 (negative weights too), otherwise
// end - (end - start) * (1 - weight), so that weights 0 and 1 give start and end exactly.
#pragma once
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "hd.h"

namespace normrt::tmath {

enum class Ternary {
  Addcmul,     // self + value * t1 * t2
  Addcdiv,     // self + value * t1 / t2
  Lerp,        // start + weight * (end - start), the weight a number (the value)
  LerpTensor,  // the same, the weight a third operand
  Clamp,       // min(max(x, lo), hi), the bounds y and z
};

// The type an element of storage type T is computed in: int64 itself, every floating dtype float.
template <typename T>
using computed_t = std::conditional_t<std::is_same_v<T, int64_t>, int64_t, float>;

// The ops the dtype has (int64: addcmul and clamp).
template <typename T>
constexpr bool has_ternary(Ternary op) {
  return !std::is_same_v<T, int64_t> || op == Ternary::Addcmul || op == Ternary::Clamp;
}

NORMRT_HD inline float multiply_add(float a, float b, float c) { return fmaf(a, b, c); }
// Two's complement wrap-around, as PyTorch's int64 arithmetic (unsigned: no undefined overflow).
NORMRT_HD inline int64_t multiply_add(int64_t a, int64_t b, int64_t c) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) * static_cast<uint64_t>(b) + static_cast<uint64_t>(c));
}
NORMRT_HD inline int64_t multiplied(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) * static_cast<uint64_t>(b));
}
NORMRT_HD inline float multiplied(float a, float b) { return a * b; }

// x, y, z the three operands (z unused by Lerp), value addcmul's and addcdiv's value or Lerp's weight.
template <Ternary K, typename C>
NORMRT_HD inline C ternary(C x, C y, C z, C value) {
  if constexpr (K == Ternary::Addcmul) {
    return multiply_add(multiplied(value, y), z, x);
  } else if constexpr (K == Ternary::Addcdiv) {
    return x + value * y / z;
  } else if constexpr (K == Ternary::Clamp) {
    // PyTorch's scalar loop, std::min(std::max(x, lo), hi) (x's zero where a bound equals it; its vectorised loop
    // takes the bound's), NaN where a bound is NaN; a NaN x stays NaN; lo > hi gives hi.
    const C raised = x < y ? y : x;
    const C clamped = z < raised ? z : raised;
    if constexpr (std::is_same_v<C, int64_t>) {
      return clamped;
    } else {
      return y != y || z != z ? y + z : clamped;
    }
  } else {
    const C w = K == Ternary::Lerp ? value : z;
    const bool small = w < C(0.5);
    const C difference = y - x;
    // Selects of computed values, no branch: the CPU loops vectorise. The second form's product is -(end - start)'s,
    // so that a zero product has the sign of PyTorch's -(d * (1 - w)) + end.
    const C factor = small ? difference : -difference, coefficient = small ? w : C(1) - w, base = small ? x : y;
    return multiply_add(factor, coefficient, base);
  }
}

}  // namespace normrt::tmath
