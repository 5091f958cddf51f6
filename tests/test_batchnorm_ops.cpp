// normrt::ops BatchNorm on the CPU against the independent double-precision reference, on random data of
// awkward shapes; determinism; NaN propagation; argument errors leave state untouched.
#include <omp.h>

#include <cstring>

#include "golden_runner.h"
#include "reference/bn_reference.h"
#include "test_util.h"

namespace normrt {
namespace {

using testing::all_close;
using testing::RefGeometry;
using testing::throws_with;
using testing::to_double;

RefGeometry geometry_of(const Shape& shape) {
  int64_t s = 1;
  for (std::size_t d = 2; d < shape.size(); ++d) s *= shape[d];
  return {shape[0], shape[1], s};
}

Tensor random_input(const Shape& shape, Generator& gen, float mean, float std) {
  std::vector<float> v = randn(shape, gen).to_vector();
  for (float& e : v) e = mean + std * e;
  return from_vector(v, shape);
}

struct ShapeCase {
  Shape shape;
};

class BatchNormShapes : public ::testing::TestWithParam<Shape> {};

TEST_P(BatchNormShapes, TrainingForwardBackwardMatchReference) {
  const Shape shape = GetParam();
  const RefGeometry g = geometry_of(shape);
  Generator gen(static_cast<uint64_t>(shape_numel(shape)) * 31 + shape.size());
  const Tensor x = random_input(shape, gen, 0.5f, 2.0f);
  const Tensor dy = randn(shape, gen);
  const Tensor weight = random_input({g.C}, gen, 1.0f, 0.3f);
  const Tensor bias = randn({g.C}, gen);
  Tensor running_mean = randn({g.C}, gen), running_var = rand({g.C}, gen);
  const auto rm0 = to_double(running_mean), rv0 = to_double(running_var);
  const double eps = 1e-5, momentum = 0.1;

  const auto out =
      ops::batch_norm_forward_training(x, weight, bias, running_mean, running_var, Tensor(), momentum, eps);
  const auto xd = to_double(x);
  const auto st = testing::ref_stats(g, xd);
  const auto y_ref = testing::ref_normalize(g, xd, st.mean, st.var_biased, eps, to_double(weight), to_double(bias));
  EXPECT_TRUE(all_close(out.output.to_vector(), y_ref, 1e-5, 1e-6));
  EXPECT_TRUE(all_close(out.save_mean.to_vector(), st.mean, 1e-6, 1e-6));
  std::vector<double> invstd_ref, rm_ref, rv_ref;
  for (int64_t c = 0; c < g.C; ++c) {
    invstd_ref.push_back(1.0 / std::sqrt(st.var_biased[c] + eps));
    rm_ref.push_back((1 - momentum) * rm0[c] + momentum * st.mean[c]);
    rv_ref.push_back((1 - momentum) * rv0[c] + momentum * st.var_unbiased[c]);
  }
  EXPECT_TRUE(all_close(out.save_invstd.to_vector(), invstd_ref, 1e-6, 0));
  EXPECT_TRUE(all_close(running_mean.to_vector(), rm_ref, 1e-6, 1e-7));
  EXPECT_TRUE(all_close(running_var.to_vector(), rv_ref, 1e-6, 0));

  const auto grads = ops::batch_norm_backward(dy, x, weight, out.save_mean, out.save_invstd, true, eps);
  const auto ref = testing::ref_backward(g, xd, to_double(dy), to_double(weight), true, {}, {}, eps);
  // dx cancels to ~0 when N*spatial is 2; judge it against the size of its terms, |dy| * invstd * |weight|.
  const double dx_scale = testing::max_abs(to_double(dy)) * testing::max_abs(invstd_ref) *
                          testing::max_abs(to_double(weight));
  EXPECT_TRUE(all_close(grads.grad_input.to_vector(), ref.dx, 1e-4, 1e-6, dx_scale));
  EXPECT_TRUE(all_close(grads.grad_weight.to_vector(), ref.dw, 1e-5, 1e-5));
  EXPECT_TRUE(all_close(grads.grad_bias.to_vector(), ref.db, 1e-5, 1e-6));
}

TEST_P(BatchNormShapes, InferenceForwardBackwardMatchReference) {
  const Shape shape = GetParam();
  const RefGeometry g = geometry_of(shape);
  Generator gen(99 + static_cast<uint64_t>(shape_numel(shape)));
  const Tensor x = random_input(shape, gen, -1.0f, 3.0f);
  const Tensor dy = randn(shape, gen);
  const Tensor weight = random_input({g.C}, gen, 1.0f, 0.3f);
  const Tensor bias = randn({g.C}, gen);
  const Tensor running_mean = randn({g.C}, gen);
  const Tensor running_var = random_input({g.C}, gen, 2.0f, 0.5f);
  const double eps = 1e-3;
  const auto out = ops::batch_norm_forward_inference(x, weight, bias, running_mean, running_var, eps);
  const auto y_ref = testing::ref_normalize(g, to_double(x), to_double(running_mean), to_double(running_var), eps,
                                            to_double(weight), to_double(bias));
  EXPECT_TRUE(all_close(out.output.to_vector(), y_ref, 1e-5, 1e-6));
  const auto grads = ops::batch_norm_backward(dy, x, weight, out.save_mean, out.save_invstd, false, eps);
  const auto ref = testing::ref_backward(g, to_double(x), to_double(dy), to_double(weight), false,
                                         to_double(running_mean), to_double(running_var), eps);
  EXPECT_TRUE(all_close(grads.grad_input.to_vector(), ref.dx, 1e-5, 1e-6));
  EXPECT_TRUE(all_close(grads.grad_weight.to_vector(), ref.dw, 1e-5, 1e-5));
  EXPECT_TRUE(all_close(grads.grad_bias.to_vector(), ref.db, 1e-5, 1e-6));
}

// C=1, N*spatial=2, odd sizes, spatial not a multiple of 32 or 8, (N,C) and (N,C,L), one channel over many
// pieces (huge spatial), many rows of few channels, 2d and 3d, outputs large enough for non-temporal stores
// (beyond 16 MB: runs that start on a 64-byte boundary, and odd runs that start anywhere), and (N, C) rows wider
// than a 64-column block (the row sweeps, with a 2-column last block).
INSTANTIATE_TEST_SUITE_P(Shapes, BatchNormShapes,
                         ::testing::Values(Shape{2, 1}, Shape{1, 1, 2}, Shape{2, 1, 1, 1}, Shape{3, 5}, Shape{7, 3, 33},
                                           Shape{5, 4, 9}, Shape{2, 4, 5, 7}, Shape{3, 2, 3, 4, 5}, Shape{1, 1, 300001},
                                           Shape{2, 3, 70001}, Shape{70001, 3}, Shape{4, 7, 13, 17},
                                           Shape{4, 20, 60000}, Shape{2, 3, 700001}, Shape{33, 130}),
                         [](const ::testing::TestParamInfo<Shape>& info) {
                           std::string name;
                           for (int64_t s : info.param) name += (name.empty() ? "" : "x") + std::to_string(s);
                           return name;
                         });

TEST(BatchNormOps, LargeMeanSmallStdKeepsStatisticsAccurate) {
  // Mean 1e4, std 1e-2: sum/sum-of-squares in float would give garbage (even negative variances). (N, C, L), and
  // (N, C) with every column traversal of the shifted sums: whole rows in column groups, whole blocks of wider rows
  // and their narrower last block, over one piece of rows and over several; a channels-last image.
  for (const Shape& shape :
       {Shape{16, 3, 1000}, Shape{300, 130}, Shape{2100, 70}, Shape{7, 64}, Shape{4, 6, 5, 7}}) {
    SCOPED_TRACE(::testing::PrintToString(shape));
    const int64_t channels = shape[1];
    const RefGeometry g = geometry_of(shape);
    Generator gen(5);
    Tensor x = random_input(shape, gen, 1e4f, 1e-2f);
    if (shape.size() == 4) x = testing::to_channels_last(x);
    Tensor rm = zeros({channels}), rv = ones({channels});
    const auto out = ops::batch_norm_forward_training(x, Tensor(), Tensor(), rm, rv, Tensor(), 1.0, 0.0);
    const auto st = testing::ref_stats(g, to_double(x));
    std::vector<double> invstd_ref;
    for (double v : st.var_biased) invstd_ref.push_back(1 / std::sqrt(v));
    EXPECT_TRUE(all_close(out.save_mean.to_vector(), st.mean, 1e-7, 0));
    EXPECT_TRUE(all_close(out.save_invstd.to_vector(), invstd_ref, 1e-5, 0));
    EXPECT_TRUE(all_close(rv.to_vector(), st.var_unbiased, 1e-5, 0));
    // y centres x on the float mean, then on what rounding the double mean to float left (compensated centering):
    // a few float ulps of y, where the float mean alone would leave half an ulp of 1e4 times invstd (about 0.05).
    const auto y = out.output.to_vector();
    const auto y_ref = testing::ref_normalize(g, to_double(x), st.mean, st.var_biased, 0.0, {}, {});
    for (std::size_t i = 0; i < y.size(); ++i) ASSERT_NEAR(y[i], y_ref[i], 2e-6 * std::fabs(y_ref[i]) + 1e-6) << i;
  }
}

// The backward given the forward's save_mean_low (as the modules pass it) centres on the batch mean itself: the float
// save_mean alone would leave its rounding, up to half an ulp of 1e4, times sum(dy) in the weight gradient (about 5%
// here) and times the projection in dx. Without it the backward is PyTorch's, on save_mean.
TEST(BatchNormOps, BackwardForLargeMeansCentresOnTheBatchMean) {
  for (const Shape& shape : {Shape{16, 3, 1000}, Shape{300, 130}, Shape{4, 6, 5, 7}}) {
    SCOPED_TRACE(::testing::PrintToString(shape));
    const RefGeometry g = geometry_of(shape);
    Generator gen(6);
    Tensor x = random_input(shape, gen, 1e4f, 1e-2f), dy = randn(shape, gen);
    if (shape.size() == 4) {
      x = testing::to_channels_last(x);
      dy = testing::to_channels_last(dy);
    }
    const Tensor weight = random_input({g.C}, gen, 1.0f, 0.3f), bias = randn({g.C}, gen);
    const auto out = ops::batch_norm_forward_training(x, weight, bias, Tensor(), Tensor(), Tensor(), 0.1, 1e-5);
    ASSERT_TRUE(out.save_mean_low.defined());
    ops::BatchNormBackwardEpilogue epilogue;
    epilogue.mean_low = out.save_mean_low;
    const auto grads =
        ops::batch_norm_backward(dy, x, weight, out.save_mean, out.save_invstd, true, 1e-5, std::nullopt, epilogue);
    const auto ref = testing::ref_backward(g, to_double(x), to_double(dy), to_double(weight), true, {}, {}, 1e-5);
    double dw_scale = 0;
    for (double v : ref.dw) dw_scale = std::max(dw_scale, std::fabs(v));
    EXPECT_TRUE(all_close(grads.grad_weight.to_vector(), ref.dw, 1e-5, 1e-5 * dw_scale));
    EXPECT_TRUE(all_close(grads.grad_bias.to_vector(), ref.db, 1e-6, 1e-6));
    const double dx_scale = testing::max_abs(to_double(dy)) * 1e2 * testing::max_abs(to_double(weight));
    EXPECT_TRUE(all_close(grads.grad_input.to_vector(), ref.dx, 1e-6, 1e-6 * dx_scale));

    // The modules hand the low part from their forward to their backward: the same bits.
    std::shared_ptr<nn::BatchNormBase> module;
    if (shape.size() == 4) module = std::make_shared<nn::BatchNorm2d>(g.C);
    else module = std::make_shared<nn::BatchNorm1d>(g.C);
    module->weight.copy_(weight);
    module->bias.copy_(bias);
    module->forward(x);
    EXPECT_EQ(module->backward(dy).contiguous().to_vector(), grads.grad_input.contiguous().to_vector());
    EXPECT_EQ(module->weight.grad().to_vector(), grads.grad_weight.to_vector());
  }
}

// The CPU backward sums add each lane's float terms over blocks of at most 8, then the blocks in double: a block's
// rounding is at most 7 float ulps of its terms' magnitudes, and each term's (x - mean) * dy two more. A constant
// dy of 0.1f (not a binary fraction) rounds in one direction at every addition, so sums of whole lanes in float (a
// lane gets 2048 terms of a 65536-element piece) would fall far outside that bound. Long runs, 4 KB runs with their
// tails, gathered 7x7 planes, and (N, C) columns: whole 64-column blocks of wider rows, groups of 16 and single
// columns (four row lanes each), over pieces of 1024 rows.
TEST(BatchNormOps, BackwardSumsKeepTheirBlockBound) {
  const double ulp = std::ldexp(1.0, -24);
  for (const Shape& shape : {Shape{2, 3, 70001}, Shape{16, 2, 1000}, Shape{64, 2, 7, 7}, Shape{3000, 128},
                             Shape{5000, 19}}) {
    SCOPED_TRACE(::testing::PrintToString(shape));
    const RefGeometry g = geometry_of(shape);
    Generator gen(17);
    const Tensor x = random_input(shape, gen, 3.0f, 2.0f);
    const Tensor dy = full(shape, 0.1);
    Tensor rm = zeros({g.C}), rv = ones({g.C});
    const auto out = ops::batch_norm_forward_training(x, Tensor(), Tensor(), rm, rv, Tensor(), 0.1, 1e-5);
    const auto grads = ops::batch_norm_backward(dy, x, ones({g.C}), out.save_mean, out.save_invstd, true, 1e-5);
    const auto xd = to_double(x), mean = to_double(out.save_mean), invstd = to_double(out.save_invstd);
    const auto db = grads.grad_bias.to_vector(), dw = grads.grad_weight.to_vector();
    const double term = static_cast<double>(0.1f), count = static_cast<double>(g.N * g.S);
    for (int64_t c = 0; c < g.C; ++c) {
      // + one ulp for the float result
      EXPECT_NEAR(db[c], count * term, (7 + 1) * ulp * count * term) << "channel " << c;
      double dot = 0, magnitude = 0;
      for (int64_t n = 0; n < g.N; ++n)
        for (int64_t s = 0; s < g.S; ++s) {
          const double t = term * (xd[(n * g.C + c) * g.S + s] - mean[c]);
          dot += t;
          magnitude += std::abs(t);
        }
      EXPECT_NEAR(dw[c], dot * invstd[c], (7 + 2 + 1) * ulp * magnitude * invstd[c]) << "channel " << c;
    }
  }
}

// The CPU backend fuses a channel's statistics and elementwise pass into one task for tensors beyond 16 MB (beyond
// 4 MB for channels of (N, C, S) input) when there are at least four units (channels, or blocks of 64 (N, C)
// columns) per thread. Shapes two to four take the fused forward with one thread and the phased one with five
// (17 channels; 18 column blocks; 9 channels of 256 KB runs in a 4.7 MB tensor, whose backward is fused too); the
// last one only its backward (16 channels of 4000-byte runs, 5.1 MB of x and dy); the first is phased with its
// channels over several pieces. All must give the same bits.
TEST(BatchNormOps, ResultsDoNotDependOnThreadCount) {
  for (const Shape& shape :
       {Shape{3, 2, 100003}, Shape{2, 17, 131072}, Shape{4096, 1100}, Shape{2, 9, 65536}, Shape{40, 16, 1000}}) {
    SCOPED_TRACE(::testing::PrintToString(shape));
    Generator gen(11);
    const Tensor x = random_input(shape, gen, 0.0f, 1.0f);
    const Tensor dy = randn(shape, gen);
    const int threads = omp_get_max_threads();
    omp_set_num_threads(1);
    const auto one = testing::batch_norm_step_bits(x, dy);
    omp_set_num_threads(5);
    const auto five = testing::batch_norm_step_bits(x, dy);
    omp_set_num_threads(threads);
    ASSERT_EQ(one.size(), five.size());
    EXPECT_EQ(std::memcmp(one.data(), five.data(), one.size() * sizeof(float)), 0);
  }
}

TEST(BatchNormOps, NanAndInfPropagateToTheirChannelOnly) {
  std::vector<float> v(4 * 3);
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i % 5);
  v[0 * 3 + 0] = std::nanf("");
  v[1 * 3 + 1] = INFINITY;
  const Tensor x = from_vector(v, {4, 3});
  Tensor rm = zeros({3}), rv = ones({3});
  const auto out = ops::batch_norm_forward_training(x, Tensor(), Tensor(), rm, rv, Tensor(), 0.1, 1e-5);
  const auto y = out.output.to_vector();
  for (int n = 0; n < 4; ++n) {
    EXPECT_TRUE(std::isnan(y[n * 3 + 0]));
    EXPECT_TRUE(std::isnan(y[n * 3 + 1]));
    EXPECT_TRUE(std::isfinite(y[n * 3 + 2]));
  }
  EXPECT_FALSE(std::isfinite(rv.to_vector()[0]));
  EXPECT_FALSE(std::isfinite(rv.to_vector()[1]));
  EXPECT_TRUE(std::isfinite(rv.to_vector()[2]));
}

// Channels of (N, C, S) input whose float sums cannot hold them are summed in double, as PyTorch's CPU kernel sums
// every channel: a NaN (mean NaN), an infinity (mean infinite, variance NaN), values of 1e30 (squared deviations past
// float's range) and of 3e37 with one sign (block sums past it); beside them an ordinary channel. Finite statistics are
// the float64 reference's.
TEST(BatchNormOps, ChannelsPastFloatRangeAreSummedInDouble) {
  const Shape shape{2, 5, 300};
  std::vector<float> v(2 * 5 * 300);
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t c = 0; c < 5; ++c)
      for (int64_t s = 0; s < 300; ++s) {
        const float wave = static_cast<float>((n * 300 + s) % 7) - 3.0f;
        const float values[] = {wave, wave, 1e30f * wave, 3e37f * (5.0f + wave), wave};
        v[(n * 5 + c) * 300 + s] = values[c];
      }
  v[(1 * 5 + 0) * 300 + 17] = std::nanf("");
  v[(0 * 5 + 1) * 300 + 250] = INFINITY;
  const Tensor x = from_vector(v, shape);
  const auto out = ops::batch_norm_forward_training(x, Tensor(), Tensor(), Tensor(), Tensor(), Tensor(), 0.1, 1e-5);
  const auto mean = out.save_mean.to_vector(), invstd = out.save_invstd.to_vector();
  EXPECT_TRUE(std::isnan(mean[0]) && std::isnan(invstd[0]));
  EXPECT_EQ(mean[1], INFINITY);
  EXPECT_TRUE(std::isnan(invstd[1]));
  const auto st = testing::ref_stats(geometry_of(shape), to_double(x));
  for (int64_t c = 2; c < 5; ++c) {
    SCOPED_TRACE(c);
    EXPECT_NEAR(mean[c], st.mean[c], 1e-6 * std::fabs(st.mean[c]) + 1e-6);
    const double invstd_ref = 1 / std::sqrt(st.var_biased[c] + 1e-5);
    EXPECT_NEAR(invstd[c], invstd_ref, 1e-6 * invstd_ref);
  }
}

// A constant channel's statistics are its value and a variance of exactly 0, whatever the float sums round (0.3 is no
// short binary fraction): the channel layout over one piece and over several, gathered short planes, and (N, C) rows.
TEST(BatchNormOps, ConstantChannelHasItsValueAndNoVariance) {
  for (const Shape& shape : {Shape{3, 2, 1000}, Shape{2, 2, 70001}, Shape{5, 2, 3, 3}, Shape{300, 2}}) {
    SCOPED_TRACE(::testing::PrintToString(shape));
    const Tensor x = full(shape, 0.3f);
    Tensor rm = zeros({2}), rv = ones({2});
    const auto out = ops::batch_norm_forward_training(x, Tensor(), Tensor(), rm, rv, Tensor(), 1.0, 1e-5);
    EXPECT_EQ(out.save_mean.to_vector(), std::vector<float>(2, 0.3f));
    EXPECT_EQ(rv.to_vector(), std::vector<float>(2, 0.0f));
    EXPECT_EQ(out.output.to_vector(), std::vector<float>(static_cast<std::size_t>(x.numel()), 0.0f));
  }
}

// Eval mode on running statistics that are no usable variance (a zero variance with eps = 0, a negative one, an
// infinite mean), against PyTorch's CPU results (tests/golden/make_golden_bn_eval_edge.py): invstd is infinite or
// NaN there, and the infinities and NaNs of the output and gradients must be PyTorch's; the ordinary channel beside
// them keeps its precision. Contiguous and channels-last.
TEST(BatchNormOps, EvalOnDegenerateRunningStatisticsMatchesPyTorch) {
  const std::string dir = testing::golden_sibling_dir("data_bn_eval_edge") + "/";
  const auto manifest = testing::sibling_manifest("data_bn_eval_edge");
  ASSERT_EQ(manifest["cases"].size(), 2u);
  for (const auto& spec : manifest["cases"]) {
    const std::string name = spec["name"];
    auto load = [&](const std::string& key) { return load_npy(dir + name + "." + key + ".npy"); };
    const double eps = spec["eps"];
    const Tensor weight = load("weight"), bias = load("bias"), mean = load("running_mean"), var = load("running_var");
    testing::contiguous_then_channels_last(load("x").dim() == 4, [&](bool channels_last) {
      SCOPED_TRACE(name);
      auto in_format = [&](const Tensor& t) { return channels_last ? testing::to_channels_last(t) : t; };
      const Tensor x = in_format(load("x")), dy = in_format(load("dy"));
      const auto out = ops::batch_norm_forward_inference(x, weight, bias, mean, var, eps);
      // Values are of order 1: an explicit scale, as the expected infinities would make the default one infinite.
      EXPECT_TRUE(all_close(out.output.to_vector(), load("y").to_vector(), 1e-6, 1e-7, 1.0)) << "output";
      const auto grads = ops::batch_norm_backward(dy, x, weight, out.save_mean, out.save_invstd, false, eps);
      EXPECT_TRUE(all_close(grads.grad_input.to_vector(), load("dx").to_vector(), 1e-6, 1e-7, 1.0)) << "grad_input";
      EXPECT_TRUE(all_close(grads.grad_weight.to_vector(), load("dweight").to_vector(), 1e-5, 1e-6, 1.0));
      EXPECT_TRUE(all_close(grads.grad_bias.to_vector(), load("dbias").to_vector(), 1e-5, 1e-6, 1.0));
    });
  }
}

TEST(BatchNormOps, EmptyBatchCountsButLeavesStatistics) {
  Tensor rm = full({3}, 0.5), rv = full({3}, 2.0);
  Tensor counter = zeros({}, TensorOptions().dtype(DType::Int64));
  const auto out = ops::batch_norm_forward_training(zeros({0, 3}), Tensor(), Tensor(), rm, rv, counter,
                                                    std::nullopt, 1e-5);
  EXPECT_EQ(out.output.sizes(), (Shape{0, 3}));
  EXPECT_EQ(rm.to_vector(), std::vector<float>(3, 0.5f));
  EXPECT_EQ(rv.to_vector(), std::vector<float>(3, 2.0f));
  EXPECT_EQ(counter.item<int64_t>(), 1);  // torch.nn.BatchNorm increments before looking at the batch
  const auto grads = ops::batch_norm_backward(zeros({0, 3}), zeros({0, 3}), ones({3}), out.save_mean,
                                              out.save_invstd, true, 1e-5);
  EXPECT_EQ(grads.grad_input.numel(), 0);
  EXPECT_EQ(grads.grad_weight.to_vector(), std::vector<float>(3, 0.0f));
}

TEST(BatchNormOps, BadArgumentsThrowAndChangeNothing) {
  Generator gen(3);
  const Tensor x = randn({4, 3}, gen);
  Tensor rm = full({3}, 0.25), rv = full({3}, 4.0);
  Tensor counter = zeros({}, TensorOptions().dtype(DType::Int64));
  auto unchanged = [&] {
    return rm.to_vector() == std::vector<float>(3, 0.25f) && rv.to_vector() == std::vector<float>(3, 4.0f) &&
           counter.item<int64_t>() == 0;
  };
  auto train = [&](const Tensor& input, const Tensor& w, const Tensor& mean, double eps) {
    return [=] {
      ops::batch_norm_forward_training(input, w, Tensor(), mean, rv, counter, std::nullopt, eps);
    };
  };
  EXPECT_TRUE(throws_with(train(randn({1, 3}, gen), Tensor(), rm, 1e-5),
                          "Expected more than 1 value per channel when training, got input size torch.Size([1, 3])"));
  EXPECT_TRUE(
      throws_with(train(randn({1, 3, 1, 1}, gen), Tensor(), rm, 1e-5),
                  "Expected more than 1 value per channel when training, got input size torch.Size([1, 3, 1, 1])"));
  // F.batch_norm checks the batch's size before the per-channel tensors' (PyTorch 1.13).
  EXPECT_TRUE(throws_with(train(randn({1, 5}, gen), Tensor(), rm, 1e-5),
                          "Expected more than 1 value per channel when training, got input size torch.Size([1, 5])"));
  EXPECT_TRUE(
      throws_with(train(randn({4, 4}, gen), Tensor(), rm, 1e-5), "running_mean should contain 4 elements not 3"));
  EXPECT_TRUE(throws_with(train(x, ones({2}), rm, 1e-5), "weight should contain 3 elements not 2"));
  EXPECT_TRUE(throws_with(train(x, Tensor(), rm, -1.0), "eps must be a non-negative finite number, got -1"));
  EXPECT_TRUE(throws_with(train(randn({4}, gen), Tensor(), rm, 1e-5), "at least 2 dimensions"));
  EXPECT_TRUE(throws_with(train(x, Tensor(), zeros({3}, TensorOptions().dtype(DType::Int64)), 1e-5),
                          "mixed dtype (CPU): expect parameter to have scalar type of Float"));
  EXPECT_TRUE(unchanged());
  EXPECT_TRUE(throws_with(
      [&] { ops::batch_norm_forward_training(x, Tensor(), Tensor(), rm, rv, Tensor(), std::nullopt, 1e-5); },
      "momentum=None (cumulative moving average) needs num_batches_tracked"));
  // F.batch_norm(training=False)'s words, in its order: running_mean, then running_var, then weight and bias.
  EXPECT_TRUE(throws_with([&] { ops::batch_norm_forward_inference(x, ones({4}), Tensor(), Tensor(), rv, 1e-5); },
                          "running_mean must be defined in evaluation mode"));
  EXPECT_TRUE(throws_with([&] { ops::batch_norm_forward_inference(x, ones({4}), Tensor(), rm, Tensor(), 1e-5); },
                          "running_var must be defined in evaluation mode"));
  EXPECT_TRUE(throws_with([&] { ops::batch_norm_forward_inference(x, ones({4}), Tensor(), rm, zeros({5}), 1e-5); },
                          "running_var should contain 3 elements not 5"));
  const auto f = ops::batch_norm_forward_training(x, Tensor(), Tensor(), Tensor(), Tensor(), Tensor(), 0.1, 1e-5);
  EXPECT_TRUE(throws_with(
      [&] {
        ops::batch_norm_backward(randn({4, 2}, gen), x, Tensor(), f.save_mean, f.save_invstd, true, 1e-5);
      },
      "grad_output shape [4, 2] does not match input shape [4, 3]"));
  EXPECT_TRUE(throws_with([&] { ops::batch_norm_backward(x, x, Tensor(), Tensor(), f.save_invstd, true, 1e-5); },
                          "save_mean is required"));
  EXPECT_TRUE(unchanged());
}

}  // namespace
}  // namespace normrt
