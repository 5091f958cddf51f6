// torch.nn.functional.interpolate's kernels: one thread per output element forward, one per input element backward
// (a gather over the outputs that reach it; no atomics). Arithmetic in interpolate_math.cuh, shared with the CPU path.
#pragma once
#include <cstdint>

#include "cuda_compat.cuh"
#include "interpolate_math.cuh"

namespace normrt::NORMRT_KERNEL_NS {

// float32 elements laid out as the geometry's strides say.
struct InterpolateParams {
  imath::Geometry geometry;
  const float* source = nullptr;  // x forward, dy backward
  float* result = nullptr;        // y forward, dx backward
};

void interpolate_forward(const InterpolateParams& p, int sm_count, cudaStream_t stream);
void interpolate_backward(const InterpolateParams& p, int sm_count, cudaStream_t stream);

}  // namespace normrt::NORMRT_KERNEL_NS
