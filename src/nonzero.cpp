// The selections (normrt/ops/nonzero.h): argument checks in PyTorch's order and words, then one scheme on both devices.
// The flat indices are cut into tiles; each tile's selected elements are counted, the counts scanned into each tile's
// first place (the total last), and each tile places its elements from there in flat order: no atomics, so the same
// result every run, and parallel on both sides (OpenMP tiles here, kernels/nonzero.cu's blocks on a GPU). Operands are
// read through a broadcast plan (src/broadcast_plan.h), so broadcast and channels-last ones are never copied.
#include "normrt/ops/nonzero.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "broadcast_plan.h"
#include "cpu_threads.h"
#include "nonzero_math.cuh"
#include "normrt/ops/comparison.h"
#include "normrt/ops/elementwise.h"
#include "normrt/ops/scatter_gather.h"
#include "normrt/ops/tensor_ops.h"
#include "op_util.h"
#if NORMRT_WITH_CUDA
#include "nonzero.cuh"
#endif

namespace normrt::ops {

namespace {

// body(U{value_bits}): U the unsigned integer of the dtype's size, value_bits the bits that make its value nonzero
// (nzmath::nonzero_bits).
template <typename Body>
void dispatch_value_bits(DType dtype, Body body) {
  switch (dtype) {
    case DType::Bool: return body(uint8_t{0xff});
    case DType::Float16:
    case DType::BFloat16: return body(uint16_t{0x7fff});
    case DType::Float32: return body(uint32_t{0x7fffffff});
    case DType::Int64: return body(~uint64_t{0});
  }
}

constexpr int64_t kCpuTile = int64_t{1} << 16;

int64_t cpu_tiles(int64_t n) { return (n + kCpuTile - 1) / kCpuTile; }

// body(i, at) for the flat indices i in [lo, hi) of the plan, at[k] the offset of operand k: each run of the last
// dimension stepped through, not recomputed per element.
template <typename Body>
void walk(const cmpmath::Plan& p, int64_t lo, int64_t hi, Body body) {
  const int last = p.ndim - 1;
  const int64_t length = p.ndim == 0 ? 1 : p.sizes[last];
  int64_t steps[cmpmath::kOperands] = {};
  for (int k = 0; k < cmpmath::kOperands && last >= 0; ++k) steps[k] = p.strides[k][last];
  for (int64_t i = lo; i < hi;) {
    int64_t at[cmpmath::kOperands];
    cmpmath::offsets(p, i, at);
    for (const int64_t end = std::min(hi, (i / length + 1) * length); i < end; ++i) {
      body(i, at);
      for (int k = 0; k < cmpmath::kOperands; ++k) at[k] += steps[k];
    }
  }
}

// Where each tile's selected elements start, the total last: CPU tiles of kCpuTile flat indices in `host`, or the
// kernels' tiles (kernels/nonzero.cuh) in `device`, with the total read back.
struct Starts {
  std::vector<int64_t> host;
  Tensor device;
  int64_t total = 0;
};

// `what` (a count, an index's range) is read back to the host, which a capture cannot do: refused by name.
void check_not_capturing(const Tensor& t, const char* op, const char* what = "the result's size") {
#if NORMRT_WITH_CUDA
  if (t.device().is_cuda())
    NORMRT_CHECK(!util::capturing(t.device()), op, ": ", what, " is read back to the host, which a CUDA graph ",
                 "capture cannot do");
#else
  (void)t;
  (void)op;
  (void)what;
#endif
}

// Where each kernel tile's elements of `flags` (operand 0 of the plan) that hold a nonzero value start, the total last,
// queued on `on`'s device.
#if NORMRT_WITH_CUDA
template <typename U>
Tensor device_starts(const Tensor& on, const U* flags, U value_bits, const cmpmath::Plan& p) {
  const util::Launch l(on);
  Tensor starts = empty({cuda::select_tiles(p.numel) + 1}, TensorOptions(on.device()).dtype(DType::Int64));
  cuda::count_selected(flags, value_bits, p, starts.data<int64_t>(), l.stream);
  return starts;
}
#endif

// The same for the CPU's tiles, counted in parallel.
template <typename U>
std::vector<int64_t> host_starts(const U* flags, U value_bits, const cmpmath::Plan& p) {
  const int64_t tiles = cpu_tiles(p.numel);
  std::vector<int64_t> starts(static_cast<std::size_t>(tiles) + 1, 0);
#pragma omp parallel for schedule(static) if (tiles > 1)
  for (int64_t k = 0; k < tiles; ++k) {
    int64_t count = 0;
    walk(p, k * kCpuTile, std::min(p.numel, (k + 1) * kCpuTile),
         [&](int64_t, const int64_t* at) { count += nzmath::nonzero_bits(flags[at[0]], value_bits) ? 1 : 0; });
    starts[static_cast<std::size_t>(k) + 1] = count;
  }
  for (std::size_t k = 0; k < static_cast<std::size_t>(tiles); ++k) starts[k + 1] += starts[k];
  return starts;
}

// The starts on `on`'s device and their total, read back to the host.
template <typename U>
Starts count_selected_on(const Tensor& on, const U* flags, U value_bits, const cmpmath::Plan& p, const char* op) {
  check_not_capturing(on, op);
  Starts starts;
  if (on.device().is_cuda()) {
#if NORMRT_WITH_CUDA
    starts.device = device_starts(on, flags, value_bits, p);
    starts.total = detail::leading_rows(starts.device, starts.device.numel() - 1, 1).item<int64_t>();
#else
    util::no_cuda(op);
#endif
    return starts;
  }
  starts.host = host_starts(flags, value_bits, p);
  starts.total = starts.host.back();
  return starts;
}

// place(i, at, j) for the j-th selected element (selected(at), in the plan's flat order), each CPU tile from its
// start, in parallel.
template <typename Selected, typename Place>
void place_on_cpu(const cmpmath::Plan& p, const Starts& starts, Selected selected, Place place) {
  const int64_t tiles = cpu_tiles(p.numel);
#pragma omp parallel for schedule(static) if (tiles > 1)
  for (int64_t k = 0; k < tiles; ++k) {
    int64_t next = starts.host[static_cast<std::size_t>(k)];
    if (starts.host[static_cast<std::size_t>(k) + 1] == next) continue;
    walk(p, k * kCpuTile, std::min(p.numel, (k + 1) * kCpuTile), [&](int64_t i, const int64_t* at) {
      if (selected(at)) place(i, at, next++);
    });
  }
}

const uint8_t* mask_flags(const Tensor& mask) { return static_cast<const uint8_t*>(mask.raw_data()); }

// Whether two tensors' memory overlaps (a tensor and itself, or views of one storage).
bool overlaps(const Tensor& a, const Tensor& b) {
  if (a.device() != b.device() || a.nbytes() == 0 || b.nbytes() == 0) return false;
  const auto x = reinterpret_cast<uintptr_t>(a.raw_data()), y = reinterpret_cast<uintptr_t>(b.raw_data());
  return x < y + b.nbytes() && y < x + a.nbytes();
}

void check_scatter_source(const Tensor& t, const Tensor& source) {
  NORMRT_CHECK(t.dtype() == source.dtype(), "masked_scatter: expected self and source to have same dtypes but got",
               util::scalar_type_name(t.dtype()), " and ", util::scalar_type_name(source.dtype()));
}

// A mask of another dtype is refused: PyTorch 1.13 takes it and scatters by its bytes.
void check_scatter_mask(const Tensor& mask) {
  NORMRT_CHECK(mask.dtype() == DType::Bool, "masked_scatter_ only supports boolean masks, but got mask with dtype ",
               util::scalar_type_name(mask.dtype()));
}

// The mask's selected elements (operand 1 of the plan, in its flat order) moved: gathered from `from` (operand 0) into
// `to` (dense, in selection order) for masked_select, or scattered from `from` (dense) into `to` (operand 0) for
// masked_scatter_.
void move_selected(const Tensor& mask, const Starts& starts, const cmpmath::Plan& p, const Tensor& from, Tensor& to,
                   bool scatter) {
  const uint8_t* flags = mask_flags(mask);
  util::dispatch_bits(to.dtype(), [&](auto nan) {
    using V = decltype(nan);
    const auto* source = static_cast<const V*>(from.raw_data());
    auto* target = static_cast<V*>(to.raw_data());
    if (to.device().is_cuda()) {
#if NORMRT_WITH_CUDA
      const util::Launch l(to);
      cuda::move_selected(reinterpret_cast<const bool*>(flags), source, p, starts.device.data<int64_t>(), target,
                          scatter, l.stream);
#endif
    } else if (scatter) {
      place_on_cpu(
          p, starts, [&](const int64_t* at) { return flags[at[1]] != 0; },
          [&](int64_t, const int64_t* at, int64_t j) { target[at[0]] = source[j]; });
    } else {
      place_on_cpu(
          p, starts, [&](const int64_t* at) { return flags[at[1]] != 0; },
          [&](int64_t, const int64_t* at, int64_t j) { target[j] = source[at[0]]; });
    }
  });
}

}  // namespace

Tensor nonzero(const Tensor& t) {
  NORMRT_CHECK(t.defined(), "nonzero takes a defined tensor");
  const cmpmath::Plan p = detail::broadcast_plan(t.sizes(), MemoryFormat::Contiguous, {&t});
  nzmath::Sizes s;
  s.ndim = static_cast<int>(t.dim());
  for (int d = 0; d < s.ndim; ++d) s.sizes[d] = t.size(d);
  Tensor out;
  dispatch_value_bits(t.dtype(), [&](auto value_bits) {
    using U = decltype(value_bits);
    const auto* flags = static_cast<const U*>(t.raw_data());
    const Starts starts = count_selected_on(t, flags, value_bits, p, "nonzero");
    out = empty({starts.total, t.dim()}, TensorOptions(t.device()).dtype(DType::Int64));
    if (out.numel() == 0) return;
    int64_t* positions = out.data<int64_t>();
    if (t.device().is_cuda()) {
#if NORMRT_WITH_CUDA
      const util::Launch l(t);
      cuda::selected_positions(flags, value_bits, p, s, starts.device.data<int64_t>(), positions, l.stream);
#endif
    } else {
      // Each tile's coordinates counted up element by element from its first one's: no divisions per element.
      const int64_t tiles = cpu_tiles(p.numel);
#pragma omp parallel for schedule(static) if (tiles > 1)
      for (int64_t k = 0; k < tiles; ++k) {
        int64_t next = starts.host[static_cast<std::size_t>(k)];
        if (starts.host[static_cast<std::size_t>(k) + 1] == next) continue;
        int64_t coordinates[nzmath::kMaxDims];
        nzmath::unravel(s, k * kCpuTile, coordinates);
        walk(p, k * kCpuTile, std::min(p.numel, (k + 1) * kCpuTile), [&](int64_t, const int64_t* at) {
          if (nzmath::nonzero_bits(flags[at[0]], value_bits)) {
            int64_t* row = positions + next++ * s.ndim;
            for (int d = 0; d < s.ndim; ++d) row[d] = coordinates[d];  // a loop, not a memmove call per element
          }
          for (int d = s.ndim - 1; d >= 0 && ++coordinates[d] == s.sizes[d]; --d) coordinates[d] = 0;
        });
      }
    }
  });
  return out;
}

Tensor argwhere(const Tensor& t) { return nonzero(t); }

// Declared with the comparisons (normrt/ops/comparison.h): the selections' count, in any order (so t's own), without
// a bool tensor of t's size between; on a GPU the device's total, not waited for.
Tensor count_nonzero(const Tensor& t) {
  NORMRT_CHECK(t.defined(), "count_nonzero takes a defined tensor");
  const cmpmath::Plan p = detail::broadcast_plan(t.sizes(), t.memory_format(), {&t});
  Tensor count;
  dispatch_value_bits(t.dtype(), [&](auto value_bits) {
    using U = decltype(value_bits);
    const auto* flags = static_cast<const U*>(t.raw_data());
    if (t.device().is_cuda()) {
#if NORMRT_WITH_CUDA
      const Tensor starts = device_starts(t, flags, value_bits, p);
      count = detail::leading_rows(starts, starts.numel() - 1, 1).reshape({});
#else
      util::no_cuda("count_nonzero");
#endif
    } else {
      count = full({}, host_starts(flags, value_bits, p).back(), TensorOptions().dtype(DType::Int64));
    }
  });
  return count;
}

std::vector<Tensor> nonzero_as_tuple(const Tensor& t) {
  const Tensor positions = nonzero(t.dim() == 0 ? t.reshape({1}) : t);
  std::vector<Tensor> columns;
  for (int64_t d = 0; d < positions.size(1); ++d) columns.push_back(select(positions, 1, d));
  return columns;
}

Tensor masked_select(const Tensor& t, const Tensor& mask) {
  NORMRT_CHECK(t.defined() && mask.defined(), "masked_select: self and mask must be defined");
  NORMRT_CHECK(mask.dtype() == DType::Bool, "masked_select: expected BoolTensor or ByteTensor for mask");
  const Shape shape = broadcast_shape(mask.sizes(), t.sizes());
  util::check_same_device(t, mask);
  // The counts walk the mask alone, the values both: the same flat order, so the same tiles.
  const cmpmath::Plan by_mask = detail::broadcast_plan(shape, MemoryFormat::Contiguous, {&mask});
  const cmpmath::Plan p = detail::broadcast_plan(shape, MemoryFormat::Contiguous, {&t, &mask});
  const Starts starts = count_selected_on(t, mask_flags(mask), uint8_t{0xff}, by_mask, "masked_select");
  Tensor out = empty({starts.total}, TensorOptions(t.device()).dtype(t.dtype()));
  if (starts.total > 0) move_selected(mask, starts, p, t, out, false);
  return out;
}

Tensor& masked_scatter_(Tensor& t, const Tensor& mask, const Tensor& source) {
  NORMRT_CHECK(t.defined() && mask.defined() && source.defined(),
               "masked_scatter: self, mask and source must be defined");
  check_scatter_source(t, source);
  detail::expanded_sizes(mask, t.sizes());  // refused in expand's words
  check_scatter_mask(mask);
  util::check_same_device(t, mask);
  util::check_same_device(t, source);
  const cmpmath::Plan by_mask = detail::broadcast_plan(t.sizes(), MemoryFormat::Contiguous, {&mask});
  const Starts starts = count_selected_on(t, mask_flags(mask), uint8_t{0xff}, by_mask, "masked_scatter_");
  NORMRT_CHECK(source.numel() >= starts.total, "Number of elements of source < number of ones in mask");
  if (starts.total == 0) return t;
  const cmpmath::Plan p = detail::broadcast_plan(t.sizes(), MemoryFormat::Contiguous, {&t, &mask});
  // A source in self's memory is read before any of it is written (PyTorch's loop reads what it has just written).
  move_selected(mask, starts, p, overlaps(source, t) ? source.clone().contiguous() : source.contiguous(), t, true);
  t.bump_version();
  return t;
}

Tensor masked_scatter(const Tensor& t, const Tensor& mask, const Tensor& source) {
  NORMRT_CHECK(t.defined() && mask.defined() && source.defined(),
               "masked_scatter: self, mask and source must be defined");
  const Shape shape = broadcast_shape(mask.sizes(), t.sizes());
  check_scatter_source(t, source);
  check_scatter_mask(mask);
  util::check_same_device(t, mask);
  Tensor out = broadcast_to(t, shape);
  return masked_scatter_(out, mask, source);
}

namespace {

// What an index tensor picks of t: the entries (rows) of t's first `leading` dimensions, flattened, as an int64
// vector on t's device, and the shape of t[indices].
struct Picked {
  Tensor rows;
  Shape shape;
  int64_t leading = 0;
};

// The rows of a mask or an int64 index, checked in PyTorch's order: the index's rank and dtype, then a mask's sizes;
// the entries' range is check_rows' (after the values' checks, in index_put_).
void check_index(const Tensor& t, const Tensor& indices) {
  NORMRT_CHECK(t.defined() && indices.defined(), "index: self and indices must be defined");
  // Only a mask indexes a 0-dim tensor: anything else is one index too many, before its dtype is looked at.
  NORMRT_CHECK(t.dim() > 0 || indices.dtype() == DType::Bool, "too many indices for tensor of dimension 0");
  NORMRT_CHECK(indices.dtype() == DType::Int64 || indices.dtype() == DType::Bool,
               "tensors used as indices must be long, byte or bool tensors");
  util::check_same_device(t, indices);
  if (indices.dtype() != DType::Bool) return;
  NORMRT_CHECK(indices.dim() <= t.dim(), "too many indices for tensor of dimension ", t.dim());
  for (int64_t d = 0; d < indices.dim(); ++d)
    NORMRT_CHECK(indices.size(d) == t.size(d), "The shape of the mask ", shape_str(indices.sizes()), " at index ", d,
                 " does not match the shape of the indexed tensor ", shape_str(t.sizes()), " at index ", d);
}

Picked picked_rows(const Tensor& t, const Tensor& indices) {
  check_index(t, indices);
  Picked p;
  if (indices.dtype() == DType::Bool) {
    p.leading = indices.dim();
    p.rows = nonzero(indices.reshape({indices.numel()})).reshape({-1});
    p.shape = {p.rows.numel()};
  } else {
    p.leading = 1;
    p.rows = indices.contiguous().reshape({indices.numel()});
    p.shape = indices.sizes();
  }
  p.shape.insert(p.shape.end(), t.sizes().begin() + p.leading, t.sizes().end());
  return p;
}

// An int64 index's entries within dim 0 of t (the first one outside refused, as PyTorch's words name it: a 0-dim index
// is an integer, whose words are select's), negative ones counted from its end.
void check_rows(const Tensor& t, const Tensor& indices, Picked& p, const char* op) {
  if (indices.dtype() == DType::Bool || p.rows.numel() == 0) return;
  check_not_capturing(t, op, "the index's range");
  const int64_t size = t.size(0);
  NORMRT_CHECK(size > 0 || indices.dim() == 0, "index is out of bounds for dimension with size 0");
  if (ops::min(p.rows).item<int64_t>() < -size || ops::max(p.rows).item<int64_t>() >= size) {
    for (const int64_t row : p.rows.to_vector<int64_t>())
      NORMRT_CHECK(row >= -size && row < size, "index ", row, " is out of bounds for dimension 0 with size ", size);
  }
  p.rows = where(lt(p.rows, 0), p.rows + size, p.rows);
}

// t as a matrix of its picked dimensions' entries by the rest, contiguous.
Tensor as_rows(const Tensor& t, int64_t leading) {
  int64_t rows = 1, width = 1;
  for (int64_t d = 0; d < t.dim(); ++d) (d < leading ? rows : width) *= t.size(d);
  return t.contiguous().reshape({rows, width});
}

// Row rows[j] of m (width elements each) set to, or combined with, row j of v, for j in order: each element meets its
// values in index order, as PyTorch's CPU loop adds them. Threads take blocks of columns, so the order holds.
template <typename T, typename Combine>
void put_rows(T* m, const T* v, const int64_t* rows, int64_t count, int64_t width, Combine combine) {
  constexpr int64_t kBlock = 1024;
  const int64_t blocks = (width + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(static) if (blocks > 1 && cpu::worth_parallel(count * width))
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t lo = b * kBlock, hi = std::min(width, lo + kBlock);
    for (int64_t j = 0; j < count; ++j) {
      T* to = m + rows[j] * width;
      const T* from = v + j * width;
      for (int64_t c = lo; c < hi; ++c) to[c] = combine(to[c], from[c]);
    }
  }
}

// index_put_'s rows on the CPU: copied (a repeat's last wins), or added in the dtype, rounding at each addition
// (int64 wrapping, bool as an or).
void put_rows_on_cpu(Tensor& matrix, const Tensor& v, const Tensor& rows, bool accumulate) {
  const int64_t count = rows.numel(), width = matrix.size(1);
  const int64_t* r = rows.data<int64_t>();
  if (!accumulate) {
    util::dispatch_bits(matrix.dtype(), [&](auto nan) {
      using B = decltype(nan);
      put_rows(static_cast<B*>(matrix.raw_data()), static_cast<const B*>(v.raw_data()), r, count, width,
               [](B, B x) { return x; });
    });
    return;
  }
  const auto rounded = [](auto a, auto b) { return decltype(a)(static_cast<float>(a) + static_cast<float>(b)); };
  switch (matrix.dtype()) {
    case DType::Float32:
      put_rows(matrix.data<float>(), v.data<float>(), r, count, width, [](float a, float b) { return a + b; });
      break;
    case DType::Float16: put_rows(matrix.data<Half>(), v.data<Half>(), r, count, width, rounded); break;
    case DType::BFloat16: put_rows(matrix.data<BFloat16>(), v.data<BFloat16>(), r, count, width, rounded); break;
    case DType::Int64:
      put_rows(matrix.data<int64_t>(), v.data<int64_t>(), r, count, width, [](int64_t a, int64_t b) {
        return static_cast<int64_t>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
      });
      break;
    case DType::Bool:
      put_rows(matrix.data<bool>(), v.data<bool>(), r, count, width, [](bool a, bool b) { return a || b; });
      break;
  }
}

// t[mask] on the CPU: each tile of the mask copies its rows as it is walked, without a tensor of their positions.
Tensor rows_where(const Tensor& t, const Tensor& mask) {
  const Tensor flags = mask.reshape({mask.numel()});
  const cmpmath::Plan p = detail::broadcast_plan(flags.sizes(), MemoryFormat::Contiguous, {&flags});
  Starts starts;
  starts.host = host_starts(mask_flags(flags), uint8_t{0xff}, p);
  Shape shape = {starts.host.back()};
  shape.insert(shape.end(), t.sizes().begin() + mask.dim(), t.sizes().end());
  Tensor out = empty(shape, TensorOptions().dtype(t.dtype()));
  const Tensor matrix = as_rows(t, mask.dim());
  const std::size_t row = static_cast<std::size_t>(matrix.size(1)) * element_size(t.dtype());
  const auto* from = static_cast<const char*>(matrix.raw_data());
  auto* to = static_cast<char*>(out.raw_data());
  const uint8_t* selected = mask_flags(flags);
  place_on_cpu(
      p, starts, [&](const int64_t* at) { return selected[at[0]] != 0; },
      [&](int64_t i, const int64_t*, int64_t j) {
        std::memcpy(to + static_cast<std::size_t>(j) * row, from + static_cast<std::size_t>(i) * row, row);
      });
  return out;
}

// A one-element tensor's value as item() gives it: an integer for int64 and bool, a double for the floating dtypes.
Scalar item_of(const Tensor& t) {
  if (t.dtype() == DType::Int64) return t.item<int64_t>();
  if (t.dtype() == DType::Bool) return int64_t{t.item<bool>()};
  return t.item<double>();
}

}  // namespace

Tensor index(const Tensor& t, const Tensor& indices) {
  if (t.defined() && indices.defined() && indices.dtype() == DType::Bool && !t.device().is_cuda()) {
    check_index(t, indices);
    return rows_where(t, indices);
  }
  Picked p = picked_rows(t, indices);
  check_rows(t, indices, p, "index");
  return index_select(as_rows(t, p.leading), 0, p.rows).reshape(p.shape);
}

Tensor& index_put_(Tensor& t, const Tensor& indices, const Tensor& values, bool accumulate) {
  NORMRT_CHECK(values.defined(), "index_put_: values must be defined");
  if (!accumulate && t.defined() && indices.defined() && indices.dtype() == DType::Bool && indices.dim() > 0 &&
      values.numel() == 1) {
    // PyTorch fills through a mask with one value as masked_fill_ does: the value of any dtype, converted as fill_
    // converts it, the mask over t's leading dimensions (a 0-dim mask is an index to it, its value of t's dtype).
    check_index(t, indices);
    util::check_same_device(t, values);
    Shape aligned = indices.sizes();
    aligned.resize(static_cast<std::size_t>(t.dim()), 1);
    return masked_fill_(t, indices.reshape(aligned), item_of(values));
  }
  Picked p = picked_rows(t, indices);
  NORMRT_CHECK(values.dtype() == t.dtype(), "Index put requires the source and destination dtypes match, got ",
               util::scalar_type_name(t.dtype()), " for the destination and ", util::scalar_type_name(values.dtype()),
               " for the source.");
  util::check_same_device(t, values);
  NORMRT_CHECK(!overlaps(t, values), "unsupported operation: some elements of the input tensor and the written-to ",
               "tensor refer to a single memory location. Please clone() the tensor before performing the operation.");
  // Values broadcast to the result's shape, their leading ones dropped first (as Python's setitem drops them).
  Shape sizes = values.sizes();
  while (!sizes.empty() && sizes.front() == 1 && sizes.size() > p.shape.size()) sizes.erase(sizes.begin());
  bool broadcasts = sizes.size() <= p.shape.size();
  for (std::size_t d = 1; broadcasts && d <= sizes.size(); ++d)
    broadcasts = sizes[sizes.size() - d] == 1 || sizes[sizes.size() - d] == p.shape[p.shape.size() - d];
  NORMRT_CHECK(broadcasts, "shape mismatch: value tensor of shape ", shape_str(values.sizes()),
               " cannot be broadcast to indexing result of shape ", shape_str(p.shape));
  check_rows(t, indices, p, "index_put_");
  Tensor matrix = as_rows(t, p.leading);
  const int64_t count = p.rows.numel(), width = matrix.size(1);
  const Tensor shaped = values.reshape(sizes);
  const Tensor v = (sizes == p.shape ? shaped.contiguous() : broadcast_to(shaped, p.shape)).reshape({count, width});
  if (t.device().is_cuda()) {
    // A scatter along the rows: each value to its row's entry of its column, in order (the device's sort keeps it).
    const Tensor index = broadcast_to(p.rows.reshape({count, 1}), {count, width});
    if (accumulate) {
      scatter_add_(matrix, 0, index, v);
    } else {
      scatter_(matrix, 0, index, v);
    }
  } else {
    put_rows_on_cpu(matrix, v, p.rows, accumulate);
  }
  if (!t.is_contiguous()) t.copy_(matrix.reshape(t.sizes()));
  t.bump_version();
  return t;
}

Tensor index_put(const Tensor& t, const Tensor& indices, const Tensor& values, bool accumulate) {
  Tensor out = t.defined() ? t.clone() : t;
  return index_put_(out, indices, values, accumulate);
}

}  // namespace normrt::ops
