// BatchNorm arithmetic shared by the CPU backend and the CUDA kernels (and so tested on the CPU).
//
// Statistics: each worker (CPU lane, GPU thread) runs Welford's update over its elements, and partial results are
// combined with Chan et al.'s pairwise merge in a fixed tree, so results do not depend on scheduling. Values are
// shifted by a per-channel pivot (the channel's first element) before accumulation: for data like mean 1e4,
// std 1e-2 the shifted values are small and exact (Sterbenz), so the float accumulators keep full precision where
// sum/sum-of-squares (and even an unshifted float Welford, whose mean stops moving) would not.
#pragma once
#include <cmath>
#include <cstdint>

#include "hd.h"

namespace normrt::bn {

template <typename T>
struct Welford {
  T mean = 0;
  T m2 = 0;  // sum of squared deviations from mean
  T count = 0;
};

// Adds x to a state whose count has already been incremented; inv_count = 1 / count.
template <typename T>
NORMRT_HD inline void welford_step(Welford<T>& s, T x, T inv_count) {
  const T delta = x - s.mean;
  s.mean += delta * inv_count;
  s.m2 += delta * (x - s.mean);
}

template <typename T>
NORMRT_HD inline void welford_add(Welford<T>& s, T x) {
  s.count += 1;
  welford_step(s, x, T(1) / s.count);
}

// Chan's parallel merge. An empty side contributes nothing; two empty sides stay empty.
template <typename T>
NORMRT_HD inline Welford<T> welford_merge(const Welford<T>& a, const Welford<T>& b) {
  const T count = a.count + b.count;
  if (count == T(0)) return a;
  const T delta = b.mean - a.mean;
  const T b_share = b.count / count;
  Welford<T> out;
  out.mean = a.mean + delta * b_share;
  out.m2 = a.m2 + b.m2 + delta * delta * a.count * b_share;
  out.count = count;
  return out;
}

// A piece's state from sums of d = x - pivot and d * d in T, where the pivot is one of the piece's own values
// (the CPU backend's one-read statistics). The pivot's squared deviation is one term of m2, so
// sum(d^2) = m2 + count * (mean - pivot)^2 <= (count + 1) * m2: the subtraction below loses at most
// log2(count + 1) bits, where sum/sum-of-squares (pivot 0) can lose all of them.
template <typename T>
NORMRT_HD inline Welford<T> welford_from_shifted_sums(T pivot, T sum, T sum_sq, T count) {
  const T shift = sum / count;
  const T m2 = sum_sq - sum * shift;
  return {pivot + shift, m2 < T(0) ? T(0) : m2, count};  // rounding's negatives clamped; a NaN kept
}

// Training (the batch's variance), as PyTorch: invstd = 1 / sqrt(var + eps), defined as 0 when var == 0 and
// eps == 0.
template <typename T>
NORMRT_HD inline T invstd_from_var(T var, T eps) {
  using std::sqrt;
  return (var == T(0) && eps == T(0)) ? T(0) : T(1) / sqrt(var + eps);
}

// Evaluation (the running variance), as PyTorch's CPU and CUDA kernels: 1 / sqrt(var + eps) without that rule, so a
// zero running variance with eps = 0 gives an infinite invstd.
template <typename T>
NORMRT_HD inline T invstd_from_running_var(T var, T eps) {
  using std::sqrt;
  return T(1) / sqrt(var + eps);
}

// Weight of the new batch in the running statistics: momentum, or 1/num_batches_tracked (counted after this
// batch) for momentum=None, PyTorch's cumulative moving average.
NORMRT_HD inline double running_factor(bool cumulative_average, double momentum, int64_t batches_tracked) {
  return cumulative_average ? 1.0 / static_cast<double>(batches_tracked) : momentum;
}

// running = (1 - factor) * running + factor * batch_value, in PyTorch's operation order.
template <typename T>
NORMRT_HD inline T running_update(T running, T batch_value, T factor) {
  return factor * batch_value + (T(1) - factor) * running;
}

// Unbiased variance for running_var; a single value per channel gives NaN, like PyTorch (unreachable in training,
// which refuses that input).
template <typename T>
NORMRT_HD inline T unbiased_var(T m2, T count) {
  return m2 / (count - T(1));
}

// y = (x - mean) * scale + shift with scale = invstd * weight and shift = bias. Subtracting the mean first keeps
// precision for large means, where x * scale + (shift - mean * scale) would cancel catastrophically.
template <typename T>
NORMRT_HD inline T normalize(T x, T mean, T scale, T shift) {
  return (x - mean) * scale + shift;
}

// The shift of the compensated centering: mean_low is what rounding the mean to float left (mean - float(mean): the
// CPU's double mean minus its float, split_mean's remainder on the device). y = normalize(x, mean, scale,
// compensated_shift(bias, mean_low, scale)) centres on mean + mean_low at no cost per element: x - mean is exact near
// the mean, and the shift's own rounding is an ulp of the bias, as the final add's. The plain shift carries up to
// half an ulp of |mean| times the scale into every output: for |mean| / std of 1e4 and more that error dominates
// (PyTorch's CPU kernel avoids it too, with a double mean).
template <typename T>
NORMRT_HD inline T compensated_shift(T bias, T mean_low, T scale) {
  return bias - mean_low * scale;
}

// A mean accumulated in float as pivot + shifted_mean (the statistics above), as the float it rounds to and the exact
// remainder (Knuth's TwoSum; plain adds, so no contraction can change it): the mean_low of compensated_shift,
// where the CPU's double statistics give it as mean - float(mean).
template <typename T>
struct SplitMean {
  T mean;
  T mean_low;
};

template <typename T>
NORMRT_HD inline SplitMean<T> split_mean(T pivot, T shifted_mean) {
  const T mean = pivot + shifted_mean;
  const T shifted_part = mean - pivot;
  const T pivot_part = mean - shifted_part;
  return {mean, (pivot - pivot_part) + (shifted_mean - shifted_part)};
}

// The fused forms' epilogue: the residual added to the normalised value (0 when there is none), then the ReLU when
// kRelu (NaN propagates, as torch.relu). Rounded once, to float.
template <bool kRelu>
NORMRT_HD inline float epilogue(float normalised, float residual) {
  const float v = normalised + residual;
  if constexpr (kRelu) return v <= 0.0f ? 0.0f : v;  // one select: NaN fails the test and passes through
  return v;
}

// The gradient that passes a ReLU, from its output y: torch's threshold_backward, 0 where y <= 0 (so it passes
// where y is NaN).
NORMRT_HD inline float relu_gradient(float dy, float y) { return y <= 0.0f ? 0.0f : dy; }

// Per-channel constants of the training-mode input gradient
//   dx = (dy - sum(dy)/N - (x - mean) * invstd^2 * sum(dy * (x - mean))/N) * invstd * weight.
template <typename T>
struct BackwardCoefficients {
  T grad_mean;   // sum(dy) / N
  T projection;  // invstd^2 * sum(dy * (x - mean)) / N
  T scale;       // invstd * weight
};

template <typename T>
NORMRT_HD inline BackwardCoefficients<T> backward_coefficients(T sum_dy, T sum_dy_xmu, T invstd, T weight,
                                                               T count) {
  const T inv_count = T(1) / count;
  return {sum_dy * inv_count, sum_dy_xmu * invstd * invstd * inv_count, invstd * weight};
}

// The same centred on mean + mean_low, where the forward kept mean_low (compensated centering, compensated_shift):
// sum_dy_xmu must already be sum(dy * (x - mean - mean_low)) = sum(dy * (x - mean)) - mean_low * sum(dy)
// (compensated_dy_xmu); the dx pass keeps computing (x - mean) * projection on the float mean, so mean_low *
// projection moves into grad_mean.
template <typename T>
NORMRT_HD inline T compensated_dy_xmu(T sum_dy, T sum_dy_xmu, T mean_low) {
  return mean_low == T(0) ? sum_dy_xmu : sum_dy_xmu - mean_low * sum_dy;
}

template <typename T>
NORMRT_HD inline BackwardCoefficients<T> compensated_coefficients(T sum_dy, T sum_dy_xmu, T invstd, T weight,
                                                                  T count, T mean_low) {
  BackwardCoefficients<T> k = backward_coefficients(sum_dy, sum_dy_xmu, invstd, weight, count);
  if (mean_low != T(0)) k.grad_mean -= mean_low * k.projection;
  return k;
}

template <typename T>
NORMRT_HD inline T backward_training(T dy, T x, const BackwardCoefficients<T>& k, T mean) {
  return (dy - k.grad_mean - (x - mean) * k.projection) * k.scale;
}

}  // namespace normrt::bn
