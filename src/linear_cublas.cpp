// Every cuBLAS call of normrt: the Linear GEMMs through cuBLASLt (one code path for all three products; the
// forward's bias rides on the CUBLASLT_EPILOGUE_BIAS epilogue, so y is written once). Row-major matrices are
// column-major transposes: row-major y = x W^T is column-major y^T = W x^T with W stored as W^T (in x out).
// Compute type CUBLAS_COMPUTE_32F (exact FP32, or FP32 accumulation of float16/bfloat16 operands on the tensor
// cores) unless TF32 is allowed for float32. Heuristic results are cached by problem. cuBLASLt is loaded on the first
// GEMM (cublaslt_library.h).
#include <map>
#include <memory>
#include <mutex>
#include <utility>
#include <tuple>
#include <unordered_map>

#include "cublaslt_library.h"
#include "linear_cuda.h"
#include "normrt/cuda.h"
#include "normrt/cuda_check.h"

namespace normrt::detail {

namespace {

constexpr std::size_t kWorkspaceBytes = std::size_t{32} << 20;

// This thread's cuBLASLt handle for a device.
struct Handle {
  cublasLtHandle_t handle = nullptr;
  explicit Handle(int device) {
    cuda::DeviceGuard guard(device);
    NORMRT_CUBLAS_CHECK(cublaslt().cublasLtCreate(&handle));
  }
  ~Handle() { NORMRT_CUBLAS_CHECK_LOG(cublaslt().cublasLtDestroy(handle)); }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
};

// A workspace per (device, stream): GEMMs on different streams may run at the same time, and with one workspace
// they would overwrite each other's. Allocated on a stream's first GEMM (a warm-up step before CUDA-graph capture),
// outside the stream-ordered pool so that it never moves. Threads that share a stream share its workspace: a GEMM
// can be several kernels (split-K: partial sums into the workspace, then their reduction), so each GEMM is enqueued
// under `enqueue`, keeping its kernels together in the stream. Without it, two data-parallel ranks (threads on one
// GPU's stream) interleaved their split-K kernels and one rank's output became the other's (seen on an H200).
struct Workspace {
  void* data = nullptr;
  std::mutex enqueue;
  explicit Workspace(int device) {
    cuda::DeviceGuard guard(device);
    NORMRT_CUDA_CHECK(cudaMalloc(&data, kWorkspaceBytes));
  }
  ~Workspace() { NORMRT_CUDA_CHECK_LOG(cudaFree(data)); }
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;
};

cublasLtHandle_t handle_for(int device) {
  thread_local std::unordered_map<int, std::unique_ptr<Handle>> handles;
  auto& slot = handles[device];
  if (!slot) slot = std::make_unique<Handle>(device);
  return slot->handle;
}

Workspace& workspace_for(int device, cudaStream_t stream) {
  static std::mutex mutex;
  static auto* workspaces = new std::map<std::pair<int, cudaStream_t>, std::unique_ptr<Workspace>>;  // never freed
  std::lock_guard<std::mutex> lock(mutex);
  auto& slot = (*workspaces)[{device, stream}];
  if (!slot) slot = std::make_unique<Workspace>(device);
  return *slot;
}

// RAII for the cuBLASLt descriptors of one call.
struct Descriptors {
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
  ~Descriptors() {
    if (a) NORMRT_CUBLAS_CHECK_LOG(cublaslt().cublasLtMatrixLayoutDestroy(a));
    if (b) NORMRT_CUBLAS_CHECK_LOG(cublaslt().cublasLtMatrixLayoutDestroy(b));
    if (c) NORMRT_CUBLAS_CHECK_LOG(cublaslt().cublasLtMatrixLayoutDestroy(c));
    if (op) NORMRT_CUBLAS_CHECK_LOG(cublaslt().cublasLtMatmulDescDestroy(op));
  }
};

using ProblemKey = std::tuple<int, int, int, int64_t, int64_t, int64_t, bool, bool, int, int>;

cudaDataType_t data_type(DType dtype) {
  switch (dtype) {
    case DType::Float16: return CUDA_R_16F;
    case DType::BFloat16: return CUDA_R_16BF;
    case DType::Float32: return CUDA_R_32F;
    default: break;
  }
  NORMRT_THROW("cuBLASLt GEMM: unsupported dtype ", dtype_name(dtype));
}

// Column-major C (m x n) = op(A) op(B) [+ bias per row of C] (+ beta C), every matrix and the bias of `dtype`; alpha,
// beta and the accumulation in float32.
void matmul(int device, DType dtype, cublasOperation_t ta, cublasOperation_t tb, int64_t m, int64_t n, int64_t k,
            const void* A, int64_t lda, const void* B, int64_t ldb, void* C, int64_t ldc, float beta, const void* bias,
            bool tf32) {
  const CublasLt& lt = cublaslt();
  const cublasLtHandle_t handle = handle_for(device);
  const cudaStream_t stream = cuda::current_stream(device);
  const cudaDataType_t type = data_type(dtype);
  tf32 = tf32 && dtype == DType::Float32;
  Descriptors d;
  NORMRT_CUBLAS_CHECK(lt.cublasLtMatmulDescCreate(&d.op, tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F,
                                                  CUDA_R_32F));
  NORMRT_CUBLAS_CHECK(lt.cublasLtMatmulDescSetAttribute(d.op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta));
  NORMRT_CUBLAS_CHECK(lt.cublasLtMatmulDescSetAttribute(d.op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb));
  if (bias != nullptr) {
    const cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_BIAS;
    NORMRT_CUBLAS_CHECK(
        lt.cublasLtMatmulDescSetAttribute(d.op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue, sizeof epilogue));
    NORMRT_CUBLAS_CHECK(
        lt.cublasLtMatmulDescSetAttribute(d.op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias));
  }
  const bool a_n = ta == CUBLAS_OP_N, b_n = tb == CUBLAS_OP_N;
  NORMRT_CUBLAS_CHECK(lt.cublasLtMatrixLayoutCreate(&d.a, type, a_n ? m : k, a_n ? k : m, lda));
  NORMRT_CUBLAS_CHECK(lt.cublasLtMatrixLayoutCreate(&d.b, type, b_n ? k : n, b_n ? n : k, ldb));
  NORMRT_CUBLAS_CHECK(lt.cublasLtMatrixLayoutCreate(&d.c, type, m, n, ldc));

  thread_local std::map<ProblemKey, cublasLtMatmulHeuristicResult_t> algorithms;
  const ProblemKey key{device, static_cast<int>(ta), static_cast<int>(tb), m, n, k, bias != nullptr, tf32,
                       beta != 0.0f ? 1 : 0, static_cast<int>(dtype)};
  auto it = algorithms.find(key);
  if (it == algorithms.end()) {
    cublasLtMatmulPreference_t preference = nullptr;
    NORMRT_CUBLAS_CHECK(lt.cublasLtMatmulPreferenceCreate(&preference));
    std::size_t workspace = kWorkspaceBytes;
    cublasLtMatmulHeuristicResult_t result{};
    int found = 0;
    cublasStatus_t status = lt.cublasLtMatmulPreferenceSetAttribute(
        preference, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &workspace, sizeof workspace);
    if (status == CUBLAS_STATUS_SUCCESS)
      status = lt.cublasLtMatmulAlgoGetHeuristic(handle, d.op, d.a, d.b, d.c, d.c, preference, 1, &result,
                                                 &found);
    NORMRT_CUBLAS_CHECK_LOG(lt.cublasLtMatmulPreferenceDestroy(preference));
    NORMRT_CUBLAS_CHECK(status);
    NORMRT_CHECK(found > 0, "cuBLASLt has no algorithm for a ", m, "x", n, "x", k, " ", dtype_name(dtype), " product");
    it = algorithms.emplace(key, result).first;
  }
  const float alpha = 1.0f;
  Workspace& workspace = workspace_for(device, stream);
  const std::lock_guard<std::mutex> enqueue(workspace.enqueue);
  NORMRT_CUBLAS_CHECK(lt.cublasLtMatmul(handle, d.op, &alpha, A, d.a, B, d.b, &beta, C, d.c, C, d.c, &it->second.algo,
                                        workspace.data, kWorkspaceBytes, stream));
}

}  // namespace

void cuda_linear_forward(DType dtype, const void* x, const void* w, const void* bias, void* y, int64_t n, int64_t in,
                         int64_t out, int device, bool tf32) {
  // y^T (out x n) = W (col-major view of row-major W: in x out, transposed) * x^T (in x n).
  matmul(device, dtype, CUBLAS_OP_T, CUBLAS_OP_N, out, n, in, w, in, x, in, y, out, 0.0f, bias, tf32);
}

void cuda_linear_backward(DType dtype, const void* dy, const void* x, const void* w, void* dx, void* dw,
                          bool accumulate_dw, int64_t n, int64_t in, int64_t out, int device, bool tf32) {
  // dx^T (in x n) = W^T (in x out, as stored) * dy^T (out x n, as stored); skipped when dx is not wanted (null).
  if (dx != nullptr)
    matmul(device, dtype, CUBLAS_OP_N, CUBLAS_OP_N, in, n, out, w, in, dy, out, dx, in, 0.0f, nullptr, tf32);
  // dW^T (in x out) = x^T (in x n, as stored) * dy (n x out: transpose of stored dy^T).
  matmul(device, dtype, CUBLAS_OP_N, CUBLAS_OP_T, in, out, n, x, in, dy, out, dw, in, accumulate_dw ? 1.0f : 0.0f,
         nullptr, tf32);
}

}  // namespace normrt::detail
