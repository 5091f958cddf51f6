// Internal: where a dense tensor's logical dimensions lie in memory, for each MemoryFormat.
#pragma once
#include <vector>

#include "normrt/tensor.h"

namespace normrt::detail {

// Dimensions from outermost to innermost in memory: row-major, or channels last (N, spatial..., C).
inline std::vector<int> memory_order(int ndim, MemoryFormat format) {
  std::vector<int> order;
  if (format == MemoryFormat::Contiguous) {
    for (int d = 0; d < ndim; ++d) order.push_back(d);
  } else {
    order.push_back(0);
    for (int d = 2; d < ndim; ++d) order.push_back(d);
    order.push_back(1);
  }
  return order;
}

// Strides of a dense tensor whose dimensions lie in memory in `order`.
inline std::vector<int64_t> dense_strides(const Shape& shape, const std::vector<int>& order) {
  std::vector<int64_t> strides(shape.size());
  int64_t stride = 1;
  for (std::size_t i = order.size(); i-- > 0;) {
    strides[static_cast<std::size_t>(order[i])] = stride;
    stride *= shape[static_cast<std::size_t>(order[i])];
  }
  return strides;
}

}  // namespace normrt::detail
