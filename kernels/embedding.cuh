// CUDA kernels of row lookups (embedding_math.cuh): an embedding's lookup and index_select (rows of a table, or of each
// of `outer` tables), their backward, max_norm's renormalisation and embedding_bag's reductions.
#pragma once
#include <cstdint>

#include "cuda_compat.cuh"
#include "embedding_math.cuh"

namespace normrt::NORMRT_KERNEL_NS {

// out[o, i, :] = table[o, indices[i], :] for each of the n indices and `outer` tables of (rows, columns); a row whose
// index is outside [0, rows) is `fill` (NaN for a floating table: the device does not stop to report it). T: an
// unsigned integer of the element's size (the bits are copied whatever the dtype).
template <typename T>
void lookup_rows(const T* table, int64_t outer, int64_t rows, int64_t columns, const int64_t* indices, int64_t n,
                 T fill, T* out, int sm_count, cudaStream_t stream);

struct EmbeddingBackwardParams {
  const void* grad;                       // (outer, n, columns) of T
  void* grad_weight;                      // (outer, rows, columns) of T, written whole
  const int64_t *count, *offset, *order;  // row_bounds' and sort_by_row's (device_groups.cuh)
  int64_t outer, n, rows, columns;
  int64_t padding_idx;  // its row's gradient is zero; -1: none
  bool scale_grad_by_freq;
};
// grad_weight[o, k, :] = the sum, in position order, of embmath::accumulate over the gradient rows grad[o, i, :] of
// k's positions i; T: float, Half or BFloat16.
template <typename T>
void embedding_backward(const EmbeddingBackwardParams& p, int sm_count, cudaStream_t stream);

// embmath::renorm_row on every row k of weight (rows, columns) with count[k] > 0 (row_bounds' count of the
// lookups). T: float, Half or BFloat16.
template <typename T>
void embedding_renorm(T* weight, int64_t rows, int64_t columns, const int64_t* count, double max_norm, double norm_type,
                      int sm_count, cudaStream_t stream);

struct EmbeddingBagParams {
  const void* weight;              // (rows, columns) of T
  const int64_t* indices;          // n positions
  const int64_t* bounds;           // bag b: positions [bounds[b], bounds[b + 1]), clamped to [0, n]
  const void* per_sample_weights;  // n of T, or null
  void* out;                       // (bags, columns) of T
  int64_t* max_indices;            // (bags, columns): the max's row, -1 for an empty bag; null unless Max
  int64_t* bag_size;               // bags: positions not padding
  int64_t* offset2bag;             // n: each position's bag (positions of no bag left as they are)
  int64_t rows, columns, n, bags;
  int64_t padding_idx;  // -1: none
  embmath::BagMode mode;
  bool fused;  // embmath::bag_sum_step's
};
// embedding_bag's forward: each output element embmath::bag_element of its bag and column; each bag's size and its
// positions' bag. T: float, Half or BFloat16.
template <typename T>
void embedding_bag(const EmbeddingBagParams& p, int sm_count, cudaStream_t stream);

}  // namespace normrt::NORMRT_KERNEL_NS
