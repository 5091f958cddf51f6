// CUDA graphs of normrt work (torch.cuda.CUDAGraph): capture what a piece of code queues on a device's current
// stream once, then replay it with one launch. During the capture, the memory normrt allocates on that stream
// comes from a pool private to the graph, so tensors created by the captured code (saved activations, outputs)
// keep fixed addresses that every replay reads and writes; inputs are tensors made before the capture and
// refilled in place between replays. The captured code must not synchronise with the host (a host read inside a
// capture fails), copy from pageable host memory, or use other streams. Memory blocks the capture frees that were
// allocated before it are returned when the capture ends.
#pragma once
#include "normrt/config.h"
#include "normrt/cuda.h"

#if NORMRT_WITH_CUDA
#include <memory>

namespace normrt::cuda {

namespace detail {
class GraphPool;
}

class Graph {
 public:
  explicit Graph(int device);
  ~Graph();
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;

  // Starts capturing the device's current stream (not the legacy default stream). One capture per graph.
  void capture_begin();
  void capture_end();
  // Queues the captured work on the captured stream.
  void replay();
  bool captured() const { return exec_ != nullptr; }

 private:
  int device_;
  StreamRef stream_;
  std::shared_ptr<detail::GraphPool> pool_;  // outlived by the tensors allocated from it, which share it
  cudaGraph_t graph_ = nullptr;
  cudaGraphExec_t exec_ = nullptr;
};

}  // namespace normrt::cuda
#endif
