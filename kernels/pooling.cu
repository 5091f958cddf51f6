// Pooling kernels: one thread per output element forward, one per input element backward (a gather over the
// windows that hold it, so no atomics and a fixed summation order: deterministic). Grid-stride loops, 64-bit
// indices. Pooling moves little next to the convolutions around it; the kernels are plain on purpose. 16-bit
// elements are widened as read and the float result rounded once: the float32 path's bits, without its copies.
// Channels-last memory is walked in its own order (neighbouring threads take neighbouring channels), each element's
// window read with the channel count as its step: the contiguous layout's terms in its order, so its bits.
#include "pooling.cuh"

namespace normrt::NORMRT_KERNEL_NS {

namespace {

constexpr int kThreads = 256;

unsigned blocks_for(int64_t n, int sm_count) { return grid_stride_blocks(n, kThreads, sm_count); }

// Element t of an array of planes of `per_plane` positions, contiguous (channels 0) or channels-last: its position
// within its plane, and where that plane starts in a like array whose planes hold `other` positions.
struct PlaneElement {
  int64_t position, other_start;
};

__device__ inline PlaneElement plane_element(int64_t t, int64_t per_plane, int64_t other, int64_t channels) {
  if (channels == 0) return {t % per_plane, t / per_plane * other};
  const int64_t rest = t / channels;
  return {rest % per_plane, rest / per_plane * other * channels + t % channels};
}

template <typename T>
__global__ void pool_forward_kernel(PoolForwardParams<T> p) {
  const poolmath::PoolGeometry& g = p.geometry;
  const int64_t per_plane = g.out_size(), n = g.planes * per_plane, step = p.channels == 0 ? 1 : p.channels;
  for (int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < n;
       t += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const PlaneElement e = plane_element(t, per_plane, g.in_size(), p.channels);
    int64_t oc[3];
    poolmath::unflatten(e.position, g.out, oc);
    const T* x = p.x + e.other_start;
    if (p.kind == PoolKind::Max || p.kind == PoolKind::AdaptiveMax) {
      float value;
      int64_t index;
      if (p.kind == PoolKind::Max) poolmath::max_window(g, x, oc, value, index, step);
      else poolmath::adaptive_max_window(g, x, oc, value, index, step);
      p.y[t] = T(value);
      p.indices[t] = index;
    } else if (p.kind == PoolKind::Average) {
      p.y[t] = T(poolmath::avg_window(g, x, oc, step));
    } else {
      p.y[t] = T(poolmath::adaptive_avg_window(g, x, oc, step));
    }
  }
}

template <typename T>
__global__ void pool_backward_kernel(PoolBackwardParams<T> p) {
  const poolmath::PoolGeometry& g = p.geometry;
  const int64_t per_plane = g.in_size(), n = g.planes * per_plane, step = p.channels == 0 ? 1 : p.channels;
  for (int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < n;
       t += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const PlaneElement e = plane_element(t, per_plane, g.out_size(), p.channels);
    const T* dy = p.dy + e.other_start;
    if (p.kind == PoolKind::Max) {
      p.dx[t] = T(poolmath::max_backward_element(g, dy, p.indices + e.other_start, e.position, step));
    } else if (p.kind == PoolKind::AdaptiveMax) {
      p.dx[t] = T(poolmath::adaptive_max_backward_element(g, dy, p.indices + e.other_start, e.position, step));
    } else if (p.kind == PoolKind::Average) {
      p.dx[t] = T(poolmath::avg_backward_element(g, dy, e.position, step));
    } else {
      p.dx[t] = T(poolmath::adaptive_avg_backward_element(g, dy, e.position, step));
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
