#include "normrt/generator.h"

#include <algorithm>
#include <cmath>

#include "cpu_threads.h"
#include "float_math.cuh"
#include "nn_math.cuh"
#include "philox_cpu.h"

namespace normrt {

std::array<uint32_t, 4> Generator::philox(uint64_t key, uint64_t counter_hi, uint64_t counter_lo) {
  const nnmath::Philox4 block = nnmath::philox4x32_10(key, counter_hi, counter_lo);
  return {block.v[0], block.v[1], block.v[2], block.v[3]};
}

std::array<uint32_t, 4> Generator::next_block() { return philox(seed_, 0, offset_++); }

namespace {
constexpr int64_t kChunk = 4096;  // elements per parallel task: a whole number of blocks
constexpr int kBlocksPerCall = 16;

// Element k of a draw of `count` from block `first` on takes word k % 4 of block first + k / 4, whatever thread
// computes it: fill(begin, length, words) fills elements [begin, begin + length), begin a multiple of 4, from words
// (those elements' words, in order), in parallel chunks; the values are those of a sequential draw.
template <typename Fill>
void in_chunks(uint64_t key, uint64_t first, int64_t count, const Fill& fill) {
  const int64_t chunks = (count + kChunk - 1) / kChunk;
#pragma omp parallel for schedule(static) if (cpu::worth_parallel(count))
  for (int64_t c = 0; c < chunks; ++c) {
    alignas(64) uint32_t words[kChunk];
    const int64_t begin = c * kChunk, length = std::min(kChunk, count - begin);
    for (int64_t b = 0; b < (length + 3) / 4; b += kBlocksPerCall)
      cpu::philox_blocks<kBlocksPerCall>(key, first + static_cast<uint64_t>(begin / 4 + b), words + 4 * b);
    fill(begin, length, words);
  }
}
}  // namespace

void Generator::uniform(float* out, int64_t count) {
  in_chunks(seed_, offset_, count, [out](int64_t begin, int64_t length, const uint32_t* words) {
    for (int64_t i = 0; i < length; ++i) out[begin + i] = nnmath::unit_float(words[i]);
  });
  offset_ += static_cast<uint64_t>((count + 3) / 4);
}

void Generator::random_u32(uint32_t* out, int64_t count) {
  for (int64_t i = 0; i < count; i += 4) {
    const auto block = next_block();
    for (int64_t j = 0; j < 4 && i + j < count; ++j) out[i + j] = block[j];
  }
}

// Box-Muller on each pair of words (u1, u2): r cos(2 pi u2), r sin(2 pi u2) with r = sqrt(-2 ln u1), in float with
// float_math's ln and sin/cos (vectorised; glibc's double log/cos/sin calls took 3x PyTorch's time).
void Generator::normal(float* out, int64_t count) {
  in_chunks(seed_, offset_, count, [out](int64_t begin, int64_t length, const uint32_t* words) {
    alignas(64) float values[kChunk];
    for (int64_t pair = 0; pair < (length + 1) / 2; ++pair) {
      // u1 in (0, 1] keeps the logarithm finite.
      const float u1 = static_cast<float>((words[2 * pair] >> 8) + 1) * (1.0f / 16777216.0f);
      const float radius = std::sqrt(-2.0f * fmath::log(u1));
      float sin_angle, cos_angle;
      fmath::sin_cos_turns(nnmath::unit_float(words[2 * pair + 1]), sin_angle, cos_angle);
      values[2 * pair] = radius * cos_angle;
      values[2 * pair + 1] = radius * sin_angle;
    }
    std::copy(values, values + length, out + begin);
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
