// The per-device BatchNorm backends behind normrt::ops. Arguments arrive validated; these only compute.
#pragma once
#include "batchnorm_params.h"
#include "normrt/config.h"
#include "normrt/device.h"

namespace normrt::bn {

void cpu_forward_training(const ForwardTrainingParams& p);
void cpu_forward_inference(const ForwardInferenceParams& p);
void cpu_backward(const BackwardParams& p);

#if NORMRT_WITH_CUDA
// Enqueue the custom kernels on the device's current stream (no host synchronisation).
void cuda_forward_training(const ForwardTrainingParams& p, const Device& device);
void cuda_forward_inference(const ForwardInferenceParams& p, const Device& device);
void cuda_backward(const BackwardParams& p, const Device& device);

// The same through cuDNN (src/batchnorm_cudnn.cpp); callers have checked that cuDNN supports the case.
void cudnn_forward_training(const ForwardTrainingParams& p, const Device& device);
void cudnn_forward_inference(const ForwardInferenceParams& p, const Device& device);
void cudnn_backward(const BackwardParams& p, double eps, const Device& device);
#endif

}  // namespace normrt::bn
