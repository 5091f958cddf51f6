// Pooling kernels: one thread per output element forward, one per input element backward (a gather over the
// windows that hold it, so no atomics and a fixed summation order: deterministic). Grid-stride loops, 64-bit
// indices. Pooling moves little next to the convolutions around it; the kernels are plain on purpose. 16-bit
// elements are widened as read and the float result rounded once: the float32 path's bits, without its copies.
#include "pooling.cuh"

#include <algorithm>

namespace normrt::NORMRT_KERNEL_NS {

namespace {

constexpr int kThreads = 256;

unsigned blocks_for(int64_t n, int sm_count) {
  return static_cast<unsigned>(std::max<int64_t>(
      1, std::min<int64_t>((n + kThreads - 1) / kThreads, 16 * static_cast<int64_t>(std::max(sm_count, 1)))));
}

template <typename T>
__global__ void pool_forward_kernel(PoolForwardParams<T> p) {
  const poolmath::PoolGeometry& g = p.geometry;
  const int64_t per_plane = g.out_size(), n = g.planes * per_plane;
  for (int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < n;
       t += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t plane = t / per_plane;
    int64_t oc[3];
    poolmath::unflatten(t % per_plane, g.out, oc);
    const T* x = p.x + plane * g.in_size();
    if (p.kind == PoolKind::Max) {
      float value;
      int64_t index;
      poolmath::max_window(g, x, oc, value, index);
      p.y[t] = T(value);
      p.indices[t] = index;
    } else if (p.kind == PoolKind::Average) {
      p.y[t] = T(poolmath::avg_window(g, x, oc));
    } else {
      p.y[t] = T(poolmath::adaptive_avg_window(g, x, oc));
    }
  }
}

template <typename T>
__global__ void pool_backward_kernel(PoolBackwardParams<T> p) {
  const poolmath::PoolGeometry& g = p.geometry;
  const int64_t per_plane = g.in_size(), n = g.planes * per_plane;
  for (int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < n;
       t += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t plane = t / per_plane, i = t % per_plane;
    const T* dy = p.dy + plane * g.out_size();
    if (p.kind == PoolKind::Max) {
      p.dx[t] = T(poolmath::max_backward_element(g, dy, p.indices + plane * g.out_size(), i));
    } else if (p.kind == PoolKind::Average) {
      p.dx[t] = T(poolmath::avg_backward_element(g, dy, i));
    } else {
      p.dx[t] = T(poolmath::adaptive_avg_backward_element(g, dy, i));
    }
  }
}

}  // namespace

template <typename T>
void pool_forward(const PoolForwardParams<T>& p, int sm_count, cudaStream_t stream) {
  const int64_t n = p.geometry.planes * p.geometry.out_size();
  if (n == 0) return;
  NORMRT_LAUNCH(pool_forward_kernel<T>, dim3(blocks_for(n, sm_count)), dim3(kThreads), 0, stream, p);
  NORMRT_CHECK_LAUNCH();
}

template <typename T>
void pool_backward(const PoolBackwardParams<T>& p, int sm_count, cudaStream_t stream) {
  const int64_t n = p.geometry.planes * p.geometry.in_size();
  if (n == 0) return;
  NORMRT_LAUNCH(pool_backward_kernel<T>, dim3(blocks_for(n, sm_count)), dim3(kThreads), 0, stream, p);
  NORMRT_CHECK_LAUNCH();
}

template void pool_forward(const PoolForwardParams<float>&, int, cudaStream_t);
template void pool_forward(const PoolForwardParams<Half>&, int, cudaStream_t);
template void pool_forward(const PoolForwardParams<BFloat16>&, int, cudaStream_t);
template void pool_backward(const PoolBackwardParams<float>&, int, cudaStream_t);
template void pool_backward(const PoolBackwardParams<Half>&, int, cudaStream_t);
template void pool_backward(const PoolBackwardParams<BFloat16>&, int, cudaStream_t);

}  // namespace normrt::NORMRT_KERNEL_NS
