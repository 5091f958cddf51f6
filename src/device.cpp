#include <unordered_map>

#include "normrt/cuda.h"
#include "normrt/cuda_check.h"
#include "cuda_launch.h"

#include <mutex>
#include <vector>

namespace normrt::cuda {

#if NORMRT_WITH_CUDA

int device_count() {
  static const int count = [] {
    int n = 0;
    // No driver or no device reports an error here; both mean "no usable GPU".
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
      (void)cudaGetLastError();
      return 0;
    }
    return n;
  }();
  return count;
}

void check_device(const Device& device) {
  NORMRT_CHECK(device.is_cuda(), "expected a CUDA device, got ", device.str());
  const int n = device_count();
  NORMRT_CHECK(n > 0, "CUDA device ", device.str(), " requested but no CUDA device is available");
  NORMRT_CHECK(device.index() >= 0 && device.index() < n, "CUDA device ", device.str(), " requested but only ", n,
               " device(s) are available");
}

namespace {
thread_local std::unordered_map<int, cudaStream_t> current_streams;
}

int sm_count(int device) {
  static std::mutex mutex;
  static std::vector<int> counts;
  std::lock_guard<std::mutex> lock(mutex);
  if (counts.size() <= static_cast<std::size_t>(device)) counts.resize(device + 1, 0);
  if (counts[device] == 0)
    NORMRT_CUDA_CHECK(cudaDeviceGetAttribute(&counts[device], cudaDevAttrMultiProcessorCount, device));
  return counts[device];
}

cudaStream_t current_stream(int device) {
  const auto it = current_streams.find(device);
  return it == current_streams.end() ? cudaStreamLegacy : it->second;
}

void set_current_stream(int device, cudaStream_t stream) { current_streams[device] = stream; }

void synchronize(int device) {
  DeviceGuard guard(device);
  NORMRT_CUDA_CHECK(cudaStreamSynchronize(current_stream(device)));
}

Stream::Stream(int device) : device_(device) {
  check_device(Device::cuda(device));
  DeviceGuard guard(device);
  NORMRT_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
}

Stream::~Stream() {
  if (stream_ != nullptr) NORMRT_CUDA_CHECK_LOG(cudaStreamDestroy(stream_));
}

StreamGuard::StreamGuard(const Stream& stream) : device_(stream.device()), previous_(current_stream(stream.device())) {
  set_current_stream(device_, stream.get());
}

StreamGuard::~StreamGuard() { set_current_stream(device_, previous_); }

DeviceGuard::DeviceGuard(int device) {
  NORMRT_CUDA_CHECK(cudaGetDevice(&previous_));
  if (previous_ != device) {
    NORMRT_CUDA_CHECK(cudaSetDevice(device));
    switched_ = true;
  }
}

DeviceGuard::~DeviceGuard() {
  if (switched_) NORMRT_CUDA_CHECK_LOG(cudaSetDevice(previous_));
}

#else

int device_count() { return 0; }
int cudnn_version() { return 0; }

void check_device(const Device& device) {
  NORMRT_THROW("CUDA device ", device.str(), " requested but normrt was built without CUDA support");
}

#endif

}  // namespace normrt::cuda
