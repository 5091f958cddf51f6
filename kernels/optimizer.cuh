// Optimizer steps over many parameter tensors in one launch (up to kMaxTensors per launch).
#pragma once
#include <cstdint>

#include "cuda_compat.cuh"
#include "nn_math.cuh"

namespace normrt::NORMRT_KERNEL_NS {

constexpr int kMaxTensors = 40;

// Tensor t covers global elements [end[t-1], end[t]). Unused state pointers may be null.
struct TensorList {
  float* param[kMaxTensors];
  const float* grad[kMaxTensors];
  float* state1[kMaxTensors];
  float* state2[kMaxTensors];
  int64_t end[kMaxTensors];
  int count = 0;
};

void sgd_step(const TensorList& list, const nnmath::SgdHyper& h, int sm_count, cudaStream_t stream);
void adam_step(const TensorList& list, const nnmath::AdamHyper& h, int sm_count, cudaStream_t stream);
void adadelta_step(const TensorList& list, const nnmath::AdadeltaHyper& h, int sm_count, cudaStream_t stream);

}  // namespace normrt::NORMRT_KERNEL_NS
