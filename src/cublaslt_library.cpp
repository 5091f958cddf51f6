#include "cublaslt_library.h"

#include <mutex>
#include <string>

#include "normrt/cuda_check.h"
#include "runtime_library.h"

namespace normrt::detail {

const CublasLt& cublaslt() {
  static std::once_flag once;
  static CublasLt api;
  static std::string failure;
  std::call_once(once, [] {
    RuntimeLibrary library("libcublasLt.so." + std::to_string(CUBLAS_VER_MAJOR), "cublasLtMatmul", "cuBLAS");
#define NORMRT_CUBLASLT_LOAD(name) library.load(api.name, #name);
    NORMRT_CUBLASLT_FUNCTIONS(NORMRT_CUBLASLT_LOAD)
#undef NORMRT_CUBLASLT_LOAD
    failure = library.failure();
  });
  NORMRT_CHECK(failure.empty(), "cuBLASLt: ", failure);
  return api;
}

}  // namespace normrt::detail
