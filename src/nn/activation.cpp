#include "normrt/nn/activation.h"

#include <cmath>

#include "normrt/error.h"
#include "normrt/ops/elementwise.h"

namespace normrt::nn {

namespace {

// PyTorch's Softplus defaults are Python ints (repr "beta=1, threshold=20"): whole numbers shown as ints.
std::string python_number_repr(double value) {
  return std::isfinite(value) && value == std::trunc(value) && std::fabs(value) < 1e16
             ? std::to_string(static_cast<int64_t>(value))
             : python_float_repr(value);
}

}  // namespace

Tensor InputActivationModule::forward_impl(const Tensor& input, Context& ctx) {
  ctx.tensors = {input};
  return ops::activation(function_, input);
}

Tensor InputActivationModule::backward_impl(const Tensor& grad_output, Context& ctx) {
  return ops::activation_backward(function_, grad_output, ctx.tensors[0].get(name()));
}

PReLU::PReLU(int64_t num_parameters, double init) {
  NORMRT_CHECK(num_parameters > 0, "PReLU: num_parameters must be positive, got ", num_parameters);
  weight = full({num_parameters}, init);
  register_parameter("weight", &weight);
}

Tensor PReLU::forward_impl(const Tensor& input, Context& ctx) {
  ctx.tensors = {input, weight};
  return ops::prelu(input, weight);
}

Tensor PReLU::backward_impl(const Tensor& grad_output, Context& ctx) {
  const auto grads = ops::prelu_backward(grad_output, ctx.tensors[0].get(name()), ctx.tensors[1].get(name()));
  ops::accumulate_grad(weight, grads.grad_weight);
  return grads.grad_input;
}

LeakyReLU::LeakyReLU(double negative_slope)
    : InputActivationModule("LeakyReLU", "negative_slope=" + python_float_repr(negative_slope),
                            ops::InputActivation::leaky_relu(negative_slope)) {}

ELU::ELU(double alpha)
    : InputActivationModule("ELU", "alpha=" + python_float_repr(alpha), ops::InputActivation::elu(alpha)) {}

CELU::CELU(double alpha)
    : InputActivationModule("CELU", "alpha=" + python_float_repr(alpha), ops::InputActivation::celu(alpha)) {}

GELU::GELU(const std::string& approximate)
    : InputActivationModule("GELU", "approximate='" + approximate + "'", ops::InputActivation::gelu(approximate)) {}

Softplus::Softplus(double beta, double threshold)
    : InputActivationModule("Softplus",
                            "beta=" + python_number_repr(beta) + ", threshold=" + python_number_repr(threshold),
                            ops::InputActivation::softplus(beta, threshold)) {}

Hardtanh::Hardtanh(double min_val, double max_val)
    : InputActivationModule("Hardtanh",
                            "min_val=" + python_float_repr(min_val) + ", max_val=" + python_float_repr(max_val),
                            ops::InputActivation::hardtanh(min_val, max_val)) {
  NORMRT_CHECK(max_val > min_val, "Hardtanh: max_val (", python_float_repr(max_val), ") must be greater than min_val (",
               python_float_repr(min_val), ")");
}

}  // namespace normrt::nn
