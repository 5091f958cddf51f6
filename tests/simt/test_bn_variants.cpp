// Experimental BatchNorm variants (benchmarks/variants) in the emulator: the same results as the library's
// kernels, on shapes with several channels, S not a multiple of 32, and momentum=None across several calls.
#include <gtest/gtest.h>

#include <random>
#include <utility>

#include "batchnorm.cuh"
#include "batchnorm_forward_pytorch_algorithm.cuh"
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

// Variant 2 (PyTorch's algorithm) against the reference over three calls with momentum=None: S below and above the
// 32 threads along S, N above the rows of the block (several rows per thread), a block of 512 along S; both resume
// orders.
TEST(PyTorchAlgorithm, MatchesTheReferenceOverSeveralCalls) {
  for (const auto& [g, order] : {std::pair{Geometry{5, 3, 7}, simt::ResumeOrder::Forward},
                                 std::pair{Geometry{40, 2, 33}, simt::ResumeOrder::Reverse},
                                 std::pair{Geometry{2, 3, 600}, simt::ResumeOrder::Reverse}}) {
    SCOPED_TRACE(g.S);
    simt::set_resume_order(order);
    ASSERT_TRUE(variants::pytorch_algorithm_supported(g));
    std::mt19937 rng(5);
    std::normal_distribution<float> dist(1.0f, 2.0f);
    const auto c = static_cast<std::size_t>(g.C);
    std::vector<float> x(static_cast<std::size_t>(g.numel())), y(x.size()), mean(c), invstd(c), workspace(c);
    for (float& v : x) v = dist(rng);
    const std::vector<float> weight = {0.5f, 1.5f, -1.0f}, bias = {0.1f, -0.3f, 0.0f};
    std::vector<float> rm(c, 0.0f), rv(c, 1.0f);
    int64_t batches = 0;
    ForwardTrainingParams p;
    p.geometry = g;
    p.x = x.data();
    p.weight = weight.data();
    p.bias = bias.data();
    p.y = y.data();
    p.save_mean = mean.data();
    p.save_invstd = invstd.data();
    p.running_mean = rm.data();
    p.running_var = rv.data();
    p.num_batches_tracked = &batches;
    p.cumulative_average = true;
    for (int call = 0; call < 3; ++call) variants::forward_training_pytorch_algorithm(p, workspace.data(), nullptr);
    EXPECT_EQ(batches, 3);
    const testing::RefGeometry rg{g.N, g.C, g.S};
    const std::vector<double> xd(x.begin(), x.end());
    const auto st = testing::ref_stats(rg, xd);
    const std::vector<double> wd(weight.begin(), weight.begin() + g.C), bd(bias.begin(), bias.begin() + g.C);
    EXPECT_TRUE(all_close(y, testing::ref_normalize(rg, xd, st.mean, st.var_biased, 1e-5, wd, bd), 1e-4, 1e-5));
    EXPECT_TRUE(all_close(mean, st.mean, 1e-5, 1e-5));
    // The same batch three times with momentum=None: the running statistics are the batch's.
    EXPECT_TRUE(all_close(rm, st.mean, 1e-5, 1e-5));
    EXPECT_TRUE(all_close(rv, st.var_unbiased, 1e-4, 1e-6));
  }
  simt::set_resume_order(simt::ResumeOrder::Forward);
}

INSTANTIATE_TEST_SUITE_P(Orders, SingleRead, ::testing::Values(simt::ResumeOrder::Forward, simt::ResumeOrder::Reverse),
                         [](const ::testing::TestParamInfo<simt::ResumeOrder>& info) {
                           return info.param == simt::ResumeOrder::Forward ? "forward" : "reverse";
                         });

}  // namespace
}  // namespace normrt::bn::emu
