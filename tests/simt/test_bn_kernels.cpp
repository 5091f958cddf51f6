// The CUDA BatchNorm kernels, run by the SIMT emulator, against the double-precision reference: awkward shapes,
// several blocks per channel, both layouts, float4 and scalar paths, 32- and 64-bit indices, both resume orders.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>

#include "batchnorm.cuh"
#include "reference/bn_reference.h"
#include "test_util_core.h"

namespace normrt::bn::emu {
namespace {

using normrt::testing::all_close;
using normrt::testing::max_abs;
using normrt::testing::RefGeometry;

std::vector<float> random_vector(std::size_t n, uint32_t seed, float mean, float std) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& e : v) e = mean + std * dist(rng);
  return v;
}

std::vector<double> to_double(const std::vector<float>& v) { return {v.begin(), v.end()}; }

struct KernelCase {
  std::vector<int64_t> shape;
  int sm_count;
  int64_t min_split;
  bool index64;
  simt::ResumeOrder order;
  // Where the data start, in floats past a 16-byte boundary: x and dy at in_offset, y and dx at out_offset. Equal
  // offsets give the elementwise passes a scalar head before their float4 units; different ones force floats.
  int in_offset = 0, out_offset = 0;
};

std::string case_name(const KernelCase& k) {
  std::string name;
  for (int64_t s : k.shape) name += (name.empty() ? "" : "x") + std::to_string(s);
  name += "_sm" + std::to_string(k.sm_count) + "_split" + std::to_string(k.min_split);
  if (k.index64) name += "_i64";
  if (k.in_offset != 0 || k.out_offset != 0)
    name += "_at" + std::to_string(k.in_offset) + (k.out_offset != k.in_offset ? "_out" + std::to_string(k.out_offset) : "");
  return name + (k.order == simt::ResumeOrder::Forward ? "_fwd" : "_rev");
}

void PrintTo(const KernelCase& k, std::ostream* os) { *os << case_name(k); }

// A buffer whose data() lies `floats_past` floats after a 16-byte boundary.
class Buffer {
 public:
  Buffer(const std::vector<float>& values, int floats_past) : storage_(values.size() + 8), offset_(0) {
    while (reinterpret_cast<uintptr_t>(storage_.data() + offset_) % 16 != sizeof(float) * floats_past) ++offset_;
    std::memcpy(data(), values.data(), values.size() * sizeof(float));
    size_ = values.size();
  }
  float* data() { return storage_.data() + offset_; }
  std::vector<float> values() const { return {storage_.begin() + offset_, storage_.begin() + offset_ + size_}; }

 private:
  std::vector<float> storage_;
  std::size_t offset_;
  std::size_t size_ = 0;
};

class BnKernels : public ::testing::TestWithParam<KernelCase> {
 protected:
  void SetUp() override { simt::set_resume_order(GetParam().order); }
  void TearDown() override { simt::set_resume_order(simt::ResumeOrder::Forward); }
};

TEST_P(BnKernels, TrainingAndInferenceMatchReference) {
  const KernelCase& k = GetParam();
  Geometry g;
  g.N = k.shape[0];
  g.C = k.shape[1];
  g.S = 1;
  for (std::size_t d = 2; d < k.shape.size(); ++d) g.S *= k.shape[d];
  const RefGeometry rg{g.N, g.C, g.S};
  const auto n = static_cast<std::size_t>(g.numel());
  const auto c = static_cast<std::size_t>(g.C);
  LaunchTuning tuning;
  tuning.sm_count = k.sm_count;
  tuning.min_split_elements = k.min_split;
  tuning.force_index64 = k.index64;

  Buffer x(random_vector(n, 1, 0.5f, 2.0f), k.in_offset), dy(random_vector(n, 2, 0.0f, 1.0f), k.in_offset);
  Buffer y(std::vector<float>(n, -7.0f), k.out_offset), dx(std::vector<float>(n, -7.0f), k.out_offset);
  const std::vector<float> weight = random_vector(c, 3, 1.0f, 0.3f), bias = random_vector(c, 4, 0.0f, 1.0f);
  std::vector<float> running_mean = random_vector(c, 5, 0.0f, 1.0f), running_var(c, 1.5f);
  std::vector<float> save_mean(c), save_invstd(c), dweight(c), dbias(c);
  std::vector<float> workspace(workspace_floats(g, tuning), std::nanf(""));
  int64_t batches = 4;
  const auto rm0 = to_double(running_mean), rv0 = to_double(running_var);

  ForwardTrainingParams p;
  p.geometry = g;
  p.x = x.data();
  p.weight = weight.data();
  p.bias = bias.data();
  p.y = y.data();
  p.save_mean = save_mean.data();
  p.save_invstd = save_invstd.data();
  p.running_mean = running_mean.data();
  p.running_var = running_var.data();
  p.num_batches_tracked = &batches;
  p.eps = 1e-5;
  p.cumulative_average = true;  // factor 1 / 5 after the increment
  const uint64_t launches = simt::launch_count();
  forward_training(p, workspace.data(), tuning, nullptr);
  EXPECT_EQ(simt::launch_count() - launches, 3u) << "reduce, finalize, normalise";

  const auto xd = to_double(x.values());
  const auto st = normrt::testing::ref_stats(rg, xd);
  const auto y_ref = normrt::testing::ref_normalize(rg, xd, st.mean, st.var_biased, 1e-5, to_double(weight),
                                                    to_double(bias));
  EXPECT_TRUE(all_close(y.values(), y_ref, 1e-4, 1e-5)) << "y";
  EXPECT_TRUE(all_close(save_mean, st.mean, 1e-5, 1e-5)) << "save_mean";
  std::vector<double> invstd_ref, rm_ref, rv_ref;
  for (std::size_t i = 0; i < c; ++i) {
    invstd_ref.push_back(1 / std::sqrt(st.var_biased[i] + 1e-5));
    rm_ref.push_back(0.8 * rm0[i] + 0.2 * st.mean[i]);
    rv_ref.push_back(0.8 * rv0[i] + 0.2 * st.var_unbiased[i]);
  }
  EXPECT_TRUE(all_close(save_invstd, invstd_ref, 1e-4, 0)) << "save_invstd";
  EXPECT_TRUE(all_close(running_mean, rm_ref, 1e-5, 1e-5)) << "running_mean";
  EXPECT_TRUE(all_close(running_var, rv_ref, 1e-4, 0)) << "running_var";
  EXPECT_EQ(batches, 5);

  BackwardParams b;
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
  backward(b, workspace.data(), tuning, nullptr);
  const auto ref = normrt::testing::ref_backward(rg, xd, to_double(dy.values()), to_double(weight), true, {}, {}, 1e-5);
  const double dx_scale = max_abs(to_double(dy.values())) * max_abs(invstd_ref) * max_abs(to_double(weight));
  EXPECT_TRUE(all_close(dx.values(), ref.dx, 1e-3, 1e-5, dx_scale)) << "dx";
  EXPECT_TRUE(all_close(dweight, ref.dw, 1e-4, 1e-5)) << "dweight";
  EXPECT_TRUE(all_close(dbias, ref.db, 1e-4, 1e-5)) << "dbias";

  // Eval mode: running statistics are constants.
  ForwardInferenceParams e;
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
  forward_inference(e, workspace.data(), tuning, nullptr);
  const auto ye_ref = normrt::testing::ref_normalize(rg, xd, to_double(running_mean), to_double(running_var), 1e-3,
                                                     to_double(weight), to_double(bias));
  EXPECT_TRUE(all_close(y.values(), ye_ref, 1e-5, 1e-6)) << "eval y";
  b.training = false;
  backward(b, workspace.data(), tuning, nullptr);
  const auto eref = normrt::testing::ref_backward(rg, xd, to_double(dy.values()), to_double(weight), false,
                                                  to_double(running_mean), to_double(running_var), 1e-3);
  EXPECT_TRUE(all_close(dx.values(), eref.dx, 1e-5, 1e-6)) << "eval dx";
  EXPECT_TRUE(all_close(dweight, eref.dw, 1e-4, 1e-5)) << "eval dweight";
  EXPECT_TRUE(all_close(dbias, eref.db, 1e-4, 1e-5)) << "eval dbias";
}

std::vector<KernelCase> kernel_cases() {
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
  std::vector<KernelCase> cases;
  for (const auto& s : shapes) {
    for (auto order : {simt::ResumeOrder::Forward, simt::ResumeOrder::Reverse}) {
      cases.push_back({s, 2, 64, false, order});
    }
  }
  for (int offset = 1; offset < 4; ++offset) {  // scalar heads of 3, 2 and 1 floats; units that span channels
    cases.push_back({{4, 2, 8}, 2, 64, false, simt::ResumeOrder::Forward, offset, offset});
    cases.push_back({{3, 2, 1030}, 2, 64, false, simt::ResumeOrder::Reverse, offset, offset});
    cases.push_back({{5, 3}, 2, 64, false, simt::ResumeOrder::Forward, offset, offset});  // numel within the edges
  }
  cases.push_back({{7, 3, 33}, 2, 64, false, simt::ResumeOrder::Forward, 0, 1});  // all floats
  cases.push_back({{3, 2, 1030}, 2, 64, true, simt::ResumeOrder::Forward, 2, 3});
  cases.push_back({{1, 1, 3}, 2, 64, false, simt::ResumeOrder::Forward, 3, 3});  // head of 1, no units, tail of 2
  cases.push_back({{3, 2, 1030}, 2, 64, true, simt::ResumeOrder::Forward});
  cases.push_back({{7, 3, 33}, 2, 64, true, simt::ResumeOrder::Reverse, 1, 1});
  cases.push_back({{70, 40}, 2, 64, true, simt::ResumeOrder::Reverse});
  cases.push_back({{70, 40}, 2, 64, true, simt::ResumeOrder::Forward, 0, 1});
  cases.push_back({{5, 3}, 2, 64, false, simt::ResumeOrder::Forward, 0, 2});
  cases.push_back({{5, 3}, 2, 64, true, simt::ResumeOrder::Reverse, 2, 2});
  cases.push_back({{7, 3, 33}, 132, 16384, false, simt::ResumeOrder::Forward});  // one block per channel
  // Ranges of more than kUnroll * 256 units per block, so that the unrolled loops of the channel kernels run:
  cases.push_back({{2, 1, 4096}, 1, 16384, false, simt::ResumeOrder::Forward});  // float4, two whole chunks
  cases.push_back({{3, 2, 2051}, 1, 16384, false, simt::ResumeOrder::Reverse});  // floats, six chunks and a rest
  cases.push_back({{4, 2, 4100}, 2, 2048, false, simt::ResumeOrder::Forward});   // four splits of 1025 units
  cases.push_back({{4, 2, 4100}, 2, 2048, true, simt::ResumeOrder::Reverse});
  cases.push_back({{3, 300}, 2, 64, false, simt::ResumeOrder::Forward});  // finalize over two blocks, (N, C) layout
  cases.push_back({{2, 260, 3}, 2, 64, false, simt::ResumeOrder::Reverse});  // and for S > 1
  cases.push_back({{600, 3}, 1, 16384, false, simt::ResumeOrder::Forward});  // column kernel: 600 rows, 128 per step
  cases.push_back({{3, 2, 2051}, 1, 16384, true, simt::ResumeOrder::Forward});
  cases.push_back({{600, 3}, 1, 16384, true, simt::ResumeOrder::Reverse});
  cases.push_back({{1100, 40}, 1, 16384, false, simt::ResumeOrder::Reverse});  // two splits of 550 rows, 16 per step
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Shapes, BnKernels, ::testing::ValuesIn(kernel_cases()),
                         [](const ::testing::TestParamInfo<KernelCase>& info) { return case_name(info.param); });

TEST(BnKernelsNumerics, LargeMeanSmallStdInFloat) {
  Geometry g{64, 2, 200};
  LaunchTuning tuning;
  tuning.sm_count = 2;
  tuning.min_split_elements = 512;
  const auto x = random_vector(static_cast<std::size_t>(g.numel()), 9, 1e4f, 1e-2f);
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
  const auto x = random_vector(static_cast<std::size_t>(g.numel()), 11, 3.0f, 1.0f);
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
  const auto a = run(simt::ResumeOrder::Forward), b = run(simt::ResumeOrder::Reverse), c = run(simt::ResumeOrder::Forward);
  EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0);
  EXPECT_EQ(std::memcmp(a.data(), c.data(), a.size() * sizeof(float)), 0);
}

TEST(BnKernelsEdgeCases, EmptyBatchCountsAndLeavesStatistics) {
  Geometry g{0, 3, 1};
  LaunchTuning tuning;
  std::vector<float> rm(3, 0.5f), rv(3, 2.0f), save_mean(3, 9.0f), save_invstd(3, 9.0f),
      workspace(workspace_floats(g, tuning));
  int64_t batches = 0;
  ForwardTrainingParams p;
  p.geometry = g;
  p.save_mean = save_mean.data();
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
}

// For a forward computed elsewhere (cuDNN): only the statistics an eval-mode backward needs.
TEST(BnKernelsEdgeCases, SaveInferenceStatistics) {
  Geometry g{4, 300, 5};
  const std::vector<float> rm = random_vector(300, 14, 1.0f, 2.0f);
  std::vector<float> rv = random_vector(300, 15, 0.0f, 1.0f), save_mean(300, 9.0f), save_invstd(300, 9.0f);
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

TEST(BnKernelsEdgeCases, AffineFalseAndNoRunningStats) {
  Geometry g{5, 2, 6};
  LaunchTuning tuning;
  tuning.sm_count = 1;
  const auto x = random_vector(static_cast<std::size_t>(g.numel()), 13, -2.0f, 0.5f);
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
