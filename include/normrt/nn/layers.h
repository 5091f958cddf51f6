// Layers: Linear, activations, Softmax/LogSoftmax, Flatten, Dropout, and Sequential. Each forward keeps what its
// backward needs in a Context (see nn::Module); backward(grad_output) returns grad_input and accumulates parameter
// gradients.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#include "normrt/generator.h"
#include "normrt/nn/module.h"
#include "normrt/ops/nn.h"
#include "normrt/ops/pointwise_loss.h"

namespace normrt::nn {

class BatchNormBase;

class Linear : public Module {
 public:
  // PyTorch's initialisation: weight kaiming_uniform_(a = sqrt(5)), i.e. U(-1/sqrt(in), 1/sqrt(in)), and the same
  // bound for the bias; values drawn from `gen` (default_generator() when null).
  Linear(int64_t in_features, int64_t out_features, bool bias = true, Generator* gen = nullptr);
  std::string name() const override { return "Linear"; }
  std::string extra_repr() const override;
  void reset_parameters(Generator& gen);

  Tensor weight, bias;

 private:
  Tensor forward_impl(const Tensor& input, Context& ctx) override;
  Tensor backward_impl(const Tensor& grad_output, Context& ctx) override;
};

// ReLU, Sigmoid or Tanh.
class ActivationModule : public Module {
 public:
  std::string name() const override;

 protected:
  explicit ActivationModule(ops::Activation kind) : kind_(kind) {}

 private:
  Tensor forward_impl(const Tensor& input, Context& ctx) override;
  Tensor backward_impl(const Tensor& grad_output, Context& ctx) override;
  ops::Activation kind_;
};

class ReLU : public ActivationModule {
 public:
  ReLU() : ActivationModule(ops::Activation::ReLU) {}
};
class Sigmoid : public ActivationModule {
 public:
  Sigmoid() : ActivationModule(ops::Activation::Sigmoid) {}
};
class Tanh : public ActivationModule {
 public:
  Tanh() : ActivationModule(ops::Activation::Tanh) {}
};

// Softmax / LogSoftmax over dimension `dim` (default 1, as the tutorials pass) of any input.
class Softmax : public Module {
 public:
  explicit Softmax(int64_t dim = 1) : Softmax(dim, false) {}
  // Softmax(true) once meant LogSoftmax: refuse a bool rather than read it as dim 1.
  template <typename B, typename = std::enable_if_t<std::is_same_v<B, bool>>>
  explicit Softmax(B) = delete;
  std::string name() const override { return log_ ? "LogSoftmax" : "Softmax"; }
  std::string extra_repr() const override { return "dim=" + std::to_string(dim_); }

 protected:
  Softmax(int64_t dim, bool log) : dim_(dim), log_(log) {}

 private:
  Tensor forward_impl(const Tensor& input, Context& ctx) override;
  Tensor backward_impl(const Tensor& grad_output, Context& ctx) override;
  int64_t dim_;
  bool log_;
};

class LogSoftmax : public Softmax {
 public:
  explicit LogSoftmax(int64_t dim = 1) : Softmax(dim, true) {}
};

// (N, d1, d2, ...) -> (N, d1 * d2 * ...).
class Flatten : public Module {
 public:
  std::string name() const override { return "Flatten"; }
  std::string extra_repr() const override { return "start_dim=1, end_dim=-1"; }

 private:
  Tensor forward_impl(const Tensor& input, Context& ctx) override;
  Tensor backward_impl(const Tensor& grad_output, Context& ctx) override;
};

// Dimension `dim` of the input split into `sizes` (one may be -1, inferred), as torch.nn.Unflatten: e.g.
// Unflatten(1, {1, 28, 28}) turns (N, 784) images into (N, 1, 28, 28) for a convolutional network. With `format`
// ChannelsLast (a 4-d result) or ChannelsLast3d (5-d), the result is converted to it, so that the network after it
// runs on channels-last activations (what x.to(memory_format=torch.channels_last) does before a PyTorch model); the
// gradient goes back in the input's layout.
class Unflatten : public Module {
 public:
  Unflatten(int64_t dim, Shape sizes, MemoryFormat format = MemoryFormat::Contiguous);
  std::string name() const override { return "Unflatten"; }
  std::string extra_repr() const override;

 private:
  Tensor forward_impl(const Tensor& input, Context& ctx) override;
  Tensor backward_impl(const Tensor& grad_output, Context& ctx) override;
  int64_t dim_;
  Shape sizes_;
  MemoryFormat format_;
};

// Inverted dropout in training (scale 1/(1-p)), identity in eval. The mask comes from the layer's own Philox
// stream, seeded from default_generator() (or `gen`) at construction: reproducible for a seed, equal on every
// device. generator() exposes the stream's state for checkpoints.
class Dropout : public Module {
 public:
  explicit Dropout(double p = 0.5, Generator* gen = nullptr);
  std::string name() const override { return "Dropout"; }
  std::string extra_repr() const override { return "p=" + python_float_repr(p_) + ", inplace=False"; }
  Generator& generator() { return generator_; }

  // CUDA graphs: keeps the generator's offset on `device` too (from its host value now), where every forward on
  // that device reads it and advances it, so that a captured forward replays with the next masks rather than the
  // captured one. replayed(k) then advances the host offset by k replays of the captured forward. Masks are the
  // same as without it. An undefined device turns it off.
  void track_offset_on(const Device& device);
  void replayed(int64_t replays);

 private:
  // ctx.values: the mask's Philox offset, or nothing when the forward was the identity (eval, p = 0); ctx.tensors:
  // on the CPU the mask, on a GPU the offset on the device when tracked there.
  Tensor forward_impl(const Tensor& input, Context& ctx) override;
  Tensor backward_impl(const Tensor& grad_output, Context& ctx) override;
  double p_;
  Generator generator_;
  Tensor device_offset_;
  uint64_t captured_blocks_ = 0;  // Philox blocks of the forward captured into a CUDA graph
};

// torch.nn.Dropout1d / Dropout2d / Dropout3d: in training each channel of each sample is zeroed whole with
// probability p, the others scaled by 1 / (1 - p); identity in eval. Inputs: (N, C, *spatial) with 1, 2 or 3
// spatial dimensions, or unbatched (C, *spatial) for Dropout1d and Dropout3d (PyTorch 1.13's Dropout2d reads a 3-d
// input as (N, C, L), and so does normrt's). Other ranks are refused where PyTorch warns. The mask, one value per
// (sample, channel), comes from the layer's own Philox stream as Dropout's.
class FeatureDropout : public Module {
 public:
  std::string name() const override { return name_; }
  std::string extra_repr() const override { return "p=" + python_float_repr(p_) + ", inplace=False"; }
  Generator& generator() { return generator_; }

 protected:
  FeatureDropout(std::string name, int spatial_dims, bool unbatched_allowed, double p, Generator* gen);

 private:
  // ctx.tensors: the mask (N, C, 1, ...) in the input's dtype; empty when the forward was the identity.
  Tensor forward_impl(const Tensor& input, Context& ctx) override;
  Tensor backward_impl(const Tensor& grad_output, Context& ctx) override;
  std::string name_;
  int spatial_dims_;
  bool unbatched_allowed_;
  double p_;
  Generator generator_;
};

class Dropout1d : public FeatureDropout {
 public:
  explicit Dropout1d(double p = 0.5, Generator* gen = nullptr) : FeatureDropout("Dropout1d", 1, true, p, gen) {}
};

class Dropout2d : public FeatureDropout {
 public:
  explicit Dropout2d(double p = 0.5, Generator* gen = nullptr) : FeatureDropout("Dropout2d", 2, false, p, gen) {}
};

class Dropout3d : public FeatureDropout {
 public:
  explicit Dropout3d(double p = 0.5, Generator* gen = nullptr) : FeatureDropout("Dropout3d", 3, true, p, gen) {}
};

// Children named "0", "1", ...; forward runs them in order, backward in reverse. Built from modules by value or
// from shared_ptrs, mixed freely, as arguments or as a list of shared_ptrs:
//   Sequential(Linear(4, 3), BatchNorm1d(3), ReLU())   or   Sequential(std::make_shared<Linear>(4, 3), block)
// A module given by value is moved into the container (an lvalue must be std::move'd, or held by a shared_ptr to
// keep access to it); at<T>(i) reaches it afterwards.
template <typename M>
inline constexpr bool is_module_argument_v =
    std::is_convertible_v<M, std::shared_ptr<Module>> ||
    (std::is_base_of_v<Module, std::decay_t<M>> && !std::is_lvalue_reference_v<M>);

class Sequential : public Module {
 public:
  Sequential() = default;
  Sequential(std::initializer_list<std::shared_ptr<Module>> modules);
  template <typename... M, typename = std::enable_if_t<(sizeof...(M) > 0) && (is_module_argument_v<M> && ...)>>
  explicit Sequential(M&&... modules) {
    (push_back(std::forward<M>(modules)), ...);
  }
  void push_back(std::shared_ptr<Module> module);
  template <typename M, typename = std::enable_if_t<std::is_base_of_v<Module, std::decay_t<M>> &&
                                                    !std::is_lvalue_reference_v<M>>>
  void push_back(M&& module) {
    push_back(std::shared_ptr<Module>(std::make_shared<std::decay_t<M>>(std::move(module))));
  }
  std::string name() const override { return "Sequential"; }
  std::size_t size() const { return modules_.size(); }
  Module& operator[](std::size_t i);
  // The i-th module as its concrete type; throws naming both types when it is another.
  template <typename T>
  T& at(std::size_t i) {
    Module& m = (*this)[i];
    auto* typed = dynamic_cast<T*>(&m);
    if (typed == nullptr) throw_wrong_type(i, m);
    return *typed;
  }
  std::shared_ptr<Module> ptr(std::size_t i) const;

 private:
  Tensor forward_impl(const Tensor& input, Context& ctx) override;  // ctx.children: one context per module
  Tensor backward_impl(const Tensor& grad_output, Context& ctx) override;
  void child_replaced(const Module* old_child, const std::shared_ptr<Module>& replacement) override;
  [[noreturn]] void throw_wrong_type(std::size_t i, const Module& m) const;
  std::vector<std::shared_ptr<Module>> modules_;
  std::vector<std::pair<std::string, std::string>> range_names_;  // NVTX: "1 BatchNorm1d forward" / "... backward"
};

// y = x.
class Identity : public Module {
 public:
  std::string name() const override { return "Identity"; }

 private:
  Tensor forward_impl(const Tensor& input, Context&) override { return input; }
  Tensor backward_impl(const Tensor& grad_output, Context&) override { return grad_output; }
};

// y = body(x) + shortcut(x), the shortcut the identity unless given (e.g. a 1x1 Conv2d + BatchNorm2d that matches
// the body's output shape): a ResNet block without a hand-written backward. Children "body" and, when given,
// "shortcut"; modules by value or shared_ptr, as Sequential takes them. The gradient of x is the sum of both paths'.
class Residual : public Module {
 public:
  explicit Residual(std::shared_ptr<Module> body, std::shared_ptr<Module> shortcut = nullptr);
  template <typename B, typename = std::enable_if_t<std::is_base_of_v<Module, std::decay_t<B>> &&
                                                    !std::is_lvalue_reference_v<B>>>
  explicit Residual(B&& body) : Residual(std::make_shared<std::decay_t<B>>(std::move(body))) {}
  template <typename B, typename S,
            typename = std::enable_if_t<std::is_base_of_v<Module, std::decay_t<B>> && !std::is_lvalue_reference_v<B> &&
                                        std::is_base_of_v<Module, std::decay_t<S>> && !std::is_lvalue_reference_v<S>>>
  Residual(B&& body, S&& shortcut)
      : Residual(std::make_shared<std::decay_t<B>>(std::move(body)),
                 std::make_shared<std::decay_t<S>>(std::move(shortcut))) {}
  std::string name() const override { return "Residual"; }
  // ResNet's block end: relu(body(x) + shortcut(x)). Where the body is a Sequential ending in a BatchNorm (without a
  // ReLU of its own), that BatchNorm, the add and the ReLU run as one fused op (BatchNormBase::forward_add);
  // otherwise the ReLU follows the add.
  Residual& relu(bool on = true) {
    relu_ = on;
    return *this;
  }
  bool has_relu() const { return relu_; }
  Module& body() { return *body_; }
  // Null for the identity shortcut.
  Module* shortcut() { return shortcut_.get(); }

 private:
  // ctx.children: the body's context (a fused body's: one per child, as Sequential's), then the shortcut's;
  // ctx.tensors: the output, when the ReLU ran unfused.
  Tensor forward_impl(const Tensor& input, Context& ctx) override;
  Tensor backward_impl(const Tensor& grad_output, Context& ctx) override;
  // The BatchNorm that ends the body when the block end is fused, else null.
  BatchNormBase* fused_batch_norm() const;
  void child_replaced(const Module* old_child, const std::shared_ptr<Module>& replacement) override;
  std::shared_ptr<Module> body_, shortcut_;
  bool relu_ = false;
};

// Every branch takes the same input and their outputs are joined along `dim` (1, the channels, by default): the
// branches of an Inception block, or a DenseNet layer's torch.cat([x, f(x)], 1) with an Identity branch; Lua Torch's
// nn.Concat. Children "0", "1", ... in order; modules by value or shared_ptr, as Sequential takes them. The output
// is channels-last when every branch's is (as torch.cat's); the input's gradient is the sum of the branches'.
class Concat : public Module {
 public:
  explicit Concat(int64_t dim = 1) : dim_(dim) {}
  Concat(std::initializer_list<std::shared_ptr<Module>> branches, int64_t dim = 1);
  void push_back(std::shared_ptr<Module> branch);
  template <typename M, typename = std::enable_if_t<std::is_base_of_v<Module, std::decay_t<M>> &&
                                                    !std::is_lvalue_reference_v<M>>>
  void push_back(M&& module) {
    push_back(std::shared_ptr<Module>(std::make_shared<std::decay_t<M>>(std::move(module))));
  }
  std::string name() const override { return "Concat"; }
  std::string extra_repr() const override { return "dim=" + std::to_string(dim_); }
  std::size_t size() const { return branches_.size(); }
  int64_t dim() const { return dim_; }

 private:
  // ctx.children: one context per branch; ctx.values: the joined dimension (non-negative), then each branch's
  // extent along it.
  Tensor forward_impl(const Tensor& input, Context& ctx) override;
  Tensor backward_impl(const Tensor& grad_output, Context& ctx) override;
  void child_replaced(const Module* old_child, const std::shared_ptr<Module>& replacement) override;
  std::vector<std::shared_ptr<Module>> branches_;
  int64_t dim_;
};

// Losses are not modules: forward(input, target) returns the loss (0-dim, or unreduced with Reduction::None; on the
// input's device: read it with item() only when needed) and keeps d loss / d input, which backward() hands over once.
class Loss {
 public:
  virtual ~Loss() = default;
  Tensor backward();

 protected:
  explicit Loss(const char* name) : name_(name) {}
  // Keeps the gradient of `result` for backward() and returns its loss.
  Tensor keep(ops::LossResult result);

 private:
  const char* name_;
  Tensor grad_;
};

class CrossEntropyLoss : public Loss {
 public:
  explicit CrossEntropyLoss(ops::Reduction reduction = ops::Reduction::Mean, double label_smoothing = 0.0)
      : CrossEntropyLoss(ops::CrossEntropyOptions{reduction, label_smoothing, -100, Tensor()}) {}
  // With ignore_index, the class weight and the other options of ops::cross_entropy.
  explicit CrossEntropyLoss(const ops::CrossEntropyOptions& options) : Loss("CrossEntropyLoss"), options_(options) {}
  Tensor forward(const Tensor& logits, const Tensor& targets) {
    return keep(ops::cross_entropy(logits, targets, options_));
  }

 private:
  ops::CrossEntropyOptions options_;
};

// torch.nn.NLLLoss: for log-probabilities (after LogSoftmax), with ignore_index (-100 as PyTorch) and an optional
// per-class weight.
class NLLLoss : public Loss {
 public:
  explicit NLLLoss(ops::Reduction reduction = ops::Reduction::Mean, int64_t ignore_index = -100,
                   Tensor weight = Tensor())
      : Loss("NLLLoss"), reduction_(reduction), ignore_index_(ignore_index), weight_(std::move(weight)) {}
  Tensor forward(const Tensor& log_probs, const Tensor& targets) {
    return keep(ops::nll_loss(log_probs, targets, reduction_, ignore_index_, weight_));
  }

 private:
  ops::Reduction reduction_;
  int64_t ignore_index_;
  Tensor weight_;
};

// torch.nn.BCEWithLogitsLoss: sigmoid and binary cross-entropy in one stable formula.
class BCEWithLogitsLoss : public Loss {
 public:
  explicit BCEWithLogitsLoss(ops::Reduction reduction = ops::Reduction::Mean)
      : Loss("BCEWithLogitsLoss"), reduction_(reduction) {}
  Tensor forward(const Tensor& input, const Tensor& target) {
    return keep(ops::binary_cross_entropy_with_logits(input, target, reduction_));
  }

 private:
  ops::Reduction reduction_;
};

class MSELoss : public Loss {
 public:
  explicit MSELoss(ops::Reduction reduction = ops::Reduction::Mean) : Loss("MSELoss"), reduction_(reduction) {}
  Tensor forward(const Tensor& input, const Tensor& target) { return keep(ops::mse_loss(input, target, reduction_)); }

 private:
  ops::Reduction reduction_;
};

// torch.nn.L1Loss, SmoothL1Loss (beta), HuberLoss (delta) and BCELoss (probabilities, optional weight broadcast to
// the input's shape): ops/pointwise_loss.h.
class L1Loss : public Loss {
 public:
  explicit L1Loss(ops::Reduction reduction = ops::Reduction::Mean) : Loss("L1Loss"), reduction_(reduction) {}
  Tensor forward(const Tensor& input, const Tensor& target) { return keep(ops::l1_loss(input, target, reduction_)); }

 private:
  ops::Reduction reduction_;
};

class SmoothL1Loss : public Loss {
 public:
  explicit SmoothL1Loss(ops::Reduction reduction = ops::Reduction::Mean, double beta = 1.0)
      : Loss("SmoothL1Loss"), reduction_(reduction), beta_(beta) {}
  Tensor forward(const Tensor& input, const Tensor& target) {
    return keep(ops::smooth_l1_loss(input, target, reduction_, beta_));
  }

 private:
  ops::Reduction reduction_;
  double beta_;
};

class HuberLoss : public Loss {
 public:
  explicit HuberLoss(ops::Reduction reduction = ops::Reduction::Mean, double delta = 1.0)
      : Loss("HuberLoss"), reduction_(reduction), delta_(delta) {}
  Tensor forward(const Tensor& input, const Tensor& target) {
    return keep(ops::huber_loss(input, target, reduction_, delta_));
  }

 private:
  ops::Reduction reduction_;
  double delta_;
};

class BCELoss : public Loss {
 public:
  explicit BCELoss(ops::Reduction reduction = ops::Reduction::Mean, Tensor weight = Tensor())
      : Loss("BCELoss"), reduction_(reduction), weight_(std::move(weight)) {}
  Tensor forward(const Tensor& input, const Tensor& target) {
    return keep(ops::binary_cross_entropy(input, target, reduction_, weight_));
  }

 private:
  ops::Reduction reduction_;
  Tensor weight_;
};

// torch.nn.KLDivLoss: input log-probabilities against target probabilities (log-probabilities with log_target).
class KLDivLoss : public Loss {
 public:
  explicit KLDivLoss(ops::KLDivReduction reduction = ops::KLDivReduction::Mean, bool log_target = false)
      : Loss("KLDivLoss"), reduction_(reduction), log_target_(log_target) {}
  Tensor forward(const Tensor& input, const Tensor& target) {
    return keep(ops::kl_div(input, target, reduction_, log_target_));
  }

 private:
  ops::KLDivReduction reduction_;
  bool log_target_;
};

}  // namespace normrt::nn
