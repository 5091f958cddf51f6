// A read-only kernel that sweeps a buffer larger than L2 (see l2_flush.cuh).
#include "l2_flush.cuh"

#include "normrt/cuda_check.h"

namespace normrt::bench {

namespace {

__global__ void read_through_kernel(const float4* buffer, std::size_t vectors, float* sink) {
  float sum = 0.0f;
  for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < vectors;
       i += static_cast<std::size_t>(gridDim.x) * blockDim.x) {
    const float4 v = buffer[i];
    sum += v.x + v.y + v.z + v.w;
  }
  if (sum != sum) *sink = sum;
}

}  // namespace

void read_through(const float* buffer, std::size_t floats, float* sink, cudaStream_t stream) {
  read_through_kernel<<<1024, 256, 0, stream>>>(reinterpret_cast<const float4*>(buffer), floats / 4, sink);
  NORMRT_CUDA_CHECK(cudaGetLastError());
}

}  // namespace normrt::bench
