// Row-wise softmax / log-softmax (dim 1 of a (rows, cols) matrix) and fused cross-entropy.
#pragma once
#include <cstdint>

#include "cuda_compat.cuh"

namespace normrt::NORMRT_KERNEL_NS {

void softmax_forward(const float* x, float* y, int64_t rows, int64_t cols, bool log, cudaStream_t stream);
// dx from dy and the forward's output y.
void softmax_backward(const float* dy, const float* y, float* dx, int64_t rows, int64_t cols, bool log,
                      cudaStream_t stream);
// Fused cross-entropy over rows r with target t: row_loss[r] = scale * loss_scale * (logsumexp(x_r) - (1 - s) * x_rt
// - s / cols * sum_c x_rc), grad[r, c] = scale * grad_scale * (softmax(x_r)_c - (1 - s) * [c == t] - s / cols), with
// s = label_smoothing and scale = *device_scale (1 when null), grouped as nnmath's smoothed_cross_entropy. A row
// whose target is ignore_index gets row_loss = scale * 0 (NaN when scale is +inf: the mean over no rows) and a zero
// gradient; a target outside [0, cols) gives a NaN row_loss and gradient row (the caller range-checks targets it can
// read).
struct CrossEntropyParams {
  const float* logits;
  const int64_t* targets;
  float* row_loss;
  float* grad;
  int64_t rows, cols;
  int64_t ignore_index;
  float label_smoothing, loss_scale, grad_scale;
  const float* device_scale;
};
void cross_entropy(const CrossEntropyParams& params, cudaStream_t stream);
// *inverse_count = 1 / (the number of targets that are not ignore_index), rounded from double as the host computes
// it; +inf when every target is ignored. Run before cross_entropy for a mean over targets only the device holds.
void inverse_kept_count(const int64_t* targets, int64_t rows, int64_t ignore_index, float* inverse_count,
                        cudaStream_t stream);
// correct[r] = 1 when the row's first maximal logit is at its target, else 0.
void argmax_matches(const float* logits, const int64_t* targets, int64_t* correct, int64_t rows, int64_t cols,
                    cudaStream_t stream);

}  // namespace normrt::NORMRT_KERNEL_NS
