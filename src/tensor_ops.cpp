#include "normrt/ops/tensor_ops.h"

#include "normrt/ops/elementwise.h"
#include "normrt/ops/nn.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <optional>
#include <type_traits>

#include "broadcast_plan.h"
#include "cpu_threads.h"
#include "cuda_launch.h"
#include "memory_layout.h"
#include "normrt/cuda.h"
#include "normrt/cuda_check.h"
#include "normrt/error.h"
#include "op_util.h"
#include "tensor_math.cuh"
#include "wide_vectors.h"
#if NORMRT_WITH_CUDA
#include "tensor_ops.cuh"
#endif

namespace normrt::ops {

namespace {

using util::Around;
using util::around;
using util::wrap_dim;

// around() in memory: the dimensions before dim and after it in the order `format` lays a tensor of `shape` out.
Around around_in_memory(const Shape& shape, int64_t dim, MemoryFormat format) {
  if (format == MemoryFormat::Contiguous) return around(shape, dim);
  const detail::DimOrder order = detail::memory_order(static_cast<int>(shape.size()), format);
  Around a{1, shape[static_cast<std::size_t>(dim)], 1};
  bool after = false;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    const auto d = static_cast<std::size_t>(order[i]);
    if (static_cast<int64_t>(d) == dim) {
      after = true;
    } else {
      (after ? a.inner : a.outer) *= shape[d];
    }
  }
  return a;
}

Shape reduced_shape(Shape shape, int64_t dim, bool keepdim) {
  if (keepdim) {
    shape[static_cast<std::size_t>(dim)] = 1;
  } else {
    shape.erase(shape.begin() + dim);
  }
  return shape;
}

// reduce_line over `width` adjacent columns x[r * stride + j] at once, walking the rows in memory order (a line at a
// time reads one element per cache line): each column's elements still meet in index order, so the results are
// reduce_line's to the bit.
constexpr int64_t kReducedColumns = 512, kRegisterColumns = 32, kPrefetchRows = 32;
// The maximum or minimum (K, a constant for the inner loop) of each column and its row.
template <tmath::Reduce K>
void extremum_columns(const float* x, int64_t length, int64_t stride, int64_t width, float* out, int64_t* indices) {
  int64_t index[kReducedColumns] = {};
  std::copy_n(x, width, out);
  for (int64_t r = 1; r < length; ++r)
    for (int64_t j = 0; j < width; ++j) {
      const float v = x[r * stride + j];
      if (tmath::extremum_replaces(K, out[j], v)) {
        out[j] = v;
        index[j] = r;
      }
    }
  if (indices) std::copy_n(index, width, indices);
}

void reduce_columns(tmath::Reduce kind, const float* x, int64_t length, int64_t stride, int64_t width, float* out,
                    int64_t* indices) {
  if (kind == tmath::Reduce::Max) return extremum_columns<tmath::Reduce::Max>(x, length, stride, width, out, indices);
  if (kind == tmath::Reduce::Min) return extremum_columns<tmath::Reduce::Min>(x, length, stride, width, out, indices);
  // A slice of kRegisterColumns: the sums in registers through all the rows, each row's 128 bytes prefetched
  // kPrefetchRows ahead (slices of a matrix's rows, a few apart, are not streams the hardware's prefetchers follow
  // well: (100352, 64), each thread half of every row, 1.3-1.4x).
  if (width == kRegisterColumns) {
    double sum[kRegisterColumns] = {};
    for (int64_t r = 0; r < length; ++r) {
      if (r + kPrefetchRows < length) {
        __builtin_prefetch(x + (r + kPrefetchRows) * stride);
        __builtin_prefetch(x + (r + kPrefetchRows) * stride + kRegisterColumns / 2);
      }
      for (int64_t j = 0; j < kRegisterColumns; ++j) sum[j] += x[r * stride + j];
    }
    for (int64_t j = 0; j < kRegisterColumns; ++j) out[j] = tmath::sum_value(kind, sum[j], length);
    return;
  }
  // Four rows per sweep of the accumulators: one load and store of each partial sum per four elements (a sweep per row
  // spent more time on the sums in L1 than on the rows; eight rows gained nothing more), the additions in row order.
  double sum[kReducedColumns] = {};
  int64_t r = 0;
  for (; r + 4 <= length; r += 4) {
    const float *a = x + r * stride, *b = a + stride, *c = b + stride, *d = c + stride;
    for (int64_t j = 0; j < width; ++j) sum[j] = sum[j] + a[j] + b[j] + c[j] + d[j];
  }
  for (; r < length; ++r)
    for (int64_t j = 0; j < width; ++j) sum[j] += x[r * stride + j];
  for (int64_t j = 0; j < width; ++j) out[j] = tmath::sum_value(kind, sum[j], length);
}

// reduce_line's sums (or means) of kLines lines of `length` consecutive floats each, `length` apart, 2 * kLines at a
// time: blocks of 8 elements of each line transposed so that a vector of doubles holds one element of every line and
// is added to the lines' sums in index order, the remainder one by one, so the bits are reduce_line's. One line at a
// time the sum is a chain of scalar additions (a sum over the last dimension of 32x64x56x56 ran at a third of
// PyTorch's speed).
constexpr int64_t kLines = 8;
typedef float LineFloats __attribute__((vector_size(kLines * sizeof(float))));
typedef double LineSums __attribute__((vector_size(kLines * sizeof(double))));
typedef float PairFloats __attribute__((vector_size(2 * kLines * sizeof(float))));

// Adds column j of the 8x8 block x[k][r + j] (k, j < 8) to sums[k], j in order: each pair of lines' blocks in one
// 16-float vector, two rounds of two-vector permutes, then each column's half converted to double (16 permutes per
// block, where eight 8-float vectors took 24: 1.05-1.09x).
inline void add_block_columns(const float* x, int64_t length, int64_t r, LineSums& sums) {
  PairFloats z[4];
  for (int m = 0; m < 4; ++m) {
    LineFloats lo, hi;
    std::memcpy(&lo, x + (2 * m) * length + r, sizeof lo);
    std::memcpy(&hi, x + (2 * m + 1) * length + r, sizeof hi);
    z[m] = __builtin_shufflevector(lo, hi, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  }
  // p: columns 0-3 of lines 0-3 (4 per column), q: of lines 4-7; p1, q1: columns 4-7.
  const PairFloats p0 = __builtin_shufflevector(z[0], z[1], 0, 8, 16, 24, 1, 9, 17, 25, 2, 10, 18, 26, 3, 11, 19, 27);
  const PairFloats p1 = __builtin_shufflevector(z[0], z[1], 4, 12, 20, 28, 5, 13, 21, 29, 6, 14, 22, 30, 7, 15, 23, 31);
  const PairFloats q0 = __builtin_shufflevector(z[2], z[3], 0, 8, 16, 24, 1, 9, 17, 25, 2, 10, 18, 26, 3, 11, 19, 27);
  const PairFloats q1 = __builtin_shufflevector(z[2], z[3], 4, 12, 20, 28, 5, 13, 21, 29, 6, 14, 22, 30, 7, 15, 23, 31);
  // Columns (2m, 2m + 1) of all eight lines.
  const PairFloats c[4] = {
      __builtin_shufflevector(p0, q0, 0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23),
      __builtin_shufflevector(p0, q0, 8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31),
      __builtin_shufflevector(p1, q1, 0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23),
      __builtin_shufflevector(p1, q1, 8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31)};
  for (int m = 0; m < 4; ++m) {
    sums += __builtin_convertvector(__builtin_shufflevector(c[m], c[m], 0, 1, 2, 3, 4, 5, 6, 7), LineSums);
    sums += __builtin_convertvector(__builtin_shufflevector(c[m], c[m], 8, 9, 10, 11, 12, 13, 14, 15), LineSums);
  }
}

void sum_line_pairs(tmath::Reduce kind, const float* x, int64_t length, float* out) {
  LineSums sums[2] = {};  // two groups of lines, two chains of additions
  int64_t r = 0;
  for (; r + kLines <= length; r += kLines)
    for (int group = 0; group < 2; ++group) add_block_columns(x + group * kLines * length, length, r, sums[group]);
  for (int group = 0; group < 2; ++group)
    for (int k = 0; k < kLines; ++k) {
      const float* line = x + (group * kLines + k) * length;
      double sum = sums[group][k];
      for (int64_t i = r; i < length; ++i) sum += line[i];
      out[group * kLines + k] = tmath::sum_value(kind, sum, length);
    }
}

// Each output of an int64 reduction in one task (exact sums, wrapping beyond the range as PyTorch's; first maxima).
void reduce_int64(tmath::Reduce kind, const int64_t* x, const Around& a, int64_t* out, int64_t* idx) {
#pragma omp parallel for schedule(static) if (cpu::worth_parallel(a.outer * a.length * a.inner))
  for (int64_t i = 0; i < a.outer * a.inner; ++i) {
    int64_t index;
    tmath::reduce_line(kind, x + i / a.inner * a.length * a.inner + i % a.inner, a.length, a.inner, out[i], index);
    if (idx) idx[i] = index;
  }
}

// `op` names a maximum's or minimum's refusal of an empty reduction dimension ("max", "argmin", ...). float16 and
// bfloat16 elements are reduced as float32 (widened exactly) and the result rounded once to their dtype, as PyTorch's
// float accumulation of them; int64 ones exactly (reduce_int64), but for a mean, which PyTorch refuses.
void reduce(tmath::Reduce kind, const Tensor& t, int64_t dim, bool keepdim, Tensor& values, Tensor* indices,
            const char* op) {
  NORMRT_CHECK(t.defined(), "reductions take a defined tensor");
  NORMRT_CHECK(kind != tmath::Reduce::Mean || is_floating(t.dtype()), "mean(): could not infer output dtype. Input "
               "dtype must be either a floating point or complex dtype. Got: ", util::scalar_type_name(t.dtype()));
  if (t.dtype() == DType::Bool) {  // counted in int64, as PyTorch's sum; a maximum or minimum is a bool again
    reduce(kind, t.to(DType::Int64), dim, keepdim, values, indices, op);
    if (kind != tmath::Reduce::Sum) values = values.to(DType::Bool);
    return;
  }
  if (!t.is_contiguous())  // as PyTorch: contiguous
    return reduce(kind, t.contiguous(), dim, keepdim, values, indices, op);
  const int64_t rank = std::max<int64_t>(t.dim(), 1);
  dim = wrap_dim(dim, rank);
  const Shape shape = t.dim() == 0 ? Shape{1} : t.sizes();
  const Around a = around(shape, dim);
  NORMRT_CHECK(!tmath::is_extremum(kind) || a.length > 0, op, "(): Expected reduction dim ", dim,
               " to have non-zero size.");
  if (util::is_16bit(t.dtype())) {
    reduce(kind, t.to(DType::Float32), dim, keepdim, values, indices, op);
    values = values.to(t.dtype());
    return;
  }
  const Shape out_shape = t.dim() == 0 ? Shape{} : reduced_shape(shape, dim, keepdim);
  values = empty(out_shape, TensorOptions(t.device()).dtype(t.dtype()));
  if (indices) *indices = empty(out_shape, TensorOptions(t.device()).dtype(DType::Int64));
  int64_t* idx = indices ? indices->data<int64_t>() : nullptr;
  const bool int64 = t.dtype() == DType::Int64;
  if (t.device().is_cuda()) {
#if NORMRT_WITH_CUDA
    const int device = t.device().index();
    cuda::DeviceGuard guard(device);
    if (int64)
      normrt::cuda::reduce_dim(kind, t.data<int64_t>(), values.data<int64_t>(), idx, a.outer, a.length, a.inner,
                               cuda::sm_count(device), cuda::current_stream(device));
    else
      normrt::cuda::reduce_dim(kind, t.data<float>(), values.data<float>(), idx, a.outer, a.length, a.inner,
                               cuda::sm_count(device), cuda::current_stream(device));
    return;
#else
    NORMRT_THROW("reductions on ", t.device().str(), " need a build with CUDA (NORMRT_WITH_CUDA)");
#endif
  }
  if (int64) return reduce_int64(kind, t.data<int64_t>(), a, values.data<int64_t>(), idx);
  const float* x = t.data<float>();
  float* out = values.data<float>();
  if (a.inner == 1) {
    // Sums and means 2 * kLines lines at a time (sum_line_pairs); the lines left over, and maxima, one by one.
    const int64_t pairs = tmath::is_extremum(kind) || a.length < kLines ? 0 : a.outer / (2 * kLines);
    const int64_t singles = a.outer - pairs * 2 * kLines;
#pragma omp parallel for schedule(static) if (cpu::worth_parallel(a.outer * a.length))
    for (int64_t task = 0; task < pairs + singles; ++task) {
      if (task < pairs) {
        sum_line_pairs(kind, x + task * 2 * kLines * a.length, a.length, out + task * 2 * kLines);
        continue;
      }
      const int64_t o = pairs * 2 * kLines + (task - pairs);
      int64_t index;
      tmath::reduce_line(kind, x + o * a.length, a.length, 1, out[o], index);
      if (idx) idx[o] = index;
    }
    return;
  }
  // Each column is reduced whole by one task, so any split gives the same bits. Slices narrower than kReducedColumns
  // where there are few outer indices (a reduction over the rows of a matrix was one task, one core), at least
  // kMinColumns wide: 128 bytes, the pair of cache lines the hardware fetches together (slices of one line ran 0.89x
  // on (100352, 64), a core reading every other line of the pairs).
  if (a.outer == 0 || a.inner == 0) return;
  constexpr int64_t kTasks = 16, kMinColumns = kRegisterColumns;
  const int64_t wanted =
      std::max<int64_t>(1, std::min((kTasks + a.outer - 1) / a.outer, (a.inner + kMinColumns - 1) / kMinColumns));
  const int64_t even = ((a.inner + wanted - 1) / wanted + kMinColumns - 1) / kMinColumns * kMinColumns;
  const int64_t slice = std::clamp(even, kMinColumns, kReducedColumns);
  const int64_t chunks = (a.inner + slice - 1) / slice;
#pragma omp parallel for schedule(static) if (cpu::worth_parallel(a.outer * a.length * a.inner))
  for (int64_t task = 0; task < a.outer * chunks; ++task) {
    const int64_t o = task / chunks, j = task % chunks * slice;
    const int64_t offset = o * a.inner + j, width = std::min(slice, a.inner - j);
    reduce_columns(kind, x + o * a.length * a.inner + j, a.length, a.inner, width, out + offset,
                   idx ? idx + offset : nullptr);
  }
}

// dst[o, dst_start + r, :] = src[o, src_start + r, :] for r < length, over (outer, *, inner) views of the memory in
// dst's format (around_in_memory); src is first laid out in that format where it is not.
void copy_block(const Tensor& src, int64_t src_len, int64_t src_start, Tensor& dst, int64_t dst_len, int64_t dst_start,
                int64_t outer, int64_t length, int64_t inner) {
  if (src.memory_format() != dst.memory_format()) {
    copy_block(src.to(dst.memory_format()), src_len, src_start, dst, dst_len, dst_start, outer, length, inner);
    return;
  }
  const std::size_t element = element_size(src.dtype());
  const std::size_t width = static_cast<std::size_t>(length * inner) * element;
  if (width == 0 || outer == 0) return;
  const std::size_t src_pitch = static_cast<std::size_t>(src_len * inner) * element;
  const std::size_t dst_pitch = static_cast<std::size_t>(dst_len * inner) * element;
  const char* from = static_cast<const char*>(src.raw_data()) + static_cast<std::size_t>(src_start * inner) * element;
  char* to = static_cast<char*>(dst.raw_data()) + static_cast<std::size_t>(dst_start * inner) * element;
  if (dst.device().is_cuda()) {
#if NORMRT_WITH_CUDA
    const int device = dst.device().index();
    cuda::DeviceGuard guard(device);
    NORMRT_CUDA_CHECK(cudaMemcpy2DAsync(to, dst_pitch, from, src_pitch, width, static_cast<std::size_t>(outer),
                                        cudaMemcpyDeviceToDevice, cuda::current_stream(device)));
    return;
#else
    NORMRT_THROW("copies on ", dst.device().str(), " need a build with CUDA (NORMRT_WITH_CUDA)");
#endif
  }
  cpu::copy_rows(to, dst_pitch, from, src_pitch, width, static_cast<std::size_t>(outer));
}

}  // namespace

NORMRT_WIDE_VECTORS_BEGIN
Tensor softmax(const Tensor& input, int64_t dim, bool log) {
  NORMRT_CHECK(input.defined(), "softmax: the input is undefined");
  const int64_t rank = std::max<int64_t>(input.dim(), 1);
  dim = wrap_dim(dim, rank);
  // PyTorch's words: its CPU kernels' names (the log one's only over the last dimension), which an empty input never
  // reaches.
  if (!is_floating(input.dtype())) {
    const bool last = dim == rank - 1;
    NORMRT_CHECK(input.numel() == 0, "\"", last && log ? "log_" : "", "softmax", last ? "_lastdim" : "",
                 "_kernel_impl\" not implemented for '", util::scalar_type_name(input.dtype()), "'");
    return empty(input.sizes(), TensorOptions(input.device()).dtype(input.dtype()));
  }
  if (const auto h = util::reduced_dtype("softmax", {&input})) return softmax(util::widened(input), dim, log).to(*h);
  if (!input.is_contiguous()) return softmax(input.contiguous(), dim, log);  // a contiguous result, as PyTorch's
  const Around a = around(input.dim() == 0 ? Shape{1} : input.sizes(), dim);
  if (a.inner == 1) return softmax(input.reshape({a.outer, a.length}), log).reshape(input.sizes());  // row kernel
  Tensor out = empty(input.sizes(), input.device());
  if (input.device().is_cuda()) {
#if NORMRT_WITH_CUDA
    const int device = input.device().index();
    cuda::DeviceGuard guard(device);
    normrt::cuda::softmax_lines(input.data<float>(), out.data<float>(), a.outer, a.length, a.inner, log,
                                cuda::sm_count(device), cuda::current_stream(device));
    return out;
#else
    NORMRT_THROW("softmax on ", input.device().str(), " needs a build with CUDA (NORMRT_WITH_CUDA)");
#endif
  }
  const float* x = input.data<float>();
  float* y = out.data<float>();
#pragma omp parallel for schedule(static) if (cpu::worth_parallel(input.numel()))
  for (int64_t i = 0; i < a.outer * a.inner; ++i) {
    const int64_t base = (i / a.inner) * a.length * a.inner + i % a.inner;
    tmath::softmax_line(x + base, a.length, a.inner, y + base, log);
  }
  return out;
}

Tensor softmax_backward(const Tensor& grad_output, const Tensor& output, int64_t dim, bool log) {
  if (const auto h = util::reduced_dtype("softmax_backward", {&grad_output, &output}))
    return softmax_backward(util::widened(grad_output), util::widened(output), dim, log).to(*h);
  NORMRT_CHECK(grad_output.defined() && output.defined() && grad_output.sizes() == output.sizes(),
               "softmax_backward: grad_output and output must have one shape");
  if (!grad_output.is_contiguous() || !output.is_contiguous())
    return softmax_backward(grad_output.contiguous(), output.contiguous(), dim, log);
  const int64_t rank = std::max<int64_t>(output.dim(), 1);
  dim = wrap_dim(dim, rank);
  const Around a = around(output.dim() == 0 ? Shape{1} : output.sizes(), dim);
  if (a.inner == 1)
    return softmax_backward(grad_output.reshape({a.outer, a.length}), output.reshape({a.outer, a.length}), log)
        .reshape(output.sizes());
  Tensor out = empty(output.sizes(), output.device());
  if (output.device().is_cuda()) {
#if NORMRT_WITH_CUDA
    const int device = output.device().index();
    cuda::DeviceGuard guard(device);
    normrt::cuda::softmax_lines_backward(grad_output.data<float>(), output.data<float>(), out.data<float>(), a.outer,
                                         a.length, a.inner, log, cuda::sm_count(device), cuda::current_stream(device));
    return out;
#else
    NORMRT_THROW("softmax on ", output.device().str(), " needs a build with CUDA (NORMRT_WITH_CUDA)");
#endif
  }
  const float *dy = grad_output.data<float>(), *y = output.data<float>();
  float* dx = out.data<float>();
#pragma omp parallel for schedule(static) if (cpu::worth_parallel(output.numel()))
  for (int64_t i = 0; i < a.outer * a.inner; ++i) {
    const int64_t base = (i / a.inner) * a.length * a.inner + i % a.inner;
    tmath::softmax_backward_line(dy + base, y + base, a.length, a.inner, dx + base, log);
  }
  return out;
}

LossResult binary_cross_entropy_with_logits(const Tensor& input, const Tensor& target, Reduction reduction) {
  if (util::reduced_dtype("binary_cross_entropy_with_logits", {&input, &target}))
    return binary_cross_entropy_with_logits(util::widened(input), util::widened(target), reduction);
  NORMRT_CHECK(input.defined() && target.defined() && input.dtype() == DType::Float32 &&
                   target.dtype() == DType::Float32,
               "binary_cross_entropy_with_logits: input and target must be float32 tensors");
  NORMRT_CHECK(input.sizes() == target.sizes(), "Target size (", util::torch_size_str(target.sizes()),
               ") must be the same as input size (", util::torch_size_str(input.sizes()), ")");
  NORMRT_CHECK(input.device() == target.device(), "binary_cross_entropy_with_logits: input and target must be on "
               "one device");
  if (!input.is_contiguous() || !target.is_contiguous())  // elementwise: logical order, a contiguous gradient
    return binary_cross_entropy_with_logits(input.contiguous(), target.contiguous(), reduction);
  const int64_t n = input.numel();
  const double scale = reduction == Reduction::Mean ? 1.0 / static_cast<double>(n) : 1.0;
  Tensor losses = empty({n}, input.device());
  LossResult result{Tensor(), empty(input.sizes(), input.device())};
  if (input.device().is_cuda()) {
#if NORMRT_WITH_CUDA
    const int device = input.device().index();
    cuda::DeviceGuard guard(device);
    normrt::cuda::bce_with_logits(input.data<float>(), target.data<float>(), losses.data<float>(),
                                  result.grad_input.data<float>(), static_cast<float>(scale), n,
                                  cuda::sm_count(device), cuda::current_stream(device));
#else
    NORMRT_THROW("binary_cross_entropy_with_logits on ", input.device().str(), " needs a build with CUDA");
#endif
  } else {
    const float *x = input.data<float>(), *t = target.data<float>();
    float *loss = losses.data<float>(), *grad = result.grad_input.data<float>();
    const auto grad_scale = static_cast<float>(scale);
    constexpr int64_t kBlock = 2048;  // the exponentials stay in L1 for the second step
#pragma omp parallel for schedule(static) if (cpu::worth_parallel(n))
    for (int64_t begin = 0; begin < n; begin += kBlock) {
      const int64_t end = std::min(n, begin + kBlock);
      for (int64_t i = begin; i < end; ++i) loss[i] = tmath::bce_exponential(x[i]);
      for (int64_t i = begin; i < end; ++i) loss[i] = tmath::bce_with_logits(x[i], t[i], loss[i]);
      for (int64_t i = begin; i < end; ++i) grad[i] = grad_scale * tmath::bce_with_logits_grad(x[i], t[i]);
    }
  }
  result.loss = reduction == Reduction::Mean ? mean(losses, 0)
                : reduction == Reduction::Sum  ? sum(losses, 0)
                                               : losses.reshape(input.sizes());
  return result;
}
NORMRT_WIDE_VECTORS_END

namespace {
// nll's rows (their targets checked by check_nll_nd), unreduced: each row's loss -log p[target] (0 where ignored),
// whether it counts (1 or 0), and the gradient of their sum (-1 at each counted row's target, 0 elsewhere).
struct NllRows {
  Tensor losses, valid, grad;
};

NllRows nll_rows(const Tensor& log_probs, const Tensor& targets, int64_t ignore_index) {
  NORMRT_CHECK(log_probs.dtype() == DType::Float32, "nll_loss: expected float32 log-probabilities, got ",
               dtype_name(log_probs.dtype()));
  const int64_t rows = log_probs.size(0), cols = log_probs.size(1);
  const Tensor t = targets.to(log_probs.device());
  NllRows out{empty({rows}, log_probs.device()), empty({rows}, log_probs.device()),
              empty(log_probs.sizes(), log_probs.device())};
  if (log_probs.device().is_cuda()) {
#if NORMRT_WITH_CUDA
    const int device = log_probs.device().index();
    cuda::DeviceGuard guard(device);
    normrt::cuda::nll(log_probs.data<float>(), t.data<int64_t>(), ignore_index, out.losses.data<float>(),
                      out.valid.data<float>(), out.grad.data<float>(), rows, cols, cuda::sm_count(device),
                      cuda::current_stream(device));
#else
    NORMRT_THROW("nll_loss on ", log_probs.device().str(), " needs a build with CUDA");
#endif
  } else {
    for (int64_t r = 0; r < rows; ++r)
      tmath::nll_row(log_probs.data<float>() + r * cols, t.data<int64_t>()[r], ignore_index, cols,
                     out.grad.data<float>() + r * cols, out.losses.data<float>()[r], out.valid.data<float>()[r]);
  }
  return out;
}

// max(count, 1) for a count of rows, computed on its device (no host read).
Tensor at_least_one(const Tensor& count) {
  return add(count, activation(Activation::ReLU, sub(full({}, 1.0, count.device()), count)));
}

// The class weight of a loss: undefined, or a floating (C) vector on the input's device, used as float32.
Tensor class_weight(const Tensor& weight, const Tensor& input, const char* op) {
  if (!weight.defined()) return weight;
  const int64_t classes = input.size(1);
  NORMRT_CHECK(is_floating(weight.dtype()) && weight.dim() == 1 && weight.numel() == classes,
               "weight tensor should be defined either for all ", classes,
               " classes or no classes but got weight tensor of shape: ", shape_str(weight.sizes()));
  NORMRT_CHECK(weight.device() == input.device(), op, ": weight on ", weight.device().str(), ", input on ",
               input.device().str());
  return weight.to(DType::Float32).contiguous();
}

// PyTorch's weighted and label-smoothed negative log-likelihood, composed from nll's rows: with w the class weights,
// a counted row i adds (1 - s) (-w[t_i] log p_i[t_i]) + s / C (-sum_c w_c log p_ic); Mean divides by the counted
// rows' sum of w[t_i]. The loss is linear in log p, so it is the sum of (gradient * log p).
LossResult weighted_smoothed_nll(const Tensor& log_probs, const Tensor& targets, Reduction reduction,
                                 int64_t ignore_index, const Tensor& weight, double smoothing) {
  const NllRows rows = nll_rows(log_probs, targets, ignore_index);
  const int64_t n = log_probs.size(0), classes = log_probs.size(1);
  const Tensor row_weights = weight.reshape({1, classes});
  Tensor grad = mul(rows.grad, row_weights);  // -w[t_i] at the targets
  const Tensor total_weight = sum(sum(grad, 1), 0) * -1.0;
  if (smoothing > 0.0)
    grad = grad * (1.0 - smoothing) + mul(rows.valid.reshape({n, 1}) * (-smoothing / static_cast<double>(classes)),
                                          row_weights);
  // Without smoothing a row's only term is its target's, w[t] (-log p_t): the others' 0 * log p would be NaN where
  // log p is -inf (a -inf logit), which leaves PyTorch's loss finite.
  const Tensor row_losses = smoothing > 0.0 ? sum(mul(grad, log_probs), 1) : mul(rows.losses, sum(grad, 1) * -1.0);
  if (reduction == Reduction::None) return {row_losses, grad};
  Tensor loss = sum(row_losses, 0);
  if (reduction == Reduction::Mean) {
    loss = div(loss, total_weight);  // NaN when every row is ignored or every counted weight is 0, as PyTorch
    // PyTorch's smoothed loss is its mean nll (0 / 0 at a total weight of 0) plus the smoothing term (x / 0): adding
    // 0 / total gives that NaN, and adds exactly 0 otherwise.
    if (smoothing > 0.0) loss = add(loss, div(full({}, 0.0, loss.device()), total_weight));
    // The entries the division reaches (each counted target; every entry of a counted row with smoothing) are
    // divided by the total weight, the rest stay exactly 0: with a total of 0, NaN where PyTorch's gradient has it,
    // not 0 / 0 everywhere (and with every row ignored, all 0).
    const Tensor involved = smoothing > 0.0 ? rows.valid.reshape({n, 1}) : rows.grad * -1.0;
    grad = div(grad, add(mul(involved, total_weight), sub(full({}, 1.0, involved.device()), involved)));
  }
  return {loss, grad};
}

// The (positions, C) rows of a (N, C, d1, ..., dK) tensor, sharing (and keeping alive) memory where the class
// dimension is innermost: the tensor's own when channels-last, else a channels-last copy of its (N, C, d, 1) view.
Tensor class_rows(const Tensor& x) {
  const int64_t batch = x.size(0), classes = x.size(1);
  int64_t positions = 1;  // per sample
  for (int64_t d = 2; d < x.dim(); ++d) positions *= x.size(d);
  const Tensor last = x.is_contiguous() ? x.reshape({batch, classes, positions, 1}).to(MemoryFormat::ChannelsLast) : x;
  return from_blob(last.raw_data(), {batch * positions, classes}, TensorOptions(x.device()).dtype(x.dtype()),
                   [last](void*) {});
}

// class_rows undone: `like`'s shape and memory format (a gradient is laid out as its input, as PyTorch's).
Tensor from_class_rows(const Tensor& rows, const Tensor& like) {
  const TensorOptions options = TensorOptions(rows.device()).dtype(rows.dtype());
  const auto keep = [rows](void*) {};
  if (!like.is_contiguous())
    return from_blob(rows.raw_data(), like.sizes(), TensorOptions(options).memory_format(like.memory_format()), keep);
  const int64_t batch = like.size(0), classes = like.size(1);
  int64_t positions = 1;
  for (int64_t d = 2; d < like.dim(); ++d) positions *= like.size(d);
  const Shape rows_last = {batch, classes, positions, 1};
  return from_blob(rows.raw_data(), rows_last, TensorOptions(options).memory_format(MemoryFormat::ChannelsLast), keep)
      .contiguous()
      .reshape(like.sizes());
}

// The positions of a (N, C, d1, ..., dK) input, (N, d1, ..., dK): its class-index targets' shape.
Shape class_positions(const Tensor& input) {
  Shape positions = input.sizes();
  positions.erase(positions.begin() + 1);
  return positions;
}

// An input of the class losses other than (N, C): (C) or (N, C, d1, ..., dK).
bool other_class_shape(const Tensor& input) { return input.defined() && (input.dim() == 1 || input.dim() > 2); }

// The checks of PyTorch 1.13's nll_loss_nd (F.nll_loss, and cross_entropy with class indices), in its order and words:
// the input's rank and batch size; then by rank those of nll_loss ((C) or (N, C)) or of nll_loss2d ((N, C, H, W);
// the other ranks are viewed so after their targets' positions are checked); then the dtypes, and the class indices
// (those on the CPU) as its kernels read them. A 0-dim target's batch size reads as 0 there. Departures: a (C) input
// with a (C) target, which PyTorch takes as the unbatched loss of the first target, is refused (after PyTorch's
// checks); a weight of another floating dtype than the input's is taken.
void check_nll_nd(const Tensor& input, const Tensor& target, const Tensor& weight, int64_t ignore_index) {
  NORMRT_CHECK(input.dim() >= 1, "Expected 1 or more dimensions (got ", input.dim(), ")");
  const int64_t target_batch = target.dim() > 0 ? target.size(0) : 0;
  NORMRT_CHECK(input.dim() == 1 || input.size(0) == target_batch, "Expected input batch_size (", input.size(0),
               ") to match target batch_size (", target_batch, ").");
  if (input.dim() <= 2) {
    NORMRT_CHECK(target.dim() <= 1, "0D or 1D target tensor expected, multi-target not supported");
    const bool unbatched = input.dim() == 1 && target.dim() == 0;
    NORMRT_CHECK(unbatched || input.size(0) == target.size(0), "size mismatch (got input: ", shape_str(input.sizes()),
                 ", target: ", shape_str(target.sizes()), ")");
    const int64_t classes = input.size(-1);
    NORMRT_CHECK(!weight.defined() || (weight.dim() == 1 && weight.numel() == classes),
                 "weight tensor should be defined either for all ", classes,
                 " classes or no classes but got weight tensor of shape: ", shape_str(weight.sizes()));
  } else {
    const int64_t batch = input.size(0), classes = input.size(1);
    Shape viewed_input = input.sizes(), viewed_target = target.sizes();
    if (input.dim() != 4) {
      const Shape positions(input.sizes().begin() + 2, input.sizes().end());
      Shape expected = positions;
      expected.insert(expected.begin(), batch);
      NORMRT_CHECK(target.dim() > 0 && Shape(target.sizes().begin() + 1, target.sizes().end()) == positions,
                   "Expected target size ", shape_str(expected), ", got ", shape_str(target.sizes()));
      viewed_input =
          input.numel() > 0 ? Shape{batch, classes, 1, input.numel() / (batch * classes)} : Shape{batch, classes, 0, 0};
      viewed_target = target.numel() > 0 ? Shape{batch, 1, target.numel() / batch} : Shape{batch, 0, 0};
    }
    NORMRT_CHECK(
        viewed_target.size() == 3,
        "only batches of spatial targets supported (3D tensors) but got targets of dimension: ", viewed_target.size());
    NORMRT_CHECK(!weight.defined() || weight.numel() == classes,
                 "weight tensor should be defined either for all or no classes");
    NORMRT_CHECK(viewed_input[0] == viewed_target[0] && viewed_input[2] == viewed_target[1] &&
                     viewed_input[3] == viewed_target[2],
                 "size mismatch (got input: ", shape_str(viewed_input), " , target: ", shape_str(viewed_target));
  }
  NORMRT_CHECK(target.dtype() == DType::Int64, "expected scalar type Long but found ",
               util::scalar_type_name(target.dtype()));
  NORMRT_CHECK(!weight.defined() || is_floating(weight.dtype()), "expected scalar type ",
               util::scalar_type_name(input.dtype()), " but found ", util::scalar_type_name(weight.dtype()));
  NORMRT_CHECK(input.dim() != 1 || target.dim() == 0, "an unbatched (C) input takes a 0-dim class index, got a target ",
               "of shape ", shape_str(target.sizes()), " (PyTorch 1.13 reads its first element)");
  if (!target.device().is_cpu()) return;  // read on the device, unchecked
  const int64_t classes = input.size(input.dim() == 1 ? 0 : 1);
  const Tensor indices = target.contiguous();
  const int64_t* t = indices.data<int64_t>();
  for (int64_t i = 0; i < indices.numel(); ++i)
    NORMRT_CHECK(t[i] == ignore_index || (t[i] >= 0 && t[i] < classes), "Target ", t[i], " is out of bounds.");
}

// The checks of PyTorch 1.13's cross_entropy_loss, in its order and words: a target of the input's shape holds class
// probabilities, any other class indices (nll_loss_nd's checks follow); label smoothing above 1 is refused, at or below
// 0 (NaN too) it is none, as there.
void check_cross_entropy(const Tensor& input, const Tensor& target, const CrossEntropyOptions& options) {
  const double smoothing = options.label_smoothing;
  const Tensor& weight = options.weight;
  if (input.sizes() == target.sizes()) {
    NORMRT_CHECK(is_floating(target.dtype()), "Expected floating point type for target with class probabilities, got ",
                 util::scalar_type_name(target.dtype()));
    NORMRT_CHECK(!options.ignore_index || *options.ignore_index < 0,
                 "ignore_index is not supported for floating point target");
    const int64_t classes = input.size(input.dim() == 1 ? 0 : 1);
    NORMRT_CHECK(!weight.defined() || (weight.dim() == 1 && weight.numel() == classes),
                 "cross_entropy: weight tensor should be defined either for all ", classes,
                 " classes or no classes but got weight tensor of shape: ", shape_str(weight.sizes()));
    NORMRT_CHECK(!(smoothing > 1.0), "label_smoothing must be between 0.0 and 1.0. Got: ", smoothing);
    return;
  }
  NORMRT_CHECK(!(smoothing > 1.0), "label_smoothing must be between 0.0 and 1.0. Got: ", smoothing);
  // log_softmax over the class dimension, 1 for a 0-dim input.
  NORMRT_CHECK(input.dim() > 0, "Dimension out of range (expected to be in range of [-1, 0], but got 1)");
  check_nll_nd(input, target, weight, options.ignore_index.value_or(util::kNoIgnoredIndex));
  // PyTorch's smoothing views the weight as (1, C, 1, ...), which no other weight of C elements survives.
  NORMRT_CHECK(!(smoothing > 0.0) || !weight.defined() || weight.dim() == 1,
               "weight tensor should be defined either for all ", input.size(1),
               " classes or no classes but got weight tensor of shape: ", shape_str(weight.sizes()));
}

// The (C) class weight of a spatial input's loss, which PyTorch takes in any shape of C elements.
Tensor class_vector(const Tensor& weight) {
  return weight.defined() && weight.dim() != 1 ? weight.reshape({weight.numel()}) : weight;
}

// PyTorch's other input shapes of the class losses, computed by `loss` on (rows, C): an unbatched (C) input with a
// 0-dim target (class probabilities: a (C) one), and (N, C, d1, ..., dK) with targets (N, d1, ..., dK) (class
// probabilities: the input's shape), each position a row; the targets checked as PyTorch checks them (check_nll_nd,
// check_cross_entropy). The gradient has the input's shape and memory format.
template <typename Loss>
LossResult on_class_rows(const Tensor& input, const Tensor& targets, const Loss& loss) {
  const bool probabilities = is_floating(targets.dtype());
  if (input.dim() == 1) {
    const int64_t classes = input.size(0);
    LossResult r = loss(input.reshape({1, classes}), targets.reshape(probabilities ? Shape{1, classes} : Shape{1}));
    r.grad_input = r.grad_input.reshape(input.sizes());
    if (r.loss.dim() != 0) r.loss = r.loss.reshape({});  // Reduction::None: the one sample's loss
    return r;
  }
  const Shape positions = class_positions(input);
  LossResult r =
      loss(class_rows(input), probabilities ? class_rows(targets) : targets.reshape({shape_numel(positions)}));
  r.grad_input = from_class_rows(r.grad_input, input);
  if (r.loss.dim() != 0) r.loss = r.loss.reshape(positions);  // Reduction::None: a loss per position
  return r;
}
}  // namespace

LossResult nll_loss(const Tensor& log_probs, const Tensor& targets, Reduction reduction, int64_t ignore_index,
                    const Tensor& weight) {
  NORMRT_CHECK(log_probs.defined() && targets.defined(), "nll_loss: input and target must be defined");
  check_nll_nd(log_probs, targets, weight, ignore_index);
  if (other_class_shape(log_probs))
    return on_class_rows(log_probs, targets, [&](const Tensor& rows, const Tensor& row_targets) {
      return nll_loss(rows, row_targets, reduction, ignore_index, class_vector(weight));
    });
  if (util::reduced_dtype("nll_loss", {&log_probs}))
    return nll_loss(util::widened(log_probs), targets, reduction, ignore_index, weight);
  if (weight.defined() && log_probs.defined() && log_probs.dim() == 2)
    return weighted_smoothed_nll(log_probs, targets, reduction, ignore_index,
                                 class_weight(weight, log_probs, "nll_loss"), 0.0);
  NllRows rows = nll_rows(log_probs, targets, ignore_index);
  if (reduction == Reduction::None) return {rows.losses, rows.grad};
  // Sums in double on the device that holds them; the mean divides by the rows that count (no host read).
  Tensor loss = sum(rows.losses, 0);
  if (reduction == Reduction::Mean) {
    const Tensor count = sum(rows.valid, 0);
    loss = div(loss, count);  // NaN when every row is ignored, as PyTorch
    rows.grad = div(rows.grad, at_least_one(count));  // with every row ignored the gradient stays 0, as PyTorch's
  }
  return {loss, rows.grad};
}

LossResult cross_entropy(const Tensor& logits, const Tensor& targets, const CrossEntropyOptions& options) {
  NORMRT_CHECK(logits.defined() && targets.defined(), "cross_entropy: input and target must be defined");
  check_cross_entropy(logits, targets, options);
  CrossEntropyOptions used = options;
  used.label_smoothing = options.label_smoothing > 0.0 ? options.label_smoothing : 0.0;
  used.weight = class_vector(options.weight);
  const double smoothing = used.label_smoothing;
  if (logits.dim() > 2 && logits.device().is_cpu() && logits.dtype() == DType::Float32 && logits.is_contiguous() &&
      !used.weight.defined() && targets.dtype() == DType::Int64 && targets.device().is_cpu()) {
    const Shape positions = class_positions(logits);
    LossResult r = util::spatial_cross_entropy_cpu(logits, targets, used.reduction, smoothing,
                                                   used.ignore_index.value_or(util::kNoIgnoredIndex));
    if (r.loss.dim() != 0) r.loss = r.loss.reshape(positions);  // Reduction::None: a loss per position
    return r;
  }
  if (other_class_shape(logits))
    return on_class_rows(logits, targets, [&](const Tensor& rows, const Tensor& row_targets) {
      return cross_entropy(rows, row_targets, used);
    });
  const Tensor weight = class_weight(used.weight, logits, "cross_entropy");
  if (is_floating(targets.dtype())) {  // class probabilities (check_cross_entropy: the input's shape)
    if (!weight.defined())
      return util::unweighted_cross_entropy(logits, targets, used.reduction, smoothing, util::kNoIgnoredIndex);
    // Weighted: -sum_c w_c p'_c log p_c per row with p' the smoothed target, the mean over the rows (PyTorch's).
    util::check_same_device(logits, targets);
    Tensor smoothed = util::widened(targets);
    if (smoothing > 0.0)
      smoothed = smoothed * (1.0 - smoothing) + full({}, smoothing / static_cast<double>(logits.size(1)),
                                                     logits.device());
    return util::unweighted_cross_entropy(logits, mul(smoothed, weight.reshape({1, logits.size(1)})), used.reduction,
                                          0.0, util::kNoIgnoredIndex);
  }
  const int64_t ignore_index = used.ignore_index.value_or(util::kNoIgnoredIndex);
  if (!weight.defined())
    return util::unweighted_cross_entropy(logits, targets, used.reduction, smoothing, ignore_index);
  const Tensor log_probs = softmax(util::widened(logits), true);
  LossResult r = weighted_smoothed_nll(log_probs, targets, used.reduction, ignore_index, weight, smoothing);
  r.grad_input = softmax_backward(r.grad_input, log_probs, true);
  return r;
}

Tensor sum(const Tensor& t, int64_t dim, bool keepdim) {
  Tensor out;
  reduce(tmath::Reduce::Sum, t, dim, keepdim, out, nullptr, "sum");
  return out;
}

Tensor mean(const Tensor& t, int64_t dim, bool keepdim) {
  Tensor out;
  reduce(tmath::Reduce::Mean, t, dim, keepdim, out, nullptr, "mean");
  return out;
}

namespace {
// The values and indices of a maximum or minimum over `dim`; `op` names it in PyTorch's refusal of an empty dimension.
std::pair<Tensor, Tensor> extremum(tmath::Reduce kind, const Tensor& t, int64_t dim, bool keepdim, const char* op) {
  Tensor values, indices;
  reduce(kind, t, dim, keepdim, values, &indices, op);
  return {values, indices};
}
}  // namespace

std::pair<Tensor, Tensor> max(const Tensor& t, int64_t dim, bool keepdim) {
  return extremum(tmath::Reduce::Max, t, dim, keepdim, "max");
}

namespace {
// argmax / argmin: PyTorch's have no bool kernels (its max and min have), refused after the arguments are checked
// where its kernel would run: not for an empty result nor a dimension of size 1 (its indices are zeros), but for a
// 0-dim tensor and every flattened one.
void refuse_bool(const Tensor& t, const char* op) {
  NORMRT_THROW("\"", op, t.device().is_cuda() ? "_cuda" : "_cpu", "\" not implemented for 'Bool'");
}

Tensor arg_extremum(tmath::Reduce kind, const Tensor& t, int64_t dim, bool keepdim, const char* op) {
  if (!t.defined() || t.dtype() != DType::Bool) return extremum(kind, t, dim, keepdim, op).second;
  Tensor indices = extremum(kind, t.to(DType::Int64), dim, keepdim, op).second;
  if (indices.numel() > 0 && (t.dim() == 0 || t.size(dim) > 1)) refuse_bool(t, op);
  return indices;
}
}  // namespace

Tensor argmax(const Tensor& t, int64_t dim, bool keepdim) {
  return arg_extremum(tmath::Reduce::Max, t, dim, keepdim, "argmax");
}

std::pair<Tensor, Tensor> min(const Tensor& t, int64_t dim, bool keepdim) {
  return extremum(tmath::Reduce::Min, t, dim, keepdim, "min");
}

Tensor argmin(const Tensor& t, int64_t dim, bool keepdim) {
  return arg_extremum(tmath::Reduce::Min, t, dim, keepdim, "argmin");
}

namespace {
// var (std with take_sqrt) over `dim`: one variance_line per output, in double (float16/bfloat16 through float32,
// rounded once more to their dtype).
Tensor variance(const Tensor& t, int64_t dim, bool unbiased, bool keepdim, bool take_sqrt) {
  NORMRT_CHECK(t.defined(), "reductions take a defined tensor");
  NORMRT_CHECK(is_floating(t.dtype()), "std and var only support floating point and complex dtypes");
  if (!t.is_contiguous()) return variance(t.contiguous(), dim, unbiased, keepdim, take_sqrt);
  if (util::is_16bit(t.dtype())) return variance(t.to(DType::Float32), dim, unbiased, keepdim, take_sqrt).to(t.dtype());
  const int64_t rank = std::max<int64_t>(t.dim(), 1);
  dim = wrap_dim(dim, rank);
  const Shape shape = t.dim() == 0 ? Shape{1} : t.sizes();
  const Around a = around(shape, dim);
  Tensor out = empty(t.dim() == 0 ? Shape{} : reduced_shape(shape, dim, keepdim), TensorOptions(t.device()));
  const int64_t correction = unbiased ? 1 : 0;
  const float* x = t.data<float>();
  float* y = out.data<float>();
  if (t.device().is_cuda()) {
#if NORMRT_WITH_CUDA
    const util::Launch l(t);
    normrt::cuda::variance_lines(x, y, a.outer, a.length, a.inner, correction, take_sqrt, l.sms, l.stream);
    return out;
#else
    NORMRT_THROW("reductions on ", t.device().str(), " need a build with CUDA (NORMRT_WITH_CUDA)");
#endif
  }
#pragma omp parallel for schedule(static) if (cpu::worth_parallel(a.outer * a.length * a.inner))
  for (int64_t i = 0; i < a.outer * a.inner; ++i)
    y[i] = tmath::variance_line(x + i / a.inner * a.length * a.inner + i % a.inner, a.length, a.inner, correction,
                                take_sqrt);
  return out;
}

// The first k of each line of x (float or int64, an (outer, length, inner) view) in sorts_before's order, into values
// and indices as (outer, k, inner). Each element becomes one integer that orders as sorts_before does: a float's
// sort_key in the high half of a uint64 and its index in the low half (a line of 2^32 elements or more, and int64
// elements, take (key, index) pairs), sorted whole or, for k < length, partially (std::partial_sort: a heap of k).
// Integer comparisons of adjacent keys, where comparing values through an index array ran at half PyTorch's speed.
template <typename Key, typename T, typename MakeKey, typename IndexOf>
void sort_line_keys(const T* line, int64_t length, int64_t stride, int64_t k, std::vector<Key>& keys,
                    const MakeKey& make_key, const IndexOf& index_of, T* values, int64_t* indices, int64_t out_stride) {
  for (int64_t r = 0; r < length; ++r) keys[static_cast<std::size_t>(r)] = make_key(line[r * stride], r);
  if (k < length) {
    std::partial_sort(keys.begin(), keys.begin() + k, keys.end());
  } else {
    std::sort(keys.begin(), keys.end());
  }
  for (int64_t r = 0; r < k; ++r) {
    const int64_t index = index_of(keys[static_cast<std::size_t>(r)]);
    values[r * out_stride] = line[index * stride];
    indices[r * out_stride] = index;
  }
}

template <typename T>
void sort_lines(const T* x, const Around& a, int64_t k, bool descending, T* values, int64_t* indices) {
  const bool packed = std::is_same_v<T, float> && a.length <= (int64_t{1} << 32);
#pragma omp parallel if (cpu::worth_parallel(a.outer * a.length * a.inner))
  {
    std::vector<uint64_t> packed_keys(packed ? static_cast<std::size_t>(a.length) : 0);
    std::vector<std::pair<uint64_t, int64_t>> pairs(packed ? 0 : static_cast<std::size_t>(a.length));
#pragma omp for schedule(static)
    for (int64_t i = 0; i < a.outer * a.inner; ++i) {
      const int64_t o = i / a.inner, j = i % a.inner, out = o * k * a.inner + j;
      const T* line = x + o * a.length * a.inner + j;
      if (packed) {
        sort_line_keys(
            line, a.length, a.inner, k, packed_keys,
            [&](T v, int64_t r) { return uint64_t{tmath::sort_key(v, descending)} << 32 | static_cast<uint64_t>(r); },
            [](uint64_t key) { return static_cast<int64_t>(key & 0xffffffffu); }, values + out, indices + out, a.inner);
      } else {
        sort_line_keys(
            line, a.length, a.inner, k, pairs,
            [&](T v, int64_t r) { return std::pair<uint64_t, int64_t>(tmath::sort_key(v, descending), r); },
            [](const std::pair<uint64_t, int64_t>& key) { return key.second; }, values + out, indices + out, a.inner);
      }
    }
  }
}

// The first k (all without one) of each line along dim in sort order, contiguous: sort's and topk's work. A 0-dim
// tensor is its own line of one, k = 0 included (PyTorch's topk returns the element then too).
std::pair<Tensor, Tensor> sorted_along(const Tensor& t, int64_t dim, std::optional<int64_t> first, bool descending) {
  NORMRT_CHECK(t.defined(), "sorting takes a defined tensor");
  const int64_t rank = std::max<int64_t>(t.dim(), 1);
  dim = wrap_dim(dim, rank);
  const Shape shape = t.dim() == 0 ? Shape{1} : t.sizes();
  const Around a = around(shape, dim);
  const int64_t k = t.dim() == 0 ? 1 : first.value_or(a.length);
  NORMRT_CHECK(first.value_or(0) >= 0 && first.value_or(0) <= a.length, "selected index k out of range");
  if (util::is_16bit(t.dtype())) {
    auto [values, indices] = sorted_along(t.to(DType::Float32), dim, first, descending);
    return {values.to(t.dtype()), indices};
  }
  if (t.dtype() == DType::Bool) {  // sorted as int64; PyTorch's topk has no bool kernel (sort has; a 0-dim one copies)
    auto [values, indices] = sorted_along(t.to(DType::Int64), dim, first, descending);
    NORMRT_CHECK(!first || t.dim() == 0, "\"topk_", t.device().is_cuda() ? "cuda" : "cpu",
                 "\" not implemented for 'Bool'");
    return {values.to(DType::Bool), indices};
  }
  const Tensor x = t.contiguous();
  Shape out_shape = shape;
  out_shape[static_cast<std::size_t>(dim)] = k;
  if (t.dim() == 0) out_shape = {};
  Tensor values = empty(out_shape, TensorOptions(t.device()).dtype(t.dtype()));
  Tensor indices = empty(out_shape, TensorOptions(t.device()).dtype(DType::Int64));
  const bool int64 = t.dtype() == DType::Int64;
  if (t.device().is_cuda()) {
#if NORMRT_WITH_CUDA
    const util::Launch l(x);
    Tensor scratch = empty({2 * a.outer * a.inner * a.length}, TensorOptions(t.device()).dtype(DType::Int64));
    if (int64) {
      normrt::cuda::sort_lines(x.data<int64_t>(), values.data<int64_t>(), indices.data<int64_t>(),
                               scratch.data<int64_t>(), a.outer, a.length, a.inner, k, descending, l.sms, l.stream);
    } else {
      normrt::cuda::sort_lines(x.data<float>(), values.data<float>(), indices.data<int64_t>(), scratch.data<int64_t>(),
                               a.outer, a.length, a.inner, k, descending, l.sms, l.stream);
    }
    return {values, indices};
#else
    NORMRT_THROW("sorting on ", t.device().str(), " needs a build with CUDA (NORMRT_WITH_CUDA)");
#endif
  }
  if (int64) {
    sort_lines(x.data<int64_t>(), a, k, descending, values.data<int64_t>(), indices.data<int64_t>());
  } else {
    sort_lines(x.data<float>(), a, k, descending, values.data<float>(), indices.data<int64_t>());
  }
  return {values, indices};
}

// cumulate_line over every line of an (outer, length, inner) view, on the CPU: `inner` columns at a time, row after
// row (each column accumulates in index order, as cumulate_line: the same bits), in slices of columns over the threads.
template <typename Acc, typename T>
void cumulate_columns(const T* x, T* y, const Around& a, bool product) {
  if (a.inner == 1) {  // lines in place: the running value stays in a register
#pragma omp parallel for schedule(static) if (cpu::worth_parallel(a.outer * a.length))
    for (int64_t o = 0; o < a.outer; ++o)
      tmath::cumulate_line<Acc>(x + o * a.length, a.length, 1, y + o * a.length, product);
    return;
  }
  constexpr int64_t kColumns = 256;
  const int64_t chunks = (a.inner + kColumns - 1) / kColumns;
#pragma omp parallel for schedule(static) if (cpu::worth_parallel(a.outer * a.length * a.inner))
  for (int64_t task = 0; task < a.outer * chunks; ++task) {
    const int64_t o = task / chunks, first = task % chunks * kColumns, width = std::min(kColumns, a.inner - first);
    Acc running[kColumns];
    std::fill_n(running, width, tmath::cumulate_start<Acc>(product));
    for (int64_t r = 0; r < a.length; ++r) {
      const int64_t row = (o * a.length + r) * a.inner + first;
      for (int64_t j = 0; j < width; ++j) {
        running[j] = tmath::cumulate_step(running[j], x[row + j], product);
        y[row + j] = static_cast<T>(running[j]);
      }
    }
  }
}

// cumsum and cumprod: float32 accumulated in double, 16-bit dtypes widened and accumulated in float, int64 wrapping.
Tensor cumulated(const Tensor& t, int64_t dim, bool product) {
  NORMRT_CHECK(t.defined(), "cumsum and cumprod take a defined tensor");
  if (t.dtype() == DType::Bool) return cumulated(t.to(DType::Int64), dim, product);  // PyTorch's int64 result
  dim = wrap_dim(dim, std::max<int64_t>(t.dim(), 1));
  const bool float_sums = util::is_16bit(t.dtype());
  const Tensor x = (float_sums ? t.to(DType::Float32) : t).contiguous();
  const Around a = around(t.dim() == 0 ? Shape{1} : t.sizes(), dim);
  Tensor out = empty(t.sizes(), TensorOptions(t.device()).dtype(x.dtype()));
  const bool int64 = t.dtype() == DType::Int64;
  if (t.device().is_cuda()) {
#if NORMRT_WITH_CUDA
    const util::Launch l(x);
    if (int64) {
      normrt::cuda::cumulate_lines<uint64_t>(x.data<int64_t>(), out.data<int64_t>(), a.outer, a.length, a.inner,
                                             product, l.sms, l.stream);
    } else if (float_sums) {
      normrt::cuda::cumulate_lines<float>(x.data<float>(), out.data<float>(), a.outer, a.length, a.inner, product,
                                          l.sms, l.stream);
    } else {
      normrt::cuda::cumulate_lines<double>(x.data<float>(), out.data<float>(), a.outer, a.length, a.inner, product,
                                           l.sms, l.stream);
    }
    return float_sums ? out.to(t.dtype()) : out;
#else
    NORMRT_THROW("cumsum and cumprod on ", t.device().str(), " need a build with CUDA (NORMRT_WITH_CUDA)");
#endif
  }
  if (int64) {
    cumulate_columns<uint64_t>(x.data<int64_t>(), out.data<int64_t>(), a, product);
  } else if (float_sums) {
    cumulate_columns<float>(x.data<float>(), out.data<float>(), a, product);
  } else {
    cumulate_columns<double>(x.data<float>(), out.data<float>(), a, product);
  }
  return float_sums ? out.to(t.dtype()) : out;
}

// A reduction over every element is one over the flattened logical order (argmax's index is into it).
Tensor flattened(const Tensor& t) {
  NORMRT_CHECK(t.defined(), "reductions take a defined tensor");
  return t.contiguous().reshape({t.numel()});
}

// The same for a maximum or minimum (`op`), which PyTorch refuses for an empty tensor; max and min's words add a hint.
Tensor flattened_for_extremum(const Tensor& t, const char* op, bool hint) {
  const Tensor flat = flattened(t);
  NORMRT_CHECK(flat.numel() > 0, op, "(): Expected reduction dim to be specified for input.numel() == 0.",
               hint ? " Specify the reduction dim with the 'dim' argument." : "");
  return flat;
}
}  // namespace

std::pair<Tensor, Tensor> sort(const Tensor& t, int64_t dim, bool descending) {
  auto [values, indices] = sorted_along(t, dim, std::nullopt, descending);
  return {values.to(t.memory_format()), indices.to(t.memory_format())};
}

Tensor argsort(const Tensor& t, int64_t dim, bool descending) { return sort(t, dim, descending).second; }

std::pair<Tensor, Tensor> topk(const Tensor& t, int64_t k, int64_t dim, bool largest) {
  return sorted_along(t, dim, k, largest);
}

Tensor cumsum(const Tensor& t, int64_t dim) { return cumulated(t, dim, false); }
Tensor cumprod(const Tensor& t, int64_t dim) { return cumulated(t, dim, true); }

Tensor sum(const Tensor& t) { return sum(flattened(t), 0); }

Tensor mean(const Tensor& t) { return mean(flattened(t), 0); }

Tensor max(const Tensor& t) { return max(flattened_for_extremum(t, "max", true), 0).first; }

Tensor argmax(const Tensor& t) {
  const Tensor flat = flattened_for_extremum(t, "argmax", false);
  if (t.dtype() == DType::Bool) refuse_bool(t, "argmax");
  return argmax(flat, 0);
}

Tensor min(const Tensor& t) { return min(flattened_for_extremum(t, "min", true), 0).first; }

Tensor argmin(const Tensor& t) {
  const Tensor flat = flattened_for_extremum(t, "argmin", false);
  if (t.dtype() == DType::Bool) refuse_bool(t, "argmin");
  return argmin(flat, 0);
}

Tensor var(const Tensor& t, int64_t dim, bool unbiased, bool keepdim) {
  return variance(t, dim, unbiased, keepdim, false);
}

Tensor std(const Tensor& t, int64_t dim, bool unbiased, bool keepdim) {
  return variance(t, dim, unbiased, keepdim, true);
}

Tensor var(const Tensor& t) { return var(flattened(t), 0); }

Tensor std(const Tensor& t) { return std(flattened(t), 0); }

Tensor narrow(const Tensor& t, int64_t dim, int64_t start, int64_t length) {
  NORMRT_CHECK(t.defined() && t.dim() > 0, "narrow() cannot be applied to a 0-dim tensor.");
  dim = wrap_dim(dim, t.dim());
  const int64_t size = t.size(dim);
  NORMRT_CHECK(start >= -size && start <= size, "start out of range (expected to be in range of [", -size, ", ", size,
               "], but got ", start, ")");
  if (start < 0) start += size;
  NORMRT_CHECK(length >= 0 && start <= size - length, "start (", start, ") + length (", length,
               ") exceeds dimension size (", size, ").");
  Shape shape = t.sizes();
  shape[static_cast<std::size_t>(dim)] = length;
  // In t's memory format, as PyTorch's narrow view keeps t's strides.
  Tensor out = empty(shape, TensorOptions(t.device()).dtype(t.dtype()).memory_format(t.memory_format()));
  const Around a = around_in_memory(t.sizes(), dim, t.memory_format());
  copy_block(t, a.length, start, out, length, 0, a.outer, length, a.inner);
  return out;
}

Tensor slice(const Tensor& t, int64_t dim, int64_t start, int64_t end) {
  NORMRT_CHECK(t.defined() && t.dim() > 0, "slice() cannot be applied to a 0-dim tensor.");
  const int64_t size = t.size(dim);
  auto clamp = [size](int64_t i) { return std::min(std::max(i < 0 ? i + size : i, int64_t{0}), size); };
  start = clamp(start);
  end = std::max(clamp(end), start);
  return narrow(t, dim, start, end - start);
}

Tensor select(const Tensor& t, int64_t dim, int64_t index) {
  NORMRT_CHECK(t.defined() && t.dim() > 0, "select() cannot be applied to a 0-dim tensor.");
  const int64_t d = wrap_dim(dim, t.dim());
  const int64_t size = t.size(d);
  NORMRT_CHECK(index >= -size && index < size, "select(): index ", index, " out of range for tensor of size ",
               shape_str(t.sizes()), " at dimension ", d);
  Shape shape = t.sizes();
  shape.erase(shape.begin() + d);
  return narrow(t, d, index < 0 ? index + size : index, 1).reshape(shape);
}

namespace {

// PyTorch's result_type of tensors of one category (dimensioned): their dtypes promoted pairwise.
DType promoted_dtype(const std::vector<Tensor>& tensors) {
  DType dtype = tensors[0].dtype();
  for (const Tensor& t : tensors) dtype = util::promote_types(dtype, t.dtype());
  return dtype;
}

// A 1-d empty tensor, which cat skips (PyTorch's legacy rule, from when it was the only empty shape).
bool skipped_by_cat(const Tensor& t) { return t.dim() == 1 && t.size(0) == 0; }

}  // namespace

Tensor cat(const std::vector<Tensor>& tensors, int64_t dim) {
  NORMRT_CHECK(!tensors.empty(), "torch.cat(): expected a non-empty list of Tensors");
  for (std::size_t i = 0; i < tensors.size(); ++i)
    NORMRT_CHECK(tensors[i].defined() && tensors[i].dim() > 0, "zero-dimensional tensor (at position ", i,
                 ") cannot be concatenated");
  const auto valid = std::find_if(tensors.begin(), tensors.end(), [](const Tensor& t) { return !skipped_by_cat(t); });
  if (valid != tensors.end()) dim = wrap_dim(dim, valid->dim());
  const DType dtype = promoted_dtype(tensors);
  for (const Tensor& t : tensors)
    NORMRT_CHECK(t.device() == tensors[0].device(), "Expected all tensors to be on the same device, but found at "
                 "least two devices, ", tensors[0].device().str(), " and ", t.device().str(), "!");
  // The inputs' memory format where they share one, else contiguous (PyTorch's rule for cat's result).
  MemoryFormat format = tensors[0].memory_format();
  for (const Tensor& t : tensors)
    if (t.memory_format() != format) format = MemoryFormat::Contiguous;
  if (valid == tensors.end()) return empty({0}, TensorOptions(tensors[0].device()).dtype(dtype));
  const Tensor& first = *valid;
  Shape shape = first.sizes();
  int64_t total = 0;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    if (skipped_by_cat(t)) continue;
    NORMRT_CHECK(t.dim() == first.dim(), "Tensors must have same number of dimensions: got ", first.dim(), " and ",
                 t.dim());
    for (int64_t d = 0; d < first.dim(); ++d)
      NORMRT_CHECK(d == dim || t.size(d) == first.size(d), "Sizes of tensors must match except in dimension ", dim,
                   ". Expected size ", first.size(d), " but got size ", t.size(d), " for tensor number ", i,
                   " in the list.");
    total += t.size(dim);
  }
  shape[static_cast<std::size_t>(dim)] = total;
  Tensor out = empty(shape, TensorOptions(first.device()).dtype(dtype).memory_format(format));
  int64_t offset = 0;
  for (const Tensor& t : tensors) {
    if (skipped_by_cat(t)) continue;
    const Around a = around_in_memory(t.sizes(), dim, format);
    copy_block(t.dtype() == dtype ? t : t.to(dtype), a.length, 0, out, total, offset, a.outer, a.length, a.inner);
    offset += a.length;
  }
  return out;
}

Tensor stack(const std::vector<Tensor>& tensors, int64_t dim) {
  NORMRT_CHECK(!tensors.empty(), "stack expects a non-empty TensorList");
  const Shape& shape = tensors[0].sizes();
  dim = wrap_dim(dim, static_cast<int64_t>(shape.size()) + 1);
  std::vector<Tensor> unsqueezed;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    NORMRT_CHECK(tensors[i].defined() && tensors[i].sizes() == shape, "stack expects each tensor to be equal size, "
                 "but got ", shape_str(shape), " at entry 0 and ",
                 tensors[i].defined() ? shape_str(tensors[i].sizes()) : "undefined", " at entry ", i);
    Shape s = shape;
    s.insert(s.begin() + dim, 1);
    unsqueezed.push_back(tensors[i].reshape(s));
  }
  return cat(unsqueezed, dim);
}

// A copy by where's kernel, whose plan reads t broadcast: the condition a single true.
Tensor broadcast_to(const Tensor& t, const Shape& sizes) {
  NORMRT_CHECK(t.defined(), "broadcast_to takes a defined tensor");
  const Shape shape = detail::expanded_sizes(t, sizes);
  if (shape == t.sizes()) return t.clone();
  Tensor out = empty(shape, TensorOptions(t.device()).dtype(t.dtype()));
  detail::where_into(full({}, true, TensorOptions(t.device()).dtype(DType::Bool)), t, t, out);
  return out;
}

}  // namespace normrt::ops
