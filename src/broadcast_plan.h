// Internal: broadcasting shared by the comparisons and where (src/comparison.cpp), the selections (src/nonzero.cpp) and
// broadcast_to (src/tensor_ops.cpp): the index map of an elementwise op over broadcast operands in any memory format
// (cmpmath::Plan), where's copy into a given output, and expand's checks.
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

// out = condition ? a : b, element by element over out's shape and memory format, the operands (a and b of out's
// dtype, condition bool, all on out's device) broadcast to it: where's kernel. out may be b itself (each element is
// read where it is written).
void where_into(const Tensor& condition, const Tensor& a, const Tensor& b, Tensor& out);

// The sizes t expands to (PyTorch's expand: -1 keeps a size of t), refused in expand's words where t does not expand to
// them.
Shape expanded_sizes(const Tensor& t, const Shape& sizes);

}  // namespace normrt::detail
