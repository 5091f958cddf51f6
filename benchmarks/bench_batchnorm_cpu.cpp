// CPU BatchNorm throughput (Google Benchmark). Bytes are the minimum the op must move in float32: forward reads x
// and writes y (8 B/element), backward reads x and dy and writes dx (12 B/element). A memcpy of the same size is
// the yardstick for "% of copy bandwidth". Run: build/benchmarks/bench_batchnorm_cpu --benchmark_repetitions=5
// --benchmark_report_aggregates_only=true (medians).
#include <benchmark/benchmark.h>

#include <cstring>

#include "normrt/normrt.h"

using namespace normrt;

namespace {

const std::vector<Shape>& shapes() {
  static const std::vector<Shape> s = {
      {256, 1024}, {126000, 16}, {32, 64, 1000}, {32, 64, 56, 56}, {64, 512, 7, 7}, {8, 32, 128, 128},
      {4, 32, 16, 32, 32}};
  return s;
}

std::string label(const Shape& s) { return shape_str(s); }

struct Data {
  Tensor x, dy, weight, bias, running_mean, running_var, save_mean, save_invstd;
  explicit Data(const Shape& shape) {
    Generator gen(1);
    x = randn(shape, gen);
    dy = randn(shape, gen);
    weight = rand({shape[1]}, gen);
    bias = randn({shape[1]}, gen);
    running_mean = zeros({shape[1]});
    running_var = ones({shape[1]});
    const auto f = ops::batch_norm_forward_training(x, weight, bias, Tensor(), Tensor(), Tensor(), 0.1, 1e-5);
    save_mean = f.save_mean;
    save_invstd = f.save_invstd;
  }
};

void BM_ForwardTraining(benchmark::State& state) {
  const Shape& shape = shapes()[state.range(0)];
  Data d(shape);
  for (auto _ : state) {
    auto r = ops::batch_norm_forward_training(d.x, d.weight, d.bias, d.running_mean, d.running_var, Tensor(), 0.1,
                                              1e-5);
    benchmark::DoNotOptimize(r.output.raw_data());
  }
  state.SetBytesProcessed(state.iterations() * d.x.numel() * 8);
  state.SetLabel(label(shape));
}

void BM_ForwardInference(benchmark::State& state) {
  const Shape& shape = shapes()[state.range(0)];
  Data d(shape);
  for (auto _ : state) {
    auto r = ops::batch_norm_forward_inference(d.x, d.weight, d.bias, d.running_mean, d.running_var, 1e-5);
    benchmark::DoNotOptimize(r.output.raw_data());
  }
  state.SetBytesProcessed(state.iterations() * d.x.numel() * 8);
  state.SetLabel(label(shape));
}

void BM_Backward(benchmark::State& state) {
  const Shape& shape = shapes()[state.range(0)];
  Data d(shape);
  for (auto _ : state) {
    auto r = ops::batch_norm_backward(d.dy, d.x, d.weight, d.save_mean, d.save_invstd, true);
    benchmark::DoNotOptimize(r.grad_input.raw_data());
  }
  state.SetBytesProcessed(state.iterations() * d.x.numel() * 12);
  state.SetLabel(label(shape));
}

// memcpy of the forward's byte count (read n floats, write n floats): the bandwidth yardstick.
void BM_Memcpy(benchmark::State& state) {
  const Shape& shape = shapes()[state.range(0)];
  const Tensor src = zeros(shape);
  Tensor dst = empty(shape);
  for (auto _ : state) {
    std::memcpy(dst.raw_data(), src.raw_data(), src.nbytes());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * src.numel() * 8);
  state.SetLabel(label(shape));
}

void all_shapes(benchmark::internal::Benchmark* b) {
  for (std::size_t i = 0; i < shapes().size(); ++i) b->Arg(static_cast<int64_t>(i));
  b->Unit(benchmark::kMillisecond)->UseRealTime();
}

}  // namespace

BENCHMARK(BM_Memcpy)->Apply(all_shapes);
BENCHMARK(BM_ForwardTraining)->Apply(all_shapes);
BENCHMARK(BM_ForwardInference)->Apply(all_shapes);
BENCHMARK(BM_Backward)->Apply(all_shapes);
BENCHMARK_MAIN();
