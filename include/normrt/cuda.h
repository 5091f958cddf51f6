// CUDA device queries and the per-device current stream. Every function works in a build without CUDA or on a
// machine without a GPU: device_count() is then 0 and the stream functions throw normrt::Error.
#pragma once
#include "normrt/config.h"
#include "normrt/device.h"

#include <memory>

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
// A stream and what keeps its handle valid. Storages hold one for every stream they are used on, so that a Stream
// object that goes out of scope while tensors allocated on it live is destroyed only after the last of them.
struct StreamRef {
  cudaStream_t stream = nullptr;
  std::shared_ptr<void> owner;  // null: the device's default stream, or a stream the caller keeps alive
};

// The stream normrt uses for `device` unless told otherwise: one non-blocking stream per device (not the legacy
// default stream, which does not overlap with other streams and cannot be captured into a CUDA graph), created on
// first use and kept for the life of the process.
cudaStream_t default_stream(int device);
// The stream that normrt enqueues work for `device` on, per host thread: default_stream(device) unless set.
cudaStream_t current_stream(int device);
StreamRef current_stream_ref(int device);
// Makes `stream` current for `device` on this thread; the caller keeps it alive while normrt may use it (tensors
// allocated or written on it included). cuda::Stream with a StreamGuard does that bookkeeping itself.
void set_current_stream(int device, cudaStream_t stream);
// Blocks until all work on the current stream of `device` has finished.
void synchronize(int device);
// Makes work queued on `waiter` from now on wait for the work queued on `producer` so far (through an event;
// `producer` must belong to the current device, `waiter` may be any device's).
void stream_wait(cudaStream_t waiter, cudaStream_t producer);

// An owned non-blocking stream. The handle is destroyed when the object and every tensor allocated or written on
// the stream are gone (work still queued then completes first, as cudaStreamDestroy guarantees).
class Stream {
 public:
  explicit Stream(int device);
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  cudaStream_t get() const { return static_cast<cudaStream_t>(handle_.get()); }
  int device() const { return device_; }
  StreamRef ref() const { return {get(), handle_}; }

 private:
  int device_;
  std::shared_ptr<void> handle_;
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
  StreamRef previous_;
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
