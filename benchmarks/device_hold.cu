// A kernel that spins on the global timer (see device_hold.cuh).
#include "device_hold.cuh"

#include "normrt/cuda_check.h"

namespace normrt::bench {

namespace {

__device__ uint64_t global_timer_ns() {
  uint64_t t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
}

__global__ void hold_kernel(uint64_t nanoseconds) {
  const uint64_t start = global_timer_ns();
  while (global_timer_ns() - start < nanoseconds) __nanosleep(1000);
}

}  // namespace

void hold_device(cudaStream_t stream, uint64_t nanoseconds) {
  hold_kernel<<<1, 1, 0, stream>>>(nanoseconds);
  NORMRT_CUDA_CHECK(cudaGetLastError());
}

}  // namespace normrt::bench
