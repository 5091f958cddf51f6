#include "normrt/nn/norms.h"

#include <cmath>

#include "normrt/amp.h"
#include "normrt/error.h"
#include "normrt/ops/elementwise.h"
#include "normrt/ops/norms.h"

namespace normrt::nn {

namespace {

// ctx keeps the input, the rows' statistics and (affine) the weight.
void save(Context& ctx, const Tensor& input, const ops::NormForwardResult& r, const Tensor& weight) {
  ctx.tensors = {input, r.mean, r.rstd};
  if (weight.defined()) ctx.tensors.emplace_back(weight);
}

Tensor saved_weight(const Context& ctx, const Tensor& weight, const std::string& module) {
  return weight.defined() ? ctx.tensors[3].get(module) : Tensor();
}

// Accumulates the parameter gradients (affine) and returns the input's.
Tensor accumulate_parameter_grads(const ops::NormBackwardResult& r, Tensor& weight, Tensor& bias) {
  if (weight.defined()) {
    ops::accumulate_grad(weight, r.grad_weight);
    ops::accumulate_grad(bias, r.grad_bias);
  }
  return r.grad_input;
}

}  // namespace

LayerNorm::LayerNorm(Shape normalized_shape, double eps, bool elementwise_affine)
    : normalized_shape_(std::move(normalized_shape)), eps_(eps) {
  NORMRT_CHECK(!normalized_shape_.empty(), "LayerNorm: normalized_shape must have at least one dimension");
  NORMRT_CHECK(std::isfinite(eps) && eps >= 0, "LayerNorm: eps must be a non-negative number, got ", eps);
  if (elementwise_affine) {
    weight = ones(normalized_shape_);
    bias = zeros(normalized_shape_);
    register_parameter("weight", &weight);
    register_parameter("bias", &bias);
  }
}

std::string LayerNorm::extra_repr() const {
  std::string shape = "(";
  for (std::size_t i = 0; i < normalized_shape_.size(); ++i)
    shape += (i ? ", " : "") + std::to_string(normalized_shape_[i]);
  if (normalized_shape_.size() == 1) shape += ",";
  return shape + "), eps=" + python_float_repr(eps_) + ", elementwise_affine=" + (weight.defined() ? "True" : "False");
}

Tensor LayerNorm::forward_impl(const Tensor& given, Context& ctx) {
  const Tensor input = amp::autocast_to_float32(given);  // a float32 op under autocast, as PyTorch's (else any dtype)
  const auto r = ops::layer_norm_forward(input, normalized_shape_, weight, bias, eps_);
  save(ctx, input, r, weight);
  return r.output;
}

Tensor LayerNorm::backward_impl(const Tensor& grad_output, Context& ctx) {
  const Tensor& input = ctx.tensors[0].get(name());
  const auto r = ops::layer_norm_backward(grad_output, input, normalized_shape_, ctx.tensors[1].get(name()),
                                         ctx.tensors[2].get(name()), saved_weight(ctx, weight, name()),
                                         weight.defined());
  return accumulate_parameter_grads(r, weight, bias);
}

GroupNorm::GroupNorm(int64_t num_groups, int64_t num_channels, double eps, bool affine)
    : groups_(num_groups), channels_(num_channels), eps_(eps) {
  NORMRT_CHECK(num_groups > 0 && num_channels > 0 && num_channels % num_groups == 0,
               "num_channels must be divisible by num_groups");
  NORMRT_CHECK(std::isfinite(eps) && eps >= 0, "GroupNorm: eps must be a non-negative number, got ", eps);
  if (affine) {
    weight = ones({num_channels});
    bias = zeros({num_channels});
    register_parameter("weight", &weight);
    register_parameter("bias", &bias);
  }
}

std::string GroupNorm::extra_repr() const {
  return std::to_string(groups_) + ", " + std::to_string(channels_) + ", eps=" + python_float_repr(eps_) +
         ", affine=" + (weight.defined() ? "True" : "False");
}

Tensor GroupNorm::forward_impl(const Tensor& given, Context& ctx) {
  const Tensor input = amp::autocast_to_float32(given);  // a float32 op under autocast, as PyTorch's (else any dtype)
  // As PyTorch's module: the channels are checked against the weight's (without affine, any count the groups divide).
  const auto r = ops::group_norm_forward(input, groups_, weight, bias, eps_);
  save(ctx, input, r, weight);
  return r.output;
}

Tensor GroupNorm::backward_impl(const Tensor& grad_output, Context& ctx) {
  const Tensor& input = ctx.tensors[0].get(name());
  const auto r = ops::group_norm_backward(grad_output.reshape(input.sizes()), input, groups_,
                                         ctx.tensors[1].get(name()), ctx.tensors[2].get(name()),
                                         saved_weight(ctx, weight, name()), weight.defined());
  return accumulate_parameter_grads(r, weight, bias);
}

}  // namespace normrt::nn
