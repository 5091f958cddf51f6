// GradScaler: torch.cuda.amp.GradScaler's control flow (stages per optimizer, the inf check, the scale update) on the
// CPU and on CUDA; the per-element math (is_finite, inverse_scale, update_loss_scale) lives in nn_math.cuh.
#include "normrt/amp.h"

#include <cmath>

#include "cuda_launch.h"
#include "nn_math.cuh"
#include "normrt/cuda.h"
#include "normrt/error.h"
#include "normrt/ops/elementwise.h"
#include "op_util.h"
#if NORMRT_WITH_CUDA
#include "optimizer.cuh"
#endif

namespace normrt::amp {

namespace {
thread_local std::optional<DType> g_autocast;
}  // namespace

AutocastGuard::AutocastGuard(DType dtype, bool enabled) : previous_(g_autocast) {
  NORMRT_CHECK(dtype == DType::Float16 || dtype == DType::BFloat16,
               "autocast: the dtype must be float16 or bfloat16, got ", dtype_name(dtype));
  g_autocast = enabled ? std::optional<DType>(dtype) : std::nullopt;
}

AutocastGuard::~AutocastGuard() { g_autocast = previous_; }

std::optional<DType> autocast_dtype() { return g_autocast; }

Tensor autocast_to_lower(const Tensor& t) {
  return g_autocast && t.defined() && is_floating(t.dtype()) ? t.to(*g_autocast) : t;
}

Tensor autocast_to_float32(const Tensor& t) {
  return g_autocast && t.defined() && is_floating(t.dtype()) ? t.to(DType::Float32) : t;
}

namespace {

void check_factors(double init_scale, double growth_factor, double backoff_factor, int64_t growth_interval) {
  NORMRT_CHECK(std::isfinite(init_scale) && init_scale > 0, "The scale must be a positive finite number, got ",
               init_scale);
  NORMRT_CHECK(std::isfinite(growth_factor) && growth_factor > 1.0, "The growth factor must be > 1.0.");
  NORMRT_CHECK(backoff_factor > 0.0 && backoff_factor < 1.0, "The backoff factor must be < 1.0 (and positive).");
  NORMRT_CHECK(growth_interval > 0, "The growth interval must be a positive integer, got ", growth_interval);
}

nnmath::LossScaleHyper hyper_of(const GradScalerOptions& o) {
  return {o.growth_factor(), o.backoff_factor(), o.growth_interval()};
}

}  // namespace

GradScaler::GradScaler(const GradScalerOptions& options) : options_(options), init_scale_(options.init_scale()) {
  if (options_.enabled())
    check_factors(options.init_scale(), options.growth_factor(), options.backoff_factor(), options.growth_interval());
}

void GradScaler::check_scale(const char* caller) const {
  NORMRT_CHECK(scale_.defined(), "Attempted ", caller, " but _scale is None.  This may indicate your script did not "
               "use scaler.scale(loss or outputs) earlier in the iteration.");
}

Tensor GradScaler::scale(const Tensor& outputs) {
  if (!options_.enabled()) return outputs;
  NORMRT_CHECK(outputs.defined() && is_floating(outputs.dtype()), "GradScaler.scale: expected a floating tensor");
  if (!scale_.defined()) {
    scale_ = full({1}, init_scale_, TensorOptions(outputs.device()));
    growth_tracker_ = full({1}, static_cast<double>(init_growth_tracker_),
                           TensorOptions(outputs.device()).dtype(DType::Int64));
  }
  NORMRT_CHECK(outputs.device() == scale_.device(), "GradScaler.scale: outputs on ", outputs.device().str(),
               ", the scale on ", scale_.device().str());
  return ops::mul(outputs.to(DType::Float32).contiguous(), scale_);
}

void GradScaler::unscale_(optim::Optimizer& optimizer) {
  if (!options_.enabled()) return;
  check_scale("unscale_");
  PerOptimizer& state = per_optimizer_[&optimizer];
  // After step() the stage is STEPPED whether or not unscale_() came first: PyTorch names the step.
  NORMRT_CHECK(!state.stepped, "unscale_() is being called after step().");
  NORMRT_CHECK(!state.unscaled, "unscale_() has already been called on this optimizer since the last update().");
  std::vector<Tensor> grads;
  for (const Tensor& p : optimizer.params()) {
    const Tensor& g = p.grad();
    if (!g.defined()) continue;
    NORMRT_CHECK(g.dtype() == DType::Float32, "Attempting to unscale FP16 gradients.");
    NORMRT_CHECK(g.device() == scale_.device(), "GradScaler: a gradient on ", g.device().str(), ", the scale on ",
                 scale_.device().str());
    grads.push_back(g);
  }
  if (grads.empty()) {  // nothing to check: step() refuses, as PyTorch's does
    state.unscaled = true;
    return;
  }
  Tensor found_inf = zeros({1}, TensorOptions(scale_.device()));
  if (scale_.device().is_cpu()) {
    const float inverse = nnmath::inverse_scale(scale_.data<float>()[0]);
    bool any = false;
    for (Tensor& g : grads) {
      float* v = ops::util::stored<float>(g);  // elementwise: any memory format
      const int64_t n = g.numel();
#pragma omp parallel for schedule(static) reduction(|| : any) if (n >= (int64_t{1} << 16))
      for (int64_t i = 0; i < n; ++i) {
        any = any || !nnmath::is_finite(v[i]);
        v[i] *= inverse;
      }
    }
    found_inf.data<float>()[0] = any ? 1.0f : 0.0f;
  } else {
#if NORMRT_WITH_CUDA
    const int index = scale_.device().index();
    cuda::DeviceGuard guard(index);
    const cudaStream_t stream = cuda::current_stream(index);
    const int sms = cuda::sm_count(index);
    normrt::cuda::for_each_tensor_list(
        grads.size(),
        [&](normrt::cuda::TensorList& list, int k, std::size_t t) {
          list.param[k] = ops::util::stored<float>(grads[t]);
          return grads[t].numel();
        },
        [&](const normrt::cuda::TensorList& list) {
          normrt::cuda::unscale_grads(list, scale_.data<float>(), found_inf.data<float>(), sms, stream);
        });
#endif
  }
  for (const Tensor& g : grads) g.bump_version();
  state.found_inf = found_inf;
  state.unscaled = true;
}

GradScaler::PerOptimizer& GradScaler::unscaled_for_step(optim::Optimizer& optimizer) {
  check_scale("step");
  NORMRT_CHECK(!per_optimizer_[&optimizer].stepped, "step() has already been called since the last update().");
  if (!per_optimizer_[&optimizer].unscaled) unscale_(optimizer);
  PerOptimizer& state = per_optimizer_[&optimizer];
  NORMRT_CHECK(state.found_inf.defined(), "No inf checks were recorded for this optimizer.");
  return state;
}

bool GradScaler::step(optim::Optimizer& optimizer) {
  if (!options_.enabled()) {
    optimizer.step();
    return true;
  }
  PerOptimizer& state = unscaled_for_step(optimizer);
  const bool skip = state.found_inf.item<float>() != 0.0f;
  if (!skip) optimizer.step();
  state.stepped = true;
  return !skip;
}

void GradScaler::step_on_device(optim::Optimizer& optimizer) {
  if (!options_.enabled()) {
    optimizer.step();
    return;
  }
  PerOptimizer& state = unscaled_for_step(optimizer);
  optimizer.step_unless(state.found_inf);
  state.stepped = true;
}

void GradScaler::update(std::optional<double> new_scale) {
  if (!options_.enabled()) return;
  check_scale("update");
  if (new_scale) {
    NORMRT_CHECK(std::isfinite(*new_scale) && *new_scale > 0, "new_scale must be a positive finite number, got ",
                 *new_scale);
    set_scale(*new_scale);
    per_optimizer_.clear();
    return;
  }
  Tensor found_inf;
  for (const auto& [optimizer, state] : per_optimizer_) {
    if (!state.found_inf.defined()) continue;
    found_inf = found_inf.defined() ? ops::add(found_inf, state.found_inf) : state.found_inf;
  }
  NORMRT_CHECK(found_inf.defined(), "No inf checks were recorded prior to update.");
  if (scale_.device().is_cpu()) {
    nnmath::update_loss_scale(scale_.data<float>()[0], growth_tracker_.data<int64_t>()[0],
                              found_inf.data<float>()[0] != 0.0f, hyper_of(options_));
  } else {
#if NORMRT_WITH_CUDA
    const int index = scale_.device().index();
    cuda::DeviceGuard guard(index);
    normrt::cuda::update_loss_scale(scale_.data<float>(), growth_tracker_.data<int64_t>(), found_inf.data<float>(),
                                    hyper_of(options_), cuda::current_stream(index));
#endif
  }
  scale_.bump_version();
  growth_tracker_.bump_version();
  per_optimizer_.clear();
}

void GradScaler::set_scale(double scale) {
  scale_.copy_(full({1}, scale, TensorOptions(Device::cpu())));
}

double GradScaler::get_scale() const {
  if (!options_.enabled()) return 1.0;
  return scale_.defined() ? static_cast<double>(scale_.item<float>()) : init_scale_;
}

GradScalerState GradScaler::state_dict() const {
  GradScalerState s;
  s.scale = get_scale();
  s.growth_factor = options_.growth_factor();
  s.backoff_factor = options_.backoff_factor();
  s.growth_interval = options_.growth_interval();
  s.growth_tracker = growth_tracker_.defined() ? growth_tracker_.item<int64_t>() : init_growth_tracker_;
  return s;
}

void GradScaler::load_state_dict(const GradScalerState& s) {
  NORMRT_CHECK(options_.enabled(), "GradScaler.load_state_dict: the scaler is disabled");
  check_factors(s.scale, s.growth_factor, s.backoff_factor, s.growth_interval);
  NORMRT_CHECK(s.growth_tracker >= 0, "The growth tracker must be non-negative, got ", s.growth_tracker);
  options_.growth_factor(s.growth_factor).backoff_factor(s.backoff_factor).growth_interval(s.growth_interval);
  init_scale_ = s.scale;
  init_growth_tracker_ = s.growth_tracker;
  if (scale_.defined()) {
    set_scale(s.scale);
    growth_tracker_.copy_(full({1}, static_cast<double>(s.growth_tracker), TensorOptions().dtype(DType::Int64)));
  }
}

}  // namespace normrt::amp
