// Reductions (over a dimension or every element) and the copying index ops, on CPU and CUDA, with PyTorch's names,
// semantics and error messages. normrt tensors are dense (contiguous or channels-last), so narrow/select/slice return
// copies where PyTorch returns views.
#pragma once
#include <utility>
#include <vector>

#include "normrt/tensor.h"

namespace normrt::ops {

// Sum / mean over `dim` (negative counts from the end), accumulated in double in index order (deterministic);
// keepdim keeps it as size 1. The mean over an empty dimension is NaN, the sum 0. The result has t's dtype: float16
// and bfloat16 are summed as float32 and rounded once; int64 sums are exact and wrap beyond its range, as PyTorch's,
// and an int64 mean is refused in PyTorch's words.
Tensor sum(const Tensor& t, int64_t dim, bool keepdim = false);
Tensor mean(const Tensor& t, int64_t dim, bool keepdim = false);
// The maximum (minimum) over `dim` (in t's dtype) and its index (int64; the first occurrence; NaN wins when present).
std::pair<Tensor, Tensor> max(const Tensor& t, int64_t dim, bool keepdim = false);
Tensor argmax(const Tensor& t, int64_t dim, bool keepdim = false);
std::pair<Tensor, Tensor> min(const Tensor& t, int64_t dim, bool keepdim = false);
Tensor argmin(const Tensor& t, int64_t dim, bool keepdim = false);
// Over every element, as torch.sum(t), mean, max, argmax, min and argmin: 0-dim results with the rules above, the
// indices into the flattened logical order; the extrema of an empty tensor are refused in PyTorch's words.
Tensor sum(const Tensor& t);
Tensor mean(const Tensor& t);
Tensor max(const Tensor& t);
Tensor argmax(const Tensor& t);
Tensor min(const Tensor& t);
Tensor argmin(const Tensor& t);
// torch.var / torch.std over `dim`: one pass over each line in double, its values shifted by the line's first (exact to
// float's precision at any mean; deterministic, the same bits on every device), divided by length - 1 (unbiased) or
// length; NaN where that is not positive (a single element, unbiased; an empty line). Floating dtypes only ("std and
// var only support floating point and complex dtypes"), float16/bfloat16 rounded once from the float result. Over every
// element: unbiased (the biased whole-tensor variance is var(t.reshape({-1}), 0, false); a bool second argument would
// be taken for a dim).
Tensor var(const Tensor& t, int64_t dim, bool unbiased = true, bool keepdim = false);
Tensor std(const Tensor& t, int64_t dim, bool unbiased = true, bool keepdim = false);
Tensor var(const Tensor& t);
Tensor std(const Tensor& t);

// torch.sort(t, dim, descending, stable=True): the values along `dim` in order and their indices (int64), in t's memory
// format; NaN above every number (last, or first descending), -0 equal to 0, equal elements in index order (PyTorch's
// default, unstable sort may order ties otherwise). A 0-dim tensor sorts to itself (index 0). float16 and bfloat16 are
// compared as the floats they hold.
std::pair<Tensor, Tensor> sort(const Tensor& t, int64_t dim = -1, bool descending = false);
Tensor argsort(const Tensor& t, int64_t dim = -1, bool descending = false);
// torch.topk(t, k, dim, largest, sorted=True): the first k of sort(t, dim, largest), contiguous; 0 <= k <= the size of
// dim ("selected index k out of range"). Ties come in index order (PyTorch's may come otherwise). A 0-dim tensor gives
// itself and index 0, for k = 0 too, as PyTorch's.
std::pair<Tensor, Tensor> topk(const Tensor& t, int64_t k, int64_t dim = -1, bool largest = true);

// torch.cumsum / torch.cumprod over `dim`: running sums (products) in index order, accumulated as PyTorch's CPU kernels
// accumulate them (in double for float32, in float for bfloat16 and for float16, which PyTorch 1.13's CPU lacks,
// exactly and wrapping for int64) and each rounded once to t's dtype; contiguous, as PyTorch's.
Tensor cumsum(const Tensor& t, int64_t dim);
Tensor cumprod(const Tensor& t, int64_t dim);

// Elements [start, start + length) of `dim`, in t's memory format.
Tensor narrow(const Tensor& t, int64_t dim, int64_t start, int64_t length);
// Python's t[..., start:end] on `dim` (negative and out-of-range bounds clamp as in Python).
Tensor slice(const Tensor& t, int64_t dim, int64_t start, int64_t end);
// Index `index` of `dim`, which is removed.
Tensor select(const Tensor& t, int64_t dim, int64_t index);
// The entries index[0], index[1], ... (int64, 0-d or 1-d) of `dim`, as PyTorch's index_select: a contiguous copy in
// t's dtype. The CPU refuses an index outside the dimension; a device gives NaN there (0 for int64, ops/embedding.h).
Tensor index_select(const Tensor& t, int64_t dim, const Tensor& index);
// Its backward: zeros of input_sizes with each gradient slice added into the slice its index picked, in index order
// (PyTorch's index_add_ on the CPU: the same bits, on either device); float32, float16 or bfloat16.
Tensor index_select_backward(const Tensor& grad_output, const Shape& input_sizes, int64_t dim, const Tensor& index);
// Joins along an existing dimension / along a new one, as PyTorch's: the result's dtype is the inputs' promoted one
// (a floating dtype they share, float32 where two meet, int64 where none is floating) and keeps their memory format
// where they share one (else it is contiguous); cat skips 1-d empty tensors (shape [0]), PyTorch's legacy rule.
Tensor cat(const std::vector<Tensor>& tensors, int64_t dim = 0);
Tensor stack(const std::vector<Tensor>& tensors, int64_t dim = 0);
// t broadcast to `sizes` (torch.broadcast_to and Tensor.expand: -1 keeps a size of t), as a copy, since normrt has no
// strided views; in t's memory format where the sizes are t's own. Refused in expand's words.
Tensor broadcast_to(const Tensor& t, const Shape& sizes);

}  // namespace normrt::ops
