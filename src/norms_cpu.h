// Internal: LayerNorm's and GroupNorm's CPU path, fused: each row of a normmath::RowGeometry is normalised by its own
// mean and biased variance and scaled and shifted by per-element (LayerNorm) or per-channel (GroupNorm) parameters in
// one pass, and the backward computes the input gradient and the parameters' in one pass more.
#pragma once
#include <cstdint>

#include "norms_math.cuh"

namespace normrt::norms_cpu {

using normmath::RowGeometry;

// y = (x - mean) * (rstd * weight) + bias per element (weight and bias may each be null: 1 and 0); mean and rstd (one
// per row) receive the statistics: exact two-pass moments in double, rstd = 1 / sqrt(var + eps). A row of one
// element normalises to 0 (its variance is 0; eps = 0 gives rstd = inf and y = NaN, as PyTorch).
void forward(const RowGeometry& g, const float* x, const float* weight, const float* bias, double eps, float* y,
             float* mean, float* rstd);

// The backward of forward: dx (the rows' training-mode gradient through their statistics; weight may be null) and,
// when grad_weight is not null, grad_weight / grad_bias (parameters() each; overwritten) summed over rows in an order
// fixed by the shape.
void backward(const RowGeometry& g, const float* dy, const float* x, const float* mean, const float* rstd,
              const float* weight, float* dx, float* grad_weight, float* grad_bias);

}  // namespace normrt::norms_cpu
