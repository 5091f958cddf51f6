// Internal: broadcasting shared by the comparisons and where (src/comparison.cpp), the selections (src/nonzero.cpp) and
// broadcast_to (src/tensor_ops.cpp): the index map of an elementwise op over broadcast operands in any memory format
// (cmpmath::Plan), its CPU walk, where's copy into a given output, and expand's checks. Also the ternary ops
// (src/ternary.cpp).
#pragma once
#include <algorithm>
#include <initializer_list>

#include "comparison_math.cuh"
#include "cpu_threads.h"
#include "normrt/tensor.h"
#include "op_util.h"

namespace normrt::detail {

// The index map of an output of `out_shape`, dense in `out_format`, over up to three operands (absent ones get stride
// 0), each dense in its own memory format: dimensions in the output's memory order, size-1 ones dropped and each
// merged into the next where every operand steps through the two as through one.
cmpmath::Plan broadcast_plan(const Shape& out_shape, MemoryFormat out_format,
                             std::initializer_list<const Tensor*> operands);

// body(at, steps, out, n) for each run of the plan's last dimension (long runs cut into pieces, so that a single run
// still spreads over the threads): output elements [out, out + n) take operand k at at[k] + i * steps[k].
template <typename Body>
void for_each_run(const cmpmath::Plan& p, Body body) {
  if (p.numel == 0) return;
  constexpr int64_t kPiece = int64_t{1} << 14;
  const int64_t length = p.ndim == 0 ? 1 : p.sizes[p.ndim - 1];
  const int64_t runs = p.numel / length, pieces = (length + kPiece - 1) / kPiece;
  int64_t steps[cmpmath::kOperands] = {};
  for (int k = 0; k < cmpmath::kOperands && p.ndim > 0; ++k) steps[k] = p.strides[k][p.ndim - 1];
#pragma omp parallel for schedule(static) if (cpu::worth_parallel(p.numel))
  for (int64_t task = 0; task < runs * pieces; ++task) {
    const int64_t r = task / pieces, lo = task % pieces * kPiece;
    int64_t at[cmpmath::kOperands];
    cmpmath::offsets(p, r * length, at);
    for (int k = 0; k < cmpmath::kOperands; ++k) at[k] += lo * steps[k];
    body(at, steps, r * length + lo, std::min(kPiece, length - lo));
  }
}

// The operands' checks before a broadcast op: each defined ("where: an operand is undefined"), all on one device (in
// PyTorch's words).
inline void check_defined_on_one_device(std::initializer_list<const Tensor*> operands, const char* op) {
  for (const Tensor* t : operands) NORMRT_CHECK(t->defined(), op, ": an operand is undefined");
  for (const Tensor* t : operands) ops::util::check_same_device(**operands.begin(), *t);
}

// out = condition ? a : b, element by element over out's shape and memory format, the operands (a and b of out's
// dtype, condition bool, all on out's device) broadcast to it: where's kernel. out may be b itself (each element is
// read where it is written).
void where_into(const Tensor& condition, const Tensor& a, const Tensor& b, Tensor& out);

// The sizes t expands to (PyTorch's expand: -1 keeps a size of t), refused in expand's words where t does not expand to
// them.
Shape expanded_sizes(const Tensor& t, const Shape& sizes);

}  // namespace normrt::detail
