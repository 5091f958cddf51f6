// Division by a value fixed for a whole launch: a multiply-high and a shift instead of a hardware division
// (Granlund-Montgomery, as PyTorch's IntDivider), for 32-bit indices below 2^31; 64-bit indices divide plainly.
#pragma once
#include <cstdint>

#include "bn_math.cuh"
#include "cuda_compat.cuh"

namespace normrt::bn {

template <typename Index>
struct Divider;

template <>
struct Divider<uint32_t> {
  uint32_t divisor = 1, multiplier = 0, shift = 0;

  Divider() = default;
  explicit Divider(uint32_t d) : divisor(d) {
    while (shift < 32 && (uint64_t{1} << shift) < d) ++shift;
    multiplier = static_cast<uint32_t>(((uint64_t{1} << 32) * ((uint64_t{1} << shift) - d)) / d + 1);
  }
  // Valid for n < 2^31.
  NORMRT_HD uint32_t div(uint32_t n) const {
    const uint32_t t = NORMRT_UMULHI(n, multiplier);
    return (t + n) >> shift;
  }
  NORMRT_HD void divmod(uint32_t n, uint32_t& q, uint32_t& r) const {
    q = div(n);
    r = n - q * divisor;
  }
};

template <>
struct Divider<uint64_t> {
  uint64_t divisor = 1;
  Divider() = default;
  explicit Divider(uint64_t d) : divisor(d) {}
  NORMRT_HD uint64_t div(uint64_t n) const { return n / divisor; }
  NORMRT_HD void divmod(uint64_t n, uint64_t& q, uint64_t& r) const {
    q = n / divisor;
    r = n - q * divisor;
  }
};

}  // namespace normrt::bn
