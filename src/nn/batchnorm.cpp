#include "normrt/nn/batchnorm.h"

#include <cmath>

#include "normrt/dist.h"
#include "normrt/error.h"
#include "normrt/grad_mode.h"
#include "normrt/ops/elementwise.h"

namespace normrt::nn {

NormBase::NormBase(const std::string& name, int64_t num_features, double eps, bool affine, bool track_running_stats)
    : num_features_(num_features) {
  NORMRT_CHECK(num_features > 0, name, ": num_features must be positive, got ", num_features);
  NORMRT_CHECK(std::isfinite(eps) && eps >= 0, name, ": eps must be a non-negative finite number, got ", eps);
  if (affine) {
    weight = ones({num_features});
    bias = zeros({num_features});
    register_parameter("weight", &weight);
    register_parameter("bias", &bias);
  }
  if (track_running_stats) {
    running_mean = zeros({num_features});
    running_var = ones({num_features});
    num_batches_tracked = zeros({}, TensorOptions().dtype(DType::Int64));
    register_buffer("running_mean", &running_mean);
    register_buffer("running_var", &running_var);
    register_buffer("num_batches_tracked", &num_batches_tracked);
  }
}

NamedTensors NormBase::state_defaults() const {
  if (!running_mean.defined()) return {};
  return {{"num_batches_tracked", zeros({}, TensorOptions().dtype(DType::Int64))}};
}

void NormBase::reset_running_stats() {
  if (!running_mean.defined()) return;
  const Device device = running_mean.device();
  running_mean.copy_(zeros({num_features_}, device));
  running_var.copy_(ones({num_features_}, device));
  num_batches_tracked.copy_(zeros({}, TensorOptions(device).dtype(DType::Int64)));
}

void NormBase::reset_parameters() {
  reset_running_stats();
  if (!weight.defined()) return;
  weight.copy_(ones({num_features_}, weight.device()));
  bias.copy_(zeros({num_features_}, bias.device()));
}

BatchNormBase::BatchNormBase(const BatchNormOptions& options, std::string name)
    : NormBase(name, options.num_features(), options.eps(), options.affine(), options.track_running_stats()),
      options_(options),
      name_(std::move(name)) {}

std::string BatchNormBase::extra_repr() const {
  return std::to_string(options_.num_features()) + ", eps=" + python_float_repr(options_.eps()) + ", momentum=" +
         (options_.momentum() ? python_float_repr(*options_.momentum()) : "None") +
         ", affine=" + (options_.affine() ? "True" : "False") +
         ", track_running_stats=" + (options_.track_running_stats() ? "True" : "False") +
         (options_.relu() ? ", relu=True" : "");
}

Tensor BatchNormBase::forward_impl(const Tensor& input, Context& ctx) {
  return run_forward(input, Tensor(), options_.relu(), ctx);
}

Tensor BatchNormBase::backward_impl(const Tensor& grad_output, Context& ctx) {
  NORMRT_CHECK(ctx.values[1] == 0, name_, ": the context is forward_add()'s; differentiate it with backward_add()");
  return run_backward(grad_output, ctx).grad_input;
}

Tensor BatchNormBase::forward_add(const Tensor& input, const Tensor& residual, Context& ctx, bool relu) {
  NORMRT_CHECK(residual.defined(), name_, ": forward_add needs a residual");
  ctx = Context{};
  Tensor output = run_forward(input, residual, relu, ctx);
  if (is_grad_enabled()) {
    ctx.saved = true;
  } else {
    ctx = Context{};
  }
  return output;
}

BatchNormBase::AddGradients BatchNormBase::backward_add(const Tensor& grad_output, Context& ctx) {
  NORMRT_CHECK(ctx.saved && ctx.values.size() == 5 && ctx.values[1] != 0, name_,
               ": backward_add() needs a preceding forward_add() (each forward is differentiated once, and none is "
               "kept under NoGradGuard)");
  ops::BatchNormBackwardResult grads = run_backward(grad_output, ctx);
  ctx = Context{};
  return {grads.grad_input, grads.grad_residual};
}

Tensor BatchNormBase::run_forward(const Tensor& input, const Tensor& residual, bool relu, Context& ctx) {
  NORMRT_CHECK(input.defined(), name_, ": input is undefined");
  check_input_dim(input);
  // As torch.nn.BatchNorm: batch statistics in training, and also in eval when no running stats are tracked.
  const bool use_batch_stats = is_training() || !running_mean.defined();
  const ops::BatchNormEpilogue epilogue{residual, relu};
  ops::BatchNormForwardResult result;
  if (use_batch_stats) {
    const bool update = is_training() && running_mean.defined();
    result = batch_statistics_forward(input, update ? running_mean : Tensor(), update ? running_var : Tensor(),
                                      update ? num_batches_tracked : Tensor(), epilogue);
  } else {
    result = ops::batch_norm_forward_inference(input, weight, bias, running_mean, running_var, options_.eps(),
                                               options_.backend(), epilogue);
  }
  ctx.tensors = {input, weight, result.save_mean, result.save_invstd};
  if (relu) ctx.tensors.emplace_back(result.output);
  // cuDNN's fused backward takes the forward's reserve space and bias.
  const bool cudnn_fused = result.cudnn_reserve.defined();
  if (cudnn_fused) {
    ctx.tensors.emplace_back(result.cudnn_reserve);
    ctx.tensors.emplace_back(bias);
  }
  // The low part of the batch mean (CPU and custom kernels), for the backward's compensated centering: last.
  const bool mean_low = result.save_mean_low.defined();
  if (mean_low) ctx.tensors.emplace_back(result.save_mean_low);
  ctx.values = {use_batch_stats ? 1 : 0, residual.defined() ? 1 : 0, relu ? 1 : 0, cudnn_fused ? 1 : 0,
                mean_low ? 1 : 0};
  return result.output;
}

ops::BatchNormBackwardResult BatchNormBase::run_backward(const Tensor& grad_output, Context& ctx) {
  const Tensor& saved_weight = weight.defined() ? ctx.tensors[1].get(name_) : weight;
  ops::BatchNormBackwardEpilogue epilogue;
  if (ctx.values[2] != 0) epilogue.relu_output = ctx.tensors[4].get(name_);
  if (ctx.values[3] != 0) {
    epilogue.cudnn_reserve = ctx.tensors[5].get(name_);
    epilogue.bias = ctx.tensors[6].get(name_);
  }
  epilogue.residual = ctx.values[1] != 0;
  if (ctx.values[4] != 0) epilogue.mean_low = ctx.tensors.back().get(name_);
  const Tensor &input = ctx.tensors[0].get(name_), &mean = ctx.tensors[2].get(name_),
               &invstd = ctx.tensors[3].get(name_);
  auto grads = ctx.values[0] != 0
                   ? batch_statistics_backward(grad_output, input, saved_weight, mean, invstd, epilogue)
                   : ops::batch_norm_backward(grad_output, input, saved_weight, mean, invstd, false, options_.eps(),
                                              options_.backend(), epilogue);
  if (weight.defined()) {
    ops::accumulate_grad(weight, grads.grad_weight);
    ops::accumulate_grad(bias, grads.grad_bias);
  }
  return grads;
}

ops::BatchNormForwardResult BatchNormBase::batch_statistics_forward(const Tensor& input, const Tensor& running_mean,
                                                                   const Tensor& running_var,
                                                                   const Tensor& num_batches_tracked,
                                                                   const ops::BatchNormEpilogue& epilogue) {
  return ops::batch_norm_forward_training(input, weight, bias, running_mean, running_var, num_batches_tracked,
                                          options_.momentum(), options_.eps(), options_.backend(), epilogue);
}

ops::BatchNormBackwardResult BatchNormBase::batch_statistics_backward(
    const Tensor& grad_output, const Tensor& input, const Tensor& saved_weight, const Tensor& save_mean,
    const Tensor& save_invstd, const ops::BatchNormBackwardEpilogue& epilogue) {
  return ops::batch_norm_backward(grad_output, input, saved_weight, save_mean, save_invstd, true, options_.eps(),
                                  options_.backend(), epilogue);
}

SyncBatchNorm::SyncBatchNorm(const BatchNormOptions& options, dist::ProcessGroup& group)
    : BatchNormBase(options, "SyncBatchNorm"), group_(&group) {}

void SyncBatchNorm::check_input_dim(const Tensor& input) const {
  NORMRT_CHECK(input.dim() >= 2, "expected at least 2D input (got ", input.dim(), "D input)");
}

ops::BatchNormForwardResult SyncBatchNorm::batch_statistics_forward(const Tensor& input, const Tensor& running_mean,
                                                                   const Tensor& running_var,
                                                                   const Tensor& num_batches_tracked,
                                                                   const ops::BatchNormEpilogue& epilogue) {
  return ops::sync_batch_norm_forward(input, weight, bias, running_mean, running_var, num_batches_tracked,
                                      options().momentum(), options().eps(), *group_, epilogue);
}

ops::BatchNormBackwardResult SyncBatchNorm::batch_statistics_backward(
    const Tensor& grad_output, const Tensor& input, const Tensor& saved_weight, const Tensor& save_mean,
    const Tensor& save_invstd, const ops::BatchNormBackwardEpilogue& epilogue) {
  return ops::sync_batch_norm_backward(grad_output, input, saved_weight, save_mean, save_invstd, *group_, epilogue);
}

std::shared_ptr<Module> convert_sync_batchnorm(std::shared_ptr<Module> module, dist::ProcessGroup& group) {
  NORMRT_CHECK(module != nullptr, "convert_sync_batchnorm: the module is null");
  auto* bn = dynamic_cast<BatchNormBase*>(module.get());
  if (bn != nullptr && dynamic_cast<SyncBatchNorm*>(bn) == nullptr) {
    auto sync = std::make_shared<SyncBatchNorm>(bn->options(), group);
    sync->weight = bn->weight;
    sync->bias = bn->bias;
    sync->running_mean = bn->running_mean;
    sync->running_var = bn->running_var;
    sync->num_batches_tracked = bn->num_batches_tracked;
    sync->train(bn->is_training());
    return sync;
  }
  const auto& children = module->named_children();
  for (std::size_t i = 0; i < children.size(); ++i) {
    std::shared_ptr<Module> converted = convert_sync_batchnorm(children[i].second, group);
    if (converted != children[i].second) module->replace_child(i, std::move(converted));
  }
  return module;
}

void BatchNorm1d::check_input_dim(const Tensor& input) const {
  NORMRT_CHECK(input.dim() == 2 || input.dim() == 3, "expected 2D or 3D input (got ", input.dim(), "D input)");
}

void BatchNorm2d::check_input_dim(const Tensor& input) const {
  NORMRT_CHECK(input.dim() == 4, "expected 4D input (got ", input.dim(), "D input)");
}

void BatchNorm3d::check_input_dim(const Tensor& input) const {
  NORMRT_CHECK(input.dim() == 5, "expected 5D input (got ", input.dim(), "D input)");
}

}  // namespace normrt::nn
