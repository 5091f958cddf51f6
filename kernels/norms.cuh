// CUDA kernels of LayerNorm and GroupNorm (norms_math.cuh's rows): one block per row for the statistics, the output
// and the input gradient; deterministic column sums for the parameter gradients.
#pragma once
#include <cstdint>

#include "cuda_compat.cuh"
#include "norms_math.cuh"

namespace normrt::NORMRT_KERNEL_NS {

// y = (x - mean) * (rstd * weight) + bias per element of g's rows, weight and bias indexed by g.parameter (either may
// be null: 1 and 0); mean[r] and rstd[r] = 1 / sqrt(var + eps) receive each row's statistics (biased variance).
void row_norm_forward(const normmath::RowGeometry& g, const float* x, const float* weight, const float* bias,
                      float eps, float* y, float* mean, float* rstd, cudaStream_t stream);

// Floats of workspace row_norm_backward needs for the parameter gradients.
int64_t row_norm_backward_workspace_floats(const normmath::RowGeometry& g);

// The backward of row_norm_forward: dx (the rows' training-mode gradient through their statistics; weight may be
// null) and, when grad_weight is not null, grad_weight and grad_bias (g.parameters() each; overwritten, left alone
// when there are no elements) summed over the rows in an order fixed by the shape.
void row_norm_backward(const normmath::RowGeometry& g, const float* dy, const float* x, const float* mean,
                       const float* rstd, const float* weight, float* dx, float* grad_weight, float* grad_bias,
                       float* workspace, cudaStream_t stream);

}  // namespace normrt::NORMRT_KERNEL_NS
