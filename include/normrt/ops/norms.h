// Functional LayerNorm and GroupNorm (F.layer_norm / F.group_norm), returning the statistics the backward takes, as
// aten's native_layer_norm / native_group_norm do. Each row (a LayerNorm instance over the trailing
// normalized_shape; a GroupNorm (sample, group) of C / G channels and all their positions) is normalised by its own
// mean and biased variance, then scaled and shifted per element (LayerNorm) or per channel (GroupNorm). float32 on
// the CPU (one fused pass, moments in double) and CUDA (a block per row, float sums in a fixed order); results are
// identical run to run on both, and contiguous whatever the input's layout. float16 / bfloat16 input (with weight and
// bias float32 or of its dtype, apex's mixed LayerNorm) is computed in float32 on its values and each result rounded
// once to its tensor's dtype (a parameter gradient to the weight's, or to the input's without one); the statistics
// stay float32. Every argument is checked before
// anything is computed, with PyTorch's messages.
#pragma once
#include <cstdint>

#include "normrt/tensor.h"

namespace normrt::ops {

struct NormForwardResult {
  Tensor output;
  Tensor mean, rstd;  // one per row, rstd = 1 / sqrt(var + eps); shapes as PyTorch's (see below)
};

struct NormBackwardResult {
  Tensor grad_input;
  Tensor grad_weight, grad_bias;  // defined when parameter gradients are asked for
};

// mean / rstd have input's leading dimensions followed by normalized_shape.size() ones. weight and bias (either may
// be undefined: 1 and 0) have normalized_shape.
NormForwardResult layer_norm_forward(const Tensor& input, const Shape& normalized_shape, const Tensor& weight,
                                     const Tensor& bias, double eps = 1e-5);
// The training-mode backward of layer_norm_forward, given its mean and rstd. parameter_gradients: also return
// grad_weight and grad_bias (normalized_shape, summed over the rows in an order fixed by the shape).
NormBackwardResult layer_norm_backward(const Tensor& grad_output, const Tensor& input, const Shape& normalized_shape,
                                       const Tensor& mean, const Tensor& rstd, const Tensor& weight,
                                       bool parameter_gradients = true);
Tensor layer_norm(const Tensor& input, const Shape& normalized_shape, const Tensor& weight = Tensor(),
                  const Tensor& bias = Tensor(), double eps = 1e-5);

// input (N, C, *) with C divisible by num_groups; mean / rstd are (N, num_groups); weight and bias (C).
NormForwardResult group_norm_forward(const Tensor& input, int64_t num_groups, const Tensor& weight, const Tensor& bias,
                                     double eps = 1e-5);
NormBackwardResult group_norm_backward(const Tensor& grad_output, const Tensor& input, int64_t num_groups,
                                       const Tensor& mean, const Tensor& rstd, const Tensor& weight,
                                       bool parameter_gradients = true);
Tensor group_norm(const Tensor& input, int64_t num_groups, const Tensor& weight = Tensor(),
                  const Tensor& bias = Tensor(), double eps = 1e-5);

}  // namespace normrt::ops
