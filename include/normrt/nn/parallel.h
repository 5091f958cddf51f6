// nn::DistributedDataParallel: torch.nn.parallel.DistributedDataParallel's contract for normrt's modules, over a
// dist::ProcessGroup (every rank wraps its replica of the same network and trains on its share of each batch).
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "normrt/dist.h"
#include "normrt/nn/module.h"

namespace normrt::nn {

// Construction broadcasts the module's parameters and buffers from rank 0, so every replica starts equal. forward
// and backward run the module; when a backward returns, every parameter's gradient is the average over the ranks
// (a parameter without a gradient on a rank counts as zeros there); sums are in rank order on the threads, mpi and
// file backends (NCCL's own order on nccl: the same bits on every rank), so the replicas stay equal.
// Gradients travel in buckets of about bucket_bytes of one dtype and device each (the first, which the backward
// completes first, of at most kFirstBucketBytes: PyTorch's 1 MiB), made in reverse parameter order
// (the order a backward produces them, as PyTorch's), and a bucket is all-reduced as soon as the backward has
// produced all of its gradients: through Module call hooks, a module's parameters are done when the last backward of
// its calls in flight has run (weight sharing included). Buckets go out in the same order on every rank; parameters
// the backward did not reach go with the last ones. Buckets of CUDA gradients are all-reduced on a communication
// stream of the wrapper's (one per device), after the work queued on the current stream so far, and the current
// stream waits for them when the backward returns: on the nccl backend the collectives are only enqueued, so neither
// the host nor the device's kernels of the rest of the backward wait for them (while a CUDA graph captures, they stay
// on the captured stream).
// Before each training forward the buffers (plain BatchNorm's running statistics) are broadcast from rank 0 (one
// broadcast per dtype and device), as PyTorch's broadcast_buffers=True; SyncBatchNorm (convert_sync_batchnorm) keeps
// them equal by itself. The state_dict is the module's with keys under "module.", as PyTorch's. The wrapper sets the
// call hooks of the module's submodules that hold parameters (and clears them when destroyed). The group must outlive
// the wrapper.
class DistributedDataParallel : public Module {
 public:
  static constexpr int64_t kFirstBucketBytes = int64_t{1} << 20;
  DistributedDataParallel(std::shared_ptr<Module> module, dist::ProcessGroup& group,
                          int64_t bucket_bytes = int64_t{25} << 20);
  ~DistributedDataParallel() override;
  Module& module() { return *module_; }
  dist::ProcessGroup& group() const { return *group_; }
  std::string name() const override { return "DistributedDataParallel"; }
  // The buckets a gradient average sends (for tests and tuning).
  int64_t last_bucket_count() const { return static_cast<int64_t>(buckets_.size()); }

 private:
  struct Bucket {
    std::vector<std::size_t> parameters;  // indices into parameters_
    std::size_t waiting = 0;              // of them without their final gradient yet
  };
  Tensor forward_impl(const Tensor& input, Context& ctx) override;  // ctx.children: the module's context
  Tensor backward_impl(const Tensor& grad_output, Context& ctx) override;
  void broadcast_buffers();
  void on_call(Module& module, Pass pass);
  void parameter_done(std::size_t index);
  void send_ready_buckets();
  void send(Bucket& bucket);
  void reduce(Bucket& bucket);
  void join_communication();
  struct CommunicationStreams;
  std::shared_ptr<Module> module_;
  dist::ProcessGroup* group_;
  int64_t bucket_bytes_;
  std::vector<Tensor> parameters_;
  std::vector<std::size_t> bucket_of_;                    // per parameter
  std::map<Module*, std::vector<std::size_t>> owned_;     // each hooked module's own parameters
  std::map<Module*, int64_t> calls_in_flight_;
  std::vector<bool> done_;
  std::vector<Bucket> buckets_;
  std::size_t next_bucket_ = 0;
  bool active_ = false;  // between a forward that keeps a context and its backward
  std::unique_ptr<CommunicationStreams> communication_;
};

}  // namespace normrt::nn
