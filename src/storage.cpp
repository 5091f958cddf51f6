#include "normrt/storage.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "cpu_threads.h"
#include "cuda_launch.h"
#include "graph_pool.h"
#include "normrt/cuda.h"
#include "normrt/cuda_check.h"
#include "normrt/error.h"

#if NORMRT_WITH_CUDA
// The emulated device's test build defines this to poison a block as it enters the device cache, in stream order
// (tests/simt/emulated_cudart.cpp), so that a read after free shows there as it does for the pool's blocks; real
// builds leave it undefined.
extern "C" __attribute__((weak)) void normrt_emulated_poison(void* block, std::size_t bytes, cudaStream_t stream);
#endif

namespace normrt {

namespace {
constexpr std::size_t kHostAlignment = 64;  // one cache line; enough for any vector load
constexpr std::size_t kCachedFrom = std::size_t{64} << 10;
constexpr std::size_t kCacheLimit = std::size_t{4} << 30;  // freed blocks beyond this go back to the system

// A size class: a multiple of `granule` below `stepped_from`, else rounded up to an eighth of its power of two (at
// most 12.5% more), so that the tensors of one shape share a class.
std::size_t size_class(std::size_t nbytes, std::size_t granule, std::size_t stepped_from) {
  const std::size_t aligned = (nbytes + granule - 1) / granule * granule;
  if (aligned < stepped_from) return aligned;
  std::size_t power = stepped_from;
  while (power * 2 <= aligned) power *= 2;
  const std::size_t step = power / 8;
  return (aligned + step - 1) / step * step;
}

// The size class of a host block; below 64 KB (multiples of 64 bytes) they are left to malloc.
std::size_t host_block_size(std::size_t nbytes) { return size_class(nbytes, kHostAlignment, kCachedFrom); }

// Freed blocks by size class, up to kCacheLimit bytes, for the host and for each device's default stream. Never
// destroyed: tensors in static storage may outlive any static object.
class BlockCache {
 public:
  void* take(std::size_t size) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = free_.find(size);
    if (it == free_.end() || it->second.empty()) return nullptr;
    void* block = it->second.back();
    it->second.pop_back();
    cached_ -= size;
    return block;
  }
  // Keeps the block; false (the caller frees it) when the cache is full.
  bool give(void* block, std::size_t size) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (cached_ + size > kCacheLimit) return false;
    free_[size].push_back(block);
    cached_ += size;
    return true;
  }
  // Empties the cache: calls release(block) for each block, returns their bytes.
  template <typename Release>
  std::size_t drain(Release release) {
    std::unordered_map<std::size_t, std::vector<void*>> blocks;
    std::size_t bytes = 0;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      blocks.swap(free_);
      std::swap(bytes, cached_);
    }
    for (const auto& [size, of_size] : blocks)
      for (void* block : of_size) release(block);
    return bytes;
  }

 private:
  std::mutex mutex_;
  std::unordered_map<std::size_t, std::vector<void*>> free_;
  std::size_t cached_ = 0;
};

BlockCache& host_cache() {
  static auto* cache = new BlockCache;
  return *cache;
}

std::size_t release_host_cache() {
  return host_cache().drain([](void* block) { std::free(block); });
}

void* allocate_host(std::size_t nbytes) {
  const std::size_t size = host_block_size(nbytes);
  if (size >= kCachedFrom) {
    if (void* block = host_cache().take(size)) return block;
  }
  void* block = std::aligned_alloc(kHostAlignment, size);
  if (block == nullptr && release_host_cache() > 0) block = std::aligned_alloc(kHostAlignment, size);
  NORMRT_CHECK(block != nullptr, "out of host memory allocating ", nbytes, " bytes");
  return block;
}

void free_host(void* block, std::size_t nbytes) {
  const std::size_t size = host_block_size(nbytes);
  if (size < kCachedFrom || !host_cache().give(block, size)) std::free(block);
}

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

// The size class of a block allocated on a device's default stream: multiples of 512 bytes below 1 MB.
std::size_t device_block_size(std::size_t nbytes) { return size_class(nbytes, 512, std::size_t{1} << 20); }

// Blocks freed on a device's default stream (cuda::default_stream, normrt's own and never destroyed), handed to the
// next allocations on that stream without a driver call: stream order puts the new owner's work after every use of
// the old one (all queued before the free; other streams' uses were waited for). cudaMallocAsync and cudaFreeAsync
// cost host time on every call even when the pool has the memory: likely the bulk of the 3-6 us a BatchNorm call's
// host work added to its launches on an H200 (benchmarks/results/README.md; not separated there).
BlockCache& device_cache(int device) {
  static auto* caches = new std::vector<BlockCache>(static_cast<std::size_t>(cuda::device_count()));
  return (*caches)[static_cast<std::size_t>(device)];
}

// Returns the device's cached blocks to its stream-ordered pool (freed on the default stream); the bytes.
std::size_t release_device_cache(int device) {
  cuda::QuietDeviceGuard guard(device);
  const cudaStream_t stream = cuda::default_stream(device);
  return device_cache(device).drain([stream](void* block) { NORMRT_CUDA_CHECK_LOG(cudaFreeAsync(block, stream)); });
}

// A block of `nbytes` from `device`'s stream-ordered pool on `stream`; when the pool is out of memory, once more after
// the cache has returned its blocks and the default stream has finished freeing them.
void* allocate_pool_block(int device, std::size_t nbytes, cudaStream_t stream) {
  void* data = nullptr;
  const cudaError_t status = cudaMallocAsync(&data, nbytes, stream);
  if (status == cudaErrorMemoryAllocation) {
    (void)cudaGetLastError();
    if (release_device_cache(device) > 0) {
      NORMRT_CUDA_CHECK(cudaStreamSynchronize(cuda::default_stream(device)));
      NORMRT_CUDA_CHECK(cudaMallocAsync(&data, nbytes, stream));
      return data;
    }
  }
  NORMRT_CUDA_CHECK(status);
  return data;
}

// Returns a stream-ordered pool block on `allocated_on`'s stream after the work queued so far on `others`: to the
// cache when `cached_size` is its size class there (a block of the default stream), else to the pool. Destructors
// call it, so failures are logged; a block whose ordering failed is leaked rather than handed out again while other
// streams may still use it.
template <typename StreamUse>
void free_pool_block(int device, void* data, std::size_t cached_size, const StreamUse& allocated_on,
                     const std::vector<StreamUse>& others) {
  const auto free_stream = static_cast<cudaStream_t>(allocated_on.stream);
  const auto cached = [&] {
    if (cached_size == 0) return false;
    // Poisoned before the cache publishes it: another thread may take it at once and queue its own writes.
    if (normrt_emulated_poison != nullptr) normrt_emulated_poison(data, cached_size, free_stream);
    return device_cache(device).give(data, cached_size);
  };
  if (others.empty() && cached()) return;
  cuda::QuietDeviceGuard guard(device);
  bool ordered = true;
  for (const StreamUse& use : others) {
    try {
      cuda::stream_wait(free_stream, static_cast<cudaStream_t>(use.stream));
    } catch (const std::exception& e) {
      detail::log_error(__FILE__, __LINE__, std::string("a CUDA block is leaked: ") + e.what());
      ordered = false;
    }
  }
  if (ordered && !cached()) NORMRT_CUDA_CHECK_LOG(cudaFreeAsync(data, free_stream));
}
#endif
}  // namespace

Storage::Storage(std::size_t nbytes, Device device) : nbytes_(nbytes), device_(device) {
  if (device.is_cpu()) {
    if (nbytes == 0) return;
    data_ = allocate_host(nbytes);
    return;
  }
  cuda::check_device(device);
#if NORMRT_WITH_CUDA
  if (nbytes == 0) return;
  const int index = device.index();
  configure_pool_once(index);
  cuda::StreamRef stream = cuda::current_stream_ref(index);
  graph_pool_ = cuda::detail::capturing_pool(index, stream.stream);
  if (graph_pool_) {
    cuda::DeviceGuard guard(index);
    data_ = graph_pool_->allocate(nbytes);
  } else if (stream.stream == cuda::default_stream(index)) {
    cached_size_ = device_block_size(nbytes);
    data_ = device_cache(index).take(cached_size_);
    if (data_ == nullptr) {
      cuda::DeviceGuard guard(index);
      data_ = allocate_pool_block(index, cached_size_, stream.stream);
    }
  } else {
    cuda::DeviceGuard guard(index);
    data_ = allocate_pool_block(index, nbytes, stream.stream);
  }
  allocated_on_ = {stream.stream, std::move(stream.owner)};
  last_writer_ = allocated_on_.stream;
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
    free_host(data_, nbytes_);
    return;
  }
#if NORMRT_WITH_CUDA
  if (graph_pool_) {
    graph_pool_->release(data_);
    return;
  }
  const int device = device_.index();
  const auto stream = static_cast<cudaStream_t>(allocated_on_.stream);
  auto free = [device, data = data_, cached_size = cached_size_, allocated_on = std::move(allocated_on_),
               others = std::move(also_used_on_)] { free_pool_block(device, data, cached_size, allocated_on, others); };
  // Freed on a stream a CUDA graph is capturing: held until the capture ends (see graph_pool.h).
  if (auto pool = cuda::detail::capturing_pool(device, stream))
    pool->defer_free(std::move(free));
  else
    free();
#endif
}

void Storage::note_use(StreamUse use, bool write) {
  if (write) last_writer_ = use.stream;
  if (use.stream == allocated_on_.stream) return;
  for (const StreamUse& known : also_used_on_)
    if (known.stream == use.stream) return;
  also_used_on_.push_back(std::move(use));
}

void Storage::bump_version() {
  ++version_;
#if NORMRT_WITH_CUDA
  if (device_.is_cuda() && data_ != nullptr) {
    cuda::StreamRef stream = cuda::current_stream_ref(device_.index());
    note_use({stream.stream, std::move(stream.owner)}, true);
  }
#endif
}

void Storage::record_stream() {
#if NORMRT_WITH_CUDA
  if (!device_.is_cuda() || data_ == nullptr) return;
  cuda::StreamRef stream = cuda::current_stream_ref(device_.index());
  note_use({stream.stream, std::move(stream.owner)}, false);
#endif
}

void Storage::order_reads_on(int device) const {
#if NORMRT_WITH_CUDA
  if (!device_.is_cuda() || last_writer_ == nullptr) return;
  const cudaStream_t reader = cuda::current_stream(device);
  cuda::DeviceGuard guard(device_.index());  // the event is recorded on the writer's device
  cuda::stream_wait(reader, static_cast<cudaStream_t>(last_writer_));
#else
  (void)device;
#endif
}

std::size_t release_cached_host_memory() { return release_host_cache(); }

std::size_t release_cached_device_memory([[maybe_unused]] int device) {
#if NORMRT_WITH_CUDA
  cuda::check_device(Device::cuda(device));
  return release_device_cache(device);
#else
  return 0;
#endif
}

void copy_bytes(void* dst, const Device& dst_device, const void* src, const Device& src_device, std::size_t nbytes) {
  if (nbytes == 0) return;
  if (dst_device.is_cpu() && src_device.is_cpu()) {
    cpu::copy_rows(static_cast<char*>(dst), nbytes, static_cast<const char*>(src), nbytes, nbytes, 1);
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
  if (dst_device.is_cpu() || src_device.is_cpu()) NORMRT_CUDA_CHECK(cudaStreamSynchronize(stream));
#else
  NORMRT_THROW("copy between ", src_device.str(), " and ", dst_device.str(),
               " needs CUDA, but normrt was built without CUDA support");
#endif
}

}  // namespace normrt
