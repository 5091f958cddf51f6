// Small elementwise CUDA kernels used by the host layer (gradient accumulation, fills, dtype conversion).
#pragma once
#include <cstdint>

#include "cuda_compat.cuh"
#include "normrt/half.h"

namespace normrt::NORMRT_KERNEL_NS {

// a[i] += alpha * b[i] for i < n.
void axpy(float* a, const float* b, float alpha, int64_t n, int sm_count, cudaStream_t stream);

// out[i] = value for i < n: the device factories (zeros, ones, full; scalar operands), with no host copy to wait for.
void fill(float* out, float value, int64_t n, int sm_count, cudaStream_t stream);
void fill(int64_t* out, int64_t value, int64_t n, int sm_count, cudaStream_t stream);
// 16-bit elements (float16, bfloat16) by their bits, and bools as bytes.
void fill(uint16_t* out, uint16_t value, int64_t n, int sm_count, cudaStream_t stream);
void fill(uint8_t* out, uint8_t value, int64_t n, int sm_count, cudaStream_t stream);

// out = in with each of `batch` (rows, cols) matrices transposed, for elements of 1, 2, 4 or 8 bytes (T = uint8_t,
// uint16_t, uint32_t, uint64_t): the memory-format conversions, (N, C, S) <-> (N, S, C).
template <typename T>
void transpose_batched(const T* in, T* out, int64_t batch, int64_t rows, int64_t cols, int sm_count,
                       cudaStream_t stream);

// out[i] = in[i] converted for i < n, between any two dtypes: round to nearest even (normrt/half.h) to a floating
// one, truncation to int64 (tmath::truncated_int64), non-zero (NaN too) to bool; a bool is 0 or 1.
template <typename From, typename To>
void convert(const From* in, To* out, int64_t n, int sm_count, cudaStream_t stream);

// *value += 1 (a device-side counter such as num_batches_tracked), and *value += delta unless `unless` points at a
// non-zero flag (a GradScaler's found_inf), read on the device.
void increment(int64_t* value, cudaStream_t stream);
void add(int64_t* value, int64_t delta, cudaStream_t stream, const float* unless = nullptr);

}  // namespace normrt::NORMRT_KERNEL_NS
