// The CUDA BatchNorm kernels, run by the SIMT emulator, against the double-precision reference: awkward shapes,
// several blocks per channel, both layouts, float4 and scalar paths, 32- and 64-bit indices, both resume orders.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>

#include "batchnorm.cuh"
#include "bn_emulator_backend.h"
#include "bn_kernel_cases.h"

namespace normrt::bn::emu {
namespace {

using normrt::testing::all_close;
using normrt::testing::bn_kernel_cases;
using normrt::testing::BnKernelCase;
using normrt::testing::check_bn_kernel_case;
using normrt::testing::doubles_of;
using normrt::testing::elements_of;
using normrt::testing::random_floats;
using normrt::testing::to_double;

class BnKernels : public ::testing::TestWithParam<BnKernelCase> {
 protected:
  void SetUp() override {
    simt::set_resume_order(GetParam().reverse_order ? simt::ResumeOrder::Reverse : simt::ResumeOrder::Forward);
  }
  void TearDown() override { simt::set_resume_order(simt::ResumeOrder::Forward); }
};

TEST_P(BnKernels, TrainingAndInferenceMatchReference) { check_bn_kernel_case<EmulatorBackend>(GetParam()); }

INSTANTIATE_TEST_SUITE_P(Shapes, BnKernels, ::testing::ValuesIn(bn_kernel_cases()),
                         [](const ::testing::TestParamInfo<BnKernelCase>& info) { return case_name(info.param); });

// A training forward of x into `out`: y, then save_mean and save_invstd (C each).
ForwardTrainingParams forward_into(const Geometry& g, const std::vector<float>& x, std::vector<float>& out) {
  ForwardTrainingParams p;
  p.geometry = g;
  p.x = x.data();
  p.y = out.data();
  p.save_mean = out.data() + x.size();
  p.save_invstd = out.data() + x.size() + g.C;
  return p;
}

// A training step is one launch when each channel is one block's (the block reduces, finishes and normalises its
// channel), two when momentum=None makes every block read the batch count (reduce, normalise), one cooperative
// launch when channels are split over blocks that can all be resident, and reduce + finalize + normalise when they
// cannot; all count the batch once and agree within rounding. The eval forward is one launch; so is the backward
// with one block per channel.
TEST(BnKernelsLaunches, OneLaunchPerStepWhenChannelsAreOneBlocks) {
  const Geometry g{7, 3, 33};
  const auto x = random_floats(static_cast<std::size_t>(g.numel()), 17, 1.0f, 2.0f);
  const auto dy = random_floats(static_cast<std::size_t>(g.numel()), 18, 0.0f, 1.0f);
  auto run = [&](int64_t min_split, bool cumulative, std::vector<float>& out, bool cooperative = true) {
    LaunchTuning tuning;
    tuning.sm_count = 2;
    tuning.min_split_elements = min_split;
    tuning.cooperative = cooperative;
    std::vector<float> workspace(workspace_floats(g, tuning));
    out.assign(2 * x.size() + 2 * 3 + 2 * 3, 0.0f);
    std::vector<float> rm(3, 0.0f), rv(3, 1.0f);
    int64_t batches = 0;
    ForwardTrainingParams p = forward_into(g, x, out);
    p.running_mean = rm.data();
    p.running_var = rv.data();
    p.num_batches_tracked = &batches;
    p.cumulative_average = cumulative;
    uint64_t before = simt::launch_count();
    forward_training(p, workspace.data(), tuning, nullptr);
    const uint64_t forward_launches = simt::launch_count() - before;
    std::copy(rm.begin(), rm.end(), out.end() - 6);
    std::copy(rv.begin(), rv.end(), out.end() - 3);
    EXPECT_EQ(batches, 1);
    BackwardParams b;
    b.geometry = g;
    b.dy = dy.data();
    b.x = x.data();
    b.mean = p.save_mean;
    b.invstd = p.save_invstd;
    b.dx = out.data() + x.size() + 6;
    before = simt::launch_count();
    backward(b, workspace.data(), tuning, nullptr);
    return std::make_pair(forward_launches, simt::launch_count() - before);
  };
  std::vector<float> whole, counted, split, split_counted, three;
  EXPECT_EQ(run(16384, false, whole), std::make_pair(uint64_t{1}, uint64_t{1}));  // 231 values per channel
  EXPECT_EQ(run(16384, true, counted), std::make_pair(uint64_t{2}, uint64_t{1}));
  // Three splits per channel, 2 SMs x 4 resident blocks: two of them at once (cooperative), or all three in turn.
  EXPECT_EQ(run(64, false, split), std::make_pair(uint64_t{1}, uint64_t{1}));
  EXPECT_EQ(run(64, true, split_counted), std::make_pair(uint64_t{1}, uint64_t{1}));
  EXPECT_EQ(run(64, false, three, false), std::make_pair(uint64_t{3}, uint64_t{3}));
  const std::vector<double> expected(whole.begin(), whole.end());
  EXPECT_TRUE(all_close(split, expected, 1e-5, 1e-6));
  EXPECT_TRUE(all_close(three, expected, 1e-5, 1e-6));
  simt::set_cooperative_blocks_per_sm(1);  // one block per channel resident: no cooperative step
  EXPECT_EQ(run(64, false, three), std::make_pair(uint64_t{3}, uint64_t{3}));
  simt::set_cooperative_blocks_per_sm(4);
  // momentum=None weighs a first batch fully: running_mean is the batch mean.
  for (int c = 0; c < 3; ++c) {
    EXPECT_EQ(counted[counted.size() - 6 + c], counted[x.size() + c]);
    EXPECT_EQ(split_counted[split_counted.size() - 6 + c], split_counted[x.size() + c]);
  }

  LaunchTuning tuning;
  std::vector<float> y(x.size()), saved(6);
  const std::vector<float> rm(3, 0.5f), rv(3, 2.0f);
  ForwardInferenceParams e;
  e.geometry = g;
  e.x = x.data();
  e.running_mean = rm.data();
  e.running_var = rv.data();
  e.y = y.data();
  e.save_mean = saved.data();
  e.save_invstd = saved.data() + 3;
  const uint64_t before = simt::launch_count();
  forward_inference(e, tuning, nullptr);
  EXPECT_EQ(simt::launch_count() - before, 1u);
  EXPECT_EQ(saved[0], 0.5f);
  EXPECT_FLOAT_EQ(saved[3], 1.0f / std::sqrt(2.0f + 1e-5f));
  EXPECT_FLOAT_EQ(y[5], (x[5] - 0.5f) / std::sqrt(2.0f + 1e-5f));
}

// When the occupancy calculator counts more shared memory per block than the launcher's arithmetic from the device
// attributes, the cooperative steps keep their residency and drop the shared-memory cache: same results. Channels
// split over blocks (S > 1), and rows split in the column layout.
TEST(BnKernelsLaunches, CooperativeStepWithoutSharedCacheWhenOccupancyDisagrees) {
  for (const Geometry& g : {Geometry{2, 1, 44000}, Geometry{4700, 8, 1}}) {
    SCOPED_TRACE(g.S);
    const auto x = random_floats(static_cast<std::size_t>(g.numel()), 19, -3.0f, 2.0f);
    LaunchTuning tuning;
    tuning.sm_count = 1;
    tuning.min_split_elements = g.S == 1 ? 16384 : 1024;
    auto run = [&](std::size_t extra_shared) {
      simt::set_occupancy_extra_shared_per_block(extra_shared);
      std::vector<float> out(x.size() + 2 * g.C), workspace(workspace_floats(g, tuning));
      const ForwardTrainingParams p = forward_into(g, x, out);
      const uint64_t before = simt::launch_count();
      forward_training(p, workspace.data(), tuning, nullptr);
      EXPECT_EQ(simt::launch_count() - before, 1u);
      simt::set_occupancy_extra_shared_per_block(0);
      return out;
    };
    const auto cached = run(0), uncached = run(8 * 1024);
    const auto st = normrt::testing::ref_stats({g.N, g.C, g.S}, to_double(x));
    const auto y_ref =
        normrt::testing::ref_normalize({g.N, g.C, g.S}, to_double(x), st.mean, st.var_biased, 1e-5, {}, {});
    EXPECT_TRUE(all_close(std::vector<float>(cached.begin(), cached.end() - 2 * g.C), y_ref, 1e-5, 1e-5));
    EXPECT_EQ(cached, uncached);  // the same partition and merge order, wherever the values were held
  }
}

// In the column layout (channels-last, (N, C)) a training step whose rows are split over blocks is one cooperative
// launch forward and one backward where two or more splits can be resident, else reduce + finalize + elementwise;
// both agree with the reference, and the cooperative step gives the same bits in every resume order, and the three
// launches' bits over the same splits.
TEST(BnKernelsLaunches, ColumnStepIsOneCooperativeLaunch) {
  const Geometry g{3001, 12, 1};
  const auto x = random_floats(static_cast<std::size_t>(g.numel()), 31, 2.0f, 3.0f);
  const auto dy = random_floats(static_cast<std::size_t>(g.numel()), 32, 0.0f, 1.0f);
  auto run = [&](int sm_count, bool cooperative, std::pair<uint64_t, uint64_t>& launches) {
    LaunchTuning tuning;
    tuning.sm_count = sm_count;
    tuning.min_split_elements = 256;
    tuning.cooperative = cooperative;
    // y, save_mean, save_invstd, dx, dweight
    std::vector<float> out(2 * x.size() + 3 * g.C), workspace(workspace_floats(g, tuning));
    std::vector<float> rm(12, 0.0f), rv(12, 1.0f);
    int64_t batches = 0;
    ForwardTrainingParams p = forward_into(g, x, out);
    p.running_mean = rm.data();
    p.running_var = rv.data();
    p.num_batches_tracked = &batches;
    p.cumulative_average = true;  // the step reads the batch count before any block increments it
    uint64_t before = simt::launch_count();
    forward_training(p, workspace.data(), tuning, nullptr);
    launches.first = simt::launch_count() - before;
    EXPECT_EQ(batches, 1);
    EXPECT_EQ(rm, std::vector<float>(p.save_mean, p.save_mean + g.C));  // momentum=None, first batch
    BackwardParams b;
    b.geometry = g;
    b.dy = dy.data();
    b.x = x.data();
    b.mean = p.save_mean;
    b.invstd = p.save_invstd;
    b.dx = out.data() + x.size() + 2 * g.C;
    b.dweight = out.data() + 2 * x.size() + 2 * g.C;
    before = simt::launch_count();
    backward(b, workspace.data(), tuning, nullptr);
    launches.second = simt::launch_count() - before;
    return out;
  };
  std::pair<uint64_t, uint64_t> launches;
  const auto cooperative = run(2, true, launches);
  EXPECT_EQ(launches, std::make_pair(uint64_t{1}, uint64_t{1}));
  simt::set_resume_order(simt::ResumeOrder::Reverse);
  const auto reversed = run(2, true, launches);
  simt::set_resume_order(simt::ResumeOrder::Forward);
  EXPECT_EQ(std::memcmp(cooperative.data(), reversed.data(), cooperative.size() * sizeof(float)), 0);
  const auto three = run(2, false, launches);
  EXPECT_EQ(launches, std::make_pair(uint64_t{3}, uint64_t{3}));
  // 8 row splits either way (2 SMs x 4 resident blocks): the same partial states and merges, so the same bits.
  EXPECT_EQ(std::memcmp(cooperative.data(), three.data(), cooperative.size() * sizeof(float)), 0);
  simt::set_cooperative_blocks_per_sm(1);  // one resident block on one SM: no cooperative step
  run(1, true, launches);
  simt::set_cooperative_blocks_per_sm(4);
  EXPECT_EQ(launches, std::make_pair(uint64_t{3}, uint64_t{3}));

  const normrt::testing::RefGeometry rg{g.N, g.C, g.S};
  const auto st = normrt::testing::ref_stats(rg, to_double(x));
  const auto y_ref = normrt::testing::ref_normalize(rg, to_double(x), st.mean, st.var_biased, 1e-5, {}, {});
  const auto ref = normrt::testing::ref_backward(rg, to_double(x), to_double(dy), {}, true, {}, {}, 1e-5);
  for (const auto* out : {&cooperative, &three}) {
    EXPECT_TRUE(all_close(std::vector<float>(out->begin(), out->begin() + x.size()), y_ref, 1e-5, 1e-5));
    const auto dx_begin = out->begin() + x.size() + 2 * g.C;
    EXPECT_TRUE(all_close(std::vector<float>(dx_begin, dx_begin + x.size()), ref.dx, 1e-4, 1e-5));
    EXPECT_TRUE(all_close(std::vector<float>(out->end() - g.C, out->end()), ref.dw, 1e-4, 1e-4));
  }
}

// In the column layout with one split of the rows (few rows: an MLP's (batch, features)), a training step is one
// launch forward and one backward, each block finishing its own columns, with the bits of the reduction and
// elementwise launches it replaced (LaunchTuning::column_steps = false); momentum=None keeps two launches forward
// (every block reads the batch count that the step increments).
TEST(BnKernelsLaunches, ColumnStepWithOneSplitIsOneLaunch) {
  const Geometry g{100, 40, 1};
  const auto x = random_floats(static_cast<std::size_t>(g.numel()), 33, -1.0f, 2.0f);
  const auto dy = random_floats(static_cast<std::size_t>(g.numel()), 34, 0.0f, 1.0f);
  const normrt::testing::RefGeometry rg{g.N, g.C, g.S};
  const auto st = normrt::testing::ref_stats(rg, to_double(x));
  const auto y_ref = normrt::testing::ref_normalize(rg, to_double(x), st.mean, st.var_biased, 1e-5, {}, {});
  const auto ref = normrt::testing::ref_backward(rg, to_double(x), to_double(dy), {}, true, {}, {}, 1e-5);
  std::vector<float> step_outputs;
  for (const auto& [cumulative, column_steps] :
       {std::pair{false, true}, std::pair{true, true}, std::pair{false, false}}) {
    SCOPED_TRACE(std::to_string(cumulative) + " " + std::to_string(column_steps));
    LaunchTuning tuning;
    tuning.sm_count = 4;
    tuning.column_steps = column_steps;
    std::vector<float> out(x.size() + 2 * g.C), dx(x.size()), workspace(workspace_floats(g, tuning));
    std::vector<float> rm(g.C, 0.0f), rv(g.C, 1.0f);
    int64_t batches = 3;
    ForwardTrainingParams p = forward_into(g, x, out);
    p.running_mean = rm.data();
    p.running_var = rv.data();
    p.num_batches_tracked = &batches;
    p.cumulative_average = cumulative;
    p.momentum = 0.25;  // None (cumulative): 1 / 4 after the increment, the same weight
    uint64_t before = simt::launch_count();
    forward_training(p, workspace.data(), tuning, nullptr);
    EXPECT_EQ(simt::launch_count() - before, cumulative || !column_steps ? 2u : 1u);
    EXPECT_EQ(batches, 4);
    EXPECT_TRUE(all_close(std::vector<float>(out.begin(), out.begin() + x.size()), y_ref, 1e-5, 1e-5));
    std::vector<double> rm_ref;
    for (double m : st.mean) rm_ref.push_back(0.25 * m);
    EXPECT_TRUE(all_close(rm, rm_ref, 1e-5, 1e-6));
    BackwardParams b;
    b.geometry = g;
    b.dy = dy.data();
    b.x = x.data();
    b.mean = p.save_mean;
    b.invstd = p.save_invstd;
    b.dx = dx.data();
    before = simt::launch_count();
    backward(b, workspace.data(), tuning, nullptr);
    EXPECT_EQ(simt::launch_count() - before, column_steps ? 1u : 2u);
    EXPECT_TRUE(all_close(dx, ref.dx, 1e-4, 1e-5));
    // The reduction merges rows as the step does: the two launches it replaced give the same bits.
    out.insert(out.end(), dx.begin(), dx.end());
    if (cumulative) continue;
    if (column_steps) step_outputs = out;
    else EXPECT_EQ(std::memcmp(out.data(), step_outputs.data(), out.size() * sizeof(float)), 0);
  }
}

// The column layout's reduction splits rows until its blocks fill column_blocks_per_sm per SM (the split shows in
// the workspace's partial states); any split gives the reference statistics and output.
TEST(BnKernelsLaunches, ColumnReductionSplitsRowsForItsBlocksPerSm) {
  const Geometry g{6000, 12, 1};
  const auto x = random_floats(static_cast<std::size_t>(g.numel()), 23, -1.0f, 3.0f);
  const auto st = normrt::testing::ref_stats({g.N, g.C, g.S}, to_double(x));
  const auto y_ref =
      normrt::testing::ref_normalize({g.N, g.C, g.S}, to_double(x), st.mean, st.var_biased, 1e-5, {}, {});
  std::size_t previous = 0;
  for (const int blocks : {1, 4, 16}) {
    SCOPED_TRACE(blocks);
    LaunchTuning tuning;
    tuning.sm_count = 2;
    tuning.min_split_elements = 256;
    tuning.column_blocks_per_sm = blocks;
    std::vector<float> out(x.size() + 2 * g.C), workspace(workspace_floats(g, tuning));
    EXPECT_GT(workspace.size(), previous);  // more splits, more partial states
    previous = workspace.size();
    forward_training(forward_into(g, x, out), workspace.data(), tuning, nullptr);
    EXPECT_TRUE(all_close(std::vector<float>(out.begin(), out.begin() + x.size()), y_ref, 1e-5, 1e-5));
    EXPECT_TRUE(
        all_close(std::vector<float>(out.begin() + x.size(), out.begin() + x.size() + g.C), st.mean, 1e-6, 1e-6));
  }
}

// The column reduction plans its row splits for the unit width it launches with, so that units of four floats or
// eight 16-bit values still give it column_blocks_per_sm blocks per SM, forward and backward (planned for single
// columns, units of eight ran 1 block across x 8 splits here, half the target); its sums stay right.
template <typename T>
void check_column_reduction_grid() {
  const Geometry g{2048, 64, 1};
  LaunchTuning tuning;
  tuning.sm_count = 4;
  tuning.min_split_elements = 256;
  tuning.column_blocks_per_sm = 4;
  tuning.cooperative = false;  // the reduction's own launch (the cooperative step's grid is the resident blocks')
  const uint64_t target = 16;
  const auto values = random_floats(static_cast<std::size_t>(g.numel()), 29, -1.0f, 3.0f);
  const std::vector<T> x = elements_of<T>(values), dy = elements_of<T>(random_floats(x.size(), 30, -1.0f, 1.0f));
  const auto st = normrt::testing::ref_stats({g.N, g.C, g.S}, doubles_of(x));
  std::vector<T> y(x.size()), dx(x.size());
  std::vector<float> save_mean(64), save_invstd(64), dweight(64), dbias(64), workspace(workspace_floats(g, tuning));
  ForwardTrainingParamsOf<T> p;
  p.geometry = g;
  p.x = x.data();
  p.y = y.data();
  p.save_mean = save_mean.data();
  p.save_invstd = save_invstd.data();
  uint64_t before = simt::launch_count();
  forward_training(p, workspace.data(), tuning, nullptr);
  dim3 grid = simt::launch_grid(before + 1);  // the reduction's
  EXPECT_GE(uint64_t{grid.x} * grid.y, target) << grid.x << " x " << grid.y;
  EXPECT_TRUE(all_close(save_mean, st.mean, 1e-6, 1e-6));

  BackwardParamsOf<T> b;
  b.geometry = g;
  b.dy = dy.data();
  b.x = x.data();
  b.mean = save_mean.data();
  b.invstd = save_invstd.data();
  b.dx = dx.data();
  b.dweight = dweight.data();
  b.dbias = dbias.data();
  before = simt::launch_count();
  backward(b, workspace.data(), tuning, nullptr);
  grid = simt::launch_grid(before + 1);
  EXPECT_GE(uint64_t{grid.x} * grid.y, target) << grid.x << " x " << grid.y;
  std::vector<double> dbias_ref(64, 0.0);
  for (std::size_t i = 0; i < dy.size(); ++i) dbias_ref[i % 64] += static_cast<float>(dy[i]);
  EXPECT_TRUE(all_close(dbias, dbias_ref, 1e-5, 1e-4));
}

TEST(BnKernelsLaunches, ColumnReductionFillsItsTargetWithWideUnits) {
  check_column_reduction_grid<float>();
  check_column_reduction_grid<Half>();
  check_column_reduction_grid<BFloat16>();
}

TEST(BnKernelsNumerics, LargeMeanSmallStdInFloat) {
  Geometry g{64, 2, 200};
  LaunchTuning tuning;
  tuning.sm_count = 2;
  tuning.min_split_elements = 512;
  const auto x = random_floats(static_cast<std::size_t>(g.numel()), 9, 1e4f, 1e-2f);
  std::vector<float> y(x.size()), save_mean(2), save_invstd(2), workspace(workspace_floats(g, tuning));
  ForwardTrainingParams p;
  p.geometry = g;
  p.x = x.data();
  p.y = y.data();
  p.save_mean = save_mean.data();
  p.save_invstd = save_invstd.data();
  p.eps = 0.0;
  forward_training(p, workspace.data(), tuning, nullptr);
  const auto st = normrt::testing::ref_stats({g.N, g.C, g.S}, to_double(x));
  EXPECT_TRUE(all_close(save_mean, st.mean, 1e-7, 0));
  std::vector<double> invstd_ref;
  for (double v : st.var_biased) invstd_ref.push_back(1 / std::sqrt(v));
  EXPECT_TRUE(all_close(save_invstd, invstd_ref, 1e-4, 0));
}

TEST(BnKernelsNumerics, IdenticalBitsInEveryResumeOrderAndRun) {
  Geometry g{6, 3, 257};
  LaunchTuning tuning;
  tuning.sm_count = 2;
  tuning.min_split_elements = 100;
  const auto x = random_floats(static_cast<std::size_t>(g.numel()), 11, 3.0f, 1.0f);
  auto run = [&](simt::ResumeOrder order) {
    simt::set_resume_order(order);
    std::vector<float> y(x.size()), out(6), workspace(workspace_floats(g, tuning));
    ForwardTrainingParams p;
    p.geometry = g;
    p.x = x.data();
    p.y = y.data();
    p.save_mean = out.data();
    p.save_invstd = out.data() + 3;
    forward_training(p, workspace.data(), tuning, nullptr);
    simt::set_resume_order(simt::ResumeOrder::Forward);
    y.insert(y.end(), out.begin(), out.end());
    return y;
  };
  const auto a = run(simt::ResumeOrder::Forward), b = run(simt::ResumeOrder::Reverse),
             c = run(simt::ResumeOrder::Forward);
  EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0);
  EXPECT_EQ(std::memcmp(a.data(), c.data(), a.size() * sizeof(float)), 0);
}

template <typename T>
void check_empty_batch() {
  Geometry g{0, 3, 1};
  LaunchTuning tuning;
  std::vector<float> rm(3, 0.5f), rv(3, 2.0f), save_mean(3, 9.0f), save_mean_low(3, 9.0f), save_invstd(3, 9.0f),
      workspace(workspace_floats(g, tuning));
  int64_t batches = 0;
  ForwardTrainingParamsOf<T> p;
  p.geometry = g;
  p.save_mean = save_mean.data();
  p.save_mean_low = save_mean_low.data();
  p.save_invstd = save_invstd.data();
  p.running_mean = rm.data();
  p.running_var = rv.data();
  p.num_batches_tracked = &batches;
  p.cumulative_average = true;
  forward_training(p, workspace.data(), tuning, nullptr);
  EXPECT_EQ(batches, 1);
  EXPECT_EQ(rm, std::vector<float>(3, 0.5f));
  EXPECT_EQ(rv, std::vector<float>(3, 2.0f));
  EXPECT_EQ(save_mean, std::vector<float>(3, 0.0f));
  EXPECT_EQ(save_mean_low, std::vector<float>(3, 0.0f));

  // An eval forward of an empty batch still saves the statistics it would have used.
  ForwardInferenceParamsOf<T> e;
  e.geometry = g;
  e.running_mean = rm.data();
  e.running_var = rv.data();
  e.save_mean = save_mean.data();
  e.save_invstd = save_invstd.data();
  forward_inference(e, tuning, nullptr);
  EXPECT_EQ(save_mean, std::vector<float>(3, 0.5f));
  EXPECT_EQ(save_invstd, std::vector<float>(3, 1.0f / std::sqrt(2.0f + 1e-5f)));
}

TEST(BnKernelsEdgeCases, EmptyBatchCountsAndLeavesStatistics) {
  check_empty_batch<float>();
  check_empty_batch<Half>();
  check_empty_batch<BFloat16>();
}

// For a forward computed elsewhere (cuDNN): only the statistics an eval-mode backward needs.
TEST(BnKernelsEdgeCases, SaveInferenceStatistics) {
  Geometry g{4, 300, 5};
  const std::vector<float> rm = random_floats(300, 14, 1.0f, 2.0f);
  std::vector<float> rv = random_floats(300, 15, 0.0f, 1.0f), save_mean(300, 9.0f), save_invstd(300, 9.0f);
  for (float& v : rv) v = v * v;
  ForwardInferenceParams p;
  p.geometry = g;
  p.running_mean = rm.data();
  p.running_var = rv.data();
  p.save_mean = save_mean.data();
  p.save_invstd = save_invstd.data();
  p.eps = 1e-3;
  save_inference_statistics(p, nullptr);
  EXPECT_EQ(save_mean, rm);
  std::vector<double> invstd_ref;
  for (float v : rv) invstd_ref.push_back(1 / std::sqrt(static_cast<double>(v) + 1e-3));
  EXPECT_TRUE(all_close(save_invstd, invstd_ref, 1e-6, 0));
}

// The fused epilogue and the ReLU's gradient as passes of their own (after cuDNN, in float32; the custom kernels
// apply both where they read and write, tests/bn_kernel_cases.h): every element, in a grid smaller than the
// tensor (grid-stride), with and without a residual, NaN propagating through the ReLU as torch.relu does.
TEST(BnKernelsEpilogue, EveryElementByTheSharedMath) {
  const int64_t n = 3 * 256 * 16 + 77;  // more than one pass of the grid of a one-SM tuning
  LaunchTuning tuning;
  tuning.sm_count = 1;
  std::vector<float> y0 = random_floats(n, 31, 0.0f, 2.0f), z = random_floats(n, 32, 0.0f, 1.0f);
  y0[5] = std::nanf("");
  for (bool residual : {false, true}) {
    for (bool relu : {false, true}) {
      SCOPED_TRACE(std::string(residual ? "residual " : "") + (relu ? "relu" : ""));
      std::vector<float> y = y0;
      apply_epilogue(y.data(), residual ? z.data() : nullptr, n, relu, tuning, nullptr);
      for (int64_t i = 0; i < n; ++i) {
        const float v = y0[i] + (residual ? z[i] : 0.0f);
        const float expected = relu && v <= 0.0f ? 0.0f : v;
        if (std::isnan(v)) {
          EXPECT_TRUE(std::isnan(y[i])) << i;
        } else {
          ASSERT_EQ(y[i], expected) << i;
        }
      }
    }
  }
  std::vector<float> passed(n, 9.0f);
  apply_relu_gradient(z.data(), y0.data(), passed.data(), n, tuning, nullptr);
  // torch's threshold_backward: zero where y <= 0, so the NaN at 5 passes its gradient.
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(passed[i], y0[i] <= 0.0f ? 0.0f : z[i]) << i;
}

TEST(BnKernelsEdgeCases, AffineFalseAndNoRunningStats) {
  Geometry g{5, 2, 6};
  LaunchTuning tuning;
  tuning.sm_count = 1;
  const auto x = random_floats(static_cast<std::size_t>(g.numel()), 13, -2.0f, 0.5f);
  std::vector<float> y(x.size()), save_mean(2), save_invstd(2), workspace(workspace_floats(g, tuning));
  ForwardTrainingParams p;
  p.geometry = g;
  p.x = x.data();
  p.y = y.data();
  p.save_mean = save_mean.data();
  p.save_invstd = save_invstd.data();
  forward_training(p, workspace.data(), tuning, nullptr);
  const auto xd = to_double(x);
  const auto st = normrt::testing::ref_stats({g.N, g.C, g.S}, xd);
  EXPECT_TRUE(all_close(y, normrt::testing::ref_normalize({g.N, g.C, g.S}, xd, st.mean, st.var_biased, 1e-5, {}, {}),
                        1e-5, 1e-5));
}

}  // namespace
}  // namespace normrt::bn::emu
