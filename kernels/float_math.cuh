// Float e^x, 2^x, e^x - 1, tanh, ln, log2, log10, ln(1 + x), the normal CDF and density, erf, erfc, sin/cos of turns,
// sin, cos and tan, and x^y as straight-line arithmetic, shared by the CPU paths and the CUDA kernels.
//
// Why not expf/tanhf/logf/log1pf/sincosf: glibc's are calls the compiler cannot vectorise (a sigmoid over a large
// tensor ran at a third of PyTorch's speed, whose CPU kernels use vectorised approximations), and CUDA's differ from
// glibc's in the last bits. These have no branches (but one to sin, cos and tan's reduction of large arguments) and no
// tables, so a CPU loop over them vectorises at the machine's width, and the host, the SIMT emulator and the device
// compute the same bits: every operation rounds as written on each (the host compiles with -ffp-contract=off, the
// kernels with -fmad=false; see CMakeLists.txt).
//
// e^x, the function behind softmax, the losses, sigmoid and tanh, writes its reduction's and polynomial's multiply-adds
// as fmaf: one rounding each on every target, and on the host each is one FMA instruction. Written as separate
// multiplies and adds it ran 1.46x slower on the AVX-512 build machine (4M elements on one core: 1653 -> 1129 us;
// sigmoid 2473 -> 1503 us). A host without FMA (a NORMRT_NATIVE=OFF build) gets the same bits from glibc's exact
// fmaf, as a call per multiply-add: such a build's e^x loops run about 4x slower.
//
// Accuracy, measured over every float against double-precision <cmath> (FloatMath tests): exp, 2^x and ln within 1
// ulp, log2 and log10 within 1.05, tanh within 1.5 ulp (glibc's tanhf: 2.2 ulp), sin/cos of turns within 2 ulp,
// ln(1 + x) within 2.5 ulp, e^x - 1 within 2 ulp, the normal CDF within 4.65 (relative to its own value in the lower
// tail) and its density within 2.05, erf within 1.21, erfc within 4.3, sin and cos 0.80 and tan 1.18.
// Cephes's reductions and polynomials (Moshier): exp with x = n ln2 + r, |r| <= ln2/2, ln2 split in two so that n ln2
// is exact to float's precision, e^r by a degree-6 polynomial, 2^n put into the exponent field in two halves so that a
// subnormal result is rounded once; tanh by an odd polynomial below 0.625 and 1 - 2 / (e^2|x| + 1) above.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

#include "hd.h"
#include "normrt/half.h"

namespace normrt::fmath {

// Every function here (and activation_math.cuh's) is inlined into the loops on the host, whatever GCC's size
// heuristics make of them: a call per element leaves the loop scalar. (Left to the heuristics, tanh and sigmoid_pair
// fell out of activation.cpp's loops as that file grew, and Mish and SiLU's backward ran 16x slower;
// tests/check_inline_math.sh now fails the build's tests on such an out-of-line copy.)
#if defined(__GNUC__) && !defined(__CUDACC__)
#define NORMRT_FMATH_INLINE __attribute__((always_inline)) inline
#else
#define NORMRT_FMATH_INLINE inline
#endif

// c ? a : b by bit masks. GCC turns a chain of float selects into branches (it does not speculate the floating-point
// operations that only one side needs), and a CPU loop with branches does not vectorise.
NORMRT_HD NORMRT_FMATH_INLINE float blend(bool c, float a, float b) {
  const uint32_t mask = 0u - static_cast<uint32_t>(c);
  return half_bits::float_of((half_bits::bits_of(a) & mask) | (half_bits::bits_of(b) & ~mask));
}

// e^x = 2^n e^r for x within [-151 ln2, 128 ln2]: n and e^r, x = n ln2 + r with |r| <= ln2/2.
struct ExpParts {
  int32_t n;
  float e_r;
};

NORMRT_HD NORMRT_FMATH_INLINE ExpParts exp_parts(float x) {
  constexpr float kRound = 12582912.0f;  // 1.5 * 2^23: adding it rounds a float below 2^22 to an integer
  const float rounded = fmaf(x, 1.44269504088896341f, kRound);
  const float n = rounded - kRound;
  const int32_t whole = static_cast<int32_t>(half_bits::bits_of(rounded) - half_bits::bits_of(kRound));
  float r = fmaf(n, -0.693359375f, x);  // ln2's top 9 bits: n times them is exact
  r = fmaf(n, 2.12194440e-4f, r);       // the rest of ln2
  float p = 1.9875691500e-4f;
  p = fmaf(p, r, 1.3981999507e-3f);
  p = fmaf(p, r, 8.3334519073e-3f);
  p = fmaf(p, r, 4.1665795894e-2f);
  p = fmaf(p, r, 1.6666665459e-1f);
  p = fmaf(p, r, 5.0000001201e-1f);
  // p r^2 rounded on its own: fused with the add, the worst error grows past an ulp (1.01 ulp at x = -59.92)
  return {whole, p * (r * r) + r + 1.0f};
}

// v 2^n for n within [-252, 254]: v times two normal powers of two, so that a subnormal result is rounded once.
NORMRT_HD NORMRT_FMATH_INLINE float times_power_of_two(float v, int32_t n) {
  const int32_t half_n = n >> 1;
  const float scale_a = half_bits::float_of(static_cast<uint32_t>(half_n + 127) << 23);
  const float scale_b = half_bits::float_of(static_cast<uint32_t>(n - half_n + 127) << 23);
  return v * scale_a * scale_b;
}

// e^x: +inf above ln(FLT_MAX) (to within an ulp), 0 below the subnormals' reach, NaN for NaN.
NORMRT_HD NORMRT_FMATH_INLINE float exp(float x) {
  // Clamping keeps n within [-151, 128], where 2^n is a product of two normal floats (and NaN passes through).
  x = x < -105.0f ? -105.0f : x;
  x = x > 89.0f ? 89.0f : x;
  const ExpParts e = exp_parts(x);
  return times_power_of_two(e.e_r, e.n);
}

// 2^x: +inf from x = 128 on, 0 below the subnormals' reach, NaN for NaN. x = n + r with n an integer and |r| <= 1/2
// (r = x - n exactly), 2^r = e^(r ln2) computed as exp computes it (r ln2's rounding moves the result by at most 0.2
// ulp, and not where exp's own error is largest: carrying it in a second float left the worst error as it was). An
// integer x gives 2^x exactly.
NORMRT_HD NORMRT_FMATH_INLINE float exp2(float x) {
  constexpr float kRound = 12582912.0f;  // as in exp_parts
  // Clamped to [-152, 129], where the scaling below stays within two normal powers of two; NaN computes 0's path.
  float clamped = x < -152.0f ? -152.0f : x;
  clamped = clamped > 129.0f ? 129.0f : clamped;
  clamped = blend(x != x, 0.0f, clamped);
  const float rounded = clamped + kRound;
  const float n = rounded - kRound;
  const int32_t whole = static_cast<int32_t>(half_bits::bits_of(rounded) - half_bits::bits_of(kRound));
  const ExpParts e = exp_parts((clamped - n) * 0.693147182f);
  return blend(x != x, x, times_power_of_two(e.e_r, whole + e.n));
}

// tanh(x), odd to the sign of zero; +-1 from |x| > 9.01 on.
NORMRT_HD NORMRT_FMATH_INLINE float tanh(float x) {
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

NORMRT_HD NORMRT_FMATH_INLINE uint64_t bits_of(double d) {
  uint64_t u;
  std::memcpy(&u, &d, sizeof u);
  return u;
}

NORMRT_HD NORMRT_FMATH_INLINE double double_of(uint64_t u) {
  double d;
  std::memcpy(&d, &u, sizeof d);
  return d;
}

NORMRT_HD NORMRT_FMATH_INLINE double blend(bool c, double a, double b) {
  const uint64_t mask = 0u - static_cast<uint64_t>(c);
  return double_of((bits_of(a) & mask) | (bits_of(b) & ~mask));
}

// ln x = e ln2 + ln(1 + m) with x = 2^e (1 + m), 1 + m in [sqrt(1/2), sqrt(2)) (subnormals too; m is exact by
// Sterbenz's lemma), and ln(1 + m) = m + p m^3 - m^2 / 2 with p Cephes's logf polynomial in m (Moshier).
struct LogParts {
  float e, m, z, p;  // z = m^2
};

NORMRT_HD NORMRT_FMATH_INLINE LogParts log_parts(float x) {
  const bool subnormal = x < 1.17549435e-38f;
  const float scaled_up = x * 8388608.0f;  // 2^23 makes a subnormal normal
  const uint32_t bits = half_bits::bits_of(blend(subnormal, scaled_up, x));
  const float mantissa = half_bits::float_of((bits & 0x007fffffu) | 0x3f800000u);  // [1, 2)
  const float halved = mantissa * 0.5f;
  const bool high = mantissa > 1.41421356f;
  const float e = static_cast<float>(static_cast<int32_t>(bits >> 23) - (subnormal ? 150 : 127) + (high ? 1 : 0));
  const float m = (high ? halved : mantissa) - 1.0f;
  float p = 7.0376836292e-2f;
  p = p * m - 1.1514610310e-1f;
  p = p * m + 1.1676998740e-1f;
  p = p * m - 1.2420140846e-1f;
  p = p * m + 1.4249322787e-1f;
  p = p * m - 1.6668057665e-1f;
  p = p * m + 2.0000714765e-1f;
  p = p * m - 2.4999993993e-1f;
  p = p * m + 3.3333331174e-1f;
  return {e, m, m * m, p};
}

// A logarithm's value where x is not a positive finite float: -inf at +-0, NaN below 0 and for NaN, +inf at +inf.
NORMRT_HD NORMRT_FMATH_INLINE float log_special_cases(float x, float finite) {
  const float minus_infinity = half_bits::float_of(0xff800000u), nan = half_bits::float_of(0x7fc00000u);
  const float non_positive = blend(x == 0.0f, minus_infinity, nan);
  const float beyond = blend(x > 3.40282347e+38f, x, finite);  // +inf stays
  return blend(x > 0.0f, beyond, non_positive);  // NaN fails both comparisons: NaN
}

// ln x, e ln2 added in the two halves exp uses.
NORMRT_HD NORMRT_FMATH_INLINE float log(float x) {
  const LogParts l = log_parts(x);
  const float y = l.p * l.m * l.z + l.e * -2.12194440e-4f - 0.5f * l.z;
  return log_special_cases(x, (l.m + y) + l.e * 0.693359375f);
}

// log2 x and log10 x: ln(1 + m) times log2(e) (log10(e)), the constant carried in two floats and m's product with it
// exact in an FMA, plus e (e log10(2), log10(2)'s top 16 bits times e being exact), rounded once. Powers of two
// (ten) give their exponents exactly.
NORMRT_HD NORMRT_FMATH_INLINE float log2(float x) {
  constexpr float kLog2e = 1.44269502f, kLog2eLow = 1.925963e-08f;
  const LogParts l = log_parts(x);
  const float tail = l.p * l.m * l.z - 0.5f * l.z;  // ln(1 + m) - m
  const float fraction = fmaf(l.m, kLog2e, fmaf(l.m, kLog2eLow, tail * kLog2e));
  return log_special_cases(x, l.e + fraction);
}

NORMRT_HD NORMRT_FMATH_INLINE float log10(float x) {
  constexpr float kLog10e = 0.434294492f, kLog10eLow = -1.010305e-08f;
  constexpr float kLog10Of2 = 0.30103302f, kLog10Of2Low = -3.0243555e-06f;
  const LogParts l = log_parts(x);
  const float tail = l.p * l.m * l.z - 0.5f * l.z;
  const float fraction = fmaf(l.m, kLog10e, fmaf(l.m, kLog10eLow, tail * kLog10e));
  return log_special_cases(x, fmaf(l.e, kLog10Of2, fmaf(l.e, kLog10Of2Low, fraction)));
}

// ln(1 + x) for x > -1, accurate for small x too: ln(u) x / (u - 1) with u = 1 + x rounded (Goldberg's trick: the
// quotient corrects for the rounding of u), x itself where u rounds to 1; -inf at -1, NaN below, +inf at +inf.
NORMRT_HD NORMRT_FMATH_INLINE float log1p(float x) {
  const float u = 1.0f + x;
  const float corrected = fmath::log(u) * (x / (u - 1.0f));
  return blend(u == 1.0f, x, blend(x > 3.40282347e+38f, x, corrected));
}

// Cephes's sinf and cosf polynomials on [-pi/4, pi/4] (Moshier): sin x = x + x^3 (s3 + s5 x^2 + s7 x^4), cos x =
// 1 - x^2/2 + x^4 (c4 + c6 x^2 + c8 x^4).
constexpr float kSin3 = -1.6666654611e-1f, kSin5 = 8.3321608736e-3f, kSin7 = -1.9515295891e-4f;
constexpr float kCos4 = 4.166664568298827e-2f, kCos6 = -1.388731625493765e-3f, kCos8 = 2.443315711809948e-5f;

// sin(2 pi t) and cos(2 pi t) for |t| < 2^20 (t in turns: a Box-Muller angle from a uniform draw). t = n/4 + r with
// |r| <= 1/8 exactly (r = t - n/4 is exact by Sterbenz's lemma, or t itself), sin and cos of 2 pi r by those
// polynomials (as plain multiplies and adds: randn's draws are these bits), then swapped and negated by the quadrant
// n mod 4.
NORMRT_HD NORMRT_FMATH_INLINE void sin_cos_turns(float t, float& sin_out, float& cos_out) {
  constexpr float kRound = 12582912.0f;  // as in exp: 4t + kRound - kRound rounds 4t to an integer
  const float rounded = t * 4.0f + kRound;
  const float n = rounded - kRound;
  const uint32_t quadrant = (half_bits::bits_of(rounded) - half_bits::bits_of(kRound)) & 3u;
  const float x = (t - n * 0.25f) * 6.28318530717958647f;
  const float z = x * x;
  float s = kSin7;
  s = s * z + kSin5;
  s = s * z + kSin3;
  s = s * z * x + x;
  float c = kCos8;
  c = c * z + kCos6;
  c = c * z + kCos4;
  c = c * z * z - 0.5f * z + 1.0f;
  const float sin_abs = (quadrant & 1u) != 0 ? c : s, cos_abs = (quadrant & 1u) != 0 ? s : c;
  sin_out = (quadrant & 2u) != 0 ? -sin_abs : sin_abs;
  cos_out = ((quadrant + 1u) & 2u) != 0 ? -cos_abs : cos_abs;
}

// sin, cos and tan of x in radians, for every float: |x| = n pi/2 + r with |r| <= pi/4 (a hair more where 2|x|/pi
// rounds to the other integer), r carried in two floats, sin and cos of r by the polynomials above (with FMAs),
// tan by r + r^3 T(r^2) with T fitted by scripts/fit_float_math.py; n mod 4 swaps, negates or inverts them. Worst
// errors over every float (FloatMath tests): sin 0.801 ulps, cos 0.799, tan 1.178 (CUDA's sinf and cosf are within 2,
// its tanf within 4; SLEEF's, PyTorch's CPU ones, within 1).
//
// Two reductions, as CUDA's: Cody and Waite's below kNearAngle, Payne and Hanek's from there on. A CPU loop runs the
// first alone over blocks with no element past it, both blended over the others, each at the machine's width
// (elementwise.cpp).
constexpr float kNearAngle = 105615.0f;

struct QuarterTurns {
  float hi, lo;       // r = hi + lo
  uint32_t quadrant;  // n mod 4
};

// a in [0, kNearAngle): n = rint(2a/pi) < 2^17, pi/2 = P1 + P2 + P3 (each the float nearest the rest). a - n P1 is
// exact in an FMA; n P2 is carried exactly (FMA) and subtracted exactly (two-sum), n P3 goes into the low part.
NORMRT_HD NORMRT_FMATH_INLINE QuarterTurns quarter_turns_near(float a) {
  constexpr float kRound = 12582912.0f;  // as in exp: rounds 2a/pi to an integer
  constexpr float kP1 = 1.57079637f, kP2 = -4.37113883e-08f, kP3 = -1.71512451e-15f;
  const float rounded = fmaf(a, 0.636619772f, kRound);
  const float n = rounded - kRound;
  const uint32_t quadrant = (half_bits::bits_of(rounded) - half_bits::bits_of(kRound)) & 3u;
  const float r1 = fmaf(-n, kP1, a);
  const float product = n * kP2, product_error = fmaf(n, kP2, -product);
  const float hi = r1 - product, shift = hi - r1;
  const float sum_error = (r1 - (hi - shift)) - (product + shift);
  return {hi, (sum_error - product_error) - n * kP3, quadrant};
}

// 2/pi's bits 32 (i - 1) + 1 to 32 i after the binary point (word 0 and past 7: zeros), by masks: an indexed table
// would sit in a kernel's local memory, and GCC makes a table of a chain of selects (a CPU loop then stays scalar).
NORMRT_HD NORMRT_FMATH_INLINE uint32_t kept_if(bool keep, uint32_t word) {
  return word & (0u - static_cast<uint32_t>(keep));
}

NORMRT_HD NORMRT_FMATH_INLINE uint32_t two_over_pi_word(uint32_t i) {
  return kept_if(i == 1, 0xa2f9836eu) | kept_if(i == 2, 0x4e441529u) | kept_if(i == 3, 0xfc2757d1u) |
         kept_if(i == 4, 0xf534ddc0u) | kept_if(i == 5, 0xdb629599u) | kept_if(i == 6, 0x3c439041u) |
         kept_if(i == 7, 0xfe5163abu);
}

// 32 bits of 2/pi from word's bit `shift` on.
NORMRT_HD NORMRT_FMATH_INLINE uint32_t two_over_pi_bits(uint32_t word, uint32_t shift) {
  const uint64_t pair = (static_cast<uint64_t>(two_over_pi_word(word)) << 32) | two_over_pi_word(word + 1);
  return static_cast<uint32_t>((pair << shift) >> 32);
}

// a >= kNearAngle, inf or NaN (which give NaN): a = M 2^e with M the 24-bit significand and e in [-7, 104], so
// 2a/pi mod 4 = M (2^e 2/pi mod 4). The 96 bits of 2/pi from 2^(1-e) on (from the first word's bit e + 30 on), times M
// modulo 2^96, hold n mod 4 and r in quarter turns to 2^-64 (2/pi's bits past them move r by under 2^-70 quarter
// turns; the float closest to a nonzero multiple of pi/2, 7.72917892e28, is 2^-29.2 from it).
NORMRT_HD NORMRT_FMATH_INLINE QuarterTurns quarter_turns_far(float a) {
  const uint32_t bits = half_bits::bits_of(a);
  const uint64_t significand = (bits & 0x7fffffu) | 0x800000u;
  const uint32_t first_bit = (bits >> 23) - 120u, word = first_bit >> 5, shift = first_bit & 31u;
  const uint64_t low = significand * two_over_pi_bits(word + 2, shift);
  const uint64_t middle = significand * two_over_pi_bits(word + 1, shift) + (low >> 32);
  const uint32_t high = static_cast<uint32_t>(significand * two_over_pi_bits(word, shift) + (middle >> 32));
  // The fraction past n's two bits, in units of 2^-64 quarter turns; read as signed, it is r for the nearest n.
  const uint64_t fraction = (static_cast<uint64_t>(high) << 34) | ((middle & 0xffffffffu) << 2) | ((low >> 30) & 3u);
  const uint32_t quadrant = ((high >> 30) + static_cast<uint32_t>(fraction >> 63)) & 3u;
  const int64_t turns = static_cast<int64_t>(fraction) >> 1;  // 2^-63 units, so that rounding stays below 2^62
  const float turns_hi = static_cast<float>(turns);
  const float turns_lo = static_cast<float>(turns - static_cast<int64_t>(turns_hi));
  constexpr float kC1 = 1.70306084e-19f, kC2 = -4.73919821e-27f;  // pi/2 2^-63 in two floats
  const float head = turns_hi * kC1;
  const float tail = fmaf(turns_hi, kC1, -head) + fmaf(turns_hi, kC2, turns_lo * kC1);
  const float hi = head + tail;  // tail reaches an ulp of head (turns_hi's rounding): renormalised
  return {hi + (a - a), tail - (hi - head), quadrant};  // a - a: NaN for inf and NaN, else 0
}

NORMRT_HD NORMRT_FMATH_INLINE QuarterTurns quarter_turns(float a) {
  if (a < kNearAngle) return quarter_turns_near(a);
  return quarter_turns_far(a);
}

// Both reductions, the one for a chosen by masks: no branch, so that a CPU loop over angles past kNearAngle vectorises.
NORMRT_HD NORMRT_FMATH_INLINE QuarterTurns quarter_turns_blended(float a) {
  const QuarterTurns near = quarter_turns_near(a), far = quarter_turns_far(a);
  const bool is_near = a < kNearAngle;
  return {blend(is_near, near.hi, far.hi), blend(is_near, near.lo, far.lo),
          kept_if(is_near, near.quadrant) | kept_if(!is_near, far.quadrant)};
}

// sin(hi + lo) and cos(hi + lo) for |hi| <= pi/4 + a hair, |lo| within about half an ulp of hi: lo enters by the
// derivatives, lo cos(hi) = lo (1 - hi^2/2) and -lo sin(hi) = -lo hi.
NORMRT_HD NORMRT_FMATH_INLINE float sin_near_zero(float hi, float lo) {
  const float z = hi * hi;
  const float p = fmaf(fmaf(kSin7, z, kSin5), z, kSin3);
  return hi + fmaf(hi * z, p, fmaf(-0.5f * z, lo, lo));
}

NORMRT_HD NORMRT_FMATH_INLINE float cos_near_zero(float hi, float lo) {
  const float z = hi * hi;
  const float p = fmaf(fmaf(kCos8, z, kCos6), z, kCos4);
  const float half_z = 0.5f * z, head = 1.0f - half_z;  // 1 - z/2's rounding error recovered
  return head + (((1.0f - head) - half_z) + fmaf(z * z, p, -hi * lo));
}

// x with its sign flipped where flip's bit 31 is set.
NORMRT_HD NORMRT_FMATH_INLINE float flip_sign(float x, uint32_t flip) {
  return half_bits::float_of(half_bits::bits_of(x) ^ (flip & 0x80000000u));
}

// sin x from |x|'s reduction (sin is odd), cos x (even) and tan x (odd; -1 / tan r for odd n, the quotient corrected
// by tan r's low part and its own remainder).
NORMRT_HD NORMRT_FMATH_INLINE float sin_of(QuarterTurns r, float x) {
  const float v = blend((r.quadrant & 1u) != 0, cos_near_zero(r.hi, r.lo), sin_near_zero(r.hi, r.lo));
  return flip_sign(v, half_bits::bits_of(x) ^ (r.quadrant << 30));
}

NORMRT_HD NORMRT_FMATH_INLINE float cos_of(QuarterTurns r) {
  const float v = blend((r.quadrant & 1u) != 0, sin_near_zero(r.hi, r.lo), cos_near_zero(r.hi, r.lo));
  return flip_sign(v, (r.quadrant + 1u) << 30);
}

NORMRT_HD NORMRT_FMATH_INLINE float tan_of(QuarterTurns r, float x) {
  const float z = r.hi * r.hi;
  float p = 4.033718258e-03f;
  p = fmaf(p, z, 8.556103567e-04f);
  p = fmaf(p, z, 1.017445233e-02f);
  p = fmaf(p, z, 2.155862935e-02f);
  p = fmaf(p, z, 5.400272086e-02f);
  p = fmaf(p, z, 1.333319098e-01f);
  p = fmaf(p, z, 3.333333433e-01f);
  const float rough = fmaf(r.hi * z, p, r.hi);  // tan hi for lo's term, lo tan'(hi) = lo (1 + tan^2 hi)
  const float tail = fmaf(r.hi * z, p, fmaf(rough * rough, r.lo, r.lo));
  const float tan_hi = r.hi + tail, tan_lo = tail - (tan_hi - r.hi);
  const float cot = -1.0f / tan_hi;
  const float cot_error = fmaf(cot, tan_hi, 1.0f) + cot * tan_lo;
  return flip_sign(blend((r.quadrant & 1u) != 0, fmaf(cot, cot_error, cot), tan_hi), half_bits::bits_of(x));
}

NORMRT_HD NORMRT_FMATH_INLINE float sin(float x) { return sin_of(quarter_turns(fabsf(x)), x); }
NORMRT_HD NORMRT_FMATH_INLINE float cos(float x) { return cos_of(quarter_turns(fabsf(x))); }
NORMRT_HD NORMRT_FMATH_INLINE float tan(float x) { return tan_of(quarter_turns(fabsf(x)), x); }

// e^x - 1: x + x^2 P(x) for |x| <= 1/2 (P fitted by scripts/fit_float_math.py), e^x - 1 beyond, where the
// subtraction cancels nothing.
NORMRT_HD NORMRT_FMATH_INLINE float expm1(float x) {
  float p = 1.987089781e-04f;
  p = fmaf(p, x, 1.397525193e-03f);
  p = fmaf(p, x, 8.333452046e-03f);
  p = fmaf(p, x, 4.166600108e-02f);
  p = fmaf(p, x, 1.666666567e-01f);
  p = fmaf(p, x, 5.000000000e-01f);
  const float near_zero = fmaf(x * x, p, x);
  return blend((x > 0.5f) | (x < -0.5f), fmath::exp(x) - 1.0f, blend(x == 0.0f, x, near_zero));  // -0 stays -0
}

// 1 / (m + h(m)) for m + m_low, m in [0, 14.5]: the normal tail's Phi(-m) / phi(m) (see normal_parts below); m_low,
// the rounding error of an m computed, enters m's own term (h varies slowly).
NORMRT_HD NORMRT_FMATH_INLINE float tail_ratio(float m, float m_low = 0.0f) {
  float p = 2.508223057e-03f;
  p = fmaf(p, m, 2.989362180e-02f);
  p = fmaf(p, m, 1.662507206e-01f);
  p = fmaf(p, m, 5.029289126e-01f);
  p = fmaf(p, m, 7.989506125e-01f);
  float d = 2.507938538e-03f;
  d = fmaf(d, m, 2.990730293e-02f);
  d = fmaf(d, m, 1.709783375e-01f);
  d = fmaf(d, m, 5.663243532e-01f);
  d = fmaf(d, m, 1.086366057e+00f);
  // D(0) / P(0) is sqrt(pi / 2) to 2e-12, both floats (with D(0) = 1, P(0)'s rounding: 2.8e-8)
  d = fmaf(d, m, 1.001336098e+00f);
  return d / fmaf(m, d, fmaf(m_low, d, p));
}

// The standard normal CDF Phi(x) and density phi(x) = e^-x^2/2 / sqrt(2 pi), GELU's and its gradient's, from one
// exponential. With m = |x|, the lower tail is Phi(-m) = phi(m) / (m + h(m)) (Laplace's continued fraction:
// h(m) = 1 / (m + 2 / (m + 3 / ...)), from sqrt(2 / pi) at 0 down to ~1/m), h = P / D by a rational of degrees 4 and 5
// with positive coefficients, fitted over [0, 14.5] by scripts/fit_float_math.py (1.4e-9 relative in Phi(-m) with the
// float coefficients), and evaluated as phi D / (m D + P): one division, D's rounding cancels between the two to first
// order and P's weighs h / (m + h), so the tail keeps its relative accuracy down to the subnormals. (A rational fit of
// Phi(-m) e^m^2/2 itself, evaluated by Horner's rule, left its sums' roundings at full weight: 5.9 ulps at x = -9.)
// phi is 2^(n + 64) e^r (normal for every n here) times fl(2^-64 / sqrt(2 pi)): the exact product rounded once,
// subnormal results included; m^2 is carried in two floats (square + lo, lo by an FMA) and the constant's rounding
// (kDensityScaleError) corrected with lo, as e (1 - lo/2 + error). Beyond m = 14.45 both are below half the smallest
// subnormal: m is clamped there by an integer min of its bits, so a NaN x gives 14.45's parts (GELU's products with x
// are NaN). Worst errors over every float (FloatMath tests): Phi 4.64 ulps (x = -0.0142, just below 0.5), phi 2.04.
struct NormalParts {
  float cdf, density;
};

NORMRT_HD NORMRT_FMATH_INLINE NormalParts normal_parts(float x) {
  constexpr float kDensityScale = 2.162670497e-20f;        // 2^-64 / sqrt(2 pi), rounded
  constexpr float kDensityScaleError = -2.841305680e-08f;  // (2^-64 / sqrt(2 pi)) / kDensityScale - 1
  constexpr int32_t kClampBits = 0x41673333;               // 14.45f
  const int32_t magnitude_bits = static_cast<int32_t>(half_bits::bits_of(x) & 0x7fffffffu);
  const float m = half_bits::float_of(static_cast<uint32_t>(magnitude_bits < kClampBits ? magnitude_bits : kClampBits));
  const float square = m * m;
  const ExpParts e = exp_parts(-0.5f * square);
  const float scale = half_bits::float_of(static_cast<uint32_t>(e.n + 127 + 64) << 23);
  const float rounded = e.e_r * scale * kDensityScale;
  const float density = fmaf(fmaf(fmaf(m, m, -square), -0.5f, kDensityScaleError), rounded, rounded);
  const float lower = density * tail_ratio(m);  // Phi(-m)
  const float upper = 1.0f - lower;
  return {x < 0.0f ? lower : upper, density};
}

// erf and erfc from the normal tail: erfc(a) = e^-a^2 sqrt(2 / pi) / (m + h(m)) for a >= 0 and m = sqrt(2) a (so
// erfc(a) = 2 Phi(-m)), e^-a^2 computed as normal_parts computes its density (a^2 in two floats, 2^(n + 64) e^r times a
// rounded constant, the exact product rounded once) and m carried in two floats into m's own term. erf is
// 1 - erfc(|x|) signed from |x| = 1 on, and below x + x R(x^2) with R = erf(x) / x - 1 of degree 6 (fitted over [0, 1]
// by scripts/fit_float_math.py; the last step an FMA, R's rounding weighing |R| < 0.16); erfc is 1 - erf(x) within
// (-0.5, 0.5) and 2 - erfc(|x|) below. erfc(a) is 0 past a = 10.1, where it is below half the smallest subnormal: a is
// clamped there by an integer min of its bits, and NaN then restored. Worst errors over every float (FloatMath tests):
// erf 1.21 ulps (x = 1.0005, past the switch), erfc 4.3 (x = 2.7176, a result just above a power of two).
NORMRT_HD NORMRT_FMATH_INLINE float erfc_of_magnitude(float x) {
  constexpr float kScale = 4.325340994e-20f;        // 2^-64 sqrt(2 / pi), rounded
  constexpr float kScaleError = -2.841305680e-08f;  // (2^-64 sqrt(2 / pi)) / kScale - 1
  constexpr int32_t kClampBits = 0x4121999a;        // 10.1f
  const int32_t magnitude_bits = static_cast<int32_t>(half_bits::bits_of(x) & 0x7fffffffu);
  const float a = half_bits::float_of(static_cast<uint32_t>(magnitude_bits < kClampBits ? magnitude_bits : kClampBits));
  const float square = a * a;
  const ExpParts e = exp_parts(-square);
  const float scale = half_bits::float_of(static_cast<uint32_t>(e.n + 127 + 64) << 23);
  const float rounded = e.e_r * scale * kScale;
  const float exponential = fmaf(kScaleError - fmaf(a, a, -square), rounded, rounded);
  constexpr float kSqrt2 = 1.41421354f, kSqrt2Low = 2.4203235e-08f;  // sqrt(2) to twice float's precision
  const float m = a * kSqrt2;
  const float m_low = fmaf(a, kSqrt2Low, fmaf(a, kSqrt2, -m));
  return exponential * tail_ratio(m, m_low);
}

// erf within (-1, 1): x + x R(x^2).
NORMRT_HD NORMRT_FMATH_INLINE float erf_near_zero(float x) {
  const float z = x * x;
  float r = 7.982587704e-05f;
  r = fmaf(r, z, -8.043577545e-04f);
  r = fmaf(r, z, 5.191368517e-03f);
  r = fmaf(r, z, -2.685493603e-02f);
  r = fmaf(r, z, 1.128359884e-01f);
  r = fmaf(r, z, -3.761262596e-01f);
  r = fmaf(r, z, 1.283791661e-01f);
  return fmaf(x, r, x);
}

NORMRT_HD NORMRT_FMATH_INLINE float erf(float x) {
  const float far =
      half_bits::float_of(half_bits::bits_of(1.0f - erfc_of_magnitude(x)) | (half_bits::bits_of(x) & 0x80000000u));
  return blend(x != x, x, blend((x < 1.0f) & (x > -1.0f), erf_near_zero(x), far));
}

NORMRT_HD NORMRT_FMATH_INLINE float erfc(float x) {
  const float tail = erfc_of_magnitude(x);
  const float far = blend(x < 0.0f, 2.0f - tail, tail);
  return blend(x != x, x, blend((x < 0.5f) & (x > -0.5f), 1.0f - erf_near_zero(x), far));
}

// x^y with C's special cases (powf's: x^0 = 1 and 1^y = 1 even for NaN, a negative x only to integer powers, zeros
// and infinities signed by y's parity), otherwise |x|^y = e^(y ln|x|) in double: ln|x| = e ln2 + 2 atanh(s) for
// |x| = 2^e m, m in [sqrt(1/2), sqrt(2)) and s = (m - 1) / (m + 1) (|s| < 0.172, so the atanh series to s^19 leaves
// 2e-17), e^t = 2^n e^r with t = n ln2 + r (ln2 in fdlibm's two parts: n ln2_hi is exact) and e^r by its Taylor
// series to r^13 (|r| <= ln2/2: 2e-16). That is about 1e-14 relative before the one rounding to float (a subnormal
// result included), so the result is powf's correctly rounded one but within 1e-14 of a rounding boundary. Double,
// because y ln|x| reaches 104 and must be right to float's precision relative to 1, not to itself. No conversion
// from double to an integer (undefined for NaN and out of range): n comes from the bits of t / ln2 + 1.5 * 2^52.
NORMRT_HD NORMRT_FMATH_INLINE float pow(float x, float y) {
  const float kInfinity = half_bits::float_of(0x7f800000u);
  const float ax = half_bits::float_of(half_bits::bits_of(x) & 0x7fffffffu);
  const float ay = half_bits::float_of(half_bits::bits_of(y) & 0x7fffffffu);
  const bool subnormal = ax < 1.17549435e-38f;
  const uint32_t bits = half_bits::bits_of(blend(subnormal, ax * 8388608.0f, ax));
  const float mantissa = half_bits::float_of((bits & 0x007fffffu) | 0x3f800000u);  // [1, 2)
  const bool high = mantissa > 1.41421356f;
  const double m = blend(high, mantissa * 0.5f, mantissa);
  const int32_t e =
      static_cast<int32_t>(bits >> 23) - 127 - 23 * static_cast<int32_t>(subnormal) + static_cast<int32_t>(high);
  const double s = (m - 1.0) / (m + 1.0), z = s * s;
  double series = 1.0 / 19;
  series = series * z + 1.0 / 17;
  series = series * z + 1.0 / 15;
  series = series * z + 1.0 / 13;
  series = series * z + 1.0 / 11;
  series = series * z + 1.0 / 9;
  series = series * z + 1.0 / 7;
  series = series * z + 1.0 / 5;
  series = series * z + 1.0 / 3;
  series = series * z + 1.0;
  constexpr double kLn2 = 6.93147180559945286e-01, kLn2Hi = 6.93147180369123816490e-01,
                   kLn2Lo = 1.90821492927058770002e-10;
  const double t = static_cast<double>(y) * (static_cast<double>(e) * kLn2 + 2.0 * s * series);
  // Beyond +-200 the result is 0 or infinite in float either way; within, 2^n is a normal double.
  const double clamped = blend(t < -200.0, -200.0, blend(t > 200.0, 200.0, t));
  constexpr double kRound = 6755399441055744.0;  // 1.5 * 2^52: adding it rounds a double below 2^51 to an integer
  const double rounded = clamped * 1.44269504088896339 + kRound;
  const double n = rounded - kRound;
  const double scale = double_of((bits_of(rounded) - bits_of(kRound) + 1023u) << 52);
  const double r = (clamped - n * kLn2Hi) - n * kLn2Lo;
  double p = 1.0 / 6227020800;  // 1/13!
  p = p * r + 1.0 / 479001600;
  p = p * r + 1.0 / 39916800;
  p = p * r + 1.0 / 3628800;
  p = p * r + 1.0 / 362880;
  p = p * r + 1.0 / 40320;
  p = p * r + 1.0 / 5040;
  p = p * r + 1.0 / 720;
  p = p * r + 1.0 / 120;
  p = p * r + 1.0 / 24;
  p = p * r + 1.0 / 6;
  p = p * r + 0.5;
  p = p * r + 1.0;
  p = p * r + 1.0;
  float result = static_cast<float>(p * scale);
  // Whether y is an integer: every float from 2^23 on is, and below it adding and subtracting 2^23 rounds to one
  // (floorf, which GCC leaves scalar in an OpenMP simd loop, would do too). Its parity: a float of 2^24 or more is
  // even, and smaller ones convert to int32 exactly.
  const bool integer = (ay >= 8388608.0f) | ((ay + 8388608.0f) - 8388608.0f == ay);
  const uint32_t odd = static_cast<uint32_t>(integer) &
                       static_cast<uint32_t>(static_cast<int32_t>(blend(ay < 16777216.0f, ay, 0.0f)));  // bit 0
  result = blend(ax == 0.0f, blend(y < 0.0f, kInfinity, 0.0f), result);
  result = blend(ax == kInfinity, blend(y < 0.0f, 0.0f, kInfinity), result);
  result = blend(ay == kInfinity, blend(ax == 1.0f, 1.0f, blend((ax < 1.0f) == (y < 0.0f), kInfinity, 0.0f)), result);
  result = half_bits::float_of(half_bits::bits_of(result) ^ (half_bits::bits_of(x) & 0x80000000u & (0u - (odd & 1u))));
  const bool nan = (x != x) | (y != y) | ((x < 0.0f) & (ax < kInfinity) & !integer);
  result = blend(nan, half_bits::float_of(0x7fc00000u), result);
  return blend((y == 0.0f) | (x == 1.0f), 1.0f, result);
}

// PyTorch's sigmoid formula 1 / (1 + e^-x) (so 0 below x = -88.7, where e^-x overflows, as PyTorch's CPU kernel).
NORMRT_HD NORMRT_FMATH_INLINE float sigmoid(float x) { return 1.0f / (1.0f + fmath::exp(-x)); }

}  // namespace normrt::fmath
