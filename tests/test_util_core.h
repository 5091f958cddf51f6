// Comparison helpers shared by every test suite (no dependency on the library).
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <ios>
#include <vector>

namespace normrt::testing {

inline double max_abs(const std::vector<double>& v) {
  double m = 0;
  for (double e : v)
    if (std::isfinite(e)) m = std::max(m, std::fabs(e));
  return m;
}

// Whether two float vectors hold the same bit patterns, as a claim of "the same bits" needs: float's == takes -0 for
// +0 and never matches a NaN. Any NaN matches any NaN: no op promises a payload, and a GPU's arithmetic returns its
// canonical NaN (0x7fffffff) where x86 keeps the operand's (PyTorch's 0x7fc00000). A failure names the first element
// that differs, with both patterns.
inline ::testing::AssertionResult same_bits(const std::vector<float>& actual, const std::vector<float>& expected) {
  if (actual.size() != expected.size())
    return ::testing::AssertionFailure() << "size " << actual.size() << " vs expected " << expected.size();
  for (std::size_t i = 0; i < actual.size(); ++i) {
    uint32_t a, e;
    std::memcpy(&a, &actual[i], sizeof a);
    std::memcpy(&e, &expected[i], sizeof e);
    if (a != e && !(std::isnan(actual[i]) && std::isnan(expected[i]))) {
      return ::testing::AssertionFailure() << "at " << i << ": " << actual[i] << " (0x" << std::hex << a
                                           << ") vs expected " << expected[i] << " (0x" << e << ")";
    }
  }
  return ::testing::AssertionSuccess();
}

// Elementwise |actual - expected| <= rtol * |expected| + atol_scale * scale, where scale is max|expected| unless
// given: values that cancel to ~0 are judged against the magnitude of the terms that produced them. NaNs and
// infinities must match exactly.
template <typename A, typename E>
::testing::AssertionResult all_close(const std::vector<A>& actual, const std::vector<E>& expected, double rtol,
                                     double atol_scale, double scale = -1) {
  if (actual.size() != expected.size())
    return ::testing::AssertionFailure() << "size " << actual.size() << " vs expected " << expected.size();
  if (scale < 0) scale = max_abs(std::vector<double>(expected.begin(), expected.end()));
  for (std::size_t i = 0; i < actual.size(); ++i) {
    const double a = actual[i], e = expected[i];
    if (std::isnan(e) || std::isnan(a)) {
      if (std::isnan(e) != std::isnan(a))
        return ::testing::AssertionFailure() << "at " << i << ": " << a << " vs expected " << e;
      continue;
    }
    if (std::isinf(e) || std::isinf(a)) {
      if (a != e) return ::testing::AssertionFailure() << "at " << i << ": " << a << " vs expected " << e;
      continue;
    }
    if (std::fabs(a - e) > rtol * std::fabs(e) + atol_scale * scale)
      return ::testing::AssertionFailure() << "at " << i << ": " << a << " vs expected " << e << " (diff "
                                           << std::fabs(a - e) << ", scale " << scale << ")";
  }
  return ::testing::AssertionSuccess();
}

}  // namespace normrt::testing
