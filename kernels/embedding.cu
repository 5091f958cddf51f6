// Row lookups (an embedding's, index_select's), their backward and max_norm on the device, deterministic without
// atomics: the backward takes the positions grouped by weight row (kernels/device_groups.cu, a stable sort), then one
// thread per weight element adds its row's gradient rows in position order, as the CPU path does: the same bits.
// embedding_bag: one thread per output element walks its bag's positions in order, as the CPU's loop does.
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
// One thread per output element; the first column's thread also writes its bag's size and its positions' bag.
template <typename T>
__global__ void bag_kernel(EmbeddingBagParams p) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < p.bags * p.columns; e += stride) {
    const int64_t bag = e / p.columns, column = e - bag * p.columns;
    const int64_t first = p.bounds[bag], last = p.bounds[bag + 1];
    const int64_t begin = first < 0 ? 0 : first > p.n ? p.n : first;
    const int64_t end = last < begin ? begin : last > p.n ? p.n : last;
    int64_t arg;
    static_cast<T*>(p.out)[e] =
        embmath::bag_element(static_cast<const T*>(p.weight), p.rows, p.columns, p.indices, begin, end,
                             static_cast<const T*>(p.per_sample_weights), p.mode, p.padding_idx, p.fused, column, &arg);
    if (p.max_indices) p.max_indices[e] = arg;
    if (column != 0) continue;
    int64_t size = 0;
    for (int64_t q = begin; q < end; ++q) {
      p.offset2bag[q] = bag;
      size += embmath::is_padding(p.indices[q], p.padding_idx) ? 0 : 1;
    }
    p.bag_size[bag] = size;
  }
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

template <typename T>
void embedding_bag(const EmbeddingBagParams& p, int sm_count, cudaStream_t stream) {
  if (p.bags * p.columns == 0) return;
  NORMRT_LAUNCH(bag_kernel<T>, dim3(grid_stride_blocks(p.bags * p.columns, kThreads, sm_count)), dim3(kThreads), 0,
                stream, p);
  NORMRT_CHECK_LAUNCH();
}

template void lookup_rows(const uint8_t*, int64_t, int64_t, int64_t, const int64_t*, int64_t, uint8_t, uint8_t*, int,
                          cudaStream_t);
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
template void embedding_bag<float>(const EmbeddingBagParams&, int, cudaStream_t);
template void embedding_bag<Half>(const EmbeddingBagParams&, int, cudaStream_t);
template void embedding_bag<BFloat16>(const EmbeddingBagParams&, int, cudaStream_t);

}  // namespace normrt::NORMRT_KERNEL_NS
