// Elementwise layer kernels (grid-stride loops, 64-bit indices). The per-element math is nn_math.cuh's, shared
// with the CPU path. Memory-bound and simple on purpose; the layers they serve are small next to their GEMMs.
#include "activation.cuh"

#include <algorithm>

namespace normrt::NORMRT_KERNEL_NS {

namespace {

constexpr int kThreads = 256;

unsigned blocks_for(int64_t n, int sm_count) {
  return static_cast<unsigned>(
      std::max<int64_t>(1, std::min<int64_t>((n + kThreads - 1) / kThreads, 16 * static_cast<int64_t>(std::max(sm_count, 1)))));
}

__global__ void activation_forward_kernel(nnmath::Activation a, const float* x, float* y, int64_t n) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    y[i] = nnmath::activation_forward(a, x[i]);
}

__global__ void activation_backward_kernel(nnmath::Activation a, const float* dy, const float* y, float* dx,
                                           int64_t n) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    dx[i] = nnmath::activation_backward(a, dy[i], y[i]);
}

__global__ void dropout_kernel(const float* x, float* y, int64_t n, float p, float scale, uint64_t seed,
                               uint64_t offset, const int64_t* device_offset) {
  if (device_offset != nullptr) offset = static_cast<uint64_t>(*device_offset);
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    y[i] = nnmath::dropout_keep(seed, offset, static_cast<uint64_t>(i), p) ? x[i] * scale : 0.0f;
}

__global__ void squared_error_kernel(const float* x, const float* t, float* sq, float* grad, int64_t n,
                                     float loss_scale, float grad_scale) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const float d = x[i] - t[i];
    sq[i] = loss_scale * (d * d);
    grad[i] = grad_scale * d;
  }
}

// One thread per column; consecutive threads read consecutive addresses of each row.
__global__ void column_sum_kernel(const float* m, float* out, int64_t rows, int64_t cols, bool accumulate) {
  const int64_t j = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (j >= cols) return;
  float sum = 0.0f;
  for (int64_t i = 0; i < rows; ++i) sum += m[i * cols + j];
  out[j] = accumulate ? out[j] + sum : sum;
}

}  // namespace

void activation_forward(nnmath::Activation a, const float* x, float* y, int64_t n, int sm_count, cudaStream_t stream) {
  if (n == 0) return;
  NORMRT_LAUNCH(activation_forward_kernel, dim3(blocks_for(n, sm_count)), dim3(kThreads), 0, stream, a, x, y, n);
  NORMRT_CHECK_LAUNCH();
}

void activation_backward(nnmath::Activation a, const float* dy, const float* y, float* dx, int64_t n, int sm_count,
                         cudaStream_t stream) {
  if (n == 0) return;
  NORMRT_LAUNCH(activation_backward_kernel, dim3(blocks_for(n, sm_count)), dim3(kThreads), 0, stream, a, dy, y, dx,
                n);
  NORMRT_CHECK_LAUNCH();
}

void dropout(const float* x, float* y, int64_t n, float p, uint64_t seed, uint64_t offset,
             const int64_t* device_offset, int sm_count, cudaStream_t stream) {
  if (n == 0) return;
  const float scale = p < 1.0f ? static_cast<float>(1.0 / (1.0 - static_cast<double>(p))) : 0.0f;
  NORMRT_LAUNCH(dropout_kernel, dim3(blocks_for(n, sm_count)), dim3(kThreads), 0, stream, x, y, n, p, scale, seed,
                offset, device_offset);
  NORMRT_CHECK_LAUNCH();
}

void squared_error(const float* x, const float* t, float* sq, float* grad, int64_t n, float loss_scale,
                   float grad_scale, int sm_count, cudaStream_t stream) {
  if (n == 0) return;
  NORMRT_LAUNCH(squared_error_kernel, dim3(blocks_for(n, sm_count)), dim3(kThreads), 0, stream, x, t, sq, grad, n,
                loss_scale, grad_scale);
  NORMRT_CHECK_LAUNCH();
}

void column_sum(const float* m, float* out, int64_t rows, int64_t cols, bool accumulate, cudaStream_t stream) {
  if (cols == 0) return;
  const unsigned blocks = static_cast<unsigned>((cols + kThreads - 1) / kThreads);
  NORMRT_LAUNCH(column_sum_kernel, dim3(blocks), dim3(kThreads), 0, stream, m, out, rows, cols, accumulate);
  NORMRT_CHECK_LAUNCH();
}

}  // namespace normrt::NORMRT_KERNEL_NS
