// Internal: the index map of an elementwise op over broadcast operands in any memory format (cmpmath::Plan), built
// once for the comparisons and where (src/comparison.cpp) and the selections (src/nonzero.cpp).
#pragma once
#include <initializer_list>

#include "comparison_math.cuh"
#include "normrt/tensor.h"

namespace normrt::detail {

// The index map of an output of `out_shape`, dense in `out_format`, over up to three operands (absent ones get stride
// 0), each dense in its own memory format: dimensions in the output's memory order, size-1 ones dropped and each
// merged into the next where every operand steps through the two as through one.
cmpmath::Plan broadcast_plan(const Shape& out_shape, MemoryFormat out_format,
                             std::initializer_list<const Tensor*> operands);

}  // namespace normrt::detail
