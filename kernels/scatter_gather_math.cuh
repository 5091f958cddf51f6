// Index arithmetic and accumulation of gather and scatter: the kernels' offsets (kernels/scatter_gather.cu; the CPU
// walks each line with stepped offsets, src/scatter_gather.cpp), the range rule and PyTorch's addition, shared by both.
//
// Position p of the index (row-major over its sizes) with value v reads (gather) or writes (scatter) the target
// element at p's coordinates with v in place of the coordinate along `dim`; a scatter reads src at p's coordinates.
// The target and src may be larger than the index in every dimension (the target's `dim` is v's bound instead).
#pragma once
#include <cstdint>
#include <type_traits>

#include "hd.h"
#include "normrt/half.h"

namespace normrt::scattermath {

constexpr int kMaxDims = 5;  // normrt::kMaxDims

struct Geometry {
  int dims = 1;                           // the index's (a 0-d index: one element, as shape [1])
  int dim = 0;                            // the dimension indexed
  int64_t n = 0;                          // index elements
  int64_t bound = 0;                      // the target's size along dim: values in [0, bound) are in range
  int64_t sizes[kMaxDims] = {};           // the index's sizes
  int64_t target_strides[kMaxDims] = {};  // row-major strides of the target (gather: the input; scatter: self)
  int64_t source_strides[kMaxDims] = {};  // row-major strides of src (scatter only)
};

NORMRT_HD inline bool in_range(const Geometry& g, int64_t v) { return v >= 0 && v < g.bound; }

// The target element position p with value v addresses.
NORMRT_HD inline int64_t target_offset(const Geometry& g, int64_t p, int64_t v) {
  int64_t offset = 0;
  for (int d = g.dims - 1; d >= 0; --d) {
    const int64_t size = g.sizes[d], coordinate = p % size;
    offset += (d == g.dim ? v : coordinate) * g.target_strides[d];
    p /= size;
  }
  return offset;
}

// The src element position p reads.
NORMRT_HD inline int64_t source_offset(const Geometry& g, int64_t p) {
  int64_t offset = 0;
  for (int d = g.dims - 1; d >= 0; --d) {
    const int64_t size = g.sizes[d];
    offset += (p % size) * g.source_strides[d];
    p /= size;
  }
  return offset;
}

// PyTorch's `self += src` of scatter_add for one element of T: float32 and int64 (wrapping) exactly as the type adds,
// float16 and bfloat16 through float and rounded back at every addition.
template <typename T>
NORMRT_HD inline T add(T acc, T x) {
  if constexpr (std::is_same_v<T, int64_t>)
    return static_cast<int64_t>(static_cast<uint64_t>(acc) + static_cast<uint64_t>(x));
  else
    return T(static_cast<float>(acc) + static_cast<float>(x));
}

// `self *= src`, rounded (or wrapped) as add.
template <typename T>
NORMRT_HD inline T multiply(T acc, T x) {
  if constexpr (std::is_same_v<T, int64_t>)
    return static_cast<int64_t>(static_cast<uint64_t>(acc) * static_cast<uint64_t>(x));
  else
    return T(static_cast<float>(acc) * static_cast<float>(x));
}

// PyTorch's CPU amax and amin: a NaN src replaces the element, a NaN element stays, and otherwise the element is kept
// unless src is strictly larger (smaller): of two zeros the first stays.
template <typename T>
NORMRT_HD inline T maximum(T acc, T x) {
  if constexpr (std::is_same_v<T, int64_t>) {
    return acc < x ? x : acc;
  } else {
    const float a = static_cast<float>(acc), v = static_cast<float>(x);
    return v != v || a < v ? x : acc;
  }
}
template <typename T>
NORMRT_HD inline T minimum(T acc, T x) {
  if constexpr (std::is_same_v<T, int64_t>) {
    return x < acc ? x : acc;
  } else {
    const float a = static_cast<float>(acc), v = static_cast<float>(x);
    return v != v || v < a ? x : acc;
  }
}

// scatter_reduce's reductions (scatter's reduce="add" is Sum, "multiply" Prod). Mean sums, then divides by the count.
enum class Reduce : int { Sum, Prod, Mean, Amax, Amin };

template <typename T>
NORMRT_HD inline T combine(Reduce reduce, T acc, T x) {
  switch (reduce) {
    case Reduce::Prod: return multiply(acc, x);
    case Reduce::Amax: return maximum(acc, x);
    case Reduce::Amin: return minimum(acc, x);
    default: return add(acc, x);
  }
}

// What an element starts from with include_self=false (PyTorch fills the elements scattered to with it first): 0 for
// the sums, 1 for the product, -inf / +inf (int64's lowest / largest) for amax / amin.
template <typename T>
NORMRT_HD inline T identity(Reduce reduce) {
  if constexpr (std::is_same_v<T, int64_t>) {
    if (reduce == Reduce::Amax) return static_cast<int64_t>(uint64_t{1} << 63);
    if (reduce == Reduce::Amin) return static_cast<int64_t>(~(uint64_t{1} << 63));
    return reduce == Reduce::Prod ? 1 : 0;
  } else {
    const float infinity = half_bits::float_of(0x7f800000u);
    if (reduce == Reduce::Amax) return T(-infinity);
    if (reduce == Reduce::Amin) return T(infinity);
    return T(reduce == Reduce::Prod ? 1.0f : 0.0f);
  }
}

// Mean's last step, as PyTorch's out.div_(count): count is the element's positions (plus one with include_self),
// itself counted in T (a float16 count stops at 2048, where adding one rounds back down); floating types divide
// through float, int64 rounds the quotient down. count > 0.
template <typename T>
NORMRT_HD inline T mean_of(T sum, T count) {
  if constexpr (std::is_same_v<T, int64_t>) {
    const int64_t quotient = sum / count;
    return quotient * count != sum && sum < 0 ? quotient - 1 : quotient;
  } else {
    return T(static_cast<float>(sum) / static_cast<float>(count));
  }
}

}  // namespace normrt::scattermath
