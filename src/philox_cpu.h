// Philox4x32-10 blocks on the CPU, many at a time: the generator's draws and CPU dropout.
#pragma once
#include <cstdint>

#include "nn_math.cuh"

namespace normrt::cpu {

// Philox blocks first .. first + L - 1 (nnmath::philox4x32_10(key, 0, first + l)), word j of block l in
// words[4 l + j]: the stream's order, element i drawing word i % 4 of block i / 4. The rounds run across the
// blocks as SIMD lanes, on 32-bit words held in 64-bit lanes (vectorised 64-bit products; GCC 12 leaves widening
// 32 x 32 -> 64-bit ones scalar).
template <int L>
void philox_blocks(uint64_t key, uint64_t first, uint32_t* words) {
  uint64_t c0[L], c1[L], c2[L], c3[L];
#pragma omp simd
  for (int l = 0; l < L; ++l) {
    c0[l] = (first + static_cast<uint64_t>(l)) & 0xFFFFFFFFu;
    c1[l] = (first + static_cast<uint64_t>(l)) >> 32;
    c2[l] = 0;
    c3[l] = 0;
  }
  uint32_t k0 = static_cast<uint32_t>(key), k1 = static_cast<uint32_t>(key >> 32);
  for (int round = 0; round < 10; ++round, k0 += nnmath::kPhiloxBump0, k1 += nnmath::kPhiloxBump1) {
#pragma omp simd
    for (int l = 0; l < L; ++l) nnmath::philox_round<uint64_t>(c0[l], c1[l], c2[l], c3[l], k0, k1);
  }
  for (int l = 0; l < L; ++l) {
    words[4 * l] = static_cast<uint32_t>(c0[l]);
    words[4 * l + 1] = static_cast<uint32_t>(c1[l]);
    words[4 * l + 2] = static_cast<uint32_t>(c2[l]);
    words[4 * l + 3] = static_cast<uint32_t>(c3[l]);
  }
}

}  // namespace normrt::cpu
