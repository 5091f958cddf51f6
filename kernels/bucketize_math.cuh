// searchsorted's binary search (src/bucketize.cpp), shared by the CPU loop and the CUDA kernel (kernels/bucketize.cu):
// PyTorch's own, step by step (its cus_lower_bound / cus_upper_bound), so that boundaries that are not sorted, and
// NaNs among them or the values, give its answers too.
#pragma once
#include <cstdint>

#include "hd.h"

namespace normrt::bmath {

// The index in [0, n] at which `value` would be inserted into boundaries[0, n) (read in the order sorter[0, n) gives,
// when there is one) before the first boundary at or above it (left) or the first one above it (right).
template <typename C, typename T>
NORMRT_HD inline int64_t insertion_index(const T* boundaries, const int64_t* sorter, int64_t n, C value, bool right) {
  int64_t start = 0, end = n;
  while (start < end) {
    const int64_t mid = start + ((end - start) >> 1);
    const C at = static_cast<C>(boundaries[sorter == nullptr ? mid : sorter[mid]]);
    const bool before = right ? !(at > value) : !(at >= value);  // NaN: neither bound holds
    if (before) {
      start = mid + 1;
    } else {
      end = mid;
    }
  }
  return start;
}

}  // namespace normrt::bmath
