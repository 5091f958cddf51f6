// Row-wise softmax / log-softmax (dim 1 of a (rows, cols) matrix) and fused cross-entropy.
#pragma once
#include <cstdint>

#include "cuda_compat.cuh"

namespace normrt::NORMRT_KERNEL_NS {

void softmax_forward(const float* x, float* y, int64_t rows, int64_t cols, bool log, cudaStream_t stream);
// dx from dy and the forward's output y.
void softmax_backward(const float* dy, const float* y, float* dx, int64_t rows, int64_t cols, bool log,
                      cudaStream_t stream);
// Per row r with target t: row_loss[r] = loss_scale * (logsumexp(x_r) - (1 - s) * x_rt - s / cols * sum_c x_rc),
// grad[r, c] = grad_scale * (softmax(x_r)_c - (1 - s) * [c == t] - s / cols), s = label_smoothing.
// Targets must be in [0, cols) (the caller checks).
void cross_entropy(const float* logits, const int64_t* targets, float* row_loss, float* grad, int64_t rows,
                   int64_t cols, float label_smoothing, float loss_scale, float grad_scale, cudaStream_t stream);
// correct[r] = 1 when the row's first maximal logit is at its target, else 0.
void argmax_matches(const float* logits, const int64_t* targets, int64_t* correct, int64_t rows, int64_t cols,
                    cudaStream_t stream);

}  // namespace normrt::NORMRT_KERNEL_NS
