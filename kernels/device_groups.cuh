// Positions grouped by the row (or element) they name, on a device, deterministic without atomics: a stable radix
// sort of (key, position) pairs, then each row's group found by binary search. What the embedding's backward and
// max_norm and the scatters apply in position order (kernels/embedding.cu, kernels/scatter_gather.cu).
#pragma once
#include <cstdint>

#include "cuda_compat.cuh"

namespace normrt::NORMRT_KERNEL_NS {

// Scratch group_indices needs for n positions: int64 elements.
int64_t group_scratch_elements(int64_t n);

// count[k] (the positions i with indices[i] == k), offset[k] (the exclusive prefix sum of counts) and
// order[offset[k] ...] (those positions, ascending) for every row k < rows; indices outside [0, rows) are left out.
// scratch: group_scratch_elements(n) int64. Launches on the whole device, one radix pass per 8 bits of rows.
void group_indices(const int64_t* indices, int64_t n, int64_t rows, int64_t* scratch, int64_t* count, int64_t* offset,
                   int64_t* order, int sm_count, cudaStream_t stream);

}  // namespace normrt::NORMRT_KERNEL_NS
