// A GradScaler run on a device against an independent simulation of torch.cuda.amp.GradScaler's documented rule:
// a step whose gradients hold an inf or NaN is skipped and the scale multiplied by backoff_factor (the count of
// clean steps restarts); otherwise the optimizer steps on the unscaled gradients and every growth_interval-th
// consecutive clean step multiplies the scale by growth_factor. Shared by the CPU and GPU suites. With
// `skip_on_device`, through step_on_device, on a GPU under the optimizer's plan (the skip decided by its kernels).
#pragma once
#include <cmath>
#include <limits>
#include <vector>

#include "test_util.h"

namespace normrt::testing {

inline void run_grad_scaler_scenario(const Device& device, bool skip_on_device = false) {
  SCOPED_TRACE(skip_on_device ? "step_on_device" : "step");
  const double init = 1024, growth = 2, backoff = 0.25;
  const int64_t interval = 3;
  amp::GradScaler scaler(amp::GradScalerOptions().init_scale(init).growth_factor(growth).backoff_factor(backoff)
                             .growth_interval(interval));
  Tensor a = from_vector(std::vector<float>{1.0f, -2.0f, 0.5f}, {3}).to(device);
  Tensor b = from_vector(std::vector<float>{3.0f, 4.0f}, {2}).to(device);
  optim::SGD sgd(std::vector<Tensor>{a, b}, optim::SGDOptions(0.125));
  if (skip_on_device && device.is_cuda()) sgd.plan_steps(12);
  std::vector<double> pa{1.0, -2.0, 0.5}, pb{3.0, 4.0};
  double scale = init;
  int64_t clean = 0;
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  for (int t = 0; t < 12; ++t) {
    SCOPED_TRACE("step " + std::to_string(t));
    // True gradients (exact in float), scaled as a backward of the scaled loss would give them; some poisoned.
    const std::vector<float> ga{0.5f * t, -1.0f, 0.25f}, gb{2.0f, -0.5f * t};
    const Tensor loss = scaler.scale(full({}, 1.0, TensorOptions(device)));
    EXPECT_EQ(loss.item<float>(), static_cast<float>(scale));
    std::vector<float> sa, sb;
    for (float g : ga) sa.push_back(g * static_cast<float>(scale));
    for (float g : gb) sb.push_back(g * static_cast<float>(scale));
    const bool poisoned = t == 4 || t == 8 || t == 9;
    if (t == 4) sa[1] = inf;
    if (t == 8) sb[0] = nan;
    if (t == 9) sa[2] = -inf;
    a.mutable_grad() = from_vector(sa, {3}).to(device);
    b.mutable_grad() = from_vector(sb, {2}).to(device);
    if (t % 2 == 0) scaler.unscale_(sgd);  // explicit unscale_ (as before clipping), or step() doing it
    if (skip_on_device)
      scaler.step_on_device(sgd);
    else
      EXPECT_EQ(scaler.step(sgd), !poisoned);
    scaler.update();
    if (poisoned) {
      scale *= backoff;
      clean = 0;
    } else {
      for (std::size_t i = 0; i < pa.size(); ++i) pa[i] -= 0.125 * ga[i];
      for (std::size_t i = 0; i < pb.size(); ++i) pb[i] -= 0.125 * gb[i];
      if (++clean == interval) {
        scale *= growth;
        clean = 0;
      }
    }
    EXPECT_EQ(scaler.get_scale(), scale);
    EXPECT_EQ(scaler.state_dict().growth_tracker, clean);
    EXPECT_TRUE(all_close(a.to_vector(), pa, 1e-6, 1e-7)) << "a";
    EXPECT_TRUE(all_close(b.to_vector(), pb, 1e-6, 1e-7)) << "b";
    if (t % 2 == 0 && !poisoned) {  // the gradients were unscaled in place: the true ones
      EXPECT_EQ(a.grad().to_vector(), ga);
      EXPECT_EQ(b.grad().to_vector(), gb);
    }
  }
}

}  // namespace normrt::testing
