// normrt::ops row lookups, embedding and index_select (an embedding is index_select along dimension 0, an
// index_select a lookup in each of the `outer` tables before its dimension): PyTorch 1.13's checks and messages, then
// on the CPU a row copy per index, and for the backward a stable counting sort of the positions by row followed by
// each row's sum in position order (embedding_math.cuh's rounding) over the threads; on a device
// kernels/embedding.cu, which adds in the same order.
#include "normrt/ops/embedding.h"

#include <algorithm>
#include <cstring>
#include <utility>
#include <vector>

#include "cpu_threads.h"
#include "device_groups.h"
#include "embedding_math.cuh"
#include "normrt/error.h"
#include "normrt/ops/comparison.h"
#include "normrt/ops/elementwise.h"
#include "normrt/ops/scatter_gather.h"
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

namespace {

// embedding_bag's checks in PyTorch 1.13's order and words (F.embedding_bag's own, then ATen's), then each bag's
// positions as bounds (bags + 1, on the input's device): bag b is [bounds[b], bounds[b + 1]). A 2-D input's offsets
// are its rows' starts, as F.embedding_bag makes them (include_last_offset then ends the bags at the last row's start).
Tensor bag_bounds(const Tensor& weight, const Tensor& input, const Tensor& offsets, EmbeddingBagMode mode,
                  const Tensor& per_sample_weights, bool include_last_offset, std::optional<int64_t>& padding_idx) {
  NORMRT_CHECK(weight.defined() && input.defined(), "embedding_bag: weight and input must be defined");
  NORMRT_CHECK(!per_sample_weights.defined() || per_sample_weights.sizes() == input.sizes(),
               "embedding_bag: If per_sample_weights (", shape_str(per_sample_weights.sizes()),
               ") is not None, then it must have the same shape as the input (", shape_str(input.sizes()), ")");
  NORMRT_CHECK(input.dim() == 1 || input.dim() == 2, "input has to be 1D or 2D Tensor, but got Tensor of dimension ",
               input.dim());
  NORMRT_CHECK(input.dim() == 1 || !offsets.defined(),
               "if input is 2D, then offsets has to be None, as input is treated is a mini-batch of fixed length "
               "sequences. However, found offsets of type Tensor");
  NORMRT_CHECK(input.dim() == 2 || offsets.defined(), "offsets has to be a 1D Tensor but got None");
  NORMRT_CHECK(!offsets.defined() || offsets.dim() == 1, "offsets has to be a 1D Tensor");
  NORMRT_CHECK(!per_sample_weights.defined() || mode == EmbeddingBagMode::Sum,
               "embedding_bag: per_sample_weights was not None. per_sample_weights is only supported for mode='sum' "
               "(got mode='",
               mode == EmbeddingBagMode::Mean ? "mean" : "max", "'). Please open a feature request on GitHub.");
  NORMRT_CHECK(weight.dim() >= 2, "Dimension out of range (expected to be in range of [-1, 0], but got 1)");
  const int64_t rows = weight.size(0);
  if (padding_idx) {
    NORMRT_CHECK(*padding_idx < rows && *padding_idx >= -rows, "padding_idx must be within the number of embeddings, ",
                 -rows, " through ", rows - 1, ", but got ", *padding_idx);
    if (*padding_idx < 0) *padding_idx += rows;
  }
  check_indices(input, 1, "embedding_bag");
  if (offsets.defined()) check_indices(offsets, 1, "embedding_bag");
  NORMRT_CHECK(util::is_16bit(weight.dtype()) || weight.dtype() == DType::Float32,
               "Expected tensor for argument #1 'weight' to have one of the following scalar types: Half, Float, "
               "Double; but got ",
               util::legacy_type_name(weight.dtype(), weight.device()),
               " instead (while checking arguments for embedding_bag)");
  NORMRT_CHECK(!per_sample_weights.defined() || per_sample_weights.dtype() == weight.dtype(),
               "Expected tensor for argument #1 'weight' to have the same type as tensor for argument #1 "
               "'per_sample_weights'; but type ",
               util::legacy_type_name(weight.dtype(), weight.device()), " does not equal ",
               util::legacy_type_name(per_sample_weights.dtype(), per_sample_weights.device()),
               " (while checking arguments for embedding_bag)");
  util::check_same_device(weight, input);
  if (offsets.defined()) util::check_same_device(weight, offsets);
  if (per_sample_weights.defined()) util::check_same_device(weight, per_sample_weights);
  const int64_t n = input.numel();
  const TensorOptions longs = TensorOptions(input.device()).dtype(DType::Int64);
  Tensor offs = offsets.defined() ? offsets.contiguous() : Tensor();
  if (input.dim() == 2) {  // the rows' starts (a zero-length row: every bag empty)
    std::vector<int64_t> starts(static_cast<std::size_t>(input.size(0)));
    for (std::size_t b = 0; b < starts.size(); ++b) starts[b] = static_cast<int64_t>(b) * input.size(1);
    offs = from_vector(starts, {input.size(0)}, input.device());
  }
  NORMRT_CHECK(!include_last_offset || offs.numel() >= 1, "include_last_offset: number of offset should be at least 1");
  const Tensor bounds = include_last_offset ? offs : cat({offs, full({1}, n, longs)});
  if (input.device().is_cuda() || offs.numel() == 0) return bounds;  // a device does not stop to check
  const int64_t* at = bounds.data<int64_t>();
  NORMRT_CHECK(at[0] == 0, "offsets[0] has to be 0, i.e., the first sequence in the mini-batch has to start from "
                           "position 0. However, got ", at[0]);
  const int64_t last = offs.data<int64_t>()[offs.numel() - 1];
  NORMRT_CHECK(last <= n, "offsets[-1] can not be greater than input's length ", n, " but got offsets[-1] of ", last);
  for (int64_t b = 1; b < bounds.numel(); ++b)
    NORMRT_CHECK(at[b] >= at[b - 1], "embedding_bag: offsets must be non-decreasing, but offsets[", b, "] = ", at[b],
                 " follows offsets[", b - 1, "] = ", at[b - 1]);
  return bounds;
}

// One position's row into its bag's float accumulator (restrict operands, the step's kind hoisted: the loops
// vectorise).
template <typename T>
void add_row(float* __restrict acc, const T* __restrict row, int64_t columns, float weight, bool fused) {
  if (fused) {
    for (int64_t c = 0; c < columns; ++c)
      acc[c] = embmath::bag_sum_step(acc[c], static_cast<float>(row[c]), weight, true);
  } else {
    for (int64_t c = 0; c < columns; ++c)
      acc[c] = embmath::bag_sum_step(acc[c], static_cast<float>(row[c]), weight, false);
  }
}

template <typename T>
void max_row(float* __restrict max, int64_t* __restrict arg, const T* __restrict row, int64_t columns, int64_t k,
             bool first) {
  for (int64_t c = 0; c < columns; ++c) {
    const float x = static_cast<float>(row[c]);
    if (embmath::bag_max_takes(max[c], x, first)) {
      max[c] = x;
      arg[c] = k;
    }
  }
}

// The CPU's forward: bags over the threads, each accumulating its rows in float in position order (embmath's steps).
template <typename T>
void bags_on_cpu(const T* weight, int64_t columns, const int64_t* indices, const int64_t* bounds, int64_t bags,
                 const T* per_sample_weights, embmath::BagMode mode, int64_t padding_idx, bool fused, T* out,
                 int64_t* max_indices, int64_t* bag_size, int64_t* offset2bag) {
#pragma omp parallel if (bags > 1 && cpu::worth_parallel(bounds[bags] * columns))
  {
    std::vector<float> acc(static_cast<std::size_t>(columns));
    std::vector<int64_t> arg(static_cast<std::size_t>(columns));
#pragma omp for schedule(static)
    for (int64_t bag = 0; bag < bags; ++bag) {
      std::fill(acc.begin(), acc.end(), 0.0f);
      std::fill(arg.begin(), arg.end(), int64_t{-1});
      int64_t count = 0;
      for (int64_t p = bounds[bag]; p < bounds[bag + 1]; ++p) {
        offset2bag[p] = bag;
        const int64_t k = indices[p];
        if (embmath::is_padding(k, padding_idx)) continue;
        const T* row = weight + k * columns;
        if (mode != embmath::BagMode::Max)
          add_row(acc.data(), row, columns, per_sample_weights ? static_cast<float>(per_sample_weights[p]) : 1.0f,
                  fused);
        else
          max_row(acc.data(), arg.data(), row, columns, k, count == 0);
        ++count;
      }
      bag_size[bag] = count;
      for (int64_t c = 0; c < columns; ++c) out[bag * columns + c] = embmath::bag_output<T>(acc[c], count, mode);
      if (max_indices) std::copy(arg.begin(), arg.end(), max_indices + bag * columns);
    }
  }
}

}  // namespace

EmbeddingBagResult embedding_bag(const Tensor& weight, const Tensor& input, const Tensor& offsets,
                                 EmbeddingBagMode mode, const Tensor& per_sample_weights, bool include_last_offset,
                                 std::optional<int64_t> padding_idx) {
  const Tensor bounds = bag_bounds(weight, input, offsets, mode, per_sample_weights, include_last_offset, padding_idx);
  const int64_t rows = weight.size(0), columns = weight.size(1), bags = bounds.numel() - 1, n = input.numel();
  const TensorOptions longs = TensorOptions(weight.device()).dtype(DType::Int64);
  EmbeddingBagResult r{empty({bags, columns}, TensorOptions(weight.device()).dtype(weight.dtype())),
                       full({n}, -1, longs), empty({bags}, longs), Tensor(), n};
  if (include_last_offset)  // the last offset (a device's read back)
    r.bagged = select(bounds, 0, bags).item<int64_t>();
  if (mode == EmbeddingBagMode::Max) r.max_indices = empty({bags, columns}, longs);
  const Tensor w = weight.contiguous(), idx = input.contiguous();
  const Tensor scales = per_sample_weights.defined() ? per_sample_weights.contiguous() : Tensor();
  const auto bag_mode = static_cast<embmath::BagMode>(static_cast<int>(mode));
  const int64_t padding = padding_idx.value_or(-1);
  const bool fused = !padding_idx;  // PyTorch's own loop (products rounded) when a padding_idx is given
  int64_t* max_indices = r.max_indices.defined() ? r.max_indices.data<int64_t>() : nullptr;
  if (!input.device().is_cuda()) {
    const int64_t* at = idx.data<int64_t>();
    for (int64_t p = 0; p < r.bagged; ++p)
      NORMRT_CHECK(embmath::is_padding(at[p], padding) || (at[p] >= 0 && at[p] < rows),
                   "embedding_bag: Expected idx >= 0 && idx < num_embeddings but found idx to be ", at[p]);
  }
  util::dispatch_element(weight.dtype(), [&](auto element) {
    using T = decltype(element);
    const T* psw = scales.defined() ? scales.data<T>() : nullptr;
    if (weight.device().is_cuda()) {
#if NORMRT_WITH_CUDA
      const util::Launch l(weight);
      cuda::embedding_bag<T>(
          cuda::EmbeddingBagParams{w.data<T>(), idx.data<int64_t>(), bounds.data<int64_t>(), psw, r.output.data<T>(),
                                   max_indices, r.bag_size.data<int64_t>(), r.offset2bag.data<int64_t>(), rows, columns,
                                   n, bags, padding, bag_mode, fused},
          l.sms, l.stream);
#else
      util::no_cuda("embedding_bag");
#endif
      return;
    }
    bags_on_cpu(w.data<T>(), columns, idx.data<int64_t>(), bounds.data<int64_t>(), bags, psw, bag_mode, padding, fused,
                r.output.data<T>(), max_indices, r.bag_size.data<int64_t>(), r.offset2bag.data<int64_t>());
  });
  return r;
}

namespace {

// grad is (bags, columns) for the forward's bags, and input the forward's.
void check_bag_gradient(const Tensor& grad, const Tensor& input, const EmbeddingBagResult& forward, const char* op) {
  NORMRT_CHECK(grad.defined() && grad.dim() == 2 && grad.size(0) == forward.bag_size.numel(), op, ": grad of shape ",
               shape_str(grad.defined() ? grad.sizes() : Shape{}), " does not have a row for each of the ",
               forward.bag_size.numel(), " bags");
  NORMRT_CHECK(input.defined() && input.numel() == forward.offset2bag.numel(), op, ": the input has ",
               input.defined() ? input.numel() : 0, " positions, the forward's had ", forward.offset2bag.numel());
}

// The positions in a bag, as (input, offset2bag).
std::pair<Tensor, Tensor> bagged_positions(const Tensor& input, const EmbeddingBagResult& forward) {
  const Tensor flat = input.contiguous().reshape({input.numel()});
  if (forward.bagged == input.numel()) return {flat, forward.offset2bag};
  return {narrow(flat, 0, 0, forward.bagged), narrow(forward.offset2bag, 0, 0, forward.bagged)};
}

}  // namespace

Tensor embedding_bag_backward(const Tensor& grad, const Tensor& input, const EmbeddingBagResult& forward,
                              int64_t num_weights, EmbeddingBagMode mode, const Tensor& per_sample_weights,
                              bool scale_grad_by_freq, std::optional<int64_t> padding_idx) {
  check_bag_gradient(grad, input, forward, "embedding_bag_backward");
  check_floating_weight(grad, "grad", "embedding_bag_backward");
  NORMRT_CHECK(mode != EmbeddingBagMode::Max || !scale_grad_by_freq,
               "max mode does not support scaling the gradient by the frequency");
  const int64_t columns = grad.size(1);
  if (mode == EmbeddingBagMode::Max) {  // each element to its max's row; empty bags (-1) add +0 to row 0
    Tensor grad_weight = zeros({num_weights, columns}, TensorOptions(grad.device()).dtype(grad.dtype()));
    if (num_weights == 0) return grad_weight;  // every bag empty
    const Tensor found = ge(forward.max_indices, 0);
    return scatter_add_(grad_weight, 0, where(found, forward.max_indices, 0), where(found, grad, 0.0));
  }
  const auto [positions, bag_of] = bagged_positions(input, forward);
  // Each position's term: its bag's gradient row times the per-sample weight, or 1 / the bag's size for Mean.
  const int64_t count = forward.bagged;
  Tensor scale = ones({count, 1}, grad.device());
  if (mode == EmbeddingBagMode::Mean)
    scale = div(scale, maximum(index_select(forward.bag_size, 0, bag_of), full({1}, 1, grad.device()))
                           .to(DType::Float32)
                           .reshape({count, 1}));
  if (per_sample_weights.defined())
    scale = narrow(per_sample_weights.contiguous().reshape({input.numel()}), 0, 0, count)
                .to(DType::Float32)
                .reshape({count, 1});
  const Tensor terms = mul(index_select(grad, 0, bag_of).to(DType::Float32), scale).to(grad.dtype());
  return embedding_backward(terms, positions, num_weights, padding_idx, scale_grad_by_freq);
}

Tensor embedding_bag_per_sample_weights_backward(const Tensor& grad, const Tensor& weight, const Tensor& input,
                                                 const EmbeddingBagResult& forward,
                                                 std::optional<int64_t> padding_idx) {
  check_bag_gradient(grad, input, forward, "embedding_bag_per_sample_weights_backward");
  NORMRT_CHECK(weight.defined() && weight.dim() == 2 && weight.size(1) == grad.size(1),
               "embedding_bag_per_sample_weights_backward: weight of shape ",
               shape_str(weight.defined() ? weight.sizes() : Shape{}), " does not have grad's ", grad.size(1),
               " columns");
  const auto [positions, bag_of] = bagged_positions(input, forward);
  const Tensor dots =
      sum(mul(index_select(grad, 0, bag_of).to(DType::Float32), embedding(weight, positions).to(DType::Float32)), 1);
  Tensor result = dots.to(grad.dtype());
  if (padding_idx) {
    const int64_t padding = *padding_idx < 0 ? *padding_idx + weight.size(0) : *padding_idx;
    result = where(eq(positions, padding), 0.0, dots).to(grad.dtype());
  }
  if (forward.bagged < input.numel())  // positions in no bag: 0
    result = cat({result, zeros({input.numel() - forward.bagged}, TensorOptions(grad.device()).dtype(grad.dtype()))});
  return result.reshape(input.sizes());
}

}  // namespace normrt::ops
