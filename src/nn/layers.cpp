#include "normrt/nn/layers.h"

#include <cmath>

#include "normrt/error.h"
#include "nvtx.h"
#include "normrt/nn/init.h"

namespace normrt::nn {

Linear::Linear(int64_t in_features, int64_t out_features, bool bias, Generator* gen) {
  NORMRT_CHECK(in_features >= 0 && out_features >= 0, "Linear: feature counts must be non-negative, got ",
               in_features, " and ", out_features);
  weight = empty({out_features, in_features});
  register_parameter("weight", &weight);
  if (bias) {
    this->bias = empty({out_features});
    register_parameter("bias", &this->bias);
  }
  reset_parameters(gen ? *gen : default_generator());
}

std::string Linear::extra_repr() const {
  return "in_features=" + std::to_string(weight.size(1)) + ", out_features=" + std::to_string(weight.size(0)) +
         ", bias=" + (bias.defined() ? "True" : "False");
}

void Linear::reset_parameters(Generator& gen) {
  init::kaiming_uniform_(weight, std::sqrt(5.0), init::FanMode::FanIn, "leaky_relu", &gen);
  if (bias.defined()) {
    const int64_t fan_in = weight.size(1);
    const double bound = fan_in > 0 ? 1.0 / std::sqrt(static_cast<double>(fan_in)) : 0.0;
    init::uniform_(bias, -bound, bound, &gen);
  }
}

Tensor Linear::forward(const Tensor& input) {
  Tensor out = ops::linear(input, weight, bias);
  input_ = input;
  weight_ = weight;
  return out;
}

Tensor Linear::backward(const Tensor& grad_output) {
  Tensor dx = ops::linear_backward(grad_output, input_.get(name()), weight_.get(name()), &weight.mutable_grad(),
                                   bias.defined() ? &bias.mutable_grad() : nullptr);
  input_.reset();
  weight_.reset();
  return dx;
}

std::string ActivationModule::name() const {
  switch (kind_) {
    case ops::Activation::ReLU: return "ReLU";
    case ops::Activation::Sigmoid: return "Sigmoid";
    case ops::Activation::Tanh: return "Tanh";
  }
  return "Activation";
}

Tensor ActivationModule::forward(const Tensor& input) {
  Tensor output = ops::activation(kind_, input);
  output_ = output;
  return output;
}

Tensor ActivationModule::backward(const Tensor& grad_output) {
  Tensor dx = ops::activation_backward(kind_, grad_output, output_.get(name()));
  output_.reset();
  return dx;
}

Tensor Softmax::forward(const Tensor& input) {
  Tensor output = ops::softmax(input, log_);
  output_ = output;
  return output;
}

Tensor Softmax::backward(const Tensor& grad_output) {
  Tensor dx = ops::softmax_backward(grad_output, output_.get(name()), log_);
  output_.reset();
  return dx;
}

Tensor Flatten::forward(const Tensor& input) {
  NORMRT_CHECK(input.dim() >= 1, "Flatten: expected at least 1 dimension, got a 0-dim tensor");
  input_shape_ = input.sizes();
  return input.reshape({input.size(0), input.size(0) == 0 ? 0 : -1});
}

Tensor Flatten::backward(const Tensor& grad_output) {
  NORMRT_CHECK(!input_shape_.empty(), "Flatten: backward() needs a preceding forward()");
  return grad_output.reshape(input_shape_);
}

Dropout::Dropout(double p, Generator* gen) : p_(p), generator_((gen ? *gen : default_generator()).next_seed()) {
  NORMRT_CHECK(p >= 0.0 && p <= 1.0, "dropout probability has to be between 0 and 1, but got ", p);
}

Tensor Dropout::forward(const Tensor& input) {
  if (!is_training() || p_ == 0.0) {
    offset_.reset();
    return input;
  }
  offset_ = generator_.offset();
  generator_.skip(static_cast<uint64_t>((input.numel() + 3) / 4));
  return ops::dropout(input, p_, generator_.seed(), *offset_);
}

Tensor Dropout::backward(const Tensor& grad_output) {
  if (!offset_) return grad_output;
  return ops::dropout(grad_output, p_, generator_.seed(), *offset_);
}

Sequential::Sequential(std::initializer_list<std::shared_ptr<Module>> modules) {
  for (const auto& m : modules) push_back(m);
}

Module& Sequential::operator[](std::size_t i) { return *ptr(i); }

std::shared_ptr<Module> Sequential::ptr(std::size_t i) const {
  NORMRT_CHECK(i < modules_.size(), "Sequential: index ", i, " is out of range (", modules_.size(), " modules)");
  return modules_[i];
}

void Sequential::throw_wrong_type(std::size_t i, const Module& m) const {
  NORMRT_THROW("Sequential: module ", i, " is a ", m.name(), ", not the type asked for");
}

void Sequential::push_back(std::shared_ptr<Module> module) {
  register_module(std::to_string(modules_.size()), module);  // refuses a null module
  const std::string label = std::to_string(modules_.size()) + " " + module->name();
  range_names_.emplace_back(label + " forward", label + " backward");
  modules_.push_back(std::move(module));
}

Tensor Sequential::forward(const Tensor& input) {
  Tensor x = input;
  for (std::size_t i = 0; i < modules_.size(); ++i) {
    const detail::NvtxRange range(range_names_[i].first.c_str());
    x = modules_[i]->forward(x);
  }
  return x;
}

Tensor Sequential::backward(const Tensor& grad_output) {
  Tensor g = grad_output;
  for (std::size_t i = modules_.size(); i-- > 0;) {
    const detail::NvtxRange range(range_names_[i].second.c_str());
    g = modules_[i]->backward(g);
  }
  return g;
}

Tensor CrossEntropyLoss::forward(const Tensor& logits, const Tensor& targets) {
  auto result = ops::cross_entropy(logits, targets, reduction_, label_smoothing_);
  grad_ = result.grad_input;
  return result.loss;
}

Tensor CrossEntropyLoss::backward() {
  NORMRT_CHECK(grad_.defined(), "CrossEntropyLoss: backward() needs a preceding forward()");
  return std::exchange(grad_, Tensor());
}

Tensor MSELoss::forward(const Tensor& input, const Tensor& target) {
  auto result = ops::mse_loss(input, target, reduction_);
  grad_ = result.grad_input;
  return result.loss;
}

Tensor MSELoss::backward() {
  NORMRT_CHECK(grad_.defined(), "MSELoss: backward() needs a preceding forward()");
  return std::exchange(grad_, Tensor());
}

}  // namespace normrt::nn
