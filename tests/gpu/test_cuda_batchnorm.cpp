// The custom CUDA BatchNorm kernels on a real GPU (label gpu): against the double reference and the CPU backend
// on awkward shapes, PyTorch's golden cases, module semantics, determinism, errors, 64-bit indexing.
#include "gpu_test_support.h"
#include <cstring>

#include "bn_mixed_golden_runner.h"
#include "golden_runner.h"
#include "reference/bn_reference.h"
#include "empty_shapes.h"
#include "test_util.h"
#if NORMRT_EMULATED_DEVICE
#include "emulated_device.h"
#endif

namespace normrt {
namespace {

using testing::all_close;
using testing::max_abs;
using testing::throws_with;
using testing::to_double;

bool have_gpu() { return cuda::is_available(); }
const Device kGpu = Device::cuda(0);

Tensor random_input(const Shape& shape, Generator& gen, float mean, float std) {
  std::vector<float> v = randn(shape, gen).to_vector();
  for (float& e : v) e = mean + std * e;
  return from_vector(v, shape);
}

class CudaBatchNormShapes : public ::testing::TestWithParam<Shape> {
 protected:
  void SetUp() override {
    NORMRT_GPU_TEST_REQUIRES(have_gpu(), "no CUDA device");
  }
};

TEST_P(CudaBatchNormShapes, MatchesReferenceInEveryMode) {
  const Shape shape = GetParam();
  int64_t s = 1;
  for (std::size_t d = 2; d < shape.size(); ++d) s *= shape[d];
  const testing::RefGeometry g{shape[0], shape[1], s};
  Generator gen(static_cast<uint64_t>(shape_numel(shape)) + 7);
  const Tensor x = random_input(shape, gen, 0.5f, 2.0f), dy = randn(shape, gen);
  const Tensor weight = random_input({g.C}, gen, 1.0f, 0.3f), bias = randn({g.C}, gen);
  const Tensor rm0 = randn({g.C}, gen), rv0 = rand({g.C}, gen);
  Tensor rm = rm0.to(kGpu), rv = rv0.to(kGpu);
  Tensor counter = zeros({}, TensorOptions(kGpu).dtype(DType::Int64));
  const Tensor xg = x.to(kGpu), dyg = dy.to(kGpu), wg = weight.to(kGpu), bg = bias.to(kGpu);

  const auto f = ops::batch_norm_forward_training(xg, wg, bg, rm, rv, counter, std::nullopt, 1e-5);
  const auto xd = to_double(x);
  const auto st = testing::ref_stats(g, xd);
  EXPECT_TRUE(all_close(f.output.to_vector(), testing::ref_normalize(g, xd, st.mean, st.var_biased, 1e-5,
                                                                     to_double(weight), to_double(bias)),
                        1e-4, 1e-5));
  std::vector<double> invstd;
  for (double v : st.var_biased) invstd.push_back(1 / std::sqrt(v + 1e-5));
  EXPECT_TRUE(all_close(f.save_mean.to_vector(), st.mean, 1e-5, 1e-5));
  EXPECT_TRUE(all_close(f.save_invstd.to_vector(), invstd, 1e-4, 0));
  // momentum=None, first batch: factor 1, so the running stats become the batch stats.
  EXPECT_TRUE(all_close(rm.to_vector(), st.mean, 1e-5, 1e-5));
  EXPECT_TRUE(all_close(rv.to_vector(), st.var_unbiased, 1e-4, 0));
  EXPECT_EQ(counter.item<int64_t>(), 1);

  const auto b = ops::batch_norm_backward(dyg, xg, wg, f.save_mean, f.save_invstd, true, 1e-5);
  const auto ref = testing::ref_backward(g, xd, to_double(dy), to_double(weight), true, {}, {}, 1e-5);
  const double dx_scale = max_abs(to_double(dy)) * max_abs(invstd) * max_abs(to_double(weight));
  EXPECT_TRUE(all_close(b.grad_input.to_vector(), ref.dx, 1e-3, 1e-5, dx_scale));
  EXPECT_TRUE(all_close(b.grad_weight.to_vector(), ref.dw, 1e-4, 1e-5));
  EXPECT_TRUE(all_close(b.grad_bias.to_vector(), ref.db, 1e-4, 1e-5));

  const auto e = ops::batch_norm_forward_inference(xg, wg, bg, rm0.to(kGpu), rv0.to(kGpu), 1e-3);
  EXPECT_TRUE(all_close(e.output.to_vector(), testing::ref_normalize(g, xd, to_double(rm0), to_double(rv0), 1e-3,
                                                                     to_double(weight), to_double(bias)),
                        1e-5, 1e-6));
  const auto eb = ops::batch_norm_backward(dyg, xg, wg, e.save_mean, e.save_invstd, false, 1e-3);
  const auto eref = testing::ref_backward(g, xd, to_double(dy), to_double(weight), false, to_double(rm0),
                                          to_double(rv0), 1e-3);
  EXPECT_TRUE(all_close(eb.grad_input.to_vector(), eref.dx, 1e-5, 1e-6));
  EXPECT_TRUE(all_close(eb.grad_weight.to_vector(), eref.dw, 1e-4, 1e-5));
}

INSTANTIATE_TEST_SUITE_P(Shapes, CudaBatchNormShapes,
                         ::testing::Values(Shape{2, 1}, Shape{1, 1, 2}, Shape{5, 3}, Shape{7, 3, 33}, Shape{4, 2, 8},
                                           Shape{3, 2, 3, 4, 5}, Shape{2, 4, 5, 7}, Shape{256, 1024},
                                           Shape{126000, 16}, Shape{32, 64, 1000}, Shape{8, 3, 111, 113},
                                           Shape{1, 1, 3000001}, Shape{16, 64, 28, 28}, Shape{2, 5, 4, 6, 7}),
                         [](const ::testing::TestParamInfo<Shape>& info) {
                           std::string name;
                           for (int64_t s : info.param) name += (name.empty() ? "" : "x") + std::to_string(s);
                           return name;
                         });

class CudaGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(CudaGolden, MatchesPyTorch) {
  NORMRT_GPU_TEST_REQUIRES(have_gpu(), "no CUDA device");
  testing::run_golden_case(GetParam(), kGpu, 1e-4);
}

INSTANTIATE_TEST_SUITE_P(PyTorch, CudaGolden, ::testing::ValuesIn(testing::golden_case_names()),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

// float16/bfloat16, channels-last, fused with ReLU / residual add (tests/golden/make_golden_bn_mixed.py).
class CudaMixedGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(CudaMixedGolden, MatchesPyTorch) {
  NORMRT_GPU_TEST_REQUIRES(have_gpu(), "no CUDA device");
  testing::run_bn_mixed_case(GetParam(), kGpu, 1e-4);
}

INSTANTIATE_TEST_SUITE_P(PyTorch, CudaMixedGolden, ::testing::ValuesIn(testing::bn_mixed_case_names()),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

class CudaBatchNorm : public ::testing::Test {
 protected:
  void SetUp() override {
    NORMRT_GPU_TEST_REQUIRES(have_gpu(), "no CUDA device");
  }
};

TEST_F(CudaBatchNorm, SeedExampleOnTheDevice) {
  nn::BatchNorm1d bn(3);
  bn.to(kGpu);
  const Tensor x = arange(9, kGpu).reshape({3, 3});
  const double k = 3.0 / std::sqrt(6.0 + 1e-5);
  EXPECT_TRUE(all_close(bn.forward(x).to_vector(), std::vector<double>{-k, -k, -k, 0, 0, 0, k, k, k}, 1e-6, 0));
  EXPECT_TRUE(bn.running_mean.device().is_cuda());
  EXPECT_TRUE(all_close(bn.running_mean.to_vector(), std::vector<double>{0.3, 0.4, 0.5}, 1e-6, 0));
  EXPECT_TRUE(all_close(bn.running_var.to_vector(), std::vector<double>{1.8, 1.8, 1.8}, 1e-6, 0));
  bn.forward(x);
  EXPECT_TRUE(all_close(bn.running_mean.to_vector(), std::vector<double>{0.57, 0.76, 0.95}, 1e-6, 0));
  EXPECT_EQ(bn.num_batches_tracked.item<int64_t>(), 2);
  bn.backward(bn.forward(x));  // gradient accumulation on the device
  bn.backward(bn.forward(x));
  EXPECT_TRUE(bn.weight.grad().device().is_cuda());
}

// Mean 1e4, std 1e-2 on the device: the kernels' float statistics of values shifted by each channel's first element
// keep the mean to float precision of the spread, and the forward and backward centre on save_mean +
// save_mean_low (split_mean), as the CPU does on its double mean. Centred on the float mean alone, y would carry
// half an ulp of 1e4 times invstd (about 0.05) and the weight gradient that times sum(dy) (about 5%). Through the
// module too (the context carries the low part): the op's bits.
#if NORMRT_EMULATED_DEVICE
// A call allocates its output and one block more, whose views are its per-channel outputs and its kernels'
// workspace: two stream-ordered allocations (each a driver call on a GPU) per training forward, eval forward and
// backward, split channels (the cooperative step's partial states) or not. The per-channel outputs hold their values.
// On a stream of its own: the default stream's blocks come from normrt's cache once freed (no driver call at all).
TEST_F(CudaBatchNorm, EachCallAllocatesItsOutputAndOneBlock) {
  const cuda::Stream side(0);
  const cuda::StreamGuard on_side(side);
  const auto allocations = [](const auto& call) {
    const std::size_t before = emu::stream_ordered_allocations();
    call();
    return emu::stream_ordered_allocations() - before;
  };
  Generator gen(3);
  for (const Shape& shape : {Shape{6, 5, 7, 3}, Shape{2, 3, 1000}, Shape{40, 70}}) {
    SCOPED_TRACE(shape_str(shape));
    const int64_t c = shape[1];
    const Tensor x = randn(shape, gen), dy = randn(shape, gen), w = randn({c}, gen), b = randn({c}, gen);
    const Tensor gx = x.to(kGpu), gdy = dy.to(kGpu), gw = w.to(kGpu), gb = b.to(kGpu);
    Tensor rm = zeros({c}), rv = ones({c}), grm = rm.to(kGpu), grv = rv.to(kGpu);
    ops::BatchNormForwardResult gpu, cpu = ops::batch_norm_forward_training(x, w, b, rm, rv, Tensor(), 0.1, 1e-5);
    EXPECT_EQ(allocations([&] { gpu = ops::batch_norm_forward_training(gx, gw, gb, grm, grv, Tensor(), 0.1, 1e-5); }),
              2u);
    EXPECT_TRUE(all_close(gpu.save_mean.to_vector(), cpu.save_mean.to_vector(), 1e-5, 1e-6));
    EXPECT_TRUE(all_close(gpu.save_invstd.to_vector(), cpu.save_invstd.to_vector(), 1e-5, 1e-6));
    EXPECT_TRUE(all_close(grv.to_vector(), rv.to_vector(), 1e-5, 1e-6));
    ops::BatchNormForwardResult eval;
    EXPECT_EQ(allocations([&] { eval = ops::batch_norm_forward_inference(gx, gw, gb, grm, grv, 1e-5); }), 2u);
    EXPECT_TRUE(all_close(eval.output.to_vector(),
                          ops::batch_norm_forward_inference(x, w, b, rm, rv, 1e-5).output.to_vector(), 1e-5, 1e-6));
    ops::BatchNormBackwardResult grads;
    EXPECT_EQ(
        allocations([&] { grads = ops::batch_norm_backward(gdy, gx, gw, gpu.save_mean, gpu.save_invstd, true, 1e-5); }),
        2u);
    const auto want = ops::batch_norm_backward(dy, x, w, cpu.save_mean, cpu.save_invstd, true, 1e-5);
    EXPECT_TRUE(all_close(grads.grad_weight.to_vector(), want.grad_weight.to_vector(), 1e-4, 1e-5));
    EXPECT_TRUE(all_close(grads.grad_bias.to_vector(), want.grad_bias.to_vector(), 1e-4, 1e-5));
    EXPECT_TRUE(all_close(grads.grad_input.to_vector(), want.grad_input.to_vector(), 1e-4, 1e-5));
  }
}
#endif

TEST_F(CudaBatchNorm, LargeMeansCentreOnTheBatchMean) {
  for (const Shape& shape : {Shape{16, 3, 1000}, Shape{300, 130}, Shape{4, 6, 5, 7}}) {
    SCOPED_TRACE(::testing::PrintToString(shape));
    int64_t s = 1;
    for (std::size_t d = 2; d < shape.size(); ++d) s *= shape[d];
    const testing::RefGeometry g{shape[0], shape[1], s};
    Generator gen(6);
    Tensor x = random_input(shape, gen, 1e4f, 1e-2f), dy = randn(shape, gen);
    const Tensor weight = random_input({g.C}, gen, 1.0f, 0.3f), bias = randn({g.C}, gen);
    const auto xd = to_double(x);
    const auto st = testing::ref_stats(g, xd);
    const auto ref = testing::ref_backward(g, xd, to_double(dy), to_double(weight), true, {}, {}, 1e-5);
    Tensor xg = x.to(kGpu), dyg = dy.to(kGpu);
    if (shape.size() == 4) {
      xg = testing::to_channels_last(xg);
      dyg = testing::to_channels_last(dyg);
    }
    const Tensor wg = weight.to(kGpu), bg = bias.to(kGpu);
    const auto out = ops::batch_norm_forward_training(xg, wg, bg, Tensor(), Tensor(), Tensor(), 0.1, 1e-5);
    ASSERT_TRUE(out.save_mean_low.defined());
    EXPECT_TRUE(out.save_mean_low.device().is_cuda());
    const auto y = out.output.contiguous().to_vector();
    const auto y_ref =
        testing::ref_normalize(g, xd, st.mean, st.var_biased, 1e-5, to_double(weight), to_double(bias));
    EXPECT_TRUE(all_close(y, y_ref, 1e-5, 1e-6));
    ops::BatchNormBackwardEpilogue epilogue;
    epilogue.mean_low = out.save_mean_low;
    const auto grads = ops::batch_norm_backward(dyg, xg, wg, out.save_mean, out.save_invstd, true, 1e-5,
                                                std::nullopt, epilogue);
    EXPECT_TRUE(all_close(grads.grad_weight.to_vector(), ref.dw, 1e-4, 1e-5));
    EXPECT_TRUE(all_close(grads.grad_bias.to_vector(), ref.db, 1e-5, 1e-6));
    const double dx_scale = max_abs(to_double(dy)) * 1e2 * max_abs(to_double(weight));
    EXPECT_TRUE(all_close(grads.grad_input.contiguous().to_vector(), ref.dx, 1e-5, 1e-6, dx_scale));

    std::shared_ptr<nn::BatchNormBase> module;
    if (shape.size() == 4) module = std::make_shared<nn::BatchNorm2d>(g.C);
    else module = std::make_shared<nn::BatchNorm1d>(g.C);
    module->to(kGpu);
    module->weight.copy_(wg);
    module->bias.copy_(bg);
    module->forward(xg);
    EXPECT_EQ(module->backward(dyg).contiguous().to_vector(), grads.grad_input.contiguous().to_vector());
    EXPECT_EQ(module->weight.grad().to_vector(), grads.grad_weight.to_vector());
  }
}

TEST_F(CudaBatchNorm, RunToRunIdenticalBits) {
  Generator gen(3);
  const Tensor x = random_input({4, 3, 70001}, gen, 2.0f, 1.0f).to(kGpu);
  const Tensor dy = randn({4, 3, 70001}, gen).to(kGpu);
  const auto a = testing::batch_norm_step_bits(x, dy), b = testing::batch_norm_step_bits(x, dy);
  EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0);
}

TEST_F(CudaBatchNorm, ErrorsLeaveDeviceStateUntouched) {
  nn::BatchNorm2d bn(3);
  bn.to(kGpu);
  Generator gen(1);
  bn.forward(randn({2, 3, 2, 2}, gen, kGpu));
  const auto rm = bn.running_mean.to_vector();
  EXPECT_TRUE(throws_with(
      [&] {
        bn.forward(randn({1, 3, 1, 1}, gen, kGpu));
      },
      "Expected more than 1 value per channel when training, got input size torch.Size([1, 3, 1, 1])"));
  EXPECT_TRUE(throws_with([&] { bn.forward(randn({2, 4, 2, 2}, gen, kGpu)); },
                          "running_mean should contain 4 elements not 3"));
  EXPECT_TRUE(throws_with(
      [&] {
        bn.forward(randn({2, 3, 2, 2}, gen));
      },
      "Expected all tensors to be on the same device"));
  EXPECT_EQ(bn.running_mean.to_vector(), rm);
  EXPECT_EQ(bn.num_batches_tracked.item<int64_t>(), 1);
}

TEST_F(CudaBatchNorm, EmptyDimensionsGiveEmptyGradientsAndZeroParameterGradients) {
  testing::check_empty_shapes_on(kGpu);
}

TEST_F(CudaBatchNorm, EmptyBatchAndNaN) {
  Tensor rm = full({3}, 0.5, kGpu), rv = full({3}, 2.0, kGpu);
  Tensor counter = zeros({}, TensorOptions(kGpu).dtype(DType::Int64));
  const auto out = ops::batch_norm_forward_training(zeros({0, 3}, kGpu), Tensor(), Tensor(), rm, rv, counter,
                                                    std::nullopt, 1e-5);
  EXPECT_EQ(out.output.numel(), 0);
  EXPECT_EQ(rm.to_vector(), std::vector<float>(3, 0.5f));
  EXPECT_EQ(counter.item<int64_t>(), 1);
  std::vector<float> v = {1, 2, 3, std::nanf(""), 5, 6};
  const auto y = ops::batch_norm_forward_training(from_vector(v, {3, 2}, kGpu), Tensor(), Tensor(), Tensor(), Tensor(),
                                                  Tensor(), 0.1, 1e-5)
                     .output.to_vector();
  EXPECT_TRUE(std::isfinite(y[0]) && std::isfinite(y[2]) && std::isfinite(y[4]));
  EXPECT_TRUE(std::isnan(y[1]) && std::isnan(y[3]) && std::isnan(y[5]));
}

// Eval mode on running statistics that are no usable variance (the inputs of tests/golden/make_golden_bn_eval_edge.py:
// a zero variance with eps = 0, a negative one, an infinite mean): the infinities and NaNs of PyTorch's CUDA kernels,
// whose expressions are evaluated here in double: y = weight * (x - mean) * invstd + bias, dx = dy * invstd * weight,
// dweight = sum(dy * (x - mean)) * invstd, with invstd = 1 / sqrt(running_var + eps) (PyTorch's CPU kernel, which
// the CPU backend follows, gives other NaNs: x * alpha + beta). The ordinary channel keeps its precision.
TEST_F(CudaBatchNorm, EvalOnDegenerateRunningStatisticsFollowsPyTorchsCudaKernels) {
  const std::string dir = testing::golden_sibling_dir("data_bn_eval_edge") + "/";
  const auto manifest = testing::sibling_manifest("data_bn_eval_edge");
  ASSERT_EQ(manifest["cases"].size(), 2u);
  for (const auto& spec : manifest["cases"]) {
    const std::string name = spec["name"];
    SCOPED_TRACE(name);
    auto load = [&](const std::string& key) { return load_npy(dir + name + "." + key + ".npy"); };
    const Tensor x = load("x"), dy = load("dy"), weight = load("weight"), bias = load("bias");
    const Tensor mean = load("running_mean"), var = load("running_var");
    const double eps = spec["eps"];
    const auto xd = to_double(x), dyd = to_double(dy), wd = to_double(weight), bd = to_double(bias);
    const auto md = to_double(mean), vd = to_double(var);
    int64_t s = 1;
    for (int64_t d = 2; d < x.dim(); ++d) s *= x.size(d);
    const testing::RefGeometry g{x.size(0), x.size(1), s};
    std::vector<double> y_ref(xd.size()), dx_ref(xd.size()), dw_ref(g.C, 0.0), db_ref(g.C, 0.0);
    for (int64_t c = 0; c < g.C; ++c) {
      const double invstd = 1.0 / std::sqrt(vd[c] + eps);
      for (int64_t n = 0; n < g.N; ++n)
        for (int64_t k = 0; k < g.S; ++k) {
          const auto i = static_cast<std::size_t>(g.index(n, c, k));
          y_ref[i] = wd[c] * (xd[i] - md[c]) * invstd + bd[c];
          dx_ref[i] = dyd[i] * invstd * wd[c];
          dw_ref[c] += dyd[i] * (xd[i] - md[c]);
          db_ref[c] += dyd[i];
        }
      dw_ref[c] *= invstd;
    }
    const auto out = ops::batch_norm_forward_inference(x.to(kGpu), weight.to(kGpu), bias.to(kGpu), mean.to(kGpu),
                                                       var.to(kGpu), eps);
    EXPECT_TRUE(all_close(out.output.to_vector(), y_ref, 1e-5, 1e-6, 1.0)) << "output";
    const auto grads = ops::batch_norm_backward(dy.to(kGpu), x.to(kGpu), weight.to(kGpu), out.save_mean,
                                                out.save_invstd, false, eps);
    EXPECT_TRUE(all_close(grads.grad_input.to_vector(), dx_ref, 1e-5, 1e-6, 1.0)) << "grad_input";
    EXPECT_TRUE(all_close(grads.grad_weight.to_vector(), dw_ref, 1e-5, 1e-6, 1.0)) << "grad_weight";
    EXPECT_TRUE(all_close(grads.grad_bias.to_vector(), db_ref, 1e-5, 1e-6, 1.0)) << "grad_bias";
  }
}

// More than 2^31 elements: the 64-bit index path, on data whose statistics are known exactly.
TEST_F(CudaBatchNorm, SixtyFourBitIndexing) {
  size_t free_bytes = 0, total = 0;
  ASSERT_EQ(cudaMemGetInfo(&free_bytes, &total), cudaSuccess);
  const int64_t S = (int64_t{1} << 29) + 4, C = 2, N = 2;
  if (free_bytes < static_cast<size_t>(3 * N * C * S * 4)) GTEST_SKIP() << "needs ~26 GB of device memory";
  std::vector<float> host(static_cast<std::size_t>(N * C * S));
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t s = 0; s < S; ++s) host[(n * C + c) * S + s] = static_cast<float>(c) + (s % 2 ? 0.5f : -0.5f);
  const Tensor x = from_vector(host, {N, C, S}, kGpu);
  host = {};
  const auto f = ops::batch_norm_forward_training(x, Tensor(), Tensor(), Tensor(), Tensor(), Tensor(), 0.1, 0.0);
  EXPECT_TRUE(all_close(f.save_mean.to_vector(), std::vector<double>{0.0, 1.0}, 1e-6, 1e-6));
  EXPECT_TRUE(all_close(f.save_invstd.to_vector(), std::vector<double>{2.0, 2.0}, 1e-5, 0));
  const auto y = f.output.to_vector();
  const std::size_t last = y.size() - 1;  // n = 1, c = 1, s = S - 1 (odd): +0.5 / 0.5
  EXPECT_NEAR(y[last], 1.0f, 1e-4);
  EXPECT_NEAR(y[0], -1.0f, 1e-4);
}

}  // namespace
}  // namespace normrt
