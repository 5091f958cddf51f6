// Helpers shared by the test suites.
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "normrt/normrt.h"
#include "test_util_core.h"

namespace normrt::testing {

inline std::vector<double> to_double(const std::vector<float>& v) { return {v.begin(), v.end()}; }
inline std::vector<double> to_double(const Tensor& t) { return to_double(t.to_vector()); }

// Runs `fn` and checks that it throws normrt::Error whose message contains `needle`.
template <typename Fn>
::testing::AssertionResult throws_with(Fn fn, const std::string& needle) {
  try {
    fn();
  } catch (const Error& e) {
    if (std::string(e.what()).find(needle) != std::string::npos) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "message \"" << e.what() << "\" lacks \"" << needle << "\"";
  } catch (const std::exception& e) {
    return ::testing::AssertionFailure() << "threw a non-normrt exception: " << e.what();
  }
  return ::testing::AssertionFailure() << "did not throw";
}

}  // namespace normrt::testing
