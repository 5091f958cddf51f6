// CUDA kernel of searchsorted and bucketize (src/bucketize.cpp): a thread per value in a grid-stride loop, each a
// binary search of its row of boundaries (bmath::insertion_index, bucketize_math.cuh).
#pragma once
#include <cstdint>

#include "cuda_compat.cuh"
#include "normrt/half.h"

namespace normrt::NORMRT_KERNEL_NS {

struct SearchParams {
  int64_t numel = 0;       // values, and indices written
  int64_t row_length = 1;  // values per row of boundaries (all of them for one row)
  int64_t boundaries = 0;  // per row
  bool right = false;
};

// out[i] = the insertion index of values[i] in row i / row_length of the boundaries (each `p.boundaries` long, in the
// order the same row of sorter gives when sorter is not null). T is float, Half, BFloat16 or int64_t.
template <typename T>
void searchsorted(const T* boundaries, const int64_t* sorter, const T* values, int64_t* out, const SearchParams& p,
                  int sm_count, cudaStream_t stream);

}  // namespace normrt::NORMRT_KERNEL_NS
