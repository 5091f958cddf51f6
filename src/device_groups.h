// Internal: positions grouped by the row (or element) they name, on a device, with kernels/device_groups.cu's stable
// radix sort: what the embedding's backward, max_norm and the scatters apply in position order.
#pragma once
#include <cstdint>

#include "normrt/config.h"
#include "normrt/tensor.h"
#if NORMRT_WITH_CUDA
#include <cuda_runtime.h>

namespace normrt::ops::detail {

// The positions of keys (int64, on the device) sorted by key, stably: order[j] is the j-th position and keys[j] its
// key, ascending, a key outside [0, rows) as rows (sorted last). keys points into scratch.
struct DeviceSortedRows {
  Tensor scratch, order;
  const int64_t* keys;
};
DeviceSortedRows sort_on_device(const Tensor& keys, int64_t rows, cudaStream_t stream);

// order[offset[k] ...] are the count[k] positions i of keys (int64, on the device) with keys[i] == k, ascending;
// keys outside [0, rows) are left out.
struct DeviceRowGroups {
  Tensor count, offset, order;
};
DeviceRowGroups group_on_device(const Tensor& keys, int64_t rows, cudaStream_t stream);

}  // namespace normrt::ops::detail
#endif
