// Comparison helpers shared by every test suite (no dependency on the library).
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace normrt::testing {

inline double max_abs(const std::vector<double>& v) {
  double m = 0;
  for (double e : v)
    if (std::isfinite(e)) m = std::max(m, std::fabs(e));
  return m;
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
