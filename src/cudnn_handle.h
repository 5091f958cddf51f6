// Internal: cuDNN handles, one per (host thread, device) as cuDNN requires for concurrent use, bound to the
// device's current stream at every call. Shared by the BatchNorm and convolution backends.
#pragma once
#include <cudnn.h>

#include <memory>
#include <unordered_map>

#include "normrt/cuda.h"
#include "normrt/cuda_check.h"

namespace normrt::cudnn {

class Handle {
 public:
  explicit Handle(int device) {
    normrt::cuda::DeviceGuard guard(device);
    NORMRT_CUDNN_CHECK(cudnnCreate(&handle_));
  }
  ~Handle() { NORMRT_CUDNN_CHECK_LOG(cudnnDestroy(handle_)); }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  cudnnHandle_t get() const { return handle_; }

 private:
  cudnnHandle_t handle_ = nullptr;
};

// This thread's handle for `device`, set to `stream`.
inline cudnnHandle_t handle_for(int device, cudaStream_t stream) {
  thread_local std::unordered_map<int, std::unique_ptr<Handle>> handles;
  auto& handle = handles[device];
  if (!handle) handle = std::make_unique<Handle>(device);
  NORMRT_CUDNN_CHECK(cudnnSetStream(handle->get(), stream));
  return handle->get();
}

}  // namespace normrt::cudnn
