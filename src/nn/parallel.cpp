#include "normrt/nn/parallel.h"

#include "normrt/error.h"
#include "normrt/ops/elementwise.h"
#include "normrt/ops/tensor_ops.h"

namespace normrt::nn {

DistributedDataParallel::DistributedDataParallel(std::shared_ptr<Module> module, dist::ProcessGroup& group,
                                                 int64_t bucket_bytes)
    : module_(std::move(module)), group_(&group), bucket_bytes_(bucket_bytes) {
  NORMRT_CHECK(module_ != nullptr, "DistributedDataParallel: the module is null");
  NORMRT_CHECK(bucket_bytes > 0, "DistributedDataParallel: bucket_bytes must be positive, got ", bucket_bytes);
  register_module("module", module_);
  train(module_->is_training());
  for (Tensor t : module_->parameters()) group.broadcast(t, 0);
  for (Tensor t : module_->buffers()) group.broadcast(t, 0);
}

Tensor DistributedDataParallel::forward_impl(const Tensor& input, Context& ctx) {
  if (is_training())
    for (Tensor t : module_->buffers()) group_->broadcast(t, 0);
  ctx.children.resize(1);
  ctx.children[0].input_grad = ctx.input_grad;
  return module_->forward(input, ctx.children[0]);
}

Tensor DistributedDataParallel::backward_impl(const Tensor& grad_output, Context& ctx) {
  ctx.children[0].input_grad = ctx.input_grad;
  Tensor grad_input = module_->backward(grad_output, ctx.children[0]);
  average_gradients();
  return grad_input;
}

void DistributedDataParallel::average_gradients() {
  std::vector<Tensor> params = module_->parameters();
  for (Tensor& p : params)
    if (!p.grad().defined()) ops::accumulate_grad(p, zeros(p.sizes(), TensorOptions(p.device()).dtype(p.dtype())));
  last_buckets_ = 0;
  const double inverse_size = 1.0 / group_->size();
  std::size_t first = 0;
  while (first < params.size()) {
    // A bucket: consecutive parameters of one dtype and device, up to bucket_bytes (at least one parameter).
    std::size_t end = first;
    int64_t bytes = 0;
    auto joins = [&](const Tensor& p) {
      return bytes + static_cast<int64_t>(p.nbytes()) <= bucket_bytes_ && p.dtype() == params[first].dtype() &&
             p.device() == params[first].device();
    };
    while (end < params.size() && (end == first || joins(params[end]))) {
      bytes += static_cast<int64_t>(params[end].nbytes());
      ++end;
    }
    std::vector<Tensor> flat;
    for (std::size_t i = first; i < end; ++i)
      flat.push_back(params[i].grad().contiguous().reshape({params[i].numel()}));
    Tensor bucket = ops::cat(flat, 0);
    group_->all_reduce(bucket);
    bucket = bucket * inverse_size;
    int64_t offset = 0;
    for (std::size_t i = first; i < end; ++i) {
      Tensor& grad = params[i].mutable_grad();
      const int64_t n = grad.numel();
      grad.copy_(ops::narrow(bucket, 0, offset, n).reshape(grad.sizes()).to(grad.memory_format()));
      offset += n;
    }
    ++last_buckets_;
    first = end;
  }
}

}  // namespace normrt::nn
