// cuBLAS GEMMs of nn::Linear (src/linear_cublas.cpp). Row-major operands, every one of them of `dtype` (float32, or
// float16 / bfloat16 with float32 accumulation on the tensor cores, each output rounded once); all on `device`'s
// current stream. tf32 applies to float32 only.
#pragma once
#include <cstdint>

#include "normrt/tensor.h"

namespace normrt::detail {

// y (n, out) = x (n, in) W^T (W: out x in) + bias (out, may be null), the bias added by cuBLASLt's epilogue.
void cuda_linear_forward(DType dtype, const void* x, const void* w, const void* bias, void* y, int64_t n, int64_t in,
                         int64_t out, int device, bool tf32);
// dx (n, in) = dy W (skipped when dx is null);  dw (out, in) (+)= dy^T x.
void cuda_linear_backward(DType dtype, const void* dy, const void* x, const void* w, void* dx, void* dw,
                          bool accumulate_dw, int64_t n, int64_t in, int64_t out, int device, bool tf32);

}  // namespace normrt::detail
