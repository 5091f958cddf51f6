// Pooling kernels: max and adaptive max (with argmax indices), average and adaptive average, forward and backward,
// over planes of up to three spatial dimensions, on float32, float16 or bfloat16 elements. Arithmetic in
// pooling_math.cuh, shared with the CPU path.
#pragma once
#include <cstdint>

#include "cuda_compat.cuh"
#include "normrt/half.h"
#include "pooling_math.cuh"

namespace normrt::NORMRT_KERNEL_NS {

enum class PoolKind { Max, Average, AdaptiveAverage, AdaptiveMax };

// T: float, Half or BFloat16 (outputs rounded once from the float result). channels: 0 for contiguous planes; else
// every array is channels-last memory, (image, spatial position, channel), with this many channels (geometry.planes
// = images * channels). Indices are flat positions within a plane either way.
template <typename T>
struct PoolForwardParams {
  poolmath::PoolGeometry geometry;
  PoolKind kind = PoolKind::Max;
  const T* x = nullptr;        // planes * in_size
  T* y = nullptr;              // planes * out_size
  int64_t* indices = nullptr;  // planes * out_size, max pooling (adaptive too) only
  int64_t channels = 0;
};

template <typename T>
struct PoolBackwardParams {
  poolmath::PoolGeometry geometry;
  PoolKind kind = PoolKind::Max;
  const T* dy = nullptr;
  const int64_t* indices = nullptr;  // max pooling (adaptive too) only
  T* dx = nullptr;
  int64_t channels = 0;
};

template <typename T>
void pool_forward(const PoolForwardParams<T>& p, int sm_count, cudaStream_t stream);
template <typename T>
void pool_backward(const PoolBackwardParams<T>& p, int sm_count, cudaStream_t stream);

}  // namespace normrt::NORMRT_KERNEL_NS
