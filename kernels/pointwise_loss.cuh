// CUDA kernel of the elementwise losses (pointwise_loss_math.cuh): each element's loss and gradient in one pass.
#pragma once
#include <cstdint>

#include "cuda_compat.cuh"
#include "pointwise_loss_math.cuh"

namespace normrt::NORMRT_KERNEL_NS {

// losses[i] = pointwise_loss(p, x[i], t[i], w), grad[i] = pointwise_loss_grad(p, x[i], t[i], w) with w = weight[i]
// (weight null: 1), over n contiguous float32 elements.
void pointwise_loss(const lossmath::PointwiseLossParams& p, const float* x, const float* t, const float* weight,
                    float* losses, float* grad, int64_t n, int sm_count, cudaStream_t stream);

}  // namespace normrt::NORMRT_KERNEL_NS
