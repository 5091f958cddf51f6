// Experimental BatchNorm variants (benchmarks/variants) in the emulator: the same results as the library's
// kernels, on shapes with several channels, S not a multiple of 32, and momentum=None across several calls.
#include <gtest/gtest.h>

#include <random>

#include "batchnorm.cuh"
#include "batchnorm_forward_single_read.cuh"
#include "reference/bn_reference.h"
#include "test_util_core.h"

namespace normrt::bn::emu {
namespace {

using normrt::testing::all_close;

class SingleRead : public ::testing::TestWithParam<simt::ResumeOrder> {
 protected:
  void SetUp() override { simt::set_resume_order(GetParam()); }
  void TearDown() override { simt::set_resume_order(simt::ResumeOrder::Forward); }
};

void check_against_library(const Geometry& g) {
  ASSERT_TRUE(variants::single_read_supported(g, 48 * 1024));
  ASSERT_EQ(g.C, 4);
  std::mt19937 rng(3);
  std::normal_distribution<float> dist(2.0f, 3.0f);
  std::vector<float> x(static_cast<std::size_t>(g.numel()));
  for (float& v : x) v = dist(rng);
  const std::vector<float> weight = {0.5f, 1.0f, 1.5f, -1.0f}, bias = {0.1f, 0.2f, -0.3f, 0.0f};

  struct Out {
    std::vector<float> y, mean, invstd, rm, rv;
    int64_t batches = 2;
  };
  auto run = [&](bool variant, Out& o) {
    o.y.assign(x.size(), 0.0f);
    o.mean.assign(4, 0.0f);
    o.invstd.assign(4, 0.0f);
    if (o.rm.empty()) {
      o.rm.assign(4, 0.25f);
      o.rv.assign(4, 2.0f);
    }
    ForwardTrainingParams p;
    p.geometry = g;
    p.x = x.data();
    p.weight = weight.data();
    p.bias = bias.data();
    p.y = o.y.data();
    p.save_mean = o.mean.data();
    p.save_invstd = o.invstd.data();
    p.running_mean = o.rm.data();
    p.running_var = o.rv.data();
    p.num_batches_tracked = &o.batches;
    p.cumulative_average = true;
    if (variant) {
      unsigned semaphore = 0;
      variants::forward_training_single_read(p, &semaphore, 48 * 1024, nullptr);
      EXPECT_EQ(semaphore, 0u);
    } else {
      LaunchTuning tuning;
      std::vector<float> workspace(workspace_floats(g, tuning));
      forward_training(p, workspace.data(), tuning, nullptr);
    }
  };
  Out lib, var;
  for (int call = 0; call < 3; ++call) {
    run(false, lib);
    run(true, var);
    EXPECT_EQ(var.batches, lib.batches);
    EXPECT_TRUE(all_close(var.y, lib.y, 1e-5, 1e-6)) << "y, call " << call;
    EXPECT_TRUE(all_close(var.mean, lib.mean, 1e-6, 1e-6));
    EXPECT_TRUE(all_close(var.invstd, lib.invstd, 1e-5, 0));
    EXPECT_TRUE(all_close(var.rm, lib.rm, 1e-6, 1e-6));
    EXPECT_TRUE(all_close(var.rv, lib.rv, 1e-5, 0));
  }
  EXPECT_EQ(var.batches, 5);
  const testing::RefGeometry rg{g.N, g.C, g.S};
  const auto st = testing::ref_stats(rg, std::vector<double>(x.begin(), x.end()));
  EXPECT_TRUE(all_close(var.mean, st.mean, 1e-6, 1e-6));
}

TEST_P(SingleRead, MatchesTheLibraryKernelsAndTheReference) {
  // A channel of 111 values (fewer than the block's threads) and one of 2800 (the unrolled loads run).
  for (const Geometry& g : {Geometry{3, 4, 37}, Geometry{4, 4, 700}}) {
    SCOPED_TRACE(g.per_channel());
    check_against_library(g);
  }
}

TEST(SingleReadLimits, OnlySpatialInputWhoseChannelFitsSharedMemory) {
  EXPECT_FALSE(variants::single_read_supported(Geometry{64, 2, 1}, 48 * 1024));    // (N, C) input
  EXPECT_FALSE(variants::single_read_supported(Geometry{64, 2, 1000}, 48 * 1024));  // channel too large
}

INSTANTIATE_TEST_SUITE_P(Orders, SingleRead, ::testing::Values(simt::ResumeOrder::Forward, simt::ResumeOrder::Reverse),
                         [](const ::testing::TestParamInfo<simt::ResumeOrder>& info) {
                           return info.param == simt::ResumeOrder::Forward ? "forward" : "reverse";
                         });

}  // namespace
}  // namespace normrt::bn::emu
