// Internal: tmath::line_sum's eight double lanes (kernels/tensor_math.cuh) as GCC/Clang vectors, for CPU loops that
// keep the line functions' bits while converting and adding a group of eight floats per vector instruction.
#pragma once
#include <cstring>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "tensor_math.cuh"

namespace normrt::cpu {

// Eight floats, and line_sum's eight double lanes, as vectors: a lane's group converts and adds as one vector
// instruction (or two or four, at the machine's width). Left to the auto-vectoriser, loops over groups assembled
// their vectors from single floats once OpenMP had outlined them.
constexpr int kLanes = tmath::kLineLanes;
typedef float LaneFloats __attribute__((vector_size(kLanes * sizeof(float))));
typedef double LaneSums __attribute__((vector_size(kLanes * sizeof(double))));

// wide = the eight floats at `group` as doubles. GCC 12 converts a LaneFloats vector (or lets the auto-vectoriser
// convert a loop's floats) half by half, with extracts and inserts: three shuffle-port instructions where AVX-512
// needs one, and the bound of the channels-last pooling loops. (Vectors go by reference: a 64-byte vector by value
// changes the calling convention between builds with and without AVX-512.)
inline void widen_group(LaneSums& wide, const float* group) {
#if defined(__AVX512F__)
  static_assert(kLanes == 8, "one AVX-512 vector of doubles");
  // The zero-masking form with every lane selected is the same instruction; the plain form's undefined pass-through
  // draws GCC 12's -Wmaybe-uninitialized.
  wide = _mm512_maskz_cvtps_pd(0xFF, _mm256_loadu_ps(group));
#else
  LaneFloats v;
  std::memcpy(&v, group, sizeof v);
  wide = __builtin_convertvector(v, LaneSums);
#endif
}

// lanes += the eight floats at `group` as doubles.
inline void add_lanes(LaneSums& lanes, const float* group) {
  LaneSums wide;
  widen_group(wide, group);
  lanes += wide;
}

// The lanes combined in line_sum's fixed tree.
inline double lanes_total(const LaneSums& lanes) {
  double tree[kLanes];
  std::memcpy(tree, &lanes, sizeof tree);
  for (int width = kLanes / 2; width > 0; width /= 2)
    for (int j = 0; j < width; ++j) tree[j] += tree[j + width];
  return tree[0];
}

// A divisor shared by many lanes, with its reciprocal rounded to double.
struct LaneDivisor {
  explicit LaneDivisor(double d) : divisor(d), reciprocal(1.0 / d) {}
  double divisor, reciprocal;
};

// The lanes' sums divided by d, each quotient the division's bits (RN(sum / divisor), as the kernels and the scalar
// loops divide), without a division: q = RN(sum r) corrected once by the exact remainder, q + (sum - divisor q) r,
// correctly rounded by Markstein's theorem (r = RN(1 / divisor), q within an ulp; no underflow for sums of floats).
// Infinite and NaN sums keep q (their remainder is NaN). A vdivpd per eight lanes bounded the channels-last average
// pool (40% of its samples on 32x64x56x56, 3x3 stride 2).
inline LaneSums divided(const LaneSums& sums, const LaneDivisor& d) {
#if defined(__AVX512F__)
  static_assert(sizeof(LaneSums) == sizeof(__m512d), "one AVX-512 vector of doubles");
  const __m512d a = reinterpret_cast<const __m512d&>(sums), reciprocal = _mm512_set1_pd(d.reciprocal);
  const __m512d q = _mm512_mul_pd(a, reciprocal);
  const __m512d remainder = _mm512_fnmadd_pd(_mm512_set1_pd(d.divisor), q, a);
  const __m512d corrected = _mm512_fmadd_pd(remainder, reciprocal, q);
  const __m512d result = _mm512_mask_mov_pd(q, _mm512_cmp_pd_mask(remainder, remainder, _CMP_ORD_Q), corrected);
  return reinterpret_cast<const LaneSums&>(result);
#else
  return sums / d.divisor;
#endif
}

// The eight floats at `group` replaced by float(group[j] * factor), the product in double.
inline void scale_group(float* group, double factor) {
  LaneSums wide;
  widen_group(wide, group);
  const LaneFloats scaled = __builtin_convertvector(wide * factor, LaneFloats);
  std::memcpy(group, &scaled, sizeof scaled);
}

}  // namespace normrt::cpu
