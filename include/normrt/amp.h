// Dynamic loss scaling for mixed-precision training, with torch.cuda.amp.GradScaler's semantics: scale() multiplies
// the loss so that small float16 gradients do not flush to zero; step(optimizer) divides the gradients by the scale
// (unscale_) and steps unless one of them is inf or NaN; update() then backs the scale off after such a step, or
// grows it after growth_interval clean ones. The scale, the growth count and the inf flags live on the device of the
// first scaled tensor (no host round trip until step() reads the flag, as PyTorch's does).
#pragma once
#include <cstdint>
#include <map>
#include <optional>

#include "normrt/arg.h"
#include "normrt/optim.h"
#include "normrt/tensor.h"

namespace normrt::amp {

// torch.autocast for normrt's modules. While a guard lives on this thread, Linear and the convolutions compute in its
// dtype (float16 or bfloat16: input, weight and bias cast to it, products accumulated in float32, the output in it);
// the losses, LayerNorm, GroupNorm and Softmax/LogSoftmax compute in float32; every other layer (BatchNorm with its
// float32 parameters and running statistics, activations, pooling, dropout, the residual add) keeps its input's
// dtype. Parameters stay float32, the master weights: the 16-bit copy of a weight lives from one forward to its
// backward, and the gradient computed in 16 bits is added into the float32 grad. As autograd does, each module's
// backward takes the gradient in its output's dtype and returns it in its input's (Module::backward converts), so
// a float32 loss gradient may be handed to a network that ran under autocast. Guards nest; enabled = false turns
// autocast off inside an outer guard.
class AutocastGuard {
 public:
  explicit AutocastGuard(DType dtype, bool enabled = true);
  ~AutocastGuard();
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  std::optional<DType> previous_;
};

// The dtype of the innermost live guard on this thread; nullopt outside autocast (or inside a disabled guard).
std::optional<DType> autocast_dtype();
// For layers of one's own, as the built-in ones do: a floating t in the autocast dtype (the lower-precision ops), or
// in float32 (the float32 ops); t itself outside autocast, and for undefined or integer tensors.
Tensor autocast_to_lower(const Tensor& t);
Tensor autocast_to_float32(const Tensor& t);

class GradScalerOptions {
 public:
  NORMRT_ARG(double, init_scale) = 65536.0;
  NORMRT_ARG(double, growth_factor) = 2.0;
  NORMRT_ARG(double, backoff_factor) = 0.5;
  NORMRT_ARG(int64_t, growth_interval) = 2000;
  // false: scale() returns its input, step() just steps, update() does nothing.
  NORMRT_ARG(bool, enabled) = true;
};

// What state_dict() holds, as PyTorch's scaler.state_dict().
struct GradScalerState {
  double scale = 65536.0;
  double growth_factor = 2.0, backoff_factor = 0.5;
  int64_t growth_interval = 2000;
  int64_t growth_tracker = 0;
};

class GradScaler {
 public:
  explicit GradScaler(const GradScalerOptions& options = {});

  // outputs * scale, in float32 (a new tensor). The first call places the scale on outputs' device.
  Tensor scale(const Tensor& outputs);
  // Divides the gradients of the optimizer's parameters (float32) by the scale in place and records whether any was
  // inf or NaN. At most once per optimizer between update()s, and before its step().
  void unscale_(optim::Optimizer& optimizer);
  // unscale_() unless done already, then optimizer.step() unless a gradient was inf or NaN. Returns whether the
  // optimizer stepped.
  bool step(optim::Optimizer& optimizer);
  // step() with the skip decided where the inf flag lives (Optimizer::step_unless): on a GPU under the optimizer's
  // plan (Optimizer::plan_steps), nothing waits for the device, so that the whole step, loss scaling included, can be
  // captured into a cuda::Graph; it cannot say whether the optimizer stepped.
  void step_on_device(optim::Optimizer& optimizer);
  // The scale for the next iteration from the inf checks of this one's steps (or new_scale, when given).
  void update(std::optional<double> new_scale = std::nullopt);

  // The current scale (1.0 when disabled); reads the device.
  double get_scale() const;
  bool is_enabled() const { return options_.enabled(); }
  GradScalerState state_dict() const;
  void load_state_dict(const GradScalerState& state);

 private:
  struct PerOptimizer {
    bool unscaled = false, stepped = false;
    Tensor found_inf;  // float32 [1] on the scale's device: 1 if a gradient was inf or NaN
  };
  void check_scale(const char* caller) const;
  // What step() and step_on_device() check and do first; the optimizer's state, its inf flag checked.
  PerOptimizer& unscaled_for_step(optim::Optimizer& optimizer);
  void set_scale(double scale);

  GradScalerOptions options_;
  Tensor scale_, growth_tracker_;  // float32 [1] and int64 [1]; undefined until the first scale()
  double init_scale_;
  int64_t init_growth_tracker_ = 0;
  std::map<const optim::Optimizer*, PerOptimizer> per_optimizer_;
};

}  // namespace normrt::amp
