// Data-parallel costs on the process group of this launch (normrt::dist::init_from_environment): all_reduce and
// all_gather bandwidth over tensor sizes, and SyncBatchNorm's training step (forward + backward) beside plain
// BatchNorm's on each rank's share, per channel count, in float32 NCHW and bfloat16 channels-last. Every rank runs
// every benchmark with the same fixed iteration counts, so that the collectives stay in step; rank 0 reports. Without a
// launcher the group is one process: the collectives are no-ops and the SyncBatchNorm rows show the cost of its stages
// alone.
//
//   mpirun -np 2 build/benchmarks/bench_dist        (as root in a container: OMPI_ALLOW_RUN_AS_ROOT=1 ...)
//   build/benchmarks/bench_dist --device=cuda       (tensors on GPU LOCAL_RANK, the nccl backend; one process: a
//                                                    group of one, so the SyncBatchNorm rows show its device stages)
//
// On a GPU every iteration ends with a device synchronise, so times are the device's, launches included.
// all_reduce reports "algorithm bandwidth" (tensor bytes / time) and the bus bandwidth of a ring over the group
// (2 (R - 1) / R of that, NCCL's convention), so numbers compare across group sizes.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "bench_util.h"
#include "normrt/normrt.h"

using namespace normrt;

namespace {

dist::ProcessGroup* g_group = nullptr;
Device g_device = Device::cpu();

// Waits for the device (a no-op on the CPU), so that an iteration's time includes its device work.
void finish() {
#if NORMRT_WITH_CUDA
  if (g_device.is_cuda()) cuda::synchronize(g_device.index());
#endif
}

void all_reduce(benchmark::State& state, int64_t floats) {
  Tensor t = full({floats}, 1.0f, g_device);
  for (auto _ : state) {
    g_group->all_reduce(t);
    finish();
  }
  const double bytes = static_cast<double>(floats) * 4;
  const double ranks = g_group->size();
  state.counters["algo_GB/s"] = benchmark::Counter(bytes * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["bus_GB/s"] = benchmark::Counter(bytes * 1e-9 * 2 * (ranks - 1) / ranks,
                                                  benchmark::Counter::kIsIterationInvariantRate);
}

void all_gather(benchmark::State& state, int64_t floats) {
  const Tensor t = full({floats}, 1.0f, g_device);
  for (auto _ : state) {
    benchmark::DoNotOptimize(g_group->all_gather(t));
    finish();
  }
  state.counters["out_GB/s"] = benchmark::Counter(static_cast<double>(floats) * 4 * g_group->size() * 1e-9,
                                                  benchmark::Counter::kIsIterationInvariantRate);
}

// A rank's share of a BatchNorm2d layer's input: (32, channels, 14, 14) in an element type and memory format.
struct Share {
  int64_t channels;
  DType dtype;
  MemoryFormat format;
  std::string name() const {
    const std::string kind = dtype == DType::Float32 && format == MemoryFormat::Contiguous
                                 ? ""
                                 : std::string(dtype_name(dtype)) +
                                       (format == MemoryFormat::ChannelsLast ? "-nhwc/" : "/");
    return kind + "32x" + std::to_string(channels) + "x14x14";
  }
};

// One training step of a BatchNorm2d layer on this rank's share: forward and backward.
void batch_norm_step(benchmark::State& state, const Share& share, bool sync) {
  Generator gen(1 + static_cast<uint64_t>(g_group->rank()));
  const int64_t channels = share.channels;
  const Shape shape = {32, channels, 14, 14};
  auto operand = [&] { return randn(shape, gen).to(share.dtype).to(share.format).to(g_device); };
  const Tensor x = operand(), dy = operand();
  const Tensor w = ones({channels}, g_device), b = zeros({channels}, g_device);
  Tensor rm = zeros({channels}, g_device), rv = ones({channels}, g_device);
  for (auto _ : state) {
    if (sync) {
      const auto f = ops::sync_batch_norm_forward(x, w, b, rm, rv, Tensor(), 0.1, 1e-5, *g_group);
      benchmark::DoNotOptimize(ops::sync_batch_norm_backward(dy, x, w, f.save_mean, f.save_invstd, *g_group));
    } else {
      const auto f = ops::batch_norm_forward_training(x, w, b, rm, rv, Tensor(), 0.1, 1e-5);
      benchmark::DoNotOptimize(ops::batch_norm_backward(dy, x, w, f.save_mean, f.save_invstd, true, 1e-5));
    }
    finish();
  }
  state.SetBytesProcessed(state.iterations() * shape_numel(shape) * static_cast<int64_t>(element_size(share.dtype)) *
                          5);  // x, y; dy, x, dx
}

// Reports nothing: the ranks other than 0 run the benchmarks only to take part in the collectives.
class Silent : public benchmark::BenchmarkReporter {
 public:
  bool ReportContext(const Context&) override { return true; }
  void ReportRuns(const std::vector<Run>&) override {}
};

}  // namespace

int main(int argc, char** argv) {
  bool on_gpu = false;
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) != "--device=cuda") continue;
    on_gpu = true;
    for (int j = i; j + 1 < argc; ++j) argv[j] = argv[j + 1];
    --argc;
    break;
  }
  bench::initialize(argc, argv);
  if (on_gpu) {
    if (!cuda::is_available()) {
      std::printf("--device=cuda: no CUDA device\n");
      return 1;
    }
    g_device = Device::cuda(dist::launch_environment().local_rank);
  }
  const std::unique_ptr<dist::ProcessGroup> group = dist::init_from_environment(on_gpu ? "nccl" : "");
  g_group = group.get();
  for (int64_t floats : {int64_t{1} << 10, int64_t{1} << 16, int64_t{1} << 20, int64_t{1} << 24}) {
    const std::string size = std::to_string(floats * 4 / 1024) + "KiB";
    benchmark::RegisterBenchmark(("dist/all_reduce/" + size).c_str(), all_reduce, floats)
        ->Iterations(floats >= (int64_t{1} << 24) ? 5 : 50)
        ->Unit(benchmark::kMicrosecond)
        ->UseRealTime();
    benchmark::RegisterBenchmark(("dist/all_gather/" + size).c_str(), all_gather, floats)
        ->Iterations(floats >= (int64_t{1} << 24) ? 5 : 50)
        ->Unit(benchmark::kMicrosecond)
        ->UseRealTime();
  }
  std::vector<Share> shares;
  for (int64_t c : {16, 64, 256, 1024}) shares.push_back({c, DType::Float32, MemoryFormat::Contiguous});
  for (int64_t c : {64, 256}) shares.push_back({c, DType::BFloat16, MemoryFormat::ChannelsLast});
  for (const Share& share : shares) {
    for (bool sync : {false, true}) {
      const std::string name = std::string(sync ? "bn/sync/" : "bn/plain/") + share.name();
      benchmark::RegisterBenchmark(name.c_str(), batch_norm_step, share, sync)
          ->Iterations(share.channels >= 1024 ? 5 : 20)
          ->Unit(benchmark::kMicrosecond)
          ->UseRealTime();
    }
  }
  if (group->rank() != 0) {
    Silent silent;
    benchmark::RunSpecifiedBenchmarks(&silent);
    return 0;
  }
  bench::MedianReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  std::printf("\nSyncBatchNorm step over BatchNorm's on each rank's share (%d %s rank(s), %s; medians)\n"
              "| share | BatchNorm us | SyncBatchNorm us | ratio |\n|---|---|---|---|\n",
              group->size(), group->backend().c_str(), g_device.str().c_str());
  for (const Share& share : shares) {
    const std::string shape = share.name();
    const double plain = reporter.micros("bn/plain/" + shape), sync = reporter.micros("bn/sync/" + shape);
    if (plain > 0 && sync > 0) std::printf("| %s | %.1f | %.1f | %.2fx |\n", shape.c_str(), plain, sync, sync / plain);
  }
  benchmark::Shutdown();
  return 0;
}
