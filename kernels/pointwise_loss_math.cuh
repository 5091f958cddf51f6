// Elementwise losses of an input x against a target t (L1, smooth L1, Huber, binary cross-entropy on probabilities):
// each element's loss and its gradient, in float, as PyTorch 1.13's kernels write them (the same operations in the
// same order, so the bits agree wherever the logarithm does: fmath::log is within an ulp of glibc's). Shared by the CPU
// loops and the CUDA kernel (pointwise_loss.cu), which therefore agree bit for bit.
#pragma once
#include <cmath>
#include <cstdint>

#include "float_math.cuh"
#include "hd.h"

namespace normrt::lossmath {

enum class PointwiseLoss : int { L1, SmoothL1, Huber, BinaryCrossEntropy };

// parameter: smooth L1's beta (>= 0) or Huber's delta (> 0). norm: the gradient's factor, 1 / n
// (rounded to float) for a mean and 1 otherwise, for every loss but binary cross-entropy, whose gradient is divided
// by `divisor` (n for a mean, else 1) after its weight is applied, as PyTorch's backward does.
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

// The loss of one element; `weight` multiplies binary cross-entropy's (1 when unweighted, which changes no bits).
NORMRT_HD inline float pointwise_loss(const PointwiseLossParams& p, float x, float t, float weight) {
  const float z = fabsf(x - t);
  switch (p.kind) {
    case PointwiseLoss::L1:
      return z;
    case PointwiseLoss::SmoothL1:
      return z < p.parameter ? 0.5f * z * z / p.parameter : z - 0.5f * p.parameter;
    case PointwiseLoss::Huber:
      return z < p.parameter ? 0.5f * z * z : p.parameter * (z - 0.5f * p.parameter);
    case PointwiseLoss::BinaryCrossEntropy:
      return ((t - 1.0f) * clamped_log(1.0f - x) - t * clamped_log(x)) * weight;
  }
  return 0.0f;
}

// d loss / d x of one element, scaled by the reduction (params' norm / divisor).
NORMRT_HD inline float pointwise_loss_grad(const PointwiseLossParams& p, float x, float t, float weight) {
  const float d = x - t;
  switch (p.kind) {
    case PointwiseLoss::L1:  // sign(d), 0 at 0 and NaN, as PyTorch's sgn
      return d > 0.0f ? p.norm : (d < 0.0f ? -p.norm : 0.0f);
    case PointwiseLoss::SmoothL1:
      return d <= -p.parameter ? -p.norm : (d >= p.parameter ? p.norm : p.norm * d / p.parameter);
    case PointwiseLoss::Huber:
      return d <= -p.parameter ? -p.norm * p.parameter
                               : (d >= p.parameter ? p.norm * p.parameter : p.norm * d);
    case PointwiseLoss::BinaryCrossEntropy: {
      const float product = (1.0f - x) * x;
      return d / (product < kBceEpsilon ? kBceEpsilon : product) * weight / p.divisor;
    }
  }
  return 0.0f;
}

}  // namespace normrt::lossmath
