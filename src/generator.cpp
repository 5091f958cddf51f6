#include "normrt/generator.h"

#include <algorithm>
#include <cmath>

#include "cpu_threads.h"
#include "nn_math.cuh"

namespace normrt {

std::array<uint32_t, 4> Generator::philox(uint64_t key, uint64_t counter_hi, uint64_t counter_lo) {
  const nnmath::Philox4 block = nnmath::philox4x32_10(key, counter_hi, counter_lo);
  return {block.v[0], block.v[1], block.v[2], block.v[3]};
}

std::array<uint32_t, 4> Generator::next_block() { return philox(seed_, 0, offset_++); }

namespace {
// 24 random bits -> a float in [0, 1) with every value exactly representable.
inline float to_unit_float(uint32_t bits) { return static_cast<float>(bits >> 8) * (1.0f / 16777216.0f); }

// Element k of a draw of `count` from block `first` on takes word k % 4 of block first + k / 4, whatever thread
// computes it: fill(begin, length) fills elements [begin, begin + length), begin a multiple of 4, in parallel chunks
// (the values are those of a sequential draw).
template <typename Fill>
void in_chunks(int64_t count, const Fill& fill) {
  constexpr int64_t kChunk = 4096;
  const int64_t chunks = (count + kChunk - 1) / kChunk;
#pragma omp parallel for schedule(static) if (cpu::worth_parallel(count))
  for (int64_t c = 0; c < chunks; ++c) fill(c * kChunk, std::min(kChunk, count - c * kChunk));
}
}  // namespace

void Generator::uniform(float* out, int64_t count) {
  const uint64_t first = offset_;
  in_chunks(count, [&](int64_t begin, int64_t length) {
    for (int64_t i = 0; i < length; i += 4) {
      const auto block = philox(seed_, 0, first + static_cast<uint64_t>((begin + i) / 4));
      for (int64_t j = 0; j < 4 && i + j < length; ++j) out[begin + i + j] = to_unit_float(block[j]);
    }
  });
  offset_ += static_cast<uint64_t>((count + 3) / 4);
}

void Generator::random_u32(uint32_t* out, int64_t count) {
  for (int64_t i = 0; i < count; i += 4) {
    const auto block = next_block();
    for (int64_t j = 0; j < 4 && i + j < count; ++j) out[i + j] = block[j];
  }
}

void Generator::normal(float* out, int64_t count) {
  constexpr double kTwoPi = 6.283185307179586476925286766559;
  const uint64_t first = offset_;
  in_chunks(count, [&](int64_t begin, int64_t length) {
    for (int64_t i = 0; i < length; i += 4) {
      const auto block = philox(seed_, 0, first + static_cast<uint64_t>((begin + i) / 4));
      for (int pair = 0; pair < 2; ++pair) {
        // u1 in (0, 1] keeps the logarithm finite.
        const double u1 = (static_cast<double>(block[2 * pair] >> 8) + 1.0) / 16777216.0;
        const double u2 = static_cast<double>(block[2 * pair + 1] >> 8) / 16777216.0;
        const double radius = std::sqrt(-2.0 * std::log(u1));
        const int64_t k = i + 2 * pair;
        if (k < length) out[begin + k] = static_cast<float>(radius * std::cos(kTwoPi * u2));
        if (k + 1 < length) out[begin + k + 1] = static_cast<float>(radius * std::sin(kTwoPi * u2));
      }
    }
  });
  offset_ += static_cast<uint64_t>((count + 3) / 4);
}

uint64_t Generator::next_seed() {
  const auto block = next_block();
  return (static_cast<uint64_t>(block[0]) << 32) | block[1];
}

Generator& default_generator() {
  static Generator generator(0);
  return generator;
}

void manual_seed(uint64_t seed) { default_generator().set_state(seed, 0); }

}  // namespace normrt
