// normrt::ops gather and the scatters (assign, add, reduce): PyTorch 1.13's checks in its order and words
// (ScatterGatherChecks: a 0-dim tensor seen as one element of one dimension, nothing but the dtypes checked for an
// empty index), then on the CPU: a gather's positions in memory order over the threads; a scatter in PyTorch's order,
// each line of the index along dim in index order, blocks of lines over the threads (a line's positions write elements
// no other line writes); on a device kernels/scatter_gather.cu, which applies them in the same order.
#include "normrt/ops/scatter_gather.h"

#include <omp.h>

#include <algorithm>
#include <string_view>
#include <vector>

#include "cpu_threads.h"
#include "device_groups.h"
#include "normrt/error.h"
#include "op_util.h"
#include "scatter_gather_math.cuh"
#if NORMRT_WITH_CUDA
#include "scatter_gather.cuh"
#endif

namespace normrt::ops {

namespace {

static_assert(scattermath::kMaxDims == kMaxDims);

int64_t nonempty_dim(const Tensor& t) { return std::max<int64_t>(t.dim(), 1); }
// PyTorch's ensure_nonempty_size: t.size(d) (its "Dimension out of range" beyond t's dimensions), 1 for a 0-dim t.
int64_t nonempty_size(const Tensor& t, int64_t d) { return t.dim() == 0 ? 1 : t.size(d); }

// Row-major strides of t's sizes as `dims` dimensions (a 0-dim t: one of size 1).
void row_major_strides(const Tensor& t, int dims, int64_t* strides) {
  int64_t stride = 1;
  for (int d = dims - 1; d >= 0; --d) {
    strides[d] = stride;
    stride *= nonempty_size(t, d);
  }
}

scattermath::Geometry geometry(const Tensor& index, int64_t dim, const Tensor& target, const Tensor* src) {
  scattermath::Geometry g;
  g.dims = static_cast<int>(nonempty_dim(index));
  g.dim = static_cast<int>(dim);
  g.n = index.numel();
  g.bound = nonempty_size(target, dim);
  for (int d = 0; d < g.dims; ++d) g.sizes[d] = nonempty_size(index, d);
  row_major_strides(target, g.dims, g.target_strides);
  if (src) row_major_strides(*src, g.dims, g.source_strides);
  return g;
}

void check_index_dtype(const Tensor& index, const char* op) {
  NORMRT_CHECK(index.dtype() == DType::Int64, op, "(): Expected dtype int64 for index");
}

// PyTorch's refusal of the first index out of range, in index order.
[[noreturn]] void refuse_first_out_of_range(const int64_t* at, const scattermath::Geometry& g) {
  const int64_t* bad = std::find_if(at, at + g.n, [&](int64_t v) { return !scattermath::in_range(g, v); });
  NORMRT_THROW("index ", *bad, " is out of bounds for dimension ", g.dim, " with size ", g.bound);
}

// The CPU's indices checked before a scatter writes anything.
void check_in_range(const int64_t* at, const scattermath::Geometry& g) {
  bool all_in_range = true;
#pragma omp parallel for simd reduction(&& : all_in_range) if (cpu::worth_parallel(g.n))
  for (int64_t p = 0; p < g.n; ++p) all_in_range = all_in_range && scattermath::in_range(g, at[p]);
  if (!all_in_range) refuse_first_out_of_range(at, g);
}

// scatter's checks (src null for a value); returns dim wrapped.
int64_t check_scatter(const Tensor& self, int64_t dim, const Tensor& index, const Tensor* src) {
  NORMRT_CHECK(self.defined() && index.defined() && (src == nullptr || src->defined()),
               "scatter: self, index and src must be defined");
  dim = util::wrap_dim(dim, nonempty_dim(self));
  check_index_dtype(index, "scatter");
  NORMRT_CHECK(src == nullptr || src->dtype() == self.dtype(),
               "scatter(): Expected self.dtype to be equal to src.dtype");
  util::check_same_device(self, index);
  if (src) util::check_same_device(self, *src);
  if (index.numel() == 0) return dim;
  const int64_t rank = nonempty_dim(self);
  NORMRT_CHECK(nonempty_dim(index) == rank, "Index tensor must have the same number of dimensions as self tensor");
  bool wrong_shape = false;
  for (int64_t d = 0; d < rank && !wrong_shape; ++d)
    wrong_shape = d != dim && nonempty_size(index, d) > nonempty_size(self, d);
  for (int64_t d = 0; src && d < rank && !wrong_shape; ++d)
    wrong_shape = nonempty_size(index, d) > nonempty_size(*src, d);
  if (src == nullptr) {
    NORMRT_CHECK(!wrong_shape, "Expected index ", shape_str(index.sizes()), " to be smaller than self ",
                 shape_str(self.sizes()), " apart from dimension ", dim);
    return dim;
  }
  NORMRT_CHECK(nonempty_dim(*src) == rank, "Index tensor must have the same number of dimensions as src tensor");
  NORMRT_CHECK(!wrong_shape, "Expected index ", shape_str(index.sizes()), " to be smaller than self ",
               shape_str(self.sizes()), " apart from dimension ", dim, " and to be smaller size than src ",
               shape_str(src->sizes()));
  return dim;
}

// Row-major strides of the index.
void index_strides(const scattermath::Geometry& g, int64_t* strides) {
  int64_t stride = 1;
  for (int d = g.dims - 1; d >= 0; --d) {
    strides[d] = stride;
    stride *= g.sizes[d];
  }
}

// The coordinates of the index's `row`-th row of its last dimension (0 along the last dimension).
void row_coordinates(const scattermath::Geometry& g, int64_t row, int64_t* coordinates) {
  coordinates[g.dims - 1] = 0;
  for (int d = g.dims - 2; d >= 0; --d) {
    coordinates[d] = row % g.sizes[d];
    row /= g.sizes[d];
  }
}

// The target's (or src's) offset of `coordinates` with 0 along dim.
int64_t offset_but_dim(const scattermath::Geometry& g, const int64_t* coordinates, const int64_t* strides) {
  int64_t offset = 0;
  for (int d = 0; d < g.dims; ++d) offset += d == g.dim ? 0 : coordinates[d] * strides[d];
  return offset;
}

// Steps `coordinates` to the next row of the last dimension.
void next_row(const scattermath::Geometry& g, int64_t* coordinates) {
  for (int d = g.dims - 2; d >= 0; --d) {
    if (++coordinates[d] < g.sizes[d]) return;
    coordinates[d] = 0;
  }
}

// The index's rows along its last dimension in memory order, groups of about 4096 positions over the threads:
// row(p, target, source) for the row starting at index position p, `target` and `source` the target's and src's
// offsets of its first position's coordinates with 0 along dim. Returns whether every row's did. A gather's positions
// are independent, so it walks its index this way whatever dim is; a scatter where dim is the last dimension (its rows
// are its lines, each walked in order by one thread).
template <typename Row>
bool for_each_row(const scattermath::Geometry& g, Row row) {
  const int64_t width = g.sizes[g.dims - 1], rows = g.n / width;
  const int64_t per_group = std::max<int64_t>(1, 4096 / width), groups = (rows + per_group - 1) / per_group;
  bool all = true;
#pragma omp parallel for schedule(static) reduction(&& : all) if (cpu::worth_parallel(g.n))
  for (int64_t group = 0; group < groups; ++group) {
    const int64_t first = group * per_group, end = std::min(rows, first + per_group);
    int64_t coordinates[scattermath::kMaxDims];
    row_coordinates(g, first, coordinates);
    for (int64_t r = first; r < end; ++r, next_row(g, coordinates))
      all = row(r * width, offset_but_dim(g, coordinates, g.target_strides),
                offset_but_dim(g, coordinates, g.source_strides)) &&
            all;
  }
  return all;
}

// For a scatter, whose positions along a line may hit one element more than once: the index's lines along dim over
// the threads, each line's positions in index order. Two shapes of walk:
// - dim the last dimension: each line is a row of the index, walked whole (for_each_row), along(p, target, source);
// - otherwise blocks of consecutive lines along the last dimension (their positions, targets and sources consecutive
//   too), walked in lockstep position by position (a block's lines write elements no other line writes):
//   across(p, target, source, count) for a block of `count` lines whose first is at p. A block is a whole row of the
//   last dimension where there are rows enough for the threads, else a part of one (at least 16 lines, a cache line
//   of float32 targets), so that every thread gets work.
// Each returns whether every index it read was in range. Offsets come from stepping coordinates.
template <typename Along, typename Across>
bool for_each_line(const scattermath::Geometry& g, Along along, Across across) {
  const int dim = g.dim, last = g.dims - 1;
  if (dim == last) return for_each_row(g, along);
  bool all = true;
  int64_t strides[scattermath::kMaxDims];
  index_strides(g, strides);
  // Rows of the last dimension in one slice along dim, and the blocks each is cut into.
  const int64_t width = g.sizes[last], rows = g.n / (width * g.sizes[dim]);
  const int64_t threads = cpu::worth_parallel(g.n) ? omp_get_max_threads() : 1;
  constexpr int64_t kMinBlock = 16;
  const int64_t cuts = std::min((threads + rows - 1) / rows, (width + kMinBlock - 1) / kMinBlock);
  const int64_t block = ((width + cuts - 1) / cuts + kMinBlock - 1) / kMinBlock * kMinBlock;
  const int64_t per_row = (width + block - 1) / block, blocks = rows * per_row;
#pragma omp parallel for schedule(static) reduction(&& : all) if (threads > 1)
  for (int64_t b = 0; b < blocks; ++b) {
    int64_t coordinates[scattermath::kMaxDims] = {}, rest = b / per_row;  // the row's, 0 along dim
    coordinates[last] = b % per_row * block;
    for (int d = last - 1; d >= 0; --d) {
      if (d == dim) continue;
      coordinates[d] = rest % g.sizes[d];
      rest /= g.sizes[d];
    }
    int64_t position = 0;
    for (int d = 0; d < g.dims; ++d) position += coordinates[d] * strides[d];
    all = across(position, offset_but_dim(g, coordinates, g.target_strides),
                 offset_but_dim(g, coordinates, g.source_strides), std::min(block, width - coordinates[last])) &&
          all;
  }
  return all;
}

// The rows' and lines' loops take their operands as restrict parameters, which the compiler keeps in registers. They
// stay scalar: GCC emits no gather instructions for x86-64's generic tuning, and its emulated vector gathers ran
// slower (scatter_add along dim 0: 1.13x slower vectorised, benchmarks/results/2026-12-07-cpu-session63.md).
//
// One row of the index's last dimension: along it the targets are adjacent when dim is the last dimension (kAlong),
// else a row's k-th position reads the target's k-th element of its row at the index's place along dim. The range
// test is a branch never taken; an index out of range reads element 0 and is reported by the returned bound check.
template <bool kAlong, typename Bits>
bool gather_row(const int64_t* __restrict at, const Bits* __restrict from, Bits* __restrict to, int64_t width,
                int64_t step, uint64_t bound) {
  bool all = true;
#pragma GCC unroll 4
  for (int64_t k = 0; k < width; ++k) {
    auto v = static_cast<uint64_t>(at[k]);
    if (__builtin_expect(v >= bound, 0)) {
      all = false;
      v = 0;
    }
    to[k] = kAlong ? from[v] : from[k + v * step];
  }
  return all;
}

// One line in order: positions along it may hit one element more than once. A position out of range writes nothing
// and is reported by the returned bound check (as gather's).
template <typename T, typename Apply>
bool scatter_along(const int64_t* __restrict at, const T* __restrict from, T* __restrict to, int64_t length,
                   int64_t step, int64_t along, uint64_t bound, Apply apply) {
  bool all = true;
  for (int64_t i = 0; i < length; ++i) {
    const auto v = static_cast<uint64_t>(at[i]);
    if (v < bound) {
      T& element = to[v * step];
      element = apply(element, from[i * along]);
    } else {
      all = false;
    }
  }
  return all;
}

// Lines side by side, position by position along them (the lines' elements are distinct); out of range as above.
template <typename T, typename Apply>
bool scatter_across(const int64_t* __restrict at, const T* __restrict from, T* __restrict to, int64_t count,
                    int64_t length, int64_t apart, int64_t step, int64_t along, uint64_t bound, Apply apply) {
  bool all = true;
  for (int64_t i = 0; i < length; ++i, at += apart, from += along) {
    for (int64_t k = 0; k < count; ++k) {
      const auto v = static_cast<uint64_t>(at[k]);
      if (__builtin_expect(v < bound, 1)) {
        T& element = to[k + v * step];
        element = apply(element, from[k]);
      } else {
        all = false;
      }
    }
  }
  return all;
}

// apply(element, value) at each position in range in index order (for_each_line); whether all were in range.
template <typename T, typename Apply>
bool scatter_lines(const scattermath::Geometry& g, const int64_t* index, const T* src, T* self, Apply apply) {
  int64_t strides[scattermath::kMaxDims];
  index_strides(g, strides);
  const int64_t length = g.sizes[g.dim], apart = strides[g.dim], step = g.target_strides[g.dim];
  const int64_t along = g.source_strides[g.dim];
  const auto bound = static_cast<uint64_t>(g.bound);
  return for_each_line(
      g,
      [&](int64_t p, int64_t target, int64_t source) {
        return scatter_along(index + p, src + source, self + target, length, step, along, bound, apply);
      },
      [&](int64_t p, int64_t target, int64_t source, int64_t count) {
        return scatter_across(index + p, src + source, self + target, count, length, apart, step, along, bound, apply);
      });
}

// What a scatter does at each position: writes src's value, or reduces it into the element.
struct Combine {
  bool assign = false;
  scattermath::Reduce reduce = scattermath::Reduce::Sum;
  bool include_self = true;
};
constexpr Combine kAssign{true}, kAdd{};

// reduce's step as a function of (element, value), for the CPU's loops.
template <typename T, typename Use>
void with_step(scattermath::Reduce reduce, Use use) {
  switch (reduce) {
    case scattermath::Reduce::Prod: return use([](T acc, T x) { return scattermath::multiply(acc, x); });
    case scattermath::Reduce::Amax: return use([](T acc, T x) { return scattermath::maximum(acc, x); });
    case scattermath::Reduce::Amin: return use([](T acc, T x) { return scattermath::minimum(acc, x); });
    default: return use([](T acc, T x) { return scattermath::add(acc, x); });
  }
}

// The CPU's reduction of T: without include_self the elements scattered to first take the identity (as PyTorch fills
// them), then the values are reduced in; a mean counts each element's positions in T and divides. Returns false at
// the first pass that met an index out of range.
template <typename T>
bool reduce_on_cpu(const scattermath::Geometry& g, const int64_t* at, const T* src, T* self, int64_t elements,
                   const Combine& how) {
  if (!how.include_self) {
    const T identity = scattermath::identity<T>(how.reduce);
    if (!scatter_lines(g, at, src, self, [identity](T, T) { return identity; })) return false;
  }
  bool all_in_range = true;
  with_step<T>(how.reduce, [&](auto step) { all_in_range = scatter_lines(g, at, src, self, step); });
  if (!all_in_range || how.reduce != scattermath::Reduce::Mean) return all_in_range;
  std::vector<T> counts(static_cast<std::size_t>(elements), T(how.include_self ? 1 : 0));
  scatter_lines(g, at, src, counts.data(), [](T count, T) { return scattermath::add(count, T(1)); });
#pragma omp parallel for if (cpu::worth_parallel(elements))
  for (int64_t e = 0; e < elements; ++e)
    if (static_cast<float>(counts[e]) != 0.0f) self[e] = scattermath::mean_of(self[e], counts[e]);
  return true;
}

// self (contiguous) updated at the positions of idx (contiguous) from source (contiguous), as `how` says. On the CPU
// an index out of range is refused: before anything is written when check_first, else after the others were written.
void scatter_contiguous(Tensor& self, const Tensor& idx, const Tensor& source, const scattermath::Geometry& g,
                        const Combine& how, bool check_first) {
  if (self.device().is_cuda()) {
#if NORMRT_WITH_CUDA
    const util::Launch l(self);
    const int64_t elements = self.numel();
    Tensor targets = empty({g.n}, TensorOptions(self.device()).dtype(DType::Int64));
    cuda::scatter_targets(idx.data<int64_t>(), g, targets.data<int64_t>(), l.sms, l.stream);
    const detail::DeviceSortedRows sorted = detail::sort_on_device(targets, elements, l.stream);
    const cuda::ScatterParams p{
        self.raw_data(), source.raw_data(), sorted.keys, sorted.order.data<int64_t>(), elements, g,
        how.reduce,      how.include_self};
    if (how.assign) {
      util::dispatch_bits(self.dtype(),
                          [&](auto fill) { cuda::scatter_assign<decltype(fill)>(p, l.sms, l.stream); });
    } else if (self.dtype() == DType::Int64) {
      cuda::scatter_reduce<int64_t>(p, l.sms, l.stream);
    } else {
      util::dispatch_element(self.dtype(),
                             [&](auto element) { cuda::scatter_reduce<decltype(element)>(p, l.sms, l.stream); });
    }
#else
    util::no_cuda("scatter");
#endif
    return;
  }
  const int64_t* at = idx.data<int64_t>();
  if (check_first) check_in_range(at, g);
  bool all_in_range = true;
  if (how.assign) {
    util::dispatch_bits(self.dtype(), [&](auto fill) {
      using Bits = decltype(fill);
      all_in_range = scatter_lines(g, at, static_cast<const Bits*>(source.raw_data()),
                                   static_cast<Bits*>(self.raw_data()), [](Bits, Bits value) { return value; });
    });
  } else if (self.dtype() == DType::Int64) {
    all_in_range = reduce_on_cpu(g, at, source.data<int64_t>(), self.data<int64_t>(), self.numel(), how);
  } else {
    util::dispatch_element(self.dtype(), [&](auto element) {
      using T = decltype(element);
      all_in_range = reduce_on_cpu(g, at, source.data<T>(), self.data<T>(), self.numel(), how);
    });
  }
  if (!all_in_range) refuse_first_out_of_range(at, g);
}

// self's elements at index's positions from src (checked), in place whatever self's memory format. `fresh`: self is
// the caller's own new tensor, thrown away on a refusal.
Tensor& scatter_checked(Tensor& self, int64_t dim, const Tensor& index, const Tensor& src, const Combine& how,
                        bool fresh = false) {
  if (index.numel() == 0) return self;
  NORMRT_CHECK(how.assign || self.dtype() != DType::Bool, "scatter: bool reductions go through int64");
  const Tensor idx = index.contiguous();
  // src sharing self's memory is read as it was before the scatter.
  const Tensor source = src.raw_data() == self.raw_data() ? src.contiguous().clone() : src.contiguous();
  Tensor work = self.contiguous();
  // A refusal leaves self as it was. Indices are checked as they are read where the writes go to memory a refusal
  // throws away: a fresh self, the copy of a non-contiguous one, or a copy of a self smaller than half the index
  // (copying it costs less than reading the index twice); otherwise all of them before anything is written.
  bool scratch = fresh || !work.is_same(self);
  if (!scratch && !self.device().is_cuda() && 2 * self.nbytes() < idx.nbytes()) {
    work = self.clone();
    scratch = true;
  }
  scatter_contiguous(work, idx, source, geometry(idx, dim, work, &source), how, !scratch);
  if (work.is_same(self))
    self.bump_version();
  else
    self.copy_(work);
  return self;
}

// What out-of-place scatters start from: PyTorch's is contiguous whatever self's memory format.
Tensor contiguous_copy(const Tensor& self) {
  if (!self.defined()) return self;
  return self.is_contiguous() ? self.clone() : self.contiguous();
}

}  // namespace

Tensor gather(const Tensor& input, int64_t dim, const Tensor& index) {
  NORMRT_CHECK(input.defined() && index.defined(), "gather: input and index must be defined");
  dim = util::wrap_dim(dim, nonempty_dim(input));
  check_index_dtype(index, "gather");
  util::check_same_device(input, index);
  if (index.numel() != 0) {
    const int64_t rank = nonempty_dim(input);
    NORMRT_CHECK(nonempty_dim(index) == rank, "Index tensor must have the same number of dimensions as input tensor");
    for (int64_t d = 0; d < rank; ++d)
      NORMRT_CHECK(d == dim || nonempty_size(index, d) <= nonempty_size(input, d), "Size does not match at dimension ",
                   d, " expected index ", shape_str(index.sizes()), " to be smaller than self ",
                   shape_str(input.sizes()), " apart from dimension ", dim);
  }
  Tensor out = empty(index.sizes(), TensorOptions(input.device()).dtype(input.dtype()));
  if (index.numel() == 0) return out;
  const Tensor idx = index.contiguous(), x = input.contiguous();
  const scattermath::Geometry g = geometry(idx, dim, x, nullptr);
  const int64_t* at = idx.data<int64_t>();
  if (input.device().is_cuda()) {
#if NORMRT_WITH_CUDA
    const util::Launch l(input);
    util::dispatch_bits(input.dtype(), [&](auto fill) {
      using Bits = decltype(fill);
      cuda::gather(static_cast<const Bits*>(x.raw_data()), at, g, fill, static_cast<Bits*>(out.raw_data()), l.sms,
                   l.stream);
    });
#else
    util::no_cuda("gather");
#endif
    return out;
  }
  if (g.bound == 0) refuse_first_out_of_range(at, g);  // nothing to read
  bool all_in_range = true;
  util::dispatch_bits(input.dtype(), [&](auto fill) {
    using Bits = decltype(fill);
    const auto* from = static_cast<const Bits*>(x.raw_data());
    auto* to = static_cast<Bits*>(out.raw_data());
    const int64_t width = g.sizes[g.dims - 1], step = g.target_strides[g.dim];
    const auto bound = static_cast<uint64_t>(g.bound);
    // Checked as the index is read (the output is thrown away on a refusal).
    all_in_range = for_each_row(g, [&](int64_t p, int64_t target, int64_t) {
      return g.dim == g.dims - 1 ? gather_row<true>(at + p, from + target, to + p, width, step, bound)
                                 : gather_row<false>(at + p, from + target, to + p, width, step, bound);
    });
  });
  if (!all_in_range) refuse_first_out_of_range(at, g);
  return out;
}

Tensor gather_backward(const Tensor& grad, const Shape& input_sizes, int64_t dim, const Tensor& index) {
  NORMRT_CHECK(grad.defined() && index.defined(), "gather_backward: grad and index must be defined");
  NORMRT_CHECK(grad.sizes() == index.sizes(), "gather_backward: grad of shape ", shape_str(grad.sizes()),
               " is not the index's shape ", shape_str(index.sizes()));
  Tensor result = zeros(input_sizes, TensorOptions(grad.device()).dtype(grad.dtype()));
  dim = check_scatter(result, dim, index, &grad);
  return scatter_checked(result, dim, index, grad, kAdd, true);
}

namespace {

// scatter's reduce argument, after the other checks (PyTorch's order).
scattermath::Reduce scatter_reduction(std::string_view reduce) {
  if (reduce == "add") return scattermath::Reduce::Sum;
  NORMRT_CHECK(reduce == "multiply", "reduce argument must be either add or multiply.");
  return scattermath::Reduce::Prod;
}

// scatter_reduce's.
scattermath::Reduce scatter_reduce_reduction(std::string_view reduce) {
  if (reduce == "sum") return scattermath::Reduce::Sum;
  if (reduce == "prod") return scattermath::Reduce::Prod;
  if (reduce == "mean") return scattermath::Reduce::Mean;
  if (reduce == "amax") return scattermath::Reduce::Amax;
  NORMRT_CHECK(reduce == "amin", "reduce argument must be either sum, prod, mean, amax or amin.");
  return scattermath::Reduce::Amin;
}

// A reduction into self (checked, dim wrapped); `fresh` as scatter_checked's. Bools go through int64; a bool mean is
// refused where PyTorch's dispatch refuses it: after the identity fill without include_self (which refuses an index
// out of range first), in the division when there is nothing to scatter.
Tensor& reduce_checked(Tensor& self, int64_t dim, const Tensor& index, const Tensor& src, const Combine& how,
                       bool fresh) {
  if (self.dtype() != DType::Bool) return scatter_checked(self, dim, index, src, how, fresh);
  if (how.reduce == scattermath::Reduce::Mean) {
    NORMRT_CHECK(index.numel() != 0, "\"div_floor_cpu\" not implemented for 'Bool'");
    if (!how.include_self && !self.device().is_cuda()) {
      const Tensor idx = index.contiguous();
      check_in_range(idx.data<int64_t>(), geometry(idx, dim, self, &src));
    }
    NORMRT_THROW("\"scatter_gather_tensor_cpu_reduce_mean\" not implemented for 'Bool'");
  }
  if (index.numel() == 0) return self;
  Tensor values = self.to(DType::Int64);
  scatter_checked(values, dim, index, src.to(DType::Int64), how, true);
  self.copy_(values.to(DType::Bool));
  return self;
}

// scatter_ of a value (checked as such) as `how` says, into a fresh self or not; reduce checks its argument.
Tensor& scatter_value(Tensor& self, int64_t dim, const Tensor& index, Scalar value, bool fresh,
                      scattermath::Reduce (*reduction)(std::string_view) = nullptr, std::string_view reduce = {}) {
  dim = check_scatter(self, dim, index, nullptr);
  const Combine how = reduction ? Combine{false, reduction(reduce)} : kAssign;
  if (index.numel() == 0) return self;
  const Tensor src = full(index.sizes(), value, TensorOptions(self.device()).dtype(self.dtype()));
  return how.assign ? scatter_checked(self, dim, index, src, how, fresh)
                    : reduce_checked(self, dim, index, src, how, fresh);
}

}  // namespace

Tensor& scatter_(Tensor& self, int64_t dim, const Tensor& index, const Tensor& src) {
  dim = check_scatter(self, dim, index, &src);
  return scatter_checked(self, dim, index, src, kAssign);
}

Tensor& scatter_(Tensor& self, int64_t dim, const Tensor& index, Scalar value) {
  return scatter_value(self, dim, index, value, false);
}

Tensor& scatter_add_(Tensor& self, int64_t dim, const Tensor& index, const Tensor& src) {
  dim = check_scatter(self, dim, index, &src);
  return reduce_checked(self, dim, index, src, kAdd, false);
}

Tensor scatter(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src) {
  Tensor out = contiguous_copy(self);
  dim = check_scatter(out, dim, index, &src);
  return scatter_checked(out, dim, index, src, kAssign, true);
}

Tensor scatter(const Tensor& self, int64_t dim, const Tensor& index, Scalar value) {
  Tensor out = contiguous_copy(self);
  return scatter_value(out, dim, index, value, true);
}

Tensor scatter_add(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src) {
  Tensor out = contiguous_copy(self);
  dim = check_scatter(out, dim, index, &src);
  return reduce_checked(out, dim, index, src, kAdd, true);
}

Tensor& scatter_(Tensor& self, int64_t dim, const Tensor& index, const Tensor& src, std::string_view reduce) {
  dim = check_scatter(self, dim, index, &src);
  return reduce_checked(self, dim, index, src, Combine{false, scatter_reduction(reduce)}, false);
}

Tensor& scatter_(Tensor& self, int64_t dim, const Tensor& index, Scalar value, std::string_view reduce) {
  return scatter_value(self, dim, index, value, false, scatter_reduction, reduce);
}

Tensor scatter(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src, std::string_view reduce) {
  Tensor out = contiguous_copy(self);
  dim = check_scatter(out, dim, index, &src);
  return reduce_checked(out, dim, index, src, Combine{false, scatter_reduction(reduce)}, true);
}

Tensor scatter(const Tensor& self, int64_t dim, const Tensor& index, Scalar value, std::string_view reduce) {
  Tensor out = contiguous_copy(self);
  return scatter_value(out, dim, index, value, true, scatter_reduction, reduce);
}

Tensor& scatter_reduce_(Tensor& self, int64_t dim, const Tensor& index, const Tensor& src, std::string_view reduce,
                        bool include_self) {
  dim = check_scatter(self, dim, index, &src);
  return reduce_checked(self, dim, index, src, Combine{false, scatter_reduce_reduction(reduce), include_self}, false);
}

Tensor scatter_reduce(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src, std::string_view reduce,
                      bool include_self) {
  Tensor out = contiguous_copy(self);
  dim = check_scatter(out, dim, index, &src);
  return reduce_checked(out, dim, index, src, Combine{false, scatter_reduce_reduction(reduce), include_self}, true);
}

}  // namespace normrt::ops
