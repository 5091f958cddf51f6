// What the GPU suites share about skipping: a suite skips when its device or library is missing, except on a GPU
// runner, where NORMRT_REQUIRE_GPU=1 turns every such skip into a failure (a runner with a broken driver must not
// go green). The emulated device (tests/simt) never requires one: it has no cuDNN by design.
#pragma once
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>

namespace normrt::testing {

inline bool gpu_required() {
#ifdef NORMRT_EMULATED_DEVICE
  return false;
#else
  const char* v = std::getenv("NORMRT_REQUIRE_GPU");
  return v != nullptr && std::strcmp(v, "0") != 0 && *v != '\0';
#endif
}

}  // namespace normrt::testing

// Skips the test (or fails it under NORMRT_REQUIRE_GPU=1) unless `condition` holds.
#define NORMRT_GPU_TEST_REQUIRES(condition, what)                                                \
  do {                                                                                           \
    if (!(condition)) {                                                                          \
      if (::normrt::testing::gpu_required()) FAIL() << "NORMRT_REQUIRE_GPU is set but " << what; \
      GTEST_SKIP() << what;                                                                      \
    }                                                                                            \
  } while (0)
