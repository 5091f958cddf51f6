// Shared by the benchmark binaries: medians by default, and CUDA-event timing of work on a stream.
#pragma once
#include <benchmark/benchmark.h>

#include <cstring>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "normrt/config.h"
#if NORMRT_WITH_CUDA
#include <cuda_runtime.h>

#include "normrt/cuda_check.h"
#endif

namespace normrt::bench {

// benchmark::Initialize, adding --benchmark_repetitions=5 and aggregates-only reporting (medians) unless the
// caller chose repetitions.
inline void initialize(int argc, char** argv) {
  static std::vector<char*> args(argv, argv + argc);
  static std::string repetitions = "--benchmark_repetitions=5", aggregates = "--benchmark_report_aggregates_only=true";
  bool given = false;
  for (char* a : args) given = given || std::strstr(a, "--benchmark_repetitions") == a;
  if (!given) {
    args.push_back(repetitions.data());
    args.push_back(aggregates.data());
  }
  int count = static_cast<int>(args.size());
  benchmark::Initialize(&count, args.data());
}

// Console output as usual, keeping each benchmark's median (or its single run) for a summary table.
class MedianReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& run : runs) {
      const bool median = run.run_type == Run::RT_Aggregate && run.aggregate_name == "median";
      if (median || (run.run_type == Run::RT_Iteration && run.repetitions <= 1))
        medians_[run.run_name.function_name] = run.GetAdjustedRealTime();  // in the benchmark's time unit
    }
    ConsoleReporter::ReportRuns(runs);
  }
  // The median in the benchmark's time unit, or a negative number when the benchmark did not run.
  double micros(const std::string& name) const {
    const auto it = medians_.find(name);
    return it == medians_.end() ? -1 : it->second;
  }

 private:
  std::map<std::string, double> medians_;
};

#if NORMRT_WITH_CUDA
class Events {
 public:
  Events() {
    NORMRT_CUDA_CHECK(cudaEventCreate(&start_));
    NORMRT_CUDA_CHECK(cudaEventCreate(&stop_));
  }
  ~Events() {
    NORMRT_CUDA_CHECK_LOG(cudaEventDestroy(start_));
    NORMRT_CUDA_CHECK_LOG(cudaEventDestroy(stop_));
  }
  Events(const Events&) = delete;
  Events& operator=(const Events&) = delete;
  // Seconds taken on the device by the work fn enqueues on `stream`.
  double time(cudaStream_t stream, const std::function<void()>& fn) {
    NORMRT_CUDA_CHECK(cudaEventRecord(start_, stream));
    fn();
    NORMRT_CUDA_CHECK(cudaEventRecord(stop_, stream));
    NORMRT_CUDA_CHECK(cudaEventSynchronize(stop_));
    float ms = 0;
    NORMRT_CUDA_CHECK(cudaEventElapsedTime(&ms, start_, stop_));
    return ms * 1e-3;
  }

 private:
  cudaEvent_t start_, stop_;
};
#endif

}  // namespace normrt::bench
