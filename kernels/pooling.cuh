// Pooling kernels: max (with argmax indices), average and adaptive average, forward and backward, over planes of
// up to three spatial dimensions. Arithmetic in pooling_math.cuh, shared with the CPU path.
#pragma once
#include <cstdint>

#include "cuda_compat.cuh"
#include "pooling_math.cuh"

namespace normrt::NORMRT_KERNEL_NS {

enum class PoolKind { Max, Average, AdaptiveAverage };

struct PoolForwardParams {
  poolmath::PoolGeometry geometry;
  PoolKind kind = PoolKind::Max;
  const float* x = nullptr;   // planes * in_size
  float* y = nullptr;         // planes * out_size
  int64_t* indices = nullptr;  // planes * out_size, max pooling only
};

struct PoolBackwardParams {
  poolmath::PoolGeometry geometry;
  PoolKind kind = PoolKind::Max;
  const float* dy = nullptr;
  const int64_t* indices = nullptr;  // max pooling only
  float* dx = nullptr;
};

void pool_forward(const PoolForwardParams& p, int sm_count, cudaStream_t stream);
void pool_backward(const PoolBackwardParams& p, int sm_count, cudaStream_t stream);

}  // namespace normrt::NORMRT_KERNEL_NS
