// Elementwise kernels (float32; fill also int64 and 16-bit; dtype conversion): grid-stride loops with 64-bit indices
// (memory-bound; no tuning needed yet).
#include "elementwise.cuh"

#include <algorithm>
#include <type_traits>

namespace normrt::NORMRT_KERNEL_NS {

namespace {
constexpr int kThreads = 256;

__global__ void axpy_kernel(float* a, const float* b, float alpha, int64_t n) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    a[i] = a[i] + alpha * b[i];
}
__global__ void add_kernel(int64_t* value, int64_t delta) { *value += delta; }

template <typename T>
__global__ void fill_kernel(T* out, T value, int64_t n) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) out[i] = value;
}

// Every conversion goes through float, which holds every float16 and bfloat16 value exactly.
template <typename To>
__device__ To from_float(float v) {
  if constexpr (std::is_same_v<To, float>) return v;
  else return To(v);
}

template <typename From, typename To>
__global__ void convert_kernel(const From* in, To* out, int64_t n) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    out[i] = from_float<To>(static_cast<float>(in[i]));
}

// One thread per output element (reads strided by `cols`; a layout conversion, not a hot path).
template <typename T>
__global__ void transpose_batched_kernel(const T* in, T* out, int64_t rows, int64_t cols, int64_t n) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x, matrix = rows * cols;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const int64_t b = i / matrix, within = i % matrix, c = within / rows, r = within % rows;
    out[i] = in[b * matrix + r * cols + c];
  }
}

int64_t grid_for(int64_t n, int sm_count) {
  return std::min<int64_t>((n + kThreads - 1) / kThreads, 16 * static_cast<int64_t>(std::max(sm_count, 1)));
}

template <typename T>
void fill_impl(T* out, T value, int64_t n, int sm_count, cudaStream_t stream) {
  if (n == 0) return;
  NORMRT_LAUNCH(fill_kernel<T>, dim3(static_cast<unsigned>(grid_for(n, sm_count))), dim3(kThreads), 0, stream, out,
                value, n);
  NORMRT_CHECK_LAUNCH();
}
}  // namespace

void add(int64_t* value, int64_t delta, cudaStream_t stream) {
  NORMRT_LAUNCH(add_kernel, dim3(1), dim3(1), 0, stream, value, delta);
  NORMRT_CHECK_LAUNCH();
}

void increment(int64_t* value, cudaStream_t stream) { add(value, 1, stream); }

void axpy(float* a, const float* b, float alpha, int64_t n, int sm_count, cudaStream_t stream) {
  if (n == 0) return;
  NORMRT_LAUNCH(axpy_kernel, dim3(static_cast<unsigned>(grid_for(n, sm_count))), dim3(kThreads), 0, stream, a, b,
                alpha, n);
  NORMRT_CHECK_LAUNCH();
}

void fill(float* out, float value, int64_t n, int sm_count, cudaStream_t stream) {
  fill_impl(out, value, n, sm_count, stream);
}

void fill(int64_t* out, int64_t value, int64_t n, int sm_count, cudaStream_t stream) {
  fill_impl(out, value, n, sm_count, stream);
}

void fill(uint16_t* out, uint16_t value, int64_t n, int sm_count, cudaStream_t stream) {
  fill_impl(out, value, n, sm_count, stream);
}

template <typename From, typename To>
void convert(const From* in, To* out, int64_t n, int sm_count, cudaStream_t stream) {
  if (n == 0) return;
  NORMRT_LAUNCH((convert_kernel<From, To>), dim3(static_cast<unsigned>(grid_for(n, sm_count))), dim3(kThreads), 0,
                stream, in, out, n);
  NORMRT_CHECK_LAUNCH();
}

template <typename T>
void transpose_batched(const T* in, T* out, int64_t batch, int64_t rows, int64_t cols, int sm_count,
                       cudaStream_t stream) {
  const int64_t n = batch * rows * cols;
  if (n == 0) return;
  NORMRT_LAUNCH(transpose_batched_kernel<T>, dim3(static_cast<unsigned>(grid_for(n, sm_count))), dim3(kThreads), 0,
                stream, in, out, rows, cols, n);
  NORMRT_CHECK_LAUNCH();
}

template void transpose_batched(const uint16_t*, uint16_t*, int64_t, int64_t, int64_t, int, cudaStream_t);
template void transpose_batched(const uint32_t*, uint32_t*, int64_t, int64_t, int64_t, int, cudaStream_t);
template void transpose_batched(const uint64_t*, uint64_t*, int64_t, int64_t, int64_t, int, cudaStream_t);

template void convert(const float*, Half*, int64_t, int, cudaStream_t);
template void convert(const float*, BFloat16*, int64_t, int, cudaStream_t);
template void convert(const Half*, float*, int64_t, int, cudaStream_t);
template void convert(const BFloat16*, float*, int64_t, int, cudaStream_t);
template void convert(const Half*, BFloat16*, int64_t, int, cudaStream_t);
template void convert(const BFloat16*, Half*, int64_t, int, cudaStream_t);

}  // namespace normrt::NORMRT_KERNEL_NS
