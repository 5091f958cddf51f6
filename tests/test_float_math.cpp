// kernels/float_math.cuh (e^x, 2^x, tanh, sigmoid, ln, log2, log10, ln(1 + x), e^x - 1, the normal CDF and density,
// erf, erfc, sin/cos of turns, sin, cos, tan and x^y as straight-line float arithmetic, shared by the CPU loops and
// the kernels) against double-precision <cmath> over the whole float range: a stride through every bit pattern, every
// float where the formulas change (overflow, subnormal results, tanh's switch point), the worst inputs found by
// exhaustive searches, and every input randn's Box-Muller gives ln and sin/cos.
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <random>
#include <tuple>

#include "activation_math.cuh"
#include "float_math.cuh"
#include "test_util.h"

namespace normrt {
namespace {

float float_with_bits(uint32_t bits) { return half_bits::float_of(bits); }
uint32_t bits_of(float f) { return half_bits::bits_of(f); }

// |got - exact| in units of the last place of a float of exact's magnitude (2^-149 among the subnormals). Infinity
// and values past the float range count as 2^128, the next value past FLT_MAX: infinity is then exact for them, and
// an ulp from the largest values below.
double ulps(float got, double exact) {
  const double value = std::isinf(got) ? std::copysign(0x1p128, got) : got;
  exact = std::fabs(exact) > 0x1p128 ? std::copysign(0x1p128, exact) : exact;
  const double magnitude = std::fabs(exact);
  const int exponent = magnitude < 0x1p-126 ? -126 : std::ilogb(magnitude);
  return std::fabs(value - exact) / std::ldexp(1.0, exponent - 23);
}

struct Worst {
  double ulps = 0;
  float at = 0;
  void see(float x, double error) {
    if (error > ulps) {
      ulps = error;
      at = x;
    }
  }
};

// Every float with bits in [first, last] stepping by `step`, positive and negative.
void sweep(uint32_t first, uint32_t last, uint32_t step, const std::function<void(float)>& visit) {
  for (uint64_t bits = first; bits <= last; bits += step) {
    visit(float_with_bits(static_cast<uint32_t>(bits)));
    visit(float_with_bits(static_cast<uint32_t>(bits) | 0x80000000u));
  }
}

constexpr uint32_t kInfinityBits = 0x7f800000u;

TEST(FloatMath, ExpIsWithinAnUlpOfTheExactValueOfEveryFloat) {
  Worst worst;
  auto check = [&](float x) { worst.see(x, ulps(fmath::exp(x), std::exp(static_cast<double>(x)))); };
  sweep(0, kInfinityBits - 1, 997, check);
  sweep(bits_of(88.0f), bits_of(89.0f), 1, check);  // overflow from ln(FLT_MAX) = 88.72 on
  sweep(bits_of(87.0f), bits_of(104.0f), 3, check);  // -x: subnormal results, and zero from -103.97 down
  // Around the worst inputs of a search over every float: 0.978 ulp at -59.92; with p r^2 fused into its add, 1.01
  // there and at -5.878.
  sweep(bits_of(59.9f), bits_of(59.95f), 1, check);
  sweep(bits_of(5.87f), bits_of(5.88f), 1, check);
  EXPECT_LE(worst.ulps, 1.0) << "at x = " << worst.at;
  EXPECT_EQ(fmath::exp(INFINITY), INFINITY);
  EXPECT_EQ(fmath::exp(89.0f), INFINITY);
  EXPECT_EQ(fmath::exp(-INFINITY), 0.0f);
  EXPECT_EQ(fmath::exp(-104.0f), 0.0f);
  EXPECT_EQ(fmath::exp(-103.9f), float_with_bits(1));  // the smallest subnormal, rounded up to from 0.51 of it
  EXPECT_EQ(fmath::exp(0.0f), 1.0f);
  EXPECT_EQ(fmath::exp(-0.0f), 1.0f);
  EXPECT_TRUE(std::isnan(fmath::exp(NAN)));
}

TEST(FloatMath, TanhIsWithinOneAndAHalfUlpsOfTheExactValueAndOdd) {
  Worst worst;
  auto check = [&](float x) {
    const float y = fmath::tanh(x);
    worst.see(x, ulps(y, std::tanh(static_cast<double>(x))));
    EXPECT_EQ(bits_of(fmath::tanh(-x)), bits_of(y) ^ 0x80000000u) << x;
  };
  sweep(0, kInfinityBits - 1, 997, check);
  sweep(bits_of(0.6f), bits_of(0.65f), 1, check);  // where the odd polynomial hands over to 1 - 2 / (e^2x + 1)
  EXPECT_LE(worst.ulps, 1.5) << "at x = " << worst.at;
  EXPECT_EQ(bits_of(fmath::tanh(-0.0f)), bits_of(-0.0f));
  EXPECT_EQ(fmath::tanh(float_with_bits(1)), float_with_bits(1));
  EXPECT_EQ(fmath::tanh(INFINITY), 1.0f);
  EXPECT_EQ(fmath::tanh(-INFINITY), -1.0f);
  EXPECT_EQ(fmath::tanh(9.1f), 1.0f);
  EXPECT_TRUE(std::isnan(fmath::tanh(NAN)));
}

TEST(FloatMath, SigmoidIsPyTorchsFormulaWithinTwoAndAHalfUlps) {
  Worst worst;
  sweep(0, kInfinityBits - 1, 997, [&](float x) {
    const double exact = 1.0 / (1.0 + std::exp(-static_cast<double>(x)));
    if (x >= -88.7f) worst.see(x, ulps(fmath::sigmoid(x), exact));
    if (x < -88.73f) EXPECT_EQ(fmath::sigmoid(x), 0.0f) << x;  // e^-x overflows: 1 / inf, as in float PyTorch
  });
  EXPECT_LE(worst.ulps, 2.5) << "at x = " << worst.at;
  EXPECT_EQ(fmath::sigmoid(0.0f), 0.5f);
  EXPECT_EQ(fmath::sigmoid(INFINITY), 1.0f);
  EXPECT_EQ(fmath::sigmoid(-INFINITY), 0.0f);
  EXPECT_TRUE(std::isnan(fmath::sigmoid(NAN)));
}

TEST(FloatMath, LogIsWithinAnUlpOfTheExactValueOfEveryFloat) {
  Worst worst;
  auto check = [&](float x) { worst.see(x, ulps(fmath::log(x), std::log(static_cast<double>(x)))); };
  for (uint64_t bits = 1; bits < kInfinityBits; bits += 997) check(float_with_bits(static_cast<uint32_t>(bits)));
  for (uint32_t bits = bits_of(0.70f); bits <= bits_of(1.42f); bits += 7) check(float_with_bits(bits));  // m's switch
  for (uint32_t k = 1; k <= (1u << 24); ++k) check(static_cast<float>(k) * 0x1p-24f);  // every u1 of randn
  EXPECT_LE(worst.ulps, 1.0) << "at x = " << worst.at;
  EXPECT_EQ(fmath::log(1.0f), 0.0f);
  EXPECT_EQ(fmath::log(0.0f), -INFINITY);
  EXPECT_EQ(fmath::log(-0.0f), -INFINITY);
  EXPECT_EQ(fmath::log(INFINITY), INFINITY);
  EXPECT_NEAR(fmath::log(float_with_bits(1)), std::log(0x1p-149), 1e-5);
  for (float bad : {-1.0f, -float_with_bits(1), -INFINITY, NAN}) EXPECT_TRUE(std::isnan(fmath::log(bad))) << bad;
}

TEST(FloatMath, Log1pIsWithinTwoAndAHalfUlpsOfTheExactValueOfEveryFloat) {
  Worst worst;
  auto check = [&](float x) {
    if (x > -1.0f) worst.see(x, ulps(fmath::log1p(x), std::log1p(static_cast<double>(x))));
  };
  sweep(0, kInfinityBits - 1, 997, check);
  for (uint32_t bits = bits_of(1e-3f); bits <= bits_of(1e-2f); bits += 3) check(float_with_bits(bits));
  EXPECT_LE(worst.ulps, 2.5) << "at x = " << worst.at;
  EXPECT_EQ(fmath::log1p(0.0f), 0.0f);
  EXPECT_EQ(bits_of(fmath::log1p(-0.0f)), bits_of(-0.0f));
  EXPECT_EQ(fmath::log1p(1e-30f), 1e-30f);  // 1 + x rounds to 1: x itself
  EXPECT_EQ(fmath::log1p(-1.0f), -INFINITY);
  EXPECT_EQ(fmath::log1p(INFINITY), INFINITY);
  for (float bad : {-1.5f, -INFINITY, NAN}) EXPECT_TRUE(std::isnan(fmath::log1p(bad))) << bad;
}

TEST(FloatMath, Expm1IsWithinTwoUlpsOfTheExactValueOfEveryFloat) {
  Worst worst;
  auto check = [&](float x) { worst.see(x, ulps(fmath::expm1(x), std::expm1(static_cast<double>(x)))); };
  sweep(0, kInfinityBits - 1, 997, check);
  for (uint32_t bits = bits_of(0.4f); bits <= bits_of(0.6f); bits += 3) {  // the switch to e^x - 1
    check(float_with_bits(bits));
    check(-float_with_bits(bits));
  }
  EXPECT_LE(worst.ulps, 2.0) << "at x = " << worst.at;
  EXPECT_EQ(bits_of(fmath::expm1(-0.0f)), bits_of(-0.0f));
  EXPECT_EQ(fmath::expm1(1e-30f), 1e-30f);
  EXPECT_EQ(fmath::expm1(-INFINITY), -1.0f);
  EXPECT_EQ(fmath::expm1(-200.0f), -1.0f);
  EXPECT_EQ(fmath::expm1(INFINITY), INFINITY);
  EXPECT_EQ(fmath::expm1(100.0f), INFINITY);
  EXPECT_TRUE(std::isnan(fmath::expm1(NAN)));
}

// The bounds are the worst errors of a sweep over every float: log2 1.030 ulps at 1.41401124, log10 1.005 at
// 1.51002359 (both where the mantissa's range folds at sqrt 2), exp2 0.989 at -0.434817135; the sweeps below pass
// through those places.
TEST(FloatMath, Log2AndLog10AreWithin1Point05UlpsOfEveryFloatAndExactAtPowers) {
  Worst worst2, worst10;
  auto check = [&](float x) {
    worst2.see(x, ulps(fmath::log2(x), std::log2(static_cast<double>(x))));
    worst10.see(x, ulps(fmath::log10(x), std::log10(static_cast<double>(x))));
  };
  for (uint64_t bits = 1; bits < kInfinityBits; bits += 997) check(float_with_bits(static_cast<uint32_t>(bits)));
  for (uint32_t bits = bits_of(1.40f); bits <= bits_of(1.52f); bits += 3) check(float_with_bits(bits));
  EXPECT_LE(worst2.ulps, 1.05) << "at x = " << worst2.at;
  EXPECT_LE(worst10.ulps, 1.05) << "at x = " << worst10.at;
  for (int k = -149; k <= 127; ++k) EXPECT_EQ(fmath::log2(std::ldexp(1.0f, k)), static_cast<float>(k)) << k;
  float ten_to_the_k = 1.0f;  // exact up to 10^10
  for (int k = 0; k <= 10; ++k, ten_to_the_k *= 10.0f) EXPECT_EQ(fmath::log10(ten_to_the_k), static_cast<float>(k));
  for (auto f : {fmath::log2, fmath::log10}) {
    EXPECT_EQ(f(0.0f), -INFINITY);
    EXPECT_EQ(f(-0.0f), -INFINITY);
    EXPECT_EQ(f(INFINITY), INFINITY);
    for (float bad : {-1.0f, -float_with_bits(1), -INFINITY, NAN}) EXPECT_TRUE(std::isnan(f(bad))) << bad;
  }
}

TEST(FloatMath, Exp2IsWithinAnUlpOfTheExactValueOfEveryFloatAndExactAtIntegers) {
  Worst worst;
  auto check = [&](float x) { worst.see(x, ulps(fmath::exp2(x), std::exp2(static_cast<double>(x)))); };
  sweep(0, kInfinityBits - 1, 997, check);
  sweep(bits_of(127.0f), bits_of(128.0f), 1, check);  // overflow from 2^128 on
  sweep(bits_of(125.0f), bits_of(151.0f), 3, check);  // -x: subnormal results, and zero from -150 down
  sweep(bits_of(0.43f), bits_of(0.44f), 1, check);
  EXPECT_LE(worst.ulps, 1.0) << "at x = " << worst.at;
  for (int k = -149; k <= 127; ++k) EXPECT_EQ(fmath::exp2(static_cast<float>(k)), std::ldexp(1.0f, k)) << k;
  EXPECT_EQ(fmath::exp2(128.0f), INFINITY);
  EXPECT_EQ(fmath::exp2(INFINITY), INFINITY);
  EXPECT_EQ(fmath::exp2(-150.0f), 0.0f);  // half the smallest subnormal: ties to even
  EXPECT_EQ(fmath::exp2(-149.5f), float_with_bits(1));
  EXPECT_EQ(fmath::exp2(-INFINITY), 0.0f);
  EXPECT_EQ(fmath::exp2(-0.0f), 1.0f);
  EXPECT_TRUE(std::isnan(fmath::exp2(NAN)));
  EXPECT_TRUE(std::isnan(fmath::exp2(-NAN)));
}

// The bounds are the worst errors of a sweep over every float: erf 1.207 ulps at 1.00052345 (just past the switch to
// 1 - erfc), erfc 4.293 at 2.7175777 (a result just above a power of two); the sweeps below pass through both.
TEST(FloatMath, ErfAndErfcAreWithinTheirBoundsOfEveryFloatIntoTheTail) {
  Worst worst_erf, worst_erfc;
  auto check = [&](float x) {
    worst_erf.see(x, ulps(fmath::erf(x), std::erf(static_cast<double>(x))));
    worst_erfc.see(x, ulps(fmath::erfc(x), std::erfc(static_cast<double>(x))));
  };
  sweep(0, kInfinityBits - 1, 997, check);
  sweep(bits_of(1e-3f), bits_of(0.55f), 101, check);  // erfc's 1 - erf, and its switch to the tail
  sweep(bits_of(0.99f), bits_of(1.03f), 3, check);    // erf's
  sweep(bits_of(1.0005f), bits_of(1.0006f), 1, check);
  sweep(bits_of(2.7175f), bits_of(2.7176f), 1, check);
  sweep(bits_of(9.5f), bits_of(10.2f), 7, check);  // erfc's subnormal results, and zero past 10.06
  EXPECT_LE(worst_erf.ulps, 1.21) << "at x = " << worst_erf.at;
  EXPECT_LE(worst_erfc.ulps, 4.3) << "at x = " << worst_erfc.at;
  EXPECT_EQ(bits_of(fmath::erf(-0.0f)), bits_of(-0.0f));
  EXPECT_EQ(fmath::erf(float_with_bits(1)), float_with_bits(1));  // 2 / sqrt(pi) times the smallest subnormal
  EXPECT_EQ(fmath::erf(INFINITY), 1.0f);
  EXPECT_EQ(fmath::erf(-INFINITY), -1.0f);
  EXPECT_EQ(fmath::erfc(0.0f), 1.0f);
  EXPECT_EQ(fmath::erfc(INFINITY), 0.0f);
  EXPECT_EQ(fmath::erfc(-INFINITY), 2.0f);
  EXPECT_EQ(fmath::erfc(10.06f), 0.0f);
  EXPECT_EQ(fmath::erfc(10.05f), float_with_bits(1));
  EXPECT_TRUE(std::isnan(fmath::erf(NAN)));
  EXPECT_TRUE(std::isnan(fmath::erfc(NAN)));
  EXPECT_TRUE(std::isnan(fmath::erfc(-NAN)));
}

// Phi(x) = erfc(-x / sqrt 2) / 2 relative to its own value, the lower tail included (down to the subnormals), and
// the density e^-x^2/2 / sqrt(2 pi) likewise. The bounds are the worst errors over every float (NORMRT_EVERY_FLOAT=1
// sweeps them all, 15 minutes on one core): Phi 4.64 ulps at x = -0.0141752 (just below 0.5, where an ulp halves),
// phi 2.04 at +-6.93349; the default sweeps pass through both places.
TEST(FloatMath, NormalCdfAndDensityKeepTheirRelativeAccuracyIntoTheTail) {
  Worst worst_cdf, worst_density;
  auto check = [&](float x) {
    const double exact_cdf = 0.5 * std::erfc(-static_cast<double>(x) / std::sqrt(2.0));
    const double exact_density = std::exp(-0.5 * static_cast<double>(x) * x) / std::sqrt(2.0 * M_PI);
    const fmath::NormalParts p = fmath::normal_parts(x);
    worst_cdf.see(x, ulps(p.cdf, exact_cdf));
    worst_density.see(x, ulps(p.density, exact_density));
  };
  sweep(0, kInfinityBits - 1, std::getenv("NORMRT_EVERY_FLOAT") != nullptr ? 1 : 997, check);
  sweep(bits_of(0.0141f), bits_of(0.0143f), 1, check);
  sweep(bits_of(6.933f), bits_of(6.934f), 1, check);
  sweep(bits_of(14.4f), bits_of(14.5f), 7, check);  // the clamp, where both reach 0
  EXPECT_LE(worst_cdf.ulps, 4.65) << "at x = " << worst_cdf.at;
  EXPECT_LE(worst_density.ulps, 2.05) << "at x = " << worst_density.at;
  EXPECT_EQ(fmath::normal_parts(INFINITY).cdf, 1.0f);
  EXPECT_EQ(fmath::normal_parts(-INFINITY).cdf, 0.0f);
  EXPECT_EQ(fmath::normal_parts(-INFINITY).density, 0.0f);
  EXPECT_EQ(fmath::normal_parts(0.0f).density, static_cast<float>(1.0 / std::sqrt(2.0 * M_PI)));
}

// sin and cos of 2 pi t against double-precision ones of the exactly reduced angle (so that exact zeros stay zeros:
// std::sin(2 pi 0.5) is 1.2e-16, not 0).
TEST(FloatMath, SinCosOfTurnsAreWithinTwoUlpsOfTheExactValues) {
  Worst worst_sin, worst_cos;
  auto check = [&](float t) {
    float s = 0, c = 0;
    fmath::sin_cos_turns(t, s, c);
    const double quarters = std::nearbyint(4.0 * t), x = 2.0 * M_PI * (t - quarters / 4.0);
    const int quadrant = static_cast<int>(std::fmod(quarters, 4.0) + 4.0) % 4;
    const double sin_x = std::sin(x), cos_x = std::cos(x);
    const double exact_sin[] = {sin_x, cos_x, -sin_x, -cos_x}, exact_cos[] = {cos_x, -sin_x, -cos_x, sin_x};
    worst_sin.see(t, ulps(s, exact_sin[quadrant]));
    worst_cos.see(t, ulps(c, exact_cos[quadrant]));
  };
  for (uint32_t k = 0; k < (1u << 24); ++k) check(static_cast<float>(k) * 0x1p-24f);  // every u2 of randn
  for (uint32_t bits = 0; bits < bits_of(0x1p20f); bits += 997) {
    check(float_with_bits(bits));
    check(-float_with_bits(bits));
  }
  EXPECT_LE(worst_sin.ulps, 2.0) << "at t = " << worst_sin.at;
  EXPECT_LE(worst_cos.ulps, 2.0) << "at t = " << worst_cos.at;
  for (float t : {0.0f, 0.25f, 0.5f, 0.75f, -0.25f, 1000.5f}) {
    float s = 1, c = 1;
    fmath::sin_cos_turns(t, s, c);
    EXPECT_EQ(s * s + c * c, 1.0f) << t;  // one of them exactly 0, the other +-1
    EXPECT_EQ(std::fabs(s) + std::fabs(c), 1.0f) << t;
  }
}

// sin, cos and tan of radians against double-precision <cmath> (glibc's, whose reduction is exact for every double).
// The bounds are the worst errors over every float (NORMRT_EVERY_FLOAT=1 sweeps them all, about 4 minutes on one
// core): sin 0.801 ulps at 4.9134742e17, cos 0.799 at 52508860, tan 1.178 at 2.33613016e19 (all three past the near
// reduction's range); the default sweeps pass through those places and the switch between the reductions.
TEST(FloatMath, SinCosAndTanAreWithinTheirBoundsOfEveryFloat) {
  Worst worst_sin, worst_cos, worst_tan;
  auto check = [&](float x) {
    worst_sin.see(x, ulps(fmath::sin(x), std::sin(static_cast<double>(x))));
    worst_cos.see(x, ulps(fmath::cos(x), std::cos(static_cast<double>(x))));
    worst_tan.see(x, ulps(fmath::tan(x), std::tan(static_cast<double>(x))));
  };
  sweep(0, kInfinityBits - 1, std::getenv("NORMRT_EVERY_FLOAT") != nullptr ? 1 : 997, check);
  // (and the float closest to a nonzero multiple of pi/2, 7.72917892e28: 2^-29.2 from it)
  for (const float worst : {4.9134742e17f, 52508860.0f, 2.33613016e19f, fmath::kNearAngle, 7.72917892e28f})
    sweep(bits_of(worst) - 3000, bits_of(worst) + 3000, 1, check);
  EXPECT_LE(worst_sin.ulps, 0.81) << "at x = " << worst_sin.at;
  EXPECT_LE(worst_cos.ulps, 0.81) << "at x = " << worst_cos.at;
  EXPECT_LE(worst_tan.ulps, 1.18) << "at x = " << worst_tan.at;
  // Odd and even to the bit (the reduction takes |x|), and zeros keep their sign.
  for (uint32_t bits = 0; bits < kInfinityBits; bits += 9973) {
    const float x = float_with_bits(bits);
    EXPECT_EQ(bits_of(fmath::sin(-x)), bits_of(-fmath::sin(x))) << x;
    EXPECT_EQ(bits_of(fmath::cos(-x)), bits_of(fmath::cos(x))) << x;
    EXPECT_EQ(bits_of(fmath::tan(-x)), bits_of(-fmath::tan(x))) << x;
  }
  EXPECT_EQ(bits_of(fmath::sin(-0.0f)), bits_of(-0.0f));
  EXPECT_EQ(bits_of(fmath::tan(-0.0f)), bits_of(-0.0f));
  EXPECT_EQ(fmath::cos(-0.0f), 1.0f);
  EXPECT_EQ(fmath::sin(float_with_bits(1)), float_with_bits(1));
  for (const float special : {INFINITY, -INFINITY, NAN}) {
    EXPECT_TRUE(std::isnan(fmath::sin(special)));
    EXPECT_TRUE(std::isnan(fmath::cos(special)));
    EXPECT_TRUE(std::isnan(fmath::tan(special)));
  }
}

// Cody and Waite's reduction and Payne and Hanek's (which holds from 2^-7 up) give the same angle where both apply, to
// the two floats' precision: n pi/2 + r alike modulo 2 pi (n may differ by one where 2|x|/pi is near a half); the
// blend of the two that CPU loops take picks as the branch does.
TEST(FloatMath, TheNearAndFarAngleReductionsAgree) {
  double worst = 0;
  float worst_at = 0;
  for (uint32_t bits = bits_of(0x1p-7f); bits < bits_of(fmath::kNearAngle); bits += 101) {
    const float a = float_with_bits(bits);
    const fmath::QuarterTurns near = fmath::quarter_turns_near(a), far = fmath::quarter_turns_far(a);
    const double r_near = static_cast<double>(near.hi) + near.lo, r_far = static_cast<double>(far.hi) + far.lo;
    const double quarters = static_cast<double>(near.quadrant) - static_cast<double>(far.quadrant);
    const double difference = std::remainder(r_near - r_far + quarters * (M_PI / 2), 2 * M_PI);
    const double error = std::fabs(difference) / (std::fabs(r_far) * 0x1p-40 + 0x1p-46);
    if (error > worst) {
      worst = error;
      worst_at = a;
    }
    // Within tan's fitted range (pi/4 + 0.01; the largest over every float is 0.78965: 2a/pi rounded as a float may
    // round to the other integer); Payne and Hanek's rounds exactly (to the float nearest r).
    ASSERT_LE(std::fabs(r_near), 0.7954) << a;
    ASSERT_LE(std::fabs(r_far), M_PI / 4 + 1e-7) << a;
  }
  EXPECT_LE(worst, 1.0) << "at " << worst_at;
  // The CPU loops' branch-free choice between them is the branch's, bit for bit (infinities and NaN included).
  for (uint64_t bits = 0; bits <= 0x7fffffffu; bits += 9973) {
    const float a = float_with_bits(static_cast<uint32_t>(bits));
    const fmath::QuarterTurns branched = fmath::quarter_turns(a), blended = fmath::quarter_turns_blended(a);
    ASSERT_EQ(bits_of(blended.hi), bits_of(branched.hi)) << a;
    ASSERT_EQ(bits_of(blended.lo), bits_of(branched.lo)) << a;
    ASSERT_EQ(blended.quadrant, branched.quadrant) << a;
  }
}

// x^y within half an ulp of double-precision <cmath>'s (glibc's pow, itself within half a double ulp): correctly
// rounded, over random operands of every magnitude, negative bases to integer powers, results that overflow, that are
// subnormal or exact, and exponents far beyond the int32 range; C's special cases bit for bit as glibc's powf.
TEST(FloatMath, PowIsCorrectlyRoundedWithCsSpecialCases) {
  std::mt19937 g(2026);
  std::uniform_int_distribution<uint32_t> any_bits;
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  double worst = 0;
  float worst_x = 0, worst_y = 0;
  const auto check = [&](float x, float y) {
    const double exact = std::pow(static_cast<double>(x), static_cast<double>(y));
    const float got = fmath::pow(x, y);
    if (std::isnan(exact)) {
      ASSERT_TRUE(std::isnan(got)) << x << " ^ " << y;
      return;
    }
    const double error = ulps(got, exact);
    ASSERT_EQ(std::signbit(got), std::signbit(exact)) << x << " ^ " << y;
    if (error > worst) std::tie(worst, worst_x, worst_y) = std::tuple(error, x, y);
  };
  for (int k = 0; k < 300000; ++k) {
    const float x = float_with_bits(any_bits(g) % kInfinityBits);  // every positive finite float
    check(x, 40.0f * uniform(g));
    check(-x, std::round(12.0f * uniform(g)));                          // negative bases: integer powers only
    check(1.0f + uniform(g) / 2, 200.0f * uniform(g));                  // results near 1 and across the range
    check(uniform(g), 1000.0f * std::fabs(uniform(g)));                 // subnormal results and zero
    check(float_with_bits(any_bits(g)), float_with_bits(any_bits(g)));  // any bits: NaNs and infinities too
  }
  EXPECT_LE(worst, 0.5 + 1e-6) << worst_x << " ^ " << worst_y;
  EXPECT_EQ(fmath::pow(3.0f, 2.0f), 9.0f);
  EXPECT_EQ(fmath::pow(2.0f, -149.0f), float_with_bits(1));
  EXPECT_EQ(fmath::pow(2.0f, 128.0f), INFINITY);
  EXPECT_EQ(fmath::pow(-2.0f, 127.0f), -0x1p127f);

  std::vector<float> specials = {0.0f, -0.0f, 1.0f, -1.0f, 0.5f, -0.5f, 2.0f, -2.0f, 3.0f, -3.0f, -8.0f, 1.0f / 3};
  for (float v : {INFINITY, -INFINITY, NAN, 1e-45f, -1e-45f, 1e38f, 1e10f, -1e10f, 0.99999994f, 1.0000001f})
    specials.push_back(v);
  for (float v : {0x1p24f, 0x1p24f + 2.0f, -0x1p24f + 1.0f, 0x1p23f + 1.0f, -0x1p23f - 1.0f, -0x1p22f - 0.5f})
    specials.push_back(v);  // where the parity test changes
  for (float x : specials)
    for (float y : specials) {
      const float got = fmath::pow(x, y), expected = std::pow(x, y);
      EXPECT_TRUE(bits_of(got) == bits_of(expected) || (std::isnan(got) && std::isnan(expected)))
          << x << " ^ " << y << ": " << got << ", powf " << expected;
    }
}

// The library's CPU loops (vectorised at the build machine's width, the clamps as masked lanes) give the bits of the
// scalar functions above, NaN for NaN.
TEST(FloatMath, TheCpuActivationLoopsComputeTheScalarFunctionsBits) {
  std::vector<float> values = {0.0f,    -0.0f,  INFINITY, -INFINITY, NAN,    float_with_bits(1), 88.72f, -88.72f,
                               -103.9f, 0.625f, 14.45f,   -14.45f,   14.46f, -0.0141752f};
  sweep(0, kInfinityBits - 1, 65521, [&](float x) { values.push_back(x); });
  const Tensor x = from_vector(values, {static_cast<int64_t>(values.size())});
  const auto sigmoid = ops::activation(ops::Activation::Sigmoid, x).to_vector();
  const auto tanh = ops::activation(ops::Activation::Tanh, x).to_vector();
  const auto gelu = ops::activation(ops::InputActivation::gelu(), x).to_vector();
  const auto gelu_grad = ops::activation_backward(ops::InputActivation::gelu(), full(x.sizes(), 0.75), x).to_vector();
  for (std::size_t i = 0; i < values.size(); ++i) {
    const float v = values[i];
    if (std::isnan(v)) {
      EXPECT_TRUE(std::isnan(sigmoid[i]) && std::isnan(tanh[i]) && std::isnan(gelu[i]) && std::isnan(gelu_grad[i]));
      continue;
    }
    ASSERT_EQ(bits_of(sigmoid[i]), bits_of(fmath::sigmoid(v))) << v;
    ASSERT_EQ(bits_of(tanh[i]), bits_of(fmath::tanh(v))) << v;
    ASSERT_EQ(bits_of(gelu[i]), bits_of(v * fmath::normal_parts(v).cdf)) << v;
    ASSERT_EQ(bits_of(gelu_grad[i]), bits_of(nnmath::gelu_backward(0.75f, v))) << v;
  }
}

}  // namespace
}  // namespace normrt
