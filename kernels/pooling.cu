// Pooling kernels: one thread per output element forward, one per input element backward (a gather over the
// windows that hold it, so no atomics and a fixed summation order: deterministic). Grid-stride loops, 64-bit
// indices. Pooling moves little next to the convolutions around it; the kernels are plain on purpose.
#include "pooling.cuh"

#include <algorithm>

namespace normrt::NORMRT_KERNEL_NS {

namespace {

constexpr int kThreads = 256;

unsigned blocks_for(int64_t n, int sm_count) {
  return static_cast<unsigned>(std::max<int64_t>(
      1, std::min<int64_t>((n + kThreads - 1) / kThreads, 16 * static_cast<int64_t>(std::max(sm_count, 1)))));
}

__global__ void pool_forward_kernel(PoolForwardParams p) {
  const poolmath::PoolGeometry& g = p.geometry;
  const int64_t per_plane = g.out_size(), n = g.planes * per_plane;
  for (int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < n;
       t += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t plane = t / per_plane;
    int64_t oc[3];
    poolmath::unflatten(t % per_plane, g.out, oc);
    const float* x = p.x + plane * g.in_size();
    if (p.kind == PoolKind::Max) {
      float value;
      int64_t index;
      poolmath::max_window(g, x, oc, value, index);
      p.y[t] = value;
      p.indices[t] = index;
    } else if (p.kind == PoolKind::Average) {
      p.y[t] = poolmath::avg_window(g, x, oc);
    } else {
      p.y[t] = poolmath::adaptive_avg_window(g, x, oc);
    }
  }
}

__global__ void pool_backward_kernel(PoolBackwardParams p) {
  const poolmath::PoolGeometry& g = p.geometry;
  const int64_t per_plane = g.in_size(), n = g.planes * per_plane;
  for (int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < n;
       t += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t plane = t / per_plane, i = t % per_plane;
    const float* dy = p.dy + plane * g.out_size();
    if (p.kind == PoolKind::Max) {
      p.dx[t] = poolmath::max_backward_element(g, dy, p.indices + plane * g.out_size(), i);
    } else if (p.kind == PoolKind::Average) {
      p.dx[t] = poolmath::avg_backward_element(g, dy, i);
    } else {
      p.dx[t] = poolmath::adaptive_avg_backward_element(g, dy, i);
    }
  }
}

}  // namespace

void pool_forward(const PoolForwardParams& p, int sm_count, cudaStream_t stream) {
  const int64_t n = p.geometry.planes * p.geometry.out_size();
  if (n == 0) return;
  NORMRT_LAUNCH(pool_forward_kernel, dim3(blocks_for(n, sm_count)), dim3(kThreads), 0, stream, p);
  NORMRT_CHECK_LAUNCH();
}

void pool_backward(const PoolBackwardParams& p, int sm_count, cudaStream_t stream) {
  const int64_t n = p.geometry.planes * p.geometry.in_size();
  if (n == 0) return;
  NORMRT_LAUNCH(pool_backward_kernel, dim3(blocks_for(n, sm_count)), dim3(kThreads), 0, stream, p);
  NORMRT_CHECK_LAUNCH();
}

}  // namespace normrt::NORMRT_KERNEL_NS
