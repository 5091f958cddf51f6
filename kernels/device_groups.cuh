// Positions grouped by the row (or element) they name, on a device, deterministic without atomics: a stable radix
// sort of (key, position) pairs, then, where every row is wanted, each row's group found by binary search. What the
// embedding's backward and max_norm and the scatters apply in position order (kernels/embedding.cu,
// kernels/scatter_gather.cu).
#pragma once
#include <cstdint>

#include "cuda_compat.cuh"

namespace normrt::NORMRT_KERNEL_NS {

// Scratch sort_by_row needs for n positions: int64 elements.
int64_t group_scratch_elements(int64_t n);

// The positions of indices sorted by the row they name, stably: order[j] is the j-th position, the returned array
// (in scratch) its key, ascending, with indices outside [0, rows) as rows (after every row). scratch:
// group_scratch_elements(n) int64. Launches on the whole device, one radix pass per 8 bits of rows.
const int64_t* sort_by_row(const int64_t* indices, int64_t n, int64_t rows, int64_t* scratch, int64_t* order,
                           int sm_count, cudaStream_t stream);

// values[0, n) replaced by their exclusive prefix sums, by one block: for per-tile counts (the sorts', the
// selections' of kernels/nonzero.cu), thousands rather than millions.
void exclusive_scan(int64_t* values, int64_t n, cudaStream_t stream);

// From sort_by_row's keys: count[k] (the positions of row k) and offset[k] (the first, in its order) for every row
// k < rows (a binary search per row).
void row_bounds(const int64_t* sorted_keys, int64_t n, int64_t rows, int64_t* count, int64_t* offset, int sm_count,
                cudaStream_t stream);

}  // namespace normrt::NORMRT_KERNEL_NS
