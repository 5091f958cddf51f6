// cuDNN BatchNorm backend.
//
// It uses cuDNN's legacy batch-norm functions (cudnnBatchNormalizationForwardTraining/ForwardInference/Backward,
// CUDNN_BATCHNORM_SPATIAL), which cuDNN 9 marks deprecated but still ships: they take NCHW float32 directly,
// need no workspace or reserve space, and are what PyTorch calls. The graph API's norm-forward/backward
// operations are the non-deprecated route, but their batch-norm engines target NHWC (channels-last), which
// normrt tensors are not yet. Semantics match PyTorch's: exponentialAverageFactor = momentum, running variance
// unbiased, saved inverse variance = 1 / sqrt(var + eps), which the backward consumes.
#include <cudnn.h>

#include <array>
#include <map>
#include <memory>

#include "batchnorm.cuh"
#include "batchnorm_backend.h"
#include "cuda_launch.h"
#include "cudnn_handle.h"
#include "elementwise.cuh"
#include "normrt/cuda.h"
#include "normrt/cuda_check.h"

// The legacy batch-norm API is deprecated in cuDNN 9 (see the header comment).
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

namespace normrt {

int cuda::cudnn_version() { return static_cast<int>(cudnnGetVersion()); }

namespace bn {

namespace {

class TensorDescriptor {
 public:
  TensorDescriptor() { NORMRT_CUDNN_CHECK(cudnnCreateTensorDescriptor(&desc_)); }
  ~TensorDescriptor() { NORMRT_CUDNN_CHECK_LOG(cudnnDestroyTensorDescriptor(desc_)); }
  TensorDescriptor(const TensorDescriptor&) = delete;
  TensorDescriptor& operator=(const TensorDescriptor&) = delete;
  cudnnTensorDescriptor_t get() const { return desc_; }

 private:
  cudnnTensorDescriptor_t desc_ = nullptr;
};

// The input as a 4-d NCHW tensor (N, C, S, 1), S the flattened spatial size, and the derived 1xCx1x1 descriptor
// of scale, bias, means and variances.
struct Descriptors {
  TensorDescriptor x, channel;
  explicit Descriptors(const Geometry& g) {
    NORMRT_CUDNN_CHECK(cudnnSetTensor4dDescriptor(x.get(), CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, static_cast<int>(g.N),
                                                  static_cast<int>(g.C), static_cast<int>(g.S), 1));
    NORMRT_CUDNN_CHECK(cudnnDeriveBNTensorDescriptor(channel.get(), x.get(), CUDNN_BATCHNORM_SPATIAL));
  }
};

// One handle per (host thread, device), bound to the current stream at every call; descriptors cached by shape.
struct Context {
  cudnnHandle_t handle;
  const Descriptors* descriptors;
  cudaStream_t stream;
};

Context context_for(const Device& device, const Geometry& g) {
  thread_local std::map<std::array<int64_t, 3>, std::unique_ptr<Descriptors>> descriptors;
  const int index = device.index();
  const cudaStream_t stream = normrt::cuda::current_stream(index);
  const cudnnHandle_t handle = cudnn::handle_for(index, stream);
  auto& desc = descriptors[{g.N, g.C, g.S}];
  if (!desc) desc = std::make_unique<Descriptors>(g);
  return {handle, desc.get(), stream};
}

const float kOne = 1.0f, kZero = 0.0f;

}  // namespace

void cudnn_forward_training(const ForwardTrainingParams& p, const Device& device) {
  normrt::cuda::DeviceGuard guard(device.index());
  const Context ctx = context_for(device, p.geometry);
  if (p.num_batches_tracked != nullptr) normrt::cuda::increment(p.num_batches_tracked, ctx.stream);
  NORMRT_CUDNN_CHECK(cudnnBatchNormalizationForwardTraining(
      ctx.handle, CUDNN_BATCHNORM_SPATIAL, &kOne, &kZero, ctx.descriptors->x.get(), p.x, ctx.descriptors->x.get(),
      p.y, ctx.descriptors->channel.get(), p.weight, p.bias, p.momentum, p.running_mean, p.running_var, p.eps,
      p.save_mean, p.save_invstd));
}

void cudnn_forward_inference(const ForwardInferenceParams& p, const Device& device) {
  normrt::cuda::DeviceGuard guard(device.index());
  const Context ctx = context_for(device, p.geometry);
  NORMRT_CUDNN_CHECK(cudnnBatchNormalizationForwardInference(
      ctx.handle, CUDNN_BATCHNORM_SPATIAL, &kOne, &kZero, ctx.descriptors->x.get(), p.x, ctx.descriptors->x.get(),
      p.y, ctx.descriptors->channel.get(), p.weight, p.bias, p.running_mean, p.running_var, p.eps));
  // The statistics used, for the backward (inverse std from running_var, like the native path).
  bn::cuda::save_inference_statistics(p, ctx.stream);
}

void cudnn_backward(const BackwardParams& p, double eps, const Device& device) {
  normrt::cuda::DeviceGuard guard(device.index());
  const Context ctx = context_for(device, p.geometry);
  NORMRT_CUDNN_CHECK(cudnnBatchNormalizationBackward(
      ctx.handle, CUDNN_BATCHNORM_SPATIAL, &kOne, &kZero, &kOne, &kZero, ctx.descriptors->x.get(), p.x,
      ctx.descriptors->x.get(), p.dy, ctx.descriptors->x.get(), p.dx, ctx.descriptors->channel.get(), p.weight,
      p.dweight, p.dbias, eps, p.mean, p.invstd));
}

}  // namespace bn
}  // namespace normrt
