// cuBLASLt, loaded when normrt first needs it (the first GPU GEMM, or a cuBLAS status to name) rather than linked:
// libcublasLt maps some 200 MB and takes about 0.1 s to relocate at every process start, which programs that never
// run a Linear on a GPU (CPU training, the tests) would pay for nothing (runtime_library.h, as libnccl).
#pragma once
#include <cublasLt.h>

namespace normrt::detail {

#define NORMRT_CUBLASLT_FUNCTIONS(X)                                                                               \
  X(cublasLtGetStatusName) X(cublasLtGetStatusString) X(cublasLtCreate) X(cublasLtDestroy)                        \
  X(cublasLtMatmulDescCreate) X(cublasLtMatmulDescDestroy) X(cublasLtMatmulDescSetAttribute)                      \
  X(cublasLtMatrixLayoutCreate) X(cublasLtMatrixLayoutDestroy) X(cublasLtMatmulPreferenceCreate)                  \
  X(cublasLtMatmulPreferenceDestroy) X(cublasLtMatmulPreferenceSetAttribute) X(cublasLtMatmulAlgoGetHeuristic)    \
  X(cublasLtMatmul)

// The functions normrt calls, each member named as its function.
struct CublasLt {
#define NORMRT_CUBLASLT_MEMBER(name) decltype(&::name) name = nullptr;
  NORMRT_CUBLASLT_FUNCTIONS(NORMRT_CUBLASLT_MEMBER)
#undef NORMRT_CUBLASLT_MEMBER
};

// Loads the library on the first call (thread-safe); throws normrt::Error naming what is missing.
const CublasLt& cublaslt();

}  // namespace normrt::detail
