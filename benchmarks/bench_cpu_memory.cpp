// The CPU memory system as the BatchNorm elementwise passes meet it: y = a x + b over arrays of 1 to 128 MB with
// plain and with non-temporal (streaming) stores, and the read-only and streaming-write-only bandwidths, on all of
// OpenMP's threads, the operands reused call after call as bench_batchnorm reuses them. src/batchnorm_cpu.cpp's
// store policy (kStreamPassAbove, and why not lower where a pass alone would gain: the _then_read rows) and its fusing
// of long runs were chosen from these numbers; rerun it on another machine before moving them.
//
//   build/benchmarks/bench_cpu_memory [--benchmark_repetitions=5 --benchmark_report_aggregates_only=true]
//
// bytes_per_second counts each array once (read x + write y for the affine pass; with the reader after it, also read y
// + write z).
#include <benchmark/benchmark.h>
#include <omp.h>
#if defined(__SSE2__)
#include <immintrin.h>
#endif

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>

namespace {

struct FreeDeleter {
  void operator()(float* p) const { std::free(p); }
};
using Buffer = std::unique_ptr<float, FreeDeleter>;

Buffer allocate(int64_t floats) {
  auto* p = static_cast<float*>(std::aligned_alloc(64, static_cast<std::size_t>(floats) * sizeof(float)));
  if (p == nullptr) throw std::bad_alloc();
  for (int64_t i = 0; i < floats; ++i) p[i] = static_cast<float>(i % 7);
  return Buffer(p);
}

// This thread's share of [0, n), in whole 16-float blocks.
void share(int64_t n, int64_t& lo, int64_t& hi) {
  const int t = omp_get_thread_num(), threads = omp_get_num_threads();
  lo = n * t / threads / 16 * 16;
  hi = t == threads - 1 ? n : n * (t + 1) / threads / 16 * 16;
}

enum class Pass { AffinePlain, AffineStreaming, Read, StreamingWrite, Double };

float run(Pass pass, const float* x, float* y, int64_t n) {
  float total = 0;
#pragma omp parallel reduction(+ : total)
  {
    int64_t lo = 0, hi = 0;
    share(n, lo, hi);
    switch (pass) {
      case Pass::AffinePlain:
        for (int64_t i = lo; i < hi; ++i) y[i] = 1.5f * x[i] + 0.25f;
        break;
      case Pass::AffineStreaming:
#if defined(__SSE2__)
        for (int64_t i = lo; i < hi; i += 4)
          _mm_stream_ps(y + i, _mm_add_ps(_mm_mul_ps(_mm_load_ps(x + i), _mm_set1_ps(1.5f)), _mm_set1_ps(0.25f)));
        _mm_sfence();
#endif
        break;
      case Pass::Read: {
        float lanes[16] = {};
        for (int64_t i = lo; i < hi; i += 16)
          for (int j = 0; j < 16; ++j) lanes[j] += x[i + j];
        for (float v : lanes) total += v;
        break;
      }
      case Pass::Double:  // the next op, reading what the pass wrote: y = 2 x with plain stores
        for (int64_t i = lo; i < hi; ++i) y[i] = 2.0f * x[i];
        break;
      case Pass::StreamingWrite:
#if defined(__SSE2__)
        for (int64_t i = lo; i < hi; i += 4) _mm_stream_ps(y + i, _mm_set1_ps(1.0f));
        _mm_sfence();
#endif
        break;
    }
  }
  return total;
}

void bench(benchmark::State& state, Pass pass) {
  const int64_t n = state.range(0) * (int64_t{1} << 20) / static_cast<int64_t>(sizeof(float));
  const Buffer x = allocate(n), y = allocate(n);
  for (auto _ : state) benchmark::DoNotOptimize(run(pass, x.get(), y.get(), n));
  const int64_t arrays = pass == Pass::AffinePlain || pass == Pass::AffineStreaming ? 2 : 1;
  state.SetBytesProcessed(state.iterations() * n * static_cast<int64_t>(sizeof(float)) * arrays);
}

// The affine pass followed by the op that reads its output (z = 2 y), as in a network: whether the pass's output is
// still cached for its reader is what the pass's stores decide there, and a benchmark of the pass alone never sees.
void bench_then_read(benchmark::State& state, Pass pass) {
  const int64_t n = state.range(0) * (int64_t{1} << 20) / static_cast<int64_t>(sizeof(float));
  const Buffer x = allocate(n), y = allocate(n), z = allocate(n);
  for (auto _ : state) {
    benchmark::DoNotOptimize(run(pass, x.get(), y.get(), n));
    benchmark::DoNotOptimize(run(Pass::Double, y.get(), z.get(), n));
  }
  state.SetBytesProcessed(state.iterations() * n * static_cast<int64_t>(sizeof(float)) * 4);
}

void megabytes(benchmark::internal::Benchmark* b) {
  for (int64_t mb : {1, 2, 4, 8, 16, 24, 32, 48, 64, 128}) b->Arg(mb);
  b->ArgName("MB")->Unit(benchmark::kMicrosecond)->UseRealTime();
}

}  // namespace

BENCHMARK_CAPTURE(bench, affine_plain, Pass::AffinePlain)->Apply(megabytes);
BENCHMARK_CAPTURE(bench_then_read, affine_plain_then_read, Pass::AffinePlain)->Apply(megabytes);
#if defined(__SSE2__)
BENCHMARK_CAPTURE(bench, affine_streaming, Pass::AffineStreaming)->Apply(megabytes);
BENCHMARK_CAPTURE(bench_then_read, affine_streaming_then_read, Pass::AffineStreaming)->Apply(megabytes);
BENCHMARK_CAPTURE(bench, streaming_write, Pass::StreamingWrite)
    ->Arg(128)
    ->ArgName("MB")
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();
#endif
BENCHMARK_CAPTURE(bench, read, Pass::Read)->Arg(128)->ArgName("MB")->Unit(benchmark::kMicrosecond)->UseRealTime();

BENCHMARK_MAIN();
