// Host arrays converted between float32 and the 16-bit floating types exactly as normrt::Half and normrt::BFloat16
// convert one value (round to nearest even; PyTorch's NaN encodings), in loops that vectorise: the conversion
// instructions for float16 where the build has them (AVX-512 or F16C; a group with a NaN takes the portable code,
// whose NaN encodings the instructions do not give; decoding tests for the exponent all ones), and branch-free bit
// arithmetic for bfloat16. Used by Tensor::to and by the CPU BatchNorm backend, which converts 16-bit operands block
// by block in L1.
#pragma once
#if defined(__F16C__) || defined(__AVX512F__)
#include <immintrin.h>
#endif

#include <cstdint>
#include <type_traits>

#include "normrt/half.h"
#include "tensor_math.cuh"

namespace normrt::detail {

// BFloat16(f)'s bits, as a select that loops vectorise (half_bits::from_float_to_bfloat16 branches on NaN).
inline uint16_t bfloat16_bits(float f) {
  const uint32_t x = half_bits::bits_of(f);
  const uint32_t rounded = (x + 0x7fffu + ((x >> 16) & 1u)) >> 16;
  return static_cast<uint16_t>((x & 0x7fffffffu) > 0x7f800000u ? 0x7fc0u : rounded);
}

// to[0, n) = from[0, n) converted (From == To: copied); a bool is 0 or 1.
template <typename From, typename To>
inline void convert_elements(const From* from, To* to, int64_t n) {
  // The loops' bounds are computed up front: GCC 12 warns of undefined behaviour in a remainder loop that continues
  // a blocked loop's counter once this is inlined next to a fixed-size buffer.
  if constexpr (std::is_same_v<From, To>) {
    // A plain loop in blocks of 16: a library memmove call per 49-float plane costs more than the copy.
    const int64_t blocked = n / 16 * 16;
    for (int64_t i = 0; i < blocked; i += 16)
      for (int j = 0; j < 16; ++j) to[i + j] = from[i + j];
    for (int64_t i = blocked; i < n; ++i) to[i] = from[i];
    return;
  } else if constexpr (std::is_same_v<From, BFloat16> && std::is_same_v<To, float>) {
    for (int64_t i = 0; i < n; ++i) to[i] = half_bits::float_of(static_cast<uint32_t>(from[i].bits) << 16);
    return;
  } else if constexpr (std::is_same_v<From, float> && std::is_same_v<To, BFloat16>) {
    for (int64_t i = 0; i < n; ++i) to[i].bits = bfloat16_bits(from[i]);
    return;
  }
  int64_t vectorised = 0;  // elements the conversion instructions took
#if defined(__AVX512F__) && defined(__AVX512BW__)
  // 32 values per test (a test per 8 bounded a 16-bit BatchNorm reading from memory). The zero-masked forms: GCC 12
  // warns of the unmasked ones' undefined pass-through operand.
  if constexpr (std::is_same_v<From, float> && std::is_same_v<To, Half>) {
    vectorised = n / 32 * 32;
    for (int64_t i = 0; i < vectorised; i += 32) {
      const __m512 a = _mm512_loadu_ps(from + i), b = _mm512_loadu_ps(from + i + 16);
      if ((_mm512_cmp_ps_mask(a, a, _CMP_UNORD_Q) | _mm512_cmp_ps_mask(b, b, _CMP_UNORD_Q)) != 0) {
        for (int j = 0; j < 32; ++j) to[i + j] = Half(from[i + j]);
        continue;
      }
      const __m256i low = _mm512_maskz_cvtps_ph(0xffff, a, _MM_FROUND_TO_NEAREST_INT);
      const __m256i high = _mm512_maskz_cvtps_ph(0xffff, b, _MM_FROUND_TO_NEAREST_INT);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(to + i), low);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(to + i + 16), high);
    }
  } else if constexpr (std::is_same_v<From, Half> && std::is_same_v<To, float>) {
    const __m512i exponent_mask = _mm512_set1_epi16(0x7c00);
    vectorised = n / 32 * 32;
    for (int64_t i = 0; i < vectorised; i += 32) {
      const __m512i h = _mm512_loadu_si512(from + i);
      if (_mm512_cmpeq_epi16_mask(_mm512_and_si512(h, exponent_mask), exponent_mask) != 0) {
        for (int j = 0; j < 32; ++j) to[i + j] = static_cast<float>(from[i + j]);
        continue;
      }
      for (int half = 0; half < 2; ++half) {
        const __m256i values = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(from + i + 16 * half));
        _mm512_storeu_ps(to + i + 16 * half, _mm512_maskz_cvtph_ps(0xffff, values));
      }
    }
  }
#elif defined(__F16C__) && defined(__AVX__)
  if constexpr (std::is_same_v<From, float> && std::is_same_v<To, Half>) {
    vectorised = n / 8 * 8;
    for (int64_t i = 0; i < vectorised; i += 8) {
      const __m256 v = _mm256_loadu_ps(from + i);
      if (_mm256_movemask_ps(_mm256_cmp_ps(v, v, _CMP_UNORD_Q)) != 0) {
        for (int j = 0; j < 8; ++j) to[i + j] = Half(from[i + j]);
        continue;
      }
      _mm_storeu_si128(reinterpret_cast<__m128i*>(to + i), _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
    }
  } else if constexpr (std::is_same_v<From, Half> && std::is_same_v<To, float>) {
    const __m128i exponent_mask = _mm_set1_epi16(0x7c00);
    vectorised = n / 8 * 8;
    for (int64_t i = 0; i < vectorised; i += 8) {
      const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(from + i));
      if (_mm_movemask_epi8(_mm_cmpeq_epi16(_mm_and_si128(h, exponent_mask), exponent_mask)) != 0) {
        for (int j = 0; j < 8; ++j) to[i + j] = static_cast<float>(from[i + j]);
        continue;
      }
      _mm256_storeu_ps(to + i, _mm256_cvtph_ps(h));
    }
  }
#endif
  for (int64_t i = vectorised; i < n; ++i) {
    // A number is true where it is not zero (NaN too); an int64 through float still is, as no non-zero int64 rounds
    // to zero.
    if constexpr (std::is_same_v<To, bool>) to[i] = static_cast<float>(from[i]) != 0.0f;
    else if constexpr (std::is_same_v<To, float>) to[i] = static_cast<float>(from[i]);
    else if constexpr (std::is_same_v<To, int64_t>) to[i] = tmath::truncated_int64(static_cast<float>(from[i]));
    else to[i] = To(static_cast<float>(from[i]));
  }
}

}  // namespace normrt::detail
