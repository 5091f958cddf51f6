// General tensor ops: one grid-stride kernel for every binary operator and broadcast pattern, indices decoded by
// tensor_math.cuh (the CPU path runs the same code). Memory-bound utility ops: no tuning beyond a full grid.
#include "tensor_ops.cuh"

#include <algorithm>

namespace normrt::NORMRT_KERNEL_NS {

namespace {
constexpr int kThreads = 256;

__global__ void binary_kernel(tmath::Binary op, const float* a, const float* b, float* out, tmath::Broadcast p) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < p.numel; i += stride) {
    int64_t ia, ib;
    tmath::broadcast_offsets(p, i, ia, ib);
    out[i] = tmath::apply(op, a[ia], b[ib]);
  }
}
__global__ void reduce_dim_kernel(tmath::Reduce kind, const float* x, float* out, int64_t* indices, int64_t outer,
                                  int64_t length, int64_t inner) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < outer * inner; i += stride) {
    const int64_t o = i / inner, j = i % inner;
    int64_t index;
    tmath::reduce_line(kind, x + o * length * inner + j, length, inner, out[i], index);
    if (indices != nullptr) indices[i] = index;
  }
}

int64_t grid_for(int64_t n, int sm_count) {
  return std::min<int64_t>((n + kThreads - 1) / kThreads, 16 * static_cast<int64_t>(std::max(sm_count, 1)));
}
}  // namespace

void reduce_dim(tmath::Reduce kind, const float* x, float* out, int64_t* indices, int64_t outer, int64_t length,
                int64_t inner, int sm_count, cudaStream_t stream) {
  if (outer * inner == 0) return;
  NORMRT_LAUNCH(reduce_dim_kernel, dim3(static_cast<unsigned>(grid_for(outer * inner, sm_count))), dim3(kThreads), 0,
                stream, kind, x, out, indices, outer, length, inner);
  NORMRT_CHECK_LAUNCH();
}

void binary(tmath::Binary op, const float* a, const float* b, float* out, const tmath::Broadcast& p, int sm_count,
            cudaStream_t stream) {
  if (p.numel == 0) return;
  NORMRT_LAUNCH(binary_kernel, dim3(static_cast<unsigned>(grid_for(p.numel, sm_count))), dim3(kThreads), 0, stream, op,
                a, b, out, p);
  NORMRT_CHECK_LAUNCH();
}

}  // namespace normrt::NORMRT_KERNEL_NS
