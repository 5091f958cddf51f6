// Check macros for CUDA runtime, cuBLAS and cuDNN calls: throw normrt::Error naming the expression, file:line and
// the library's own error string. The *_LOG variants are for destructors and only log. A failed call's error is
// taken off the runtime's last-error slot once reported, so that the next launch check does not report it again,
// blamed on an unrelated kernel (sticky errors stay: the context is lost).
#pragma once
#include "normrt/config.h"
#include "normrt/error.h"

#if NORMRT_WITH_CUDA
#include <cuda_runtime_api.h>

namespace normrt::detail {
std::string cuda_error_message(cudaError_t status, const char* expr);
// "cuBLAS error NAME (description) in expr", the names from the cuBLASLt normrt loads (src/cublaslt_library.h).
std::string cublas_error_message(int status, const char* expr);
}

#define NORMRT_CUDA_CHECK(expr)                                                                       \
  do {                                                                                                \
    const cudaError_t normrt_status_ = (expr);                                                        \
    if (normrt_status_ != cudaSuccess) {                                                              \
      (void)cudaGetLastError();                                                                       \
      ::normrt::detail::throw_error(__FILE__, __LINE__, ::normrt::detail::cuda_error_message(normrt_status_, #expr)); \
    }                                                                                                 \
  } while (0)

#define NORMRT_CUDA_CHECK_LOG(expr)                                                                   \
  do {                                                                                                \
    const cudaError_t normrt_status_ = (expr);                                                        \
    if (normrt_status_ != cudaSuccess) {                                                              \
      (void)cudaGetLastError();                                                                       \
      ::normrt::detail::log_error(__FILE__, __LINE__, ::normrt::detail::cuda_error_message(normrt_status_, #expr)); \
    }                                                                                                 \
  } while (0)

// After a kernel launch: reports launch-configuration errors without synchronising.
#define NORMRT_CUDA_CHECK_LAUNCH() NORMRT_CUDA_CHECK(cudaGetLastError())

// cuDNN and cuBLAS checks expand where the caller has included cudnn.h / cublas_v2.h or cublasLt.h.
#define NORMRT_CUDNN_CHECK(expr)                                                                          \
  do {                                                                                                    \
    const cudnnStatus_t normrt_status_ = (expr);                                                          \
    if (normrt_status_ != CUDNN_STATUS_SUCCESS)                                                           \
      ::normrt::detail::throw_error(__FILE__, __LINE__, ::normrt::detail::concat(                          \
          "cuDNN error ", cudnnGetErrorString(normrt_status_), " in ", #expr));                           \
  } while (0)

#define NORMRT_CUDNN_CHECK_LOG(expr)                                                                      \
  do {                                                                                                    \
    const cudnnStatus_t normrt_status_ = (expr);                                                          \
    if (normrt_status_ != CUDNN_STATUS_SUCCESS)                                                           \
      ::normrt::detail::log_error(__FILE__, __LINE__, ::normrt::detail::concat(                            \
          "cuDNN error ", cudnnGetErrorString(normrt_status_), " in ", #expr));                           \
  } while (0)

#define NORMRT_CUBLAS_CHECK(expr)                                                                         \
  do {                                                                                                    \
    const cublasStatus_t normrt_status_ = (expr);                                                         \
    if (normrt_status_ != CUBLAS_STATUS_SUCCESS)                                                          \
      ::normrt::detail::throw_error(__FILE__, __LINE__,                                                    \
          ::normrt::detail::cublas_error_message(static_cast<int>(normrt_status_), #expr));                \
  } while (0)

#define NORMRT_CUBLAS_CHECK_LOG(expr)                                                                     \
  do {                                                                                                    \
    const cublasStatus_t normrt_status_ = (expr);                                                         \
    if (normrt_status_ != CUBLAS_STATUS_SUCCESS)                                                          \
      ::normrt::detail::log_error(__FILE__, __LINE__,                                                      \
          ::normrt::detail::cublas_error_message(static_cast<int>(normrt_status_), #expr));                \
  } while (0)
#endif
