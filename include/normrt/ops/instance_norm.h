// Functional instance normalization (torch.instance_norm): every (sample, channel) of an (N, C, *) input is
// normalised by its own statistics. As in PyTorch it is BatchNorm over the (1, N * C, *) view of the input, with
// weight, bias and running statistics repeated per sample: the statistics, backward and backends are BatchNorm's
// (ops/batchnorm.h), and so are the dtypes (float32, float16, bfloat16 input; per-channel tensors of the input's dtype
// or float32). Outputs and gradients are contiguous whatever the input's memory format, as PyTorch's.
// Every argument is checked before anything is computed or changed.
#pragma once
#include <optional>

#include "normrt/ops/batchnorm.h"

namespace normrt::ops {

// use_input_stats: normalise with each instance's statistics (biased variance) and, when running_mean/running_var
// are defined, update them in place with the mean over the batch of what BatchNorm would give each instance:
// running = (1 - momentum) * running + momentum * instance statistic (unbiased variance), averaged over N. Else
// normalise with the running statistics (which must then be defined). Each (sample, channel) needs more than one
// element when using input statistics. The result's save_mean / save_invstd have N * C elements, sample-major.
// An empty batch (N = 0) leaves the running statistics as they were (PyTorch 1.13 writes NaN into them).
BatchNormForwardResult instance_norm_forward(const Tensor& input, const Tensor& weight, const Tensor& bias,
                                             const Tensor& running_mean, const Tensor& running_var,
                                             bool use_input_stats, double momentum, double eps,
                                             std::optional<Backend> backend = std::nullopt);

// Gradients for a forward that produced save_mean / save_invstd with the same use_input_stats (false: the running
// statistics are constants). grad_weight and grad_bias (C elements) are summed over the samples in a fixed order.
BatchNormBackwardResult instance_norm_backward(const Tensor& grad_output, const Tensor& input, const Tensor& weight,
                                               const Tensor& save_mean, const Tensor& save_invstd,
                                               bool use_input_stats, double eps,
                                               std::optional<Backend> backend = std::nullopt);

// The forward's output alone.
Tensor instance_norm(const Tensor& input, const Tensor& weight = Tensor(), const Tensor& bias = Tensor(),
                     const Tensor& running_mean = Tensor(), const Tensor& running_var = Tensor(),
                     bool use_input_stats = true, double momentum = 0.1, double eps = 1e-5);

}  // namespace normrt::ops
