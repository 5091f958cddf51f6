// Float e^x and tanh as straight-line arithmetic, shared by the CPU paths and the CUDA kernels.
//
// Why not expf/tanhf: glibc's are calls the compiler cannot vectorise (a sigmoid over a large tensor ran at a third of
// PyTorch's speed, whose CPU kernels use vectorised approximations), and CUDA's differ from glibc's in the last bits.
// These have no branches and no tables, so a CPU loop over them vectorises at the machine's width, and the host and
// the SIMT emulator compute the same bits (the device too, but where nvcc contracts a multiply and an add into an FMA,
// which rounds once instead of twice: a last-bit difference, within the bounds below).
//
// Accuracy, measured over every float against double-precision std::exp/std::tanh (FloatMath tests): exp within
// 1 ulp, tanh within 1.5 ulp (glibc's tanhf: 2.2 ulp). Cephes's reductions and polynomials (Moshier): exp with x =
// n ln2 + r, |r| <= ln2/2, ln2 split in two so that n ln2 is exact to float's precision, e^r by a degree-6 polynomial,
// 2^n put into the exponent field in two halves so that a subnormal result is rounded once; tanh by an odd
// polynomial below 0.625 and 1 - 2 / (e^2|x| + 1) above.
#pragma once
#include <cstdint>

#include "hd.h"
#include "normrt/half.h"

namespace normrt::fmath {

// e^x: +inf above ln(FLT_MAX) (to within an ulp), 0 below the subnormals' reach, NaN for NaN.
NORMRT_HD inline float exp(float x) {
  constexpr float kRound = 12582912.0f;  // 1.5 * 2^23: adding it rounds a float below 2^22 to an integer
  // Clamping keeps n within [-151, 128], where 2^n is a product of two normal floats (and NaN passes through).
  x = x < -105.0f ? -105.0f : x;
  x = x > 89.0f ? 89.0f : x;
  const float rounded = x * 1.44269504088896341f + kRound;
  const float n = rounded - kRound;
  const int32_t whole = static_cast<int32_t>(half_bits::bits_of(rounded) - half_bits::bits_of(kRound));
  float r = x - n * 0.693359375f;  // ln2's top 9 bits: n times them is exact
  r = r - n * -2.12194440e-4f;     // the rest of ln2
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float e_r = p * (r * r) + r + 1.0f;
  const int32_t half_n = whole >> 1;
  const float scale_a = half_bits::float_of(static_cast<uint32_t>(half_n + 127) << 23);
  const float scale_b = half_bits::float_of(static_cast<uint32_t>(whole - half_n + 127) << 23);
  return e_r * scale_a * scale_b;
}

// tanh(x), odd to the sign of zero; +-1 from |x| > 9.01 on.
NORMRT_HD inline float tanh(float x) {
  const float a = x < 0.0f ? -x : x;
  const float z = a * a;
  float p = -5.70498872745e-3f;
  p = p * z + 2.06390887954e-2f;
  p = p * z - 5.37397155531e-2f;
  p = p * z + 1.33314422036e-1f;
  p = p * z - 3.33332819422e-1f;
  const float near_zero = p * z * a + a;
  const float far = 1.0f - 2.0f / (fmath::exp(a + a) + 1.0f);
  const float magnitude = a < 0.625f ? near_zero : far;
  return half_bits::float_of(half_bits::bits_of(magnitude) | (half_bits::bits_of(x) & 0x80000000u));
}

// PyTorch's sigmoid formula 1 / (1 + e^-x) (so 0 below x = -88.7, where e^-x overflows, as PyTorch's CPU kernel).
NORMRT_HD inline float sigmoid(float x) { return 1.0f / (1.0f + fmath::exp(-x)); }

}  // namespace normrt::fmath
