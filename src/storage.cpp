#include "normrt/storage.h"

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <vector>

#include "normrt/cuda.h"
#include "normrt/cuda_check.h"
#include "normrt/error.h"

namespace normrt {

namespace {
constexpr std::size_t kHostAlignment = 64;  // one cache line; enough for any vector load

#if NORMRT_WITH_CUDA
// Keep freed blocks in the pool instead of returning them to the driver at every synchronisation.
void configure_pool_once(int device) {
  static std::mutex mutex;
  static std::vector<bool> configured;
  std::lock_guard<std::mutex> lock(mutex);
  if (configured.size() <= static_cast<std::size_t>(device)) configured.resize(device + 1, false);
  if (configured[device]) return;
  cudaMemPool_t pool;
  NORMRT_CUDA_CHECK(cudaDeviceGetDefaultMemPool(&pool, device));
  std::uint64_t threshold = UINT64_MAX;
  NORMRT_CUDA_CHECK(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &threshold));
  configured[device] = true;
}
#endif
}  // namespace

Storage::Storage(std::size_t nbytes, Device device) : nbytes_(nbytes), device_(device) {
  if (device.is_cpu()) {
    if (nbytes == 0) return;
    const std::size_t rounded = (nbytes + kHostAlignment - 1) / kHostAlignment * kHostAlignment;
    data_ = std::aligned_alloc(kHostAlignment, rounded);
    NORMRT_CHECK(data_ != nullptr, "out of host memory allocating ", nbytes, " bytes");
    return;
  }
  cuda::check_device(device);
#if NORMRT_WITH_CUDA
  if (nbytes == 0) return;
  configure_pool_once(device.index());
  cuda::DeviceGuard guard(device.index());
  cudaStream_t stream = cuda::current_stream(device.index());
  NORMRT_CUDA_CHECK(cudaMallocAsync(&data_, nbytes, stream));
  stream_ = stream;
#endif
}

Storage::Storage(void* data, std::size_t nbytes, Device device, std::function<void(void*)> deleter)
    : data_(data), nbytes_(nbytes), device_(device), external_(true), deleter_(std::move(deleter)) {
  if (device.is_cuda()) cuda::check_device(device);
}

Storage::~Storage() {
  if (external_) {
    if (deleter_) deleter_(data_);
    return;
  }
  if (data_ == nullptr) return;
  if (device_.is_cpu()) {
    std::free(data_);
    return;
  }
#if NORMRT_WITH_CUDA
  NORMRT_CUDA_CHECK_LOG(cudaFreeAsync(data_, static_cast<cudaStream_t>(stream_)));
#endif
}

void copy_bytes(void* dst, const Device& dst_device, const void* src, const Device& src_device, std::size_t nbytes) {
  if (nbytes == 0) return;
  if (dst_device.is_cpu() && src_device.is_cpu()) {
    std::memcpy(dst, src, nbytes);
    return;
  }
#if NORMRT_WITH_CUDA
  const int device = dst_device.is_cuda() ? dst_device.index() : src_device.index();
  cuda::DeviceGuard guard(device);
  cudaStream_t stream = cuda::current_stream(device);
  if (dst_device.is_cuda() && src_device.is_cuda() && dst_device != src_device) {
    NORMRT_CUDA_CHECK(cudaMemcpyPeerAsync(dst, dst_device.index(), src, src_device.index(), nbytes, stream));
  } else {
    NORMRT_CUDA_CHECK(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyDefault, stream));
  }
  if (dst_device.is_cpu()) NORMRT_CUDA_CHECK(cudaStreamSynchronize(stream));
#else
  NORMRT_THROW("copy between ", src_device.str(), " and ", dst_device.str(),
               " needs CUDA, but normrt was built without CUDA support");
#endif
}

}  // namespace normrt
