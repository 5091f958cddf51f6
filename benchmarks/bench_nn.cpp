// Linear forward/backward through normrt against the bare GEMM underneath (cuBLAS sgemm on the GPU, OpenBLAS
// sgemm on the CPU); Conv2d forward/backward and a Conv2d -> BatchNorm2d -> ReLU block (BatchNorm on normrt's
// kernels or on cuDNN) on ResNet-50 shapes (on the GPU also cuDNN on NCHW against NHWC activations, float32 and
// float16), and on the CPU normrt-train's ResNet convolutions with and without oneDNN; max pooling (normrt's kernel
// against cuDNN's pooling on the GPU); one optimizer step over a 1M-parameter model (SGD with momentum, Adam,
// Adadelta, RMSprop, Adagrad, Adamax, RAdam); memory-format conversions (to channels-last and back) in float32 and
// bfloat16; host tensor ops (arithmetic, reductions, copies, concatenation, random draws, softmax and losses, dropout,
// ResNet's stem max pooling, padding, activations) and the CPU optimizer steps for benchmarks/compare_host_ops_cpu.py.
// GPU timing: CUDA events on the current stream, warm-up, medians of --benchmark_repetitions (default 5).
// Run: build/benchmarks/bench_nn [--benchmark_filter=gpu]
#include <benchmark/benchmark.h>
#include <cblas.h>

#include <cstring>
#include <functional>
#include <numeric>
#include <set>

#include "bench_util.h"
#include "normrt/normrt.h"

#if NORMRT_WITH_CUDA
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include "normrt/cuda_check.h"
#endif

using namespace normrt;

namespace {

struct LinearShape {
  int64_t batch, in, out;
};
const LinearShape kShapes[] = {{128, 784, 256}, {256, 256, 256}, {1024, 1024, 1024}, {4096, 4096, 1024}};

std::string label(const LinearShape& s) {
  return std::to_string(s.batch) + "x" + std::to_string(s.in) + "->" + std::to_string(s.out);
}

// Runs fn under CUDA-event timing on GPU benchmarks, plain wall time on CPU ones.
void timed(benchmark::State& state, const Device& device, const std::function<void()>& fn) {
  for (int i = 0; i < 3; ++i) fn();
#if NORMRT_WITH_CUDA
  if (device.is_cuda()) {
    bench::Events events;
    const cudaStream_t stream = cuda::current_stream(device.index());
    for (auto _ : state) state.SetIterationTime(events.time(stream, fn));
    return;
  }
#endif
  for (auto _ : state) fn();
}

void linear_normrt(benchmark::State& state, LinearShape s, Device device, bool backward) {
  Generator gen(1);
  const Tensor x = randn({s.batch, s.in}, gen, device), w = randn({s.out, s.in}, gen, device);
  const Tensor b = randn({s.out}, gen, device), dy = randn({s.batch, s.out}, gen, device);
  Tensor dw, db;
  timed(state, device, [&] {
    if (backward) ops::linear_backward(dy, x, w, &dw, &db);
    else ops::linear(x, w, b);
  });
  const double flops = 2.0 * s.batch * s.in * s.out * (backward ? 2 : 1);
  state.counters["TFLOP"] = benchmark::Counter(flops * 1e-12, benchmark::Counter::kIsIterationInvariantRate);
}

// The same products with the bare library call: forward one GEMM, backward two.
void linear_bare(benchmark::State& state, LinearShape s, Device device, bool backward) {
  Generator gen(1);
  const Tensor x = randn({s.batch, s.in}, gen, device), w = randn({s.out, s.in}, gen, device);
  const Tensor dy = randn({s.batch, s.out}, gen, device);
  Tensor y = empty({s.batch, s.out}, device), dx = empty({s.batch, s.in}, device), dw = empty({s.out, s.in}, device);
  const int N = static_cast<int>(s.batch), I = static_cast<int>(s.in), O = static_cast<int>(s.out);
  const float one = 1.0f, zero = 0.0f;
  std::function<void()> run;
#if NORMRT_WITH_CUDA
  cublasHandle_t handle = nullptr;
  if (device.is_cuda()) {
    NORMRT_CUBLAS_CHECK(cublasCreate(&handle));
    NORMRT_CUBLAS_CHECK(cublasSetStream(handle, cuda::current_stream(device.index())));
    run = [&] {
      if (!backward) {
        NORMRT_CUBLAS_CHECK(cublasSgemm(handle, CUBLAS_OP_T, CUBLAS_OP_N, O, N, I, &one, w.data<float>(), I,
                                        x.data<float>(), I, &zero, y.data<float>(), O));
      } else {
        NORMRT_CUBLAS_CHECK(cublasSgemm(handle, CUBLAS_OP_N, CUBLAS_OP_N, I, N, O, &one, w.data<float>(), I,
                                        dy.data<float>(), O, &zero, dx.data<float>(), I));
        NORMRT_CUBLAS_CHECK(cublasSgemm(handle, CUBLAS_OP_N, CUBLAS_OP_T, I, O, N, &one, x.data<float>(), I,
                                        dy.data<float>(), O, &zero, dw.data<float>(), I));
      }
    };
  }
#endif
  if (device.is_cpu()) {
    run = [&] {
      if (!backward) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, O, I, 1.0f, x.data<float>(), I, w.data<float>(), I,
                    0.0f, y.data<float>(), O);
      } else {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, I, O, 1.0f, dy.data<float>(), O, w.data<float>(), I,
                    0.0f, dx.data<float>(), I);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, O, I, N, 1.0f, dy.data<float>(), O, x.data<float>(), I,
                    0.0f, dw.data<float>(), I);
      }
    };
  }
  timed(state, device, run);
#if NORMRT_WITH_CUDA
  if (handle) NORMRT_CUBLAS_CHECK(cublasDestroy(handle));
#endif
  const double flops = 2.0 * s.batch * s.in * s.out * (backward ? 2 : 1);
  state.counters["TFLOP"] = benchmark::Counter(flops * 1e-12, benchmark::Counter::kIsIterationInvariantRate);
}

// ResNet-50's 3x3 and 1x1 convolutions at each stage (input channels, output channels, size, kernel, stride).
struct ConvShape {
  int64_t c, o, hw, k, stride;
};
const ConvShape kConvShapes[] = {{64, 64, 56, 3, 1}, {256, 64, 56, 1, 1}, {128, 128, 28, 3, 1}, {256, 256, 14, 3, 1},
                                 {512, 512, 7, 3, 1}, {256, 512, 56, 1, 2}};

std::string conv_label(int64_t batch, const ConvShape& s) {
  return std::to_string(batch) + "x" + std::to_string(s.c) + "x" + std::to_string(s.hw) + "x" + std::to_string(s.hw) +
         "-k" + std::to_string(s.k) + "s" + std::to_string(s.stride) + "->" + std::to_string(s.o);
}

ops::ConvParams conv_params(const ConvShape& s) {
  ops::ConvParams p;
  p.stride = {s.stride};
  p.padding = {s.k / 2};
  return p;
}

double conv_flops(int64_t batch, const ConvShape& s) {
  const double out_hw = static_cast<double>((s.hw + 2 * (s.k / 2) - s.k) / s.stride + 1);
  return 2.0 * batch * s.o * out_hw * out_hw * s.c * s.k * s.k;
}

// normrt-train's ResNet convolutions on Fashion-MNIST, batch 128 (stem, each stage's 3x3, the strided ones and their
// 1x1 shortcuts), then the shapes that place the CPU's choice between oneDNN and im2col (3, 4, 8 and 12 input
// channels; a large 1x1). On the CPU each runs through the library's choice and through im2col + BLAS alone
// (ops::set_conv_use_onednn(false)).
const ConvShape kTrainShapes[] = {{1, 16, 28, 3, 1},  {16, 16, 28, 3, 1}, {16, 32, 28, 3, 2}, {16, 32, 28, 1, 2},
                                  {32, 32, 14, 3, 1}, {32, 64, 14, 3, 2}, {64, 64, 7, 3, 1},  {3, 16, 28, 3, 1},
                                  {4, 16, 28, 3, 1},  {8, 8, 28, 3, 1},   {12, 16, 28, 3, 1}, {64, 256, 28, 1, 1}};

// How a convolution runs: normrt's default on NCHW tensors, the im2col path (CPU, without oneDNN), normrt's default on
// channels-last activations (x, y, dy, dx), or (GPU) NCHW with algorithms from cuDNN's timed search instead of its
// heuristics (ops::set_conv_benchmark: what reproducibility across runs costs).
enum class ConvPath { Normrt, Im2col, ChannelsLast, Search };
const char* conv_path_name(ConvPath path) {
  return path == ConvPath::Normrt   ? "normrt"
         : path == ConvPath::Im2col ? "im2col"
         : path == ConvPath::Search ? "search"
                                    : "normrt-channels-last";
}

// pass 0: forward, 1: backward (input and weight gradients). Operands of `dtype`.
void conv2d(benchmark::State& state, int64_t batch, ConvShape s, Device device, int pass, ConvPath path,
            DType dtype) {
  ops::set_conv_use_onednn(path != ConvPath::Im2col);
  ops::set_conv_benchmark(path == ConvPath::Search);
  const MemoryFormat format = path == ConvPath::ChannelsLast ? MemoryFormat::ChannelsLast : MemoryFormat::Contiguous;
  Generator gen(1);
  const Tensor x = randn({batch, s.c, s.hw, s.hw}, gen, device).to(dtype).to(format);
  const Tensor w = randn({s.o, s.c, s.k, s.k}, gen, device).to(dtype);
  const ops::ConvParams p = conv_params(s);
  const Tensor dy = randn(ops::conv_output_shape(x.sizes(), w.sizes(), p), gen, device).to(dtype).to(format);
  timed(state, device, [&] {
    if (pass == 0) {
      ops::conv(x, w, Tensor(), p);
    } else {
      Tensor dw;
      ops::conv_backward(dy, x, w, p, &dw, nullptr);
    }
  });
  state.counters["TFLOP"] = benchmark::Counter(conv_flops(batch, s) * (pass == 0 ? 1 : 2) * 1e-12,
                                               benchmark::Counter::kIsIterationInvariantRate);
  ops::set_conv_use_onednn(true);
  ops::set_conv_benchmark(false);
}

// Conv2d -> BatchNorm2d -> ReLU, forward and backward, with BatchNorm on `backend`.
void conv_bn_relu(benchmark::State& state, int64_t batch, ConvShape s, Device device, Backend backend) {
  nn::Sequential block(nn::Conv2d(nn::ConvOptions(s.c, s.o, s.k).stride(s.stride).padding(s.k / 2).bias(false)),
                       nn::BatchNorm2d(nn::BatchNormOptions(s.o).backend(backend)), nn::ReLU());
  block.to(device);
  Generator gen(1);
  const Tensor x = randn({batch, s.c, s.hw, s.hw}, gen, device);
  const Tensor dy = randn(block.forward(x).sizes(), gen, device);
  timed(state, device, [&] {
    block.forward(x);
    block.backward(dy);
  });
  state.counters["TFLOP"] = benchmark::Counter(conv_flops(batch, s) * 3 * 1e-12,
                                               benchmark::Counter::kIsIterationInvariantRate);
}

// 2x2 max pooling, stride 2: normrt (forward with indices, backward) on NCHW or channels-last tensors, or cuDNN's
// pooling (forward and backward, NCHW).
void max_pool(benchmark::State& state, int64_t batch, int64_t channels, int64_t hw, Device device, bool use_cudnn,
              MemoryFormat format) {
  Generator gen(1);
  const Tensor x = randn({batch, channels, hw, hw}, gen, device).to(format);
  ops::PoolParams p;
  p.kernel_size = {2};
  const auto r = ops::max_pool(x, 2, p);
  const Tensor dy = randn(r.output.sizes(), gen, device).to(format);
  std::function<void()> run = [&] {
    const auto f = ops::max_pool(x, 2, p);
    ops::max_pool_backward(dy, x, f.indices, 2, p);
  };
#if NORMRT_WITH_CUDA
  cudnnHandle_t handle = nullptr;
  cudnnPoolingDescriptor_t pool = nullptr;
  cudnnTensorDescriptor_t xd = nullptr, yd = nullptr;
  Tensor y = empty(r.output.sizes(), device), dx = empty(x.sizes(), device);
  const float one = 1.0f, zero = 0.0f;
  if (use_cudnn) {
    NORMRT_CUDNN_CHECK(cudnnCreate(&handle));
    NORMRT_CUDNN_CHECK(cudnnSetStream(handle, cuda::current_stream(device.index())));
    NORMRT_CUDNN_CHECK(cudnnCreatePoolingDescriptor(&pool));
    NORMRT_CUDNN_CHECK(cudnnSetPooling2dDescriptor(pool, CUDNN_POOLING_MAX, CUDNN_NOT_PROPAGATE_NAN, 2, 2, 0, 0, 2, 2));
    NORMRT_CUDNN_CHECK(cudnnCreateTensorDescriptor(&xd));
    NORMRT_CUDNN_CHECK(cudnnCreateTensorDescriptor(&yd));
    NORMRT_CUDNN_CHECK(cudnnSetTensor4dDescriptor(xd, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, static_cast<int>(batch),
                                                  static_cast<int>(channels), static_cast<int>(hw),
                                                  static_cast<int>(hw)));
    NORMRT_CUDNN_CHECK(cudnnSetTensor4dDescriptor(yd, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, static_cast<int>(batch),
                                                  static_cast<int>(channels), static_cast<int>(hw / 2),
                                                  static_cast<int>(hw / 2)));
    run = [&] {
      NORMRT_CUDNN_CHECK(cudnnPoolingForward(handle, pool, &one, xd, x.data<float>(), &zero, yd, y.data<float>()));
      NORMRT_CUDNN_CHECK(cudnnPoolingBackward(handle, pool, &one, yd, y.data<float>(), yd, dy.data<float>(), xd,
                                              x.data<float>(), &zero, xd, dx.data<float>()));
    };
  }
#endif
  timed(state, device, run);
#if NORMRT_WITH_CUDA
  if (use_cudnn) {
    NORMRT_CUDNN_CHECK(cudnnDestroyTensorDescriptor(xd));
    NORMRT_CUDNN_CHECK(cudnnDestroyTensorDescriptor(yd));
    NORMRT_CUDNN_CHECK(cudnnDestroyPoolingDescriptor(pool));
    NORMRT_CUDNN_CHECK(cudnnDestroy(handle));
  }
#endif
  // Minimal traffic: x and the output forward, dy, (indices) and dx backward.
  const double bytes = 4.0 * (x.numel() * 2 + r.output.numel() * 2);
  state.counters["GB/s"] = benchmark::Counter(bytes * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

// One step over the parameters of a 1M-parameter MLP (784-1024-192-10 with biases: 1,002,570 parameters).
void optimizer_step(benchmark::State& state, Device device, int kind) {
  Generator gen(2);
  nn::Sequential model({std::make_shared<nn::Linear>(784, 1024, true, &gen),
                        std::make_shared<nn::Linear>(1024, 192, true, &gen),
                        std::make_shared<nn::Linear>(192, 10, true, &gen)});
  model.to(device);
  std::vector<Tensor> params = model.parameters();
  int64_t count = 0;
  for (Tensor& p : params) {
    p.mutable_grad() = randn(p.sizes(), gen, device);
    count += p.numel();
  }
  std::unique_ptr<optim::Optimizer> opt;
  if (kind == 0) opt = std::make_unique<optim::SGD>(params, optim::SGDOptions(0.01).momentum(0.9));
  if (kind == 1) opt = std::make_unique<optim::Adam>(params, optim::AdamOptions(1e-3));
  if (kind == 2) opt = std::make_unique<optim::Adadelta>(params, optim::AdadeltaOptions());
  if (kind == 3) opt = std::make_unique<optim::RMSprop>(params, optim::RMSpropOptions());
  if (kind == 4) opt = std::make_unique<optim::Adagrad>(params, optim::AdagradOptions());
  if (kind == 5) opt = std::make_unique<optim::Adamax>(params, optim::AdamaxOptions());
  if (kind == 6) opt = std::make_unique<optim::RAdam>(params, optim::RAdamOptions());
  timed(state, device, [&] { opt->step(); });
  state.counters["params"] = static_cast<double>(count);
}

// Host tensor ops a training step or its data preparation runs, one per row ("cpu/tensor-op/<op>/<shape>"), so that
// benchmarks/compare_host_ops_cpu.py can put each beside PyTorch's equivalent.
struct TensorOp {
  const char* name;
  Shape shape;
  std::function<std::function<void()>(const Tensor&)> make;  // the timed call, given x of `shape`
};

// 32 x 128 token ids below `rows`, spread as (i * 7919) mod rows (benchmarks/compare_host_ops_cpu.py draws the same).
Tensor bench_tokens(int64_t rows) {
  std::vector<int64_t> ids(32 * 128);
  for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int64_t>(i) * 7919 % rows;
  return from_vector(ids, {32, 128});
}

// Indices of `shape` (rank >= 2) for gather along the last dimension: (7 w) mod W at column w.
Tensor scrambled_columns(const Shape& shape) {
  const int64_t width = shape.back(), n = std::accumulate(shape.begin(), shape.end(), int64_t{1}, std::multiplies<>());
  std::vector<int64_t> ids(static_cast<std::size_t>(n));
  for (int64_t i = 0; i < n; ++i) ids[i] = (i % width) * 7 % width;
  return from_vector(ids, shape);
}

// Indices of a (rows, columns) shape for scatter_add along dimension 0: row r goes to r mod segments.
Tensor segment_rows(const Shape& shape, int64_t segments) {
  std::vector<int64_t> ids(static_cast<std::size_t>(shape[0] * shape[1]));
  for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int64_t>(i) / shape[1] % segments;
  return from_vector(ids, shape);
}

// Indices of a (rows, columns) shape for gather along dimension 0: every column of row r reads row 7919 r mod rows
// (the rows shuffled).
Tensor permuted_rows(const Shape& shape) {
  std::vector<int64_t> ids(static_cast<std::size_t>(shape[0] * shape[1]));
  for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int64_t>(i) / shape[1] * 7919 % shape[0];
  return from_vector(ids, shape);
}

std::vector<TensorOp> tensor_ops() {
  const Shape image = {32, 64, 56, 56}, logits = {4096, 1000}, pooled = {64, 64, 12, 12}, pixel_rows = {100352, 64};
  ops::PoolParams pool_3x3s2;  // ResNet's stem pooling window
  pool_3x3s2.kernel_size = {3};
  pool_3x3s2.stride = {2};
  pool_3x3s2.padding = {1};
  // The stem pooling, max or average, timed on x laid out in `format` (the copy made before timing).
  auto stem_pool = [pool_3x3s2](bool max, MemoryFormat format) {
    return [pool_3x3s2, max, format](const Tensor& x) {
      const Tensor input = x.to(format);
      return [input, params = pool_3x3s2, max] {
        if (max) benchmark::DoNotOptimize(ops::max_pool(input, 2, params));
        else benchmark::DoNotOptimize(ops::avg_pool(input, 2, params));
      };
    };
  };
  // A DenseNet layer's join, torch.cat([x, x], 1), on x laid out in `format`: forward and backward (gradients split
  // and summed).
  auto concat_identity = [](MemoryFormat format) {
    return [format](const Tensor& x) -> std::function<void()> {
      auto cat = std::make_shared<nn::Concat>(std::initializer_list<std::shared_ptr<nn::Module>>{
          std::make_shared<nn::Identity>(), std::make_shared<nn::Identity>()});
      const Tensor input = x.to(format), dy = ops::cat({input, input}, 1);
      return [cat, input, dy] {
        cat->forward(input);
        benchmark::DoNotOptimize(cat->backward(dy));
      };
    };
  };
  // The forward, or the backward with x as its own gradient (as PyTorch's aten::*_backward(x, x) in the comparison).
  auto input_activation = [](ops::InputActivation f, bool backward) {
    return [f, backward](const Tensor& x) -> std::function<void()> {
      if (backward) return [f, x] { benchmark::DoNotOptimize(ops::activation_backward(f, x, x)); };
      return [f, x] { benchmark::DoNotOptimize(ops::activation(f, x)); };
    };
  };
  // 2x upsampling (a decoder's or an FPN's), forward or the backward of a gradient of ones.
  auto upsample = [](ops::InterpolateMode mode, bool backward) {
    return [mode, backward](const Tensor& x) -> std::function<void()> {
      const auto options = ops::InterpolateOptions().scale_factor(2.0).mode(mode);
      if (!backward) return [x, options] { benchmark::DoNotOptimize(ops::interpolate(x, options)); };
      const Tensor dy = ones(ops::interpolate(x, options).sizes());
      return [dy, options, sizes = x.sizes()] {
        benchmark::DoNotOptimize(ops::interpolate_backward(dy, sizes, options));
      };
    };
  };
  // An elementwise loss of x against a target of its shape: the loss and d loss / d x, as PyTorch's forward and
  // backward in the comparison.
  auto pointwise_loss = [](ops::LossResult (*loss)(const Tensor&, const Tensor&)) {
    return [loss](const Tensor& x) -> std::function<void()> {
      Generator gen(12);
      const Tensor t = randn(x.sizes(), gen);
      return [loss, x, t] { benchmark::DoNotOptimize(loss(x, t)); };
    };
  };
  auto targets = [](int64_t rows) {
    return from_vector(std::vector<int64_t>(static_cast<std::size_t>(rows), 3), {rows});
  };
  return {
      {"add", image, [](const Tensor& x) { return [x] { benchmark::DoNotOptimize(x + x); }; }},
      {"add-per-channel", image,
       [](const Tensor& x) {
         const Tensor c = ones({x.size(1), 1, 1});
         return [x, c] { benchmark::DoNotOptimize(x + c); };
       }},
      {"mul-scalar", image, [](const Tensor& x) { return [x] { benchmark::DoNotOptimize(x * 2.0); }; }},
      {"maximum", image, [](const Tensor& x) { return [x] { benchmark::DoNotOptimize(ops::maximum(x, x)); }; }},
      {"exp", image, [](const Tensor& x) { return [x] { benchmark::DoNotOptimize(ops::exp(x)); }; }},
      {"log", image,
       [](const Tensor& x) {
         const Tensor positive = ops::abs(x);
         return [positive] { benchmark::DoNotOptimize(ops::log(positive)); };
       }},
      {"log1p", image,
       [](const Tensor& x) {
         const Tensor positive = ops::abs(x);
         return [positive] { benchmark::DoNotOptimize(ops::log1p(positive)); };
       }},
      {"expm1", image, [](const Tensor& x) { return [x] { benchmark::DoNotOptimize(ops::expm1(x)); }; }},
      {"log2", image,
       [](const Tensor& x) {
         const Tensor positive = ops::abs(x);
         return [positive] { benchmark::DoNotOptimize(ops::log2(positive)); };
       }},
      {"exp2", image, [](const Tensor& x) { return [x] { benchmark::DoNotOptimize(ops::exp2(x)); }; }},
      {"erf", image, [](const Tensor& x) { return [x] { benchmark::DoNotOptimize(ops::erf(x)); }; }},
      {"sin", image, [](const Tensor& x) { return [x] { benchmark::DoNotOptimize(ops::sin(x)); }; }},
      {"tan", image, [](const Tensor& x) { return [x] { benchmark::DoNotOptimize(ops::tan(x)); }; }},
      {"sin-huge-angles", image,  // every element past the near reduction
       [](const Tensor& x) {
         const Tensor huge = x * 1e6f;
         return [huge] { benchmark::DoNotOptimize(ops::sin(huge)); };
       }},
      {"rsqrt", image,
       [](const Tensor& x) {
         const Tensor positive = ops::abs(x);
         return [positive] { benchmark::DoNotOptimize(ops::rsqrt(positive)); };
       }},
      {"clamp", image, [](const Tensor& x) { return [x] { benchmark::DoNotOptimize(ops::clamp(x, -0.5, 0.5)); }; }},
      {"pow-square", image, [](const Tensor& x) { return [x] { benchmark::DoNotOptimize(ops::pow(x, 2)); }; }},
      {"pow-fraction", image,
       [](const Tensor& x) {
         const Tensor positive = ops::abs(x);
         return [positive] { benchmark::DoNotOptimize(ops::pow(positive, 0.37)); };
       }},
      {"pow-tensor", image,
       [](const Tensor& x) {
         const Tensor positive = ops::abs(x);
         return [positive, x] { benchmark::DoNotOptimize(ops::pow(positive, x)); };
       }},
      // Quantisation's roundings: to a grid step (x // 0.05, x % 0.05), to decimals, an integer bucket index; and
      // nan_to_num.
      {"round", image, [](const Tensor& x) { return [x] { benchmark::DoNotOptimize(ops::round(x)); }; }},
      {"floor", image, [](const Tensor& x) { return [x] { benchmark::DoNotOptimize(ops::floor(x)); }; }},
      {"div-trunc-scalar", image,
       [](const Tensor& x) { return [x] { benchmark::DoNotOptimize(ops::div(x, 0.05, "trunc")); }; }},
      {"round-decimals-2", image, [](const Tensor& x) { return [x] { benchmark::DoNotOptimize(ops::round(x, 2)); }; }},
      {"floor-divide-scalar", image,
       [](const Tensor& x) { return [x] { benchmark::DoNotOptimize(ops::floor_divide(x, 0.05)); }; }},
      {"remainder-scalar", image, [](const Tensor& x) { return [x] { benchmark::DoNotOptimize(x % 0.05); }; }},
      {"nan-to-num", image, [](const Tensor& x) { return [x] { benchmark::DoNotOptimize(ops::nan_to_num(x)); }; }},
      {"floor-divide-int64", image,
       [](const Tensor& x) {
         const Tensor i = (x * 1000.0).to(DType::Int64);
         return [i] { benchmark::DoNotOptimize(ops::floor_divide(i, 7)); };
       }},
      {"sum-dim1", image, [](const Tensor& x) { return [x] { benchmark::DoNotOptimize(ops::sum(x, 1)); }; }},
      {"sum-dim3", image, [](const Tensor& x) { return [x] { benchmark::DoNotOptimize(ops::sum(x, 3)); }; }},
      // A channels-last image's per-channel sums (a bias gradient) as a reduction over the rows of (N H W, C).
      {"sum-dim0", pixel_rows, [](const Tensor& x) { return [x] { benchmark::DoNotOptimize(ops::sum(x, 0)); }; }},
      {"var-dim1", image, [](const Tensor& x) { return [x] { benchmark::DoNotOptimize(ops::var(x, 1)); }; }},
      {"cumsum-dim1", image, [](const Tensor& x) { return [x] { benchmark::DoNotOptimize(ops::cumsum(x, 1)); }; }},
      {"cumsum-dim3", image, [](const Tensor& x) { return [x] { benchmark::DoNotOptimize(ops::cumsum(x, 3)); }; }},
      {"var-dim3", image, [](const Tensor& x) { return [x] { benchmark::DoNotOptimize(ops::var(x, 3)); }; }},
      // Every other channel of an image (channel pruning's gather), and its backward.
      {"index-select-dim1", image,
       [](const Tensor& x) {
         std::vector<int64_t> channels;
         for (int64_t c = 0; c < x.size(1); c += 2) channels.push_back(c);
         const Tensor even = from_vector(channels, {x.size(1) / 2});
         return [x, even] { benchmark::DoNotOptimize(ops::index_select(x, 1, even)); };
       }},
      // Each row of an image read in a scrambled order (x[..., (7 w) mod W]), and segment sums of pixel rows into 512
      // rows by a pixel's row mod 512 (a graph network's neighbour sums).
      // These rows and the embedding's also run on a GPU (kOnDevice).
      {"gather-dim3", image,
       [](const Tensor& x) {
         const Tensor index = scrambled_columns(x.sizes()).to(x.device());
         return [x, index] { benchmark::DoNotOptimize(ops::gather(x, 3, index)); };
       }},
      {"gather-dim0", pixel_rows,
       [](const Tensor& x) {
         const Tensor index = permuted_rows(x.sizes()).to(x.device());
         return [x, index] { benchmark::DoNotOptimize(ops::gather(x, 0, index)); };
       }},
      {"scatter-add-dim0", pixel_rows,
       [](const Tensor& x) {
         const Tensor index = segment_rows(x.sizes(), 512).to(x.device());
         return [x, index] {
           benchmark::DoNotOptimize(ops::scatter_add(zeros({512, x.size(1)}, x.device()), 0, index, x));
         };
       }},
      // Segment pooling as graph networks do it: the rows' maximum and mean per segment (each element's first value
      // where the segment starts, as PyTorch's include_self=false).
      {"scatter-reduce-amax-dim0", pixel_rows,
       [](const Tensor& x) {
         const Tensor index = segment_rows(x.sizes(), 512).to(x.device());
         return [x, index] {
           benchmark::DoNotOptimize(
               ops::scatter_reduce(zeros({512, x.size(1)}, x.device()), 0, index, x, "amax", false));
         };
       }},
      {"scatter-reduce-mean-dim0", pixel_rows,
       [](const Tensor& x) {
         const Tensor index = segment_rows(x.sizes(), 512).to(x.device());
         return [x, index] {
           benchmark::DoNotOptimize(
               ops::scatter_reduce(zeros({512, x.size(1)}, x.device()), 0, index, x, "mean", false));
         };
       }},
      // The gradient of a per-class pick (x.gather(1, target)) into x: 4096 positions into 4M elements.
      {"gather-backward-logits", logits,
       [](const Tensor& x) {
         const Tensor target = segment_rows({x.size(0), 1}, x.size(1)).to(x.device());
         const Tensor dy = ones({x.size(0), 1}, x.device());
         return [x, target, dy] { benchmark::DoNotOptimize(ops::gather_backward(dy, x.sizes(), 1, target)); };
       }},
      // A language model's token embedding: x the (vocabulary, width) table, a batch of 32 x 128 tokens.
      {"embedding-lookup", {10000, 256},
       [](const Tensor& x) {
         const Tensor tokens = bench_tokens(x.size(0)).to(x.device());
         return [x, tokens] { benchmark::DoNotOptimize(ops::embedding(x, tokens)); };
       }},
      {"embedding-backward", {10000, 256},
       [](const Tensor& x) {
         const Tensor tokens = bench_tokens(x.size(0)).to(x.device()), dy = ones({32, 128, x.size(1)}, x.device());
         return [dy, tokens, rows = x.size(0)] { benchmark::DoNotOptimize(ops::embedding_backward(dy, tokens, rows)); };
       }},
      // A bag-of-words text classifier's pooling: the 32 x 128 tokens as 32 bags (mean), and as bags given by offsets
      // with per-sample weights (sum).
      {"embedding-bag-mean", {10000, 256},
       [](const Tensor& x) {
         const Tensor tokens = bench_tokens(x.size(0)).to(x.device());
         return [x, tokens] { benchmark::DoNotOptimize(ops::embedding_bag(x, tokens).output); };
       }},
      {"embedding-bag-sum-weighted", {10000, 256},
       [](const Tensor& x) {
         const Tensor tokens = bench_tokens(x.size(0)).reshape({32 * 128}).to(x.device());
         std::vector<int64_t> starts(32);
         for (std::size_t b = 0; b < starts.size(); ++b) starts[b] = static_cast<int64_t>(b) * 128;
         const Tensor offsets = from_vector(starts, {32}, x.device()), weights = full({32 * 128}, 0.5, x.device());
         return [x, tokens, offsets, weights] {
           benchmark::DoNotOptimize(
               ops::embedding_bag(x, tokens, offsets, ops::EmbeddingBagMode::Sum, weights).output);
         };
       }},
      // A mask and its uses: ReLU as where(x > 0, x, 0) and as masked_fill(x, x <= 0, 0).
      {"gt-scalar", image, [](const Tensor& x) { return [x] { benchmark::DoNotOptimize(x > 0.0); }; }},
      {"where", image,
       [](const Tensor& x) {
         const Tensor positive = x > 0.0;
         return [x, positive] { benchmark::DoNotOptimize(ops::where(positive, x, 0.0)); };
       }},
      {"masked-fill", image,
       [](const Tensor& x) {
         const Tensor negative = x <= 0.0;
         return [x, negative] { benchmark::DoNotOptimize(ops::masked_fill(x, negative, 0.0)); };
       }},
      // The rearrangements: a horizontal flip (augmentation), a shifted window's roll, a grouped-query attention's
      // keys repeated per head, and a causal mask applied to a (4, 2048, 2048) block of scores.
      {"flip-dim3", image, [](const Tensor& x) { return [x] { benchmark::DoNotOptimize(ops::flip(x, {3})); }; }},
      {"roll-dims23", image,
       [](const Tensor& x) { return [x] { benchmark::DoNotOptimize(ops::roll(x, {3, 3}, {2, 3})); }; }},
      {"repeat-interleave-dim1", image,
       [](const Tensor& x) { return [x] { benchmark::DoNotOptimize(ops::repeat_interleave(x, 2, 1)); }; }},
      {"tril", {4, 2048, 2048}, [](const Tensor& x) { return [x] { benchmark::DoNotOptimize(ops::tril(x)); }; }},
      // The selections: about half of an image's elements (its positive ones), and a count of all of them.
      {"nonzero", image,
       [](const Tensor& x) {
         const Tensor positive = x > 0.0;
         return [positive] { benchmark::DoNotOptimize(ops::nonzero(positive)); };
       }},
      {"masked-select", image,
       [](const Tensor& x) {
         const Tensor positive = x > 0.0;
         return [x, positive] { benchmark::DoNotOptimize(ops::masked_select(x, positive)); };
       }},
      {"masked-scatter", image,
       [](const Tensor& x) {
         const Tensor positive = x > 0.0;
         return [x, positive] { benchmark::DoNotOptimize(ops::masked_scatter(x, positive, x)); };
       }},
      // A pixel batch's rows where their first feature is positive, and rows added into 512 segments by index_put_.
      {"index-mask-rows", pixel_rows,
       [](const Tensor& x) {
         const Tensor positive = ops::select(x, 1, 0) > 0.0;
         return [x, positive] { benchmark::DoNotOptimize(ops::index(x, positive)); };
       }},
      {"index-put-accumulate", pixel_rows,
       [](const Tensor& x) {
         const Tensor rows = segment_rows({x.size(0), 1}, 512).reshape({x.size(0)}).to(x.device());
         return [x, rows] {
           Tensor sums = zeros({512, x.size(1)}, x.device());
           benchmark::DoNotOptimize(ops::index_put_(sums, rows, x, true));
         };
       }},
      {"count-nonzero", image,
       [](const Tensor& x) { return [x] { benchmark::DoNotOptimize(ops::count_nonzero(x)); }; }},
      {"var-dim0", pixel_rows, [](const Tensor& x) { return [x] { benchmark::DoNotOptimize(ops::var(x, 0)); }; }},
      {"clone", image, [](const Tensor& x) { return [x] { benchmark::DoNotOptimize(x.clone()); }; }},
      {"randn", image,
       [](const Tensor& x) {
         auto gen = std::make_shared<Generator>(9);
         return [x, gen] { benchmark::DoNotOptimize(randn(x.sizes(), *gen)); };
       }},
      {"log-softmax", logits, [](const Tensor& x) { return [x] { benchmark::DoNotOptimize(ops::softmax(x, true)); }; }},
      // top-5 accuracy's predictions over 1000 classes, and a whole sort of each row
      {"topk-5", logits, [](const Tensor& x) { return [x] { benchmark::DoNotOptimize(ops::topk(x, 5, 1)); }; }},
      {"sort-rows", logits, [](const Tensor& x) { return [x] { benchmark::DoNotOptimize(ops::sort(x, 1)); }; }},
      {"cross-entropy", logits,
       [targets](const Tensor& x) {
         const Tensor t = targets(x.size(0));
         return [x, t] { benchmark::DoNotOptimize(ops::cross_entropy(x, t)); };
       }},
      {"bce-with-logits", logits,
       [](const Tensor& x) {
         const Tensor probabilities = rand(x.sizes(), *std::make_shared<Generator>(10));
         return [x, probabilities] {
           benchmark::DoNotOptimize(ops::binary_cross_entropy_with_logits(x, probabilities));
         };
       }},
      {"dropout", pooled,
       [](const Tensor& x) { return [x] { benchmark::DoNotOptimize(ops::dropout_with_mask(x, 0.25, 7, 0)); }; }},
      {"max-pool-3x3s2", image, stem_pool(true, MemoryFormat::Contiguous)},
      {"max-pool-3x3s2-channels-last", image, stem_pool(true, MemoryFormat::ChannelsLast)},
      {"global-avg-pool", {32, 2048, 7, 7},
       [](const Tensor& x) { return [x] { benchmark::DoNotOptimize(ops::adaptive_avg_pool(x, 2, {1, 1})); }; }},
      {"global-avg-pool-backward", {32, 2048, 7, 7},
       [](const Tensor& x) {
         const Tensor dy = ones({x.size(0), x.size(1), 1, 1});
         return [x, dy] { benchmark::DoNotOptimize(ops::adaptive_avg_pool_backward(dy, x, 2)); };
       }},
      {"avg-pool-56x56", image,
       [](const Tensor& x) { return [x] { benchmark::DoNotOptimize(ops::adaptive_avg_pool(x, 2, {1, 1})); }; }},
      {"global-avg-pool-channels-last", {32, 2048, 7, 7},
       [](const Tensor& x) {
         const Tensor x_cl = x.to(MemoryFormat::ChannelsLast);
         return [x_cl] { benchmark::DoNotOptimize(ops::adaptive_avg_pool(x_cl, 2, {1, 1})); };
       }},
      // fastai's concat pooling's max half, and a 7x7 grid of overlapping windows (12 into 7), forward + backward
      {"global-max-pool-train", {32, 2048, 7, 7},
       [](const Tensor& x) {
         const Tensor dy = ones({x.size(0), x.size(1), 1, 1});
         return [x, dy] {
           const auto r = ops::adaptive_max_pool(x, 2, {1, 1});
           benchmark::DoNotOptimize(ops::adaptive_max_pool_backward(dy, x, r.indices, 2));
         };
       }},
      {"adaptive-max-pool-7x7-train", pooled,
       [](const Tensor& x) {
         const Tensor dy = ones({x.size(0), x.size(1), 7, 7});
         return [x, dy] {
           const auto r = ops::adaptive_max_pool(x, 2, {7, 7});
           benchmark::DoNotOptimize(ops::adaptive_max_pool_backward(dy, x, r.indices, 2));
         };
       }},
      {"avg-pool-3x3s2", image, stem_pool(false, MemoryFormat::Contiguous)},
      {"avg-pool-3x3s2-channels-last", image, stem_pool(false, MemoryFormat::ChannelsLast)},
      {"softmax", logits, [](const Tensor& x) { return [x] { benchmark::DoNotOptimize(ops::softmax(x, false)); }; }},
      {"reflect-pad-3", image,
       [](const Tensor& x) {
         return [x] { benchmark::DoNotOptimize(ops::pad(x, {3, 3, 3, 3}, ops::PadMode::Reflect)); };
       }},
      {"reflect-pad-3-backward", image,
       [](const Tensor& x) {
         const Tensor dy = ops::pad(x, {3, 3, 3, 3}, ops::PadMode::Reflect);
         return [dy, sizes = x.sizes()] {
           benchmark::DoNotOptimize(ops::pad_backward(dy, sizes, {3, 3, 3, 3}, ops::PadMode::Reflect));
         };
       }},
      {"cross-entropy-spatial", {8, 21, 128, 128},  // segmentation logits, targets (8, 128, 128)
       [](const Tensor& x) {
         const Tensor t = from_vector(std::vector<int64_t>(8 * 128 * 128, 3), {8, 128, 128});
         return [x, t] { benchmark::DoNotOptimize(ops::cross_entropy(x, t)); };
       }},
      {"sigmoid", image,
       [](const Tensor& x) {
         return [x] { benchmark::DoNotOptimize(ops::activation(ops::Activation::Sigmoid, x)); };
       }},
      {"tanh", image,
       [](const Tensor& x) { return [x] { benchmark::DoNotOptimize(ops::activation(ops::Activation::Tanh, x)); }; }},
      {"gelu", image, input_activation(ops::InputActivation::gelu(), false)},
      {"gelu-backward", image, input_activation(ops::InputActivation::gelu(), true)},
      {"gelu-tanh", image, input_activation(ops::InputActivation::gelu("tanh"), false)},
      {"gelu-tanh-backward", image, input_activation(ops::InputActivation::gelu("tanh"), true)},
      {"silu", image, input_activation(ops::InputActivation::silu(), false)},
      {"silu-backward", image, input_activation(ops::InputActivation::silu(), true)},
      {"mish", image, input_activation(ops::InputActivation::mish(), false)},
      {"elu", image, input_activation(ops::InputActivation::elu(), false)},
      {"leaky-relu", image, input_activation(ops::InputActivation::leaky_relu(0.2), false)},
      {"hardswish", image, input_activation(ops::InputActivation::hardswish(), false)},
      {"upsample-nearest-2x", pooled, upsample(ops::InterpolateMode::Nearest, false)},
      {"upsample-bilinear-2x", pooled, upsample(ops::InterpolateMode::Bilinear, false)},
      {"upsample-bilinear-2x-backward", pooled, upsample(ops::InterpolateMode::Bilinear, true)},
      {"upsample-bicubic-2x", pooled, upsample(ops::InterpolateMode::Bicubic, false)},
      {"upsample-bicubic-2x-backward", pooled, upsample(ops::InterpolateMode::Bicubic, true)},
      {"mse-loss", image, pointwise_loss([](const Tensor& x, const Tensor& t) { return ops::mse_loss(x, t); })},
      {"l1-loss", image, pointwise_loss([](const Tensor& x, const Tensor& t) { return ops::l1_loss(x, t); })},
      {"smooth-l1-loss", image,
       pointwise_loss([](const Tensor& x, const Tensor& t) { return ops::smooth_l1_loss(x, t); })},
      {"huber-loss", image, pointwise_loss([](const Tensor& x, const Tensor& t) { return ops::huber_loss(x, t); })},
      {"bce", image,
       [](const Tensor& x) {
         Generator gen(11);
         const Tensor p = rand(x.sizes(), gen), t = rand(x.sizes(), gen);
         return [p, t] { benchmark::DoNotOptimize(ops::binary_cross_entropy(p, t)); };
       }},
      {"conv-transpose-k2s2-train", {32, 64, 28, 28},
       [](const Tensor& x) {
         // U-Net's up-convolution, 64 -> 32 channels, kernel 2, stride 2: forward and backward with parameter grads.
         Generator gen(13);
         auto up = std::make_shared<nn::ConvTranspose2d>(nn::ConvTransposeOptions(64, 32, 2).stride(2), &gen);
         return [up, x] {
           const Tensor y = up->forward(x);
           benchmark::DoNotOptimize(up->backward(y));
         };
       }},
      {"kl-div", {4096, 1000},
       [](const Tensor& x) {
         // Knowledge distillation's loss over 1000 classes: the loss and the input's gradient, batchmean.
         Generator gen(12);
         const Tensor t = rand(x.sizes(), gen);
         return [x, t] { benchmark::DoNotOptimize(ops::kl_div(x, t, ops::KLDivReduction::BatchMean)); };
       }},
      {"group-norm-train", image,
       [](const Tensor& x) {
         // GroupNorm(32, 64) as diffusion U-Nets use it: forward and backward, affine.
         auto norm = std::make_shared<nn::GroupNorm>(32, 64);
         return [norm, x] {
           norm->forward(x);
           benchmark::DoNotOptimize(norm->backward(x));
         };
       }},
      {"squeeze-excitation-train", image,
       [](const Tensor& x) {
         // torchvision's SqueezeExcitation(64, 16) (MobileNetV3 / EfficientNet blocks): forward and backward.
         auto se = std::make_shared<nn::SqueezeExcitation>(64, 16);
         return [se, x] {
           se->forward(x);
           benchmark::DoNotOptimize(se->backward(x));
         };
       }},
      {"concat-identity-train", image, concat_identity(MemoryFormat::Contiguous)},
      {"concat-identity-train-channels-last", image, concat_identity(MemoryFormat::ChannelsLast)},
      {"layer-norm-train", {32 * 56 * 56, 64},
       [](const Tensor& x) {
         // LayerNorm over 64 features per position (ConvNeXt's, channels-last rows): forward and backward, affine.
         auto norm = std::make_shared<nn::LayerNorm>(Shape{64});
         return [norm, x] {
           norm->forward(x);
           benchmark::DoNotOptimize(norm->backward(x));
         };
       }},
      {"prelu-train", image,
       [](const Tensor& x) {
         // PReLU(64) (InsightFace's ResNets): forward and backward with x as its own gradient.
         const Tensor w = full({x.size(1)}, 0.25);
         return [x, w] {
           benchmark::DoNotOptimize(ops::prelu(x, w));
           benchmark::DoNotOptimize(ops::prelu_backward(x, x, w));
         };
       }},
      {"prelu-shared-train", image,
       [](const Tensor& x) {
         // nn.PReLU()'s default: one weight for every element.
         const Tensor w = full({1}, 0.25);
         return [x, w] {
           benchmark::DoNotOptimize(ops::prelu(x, w));
           benchmark::DoNotOptimize(ops::prelu_backward(x, x, w));
         };
       }},
      {"permute-to-nhwc", image,
       [](const Tensor& x) { return [x] { benchmark::DoNotOptimize(ops::permute(x, {0, 2, 3, 1})); }; }},
      {"pixel-shuffle-2", image,
       [](const Tensor& x) { return [x] { benchmark::DoNotOptimize(ops::pixel_shuffle(x, 2)); }; }},
      // An optimizer's and an EMA's updates: addcmul, addcdiv, lerp toward another tensor; per-channel clipping.
      {"addcmul", image,
       [](const Tensor& x) {
         const Tensor positive = ops::abs(x);
         return [x, positive] { benchmark::DoNotOptimize(ops::addcmul(x, x, positive, 0.5)); };
       }},
      {"addcdiv", image,
       [](const Tensor& x) {
         const Tensor denominators = ops::abs(x) + 1.0;
         return [x, denominators] { benchmark::DoNotOptimize(ops::addcdiv(x, x, denominators, 0.5)); };
       }},
      {"lerp", image,
       [](const Tensor& x) {
         const Tensor positive = ops::abs(x);
         return [x, positive] { benchmark::DoNotOptimize(ops::lerp(x, positive, 0.3)); };
       }},
      {"clamp-tensor-per-channel", image,
       [](const Tensor& x) {
         const TensorOptions on(x.device());
         const Tensor lo = full({x.size(1), 1, 1}, -0.5, on), hi = full({x.size(1), 1, 1}, 0.5, on);
         return [x, lo, hi] { benchmark::DoNotOptimize(ops::clamp(x, lo, hi)); };
       }},
      // 8-bit quantisation's bin index: 255 sorted edges over [-3, 3].
      {"bucketize-255", image,
       [](const Tensor& x) {
         const Tensor edges = arange(-3.0, 3.0 + 1e-9, 6.0 / 254.0).to(x.device());
         return [x, edges] { benchmark::DoNotOptimize(ops::bucketize(x, edges)); };
       }},
      {"instance-norm-train", image,
       [](const Tensor& x) {
         // A style-transfer / GAN layer: InstanceNorm2d's forward with the input's statistics and its backward.
         return [x] {
           const auto forward = ops::instance_norm_forward(x, Tensor(), Tensor(), Tensor(), Tensor(), true, 0.1, 1e-5);
           benchmark::DoNotOptimize(ops::instance_norm_backward(x, x, Tensor(), forward.save_mean,
                                                                forward.save_invstd, true, 1e-5));
         };
       }},
  };
}

// The tensor-op rows that also run on a GPU: the index ops, whose device grouping (a radix sort) has not been timed,
// the comparison kernels, the selections, the rearrangements, the roundings, the ternary ops and bucketize.
const std::set<std::string> kOnDevice = {"gather-dim3", "gather-dim0", "scatter-add-dim0", "scatter-reduce-amax-dim0",
                                         "scatter-reduce-mean-dim0", "gather-backward-logits",
                                         "embedding-lookup", "embedding-backward", "embedding-bag-mean",
                                         "embedding-bag-sum-weighted", "gt-scalar", "where",
                                         "masked-fill", "nonzero", "masked-select", "masked-scatter",
                                         "count-nonzero", "index-mask-rows", "index-put-accumulate", "flip-dim3",
                                         "roll-dims23", "repeat-interleave-dim1", "tril", "round",
                                         "round-decimals-2", "floor-divide-scalar", "remainder-scalar",
                                         "floor-divide-int64", "nan-to-num", "floor", "div-trunc-scalar",
                                         "addcmul", "addcdiv", "lerp", "bucketize-255", "clamp-tensor-per-channel",
                                         "log1p", "exp2", "sin", "sin-huge-angles"};

void tensor_op(benchmark::State& state, const TensorOp& op, Device device) {
  Generator gen(5);
  const std::function<void()> call = op.make(randn(op.shape, gen, device));
  timed(state, device, call);
}

std::string dims_label(const Shape& shape) {
  std::string out;
  for (int64_t d : shape) out += (out.empty() ? "" : "x") + std::to_string(d);
  return out;
}

// x.to(format) from the other format: a transpose of each sample's (C, H*W) matrix. GB/s counts x read and the
// result written.
void to_memory_format(benchmark::State& state, Shape shape, DType dtype, MemoryFormat format, Device device) {
  Generator gen(3);
  const MemoryFormat from = format == MemoryFormat::Contiguous ? MemoryFormat::ChannelsLast : MemoryFormat::Contiguous;
  const Tensor x = randn(shape, gen).to(dtype).to(from).to(device);
  timed(state, device, [&] { benchmark::DoNotOptimize(x.to(format)); });
  state.counters["GB/s"] = benchmark::Counter(static_cast<double>(x.nbytes()) * 2 * 1e-9,
                                              benchmark::Counter::kIsIterationInvariantRate);
}

// LayerNorm / GroupNorm ops (ops/norms.h) on the GPU, forward or backward with parameter gradients. GB/s counts the
// minimal bytes: x read and y written (forward); x and dy read, dx written (backward).
struct NormShape {
  Shape input;
  int64_t groups;  // 0: LayerNorm over the last dimension
};

void norm_op(benchmark::State& state, NormShape s, bool backward, Device device) {
  Generator gen(5);
  const Tensor x = randn(s.input, gen).to(device), dy = randn(s.input, gen).to(device);
  const int64_t features = s.groups == 0 ? s.input.back() : s.input[1];
  const Tensor weight = ones({features}, device), bias = zeros({features}, device);
  const auto forward = [&] {
    return s.groups == 0 ? ops::layer_norm_forward(x, {features}, weight, bias)
                         : ops::group_norm_forward(x, s.groups, weight, bias);
  };
  const ops::NormForwardResult f = forward();
  timed(state, device, [&] {
    if (!backward)
      benchmark::DoNotOptimize(forward());
    else if (s.groups == 0)
      benchmark::DoNotOptimize(ops::layer_norm_backward(dy, x, {features}, f.mean, f.rstd, weight));
    else
      benchmark::DoNotOptimize(ops::group_norm_backward(dy, x, s.groups, f.mean, f.rstd, weight));
  });
  state.counters["GB/s"] = benchmark::Counter(static_cast<double>(x.nbytes()) * (backward ? 3 : 2) * 1e-9,
                                              benchmark::Counter::kIsIterationInvariantRate);
}

}  // namespace

int main(int argc, char** argv) {
  bench::initialize(argc, argv);
  std::vector<std::pair<std::string, Device>> devices = {{"cpu", Device::cpu()}};
  if (cuda::is_available()) devices.emplace_back("gpu", Device::cuda(0));
  for (const auto& [tag, device] : devices) {
    for (const LinearShape& s : kShapes) {
      if (device.is_cpu() && s.batch * s.in * s.out > (int64_t{1} << 28)) continue;  // keep the CPU section short
      for (bool backward : {false, true}) {
        const std::string pass = backward ? "backward" : "forward";
        for (bool bare : {false, true}) {
          const std::string name = tag + "/linear/" + pass + "/" + (bare ? "bare-gemm" : "normrt") + "/" + label(s);
          auto* b = benchmark::RegisterBenchmark(name.c_str(), bare ? linear_bare : linear_normrt, s, device, backward);
          b->Unit(benchmark::kMicrosecond);
          if (device.is_cuda()) b->UseManualTime();
          else b->UseRealTime();
        }
      }
    }
    const int64_t conv_batch = device.is_cpu() ? 4 : 32;  // the CPU section stays short
    auto add = [&](const std::string& name, auto fn, auto... args) {
      auto* b = benchmark::RegisterBenchmark(name.c_str(), fn, args...);
      b->Unit(benchmark::kMillisecond);
      if (device.is_cuda()) b->UseManualTime();
      else b->UseRealTime();
    };
    for (const ConvShape& s : kConvShapes) {
      for (int pass : {0, 1})
        add(tag + "/conv2d/" + (pass == 0 ? "forward/" : "backward/") + conv_label(conv_batch, s), conv2d, conv_batch,
            s, device, pass, ConvPath::Normrt, DType::Float32);
      if (device.is_cuda())
        for (int pass : {0, 1})
          add(tag + "/conv2d-search/" + (pass == 0 ? "forward/" : "backward/") + conv_label(conv_batch, s), conv2d,
              conv_batch, s, device, pass, ConvPath::Search, DType::Float32);
      // cuDNN on both layouts, float32 and float16 (its tensor-core kernels read NHWC).
      for (int pass : {0, 1})
        for (DType dtype : device.is_cuda() ? std::vector<DType>{DType::Float32, DType::Float16} : std::vector<DType>{})
          for (ConvPath path : {ConvPath::Normrt, ConvPath::ChannelsLast})
            add(tag + "/conv2d-layout/" + (pass == 0 ? "forward/" : "backward/") +
                    (path == ConvPath::ChannelsLast ? "nhwc/" : "nchw/") + dtype_name(dtype) + "/" +
                    conv_label(conv_batch, s),
                conv2d, conv_batch, s, device, pass, path, dtype);
      for (Backend backend : device.is_cuda() ? std::vector<Backend>{Backend::Native, Backend::CuDNN}
                                              : std::vector<Backend>{Backend::Native})
        add(tag + "/conv-bn-relu/" + (backend == Backend::Native ? "native-bn/" : "cudnn-bn/") +
                conv_label(conv_batch, s),
            conv_bn_relu, conv_batch, s, device, backend);
    }
    if (device.is_cpu()) {
      for (const ConvShape& s : kTrainShapes)
        for (int pass : {0, 1})
          for (ConvPath path : {ConvPath::Normrt, ConvPath::Im2col, ConvPath::ChannelsLast})
            add(tag + "/conv2d-train/" + (pass == 0 ? "forward/" : "backward/") + conv_path_name(path) + "/" +
                    conv_label(128, s),
                conv2d, int64_t{128}, s, device, pass, path, DType::Float32);
    }
    for (bool use_cudnn : device.is_cuda() ? std::vector<bool>{false, true} : std::vector<bool>{false})
      add(tag + "/max-pool-2x2/" + (use_cudnn ? "cudnn/" : "normrt/") + std::to_string(conv_batch) + "x64x112x112",
          max_pool, conv_batch, int64_t{64}, int64_t{112}, device, use_cudnn, MemoryFormat::Contiguous);
    add(tag + "/max-pool-2x2/normrt-channels-last/" + std::to_string(conv_batch) + "x64x112x112", max_pool, conv_batch,
        int64_t{64}, int64_t{112}, device, false, MemoryFormat::ChannelsLast);
    for (const Shape& shape : std::vector<Shape>{{32, 3, 224, 224}, {32, 64, 56, 56}, {32, 256, 14, 14}}) {
      for (DType dtype : {DType::Float32, DType::BFloat16}) {
        for (MemoryFormat format : {MemoryFormat::ChannelsLast, MemoryFormat::Contiguous}) {
          const std::string name = tag + "/to-memory-format/" + memory_format_name(format) + "/" +
                                   dtype_name(dtype) + "/" + dims_label(shape);
          auto* b = benchmark::RegisterBenchmark(name.c_str(), to_memory_format, shape, dtype, format, device);
          b->Unit(benchmark::kMicrosecond);
          if (device.is_cuda()) b->UseManualTime();
          else b->UseRealTime();
        }
      }
    }
    // ConvNeXt's and BERT-large's LayerNorm rows, GroupNorm(32) of ResNet-sized and diffusion U-Net-sized images.
    for (const NormShape& s : device.is_cuda() ? std::vector<NormShape>{{{32 * 56 * 56, 64}, 0}, {{8192, 1024}, 0},
                                                                      {{32, 64, 56, 56}, 32}, {{8, 256, 64, 64}, 32}}
                                               : std::vector<NormShape>{})
      for (bool backward : {false, true})
        add(tag + (s.groups == 0 ? "/layer-norm/" : "/group-norm/") + (backward ? "backward/" : "forward/") +
                dims_label(s.input),
            norm_op, s, backward, device);
    for (const TensorOp& op : tensor_ops()) {
      if (device.is_cuda() && kOnDevice.count(op.name) == 0) continue;
      auto* b = benchmark::RegisterBenchmark((tag + "/tensor-op/" + op.name + "/" + dims_label(op.shape)).c_str(),
                                             tensor_op, op, device);
      b->Unit(benchmark::kMicrosecond);
      if (device.is_cuda()) b->UseManualTime();
      else b->UseRealTime();
    }
    const char* names[] = {"sgd-momentum", "adam", "adadelta", "rmsprop", "adagrad", "adamax", "radam"};
    for (int kind = 0; kind < 7; ++kind) {
      const std::string name = tag + "/optimizer-step-1M/" + names[kind];
      auto* b = benchmark::RegisterBenchmark(name.c_str(), optimizer_step, device, kind);
      b->Unit(benchmark::kMicrosecond);
      if (device.is_cuda()) b->UseManualTime();
      else b->UseRealTime();
    }
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
