#pragma once
#include <utility>

// Declares an option `name` of type T with a chainable setter `name(value)` and a getter `name()`, in the style of
// libtorch's TORCH_ARG, e.g. BatchNormOptions(64).eps(1e-3).momentum(std::nullopt).
#define NORMRT_ARG(T, name)                                    \
 public:                                                        \
  auto name(const T& new_##name)->decltype(*this) {             \
    this->name##_ = new_##name;                                 \
    return *this;                                               \
  }                                                             \
  const T& name() const noexcept { return this->name##_; }      \
                                                                \
 private:                                                       \
  T name##_
