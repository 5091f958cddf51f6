// GradScaler (normrt/amp.h) on the CPU: the skip / back-off / growth rule against an independent simulation, the
// growth cap, PyTorch's errors for misuse (which change nothing), the disabled scaler, and its state.
#include "amp_scenario.h"

namespace normrt {
namespace {

using testing::throws_with;

TEST(GradScaler, SkipsBacksOffAndGrowsAsPyTorch) {
  testing::run_grad_scaler_scenario(Device::cpu());
  testing::run_grad_scaler_scenario(Device::cpu(), true);
}

TEST(GradScaler, GrowthStopsWhereTheScaleWouldOverflow) {
  amp::GradScaler scaler(amp::GradScalerOptions().init_scale(std::ldexp(1.0, 127)).growth_interval(1));
  Tensor p = zeros({2});
  optim::SGD sgd(std::vector<Tensor>{p}, optim::SGDOptions(0.1));
  for (int t = 0; t < 2; ++t) {
    scaler.scale(ones({}));
    p.mutable_grad() = ones({2});
    EXPECT_TRUE(scaler.step(sgd));
    scaler.update();
    EXPECT_EQ(scaler.get_scale(), std::ldexp(1.0, 127));  // 2^128 is not a float: the scale stays
    EXPECT_EQ(scaler.state_dict().growth_tracker, 0);
  }
  scaler.update(8.0);  // an explicit new scale
  EXPECT_EQ(scaler.get_scale(), 8.0);
}

TEST(GradScaler, MisuseThrowsWithPyTorchsWordsAndChangesNothing) {
  amp::GradScaler scaler;
  Tensor p = zeros({2});
  optim::SGD sgd(std::vector<Tensor>{p}, optim::SGDOptions(0.1));
  p.mutable_grad() = full({2}, 4.0);
  EXPECT_TRUE(throws_with([&] { scaler.step(sgd); }, "Attempted step but _scale is None."));
  EXPECT_TRUE(throws_with([&] { scaler.update(); }, "Attempted update but _scale is None."));
  scaler.scale(ones({}));
  EXPECT_TRUE(throws_with([&] { scaler.update(); }, "No inf checks were recorded prior to update."));
  scaler.unscale_(sgd);
  const std::vector<float> unscaled = p.grad().to_vector();
  EXPECT_EQ(unscaled, std::vector<float>(2, 4.0f / 65536.0f));
  EXPECT_TRUE(throws_with([&] { scaler.unscale_(sgd); },
                          "unscale_() has already been called on this optimizer since the last update()."));
  EXPECT_EQ(p.grad().to_vector(), unscaled);
  EXPECT_TRUE(scaler.step(sgd));
  EXPECT_TRUE(throws_with([&] { scaler.step(sgd); }, "step() has already been called since the last update()."));
  EXPECT_TRUE(throws_with([&] { scaler.unscale_(sgd); }, "unscale_() is being called after step()."));
  scaler.update();
  p.mutable_grad() = full({2}, 1.0).to(DType::Float16);
  EXPECT_TRUE(throws_with([&] { scaler.unscale_(sgd); }, "Attempting to unscale FP16 gradients."));
  p.mutable_grad() = Tensor();
  EXPECT_TRUE(throws_with([&] { scaler.step(sgd); }, "No inf checks were recorded for this optimizer."));
  EXPECT_TRUE(throws_with([] { amp::GradScaler(amp::GradScalerOptions().growth_factor(1.0)); },
                          "The growth factor must be > 1.0."));
  EXPECT_TRUE(throws_with([] { amp::GradScaler(amp::GradScalerOptions().backoff_factor(1.0)); },
                          "The backoff factor must be < 1.0"));
  EXPECT_TRUE(throws_with([] { amp::GradScaler(amp::GradScalerOptions().growth_interval(0)); },
                          "The growth interval must be a positive integer"));
  EXPECT_TRUE(throws_with([&] { scaler.update(-1.0); }, "new_scale must be a positive finite number"));
}

TEST(GradScaler, DisabledPassesThrough) {
  amp::GradScaler scaler(amp::GradScalerOptions().enabled(false));
  Tensor p = zeros({2});
  optim::SGD sgd(std::vector<Tensor>{p}, optim::SGDOptions(0.5));
  const Tensor loss = full({}, 3.0);
  EXPECT_TRUE(scaler.scale(loss).is_same(loss));
  p.mutable_grad() = full({2}, std::numeric_limits<double>::infinity());
  EXPECT_TRUE(scaler.step(sgd));  // no inf check: the optimizer steps
  scaler.update();
  EXPECT_EQ(scaler.get_scale(), 1.0);
  EXPECT_FALSE(scaler.is_enabled());
}

TEST(GradScaler, StateRoundTripsAndSeedsTheScale) {
  amp::GradScaler a(amp::GradScalerOptions().init_scale(256).growth_interval(5));
  Tensor p = zeros({1});
  optim::SGD sgd(std::vector<Tensor>{p}, optim::SGDOptions(0.1));
  for (int t = 0; t < 3; ++t) {
    a.scale(ones({}));
    p.mutable_grad() = ones({1});
    a.step(sgd);
    a.update();
  }
  const amp::GradScalerState s = a.state_dict();
  EXPECT_EQ(s.scale, 256.0);
  EXPECT_EQ(s.growth_tracker, 3);
  amp::GradScaler b;
  b.load_state_dict(s);  // before any scale(): seeds the lazily created scale
  EXPECT_EQ(b.get_scale(), 256.0);
  for (int t = 0; t < 2; ++t) {  // two more clean steps complete the interval of 5
    EXPECT_EQ(b.scale(ones({})).item<float>(), 256.0f);
    p.mutable_grad() = ones({1});
    b.step(sgd);
    b.update();
  }
  EXPECT_EQ(b.get_scale(), 512.0);
  amp::GradScalerState bad = s;
  bad.backoff_factor = 2.0;
  EXPECT_TRUE(throws_with([&] { b.load_state_dict(bad); }, "The backoff factor must be < 1.0"));
  EXPECT_EQ(b.get_scale(), 512.0);
}

}  // namespace
}  // namespace normrt
