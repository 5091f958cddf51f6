// cuDNN BatchNorm backend.
//
// Training goes through the calls PyTorch makes: cudnnBatchNormalizationForwardTrainingEx and
// cudnnBatchNormalizationBackwardEx, a workspace and a reserve space sized by cuDNN's queries (stream-ordered
// allocations, freed after the call's kernels). The plan (batchnorm_choice.cpp) says how: NCHW or NHWC descriptors
// over the input's memory (channels-last input is (N, C, spatial, 1) in NHWC), CUDNN_BATCHNORM_SPATIAL or, for
// channels-last training as PyTorch, CUDNN_BATCHNORM_SPATIAL_PERSISTENT; float32 or float16 elements with float32
// statistics; and the ReLU, or the residual add and ReLU, inside cuDNN's call (CUDNN_BATCHNORM_OPS_BN_ACTIVATION /
// BN_ADD_ACTIVATION). A fused forward's reserve space (the activation's record) goes to the caller, which hands it to
// the backward; cuDNN decides at the first size query whether it runs a fused configuration, and when it does not the
// forward reports it and the caller runs the custom kernels. An unfused forward keeps no reserve: its backward takes
// the Ex call without one, or the legacy cudnnBatchNormalizationBackward when cuDNN asks for one. Eval uses
// cudnnBatchNormalizationForwardInference. cuDNN 9 marks all of these deprecated but ships them. Semantics match
// PyTorch's: exponentialAverageFactor = momentum, running variance unbiased, saved inverse variance
// = 1 / sqrt(var + eps), which the backward consumes.
#include <cudnn.h>

#include <array>
#include <map>
#include <memory>
#include <optional>

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

// The ReLU of the fused operations.
class ReluDescriptor {
 public:
  ReluDescriptor() {
    NORMRT_CUDNN_CHECK(cudnnCreateActivationDescriptor(&desc_));
    NORMRT_CUDNN_CHECK(cudnnSetActivationDescriptor(desc_, CUDNN_ACTIVATION_RELU, CUDNN_PROPAGATE_NAN, 0.0));
  }
  ~ReluDescriptor() { NORMRT_CUDNN_CHECK_LOG(cudnnDestroyActivationDescriptor(desc_)); }
  ReluDescriptor(const ReluDescriptor&) = delete;
  ReluDescriptor& operator=(const ReluDescriptor&) = delete;
  cudnnActivationDescriptor_t get() const { return desc_; }

 private:
  cudnnActivationDescriptor_t desc_ = nullptr;
};

template <typename T>
constexpr cudnnDataType_t kDataType = std::is_same_v<T, float>  ? CUDNN_DATA_FLOAT
                                      : std::is_same_v<T, Half> ? CUDNN_DATA_HALF
                                                                : CUDNN_DATA_BFLOAT16;

cudnnBatchNormMode_t mode_of(const CudnnPlan& plan) {
  return plan.persistent ? CUDNN_BATCHNORM_SPATIAL_PERSISTENT : CUDNN_BATCHNORM_SPATIAL;
}

// The input as a 4-d tensor (N, C, S, 1), S the flattened spatial size, in the plan's layout, and the derived
// 1xCx1x1 descriptor of scale, bias, means and variances.
struct Descriptors {
  TensorDescriptor x, channel;
  Descriptors(const Geometry& dims, cudnnDataType_t type, const CudnnPlan& plan) {
    const cudnnTensorFormat_t format = plan.channels_last ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW;
    NORMRT_CUDNN_CHECK(cudnnSetTensor4dDescriptor(x.get(), format, type, static_cast<int>(dims.N),
                                                  static_cast<int>(dims.C), static_cast<int>(dims.S), 1));
    NORMRT_CUDNN_CHECK(cudnnDeriveBNTensorDescriptor(channel.get(), x.get(), mode_of(plan)));
  }
};

// One handle per (host thread, device), bound to the current stream at every call; descriptors cached by shape,
// element type and plan.
struct Context {
  cudnnHandle_t handle;
  const Descriptors* descriptors;
  cudaStream_t stream;
  cudnnBatchNormMode_t mode;
};

Context context_for(const Device& device, const CudnnCall& call, cudnnDataType_t type) {
  thread_local std::map<std::array<int64_t, 6>, std::unique_ptr<Descriptors>> descriptors;
  const int index = device.index();
  const cudaStream_t stream = normrt::cuda::current_stream(index);
  const cudnnHandle_t handle = cudnn::handle_for(index, stream);
  const Geometry& d = call.dims;
  auto& desc = descriptors[{d.N, d.C, d.S, type, call.plan.channels_last, call.plan.persistent}];
  if (!desc) desc = std::make_unique<Descriptors>(d, type, call.plan);
  return {handle, desc.get(), stream, mode_of(call.plan)};
}

const float kOne = 1.0f, kZero = 0.0f;

// Device scratch of `bytes` (none for 0), from the stream-ordered allocator.
Tensor scratch(std::size_t bytes, const Device& device) {
  return empty({static_cast<int64_t>((bytes + sizeof(float) - 1) / sizeof(float))}, device);
}

void* data_or_null(const Tensor& t) { return t.defined() && t.numel() != 0 ? t.raw_data() : nullptr; }

std::size_t reserve_bytes(const Context& ctx, cudnnBatchNormOps_t ops, cudnnActivationDescriptor_t activation) {
  std::size_t bytes = 0;
  NORMRT_CUDNN_CHECK(cudnnGetBatchNormalizationTrainingExReserveSpaceSize(ctx.handle, ctx.mode, ops, activation,
                                                                          ctx.descriptors->x.get(), &bytes));
  return bytes;
}

cudnnBatchNormOps_t fused_ops(bool residual) {
  return residual ? CUDNN_BATCHNORM_OPS_BN_ADD_ACTIVATION : CUDNN_BATCHNORM_OPS_BN_ACTIVATION;
}

}  // namespace

template <typename T>
bool cudnn_forward_training(const ForwardTrainingParamsOf<T>& p, const CudnnCall& call, Tensor& reserve,
                            const Device& device) {
  normrt::cuda::DeviceGuard guard(device.index());
  const Context ctx = context_for(device, call, kDataType<T>);
  const cudnnTensorDescriptor_t x = ctx.descriptors->x.get(), channel = ctx.descriptors->channel.get();
  const bool fused = call.plan.fused;
  const cudnnBatchNormOps_t ops = fused ? fused_ops(p.residual != nullptr) : CUDNN_BATCHNORM_OPS_BN;
  std::optional<ReluDescriptor> relu;  // only the fused operations take one
  if (fused) relu.emplace();
  const cudnnActivationDescriptor_t activation = fused ? relu->get() : nullptr;
  const cudnnTensorDescriptor_t z = ops == CUDNN_BATCHNORM_OPS_BN_ADD_ACTIVATION ? x : nullptr;
  std::size_t workspace_bytes = 0;
  const cudnnStatus_t sized = cudnnGetBatchNormalizationForwardTrainingExWorkspaceSize(
      ctx.handle, ctx.mode, ops, x, z, x, channel, activation, &workspace_bytes);
  if (fused && sized == CUDNN_STATUS_NOT_SUPPORTED) return false;
  NORMRT_CUDNN_CHECK(sized);
  const std::size_t reserve_size = reserve_bytes(ctx, ops, activation);
  Tensor workspace = scratch(workspace_bytes, device), kept = scratch(reserve_size, device);
  NORMRT_CUDNN_CHECK(cudnnBatchNormalizationForwardTrainingEx(
      ctx.handle, ctx.mode, ops, &kOne, &kZero, x, p.x, z, z != nullptr ? p.residual : nullptr, x, p.y, channel,
      p.weight, p.bias, p.momentum, p.running_mean, p.running_var, p.eps, p.save_mean, p.save_invstd, activation,
      data_or_null(workspace), workspace_bytes, data_or_null(kept), reserve_size));
  if (p.num_batches_tracked != nullptr) normrt::cuda::increment(p.num_batches_tracked, ctx.stream);
  if (fused) reserve = kept;
  return true;
}

template <typename T>
void cudnn_forward_inference(const ForwardInferenceParamsOf<T>& p, const CudnnCall& call, const Device& device) {
  normrt::cuda::DeviceGuard guard(device.index());
  const Context ctx = context_for(device, call, kDataType<T>);
  NORMRT_CUDNN_CHECK(cudnnBatchNormalizationForwardInference(
      ctx.handle, ctx.mode, &kOne, &kZero, ctx.descriptors->x.get(), p.x, ctx.descriptors->x.get(), p.y,
      ctx.descriptors->channel.get(), p.weight, p.bias, p.running_mean, p.running_var, p.eps));
  // The statistics used, for the backward (inverse std from running_var, like the native path).
  ForwardInferenceParams statistics;
  statistics.geometry = p.geometry;
  statistics.running_mean = p.running_mean;
  statistics.running_var = p.running_var;
  statistics.save_mean = p.save_mean;
  statistics.save_invstd = p.save_invstd;
  statistics.eps = p.eps;
  bn::cuda::save_inference_statistics(statistics, ctx.stream);
}

template <typename T>
void cudnn_backward(const BackwardParamsOf<T>& p, const CudnnCall& call, const Tensor& reserve, double eps,
                    const Device& device) {
  normrt::cuda::DeviceGuard guard(device.index());
  const Context ctx = context_for(device, call, kDataType<T>);
  const cudnnTensorDescriptor_t x = ctx.descriptors->x.get(), channel = ctx.descriptors->channel.get();
  const bool fused = call.plan.fused;
  const cudnnBatchNormOps_t ops = fused ? fused_ops(p.grad_residual != nullptr) : CUDNN_BATCHNORM_OPS_BN;
  std::optional<ReluDescriptor> relu;  // only the fused operations take one
  if (fused) relu.emplace();
  const cudnnActivationDescriptor_t activation = fused ? relu->get() : nullptr;
  const std::size_t reserve_size = reserve_bytes(ctx, ops, activation);
  if (!fused && reserve_size != 0) {  // an unfused forward keeps no reserve (see the header comment)
    NORMRT_CUDNN_CHECK(cudnnBatchNormalizationBackward(ctx.handle, ctx.mode, &kOne, &kZero, &kOne, &kZero, x, p.x, x,
                                                       p.dy, x, p.dx, channel, p.weight, p.dweight, p.dbias, eps,
                                                       p.mean, p.invstd));
    return;
  }
  NORMRT_CHECK(!fused || (reserve.defined() && reserve.nbytes() >= reserve_size),
               "cuDNN's fused batch-norm backward needs the reserve space of its forward");
  // The fused backward reads the forward's output y (the ReLU's input is recomputed from it and the reserve) and
  // writes dz, the gradient past the ReLU, for the residual.
  const cudnnTensorDescriptor_t y = fused ? x : nullptr;
  const cudnnTensorDescriptor_t dz = ops == CUDNN_BATCHNORM_OPS_BN_ADD_ACTIVATION ? x : nullptr;
  std::size_t workspace_bytes = 0;
  NORMRT_CUDNN_CHECK(cudnnGetBatchNormalizationBackwardExWorkspaceSize(ctx.handle, ctx.mode, ops, x, y, x, dz, x,
                                                                       channel, activation, &workspace_bytes));
  Tensor workspace = scratch(workspace_bytes, device);
  NORMRT_CUDNN_CHECK(cudnnBatchNormalizationBackwardEx(
      ctx.handle, ctx.mode, ops, &kOne, &kZero, &kOne, &kZero, x, p.x, y, fused ? p.relu_output : nullptr, x, p.dy,
      dz, dz != nullptr ? p.grad_residual : nullptr, x, p.dx, channel, p.weight, p.bias, p.dweight, p.dbias,
      eps, p.mean, p.invstd, activation, data_or_null(workspace), workspace_bytes,
      fused ? reserve.raw_data() : nullptr, fused ? reserve.nbytes() : 0));
}

#define NORMRT_CUDNN_BN_INSTANTIATE(T)                                                                              \
  template bool cudnn_forward_training(const ForwardTrainingParamsOf<T>&, const CudnnCall&, Tensor&, const Device&); \
  template void cudnn_forward_inference(const ForwardInferenceParamsOf<T>&, const CudnnCall&, const Device&);       \
  template void cudnn_backward(const BackwardParamsOf<T>&, const CudnnCall&, const Tensor&, double, const Device&);
NORMRT_CUDNN_BN_INSTANTIATE(float)
NORMRT_CUDNN_BN_INSTANTIATE(Half)
NORMRT_CUDNN_BN_INSTANTIATE(BFloat16)
#undef NORMRT_CUDNN_BN_INSTANTIATE

}  // namespace bn
}  // namespace normrt
