// Weight averaging, as torch.optim.swa_utils: AveragedModel (stochastic weight averaging by default, or any average
// such as an exponential moving average of the weights), the SWALR schedule, and update_bn, which recomputes the
// BatchNorm running statistics of a model (an averaged one's) as the cumulative average over a pass of data.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "normrt/nn/module.h"
#include "normrt/optim.h"
#include "normrt/tensor.h"

namespace normrt::optim::swa_utils {

// torch.optim.swa_utils.AveragedModel. normrt modules are not copied: pass a model built as the trained one is (its
// values do not matter: the first update_parameters copies the trained model's in). State: "n_averaged" (int64, the
// updates so far), then the module's under "module.", as PyTorch's.
class AveragedModel : public nn::Module {
 public:
  // The new average from the old one, the trained model's tensor and the updates before this one (at least 1).
  using AverageFn = std::function<Tensor(const Tensor& averaged, const Tensor& current, int64_t num_averaged)>;
  // avg_fn: empty for the running mean, averaged + (current - averaged) / (num_averaged + 1). use_buffers: average
  // the buffers (BatchNorm's running statistics) with the parameters; without, the module keeps its own buffers
  // (recompute them with update_bn). Integer buffers (num_batches_tracked) are averaged in float32 and truncated, as
  // PyTorch's copy_ does.
  explicit AveragedModel(std::shared_ptr<nn::Module> module, AverageFn avg_fn = nullptr, bool use_buffers = false);
  std::string name() const override { return "AveragedModel"; }
  // Folds `model` (same architecture) into the average: the first call copies it; each call adds one to n_averaged.
  void update_parameters(const nn::Module& model);
  nn::Module& module() { return *module_; }
  int64_t num_averaged() const;

  Tensor n_averaged;

 private:
  Tensor forward_impl(const Tensor& input, nn::Context& ctx) override;
  Tensor backward_impl(const Tensor& grad_output, nn::Context& ctx) override;
  std::shared_ptr<nn::Module> module_;
  AverageFn avg_fn_;
  bool use_buffers_;
};

// An exponential moving average of the weights (torchvision's ExponentialMovingAverage, use with use_buffers):
// decay * averaged + (1 - decay) * current.
AveragedModel::AverageFn ema_avg_fn(double decay);

// torch.optim.swa_utils.SWALR: from its first step on, anneals each group's lr from what it is then to swa_lr over
// anneal_epochs steps (cos_anneal: (1 - cos(pi t)) / 2 of the way at t = step / anneal_epochs; else t), then holds
// swa_lr. As PyTorch's, each step derives the lr to anneal from out of the group's current lr, so a schedule stepped
// before (CosineAnnealingLR until the SWA phase) hands over where it stopped.
class SWALR : public LRScheduler {
 public:
  SWALR(Optimizer& optimizer, double swa_lr, int64_t anneal_epochs = 10, bool cos_anneal = true);
  SWALR(Optimizer& optimizer, std::vector<double> swa_lrs, int64_t anneal_epochs = 10, bool cos_anneal = true);

 private:
  std::vector<double> lrs_at(int64_t epoch) const override;
  double anneal(double t) const;
  std::vector<double> swa_lrs_;
  int64_t anneal_epochs_;
  bool cos_anneal_;
};

// torch.optim.swa_utils.update_bn: every BatchNorm of `model` that tracks running statistics gets them reset and
// recomputed as the cumulative average (momentum None) over the inputs next_input() returns until nullopt, in
// training mode without gradients; each BatchNorm's momentum and the model's mode are restored afterwards. A forward
// that throws leaves the running statistics as they were before the call.
void update_bn(const std::function<std::optional<Tensor>()>& next_input, nn::Module& model);
void update_bn(const std::vector<Tensor>& inputs, nn::Module& model);

}  // namespace normrt::optim::swa_utils
