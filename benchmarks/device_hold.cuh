// Keeping the device busy for the benchmarks that time the host.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

namespace normrt::bench {

// Queues one single-thread kernel on `stream` that spins for `nanoseconds` of the device's global timer: work queued
// behind it waits, so the host's time to queue that work is measured apart from the device's time to run it.
void hold_device(cudaStream_t stream, uint64_t nanoseconds);

}  // namespace normrt::bench
