// gather: one thread per index position. scatter: the positions' targets computed here and sorted by device_groups.cu's
// sort_by_row (a stable radix sort over the whole device), then the thread at the start (or end) of each run of equal
// targets applies the run in index order (assigns, or reduces it into the element): the CPU's order and bits with no
// atomics, deterministic run to run, in time that follows the positions, not the size of self (a hot element's run is
// one thread's loop).
#include "scatter_gather.cuh"

namespace normrt::NORMRT_KERNEL_NS {

namespace {
constexpr int kThreads = 256;

template <typename T>
__global__ void gather_kernel(const T* input, const int64_t* index, scattermath::Geometry g, T fill, T* out) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t p = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; p < g.n; p += stride) {
    const int64_t v = index[p];
    out[p] = scattermath::in_range(g, v) ? input[scattermath::target_offset(g, p, v)] : fill;
  }
}

__global__ void targets_kernel(const int64_t* index, scattermath::Geometry g, int64_t* targets) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t p = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; p < g.n; p += stride) {
    const int64_t v = index[p];
    targets[p] = scattermath::in_range(g, v) ? scattermath::target_offset(g, p, v) : -1;
  }
}

// Position j of the sorted order writes when it is the last of its run of equal keys (the run's last in index order).
template <typename T>
__global__ void assign_kernel(ScatterParams p) {
  T* self = static_cast<T*>(p.self);
  const T* src = static_cast<const T*>(p.src);
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t j = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; j < p.g.n; j += stride) {
    const int64_t e = p.keys[j];
    if (e < p.elements && (j + 1 == p.g.n || p.keys[j + 1] != e))
      self[e] = src[scattermath::source_offset(p.g, p.order[j])];
  }
}

// Position j of the sorted order reduces its run of equal keys, in index order, when it starts it: from the element
// (or the reduction's identity without include_self), a mean divided by the run's count at the end.
template <typename T>
__global__ void reduce_kernel(ScatterParams p) {
  T* self = static_cast<T*>(p.self);
  const T* src = static_cast<const T*>(p.src);
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t j = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; j < p.g.n; j += stride) {
    const int64_t e = p.keys[j];
    if (e >= p.elements || (j > 0 && p.keys[j - 1] == e)) continue;
    T acc = p.include_self ? self[e] : scattermath::identity<T>(p.reduce);
    T count = T(p.include_self ? 1 : 0);
    for (int64_t m = j; m < p.g.n && p.keys[m] == e; ++m) {
      acc = scattermath::combine(p.reduce, acc, src[scattermath::source_offset(p.g, p.order[m])]);
      count = scattermath::add(count, T(1));
    }
    self[e] = p.reduce == scattermath::Reduce::Mean ? scattermath::mean_of(acc, count) : acc;
  }
}
}  // namespace

template <typename T>
void gather(const T* input, const int64_t* index, const scattermath::Geometry& g, T fill, T* out, int sm_count,
            cudaStream_t stream) {
  if (g.n == 0) return;
  NORMRT_LAUNCH(gather_kernel<T>, dim3(grid_stride_blocks(g.n, kThreads, sm_count)), dim3(kThreads), 0, stream, input,
                index, g, fill, out);
  NORMRT_CHECK_LAUNCH();
}

void scatter_targets(const int64_t* index, const scattermath::Geometry& g, int64_t* targets, int sm_count,
                     cudaStream_t stream) {
  if (g.n == 0) return;
  NORMRT_LAUNCH(targets_kernel, dim3(grid_stride_blocks(g.n, kThreads, sm_count)), dim3(kThreads), 0, stream, index, g,
                targets);
  NORMRT_CHECK_LAUNCH();
}

template <typename T>
void scatter_assign(const ScatterParams& p, int sm_count, cudaStream_t stream) {
  if (p.elements == 0 || p.g.n == 0) return;
  NORMRT_LAUNCH(assign_kernel<T>, dim3(grid_stride_blocks(p.g.n, kThreads, sm_count)), dim3(kThreads), 0, stream, p);
  NORMRT_CHECK_LAUNCH();
}

template <typename T>
void scatter_reduce(const ScatterParams& p, int sm_count, cudaStream_t stream) {
  if (p.elements == 0 || p.g.n == 0) return;
  NORMRT_LAUNCH(reduce_kernel<T>, dim3(grid_stride_blocks(p.g.n, kThreads, sm_count)), dim3(kThreads), 0, stream, p);
  NORMRT_CHECK_LAUNCH();
}

template void gather(const uint8_t*, const int64_t*, const scattermath::Geometry&, uint8_t, uint8_t*, int,
                     cudaStream_t);
template void gather(const uint16_t*, const int64_t*, const scattermath::Geometry&, uint16_t, uint16_t*, int,
                     cudaStream_t);
template void gather(const uint32_t*, const int64_t*, const scattermath::Geometry&, uint32_t, uint32_t*, int,
                     cudaStream_t);
template void gather(const uint64_t*, const int64_t*, const scattermath::Geometry&, uint64_t, uint64_t*, int,
                     cudaStream_t);
template void scatter_assign<uint8_t>(const ScatterParams&, int, cudaStream_t);
template void scatter_assign<uint16_t>(const ScatterParams&, int, cudaStream_t);
template void scatter_assign<uint32_t>(const ScatterParams&, int, cudaStream_t);
template void scatter_assign<uint64_t>(const ScatterParams&, int, cudaStream_t);
template void scatter_reduce<float>(const ScatterParams&, int, cudaStream_t);
template void scatter_reduce<Half>(const ScatterParams&, int, cudaStream_t);
template void scatter_reduce<BFloat16>(const ScatterParams&, int, cudaStream_t);
template void scatter_reduce<int64_t>(const ScatterParams&, int, cudaStream_t);

}  // namespace normrt::NORMRT_KERNEL_NS
