// Interpolation kernels: grid-stride loops over 64-bit indices in the tensors' memory order (channels innermost for
// channels-last), each thread computing its element with interpolate_math.cuh's functions. The backward gathers each
// input element's reaching outputs in a fixed order: the same bits as the CPU, run to run. Plain on purpose: an
// upsampling layer moves little next to the convolutions around it.
#include "interpolate.cuh"

namespace normrt::NORMRT_KERNEL_NS {

namespace {

constexpr int kThreads = 256;

int64_t elements(const imath::Geometry& g, bool output) {
  int64_t n = g.batch * g.channels;
  for (int d = 0; d < imath::kMaxAxes; ++d) n *= output ? g.axis[d].out : g.axis[d].in;
  return n;
}

__global__ void interpolate_forward_kernel(InterpolateParams p, int64_t n) {
  for (int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < n;
       t += static_cast<int64_t>(gridDim.x) * blockDim.x)
    p.result[t] = imath::interpolate_element(p.geometry, p.source, t);
}

__global__ void interpolate_backward_kernel(InterpolateParams p, int64_t n) {
  for (int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < n;
       t += static_cast<int64_t>(gridDim.x) * blockDim.x)
    p.result[t] = imath::interpolate_gradient_element(p.geometry, p.source, t);
}

}  // namespace

void interpolate_forward(const InterpolateParams& p, int sm_count, cudaStream_t stream) {
  const int64_t n = elements(p.geometry, true);
  if (n == 0) return;
  NORMRT_LAUNCH(interpolate_forward_kernel, dim3(grid_stride_blocks(n, kThreads, sm_count)), dim3(kThreads), 0, stream,
                p, n);
  NORMRT_CHECK_LAUNCH();
}

void interpolate_backward(const InterpolateParams& p, int sm_count, cudaStream_t stream) {
  const int64_t n = elements(p.geometry, false);
  if (n == 0) return;
  NORMRT_LAUNCH(interpolate_backward_kernel, dim3(grid_stride_blocks(n, kThreads, sm_count)), dim3(kThreads), 0,
                stream, p, n);
  NORMRT_CHECK_LAUNCH();
}

}  // namespace normrt::NORMRT_KERNEL_NS
