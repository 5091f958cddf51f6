// The BatchNorm kernel cases shared by the SIMT emulator suite (tests/simt) and the GPU suite (tests/gpu): each case
// runs a training forward, its backward, an eval forward and an eval backward through the kernel launchers of one
// backend (emulator or CUDA), on buffers placed at chosen offsets from a 16-byte boundary, and compares with the
// double-precision reference. A backend provides:
//   Buffer<T>(values, floats_past=0) memory holding `values`, data() `floats_past` elements after a 16-byte boundary
//   buffer.data(), buffer.values()   its pointer for the kernels, and its contents read back
//   Tuning                           the backend's LaunchTuning type
//   forward_training(p, workspace, tuning), forward_inference(p, tuning), backward(p, workspace, tuning),
//   workspace_floats(g, tuning)
#pragma once
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "batchnorm_params.h"
#include "reference/bn_reference.h"
#include "test_util_core.h"

namespace normrt::testing {

struct BnKernelCase {
  std::vector<int64_t> shape;
  int sm_count;
  int64_t min_split;
  bool index64;
  bool reverse_order;  // the emulator resumes threads in reverse order (no meaning on a GPU)
  // Where the data start, in floats past a 16-byte boundary: x and dy at in_offset, y and dx at out_offset. Equal
  // offsets give the elementwise passes a scalar head before their float4 units; different ones force floats.
  int in_offset = 0, out_offset = 0;
  // Split channels as one cooperative launch where the blocks fit (LaunchTuning::cooperative); false: the three
  // launches of reduce, finalize and elementwise.
  bool cooperative = true;
};

inline std::string case_name(const BnKernelCase& k) {
  std::string name;
  for (int64_t s : k.shape) name += (name.empty() ? "" : "x") + std::to_string(s);
  name += "_sm" + std::to_string(k.sm_count) + "_split" + std::to_string(k.min_split);
  if (k.index64) name += "_i64";
  if (k.in_offset != 0 || k.out_offset != 0)
    name += "_at" + std::to_string(k.in_offset) + (k.out_offset != k.in_offset ? "_out" + std::to_string(k.out_offset) : "");
  if (!k.cooperative) name += "_3launch";
  return name + (k.reverse_order ? "_rev" : "_fwd");
}

inline void PrintTo(const BnKernelCase& k, std::ostream* os) { *os << case_name(k); }

inline std::vector<BnKernelCase> bn_kernel_cases() {
  // sm_count 2 and small splits force several blocks per channel on these small shapes.
  const std::vector<std::vector<int64_t>> shapes = {
      {2, 1},        // C = 1, N * S = 2, (N, C) layout
      {1, 1, 2},     // N * S = 2 through the S > 1 layout
      {5, 3},        // odd (N, C)
      {70, 40},      // (N, C) with C above one warp of columns and several row splits
      {7, 3, 33},    // S not a multiple of 4 (scalar path), not of 32
      {4, 2, 8},     // float4 path
      {3, 2, 3, 4, 5},
      {2, 4, 5, 7},
      {1, 1, 1000},  // one channel over several blocks
      {3, 2, 1030},  // float4 path, partial last chunk, several blocks
  };
  std::vector<BnKernelCase> cases;
  for (const auto& s : shapes) {
    for (bool reverse : {false, true}) cases.push_back({s, 2, 64, false, reverse});
  }
  for (int offset = 1; offset < 4; ++offset) {  // scalar heads of 3, 2 and 1 floats; units that span channels
    cases.push_back({{4, 2, 8}, 2, 64, false, false, offset, offset});
    cases.push_back({{3, 2, 1030}, 2, 64, false, true, offset, offset});
    cases.push_back({{5, 3}, 2, 64, false, false, offset, offset});  // numel within the edges
  }
  cases.push_back({{7, 3, 33}, 2, 64, false, false, 0, 1});  // all floats
  cases.push_back({{3, 2, 1030}, 2, 64, true, false, 2, 3});
  cases.push_back({{1, 1, 3}, 2, 64, false, false, 3, 3});  // head of 1, no units, tail of 2
  cases.push_back({{3, 2, 1030}, 2, 64, true, false});
  cases.push_back({{7, 3, 33}, 2, 64, true, true, 1, 1});
  cases.push_back({{70, 40}, 2, 64, true, true});
  cases.push_back({{70, 40}, 2, 64, true, false, 0, 1});
  cases.push_back({{5, 3}, 2, 64, false, false, 0, 2});
  cases.push_back({{5, 3}, 2, 64, true, true, 2, 2});
  // One block per channel: a grid too small for the GPU, so the training passes run flat.
  cases.push_back({{7, 3, 33}, 132, 16384, false, false});
  cases.push_back({{4, 2, 8}, 132, 16384, true, false});
  for (bool index64 : {false, true}) {
    cases.push_back({{4, 2, 8}, 132, 16384, index64, true, 1, 1});
    cases.push_back({{4, 2, 8}, 132, 16384, index64, false, 1, 2});
  }
  // Ranges of more than kUnroll * 256 units per block, so that the unrolled loops of the channel kernels run:
  cases.push_back({{2, 1, 4096}, 1, 16384, false, false});  // float4, two whole chunks
  cases.push_back({{3, 2, 2051}, 1, 1024, false, true});    // floats, two splits of three chunks and a rest
  cases.push_back({{4, 2, 4100}, 2, 2048, false, false});   // four splits of 1025 units
  cases.push_back({{4, 2, 4100}, 2, 2048, true, true});
  cases.push_back({{3, 300}, 2, 64, false, false});     // finalize over two blocks, (N, C) layout
  cases.push_back({{2, 260, 3}, 2, 64, false, true});   // and for S > 1
  cases.push_back({{600, 3}, 1, 16384, false, false});  // column kernel: 600 rows, 128 per step
  cases.push_back({{3, 2, 2051}, 1, 1024, true, false});
  cases.push_back({{600, 3}, 1, 16384, true, true});
  cases.push_back({{1100, 40}, 1, 16384, false, true});  // two splits of 550 rows, 16 per step
  // Split channels on a grid below the GPU's size: the flat training passes, float4 units within a channel, and floats.
  // (With a scalar head: units that span channels.)
  for (bool index64 : {false, true}) {
    cases.push_back({{2, 2, 64}, 2, 64, index64, index64});
    cases.push_back({{2, 2, 64}, 2, 64, index64, false, 1, 2});
    cases.push_back({{2, 2, 64}, 2, 64, index64, true, 1, 1});
  }
  // One-launch steps with 64-bit indices: float4 units; floats over more than one unrolled chunk.
  cases.push_back({{4, 2, 8}, 132, 16384, true, true});
  cases.push_back({{3, 2, 2051}, 1, 1024, true, true});
  // Cooperative steps whose blocks hold whole chunks on chip and stream more beyond them (the emulated SM: 4 blocks,
  // 160 KiB of shared memory): four splits of 5500 float4 units (2 chunks in registers + 2 in shared memory forward,
  // 1 + 1 backward), of 20000 floats (8 + 9 forward, 4 + 4 backward), and a shorter range of floats.
  for (bool index64 : {false, true}) {
    cases.push_back({{2, 1, 44000}, 1, 1024, index64, index64});
    cases.push_back({{1, 1, 80003}, 1, 1024, index64, !index64});
  }
  cases.push_back({{3, 1, 2051}, 1, 1024, false, false});
  // Split channels where the cooperative step would run, through the three launches it replaces: on the
  // reduction's partition (4100), flat with float4 units in a channel, across channels, and floats.
  std::vector<BnKernelCase> three_launches = {{{3, 1, 2051}, 1, 1024, true, true},
                                              {{3, 2, 1030}, 2, 64, false, true, 1, 1},
                                              {{7, 3, 33}, 2, 64, false, false}};
  for (bool index64 : {false, true}) {
    three_launches.push_back({{4, 2, 4100}, 2, 2048, index64, index64});
    three_launches.push_back({{2, 2, 64}, 2, 64, index64, false});
    three_launches.push_back({{2, 2, 64}, 2, 64, index64, true, 1, 1});
    three_launches.push_back({{2, 2, 64}, 2, 64, index64, false, 1, 2});
  }
  for (BnKernelCase k : three_launches) {
    k.cooperative = false;
    cases.push_back(k);
  }
  return cases;
}

inline std::vector<float> random_floats(std::size_t n, uint32_t seed, float mean, float std) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& e : v) e = mean + std * dist(rng);
  return v;
}

template <typename T>
std::vector<double> to_double(const std::vector<T>& v) {
  return {v.begin(), v.end()};
}

template <typename Backend>
void check_bn_kernel_case(const BnKernelCase& k) {
  using Floats = typename Backend::template Buffer<float>;
  bn::Geometry g;
  g.N = k.shape[0];
  g.C = k.shape[1];
  g.S = 1;
  for (std::size_t d = 2; d < k.shape.size(); ++d) g.S *= k.shape[d];
  const RefGeometry rg{g.N, g.C, g.S};
  const auto n = static_cast<std::size_t>(g.numel());
  const auto c = static_cast<std::size_t>(g.C);
  typename Backend::Tuning tuning;
  tuning.sm_count = k.sm_count;
  tuning.min_split_elements = k.min_split;
  tuning.force_index64 = k.index64;
  tuning.cooperative = k.cooperative;

  const std::vector<float> x_host = random_floats(n, 1, 0.5f, 2.0f), dy_host = random_floats(n, 2, 0.0f, 1.0f);
  const std::vector<float> weight_host = random_floats(c, 3, 1.0f, 0.3f), bias_host = random_floats(c, 4, 0.0f, 1.0f);
  const std::vector<float> rm_host = random_floats(c, 5, 0.0f, 1.0f), rv_host(c, 1.5f);
  Floats x(x_host, k.in_offset), dy(dy_host, k.in_offset);
  Floats y(std::vector<float>(n, -7.0f), k.out_offset), dx(std::vector<float>(n, -7.0f), k.out_offset);
  Floats weight(weight_host), bias(bias_host), running_mean(rm_host), running_var(rv_host);
  const std::vector<float> per_channel(c);
  Floats save_mean(per_channel), save_invstd(per_channel), dweight(per_channel), dbias(per_channel);
  Floats workspace(std::vector<float>(Backend::workspace_floats(g, tuning), std::nanf("")));
  typename Backend::template Buffer<int64_t> batches(std::vector<int64_t>{4});

  bn::ForwardTrainingParams p;
  p.geometry = g;
  p.x = x.data();
  p.weight = weight.data();
  p.bias = bias.data();
  p.y = y.data();
  p.save_mean = save_mean.data();
  p.save_invstd = save_invstd.data();
  p.running_mean = running_mean.data();
  p.running_var = running_var.data();
  p.num_batches_tracked = batches.data();
  p.eps = 1e-5;
  // The same running-average factor two ways: momentum=None (1 / 5 after the increment) in forward-order cases, which
  // keeps the CUDA backend's two-launch step, and momentum 0.2 in reverse-order ones, its one-launch step.
  p.cumulative_average = !k.reverse_order;
  p.momentum = 0.2;
  Backend::forward_training(p, workspace.data(), tuning);

  const auto xd = to_double(x_host);
  const auto st = ref_stats(rg, xd);
  const auto y_ref = ref_normalize(rg, xd, st.mean, st.var_biased, 1e-5, to_double(weight_host), to_double(bias_host));
  EXPECT_TRUE(all_close(y.values(), y_ref, 1e-4, 1e-5)) << "y";
  EXPECT_TRUE(all_close(save_mean.values(), st.mean, 1e-5, 1e-5)) << "save_mean";
  std::vector<double> invstd_ref, rm_ref, rv_ref;
  for (std::size_t i = 0; i < c; ++i) {
    invstd_ref.push_back(1 / std::sqrt(st.var_biased[i] + 1e-5));
    rm_ref.push_back(0.8 * rm_host[i] + 0.2 * st.mean[i]);
    rv_ref.push_back(0.8 * rv_host[i] + 0.2 * st.var_unbiased[i]);
  }
  EXPECT_TRUE(all_close(save_invstd.values(), invstd_ref, 1e-4, 0)) << "save_invstd";
  EXPECT_TRUE(all_close(running_mean.values(), rm_ref, 1e-5, 1e-5)) << "running_mean";
  EXPECT_TRUE(all_close(running_var.values(), rv_ref, 1e-4, 0)) << "running_var";
  EXPECT_EQ(batches.values(), std::vector<int64_t>{5});

  bn::BackwardParams b;
  b.geometry = g;
  b.dy = dy.data();
  b.x = x.data();
  b.weight = weight.data();
  b.mean = save_mean.data();
  b.invstd = save_invstd.data();
  b.dx = dx.data();
  b.dweight = dweight.data();
  b.dbias = dbias.data();
  b.training = true;
  Backend::backward(b, workspace.data(), tuning);
  const auto ref = ref_backward(rg, xd, to_double(dy_host), to_double(weight_host), true, {}, {}, 1e-5);
  const double dx_scale = max_abs(to_double(dy_host)) * max_abs(invstd_ref) * max_abs(to_double(weight_host));
  EXPECT_TRUE(all_close(dx.values(), ref.dx, 1e-3, 1e-5, dx_scale)) << "dx";
  EXPECT_TRUE(all_close(dweight.values(), ref.dw, 1e-4, 1e-5)) << "dweight";
  EXPECT_TRUE(all_close(dbias.values(), ref.db, 1e-4, 1e-5)) << "dbias";

  // Eval mode: running statistics are constants.
  const auto rm_now = running_mean.values(), rv_now = running_var.values();
  bn::ForwardInferenceParams e;
  e.geometry = g;
  e.x = x.data();
  e.weight = weight.data();
  e.bias = bias.data();
  e.running_mean = running_mean.data();
  e.running_var = running_var.data();
  e.y = y.data();
  e.save_mean = save_mean.data();
  e.save_invstd = save_invstd.data();
  e.eps = 1e-3;
  Backend::forward_inference(e, tuning);
  const auto ye_ref = ref_normalize(rg, xd, to_double(rm_now), to_double(rv_now), 1e-3, to_double(weight_host),
                                    to_double(bias_host));
  EXPECT_TRUE(all_close(y.values(), ye_ref, 1e-5, 1e-6)) << "eval y";
  b.training = false;
  Backend::backward(b, workspace.data(), tuning);
  const auto eref = ref_backward(rg, xd, to_double(dy_host), to_double(weight_host), false, to_double(rm_now),
                                 to_double(rv_now), 1e-3);
  EXPECT_TRUE(all_close(dx.values(), eref.dx, 1e-5, 1e-6)) << "eval dx";
  EXPECT_TRUE(all_close(dweight.values(), eref.dw, 1e-4, 1e-5)) << "eval dweight";
  EXPECT_TRUE(all_close(dbias.values(), eref.db, 1e-4, 1e-5)) << "eval dbias";
}

}  // namespace normrt::testing
