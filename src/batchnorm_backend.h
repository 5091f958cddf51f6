// The per-device BatchNorm backends behind normrt::ops. Arguments arrive validated; these only compute.
#pragma once
#include "batchnorm_choice.h"
#include "batchnorm_params.h"
#include "normrt/config.h"
#include "normrt/device.h"
#include "normrt/tensor.h"

namespace normrt::bn {

// The backends' view of an input of rank >= 2: (N, C, S) for contiguous input; channels-last input is
// (N * spatial, C, 1): its channels are the contiguous dimension, as (N, C) input's are, and the backends' layout
// for that takes it as it is.
Geometry geometry_of(const Tensor& input);
// The input's (N, C, spatial) whatever its memory format: what cuDNN's descriptors describe.
Geometry dims_of(const Tensor& input);

// An optional tensor's elements as T* (null when undefined), for the backends' params.
template <typename T>
T* typed(const Tensor& t) {
  return t.defined() ? static_cast<T*>(t.raw_data()) : nullptr;
}

// An empty tensor of the input's shape, device and memory format, of dtype `element`.
inline Tensor like_input(const Tensor& input, DType element) {
  return empty(input.sizes(), TensorOptions(input.device()).dtype(element).memory_format(input.memory_format()));
}

// T: float, Half or BFloat16 (16-bit elements are converted in L1 as the passes read and write them). The backward
// masks dy by p.relu_output where given (p.grad_residual must then be null: cpu_relu_gradient writes that first).
template <typename T>
void cpu_forward_training(const ForwardTrainingParamsOf<T>& p);
template <typename T>
void cpu_forward_inference(const ForwardInferenceParamsOf<T>& p);
template <typename T>
void cpu_backward(const BackwardParamsOf<T>& p);
// out[i] = relu_gradient(dy[i], y[i]): the gradient through a fused forward's ReLU, from its output.
template <typename T>
void cpu_relu_gradient(const T* dy, const T* y, T* out, int64_t n);
// SyncBatchNorm's stages (src/sync_batchnorm.cpp): the phases of the two above, split where ranks exchange, with the
// same arithmetic (one rank gives cpu_forward_training's and cpu_backward's bits), on the same elements T. Per
// channel: the local mean and sum of squared deviations (double), y from a given mean (with what rounding a double
// mean to float left, mean_low, where not null: bn_math.cuh's compensated_shift) and invstd, the local sums of
// dy and dy * (x - mean), and dx from sums and a count that may be the global batch's. dy is masked by relu_output
// where that is not null; dx is centred on mean + mean_low too where mean_low is not null (the sums given already
// corrected, bn_math.cuh's compensated_dy_xmu).
template <typename T>
void cpu_local_statistics(const T* x, const Geometry& g, double* mean, double* m2);
template <typename T>
void cpu_normalize(const T* x, const Geometry& g, const float* mean, const float* mean_low, const float* invstd,
                   const float* weight, const float* bias, const T* residual, bool relu, T* y);
template <typename T>
void cpu_local_gradient_sums(const T* dy, const T* relu_output, const T* x, const float* mean, const Geometry& g,
                             double* sum_dy, double* sum_dy_xmu);
template <typename T>
void cpu_input_gradient(const T* dy, const T* relu_output, const T* x, const Geometry& g, const float* mean,
                        const float* mean_low, const float* invstd, const float* weight, const double* sum_dy,
                        const double* sum_dy_xmu, double count, T* dx);

#if NORMRT_WITH_CUDA
// Enqueue the custom kernels on the device's current stream (no host synchronisation). T: float, Half or
// BFloat16; the forwards apply the fused epilogue. The training forward and the backward take `workspace`:
// cuda_workspace_floats(p.geometry, device) floats on the device, alive until the kernels have run (stream order).
std::size_t cuda_workspace_floats(const Geometry& g, const Device& device);
template <typename T>
void cuda_forward_training(const ForwardTrainingParamsOf<T>& p, const Device& device, float* workspace);
template <typename T>
void cuda_forward_inference(const ForwardInferenceParamsOf<T>& p, const Device& device);
template <typename T>
void cuda_backward(const BackwardParamsOf<T>& p, const Device& device, float* workspace);
// SyncBatchNorm's stages on the custom kernels (see the sync_* launchers in kernels/batchnorm.cuh): this rank's
// kSyncStateFloats-float states per channel, the forward from every rank's states gathered ([ranks, C]); this
// rank's gradient sums (2 C + 1 floats), dx from the group's.
template <typename T>
void cuda_sync_local_statistics(const ForwardTrainingParamsOf<T>& p, float* states, const Device& device);
template <typename T>
void cuda_sync_forward(const ForwardTrainingParamsOf<T>& p, const float* gathered, int64_t ranks,
                       const Device& device);
template <typename T>
void cuda_sync_local_gradient_sums(const BackwardParamsOf<T>& p, float* sums, const Device& device);
template <typename T>
void cuda_sync_backward(const BackwardParamsOf<T>& p, const float* sums, const Device& device);
// The gradient past a fused forward's ReLU as a pass of its own, for cuDNN's backward.
void cuda_relu_gradient(const float* dy, const float* y, float* out, int64_t n, const Device& device);
// The fused epilogue of a forward (p.residual, p.relu) applied to p.y in place, after cuDNN.
template <typename Params>
void cuda_epilogue(const Params& p, const Device& device);

// The same through cuDNN (src/batchnorm_cudnn.cpp), as choose_backend planned it (batchnorm_choice.h); callers have
// checked that cuDNN supports the case. T: float or Half (BFloat16 is planned as float32 copies). dims: the input's
// (N, C, spatial) whatever its layout (the params' geometry is the backends' view). The training forward returns
// false, having done nothing, when cuDNN does not run the planned fusion; when it ran one, `reserve` is what its
// backward needs (the params' relu_output, grad_residual and bias name that backward's y, dz and bias).
struct CudnnCall {
  Geometry dims;
  CudnnPlan plan;
};
template <typename T>
bool cudnn_forward_training(const ForwardTrainingParamsOf<T>& p, const CudnnCall& call, Tensor& reserve,
                            const Device& device);
template <typename T>
void cudnn_forward_inference(const ForwardInferenceParamsOf<T>& p, const CudnnCall& call, const Device& device);
template <typename T>
void cudnn_backward(const BackwardParamsOf<T>& p, const CudnnCall& call, const Tensor& reserve, double eps,
                    const Device& device);
#endif

}  // namespace normrt::bn
