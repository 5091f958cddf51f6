#include "normrt/optim.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

#include <cstring>

#include "cuda_launch.h"
#include "nn_math.cuh"
#include "normrt/cuda.h"
#include "normrt/error.h"
#include "nvtx.h"
#include "cpu_threads.h"
#include "op_util.h"
#if NORMRT_WITH_CUDA
#include "elementwise.cuh"
#include "optimizer.cuh"
#endif

namespace normrt::optim {

namespace {

// Applies `cpu_update(param, grad, slot0, slot1, count)` to runs of elements on the CPU (fixed chunks in parallel:
// the update is elementwise, so the result does not depend on the split), or `launch(list)` over the tensors in
// fused groups on a GPU.
template <typename CpuUpdate, typename CudaLaunch>
void apply(const std::vector<Tensor*>& params, const std::vector<std::vector<Tensor>*>& slots, CpuUpdate cpu_update,
           CudaLaunch cuda_launch) {
  if (params.empty()) return;
  const Device device = params[0]->device();
  // The update runs in storage order, so a gradient or slot in another memory format than its parameter's is brought
  // to the parameter's (slots take it for good: a parameter may change format after the optimizer made them). The
  // list of converted gradients stays empty, allocating nothing, while every format agrees.
  std::vector<Tensor> converted;
  for (std::size_t t = 0; t < params.size(); ++t) {
    const MemoryFormat format = params[t]->memory_format();
    if (params[t]->grad().memory_format() != format) {
      converted.resize(params.size());
      converted[t] = params[t]->grad().to(format);
    }
    for (Tensor& slot : *slots[t])
      if (slot.memory_format() != format) slot = slot.to(format);
  }
  const auto grad_of = [&](std::size_t t) -> const Tensor& {
    return t < converted.size() && converted[t].defined() ? converted[t] : params[t]->grad();
  };
  if (device.is_cpu()) {
    constexpr int64_t kChunk = 16384;
    for (std::size_t t = 0; t < params.size(); ++t) {
      float* p = ops::util::stored<float>(*params[t]);
      const float* g = ops::util::stored<float>(grad_of(t));
      std::vector<Tensor>& s = *slots[t];
      float* s0 = s.size() > 0 ? ops::util::stored<float>(s[0]) : nullptr;
      float* s1 = s.size() > 1 ? ops::util::stored<float>(s[1]) : nullptr;
      float* s2 = s.size() > 2 ? ops::util::stored<float>(s[2]) : nullptr;
      const int64_t n = params[t]->numel(), chunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel for schedule(static) if (chunks > 1 && cpu::worth_parallel(n * 8))
      for (int64_t chunk = 0; chunk < chunks; ++chunk) {
        const int64_t lo = chunk * kChunk, count = std::min(kChunk, n - lo);
        cpu_update(p + lo, g + lo, s0 ? s0 + lo : nullptr, s1 ? s1 + lo : nullptr, s2 ? s2 + lo : nullptr, count);
      }
    }
    return;
  }
#if NORMRT_WITH_CUDA
  const int index = device.index();
  cuda::DeviceGuard guard(index);
  const cudaStream_t stream = cuda::current_stream(index);
  const int sms = cuda::sm_count(index);
  normrt::cuda::for_each_tensor_list(
      params.size(),
      [&](normrt::cuda::TensorList& list, int k, std::size_t t) {
        std::vector<Tensor>& s = *slots[t];
        list.param[k] = ops::util::stored<float>(*params[t]);
        list.grad[k] = ops::util::stored<float>(grad_of(t));
        list.state1[k] = s.size() > 0 ? ops::util::stored<float>(s[0]) : nullptr;
        list.state2[k] = s.size() > 1 ? ops::util::stored<float>(s[1]) : nullptr;
        list.state3[k] = s.size() > 2 ? ops::util::stored<float>(s[2]) : nullptr;
        return params[t]->numel();
      },
      [&](const normrt::cuda::TensorList& list) { cuda_launch(list, sms, stream); });
#else
  (void)cuda_launch;
  NORMRT_THROW("optimizer step on ", device.str(), " needs a build with CUDA");
#endif
}

template <typename Hyper>
std::vector<float> as_words(const Hyper& h) {
  static_assert(sizeof(Hyper) % sizeof(float) == 0, "hyperparameters must fill whole 32-bit words");
  std::vector<float> words(sizeof(Hyper) / sizeof(float));
  std::memcpy(words.data(), &h, sizeof(Hyper));
  return words;
}

#if NORMRT_WITH_CUDA
template <typename Hyper>
normrt::cuda::HyperSource<Hyper> source_of(const Hyper& h, std::pair<const float*, const int64_t*> planned,
                                           const Tensor& skip) {
  return {h, reinterpret_cast<const Hyper*>(planned.first), planned.second,
          skip.defined() ? skip.data<float>() : nullptr};
}
#endif

// A zeroed state slot of a parameter: its shape, device and memory format.
Tensor slot_like(const Tensor& param) {
  return zeros(param.sizes(), TensorOptions(param.device()).memory_format(param.memory_format()));
}

void check_non_negative(double value, const char* what) {
  NORMRT_CHECK(std::isfinite(value) && value >= 0.0, "Invalid ", what, ": ", value);
}

}  // namespace

Optimizer::Optimizer(std::vector<ParamGroup> groups, Hyper defaults, std::vector<std::string> slots)
    : slot_names_(std::move(slots)) {
  for (const ParamGroup& g : groups) {
    Group group{{}, g.lr().value_or(defaults.lr), g.weight_decay().value_or(defaults.weight_decay),
                g.momentum().value_or(defaults.momentum), std::nullopt};
    check_non_negative(group.lr, "learning rate");
    check_non_negative(group.weight_decay, "weight_decay value");
    check_non_negative(group.momentum, "momentum value");
    for (const Tensor& p : g.params()) {
      group.members.push_back(params_.size());
      params_.push_back(p);
    }
    groups_.push_back(std::move(group));
  }
  for (std::size_t i = 0; i < params_.size(); ++i) {
    const Tensor& p = params_[i];
    NORMRT_CHECK(p.defined() && p.dtype() == DType::Float32, "optimizer parameter ", i, " must be a float32 tensor");
    NORMRT_CHECK(p.device() == params_[0].device(), "optimizer parameters must all be on one device, got ",
                 params_[0].device().str(), " and ", p.device().str(), " (parameter ", i, ")");
    for (std::size_t j = 0; j < i; ++j)
      NORMRT_CHECK(!params_[j].is_same(p), "some parameters appear in more than one parameter group");
  }
  for (const Tensor& p : params_) {
    ParamState s;
    for (std::size_t k = 0; k < slot_names_.size(); ++k) s.slots.push_back(slot_like(p));
    state_.push_back(std::move(s));
  }
}

const Optimizer::Group& Optimizer::group_at(std::size_t group) const {
  NORMRT_CHECK(group < groups_.size(), "optimizer: parameter group ", group, " does not exist (", groups_.size(),
               " groups)");
  return groups_[group];
}

void Optimizer::set_lr(double lr) {
  for (std::size_t g = 0; g < groups_.size(); ++g) set_lr(g, lr);
}

void Optimizer::set_lr(std::size_t group, double lr) {
  // Any finite value, as PyTorch's param_groups take: a schedule stepped once past its end (OneCycleLR at
  // total_steps, which training loops do after their last iteration) extrapolates below 0.
  NORMRT_CHECK(std::isfinite(lr), "Invalid learning rate: ", lr);
  group_at(group);
  if (plan_ && groups_[group].lr != lr) plan_->stale = true;
  groups_[group].lr = lr;
}

void Optimizer::set_momentum(std::size_t group, double momentum) {
  NORMRT_CHECK(has_momentum(), "optimizer: this optimizer has no momentum to set (SGD and RMSprop need momentum "
                               "> 0 at construction)");
  check_non_negative(momentum, "momentum value");
  group_at(group);
  if (plan_ && groups_[group].momentum != momentum) plan_->stale = true;
  groups_[group].momentum = momentum;
}

void Optimizer::set_initial_lr(std::size_t group, double lr) {
  NORMRT_CHECK(std::isfinite(lr), "Invalid initial learning rate: ", lr);
  group_at(group);
  groups_[group].initial_lr = lr;
}

void Optimizer::zero_grad(bool set_to_none) {
  for (Tensor& p : params_) {
    Tensor& grad = p.mutable_grad();
    if (set_to_none || !grad.defined()) {
      grad = Tensor();
      continue;
    }
    if (grad.device().is_cpu()) {
      float* values = ops::util::stored<float>(grad);
      std::fill(values, values + grad.numel(), 0.0f);
    } else {
#if NORMRT_WITH_CUDA
      const ops::util::Launch l(grad);
      normrt::cuda::fill(ops::util::stored<float>(grad), 0.0f, grad.numel(), l.sms, l.stream);
#endif
    }
    grad.bump_version();
  }
}

void Optimizer::plan_steps(int64_t n) {
  NORMRT_CHECK(n >= 1, "plan_steps: the number of steps must be positive, got ", n);
  NORMRT_CHECK(!params_.empty() && params_[0].device().is_cuda(), "plan_steps: for parameters on a CUDA device");
  const Device device = params_[0].device();
  const std::vector<int64_t> taken = steps_taken();
  for (std::size_t i = 0; i < state_.size(); ++i) state_[i].steps = taken[i];
  Plan plan = plan_ ? std::move(*plan_) : Plan{};
  const bool reuse = plan.capacity >= n && plan.tables.size() == groups_.size();
  std::vector<int64_t> first_steps;
  std::vector<std::vector<float>> tables;
  for (const Group& group : groups_) {
    const int64_t first = group.members.empty() ? 0 : state_[group.members[0]].steps;
    for (std::size_t i : group.members)
      NORMRT_CHECK(state_[i].steps == first, "plan_steps: the parameters of a group have taken different numbers of "
                   "steps (", first, " and ", state_[i].steps, ")");
    std::vector<float> table;
    for (int64_t k = 0; k < n; ++k) {
      const std::vector<float> words = hyper_words(first + k, group);
      table.insert(table.end(), words.begin(), words.end());
    }
    first_steps.push_back(first);
    tables.push_back(std::move(table));
  }
  const int64_t zero = 0;
  if (reuse) {  // in place: a captured graph reads these addresses
    for (std::size_t g = 0; g < groups_.size(); ++g) {
      copy_bytes(plan.tables[g].raw_data(), device, tables[g].data(), Device::cpu(), tables[g].size() * sizeof(float));
      plan.tables[g].bump_version();
    }
    copy_bytes(plan.index.raw_data(), device, &zero, Device::cpu(), sizeof zero);
    plan.index.bump_version();
  } else {
    plan.tables.clear();
    for (const auto& table : tables)
      plan.tables.push_back(from_vector(table, {static_cast<int64_t>(table.size())}, device));
    plan.index = from_vector(std::vector<int64_t>{0}, {}, device);
    plan.capacity = n;
  }
  plan.first_steps = std::move(first_steps);
  plan.length = n;
  plan.taken = 0;
  plan.stale = false;
  plan.device_decides = false;
  plan_ = std::move(plan);
}

void Optimizer::step_unless(const Tensor& found_inf) {
  NORMRT_CHECK(found_inf.defined() && found_inf.dtype() == DType::Float32 && found_inf.numel() == 1,
               "step_unless: found_inf must be one float32");
  if (!plan_ || params_.empty() || !params_[0].device().is_cuda()) {
    if (found_inf.item<float>() == 0.0f) step();
    return;
  }
  NORMRT_CHECK(found_inf.device() == params_[0].device(), "step_unless: found_inf on ", found_inf.device().str(),
               ", the parameters on ", params_[0].device().str());
  struct Flag {
    Tensor& slot;
    ~Flag() { slot = Tensor(); }
  } flag{skip_flag_};
  skip_flag_ = found_inf;
  plan_->device_decides = true;
  step();
}

std::vector<int64_t> Optimizer::steps_taken() const {
  std::vector<int64_t> steps(state_.size());
  for (std::size_t i = 0; i < state_.size(); ++i) steps[i] = state_[i].steps;
  if (!plan_ || !plan_->device_decides) return steps;
  const int64_t taken = plan_->index.item<int64_t>();
  for (std::size_t g = 0; g < groups_.size(); ++g)
    for (std::size_t i : groups_[g].members)  // those that took the plan's steps (every one, or none)
      if (state_[i].steps == plan_->first_steps[g] + plan_->taken) steps[i] = plan_->first_steps[g] + taken;
  return steps;
}

void Optimizer::replayed(int64_t replays) {
  NORMRT_CHECK(plan_ && replays >= 0 && plan_->taken + replays <= plan_->length, "optimizer replayed(", replays,
               "): more replays than planned steps left (", plan_ ? plan_->length - plan_->taken : 0, ")");
  plan_->taken += replays;
  for (std::size_t i = 0; i < params_.size(); ++i) {
    if (!params_[i].grad().defined()) continue;
    state_[i].steps += replays;
    params_[i].bump_version();
    for (Tensor& slot : state_[i].slots) slot.bump_version();
  }
}

std::pair<const float*, const int64_t*> Optimizer::planned(const Group& group, int64_t steps) const {
  if (!plan_) return {nullptr, nullptr};
  NORMRT_CHECK(!plan_->stale, "optimizer: a learning rate, momentum or the state changed after plan_steps; plan again");
  NORMRT_CHECK(plan_->taken < plan_->length, "optimizer: all ", plan_->length, " planned steps are taken; "
               "plan_steps again");
  const auto g = static_cast<std::size_t>(&group - groups_.data());
  NORMRT_CHECK(steps == plan_->first_steps[g] + plan_->taken, "optimizer: under plan_steps every parameter of a "
               "group needs a gradient at every step");
  return {plan_->tables[g].data<float>(), plan_->index.data<int64_t>()};
}

template <typename Fn>
void Optimizer::for_each_group(Fn update) {
  const detail::NvtxRange range("optimizer step");
  for (const Group& group : groups_) {
    std::map<int64_t, std::vector<std::size_t>> by_steps;
    for (std::size_t i : group.members) {
      if (!params_[i].grad().defined()) continue;
      NORMRT_CHECK(params_[i].grad().sizes() == params_[i].sizes(), "optimizer: gradient of parameter ", i,
                   " has shape ", shape_str(params_[i].grad().sizes()), ", the parameter ",
                   shape_str(params_[i].sizes()));
      by_steps[state_[i].steps].push_back(i);
    }
    for (auto& [steps, indices] : by_steps) {
      std::vector<Tensor*> params;
      std::vector<std::vector<Tensor>*> slots;
      for (std::size_t i : indices) {
        params.push_back(&params_[i]);
        slots.push_back(&state_[i].slots);
        // A module moved after this optimizer was built (Module::to keeps each parameter's identity): its state
        // follows it on the first step, as PyTorch creates state on the parameter's device.
        for (Tensor& slot : state_[i].slots)
          if (slot.device() != params_[i].device()) slot.set_data(slot.to(params_[i].device()));
      }
      NORMRT_CHECK(std::all_of(params.begin(), params.end(),
                               [&](const Tensor* p) { return p->device() == params[0]->device(); }),
                   "optimizer parameters must all be on one device, got ", params[0]->device().str(), " and another");
      update(params, slots, steps, group);
      for (std::size_t i : indices) {
        ++state_[i].steps;
        params_[i].bump_version();
        for (Tensor& slot : state_[i].slots) slot.bump_version();
      }
    }
  }
  if (plan_) {
#if NORMRT_WITH_CUDA
    ops::util::advance_device_counter(plan_->index, 1, skip_flag_);
#endif
    ++plan_->taken;
  }
}

#if NORMRT_WITH_CUDA
namespace {
// The fused launch of each optimizer's update, by its hyperparameters' type.
void launch_step(const cuda::TensorList& l, const cuda::HyperSource<nnmath::SgdHyper>& h, int sms, cudaStream_t s) {
  cuda::sgd_step(l, h, sms, s);
}
void launch_step(const cuda::TensorList& l, const cuda::HyperSource<nnmath::AdamHyper>& h, int sms, cudaStream_t s) {
  cuda::adam_step(l, h, sms, s);
}
void launch_step(const cuda::TensorList& l, const cuda::HyperSource<nnmath::AdadeltaHyper>& h, int sms,
                 cudaStream_t s) {
  cuda::adadelta_step(l, h, sms, s);
}
void launch_step(const cuda::TensorList& l, const cuda::HyperSource<nnmath::RmspropHyper>& h, int sms,
                 cudaStream_t s) {
  cuda::rmsprop_step(l, h, sms, s);
}
void launch_step(const cuda::TensorList& l, const cuda::HyperSource<nnmath::AdagradHyper>& h, int sms,
                 cudaStream_t s) {
  cuda::adagrad_step(l, h, sms, s);
}
void launch_step(const cuda::TensorList& l, const cuda::HyperSource<nnmath::AdamaxHyper>& h, int sms,
                 cudaStream_t s) {
  cuda::adamax_step(l, h, sms, s);
}
void launch_step(const cuda::TensorList& l, const cuda::HyperSource<nnmath::RadamHyper>& h, int sms, cudaStream_t s) {
  cuda::radam_step(l, h, sms, s);
}
}  // namespace
#endif

template <typename Hyper, typename MakeHyper, typename CpuRun>
void Optimizer::fused_step(MakeHyper make_hyper, CpuRun cpu_run) {
  for_each_group([&](const std::vector<Tensor*>& params, const std::vector<std::vector<Tensor>*>& slots, int64_t steps,
                     const Group& g) {
    const Hyper h = make_hyper(steps, g);
    const auto plan = planned(g, steps);
    apply(
        params, slots,
        [&](float* __restrict p, const float* __restrict grad, float* __restrict s0, float* __restrict s1,
            float* __restrict s2, int64_t n) {
          const Hyper local = h;  // a copy the stores cannot alias: kept in registers, vectorised
          cpu_run(p, grad, s0, s1, s2, n, local);
        },
        [&](const auto& list, int sms, auto stream) {
#if NORMRT_WITH_CUDA
          launch_step(list, source_of(h, plan, skip_flag_), sms, stream);
#else
          (void)list; (void)sms; (void)stream; (void)plan;
#endif
        });
  });
}

nn::NamedTensors Optimizer::state() const {
  nn::NamedTensors out;
  const std::vector<int64_t> steps = steps_taken();
  for (std::size_t i = 0; i < state_.size(); ++i) {
    for (std::size_t k = 0; k < slot_names_.size(); ++k)
      out.emplace_back(std::to_string(i) + "." + slot_names_[k], state_[i].slots[k]);
    out.emplace_back(std::to_string(i) + ".step", from_vector(std::vector<int64_t>{steps[i]}, {}));
  }
  return out;
}

void Optimizer::check_state(const nn::NamedTensors& state) const {
  const nn::NamedTensors own = this->state();
  NORMRT_CHECK(state.size() == own.size(), "optimizer load_state: expected ", own.size(), " entries, got ",
               state.size());
  for (std::size_t i = 0; i < own.size(); ++i) {
    NORMRT_CHECK(state[i].first == own[i].first, "optimizer load_state: expected key '", own[i].first, "', got '",
                 state[i].first, "'");
    const Tensor& value = state[i].second;
    NORMRT_CHECK(value.defined() && value.sizes() == own[i].second.sizes() && value.dtype() == own[i].second.dtype(),
                 "optimizer load_state: size mismatch for '", own[i].first, "'");
  }
  // Values too: a negative step count or a negative second moment would turn the next step into NaN.
  std::size_t e = 0;
  for (std::size_t i = 0; i < state_.size(); ++i) {
    for (std::size_t k = 0; k < slot_names_.size(); ++k, ++e) {
      const Tensor host = state[e].second.to(Device::cpu());
      const float* v = host.data<float>();
      const bool non_negative =
          slot_names_[k] != "exp_avg" && slot_names_[k] != "momentum_buffer" && slot_names_[k] != "grad_avg";
      for (int64_t j = 0; j < host.numel(); ++j)
        NORMRT_CHECK(std::isfinite(v[j]) && (!non_negative || v[j] >= 0), "optimizer load_state: '", state[e].first,
                     "' holds an invalid value (", v[j], " at index ", j, ")");
    }
    const int64_t steps = state[e].second.to(Device::cpu()).item<int64_t>();
    NORMRT_CHECK(steps >= 0, "optimizer load_state: '", state[e].first, "' is ", steps,
                 ", a step count cannot be negative");
    ++e;
  }
}

void Optimizer::load_state(const nn::NamedTensors& state) {
  check_state(state);
  if (plan_) {
    plan_->stale = true;
    plan_->device_decides = false;  // the counts below replace what the device decided
  }
  std::size_t e = 0;
  for (std::size_t i = 0; i < state_.size(); ++i) {
    for (std::size_t k = 0; k < slot_names_.size(); ++k) state_[i].slots[k].copy_(state[e++].second);
    state_[i].steps = state[e++].second.to(Device::cpu()).item<int64_t>();
  }
}

SGD::SGD(std::vector<ParamGroup> groups, const SGDOptions& options)
    : Optimizer(std::move(groups), {options.lr(), options.weight_decay(), options.momentum()},
                std::vector<std::string>{}),
      options_(options) {
  // One momentum buffer per parameter when any group uses momentum (the others leave it untouched).
  if (std::any_of(groups_.begin(), groups_.end(), [](const Group& g) { return g.momentum != 0.0; })) {
    slot_names_ = {"momentum_buffer"};
    for (std::size_t i = 0; i < params_.size(); ++i) state_[i].slots.push_back(slot_like(params_[i]));
  }
  for (const Group& g : groups_)
    NORMRT_CHECK(!options.nesterov() || (g.momentum > 0 && options.dampening() == 0),
                 "Nesterov momentum requires a momentum and zero dampening");
}

namespace {
nnmath::SgdHyper sgd_hyper(const SGDOptions& options, int64_t steps, double lr, double momentum,
                           double weight_decay) {
  return {static_cast<float>(lr), static_cast<float>(momentum), static_cast<float>(1.0 - options.dampening()),
          static_cast<float>(weight_decay), options.nesterov(), steps == 0};
}
}  // namespace

std::vector<float> SGD::hyper_words(int64_t steps, const Group& g) const {
  return as_words(sgd_hyper(options_, steps, g.lr, g.momentum, g.weight_decay));
}

void SGD::step() {
  fused_step<nnmath::SgdHyper>(
      [&](int64_t steps, const Group& g) { return sgd_hyper(options_, steps, g.lr, g.momentum, g.weight_decay); },
      [](float* __restrict p, const float* __restrict grad, float* __restrict s0, float*, float*, int64_t n,
         const nnmath::SgdHyper& h) {
        if (s0 != nullptr) {
#pragma omp simd
          for (int64_t i = 0; i < n; ++i) nnmath::sgd_update(p[i], grad[i], s0[i], h);
        } else {
#pragma omp simd
          for (int64_t i = 0; i < n; ++i) {
            float no_buffer = 0.0f;
            nnmath::sgd_update(p[i], grad[i], no_buffer, h);
          }
        }
      });
}

Adam::Adam(std::vector<ParamGroup> groups, const AdamOptions& options, bool decoupled)
    : Optimizer(std::move(groups), {options.lr(), options.weight_decay(), options.beta1()},
                options.amsgrad() ? std::vector<std::string>{"exp_avg", "exp_avg_sq", "max_exp_avg_sq"}
                                  : std::vector<std::string>{"exp_avg", "exp_avg_sq"}),
      options_(options), decoupled_(decoupled) {
  check_adam_family(options.eps(), options.beta2());
}

void Optimizer::check_adam_family(double eps, double beta2) const {
  check_non_negative(eps, "epsilon value");
  for (const Group& g : groups_)
    NORMRT_CHECK(g.momentum >= 0.0 && g.momentum < 1.0, "Invalid beta parameter at index 0: ", g.momentum);
  NORMRT_CHECK(beta2 >= 0.0 && beta2 < 1.0, "Invalid beta parameter at index 1: ", beta2);
}

namespace {
nnmath::AdamHyper adam_hyper(const AdamOptions& options, bool decoupled, int64_t steps, double lr, double beta1,
                             double weight_decay) {
  const double t = static_cast<double>(steps + 1);
  NORMRT_CHECK(beta1 >= 0.0 && beta1 < 1.0, "Invalid beta parameter at index 0: ", beta1);
  const double bias_correction1 = 1.0 - std::pow(beta1, t);
  const double bias_correction2 = 1.0 - std::pow(options.beta2(), t);
  return {static_cast<float>(beta1),
          static_cast<float>(options.beta2()),
          static_cast<float>(1.0 - beta1),
          static_cast<float>(1.0 - options.beta2()),
          static_cast<float>(options.eps()),
          static_cast<float>(weight_decay),
          decoupled,
          options.amsgrad(),
          static_cast<float>(1.0 - lr * weight_decay),
          static_cast<float>(lr / bias_correction1),
          static_cast<float>(std::sqrt(bias_correction2))};
}
}  // namespace

std::vector<float> Adam::hyper_words(int64_t steps, const Group& g) const {
  return as_words(adam_hyper(options_, decoupled_, steps, g.lr, g.momentum, g.weight_decay));
}

void Adam::step() {
  fused_step<nnmath::AdamHyper>(
      [&](int64_t steps, const Group& g) {
        return adam_hyper(options_, decoupled_, steps, g.lr, g.momentum, g.weight_decay);
      },
      [](float* __restrict p, const float* __restrict grad, float* __restrict s0, float* __restrict s1,
         float* __restrict s2, int64_t n, const nnmath::AdamHyper& h) {
        if (h.amsgrad) {
#pragma omp simd
          for (int64_t i = 0; i < n; ++i) nnmath::adam_amsgrad_update(p[i], grad[i], s0[i], s1[i], s2[i], h);
        } else {
#pragma omp simd
          for (int64_t i = 0; i < n; ++i) nnmath::adam_update(p[i], grad[i], s0[i], s1[i], h);
        }
      });
}

Adadelta::Adadelta(std::vector<ParamGroup> groups, const AdadeltaOptions& options)
    : Optimizer(std::move(groups), {options.lr(), options.weight_decay(), 0.0}, {"square_avg", "acc_delta"}),
      options_(options) {
  check_non_negative(options.eps(), "epsilon value");
  NORMRT_CHECK(options.rho() >= 0.0 && options.rho() <= 1.0, "Invalid rho value: ", options.rho());
  for (const Group& g : groups_)
    NORMRT_CHECK(g.momentum == 0.0, "Adadelta has no momentum to set in a parameter group");
}

namespace {
nnmath::AdadeltaHyper adadelta_hyper(const AdadeltaOptions& options, double lr, double weight_decay) {
  return {static_cast<float>(lr), static_cast<float>(options.rho()), static_cast<float>(1.0 - options.rho()),
          static_cast<float>(options.eps()), static_cast<float>(weight_decay)};
}
}  // namespace

std::vector<float> Adadelta::hyper_words(int64_t, const Group& g) const {
  return as_words(adadelta_hyper(options_, g.lr, g.weight_decay));
}

void Adadelta::step() {
  fused_step<nnmath::AdadeltaHyper>(
      [&](int64_t /*steps*/, const Group& g) { return adadelta_hyper(options_, g.lr, g.weight_decay); },
      [](float* __restrict p, const float* __restrict grad, float* __restrict s0, float* __restrict s1, float*,
         int64_t n, const nnmath::AdadeltaHyper& h) {
#pragma omp simd
        for (int64_t i = 0; i < n; ++i) nnmath::adadelta_update(p[i], grad[i], s0[i], s1[i], h);
      });
}

RMSprop::RMSprop(std::vector<ParamGroup> groups, const RMSpropOptions& options)
    : Optimizer(std::move(groups), {options.lr(), options.weight_decay(), options.momentum()}, {"square_avg"}),
      options_(options) {
  check_non_negative(options.eps(), "epsilon value");
  check_non_negative(options.alpha(), "alpha value");
  std::vector<std::string> added;
  if (options.centered()) added.push_back("grad_avg");
  // One momentum buffer per parameter when any group uses momentum (the others leave it untouched).
  if (std::any_of(groups_.begin(), groups_.end(), [](const Group& g) { return g.momentum != 0.0; }))
    added.push_back("momentum_buffer");
  for (const std::string& name : added) {
    slot_names_.push_back(name);
    for (std::size_t i = 0; i < params_.size(); ++i) state_[i].slots.push_back(slot_like(params_[i]));
  }
}

namespace {
nnmath::RmspropHyper rmsprop_hyper(const RMSpropOptions& options, double lr, double momentum, double weight_decay) {
  return {static_cast<float>(lr),
          static_cast<float>(options.alpha()),
          static_cast<float>(1.0 - options.alpha()),
          static_cast<float>(options.eps()),
          static_cast<float>(weight_decay),
          static_cast<float>(momentum),
          options.centered(),
          momentum > 0.0};
}
}  // namespace

std::vector<float> RMSprop::hyper_words(int64_t, const Group& g) const {
  return as_words(rmsprop_hyper(options_, g.lr, g.momentum, g.weight_decay));
}

void RMSprop::step() {
  fused_step<nnmath::RmspropHyper>(
      [&](int64_t /*steps*/, const Group& g) { return rmsprop_hyper(options_, g.lr, g.momentum, g.weight_decay); },
      [](float* __restrict p, const float* __restrict grad, float* __restrict s0, float* __restrict s1,
         float* __restrict s2, int64_t n, const nnmath::RmspropHyper& h) {
        // Slots: square_avg, grad_avg (centered), the momentum buffer; a register stands in for each one this step
        // does not use, one loop per combination so that each vectorises.
        float* const buffer = h.centered ? s2 : s1;
        if (h.centered && h.use_buffer) {
#pragma omp simd
          for (int64_t i = 0; i < n; ++i) nnmath::rmsprop_update(p[i], grad[i], s0[i], s1[i], buffer[i], h);
        } else if (h.centered) {
#pragma omp simd
          for (int64_t i = 0; i < n; ++i) {
            float unused = 0.0f;
            nnmath::rmsprop_update(p[i], grad[i], s0[i], s1[i], unused, h);
          }
        } else if (h.use_buffer) {
#pragma omp simd
          for (int64_t i = 0; i < n; ++i) {
            float unused = 0.0f;
            nnmath::rmsprop_update(p[i], grad[i], s0[i], unused, buffer[i], h);
          }
        } else {
#pragma omp simd
          for (int64_t i = 0; i < n; ++i) {
            float unused = 0.0f;
            nnmath::rmsprop_update(p[i], grad[i], s0[i], unused, unused, h);
          }
        }
      });
}

Adagrad::Adagrad(std::vector<ParamGroup> groups, const AdagradOptions& options)
    : Optimizer(std::move(groups), {options.lr(), options.weight_decay(), 0.0}, {"sum"}), options_(options) {
  check_non_negative(options.lr_decay(), "lr_decay value");
  check_non_negative(options.initial_accumulator_value(), "initial_accumulator_value value");
  check_non_negative(options.eps(), "epsilon value");
  for (const Group& g : groups_)
    NORMRT_CHECK(g.momentum == 0.0, "Adagrad has no momentum to set in a parameter group");
  if (options.initial_accumulator_value() != 0.0)
    for (std::size_t i = 0; i < params_.size(); ++i)
      state_[i].slots[0] = full(params_[i].sizes(), options.initial_accumulator_value(),
                                TensorOptions(params_[i].device()).memory_format(params_[i].memory_format()));
}

namespace {
nnmath::AdagradHyper adagrad_hyper(const AdagradOptions& options, int64_t steps, double lr, double weight_decay) {
  const double step_lr = lr / (1.0 + static_cast<double>(steps) * options.lr_decay());
  return {static_cast<float>(-step_lr), static_cast<float>(options.eps()), static_cast<float>(weight_decay)};
}
}  // namespace

std::vector<float> Adagrad::hyper_words(int64_t steps, const Group& g) const {
  return as_words(adagrad_hyper(options_, steps, g.lr, g.weight_decay));
}

void Adagrad::step() {
  fused_step<nnmath::AdagradHyper>(
      [&](int64_t steps, const Group& g) { return adagrad_hyper(options_, steps, g.lr, g.weight_decay); },
      [](float* __restrict p, const float* __restrict grad, float* __restrict s0, float*, float*, int64_t n,
         const nnmath::AdagradHyper& h) {
#pragma omp simd
        for (int64_t i = 0; i < n; ++i) nnmath::adagrad_update(p[i], grad[i], s0[i], h);
      });
}

Adamax::Adamax(std::vector<ParamGroup> groups, const AdamaxOptions& options)
    : Optimizer(std::move(groups), {options.lr(), options.weight_decay(), options.beta1()}, {"exp_avg", "exp_inf"}),
      options_(options) {
  check_adam_family(options.eps(), options.beta2());
}

namespace {
nnmath::AdamaxHyper adamax_hyper(const AdamaxOptions& options, int64_t steps, double lr, double beta1,
                                 double weight_decay) {
  NORMRT_CHECK(beta1 >= 0.0 && beta1 < 1.0, "Invalid beta parameter at index 0: ", beta1);
  const double bias_correction = 1.0 - std::pow(beta1, static_cast<double>(steps + 1));
  return {static_cast<float>(beta1),        static_cast<float>(options.beta2()),
          static_cast<float>(1.0 - beta1),  static_cast<float>(options.eps()),
          static_cast<float>(weight_decay), static_cast<float>(-(lr / bias_correction))};
}
}  // namespace

std::vector<float> Adamax::hyper_words(int64_t steps, const Group& g) const {
  return as_words(adamax_hyper(options_, steps, g.lr, g.momentum, g.weight_decay));
}

void Adamax::step() {
  fused_step<nnmath::AdamaxHyper>(
      [&](int64_t steps, const Group& g) { return adamax_hyper(options_, steps, g.lr, g.momentum, g.weight_decay); },
      [](float* __restrict p, const float* __restrict grad, float* __restrict s0, float* __restrict s1, float*,
         int64_t n, const nnmath::AdamaxHyper& h) {
#pragma omp simd
        for (int64_t i = 0; i < n; ++i) nnmath::adamax_update(p[i], grad[i], s0[i], s1[i], h);
      });
}

RAdam::RAdam(std::vector<ParamGroup> groups, const RAdamOptions& options)
    : Optimizer(std::move(groups), {options.lr(), options.weight_decay(), options.beta1()}, {"exp_avg", "exp_avg_sq"}),
      options_(options) {
  check_adam_family(options.eps(), options.beta2());
}

namespace {
// PyTorch's RAdam step arithmetic in double: the bias corrections, the SMA lengths rho_inf and rho_t, and the
// rectification term where rho_t > 5.
nnmath::RadamHyper radam_hyper(const RAdamOptions& options, int64_t steps, double lr, double beta1,
                               double weight_decay) {
  NORMRT_CHECK(beta1 >= 0.0 && beta1 < 1.0, "Invalid beta parameter at index 0: ", beta1);
  const double t = static_cast<double>(steps + 1), beta2 = options.beta2();
  const double bias_correction1 = 1.0 - std::pow(beta1, t), bias_correction2 = 1.0 - std::pow(beta2, t);
  const double rho_inf = 2.0 / (1.0 - beta2) - 1.0;
  const double rho_t = rho_inf - 2.0 * t * std::pow(beta2, t) / bias_correction2;
  const bool rectified = rho_t > 5.0;
  const double rect = rectified ? std::sqrt((rho_t - 4) * (rho_t - 2) * rho_inf /
                                            ((rho_inf - 4) * (rho_inf - 2) * rho_t))
                                : 0.0;
  return {static_cast<float>(beta1),
          static_cast<float>(beta2),
          static_cast<float>(1.0 - beta1),
          static_cast<float>(1.0 - beta2),
          static_cast<float>(options.eps()),
          static_cast<float>(weight_decay),
          static_cast<float>(bias_correction1),
          static_cast<float>(lr),
          static_cast<float>(std::sqrt(bias_correction2)),
          static_cast<float>(rect),
          rectified};
}
}  // namespace

std::vector<float> RAdam::hyper_words(int64_t steps, const Group& g) const {
  return as_words(radam_hyper(options_, steps, g.lr, g.momentum, g.weight_decay));
}

void RAdam::step() {
  fused_step<nnmath::RadamHyper>(
      [&](int64_t steps, const Group& g) { return radam_hyper(options_, steps, g.lr, g.momentum, g.weight_decay); },
      [](float* __restrict p, const float* __restrict grad, float* __restrict s0, float* __restrict s1, float*,
         int64_t n, const nnmath::RadamHyper& h) {
#pragma omp simd
        for (int64_t i = 0; i < n; ++i) nnmath::radam_update(p[i], grad[i], s0[i], s1[i], h);
      });
}

LRScheduler::LRScheduler(Optimizer& optimizer) : optimizer_(optimizer) {
  for (std::size_t g = 0; g < optimizer.num_groups(); ++g) {
    if (!optimizer.initial_lr(g)) optimizer.set_initial_lr(g, optimizer.lr(g));
    base_lrs_.push_back(*optimizer.initial_lr(g));
  }
}

std::vector<double> GroupwiseLRScheduler::lrs_at(int64_t epoch) const {
  std::vector<double> lrs;
  for (double base : base_lrs_) lrs.push_back(lr_at(epoch, base));
  return lrs;
}

void LRScheduler::set_epoch(int64_t epoch) {
  const std::vector<double> lrs = lrs_at(epoch);  // may throw (OneCycleLR past its end)
  epoch_ = epoch;
  for (std::size_t g = 0; g < lrs.size(); ++g) optimizer_.set_lr(g, lrs[g]);
  extra_at(epoch);
}

StepLR::StepLR(Optimizer& optimizer, int64_t step_size, double gamma)
    : GroupwiseLRScheduler(optimizer), step_size_(step_size), gamma_(gamma) {
  NORMRT_CHECK(step_size > 0, "StepLR: step_size must be positive, got ", step_size);
  start();
}

double StepLR::lr_at(int64_t epoch, double base_lr) const {
  return base_lr * std::pow(gamma_, static_cast<double>(epoch / step_size_));
}

constexpr double kPi = 3.14159265358979323846;

LambdaLR::LambdaLR(Optimizer& optimizer, Lambda lr_lambda)
    : LambdaLR(optimizer, std::vector<Lambda>(optimizer.num_groups(), lr_lambda)) {}

LambdaLR::LambdaLR(Optimizer& optimizer, std::vector<Lambda> lr_lambdas)
    : LRScheduler(optimizer), lambdas_(std::move(lr_lambdas)) {
  NORMRT_CHECK(lambdas_.size() == base_lrs_.size(), "Expected ", base_lrs_.size(), " lr_lambdas, but got ",
               lambdas_.size());
  for (const Lambda& f : lambdas_) NORMRT_CHECK(static_cast<bool>(f), "LambdaLR: an lr_lambda is empty");
  start();
}

std::vector<double> LambdaLR::lrs_at(int64_t epoch) const {
  std::vector<double> lrs;
  for (std::size_t g = 0; g < base_lrs_.size(); ++g) lrs.push_back(base_lrs_[g] * lambdas_[g](epoch));
  return lrs;
}

ConstantLR::ConstantLR(Optimizer& optimizer, double factor, int64_t total_iters)
    : GroupwiseLRScheduler(optimizer), factor_(factor), total_iters_(total_iters) {
  NORMRT_CHECK(factor >= 0.0 && factor <= 1.0, "Constant multiplicative factor expected to be between 0 and 1.");
  start();
}

double ConstantLR::lr_at(int64_t epoch, double base_lr) const {
  return base_lr * (factor_ + (epoch >= total_iters_ ? 1.0 - factor_ : 0.0));
}

PolynomialLR::PolynomialLR(Optimizer& optimizer, int64_t total_iters, double power)
    : GroupwiseLRScheduler(optimizer), total_iters_(total_iters), power_(power) {
  NORMRT_CHECK(total_iters > 0, "PolynomialLR: total_iters must be positive, got ", total_iters);
  start();
}

double PolynomialLR::lr_at(int64_t epoch, double base_lr) const {
  const double done = static_cast<double>(std::min(total_iters_, epoch)) / static_cast<double>(total_iters_);
  return base_lr * std::pow(1.0 - done, power_);
}

CosineAnnealingWarmRestarts::CosineAnnealingWarmRestarts(Optimizer& optimizer, int64_t t_0, int64_t t_mult,
                                                         double eta_min)
    : GroupwiseLRScheduler(optimizer), t_0_(t_0), t_mult_(t_mult), eta_min_(eta_min) {
  NORMRT_CHECK(t_0 > 0, "Expected positive integer T_0, but got ", t_0);
  NORMRT_CHECK(t_mult >= 1, "Expected integer T_mult >= 1, but got ", t_mult);
  start();
}

double CosineAnnealingWarmRestarts::lr_at(int64_t epoch, double base_lr) const {
  NORMRT_CHECK(epoch >= 0, "Expected non-negative epoch, but got ", epoch);
  // The cycle holding `epoch` in integers, as step() advances T_cur and T_i (no logarithm to round).
  int64_t t_cur = epoch, t_i = t_0_;
  if (t_mult_ == 1) {
    t_cur = epoch % t_0_;
  } else {
    while (t_cur >= t_i) {
      t_cur -= t_i;
      t_i *= t_mult_;
    }
  }
  const double angle = kPi * static_cast<double>(t_cur) / static_cast<double>(t_i);
  return eta_min_ + (base_lr - eta_min_) * (1 + std::cos(angle)) / 2;
}

SequentialLR::SequentialLR(Optimizer& optimizer, std::vector<std::shared_ptr<LRScheduler>> schedulers,
                           std::vector<int64_t> milestones)
    : LRScheduler(optimizer), schedulers_(std::move(schedulers)), milestones_(std::move(milestones)) {
  NORMRT_CHECK(!schedulers_.empty(), "SequentialLR: expects at least one scheduler");
  for (std::size_t i = 0; i < schedulers_.size(); ++i)
    NORMRT_CHECK(schedulers_[i] != nullptr && &schedulers_[i]->optimizer_ == &optimizer,
                 "Sequential Schedulers expects all schedulers to belong to the same optimizer, but got schedulers at "
                 "index ", i, " to be different than the optimizer passed in.");
  NORMRT_CHECK(milestones_.size() == schedulers_.size() - 1,
               "Sequential Schedulers expects number of schedulers provided to be one more than the number of "
               "milestone points, but got number of schedulers ", schedulers_.size(),
               " and the number of milestones to be equal to ", milestones_.size());
  NORMRT_CHECK(std::is_sorted(milestones_.begin(), milestones_.end()),
               "SequentialLR: milestones must be in increasing order, got ", shape_str(milestones_));
  start();
}

std::pair<std::size_t, int64_t> SequentialLR::locate(int64_t epoch) const {
  const auto index =
      static_cast<std::size_t>(std::upper_bound(milestones_.begin(), milestones_.end(), epoch) - milestones_.begin());
  return {index, index == 0 ? epoch : epoch - milestones_[index - 1]};
}

std::vector<double> SequentialLR::lrs_at(int64_t epoch) const {
  const auto [index, own_epoch] = locate(epoch);
  return schedulers_[index]->lrs_at(own_epoch);
}

void SequentialLR::extra_at(int64_t epoch) {
  const auto [index, own_epoch] = locate(epoch);
  schedulers_[index]->extra_at(own_epoch);
}

MultiStepLR::MultiStepLR(Optimizer& optimizer, std::vector<int64_t> milestones, double gamma)
    : GroupwiseLRScheduler(optimizer), milestones_(std::move(milestones)), gamma_(gamma) {
  std::sort(milestones_.begin(), milestones_.end());
  start();
}

double MultiStepLR::lr_at(int64_t epoch, double base_lr) const {
  const auto passed = std::upper_bound(milestones_.begin(), milestones_.end(), epoch) - milestones_.begin();
  return base_lr * std::pow(gamma_, static_cast<double>(passed));
}

ExponentialLR::ExponentialLR(Optimizer& optimizer, double gamma)
    : GroupwiseLRScheduler(optimizer), gamma_(gamma) {
  start();
}

double ExponentialLR::lr_at(int64_t epoch, double base_lr) const {
  return base_lr * std::pow(gamma_, static_cast<double>(epoch));
}

CosineAnnealingLR::CosineAnnealingLR(Optimizer& optimizer, int64_t t_max, double eta_min)
    : GroupwiseLRScheduler(optimizer), t_max_(t_max), eta_min_(eta_min) {
  NORMRT_CHECK(t_max > 0, "CosineAnnealingLR: T_max must be positive, got ", t_max);
  start();
}

double CosineAnnealingLR::lr_at(int64_t epoch, double base_lr) const {
  return eta_min_ +
         (base_lr - eta_min_) * (1 + std::cos(kPi * static_cast<double>(epoch) / static_cast<double>(t_max_))) / 2;
}

LinearLR::LinearLR(Optimizer& optimizer, double start_factor, double end_factor, int64_t total_iters)
    : GroupwiseLRScheduler(optimizer),
      start_factor_(start_factor),
      end_factor_(end_factor),
      total_iters_(total_iters) {
  NORMRT_CHECK(start_factor > 0 && start_factor <= 1,
               "Starting multiplicative factor expected to be greater than 0 and less or equal to 1.");
  NORMRT_CHECK(end_factor >= 0 && end_factor <= 1, "Ending multiplicative factor expected to be between 0 and 1.");
  NORMRT_CHECK(total_iters > 0, "LinearLR: total_iters must be positive, got ", total_iters);
  start();
}

double LinearLR::lr_at(int64_t epoch, double base_lr) const {
  const double done = static_cast<double>(std::min(epoch, total_iters_)) / static_cast<double>(total_iters_);
  return base_lr * (start_factor_ + (end_factor_ - start_factor_) * done);
}

OneCycleLR::OneCycleLR(Optimizer& optimizer, const OneCycleLROptions& o)
    : GroupwiseLRScheduler(optimizer), options_(o) {
  NORMRT_CHECK(o.total_steps() > 0, "Expected positive integer total_steps, but got ", o.total_steps());
  NORMRT_CHECK(o.pct_start() >= 0 && o.pct_start() <= 1, "Expected float between 0 and 1 pct_start, but got ",
               o.pct_start());
  NORMRT_CHECK(o.div_factor() > 0 && o.final_div_factor() > 0,
               "OneCycleLR: div_factor and final_div_factor must be positive");
  NORMRT_CHECK(!o.cycle_momentum() || optimizer.has_momentum(),
               "optimizer must support momentum with `cycle_momentum` option enabled (SGD and RMSprop need "
               "momentum > 0 at construction)");
  // PyTorch's phases, with lrs as multiples of the initial lr max_lr / div_factor.
  const double steps = static_cast<double>(o.total_steps());
  const double initial = 1.0, peak = o.div_factor(), final = 1.0 / o.final_div_factor();
  const double up = o.pct_start() * steps - 1;
  if (o.three_phase()) {
    phases_ = {{up, initial, peak, o.max_momentum(), o.base_momentum()},
               {2 * o.pct_start() * steps - 2, peak, initial, o.base_momentum(), o.max_momentum()},
               {steps - 1, initial, final, o.max_momentum(), o.max_momentum()}};
  } else {
    phases_ = {{up, initial, peak, o.max_momentum(), o.base_momentum()},
               {steps - 1, peak, final, o.base_momentum(), o.max_momentum()}};
  }
  NORMRT_CHECK(o.max_lrs().empty() || o.max_lrs().size() == base_lrs_.size(), "expected ", base_lrs_.size(),
               " values for max_lr, got ", o.max_lrs().size());
  for (std::size_t g = 0; g < base_lrs_.size(); ++g) {  // every group starts from its max_lr / div_factor
    const double max_lr = o.max_lrs().empty() ? o.max_lr() : o.max_lrs()[g];
    NORMRT_CHECK(max_lr > 0, "OneCycleLR: max_lr must be positive, got ", max_lr);
    base_lrs_[g] = max_lr / o.div_factor();
    optimizer.set_initial_lr(g, base_lrs_[g]);  // as PyTorch's OneCycleLR writes initial_lr
  }
  start();
}

double OneCycleLR::anneal(double start, double end, double pct) const {
  if (options_.cos_anneal()) return end + (start - end) / 2.0 * (std::cos(kPi * pct) + 1);
  return (end - start) * pct + start;
}

std::pair<const OneCycleLR::Phase*, double> OneCycleLR::locate(int64_t step) const {
  NORMRT_CHECK(step <= options_.total_steps(), "Tried to step ", step,
               " times. The specified number of total steps is ", options_.total_steps());
  double start_step = 0;
  for (std::size_t i = 0; i < phases_.size(); ++i) {
    const Phase& phase = phases_[i];
    if (static_cast<double>(step) <= phase.end_step || i + 1 == phases_.size())
      return {&phase, (static_cast<double>(step) - start_step) / (phase.end_step - start_step)};
    start_step = phase.end_step;
  }
  return {&phases_.back(), 1.0};
}

double OneCycleLR::lr_at(int64_t epoch, double base_lr) const {
  const auto [phase, pct] = locate(epoch);
  return anneal(phase->start_lr * base_lr, phase->end_lr * base_lr, pct);
}

void OneCycleLR::extra_at(int64_t epoch) {
  if (!options_.cycle_momentum()) return;
  const auto [phase, pct] = locate(epoch);
  for (std::size_t g = 0; g < optimizer().num_groups(); ++g)
    optimizer().set_momentum(g, anneal(phase->start_momentum, phase->end_momentum, pct));
}

ReduceLROnPlateau::ReduceLROnPlateau(Optimizer& optimizer, const ReduceLROnPlateauOptions& options)
    : optimizer_(optimizer), options_(options),
      best_(options.maximize() ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::infinity()) {
  NORMRT_CHECK(options.factor() < 1.0, "Factor should be < 1.0.");
  NORMRT_CHECK(options.factor() >= 0.0 && options.patience() >= 0 && options.cooldown() >= 0 &&
                   options.min_lr() >= 0.0,
               "ReduceLROnPlateau: factor, patience, cooldown and min_lr must be non-negative");
}

bool ReduceLROnPlateau::is_better(double a) const {
  const double t = options_.threshold();
  if (options_.maximize()) return options_.relative_threshold() ? a > best_ * (1 + t) : a > best_ + t;
  return options_.relative_threshold() ? a < best_ * (1 - t) : a < best_ - t;
}

void ReduceLROnPlateau::step(double metric) {
  if (is_better(metric)) {
    best_ = metric;
    bad_epochs_ = 0;
  } else {
    ++bad_epochs_;
  }
  if (cooldown_counter_ > 0) {
    --cooldown_counter_;
    bad_epochs_ = 0;
  }
  if (bad_epochs_ > options_.patience()) {
    for (std::size_t g = 0; g < optimizer_.num_groups(); ++g) {
      const double old_lr = optimizer_.lr(g);
      const double new_lr = std::max(old_lr * options_.factor(), options_.min_lr());
      if (old_lr - new_lr > options_.eps()) optimizer_.set_lr(g, new_lr);
    }
    cooldown_counter_ = options_.cooldown();
    bad_epochs_ = 0;
  }
}

}  // namespace normrt::optim
