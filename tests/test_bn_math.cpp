// The shared BatchNorm arithmetic (kernels/bn_math.cuh) against direct double-precision definitions.
#include <random>

#include "bn_math.cuh"
#include "test_util.h"

namespace normrt::bn {
namespace {

double two_pass_mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s / static_cast<double>(v.size());
}

double two_pass_m2(const std::vector<double>& v) {
  const double mean = two_pass_mean(v);
  double s = 0;
  for (double x : v) s += (x - mean) * (x - mean);
  return s;
}

TEST(BnMath, WelfordMatchesTwoPass) {
  std::mt19937 rng(1);
  std::normal_distribution<double> dist(3.0, 2.0);
  std::vector<double> v(1000);
  for (double& x : v) x = dist(rng);
  Welford<double> s;
  for (double x : v) welford_add(s, x);
  EXPECT_EQ(s.count, 1000.0);
  EXPECT_NEAR(s.mean, two_pass_mean(v), 1e-12);
  EXPECT_NEAR(s.m2, two_pass_m2(v), 1e-9 * two_pass_m2(v));
}

TEST(BnMath, ChanMergeOfSplitsEqualsWhole) {
  std::mt19937 rng(2);
  std::normal_distribution<double> dist(-5.0, 0.5);
  std::vector<double> v(257);
  for (double& x : v) x = dist(rng);
  for (std::size_t split : {std::size_t{0}, std::size_t{1}, std::size_t{100}, std::size_t{256}, std::size_t{257}}) {
    Welford<double> a, b;
    for (std::size_t i = 0; i < split; ++i) welford_add(a, v[i]);
    for (std::size_t i = split; i < v.size(); ++i) welford_add(b, v[i]);
    const Welford<double> m = welford_merge(a, b);
    EXPECT_EQ(m.count, 257.0) << "split " << split;
    EXPECT_NEAR(m.mean, two_pass_mean(v), 1e-12) << "split " << split;
    EXPECT_NEAR(m.m2, two_pass_m2(v), 1e-10 * two_pass_m2(v)) << "split " << split;
  }
  const Welford<double> empty;
  const Welford<double> both = welford_merge(empty, empty);
  EXPECT_EQ(both.count, 0.0);
  EXPECT_FALSE(std::isnan(both.mean));
}

// Float accumulation of data with mean 1e4 and std 1e-2: shifting by a pivot keeps the variance accurate, while
// sum/sum-of-squares loses it completely (this test documents why the kernels shift).
TEST(BnMath, ShiftedFloatWelfordSurvivesLargeMeans) {
  std::mt19937 rng(3);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> v(100000);
  for (float& x : v) x = 1e4f + 1e-2f * dist(rng);
  const std::vector<double> vd(v.begin(), v.end());
  const double var = two_pass_m2(vd) / static_cast<double>(vd.size());

  // 256 "threads" with strided elements, merged pairwise, as a block of the CUDA kernel does.
  const float pivot = v[0];
  std::vector<Welford<float>> threads(256);
  for (std::size_t i = 0; i < v.size(); ++i) welford_add(threads[i % 256], v[i] - pivot);
  for (std::size_t stride = 128; stride >= 1; stride /= 2)
    for (std::size_t t = 0; t < stride; ++t) threads[t] = welford_merge(threads[t], threads[t + stride]);
  const float shifted_var = threads[0].m2 / threads[0].count;
  EXPECT_NEAR(shifted_var, var, 1e-4 * var);
  EXPECT_NEAR(pivot + threads[0].mean, two_pass_mean(vd), 1e-3);

  float sum = 0, sum_sq = 0;
  for (float x : v) {
    sum += x;
    sum_sq += x * x;
  }
  const float naive_var = sum_sq / v.size() - (sum / v.size()) * (sum / v.size());
  EXPECT_GT(std::fabs(naive_var - var), 10 * var);
}

// The CPU backend's one-read statistics: double sums of x - pivot and its square, the pivot one of the data. On
// mean 1e4, std 1e-2 they keep m2 to ~1e-10 (the (count + 1) bound), where the same sums without the pivot lose it.
TEST(BnMath, ShiftedSumsWithADataPivotKeepTheVariance) {
  std::mt19937 rng(4);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<double> v(1024);
  for (double& x : v) x = static_cast<double>(1e4f + 1e-2f * dist(rng));
  auto shifted = [&](double pivot) {
    double sum = 0, sum_sq = 0;
    for (double x : v) {
      sum += x - pivot;
      sum_sq += (x - pivot) * (x - pivot);
    }
    return welford_from_shifted_sums(pivot, sum, sum_sq, static_cast<double>(v.size()));
  };
  const double m2 = two_pass_m2(v);
  for (std::size_t i : {std::size_t{0}, std::size_t{517}}) {
    const Welford<double> s = shifted(v[i]);
    EXPECT_EQ(s.count, 1024.0);
    EXPECT_NEAR(s.mean, two_pass_mean(v), 1e-12 * 1e4);
    EXPECT_NEAR(s.m2, m2, 1e-10 * m2);
  }
  EXPECT_GT(std::fabs(shifted(0.0).m2 - m2), 1e-6 * m2);

  // All values equal: exactly zero, never a rounding's negative. An infinity gives NaN, which the clamp keeps.
  EXPECT_EQ(welford_from_shifted_sums(3.0, 0.0, 0.0, 5.0).m2, 0.0);
  EXPECT_EQ(welford_from_shifted_sums(0.0, 1.0, 0.2 * (1 - 1e-12), 5.0).m2, 0.0);
  EXPECT_TRUE(std::isnan(welford_from_shifted_sums(0.0, double{INFINITY}, double{INFINITY}, 5.0).m2));
}

TEST(BnMath, InvstdAndRunningUpdate) {
  EXPECT_EQ(invstd_from_var(0.0f, 0.0f), 0.0f);
  EXPECT_FLOAT_EQ(invstd_from_var(3.0f, 1.0f), 0.5f);
  EXPECT_EQ(invstd_from_running_var(0.0f, 0.0f), INFINITY);  // eval mode: no zero rule
  EXPECT_TRUE(std::isnan(invstd_from_running_var(-1.0f, 0.0f)));
  EXPECT_FLOAT_EQ(invstd_from_running_var(3.0f, 1.0f), 0.5f);
  EXPECT_DOUBLE_EQ(running_factor(false, 0.1, 7), 0.1);
  EXPECT_DOUBLE_EQ(running_factor(true, 0.1, 4), 0.25);
  EXPECT_DOUBLE_EQ(running_update(1.0, 3.0, 0.25), 1.5);
  EXPECT_DOUBLE_EQ(unbiased_var(6.0, 4.0), 2.0);
}

TEST(BnMath, ReluGradientIsThresholdBackward) {
  // torch.ops.aten.threshold_backward(dy, y, 0) with dy = 2 at y = NaN, -1, -0, 0, 1e-30, inf: 2, 0, 0, 0, 2, 2.
  EXPECT_EQ(relu_gradient(2.0f, NAN), 2.0f);
  EXPECT_EQ(relu_gradient(2.0f, -1.0f), 0.0f);
  EXPECT_EQ(relu_gradient(2.0f, -0.0f), 0.0f);
  EXPECT_EQ(relu_gradient(2.0f, 0.0f), 0.0f);
  EXPECT_EQ(relu_gradient(2.0f, 1e-30f), 2.0f);
  EXPECT_EQ(relu_gradient(2.0f, INFINITY), 2.0f);
}

TEST(BnMath, NormalizeKeepsPrecisionForLargeMeans) {
  const float x = 10000.0078125f, mean = 10000.0f, invstd = 100.0f;
  EXPECT_FLOAT_EQ(normalize(x, mean, invstd, 0.0f), 0.78125f);
  // A batch mean of 1e4 + 2^-12 rounds to the float 1e4 (its ulp is 2^-10); the shift takes the low part in, so y is
  // (x - 1e4 - 2^-12) * 100 = 3100 / 4096 exactly, where the float mean alone gives 3200 / 4096.
  const float mean_low = std::ldexp(1.0f, -12);
  EXPECT_EQ(normalize(x, mean, invstd, compensated_shift(0.0f, mean_low, invstd)), 3100.0f / 4096.0f);
  EXPECT_EQ(compensated_shift(0.5f, mean_low, invstd), 0.5f - 100.0f / 4096.0f);
}

// split_mean is exact: mean is the float sum and mean + mean_low the real one. Float pairs whose exponents lie
// within 2^20 of each other (their sum is then exact in double): pivots far from zero with small shifted means (the
// statistics' case), shifted means larger than the pivot, opposite signs that cancel, and zeros.
TEST(BnMath, SplitMeanKeepsWhatRoundingLeft) {
  std::mt19937 rng(8);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_int_distribution<int> exponent(-10, 10);
  int inexact = 0;
  for (int i = 0; i < 20000; ++i) {
    const float pivot = std::ldexp(normal(rng), exponent(rng)), shifted = std::ldexp(normal(rng), exponent(rng));
    const SplitMean<float> s = split_mean(pivot, shifted);
    ASSERT_EQ(s.mean, pivot + shifted) << pivot << " + " << shifted;
    ASSERT_EQ(double{s.mean} + double{s.mean_low}, double{pivot} + double{shifted}) << pivot << " + " << shifted;
    inexact += s.mean_low != 0.0f;
  }
  EXPECT_GT(inexact, 10000);  // most sums round: the low parts are not trivially zero
  const SplitMean<float> zero = split_mean(0.0f, 0.0f), cancel = split_mean(3e4f, -3e4f);
  EXPECT_EQ(zero.mean, 0.0f);
  EXPECT_EQ(zero.mean_low, 0.0f);
  EXPECT_EQ(cancel.mean, 0.0f);
  EXPECT_EQ(cancel.mean_low, 0.0f);
  // The case the kernels meet: a channel's first element 1e4 and a shifted mean of 1e-3 + 2^-30 (below 1e4's ulp).
  const float small = 1e-3f + std::ldexp(1.0f, -30);
  const SplitMean<float> far = split_mean(1e4f, small);
  EXPECT_EQ(double{far.mean} + double{far.mean_low}, 1e4 + double{small});
  EXPECT_NE(far.mean_low, 0.0f);
}

TEST(BnMath, BackwardCoefficientsMatchTheFormula) {
  // N = 4, sums chosen by hand: dx = (dy - 2/4 - (x - mean) * 0.25 * 8 / 4) * 0.5 * 3.
  const auto k = backward_coefficients(2.0, 8.0, 0.5, 3.0, 4.0);
  EXPECT_DOUBLE_EQ(k.grad_mean, 0.5);
  EXPECT_DOUBLE_EQ(k.projection, 0.5);
  EXPECT_DOUBLE_EQ(k.scale, 1.5);
  EXPECT_DOUBLE_EQ(backward_training(1.0, 3.0, k, 1.0), (1.0 - 0.5 - 2.0 * 0.5) * 1.5);
}

}  // namespace
}  // namespace normrt::bn
