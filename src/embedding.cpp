// normrt::ops row lookups, embedding and index_select (an embedding is index_select along dimension 0, an
// index_select a lookup in each of the `outer` tables before its dimension): PyTorch 1.13's checks and messages, then
// on the CPU a row copy per index, and for the backward a stable counting sort of the positions by row followed by
// each row's sum in position order (embedding_math.cuh's rounding) over the threads; on a device
// kernels/embedding.cu, which adds in the same order.
#include "normrt/ops/embedding.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "cpu_threads.h"
#include "device_groups.h"
#include "embedding_math.cuh"
#include "normrt/error.h"
#include "normrt/ops/tensor_ops.h"
#include "op_util.h"
#if NORMRT_WITH_CUDA
#include "embedding.cuh"
#endif

namespace normrt::ops {

namespace {

void check_indices(const Tensor& indices, int argument, const char* op) {
  NORMRT_CHECK(indices.defined(), op, ": indices are undefined");
  NORMRT_CHECK(indices.dtype() == DType::Int64, "Expected tensor for argument #", argument,
               " 'indices' to have one of the following scalar types: Long, Int; but got ",
               util::legacy_type_name(indices.dtype(), indices.device()), " instead (while checking arguments for ", op,
               ")");
}

void check_floating_weight(const Tensor& t, const char* what, const char* op) {
  NORMRT_CHECK(util::is_16bit(t.dtype()) || t.dtype() == DType::Float32, op, ": ", what,
               " must be float32, float16 or bfloat16, got ", dtype_name(t.dtype()));
}

// On the CPU: every index in [0, rows), or PyTorch's index_select error.
void check_in_range(const int64_t* indices, int64_t n, int64_t rows) {
  for (int64_t i = 0; i < n; ++i) NORMRT_CHECK(indices[i] >= 0 && indices[i] < rows, "index out of range in self");
}

// The positions grouped by weight row, stably: order[offset[k] ...] are the count[k] positions that look up row k,
// ascending (what kernels/device_groups.cu's sort_by_row and row_bounds compute).
struct RowGroups {
  std::vector<int64_t> count, offset, order;
};
RowGroups group_by_row(const int64_t* indices, int64_t n, int64_t rows) {
  RowGroups g{std::vector<int64_t>(static_cast<std::size_t>(rows)),
              std::vector<int64_t>(static_cast<std::size_t>(rows)), std::vector<int64_t>(static_cast<std::size_t>(n))};
  for (int64_t i = 0; i < n; ++i) ++g.count[indices[i]];
  int64_t start = 0;
  for (int64_t k = 0; k < rows; ++k) {
    g.offset[k] = start;
    start += g.count[k];
  }
  std::vector<int64_t> next = g.offset;
  for (int64_t i = 0; i < n; ++i) g.order[next[indices[i]]++] = i;
  return g;
}

#if NORMRT_WITH_CUDA
using detail::DeviceRowGroups;
using detail::group_on_device;
#endif

// Each (o, k) of `outer` tables of `rows` rows: zero, then the gradient rows grad[o, i, :] of k's positions added in
// order (embmath::accumulate).
template <typename T>
void sum_rows(const T* grad, const RowGroups& g, int64_t outer, int64_t n, int64_t rows, int64_t columns,
              int64_t padding_idx, bool scale_grad_by_freq, T* grad_weight) {
#pragma omp parallel for schedule(dynamic, 16) if (cpu::worth_parallel(outer * rows * columns))
  for (int64_t line = 0; line < outer * rows; ++line) {
    const int64_t o = line / rows, k = line - o * rows, count = g.count[k];
    T* row = grad_weight + line * columns;
    std::fill(row, row + columns, T(0.0f));
    if (k == padding_idx || count == 0) continue;
    const float alpha = embmath::gradient_scale<T>(count, scale_grad_by_freq);
    for (int64_t j = g.offset[k]; j < g.offset[k] + count; ++j) {
      const T* from = grad + (o * n + g.order[j]) * columns;
      for (int64_t c = 0; c < columns; ++c) row[c] = embmath::accumulate(row[c], from[c], alpha);
    }
  }
}

// out (outer, n, columns) = rows indices[i] of each of the `outer` (rows, columns) tables in `table` (contiguous);
// the CPU's indices are checked, a device's give `fill` rows (NaN for floating dtypes).
void lookup(const Tensor& table, int64_t outer, int64_t rows, int64_t columns, const Tensor& idx, Tensor& out) {
  const int64_t n = idx.numel();
  const int64_t* at = idx.data<int64_t>();
  if (table.device().is_cuda()) {
#if NORMRT_WITH_CUDA
    const util::Launch l(table);
    util::dispatch_bits(table.dtype(), [&](auto fill) {
      using Bits = decltype(fill);
      cuda::lookup_rows(static_cast<const Bits*>(table.raw_data()), outer, rows, columns, at, n, fill,
                        static_cast<Bits*>(out.raw_data()), l.sms, l.stream);
    });
#else
    util::no_cuda("embedding and index_select");
#endif
    return;
  }
  const std::size_t row_bytes = static_cast<std::size_t>(columns) * element_size(table.dtype());
  if (row_bytes == 0) return;
  const auto* from = static_cast<const unsigned char*>(table.raw_data());
  auto* to = static_cast<unsigned char*>(out.raw_data());
#pragma omp parallel for schedule(static) if (cpu::worth_parallel(outer * n * columns))
  for (int64_t line = 0; line < outer * n; ++line) {
    const int64_t o = line / n;
    std::memcpy(to + line * row_bytes, from + (o * rows + at[line - o * n]) * row_bytes, row_bytes);
  }
}

// grad (outer, n, columns) summed into (outer, rows, columns) by the rows its positions look up: `shape`, in grad's
// dtype. A device leaves out-of-range indices out; the CPU's were checked.
Tensor row_sums(const Tensor& grad_output, const Tensor& idx, int64_t outer, int64_t rows, int64_t columns,
                int64_t padding_idx, bool scale_grad_by_freq, const Shape& shape) {
  const Tensor grad = grad_output.contiguous();
  const int64_t n = idx.numel();
  Tensor sums = empty(shape, TensorOptions(grad.device()).dtype(grad.dtype()));
  util::dispatch_element(grad.dtype(), [&](auto element) {
    using T = decltype(element);
    if (grad.device().is_cuda()) {
#if NORMRT_WITH_CUDA
      const util::Launch l(grad);
      const DeviceRowGroups g = group_on_device(idx, rows, l.stream);
      cuda::embedding_backward<T>(
          cuda::EmbeddingBackwardParams{grad.data<T>(), sums.data<T>(), g.count.data<int64_t>(),
                                        g.offset.data<int64_t>(), g.order.data<int64_t>(), outer, n, rows, columns,
                                        padding_idx, scale_grad_by_freq},
          l.sms, l.stream);
#else
      util::no_cuda("embedding_backward and index_select_backward");
#endif
      return;
    }
    sum_rows(grad.data<T>(), group_by_row(idx.data<int64_t>(), n, rows), outer, n, rows, columns, padding_idx,
             scale_grad_by_freq, sums.data<T>());
  });
  return sums;
}

// index_select's checks in PyTorch 1.13's order and words, dim wrapped; returns the index (0-d or 1-d) as a contiguous
// 1-d tensor.
Tensor checked_index(const Shape& sizes, int64_t& dim, const Tensor& index, const Device& device) {
  dim = util::wrap_dim(dim, std::max<int64_t>(static_cast<int64_t>(sizes.size()), 1));
  NORMRT_CHECK(index.defined() && index.dim() <= 1, "index_select(): Index is supposed to be a vector");
  NORMRT_CHECK(index.dtype() == DType::Int64, "index_select(): Expected dtype int32 or int64 for index");
  NORMRT_CHECK(index.device() == device, "Expected all tensors to be on the same device, but found at least two ",
               "devices, ", device.str(), " and ", index.device().str(), "!");
  const int64_t size = sizes.empty() ? 1 : sizes[dim];
  NORMRT_CHECK(size > 0 || index.numel() == 0, "index_select(): self indexing axis dim should be positive");
  const Tensor idx = index.contiguous().reshape({index.numel()});
  if (device.is_cuda()) return idx;
  const int64_t* at = idx.data<int64_t>();
  for (int64_t i = 0; i < idx.numel(); ++i) {
    if (at[i] >= 0 && at[i] < size) continue;
    if (dim == 1 && sizes.size() > 1)  // PyTorch's own loop for dimension 1
      NORMRT_THROW("INDICES element is out of DATA bounds, id=", at[i], " axis_dim=", size);
    NORMRT_THROW("index out of range in self");
  }
  return idx;
}

}  // namespace

Tensor embedding(const Tensor& weight, const Tensor& indices) {
  NORMRT_CHECK(weight.defined(), "embedding: weight is undefined");
  NORMRT_CHECK(weight.dim() == 2, "'weight' must be 2-D");
  check_indices(indices, 1, "embedding");
  util::check_same_device(weight, indices);
  const int64_t rows = weight.size(0), columns = weight.size(1);
  Shape shape = indices.sizes();
  shape.push_back(columns);
  Tensor out = empty(shape, TensorOptions(weight.device()).dtype(weight.dtype()));
  const Tensor idx = indices.contiguous();
  if (!indices.device().is_cuda()) check_in_range(idx.data<int64_t>(), idx.numel(), rows);
  lookup(weight.contiguous(), 1, rows, columns, idx, out);
  return out;
}

Tensor embedding_backward(const Tensor& grad_output, const Tensor& indices, int64_t num_weights,
                          std::optional<int64_t> padding_idx, bool scale_grad_by_freq) {
  NORMRT_CHECK(grad_output.defined(), "embedding_backward: grad_output is undefined");
  check_indices(indices, 2, "embedding_backward");
  check_floating_weight(grad_output, "grad_output", "embedding_backward");
  util::check_same_device(grad_output, indices);
  NORMRT_CHECK(num_weights >= 0, "embedding_backward: num_weights must be non-negative, got ", num_weights);
  Shape expected = indices.sizes();
  expected.push_back(grad_output.dim() > 0 ? grad_output.size(-1) : 0);
  NORMRT_CHECK(grad_output.dim() > 0 && grad_output.sizes() == expected, "embedding_backward: grad_output of shape ",
               shape_str(grad_output.sizes()), " is not the indices' shape ", shape_str(indices.sizes()),
               " followed by an embedding dimension");
  if (padding_idx) {
    NORMRT_CHECK(*padding_idx < num_weights && *padding_idx >= -num_weights,
                 "Padding_idx must be within num_embeddings");
    if (*padding_idx < 0) *padding_idx += num_weights;
  }
  const Tensor idx = indices.contiguous();
  if (!indices.device().is_cuda()) check_in_range(idx.data<int64_t>(), idx.numel(), num_weights);
  const int64_t columns = grad_output.size(-1);
  return row_sums(grad_output, idx, 1, num_weights, columns, padding_idx.value_or(-1), scale_grad_by_freq,
                  {num_weights, columns});
}

void embedding_renorm_(Tensor& weight, const Tensor& indices, double max_norm, double norm_type) {
  NORMRT_CHECK(weight.defined(), "embedding_renorm_: weight is undefined");
  NORMRT_CHECK(weight.dim() == 2, "Expected 2-dimensional tensor, but got ", weight.dim(),
               "-dimensional tensor for argument #1 'self' (while checking arguments for embedding_renorm_)");
  check_indices(indices, 2, "embedding_renorm_");
  check_floating_weight(weight, "weight", "embedding_renorm_");
  util::check_same_device(weight, indices);
  const int64_t rows = weight.size(0), columns = weight.size(1);
  const Tensor idx = indices.contiguous();
  const int64_t n = idx.numel();
  util::dispatch_element(weight.dtype(), [&](auto element) {
    using T = decltype(element);
    if (weight.device().is_cuda()) {
#if NORMRT_WITH_CUDA
      const util::Launch l(weight);
      const DeviceRowGroups g = group_on_device(idx, rows, l.stream);
      cuda::embedding_renorm(weight.data<T>(), rows, columns, g.count.data<int64_t>(), max_norm, norm_type, l.sms,
                             l.stream);
#else
      util::no_cuda("embedding_renorm_");
#endif
      weight.bump_version();
      return;
    }
    const int64_t* at = idx.data<int64_t>();
    for (int64_t i = 0; i < n; ++i)  // PyTorch's select() of each row, in ascending order
      NORMRT_CHECK(at[i] >= -rows && at[i] < rows, "select(): index ", at[i], " out of range for tensor of size ",
                   shape_str(weight.sizes()), " at dimension 0");
    check_in_range(at, n, rows);
    std::vector<int64_t> looked_up(at, at + n);
    std::sort(looked_up.begin(), looked_up.end());
    looked_up.erase(std::unique(looked_up.begin(), looked_up.end()), looked_up.end());
    T* w = weight.data<T>();
    const auto distinct = static_cast<int64_t>(looked_up.size());
#pragma omp parallel for schedule(dynamic, 16) if (cpu::worth_parallel(distinct * columns))
    for (int64_t u = 0; u < distinct; ++u)
      embmath::renorm_row(w + looked_up[u] * columns, columns, max_norm, norm_type);
    weight.bump_version();
  });
}

Tensor index_select(const Tensor& t, int64_t dim, const Tensor& index) {
  NORMRT_CHECK(t.defined(), "index_select: the tensor is undefined");
  const Tensor idx = checked_index(t.sizes(), dim, index, t.device());
  if (t.dim() == 0) return t.clone();  // PyTorch 1.13: the scalar itself, whatever the (checked) index
  const util::Around a = util::around(t.sizes(), dim);
  Shape shape = t.sizes();
  shape[dim] = idx.numel();
  Tensor out = empty(shape, TensorOptions(t.device()).dtype(t.dtype()));
  lookup(t.contiguous(), a.outer, a.length, a.inner, idx, out);
  return out;
}

Tensor index_select_backward(const Tensor& grad_output, const Shape& input_sizes, int64_t dim, const Tensor& index) {
  NORMRT_CHECK(grad_output.defined(), "index_select_backward: grad_output is undefined");
  check_floating_weight(grad_output, "grad_output", "index_select_backward");
  const Tensor idx = checked_index(input_sizes, dim, index, grad_output.device());
  Shape expected = input_sizes;
  if (!expected.empty()) expected[dim] = idx.numel();
  NORMRT_CHECK(grad_output.sizes() == expected, "index_select_backward: grad_output of shape ",
               shape_str(grad_output.sizes()), " is not the selection's shape ", shape_str(expected));
  if (input_sizes.empty()) return grad_output.contiguous().clone();
  const util::Around a = util::around(input_sizes, dim);
  return row_sums(grad_output, idx, a.outer, a.length, a.inner, -1, false, input_sizes);
}

}  // namespace normrt::ops
