#include "normrt/nn/norms.h"

#include <algorithm>
#include <cmath>

#include "normrt/amp.h"
#include "normrt/error.h"
#include "normrt/ops/batchnorm.h"
#include "normrt/ops/elementwise.h"
#include "normrt/ops/tensor_ops.h"
#include "norms_cpu.h"

namespace normrt::nn {

namespace {

// Normalises each row of a (rows, elements) view of x by its own mean and biased variance: the BatchNorm
// training pass over (1, rows, elements). ctx receives x's view, the statistics and x-hat. A row of one element
// normalises to 0, as in PyTorch (BatchNorm refuses it).
Tensor normalise_rows(const Tensor& x, int64_t rows, int64_t elements, double eps, Context& ctx) {
  const Tensor view = x.reshape({1, rows, elements});
  Tensor xhat;
  if (elements == 1 || rows * elements == 0) {
    xhat = zeros({1, rows, elements}, x.device());
    ctx.values = {0};
  } else {
    const auto r = ops::batch_norm_forward_training(view, Tensor(), Tensor(), Tensor(), Tensor(), Tensor(), 0.1, eps);
    xhat = r.output;
    ctx.tensors = {view, r.save_mean, r.save_invstd};
    ctx.values = {1};
  }
  return xhat;
}

// d loss / d x for rows normalised by normalise_rows, given d loss / d x-hat (same view shape).
Tensor normalise_rows_backward(const Tensor& grad_xhat, const Context& ctx, double eps, const std::string& module) {
  if (ctx.values[0] == 0) return zeros(grad_xhat.sizes(), grad_xhat.device());  // x-hat was constant
  return ops::batch_norm_backward(grad_xhat, ctx.tensors[0].get(module), Tensor(), ctx.tensors[1].get(module),
                                  ctx.tensors[2].get(module), true, eps)
      .grad_input;
}

void check_float_input(const Tensor& input, const std::string& module) {
  NORMRT_CHECK(input.defined() && input.dtype() == DType::Float32, module, ": expected a float32 input");
}

const float* data_or_null(const Tensor& t) { return t.defined() ? t.data<float>() : nullptr; }

// CPU input takes the fused path (norms_cpu.h): the output in one pass, ctx keeping the input, the rows' statistics
// and the weight (ctx.values = {kFused}). CUDA input runs on the BatchNorm ops (normalise_rows) and the affine ops.
constexpr int64_t kFused = 2;

Tensor fused_forward(const norms_cpu::RowGeometry& g, const Tensor& given, const Tensor& weight, const Tensor& bias,
                     double eps, Context& ctx) {
  NORMRT_CHECK(!weight.defined() || weight.device() == given.device(), "Expected all tensors to be on the same "
               "device, but found at least two devices, ", given.device().str(), " and ", weight.device().str(), "!");
  const Tensor input = given.contiguous();
  Tensor y = empty(input.sizes()), mean = empty({g.rows}), rstd = empty({g.rows});
  if (g.rows * g.length > 0) {
    norms_cpu::forward(g, input.data<float>(), data_or_null(weight), data_or_null(bias), eps, y.data<float>(),
                       mean.data<float>(), rstd.data<float>());
  }
  ctx.tensors = {input, mean, rstd};
  if (weight.defined()) ctx.tensors.emplace_back(weight);
  ctx.values = {kFused};
  return y;
}

Tensor fused_backward(const norms_cpu::RowGeometry& g, const Tensor& grad_output, const Context& ctx, Tensor& weight,
                      Tensor& bias, const std::string& module) {
  const Tensor& input = ctx.tensors[0].get(module);
  const Tensor dy = grad_output.reshape(input.sizes()).contiguous();
  Tensor dx = empty(input.sizes());
  Tensor grad_weight = weight.defined() ? zeros(weight.sizes()) : Tensor();
  Tensor grad_bias = weight.defined() ? zeros(weight.sizes()) : Tensor();
  if (g.rows * g.length > 0) {
    norms_cpu::backward(g, dy.data<float>(), input.data<float>(), ctx.tensors[1].get(module).data<float>(),
                        ctx.tensors[2].get(module).data<float>(),
                        weight.defined() ? ctx.tensors[3].get(module).data<float>() : nullptr, dx.data<float>(),
                        weight.defined() ? grad_weight.data<float>() : nullptr,
                        weight.defined() ? grad_bias.data<float>() : nullptr);
  }
  if (weight.defined()) {
    ops::accumulate_grad(weight, grad_weight);
    ops::accumulate_grad(bias, grad_bias);
  }
  return dx.reshape(grad_output.sizes());
}

}  // namespace

LayerNorm::LayerNorm(Shape normalized_shape, double eps, bool elementwise_affine)
    : normalized_shape_(std::move(normalized_shape)), eps_(eps) {
  NORMRT_CHECK(!normalized_shape_.empty(), "LayerNorm: normalized_shape must have at least one dimension");
  NORMRT_CHECK(std::isfinite(eps) && eps >= 0, "LayerNorm: eps must be a non-negative number, got ", eps);
  if (elementwise_affine) {
    weight = ones(normalized_shape_);
    bias = zeros(normalized_shape_);
    register_parameter("weight", &weight);
    register_parameter("bias", &bias);
  }
}

std::string LayerNorm::extra_repr() const {
  std::string shape = "(";
  for (std::size_t i = 0; i < normalized_shape_.size(); ++i)
    shape += (i ? ", " : "") + std::to_string(normalized_shape_[i]);
  if (normalized_shape_.size() == 1) shape += ",";
  return shape + "), eps=" + python_float_repr(eps_) + ", elementwise_affine=" + (weight.defined() ? "True" : "False");
}

Tensor LayerNorm::forward_impl(const Tensor& given, Context& ctx) {
  const Tensor input = amp::autocast_to_float32(given);  // a float32 op under autocast, as PyTorch's
  check_float_input(input, name());
  const auto k = static_cast<int64_t>(normalized_shape_.size());
  const Shape trailing(input.sizes().end() - std::min<int64_t>(k, input.dim()), input.sizes().end());
  NORMRT_CHECK(input.dim() >= k && trailing == normalized_shape_, "Given normalized_shape=",
               shape_str(normalized_shape_), ", expected input with shape [*, ",
               shape_str(normalized_shape_).substr(1), ", but got input of size", shape_str(input.sizes()));
  const int64_t elements = shape_numel(normalized_shape_);
  const int64_t rows = elements == 0 ? 0 : input.numel() / elements;
  if (input.device().is_cpu()) return fused_forward({rows, elements, 1, 1}, input, weight, bias, eps_, ctx);
  ctx.children.resize(1);
  const Tensor xhat = normalise_rows(input, rows, elements, eps_, ctx.children[0]).reshape(input.sizes());
  ctx.values = {1};
  ctx.tensors = {xhat};
  if (!weight.defined()) return xhat;
  ctx.tensors.push_back(weight);
  return ops::add(ops::mul(xhat, weight), bias);
}

Tensor LayerNorm::backward_impl(const Tensor& grad_output, Context& ctx) {
  const Tensor& xhat = ctx.tensors[0].get(name());  // the input, on the fused path
  const int64_t elements = shape_numel(normalized_shape_);
  const int64_t rows = elements == 0 ? 0 : xhat.numel() / elements;
  if (ctx.values[0] == kFused) return fused_backward({rows, elements, 1, 1}, grad_output, ctx, weight, bias, name());
  Tensor grad_xhat = grad_output;
  if (weight.defined()) {
    const Tensor dy = grad_output.reshape({rows, elements});
    ops::accumulate_grad(weight, ops::sum(ops::mul(dy, xhat.reshape({rows, elements})), 0).reshape(normalized_shape_));
    ops::accumulate_grad(bias, ops::sum(dy, 0).reshape(normalized_shape_));
    grad_xhat = ops::mul(grad_output, ctx.tensors[1].get(name()));
  }
  return normalise_rows_backward(grad_xhat.reshape({1, rows, elements}), ctx.children[0], eps_, name())
      .reshape(xhat.sizes());
}

GroupNorm::GroupNorm(int64_t num_groups, int64_t num_channels, double eps, bool affine)
    : groups_(num_groups), channels_(num_channels), eps_(eps) {
  NORMRT_CHECK(num_groups > 0 && num_channels > 0 && num_channels % num_groups == 0,
               "num_channels must be divisible by num_groups");
  NORMRT_CHECK(std::isfinite(eps) && eps >= 0, "GroupNorm: eps must be a non-negative number, got ", eps);
  if (affine) {
    weight = ones({num_channels});
    bias = zeros({num_channels});
    register_parameter("weight", &weight);
    register_parameter("bias", &bias);
  }
}

std::string GroupNorm::extra_repr() const {
  return std::to_string(groups_) + ", " + std::to_string(channels_) + ", eps=" + python_float_repr(eps_) +
         ", affine=" + (weight.defined() ? "True" : "False");
}

Tensor GroupNorm::forward_impl(const Tensor& given, Context& ctx) {
  const Tensor input = amp::autocast_to_float32(given);  // a float32 op under autocast, as PyTorch's
  check_float_input(input, name());
  NORMRT_CHECK(input.dim() >= 2, "Expected at least 2 dimensions for input tensor but received ", input.dim());
  NORMRT_CHECK(input.size(1) == channels_, "Expected number of channels in input to be divisible by num_groups, "
               "but got input of shape ", shape_str(input.sizes()), " and num_groups=", groups_, " for a GroupNorm(",
               groups_, ", ", channels_, ")");
  const int64_t n = input.size(0), spatial = input.numel() / std::max<int64_t>(n * channels_, 1);
  // F.group_norm's batch-size check, in eval mode too: it refuses when N * C / G * spatial is 1 (one value per group).
  if (n * (channels_ / groups_) * spatial == 1) {
    Shape as_checked = {n * channels_ / groups_, groups_};
    as_checked.insert(as_checked.end(), input.sizes().begin() + 2, input.sizes().end());
    NORMRT_THROW("Expected more than 1 value per channel when training, got input size ", shape_str(as_checked));
  }
  if (input.device().is_cpu()) return fused_forward(geometry(n, spatial), input, weight, bias, eps_, ctx);
  ctx.children.resize(1);
  const Tensor xhat = normalise_rows(input, n * groups_, channels_ / groups_ * spatial, eps_, ctx.children[0])
                          .reshape({n, channels_, spatial});
  ctx.values = {1};
  ctx.tensors = {xhat};
  if (!weight.defined()) return xhat.reshape(input.sizes());
  ctx.tensors.push_back(weight);
  return ops::add(ops::mul(xhat, weight.reshape({channels_, 1})), bias.reshape({channels_, 1})).reshape(input.sizes());
}

norms_cpu::RowGeometry GroupNorm::geometry(int64_t samples, int64_t spatial) const {
  return {samples * groups_, channels_ / groups_ * spatial, spatial, groups_};
}

Tensor GroupNorm::backward_impl(const Tensor& grad_output, Context& ctx) {
  if (ctx.values[0] == kFused) {
    const Tensor& input = ctx.tensors[0].get(name());
    const int64_t n = input.size(0), spatial = input.numel() / std::max<int64_t>(n * channels_, 1);
    return fused_backward(geometry(n, spatial), grad_output, ctx, weight, bias, name());
  }
  const Tensor& xhat = ctx.tensors[0].get(name());  // (N, C, S)
  const int64_t n = xhat.size(0), spatial = xhat.size(2);
  Tensor dy = grad_output.reshape(xhat.sizes());
  if (weight.defined()) {
    ops::accumulate_grad(weight, ops::sum(ops::sum(ops::mul(dy, xhat), 2), 0));
    ops::accumulate_grad(bias, ops::sum(ops::sum(dy, 2), 0));
    dy = ops::mul(dy, ctx.tensors[1].get(name()).reshape({channels_, 1}));
  }
  const int64_t elements = channels_ / groups_ * spatial;
  return normalise_rows_backward(dy.reshape({1, n * groups_, elements}), ctx.children[0], eps_, name())
      .reshape(grad_output.sizes());
}

}  // namespace normrt::nn
