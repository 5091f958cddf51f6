// Sums with cub::DeviceReduce: deterministic for a given GPU and size (no atomics), result left on the device.
// Temporary storage comes from the stream-ordered pool.
#include <cub/device/device_reduce.cuh>

#include "normrt/cuda_check.h"
#include "reduce.cuh"

namespace normrt::cuda {

namespace {
template <typename T>
void device_sum(const T* in, T* out, int64_t n, cudaStream_t stream) {
  std::size_t bytes = 0;
  NORMRT_CUDA_CHECK(cub::DeviceReduce::Sum(nullptr, bytes, in, out, n, stream));
  void* temp = nullptr;
  NORMRT_CUDA_CHECK(cudaMallocAsync(&temp, std::max<std::size_t>(bytes, 1), stream));
  NORMRT_CUDA_CHECK(cub::DeviceReduce::Sum(temp, bytes, in, out, n, stream));
  NORMRT_CUDA_CHECK(cudaFreeAsync(temp, stream));
}
}  // namespace

void sum(const float* in, float* out, int64_t n, cudaStream_t stream) { device_sum(in, out, n, stream); }
void sum(const int64_t* in, int64_t* out, int64_t n, cudaStream_t stream) { device_sum(in, out, n, stream); }

}  // namespace normrt::cuda
