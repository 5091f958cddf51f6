// Padding kernels: grid-stride loops over 64-bit indices, one thread per element written. The forward reads one
// element per output (a copy: any dtype's bits), the backward sums each input element's few copies in a fixed order
// (no atomics). Padding moves little next to the convolution it feeds; the kernels are plain on purpose.
#include "pad.cuh"

namespace normrt::NORMRT_KERNEL_NS {

namespace {

constexpr int kThreads = 256;

unsigned blocks_for(int64_t n, int sm_count) { return grid_stride_blocks(n, kThreads, sm_count); }

int64_t elements(const padmath::PadGeometry& g) {
  int64_t n = 1;
  for (int d = 0; d < g.ndim; ++d) n *= g.out[d];
  return n;
}

template <typename T>
__global__ void pad_forward_kernel(PadForwardParams<T> p, int64_t n) {
  for (int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < n;
       t += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t source = padmath::pad_source_index(p.geometry, t);
    p.y[t] = source < 0 ? p.value : p.x[source];
  }
}

__global__ void pad_backward_kernel(PadBackwardParams p, int64_t n) {
  for (int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < n;
       t += static_cast<int64_t>(gridDim.x) * blockDim.x)
    p.dx[t] = padmath::pad_line_gradient(p.line, p.dy, t);
}

}  // namespace

template <typename T>
void pad_forward(const PadForwardParams<T>& p, int sm_count, cudaStream_t stream) {
  const int64_t n = elements(p.geometry);
  if (n == 0) return;
  NORMRT_LAUNCH(pad_forward_kernel<T>, dim3(blocks_for(n, sm_count)), dim3(kThreads), 0, stream, p, n);
  NORMRT_CHECK_LAUNCH();
}

void pad_backward(const PadBackwardParams& p, int sm_count, cudaStream_t stream) {
  const int64_t n = p.line.outer * p.line.size * p.line.inner;
  if (n == 0) return;
  NORMRT_LAUNCH(pad_backward_kernel, dim3(blocks_for(n, sm_count)), dim3(kThreads), 0, stream, p, n);
  NORMRT_CHECK_LAUNCH();
}

template void pad_forward(const PadForwardParams<float>&, int, cudaStream_t);
template void pad_forward(const PadForwardParams<Half>&, int, cudaStream_t);
template void pad_forward(const PadForwardParams<BFloat16>&, int, cudaStream_t);

}  // namespace normrt::NORMRT_KERNEL_NS
