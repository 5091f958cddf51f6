// nn::DistributedDataParallel: torch.nn.parallel.DistributedDataParallel's contract for normrt's modules, over a
// dist::ProcessGroup (every rank wraps its replica of the same network and trains on its share of each batch).
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "normrt/dist.h"
#include "normrt/nn/module.h"

namespace normrt::nn {

// Construction broadcasts the module's parameters and buffers from rank 0, so every replica starts equal. forward
// and backward run the module; when a backward returns, every parameter's gradient is the average over the ranks
// (a parameter without a gradient on a rank counts as zeros there), all-reduced in buckets of about bucket_bytes of
// one dtype each, in parameter order; sums are in rank order, so the replicas stay equal bit for bit. Before each
// training forward the buffers (plain BatchNorm's running statistics) are broadcast from rank 0, as PyTorch's
// broadcast_buffers=True; SyncBatchNorm (convert_sync_batchnorm) keeps them equal by itself. The state_dict is the
// module's with keys under "module.", as PyTorch's. Communication does not yet overlap the backward (it runs when
// the backward has finished). The group must outlive the wrapper.
class DistributedDataParallel : public Module {
 public:
  DistributedDataParallel(std::shared_ptr<Module> module, dist::ProcessGroup& group,
                          int64_t bucket_bytes = int64_t{25} << 20);
  Module& module() { return *module_; }
  dist::ProcessGroup& group() const { return *group_; }
  std::string name() const override { return "DistributedDataParallel"; }
  // The buckets of the last gradient average (for tests and tuning).
  int64_t last_bucket_count() const { return last_buckets_; }

 private:
  Tensor forward_impl(const Tensor& input, Context& ctx) override;  // ctx.children: the module's context
  Tensor backward_impl(const Tensor& grad_output, Context& ctx) override;
  void average_gradients();
  std::shared_ptr<Module> module_;
  dist::ProcessGroup* group_;
  int64_t bucket_bytes_;
  int64_t last_buckets_ = 0;
};

}  // namespace normrt::nn
