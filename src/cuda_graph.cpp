// cuda::Graph and the pool private to each graph (graph_pool.h).
#include "normrt/cuda_graph.h"

#include <atomic>
#include <map>
#include <utility>

#include "cuda_launch.h"
#include "graph_pool.h"
#include "normrt/cuda_check.h"
#include "normrt/error.h"

namespace normrt::cuda {

namespace detail {

namespace {
constexpr std::size_t kGranule = 512;

std::size_t size_class(std::size_t nbytes) {
  return std::max<std::size_t>(1, (nbytes + kGranule - 1) / kGranule) * kGranule;
}

std::mutex& registry_mutex() {
  static std::mutex mutex;
  return mutex;
}

// Captures in progress: every allocation and free asks capturing_pool(), so the common answer (none) takes no lock.
std::atomic<int> g_captures{0};

std::map<std::pair<int, cudaStream_t>, std::shared_ptr<GraphPool>>& registry() {
  static auto* pools = new std::map<std::pair<int, cudaStream_t>, std::shared_ptr<GraphPool>>;
  return *pools;
}
}  // namespace

GraphPool::~GraphPool() {
  QuietDeviceGuard guard(device_);
  for (const auto& [block, size] : size_) NORMRT_CUDA_CHECK_LOG(cudaFree(block));
}

void* GraphPool::allocate(std::size_t nbytes) {
  const std::size_t size = size_class(nbytes);
  std::lock_guard<std::mutex> lock(mutex_);
  const auto it = free_.find(size);
  if (it != free_.end()) {
    void* block = it->second;
    free_.erase(it);
    return block;
  }
  cudaStreamCaptureMode mode = cudaStreamCaptureModeRelaxed;
  NORMRT_CUDA_CHECK(cudaThreadExchangeStreamCaptureMode(&mode));
  void* block = nullptr;
  const cudaError_t status = cudaMalloc(&block, size);
  NORMRT_CUDA_CHECK(cudaThreadExchangeStreamCaptureMode(&mode));
  NORMRT_CUDA_CHECK(status);
  size_[block] = size;
  return block;
}

void GraphPool::release(void* block) {
  std::lock_guard<std::mutex> lock(mutex_);
  free_.emplace(size_.at(block), block);
}

void GraphPool::defer_free(std::function<void()> free) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (capturing_) {
      deferred_.push_back(std::move(free));
      return;
    }
  }
  free();
}

void GraphPool::end_capture() {
  std::vector<std::function<void()>> deferred;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    capturing_ = false;
    deferred.swap(deferred_);
  }
  for (auto& free : deferred) free();
}

std::shared_ptr<GraphPool> capturing_pool(int device, cudaStream_t stream) {
  if (g_captures.load(std::memory_order_acquire) == 0) return nullptr;
  std::lock_guard<std::mutex> lock(registry_mutex());
  const auto it = registry().find({device, stream});
  return it == registry().end() ? nullptr : it->second;
}

void set_capturing_pool(int device, cudaStream_t stream, std::shared_ptr<GraphPool> pool) {
  std::lock_guard<std::mutex> lock(registry_mutex());
  if (pool) registry()[{device, stream}] = std::move(pool);
  else registry().erase({device, stream});
  g_captures.store(static_cast<int>(registry().size()), std::memory_order_release);
}

}  // namespace detail

Graph::Graph(int device) : device_(device) { check_device(Device::cuda(device)); }

Graph::~Graph() {
  if (exec_ != nullptr) NORMRT_CUDA_CHECK_LOG(cudaGraphExecDestroy(exec_));
  if (graph_ != nullptr) NORMRT_CUDA_CHECK_LOG(cudaGraphDestroy(graph_));
}

void Graph::capture_begin() {
  NORMRT_CHECK(pool_ == nullptr, "cuda::Graph: capture_begin called twice (one capture per graph)");
  DeviceGuard guard(device_);
  stream_ = current_stream_ref(device_);
  NORMRT_CHECK(stream_.stream != cudaStreamLegacy && stream_.stream != nullptr,
               "cuda::Graph: the legacy default stream cannot be captured");
  pool_ = std::make_shared<detail::GraphPool>(device_);
  detail::set_capturing_pool(device_, stream_.stream, pool_);
  const cudaError_t status = cudaStreamBeginCapture(stream_.stream, cudaStreamCaptureModeGlobal);
  if (status != cudaSuccess) {
    detail::set_capturing_pool(device_, stream_.stream, nullptr);
    pool_->end_capture();
    NORMRT_CUDA_CHECK(status);
  }
}

void Graph::capture_end() {
  NORMRT_CHECK(pool_ != nullptr && graph_ == nullptr, "cuda::Graph: capture_end without capture_begin");
  DeviceGuard guard(device_);
  const cudaError_t status = cudaStreamEndCapture(stream_.stream, &graph_);
  detail::set_capturing_pool(device_, stream_.stream, nullptr);
  pool_->end_capture();
  NORMRT_CUDA_CHECK(status);
  NORMRT_CUDA_CHECK(cudaGraphInstantiate(&exec_, graph_, 0));
}

void Graph::replay() {
  NORMRT_CHECK(exec_ != nullptr, "cuda::Graph: replay before a completed capture");
  DeviceGuard guard(device_);
  NORMRT_CUDA_CHECK(cudaGraphLaunch(exec_, stream_.stream));
}

}  // namespace normrt::cuda
