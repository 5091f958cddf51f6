#include "normrt/nn/instancenorm.h"

#include <cmath>

#include "normrt/error.h"
#include "normrt/ops/elementwise.h"
#include "normrt/ops/instance_norm.h"

namespace normrt::nn {

InstanceNormBase::InstanceNormBase(const InstanceNormOptions& options, std::string name, int64_t spatial_dims)
    : NormBase(name, options.num_features(), options.eps(), options.affine(), options.track_running_stats()),
      options_(options),
      name_(std::move(name)),
      spatial_dims_(spatial_dims) {
  NORMRT_CHECK(std::isfinite(options.momentum()), name_, ": momentum must be finite, got ", options.momentum());
}

std::string InstanceNormBase::extra_repr() const {
  return std::to_string(options_.num_features()) + ", eps=" + python_float_repr(options_.eps()) +
         ", momentum=" + python_float_repr(options_.momentum()) + ", affine=" + (options_.affine() ? "True" : "False") +
         ", track_running_stats=" + (options_.track_running_stats() ? "True" : "False");
}

Tensor InstanceNormBase::forward_impl(const Tensor& given, Context& ctx) {
  NORMRT_CHECK(given.defined(), name_, ": input is undefined");
  const int64_t unbatched = spatial_dims_ + 1;
  NORMRT_CHECK(given.dim() == unbatched || given.dim() == unbatched + 1, "expected ", unbatched, "D or ",
               unbatched + 1, "D input (got ", given.dim(), "D input)");
  const bool no_batch = given.dim() == unbatched;
  Shape batched_shape = given.sizes();
  if (no_batch) batched_shape.insert(batched_shape.begin(), 1);
  const Tensor input = given.reshape(batched_shape);
  // As torch.nn.InstanceNorm: the input's statistics in training, and also in eval when no running stats are tracked.
  const bool use_input_stats = is_training() || !running_mean.defined();
  const auto result = ops::instance_norm_forward(input, weight, bias, running_mean, running_var, use_input_stats,
                                                 options_.momentum(), options_.eps(), options_.backend());
  ctx.tensors = {input, weight, result.save_mean, result.save_invstd};
  ctx.values = {use_input_stats ? 1 : 0, no_batch ? 1 : 0};
  return result.output.reshape(given.sizes());
}

Tensor InstanceNormBase::backward_impl(const Tensor& grad_output, Context& ctx) {
  const Tensor& input = ctx.tensors[0].get(name_);
  const Tensor& saved_weight = weight.defined() ? ctx.tensors[1].get(name_) : weight;
  const Tensor dy = ctx.values[1] != 0 ? grad_output.reshape(input.sizes()) : grad_output;
  const auto grads = ops::instance_norm_backward(dy, input, saved_weight,
                                                 ctx.tensors[2].get(name_), ctx.tensors[3].get(name_),
                                                 ctx.values[0] != 0, options_.eps(), options_.backend());
  if (weight.defined()) {
    ops::accumulate_grad(weight, grads.grad_weight);
    ops::accumulate_grad(bias, grads.grad_bias);
  }
  return grads.grad_input.reshape(grad_output.sizes());
}

}  // namespace normrt::nn
