#include "cublaslt_library.h"

#include <dlfcn.h>

#include <mutex>
#include <string>

#include "normrt/cuda_check.h"

namespace normrt::detail {

namespace {

const std::string kSoname = "libcublasLt.so." + std::to_string(CUBLAS_VER_MAJOR);

}  // namespace

const CublasLt& cublaslt() {
  static std::once_flag once;
  static CublasLt api;
  static std::string failure;
  std::call_once(once, [] {
    // RTLD_DEFAULT is a null handle: whether it serves is told by the lookup.
    const bool in_program = dlsym(RTLD_DEFAULT, "cublasLtMatmul") != nullptr;
    void* library = RTLD_DEFAULT;
    if (!in_program) {
      // The search a link-time dependency would get: the program's RUNPATH, LD_LIBRARY_PATH, ld.so.cache.
      library = dlopen(kSoname.c_str(), RTLD_NOW | RTLD_LOCAL);
      if (library == nullptr) {
        const char* why = dlerror();
        failure = concat("cannot load ", kSoname, " (", why != nullptr ? why : "not found",
                         "): install cuBLAS or put its lib directory on LD_LIBRARY_PATH");
        return;
      }
    }
#define NORMRT_CUBLASLT_LOAD(name)                                                                          \
    api.name = reinterpret_cast<decltype(api.name)>(dlsym(library, #name));                                 \
    if (api.name == nullptr && failure.empty()) failure = concat(kSoname, " lacks ", #name);
    NORMRT_CUBLASLT_FUNCTIONS(NORMRT_CUBLASLT_LOAD)
#undef NORMRT_CUBLASLT_LOAD
  });
  NORMRT_CHECK(failure.empty(), "cuBLASLt: ", failure);
  return api;
}

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
