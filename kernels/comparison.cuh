// CUDA kernels of the comparisons, logical and bitwise ops, where and the float classes (src/comparison.cpp): one
// thread per output element in a grid-stride loop, offsets from cmpmath::Plan.
#pragma once
#include <cstdint>

#include "comparison_math.cuh"
#include "cuda_compat.cuh"
#include "normrt/half.h"

namespace normrt::NORMRT_KERNEL_NS {

// out[i] = apply(op, a[ia], b[ib]) over p.numel outputs, with a and b at plan operands 0 and 1; T is float, Half or
// BFloat16 (compared as float: exact), int64_t or bool.
template <typename T>
void compare(cmpmath::Compare op, const T* a, const T* b, bool* out, const cmpmath::Plan& p, int sm_count,
             cudaStream_t stream);

// out[i] = condition[ic] ? a[ia] : b[ib], with a, b and condition at plan operands 0, 1 and 2; Bits is an unsigned
// integer of the elements' size (1, 2, 4 or 8 bytes): the values are copied as they are.
template <typename Bits>
void where(const bool* condition, const Bits* a, const Bits* b, Bits* out, const cmpmath::Plan& p, int sm_count,
           cudaStream_t stream);

// out[i] = cmpmath::apply_bits(op, a[ia], b[ib]) with a and b at plan operands 0 and 1 (int64 values as their bits).
void bitwise(cmpmath::BitOp op, const uint64_t* a, const uint64_t* b, uint64_t* out, const cmpmath::Plan& p,
             int sm_count, cudaStream_t stream);

// out[i] = cmpmath::in_class(c, x[ix], exponent, fraction) with x at plan operand 0; U is uint16_t (float16,
// bfloat16) or uint32_t (float32), the values' bits.
template <typename U>
void classify(cmpmath::FloatClass c, const U* x, U exponent, U fraction, bool* out, const cmpmath::Plan& p,
              int sm_count, cudaStream_t stream);

}  // namespace normrt::NORMRT_KERNEL_NS
