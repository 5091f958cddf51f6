// Internal: positions grouped by the row (or element) they name on a device (device_groups.h), through
// kernels/device_groups.cu's stable radix sort.
#include "device_groups.h"

#if NORMRT_WITH_CUDA
#include "cuda_launch.h"
#include "device_groups.cuh"

namespace normrt::ops::detail {

DeviceRowGroups group_on_device(const Tensor& keys, int64_t rows, cudaStream_t stream) {
  const TensorOptions scratch = TensorOptions(keys.device()).dtype(DType::Int64);
  const int64_t n = keys.numel();
  DeviceRowGroups g{empty({rows}, scratch), empty({rows}, scratch), empty({n}, scratch)};
  Tensor work = empty({cuda::group_scratch_elements(n)}, scratch);
  cuda::group_indices(keys.data<int64_t>(), n, rows, work.data<int64_t>(), g.count.data<int64_t>(),
                      g.offset.data<int64_t>(), g.order.data<int64_t>(), cuda::sm_count(keys.device().index()), stream);
  return g;
}

}  // namespace normrt::ops::detail
#endif
