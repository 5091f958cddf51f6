// Branching blocks (nn::Concat, nn::SqueezeExcitation, nn::StochasticDepth) against PyTorch and torchvision:
// tests/golden/make_golden_blocks.py wrote data_blocks/ with PyTorch 1.13 and torchvision 0.14. StochasticDepth's
// random masks come from normrt's own Philox stream (PyTorch's CPU generator is not reproduced), so they are tested
// by their properties.
#include <cmath>

#include "blocks_golden_runner.h"

namespace normrt {
namespace {

using testing::all_close;
using testing::throws_with;
using testing::to_double;

TEST(Blocks, MatchPyTorchAndTorchvision) { testing::run_blocks_golden(Device::cpu()); }

TEST(StochasticDepth, RowModeDropsWholeSamplesAtRateP) {
  const double p = 0.3;
  Generator gen(41);
  nn::StochasticDepth drop(p, "row", &gen);
  const int64_t n = 4000;
  const Tensor x = randn({n, 3, 2}, gen) + 2.0;
  const Tensor dy = randn({n, 3, 2}, gen);
  const auto xs = x.to_vector(), ys = drop.forward(x).to_vector(), dxs = drop.backward(dy).to_vector();
  const auto dys = dy.to_vector();
  const float scale = 1.0f / static_cast<float>(1.0 - p);  // torchvision's noise.div_(survival_rate)
  int64_t dropped = 0;
  for (int64_t s = 0; s < n; ++s) {
    const bool kept = ys[static_cast<std::size_t>(s * 6)] != 0.0f;
    dropped += !kept;
    for (std::size_t i = static_cast<std::size_t>(s * 6); i < static_cast<std::size_t>(s * 6 + 6); ++i) {
      ASSERT_EQ(ys[i], kept ? xs[i] * scale : 0.0f) << "sample " << s;
      ASSERT_EQ(dxs[i], kept ? dys[i] * scale : 0.0f) << "sample " << s;
    }
  }
  // Binomial(4000, 0.3): standard deviation 29; six of them either side.
  EXPECT_NEAR(static_cast<double>(dropped), p * n, 6 * std::sqrt(n * p * (1 - p)));
}

TEST(StochasticDepth, BatchModeDropsAllOrNothingAndIsReproducible) {
  Generator a(42), b(42);
  nn::StochasticDepth drop(0.5, "batch", &a), same(0.5, "batch", &b);
  const Tensor x = ones({3, 4});
  int dropped = 0;
  const int calls = 400;
  for (int k = 0; k < calls; ++k) {
    const auto y = drop.forward(x).to_vector();
    EXPECT_EQ(same.forward(x).to_vector(), y) << "the same seed gives the same masks";
    for (float v : y) ASSERT_EQ(v, y[0]);
    ASSERT_TRUE(y[0] == 0.0f || y[0] == 2.0f) << y[0];
    dropped += y[0] == 0.0f;
  }
  EXPECT_NEAR(dropped, calls / 2, 6 * std::sqrt(calls * 0.25));
  drop.eval();
  EXPECT_EQ(drop.forward(x).to_vector(), x.to_vector());
}

TEST(StochasticDepth, RefusesBadArgumentsAsTorchvision) {
  EXPECT_TRUE(throws_with([] { nn::StochasticDepth(-0.1, "row"); },
                          "drop probability has to be between 0 and 1, but got -0.1"));
  EXPECT_TRUE(throws_with([] { nn::StochasticDepth(0.2, "col"); },
                          "mode has to be either 'batch' or 'row', but got col"));
  nn::StochasticDepth drop(0.2, "row");
  EXPECT_TRUE(throws_with([&] { drop.forward(ones({})); }, "StochasticDepth: expected an input with a batch"));
  // A refused construction draws no seed: the generator it was given is where it was.
  Generator gen(9);
  EXPECT_THROW(nn::StochasticDepth(1.5, "row", &gen), Error);
  EXPECT_THROW(nn::StochasticDepth(0.5, "col", &gen), Error);
  EXPECT_EQ(gen.offset(), 0u);
  nn::StochasticDepth accepted(0.5, "batch", &gen);
  EXPECT_NE(gen.offset(), 0u);
}

TEST(SqueezeExcitation, ChannelsLastAndParameterOnlyBackwardAgree) {
  Generator gen(43);
  nn::SqueezeExcitation se(12, 3, nullptr, nullptr, &gen);
  const Tensor x = randn({2, 12, 5, 3}, gen) * 2.0 + 1.0, dy = randn({2, 12, 5, 3}, gen);
  const auto y = se.forward(x).to_vector();
  const auto dx = se.backward(dy).to_vector();
  const auto grads = [&] {
    std::vector<std::vector<float>> g;
    for (const Tensor& p : se.parameters()) g.push_back(p.grad().to_vector());
    se.zero_grad();
    return g;
  };
  const auto full = grads();
  const Tensor y_cl = se.forward(testing::to_channels_last(x));
  EXPECT_TRUE(all_close(y_cl.to_vector(), to_double(y), 1e-6, 1e-7));
  EXPECT_TRUE(all_close(se.backward(testing::to_channels_last(dy)).to_vector(), to_double(dx), 1e-5, 1e-6));
  const auto cl = grads();
  se.forward(x);
  se.backward_parameters(dy);
  const auto params_only = grads();
  for (std::size_t i = 0; i < full.size(); ++i) {
    EXPECT_TRUE(all_close(cl[i], to_double(full[i]), 1e-5, 1e-6)) << "parameter " << i;
    EXPECT_EQ(params_only[i], full[i]) << "parameter " << i;
  }
  EXPECT_TRUE(throws_with([&] { se.forward(ones({12, 5})); }, "SqueezeExcitation: expected 3D or 4D input"));
}

TEST(Concat, RefusesMismatchedBranchesAndKeepsChannelsLast) {
  nn::Concat empty;
  EXPECT_TRUE(throws_with([&] { empty.forward(ones({2, 3})); }, "Concat: no branches to run"));
  nn::Concat mismatch({std::make_shared<nn::Conv2d>(3, 2, 1), std::make_shared<nn::Conv2d>(3, 2, 3)});
  EXPECT_TRUE(throws_with([&] { mismatch.forward(ones({1, 3, 5, 5})); },
                          "Sizes of tensors must match except in dimension 1. Expected size 5 but got size 3"));

  Generator gen(44);
  nn::Concat cat({std::make_shared<nn::Conv2d>(nn::ConvOptions(3, 2, 1), &gen),
                  std::make_shared<nn::Conv2d>(nn::ConvOptions(3, 4, 3).padding(1), &gen)});
  const Tensor x = randn({2, 3, 4, 5}, gen), dy = randn({2, 6, 4, 5}, gen);
  const auto y = cat.forward(x).to_vector();
  const auto dx = cat.backward(dy).to_vector();
  cat.to(MemoryFormat::ChannelsLast);
  const Tensor y_cl = cat.forward(testing::to_channels_last(x));
  EXPECT_EQ(y_cl.memory_format(), MemoryFormat::ChannelsLast);
  EXPECT_TRUE(all_close(y_cl.to_vector(), to_double(y), 1e-6, 1e-6));
  EXPECT_TRUE(all_close(cat.backward(testing::to_channels_last(dy)).to_vector(), to_double(dx), 1e-5, 1e-6));
}

}  // namespace
}  // namespace normrt
