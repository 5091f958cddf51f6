// Embedding lookups (torch.nn.functional.embedding) with PyTorch 1.13's semantics and errors: the lookup, its
// backward (each weight row's gradient the sum of its positions' gradient rows, added in position order: bit for bit
// PyTorch's CPU results, and the same bits on a device) and max_norm's in-place renormalisation. Indices are int64;
// the weight float32, float16 or bfloat16 (the lookup copies any dtype).
#pragma once
#include <cstdint>
#include <optional>

#include "normrt/tensor.h"

namespace normrt::ops {

// weight (num_embeddings, embedding_dim) looked up at `indices` (int64, any shape): the rows, shaped
// (*indices.shape, embedding_dim). An index outside [0, num_embeddings) throws "index out of range in self" on the
// CPU; a device does not stop to check, and its row comes out NaN (0 for an int64 weight).
Tensor embedding(const Tensor& weight, const Tensor& indices);

// The weight's gradient, (num_weights, embedding_dim) in grad_output's dtype, for grad_output (*indices.shape,
// embedding_dim): row k sums the gradient rows of the positions that look up k, in position order, each scaled by
// 1 / (k's count) with scale_grad_by_freq; padding_idx's row gets none. padding_idx as nn::Embedding takes it
// (negative counts from the end). The CPU refuses an out-of-range index; a device leaves it out.
Tensor embedding_backward(const Tensor& grad_output, const Tensor& indices, int64_t num_weights,
                          std::optional<int64_t> padding_idx = std::nullopt, bool scale_grad_by_freq = false);

// max_norm: every row of weight that `indices` looks up whose norm_type-norm exceeds max_norm is scaled in place
// to max_norm / (norm + 1e-7) times itself (PyTorch's embedding_renorm_; norm_type inf, -inf and 0 as torch.norm).
// Rows looked up several times are renormalised once. The norm is accumulated in double: PyTorch's float32 norm
// agrees to a rounding, its bfloat16 norm rounds as it sums (41.25 for a row whose 1-norm is 41.45), so bfloat16 rows
// it renormalises can differ from normrt's by a few units in the last place.
void embedding_renorm_(Tensor& weight, const Tensor& indices, double max_norm, double norm_type = 2.0);

}  // namespace normrt::ops
