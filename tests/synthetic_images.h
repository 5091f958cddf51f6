// Test data for the trainer: 28x28 images of random pixels, labels cycling through the classes (enough for the
// trainer's mechanics; nothing to learn).
#pragma once
#include <cstdint>
#include <vector>

#include "normrt/data.h"
#include "normrt/generator.h"

namespace normrt::testing {

inline data::Dataset synthetic_images(int64_t count, uint64_t seed) {
  data::Dataset d;
  d.count = count;
  d.rows = d.cols = 28;
  d.pixels.resize(static_cast<std::size_t>(count * 784));
  std::vector<uint32_t> bits(d.pixels.size());
  Generator(seed).random_u32(bits.data(), static_cast<int64_t>(bits.size()));
  for (std::size_t i = 0; i < bits.size(); ++i) d.pixels[i] = static_cast<uint8_t>(bits[i]);
  for (int64_t i = 0; i < count; ++i) d.labels.push_back(i % 10);
  return d;
}

}  // namespace normrt::testing
