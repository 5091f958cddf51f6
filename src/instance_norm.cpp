// normrt::ops instance norm: PyTorch's construction (aten/native/Normalization.cpp, instance_norm) on normrt's
// BatchNorm ops, so every backend and dtype BatchNorm has, instance norm has, with the same numbers. The checks are
// PyTorch's: F.instance_norm's spatial-size check first, then the running statistics, the batch and channel sizes,
// then BatchNorm's own checks on the repeated tensors (whose messages therefore count N * C elements, as PyTorch's
// do).
#include "normrt/ops/instance_norm.h"

#include <vector>

#include "normrt/error.h"
#include "normrt/ops/tensor_ops.h"
#include "op_util.h"

namespace normrt::ops {

namespace {

struct Instances {
  int64_t samples, channels, spatial;
};

Instances instances_of(const Tensor& input) {
  NORMRT_CHECK(input.defined(), "instance_norm: input is undefined");
  const int64_t n = input.size(0), c = input.size(1);  // PyTorch's words below 2 dimensions
  int64_t spatial = 1;
  for (int64_t d = 2; d < input.dim(); ++d) spatial *= input.size(d);
  return {n, c, spatial};
}

// The (1, N * C, spatial) BatchNorm input. PyTorch's instance norm makes its input contiguous first, and so returns
// contiguous outputs.
Tensor batch_norm_view(const Tensor& t, const Instances& in) {
  return t.contiguous().reshape({1, in.samples * in.channels, in.spatial});
}

// t (C) repeated once per sample: (N * C), sample-major. Undefined stays undefined.
Tensor repeated(const Tensor& t, int64_t samples) {
  if (!t.defined()) return t;
  if (samples == 0) return empty({0}, TensorOptions(t.device()).dtype(t.dtype()));
  return cat(std::vector<Tensor>(static_cast<std::size_t>(samples), t.reshape({t.numel()})));
}

// (N * C) -> (C): the sum over samples (mean: divided by N), in sample order, float32 or wider, in t's dtype.
Tensor over_samples(const Tensor& t, const Instances& in, bool average) {
  const Tensor rows = t.to(DType::Float32).reshape({in.samples, in.channels});
  return (average ? mean(rows, 0) : sum(rows, 0)).to(t.dtype());
}

// PyTorch's BatchNorm returns early for an empty input, unchecked; its instance norm then views the N copies of each
// running statistic as (N, C) and copies their mean back, refusing there one of another size (a single channel's
// broadcasts). normrt leaves the statistics alone for an empty input, where PyTorch's become NaN for an empty batch.
void check_statistic_of_empty_input(const Tensor& statistic, const Instances& in) {
  if (!statistic.defined() || statistic.numel() == in.channels) return;
  NORMRT_CHECK(in.samples == 0, "shape '[", in.samples, ", ", in.channels, "]' is invalid for input of size ",
               in.samples * statistic.numel());
  NORMRT_CHECK(in.channels == 1, "The size of tensor a (", statistic.numel(), ") must match the size of tensor b (",
               in.channels, ") at non-singleton dimension 0");
}

}  // namespace

BatchNormForwardResult instance_norm_forward(const Tensor& input, const Tensor& weight, const Tensor& bias,
                                             const Tensor& running_mean, const Tensor& running_var,
                                             bool use_input_stats, double momentum, double eps,
                                             std::optional<Backend> backend) {
  NORMRT_CHECK(input.defined(), "instance_norm: input is undefined");
  int64_t spatial = 1;  // F.instance_norm's product of the sizes after the first two, whatever the rank
  for (int64_t d = 2; d < input.dim(); ++d) spatial *= input.size(d);
  NORMRT_CHECK(!use_input_stats || spatial != 1, "Expected more than 1 spatial element when training, got input size ",
               util::torch_size_str(input.sizes()));
  NORMRT_CHECK(use_input_stats || (running_mean.defined() && running_var.defined()),
               "Expected running_mean and running_var to be defined when use_input_stats is false");
  const Instances in = instances_of(input);
  if (input.numel() == 0) {
    check_statistic_of_empty_input(running_mean, in);
    check_statistic_of_empty_input(running_var, in);
  }
  const Tensor view = batch_norm_view(input, in);
  const Tensor w = repeated(weight, in.samples), b = repeated(bias, in.samples);
  Tensor rm = repeated(running_mean, in.samples), rv = repeated(running_var, in.samples);
  BatchNormForwardResult result =
      use_input_stats
          ? batch_norm_forward_training(view, w, b, rm, rv, Tensor(), momentum, eps, backend)
          : batch_norm_forward_inference(view, w, b, rm, rv, eps, backend);
  if (use_input_stats && running_mean.defined() && in.samples > 0) {
    Tensor(running_mean).copy_(over_samples(rm, in, true).reshape(running_mean.sizes()));
    Tensor(running_var).copy_(over_samples(rv, in, true).reshape(running_var.sizes()));
  }
  result.output = result.output.reshape(input.sizes());
  return result;
}

BatchNormBackwardResult instance_norm_backward(const Tensor& grad_output, const Tensor& input, const Tensor& weight,
                                               const Tensor& save_mean, const Tensor& save_invstd,
                                               bool use_input_stats, double eps, std::optional<Backend> backend) {
  const Instances in = instances_of(input);
  NORMRT_CHECK(grad_output.defined() && grad_output.sizes() == input.sizes(),
               "instance_norm_backward: grad_output must have the input's shape ", shape_str(input.sizes()));
  BatchNormBackwardResult grads =
      batch_norm_backward(batch_norm_view(grad_output, in), batch_norm_view(input, in), repeated(weight, in.samples),
                          save_mean, save_invstd, use_input_stats, eps, backend);
  grads.grad_input = grads.grad_input.reshape(input.sizes());
  for (Tensor* per_instance : {&grads.grad_weight, &grads.grad_bias})
    if (per_instance->defined()) *per_instance = over_samples(*per_instance, in, false);
  return grads;
}

Tensor instance_norm(const Tensor& input, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                     const Tensor& running_var, bool use_input_stats, double momentum, double eps) {
  return instance_norm_forward(input, weight, bias, running_mean, running_var, use_input_stats, momentum, eps).output;
}

}  // namespace normrt::ops
