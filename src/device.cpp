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
thread_local std::unordered_map<int, StreamRef> current_streams;

// Destroys a stream on its own device; runs from destructors, so it only logs.
void destroy_stream(int device, cudaStream_t stream) noexcept {
  QuietDeviceGuard guard(device);
  NORMRT_CUDA_CHECK_LOG(cudaStreamDestroy(stream));
}
}  // namespace

QuietDeviceGuard::QuietDeviceGuard(int device) noexcept {
  NORMRT_CUDA_CHECK_LOG(cudaGetDevice(&previous_));
  if (previous_ != device) {
    NORMRT_CUDA_CHECK_LOG(cudaSetDevice(device));
    switched_ = true;
  }
}

QuietDeviceGuard::~QuietDeviceGuard() {
  if (switched_) NORMRT_CUDA_CHECK_LOG(cudaSetDevice(previous_));
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

cudaStream_t default_stream(int device) {
  static std::mutex mutex;
  static std::vector<cudaStream_t> streams;  // never destroyed: work may be queued on them until exit
  std::lock_guard<std::mutex> lock(mutex);
  if (streams.size() <= static_cast<std::size_t>(device)) streams.resize(device + 1, nullptr);
  if (streams[device] == nullptr) {
    DeviceGuard guard(device);
    NORMRT_CUDA_CHECK(cudaStreamCreateWithFlags(&streams[device], cudaStreamNonBlocking));
  }
  return streams[device];
}

StreamRef current_stream_ref(int device) {
  const auto it = current_streams.find(device);
  return it == current_streams.end() ? StreamRef{default_stream(device), nullptr} : it->second;
}

cudaStream_t current_stream(int device) { return current_stream_ref(device).stream; }

void set_current_stream(int device, cudaStream_t stream) { current_streams[device] = StreamRef{stream, nullptr}; }

void synchronize(int device) {
  DeviceGuard guard(device);
  NORMRT_CUDA_CHECK(cudaStreamSynchronize(current_stream(device)));
}

void stream_wait(cudaStream_t waiter, cudaStream_t producer) {
  if (waiter == producer) return;
  cudaEvent_t event = nullptr;
  NORMRT_CUDA_CHECK(cudaEventCreateWithFlags(&event, cudaEventDisableTiming));
  cudaError_t status = cudaEventRecord(event, producer);
  if (status == cudaSuccess) status = cudaStreamWaitEvent(waiter, event, 0);
  // The wait holds what it needs: the event can go now (its resources are released once it completes).
  NORMRT_CUDA_CHECK_LOG(cudaEventDestroy(event));
  NORMRT_CUDA_CHECK(status);
}

Stream::Stream(int device) : device_(device) {
  check_device(Device::cuda(device));
  DeviceGuard guard(device);
  cudaStream_t stream = nullptr;
  NORMRT_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  handle_ = std::shared_ptr<void>(stream, [device](void* s) { destroy_stream(device, static_cast<cudaStream_t>(s)); });
}

StreamGuard::StreamGuard(const Stream& stream)
    : device_(stream.device()), previous_(current_stream_ref(stream.device())) {
  current_streams[device_] = stream.ref();
}

StreamGuard::~StreamGuard() { current_streams[device_] = std::move(previous_); }

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
