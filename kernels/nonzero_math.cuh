// The per-element rules of the selections (nonzero, masked_select, masked_scatter), shared by the CPU loops
// (src/nonzero.cpp) and the kernels (kernels/nonzero.cu): which bits hold a nonzero value, and where the k-th selected
// element's coordinates go.
#pragma once
#include <cstdint>

#include "hd.h"

namespace normrt::nzmath {

constexpr int kMaxDims = 5;  // normrt::kMaxDims

// Whether an element's bits hold a nonzero value: `value_bits` are every bit of an integer or a bool, and every bit but
// the sign of a floating value, so that -0.0 is zero and NaN is not (PyTorch's x != 0).
template <typename U>
NORMRT_HD inline bool nonzero_bits(U bits, U value_bits) {
  return (bits & value_bits) != 0;
}

// The sizes of a row-major shape, whose flat indices nonzero turns into coordinates.
struct Sizes {
  int ndim = 0;
  int64_t sizes[kMaxDims] = {};
};

// positions[d] = flat index i's coordinate along dimension d of the row-major shape s, for d < s.ndim: a row of
// nonzero's result. The loop runs over every possible dimension, so that a kernel indexes its Sizes argument by
// constants (an index in a register would copy the argument to local memory).
NORMRT_HD inline void unravel(const Sizes& s, int64_t i, int64_t* positions) {
  NORMRT_UNROLL
  for (int d = kMaxDims - 1; d >= 0; --d) {
    if (d >= s.ndim) continue;
    positions[d] = i % s.sizes[d];
    i /= s.sizes[d];
  }
}

}  // namespace normrt::nzmath
