#include "normrt/swa_utils.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "normrt/error.h"
#include "normrt/grad_mode.h"
#include "normrt/nn/batchnorm.h"
#include "normrt/ops/elementwise.h"

namespace normrt::optim::swa_utils {

namespace {

constexpr double kPi = 3.14159265358979323846;

// An integer tensor's values as float32 on the host (averages of integer buffers run in float32, as PyTorch's).
Tensor integer_as_float(const Tensor& t) {
  const Tensor host = t.to(Device::cpu());
  std::vector<float> values;
  for (int64_t v : host.to_vector<int64_t>()) values.push_back(static_cast<float>(v));
  return from_vector(values, t.sizes());
}

// A float32 average written into an integer tensor, each value truncated toward zero (PyTorch's copy_).
void copy_truncated(Tensor& target, const Tensor& average) {
  std::vector<int64_t> values;
  for (float v : average.to(Device::cpu()).to_vector()) {
    NORMRT_CHECK(std::isfinite(v), "AveragedModel: the average of an integer buffer is not finite (", v, ")");
    values.push_back(static_cast<int64_t>(v));
  }
  target.copy_(from_vector(values, target.sizes()));
}

}  // namespace

AveragedModel::AveragedModel(std::shared_ptr<nn::Module> module, AverageFn avg_fn, bool use_buffers)
    : module_(std::move(module)), avg_fn_(std::move(avg_fn)), use_buffers_(use_buffers) {
  NORMRT_CHECK(module_ != nullptr, "AveragedModel: the module is null");
  if (!avg_fn_)
    avg_fn_ = [](const Tensor& averaged, const Tensor& current, int64_t num_averaged) {
      return averaged + (current - averaged) / static_cast<double>(num_averaged + 1);
    };
  n_averaged = from_vector(std::vector<int64_t>{0}, {});
  register_buffer("n_averaged", &n_averaged);
  register_module("module", module_);
}

int64_t AveragedModel::num_averaged() const { return n_averaged.to(Device::cpu()).item<int64_t>(); }

void AveragedModel::update_parameters(const nn::Module& model) {
  std::vector<Tensor> mine = module_->parameters(), theirs = model.parameters();
  if (use_buffers_) {
    for (const Tensor& b : module_->buffers()) mine.push_back(b);
    for (const Tensor& b : model.buffers()) theirs.push_back(b);
  }
  NORMRT_CHECK(mine.size() == theirs.size(), "AveragedModel.update_parameters: the model has ", theirs.size(),
               use_buffers_ ? " parameters and buffers" : " parameters", ", the averaged module ", mine.size());
  for (std::size_t i = 0; i < mine.size(); ++i)
    NORMRT_CHECK(mine[i].sizes() == theirs[i].sizes() && mine[i].dtype() == theirs[i].dtype(),
                 "AveragedModel.update_parameters: tensor ", i, " of the model is ", dtype_name(theirs[i].dtype()), " ",
                 shape_str(theirs[i].sizes()), ", the averaged module's ", dtype_name(mine[i].dtype()), " ",
                 shape_str(mine[i].sizes()));
  const int64_t count = num_averaged();
  // Every average is computed before any is written, so that an avg_fn that throws changes nothing.
  std::vector<Tensor> results;
  for (std::size_t i = 0; i < mine.size() && count > 0; ++i) {
    const Tensor current = theirs[i].to(mine[i].device());
    results.push_back(is_floating(mine[i].dtype()) ? avg_fn_(mine[i], current, count)
                                                   : avg_fn_(integer_as_float(mine[i]), integer_as_float(current),
                                                             count));
  }
  for (std::size_t i = 0; i < mine.size(); ++i) {
    if (count == 0) mine[i].copy_(theirs[i]);
    else if (is_floating(mine[i].dtype())) mine[i].copy_(results[i]);
    else copy_truncated(mine[i], results[i]);
  }
  n_averaged.copy_(from_vector(std::vector<int64_t>{count + 1}, {}));
}

Tensor AveragedModel::forward_impl(const Tensor& input, nn::Context& ctx) {
  ctx.children.resize(1);
  return module_->forward(input, ctx.children[0]);
}

Tensor AveragedModel::backward_impl(const Tensor& grad_output, nn::Context& ctx) {
  return module_->backward(grad_output, ctx.children[0]);
}

AveragedModel::AverageFn ema_avg_fn(double decay) {
  NORMRT_CHECK(std::isfinite(decay) && decay >= 0.0 && decay <= 1.0, "ema_avg_fn: decay must be in [0, 1], got ",
               decay);
  return [decay](const Tensor& averaged, const Tensor& current, int64_t) {
    return averaged * decay + current * (1.0 - decay);
  };
}

SWALR::SWALR(Optimizer& optimizer, double swa_lr, int64_t anneal_epochs, bool cos_anneal)
    : SWALR(optimizer, std::vector<double>(optimizer.num_groups(), swa_lr), anneal_epochs, cos_anneal) {}

SWALR::SWALR(Optimizer& optimizer, std::vector<double> swa_lrs, int64_t anneal_epochs, bool cos_anneal)
    : LRScheduler(optimizer), swa_lrs_(std::move(swa_lrs)), anneal_epochs_(anneal_epochs), cos_anneal_(cos_anneal) {
  NORMRT_CHECK(swa_lrs_.size() == optimizer.num_groups(),
               "swa_lr must have the same length as optimizer.param_groups: swa_lr has ", swa_lrs_.size(),
               ", optimizer.param_groups has ", optimizer.num_groups());
  NORMRT_CHECK(anneal_epochs >= 0, "anneal_epochs must be equal or greater than 0, got ", anneal_epochs);
  start();
}

double SWALR::anneal(double t) const { return cos_anneal_ ? (1 - std::cos(kPi * t)) / 2 : t; }

// PyTorch's get_lr: the lr being annealed from, recovered from the current one and the previous step's fraction,
// then this step's fraction of the way to swa_lr.
std::vector<double> SWALR::lrs_at(int64_t epoch) const {
  const int64_t step = anneal_epochs_ == 0 ? std::max<int64_t>(1, epoch) : epoch;
  const double span = static_cast<double>(std::max<int64_t>(1, anneal_epochs_));
  const double previous = anneal(std::clamp(static_cast<double>(step - 1) / span, 0.0, 1.0));
  const double alpha = anneal(std::clamp(static_cast<double>(step) / span, 0.0, 1.0));
  std::vector<double> lrs;
  for (std::size_t g = 0; g < swa_lrs_.size(); ++g) {
    const double lr = optimizer().lr(g);
    const double from = previous == 1.0 ? swa_lrs_[g] : (lr - previous * swa_lrs_[g]) / (1 - previous);
    lrs.push_back(swa_lrs_[g] * alpha + from * (1 - alpha));
  }
  return lrs;
}

void update_bn(const std::function<std::optional<Tensor>()>& next_input, nn::Module& model) {
  struct Saved {
    nn::BatchNormBase* module;
    std::optional<double> momentum;
    Tensor mean, var, batches;
  };
  std::vector<Saved> saved;
  for (nn::Module* m : model.modules()) {
    auto* bn = dynamic_cast<nn::BatchNormBase*>(m);
    if (bn != nullptr && bn->running_mean.defined())
      saved.push_back({bn, bn->options().momentum(), bn->running_mean.clone(), bn->running_var.clone(),
                       bn->num_batches_tracked.clone()});
  }
  if (saved.empty()) return;
  const bool was_training = model.is_training();
  const auto restore_settings = [&] {
    for (const Saved& s : saved) s.module->set_momentum(s.momentum);
    model.train(was_training);
  };
  const NoGradGuard no_grad;
  model.train();
  for (const Saved& s : saved) {
    s.module->reset_running_stats();
    s.module->set_momentum(std::nullopt);
  }
  try {
    while (const std::optional<Tensor> input = next_input()) model.forward(*input);
  } catch (...) {
    for (const Saved& s : saved) {
      s.module->running_mean.copy_(s.mean);
      s.module->running_var.copy_(s.var);
      s.module->num_batches_tracked.copy_(s.batches);
    }
    restore_settings();
    throw;
  }
  restore_settings();
}

void update_bn(const std::vector<Tensor>& inputs, nn::Module& model) {
  std::size_t next = 0;
  update_bn([&]() -> std::optional<Tensor> {
    if (next == inputs.size()) return std::nullopt;
    return inputs[next++];
  }, model);
}

}  // namespace normrt::optim::swa_utils
