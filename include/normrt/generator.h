// A seeded, counter-based random generator (Philox4x32-10). Its state is (seed, offset): values depend only on
// those, never on the device the tensor lands on or on the number of threads, and the state can be saved and
// restored exactly (checkpoints).
#pragma once
#include <array>
#include <cstdint>

namespace normrt {

class Generator {
 public:
  explicit Generator(uint64_t seed = 0) : seed_(seed) {}

  uint64_t seed() const { return seed_; }
  // Number of 128-bit Philox blocks consumed so far.
  uint64_t offset() const { return offset_; }
  void set_state(uint64_t seed, uint64_t offset) { seed_ = seed; offset_ = offset; }

  // Fills `out` with uniform floats in [0, 1) (24 random bits each), then with standard normals (Box-Muller on pairs of
  // words, computed in float: within a few ulps of the double-precision transform of the same words), respectively.
  void uniform(float* out, int64_t count);
  // Raw 32-bit words of the stream.
  void random_u32(uint32_t* out, int64_t count);
  void normal(float* out, int64_t count);

  // Skips `blocks` Philox blocks (consumers that generate on a device reserve their range this way).
  void skip(uint64_t blocks) { offset_ += blocks; }
  // A fresh 64-bit seed drawn from this stream (to seed per-layer generators).
  uint64_t next_seed();

  // One Philox4x32-10 block for (key, counter): exposed for the device-side RNGs that must match the host.
  static std::array<uint32_t, 4> philox(uint64_t key, uint64_t counter_hi, uint64_t counter_lo);

 private:
  std::array<uint32_t, 4> next_block();
  uint64_t seed_;
  uint64_t offset_ = 0;
};

// The process-wide generator used where none is passed (layer initialisation, dropout seeds), like torch's
// default generator. manual_seed() resets it.
Generator& default_generator();
void manual_seed(uint64_t seed);

}  // namespace normrt
