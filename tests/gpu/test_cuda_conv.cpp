// Convolutions and pooling on a GPU (label gpu; the emulated device runs them too, with a host stand-in for cuDNN's
// convolution API and the pooling kernels in the SIMT emulator): PyTorch golden cases, agreement with the CPU, a
// CNN step on the device, the algorithm cache and deterministic mode.
#include "conv_golden_runner.h"
#include "conv_transpose_golden_runner.h"
#include "empty_shapes_runner.h"
#include "gpu_test_support.h"
#include "interpolate_golden_runner.h"
#include "pad_golden_runner.h"
#include "pool_golden_runner.h"

namespace normrt {
namespace {

using testing::all_close;
using testing::to_double;

const Device kGpu = Device::cuda(0);

// cuDNN's convolutions: on a GPU, or the emulated device's stand-in at cuDNN's C API (tests/simt).
bool have_cudnn() { return cuda::is_available() && cuda::cudnn_version() > 0; }

class CudaConvGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(CudaConvGolden, MatchesPyTorch) {
  NORMRT_GPU_TEST_REQUIRES(cuda::is_available(), "no CUDA device");
  // cuDNN may pick FFT or Winograd algorithms, whose transforms round beyond a direct sum's bound.
  testing::run_conv_golden_case(GetParam(), kGpu, have_cudnn() ? 64.0 : 1.0);
}

INSTANTIATE_TEST_SUITE_P(PyTorch, CudaConvGolden, ::testing::ValuesIn(testing::conv_golden_case_names()),
                         [](const auto& info) { return testing::test_name(info.param); });

class CudaConvTransposeGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(CudaConvTransposeGolden, MatchesPyTorch) {
  NORMRT_GPU_TEST_REQUIRES(cuda::is_available(), "no CUDA device");
  testing::run_conv_transpose_golden_case(GetParam(), kGpu, have_cudnn() ? 64.0 : 1.0);
}

INSTANTIATE_TEST_SUITE_P(PyTorch, CudaConvTransposeGolden,
                         ::testing::ValuesIn(testing::conv_transpose_golden_case_names()),
                         [](const auto& info) { return info.param; });

class CudaPoolGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(CudaPoolGolden, MatchesPyTorch) {
  NORMRT_GPU_TEST_REQUIRES(cuda::is_available(), "no CUDA device");
  testing::run_pool_golden_case(GetParam(), kGpu);
}

INSTANTIATE_TEST_SUITE_P(PyTorch, CudaPoolGolden, ::testing::ValuesIn(testing::pool_golden_case_names()),
                         [](const auto& info) { return testing::test_name(info.param); });

class CudaPadGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(CudaPadGolden, MatchesPyTorch) {
  NORMRT_GPU_TEST_REQUIRES(cuda::is_available(), "no CUDA device");
  testing::run_pad_golden_case(GetParam(), kGpu, have_cudnn() ? 1e-4 : 1e-5);
}

INSTANTIATE_TEST_SUITE_P(PyTorch, CudaPadGolden, ::testing::ValuesIn(testing::pad_golden_case_names()),
                         [](const auto& info) { return testing::test_name(info.param); });

class CudaInterpolateGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(CudaInterpolateGolden, MatchesPyTorch) {
  NORMRT_GPU_TEST_REQUIRES(cuda::is_available(), "no CUDA device");
  testing::run_interpolate_golden_case(GetParam(), kGpu);
}

INSTANTIATE_TEST_SUITE_P(PyTorch, CudaInterpolateGolden,
                         ::testing::ValuesIn(testing::interpolate_golden_case_names()),
                         [](const auto& info) { return testing::test_name(info.param); });

// The device computes interpolate_math's functions as the CPU does: the same bits, forward and backward, in both
// layouts and for 16-bit elements.
TEST(CudaInterpolate, EqualsTheCpuBitForBit) {
  NORMRT_GPU_TEST_REQUIRES(cuda::is_available(), "no CUDA device");
  Generator gen(13);
  using M = ops::InterpolateMode;
  const std::vector<std::pair<Shape, ops::InterpolateOptions>> cases = {
      {{2, 3, 7}, ops::InterpolateOptions().size(12).mode(M::Linear).align_corners(true)},
      {{2, 3, 6, 5}, ops::InterpolateOptions().scale_factor(std::vector<double>{1.7, 0.6}).mode(M::Bilinear)},
      {{1, 4, 5, 6}, ops::InterpolateOptions().size(std::vector<int64_t>{9, 4}).mode(M::NearestExact)},
      {{1, 2, 3, 4, 5}, ops::InterpolateOptions().scale_factor(2.0).mode(M::Trilinear)},
      {{2, 2, 3, 3, 2}, ops::InterpolateOptions().size(std::vector<int64_t>{5, 2, 3})},
      // The CPU's contiguous backward sums axis by axis (planar_gradient): large factors up, down (inputs that no
      // output reaches), bicubic's clamped border taps.
      {{2, 3, 12, 12}, ops::InterpolateOptions().scale_factor(2.0).mode(M::Bilinear)},
      {{1, 2, 5, 7}, ops::InterpolateOptions().scale_factor(4.0).mode(M::Bicubic).align_corners(true)},
      {{1, 2, 9, 8}, ops::InterpolateOptions().size(std::vector<int64_t>{3, 2})},
      {{2, 1, 3}, ops::InterpolateOptions().size(25).mode(M::Linear)},
      {{1, 2, 11, 6}, ops::InterpolateOptions().size(std::vector<int64_t>{4, 13}).mode(M::Bicubic)}};
  for (const auto& [shape, options] : cases) {
    for (bool channels_last : {false, true}) {
      if (channels_last && shape.size() == 3) continue;
      const Tensor x = channels_last ? testing::to_channels_last(randn(shape, gen)) : randn(shape, gen);
      const Tensor y = ops::interpolate(x, options);
      EXPECT_TRUE(
          testing::same_bits(ops::interpolate(x.to(kGpu), options).to(Device::cpu()).to_vector(), y.to_vector()));
      const Tensor dy = randn(y.sizes(), gen).to(y.memory_format());
      EXPECT_TRUE(
          testing::same_bits(ops::interpolate_backward(dy.to(kGpu), shape, options).to(Device::cpu()).to_vector(),
                             ops::interpolate_backward(dy, shape, options).to_vector()));
      EXPECT_TRUE(testing::same_bits(
          ops::interpolate(x.to(kGpu).to(DType::BFloat16), options).to(Device::cpu()).to(DType::Float32).to_vector(),
          ops::interpolate(x.to(DType::BFloat16), options).to(DType::Float32).to_vector()));
    }
  }
}

// The device gathers with the CPU's function: every mode, 16-bit elements, 1 to 5 dimensions, cropping pads.
TEST(CudaPad, EqualsTheCpuBitForBit) {
  NORMRT_GPU_TEST_REQUIRES(cuda::is_available(), "no CUDA device");
  Generator gen(12);
  const std::vector<std::pair<Shape, std::vector<int64_t>>> cases = {
      {{2, 37}, {3, 2}}, {{2, 3, 9, 8}, {2, 1, -1, 3}}, {{2, 2, 3, 4, 5}, {1, 2, 2, 1, 0, 2}}, {{1, 1, 1}, {0, 0}}};
  for (const auto& [shape, pad] : cases) {
    const Tensor x = randn(shape, gen);
    for (const auto mode :
         {ops::PadMode::Constant, ops::PadMode::Reflect, ops::PadMode::Replicate, ops::PadMode::Circular}) {
      const Tensor y = ops::pad(x, pad, mode, mode == ops::PadMode::Constant ? 0.25 : 0.0);
      EXPECT_TRUE(testing::same_bits(
          ops::pad(x.to(kGpu), pad, mode, mode == ops::PadMode::Constant ? 0.25 : 0.0).to_vector(), y.to_vector()));
      const Tensor dy = randn(y.sizes(), gen);
      EXPECT_TRUE(testing::same_bits(ops::pad_backward(dy.to(kGpu), shape, pad, mode).to_vector(),
                                     ops::pad_backward(dy, shape, pad, mode).to_vector()));
      auto widened = [](const Tensor& t) { return t.to(DType::Float32).to_vector(); };
      EXPECT_TRUE(testing::same_bits(widened(ops::pad(x.to(kGpu).to(DType::BFloat16), pad, mode)),
                                     widened(ops::pad(x.to(DType::BFloat16), pad, mode))));
      EXPECT_TRUE(testing::same_bits(widened(ops::pad_backward(dy.to(kGpu).to(DType::Float16), shape, pad, mode)),
                                     widened(ops::pad_backward(dy.to(DType::Float16), shape, pad, mode))));
    }
  }
}

TEST(CudaPool, EqualsTheCpuBitForBit) {
  // The GPU gathers what the CPU scatters: the same float terms in the same order.
  NORMRT_GPU_TEST_REQUIRES(cuda::is_available(), "no CUDA device");
  Generator gen(6);
  const Tensor x = randn({2, 3, 9, 8}, gen);
  ops::PoolParams p;
  p.kernel_size = {3, 2};
  p.stride = {2, 1};
  p.padding = {1, 1};
  p.ceil_mode = true;
  for (bool include_pad : {true, false}) {
    p.count_include_pad = include_pad;
    const Tensor y = ops::avg_pool(x, 2, p);
    const Tensor dy = randn(y.sizes(), gen);
    EXPECT_TRUE(testing::same_bits(ops::avg_pool(x.to(kGpu), 2, p).to_vector(), y.to_vector()));
    EXPECT_TRUE(testing::same_bits(ops::avg_pool_backward(dy.to(kGpu), x.to(kGpu), 2, p).to_vector(),
                                   ops::avg_pool_backward(dy, x, 2, p).to_vector()));
  }
  const auto cpu = ops::max_pool(x, 2, p);
  const auto gpu = ops::max_pool(x.to(kGpu), 2, p);
  EXPECT_TRUE(testing::same_bits(gpu.output.to_vector(), cpu.output.to_vector()));
  EXPECT_EQ(gpu.indices.to_vector<int64_t>(), cpu.indices.to_vector<int64_t>());
  const Tensor dy = randn(cpu.output.sizes(), gen);
  EXPECT_TRUE(testing::same_bits(ops::max_pool_backward(dy.to(kGpu), x.to(kGpu), gpu.indices, 2, p).to_vector(),
                                 ops::max_pool_backward(dy, x, cpu.indices, 2, p).to_vector()));
  const Tensor a = ops::adaptive_avg_pool(x, 2, {4, 3});
  EXPECT_TRUE(testing::same_bits(ops::adaptive_avg_pool(x.to(kGpu), 2, {4, 3}).to_vector(), a.to_vector()));
  EXPECT_TRUE(testing::same_bits(ops::adaptive_avg_pool_backward(a.to(kGpu), x.to(kGpu), 2).to_vector(),
                                 ops::adaptive_avg_pool_backward(a, x, 2).to_vector()));
  // Empty channels (no launch) and an empty output (a zero gradient), in both memory formats.
  for (const MemoryFormat format : {MemoryFormat::Contiguous, MemoryFormat::ChannelsLast}) {
    const Tensor empty_channels = zeros({2, 0, 4, 2}).to(format).to(kGpu);
    EXPECT_EQ(ops::adaptive_avg_pool(empty_channels, 2, {1, 1}).sizes(), (Shape{2, 0, 1, 1}));
    const Tensor planes = ones({2, 3, 4, 2}).to(format);
    const Tensor none = ops::adaptive_avg_pool(planes.to(kGpu), 2, {0, 2});
    EXPECT_EQ(none.sizes(), (Shape{2, 3, 0, 2}));
    EXPECT_EQ(ops::adaptive_avg_pool_backward(none, planes.to(kGpu), 2).to(MemoryFormat::Contiguous).to_vector(),
              std::vector<float>(48, 0.0f));
  }
}

TEST(CudaEmptyShapes, EveryOpAnswersWithAnEmptyResultOrARefusal) {
  NORMRT_GPU_TEST_REQUIRES(cuda::is_available(), "no CUDA device");
  testing::run_empty_shapes(kGpu);
}

// Channels-last pooling runs on the device as it lies (every kind, 2-d and 3-d, every dtype), with the channel count
// as each window's step: the contiguous CPU computation's bits in the input's format, indices included; dy in the
// other format too.
TEST(CudaPool, ChannelsLastGivesTheContiguousBits) {
  NORMRT_GPU_TEST_REQUIRES(cuda::is_available(), "no CUDA device");
  Generator gen(10);
  const auto same_bits = [](const Tensor& gpu, const Tensor& cpu, MemoryFormat format) {
    EXPECT_TRUE(gpu.device().is_cuda());
    EXPECT_EQ(gpu.memory_format(), format);
    EXPECT_EQ(gpu.dtype(), cpu.dtype());
    EXPECT_TRUE(
        testing::same_bits(gpu.to(Device::cpu()).to(DType::Float32).to_vector(), cpu.to(DType::Float32).to_vector()));
  };
  for (const Shape& shape : {Shape{2, 3, 9, 8}, Shape{2, 5, 4, 7, 6}, Shape{1, 1, 5, 5}}) {
    const int spatial = static_cast<int>(shape.size()) - 2;
    const MemoryFormat cl = spatial == 2 ? MemoryFormat::ChannelsLast : MemoryFormat::ChannelsLast3d;
    ops::PoolParams p;
    p.kernel_size = spatial == 2 ? std::vector<int64_t>{3, 2} : std::vector<int64_t>{2, 3, 2};
    p.stride = spatial == 2 ? std::vector<int64_t>{2, 1} : std::vector<int64_t>{1, 2, 2};
    p.padding = {1};
    p.ceil_mode = true;
    p.count_include_pad = false;
    for (DType dtype : {DType::Float32, DType::Float16, DType::BFloat16}) {
      SCOPED_TRACE(shape_str(shape) + " " + dtype_name(dtype));
      const Tensor x = (randn(shape, gen) * 20.0).to(dtype), xg = x.to(cl).to(kGpu);
      const Tensor y = ops::avg_pool(x, spatial, p), dy = randn(y.sizes(), gen).to(dtype);
      same_bits(ops::avg_pool(xg, spatial, p), y, cl);
      same_bits(ops::avg_pool_backward(dy.to(cl).to(kGpu), xg, spatial, p), ops::avg_pool_backward(dy, x, spatial, p),
                cl);
      same_bits(ops::avg_pool_backward(dy.to(kGpu), xg, spatial, p), ops::avg_pool_backward(dy, x, spatial, p), cl);
      const auto cpu = ops::max_pool(x, spatial, p), gpu = ops::max_pool(xg, spatial, p);
      same_bits(gpu.output, cpu.output, cl);
      EXPECT_EQ(gpu.indices.memory_format(), cl);
      EXPECT_EQ(gpu.indices.to_vector<int64_t>(), cpu.indices.to_vector<int64_t>());
      same_bits(ops::max_pool_backward(dy.to(cl).to(kGpu), xg, gpu.indices, spatial, p),
                ops::max_pool_backward(dy, x, cpu.indices, spatial, p), cl);
      const std::vector<int64_t> sizes(static_cast<std::size_t>(spatial), 3);
      const Tensor a = ops::adaptive_avg_pool(x, spatial, sizes);
      same_bits(ops::adaptive_avg_pool(xg, spatial, sizes), a, cl);
      same_bits(ops::adaptive_avg_pool_backward(a.to(cl).to(kGpu), xg, spatial),
                ops::adaptive_avg_pool_backward(a, x, spatial), cl);
      // dy channels-last, the input contiguous: dx takes the input's format.
      same_bits(ops::adaptive_avg_pool_backward(a.to(cl).to(kGpu), x.to(kGpu), spatial),
                ops::adaptive_avg_pool_backward(a, x, spatial), MemoryFormat::Contiguous);
    }
  }
}

// 16-bit pooling runs on the device as it is (no float32 copies) and gives the CPU's bits: widened, pooled in float32,
// rounded once; max pooling's indices equal too.
TEST(CudaPooling, SixteenBitElementsGiveTheCpusBits) {
  NORMRT_GPU_TEST_REQUIRES(cuda::is_available(), "no CUDA device");
  Generator gen(9);
  ops::PoolParams p;
  p.kernel_size = {3, 2};
  p.stride = {2, 1};
  p.padding = {1, 1};
  p.ceil_mode = true;
  const auto same_bits = [](const Tensor& gpu, const Tensor& cpu) {
    EXPECT_EQ(gpu.dtype(), cpu.dtype());
    EXPECT_TRUE(
        testing::same_bits(gpu.to(Device::cpu()).to(DType::Float32).to_vector(), cpu.to(DType::Float32).to_vector()));
  };
  for (DType dtype : {DType::Float16, DType::BFloat16}) {
    SCOPED_TRACE(dtype_name(dtype));
    const Tensor x = (randn({2, 3, 9, 8}, gen) * 20.0).to(dtype), xg = x.to(kGpu);
    const Tensor y = ops::avg_pool(x, 2, p), dy = randn(y.sizes(), gen).to(dtype);
    same_bits(ops::avg_pool(xg, 2, p), y);
    same_bits(ops::avg_pool_backward(dy.to(kGpu), xg, 2, p), ops::avg_pool_backward(dy, x, 2, p));
    const auto cpu = ops::max_pool(x, 2, p), gpu = ops::max_pool(xg, 2, p);
    same_bits(gpu.output, cpu.output);
    EXPECT_EQ(gpu.indices.to_vector<int64_t>(), cpu.indices.to_vector<int64_t>());
    same_bits(ops::max_pool_backward(dy.to(kGpu), xg, gpu.indices, 2, p),
              ops::max_pool_backward(dy, x, cpu.indices, 2, p));
    const Tensor a = ops::adaptive_avg_pool(x, 2, {4, 3});
    same_bits(ops::adaptive_avg_pool(xg, 2, {4, 3}), a);
    same_bits(ops::adaptive_avg_pool_backward(a.to(kGpu), xg, 2), ops::adaptive_avg_pool_backward(a, x, 2));
  }
  EXPECT_TRUE(testing::throws_with(
      [&] { ops::avg_pool_backward(zeros({1, 1, 4, 4}, kGpu).to(DType::Float16),
                                   zeros({1, 1, 9, 8}, kGpu).to(DType::BFloat16), 2, p); },
      "avg_pool_backward: expected all floating operands to have one dtype, got float16 and bfloat16"));
}

TEST(CudaConv, ResidualCnnStepAgreesWithTheCpu) {
  // A small residual CNN with BatchNorm, one forward and backward on each device from the same weights, on contiguous
  // and on channels-last input (every layer's output then channels-last too, on either device).
  NORMRT_GPU_TEST_REQUIRES(cuda::is_available(), "no CUDA device");
  auto build = [] {
    return std::make_shared<nn::Sequential>(
        nn::Conv2d(nn::ConvOptions(1, 4, 3).padding(ops::PaddingMode::Same).bias(false)), nn::BatchNorm2d(4),
        nn::ReLU(),
        nn::Residual(nn::Sequential(nn::Conv2d(nn::ConvOptions(4, 8, 3).stride(2).padding(1)), nn::BatchNorm2d(8)),
                     nn::Conv2d(nn::ConvOptions(4, 8, 1).stride(2))),
        nn::MaxPool2d(2), nn::AvgPool2d(nn::AvgPoolOptions(2).padding(1)), nn::AdaptiveAvgPool2d(1), nn::Flatten(),
        nn::Linear(8, 3));
  };
  for (const MemoryFormat format : {MemoryFormat::Contiguous, MemoryFormat::ChannelsLast}) {
    SCOPED_TRACE(memory_format_name(format));
    auto cpu = build(), gpu = build();
    gpu->load_state_dict(cpu->state_dict());
    gpu->to(kGpu);
    Generator gen(12);
    const Tensor x = randn({4, 1, 12, 11}, gen).to(format), dy = randn({4, 3}, gen);
    const Tensor y_cpu = cpu->forward(x), y_gpu = gpu->forward(x.to(kGpu));
    EXPECT_TRUE(all_close(y_gpu.to_vector(), to_double(y_cpu), 1e-4, 1e-4));
    const Tensor dx_cpu = cpu->backward(dy), dx_gpu = gpu->backward(dy.to(kGpu));
    EXPECT_EQ(dx_gpu.memory_format(), format);
    EXPECT_EQ(dx_cpu.memory_format(), format);
    EXPECT_TRUE(all_close(dx_gpu.to_vector(), to_double(dx_cpu), 1e-4, 1e-4));
    const auto pc = cpu->named_parameters(), pg = gpu->named_parameters();
    ASSERT_EQ(pc.size(), pg.size());
    // Judged against the model's gradient scale: a bias before BatchNorm has an exact gradient of 0 (its shift is
    // normalised away), which both devices meet to within rounding.
    for (std::size_t i = 0; i < pc.size(); ++i) {
      const auto expected = to_double(pc[i].second.grad());
      EXPECT_TRUE(all_close(pg[i].second.grad().to_vector(), expected, 1e-4, 1e-4,
                            std::max(1.0, testing::max_abs(expected))))
          << pc[i].first;
    }
  }
}

// Convolutions on 16-bit operands: cuDNN on the GPU (float32 compute), float32 on the CPU rounded once. cuDNN's
// 16-bit algorithms may round partial sums to the 16-bit type on the way (split reductions, transforms): seen on an
// H200, up to about a fifth of a 16-bit ulp of the largest output, depending on the algorithm its search picked.
// Hence an absolute tolerance of half an ulp at the output's scale. Symmetric padding, 'same' with an even kernel
// (asymmetric: the padded problem cuDNN runs), strides and groups; 16-bit and float32 accumulators.
TEST(CudaConv, SixteenBitConvolutionsAgreeWithTheCpu) {
  NORMRT_GPU_TEST_REQUIRES(cuda::is_available(), "no CUDA device");
  struct Problem {
    Shape x, w;
    ops::ConvParams params;
  };
  ops::ConvParams padded, same, strided;
  padded.padding = {1, 1};
  same.padding_mode = ops::PaddingMode::Same;
  strided.stride = {2, 1};
  strided.groups = 2;
  const std::vector<Problem> problems = {{{2, 3, 7, 6}, {4, 3, 3, 3}, padded}, {{3, 2, 5, 5}, {3, 2, 2, 2}, same},
                                         {{2, 4, 9, 5}, {6, 2, 3, 1}, strided}};
  const auto host = [](const Tensor& t) { return t.to(Device::cpu()).to(DType::Float32).to_vector(); };
  for (const DType h : {DType::Float16, DType::BFloat16}) {
    const double ulp = h == DType::Float16 ? 1.0 / 1024 : 1.0 / 128;
    for (const Problem& p : problems) {
      SCOPED_TRACE(std::string(dtype_name(h)) + " x " + shape_str(p.x) + " w " + shape_str(p.w));
      Generator gen(3);
      const Tensor x = randn(p.x, gen).to(h), w = randn(p.w, gen).to(h), b = randn({p.w[0]}, gen).to(h);
      const Tensor y = ops::conv(x.to(kGpu), w.to(kGpu), b.to(kGpu), p.params), y_cpu = ops::conv(x, w, b, p.params);
      ASSERT_EQ(y.dtype(), h);
      // The GPU adds the bias to the rounded convolution (as PyTorch's cuDNN path does): a second rounding, at the
      // convolution's magnitude, where the bias cancels it.
      EXPECT_TRUE(all_close(host(y), host(y_cpu), 2 * ulp, ulp));
      const Tensor dy = randn(y_cpu.sizes(), gen).to(h);
      Tensor dw, db, dw_cpu, db_cpu;
      const Tensor dx = ops::conv_backward(dy.to(kGpu), x.to(kGpu), w.to(kGpu), p.params, &dw, &db);
      const Tensor dx_cpu = ops::conv_backward(dy, x, w, p.params, &dw_cpu, &db_cpu);
      EXPECT_EQ(dx.dtype(), h);
      EXPECT_EQ(dw.dtype(), h);
      EXPECT_EQ(db.dtype(), h);
      EXPECT_TRUE(all_close(host(dx), host(dx_cpu), 2 * ulp, ulp / 2));
      EXPECT_TRUE(all_close(host(dw), host(dw_cpu), 2 * ulp, ulp / 2));
      EXPECT_TRUE(all_close(host(db), host(db_cpu), 2 * ulp, ulp / 2));
      ops::conv_backward(dy.to(kGpu), x.to(kGpu), w.to(kGpu), p.params, &dw, &db, false);  // 16-bit accumulators
      EXPECT_TRUE(all_close(host(dw), host(dw_cpu * 2.0), 4 * ulp, ulp / 2));
      EXPECT_TRUE(all_close(host(db), host(db_cpu * 2.0), 4 * ulp, ulp / 2));
      Tensor dw32 = dw_cpu.to(DType::Float32).to(kGpu);  // a float32 accumulator: through float32
      ops::conv_backward(dy.to(kGpu), x.to(kGpu), w.to(kGpu), p.params, &dw32, nullptr, false);
      EXPECT_EQ(dw32.dtype(), DType::Float32);
      EXPECT_TRUE(all_close(host(dw32), host(dw_cpu * 2.0), 4 * ulp, ulp / 2));
    }
  }
}

// Channels-last activations run on cuDNN as they lie (NHWC descriptors, the filter in NHWC layout), not through
// contiguous copies: a channels-last problem is a problem of its own to cuDNN's search, searched once. Padding, 'same'
// with an even kernel (the widened problem, its leading outputs dropped), strides with groups, dilation and 3-d;
// float32 and float16; dw accumulated; dy in the other format. Where cuDNN has no algorithm for the NHWC problem (the
// emulated device's declines grouped and dilated ones) the call goes through contiguous copies.
TEST(CudaConv, ChannelsLastActivationsRunAsTheyLie) {
  NORMRT_GPU_TEST_REQUIRES(have_cudnn(), "needs cuDNN");
  struct Problem {
    Shape x, w;
    ops::ConvParams params;
  };
  ops::ConvParams padded, same, strided, dilated, volume;
  padded.padding = {1, 1};
  same.padding_mode = ops::PaddingMode::Same;
  strided.stride = {2, 1};
  strided.groups = 2;
  dilated.dilation = {2, 1};
  volume.padding = {1, 0, 1};
  const std::vector<Problem> problems = {{{2, 3, 7, 6}, {4, 3, 3, 3}, padded},  {{3, 2, 5, 5}, {3, 2, 2, 2}, same},
                                         {{2, 4, 9, 5}, {6, 2, 3, 1}, strided}, {{1, 5, 8, 7}, {2, 5, 2, 3}, dilated},
                                         {{2, 3, 4, 5, 3}, {4, 3, 3, 2, 3}, volume}};
  const auto host = [](const Tensor& t) { return t.to(Device::cpu()).to(DType::Float32).to_vector(); };
  for (const DType dtype : {DType::Float32, DType::Float16}) {
    // float32: within Winograd's and FFT's rounding (cuDNN's search may pick them); float16: half an ulp at the
    // output's scale, as in the test above.
    const double tolerance = dtype == DType::Float32 ? 1e-4 : 1.0 / 1024;
    for (const Problem& p : problems) {
      SCOPED_TRACE(std::string(dtype_name(dtype)) + " x " + shape_str(p.x) + " w " + shape_str(p.w));
      const MemoryFormat cl = p.x.size() == 4 ? MemoryFormat::ChannelsLast : MemoryFormat::ChannelsLast3d;
      Generator gen(5);
      const Tensor x = randn(p.x, gen).to(dtype), w = randn(p.w, gen).to(dtype), b = randn({p.w[0]}, gen).to(dtype);
      const Tensor y_cpu = ops::conv(x, w, b, p.params);
      const Tensor dy = randn(y_cpu.sizes(), gen).to(dtype);
      Tensor dw_cpu, db_cpu;
      const Tensor dx_cpu = ops::conv_backward(dy, x, w, p.params, &dw_cpu, &db_cpu);
      const Tensor xg = x.to(cl).to(kGpu), wg = w.to(kGpu);
      ops::conv(x.to(kGpu), wg, b.to(kGpu), p.params);  // the contiguous problem, chosen for first
      const int64_t choices = ops::conv_algorithm_choices();
      const Tensor y = ops::conv(xg, wg, b.to(kGpu), p.params);
      EXPECT_EQ(ops::conv_algorithm_choices(), choices + 1);
      ops::conv(xg, wg, b.to(kGpu), p.params);
      EXPECT_EQ(ops::conv_algorithm_choices(), choices + 1);  // cached, an NHWC problem without an algorithm too
      EXPECT_EQ(y.memory_format(), cl);
      EXPECT_TRUE(all_close(host(y), host(y_cpu), 2 * tolerance, tolerance));
      for (const bool dy_channels_last : {true, false}) {
        Tensor dw, db;
        const Tensor dyg = dy_channels_last ? dy.to(cl).to(kGpu) : dy.to(kGpu);
        const Tensor dx = ops::conv_backward(dyg, xg, wg, p.params, &dw, &db);
        EXPECT_EQ(dx.memory_format(), cl);
        EXPECT_EQ(dw.memory_format(), MemoryFormat::Contiguous);
        EXPECT_TRUE(all_close(host(dx), host(dx_cpu), 2 * tolerance, tolerance));
        EXPECT_TRUE(all_close(host(dw), host(dw_cpu), 2 * tolerance, tolerance));
        EXPECT_TRUE(all_close(host(db), host(db_cpu), 2 * tolerance, tolerance));
        ops::conv_backward(dyg, xg, wg, p.params, &dw, &db, false);  // accumulated
        EXPECT_TRUE(all_close(host(dw), host(dw_cpu * 2.0), 4 * tolerance, tolerance));
      }
      // dy channels-last, x contiguous: dx takes x's format.
      Tensor dw;
      EXPECT_EQ(ops::conv_backward(dy.to(cl).to(kGpu), x.to(kGpu), wg, p.params, &dw, nullptr).memory_format(),
                MemoryFormat::Contiguous);
    }
  }
}

// A module laid out channels-last (Module::to) on channels-last input: cuDNN reads its weight as it lies and
// accumulates the weight's gradient in place, channels-last; the values are those of the module with a contiguous
// weight.
TEST(CudaConv, ChannelsLastWeightsKeepTheirLayoutAndGradients) {
  NORMRT_GPU_TEST_REQUIRES(have_cudnn(), "needs cuDNN");
  const MemoryFormat cl = MemoryFormat::ChannelsLast;
  nn::Conv2d plain(nn::ConvOptions(3, 5, 3).padding(1)), laid_out(nn::ConvOptions(3, 5, 3).padding(1));
  laid_out.load_state_dict(plain.state_dict());
  plain.to(kGpu);
  laid_out.to(kGpu);
  laid_out.to(cl);
  Generator gen(6);
  const Tensor x = randn({2, 3, 7, 6}, gen).to(cl).to(kGpu), dy = randn({2, 5, 7, 6}, gen).to(cl).to(kGpu);
  for (int pass = 0; pass < 2; ++pass) {  // the second backward accumulates
    EXPECT_TRUE(all_close(laid_out.forward(x).to_vector(), to_double(plain.forward(x)), 1e-6, 1e-6));
    EXPECT_TRUE(all_close(laid_out.backward(dy).to_vector(), to_double(plain.backward(dy)), 1e-6, 1e-6));
  }
  EXPECT_EQ(laid_out.weight.memory_format(), cl);
  EXPECT_EQ(laid_out.weight.grad().memory_format(), cl);
  EXPECT_TRUE(all_close(laid_out.weight.grad().to_vector(), to_double(plain.weight.grad()), 1e-6, 1e-6));
  EXPECT_TRUE(all_close(laid_out.bias.grad().to_vector(), to_double(plain.bias.grad()), 1e-6, 1e-6));
}

TEST(CudaConv, EmptyBatchAndEmptyChannelsAsOnTheCpu) {
  NORMRT_GPU_TEST_REQUIRES(cuda::is_available(), "no CUDA device");
  Generator gen(2);
  const Tensor w = randn({3, 2, 3, 3}, gen), b = randn({3}, gen);
  const Tensor y = ops::conv(zeros({0, 2, 5, 5}, kGpu), w.to(kGpu), b.to(kGpu));
  EXPECT_EQ(y.sizes(), (Shape{0, 3, 3, 3}));
  EXPECT_EQ(y.device(), kGpu);
  Tensor dw, db;
  const Tensor dx = ops::conv_backward(zeros({0, 3, 3, 3}, kGpu), zeros({0, 2, 5, 5}, kGpu), w.to(kGpu), {}, &dw, &db);
  EXPECT_EQ(dx.sizes(), (Shape{0, 2, 5, 5}));
  EXPECT_EQ(dw.to_vector(), std::vector<float>(w.numel(), 0.0f));
  EXPECT_EQ(db.to_vector(), std::vector<float>(3, 0.0f));
  // No input channels: the output is the bias, as on the CPU.
  const Tensor x0 = zeros({2, 0, 4, 4}), w0 = zeros({3, 0, 3, 3});
  EXPECT_EQ(ops::conv(x0.to(kGpu), w0.to(kGpu), b.to(kGpu)).to_vector(), ops::conv(x0, w0, b).to_vector());
  ops::PoolParams p;
  p.kernel_size = {2};
  const auto r = ops::max_pool(zeros({0, 3, 4, 4}, kGpu), 2, p);
  EXPECT_EQ(r.output.sizes(), (Shape{0, 3, 2, 2}));
  EXPECT_EQ(ops::max_pool_backward(zeros({0, 3, 2, 2}, kGpu), zeros({0, 3, 4, 4}, kGpu), r.indices, 2, p).sizes(),
            (Shape{0, 3, 4, 4}));
}

TEST(CudaConv, AnAlgorithmIsChosenOncePerProblem) {
  NORMRT_GPU_TEST_REQUIRES(have_cudnn(), "needs cuDNN on a GPU");
  Generator gen(3);
  const Tensor x = randn({3, 5, 17, 13}, gen).to(kGpu), w = randn({7, 5, 3, 3}, gen).to(kGpu);
  ops::ConvParams p;
  p.padding = {1};
  const Tensor y = ops::conv(x, w, Tensor(), p);
  Tensor dw;
  ops::conv_backward(y, x, w, p, &dw, nullptr);
  const int64_t after_first = ops::conv_algorithm_choices();
  for (int i = 0; i < 3; ++i) {
    ops::conv(x, w, Tensor(), p);
    Tensor g;
    ops::conv_backward(y, x, w, p, &g, nullptr);
  }
  EXPECT_EQ(ops::conv_algorithm_choices(), after_first);  // the three directions' choices are cached
  p.stride = {2};  // a new problem is chosen for again
  ops::conv(x, w, Tensor(), p);
  EXPECT_EQ(ops::conv_algorithm_choices(), after_first + 1);
}

// Algorithms come from cuDNN's heuristics (the same in every process) unless benchmarking is asked for; then from its
// timed search, once per problem, under a cache key of its own.
TEST(CudaConv, TimedSearchOnlyWhenBenchmarking) {
  NORMRT_GPU_TEST_REQUIRES(have_cudnn(), "needs cuDNN on a GPU");
  struct Restore {
    ~Restore() { ops::set_conv_benchmark(false); }
  } restore;
  ASSERT_FALSE(ops::conv_benchmark());
  Generator gen(9);
  const Tensor x = randn({2, 6, 11, 9}, gen), w = randn({4, 6, 3, 3}, gen), dy = randn({2, 4, 9, 7}, gen);
  Tensor dw_cpu;
  const Tensor y_cpu = ops::conv(x, w, Tensor()), dx_cpu = ops::conv_backward(dy, x, w, {}, &dw_cpu, nullptr);
  for (const bool benchmark : {false, true}) {
    SCOPED_TRACE(benchmark ? "benchmark" : "heuristics");
    ops::set_conv_benchmark(benchmark);
    const int64_t choices = ops::conv_algorithm_choices(), searches = ops::conv_algorithm_searches();
    Tensor dw;
    const Tensor y = ops::conv(x.to(kGpu), w.to(kGpu), Tensor());
    const Tensor dx = ops::conv_backward(dy.to(kGpu), x.to(kGpu), w.to(kGpu), {}, &dw, nullptr);
    EXPECT_EQ(ops::conv_algorithm_choices(), choices + 3);
    EXPECT_EQ(ops::conv_algorithm_searches(), searches + (benchmark ? 3 : 0));
    EXPECT_TRUE(all_close(y.to_vector(), to_double(y_cpu), 1e-4, 1e-4));
    EXPECT_TRUE(all_close(dx.to_vector(), to_double(dx_cpu), 1e-4, 1e-4));
    EXPECT_TRUE(all_close(dw.to_vector(), to_double(dw_cpu), 1e-4, 1e-4));
  }
}

TEST(CudaConv, TheDefaultDeterministicModeRepeatsBitForBit) {
  NORMRT_GPU_TEST_REQUIRES(have_cudnn(), "needs cuDNN on a GPU");
  ASSERT_TRUE(ops::conv_deterministic());
  Generator gen(4);
  const Tensor x = randn({16, 32, 20, 20}, gen).to(kGpu), w = randn({32, 32, 3, 3}, gen).to(kGpu);
  const Tensor dy = randn({16, 32, 18, 18}, gen).to(kGpu);
  Tensor dw1, dw2;
  const Tensor dx1 = ops::conv_backward(dy, x, w, {}, &dw1, nullptr);
  const Tensor dx2 = ops::conv_backward(dy, x, w, {}, &dw2, nullptr);
  EXPECT_TRUE(testing::same_bits(dw1.to_vector(), dw2.to_vector()));
  EXPECT_TRUE(testing::same_bits(dx1.to_vector(), dx2.to_vector()));
}

// The modes reach cuDNN: TF32 and nondeterministic algorithms only when allowed. A GPU may keep exact float32 or
// repeatable results even then; the emulated device's cuDNN takes every liberty it is given
// (tests/simt/emulated_cudnn_conv.cpp), so there the allowed ones must show too.
TEST(CudaConv, Tf32AndNondeterministicAlgorithmsOnlyWhenAllowed) {
  NORMRT_GPU_TEST_REQUIRES(have_cudnn(), "needs cuDNN");
  struct Restore {
    ~Restore() {
      ops::set_conv_allow_tf32(false);
      ops::set_conv_deterministic(true);
    }
  } restore;
  Generator gen(8);
  const Tensor x = randn({4, 8, 9, 9}, gen), w = randn({8, 8, 3, 3}, gen), dy = randn({4, 8, 7, 7}, gen);
  const auto magnitude = [](const Tensor& t) {
    return ops::activation(ops::Activation::ReLU, t) + ops::activation(ops::Activation::ReLU, t * -1.0);
  };
  // Per output: the sum of |x| |w| over its terms, what a rounding of the operands scales with.
  const std::vector<float> terms = ops::conv(magnitude(x), magnitude(w), Tensor()).to_vector();
  const std::vector<float> exact = ops::conv(x, w, Tensor()).to_vector();
  const auto within = [&](const std::vector<float>& got, double relative) {
    for (std::size_t i = 0; i < got.size(); ++i)
      if (std::fabs(got[i] - exact[i]) > relative * terms[i] + 1e-6) return false;
    return true;
  };
  // Exact float32: a direct sum rounds within 1e-5 of the terms here; Winograd and FFT algorithms (which a GPU's
  // deterministic FMA search may pick) round more, within 1e-4; TF32 moves by up to 1e-3.
  const std::vector<float> fp32 = ops::conv(x.to(kGpu), w.to(kGpu), Tensor()).to_vector();
  EXPECT_TRUE(within(fp32, 1e-4));
  ops::set_conv_allow_tf32(true);
  const std::vector<float> tf32 = ops::conv(x.to(kGpu), w.to(kGpu), Tensor()).to_vector();
  EXPECT_TRUE(within(tf32, 1.1e-3));  // each operand within 2^-11 of itself: each product within 2^-10
#if NORMRT_EMULATED_DEVICE
  EXPECT_FALSE(within(tf32, 1e-5));
#endif
  ops::set_conv_allow_tf32(false);
  Tensor dw0;  // the problem's deterministic choice, cached first: the mode is part of the cache's key
  const Tensor dx0 = ops::conv_backward(dy.to(kGpu), x.to(kGpu), w.to(kGpu), {}, &dw0, nullptr);
  ops::set_conv_deterministic(false);
  Tensor dw1, dw2;
  const Tensor dx1 = ops::conv_backward(dy.to(kGpu), x.to(kGpu), w.to(kGpu), {}, &dw1, nullptr);
  const Tensor dx2 = ops::conv_backward(dy.to(kGpu), x.to(kGpu), w.to(kGpu), {}, &dw2, nullptr);
  Tensor dw_cpu;
  const Tensor dx_cpu = ops::conv_backward(dy, x, w, {}, &dw_cpu, nullptr);
  EXPECT_TRUE(all_close(dx1.to_vector(), to_double(dx_cpu), 1e-4, 1e-4));
  EXPECT_TRUE(all_close(dw1.to_vector(), to_double(dw_cpu), 1e-4, 1e-4));
#if NORMRT_EMULATED_DEVICE
  EXPECT_NE(dx1.to_vector(), dx2.to_vector());
  EXPECT_NE(dw1.to_vector(), dw2.to_vector());
#endif
}

}  // namespace
}  // namespace normrt
