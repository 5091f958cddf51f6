// The vendor libraries behind the emulated device. cuBLAS (Linear's GEMMs, in float32 and 16-bit) and CUB (the loss
// sums) are stood in for by plain host loops with double accumulation, queued on the current stream like the kernels
// (emulated_device.h), so that the layers, losses and optimizers around them run on the emulated device;
// src/linear_cublas.cpp and kernels/reduce.cu themselves run only on a real GPU. cuDNN is stood in for at its C API
// (emulated_cudnn.cpp, emulated_cudnn_conv.cpp), so src/batchnorm_cudnn.cpp and src/conv_cudnn.cpp run here too.
// Test-only.
#include <type_traits>
#include <vector>

#include "batchnorm_backend.h"
#include "emulated_device.h"
#include "linear_cuda.h"
#include "normrt/cuda.h"
#include "normrt/error.h"
#include "reduce.cuh"

namespace normrt {
namespace {

[[noreturn]] void not_emulated(const char* library) {
  NORMRT_THROW(library, " is not part of the emulated CUDA device (tests/simt); this needs a real GPU");
}

template <typename T, typename Acc>
void host_sum(const T* in, T* out, int64_t n) {
  Acc total = 0;
  for (int64_t i = 0; i < n; ++i) total += in[i];
  *out = static_cast<T>(total);
}

}  // namespace


namespace {

// Calls fn with a null pointer of the element type of `dtype` (float, Half, BFloat16).
template <typename Fn>
void with_element(DType dtype, Fn fn) {
  switch (dtype) {
    case DType::Float16: return fn(static_cast<Half*>(nullptr));
    case DType::BFloat16: return fn(static_cast<BFloat16*>(nullptr));
    default: return fn(static_cast<float*>(nullptr));
  }
}

// Widened exactly; a product accumulated in double and rounded once, as cuBLASLt's float32 accumulation of the
// 16-bit operands would up to summation order.
template <typename T>
double wide(T v) {
  return static_cast<double>(static_cast<float>(v));
}

}  // namespace

void detail::cuda_linear_forward(DType dtype, const void* xv, const void* wv, const void* bv, void* yv, int64_t n,
                                 int64_t in, int64_t out, int device, bool) {
  with_element(dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    const auto *x = static_cast<const T*>(xv), *w = static_cast<const T*>(wv), *bias = static_cast<const T*>(bv);
    auto* y = static_cast<T*>(yv);
    emu::enqueue(cuda::current_stream(device), [=] {
      for (int64_t r = 0; r < n; ++r)
        for (int64_t o = 0; o < out; ++o) {
          double acc = bias != nullptr ? wide(bias[o]) : 0.0;
          for (int64_t i = 0; i < in; ++i) acc += wide(x[r * in + i]) * wide(w[o * in + i]);
          y[r * out + o] = T(static_cast<float>(acc));
        }
    });
  });
}

void detail::cuda_linear_backward(DType dtype, const void* dyv, const void* xv, const void* wv, void* dxv, void* dwv,
                                  bool accumulate_dw, int64_t n, int64_t in, int64_t out, int device, bool) {
  with_element(dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    const auto *dy = static_cast<const T*>(dyv), *x = static_cast<const T*>(xv), *w = static_cast<const T*>(wv);
    auto *dx = static_cast<T*>(dxv), *dw = static_cast<T*>(dwv);
    emu::enqueue(cuda::current_stream(device), [=] {
      for (int64_t r = 0; r < n && dx != nullptr; ++r)  // dx null: not wanted
        for (int64_t i = 0; i < in; ++i) {
          double acc = 0.0;
          for (int64_t o = 0; o < out; ++o) acc += wide(dy[r * out + o]) * wide(w[o * in + i]);
          dx[r * in + i] = T(static_cast<float>(acc));
        }
      for (int64_t o = 0; o < out; ++o)
        for (int64_t i = 0; i < in; ++i) {
          double acc = accumulate_dw ? wide(dw[o * in + i]) : 0.0;
          for (int64_t r = 0; r < n; ++r) acc += wide(dy[r * out + o]) * wide(x[r * in + i]);
          dw[o * in + i] = T(static_cast<float>(acc));
        }
    });
  });
}

void cuda::sum(const float* in, float* out, int64_t n, cudaStream_t stream) {
  emu::enqueue(stream, [=] { host_sum<float, double>(in, out, n); });
}
void cuda::sum(const int64_t* in, int64_t* out, int64_t n, cudaStream_t stream) {
  emu::enqueue(stream, [=] { host_sum<int64_t, int64_t>(in, out, n); });
}

}  // namespace normrt
