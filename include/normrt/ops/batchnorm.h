// Functional batch normalization over every dimension but dim 1 (channels) of a float32 tensor of rank >= 2,
// with PyTorch's semantics. Tensors must share one device; the op dispatches to that device's backend.
// Every argument is checked before anything is computed or changed: a throwing call leaves the running
// statistics and the counter as they were.
#pragma once
#include <optional>

#include "normrt/tensor.h"

namespace normrt::ops {

struct BatchNormForwardResult {
  Tensor output;
  Tensor save_mean;    // (C): the mean used to normalise
  Tensor save_invstd;  // (C): 1 / sqrt(var + eps) used to normalise
};

// Training mode: normalises with the batch statistics (biased variance). When running_mean/running_var are
// defined they are updated in place, running = (1 - f) * running + f * batch (unbiased variance), with
// f = momentum, or f = 1 / num_batches_tracked for momentum = nullopt; num_batches_tracked (int64, one element,
// may be undefined when momentum is set) is incremented first, also for an empty batch, as in PyTorch.
BatchNormForwardResult batch_norm_forward_training(const Tensor& input, const Tensor& weight, const Tensor& bias,
                                                   const Tensor& running_mean, const Tensor& running_var,
                                                   const Tensor& num_batches_tracked,
                                                   std::optional<double> momentum, double eps);

// Inference mode: normalises with the running statistics.
BatchNormForwardResult batch_norm_forward_inference(const Tensor& input, const Tensor& weight, const Tensor& bias,
                                                    const Tensor& running_mean, const Tensor& running_var,
                                                    double eps);

struct BatchNormBackwardResult {
  Tensor grad_input;
  Tensor grad_weight;  // undefined when weight is undefined (affine=False)
  Tensor grad_bias;
};

// Gradients for a forward that produced save_mean/save_invstd. training=true differentiates through the batch
// statistics; training=false treats them as constants (the inference forward).
BatchNormBackwardResult batch_norm_backward(const Tensor& grad_output, const Tensor& input, const Tensor& weight,
                                            const Tensor& save_mean, const Tensor& save_invstd, bool training);

}  // namespace normrt::ops
