// Optimizers (SGD, Adam, AdamW, Adadelta, RMSprop, Adagrad, Adamax, RAdam) and learning-rate schedulers (StepLR,
// MultiStepLR, ExponentialLR, CosineAnnealingLR, LinearLR, OneCycleLR, ReduceLROnPlateau, ...) with torch.optim's
// semantics. Parameters whose grad() is undefined are skipped, as torch skips grad None. On CUDA a step is one fused
// launch per group of up to 40 tensors, with no host synchronisation.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "normrt/arg.h"
#include "normrt/nn/module.h"
#include "normrt/tensor.h"

namespace normrt::optim {

// A set of parameters with hyperparameters of its own, as PyTorch's param_groups (e.g. no weight decay on
// BatchNorm and bias parameters); values left unset take the optimizer's options. `momentum` is SGD's momentum and
// Adam's beta1 (what OneCycleLR cycles).
class ParamGroup {
 public:
  ParamGroup(std::vector<Tensor> params) : params_(std::move(params)) {}  // NOLINT: a list of tensors is a group
  NORMRT_ARG(std::vector<Tensor>, params);
  NORMRT_ARG(std::optional<double>, lr) = std::nullopt;
  NORMRT_ARG(std::optional<double>, weight_decay) = std::nullopt;
  NORMRT_ARG(std::optional<double>, momentum) = std::nullopt;
};

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  virtual void step() = 0;
  // Resets every parameter's gradient: to undefined (torch's set_to_none, the default), or to zeros in place, which
  // keeps the gradients' memory (what a step captured into a cuda::Graph writes to).
  void zero_grad(bool set_to_none = true);
  // CUDA graphs: the next n step() calls (parameters on a GPU) read their per-step hyperparameters (learning rates,
  // bias corrections, first-step flags) from a device table computed now on the host, at an index on the device
  // that each step() advances, so that a step() captured into a cuda::Graph replays as the step it stands for;
  // results are the same bits as without a plan. Plan again after changing a learning rate, a momentum or the
  // state (step() refuses a stale plan); a plan of at most the first plan's length reuses its device memory, which a
  // captured graph points at. Every parameter of a group needs a gradient at every planned step. replayed(k)
  // accounts on the host (step counts) for k replays of a captured step().
  void plan_steps(int64_t n);
  void replayed(int64_t replays);
  // step() unless found_inf (one float32 on the parameters' device, as GradScaler::unscale_ leaves it) is non-zero.
  // Under a plan on a GPU the kernels read the flag: a skipped step changes nothing, the plan's device index
  // included, and nothing waits for the device, so that a step with loss scaling can be captured into a cuda::Graph;
  // the host's step counts catch up (one read of that index) when state() or the next plan_steps needs them.
  // Elsewhere the flag is read on the host first.
  void step_unless(const Tensor& found_inf);
  // Hyperparameters per group (group 0 by default); set_lr(lr) sets every group's (any finite value, as schedules
  // may extrapolate past their end like PyTorch's).
  std::size_t num_groups() const { return groups_.size(); }
  double lr(std::size_t group = 0) const { return group_at(group).lr; }
  void set_lr(double lr);
  void set_lr(std::size_t group, double lr);
  double weight_decay(std::size_t group = 0) const { return group_at(group).weight_decay; }
  double momentum(std::size_t group = 0) const { return group_at(group).momentum; }
  void set_momentum(std::size_t group, double momentum);
  // The lr a group's schedules start from (PyTorch's param_group['initial_lr']): the group's lr when the first
  // scheduler was attached (OneCycleLR sets its own), unset before.
  std::optional<double> initial_lr(std::size_t group = 0) const { return group_at(group).initial_lr; }
  void set_initial_lr(std::size_t group, double lr);
  // Whether the optimizer has a momentum (SGD built with momentum, Adam's beta1) that set_momentum changes.
  virtual bool has_momentum() const { return false; }
  // Every parameter, group by group.
  const std::vector<Tensor>& params() const { return params_; }
  // Per-parameter state with keys "<index>.<name>" (e.g. "0.exp_avg", "0.step"), for checkpoints.
  nn::NamedTensors state() const;
  // Restores state() of an optimizer of the same kind over parameters of the same shapes; checks everything
  // (check_state) before changing anything.
  void load_state(const nn::NamedTensors& state);
  // Throws normrt::Error naming the first key that does not match this optimizer's state.
  void check_state(const nn::NamedTensors& state) const;

 protected:
  struct Hyper {
    double lr, weight_decay, momentum;
  };
  // `defaults` fills what the groups leave unset. `slots`: names of the per-element state tensors (zero-initialised,
  // on the parameter's device).
  Optimizer(std::vector<ParamGroup> groups, Hyper defaults, std::vector<std::string> slots);
  struct ParamState {
    std::vector<Tensor> slots;
    int64_t steps = 0;  // steps taken with a defined gradient
  };
  struct Group {
    std::vector<std::size_t> members;  // indices into params_
    double lr, weight_decay, momentum;
    std::optional<double> initial_lr;
  };
  // Calls update(params, slots, steps_before, group) for sets of parameters of one group that have gradients and
  // share a step count.
  template <typename Fn>
  void for_each_group(Fn update);
  // step() of an optimizer whose update is elementwise: for each set of parameters for_each_group gives,
  // make_hyper(steps, group) gives the nnmath hyperparameters, then cpu_run(param, grad, slot0, slot1, slot2, count,
  // hyper) updates runs of elements on the CPU, or the fused launch of Hyper's kernel all of them on a GPU.
  template <typename Hyper, typename MakeHyper, typename CpuRun>
  void fused_step(MakeHyper make_hyper, CpuRun cpu_run);
  const Group& group_at(std::size_t group) const;
  // The kernel hyperparameters (the optimizer's nnmath::*Hyper, as 32-bit words) of a step of `group` taken after
  // `steps` steps: what step() passes and plan_steps tabulates.
  virtual std::vector<float> hyper_words(int64_t steps, const Group& group) const = 0;
  // The Adam family's checks, PyTorch's messages: eps, every group's beta1 (its momentum) and beta2.
  void check_adam_family(double eps, double beta2) const;
  // In step() under a plan: the group's device table and the device index (nulls without a plan); checks the plan.
  std::pair<const float*, const int64_t*> planned(const Group& group, int64_t steps) const;
  struct Plan {
    std::vector<Tensor> tables;        // per group: the hyperparameters of its next `capacity` steps
    std::vector<int64_t> first_steps;  // per group: its step count when planned
    Tensor index;                      // on the device: planned steps taken
    int64_t capacity = 0, length = 0, taken = 0;  // taken: planned step() calls and replays
    bool stale = false;
    bool device_decides = false;  // a step_unless ran: some calls may have been skipped, `index` says how many not
  };
  // Steps taken per parameter: ParamState::steps, unless the device decided some of the plan's (then from its index).
  std::vector<int64_t> steps_taken() const;
  std::optional<Plan> plan_;
  Tensor skip_flag_;  // during step_unless on a GPU: the found_inf its kernels read
  std::vector<Tensor> params_;
  std::vector<ParamState> state_;
  std::vector<std::string> slot_names_;
  std::vector<Group> groups_;
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
  SGD(std::vector<ParamGroup> groups, const SGDOptions& options);
  SGD(std::vector<Tensor> params, const SGDOptions& options)
      : SGD(std::vector<ParamGroup>{ParamGroup(std::move(params))}, options) {}
  void step() override;
  bool has_momentum() const override { return !slot_names_.empty(); }

 private:
  std::vector<float> hyper_words(int64_t steps, const Group& group) const override;
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
  // AMSGrad (torch.optim.Adam's amsgrad): the step divides by the largest second moment so far, kept in the state
  // "max_exp_avg_sq".
  NORMRT_ARG(bool, amsgrad) = false;
};

class Adam : public Optimizer {
 public:
  Adam(std::vector<ParamGroup> groups, const AdamOptions& options) : Adam(std::move(groups), options, false) {}
  Adam(std::vector<Tensor> params, const AdamOptions& options)
      : Adam(std::vector<ParamGroup>{ParamGroup(std::move(params))}, options, false) {}
  void step() override;
  bool has_momentum() const override { return true; }  // beta1

 protected:
  // decoupled: AdamW's update (weight decay applied to the parameter, not added to the gradient).
  Adam(std::vector<ParamGroup> groups, const AdamOptions& options, bool decoupled);

 private:
  std::vector<float> hyper_words(int64_t steps, const Group& group) const override;
  AdamOptions options_;
  bool decoupled_;
};

// AdamW's options are Adam's with torch.optim.AdamW's weight_decay default, 1e-2 (libtorch's AdamWOptions): a
// separate type, so that AdamW never picks up Adam's default of 0 unnoticed.
class AdamWOptions {
 public:
  explicit AdamWOptions(double lr = 1e-3) : lr_(lr) {}
  NORMRT_ARG(double, lr);
  NORMRT_ARG(double, beta1) = 0.9;
  NORMRT_ARG(double, beta2) = 0.999;
  NORMRT_ARG(double, eps) = 1e-8;
  NORMRT_ARG(double, weight_decay) = 1e-2;
  NORMRT_ARG(bool, amsgrad) = false;

 public:
  AdamOptions adam() const {
    return AdamOptions(lr_).beta1(beta1_).beta2(beta2_).eps(eps_).weight_decay(weight_decay_).amsgrad(amsgrad_);
  }
};

class AdamW : public Adam {
 public:
  AdamW(std::vector<ParamGroup> groups, const AdamWOptions& options) : Adam(std::move(groups), options.adam(), true) {}
  AdamW(std::vector<Tensor> params, const AdamWOptions& options)
      : AdamW(std::vector<ParamGroup>{ParamGroup(std::move(params))}, options) {}
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
  Adadelta(std::vector<ParamGroup> groups, const AdadeltaOptions& options);
  Adadelta(std::vector<Tensor> params, const AdadeltaOptions& options)
      : Adadelta(std::vector<ParamGroup>{ParamGroup(std::move(params))}, options) {}
  void step() override;

 private:
  std::vector<float> hyper_words(int64_t steps, const Group& group) const override;
  AdadeltaOptions options_;
};

class RMSpropOptions {
 public:
  explicit RMSpropOptions(double lr = 1e-2) : lr_(lr) {}
  NORMRT_ARG(double, lr);
  NORMRT_ARG(double, alpha) = 0.99;
  NORMRT_ARG(double, eps) = 1e-8;
  NORMRT_ARG(double, weight_decay) = 0.0;
  NORMRT_ARG(double, momentum) = 0.0;
  // Divides by the gradient's running variance instead of its running second moment (state "grad_avg").
  NORMRT_ARG(bool, centered) = false;
};

// torch.optim.RMSprop; the state holds "square_avg", "grad_avg" (centered) and "momentum_buffer" (when any group
// has momentum > 0, as SGD's).
class RMSprop : public Optimizer {
 public:
  RMSprop(std::vector<ParamGroup> groups, const RMSpropOptions& options);
  RMSprop(std::vector<Tensor> params, const RMSpropOptions& options)
      : RMSprop(std::vector<ParamGroup>{ParamGroup(std::move(params))}, options) {}
  void step() override;
  bool has_momentum() const override { return slot_names_.back() == "momentum_buffer"; }

 private:
  std::vector<float> hyper_words(int64_t steps, const Group& group) const override;
  RMSpropOptions options_;
};

class AdagradOptions {
 public:
  explicit AdagradOptions(double lr = 1e-2) : lr_(lr) {}
  NORMRT_ARG(double, lr);
  NORMRT_ARG(double, lr_decay) = 0.0;
  NORMRT_ARG(double, weight_decay) = 0.0;
  NORMRT_ARG(double, initial_accumulator_value) = 0.0;
  NORMRT_ARG(double, eps) = 1e-10;
};

// torch.optim.Adagrad (dense gradients); the state "sum" starts at initial_accumulator_value, and step k (from 1)
// moves by lr / (1 + (k - 1) lr_decay).
class Adagrad : public Optimizer {
 public:
  Adagrad(std::vector<ParamGroup> groups, const AdagradOptions& options);
  Adagrad(std::vector<Tensor> params, const AdagradOptions& options)
      : Adagrad(std::vector<ParamGroup>{ParamGroup(std::move(params))}, options) {}
  void step() override;

 private:
  std::vector<float> hyper_words(int64_t steps, const Group& group) const override;
  AdagradOptions options_;
};

class AdamaxOptions {
 public:
  explicit AdamaxOptions(double lr = 2e-3) : lr_(lr) {}
  NORMRT_ARG(double, lr);
  NORMRT_ARG(double, beta1) = 0.9;
  NORMRT_ARG(double, beta2) = 0.999;
  NORMRT_ARG(double, eps) = 1e-8;
  NORMRT_ARG(double, weight_decay) = 0.0;
};

// torch.optim.Adamax; state "exp_avg" and "exp_inf". beta1 is the groups' momentum (what OneCycleLR cycles).
class Adamax : public Optimizer {
 public:
  Adamax(std::vector<ParamGroup> groups, const AdamaxOptions& options);
  Adamax(std::vector<Tensor> params, const AdamaxOptions& options)
      : Adamax(std::vector<ParamGroup>{ParamGroup(std::move(params))}, options) {}
  void step() override;
  bool has_momentum() const override { return true; }

 private:
  std::vector<float> hyper_words(int64_t steps, const Group& group) const override;
  AdamaxOptions options_;
};

class RAdamOptions {
 public:
  explicit RAdamOptions(double lr = 1e-3) : lr_(lr) {}
  NORMRT_ARG(double, lr);
  NORMRT_ARG(double, beta1) = 0.9;
  NORMRT_ARG(double, beta2) = 0.999;
  NORMRT_ARG(double, eps) = 1e-8;
  NORMRT_ARG(double, weight_decay) = 0.0;
};

// torch.optim.RAdam (rectified Adam); state "exp_avg" and "exp_avg_sq". beta1 is the groups' momentum.
class RAdam : public Optimizer {
 public:
  RAdam(std::vector<ParamGroup> groups, const RAdamOptions& options);
  RAdam(std::vector<Tensor> params, const RAdamOptions& options)
      : RAdam(std::vector<ParamGroup>{ParamGroup(std::move(params))}, options) {}
  void step() override;
  bool has_momentum() const override { return true; }

 private:
  std::vector<float> hyper_words(int64_t steps, const Group& group) const override;
  RAdamOptions options_;
};

// A learning rate that is a function of a step count: step() once per epoch or once per iteration, as the
// schedule is meant (OneCycleLR: per iteration), set_epoch() to jump (resuming). Each group follows the schedule
// from its own initial learning rate (Optimizer::initial_lr, shared by every scheduler of the optimizer), as in
// PyTorch, so that schedulers built one after another on one optimizer (for SequentialLR) start from the same lr.
class LRScheduler {
 public:
  virtual ~LRScheduler() = default;
  void step() { set_epoch(epoch_ + 1); }
  void set_epoch(int64_t epoch);
  int64_t epoch() const { return epoch_; }

 protected:
  explicit LRScheduler(Optimizer& optimizer);
  // Applies epoch 0; each scheduler's constructor calls it last, once lrs_at can run.
  void start() { set_epoch(0); }
  // Every group's lr at `epoch`.
  virtual std::vector<double> lrs_at(int64_t epoch) const = 0;
  virtual void extra_at(int64_t /*epoch*/) {}  // what else a schedule sets (OneCycleLR: momentum)
  Optimizer& optimizer() { return optimizer_; }
  const Optimizer& optimizer() const { return optimizer_; }
  std::vector<double> base_lrs_;

 private:
  friend class SequentialLR;  // drives the schedulers it holds through lrs_at and extra_at
  Optimizer& optimizer_;
  int64_t epoch_ = 0;
};

// A schedule that is one formula of the epoch and a group's base lr, the same for every group.
class GroupwiseLRScheduler : public LRScheduler {
 protected:
  using LRScheduler::LRScheduler;
  virtual double lr_at(int64_t epoch, double base_lr) const = 0;

 private:
  std::vector<double> lrs_at(int64_t epoch) const override;
};

// lr = base_lr * gamma^(epoch / step_size).
class StepLR : public GroupwiseLRScheduler {
 public:
  StepLR(Optimizer& optimizer, int64_t step_size, double gamma = 0.1);

 private:
  double lr_at(int64_t epoch, double base_lr) const override;
  int64_t step_size_;
  double gamma_;
};

// lr = base_lr * lambda(epoch), one function for every group or one per group.
class LambdaLR : public LRScheduler {
 public:
  using Lambda = std::function<double(int64_t)>;
  LambdaLR(Optimizer& optimizer, Lambda lr_lambda);
  LambdaLR(Optimizer& optimizer, std::vector<Lambda> lr_lambdas);

 private:
  std::vector<double> lrs_at(int64_t epoch) const override;
  std::vector<Lambda> lambdas_;
};

// lr = base_lr * factor until epoch total_iters, then base_lr.
class ConstantLR : public GroupwiseLRScheduler {
 public:
  ConstantLR(Optimizer& optimizer, double factor = 1.0 / 3, int64_t total_iters = 5);

 private:
  double lr_at(int64_t epoch, double base_lr) const override;
  double factor_;
  int64_t total_iters_;
};

// lr = base_lr * (1 - min(epoch, total_iters) / total_iters)^power.
class PolynomialLR : public GroupwiseLRScheduler {
 public:
  PolynomialLR(Optimizer& optimizer, int64_t total_iters = 5, double power = 1.0);

 private:
  double lr_at(int64_t epoch, double base_lr) const override;
  int64_t total_iters_;
  double power_;
};

// SGDR: lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * T_cur / T_i)) / 2, T_cur the epochs since the last
// restart, T_i = T_0 * T_mult^restarts the length of the current cycle (integer epochs, as step() counts them).
class CosineAnnealingWarmRestarts : public GroupwiseLRScheduler {
 public:
  CosineAnnealingWarmRestarts(Optimizer& optimizer, int64_t t_0, int64_t t_mult = 1, double eta_min = 0.0);

 private:
  double lr_at(int64_t epoch, double base_lr) const override;
  int64_t t_0_, t_mult_;
  double eta_min_;
};

// One scheduler after another: schedulers[i] from milestones[i - 1] on, counting its epochs from there (a warm-up
// LinearLR, then CosineAnnealingLR). Every scheduler must belong to `optimizer`; SequentialLR drives them (their
// own step() is not called).
class SequentialLR : public LRScheduler {
 public:
  SequentialLR(Optimizer& optimizer, std::vector<std::shared_ptr<LRScheduler>> schedulers,
               std::vector<int64_t> milestones);

 private:
  std::pair<std::size_t, int64_t> locate(int64_t epoch) const;  // the scheduler's index and its own epoch
  std::vector<double> lrs_at(int64_t epoch) const override;
  void extra_at(int64_t epoch) override;
  std::vector<std::shared_ptr<LRScheduler>> schedulers_;
  std::vector<int64_t> milestones_;
};

// lr = base_lr * gamma^(number of milestones <= epoch), a milestone listed twice counting twice.
class MultiStepLR : public GroupwiseLRScheduler {
 public:
  MultiStepLR(Optimizer& optimizer, std::vector<int64_t> milestones, double gamma = 0.1);

 private:
  double lr_at(int64_t epoch, double base_lr) const override;
  std::vector<int64_t> milestones_;  // sorted
  double gamma_;
};

// lr = base_lr * gamma^epoch.
class ExponentialLR : public GroupwiseLRScheduler {
 public:
  ExponentialLR(Optimizer& optimizer, double gamma);

 private:
  double lr_at(int64_t epoch, double base_lr) const override;
  double gamma_;
};

// lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2.
class CosineAnnealingLR : public GroupwiseLRScheduler {
 public:
  CosineAnnealingLR(Optimizer& optimizer, int64_t t_max, double eta_min = 0.0);

 private:
  double lr_at(int64_t epoch, double base_lr) const override;
  int64_t t_max_;
  double eta_min_;
};

// Warm-up: lr = base_lr * factor, the factor going linearly from start_factor to end_factor over total_iters steps.
class LinearLR : public GroupwiseLRScheduler {
 public:
  LinearLR(Optimizer& optimizer, double start_factor = 1.0 / 3, double end_factor = 1.0, int64_t total_iters = 5);

 private:
  double lr_at(int64_t epoch, double base_lr) const override;
  double start_factor_, end_factor_;
  int64_t total_iters_;
};

class OneCycleLROptions {
 public:
  OneCycleLROptions(double max_lr, int64_t total_steps) : max_lr_(max_lr), total_steps_(total_steps) {}
  NORMRT_ARG(double, max_lr);
  NORMRT_ARG(int64_t, total_steps);
  NORMRT_ARG(std::vector<double>, max_lrs) = {};  // one per parameter group (PyTorch's list max_lr); empty: max_lr
  NORMRT_ARG(double, pct_start) = 0.3;
  NORMRT_ARG(bool, cos_anneal) = true;  // false: linear (anneal_strategy='linear')
  NORMRT_ARG(bool, cycle_momentum) = true;
  NORMRT_ARG(double, base_momentum) = 0.85;
  NORMRT_ARG(double, max_momentum) = 0.95;
  NORMRT_ARG(double, div_factor) = 25.0;
  NORMRT_ARG(double, final_div_factor) = 1e4;
  NORMRT_ARG(bool, three_phase) = false;
};

// The 1cycle policy (per iteration): lr rises from max_lr/div_factor to max_lr over pct_start of the steps, then
// anneals to that over final_div_factor; momentum (SGD's, Adam's beta1) moves the opposite way when cycled.
// Stepping past total_steps throws, as PyTorch does.
class OneCycleLR : public GroupwiseLRScheduler {
 public:
  OneCycleLR(Optimizer& optimizer, const OneCycleLROptions& options);

 private:
  struct Phase {
    double end_step, start_lr, end_lr, start_momentum, end_momentum;  // lrs as multiples of the initial lr
  };
  double lr_at(int64_t epoch, double base_lr) const override;
  void extra_at(int64_t epoch) override;
  // The phase of `step` and the fraction of it done.
  std::pair<const Phase*, double> locate(int64_t step) const;
  double anneal(double start, double end, double pct) const;
  OneCycleLROptions options_;
  std::vector<Phase> phases_;
};

class ReduceLROnPlateauOptions {
 public:
  NORMRT_ARG(bool, maximize) = false;  // mode='max'
  NORMRT_ARG(double, factor) = 0.1;
  NORMRT_ARG(int64_t, patience) = 10;
  NORMRT_ARG(double, threshold) = 1e-4;
  NORMRT_ARG(bool, relative_threshold) = true;  // threshold_mode='rel' (false: 'abs')
  NORMRT_ARG(int64_t, cooldown) = 0;
  NORMRT_ARG(double, min_lr) = 0.0;
  NORMRT_ARG(double, eps) = 1e-8;
};

// Multiplies every group's lr by `factor` when the metric passed to step() has not improved for `patience` steps.
class ReduceLROnPlateau {
 public:
  ReduceLROnPlateau(Optimizer& optimizer, const ReduceLROnPlateauOptions& options = {});
  void step(double metric);

 private:
  bool is_better(double a) const;
  Optimizer& optimizer_;
  ReduceLROnPlateauOptions options_;
  double best_;
  int64_t bad_epochs_ = 0, cooldown_counter_ = 0;
};

}  // namespace normrt::optim
