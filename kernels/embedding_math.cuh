// The arithmetic of an embedding's backward, max_norm and embedding_bag's reductions, shared by the CPU path and
// kernels/embedding.cu.
//
// A weight row's gradient is the sum of the gradient rows of the positions that looked it up, added in position order
// (PyTorch 1.13's CPU kernel), each scaled by 1 / (the row's count) under scale_grad_by_freq, as PyTorch's add_(grad,
// alpha) rounds per dtype (measured against it): float32 one fused multiply-add; float16 the product rounded to half
// and then the sum; bfloat16 its vectorised loop's fused multiply-add of the widened values with alpha rounded to
// bfloat16 (PyTorch's scalar tail, the last D mod 32 columns on AVX2, rounds the product first). Unscaled, every dtype
// adds the widened values and rounds once.
#pragma once
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "float_math.cuh"
#include "hd.h"
#include "normrt/half.h"

namespace normrt::embmath {

// alpha of a row looked up `count` times: 1, or 1 / count as a float rounded to T's precision.
template <typename T>
NORMRT_HD inline float gradient_scale(int64_t count, bool scale_by_frequency) {
  if (!scale_by_frequency) return 1.0f;
  return static_cast<float>(T(static_cast<float>(1.0 / static_cast<double>(count))));
}

// acc + alpha g, rounded as PyTorch's add_ of dtype T.
template <typename T>
NORMRT_HD inline T accumulate(T acc, T g, float alpha) {
  const float a = static_cast<float>(acc), x = static_cast<float>(g);
  if (alpha == 1.0f) return T(a + x);
  if constexpr (std::is_same_v<T, Half>)
    return T(a + static_cast<float>(T(x * alpha)));
  else
    return T(fmaf(x, alpha, a));
}

// The p-norm of a row of `length` elements (p = inf: the largest magnitude, -inf: the smallest, 0: the count of
// nonzero elements), accumulated in double; a general p sums fmath::pow(|x|, p) and takes the 1/p power of the sum
// rounded to float.
template <typename T>
NORMRT_HD inline double row_norm(const T* row, int64_t length, double p) {
  double acc = p == -INFINITY ? INFINITY : 0.0;
  for (int64_t j = 0; j < length; ++j) {
    const double v = fabs(static_cast<double>(static_cast<float>(row[j])));
    if (p == 2.0)
      acc += v * v;
    else if (p == 1.0)
      acc += v;
    else if (p == INFINITY)
      acc = v > acc ? v : acc;
    else if (p == -INFINITY)
      acc = v < acc ? v : acc;
    else if (p == 0.0)
      acc += v != 0.0 ? 1.0 : 0.0;
    else
      acc += fmath::pow(static_cast<float>(v), static_cast<float>(p));
  }
  if (p == 2.0) return sqrt(acc);
  if (p == 1.0 || p == 0.0 || p == INFINITY || p == -INFINITY) return acc;
  return fmath::pow(static_cast<float>(acc), static_cast<float>(1.0 / p));
}

// max_norm's renormalisation of one row, as PyTorch's embedding_renorm_: a row whose norm exceeds max_norm is
// multiplied by max_norm / (norm + 1e-7), that factor rounded to float.
template <typename T>
NORMRT_HD inline void renorm_row(T* row, int64_t length, double max_norm, double p) {
  const double norm = row_norm(row, length, p);
  if (!(norm > max_norm)) return;
  const float scale = static_cast<float>(max_norm / (norm + 1e-7));
  for (int64_t j = 0; j < length; ++j) row[j] = T(static_cast<float>(row[j]) * scale);
}

// embedding_bag's reductions, as PyTorch 1.13's CPU computes them (its caffe2 lookup kernel for sum and mean, its own
// loops for max and for a padding_idx): a bag's sum accumulates in float, each position adding its row times its
// per-sample weight (1 without: exactly acc + x) as one fused multiply-add, or (`fused` false: PyTorch's loop when a
// padding_idx is given) the product rounded first; a mean rounds that sum to T and divides it by the count of
// positions in float, rounding again; a max keeps the first of equal values and takes a NaN only as the bag's first
// value. Padding positions are left out of all three, and an empty bag gives 0.
enum class BagMode : int { Sum = 0, Mean = 1, Max = 2 };

// Whether row k is the padding row (padding_idx -1: there is none; a negative k is a bad index, not padding).
NORMRT_HD inline bool is_padding(int64_t k, int64_t padding_idx) { return padding_idx >= 0 && k == padding_idx; }

NORMRT_HD inline float bag_sum_step(float acc, float x, float weight, bool fused) {
  return fused ? fmaf(weight, x, acc) : acc + weight * x;
}

NORMRT_HD inline bool bag_max_takes(float max, float x, bool first) { return first || x > max; }

template <typename T>
NORMRT_HD inline T bag_output(float acc, int64_t count, BagMode mode) {
  if (mode != BagMode::Mean || count == 0) return T(acc);
  return T(static_cast<float>(T(acc)) / static_cast<float>(count));
}

// Column `column` of the bag of positions [begin, end) of `indices`, rows of weight (rows x columns), padding_idx's
// positions left out (-1: none; `fused` as bag_sum_step's); *arg is the max's row (-1 for an empty bag). A row outside
// [0, rows) reads NaN (a device does not stop to check).
template <typename T>
NORMRT_HD inline T bag_element(const T* weight, int64_t rows, int64_t columns, const int64_t* indices, int64_t begin,
                               int64_t end, const T* per_sample_weights, BagMode mode, int64_t padding_idx, bool fused,
                               int64_t column, int64_t* arg) {
  float acc = 0.0f;
  int64_t count = 0, best = -1;
  for (int64_t p = begin; p < end; ++p) {
    const int64_t k = indices[p];
    if (is_padding(k, padding_idx)) continue;
    const float x =
        k >= 0 && k < rows ? static_cast<float>(weight[k * columns + column]) : half_bits::float_of(0x7fc00000u);
    if (mode != BagMode::Max) {
      acc = bag_sum_step(acc, x, per_sample_weights ? static_cast<float>(per_sample_weights[p]) : 1.0f, fused);
    } else if (bag_max_takes(acc, x, count == 0)) {
      acc = x;
      best = k;
    }
    ++count;
  }
  *arg = best;
  return bag_output<T>(acc, count, mode);
}

}  // namespace normrt::embmath
