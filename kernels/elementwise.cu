// Elementwise float32 kernels: grid-stride loops with 64-bit indices (memory-bound; no tuning needed yet).
#include "elementwise.cuh"

#include <algorithm>

namespace normrt::NORMRT_KERNEL_NS {

namespace {
constexpr int kThreads = 256;

__global__ void axpy_kernel(float* a, const float* b, float alpha, int64_t n) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    a[i] = a[i] + alpha * b[i];
}
__global__ void increment_kernel(int64_t* value) { *value += 1; }
}  // namespace

void increment(int64_t* value, cudaStream_t stream) {
  NORMRT_LAUNCH(increment_kernel, dim3(1), dim3(1), 0, stream, value);
  NORMRT_CHECK_LAUNCH();
}

void axpy(float* a, const float* b, float alpha, int64_t n, int sm_count, cudaStream_t stream) {
  if (n == 0) return;
  const int64_t blocks = std::min<int64_t>((n + kThreads - 1) / kThreads, 16 * static_cast<int64_t>(std::max(sm_count, 1)));
  NORMRT_LAUNCH(axpy_kernel, dim3(static_cast<unsigned>(blocks)), dim3(kThreads), 0, stream, a, b, alpha, n);
  NORMRT_CHECK_LAUNCH();
}

}  // namespace normrt::NORMRT_KERNEL_NS
