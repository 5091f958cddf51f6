#include "normrt/nn/blocks.h"

#include "normrt/error.h"
#include "normrt/nn/conv.h"
#include "normrt/nn/layers.h"
#include "normrt/nn/pooling.h"
#include "normrt/ops/elementwise.h"
#include "normrt/ops/tensor_ops.h"
#include "slice_dropout.h"

namespace normrt::nn {

SqueezeExcitation::SqueezeExcitation(int64_t input_channels, int64_t squeeze_channels,
                                     std::shared_ptr<Module> activation, std::shared_ptr<Module> scale_activation,
                                     Generator* gen)
    : avgpool_(std::make_shared<AdaptiveAvgPool2d>(1)),
      fc1_(std::make_shared<Conv2d>(ConvOptions(input_channels, squeeze_channels, 1), gen)),
      activation_(activation ? std::move(activation) : std::make_shared<ReLU>()),
      fc2_(std::make_shared<Conv2d>(ConvOptions(squeeze_channels, input_channels, 1), gen)),
      scale_activation_(scale_activation ? std::move(scale_activation) : std::make_shared<Sigmoid>()) {
  // torchvision's registration order, which its state_dict and repr follow.
  register_module("avgpool", avgpool_);
  register_module("fc1", fc1_);
  register_module("fc2", fc2_);
  register_module("activation", activation_);
  register_module("scale_activation", scale_activation_);
}

void SqueezeExcitation::child_replaced(const Module* old_child, const std::shared_ptr<Module>& replacement) {
  for (std::shared_ptr<Module>* child : {&avgpool_, &fc1_, &activation_, &fc2_, &scale_activation_})
    if (child->get() == old_child) *child = replacement;
}

Tensor SqueezeExcitation::forward_impl(const Tensor& input, Context& ctx) {
  NORMRT_CHECK(input.dim() == 3 || input.dim() == 4, "SqueezeExcitation: expected 3D or 4D input (got ", input.dim(),
               "D input)");
  ctx.children.resize(5);
  Tensor scale = input;
  std::size_t i = 0;
  for (const auto& step : {avgpool_, fc1_, activation_, fc2_, scale_activation_})
    scale = step->forward(scale, ctx.children[i++]);
  ctx.tensors = {input, scale};
  return ops::mul(scale, input);
}

Tensor SqueezeExcitation::backward_impl(const Tensor& grad_output, Context& ctx) {
  const Tensor& input = ctx.tensors[0].get(name());
  const Tensor& scale = ctx.tensors[1].get(name());
  // d loss / d scale: the upstream gradient times the input, summed over the positions the scale broadcast to.
  Tensor g = ops::mul(grad_output, input);
  for (int64_t d = input.dim() - 1; d >= input.dim() - 2; --d) g = ops::sum(g, d, true);
  const std::shared_ptr<Module> steps[] = {avgpool_, fc1_, activation_, fc2_, scale_activation_};
  // Without an input gradient wanted, the average pool is not differentiated and fc1 skips its input gradient.
  const std::size_t first = ctx.input_grad ? 0 : 1;
  for (std::size_t i = 5; i-- > first;) {
    ctx.children[i].input_grad = ctx.input_grad || i > first;
    g = steps[i]->backward(g, ctx.children[i]);
  }
  if (!ctx.input_grad) return Tensor();
  return ops::add(ops::mul(grad_output, scale), g);
}

namespace {

// The arguments are checked before the generator is drawn from, so a refused construction leaves it as it was.
double checked_drop_probability(double p) {
  NORMRT_CHECK(p >= 0.0 && p <= 1.0, "drop probability has to be between 0 and 1, but got ", p);
  return p;
}

bool is_row_mode(const std::string& mode) {
  NORMRT_CHECK(mode == "row" || mode == "batch", "mode has to be either 'batch' or 'row', but got ", mode);
  return mode == "row";
}

}  // namespace

StochasticDepth::StochasticDepth(double p, const std::string& mode, Generator* gen)
    : p_(checked_drop_probability(p)),
      per_sample_(is_row_mode(mode)),
      generator_((gen ? *gen : default_generator()).next_seed()) {}

std::string StochasticDepth::extra_repr() const {
  return "p=" + python_float_repr(p_) + ", mode=" + (per_sample_ ? "row" : "batch");
}

Tensor StochasticDepth::forward_impl(const Tensor& input, Context& ctx) {
  NORMRT_CHECK(input.dim() >= 1, "StochasticDepth: expected an input with a batch dimension (got a 0-dim tensor)");
  if (!is_training() || p_ == 0.0) return input;
  Shape mask_shape(static_cast<std::size_t>(input.dim()), 1);
  if (per_sample_) mask_shape[0] = input.size(0);
  const Tensor mask = detail::draw_slice_mask(generator_, mask_shape, p_, input);
  ctx.tensors = {mask};
  return ops::mul(input, mask);
}

Tensor StochasticDepth::backward_impl(const Tensor& grad_output, Context& ctx) {
  if (ctx.tensors.empty()) return grad_output;
  return ops::mul(grad_output, ctx.tensors[0].get(name()));
}

}  // namespace normrt::nn
