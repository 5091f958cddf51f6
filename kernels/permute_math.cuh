// Index arithmetic of a permutation of dimensions (torch.permute and what is built on it: transpose, pixel_shuffle,
// pixel_unshuffle, channel_shuffle), shared by the CPU copy and the CUDA kernel: output element i (row-major over the
// permuted sizes) copies input element permute_source(g, i).
#pragma once
#include <cstdint>

#include "hd.h"

namespace normrt::permmath {

constexpr int kMaxDims = 8;

// Output dimension d has out_sizes[d] positions and steps source_strides[d] elements through the input (the input's
// row-major stride of the dimension it takes).
struct PermuteGeometry {
  int dims = 0;
  int64_t numel = 0;
  int64_t out_sizes[kMaxDims] = {};
  int64_t source_strides[kMaxDims] = {};
};

NORMRT_HD inline int64_t permute_source(const PermuteGeometry& g, int64_t index) {
  int64_t source = 0;
  for (int d = g.dims - 1; d >= 0; --d) {
    const int64_t size = g.out_sizes[d];
    source += (index % size) * g.source_strides[d];
    index /= size;
  }
  return source;
}

}  // namespace normrt::permmath
