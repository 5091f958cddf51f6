// cuBLAS GEMMs of nn::Linear (src/linear_cublas.cpp). Row-major operands; all on `device`'s current stream.
#pragma once
#include <cstdint>

namespace normrt::detail {

// y (n, out) = x (n, in) W^T (W: out x in) + bias (out, may be null), the bias added by cuBLASLt's epilogue.
void cuda_linear_forward(const float* x, const float* w, const float* bias, float* y, int64_t n, int64_t in,
                         int64_t out, int device, bool tf32);
// dx (n, in) = dy W;  dw (out, in) (+)= dy^T x.
void cuda_linear_backward(const float* dy, const float* x, const float* w, float* dx, float* dw, bool accumulate_dw,
                          int64_t n, int64_t in, int64_t out, int device, bool tf32);

}  // namespace normrt::detail
