// Internal: positions sorted and grouped by the row (or element) they name on a device (device_groups.h), through
// kernels/device_groups.cu's stable radix sort.
#include "device_groups.h"

#if NORMRT_WITH_CUDA
#include "cuda_launch.h"
#include "device_groups.cuh"

namespace normrt::ops::detail {

DeviceSortedRows sort_on_device(const Tensor& keys, int64_t rows, cudaStream_t stream) {
  const TensorOptions scratch = TensorOptions(keys.device()).dtype(DType::Int64);
  const int64_t n = keys.numel();
  DeviceSortedRows sorted{empty({cuda::group_scratch_elements(n)}, scratch), empty({n}, scratch), nullptr};
  sorted.keys = cuda::sort_by_row(keys.data<int64_t>(), n, rows, sorted.scratch.data<int64_t>(),
                                  sorted.order.data<int64_t>(), cuda::sm_count(keys.device().index()), stream);
  return sorted;
}

DeviceRowGroups group_on_device(const Tensor& keys, int64_t rows, cudaStream_t stream) {
  const TensorOptions options = TensorOptions(keys.device()).dtype(DType::Int64);
  const DeviceSortedRows sorted = sort_on_device(keys, rows, stream);
  DeviceRowGroups g{empty({rows}, options), empty({rows}, options), sorted.order};
  cuda::row_bounds(sorted.keys, keys.numel(), rows, g.count.data<int64_t>(), g.offset.data<int64_t>(),
                   cuda::sm_count(keys.device().index()), stream);
  return g;
}

}  // namespace normrt::ops::detail
#endif
