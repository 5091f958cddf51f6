#include "normrt/generator.h"

#include <cmath>

namespace normrt {

std::array<uint32_t, 4> Generator::philox(uint64_t key, uint64_t counter_hi, uint64_t counter_lo) {
  constexpr uint32_t kMul0 = 0xD2511F53u, kMul1 = 0xCD9E8D57u;
  constexpr uint32_t kWeyl0 = 0x9E3779B9u, kWeyl1 = 0xBB67AE85u;
  uint32_t c[4] = {static_cast<uint32_t>(counter_lo), static_cast<uint32_t>(counter_lo >> 32),
                   static_cast<uint32_t>(counter_hi), static_cast<uint32_t>(counter_hi >> 32)};
  uint32_t k0 = static_cast<uint32_t>(key), k1 = static_cast<uint32_t>(key >> 32);
  for (int round = 0; round < 10; ++round) {
    const uint64_t p0 = static_cast<uint64_t>(kMul0) * c[0];
    const uint64_t p1 = static_cast<uint64_t>(kMul1) * c[2];
    const uint32_t hi0 = static_cast<uint32_t>(p0 >> 32), lo0 = static_cast<uint32_t>(p0);
    const uint32_t hi1 = static_cast<uint32_t>(p1 >> 32), lo1 = static_cast<uint32_t>(p1);
    c[0] = hi1 ^ c[1] ^ k0;
    c[1] = lo1;
    c[2] = hi0 ^ c[3] ^ k1;
    c[3] = lo0;
    k0 += kWeyl0;
    k1 += kWeyl1;
  }
  return {c[0], c[1], c[2], c[3]};
}

std::array<uint32_t, 4> Generator::next_block() { return philox(seed_, 0, offset_++); }

namespace {
// 24 random bits -> a float in [0, 1) with every value exactly representable.
inline float to_unit_float(uint32_t bits) { return static_cast<float>(bits >> 8) * (1.0f / 16777216.0f); }
}  // namespace

void Generator::uniform(float* out, int64_t count) {
  for (int64_t i = 0; i < count; i += 4) {
    const auto block = next_block();
    for (int64_t j = 0; j < 4 && i + j < count; ++j) out[i + j] = to_unit_float(block[j]);
  }
}

void Generator::normal(float* out, int64_t count) {
  constexpr double kTwoPi = 6.283185307179586476925286766559;
  for (int64_t i = 0; i < count; i += 4) {
    const auto block = next_block();
    for (int pair = 0; pair < 2; ++pair) {
      // u1 in (0, 1] keeps the logarithm finite.
      const double u1 = (static_cast<double>(block[2 * pair] >> 8) + 1.0) / 16777216.0;
      const double u2 = static_cast<double>(block[2 * pair + 1] >> 8) / 16777216.0;
      const double radius = std::sqrt(-2.0 * std::log(u1));
      const int64_t k = i + 2 * pair;
      if (k < count) out[k] = static_cast<float>(radius * std::cos(kTwoPi * u2));
      if (k + 1 < count) out[k + 1] = static_cast<float>(radius * std::sin(kTwoPi * u2));
    }
  }
}

}  // namespace normrt
