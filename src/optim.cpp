#include "normrt/optim.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "cuda_launch.h"
#include "nn_math.cuh"
#include "normrt/cuda.h"
#include "normrt/error.h"
#include "nvtx.h"
#if NORMRT_WITH_CUDA
#include "optimizer.cuh"
#endif

namespace normrt::optim {

namespace {

// Applies `cpu_update(param, grad, slot0, slot1)` per element on the CPU, or `launch(list)` over the tensors in
// fused groups on a GPU.
template <typename CpuUpdate, typename CudaLaunch>
void apply(const std::vector<Tensor*>& params, const std::vector<std::vector<Tensor>*>& slots, CpuUpdate cpu_update,
           CudaLaunch cuda_launch) {
  if (params.empty()) return;
  const Device device = params[0]->device();
  if (device.is_cpu()) {
    float dummy = 0.0f;
    for (std::size_t t = 0; t < params.size(); ++t) {
      float* p = params[t]->data<float>();
      const float* g = params[t]->grad().data<float>();
      std::vector<Tensor>& s = *slots[t];
      float* s0 = s.size() > 0 ? s[0].data<float>() : nullptr;
      float* s1 = s.size() > 1 ? s[1].data<float>() : nullptr;
      const int64_t n = params[t]->numel();
      for (int64_t i = 0; i < n; ++i) cpu_update(p[i], g[i], s0 ? s0[i] : dummy, s1 ? s1[i] : dummy);
    }
    return;
  }
#if NORMRT_WITH_CUDA
  const int index = device.index();
  cuda::DeviceGuard guard(index);
  const cudaStream_t stream = cuda::current_stream(index);
  const int sms = cuda::sm_count(index);
  normrt::cuda::TensorList list;
  int64_t end = 0;
  for (std::size_t t = 0; t < params.size(); ++t) {
    const int k = list.count++;
    std::vector<Tensor>& s = *slots[t];
    list.param[k] = params[t]->data<float>();
    list.grad[k] = params[t]->grad().data<float>();
    list.state1[k] = s.size() > 0 ? s[0].data<float>() : nullptr;
    list.state2[k] = s.size() > 1 ? s[1].data<float>() : nullptr;
    end += params[t]->numel();
    list.end[k] = end;
    if (list.count == normrt::cuda::kMaxTensors || t + 1 == params.size()) {
      cuda_launch(list, sms, stream);
      list = normrt::cuda::TensorList{};
      end = 0;
    }
  }
#else
  (void)cuda_launch;
  NORMRT_THROW("optimizer step on ", device.str(), " needs a build with CUDA");
#endif
}

void check_non_negative(double value, const char* what) {
  NORMRT_CHECK(std::isfinite(value) && value >= 0.0, "Invalid ", what, ": ", value);
}

}  // namespace

Optimizer::Optimizer(std::vector<Tensor> params, double lr, std::vector<std::string> slots)
    : params_(std::move(params)), slot_names_(std::move(slots)), lr_(lr) {
  check_non_negative(lr, "learning rate");
  for (std::size_t i = 0; i < params_.size(); ++i) {
    const Tensor& p = params_[i];
    NORMRT_CHECK(p.defined() && p.dtype() == DType::Float32, "optimizer parameter ", i, " must be a float32 tensor");
    NORMRT_CHECK(p.device() == params_[0].device(), "optimizer parameters must all be on one device, got ",
                 params_[0].device().str(), " and ", p.device().str(), " (parameter ", i, ")");
  }
  for (const Tensor& p : params_) {
    ParamState s;
    for (std::size_t k = 0; k < slot_names_.size(); ++k) s.slots.push_back(zeros(p.sizes(), p.device()));
    state_.push_back(std::move(s));
  }
}

void Optimizer::zero_grad() {
  for (Tensor& p : params_) p.mutable_grad() = Tensor();
}

template <typename Fn>
void Optimizer::for_each_group(Fn update) {
  const detail::NvtxRange range("optimizer step");
  std::map<int64_t, std::vector<std::size_t>> groups;
  for (std::size_t i = 0; i < params_.size(); ++i) {
    if (!params_[i].grad().defined()) continue;
    NORMRT_CHECK(params_[i].grad().sizes() == params_[i].sizes(), "optimizer: gradient of parameter ", i,
                 " has shape ", shape_str(params_[i].grad().sizes()), ", the parameter ", shape_str(params_[i].sizes()));
    groups[state_[i].steps].push_back(i);
  }
  for (auto& [steps, indices] : groups) {
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
    NORMRT_CHECK(std::all_of(params.begin(), params.end(), [&](const Tensor* p) { return p->device() == params[0]->device(); }),
                 "optimizer parameters must all be on one device, got ", params[0]->device().str(), " and another");
    update(params, slots, steps);
    for (std::size_t i : indices) {
      ++state_[i].steps;
      params_[i].bump_version();
      for (Tensor& slot : state_[i].slots) slot.bump_version();
    }
  }
}

nn::NamedTensors Optimizer::state() const {
  nn::NamedTensors out;
  for (std::size_t i = 0; i < state_.size(); ++i) {
    for (std::size_t k = 0; k < slot_names_.size(); ++k)
      out.emplace_back(std::to_string(i) + "." + slot_names_[k], state_[i].slots[k]);
    out.emplace_back(std::to_string(i) + ".step",
                     from_vector(std::vector<int64_t>{state_[i].steps}, {}));
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
      const bool non_negative = slot_names_[k] != "exp_avg" && slot_names_[k] != "momentum_buffer";
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
  std::size_t e = 0;
  for (std::size_t i = 0; i < state_.size(); ++i) {
    for (std::size_t k = 0; k < slot_names_.size(); ++k) state_[i].slots[k].copy_(state[e++].second);
    state_[i].steps = state[e++].second.to(Device::cpu()).item<int64_t>();
  }
}

SGD::SGD(std::vector<Tensor> params, const SGDOptions& options)
    : Optimizer(std::move(params), options.lr(),
                options.momentum() != 0.0 ? std::vector<std::string>{"momentum_buffer"} : std::vector<std::string>{}),
      options_(options) {
  check_non_negative(options.momentum(), "momentum value");
  check_non_negative(options.weight_decay(), "weight_decay value");
  NORMRT_CHECK(!options.nesterov() || (options.momentum() > 0 && options.dampening() == 0),
               "Nesterov momentum requires a momentum and zero dampening");
}

void SGD::step() {
  for_each_group([&](const std::vector<Tensor*>& params, const std::vector<std::vector<Tensor>*>& slots, int64_t steps) {
    const nnmath::SgdHyper h{static_cast<float>(lr_), static_cast<float>(options_.momentum()),
                             static_cast<float>(1.0 - options_.dampening()),
                             static_cast<float>(options_.weight_decay()), options_.nesterov(), steps == 0};
    apply(
        params, slots, [&](float& p, float g, float& s0, float&) { nnmath::sgd_update(p, g, s0, h); },
        [&](const auto& list, int sms, auto stream) {
#if NORMRT_WITH_CUDA
          normrt::cuda::sgd_step(list, h, sms, stream);
#else
          (void)list; (void)sms; (void)stream;
#endif
        });
  });
}

Adam::Adam(std::vector<Tensor> params, const AdamOptions& options, bool decoupled)
    : Optimizer(std::move(params), options.lr(), {"exp_avg", "exp_avg_sq"}), options_(options), decoupled_(decoupled) {
  check_non_negative(options.eps(), "epsilon value");
  check_non_negative(options.weight_decay(), "weight_decay value");
  NORMRT_CHECK(options.beta1() >= 0.0 && options.beta1() < 1.0, "Invalid beta parameter at index 0: ", options.beta1());
  NORMRT_CHECK(options.beta2() >= 0.0 && options.beta2() < 1.0, "Invalid beta parameter at index 1: ", options.beta2());
}

void Adam::step() {
  for_each_group([&](const std::vector<Tensor*>& params, const std::vector<std::vector<Tensor>*>& slots, int64_t steps) {
    const double t = static_cast<double>(steps + 1);
    const double bias_correction1 = 1.0 - std::pow(options_.beta1(), t);
    const double bias_correction2 = 1.0 - std::pow(options_.beta2(), t);
    const nnmath::AdamHyper h{static_cast<float>(options_.beta1()),
                              static_cast<float>(options_.beta2()),
                              static_cast<float>(1.0 - options_.beta1()),
                              static_cast<float>(1.0 - options_.beta2()),
                              static_cast<float>(options_.eps()),
                              static_cast<float>(options_.weight_decay()),
                              decoupled_,
                              static_cast<float>(1.0 - lr_ * options_.weight_decay()),
                              static_cast<float>(lr_ / bias_correction1),
                              static_cast<float>(std::sqrt(bias_correction2))};
    apply(
        params, slots, [&](float& p, float g, float& s0, float& s1) { nnmath::adam_update(p, g, s0, s1, h); },
        [&](const auto& list, int sms, auto stream) {
#if NORMRT_WITH_CUDA
          normrt::cuda::adam_step(list, h, sms, stream);
#else
          (void)list; (void)sms; (void)stream;
#endif
        });
  });
}

Adadelta::Adadelta(std::vector<Tensor> params, const AdadeltaOptions& options)
    : Optimizer(std::move(params), options.lr(), {"square_avg", "acc_delta"}), options_(options) {
  check_non_negative(options.eps(), "epsilon value");
  check_non_negative(options.weight_decay(), "weight_decay value");
  NORMRT_CHECK(options.rho() >= 0.0 && options.rho() <= 1.0, "Invalid rho value: ", options.rho());
}

void Adadelta::step() {
  for_each_group([&](const std::vector<Tensor*>& params, const std::vector<std::vector<Tensor>*>& slots, int64_t) {
    const nnmath::AdadeltaHyper h{static_cast<float>(lr_), static_cast<float>(options_.rho()),
                                  static_cast<float>(1.0 - options_.rho()), static_cast<float>(options_.eps()),
                                  static_cast<float>(options_.weight_decay())};
    apply(
        params, slots, [&](float& p, float g, float& s0, float& s1) { nnmath::adadelta_update(p, g, s0, s1, h); },
        [&](const auto& list, int sms, auto stream) {
#if NORMRT_WITH_CUDA
          normrt::cuda::adadelta_step(list, h, sms, stream);
#else
          (void)list; (void)sms; (void)stream;
#endif
        });
  });
}

StepLR::StepLR(Optimizer& optimizer, int64_t step_size, double gamma)
    : LRScheduler(optimizer), step_size_(step_size), gamma_(gamma) {
  NORMRT_CHECK(step_size > 0, "StepLR: step_size must be positive, got ", step_size);
}

double StepLR::lr_at(int64_t epoch) const {
  return base_lr() * std::pow(gamma_, static_cast<double>(epoch / step_size_));
}

CosineAnnealingLR::CosineAnnealingLR(Optimizer& optimizer, int64_t t_max, double eta_min)
    : LRScheduler(optimizer), t_max_(t_max), eta_min_(eta_min) {
  NORMRT_CHECK(t_max > 0, "CosineAnnealingLR: T_max must be positive, got ", t_max);
}

double CosineAnnealingLR::lr_at(int64_t epoch) const {
  const double pi = 3.14159265358979323846;
  return eta_min_ + (base_lr() - eta_min_) * (1 + std::cos(pi * static_cast<double>(epoch) / static_cast<double>(t_max_))) / 2;
}

}  // namespace normrt::optim
