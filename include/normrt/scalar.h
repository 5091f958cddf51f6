// normrt::Scalar: a number that remembers whether it was written as an integer, as libtorch's c10::Scalar, so that
// `t + 1` keeps an int64 tensor int64 while `t + 0.5` makes it float32, and an int64 value above 2^53 reaches an
// int64 tensor exactly. Integers (bool included) convert implicitly and are held as int64; float and double as double.
#pragma once
#include <cstdint>
#include <limits>
#include <type_traits>

namespace normrt {

class Scalar {
 public:
  Scalar(double value) : floating_(value) {}  // NOLINT: numbers convert implicitly, as in libtorch
  template <typename T, std::enable_if_t<std::is_integral_v<T>, int> = 0>
  Scalar(T value) : integral_(static_cast<int64_t>(value)), is_integral_(true) {  // NOLINT
    if constexpr (std::is_unsigned_v<T> && sizeof(T) >= sizeof(int64_t)) {
      if (value > static_cast<T>(std::numeric_limits<int64_t>::max())) throw_int64_overflow();
    }
  }

  bool is_integral() const { return is_integral_; }
  // An integral value as double rounds to nearest.
  double to_double() const { return is_integral_ ? static_cast<double>(integral_) : floating_; }
  // Rounded once, as PyTorch converts a number to float: an integral value straight from int64.
  float to_float() const { return is_integral_ ? static_cast<float>(integral_) : static_cast<float>(floating_); }
  // A floating value truncates toward zero; NaN, an infinity or a value outside int64's range throws PyTorch's
  // "value cannot be converted to type int64_t without overflow".
  int64_t to_int64() const;

 private:
  [[noreturn]] static void throw_int64_overflow();

  double floating_ = 0.0;
  int64_t integral_ = 0;
  bool is_integral_ = false;
};

}  // namespace normrt
