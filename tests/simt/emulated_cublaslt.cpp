// cuBLASLt for the emulated device: the functions src/linear_cublas.cpp calls, in place of src/cublaslt_library.cpp's
// loader, so that normrt's real cuBLASLt code (descriptors, transposes, leading dimensions, the heuristic cache, the
// per-stream workspaces and their locking) runs in CI. Arguments are checked by cuBLASLt's rules: one data type for
// A, B and C, float32 scale and accumulation, TF32 only for float32 data (and then always taken: operands rounded to
// TF32), layouts that fit the operation's m, n and k, leading dimensions no smaller than the rows, the workspace the
// chosen algorithm asked for. The product is computed on the host in double and queued on the call's stream like a
// kernel (emulated_device.h).
//
// A product with a long inner dimension runs as split-K does on a GPU: one queued item writes partial sums into the
// caller's workspace, a second reduces them into D. Two GEMMs sharing a workspace that are enqueued interleaved
// (threads sharing a stream) then get each other's sums, as they did on an H200 before linear_cublas.cpp enqueued
// each GEMM whole: CudaNn.ThreadsSharingAStreamGetTheirOwnProducts fails here without that lock. Test-only.
#include <cublasLt.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "cublaslt_library.h"
#include "emulated_device.h"
#include "normrt/half.h"
#include "tf32.h"

namespace normrt::detail {
namespace {

constexpr int64_t kSplitFrom = 512;  // inner dimensions from here split in two (cuBLAS's heuristics pick split-K
                                     // for small outputs with long sums; the tests' products are small)

struct Context {};
struct MatmulDesc {
  cublasComputeType_t compute;
  cudaDataType_t scale;
  cublasOperation_t ta = CUBLAS_OP_N, tb = CUBLAS_OP_N;
  cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_DEFAULT;
  const void* bias = nullptr;
};
struct Layout {
  cudaDataType_t type;
  uint64_t rows, cols;
  int64_t ld;
};
struct Preference {
  std::size_t max_workspace = 0;
};

template <typename Emulated, typename Handle>
Emulated* as(Handle handle) {
  return reinterpret_cast<Emulated*>(handle);
}

template <typename Value>
cublasStatus_t set(Value& field, const void* buf, std::size_t size) {
  if (buf == nullptr || size != sizeof(Value)) return CUBLAS_STATUS_INVALID_VALUE;
  std::memcpy(&field, buf, size);
  return CUBLAS_STATUS_SUCCESS;
}

// cuBLASLt's objects are handles to emulated structs: made by create_as, ended by destroy_as.
template <typename Emulated, typename Handle>
cublasStatus_t create_as(Handle* handle, Emulated value) {
  if (handle == nullptr) return CUBLAS_STATUS_INVALID_VALUE;
  *handle = reinterpret_cast<Handle>(new Emulated(value));
  return CUBLAS_STATUS_SUCCESS;
}
template <typename Emulated, typename Handle>
cublasStatus_t destroy_as(Handle handle) {
  delete as<Emulated>(handle);
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t create(cublasLtHandle_t* handle) { return create_as(handle, Context{}); }
cublasStatus_t desc_create(cublasLtMatmulDesc_t* desc, cublasComputeType_t compute, cudaDataType_t scale) {
  return create_as(desc, MatmulDesc{compute, scale});
}
cublasStatus_t desc_set(cublasLtMatmulDesc_t handle, cublasLtMatmulDescAttributes_t attr, const void* buf,
                        std::size_t size) {
  MatmulDesc* desc = as<MatmulDesc>(handle);
  if (desc == nullptr) return CUBLAS_STATUS_NOT_INITIALIZED;
  switch (attr) {
    case CUBLASLT_MATMUL_DESC_TRANSA: return set(desc->ta, buf, size);
    case CUBLASLT_MATMUL_DESC_TRANSB: return set(desc->tb, buf, size);
    case CUBLASLT_MATMUL_DESC_EPILOGUE: return set(desc->epilogue, buf, size);
    case CUBLASLT_MATMUL_DESC_BIAS_POINTER: return set(desc->bias, buf, size);
    default: return CUBLAS_STATUS_NOT_SUPPORTED;  // not emulated
  }
}

cublasStatus_t layout_create(cublasLtMatrixLayout_t* layout, cudaDataType type, uint64_t rows, uint64_t cols,
                             int64_t ld) {
  if (ld < 0 || static_cast<uint64_t>(ld) < rows) return CUBLAS_STATUS_INVALID_VALUE;
  return create_as(layout, Layout{type, rows, cols, ld});
}

cublasStatus_t preference_create(cublasLtMatmulPreference_t* preference) {
  return create_as(preference, Preference{});
}
cublasStatus_t preference_set(cublasLtMatmulPreference_t handle, cublasLtMatmulPreferenceAttributes_t attr,
                              const void* buf, std::size_t size) {
  Preference* preference = as<Preference>(handle);
  if (preference == nullptr) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (attr == CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES) {
    uint64_t bytes = 0;
    const cublasStatus_t status = set(bytes, buf, size);
    if (status == CUBLAS_STATUS_SUCCESS) preference->max_workspace = bytes;
    return status;
  }
  return CUBLAS_STATUS_NOT_SUPPORTED;
}

// One product, checked: D (m x n) = op(A) (m x k) op(B) (k x n), all column-major.
struct Problem {
  cudaDataType_t type;
  int64_t m, n, k;
  std::size_t workspace(int splits) const {
    return splits > 1 ? static_cast<std::size_t>(splits * m * n) * sizeof(double) : 0;
  }
};

cublasStatus_t problem_of(const MatmulDesc* op, const Layout* a, const Layout* b, const Layout* c, const Layout* d,
                          Problem* problem) {
  if (op == nullptr || a == nullptr || b == nullptr || c == nullptr || d == nullptr)
    return CUBLAS_STATUS_NOT_INITIALIZED;
  const cudaDataType_t type = a->type;
  const bool known_type = type == CUDA_R_32F || type == CUDA_R_16F || type == CUDA_R_16BF;
  const bool tf32 = op->compute == CUBLAS_COMPUTE_32F_FAST_TF32;
  if (!known_type || b->type != type || c->type != type || d->type != type || op->scale != CUDA_R_32F ||
      (op->compute != CUBLAS_COMPUTE_32F && !(tf32 && type == CUDA_R_32F)))
    return CUBLAS_STATUS_NOT_SUPPORTED;
  if ((op->ta != CUBLAS_OP_N && op->ta != CUBLAS_OP_T) || (op->tb != CUBLAS_OP_N && op->tb != CUBLAS_OP_T))
    return CUBLAS_STATUS_NOT_SUPPORTED;
  if (op->epilogue != CUBLASLT_EPILOGUE_DEFAULT && op->epilogue != CUBLASLT_EPILOGUE_BIAS)
    return CUBLAS_STATUS_NOT_SUPPORTED;
  if (op->epilogue == CUBLASLT_EPILOGUE_BIAS && op->bias == nullptr) return CUBLAS_STATUS_INVALID_VALUE;
  const auto m = static_cast<int64_t>(d->rows), n = static_cast<int64_t>(d->cols);
  const bool a_n = op->ta == CUBLAS_OP_N, b_n = op->tb == CUBLAS_OP_N;
  const auto k = static_cast<int64_t>(a_n ? a->cols : a->rows);
  const bool fits = static_cast<int64_t>(a_n ? a->rows : a->cols) == m &&
                    static_cast<int64_t>(b_n ? b->rows : b->cols) == k &&
                    static_cast<int64_t>(b_n ? b->cols : b->rows) == n && c->rows == d->rows && c->cols == d->cols;
  if (!fits) return CUBLAS_STATUS_INVALID_VALUE;
  *problem = {type, m, n, k};
  return CUBLAS_STATUS_SUCCESS;
}

int splits_of(const Problem& problem, std::size_t max_workspace) {
  return problem.k >= kSplitFrom && problem.workspace(2) <= max_workspace ? 2 : 1;
}

cublasStatus_t heuristic(cublasLtHandle_t handle, cublasLtMatmulDesc_t op, cublasLtMatrixLayout_t a,
                         cublasLtMatrixLayout_t b, cublasLtMatrixLayout_t c, cublasLtMatrixLayout_t d,
                         cublasLtMatmulPreference_t preference, int requested,
                         cublasLtMatmulHeuristicResult_t results[], int* returned) {
  if (handle == nullptr || preference == nullptr) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (requested < 1 || results == nullptr || returned == nullptr) return CUBLAS_STATUS_INVALID_VALUE;
  Problem problem{};
  const cublasStatus_t status =
      problem_of(as<MatmulDesc>(op), as<Layout>(a), as<Layout>(b), as<Layout>(c), as<Layout>(d), &problem);
  if (status != CUBLAS_STATUS_SUCCESS) return status;
  const int splits = splits_of(problem, as<Preference>(preference)->max_workspace);
  results[0] = cublasLtMatmulHeuristicResult_t{};
  results[0].algo.data[0] = static_cast<uint64_t>(splits);
  results[0].workspaceSize = problem.workspace(splits);
  results[0].state = CUBLAS_STATUS_SUCCESS;
  results[0].wavesCount = 1.0f;
  *returned = 1;
  return CUBLAS_STATUS_SUCCESS;
}

// Element (row, col) of a column-major matrix read through op (stored transposed when op is CUBLAS_OP_T), as TF32
// when the product computes so.
template <typename T>
double at(const void* matrix, int64_t ld, cublasOperation_t op, int64_t row, int64_t col, bool tf32 = false) {
  const T* p = static_cast<const T*>(matrix);
  const auto v = static_cast<float>(op == CUBLAS_OP_N ? p[row + col * ld] : p[col + row * ld]);
  return static_cast<double>(tf32 ? emu::to_tf32(v) : v);
}

template <typename T>
void queue_product(cudaStream_t stream, const MatmulDesc& op, float alpha, const void* a, int64_t lda, const void* b,
                   int64_t ldb, float beta, const void* c, int64_t ldc, void* d, int64_t ldd, const Problem& problem,
                   int splits, void* workspace) {
  const int64_t m = problem.m, n = problem.n, k = problem.k;
  const cublasOperation_t ta = op.ta, tb = op.tb;
  const bool tf32 = op.compute == CUBLAS_COMPUTE_32F_FAST_TF32;  // takes every liberty it is given
  // Partial sums over k's slices (one slice unless split): into the workspace when split, kept here otherwise.
  auto partial = std::make_shared<std::vector<double>>();
  auto sum_slices = [=](double* sums) {
    for (int s = 0; s < splits; ++s) {
      const int64_t begin = k * s / splits, end = k * (s + 1) / splits;
      for (int64_t j = 0; j < n; ++j)
        for (int64_t i = 0; i < m; ++i) {
          double acc = 0.0;
          for (int64_t p = begin; p < end; ++p) acc += at<T>(a, lda, ta, i, p, tf32) * at<T>(b, ldb, tb, p, j, tf32);
          sums[(s * n + j) * m + i] = acc;
        }
    }
  };
  auto* sums_in_workspace = static_cast<double*>(workspace);
  emu::enqueue(stream, [=] {
    if (splits > 1) {
      sum_slices(sums_in_workspace);
    } else {
      partial->resize(static_cast<std::size_t>(m * n));
      sum_slices(partial->data());
    }
  });
  // cuBLAS's host work between a split product's launches, lengthened so that a concurrent enqueue lands in between
  // whenever one can.
  if (splits > 1) std::this_thread::sleep_for(std::chrono::microseconds(200));
  const auto* bias = op.epilogue == CUBLASLT_EPILOGUE_BIAS ? static_cast<const T*>(op.bias) : nullptr;
  emu::enqueue(stream, [=] {
    const double* sums = splits > 1 ? sums_in_workspace : partial->data();
    for (int64_t j = 0; j < n; ++j)
      for (int64_t i = 0; i < m; ++i) {
        double acc = 0.0;
        for (int s = 0; s < splits; ++s) acc += sums[(s * n + j) * m + i];
        acc *= alpha;
        if (beta != 0.0f) acc += beta * at<T>(c, ldc, CUBLAS_OP_N, i, j);
        if (bias != nullptr) acc += static_cast<float>(bias[i]);
        static_cast<T*>(d)[i + j * ldd] = T(static_cast<float>(acc));
      }
  });
}

cublasStatus_t matmul(cublasLtHandle_t handle, cublasLtMatmulDesc_t op_handle, const void* alpha, const void* a,
                      cublasLtMatrixLayout_t a_layout, const void* b, cublasLtMatrixLayout_t b_layout, const void* beta,
                      const void* c, cublasLtMatrixLayout_t c_layout, void* d, cublasLtMatrixLayout_t d_layout,
                      const cublasLtMatmulAlgo_t* algo, void* workspace, std::size_t workspace_bytes,
                      cudaStream_t stream) {
  if (handle == nullptr) return CUBLAS_STATUS_NOT_INITIALIZED;
  const MatmulDesc* op = as<MatmulDesc>(op_handle);
  Problem problem{};
  const cublasStatus_t status =
      problem_of(op, as<Layout>(a_layout), as<Layout>(b_layout), as<Layout>(c_layout), as<Layout>(d_layout), &problem);
  if (status != CUBLAS_STATUS_SUCCESS) return status;
  if (alpha == nullptr || beta == nullptr || algo == nullptr) return CUBLAS_STATUS_INVALID_VALUE;
  const auto splits = static_cast<int>(algo->data[0]);
  if (splits < 1 || splits > 2) return CUBLAS_STATUS_INVALID_VALUE;  // not an algorithm the heuristic gave
  if (problem.workspace(splits) > 0 && (workspace == nullptr || workspace_bytes < problem.workspace(splits)))
    return CUBLAS_STATUS_INVALID_VALUE;
  if (problem.m == 0 || problem.n == 0) return CUBLAS_STATUS_SUCCESS;
  float alpha_value = 0.0f, beta_value = 0.0f;  // host pointers (the default pointer mode): read now
  std::memcpy(&alpha_value, alpha, sizeof alpha_value);
  std::memcpy(&beta_value, beta, sizeof beta_value);
  const int64_t lda = as<Layout>(a_layout)->ld, ldb = as<Layout>(b_layout)->ld;
  const int64_t ldc = as<Layout>(c_layout)->ld, ldd = as<Layout>(d_layout)->ld;
  auto queue = [&](auto element) {
    queue_product<decltype(element)>(stream, *op, alpha_value, a, lda, b, ldb, beta_value, c, ldc, d, ldd, problem,
                                     splits, workspace);
  };
  if (problem.type == CUDA_R_16F) queue(Half{});
  else if (problem.type == CUDA_R_16BF) queue(BFloat16{});
  else queue(float{});
  return CUBLAS_STATUS_SUCCESS;
}

const char* status_name(cublasStatus_t status) {
  switch (status) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    default: return "CUBLAS_STATUS_UNKNOWN";
  }
}
const char* status_string(cublasStatus_t status) {
  switch (status) {
    case CUBLAS_STATUS_SUCCESS: return "success";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "the library was not initialized";
    case CUBLAS_STATUS_INVALID_VALUE: return "an invalid numeric value was used as an argument";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "the functionality requested is not supported";
    default: return "unknown error";
  }
}

}  // namespace

const CublasLt& cublaslt() {
  static const CublasLt api = [] {
    CublasLt lt;
    lt.cublasLtGetStatusName = status_name;
    lt.cublasLtGetStatusString = status_string;
    lt.cublasLtCreate = create;
    lt.cublasLtDestroy = destroy_as<Context, cublasLtHandle_t>;
    lt.cublasLtMatmulDescCreate = desc_create;
    lt.cublasLtMatmulDescDestroy = destroy_as<MatmulDesc, cublasLtMatmulDesc_t>;
    lt.cublasLtMatmulDescSetAttribute = desc_set;
    lt.cublasLtMatrixLayoutCreate = layout_create;
    lt.cublasLtMatrixLayoutDestroy = destroy_as<Layout, cublasLtMatrixLayout_t>;
    lt.cublasLtMatmulPreferenceCreate = preference_create;
    lt.cublasLtMatmulPreferenceDestroy = destroy_as<Preference, cublasLtMatmulPreference_t>;
    lt.cublasLtMatmulPreferenceSetAttribute = preference_set;
    lt.cublasLtMatmulAlgoGetHeuristic = heuristic;
    lt.cublasLtMatmul = matmul;
    return lt;
  }();
  return api;
}

}  // namespace normrt::detail
