// CUDA kernels of addcmul, addcdiv, lerp and clamp with tensor bounds (src/ternary.cpp): a thread per output element in
// a grid-stride loop, the operands' offsets from a broadcast plan (cmpmath::Plan), the math tmath::ternary
// (ternary_math.cuh).
#pragma once
#include <cstdint>

#include "comparison_math.cuh"
#include "cuda_compat.cuh"
#include "normrt/half.h"
#include "ternary_math.cuh"

namespace normrt::NORMRT_KERNEL_NS {

// out[i] = tmath::ternary(op, x[at0], y[at1], z[at2], value) with the operands at plan operands 0, 1 and 2 (z null
// for Lerp, whose weight is the value). T is float, Half, BFloat16, or int64_t for Addcmul and Clamp. out may be x (in
// place).
template <typename T>
void ternary(tmath::Ternary op, const T* x, const T* y, const T* z, T* out, tmath::computed_t<T> value,
             const cmpmath::Plan& p, int sm_count, cudaStream_t stream);

}  // namespace normrt::NORMRT_KERNEL_NS
