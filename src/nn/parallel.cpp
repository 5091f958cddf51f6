#include "normrt/nn/parallel.h"

#include <algorithm>

#include "normrt/config.h"
#include "normrt/error.h"
#include "normrt/grad_mode.h"
#include "normrt/ops/elementwise.h"
#include "normrt/ops/tensor_ops.h"
#include "op_util.h"
#if NORMRT_WITH_CUDA
#include "normrt/cuda.h"
#endif

namespace normrt::nn {

// The communication stream of each device that holds parameters, made at its first bucket.
struct DistributedDataParallel::CommunicationStreams {
#if NORMRT_WITH_CUDA
  std::map<int, std::unique_ptr<cuda::Stream>> streams;
  cuda::Stream& of(int device) {
    std::unique_ptr<cuda::Stream>& stream = streams[device];
    if (!stream) stream = std::make_unique<cuda::Stream>(device);
    return *stream;
  }
#endif
};

DistributedDataParallel::DistributedDataParallel(std::shared_ptr<Module> module, dist::ProcessGroup& group,
                                                 int64_t bucket_bytes)
    : module_(std::move(module)),
      group_(&group),
      bucket_bytes_(bucket_bytes),
      communication_(std::make_unique<CommunicationStreams>()) {
  NORMRT_CHECK(module_ != nullptr, "DistributedDataParallel: the module is null");
  NORMRT_CHECK(bucket_bytes > 0, "DistributedDataParallel: bucket_bytes must be positive, got ", bucket_bytes);
  register_module("module", module_);
  train(module_->is_training());
  for (const Tensor& p : module_->parameters()) {  // a shared parameter once
    bool seen = false;
    for (const Tensor& q : parameters_) seen = seen || q.is_same(p);
    if (!seen) parameters_.push_back(p);
  }
  for (Tensor t : parameters_) group.broadcast(t, 0);
  for (Tensor t : module_->buffers()) group.broadcast(t, 0);

  // Buckets in reverse parameter order: consecutive parameters of one dtype and device, up to bucket_bytes (at
  // least one parameter each); the first up to kFirstBucketBytes only, so that its all-reduce starts while the
  // backward still has most of its layers to go (models below bucket_bytes would otherwise send everything at the end).
  bucket_of_.resize(parameters_.size());
  int64_t bytes = 0;
  for (std::size_t k = parameters_.size(); k-- > 0;) {
    const Tensor& p = parameters_[k];
    const int64_t cap = buckets_.size() == 1 ? std::min(kFirstBucketBytes, bucket_bytes_) : bucket_bytes_;
    const bool joins = !buckets_.empty() && bytes + static_cast<int64_t>(p.nbytes()) <= cap &&
                       p.dtype() == parameters_[buckets_.back().parameters[0]].dtype() &&
                       p.device() == parameters_[buckets_.back().parameters[0]].device();
    if (!joins) {
      buckets_.emplace_back();
      bytes = 0;
    }
    buckets_.back().parameters.push_back(k);
    bytes += static_cast<int64_t>(p.nbytes());
    bucket_of_[k] = buckets_.size() - 1;
  }
  // Which parameters each submodule holds itself; their gradients are final once its last backward has run.
  for (Module* m : module_->modules()) {
    std::vector<std::size_t> own;
    for (const Tensor& p : m->parameters(false))
      for (std::size_t k = 0; k < parameters_.size(); ++k)
        if (parameters_[k].is_same(p)) own.push_back(k);
    if (own.empty()) continue;
    owned_[m] = std::move(own);
    m->set_call_hook([this](Module& called, Pass pass) { on_call(called, pass); });
  }
  done_.assign(parameters_.size(), true);
}

DistributedDataParallel::~DistributedDataParallel() {
  for (auto& entry : owned_) entry.first->set_call_hook({});
}

// One broadcast per dtype and device, of the buffers laid end to end (PyTorch's _sync_buffers coalesces too): one
// per buffer cost a collective each (and the ranks' agreement exchange before it), six per step for the mlp-bn's two
// BatchNorm layers.
void DistributedDataParallel::broadcast_buffers() {
  const std::vector<Tensor> buffers = module_->buffers();
  std::vector<bool> sent(buffers.size(), false);
  for (std::size_t i = 0; i < buffers.size(); ++i) {
    if (sent[i]) continue;
    std::vector<std::size_t> members;
    std::vector<Tensor> flat;
    for (std::size_t j = i; j < buffers.size(); ++j) {
      if (sent[j] || buffers[j].dtype() != buffers[i].dtype() || buffers[j].device() != buffers[i].device()) continue;
      sent[j] = true;
      members.push_back(j);
      flat.push_back(buffers[j].contiguous().reshape({buffers[j].numel()}));
    }
    Tensor all = ops::cat(flat, 0);
    group_->broadcast(all, 0);
    int64_t offset = 0;
    for (std::size_t j : members) {
      Tensor b = buffers[j];
      b.copy_(ops::narrow(all, 0, offset, b.numel()).reshape(b.sizes()).to(b.memory_format()));
      offset += b.numel();
    }
  }
}

Tensor DistributedDataParallel::forward_impl(const Tensor& input, Context& ctx) {
  if (is_training()) broadcast_buffers();
  calls_in_flight_.clear();
  active_ = is_grad_enabled();  // a backward will follow (Module::forward keeps no context otherwise)
  done_.assign(parameters_.size(), false);
  for (Bucket& b : buckets_) b.waiting = b.parameters.size();
  next_bucket_ = 0;
  ctx.children.resize(1);
  ctx.children[0].input_grad = ctx.input_grad;
  return module_->forward(input, ctx.children[0]);
}

void DistributedDataParallel::on_call(Module& module, Pass pass) {
  if (!active_) return;  // the module used outside this wrapper's forward and backward
  int64_t& calls = calls_in_flight_[&module];
  if (pass == Pass::Forward) {
    ++calls;
    return;
  }
  if (--calls > 0) return;
  for (std::size_t k : owned_[&module]) parameter_done(k);
  send_ready_buckets();
}

void DistributedDataParallel::parameter_done(std::size_t index) {
  if (done_[index]) return;
  done_[index] = true;
  --buckets_[bucket_of_[index]].waiting;
}

// Buckets leave strictly in order, so that every rank issues the same collectives in the same order.
void DistributedDataParallel::send_ready_buckets() {
  while (next_bucket_ < buckets_.size() && buckets_[next_bucket_].waiting == 0) send(buckets_[next_bucket_++]);
}

void DistributedDataParallel::send(Bucket& bucket) {
  // Zeros for the gradients the backward did not make, on the stream of the work that will use them next (a
  // gradient allocated on the communication stream would be freed there, unordered with that work's reads).
  for (std::size_t k : bucket.parameters) {
    Tensor& p = parameters_[k];
    if (!p.grad().defined()) ops::accumulate_grad(p, zeros(p.sizes(), TensorOptions(p.device()).dtype(p.dtype())));
  }
#if NORMRT_WITH_CUDA
  const Device device = parameters_[bucket.parameters[0]].device();
  // While a CUDA graph captures, the averages stay on the captured stream.
  if (device.is_cuda() && !ops::util::capturing(device)) {
    // The bucket's gradients are final once the work queued so far has run; the communication stream waits for
    // that, and everything the average does (flatten, all_reduce, write back) is queued there.
    const cuda::DeviceGuard on_device(device.index());
    cuda::Stream& stream = communication_->of(device.index());
    cuda::stream_wait(stream.get(), cuda::current_stream(device.index()));
    const cuda::StreamGuard on_stream(stream);
    return reduce(bucket);
  }
#endif
  reduce(bucket);
}

// The current stream of each device waits for the averages queued on its communication stream.
void DistributedDataParallel::join_communication() {
#if NORMRT_WITH_CUDA
  for (const auto& [device, stream] : communication_->streams) {
    const cuda::DeviceGuard on_device(device);
    cuda::stream_wait(cuda::current_stream(device), stream->get());
  }
#endif
}

void DistributedDataParallel::reduce(Bucket& bucket) {
  std::vector<Tensor> flat;
  for (std::size_t k : bucket.parameters) {
    const Tensor& p = parameters_[k];
    flat.push_back(p.grad().contiguous().reshape({p.numel()}));
  }
  Tensor sum = ops::cat(flat, 0);
  group_->all_reduce(sum);
  const Tensor average = sum * (1.0 / group_->size());
  int64_t offset = 0;
  for (std::size_t k : bucket.parameters) {
    Tensor& grad = parameters_[k].mutable_grad();
    const int64_t n = grad.numel();
    grad.copy_(ops::narrow(average, 0, offset, n).reshape(grad.sizes()).to(grad.memory_format()));
    offset += n;
  }
}

Tensor DistributedDataParallel::backward_impl(const Tensor& grad_output, Context& ctx) {
  ctx.children[0].input_grad = ctx.input_grad;
  Tensor grad_input = module_->backward(grad_output, ctx.children[0]);
  // Parameters the backward did not reach (unused this step) go as zeros, with whatever is left.
  for (std::size_t k = 0; k < parameters_.size(); ++k) parameter_done(k);
  send_ready_buckets();
  join_communication();
  active_ = false;
  return grad_input;
}

}  // namespace normrt::nn
