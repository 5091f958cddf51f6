// normrt::Half (IEEE binary16) and normrt::BFloat16 (the top half of a binary32): storage types of 16 bits with
// conversions to and from float, usable in host code and in CUDA kernels alike. Conversion from float rounds to
// nearest, ties to even (as PyTorch's c10::Half and c10::BFloat16): overflow gives infinity, values below half the
// smallest subnormal give zero, and NaN gives the quiet NaN sign|0x7E00 (half) or 0x7FC0 (bfloat16). Arithmetic is
// done in float: these types only store.
#pragma once
#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#include <cuda_fp16.h>
#define NORMRT_HALF_HD __host__ __device__
#else
#define NORMRT_HALF_HD
#endif

namespace normrt {

namespace half_bits {

NORMRT_HALF_HD inline uint32_t bits_of(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

NORMRT_HALF_HD inline float float_of(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

// Rounds value / 2^shift to the nearest integer, ties to even.
NORMRT_HALF_HD inline uint32_t shift_right_even(uint32_t value, uint32_t shift) {
  const uint32_t kept = value >> shift, rest = value & ((1u << shift) - 1), half = 1u << (shift - 1);
  return kept + ((rest > half || (rest == half && (kept & 1u))) ? 1u : 0u);
}

NORMRT_HALF_HD inline uint16_t from_float_to_half(float f) {
#if defined(__CUDA_ARCH__)
  // On the device one conversion instruction (round to nearest, ties to even: the bits below), as PyTorch's
  // __float2half; only NaN is re-encoded, the instruction's canonical NaN dropping the sign. On an H200 float16
  // kernels ran 1.3-1.9x slower than bfloat16's with the software version.
  const uint16_t h = __half_as_ushort(__float2half_rn(f));
  const uint32_t bits = bits_of(f);
  return (bits & 0x7fffffffu) > 0x7f800000u ? static_cast<uint16_t>(((bits >> 16) & 0x8000u) | 0x7e00u) : h;
#else
  const uint32_t x = bits_of(f), sign = (x >> 16) & 0x8000u, magnitude = x & 0x7fffffffu;
  if (magnitude > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u);  // NaN
  if (magnitude >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // >= 65520: infinity
  if (magnitude >= 0x38800000u) {  // a normal half; a carry out of the mantissa moves the exponent up correctly
    return static_cast<uint16_t>(sign | shift_right_even(magnitude - (112u << 23), 13));
  }
  // A subnormal half (or zero): the value in units of 2^-24.
  const uint32_t exponent = magnitude >> 23;
  if (exponent < 102) return static_cast<uint16_t>(sign);  // below 2^-25: rounds to zero
  const uint32_t mantissa = (magnitude & 0x7fffffu) | 0x800000u;
  return static_cast<uint16_t>(sign | shift_right_even(mantissa, 126 - exponent));
#endif
}

NORMRT_HALF_HD inline float from_half_to_float(uint16_t h) {
#if defined(__CUDA_ARCH__)
  // On the device one conversion instruction (exact, as the bits below; a NaN may come out as the canonical one), as
  // PyTorch's __half2float: with the software version float16 kernels still ran only 1.00-1.10x float32 on an H200
  // where bfloat16's, decoded by a shift, ran 1.25-1.55x.
  return __half2float(__ushort_as_half(h));
#else
  // The three cases computed side by side and selected: normal numbers re-biased (exponent 15 -> 127), inf and NaN
  // with the exponent all ones (a NaN's payload kept), zero and subnormals as m x 2^-24 (exact; no float subnormal
  // arises, so flush-to-zero modes cannot change it).
  const uint32_t magnitude = h & 0x7fffu;
  const uint32_t normal = (magnitude << 13) + (112u << 23);
  const uint32_t special = normal | 0x7f800000u;
  const uint32_t subnormal = bits_of(static_cast<float>(magnitude) * 5.9604644775390625e-8f);
  const uint32_t bits = magnitude >= 0x7c00u ? special : magnitude >= 0x0400u ? normal : subnormal;
  return float_of(bits | (static_cast<uint32_t>(h & 0x8000u) << 16));
#endif
}

NORMRT_HALF_HD inline uint16_t from_float_to_bfloat16(float f) {
  const uint32_t x = bits_of(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return 0x7fc0u;  // NaN
  return static_cast<uint16_t>((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

NORMRT_HALF_HD inline float from_bfloat16_to_float(uint16_t b) { return float_of(static_cast<uint32_t>(b) << 16); }

}  // namespace half_bits

// A 16-bit floating storage type, its encoding given by Codec (encode: float -> bits, decode: bits -> float).
template <typename Codec>
struct Float16Storage {
  uint16_t bits = 0;
  Float16Storage() = default;
  NORMRT_HALF_HD explicit Float16Storage(float value) : bits(Codec::encode(value)) {}
  NORMRT_HALF_HD explicit operator float() const { return Codec::decode(bits); }
  NORMRT_HALF_HD static Float16Storage from_bits(uint16_t b) {
    Float16Storage h;
    h.bits = b;
    return h;
  }
  NORMRT_HALF_HD friend bool operator==(Float16Storage a, Float16Storage b) { return a.bits == b.bits; }
};

namespace half_bits {
struct HalfCodec {
  NORMRT_HALF_HD static uint16_t encode(float f) { return from_float_to_half(f); }
  NORMRT_HALF_HD static float decode(uint16_t b) { return from_half_to_float(b); }
};
struct BFloat16Codec {
  NORMRT_HALF_HD static uint16_t encode(float f) { return from_float_to_bfloat16(f); }
  NORMRT_HALF_HD static float decode(uint16_t b) { return from_bfloat16_to_float(b); }
};
}  // namespace half_bits

using Half = Float16Storage<half_bits::HalfCodec>;
using BFloat16 = Float16Storage<half_bits::BFloat16Codec>;

}  // namespace normrt
