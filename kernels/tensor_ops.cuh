// CUDA kernels of the general tensor ops (arithmetic with broadcasting, elementwise functions, reductions over a
// dimension).
#pragma once
#include <cstdint>

#include "cuda_compat.cuh"
#include "normrt/half.h"
#include "tensor_math.cuh"

namespace normrt::NORMRT_KERNEL_NS {

// out[i] = a[ia] op b[ib] over p.numel output elements (out may be a when a is not broadcast: in place); T is float,
// Half or BFloat16 (computed in float, rounded once) or int64_t (never Div).
template <typename T>
void binary(tmath::Binary op, const T* a, const T* b, T* out, const tmath::Broadcast& p, int sm_count,
            cudaStream_t stream);

// y[i] = op(x[i]) for i < n elements in storage order (y may be x: in place); T is float, Half or BFloat16 (computed in
// float with float arguments, rounded once) or int64_t (Neg, Abs, Clamp, Pow only).
template <typename T>
void unary(tmath::Unary op, const T* x, T* y, int64_t n, tmath::UnaryArgs<tmath::computed_t<T>> args, int sm_count,
           cudaStream_t stream);

// Reduction over the middle dimension of an (outer, length, inner) view: out[o * inner + j] (and, for Max and Min, the
// index) = reduce_line over x[(o * length + r) * inner + j], one thread per output; T is float or int64_t.
template <typename T>
void reduce_dim(tmath::Reduce kind, const T* x, T* out, int64_t* indices, int64_t outer, int64_t length, int64_t inner,
                int sm_count, cudaStream_t stream);

// The first k elements of each line x[(o * length + r) * inner + j] (r < length) in sorts_before's order, as values
// and indices of an (outer, k, inner) view; one thread per line, a merge sort of its indices in `scratch` (2 * length
// int64 per line). T is float or int64_t.
template <typename T>
void sort_lines(const T* x, T* values, int64_t* indices, int64_t* scratch, int64_t outer, int64_t length, int64_t inner,
                int64_t k, bool descending, int sm_count, cudaStream_t stream);

// cumulate_line over each line x[(o * length + r) * inner + j] (r < length) into y, one thread per line; (Acc, T) is
// (double, float), (float, float) or (uint64_t, int64_t).
template <typename Acc, typename T>
void cumulate_lines(const T* x, T* y, int64_t outer, int64_t length, int64_t inner, bool product, int sm_count,
                    cudaStream_t stream);

// out[o * inner + j] = variance_line over x[(o * length + r) * inner + j] (its square root for std), one thread per
// output.
void variance_lines(const float* x, float* out, int64_t outer, int64_t length, int64_t inner, int64_t correction,
                    bool take_sqrt, int sm_count, cudaStream_t stream);

// Softmax / log-softmax over the middle dimension of an (outer, length, inner) view (one thread per line), and its
// backward.
void softmax_lines(const float* x, float* y, int64_t outer, int64_t length, int64_t inner, bool log_softmax,
                   int sm_count, cudaStream_t stream);
void softmax_lines_backward(const float* dy, const float* y, float* dx, int64_t outer, int64_t length, int64_t inner,
                            bool log_softmax, int sm_count, cudaStream_t stream);

// losses[i] = bce_with_logits(x[i], t[i]) and grad[i] = scale * bce_with_logits_grad(x[i], t[i]).
void bce_with_logits(const float* x, const float* t, float* losses, float* grad, float scale, int64_t n, int sm_count,
                     cudaStream_t stream);

// nll_row for each of `rows` rows of (rows, cols) log-probabilities (one thread per row).
void nll(const float* logp, const int64_t* targets, int64_t ignore_index, float* losses, float* valid, float* grad,
         int64_t rows, int64_t cols, int sm_count, cudaStream_t stream);

}  // namespace normrt::NORMRT_KERNEL_NS
