// Row lookups (an embedding's, index_select's), their backward and max_norm on the device, deterministic without
// atomics: the backward groups the positions by weight row with a stable counting sort in one block
// (group_indices_kernel: chunk by chunk, each position ranked among its row's positions by a scan of the chunk in
// shared memory), then one thread per weight element adds its row's gradient rows in position order, as the CPU path
// does: the same bits. The grouping is serial over chunks of kThreads positions; it is linear in the positions, and a
// batch of tokens is small next to the weight the second kernel writes.
#include "embedding.cuh"

namespace normrt::NORMRT_KERNEL_NS {

namespace {
constexpr int kThreads = 256;

template <typename T>
__global__ void lookup_kernel(const T* table, int64_t outer, int64_t rows, int64_t columns, const int64_t* indices,
                              int64_t n, T fill, T* out) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < outer * n * columns; e += stride) {
    const int64_t line = e / columns, o = line / n, k = indices[line - o * n];
    out[e] = k >= 0 && k < rows ? table[(o * rows + k) * columns + (e - line * columns)] : fill;
  }
}

__global__ void __launch_bounds__(kThreads)
    group_indices_kernel(const int64_t* indices, int64_t n, int64_t rows, int64_t* rank, int64_t* count,
                         int64_t* offset, int64_t* order) {
  NORMRT_DYNAMIC_SHARED(int64_t, shared);
  const int t = static_cast<int>(threadIdx.x);
  for (int64_t k = t; k < rows; k += kThreads) count[k] = 0;
  __syncthreads();
  for (int64_t base = 0; base < n; base += kThreads) {
    const int64_t i = base + t, looked_up = i < n ? indices[i] : -1;
    const int64_t k = looked_up >= 0 && looked_up < rows ? looked_up : -1;
    shared[t] = k;
    __syncthreads();
    int64_t before = 0;  // the chunk's earlier positions of row k
    bool last = true;    // no later one
    for (int u = 0; u < kThreads; ++u) {
      if (shared[u] != k) continue;
      if (u < t) ++before;
      if (u > t) last = false;
    }
    if (k >= 0) rank[i] = count[k] + before;
    __syncthreads();
    if (k >= 0 && last) count[k] += before + 1;
    __syncthreads();
  }
  // offset: thread t scans a run of `per` rows after thread 0 has turned the runs' sums into their starts.
  const int64_t per = (rows + kThreads - 1) / kThreads;
  const int64_t begin = t * per < rows ? t * per : rows, end = begin + per < rows ? begin + per : rows;
  int64_t sum = 0;
  for (int64_t k = begin; k < end; ++k) sum += count[k];
  shared[t] = sum;
  __syncthreads();
  if (t == 0) {
    int64_t start = 0;
    for (int u = 0; u < kThreads; ++u) {
      const int64_t run = shared[u];
      shared[u] = start;
      start += run;
    }
  }
  __syncthreads();
  int64_t start = shared[t];
  for (int64_t k = begin; k < end; ++k) {
    offset[k] = start;
    start += count[k];
  }
  __syncthreads();
  for (int64_t i = t; i < n; i += kThreads) {
    const int64_t k = indices[i];
    if (k >= 0 && k < rows) order[offset[k] + rank[i]] = i;
  }
}

template <typename T>
__global__ void backward_kernel(EmbeddingBackwardParams p) {
  const T* grad = static_cast<const T*>(p.grad);
  T* grad_weight = static_cast<T*>(p.grad_weight);
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x, table = p.rows * p.columns;
  for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < p.outer * table; e += stride) {
    const int64_t o = e / table, k = (e - o * table) / p.columns, column = e - o * table - k * p.columns;
    const int64_t count = p.count[k];
    T acc = T(0.0f);
    if (k != p.padding_idx && count > 0) {
      const float alpha = embmath::gradient_scale<T>(count, p.scale_grad_by_freq);
      const T* lines = grad + o * p.n * p.columns + column;
      for (int64_t j = p.offset[k]; j < p.offset[k] + count; ++j)
        acc = embmath::accumulate(acc, lines[p.order[j] * p.columns], alpha);
    }
    grad_weight[e] = acc;
  }
}

template <typename T>
__global__ void renorm_kernel(T* weight, int64_t rows, int64_t columns, const int64_t* count, double max_norm,
                              double norm_type) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t k = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; k < rows; k += stride)
    if (count[k] > 0) embmath::renorm_row(weight + k * columns, columns, max_norm, norm_type);
}
}  // namespace

template <typename T>
void lookup_rows(const T* table, int64_t outer, int64_t rows, int64_t columns, const int64_t* indices, int64_t n,
                 T fill, T* out, int sm_count, cudaStream_t stream) {
  if (outer * n * columns == 0) return;
  NORMRT_LAUNCH(lookup_kernel<T>, dim3(grid_stride_blocks(outer * n * columns, kThreads, sm_count)), dim3(kThreads), 0,
                stream, table, outer, rows, columns, indices, n, fill, out);
  NORMRT_CHECK_LAUNCH();
}

void group_indices(const int64_t* indices, int64_t n, int64_t rows, int64_t* rank, int64_t* count, int64_t* offset,
                   int64_t* order, cudaStream_t stream) {
  if (rows == 0) return;
  NORMRT_LAUNCH(group_indices_kernel, dim3(1), dim3(kThreads), kThreads * sizeof(int64_t), stream, indices, n, rows,
                rank, count, offset, order);
  NORMRT_CHECK_LAUNCH();
}

template <typename T>
void embedding_backward(const EmbeddingBackwardParams& p, int sm_count, cudaStream_t stream) {
  if (p.outer * p.rows * p.columns == 0) return;
  NORMRT_LAUNCH(backward_kernel<T>, dim3(grid_stride_blocks(p.outer * p.rows * p.columns, kThreads, sm_count)),
                dim3(kThreads), 0, stream, p);
  NORMRT_CHECK_LAUNCH();
}

template <typename T>
void embedding_renorm(T* weight, int64_t rows, int64_t columns, const int64_t* count, double max_norm, double norm_type,
                      int sm_count, cudaStream_t stream) {
  if (rows == 0) return;
  NORMRT_LAUNCH(renorm_kernel<T>, dim3(grid_stride_blocks(rows, kThreads, sm_count)), dim3(kThreads), 0, stream, weight,
                rows, columns, count, max_norm, norm_type);
  NORMRT_CHECK_LAUNCH();
}

template void lookup_rows(const uint16_t*, int64_t, int64_t, int64_t, const int64_t*, int64_t, uint16_t, uint16_t*, int,
                          cudaStream_t);
template void lookup_rows(const uint32_t*, int64_t, int64_t, int64_t, const int64_t*, int64_t, uint32_t, uint32_t*, int,
                          cudaStream_t);
template void lookup_rows(const uint64_t*, int64_t, int64_t, int64_t, const int64_t*, int64_t, uint64_t, uint64_t*, int,
                          cudaStream_t);
template void embedding_backward<float>(const EmbeddingBackwardParams&, int, cudaStream_t);
template void embedding_backward<Half>(const EmbeddingBackwardParams&, int, cudaStream_t);
template void embedding_backward<BFloat16>(const EmbeddingBackwardParams&, int, cudaStream_t);
template void embedding_renorm(float*, int64_t, int64_t, const int64_t*, double, double, int, cudaStream_t);
template void embedding_renorm(Half*, int64_t, int64_t, const int64_t*, double, double, int, cudaStream_t);
template void embedding_renorm(BFloat16*, int64_t, int64_t, const int64_t*, double, double, int, cudaStream_t);

}  // namespace normrt::NORMRT_KERNEL_NS
