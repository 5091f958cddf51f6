// Internal: argument checks and CUDA launch context shared by the ops' dispatch files.
#pragma once
#include "normrt/config.h"
#include "normrt/error.h"
#include "normrt/tensor.h"
#if NORMRT_WITH_CUDA
#include "cuda_launch.h"
#include "normrt/cuda.h"
#endif

namespace normrt::ops::util {

inline void check_float(const Tensor& t, const char* what) {
  NORMRT_CHECK(t.defined(), what, " is undefined");
  NORMRT_CHECK(t.dtype() == DType::Float32, what, " must be float32, got ", dtype_name(t.dtype()));
}

inline void check_same_device(const Tensor& a, const Tensor& b) {
  NORMRT_CHECK(a.device() == b.device(), "Expected all tensors to be on the same device, but found at least two ",
               "devices, ", a.device().str(), " and ", b.device().str(), "!");
}

#if NORMRT_WITH_CUDA
// The device of `t` made current, its current stream and SM count.
struct Launch {
  explicit Launch(const Tensor& t)
      : device(t.device().index()), guard(device), stream(cuda::current_stream(device)), sms(cuda::sm_count(device)) {}
  int device;
  cuda::DeviceGuard guard;
  cudaStream_t stream;
  int sms;
};
// counter (one int64 on a CUDA device) += delta, queued on the device's current stream; a CUDA graph that captures
// it advances the counter at every replay.
void advance_device_counter(Tensor& counter, int64_t delta);
// Whether the current stream of `device` is being captured into a cuda::Graph.
bool capturing(const Device& device);
#else
[[noreturn]] inline void no_cuda(const char* op) { NORMRT_THROW(op, " on CUDA tensors needs a build with CUDA"); }
#endif

}  // namespace normrt::ops::util
