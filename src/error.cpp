#include "normrt/error.h"

#include <cstdio>

#include "normrt/cuda_check.h"
#include "normrt/log.h"

namespace normrt::detail {

[[noreturn]] void throw_error(const char* file, int line, const std::string& message) {
  throw Error(concat(message, " (", file, ":", line, ")"));
}

void log_error(const char* file, int line, const std::string& message) {
  log(LogLevel::Error, concat(message, " (", file, ":", line, ")"));
}

#if NORMRT_WITH_CUDA
std::string cuda_error_message(cudaError_t status, const char* expr) {
  return concat("CUDA error ", cudaGetErrorName(status), " (", cudaGetErrorString(status), ") in ", expr);
}
#endif

}  // namespace normrt::detail
