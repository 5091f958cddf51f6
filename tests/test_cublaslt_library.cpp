// cuBLASLt loaded on first use (src/cublaslt_library.h): not mapped when a process starts, every function normrt
// calls found once loaded, and cuBLAS statuses named through it. No GPU needed: loading and naming use no device.
#include <dlfcn.h>

#include <cstdlib>
#include <string>

#include "cublaslt_library.h"
#include "normrt/cuda_check.h"
#include "test_util.h"

namespace normrt {
namespace {

using detail::CublasLt;
using detail::cublaslt;
using testing::throws_with;

const std::string kSoname = "libcublasLt.so." + std::to_string(CUBLAS_VER_MAJOR);

bool cublaslt_mapped() {
  void* handle = dlopen(kSoname.c_str(), RTLD_NOW | RTLD_NOLOAD);
  if (handle != nullptr) dlclose(handle);
  return handle != nullptr;
}

TEST(CublasLtLibrary, IsNotMappedWhenAProcessStarts) {
  // A fresh process (the death test re-runs this binary for this test only): linking normrt must not bring the
  // library in, whatever other tests of this binary loaded before.
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(std::exit(cublaslt_mapped() ? 1 : 0), ::testing::ExitedWithCode(0), "");
}

TEST(CublasLtLibrary, LoadsEveryFunctionOnFirstUse) {
  const CublasLt& lt = cublaslt();
#define EXPECT_LOADED(name) EXPECT_NE(lt.name, nullptr) << #name;
  NORMRT_CUBLASLT_FUNCTIONS(EXPECT_LOADED)
#undef EXPECT_LOADED
  EXPECT_TRUE(cublaslt_mapped());
  EXPECT_EQ(&cublaslt(), &lt);
  // The functions are the library's own: the status names come back as cuBLAS spells them.
  EXPECT_STREQ(lt.cublasLtGetStatusName(CUBLAS_STATUS_INVALID_VALUE), "CUBLAS_STATUS_INVALID_VALUE");
}

TEST(CublasLtLibrary, ChecksNameTheStatusTheExpressionAndWhere) {
  const auto failing = [] { return CUBLAS_STATUS_NOT_SUPPORTED; };
  const std::string where = std::string(__FILE__).substr(std::string(__FILE__).rfind('/') + 1);
  EXPECT_TRUE(throws_with([&] { NORMRT_CUBLAS_CHECK(failing()); },
                          "cuBLAS error CUBLAS_STATUS_NOT_SUPPORTED (" +
                              std::string(cublaslt().cublasLtGetStatusString(CUBLAS_STATUS_NOT_SUPPORTED)) +
                              ") in failing()"));
  EXPECT_TRUE(throws_with([&] { NORMRT_CUBLAS_CHECK(failing()); }, where + ":"));
  EXPECT_NO_THROW(NORMRT_CUBLAS_CHECK_LOG(failing()));
  EXPECT_NO_THROW(NORMRT_CUBLAS_CHECK([] { return CUBLAS_STATUS_SUCCESS; }()));
}

}  // namespace
}  // namespace normrt
