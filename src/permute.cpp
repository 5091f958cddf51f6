// normrt::ops permutations: PyTorch's checks and messages, then one gather (permute_math.cuh) on the CPU or by
// kernels/permute.cu; a permutation that transposes a stack of matrices takes the tiled transpose of memory-format
// conversions instead (transpose_cpu.h, and kernels/elementwise.cu's shared-memory tiles on a device).
// pixel_shuffle, pixel_unshuffle and channel_shuffle are PyTorch's reshape-permute-reshape.
#include "normrt/ops/permute.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>

#include "cpu_threads.h"
#include "cuda_launch.h"
#include "normrt/cuda.h"
#include "normrt/error.h"
#include "op_util.h"
#include "permute_math.cuh"
#include "transpose_cpu.h"
#if NORMRT_WITH_CUDA
#include "elementwise.cuh"
#include "permute.cuh"
#endif

namespace normrt::ops {

namespace {

int64_t wrap(int64_t dim, int64_t dims) {
  const int64_t low = -std::max<int64_t>(dims, 1), high = std::max<int64_t>(dims, 1) - 1;
  NORMRT_CHECK(dim >= low && dim <= high, "Dimension out of range (expected to be in range of [", low, ", ", high,
               "], but got ", dim, ")");
  return dim < 0 ? dim + std::max<int64_t>(dims, 1) : dim;
}

// The copy as tiles of the last two output dimensions (one when there is one), the tiles in output order: a tile's
// first source offset comes from an odometer over the outer dimensions (permute_source once per chunk of tiles), so
// the per-element work is the tile's two strided loops, also where the last dimension is short (pixel_shuffle's r);
// the loop with the smaller source step runs innermost, so reads stream and the writes stay in the (cached) tile.
template <typename T>
void cpu_permute(const permmath::PermuteGeometry& g, const T* in, T* out) {
  const int inner_dims = g.dims >= 2 ? 2 : 1, outer_dims = g.dims - inner_dims;
  const int64_t rows = g.dims >= 2 ? g.out_sizes[g.dims - 2] : 1, width = g.out_sizes[g.dims - 1];
  const int64_t row_step = g.dims >= 2 ? g.source_strides[g.dims - 2] : 0, step = g.source_strides[g.dims - 1];
  const int64_t tile = rows * width, tiles = tile > 0 ? g.numel / tile : 0;
  constexpr int64_t kChunkElements = int64_t{1} << 15;
  const int64_t per_chunk = std::max<int64_t>(1, kChunkElements / std::max<int64_t>(tile, 1));
  const int64_t chunks = (tiles + per_chunk - 1) / per_chunk;
#pragma omp parallel for schedule(static) if (cpu::worth_parallel(g.numel))
  for (int64_t chunk = 0; chunk < chunks; ++chunk) {
    const int64_t first = chunk * per_chunk, last = std::min(tiles, first + per_chunk);
    int64_t coordinate[permmath::kMaxDims] = {};
    for (int64_t rest = first, d = outer_dims - 1; d >= 0; --d) {
      coordinate[d] = rest % g.out_sizes[d];
      rest /= g.out_sizes[d];
    }
    int64_t source = permmath::permute_source(g, first * tile);
    for (int64_t t = first; t < last; ++t) {
      T* to = out + t * tile;
      if (row_step < step) {  // reads run along the tile's columns (a transpose): read them in order
        for (int64_t j = 0; j < width; ++j) {
          const T* from = in + source + j * step;
          for (int64_t i = 0; i < rows; ++i) to[i * width + j] = from[i * row_step];
        }
      } else {
        for (int64_t i = 0; i < rows; ++i) {
          const T* from = in + source + i * row_step;
          for (int64_t j = 0; j < width; ++j) to[i * width + j] = from[j * step];
        }
      }
      for (int d = outer_dims - 1; d >= 0; --d) {  // the next tile's source
        source += g.source_strides[d];
        if (++coordinate[d] < g.out_sizes[d]) break;
        coordinate[d] = 0;
        source -= g.out_sizes[d] * g.source_strides[d];
      }
    }
  }
}

// A permutation that moves whole blocks of a (batch, rows, cols) matrix stack to (batch, cols, rows), as
// x.permute({0, 2, 3, 1}) of an image batch does (batch N, rows C, cols H*W): its output dimensions, size-1 ones
// dropped and runs of source-consecutive ones merged, are three groups taken from the source's first, last and middle
// (or two, the last and the first).
struct BatchedTranspose {
  bool is = false;
  int64_t batch = 1, rows = 1, cols = 1;
};

BatchedTranspose as_batched_transpose(const Shape& view, const std::vector<int64_t>& order) {
  std::vector<int64_t> rank_of(view.size(), -1);  // a source dimension's place among the non-size-1 ones
  int64_t ranks = 0;
  for (std::size_t d = 0; d < view.size(); ++d)
    if (view[d] != 1) rank_of[d] = ranks++;
  struct Group {
    int64_t first_rank, size;
  };
  std::vector<Group> groups;
  int64_t last_rank = -2;
  for (int64_t d : order) {
    const auto source = static_cast<std::size_t>(d);
    if (view[source] == 1) continue;
    if (rank_of[source] == last_rank + 1)
      groups.back().size *= view[source];
    else
      groups.push_back({rank_of[source], view[source]});
    last_rank = rank_of[source];
  }
  BatchedTranspose t;
  if (groups.size() == 2) t = {true, 1, groups[1].size, groups[0].size};
  if (groups.size() == 3 && groups[0].first_rank == 0 && groups[2].first_rank < groups[1].first_rank)
    t = {true, groups[0].size, groups[2].size, groups[1].size};
  return t;
}

template <typename T>
void copy_permuted(const permmath::PermuteGeometry& g, const BatchedTranspose& transpose, const Tensor& in,
                   Tensor& out) {
  const T* from = static_cast<const T*>(in.raw_data());
  T* to = static_cast<T*>(out.raw_data());
  if (in.device().is_cuda()) {
#if NORMRT_WITH_CUDA
    const util::Launch l(in);
    if (transpose.is)
      return cuda::transpose_batched(from, to, transpose.batch, transpose.rows, transpose.cols, l.sms, l.stream);
    cuda::permute_copy(g, from, to, l.sms, l.stream);
#else
    util::no_cuda("permute");
#endif
    return;
  }
  if (transpose.is) return cpu::transpose_batched(from, to, transpose.batch, transpose.rows, transpose.cols);
  cpu_permute(g, from, to);
}

// t's elements viewed with `view` sizes (row-major, up to permmath::kMaxDims of them: more than a tensor may have),
// permuted by `order` (non-negative, checked) and stored as a contiguous tensor of `out_shape`.
Tensor permuted(const Tensor& given, const Shape& view, const std::vector<int64_t>& order, const Shape& out_shape) {
  const Tensor t = given.contiguous();  // logical order
  if (view.empty()) return t.clone();   // a 0-dim tensor's one order
  const auto rank = static_cast<int64_t>(view.size());
  std::vector<int64_t> strides(view.size(), 1);
  for (std::size_t d = view.size() - 1; d-- > 0;) strides[d] = strides[d + 1] * view[d + 1];
  permmath::PermuteGeometry g;
  g.dims = static_cast<int>(rank);
  g.numel = t.numel();
  for (int64_t d = 0; d < rank; ++d) {
    const auto from = static_cast<std::size_t>(order[static_cast<std::size_t>(d)]);
    g.out_sizes[d] = view[from];
    g.source_strides[d] = strides[from];
  }
  Tensor out = empty(out_shape, TensorOptions(t.device()).dtype(t.dtype()));
  if (g.numel == 0) return out;
  const BatchedTranspose transpose = as_batched_transpose(view, order);
  switch (element_size(t.dtype())) {
    case 1: copy_permuted<uint8_t>(g, transpose, t, out); break;
    case 2: copy_permuted<uint16_t>(g, transpose, t, out); break;
    case 4: copy_permuted<uint32_t>(g, transpose, t, out); break;
    case 8: copy_permuted<uint64_t>(g, transpose, t, out); break;
    default: NORMRT_THROW("permute: unsupported element size ", element_size(t.dtype()));
  }
  return out;
}

}  // namespace

Tensor permute(const Tensor& t, const std::vector<int64_t>& dims) {
  NORMRT_CHECK(t.defined(), "permute: the tensor is undefined");
  const int64_t rank = t.dim();
  NORMRT_CHECK(static_cast<int64_t>(dims.size()) == rank, "permute(): number of dimensions in the tensor input does "
               "not match the length of the desired ordering of dimensions i.e. input.dim() = ", rank,
               " is not equal to len(dims) = ", dims.size());
  std::vector<bool> seen(static_cast<std::size_t>(rank), false);
  std::vector<int64_t> order;
  Shape out_shape;
  for (int64_t d : dims) {
    const int64_t w = wrap(d, rank);
    NORMRT_CHECK(!seen[static_cast<std::size_t>(w)], "permute(): duplicate dims are not allowed.");
    seen[static_cast<std::size_t>(w)] = true;
    order.push_back(w);
    out_shape.push_back(t.size(w));
  }
  return permuted(t, t.sizes(), order, out_shape);
}

Tensor transpose(const Tensor& t, int64_t dim0, int64_t dim1) {
  NORMRT_CHECK(t.defined(), "transpose: the tensor is undefined");
  std::vector<int64_t> dims;
  for (int64_t d = 0; d < t.dim(); ++d) dims.push_back(d);
  if (t.dim() == 0) {  // PyTorch allows 0 and -1 on a scalar
    wrap(dim0, 0);
    wrap(dim1, 0);
    return t.clone();
  }
  const int64_t first = wrap(dim0, t.dim()), second = wrap(dim1, t.dim());  // dim0 refused first, as PyTorch
  std::swap(dims[static_cast<std::size_t>(first)], dims[static_cast<std::size_t>(second)]);
  return permute(t, dims);
}

Tensor pixel_shuffle(const Tensor& t, int64_t r) {
  NORMRT_CHECK(t.defined(), "pixel_shuffle: the tensor is undefined");
  NORMRT_CHECK(t.dim() >= 3, "pixel_shuffle expects input to have at least 3 dimensions, but got input with ", t.dim(),
               " dimension(s)");
  NORMRT_CHECK(r > 0, "pixel_shuffle expects a positive upscale_factor, but got ", r);
  const int64_t c = t.size(-3), h = t.size(-2), w = t.size(-1);
  NORMRT_CHECK(c % (r * r) == 0, "pixel_shuffle expects its input's 'channel' dimension to be divisible by the square "
               "of upscale_factor, but input.size(-3)=", c, " is not divisible by ", r * r);
  const int64_t batch = t.numel() == 0 ? 0 : t.numel() / (c * h * w);
  Shape out_shape(t.sizes().begin(), t.sizes().end() - 3);
  out_shape.insert(out_shape.end(), {c / (r * r), h * r, w * r});
  if (t.numel() == 0) return empty(out_shape, TensorOptions(t.device()).dtype(t.dtype()));
  return permuted(t, {batch, c / (r * r), r, r, h, w}, {0, 1, 4, 2, 5, 3}, out_shape);
}

Tensor pixel_unshuffle(const Tensor& t, int64_t r) {
  NORMRT_CHECK(t.defined(), "pixel_unshuffle: the tensor is undefined");
  NORMRT_CHECK(t.dim() >= 3, "pixel_unshuffle expects input to have at least 3 dimensions, but got input with ",
               t.dim(), " dimension(s)");
  NORMRT_CHECK(r > 0, "pixel_unshuffle expects a positive downscale_factor, but got ", r);
  const int64_t c = t.size(-3), h = t.size(-2), w = t.size(-1);
  NORMRT_CHECK(h % r == 0, "pixel_unshuffle expects height to be divisible by downscale_factor, but input.size(-2)=", h,
               " is not divisible by ", r);
  NORMRT_CHECK(w % r == 0, "pixel_unshuffle expects width to be divisible by downscale_factor, but input.size(-1)=", w,
               " is not divisible by ", r);
  Shape out_shape(t.sizes().begin(), t.sizes().end() - 3);
  out_shape.insert(out_shape.end(), {c * r * r, h / r, w / r});
  if (t.numel() == 0) return empty(out_shape, TensorOptions(t.device()).dtype(t.dtype()));
  const int64_t batch = t.numel() / (c * h * w);
  return permuted(t, {batch, c, h / r, r, w / r, r}, {0, 1, 3, 5, 2, 4}, out_shape);
}

Tensor channel_shuffle(const Tensor& t, int64_t groups) {
  NORMRT_CHECK(t.defined(), "channel_shuffle: the tensor is undefined");
  NORMRT_CHECK(t.dim() > 2, "channel_shuffle expects input with > 2 dims, but got input with sizes ",
               shape_str(t.sizes()));
  NORMRT_CHECK(groups > 0, "Number of groups to divide channels in must be positive. Value of groups:", groups);
  const int64_t n = t.size(0), c = t.size(1);
  NORMRT_CHECK(c % groups == 0, "Number of channels must be divisible by groups. Got ", c, " channels and ", groups,
               " groups.");
  if (t.numel() == 0) return empty(t.sizes(), TensorOptions(t.device()).dtype(t.dtype()));
  const int64_t spatial = t.numel() / (n * c);
  return permuted(t, {n, groups, c / groups, spatial}, {0, 2, 1, 3}, t.sizes());
}

}  // namespace normrt::ops
