// General tensor ops: broadcast arithmetic (one grid-stride kernel for every operator and pattern, indices decoded
// by tensor_math.cuh; float32, float16, bfloat16 and int64), the elementwise functions of one tensor, reductions
// (float32, int64), sorting, running sums and products, variances and softmax over a dimension (one thread per line),
// binary cross-entropy with logits. The CPU path runs the same tensor_math.cuh functions. Utility ops: no tuning beyond
// a full grid.
#include "tensor_ops.cuh"

#include <algorithm>
#include <type_traits>

namespace normrt::NORMRT_KERNEL_NS {

namespace {
constexpr int kThreads = 256;

template <typename T>
__global__ void binary_kernel(tmath::Binary op, const T* a, const T* b, T* out, tmath::Broadcast p) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < p.numel; i += stride) {
    int64_t ia, ib;
    tmath::broadcast_offsets(p, i, ia, ib);
    out[i] = tmath::element(op, a[ia], b[ib]);
  }
}
template <typename T>
__global__ void unary_kernel(tmath::Unary op, const T* x, T* y, int64_t n, tmath::UnaryArgs<tmath::computed_t<T>> a) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    y[i] = tmath::element(op, x[i], a);
  }
}

template <typename T>
__global__ void reduce_dim_kernel(tmath::Reduce kind, const T* x, T* out, int64_t* indices, int64_t outer,
                                  int64_t length, int64_t inner) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < outer * inner; i += stride) {
    const int64_t o = i / inner, j = i % inner;
    int64_t index;
    tmath::reduce_line(kind, x + o * length * inner + j, length, inner, out[i], index);
    if (indices != nullptr) indices[i] = index;
  }
}

// The indices of a line of `length` elements `stride` apart in sorts_before's order: a bottom-up merge sort from
// `order` into `spare` and back (length log2(length) comparisons); returns the one that ends sorted.
template <typename T>
__device__ int64_t* merge_sort_line(const T* x, int64_t length, int64_t stride, bool descending, int64_t* order,
                                    int64_t* spare) {
  for (int64_t r = 0; r < length; ++r) order[r] = r;
  int64_t *from = order, *to = spare;
  for (int64_t width = 1; width < length; width *= 2) {
    for (int64_t lo = 0; lo < length; lo += 2 * width) {
      const int64_t mid = lo + width < length ? lo + width : length;
      const int64_t hi = lo + 2 * width < length ? lo + 2 * width : length;
      int64_t i = lo, j = mid, out = lo;
      while (i < mid && j < hi) {
        const bool right_first =
            tmath::sorts_before(x[from[j] * stride], from[j], x[from[i] * stride], from[i], descending);
        to[out++] = right_first ? from[j++] : from[i++];
      }
      while (i < mid) to[out++] = from[i++];
      while (j < hi) to[out++] = from[j++];
    }
    int64_t* sorted = to;
    to = from;
    from = sorted;
  }
  return from;
}

template <typename T>
__global__ void sort_lines_kernel(const T* x, T* values, int64_t* indices, int64_t* scratch, int64_t outer,
                                  int64_t length, int64_t inner, int64_t k, bool descending) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < outer * inner; i += stride) {
    const int64_t o = i / inner, j = i % inner;
    const T* line = x + o * length * inner + j;
    const int64_t* sorted =
        merge_sort_line(line, length, inner, descending, scratch + 2 * i * length, scratch + (2 * i + 1) * length);
    for (int64_t r = 0; r < k; ++r) {
      values[(o * k + r) * inner + j] = line[sorted[r] * inner];
      indices[(o * k + r) * inner + j] = sorted[r];
    }
  }
}

template <typename Acc, typename T>
__global__ void cumulate_lines_kernel(const T* x, T* y, int64_t outer, int64_t length, int64_t inner, bool product) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < outer * inner; i += stride) {
    const int64_t base = (i / inner) * length * inner + i % inner;
    tmath::cumulate_line<Acc>(x + base, length, inner, y + base, product);
  }
}

__global__ void variance_lines_kernel(const float* x, float* out, int64_t outer, int64_t length, int64_t inner,
                                      int64_t correction, bool take_sqrt) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < outer * inner; i += stride)
    out[i] = tmath::variance_line(x + (i / inner) * length * inner + i % inner, length, inner, correction, take_sqrt);
}

__global__ void softmax_lines_kernel(const float* x, float* y, int64_t outer, int64_t length, int64_t inner,
                                     bool log_softmax) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < outer * inner; i += stride) {
    const int64_t base = (i / inner) * length * inner + i % inner;
    tmath::softmax_line(x + base, length, inner, y + base, log_softmax);
  }
}

__global__ void softmax_lines_backward_kernel(const float* dy, const float* y, float* dx, int64_t outer, int64_t length,
                                              int64_t inner, bool log_softmax) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < outer * inner; i += stride) {
    const int64_t base = (i / inner) * length * inner + i % inner;
    tmath::softmax_backward_line(dy + base, y + base, length, inner, dx + base, log_softmax);
  }
}

__global__ void bce_with_logits_kernel(const float* x, const float* t, float* losses, float* grad, float scale,
                                       int64_t n) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    losses[i] = tmath::bce_with_logits(x[i], t[i]);
    grad[i] = scale * tmath::bce_with_logits_grad(x[i], t[i]);
  }
}

__global__ void nll_kernel(const float* logp, const int64_t* targets, int64_t ignore_index, float* losses, float* valid,
                           float* grad, int64_t rows, int64_t cols) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t r = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; r < rows; r += stride)
    tmath::nll_row(logp + r * cols, targets[r], ignore_index, cols, grad + r * cols, losses[r], valid[r]);
}

int64_t grid_for(int64_t n, int sm_count) {
  return std::min<int64_t>((n + kThreads - 1) / kThreads, 16 * static_cast<int64_t>(std::max(sm_count, 1)));
}
}  // namespace

template <typename T>
void reduce_dim(tmath::Reduce kind, const T* x, T* out, int64_t* indices, int64_t outer, int64_t length, int64_t inner,
                int sm_count, cudaStream_t stream) {
  if (outer * inner == 0) return;
  NORMRT_LAUNCH(reduce_dim_kernel<T>, dim3(static_cast<unsigned>(grid_for(outer * inner, sm_count))), dim3(kThreads), 0,
                stream, kind, x, out, indices, outer, length, inner);
  NORMRT_CHECK_LAUNCH();
}

template <typename T>
void sort_lines(const T* x, T* values, int64_t* indices, int64_t* scratch, int64_t outer, int64_t length, int64_t inner,
                int64_t k, bool descending, int sm_count, cudaStream_t stream) {
  if (outer * inner == 0) return;
  NORMRT_LAUNCH(sort_lines_kernel<T>, dim3(static_cast<unsigned>(grid_for(outer * inner, sm_count))), dim3(kThreads), 0,
                stream, x, values, indices, scratch, outer, length, inner, k, descending);
  NORMRT_CHECK_LAUNCH();
}

template <typename Acc, typename T>
void cumulate_lines(const T* x, T* y, int64_t outer, int64_t length, int64_t inner, bool product, int sm_count,
                    cudaStream_t stream) {
  if (outer * inner == 0) return;
  const auto kernel = cumulate_lines_kernel<Acc, T>;  // one macro argument
  NORMRT_LAUNCH(kernel, dim3(static_cast<unsigned>(grid_for(outer * inner, sm_count))), dim3(kThreads), 0, stream, x, y,
                outer, length, inner, product);
  NORMRT_CHECK_LAUNCH();
}

void variance_lines(const float* x, float* out, int64_t outer, int64_t length, int64_t inner, int64_t correction,
                    bool take_sqrt, int sm_count, cudaStream_t stream) {
  if (outer * inner == 0) return;
  NORMRT_LAUNCH(variance_lines_kernel, dim3(static_cast<unsigned>(grid_for(outer * inner, sm_count))), dim3(kThreads),
                0, stream, x, out, outer, length, inner, correction, take_sqrt);
  NORMRT_CHECK_LAUNCH();
}

void softmax_lines(const float* x, float* y, int64_t outer, int64_t length, int64_t inner, bool log_softmax,
                   int sm_count, cudaStream_t stream) {
  if (outer * inner == 0) return;
  NORMRT_LAUNCH(softmax_lines_kernel, dim3(static_cast<unsigned>(grid_for(outer * inner, sm_count))), dim3(kThreads),
                0, stream, x, y, outer, length, inner, log_softmax);
  NORMRT_CHECK_LAUNCH();
}

void softmax_lines_backward(const float* dy, const float* y, float* dx, int64_t outer, int64_t length, int64_t inner,
                            bool log_softmax, int sm_count, cudaStream_t stream) {
  if (outer * inner == 0) return;
  NORMRT_LAUNCH(softmax_lines_backward_kernel, dim3(static_cast<unsigned>(grid_for(outer * inner, sm_count))),
                dim3(kThreads), 0, stream, dy, y, dx, outer, length, inner, log_softmax);
  NORMRT_CHECK_LAUNCH();
}

void bce_with_logits(const float* x, const float* t, float* losses, float* grad, float scale, int64_t n, int sm_count,
                     cudaStream_t stream) {
  if (n == 0) return;
  NORMRT_LAUNCH(bce_with_logits_kernel, dim3(static_cast<unsigned>(grid_for(n, sm_count))), dim3(kThreads), 0, stream,
                x, t, losses, grad, scale, n);
  NORMRT_CHECK_LAUNCH();
}

void nll(const float* logp, const int64_t* targets, int64_t ignore_index, float* losses, float* valid, float* grad,
         int64_t rows, int64_t cols, int sm_count, cudaStream_t stream) {
  if (rows == 0) return;
  NORMRT_LAUNCH(nll_kernel, dim3(static_cast<unsigned>(grid_for(rows, sm_count))), dim3(kThreads), 0, stream, logp,
                targets, ignore_index, losses, valid, grad, rows, cols);
  NORMRT_CHECK_LAUNCH();
}

template <typename T>
void binary(tmath::Binary op, const T* a, const T* b, T* out, const tmath::Broadcast& p, int sm_count,
            cudaStream_t stream) {
  if (p.numel == 0) return;
  NORMRT_LAUNCH(binary_kernel<T>, dim3(static_cast<unsigned>(grid_for(p.numel, sm_count))), dim3(kThreads), 0, stream,
                op, a, b, out, p);
  NORMRT_CHECK_LAUNCH();
}

template <typename T>
void unary(tmath::Unary op, const T* x, T* y, int64_t n, tmath::UnaryArgs<tmath::computed_t<T>> args, int sm_count,
           cudaStream_t stream) {
  if (n == 0) return;
  NORMRT_LAUNCH(unary_kernel<T>, dim3(static_cast<unsigned>(grid_for(n, sm_count))), dim3(kThreads), 0, stream, op, x,
                y, n, args);
  NORMRT_CHECK_LAUNCH();
}

template void reduce_dim(tmath::Reduce, const float*, float*, int64_t*, int64_t, int64_t, int64_t, int, cudaStream_t);
template void reduce_dim(tmath::Reduce, const int64_t*, int64_t*, int64_t*, int64_t, int64_t, int64_t, int,
                         cudaStream_t);
template void sort_lines(const float*, float*, int64_t*, int64_t*, int64_t, int64_t, int64_t, int64_t, bool, int,
                         cudaStream_t);
template void sort_lines(const int64_t*, int64_t*, int64_t*, int64_t*, int64_t, int64_t, int64_t, int64_t, bool, int,
                         cudaStream_t);
template void cumulate_lines<double>(const float*, float*, int64_t, int64_t, int64_t, bool, int, cudaStream_t);
template void cumulate_lines<float>(const float*, float*, int64_t, int64_t, int64_t, bool, int, cudaStream_t);
template void cumulate_lines<uint64_t>(const int64_t*, int64_t*, int64_t, int64_t, int64_t, bool, int, cudaStream_t);
template void binary(tmath::Binary, const float*, const float*, float*, const tmath::Broadcast&, int, cudaStream_t);
template void binary(tmath::Binary, const Half*, const Half*, Half*, const tmath::Broadcast&, int, cudaStream_t);
template void binary(tmath::Binary, const BFloat16*, const BFloat16*, BFloat16*, const tmath::Broadcast&, int,
                     cudaStream_t);
template void binary(tmath::Binary, const int64_t*, const int64_t*, int64_t*, const tmath::Broadcast&, int,
                     cudaStream_t);
template void unary(tmath::Unary, const float*, float*, int64_t, tmath::UnaryArgs<float>, int, cudaStream_t);
template void unary(tmath::Unary, const Half*, Half*, int64_t, tmath::UnaryArgs<float>, int, cudaStream_t);
template void unary(tmath::Unary, const BFloat16*, BFloat16*, int64_t, tmath::UnaryArgs<float>, int, cudaStream_t);
template void unary(tmath::Unary, const int64_t*, int64_t*, int64_t, tmath::UnaryArgs<int64_t>, int, cudaStream_t);

}  // namespace normrt::NORMRT_KERNEL_NS
