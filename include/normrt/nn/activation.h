// torch.nn's activation layers whose gradient needs their input, over ops::activation(InputActivation): LeakyReLU,
// ELU, SELU, CELU, GELU, SiLU, Mish, Softplus, Hardtanh, ReLU6, Hardswish and Hardsigmoid, with PyTorch's arguments,
// defaults and reprs. (ReLU, Sigmoid and Tanh, whose gradient comes from their output, are in layers.h.)
#pragma once
#include <string>
#include <utility>

#include "normrt/nn/module.h"
#include "normrt/ops/activation.h"

namespace normrt::nn {

class InputActivationModule : public Module {
 public:
  std::string name() const override { return name_; }
  std::string extra_repr() const override { return extra_repr_; }
  const ops::InputActivation& function() const { return function_; }

 protected:
  InputActivationModule(std::string name, std::string extra_repr, const ops::InputActivation& function)
      : name_(std::move(name)), extra_repr_(std::move(extra_repr)), function_(function) {}

 private:
  Tensor forward_impl(const Tensor& input, Context& ctx) override;  // ctx.tensors: the input
  Tensor backward_impl(const Tensor& grad_output, Context& ctx) override;
  std::string name_, extra_repr_;
  ops::InputActivation function_;
};

// torch.nn.PReLU: a learnable negative slope per channel (num_parameters = C) or shared (1), initialised to `init`.
class PReLU : public Module {
 public:
  explicit PReLU(int64_t num_parameters = 1, double init = 0.25);
  std::string name() const override { return "PReLU"; }
  std::string extra_repr() const override { return "num_parameters=" + std::to_string(weight.numel()); }

  Tensor weight;

 private:
  Tensor forward_impl(const Tensor& input, Context& ctx) override;  // ctx.tensors: the input and the weight
  Tensor backward_impl(const Tensor& grad_output, Context& ctx) override;
};

class LeakyReLU : public InputActivationModule {
 public:
  explicit LeakyReLU(double negative_slope = 0.01);
};

class ELU : public InputActivationModule {
 public:
  explicit ELU(double alpha = 1.0);
};

class SELU : public InputActivationModule {
 public:
  SELU() : InputActivationModule("SELU", "", ops::InputActivation::selu()) {}
};

class CELU : public InputActivationModule {
 public:
  explicit CELU(double alpha = 1.0);
};

// approximate: "none" or "tanh".
class GELU : public InputActivationModule {
 public:
  explicit GELU(const std::string& approximate = "none");
};

class SiLU : public InputActivationModule {
 public:
  SiLU() : InputActivationModule("SiLU", "", ops::InputActivation::silu()) {}
};

class Mish : public InputActivationModule {
 public:
  Mish() : InputActivationModule("Mish", "", ops::InputActivation::mish()) {}
};

class Softplus : public InputActivationModule {
 public:
  explicit Softplus(double beta = 1.0, double threshold = 20.0);
};

// max_val > min_val, as PyTorch's module asserts (the functional form takes any pair).
class Hardtanh : public InputActivationModule {
 public:
  explicit Hardtanh(double min_val = -1.0, double max_val = 1.0);
};

class ReLU6 : public InputActivationModule {
 public:
  ReLU6() : InputActivationModule("ReLU6", "", ops::InputActivation::relu6()) {}
};

class Hardswish : public InputActivationModule {
 public:
  Hardswish() : InputActivationModule("Hardswish", "", ops::InputActivation::hardswish()) {}
};

class Hardsigmoid : public InputActivationModule {
 public:
  Hardsigmoid() : InputActivationModule("Hardsigmoid", "", ops::InputActivation::hardsigmoid()) {}
};

}  // namespace normrt::nn
