// normrt::ops rearrangements: PyTorch 1.13's checks in its order and words, then on the CPU flip and roll as one pass
// of block copies; the rest (and a device's flip and roll) compositions of the library's copies (index_select, cat,
// broadcast_to, where), each a full pass: flip reverses one dimension per pass, roll cats two narrowed parts, repeat
// and repeat_interleave broadcast a size-1 dimension beside (before or after) the repeated one.
#include "normrt/ops/rearrange.h"

#include <algorithm>
#include <cstring>

#include "cpu_threads.h"
#include "normrt/error.h"
#include "normrt/ops/comparison.h"
#include "normrt/ops/elementwise.h"
#include "normrt/ops/embedding.h"
#include "normrt/ops/tensor_ops.h"
#include "op_util.h"

namespace normrt::ops {

namespace {

// PyTorch's maybe_wrap_dim without scalar wrapping: a 0-dim tensor has no dimension to name.
int64_t wrap_dim_of_tensor(int64_t dim, const Tensor& t) {
  NORMRT_CHECK(t.dim() > 0, "Dimension specified as ", dim, " but tensor has no dimensions");
  return util::wrap_dim(dim, t.dim());
}

Tensor in_format_of(const Tensor& result, const Tensor& t) {
  return t.dim() > 0 && result.memory_format() != t.memory_format() ? result.to(t.memory_format()) : result;
}

// t (contiguous) with a size-1 dimension broadcast to `count` beside dimension d: before it (tiling: repeat) or after
// it (each element repeated: repeat_interleave), merged into d.
Tensor broadcast_beside(const Tensor& t, int64_t d, int64_t count, bool after) {
  const Shape sizes = t.sizes();
  int64_t outer = 1, inner = 1;
  for (int64_t k = 0; k < d; ++k) outer *= sizes[k];
  for (int64_t k = d + 1; k < t.dim(); ++k) inner *= sizes[k];
  const Shape split = after ? Shape{outer, sizes[d], 1, inner} : Shape{outer, 1, sizes[d] * inner};
  const Shape wide = after ? Shape{outer, sizes[d], count, inner} : Shape{outer, count, sizes[d] * inner};
  Shape merged = sizes;
  merged[d] *= count;
  return broadcast_to(t.contiguous().reshape(split), wide).reshape(merged);
}

// dst[i] = src[length - 1 - i] (restrict: the loop vectorises with lane permutes).
template <typename Bits>
void reverse_row(const Bits* __restrict src, Bits* __restrict dst, int64_t length) {
  for (int64_t i = 0; i < length; ++i) dst[i] = src[length - 1 - i];
}

// The CPU's flip and roll in one pass over t's logical (row-major) order: each output block of the dimensions after
// the last one moved is a contiguous copy of its source block; along that last dimension a flip reverses the blocks
// and a roll copies two runs. move(d, i) is the source coordinate of output coordinate i along dim d.
template <typename Move>
Tensor moved_on_cpu(const Tensor& t, const std::vector<bool>& moved, bool roll, int64_t last_shift, Move move) {
  const Tensor x = t.contiguous();
  Tensor out = empty(t.sizes(), TensorOptions(t.device()).dtype(t.dtype()));
  const auto rank = static_cast<int64_t>(t.dim());
  int64_t last = rank - 1;
  while (!moved[last]) --last;
  int64_t block = 1, rows = 1;
  for (int64_t d = last + 1; d < rank; ++d) block *= t.size(d);
  for (int64_t d = 0; d < last; ++d) rows *= t.size(d);
  const int64_t length = t.size(last), esize = element_size(t.dtype());
  const std::size_t block_bytes = static_cast<std::size_t>(block * esize);
  const auto* from = static_cast<const unsigned char*>(x.raw_data());
  auto* to = static_cast<unsigned char*>(out.raw_data());
#pragma omp parallel for schedule(static) if (cpu::worth_parallel(t.numel()))
  for (int64_t r = 0; r < rows; ++r) {
    int64_t source_row = 0, rest = r, stride = 1;  // the source row: each leading coordinate moved
    for (int64_t d = last - 1; d >= 0; --d) {
      const int64_t size = t.size(d), c = rest % size;
      rest /= size;
      source_row += move(d, c) * stride;
      stride *= size;
    }
    const unsigned char* src = from + source_row * length * static_cast<int64_t>(block_bytes);
    unsigned char* dst = to + r * length * static_cast<int64_t>(block_bytes);
    if (roll) {  // [shift, length) of the output from [0, length - shift), then [0, shift) from the rest
      const int64_t s = last_shift;
      std::memcpy(dst + s * block_bytes, src, (length - s) * block_bytes);
      std::memcpy(dst, src + (length - s) * block_bytes, s * block_bytes);
    } else if (block == 1) {  // a reversed row of elements
      util::dispatch_bits(t.dtype(), [&](auto bits) {
        using Bits = decltype(bits);
        reverse_row(reinterpret_cast<const Bits*>(src), reinterpret_cast<Bits*>(dst), length);
      });
    } else {
      for (int64_t i = 0; i < length; ++i)
        std::memcpy(dst + i * block_bytes, src + (length - 1 - i) * block_bytes, block_bytes);
    }
  }
  return in_format_of(out, t);
}

// Rows i and columns j of the last two dimensions kept where j - i <= diagonal (tril) or >= diagonal (triu).
Tensor triangle(const Tensor& t, int64_t diagonal, bool lower) {
  NORMRT_CHECK(t.defined(), lower ? "tril" : "triu", ": the tensor is undefined");
  if (t.numel() == 0) return t.contiguous().clone();  // PyTorch's, whatever the dimensions
  NORMRT_CHECK(t.dim() >= 2, t.dim() == 0 ? "Dimension specified as -2 but tensor has no dimensions"
                                          : "Dimension out of range (expected to be in range of [-1, 0], but got -2)");
  const int64_t rows = t.size(-2), columns = t.size(-1);
  const TensorOptions longs = TensorOptions(t.device()).dtype(DType::Int64);
  const Tensor offset = sub(arange(columns, longs).reshape({1, columns}), arange(rows, longs).reshape({rows, 1}));
  const Tensor keep = lower ? le(offset, diagonal) : ge(offset, diagonal);
  return where(keep, t, zeros({}, TensorOptions(t.device()).dtype(t.dtype()))).contiguous();
}

}  // namespace

Tensor flip(const Tensor& t, const std::vector<int64_t>& dims) {
  NORMRT_CHECK(t.defined(), "flip: the tensor is undefined");
  std::vector<int64_t> wrapped;
  for (const int64_t d : dims) {
    const int64_t w = util::wrap_dim(d, std::max<int64_t>(t.dim(), 1));
    NORMRT_CHECK(std::find(wrapped.begin(), wrapped.end(), w) == wrapped.end(), "dim ", w,
                 " appears multiple times in the list of dims");
    wrapped.push_back(w);
  }
  if (t.dim() == 0) return t.clone();
  std::vector<bool> moved(static_cast<std::size_t>(t.dim()), false);
  for (const int64_t d : wrapped) moved[d] = t.size(d) > 1;
  if (std::find(moved.begin(), moved.end(), true) == moved.end() || t.numel() == 0) return t.clone();
  if (!t.device().is_cuda())
    return moved_on_cpu(t, moved, false, 0, [&](int64_t d, int64_t c) { return moved[d] ? t.size(d) - 1 - c : c; });
  Tensor result = t;
  const TensorOptions longs = TensorOptions(t.device()).dtype(DType::Int64);
  for (const int64_t d : wrapped) {
    const int64_t size = t.size(d);
    if (size > 1) result = index_select(result, d, arange(static_cast<double>(size - 1), -1.0, -1.0, longs));
  }
  return in_format_of(result, t);
}

Tensor roll(const Tensor& t, const std::vector<int64_t>& shifts, const std::vector<int64_t>& dims) {
  NORMRT_CHECK(t.defined(), "roll: the tensor is undefined");
  NORMRT_CHECK(!shifts.empty(), "`shifts` required");
  if (dims.empty() && shifts.size() == 1) {  // the flattened tensor
    const Tensor flat = t.contiguous().reshape({t.numel()});
    return roll(flat, shifts, {0}).reshape(t.sizes());
  }
  NORMRT_CHECK(shifts.size() == dims.size(), "shifts and dimensions must align. shifts: ", shifts.size(),
               ", dims:", dims.size());
  if (t.numel() == 0) return t.clone();  // PyTorch's, before the dims are checked
  std::vector<int64_t> total(static_cast<std::size_t>(std::max<int64_t>(t.dim(), 1)), 0);  // each dim's net shift
  for (std::size_t k = 0; k < dims.size(); ++k) {
    const int64_t d = wrap_dim_of_tensor(dims[k], t), size = t.size(d);
    total[d] = ((total[d] + shifts[k]) % size + size) % size;
  }
  std::vector<bool> moved(total.size());
  for (std::size_t d = 0; d < total.size(); ++d) moved[d] = total[d] != 0;
  if (std::find(moved.begin(), moved.end(), true) == moved.end()) return t.clone();
  if (!t.device().is_cuda()) {
    int64_t last = t.dim() - 1;
    while (!moved[last]) --last;
    return moved_on_cpu(t, moved, true, total[last], [&](int64_t d, int64_t c) {
      const int64_t size = t.size(d);
      return ((c - total[d]) % size + size) % size;
    });
  }
  Tensor result = t;
  for (int64_t d = 0; d < t.dim(); ++d) {
    const int64_t size = t.size(d), shift = total[d];
    if (shift != 0) result = cat({narrow(result, d, size - shift, shift), narrow(result, d, 0, size - shift)}, d);
  }
  return in_format_of(result, t);
}

Tensor repeat(const Tensor& t, const std::vector<int64_t>& repeats) {
  NORMRT_CHECK(t.defined(), "repeat: the tensor is undefined");
  const auto rank = static_cast<int64_t>(repeats.size());
  NORMRT_CHECK(rank >= t.dim(),
               "Number of dimensions of repeat dims can not be smaller than number of dimensions of tensor");
  Shape padded(static_cast<std::size_t>(rank - t.dim()), 1), target;
  for (const int64_t s : t.sizes()) padded.push_back(s);
  bool negative = false;
  for (int64_t d = 0; d < rank; ++d) {
    target.push_back(padded[d] * repeats[d]);
    negative = negative || target.back() < 0;
  }
  NORMRT_CHECK(!negative, "Trying to create tensor with negative dimension ",
               *std::find_if(target.begin(), target.end(), [](int64_t s) { return s < 0; }), ": ", shape_str(target));
  Tensor result = t.contiguous().clone().reshape(padded);  // a copy of its own, whatever the repeats
  for (int64_t d = 0; d < rank; ++d)
    if (repeats[d] != 1) result = broadcast_beside(result, d, repeats[d], false);
  return result;
}

Tensor repeat_interleave(const Tensor& t, int64_t repeats, std::optional<int64_t> dim) {
  NORMRT_CHECK(t.defined(), "repeat_interleave: the tensor is undefined");
  if (!dim) return repeat_interleave(t.contiguous().reshape({t.numel()}), repeats, 0);
  const int64_t d = wrap_dim_of_tensor(*dim, t);
  // PyTorch expands the number to a count per element along dim first: where there are none, none is negative.
  NORMRT_CHECK(repeats >= 0 || t.size(d) == 0, "repeats can not be negative");
  return broadcast_beside(t, d, repeats < 0 ? 0 : repeats, true).contiguous();
}

Tensor repeat_interleave(const Tensor& repeats) {
  NORMRT_CHECK(repeats.defined() && repeats.dim() == 1, "repeat_interleave only accept 1D vector as repeat");
  NORMRT_CHECK(repeats.dtype() == DType::Int64, "\"repeat_interleave_", repeats.device().is_cuda() ? "cuda" : "cpu",
               "\" not implemented for '", util::scalar_type_name(repeats.dtype()), "'");
  const std::vector<int64_t> counts = repeats.to(Device::cpu()).to_vector<int64_t>();
  std::vector<int64_t> index;
  for (std::size_t i = 0; i < counts.size(); ++i) {
    NORMRT_CHECK(counts[i] >= 0, "repeats can not be negative");
    index.insert(index.end(), static_cast<std::size_t>(counts[i]), static_cast<int64_t>(i));
  }
  return from_vector(index, {static_cast<int64_t>(index.size())}, repeats.device());
}

Tensor repeat_interleave(const Tensor& t, const Tensor& repeats, std::optional<int64_t> dim) {
  NORMRT_CHECK(t.defined() && repeats.defined(), "repeat_interleave: the tensor and repeats must be defined");
  if (!dim) return repeat_interleave(t.contiguous().reshape({t.numel()}), repeats, 0);
  const int64_t d = wrap_dim_of_tensor(*dim, t);
  NORMRT_CHECK(repeats.dim() <= 1, "repeats must be 0-dim or 1-dim tensor");
  util::check_same_device(t, repeats);
  const int64_t size = t.size(d);
  NORMRT_CHECK(repeats.numel() == 1 || repeats.numel() == size, "repeats must have the same size as input along dim");
  // The counts' dtype and signs are checked as counts (one count for no elements is none).
  const Tensor counts = repeats.numel() == 1 && size != 1 ? broadcast_to(repeats.reshape({1}), {size})
                                                          : repeats.reshape({repeats.numel()});
  return index_select(t, d, repeat_interleave(counts));
}

Tensor tril(const Tensor& t, int64_t diagonal) { return triangle(t, diagonal, true); }
Tensor triu(const Tensor& t, int64_t diagonal) { return triangle(t, diagonal, false); }

}  // namespace normrt::ops
