// torch.nn.functional.pad's kernels: the forward copies (one thread per output element), the backward gathers one
// padded dimension at a time (one thread per element of that step's result). Arithmetic in pad_math.cuh, shared with
// the CPU path.
#pragma once
#include <cstdint>

#include "cuda_compat.cuh"
#include "normrt/half.h"
#include "pad_math.cuh"

namespace normrt::NORMRT_KERNEL_NS {

// T: float, Half or BFloat16. Contiguous arrays.
template <typename T>
struct PadForwardParams {
  padmath::PadGeometry geometry;
  const T* x = nullptr;
  T* y = nullptr;  // every output element
  T value{};       // what the constant mode fills with
};

template <typename T>
void pad_forward(const PadForwardParams<T>& p, int sm_count, cudaStream_t stream);

// dx (outer, size, inner) gathered from dy (outer, out, inner), float32.
struct PadBackwardParams {
  padmath::PadLine line;
  const float* dy = nullptr;
  float* dx = nullptr;
};

void pad_backward(const PadBackwardParams& p, int sm_count, cudaStream_t stream);

}  // namespace normrt::NORMRT_KERNEL_NS
