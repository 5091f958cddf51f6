// Internal: the memory pool private to a CUDA graph (cuda::Graph). While a graph captures a stream, storages
// allocated on that stream come from its pool: blocks freed during the capture serve later allocations of the same
// capture (one stream, so stream order keeps them apart), blocks that outlive the capture stay with their tensors,
// and every replay reads and writes the same addresses. Frees of ordinary pool blocks on the capturing stream are
// held until the capture ends: queued inside it they would become graph free nodes that every replay repeats.
#pragma once
#include "normrt/config.h"
#if NORMRT_WITH_CUDA
#include <cuda_runtime_api.h>

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace normrt::cuda::detail {

class GraphPool {
 public:
  explicit GraphPool(int device) : device_(device) {}
  ~GraphPool();
  GraphPool(const GraphPool&) = delete;
  GraphPool& operator=(const GraphPool&) = delete;

  int device() const { return device_; }
  // A block of at least `nbytes`: a released one of the same size class, else a new cudaMalloc (allowed during the
  // capture: the call switches this thread to relaxed capture mode for it).
  void* allocate(std::size_t nbytes);
  void release(void* block);
  // Runs `free` when the capture ends (now, if it has ended).
  void defer_free(std::function<void()> free);
  void end_capture();

 private:
  int device_;
  std::mutex mutex_;
  std::multimap<std::size_t, void*> free_;       // size class -> released blocks
  std::unordered_map<void*, std::size_t> size_;  // every block -> its size class
  std::vector<std::function<void()>> deferred_;
  bool capturing_ = true;
};

// The pool of the graph capturing `stream` of `device`, or null.
std::shared_ptr<GraphPool> capturing_pool(int device, cudaStream_t stream);
void set_capturing_pool(int device, cudaStream_t stream, std::shared_ptr<GraphPool> pool);

}  // namespace normrt::cuda::detail
#endif
