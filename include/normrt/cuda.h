// CUDA device queries and the per-device current stream. Every function works in a build without CUDA or on a
// machine without a GPU: device_count() is then 0 and the stream functions throw normrt::Error.
#pragma once
#include "normrt/config.h"
#include "normrt/device.h"

#if NORMRT_WITH_CUDA
#include <cuda_runtime_api.h>
#endif

namespace normrt::cuda {

// Number of usable CUDA devices; 0 without CUDA support, driver or device (never throws).
int device_count();
inline bool is_available() { return device_count() > 0; }

// cuDNN's version number (e.g. 91900 for 9.19.0) as cudnnGetVersion() reports it; 0 in a build without CUDA.
// Works without a GPU.
int cudnn_version();

// Throws normrt::Error unless `device` is a CUDA device this process can use.
void check_device(const Device& device);

#if NORMRT_WITH_CUDA
// The stream that normrt enqueues work for `device` on, per host thread. Defaults to the legacy default stream.
cudaStream_t current_stream(int device);
void set_current_stream(int device, cudaStream_t stream);
// Blocks until all work on the current stream of `device` has finished.
void synchronize(int device);

// An owned non-blocking stream.
class Stream {
 public:
  explicit Stream(int device);
  ~Stream();
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  cudaStream_t get() const { return stream_; }
  int device() const { return device_; }

 private:
  int device_;
  cudaStream_t stream_ = nullptr;
};

// Makes `stream` the current stream of its device for the guard's lifetime.
class StreamGuard {
 public:
  explicit StreamGuard(const Stream& stream);
  ~StreamGuard();
  StreamGuard(const StreamGuard&) = delete;
  StreamGuard& operator=(const StreamGuard&) = delete;

 private:
  int device_;
  cudaStream_t previous_;
};

// Makes `device` the current CUDA device for the guard's lifetime.
class DeviceGuard {
 public:
  explicit DeviceGuard(int device);
  ~DeviceGuard();
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_ = 0;
  bool switched_ = false;
};
#endif

}  // namespace normrt::cuda
