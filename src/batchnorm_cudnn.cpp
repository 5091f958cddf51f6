// cuDNN BatchNorm backend.
//
// Training goes through the calls PyTorch makes for float32 NCHW: cudnnBatchNormalizationForwardTrainingEx and
// cudnnBatchNormalizationBackwardEx with CUDNN_BATCHNORM_SPATIAL and CUDNN_BATCHNORM_OPS_BN, a workspace and a reserve
// space sized by cuDNN's queries (stream-ordered allocations, freed after the call's kernels). The reserve space is
// for what a backward needs from its forward; the backend's interface does not carry it from one to the other, so
// when cuDNN asks for one (it does not for OPS_BN in SPATIAL mode) the backward takes the legacy
// cudnnBatchNormalizationBackward, which needs none. Eval uses cudnnBatchNormalizationForwardInference. cuDNN 9 marks
// all of these deprecated but ships them; the graph API's norm operations target NHWC, which normrt tensors are not
// yet. Semantics match PyTorch's: exponentialAverageFactor = momentum, running variance unbiased, saved inverse
// variance = 1 / sqrt(var + eps), which the backward consumes.
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
#include "normrt/tensor.h"

// The batch-norm API is deprecated in cuDNN 9 (see the header comment).
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
constexpr cudnnBatchNormMode_t kMode = CUDNN_BATCHNORM_SPATIAL;
constexpr cudnnBatchNormOps_t kOps = CUDNN_BATCHNORM_OPS_BN;

// Device scratch of `bytes` (none for 0), from the stream-ordered allocator.
Tensor scratch(std::size_t bytes, const Device& device) {
  return empty({static_cast<int64_t>((bytes + sizeof(float) - 1) / sizeof(float))}, device);
}

void* data_or_null(Tensor& t) { return t.numel() == 0 ? nullptr : t.data<float>(); }

std::size_t reserve_bytes(const Context& ctx) {
  std::size_t bytes = 0;
  NORMRT_CUDNN_CHECK(cudnnGetBatchNormalizationTrainingExReserveSpaceSize(ctx.handle, kMode, kOps, nullptr,
                                                                          ctx.descriptors->x.get(), &bytes));
  return bytes;
}

}  // namespace

void cudnn_forward_training(const ForwardTrainingParams& p, const Device& device) {
  normrt::cuda::DeviceGuard guard(device.index());
  const Context ctx = context_for(device, p.geometry);
  const cudnnTensorDescriptor_t x = ctx.descriptors->x.get(), channel = ctx.descriptors->channel.get();
  std::size_t workspace_bytes = 0;
  NORMRT_CUDNN_CHECK(cudnnGetBatchNormalizationForwardTrainingExWorkspaceSize(
      ctx.handle, kMode, kOps, x, nullptr, x, channel, nullptr, &workspace_bytes));
  const std::size_t reserve_size = reserve_bytes(ctx);
  Tensor workspace = scratch(workspace_bytes, device), reserve = scratch(reserve_size, device);
  if (p.num_batches_tracked != nullptr) normrt::cuda::increment(p.num_batches_tracked, ctx.stream);
  NORMRT_CUDNN_CHECK(cudnnBatchNormalizationForwardTrainingEx(
      ctx.handle, kMode, kOps, &kOne, &kZero, x, p.x, nullptr, nullptr, x, p.y, channel, p.weight, p.bias,
      p.momentum, p.running_mean, p.running_var, p.eps, p.save_mean, p.save_invstd, nullptr,
      data_or_null(workspace), workspace_bytes, data_or_null(reserve), reserve_size));
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
  const cudnnTensorDescriptor_t x = ctx.descriptors->x.get(), channel = ctx.descriptors->channel.get();
  if (reserve_bytes(ctx) != 0) {  // the forward's reserve space is not kept (see the header comment)
    NORMRT_CUDNN_CHECK(cudnnBatchNormalizationBackward(ctx.handle, kMode, &kOne, &kZero, &kOne, &kZero, x, p.x, x,
                                                       p.dy, x, p.dx, channel, p.weight, p.dweight, p.dbias, eps,
                                                       p.mean, p.invstd));
    return;
  }
  std::size_t workspace_bytes = 0;
  NORMRT_CUDNN_CHECK(cudnnGetBatchNormalizationBackwardExWorkspaceSize(
      ctx.handle, kMode, kOps, x, nullptr, x, nullptr, x, channel, nullptr, &workspace_bytes));
  Tensor workspace = scratch(workspace_bytes, device);
  NORMRT_CUDNN_CHECK(cudnnBatchNormalizationBackwardEx(
      ctx.handle, kMode, kOps, &kOne, &kZero, &kOne, &kZero, x, p.x, nullptr, nullptr, x, p.dy, nullptr, nullptr, x,
      p.dx, channel, p.weight, nullptr, p.dweight, p.dbias, eps, p.mean, p.invstd, nullptr, data_or_null(workspace),
      workspace_bytes, nullptr, 0));
}

}  // namespace bn
}  // namespace normrt
