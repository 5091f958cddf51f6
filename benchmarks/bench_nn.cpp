// Linear forward/backward through normrt against the bare GEMM underneath (cuBLAS sgemm on the GPU, OpenBLAS
// sgemm on the CPU), and one optimizer step over a 1M-parameter model (SGD with momentum, Adam, Adadelta).
// GPU timing: CUDA events on the current stream, warm-up, medians of --benchmark_repetitions (default 5).
// Run: build/benchmarks/bench_nn [--benchmark_filter=gpu]
#include <benchmark/benchmark.h>
#include <cblas.h>

#include <cstring>
#include <functional>

#include "bench_util.h"
#include "normrt/normrt.h"

#if NORMRT_WITH_CUDA
#include <cublas_v2.h>
#include <cuda_runtime.h>

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

// One step over the parameters of a 1M-parameter MLP (784-1024-192-10 with biases: 1,002,570 parameters).
void optimizer_step(benchmark::State& state, Device device, int kind) {
  Generator gen(2);
  nn::Sequential model({std::make_shared<nn::Linear>(784, 1024, true, &gen), std::make_shared<nn::Linear>(1024, 192, true, &gen),
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
  timed(state, device, [&] { opt->step(); });
  state.counters["params"] = static_cast<double>(count);
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
    const char* names[] = {"sgd-momentum", "adam", "adadelta"};
    for (int kind = 0; kind < 3; ++kind) {
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
