// TF32 as tensor cores read float32 operands, for the emulated vendor libraries' TF32 modes. Test-only.
#pragma once
#include <cstdint>
#include <cstring>

namespace emu {

// A float32 value rounded to TF32's 10 mantissa bits (to nearest, ties to even), as tensor cores read it.
inline float to_tf32(float v) {
  uint32_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  if ((bits & 0x7f800000u) == 0x7f800000u) return v;  // inf and NaN pass
  bits += 0x0fffu + ((bits >> 13) & 1u);
  bits &= 0xffffe000u;
  std::memcpy(&v, &bits, sizeof v);
  return v;
}

}  // namespace emu
