// The elementwise losses: one grid-stride pass writing each element's loss and gradient (the reduction is a separate
// deterministic sum). Memory-bound and simple; the per-element formulas are the CPU's (pointwise_loss_math.cuh).
#include "pointwise_loss.cuh"

namespace normrt::NORMRT_KERNEL_NS {

namespace {
constexpr int kThreads = 256;

__global__ void pointwise_loss_kernel(lossmath::PointwiseLossParams p, const float* x, const float* t,
                                      const float* weight, float* losses, float* grad, int64_t n) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const float w = weight != nullptr ? weight[i] : 1.0f;
    losses[i] = lossmath::pointwise_loss(p, x[i], t[i], w);
    grad[i] = lossmath::pointwise_loss_grad(p, x[i], t[i], w);
  }
}
}  // namespace

void pointwise_loss(const lossmath::PointwiseLossParams& p, const float* x, const float* t, const float* weight,
                    float* losses, float* grad, int64_t n, int sm_count, cudaStream_t stream) {
  if (n == 0) return;
  NORMRT_LAUNCH(pointwise_loss_kernel, dim3(grid_stride_blocks(n, kThreads, sm_count)), dim3(kThreads), 0, stream, p,
                x, t, weight, losses, grad, n);
  NORMRT_CHECK_LAUNCH();
}

}  // namespace normrt::NORMRT_KERNEL_NS
