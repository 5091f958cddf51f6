#include "normrt/scalar.h"

#include <cmath>

#include "normrt/error.h"

namespace normrt {

void Scalar::throw_int64_overflow() {
  NORMRT_CHECK(false, "value cannot be converted to type int64_t without overflow");
}

int64_t Scalar::to_int64() const {
  if (is_integral_) return integral_;
  // [-2^63, 2^63) holds every double that truncates into int64; NaN fails both comparisons.
  constexpr double kBound = 9223372036854775808.0;
  if (!(floating_ >= -kBound && floating_ < kBound)) throw_int64_overflow();
  return static_cast<int64_t>(floating_);
}

}  // namespace normrt
