// Elementwise losses of an input x against a target t (squared error, L1, smooth L1, Huber, binary cross-entropy on
// probabilities, the KL divergence of log-probabilities from probabilities or log-probabilities):
// each element's loss and its gradient, in float, as PyTorch 1.13's kernels write them (the same operations in the
// same order, so the bits agree wherever the logarithm does: fmath::log is within an ulp of glibc's). Shared by the CPU
// loops and the CUDA kernel (pointwise_loss.cu), which therefore agree bit for bit.
#pragma once
#include <cmath>
#include <cstdint>

#include "float_math.cuh"
#include "hd.h"

namespace normrt::lossmath {

enum class PointwiseLoss : int {
  SquaredError,
  L1,
  SmoothL1,
  Huber,
  BinaryCrossEntropy,
  KLDivergence,
  KLDivergenceLogTarget
};

// parameter: smooth L1's beta (>= 0) or Huber's delta (> 0). norm: the gradient's factor, 1 / n
// (rounded to float) for a mean (1 / N for the KL divergence's batch mean) and 1 otherwise (twice that for the squared
// error), for every loss but binary
// cross-entropy, whose gradient is divided by `divisor` (n for a mean, else 1) after its weight is applied, as
// PyTorch's backward does.
struct PointwiseLossParams {
  PointwiseLoss kind = PointwiseLoss::L1;
  float parameter = 0.0f;
  float norm = 1.0f;
  float divisor = 1.0f;
};

// PyTorch clamps each logarithm of binary cross-entropy at -100 (a probability of 0 or 1 costs 100, not inf) and its
// gradient's denominator x (1 - x) at 1e-12.
constexpr float kLogFloor = -100.0f;
constexpr float kBceEpsilon = 1e-12f;

NORMRT_HD inline float clamped_log(float v) {
  const float l = fmath::log(v);
  return fmath::blend(l < kLogFloor, kLogFloor, l);  // NaN stays NaN, as std::max(NaN, -100)
}

// The loss of one element of kind K; `weight` multiplies binary cross-entropy's (1 when unweighted, which changes no
// bits). Both sides of each switch are computed and one is selected (fmath::blend): the same bits as PyTorch's
// branches, without branches, so that a CPU loop over elements vectorises.
template <PointwiseLoss K>
NORMRT_HD NORMRT_FMATH_INLINE float pointwise_loss_of(const PointwiseLossParams& p, float x, float t, float weight) {
  const float z = fabsf(x - t);
  if constexpr (K == PointwiseLoss::SquaredError) {
    return (x - t) * (x - t);
  } else if constexpr (K == PointwiseLoss::L1) {
    return z;
  } else if constexpr (K == PointwiseLoss::SmoothL1) {
    return fmath::blend(z < p.parameter, 0.5f * z * z / p.parameter, z - 0.5f * p.parameter);
  } else if constexpr (K == PointwiseLoss::Huber) {
    return fmath::blend(z < p.parameter, 0.5f * z * z, p.parameter * (z - 0.5f * p.parameter));
  } else if constexpr (K == PointwiseLoss::BinaryCrossEntropy) {
    return ((t - 1.0f) * clamped_log(1.0f - x) - t * clamped_log(x)) * weight;
  } else if constexpr (K == PointwiseLoss::KLDivergence) {  // xlogy(t, t) - t x: 0 at t = 0, NaN below
    return fmath::blend(t == 0.0f, 0.0f, t * fmath::log(t)) - t * x;
  } else {
    return fmath::exp(t) * (t - x);
  }
}

// d loss / d x of one element of kind K, scaled by the reduction (params' norm / divisor).
template <PointwiseLoss K>
NORMRT_HD NORMRT_FMATH_INLINE float pointwise_loss_grad_of(const PointwiseLossParams& p, float x, float t,
                                                          float weight) {
  const float d = x - t;
  if constexpr (K == PointwiseLoss::SquaredError) {
    return p.norm * d;
  } else if constexpr (K == PointwiseLoss::L1) {  // sign(d), 0 at 0 and NaN, as PyTorch's sgn
    return fmath::blend(d > 0.0f, p.norm, fmath::blend(d < 0.0f, -p.norm, 0.0f));
  } else if constexpr (K == PointwiseLoss::SmoothL1) {
    return fmath::blend(d <= -p.parameter, -p.norm, fmath::blend(d >= p.parameter, p.norm, p.norm * (d / p.parameter)));
  } else if constexpr (K == PointwiseLoss::Huber) {
    return fmath::blend(d <= -p.parameter, -p.norm * p.parameter,
                        fmath::blend(d >= p.parameter, p.norm * p.parameter, p.norm * d));
  } else if constexpr (K == PointwiseLoss::BinaryCrossEntropy) {
    const float product = (1.0f - x) * x;
    return d / fmath::blend(product < kBceEpsilon, kBceEpsilon, product) * weight / p.divisor;
  } else if constexpr (K == PointwiseLoss::KLDivergence) {  // autograd's: the reduction's factor times t, negated
    return -(p.norm * t);
  } else {
    return -(p.norm * fmath::exp(t));
  }
}

// The same, for a kind known at run time (the CUDA kernel; tests).
NORMRT_HD inline float pointwise_loss(const PointwiseLossParams& p, float x, float t, float weight) {
  switch (p.kind) {
    case PointwiseLoss::SquaredError: return pointwise_loss_of<PointwiseLoss::SquaredError>(p, x, t, weight);
    case PointwiseLoss::L1: return pointwise_loss_of<PointwiseLoss::L1>(p, x, t, weight);
    case PointwiseLoss::SmoothL1: return pointwise_loss_of<PointwiseLoss::SmoothL1>(p, x, t, weight);
    case PointwiseLoss::Huber: return pointwise_loss_of<PointwiseLoss::Huber>(p, x, t, weight);
    case PointwiseLoss::BinaryCrossEntropy:
      return pointwise_loss_of<PointwiseLoss::BinaryCrossEntropy>(p, x, t, weight);
    case PointwiseLoss::KLDivergence: return pointwise_loss_of<PointwiseLoss::KLDivergence>(p, x, t, weight);
    case PointwiseLoss::KLDivergenceLogTarget:
      return pointwise_loss_of<PointwiseLoss::KLDivergenceLogTarget>(p, x, t, weight);
  }
  return 0.0f;
}

NORMRT_HD inline float pointwise_loss_grad(const PointwiseLossParams& p, float x, float t, float weight) {
  switch (p.kind) {
    case PointwiseLoss::SquaredError: return pointwise_loss_grad_of<PointwiseLoss::SquaredError>(p, x, t, weight);
    case PointwiseLoss::L1: return pointwise_loss_grad_of<PointwiseLoss::L1>(p, x, t, weight);
    case PointwiseLoss::SmoothL1: return pointwise_loss_grad_of<PointwiseLoss::SmoothL1>(p, x, t, weight);
    case PointwiseLoss::Huber: return pointwise_loss_grad_of<PointwiseLoss::Huber>(p, x, t, weight);
    case PointwiseLoss::BinaryCrossEntropy:
      return pointwise_loss_grad_of<PointwiseLoss::BinaryCrossEntropy>(p, x, t, weight);
    case PointwiseLoss::KLDivergence: return pointwise_loss_grad_of<PointwiseLoss::KLDivergence>(p, x, t, weight);
    case PointwiseLoss::KLDivergenceLogTarget:
      return pointwise_loss_grad_of<PointwiseLoss::KLDivergenceLogTarget>(p, x, t, weight);
  }
  return 0.0f;
}

}  // namespace normrt::lossmath
