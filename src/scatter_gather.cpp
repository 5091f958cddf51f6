// normrt::ops gather and scatter: PyTorch 1.13's checks in its order and words (ScatterGatherChecks: a 0-dim tensor
// seen as one element of one dimension, nothing but the dtypes checked for an empty index), then on the CPU its loop
// order: each line of the index along dim in index order, blocks of lines over the threads (a line's positions write
// elements no other line writes); on a device kernels/scatter_gather.cu, which applies them in the same order.
#include "normrt/ops/scatter_gather.h"

#include <algorithm>

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

// The index's positions line by line along dim, blocks of lines over the threads (see the file comment):
// visit(p, target, source) for position p, with `target` the offset of the element at p's coordinates with 0 along
// dim (the index value times target_strides[dim] to be added) and `source` src's offset of p; whether every visit
// returned true. The offsets of a block's lines come from stepping their coordinates, with no division per position.
// kIndependent: visits may run in any order (a gather's; a scatter's along a line may hit one element twice).
template <bool kIndependent, typename Visit>
bool for_each_position(const scattermath::Geometry& g, Visit visit) {
  const int dim = g.dim;
  int64_t index_strides[scattermath::kMaxDims], stride = 1;
  for (int d = g.dims - 1; d >= 0; --d) {
    index_strides[d] = stride;
    stride *= g.sizes[d];
  }
  const int64_t length = g.sizes[dim], lines = g.n / length, inner = index_strides[dim], along = g.source_strides[dim];
  // Lines a thread walks side by side: consecutive positions for each i, a cache line of float32 targets (blocks of
  // other threads write other lines), and several blocks per thread where the lines are few (a column sum's).
  constexpr int64_t kBlock = 16;
  const int64_t blocks = (lines + kBlock - 1) / kBlock;
  bool all = true;
#pragma omp parallel for schedule(static) reduction(&& : all) if (cpu::worth_parallel(g.n))
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t first = b * kBlock, count = std::min(kBlock, lines - first);
    int64_t coordinates[scattermath::kMaxDims] = {};  // of line `first`, 0 along dim
    for (int64_t d = g.dims - 1, rest = first; d >= 0; --d) {
      if (d == dim) continue;
      coordinates[d] = rest % g.sizes[d];
      rest /= g.sizes[d];
    }
    int64_t position[kBlock], target[kBlock], source[kBlock];
    for (int64_t k = 0; k < count; ++k) {
      position[k] = target[k] = source[k] = 0;
      for (int d = 0; d < g.dims; ++d) {
        position[k] += coordinates[d] * index_strides[d];
        target[k] += coordinates[d] * g.target_strides[d];
        source[k] += coordinates[d] * g.source_strides[d];
      }
      for (int d = g.dims - 1; d >= 0; --d) {  // the next line
        if (d == dim) continue;
        if (++coordinates[d] < g.sizes[d]) break;
        coordinates[d] = 0;
      }
    }
    if (inner == 1) {  // lines along the last dimension: each one contiguous, walked whole
      for (int64_t k = 0; k < count; ++k) {
        const int64_t p = position[k], t = target[k], s = source[k];
        if constexpr (kIndependent) {
#pragma omp simd reduction(&& : all)
          for (int64_t i = 0; i < length; ++i) all = visit(p + i, t, s + i * along) && all;
        } else {
          for (int64_t i = 0; i < length; ++i) all = visit(p + i, t, s + i * along) && all;
        }
      }
    } else {  // lines of a block side by side: distinct elements
      for (int64_t i = 0; i < length; ++i)
#pragma omp simd reduction(&& : all)
        for (int64_t k = 0; k < count; ++k)
          all = visit(position[k] + i * inner, target[k], source[k] + i * along) && all;
    }
  }
  return all;
}

// apply(element, value) at each position in index order (for_each_position).
template <typename T, typename Apply>
void scatter_lines(const scattermath::Geometry& g, const int64_t* index, const T* src, T* self, Apply apply) {
  const int64_t step = g.target_strides[g.dim];
  for_each_position<false>(g, [&](int64_t p, int64_t target, int64_t source) {
    T& element = self[target + index[p] * step];
    element = apply(element, src[source]);
    return true;
  });
}

enum class Combine { Assign, Add };

// self (contiguous) updated at the positions of idx (contiguous) from source (contiguous), as kind says.
void scatter_contiguous(Tensor& self, const Tensor& idx, const Tensor& source, const scattermath::Geometry& g,
                        Combine kind) {
  if (self.device().is_cuda()) {
#if NORMRT_WITH_CUDA
    const util::Launch l(self);
    const int64_t elements = self.numel();
    Tensor targets = empty({g.n}, TensorOptions(self.device()).dtype(DType::Int64));
    cuda::scatter_targets(idx.data<int64_t>(), g, targets.data<int64_t>(), l.sms, l.stream);
    const detail::DeviceRowGroups groups = detail::group_on_device(targets, elements, l.stream);
    const cuda::ScatterParams p{self.raw_data(),
                                source.raw_data(),
                                groups.count.data<int64_t>(),
                                groups.offset.data<int64_t>(),
                                groups.order.data<int64_t>(),
                                elements,
                                g};
    if (kind == Combine::Assign) {
      util::dispatch_bits(self.dtype(), [&](auto fill) { cuda::scatter_assign<decltype(fill)>(p, l.sms, l.stream); });
    } else if (self.dtype() == DType::Int64) {
      cuda::scatter_add<int64_t>(p, l.sms, l.stream);
    } else {
      util::dispatch_element(self.dtype(),
                             [&](auto element) { cuda::scatter_add<decltype(element)>(p, l.sms, l.stream); });
    }
#else
    util::no_cuda("scatter");
#endif
    return;
  }
  const int64_t* at = idx.data<int64_t>();
  check_in_range(at, g);
  if (kind == Combine::Assign) {
    util::dispatch_bits(self.dtype(), [&](auto fill) {
      using Bits = decltype(fill);
      scatter_lines(g, at, static_cast<const Bits*>(source.raw_data()), static_cast<Bits*>(self.raw_data()),
                    [](Bits, Bits value) { return value; });
    });
  } else if (self.dtype() == DType::Int64) {
    scatter_lines(g, at, source.data<int64_t>(), self.data<int64_t>(),
                  [](int64_t acc, int64_t value) { return scattermath::add(acc, value); });
  } else {
    util::dispatch_element(self.dtype(), [&](auto element) {
      using T = decltype(element);
      scatter_lines(g, at, source.data<T>(), self.data<T>(),
                    [](T acc, T value) { return scattermath::add(acc, value); });
    });
  }
}

// self's elements at index's positions from src (checked), in place whatever self's memory format.
Tensor& scatter_checked(Tensor& self, int64_t dim, const Tensor& index, const Tensor& src, Combine kind) {
  if (index.numel() == 0) return self;
  const Tensor idx = index.contiguous();
  // src sharing self's memory is read as it was before the scatter.
  const Tensor source = src.raw_data() == self.raw_data() ? src.contiguous().clone() : src.contiguous();
  Tensor work = self.contiguous();
  scatter_contiguous(work, idx, source, geometry(idx, dim, work, &source), kind);
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
    const int64_t step = g.target_strides[g.dim];
    // Checked as the index is read (the output is thrown away on a refusal); an element out of range reads element 0.
    all_in_range = for_each_position<true>(g, [&](int64_t p, int64_t target, int64_t) {
      const int64_t v = at[p];
      const bool in_range = scattermath::in_range(g, v);
      to[p] = from[target + (in_range ? v : 0) * step];
      return in_range;
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
  scatter_add_(result, dim, index, grad);
  return result;
}

Tensor& scatter_(Tensor& self, int64_t dim, const Tensor& index, const Tensor& src) {
  dim = check_scatter(self, dim, index, &src);
  return scatter_checked(self, dim, index, src, Combine::Assign);
}

Tensor& scatter_(Tensor& self, int64_t dim, const Tensor& index, Scalar value) {
  dim = check_scatter(self, dim, index, nullptr);
  if (index.numel() == 0) return self;
  const Tensor src = full(index.sizes(), value, TensorOptions(self.device()).dtype(self.dtype()));
  return scatter_checked(self, dim, index, src, Combine::Assign);
}

Tensor& scatter_add_(Tensor& self, int64_t dim, const Tensor& index, const Tensor& src) {
  dim = check_scatter(self, dim, index, &src);
  return scatter_checked(self, dim, index, src, Combine::Add);
}

Tensor scatter(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src) {
  Tensor out = contiguous_copy(self);
  return scatter_(out, dim, index, src);
}

Tensor scatter(const Tensor& self, int64_t dim, const Tensor& index, Scalar value) {
  Tensor out = contiguous_copy(self);
  return scatter_(out, dim, index, value);
}

Tensor scatter_add(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src) {
  Tensor out = contiguous_copy(self);
  return scatter_add_(out, dim, index, src);
}

}  // namespace normrt::ops
