// The BatchNorm kernel cases shared by the SIMT emulator suite (tests/simt) and the GPU suite (tests/gpu): each case
// runs a training forward, its backward, an eval forward and an eval backward through the kernel launchers of one
// backend (emulator or CUDA), on buffers placed at chosen offsets from a 16-byte boundary, and compares with the
// double-precision reference; every case also runs with float16 and bfloat16 elements, and the reverse-order ones
// fused: the forwards add a residual and apply the ReLU, the backwards pass dy through the ReLU's mask (from the
// forward's output) and write grad_residual. A backend provides:
//   Buffer<T>(values, elements_past=0) memory holding `values`, data() `elements_past` elements past a 16-byte boundary
//   buffer.data(), buffer.values()   its pointer for the kernels, and its contents read back
//   Tuning                           the backend's LaunchTuning type
//   forward_training(p, workspace, tuning), forward_inference(p, tuning), backward(p, workspace, tuning) for the
//   params of any element type, workspace_floats(g, tuning)
#pragma once
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "batchnorm_params.h"
#include "normrt/tensor.h"
#include "reference/bn_reference.h"
#include "test_util_core.h"

namespace normrt::testing {

struct BnKernelCase {
  std::vector<int64_t> shape;
  int sm_count;
  int64_t min_split;
  bool index64;
  bool reverse_order;  // the emulator resumes threads in reverse order (no meaning on a GPU)
  // Where the data start, in elements past a 16-byte boundary (fewer than 16 bytes' worth): x and dy at in_offset, y
  // and dx at out_offset. Equal offsets give the elementwise passes a scalar head before their units of four;
  // different ones force single elements.
  int in_offset = 0, out_offset = 0;
  // Split channels as one cooperative launch where the blocks fit (LaunchTuning::cooperative); false: the three
  // launches of reduce, finalize and elementwise.
  bool cooperative = true;
  DType element = DType::Float32;  // of x, y, dy, dx and the residual
  bool fused = false;              // residual + ReLU in the forwards, the ReLU's mask and grad_residual backward
  float x_mean = 0.5f;             // of the input (std 2): far from zero in some cases, where centring needs mean_low
};

inline std::string case_name(const BnKernelCase& k) {
  std::string name;
  for (int64_t s : k.shape) name += (name.empty() ? "" : "x") + std::to_string(s);
  name += "_sm" + std::to_string(k.sm_count) + "_split" + std::to_string(k.min_split);
  if (k.index64) name += "_i64";
  if (k.in_offset != 0 || k.out_offset != 0)
    name += "_at" + std::to_string(k.in_offset) +
            (k.out_offset != k.in_offset ? "_out" + std::to_string(k.out_offset) : "");
  if (!k.cooperative) name += "_3launch";
  if (k.element == DType::Float16) name += "_f16";
  if (k.element == DType::BFloat16) name += "_bf16";
  if (k.fused) name += "_fused";
  if (k.x_mean != 0.5f)
    name += std::string(k.x_mean < 0 ? "_mean_minus" : "_mean") + std::to_string(std::llabs(std::llround(k.x_mean)));
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
  cases.push_back({{600, 3}, 1, 16384, false, false});  // column kernel: 600 rows, 64 per step
  cases.push_back({{3, 2, 2051}, 1, 1024, true, false});
  cases.push_back({{600, 3}, 1, 16384, true, true});
  cases.push_back({{1100, 40}, 1, 16384, false, true});  // two splits of 550 rows, 32 per step
  cases.push_back({{1100, 40}, 1, 16384, true, false});  // units of four columns, 64-bit, unrolled rows
  cases.push_back({{301, 7}, 2, 64, false, false});      // single columns (C % 4 != 0) over eight row splits
  cases.push_back({{301, 7}, 2, 64, true, true});
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
  // Cooperative steps in the column layout whose threads hold row groups in registers, in shared memory and stream
  // the rest (2 splits; the emulated SM leaves a block 39 KiB): single columns (C = 7: 70 rows per thread, 8 + 9
  // groups of 4 forward, 4 + 4 backward), units of four floats (C = 8: 18 rows per thread, 4 + 4 groups of 2 forward,
  // 2 + 2 backward), and, in the 16-bit copies, units of eight (C = 8: 9 rows, 2 + 2 forward, 1 + 1 backward).
  for (bool index64 : {false, true}) {
    cases.push_back({{4500, 7}, 1, 16384, index64, index64});
    cases.push_back({{4700, 8}, 1, 16384, index64, index64});
  }
  // One launch in the column layout with one split of the rows (reverse order: the forward's momentum is a number),
  // threads holding row groups in registers and streaming more: single columns (C = 7, 40 rows per thread: 8 + 2 groups
  // of 4 forward), units of four floats (C = 8, 15 rows: 4 + 3 groups of 2) and of eight 16-bit values (C = 8, 7
  // rows: 2 + 1 groups); and the column reduction of single columns over unrolled rows (momentum=None, 600 rows).
  for (bool index64 : {false, true}) {
    cases.push_back({{1300, 7}, 1, int64_t{1} << 20, index64, true});
    cases.push_back({{2000, 8}, 1, int64_t{1} << 20, index64, true});
  }
  cases.push_back({{600, 3}, 1, 16384, true, false});
  // Split channels where the cooperative step would run, through the three launches it replaces: on the
  // reduction's partition (4100), flat with float4 units in a channel, across channels, and floats; and split rows
  // in the column layout (reduce by columns, finalize, elementwise by columns or flat).
  std::vector<BnKernelCase> three_launches = {{{3, 1, 2051}, 1, 1024, true, true},
                                              {{3, 2, 1030}, 2, 64, false, true, 1, 1},
                                              {{7, 3, 33}, 2, 64, false, false},
                                              {{70, 40}, 2, 64, false, true},
                                              {{70, 40}, 2, 64, true, false},
                                              {{1100, 40}, 1, 16384, true, false},
                                              {{301, 7}, 2, 64, true, true},
                                              {{5, 3}, 2, 64, false, false, 0, 2}};
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
  for (BnKernelCase& k : cases) k.fused = k.reverse_order;
  const std::size_t float_cases = cases.size();
  for (DType element : {DType::Float16, DType::BFloat16}) {
    for (std::size_t i = 0; i < float_cases; ++i) {
      cases.push_back(cases[i]);
      cases.back().element = element;
    }
  }
  // float32 data far from zero (|mean| / std = 5e4: the float mean's rounding, 4e-3, is 2e-3 of a std), through each
  // way a channel is finished: in the one-launch step, the cooperative step, the finalize kernel, and by columns.
  for (BnKernelCase k : std::vector<BnKernelCase>{{{7, 3, 33}, 132, 16384, false, true},
                                                  {{3, 2, 1030}, 2, 64, false, false},
                                                  {{4, 2, 4100}, 2, 2048, false, true, 0, 0, false},
                                                  {{1100, 40}, 1, 16384, false, false},
                                                  {{70, 40}, 2, 64, false, true}}) {
    k.fused = k.reverse_order;
    k.x_mean = -1e5f;
    cases.push_back(k);
  }
  // 16-bit columns: the cases above give units of eight (C = 40, 16 bytes); these give units of four, where C % 8 == 4
  // or the data sit 8 bytes past a 16-byte boundary, over unrolled rows too, and column steps over them (C = 12):
  // cooperative (19 rows per thread, 4 + 4 groups of 2 forward, 2 + 2 backward) and with one split (11 rows).
  for (DType element : {DType::Float16, DType::BFloat16}) {
    for (bool index64 : {false, true}) {
      for (BnKernelCase k : std::vector<BnKernelCase>{{{2400, 12}, 1, 16384, index64, index64},
                                                      {{700, 12}, 1, int64_t{1} << 20, index64, true},
                                                      {{70, 12}, 2, 64, index64, index64},
                                                      {{1100, 20}, 1, 16384, index64, !index64},
                                                      {{70, 40}, 2, 64, index64, false, 4, 4},
                                                      {{1100, 40}, 1, 16384, index64, true, 4, 4}}) {
        k.element = element;
        k.fused = k.reverse_order;
        cases.push_back(k);
        if (k.shape[0] == 2400 || k.shape[0] == 700) continue;
        k.cooperative = false;  // the column reduction, finalize and elementwise launches with these units
        cases.push_back(k);
      }
    }
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

// The unit roundoff of the element type: what rounding each output to it may add.
template <typename T>
double element_roundoff() {
  return std::is_same_v<T, float> ? 0.0 : std::is_same_v<T, Half> ? std::ldexp(1.0, -11) : std::ldexp(1.0, -8);
}

template <typename T>
std::vector<T> elements_of(const std::vector<float>& values) {
  std::vector<T> out;
  for (float v : values) out.push_back(T(v));
  return out;
}

template <typename T>
std::vector<double> doubles_of(const std::vector<T>& values) {
  std::vector<double> out;
  for (const T& v : values) out.push_back(static_cast<float>(v));
  return out;
}

// y = relu(y + z), the fused epilogue, on reference values.
inline std::vector<double> with_epilogue(std::vector<double> y, const std::vector<double>& z) {
  for (std::size_t i = 0; i < y.size(); ++i) y[i] = std::max(0.0, y[i] + z[i]);
  return y;
}

// dy where the fused forward's output y is > 0, else 0.
inline std::vector<double> passed_by_relu(std::vector<double> dy, const std::vector<double>& y) {
  for (std::size_t i = 0; i < dy.size(); ++i)
    if (!(y[i] > 0)) dy[i] = 0;
  return dy;
}

// Every output array of a case as the kernels wrote it, in bytes, in the order the case checks them: two backends
// (a GPU and the SIMT emulator) that ran the same case compare these bit for bit.
struct BnKernelOutputs {
  std::vector<std::string> names;
  std::vector<std::vector<unsigned char>> bytes;
};

template <typename Backend, typename T>
void check_bn_kernel_case_of(const BnKernelCase& k, BnKernelOutputs* outputs = nullptr) {
  const auto record = [outputs](const char* name, const auto& values) {
    if (outputs == nullptr) return;
    const auto* first = reinterpret_cast<const unsigned char*>(values.data());
    outputs->names.push_back(name);
    outputs->bytes.emplace_back(first, first + values.size() * sizeof(values[0]));
  };
  using Floats = typename Backend::template Buffer<float>;
  using Elements = typename Backend::template Buffer<T>;
  const double u = element_roundoff<T>();
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

  // Inputs as the element type holds them; the reference starts from those values.
  const std::vector<T> x_elements = elements_of<T>(random_floats(n, 1, k.x_mean, 2.0f));
  const std::vector<T> dy_elements = elements_of<T>(random_floats(n, 2, 0.0f, 1.0f));
  const std::vector<T> z_elements = elements_of<T>(random_floats(n, 6, 0.0f, 1.0f));
  const std::vector<double> xd = doubles_of(x_elements), dyd = doubles_of(dy_elements), zd = doubles_of(z_elements);
  const std::vector<float> weight_host = random_floats(c, 3, 1.0f, 0.3f), bias_host = random_floats(c, 4, 0.0f, 1.0f);
  const std::vector<float> rm_host = random_floats(c, 5, 0.0f, 1.0f), rv_host(c, 1.5f);
  Elements x(x_elements, k.in_offset), dy(dy_elements, k.in_offset), z(z_elements, k.in_offset);
  Elements y(std::vector<T>(n, T(-7.0f)), k.out_offset), dx(std::vector<T>(n, T(-7.0f)), k.out_offset);
  Elements dz(std::vector<T>(n, T(-7.0f)), k.out_offset);
  Floats weight(weight_host), bias(bias_host), running_mean(rm_host), running_var(rv_host);
  const std::vector<float> per_channel(c);
  Floats save_mean(per_channel), save_mean_low(per_channel), save_invstd(per_channel), dweight(per_channel),
      dbias(per_channel);
  Floats workspace(std::vector<float>(Backend::workspace_floats(g, tuning), std::nanf("")));
  typename Backend::template Buffer<int64_t> batches(std::vector<int64_t>{4});

  bn::ForwardTrainingParamsOf<T> p;
  p.geometry = g;
  p.x = x.data();
  p.weight = weight.data();
  p.bias = bias.data();
  p.y = y.data();
  p.save_mean = save_mean.data();
  p.save_invstd = save_invstd.data();
  p.save_mean_low = save_mean_low.data();
  p.running_mean = running_mean.data();
  p.running_var = running_var.data();
  p.num_batches_tracked = batches.data();
  p.eps = 1e-5;
  // The same running-average factor two ways: momentum=None (1 / 5 after the increment) in forward-order cases, which
  // keeps the CUDA backend's two-launch step, and momentum 0.2 in reverse-order ones, its one-launch step.
  p.cumulative_average = !k.reverse_order;
  p.momentum = 0.2;
  if (k.fused) {
    p.residual = z.data();
    p.relu = true;
  }
  Backend::forward_training(p, workspace.data(), tuning);

  const auto st = ref_stats(rg, xd);
  auto y_ref = ref_normalize(rg, xd, st.mean, st.var_biased, 1e-5, to_double(weight_host), to_double(bias_host));
  if (k.fused) y_ref = with_epilogue(y_ref, zd);
  record("y", y.values());
  EXPECT_TRUE(all_close(doubles_of(y.values()), y_ref, 1e-4 + 2 * u, 1e-5 + u)) << "y";
  EXPECT_TRUE(all_close(save_mean.values(), st.mean, 1e-5, 1e-5)) << "save_mean";
  // save_mean + save_mean_low: the mean to float accumulation's precision, relative to the data's spread (where the
  // float mean alone is off by up to half an ulp of the mean).
  for (std::size_t i = 0; i < c; ++i) {
    const double centre = double{save_mean.values()[i]} + double{save_mean_low.values()[i]};
    EXPECT_LE(std::fabs(centre - st.mean[i]), 1e-5 * std::sqrt(st.var_biased[i])) << "save_mean_low, channel " << i;
  }
  record("save_mean_low", save_mean_low.values());
  std::vector<double> invstd_ref, rm_ref, rv_ref;
  for (std::size_t i = 0; i < c; ++i) {
    invstd_ref.push_back(1 / std::sqrt(st.var_biased[i] + 1e-5));
    rm_ref.push_back(0.8 * rm_host[i] + 0.2 * st.mean[i]);
    rv_ref.push_back(0.8 * rv_host[i] + 0.2 * st.var_unbiased[i]);
  }
  for (auto [name, buffer] : {std::pair{"save_mean", &save_mean}, std::pair{"save_invstd", &save_invstd},
                               std::pair{"running_mean", &running_mean}, std::pair{"running_var", &running_var}})
    record(name, buffer->values());
  EXPECT_TRUE(all_close(save_invstd.values(), invstd_ref, 1e-4, 0)) << "save_invstd";
  EXPECT_TRUE(all_close(running_mean.values(), rm_ref, 1e-5, 1e-5)) << "running_mean";
  EXPECT_TRUE(all_close(running_var.values(), rv_ref, 1e-4, 0)) << "running_var";
  EXPECT_EQ(batches.values(), std::vector<int64_t>{5});

  bn::BackwardParamsOf<T> b;
  b.geometry = g;
  b.dy = dy.data();
  b.x = x.data();
  b.weight = weight.data();
  b.mean = save_mean.data();
  b.invstd = save_invstd.data();
  b.mean_low = save_mean_low.data();
  b.dx = dx.data();
  b.dweight = dweight.data();
  b.dbias = dbias.data();
  b.training = true;
  if (k.fused) {
    b.relu_output = y.data();
    b.grad_residual = dz.data();
  }
  // The fused backward's dy: passed where the forward wrote y > 0 (the kernels' own y, so that values rounding to
  // 0 cannot make the reference disagree about the mask).
  const std::vector<double> dy_passed = k.fused ? passed_by_relu(dyd, doubles_of(y.values())) : dyd;
  Backend::backward(b, workspace.data(), tuning);
  if (k.fused) EXPECT_EQ(doubles_of(dz.values()), dy_passed) << "grad_residual";
  record("dx", dx.values());
  record("dweight", dweight.values());
  record("dbias", dbias.values());
  const auto ref = ref_backward(rg, xd, dy_passed, to_double(weight_host), true, {}, {}, 1e-5);
  const double dx_scale = max_abs(dy_passed) * max_abs(invstd_ref) * max_abs(to_double(weight_host));
  EXPECT_TRUE(all_close(doubles_of(dx.values()), ref.dx, 1e-3 + 2 * u, 1e-5 + u, dx_scale)) << "dx";
  EXPECT_TRUE(all_close(dweight.values(), ref.dw, 1e-4, 1e-5)) << "dweight";
  EXPECT_TRUE(all_close(dbias.values(), ref.db, 1e-4, 1e-5)) << "dbias";

  // Eval mode: running statistics are constants.
  const auto rm_now = running_mean.values(), rv_now = running_var.values();
  bn::ForwardInferenceParamsOf<T> e;
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
  e.residual = p.residual;
  e.relu = p.relu;
  Backend::forward_inference(e, tuning);
  auto ye_ref = ref_normalize(rg, xd, to_double(rm_now), to_double(rv_now), 1e-3, to_double(weight_host),
                              to_double(bias_host));
  if (k.fused) ye_ref = with_epilogue(ye_ref, zd);
  record("eval y", y.values());
  EXPECT_TRUE(all_close(doubles_of(y.values()), ye_ref, 1e-5 + 2 * u, 1e-6 + u)) << "eval y";
  b.training = false;
  const std::vector<double> eval_dy_passed = k.fused ? passed_by_relu(dyd, doubles_of(y.values())) : dyd;
  Backend::backward(b, workspace.data(), tuning);
  if (k.fused) EXPECT_EQ(doubles_of(dz.values()), eval_dy_passed) << "eval grad_residual";
  const auto eref =
      ref_backward(rg, xd, eval_dy_passed, to_double(weight_host), false, to_double(rm_now), to_double(rv_now), 1e-3);
  record("eval dx", dx.values());
  record("eval dweight", dweight.values());
  record("eval dbias", dbias.values());
  EXPECT_TRUE(all_close(doubles_of(dx.values()), eref.dx, 1e-5 + 2 * u, 1e-6 + u)) << "eval dx";
  EXPECT_TRUE(all_close(dweight.values(), eref.dw, 1e-4, 1e-5)) << "eval dweight";
  EXPECT_TRUE(all_close(dbias.values(), eref.db, 1e-4, 1e-5)) << "eval dbias";
}

template <typename Backend>
void check_bn_kernel_case(const BnKernelCase& k, BnKernelOutputs* outputs = nullptr) {
  switch (k.element) {
    case DType::Float16: return check_bn_kernel_case_of<Backend, Half>(k, outputs);
    case DType::BFloat16: return check_bn_kernel_case_of<Backend, BFloat16>(k, outputs);
    default: return check_bn_kernel_case_of<Backend, float>(k, outputs);
  }
}

}  // namespace normrt::testing
