// cuBLAS statuses named for NORMRT_CUBLAS_CHECK, through whichever cuBLASLt cublaslt() gives: the library loaded on
// first use (cublaslt_library.cpp), or the emulated device's stand-in (tests/simt/emulated_cublaslt.cpp).
#include <string>

#include "cublaslt_library.h"
#include "normrt/cuda_check.h"

namespace normrt::detail {

std::string cublas_error_message(int status, const char* expr) {
  const auto code = static_cast<cublasStatus_t>(status);
  try {
    const CublasLt& lt = cublaslt();
    return concat("cuBLAS error ", lt.cublasLtGetStatusName(code), " (", lt.cublasLtGetStatusString(code), ") in ",
                  expr);
  } catch (const Error&) {  // a status from a cuBLAS normrt could not load: the program's own
    return concat("cuBLAS error ", status, " in ", expr);
  }
}

}  // namespace normrt::detail
