// CUDA BatchNorm backend: workspace from the stream-ordered allocator, launch on the current stream.
#include "batchnorm.cuh"
#include "batchnorm_backend.h"
#include "cuda_launch.h"
#include "normrt/cuda.h"
#include "normrt/tensor.h"

namespace normrt::bn {

namespace {

template <typename Params, typename Launch>
void run(const Params& p, const Device& device, Launch launch) {
  normrt::cuda::DeviceGuard guard(device.index());
  bn::cuda::LaunchTuning tuning;
  tuning.sm_count = normrt::cuda::sm_count(device.index());
  // Freed at scope exit with cudaFreeAsync on the same stream, after the kernels that use it.
  Tensor workspace = empty({static_cast<int64_t>(bn::cuda::workspace_floats(p.geometry, tuning))}, device);
  launch(p, workspace.data<float>(), tuning, normrt::cuda::current_stream(device.index()));
}

}  // namespace

void cuda_forward_training(const ForwardTrainingParams& p, const Device& device) {
  run(p, device, bn::cuda::forward_training);
}

void cuda_forward_inference(const ForwardInferenceParams& p, const Device& device) {
  normrt::cuda::DeviceGuard guard(device.index());
  bn::cuda::LaunchTuning tuning;
  tuning.sm_count = normrt::cuda::sm_count(device.index());
  bn::cuda::forward_inference(p, tuning, normrt::cuda::current_stream(device.index()));
}

void cuda_backward(const BackwardParams& p, const Device& device) { run(p, device, bn::cuda::backward); }

}  // namespace normrt::bn
