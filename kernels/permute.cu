// The dimension permutation: a grid-stride gather, each thread decoding its output index (permute_math.cuh). Writes
// are coalesced, reads strided by the permutation; a tiled transpose would coalesce both, but this copy is not on
// a training step's path (channels-last conversion has its own kernel).
#include "permute.cuh"

namespace normrt::NORMRT_KERNEL_NS {

namespace {
constexpr int kThreads = 256;

template <typename T>
__global__ void permute_kernel(permmath::PermuteGeometry g, const T* in, T* out) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < g.numel; i += stride)
    out[i] = in[permmath::permute_source(g, i)];
}
}  // namespace

template <typename T>
void permute_copy(const permmath::PermuteGeometry& g, const T* in, T* out, int sm_count, cudaStream_t stream) {
  if (g.numel == 0) return;
  NORMRT_LAUNCH(permute_kernel<T>, dim3(grid_stride_blocks(g.numel, kThreads, sm_count)), dim3(kThreads), 0, stream,
                g, in, out);
  NORMRT_CHECK_LAUNCH();
}

template void permute_copy(const permmath::PermuteGeometry&, const uint8_t*, uint8_t*, int, cudaStream_t);
template void permute_copy(const permmath::PermuteGeometry&, const uint16_t*, uint16_t*, int, cudaStream_t);
template void permute_copy(const permmath::PermuteGeometry&, const uint32_t*, uint32_t*, int, cudaStream_t);
template void permute_copy(const permmath::PermuteGeometry&, const uint64_t*, uint64_t*, int, cudaStream_t);

}  // namespace normrt::NORMRT_KERNEL_NS
