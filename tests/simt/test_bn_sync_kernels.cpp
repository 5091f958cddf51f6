// SyncBatchNorm's kernel stages (the sync_* launchers of kernels/batchnorm.cuh), run by the SIMT emulator for every
// element type: ranks played in turn on slices of one batch, their states stacked as an all_gather stacks them and
// their gradient sums added in rank order as an all-reduce adds them. Checked against the double-precision
// reference of the whole batch (uneven and empty shares, split channels, both layouts, data far from zero, the fused
// epilogue), every rank holding the same bits, and one rank giving the single-process kernels' bits.
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "batchnorm.cuh"
#include "bn_kernel_cases.h"

namespace normrt::bn::emu {
namespace {

using normrt::testing::all_close;
using normrt::testing::doubles_of;
using normrt::testing::element_roundoff;
using normrt::testing::elements_of;
using normrt::testing::max_abs;
using normrt::testing::passed_by_relu;
using normrt::testing::random_floats;
using normrt::testing::RefGeometry;
using normrt::testing::to_double;
using normrt::testing::with_epilogue;

struct SyncCase {
  std::vector<int64_t> shape;   // the whole batch
  std::vector<int64_t> shares;  // batch rows per rank
  float mean;                   // of the input (far from zero in some cases)
  int64_t min_split;            // small: channels split over several blocks
  bool fused;                   // residual + ReLU epilogue
};

std::string label(const SyncCase& k) {
  std::string out;
  for (int64_t d : k.shape) out += std::to_string(d) + "x";
  out += " over";
  for (int64_t n : k.shares) out += " " + std::to_string(n);
  return out + ", mean " + std::to_string(k.mean) + ", min_split " + std::to_string(k.min_split) +
         (k.fused ? ", fused" : "");
}

Geometry geometry(const std::vector<int64_t>& shape, int64_t rows) {
  Geometry g{rows, shape[1], 1};
  for (std::size_t d = 2; d < shape.size(); ++d) g.S *= shape[d];
  return g;
}

// One rank's buffers and results.
template <typename T>
struct Rank {
  Geometry g;
  std::size_t offset = 0;  // of its first element in the whole batch
  std::vector<T> y, dx, dz;
  std::vector<float> save_mean, save_mean_low, save_invstd, running_mean, running_var, dweight, dbias, workspace;
  int64_t batches = 3;
};

template <typename T>
void check_sync_case(const SyncCase& k) {
  SCOPED_TRACE(label(k));
  const double u = element_roundoff<T>();
  const Geometry whole = geometry(k.shape, k.shape[0]);
  const auto n = static_cast<std::size_t>(whole.numel());
  const auto C = static_cast<std::size_t>(whole.C);
  LaunchTuning tuning;
  tuning.sm_count = 2;
  tuning.min_split_elements = k.min_split;
  const std::vector<T> x = elements_of<T>(random_floats(n, 21, k.mean, 1.5f));
  const std::vector<T> dy = elements_of<T>(random_floats(n, 22, 0.0f, 1.0f));
  const std::vector<T> z = elements_of<T>(random_floats(n, 23, 0.0f, 1.0f));
  const std::vector<float> weight = random_floats(C, 24, 1.0f, 0.3f), bias = random_floats(C, 25, 0.0f, 1.0f);
  const std::vector<float> rm0 = random_floats(C, 26, 0.0f, 1.0f), rv0(C, 1.5f);
  const int ranks = static_cast<int>(k.shares.size());

  std::vector<Rank<T>> rank(static_cast<std::size_t>(ranks));
  std::vector<float> gathered(static_cast<std::size_t>(ranks) * C * kSyncStateFloats, std::nanf(""));
  std::size_t offset = 0;
  for (int r = 0; r < ranks; ++r) {
    Rank<T>& q = rank[static_cast<std::size_t>(r)];
    q.g = geometry(k.shape, k.shares[static_cast<std::size_t>(r)]);
    q.offset = offset;
    offset += static_cast<std::size_t>(q.g.numel());
    const auto local = static_cast<std::size_t>(q.g.numel());
    q.y.assign(local, T(-7.0f));
    q.dx.assign(local, T(-7.0f));
    q.dz.assign(local, T(-7.0f));
    q.save_mean.assign(C, -7.0f);
    q.save_mean_low.assign(C, -7.0f);
    q.save_invstd.assign(C, -7.0f);
    q.dweight.assign(C, -7.0f);
    q.dbias.assign(C, -7.0f);
    q.running_mean = rm0;
    q.running_var = rv0;
    q.workspace.assign(workspace_floats(q.g, tuning), std::nanf(""));
  }
  auto forward_params = [&](Rank<T>& q) {
    ForwardTrainingParamsOf<T> p;
    p.geometry = q.g;
    p.x = x.data() + q.offset;
    p.weight = weight.data();
    p.bias = bias.data();
    p.y = q.y.data();
    p.save_mean = q.save_mean.data();
    p.save_invstd = q.save_invstd.data();
    p.save_mean_low = q.save_mean_low.data();
    p.running_mean = q.running_mean.data();
    p.running_var = q.running_var.data();
    p.num_batches_tracked = &q.batches;
    p.cumulative_average = true;  // 1 / 4 after the increment
    if (k.fused) {
      p.residual = z.data() + q.offset;
      p.relu = true;
    }
    return p;
  };
  for (int r = 0; r < ranks; ++r) {
    Rank<T>& q = rank[static_cast<std::size_t>(r)];
    sync_local_statistics(forward_params(q), gathered.data() + r * C * kSyncStateFloats, q.workspace.data(), tuning,
                          nullptr);
  }
  for (Rank<T>& q : rank)
    sync_forward_from_states(forward_params(q), gathered.data(), ranks, q.workspace.data(), tuning, nullptr);

  const RefGeometry rg{whole.N, whole.C, whole.S};
  const std::vector<double> xd = doubles_of(x), dyd = doubles_of(dy), zd = doubles_of(z);
  const auto st = normrt::testing::ref_stats(rg, xd);
  auto y_ref = normrt::testing::ref_normalize(rg, xd, st.mean, st.var_biased, 1e-5, to_double(weight),
                                              to_double(bias));
  if (k.fused) y_ref = with_epilogue(y_ref, zd);
  std::vector<T> y;
  for (const Rank<T>& q : rank) y.insert(y.end(), q.y.begin(), q.y.end());
  // The mean's rounding scales with the data's distance from zero.
  const double mean_scale = 1e-5 * (1.0 + std::fabs(k.mean));
  EXPECT_TRUE(all_close(doubles_of(y), y_ref, 1e-4 + 2 * u, 1e-5 + u)) << "y";
  std::vector<double> invstd_ref, rm_ref, rv_ref;
  for (std::size_t c = 0; c < C; ++c) {
    invstd_ref.push_back(1 / std::sqrt(st.var_biased[c] + 1e-5));
    rm_ref.push_back(0.75 * rm0[c] + 0.25 * st.mean[c]);
    rv_ref.push_back(0.75 * rv0[c] + 0.25 * st.var_unbiased[c]);
  }
  const Rank<T>& first = rank[0];
  EXPECT_TRUE(all_close(first.save_mean, st.mean, 1e-6, mean_scale)) << "save_mean";
  EXPECT_TRUE(all_close(first.save_invstd, invstd_ref, 1e-4, 0)) << "save_invstd";
  EXPECT_TRUE(all_close(first.running_mean, rm_ref, 1e-6, mean_scale)) << "running_mean";
  EXPECT_TRUE(all_close(first.running_var, rv_ref, 1e-4, 0)) << "running_var";
  for (const Rank<T>& q : rank) {
    EXPECT_EQ(q.batches, 4);
    EXPECT_EQ(std::memcmp(q.save_mean.data(), first.save_mean.data(), C * sizeof(float)), 0);
    EXPECT_EQ(std::memcmp(q.save_mean_low.data(), first.save_mean_low.data(), C * sizeof(float)), 0);
    EXPECT_EQ(std::memcmp(q.save_invstd.data(), first.save_invstd.data(), C * sizeof(float)), 0);
    EXPECT_EQ(std::memcmp(q.running_var.data(), first.running_var.data(), C * sizeof(float)), 0);
  }

  // Backward: every rank's sums, added in rank order (as the all-reduce adds them), then each rank's dx.
  auto backward_params = [&](Rank<T>& q) {
    BackwardParamsOf<T> b;
    b.geometry = q.g;
    b.dy = dy.data() + q.offset;
    b.x = x.data() + q.offset;
    b.weight = weight.data();
    b.mean = q.save_mean.data();
    b.invstd = q.save_invstd.data();
    b.mean_low = q.save_mean_low.data();
    b.dx = q.dx.data();
    b.dweight = q.dweight.data();
    b.dbias = q.dbias.data();
    if (k.fused) {
      b.relu_output = q.y.data();
      b.grad_residual = q.dz.data();
    }
    return b;
  };
  std::vector<float> total(2 * C + 1, 0.0f), sums(2 * C + 1);
  for (Rank<T>& q : rank) {
    sums.assign(sums.size(), std::nanf(""));
    sync_local_gradient_sums(backward_params(q), sums.data(), q.workspace.data(), tuning, nullptr);
    for (std::size_t i = 0; i < sums.size(); ++i) total[i] += sums[i];
  }
  EXPECT_EQ(total[2 * C], static_cast<float>(whole.per_channel()));
  for (Rank<T>& q : rank)
    sync_backward_from_sums(backward_params(q), total.data(), q.workspace.data(), tuning, nullptr);
  const std::vector<double> dy_passed = k.fused ? passed_by_relu(dyd, doubles_of(y)) : dyd;
  const auto ref = normrt::testing::ref_backward(rg, xd, dy_passed, to_double(weight), true, {}, {}, 1e-5);
  std::vector<T> dx, dz;
  std::vector<double> dweight(C, 0.0), dbias(C, 0.0);
  for (const Rank<T>& q : rank) {
    dx.insert(dx.end(), q.dx.begin(), q.dx.end());
    dz.insert(dz.end(), q.dz.begin(), q.dz.end());
    for (std::size_t c = 0; c < C; ++c) {
      dweight[c] += q.dweight[c];
      dbias[c] += q.dbias[c];
    }
  }
  const double dx_scale = max_abs(dy_passed) * max_abs(invstd_ref) * max_abs(to_double(weight));
  EXPECT_TRUE(all_close(doubles_of(dx), ref.dx, 1e-3 + 2 * u, 1e-5 + u, dx_scale)) << "dx";
  if (k.fused) EXPECT_EQ(doubles_of(dz), dy_passed) << "grad_residual";
  // dweight = sum dy * (x - mean - mean_low) * invstd: centred on the compensated mean, so the data's distance from
  // zero does not enter the bound.
  EXPECT_TRUE(all_close(dweight, ref.dw, 1e-4, 1e-5)) << "dweight (sum over ranks)";
  EXPECT_TRUE(all_close(dbias, ref.db, 1e-4, 1e-5)) << "dbias (sum over ranks)";
}

const std::vector<SyncCase>& sync_cases() {
  static const std::vector<SyncCase> cases = {
      {{9, 3, 37}, {4, 5}, 0.5f, 16, false},          // split channels, S odd (scalar units)
      {{6, 2, 8}, {2, 0, 3, 1}, 1e4f, 8, true},       // an empty share, far from zero, float4 units, fused
      {{12, 5}, {5, 7}, -3.0f, 4, false},             // (N, C): columns, split rows
      {{40, 8}, {13, 27}, 2.0f, 4, true},             // columns of four channels
      {{40, 8}, {27, 13}, -3e4f, 4, false},           // the same far from zero
      {{5, 3, 2, 3}, {1, 1, 1, 1, 1}, 0.0f, 16384, false},  // one block per channel, one sample per rank
      {{70, 1, 3}, {70}, 1.0f, 32, false}};           // one rank, C = 1
  return cases;
}

TEST(BnSyncKernels, RanksTogetherComputeTheWholeBatch) {
  for (const SyncCase& k : sync_cases()) {
    check_sync_case<float>(k);
    check_sync_case<Half>(k);
    check_sync_case<BFloat16>(k);
  }
}

// Every rank's share empty: statistics of nothing (zeros, running statistics kept), the batch still counted.
template <typename T>
void check_all_empty() {
  const Geometry g{0, 3, 4};
  LaunchTuning tuning;
  std::vector<float> states(2 * 3 * kSyncStateFloats, std::nanf("")), workspace(workspace_floats(g, tuning));
  std::vector<float> save_mean(3, 9.0f), save_mean_low(3, 9.0f), save_invstd(3, 9.0f), rm(3, 0.5f), rv(3, 2.0f);
  int64_t batches = 0;
  ForwardTrainingParamsOf<T> p;
  p.geometry = g;
  p.save_mean = save_mean.data();
  p.save_invstd = save_invstd.data();
  p.save_mean_low = save_mean_low.data();
  p.running_mean = rm.data();
  p.running_var = rv.data();
  p.num_batches_tracked = &batches;
  for (int r = 0; r < 2; ++r) sync_local_statistics(p, states.data() + r * 3 * kSyncStateFloats, workspace.data(),
                                                    tuning, nullptr);
  sync_forward_from_states(p, states.data(), 2, workspace.data(), tuning, nullptr);
  EXPECT_EQ(batches, 1);
  EXPECT_EQ(save_mean, std::vector<float>(3, 0.0f));
  EXPECT_EQ(save_mean_low, std::vector<float>(3, 0.0f));
  EXPECT_EQ(save_invstd, std::vector<float>(3, 0.0f));
  EXPECT_EQ(rm, std::vector<float>(3, 0.5f));
  EXPECT_EQ(rv, std::vector<float>(3, 2.0f));
  std::vector<float> sums(7, std::nanf(""));
  BackwardParamsOf<T> b;
  b.geometry = g;
  b.mean = save_mean.data();
  b.invstd = save_invstd.data();
  sync_local_gradient_sums(b, sums.data(), workspace.data(), tuning, nullptr);
  EXPECT_EQ(sums, std::vector<float>(7, 0.0f));
  sync_backward_from_sums(b, sums.data(), workspace.data(), tuning, nullptr);  // nothing to write
}

TEST(BnSyncKernels, EveryShareEmpty) {
  check_all_empty<float>();
  check_all_empty<Half>();
  check_all_empty<BFloat16>();
}

// One rank: the stages give the single-process step's bits (three launches, where the stages' merge has the most
// to differ in).
TEST(BnSyncKernels, OneRankGivesTheSingleProcessBits) {
  const Geometry g{6, 3, 29};
  LaunchTuning tuning;
  tuning.sm_count = 2;
  tuning.min_split_elements = 8;
  tuning.cooperative = false;
  const auto x = random_floats(static_cast<std::size_t>(g.numel()), 31, 100.0f, 0.5f);
  const auto dy = random_floats(static_cast<std::size_t>(g.numel()), 32, 0.0f, 1.0f);
  const std::vector<float> weight = random_floats(3, 33, 1.0f, 0.3f), bias = random_floats(3, 34, 0.0f, 1.0f);
  struct Out {
    std::vector<float> y, dx, per_channel;
  };
  auto run = [&](bool staged) {
    Out o;
    o.y.assign(x.size(), 0.0f);
    o.dx.assign(x.size(), 0.0f);
    o.per_channel.assign(6 * 3, 0.0f);
    float* v = o.per_channel.data();
    std::vector<float> workspace(workspace_floats(g, tuning)), states(3 * kSyncStateFloats), sums(7);
    int64_t batches = 0;
    ForwardTrainingParams p;
    p.geometry = g;
    p.x = x.data();
    p.weight = weight.data();
    p.bias = bias.data();
    p.y = o.y.data();
    p.save_mean = v;
    p.save_invstd = v + 3;
    p.running_mean = v + 6;
    p.running_var = v + 9;
    p.num_batches_tracked = &batches;
    BackwardParams b;
    b.geometry = g;
    b.dy = dy.data();
    b.x = x.data();
    b.weight = weight.data();
    b.mean = v;
    b.invstd = v + 3;
    b.dx = o.dx.data();
    b.dweight = v + 12;
    b.dbias = v + 15;
    if (staged) {
      sync_local_statistics(p, states.data(), workspace.data(), tuning, nullptr);
      sync_forward_from_states(p, states.data(), 1, workspace.data(), tuning, nullptr);
      sync_local_gradient_sums(b, sums.data(), workspace.data(), tuning, nullptr);
      sync_backward_from_sums(b, sums.data(), workspace.data(), tuning, nullptr);
    } else {
      forward_training(p, workspace.data(), tuning, nullptr);
      backward(b, workspace.data(), tuning, nullptr);
    }
    EXPECT_EQ(batches, 1);
    return o;
  };
  const Out staged = run(true), single = run(false);
  EXPECT_EQ(std::memcmp(staged.y.data(), single.y.data(), x.size() * sizeof(float)), 0);
  EXPECT_EQ(std::memcmp(staged.dx.data(), single.dx.data(), x.size() * sizeof(float)), 0);
  EXPECT_EQ(std::memcmp(staged.per_channel.data(), single.per_channel.data(), 18 * sizeof(float)), 0);
}

}  // namespace
}  // namespace normrt::bn::emu
