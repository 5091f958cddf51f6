#include "normrt/nn/layers.h"

#include <climits>
#include <cmath>

#include "normrt/amp.h"
#include "normrt/error.h"
#include "normrt/nn/batchnorm.h"
#include "normrt/nn/init.h"
#include "normrt/ops/elementwise.h"
#include "normrt/ops/nn.h"
#include "normrt/ops/tensor_ops.h"
#include "nvtx.h"
#include "op_util.h"
#include "parameter_grads.h"
#include "slice_dropout.h"

namespace normrt::nn {

Linear::Linear(int64_t in_features, int64_t out_features, bool bias, Generator* gen) {
  NORMRT_CHECK(in_features >= 0 && out_features >= 0, "Linear: feature counts must be non-negative, got ",
               in_features, " and ", out_features);
  weight = empty({out_features, in_features});
  register_parameter("weight", &weight);
  if (bias) {
    this->bias = empty({out_features});
    register_parameter("bias", &this->bias);
  }
  reset_parameters(gen ? *gen : default_generator());
}

std::string Linear::extra_repr() const {
  return "in_features=" + std::to_string(weight.size(1)) + ", out_features=" + std::to_string(weight.size(0)) +
         ", bias=" + (bias.defined() ? "True" : "False");
}

void Linear::reset_parameters(Generator& gen) {
  init::kaiming_uniform_(weight, std::sqrt(5.0), init::FanMode::FanIn, "leaky_relu", &gen);
  if (bias.defined()) {
    const int64_t fan_in = weight.size(1);
    const double bound = fan_in > 0 ? 1.0 / std::sqrt(static_cast<double>(fan_in)) : 0.0;
    init::uniform_(bias, -bound, bound, &gen);
  }
}

Tensor Linear::forward_impl(const Tensor& input, Context& ctx) {
  const Tensor x = amp::autocast_to_lower(input), w = amp::autocast_to_lower(weight);
  Tensor out = ops::linear(x, w, amp::autocast_to_lower(bias));
  ctx.tensors = {x, w};
  return out;
}

Tensor Linear::backward_impl(const Tensor& grad_output, Context& ctx) {
  const Tensor& w = ctx.tensors[1].get(name());
  normrt::detail::ParameterGrads grads(weight, bias, w.dtype());
  Tensor dx = ops::linear_backward(grad_output, ctx.tensors[0].get(name()), w, grads.weight(), grads.bias(),
                                   ctx.input_grad);
  grads.accumulate();
  return dx;
}

std::string ActivationModule::name() const {
  switch (kind_) {
    case ops::Activation::ReLU: return "ReLU";
    case ops::Activation::Sigmoid: return "Sigmoid";
    case ops::Activation::Tanh: return "Tanh";
  }
  return "Activation";
}

Tensor ActivationModule::forward_impl(const Tensor& input, Context& ctx) {
  Tensor output = ops::activation(kind_, input);
  ctx.tensors = {output};
  return output;
}

Tensor ActivationModule::backward_impl(const Tensor& grad_output, Context& ctx) {
  return ops::activation_backward(kind_, grad_output, ctx.tensors[0].get(name()));
}

Tensor Softmax::forward_impl(const Tensor& input, Context& ctx) {
  Tensor output = ops::softmax(amp::autocast_to_float32(input), dim_, log_);  // a float32 op under autocast
  ctx.tensors = {output};
  return output;
}

Tensor Softmax::backward_impl(const Tensor& grad_output, Context& ctx) {
  return ops::softmax_backward(grad_output, ctx.tensors[0].get(name()), dim_, log_);
}

Tensor Flatten::forward_impl(const Tensor& input, Context& ctx) {
  NORMRT_CHECK(input.dim() >= 1, "Flatten: expected at least 1 dimension, got a 0-dim tensor");
  ctx.values = input.sizes();
  int64_t features = 1;
  for (int64_t d = 1; d < input.dim(); ++d) features *= input.size(d);
  return input.reshape({input.size(0), features});
}

Tensor Flatten::backward_impl(const Tensor& grad_output, Context& ctx) { return grad_output.reshape(ctx.values); }

Unflatten::Unflatten(int64_t dim, Shape sizes, MemoryFormat format)
    : dim_(dim), sizes_(std::move(sizes)), format_(format) {
  NORMRT_CHECK(!sizes_.empty(), "Unflatten: unflattened_size must be non-empty");
  int inferred = 0;
  for (int64_t s : sizes_) {
    NORMRT_CHECK(s >= 0 || s == -1, "Unflatten: unflattened_size ", shape_str(sizes_), " has a negative size");
    inferred += s == -1;
  }
  NORMRT_CHECK(inferred <= 1, "Unflatten: only one dimension can be inferred (-1), got ", shape_str(sizes_));
}

std::string Unflatten::extra_repr() const {
  std::string s = "dim=" + std::to_string(dim_) + ", unflattened_size=(";
  for (std::size_t i = 0; i < sizes_.size(); ++i) s += (i ? ", " : "") + std::to_string(sizes_[i]);
  s += sizes_.size() == 1 ? ",)" : ")";
  if (format_ != MemoryFormat::Contiguous) s += std::string(", memory_format=torch.") + memory_format_name(format_);
  return s;
}

Tensor Unflatten::forward_impl(const Tensor& input, Context& ctx) {
  const int64_t dim = dim_ < 0 ? dim_ + input.dim() : dim_;
  NORMRT_CHECK(dim >= 0 && dim < input.dim(), "Unflatten: dimension ", dim_, " is out of range for an input of shape ",
               shape_str(input.sizes()));
  Shape shape(input.sizes().begin(), input.sizes().begin() + dim);
  int64_t known = 1;
  for (int64_t s : sizes_) known *= s == -1 ? 1 : s;
  for (int64_t s : sizes_) shape.push_back(s == -1 && known > 0 ? input.size(dim) / known : s);
  int64_t product = 1;
  for (std::size_t i = static_cast<std::size_t>(dim); i < shape.size(); ++i) product *= shape[i];
  NORMRT_CHECK(product == input.size(dim), "unflatten: Provided sizes ", shape_str(sizes_),
               " don't multiply up to the size of dim ", dim_, " (", input.size(dim), ") in the input tensor");
  shape.insert(shape.end(), input.sizes().begin() + dim + 1, input.sizes().end());
  ctx.values = input.sizes();
  return input.reshape(shape).to(format_);
}

Tensor Unflatten::backward_impl(const Tensor& grad_output, Context& ctx) { return grad_output.reshape(ctx.values); }

namespace {

// Checked before the generator is drawn from, so a refused construction leaves the generator as it was.
double checked_dropout_probability(double p) {
  NORMRT_CHECK(p >= 0.0 && p <= 1.0, "dropout probability has to be between 0 and 1, but got ", p);
  return p;
}

}  // namespace

Dropout::Dropout(double p, Generator* gen)
    : p_(checked_dropout_probability(p)), generator_((gen ? *gen : default_generator()).next_seed()) {}

Tensor Dropout::forward_impl(const Tensor& input, Context& ctx) {
  if (!is_training() || p_ == 0.0) return input;
  const uint64_t offset = generator_.offset();
  const auto blocks = static_cast<uint64_t>((input.numel() + 3) / 4);
  ctx.values = {static_cast<int64_t>(offset)};
  generator_.skip(blocks);
  if (input.device().is_cpu()) {  // the mask kept for the backward: cheaper than regenerating it
    ops::DropoutResult r = ops::dropout_with_mask(input, p_, generator_.seed(), offset);
    ctx.tensors = {r.mask};
    return r.output;
  }
  if (!device_offset_.defined() || device_offset_.device() != input.device())
    return ops::dropout(input, p_, generator_.seed(), offset);
#if NORMRT_WITH_CUDA
  if (ops::util::capturing(input.device())) captured_blocks_ = blocks;
#endif
  const Tensor at = device_offset_.clone();
  ctx.tensors = {at};
#if NORMRT_WITH_CUDA
  ops::util::advance_device_counter(device_offset_, static_cast<int64_t>(blocks));
#endif
  return ops::dropout(input, p_, generator_.seed(), offset, at);
}

Tensor Dropout::backward_impl(const Tensor& grad_output, Context& ctx) {
  if (ctx.values.empty()) return grad_output;
  if (grad_output.device().is_cpu() && !ctx.tensors.empty())
    return ops::dropout_backward(grad_output, ctx.tensors[0].get(name()));
  const Tensor at = ctx.tensors.empty() ? Tensor() : ctx.tensors[0].get(name());
  return ops::dropout(grad_output, p_, generator_.seed(), static_cast<uint64_t>(ctx.values[0]), at);
}

void Dropout::track_offset_on(const Device& device) {
  if (!device.is_cuda()) {
    device_offset_ = Tensor();
    return;
  }
  NORMRT_CHECK(generator_.offset() <= static_cast<uint64_t>(INT64_MAX), "Dropout: generator offset out of range");
  device_offset_ = from_vector(std::vector<int64_t>{static_cast<int64_t>(generator_.offset())}, {}, device);
}

void Dropout::replayed(int64_t replays) {
  NORMRT_CHECK(replays >= 0, "Dropout::replayed: negative count ", replays);
  generator_.skip(captured_blocks_ * static_cast<uint64_t>(replays));
}

FeatureDropout::FeatureDropout(std::string name, int spatial_dims, bool unbatched_allowed, double p, Generator* gen)
    : name_(std::move(name)),
      spatial_dims_(spatial_dims),
      unbatched_allowed_(unbatched_allowed),
      p_(checked_dropout_probability(p)),
      generator_((gen ? *gen : default_generator()).next_seed()) {}

Tensor FeatureDropout::forward_impl(const Tensor& input, Context& ctx) {
  const int64_t batched = spatial_dims_ + 2;
  // Dropout2d takes (N, C, L) too, as PyTorch 1.13's (a 3-d input read as batched).
  const bool three_d_batched = spatial_dims_ == 2 && input.dim() == 3;
  const bool unbatched = unbatched_allowed_ && input.dim() == batched - 1;
  NORMRT_CHECK(input.dim() == batched || unbatched || three_d_batched, name_, ": expected ",
               unbatched_allowed_ || spatial_dims_ == 2 ? std::to_string(batched - 1) + "D or " : std::string(),
               batched, "D input (got ", input.dim(), "D input)");
  if (!is_training() || p_ == 0.0) return input;
  // One mask value per (sample, channel), broadcast over the rest.
  Shape mask_shape(static_cast<std::size_t>(input.dim()), 1);
  if (unbatched) {
    mask_shape[0] = input.size(0);
  } else {
    mask_shape[0] = input.size(0);
    mask_shape[1] = input.size(1);
  }
  const Tensor mask = detail::draw_slice_mask(generator_, mask_shape, p_, input);
  ctx.tensors = {mask};
  return ops::mul(input, mask);
}

Tensor FeatureDropout::backward_impl(const Tensor& grad_output, Context& ctx) {
  if (ctx.tensors.empty()) return grad_output;
  return ops::mul(grad_output, ctx.tensors[0].get(name_));
}

Sequential::Sequential(std::initializer_list<std::shared_ptr<Module>> modules) {
  for (const auto& m : modules) push_back(m);
}

Module& Sequential::operator[](std::size_t i) { return *ptr(i); }

std::shared_ptr<Module> Sequential::ptr(std::size_t i) const {
  NORMRT_CHECK(i < modules_.size(), "Sequential: index ", i, " is out of range (", modules_.size(), " modules)");
  return modules_[i];
}

void Sequential::throw_wrong_type(std::size_t i, const Module& m) const {
  NORMRT_THROW("Sequential: module ", i, " is a ", m.name(), ", not the type asked for");
}

void Sequential::push_back(std::shared_ptr<Module> module) {
  register_module(std::to_string(modules_.size()), module);  // refuses a null module
  const std::string label = std::to_string(modules_.size()) + " " + module->name();
  range_names_.emplace_back(label + " forward", label + " backward");
  modules_.push_back(std::move(module));
}

void Sequential::child_replaced(const Module* old_child, const std::shared_ptr<Module>& replacement) {
  for (std::size_t i = 0; i < modules_.size(); ++i) {
    if (modules_[i].get() != old_child) continue;
    modules_[i] = replacement;
    const std::string label = std::to_string(i) + " " + replacement->name();
    range_names_[i] = {label + " forward", label + " backward"};
  }
}

Tensor Sequential::forward_impl(const Tensor& input, Context& ctx) {
  ctx.children.resize(modules_.size());
  Tensor x = input;
  for (std::size_t i = 0; i < modules_.size(); ++i) {
    const detail::NvtxRange range(range_names_[i].first.c_str());
    x = modules_[i]->forward(x, ctx.children[i]);
  }
  return x;
}

// Without an input gradient wanted, the children before the first one with parameters are not differentiated (their
// contexts are released) and that child computes no input gradient.
Tensor Sequential::backward_impl(const Tensor& grad_output, Context& ctx) {
  std::size_t first = 0;
  if (!ctx.input_grad) {
    while (first < modules_.size() && modules_[first]->parameters().empty()) ctx.children[first++] = Context{};
  }
  Tensor g = grad_output;
  for (std::size_t i = modules_.size(); i-- > first;) {
    const detail::NvtxRange range(range_names_[i].second.c_str());
    ctx.children[i].input_grad = ctx.input_grad || i > first;
    g = modules_[i]->backward(g, ctx.children[i]);
  }
  return ctx.input_grad ? g : Tensor();
}

Residual::Residual(std::shared_ptr<Module> body, std::shared_ptr<Module> shortcut)
    : body_(std::move(body)), shortcut_(std::move(shortcut)) {
  register_module("body", body_);  // refuses a null body
  if (shortcut_) register_module("shortcut", shortcut_);
}

void Residual::child_replaced(const Module* old_child, const std::shared_ptr<Module>& replacement) {
  if (body_.get() == old_child) body_ = replacement;
  if (shortcut_.get() == old_child) shortcut_ = replacement;
}

BatchNormBase* Residual::fused_batch_norm() const {
  auto* body = dynamic_cast<Sequential*>(body_.get());
  if (!relu_ || body == nullptr || body->size() == 0) return nullptr;
  auto* bn = dynamic_cast<BatchNormBase*>(&(*body)[body->size() - 1]);
  // A BatchNorm with its own ReLU applies it before the add: relu(relu(bn(h)) + skip) is not one fused op.
  return bn != nullptr && !bn->options().relu() ? bn : nullptr;
}

namespace {
void check_same_sizes(const Tensor& body, const Tensor& skip) {
  NORMRT_CHECK(body.sizes() == skip.sizes(), "Residual: the body's output ", shape_str(body.sizes()),
               " and the shortcut's ", shape_str(skip.sizes()), " differ; give a shortcut that matches the body");
}
}  // namespace

Tensor Residual::forward_impl(const Tensor& input, Context& ctx) {
  ctx.children.resize(2);
  if (BatchNormBase* bn = fused_batch_norm()) {
    auto& body = static_cast<Sequential&>(*body_);
    std::vector<Context>& steps = ctx.children[0].children;
    steps.resize(body.size());
    Tensor h = input;
    for (std::size_t i = 0; i + 1 < body.size(); ++i) h = body[i].forward(h, steps[i]);
    const Tensor skip = shortcut_ ? shortcut_->forward(input, ctx.children[1]) : input;
    check_same_sizes(h, skip);
    return bn->forward_add(h, skip, steps.back(), true);
  }
  Tensor y = body_->forward(input, ctx.children[0]);
  const Tensor skip = shortcut_ ? shortcut_->forward(input, ctx.children[1]) : input;
  check_same_sizes(y, skip);
  y = ops::add(y, skip);
  if (!relu_) return y;
  y = ops::activation(ops::Activation::ReLU, y);
  ctx.tensors = {y};
  return y;
}

Tensor Residual::backward_impl(const Tensor& grad_output, Context& ctx) {
  Tensor grad_body, grad_skip;
  if (BatchNormBase* bn = fused_batch_norm()) {
    auto& body = static_cast<Sequential&>(*body_);
    std::vector<Context>& steps = ctx.children[0].children;
    const BatchNormBase::AddGradients grads = bn->backward_add(grad_output, steps.back());
    grad_body = grads.input;
    for (std::size_t i = body.size() - 1; i-- > 0;) grad_body = body[i].backward(grad_body, steps[i]);
    grad_skip = grads.residual;
  } else {
    const Tensor grad = relu_ ? ops::activation_backward(ops::Activation::ReLU, grad_output, ctx.tensors[0].get(name()))
                              : grad_output;
    grad_body = body_->backward(grad, ctx.children[0]);
    grad_skip = grad;
  }
  return ops::add(grad_body, shortcut_ ? shortcut_->backward(grad_skip, ctx.children[1]) : grad_skip);
}

Concat::Concat(std::initializer_list<std::shared_ptr<Module>> branches, int64_t dim) : dim_(dim) {
  for (const auto& b : branches) push_back(b);
}

void Concat::push_back(std::shared_ptr<Module> branch) {
  register_module(std::to_string(branches_.size()), branch);  // refuses a null module
  branches_.push_back(std::move(branch));
}

void Concat::child_replaced(const Module* old_child, const std::shared_ptr<Module>& replacement) {
  for (auto& b : branches_)
    if (b.get() == old_child) b = replacement;
}

Tensor Concat::forward_impl(const Tensor& input, Context& ctx) {
  NORMRT_CHECK(!branches_.empty(), "Concat: no branches to run");
  ctx.children.resize(branches_.size());
  std::vector<Tensor> outputs;
  for (std::size_t i = 0; i < branches_.size(); ++i) outputs.push_back(branches_[i]->forward(input, ctx.children[i]));
  Tensor y = ops::cat(outputs, dim_);  // in the branches' memory format where they share one
  const int64_t dim = dim_ < 0 ? dim_ + y.dim() : dim_;
  ctx.values = {dim};
  for (const Tensor& out : outputs) ctx.values.push_back(out.size(dim));
  return y;
}

Tensor Concat::backward_impl(const Tensor& grad_output, Context& ctx) {
  const int64_t dim = ctx.values[0];
  Tensor grad_input;
  int64_t offset = 0;
  for (std::size_t i = 0; i < branches_.size(); ++i) {
    const int64_t extent = ctx.values[i + 1];
    ctx.children[i].input_grad = ctx.input_grad;
    const Tensor g = branches_[i]->backward(ops::narrow(grad_output, dim, offset, extent), ctx.children[i]);
    offset += extent;
    if (ctx.input_grad) grad_input = grad_input.defined() ? ops::add(grad_input, g) : g;
  }
  return grad_input;
}

Tensor Loss::keep(ops::LossResult result) {
  grad_ = result.grad_input;
  return result.loss;
}

Tensor Loss::backward() {
  NORMRT_CHECK(grad_.defined(), name_, ": backward() needs a preceding forward()");
  return std::exchange(grad_, Tensor());
}

}  // namespace normrt::nn
