// CUDA BatchNorm backend: launches on the current stream. The op hands the training passes their workspace (in the
// block of its per-channel outputs); SyncBatchNorm's stages take theirs from the stream-ordered allocator.
#include "batchnorm.cuh"
#include "batchnorm_backend.h"
#include "cuda_launch.h"
#include "normrt/cuda.h"
#include "normrt/tensor.h"

namespace normrt::bn {

namespace {

bn::cuda::LaunchTuning tuning_of(const Device& device) {
  bn::cuda::LaunchTuning tuning;
  tuning.sm_count = normrt::cuda::sm_count(device.index());
  return tuning;
}

template <typename Params, typename Launch>
void run(const Params& p, const Device& device, Launch launch) {
  normrt::cuda::DeviceGuard guard(device.index());
  const bn::cuda::LaunchTuning tuning = tuning_of(device);
  // Freed at scope exit with cudaFreeAsync on the same stream, after the kernels that use it.
  Tensor workspace = empty({static_cast<int64_t>(bn::cuda::workspace_floats(p.geometry, tuning))}, device);
  launch(p, workspace.data<float>(), tuning, normrt::cuda::current_stream(device.index()));
}

}  // namespace

std::size_t cuda_workspace_floats(const Geometry& g, const Device& device) {
  return bn::cuda::workspace_floats(g, tuning_of(device));
}

template <typename T>
void cuda_forward_training(const ForwardTrainingParamsOf<T>& p, const Device& device, float* workspace) {
  normrt::cuda::DeviceGuard guard(device.index());
  bn::cuda::forward_training<T>(p, workspace, tuning_of(device), normrt::cuda::current_stream(device.index()));
}

template <typename T>
void cuda_forward_inference(const ForwardInferenceParamsOf<T>& p, const Device& device) {
  normrt::cuda::DeviceGuard guard(device.index());
  bn::cuda::forward_inference(p, tuning_of(device), normrt::cuda::current_stream(device.index()));
}

template <typename T>
void cuda_backward(const BackwardParamsOf<T>& p, const Device& device, float* workspace) {
  normrt::cuda::DeviceGuard guard(device.index());
  bn::cuda::backward<T>(p, workspace, tuning_of(device), normrt::cuda::current_stream(device.index()));
}

template <typename T>
void cuda_sync_local_statistics(const ForwardTrainingParamsOf<T>& p, float* states, const Device& device) {
  run(p, device, [states](const auto& params, float* workspace, const auto& tuning, cudaStream_t stream) {
    bn::cuda::sync_local_statistics(params, states, workspace, tuning, stream);
  });
}

template <typename T>
void cuda_sync_forward(const ForwardTrainingParamsOf<T>& p, const float* gathered, int64_t ranks,
                       const Device& device) {
  run(p, device, [gathered, ranks](const auto& params, float* workspace, const auto& tuning, cudaStream_t stream) {
    bn::cuda::sync_forward_from_states(params, gathered, ranks, workspace, tuning, stream);
  });
}

template <typename T>
void cuda_sync_local_gradient_sums(const BackwardParamsOf<T>& p, float* sums, const Device& device) {
  run(p, device, [sums](const auto& params, float* workspace, const auto& tuning, cudaStream_t stream) {
    bn::cuda::sync_local_gradient_sums(params, sums, workspace, tuning, stream);
  });
}

template <typename T>
void cuda_sync_backward(const BackwardParamsOf<T>& p, const float* sums, const Device& device) {
  run(p, device, [sums](const auto& params, float* workspace, const auto& tuning, cudaStream_t stream) {
    bn::cuda::sync_backward_from_sums(params, sums, workspace, tuning, stream);
  });
}

void cuda_relu_gradient(const float* dy, const float* y, float* out, int64_t n, const Device& device) {
  normrt::cuda::DeviceGuard guard(device.index());
  bn::cuda::apply_relu_gradient(dy, y, out, n, tuning_of(device), normrt::cuda::current_stream(device.index()));
}

#define NORMRT_BN_INSTANTIATE(T)                                                                            \
  template void cuda_forward_training(const ForwardTrainingParamsOf<T>&, const Device&, float*);            \
  template void cuda_forward_inference(const ForwardInferenceParamsOf<T>&, const Device&);                  \
  template void cuda_backward(const BackwardParamsOf<T>&, const Device&, float*);                           \
  template void cuda_sync_local_statistics(const ForwardTrainingParamsOf<T>&, float*, const Device&);       \
  template void cuda_sync_forward(const ForwardTrainingParamsOf<T>&, const float*, int64_t, const Device&); \
  template void cuda_sync_local_gradient_sums(const BackwardParamsOf<T>&, float*, const Device&);           \
  template void cuda_sync_backward(const BackwardParamsOf<T>&, const float*, const Device&);
NORMRT_BN_INSTANTIATE(float)
NORMRT_BN_INSTANTIATE(Half)
NORMRT_BN_INSTANTIATE(BFloat16)
#undef NORMRT_BN_INSTANTIATE

template <typename Params>
void cuda_epilogue(const Params& p, const Device& device) {
  normrt::cuda::DeviceGuard guard(device.index());
  bn::cuda::apply_epilogue(p.y, p.residual, p.geometry.numel(), p.relu, tuning_of(device),
                     normrt::cuda::current_stream(device.index()));
}
template void cuda_epilogue(const ForwardTrainingParams&, const Device&);
template void cuda_epilogue(const ForwardInferenceParams&, const Device&);

}  // namespace normrt::bn
