// Optimizers (SGD, Adam, AdamW, Adadelta) and learning-rate schedulers (StepLR, CosineAnnealingLR) with
// torch.optim's semantics. Parameters whose grad() is undefined are skipped, as torch skips grad None. On CUDA a
// step is one fused launch per group of up to 40 tensors, with no host synchronisation.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "normrt/arg.h"
#include "normrt/nn/module.h"
#include "normrt/tensor.h"

namespace normrt::optim {

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  virtual void step() = 0;
  // Resets every parameter's gradient to undefined (torch's set_to_none).
  void zero_grad();
  double lr() const { return lr_; }
  void set_lr(double lr) { lr_ = lr; }
  const std::vector<Tensor>& params() const { return params_; }
  // Per-parameter state with keys "<index>.<name>" (e.g. "0.exp_avg", "0.step"), for checkpoints.
  nn::NamedTensors state() const;
  // Restores state() of an optimizer of the same kind over parameters of the same shapes; checks everything
  // (check_state) before changing anything.
  void load_state(const nn::NamedTensors& state);
  // Throws normrt::Error naming the first key that does not match this optimizer's state.
  void check_state(const nn::NamedTensors& state) const;

 protected:
  // `slots`: names of the per-element state tensors (zero-initialised, on the parameter's device).
  Optimizer(std::vector<Tensor> params, double lr, std::vector<std::string> slots);
  struct ParamState {
    std::vector<Tensor> slots;
    int64_t steps = 0;  // steps taken with a defined gradient
  };
  // Calls update(group, steps_before) for groups of parameters that have gradients and share a step count.
  template <typename Fn>
  void for_each_group(Fn update);
  std::vector<Tensor> params_;
  std::vector<ParamState> state_;
  std::vector<std::string> slot_names_;
  double lr_;
};

class SGDOptions {
 public:
  explicit SGDOptions(double lr) : lr_(lr) {}
  NORMRT_ARG(double, lr);
  NORMRT_ARG(double, momentum) = 0.0;
  NORMRT_ARG(double, dampening) = 0.0;
  NORMRT_ARG(double, weight_decay) = 0.0;
  NORMRT_ARG(bool, nesterov) = false;
};

class SGD : public Optimizer {
 public:
  SGD(std::vector<Tensor> params, const SGDOptions& options);
  void step() override;

 private:
  SGDOptions options_;
};

class AdamOptions {
 public:
  explicit AdamOptions(double lr = 1e-3) : lr_(lr) {}
  NORMRT_ARG(double, lr);
  NORMRT_ARG(double, beta1) = 0.9;
  NORMRT_ARG(double, beta2) = 0.999;
  NORMRT_ARG(double, eps) = 1e-8;
  NORMRT_ARG(double, weight_decay) = 0.0;
};

// Adam; decoupled=true is AdamW (whose weight_decay default in torch is 1e-2: pass it explicitly).
class Adam : public Optimizer {
 public:
  Adam(std::vector<Tensor> params, const AdamOptions& options, bool decoupled = false);
  void step() override;

 private:
  AdamOptions options_;
  bool decoupled_;
};

class AdamW : public Adam {
 public:
  AdamW(std::vector<Tensor> params, const AdamOptions& options) : Adam(std::move(params), options, true) {}
};

class AdadeltaOptions {
 public:
  explicit AdadeltaOptions(double lr = 1.0) : lr_(lr) {}
  NORMRT_ARG(double, lr);
  NORMRT_ARG(double, rho) = 0.9;
  NORMRT_ARG(double, eps) = 1e-6;
  NORMRT_ARG(double, weight_decay) = 0.0;
};

class Adadelta : public Optimizer {
 public:
  Adadelta(std::vector<Tensor> params, const AdadeltaOptions& options);
  void step() override;

 private:
  AdadeltaOptions options_;
};

// A learning rate that is a function of the epoch; step() once per epoch, set_epoch() to jump (resuming).
class LRScheduler {
 public:
  virtual ~LRScheduler() = default;
  void step() { set_epoch(epoch_ + 1); }
  void set_epoch(int64_t epoch) {
    epoch_ = epoch;
    optimizer_.set_lr(lr_at(epoch));
  }
  int64_t epoch() const { return epoch_; }

 protected:
  explicit LRScheduler(Optimizer& optimizer) : optimizer_(optimizer), base_lr_(optimizer.lr()) {}
  virtual double lr_at(int64_t epoch) const = 0;
  double base_lr() const { return base_lr_; }

 private:
  Optimizer& optimizer_;
  double base_lr_;
  int64_t epoch_ = 0;
};

// lr = base_lr * gamma^(epoch / step_size).
class StepLR : public LRScheduler {
 public:
  StepLR(Optimizer& optimizer, int64_t step_size, double gamma = 0.1);

 private:
  double lr_at(int64_t epoch) const override;
  int64_t step_size_;
  double gamma_;
};

// lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2.
class CosineAnnealingLR : public LRScheduler {
 public:
  CosineAnnealingLR(Optimizer& optimizer, int64_t t_max, double eta_min = 0.0);

 private:
  double lr_at(int64_t epoch) const override;
  int64_t t_max_;
  double eta_min_;
};

}  // namespace normrt::optim
