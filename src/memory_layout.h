// Internal: where a dense tensor's logical dimensions lie in memory, for each MemoryFormat. Fixed-size arrays (the
// first ndim entries used), so that per-op index maps allocate nothing.
#pragma once
#include <array>
#include <cstddef>

#include "normrt/tensor.h"

namespace normrt::detail {

using DimOrder = std::array<int, kMaxDims>;
using DimStrides = std::array<int64_t, kMaxDims>;

// The channels-last memory format of a 4-d or 5-d tensor.
inline MemoryFormat channels_last_format(int64_t ndim) {
  return ndim == 4 ? MemoryFormat::ChannelsLast : MemoryFormat::ChannelsLast3d;
}

// Dimensions from outermost to innermost in memory: row-major, or channels last (N, spatial..., C).
inline DimOrder memory_order(int ndim, MemoryFormat format) {
  DimOrder order{};
  if (format == MemoryFormat::Contiguous) {
    for (int d = 0; d < ndim; ++d) order[static_cast<std::size_t>(d)] = d;
  } else {
    order[0] = 0;
    for (int d = 2; d < ndim; ++d) order[static_cast<std::size_t>(d - 1)] = d;
    order[static_cast<std::size_t>(ndim - 1)] = 1;
  }
  return order;
}

// Strides of a dense tensor of `shape` whose dimensions lie in memory in `order`.
inline DimStrides dense_strides(const Shape& shape, const DimOrder& order) {
  DimStrides strides{};
  int64_t stride = 1;
  for (std::size_t i = shape.size(); i-- > 0;) {
    const auto d = static_cast<std::size_t>(order[i]);
    strides[d] = stride;
    stride *= shape[d];
  }
  return strides;
}

}  // namespace normrt::detail
