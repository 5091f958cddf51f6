// Embedding lookups (torch.nn.functional.embedding, and embedding_bag's reductions over bags of lookups) with
// PyTorch 1.13's semantics and errors: the lookup, its backward (each weight row's gradient the sum of its positions'
// gradient rows, added in position order: bit for bit PyTorch's CPU results, and the same bits on a device) and
// max_norm's in-place renormalisation. Indices are int64; the weight float32, float16 or bfloat16 (the lookup copies
// any dtype).
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

// torch.nn.functional.embedding_bag's reductions over each bag of looked-up rows.
enum class EmbeddingBagMode { Sum, Mean, Max };

struct EmbeddingBagResult {
  Tensor output;       // (bags, embedding_dim) in weight's dtype
  Tensor offset2bag;   // int64 (positions): each position's bag, -1 for a position in no bag
  Tensor bag_size;     // int64 (bags): each bag's positions that are not padding
  Tensor max_indices;  // int64 (bags, embedding_dim): Max's row of each element, -1 for an empty bag; else undefined
  int64_t bagged = 0;  // the positions in a bag: all of them, or with include_last_offset those before its last offset
};

// F.embedding_bag (PyTorch 1.13's checks and words): `input` int64, 1-D with `offsets` (int64, 1-D: each bag's first
// position, offsets[0] == 0, non-decreasing, none past the input's length; with include_last_offset one more entry,
// where the last bag ends, so at least one) or 2-D (bags, length) without offsets, whose offsets are its rows' starts
// as F.embedding_bag makes them (include_last_offset then drops its last row). Each bag's rows of weight (float32,
// float16 or bfloat16) reduced by `mode` as embmath (kernels/embedding_math.cuh) says: PyTorch's CPU bits (its sum's
// fused multiply-adds, products rounded first when a padding_idx is given, its float16 mean rounded twice, its max
// keeping the first of equal values). per_sample_weights (input's shape and weight's dtype; Sum only) scales each
// position's row; padding_idx's positions count nowhere (negative from the end). The CPU refuses an index outside
// [0, num_embeddings) and bad offsets; a device does not stop to check (its element is NaN; offsets are clamped to
// the input), and reads the last offset back only with include_last_offset.
// Departures from 1.13: a 2-D input of empty rows gives empty bags (1.13 fails with "step must be nonzero"), with
// include_last_offset a mean's last bag counts its own positions (1.13 counts up to the input's end), and decreasing
// offsets are refused in normrt's words (1.13 fails an internal check of its lookup kernel).
EmbeddingBagResult embedding_bag(const Tensor& weight, const Tensor& input, const Tensor& offsets = Tensor(),
                                 EmbeddingBagMode mode = EmbeddingBagMode::Mean,
                                 const Tensor& per_sample_weights = Tensor(), bool include_last_offset = false,
                                 std::optional<int64_t> padding_idx = std::nullopt);

// The gradients of embedding_bag's output grad (bags, embedding_dim) for the call that gave `forward` on `input`:
// the weight's (num_weights, embedding_dim), each row the sum of its positions' bag gradients (scaled by the position's
// per-sample weight, by 1 / bag size for Mean, by 1 / the row's count with scale_grad_by_freq; Max routes each element
// to its max's row), added in position order; and per_sample_weights' (its shape), each position's bag gradient dotted
// with its row (0 at padding). PyTorch's CPU adds a row's terms in the order of an unstable sort, scale folded into a
// BLAS axpy: these agree with it to rounding, and on every device with each other bit for bit. scale_grad_by_freq
// divides by the row's own count, as the documentation, nn.Embedding and PyTorch's CUDA kernel do (1.13's dense CPU
// backward divides by the count of the row at the sorted position numbered by the row's group); Max refuses it in
// PyTorch's words.
Tensor embedding_bag_backward(const Tensor& grad, const Tensor& input, const EmbeddingBagResult& forward,
                              int64_t num_weights, EmbeddingBagMode mode, const Tensor& per_sample_weights = Tensor(),
                              bool scale_grad_by_freq = false, std::optional<int64_t> padding_idx = std::nullopt);
Tensor embedding_bag_per_sample_weights_backward(const Tensor& grad, const Tensor& weight, const Tensor& input,
                                                 const EmbeddingBagResult& forward,
                                                 std::optional<int64_t> padding_idx = std::nullopt);

}  // namespace normrt::ops
