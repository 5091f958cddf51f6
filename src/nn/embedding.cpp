#include "normrt/nn/embedding.h"

#include <optional>

#include "normrt/error.h"
#include "normrt/nn/init.h"
#include "normrt/ops/elementwise.h"
#include "normrt/ops/embedding.h"
#include "normrt/ops/tensor_ops.h"

namespace normrt::nn {

namespace {

// Embedding's and EmbeddingBag's construction checks in PyTorch's words (`padding_words` its assertion's, which the two
// spell differently); returns padding_idx counted from the start.
std::optional<int64_t> checked_table(const char* module, int64_t rows, int64_t columns,
                                     std::optional<int64_t> padding_idx, const char* padding_words, bool sparse) {
  NORMRT_CHECK(rows >= 0 && columns >= 0, "Trying to create tensor with negative dimension ", rows < 0 ? rows : columns,
               ": [", rows, ", ", columns, "]");
  if (padding_idx) {
    NORMRT_CHECK(*padding_idx < rows && *padding_idx >= -rows, padding_words);
    if (*padding_idx < 0) *padding_idx += rows;
  }
  NORMRT_CHECK(!sparse, module,
               ": sparse=true asks for sparse gradients, and normrt has no sparse tensors (use sparse=false: dense "
               "gradients)");
  return padding_idx;
}

// The table a module holds: `given` (checked against the sizes) or a fresh one.
Tensor table_weight(const Tensor& given, int64_t rows, int64_t columns) {
  if (!given.defined()) return empty({rows, columns});
  NORMRT_CHECK(given.sizes() == Shape({rows, columns}),
               "Shape of weight does not match num_embeddings and embedding_dim");
  return given;
}

// PyTorch's initialisation: N(0, 1), the padding row then zeroed.
void reset_table(Tensor& weight, std::optional<int64_t> padding_idx, Generator& gen) {
  init::normal_(weight, 0.0, 1.0, &gen);
  if (!padding_idx) return;
  const Tensor zeros = normrt::zeros({1, weight.size(1)}, TensorOptions(weight.device()).dtype(weight.dtype()));
  weight.copy_(ops::cat(
      {ops::narrow(weight, 0, 0, *padding_idx), zeros, ops::slice(weight, 0, *padding_idx + 1, weight.size(0))}));
}

}  // namespace

Embedding::Embedding(const EmbeddingOptions& options, Generator* gen) : options_(options) {
  const int64_t rows = options.num_embeddings(), columns = options.embedding_dim();
  options_.padding_idx(checked_table("Embedding", rows, columns, options.padding_idx(),
                                     "Padding_idx must be within num_embeddings", options.sparse()));
  weight = table_weight(options._weight(), rows, columns);
  options_._weight(Tensor());  // the module holds it as `weight`
  register_parameter("weight", &weight);
  if (!options._weight().defined()) reset_parameters(gen ? *gen : default_generator());
}

Embedding Embedding::from_pretrained(const Tensor& embeddings, const EmbeddingFromPretrainedOptions& options) {
  NORMRT_CHECK(embeddings.defined() && embeddings.dim() == 2, "Embeddings parameter is expected to be 2-dimensional");
  Embedding module(EmbeddingOptions(embeddings.size(0), embeddings.size(1))
                       ._weight(embeddings)
                       .padding_idx(options.padding_idx())
                       .max_norm(options.max_norm())
                       .norm_type(options.norm_type())
                       .scale_grad_by_freq(options.scale_grad_by_freq())
                       .sparse(options.sparse()));
  module.freeze(options.freeze());
  return module;
}

void Embedding::reset_parameters(Generator& gen) { reset_table(weight, options_.padding_idx(), gen); }

std::string Embedding::extra_repr() const {
  std::string s = std::to_string(options_.num_embeddings()) + ", " + std::to_string(options_.embedding_dim());
  if (options_.padding_idx()) s += ", padding_idx=" + std::to_string(*options_.padding_idx());
  if (options_.max_norm()) s += ", max_norm=" + python_float_repr(*options_.max_norm());
  if (options_.norm_type() != 2.0) s += ", norm_type=" + python_float_repr(options_.norm_type());
  if (options_.scale_grad_by_freq()) s += ", scale_grad_by_freq=True";
  return s;
}

Tensor Embedding::forward_impl(const Tensor& input, Context& ctx) {
  if (options_.max_norm()) ops::embedding_renorm_(weight, input, *options_.max_norm(), options_.norm_type());
  Tensor output = ops::embedding(weight, input);
  ctx.tensors = {input};
  ctx.values = {weight.size(0)};
  return output;
}

Tensor Embedding::backward_impl(const Tensor& grad_output, Context& ctx) {
  const Tensor& indices = ctx.tensors[0].get(name());
  if (frozen_) return Tensor();
  const Tensor grad_weight = ops::embedding_backward(grad_output, indices, ctx.values[0], options_.padding_idx(),
                                                     options_.scale_grad_by_freq());
  Tensor& grad = weight.mutable_grad();
  if (grad.defined()) {
    ops::add_(grad, grad_weight);
  } else {
    grad = grad_weight.to(weight.dtype());
  }
  return Tensor();  // indices have no gradient
}

EmbeddingBag::EmbeddingBag(const EmbeddingBagOptions& options, Generator* gen) : options_(options) {
  const int64_t rows = options.num_embeddings(), columns = options.embedding_dim();
  options_.padding_idx(checked_table("EmbeddingBag", rows, columns, options.padding_idx(),
                                     "padding_idx must be within num_embeddings", options.sparse()));
  weight = table_weight(options._weight(), rows, columns);
  options_._weight(Tensor());  // the module holds it as `weight`
  register_parameter("weight", &weight);
  if (!options._weight().defined()) reset_parameters(gen ? *gen : default_generator());
}

EmbeddingBag EmbeddingBag::from_pretrained(const Tensor& embeddings, const EmbeddingBagFromPretrainedOptions& options) {
  NORMRT_CHECK(embeddings.defined() && embeddings.dim() == 2, "Embeddings parameter is expected to be 2-dimensional");
  EmbeddingBag module(EmbeddingBagOptions(embeddings.size(0), embeddings.size(1))
                          ._weight(embeddings)
                          .max_norm(options.max_norm())
                          .norm_type(options.norm_type())
                          .scale_grad_by_freq(options.scale_grad_by_freq())
                          .mode(options.mode())
                          .sparse(options.sparse())
                          .include_last_offset(options.include_last_offset())
                          .padding_idx(options.padding_idx()));
  module.freeze(options.freeze());
  return module;
}

void EmbeddingBag::reset_parameters(Generator& gen) { reset_table(weight, options_.padding_idx(), gen); }

// PyTorch's: the options that differ from their defaults, in its order, mode always.
std::string EmbeddingBag::extra_repr() const {
  std::string s = std::to_string(options_.num_embeddings()) + ", " + std::to_string(options_.embedding_dim());
  if (options_.max_norm()) s += ", max_norm=" + python_float_repr(*options_.max_norm());
  if (options_.norm_type() != 2.0) s += ", norm_type=" + python_float_repr(options_.norm_type());
  if (options_.scale_grad_by_freq()) s += ", scale_grad_by_freq=True";
  const ops::EmbeddingBagMode mode = options_.mode();
  s += std::string(", mode=") + (mode == ops::EmbeddingBagMode::Sum    ? "sum"
                                 : mode == ops::EmbeddingBagMode::Mean ? "mean"
                                                                       : "max");
  if (options_.padding_idx()) s += ", padding_idx=" + std::to_string(*options_.padding_idx());
  return s;
}

Tensor EmbeddingBag::forward(const Tensor& input, const Tensor& offsets, const Tensor& per_sample_weights) {
  offsets_ = offsets;
  per_sample_weights_ = per_sample_weights;
  struct Forget {
    EmbeddingBag* m;
    ~Forget() { m->offsets_ = m->per_sample_weights_ = Tensor(); }
  } forget{this};
  return Module::forward(input);
}

Tensor EmbeddingBag::forward_impl(const Tensor& input, Context& ctx) {
  NORMRT_CHECK(options_.mode() != ops::EmbeddingBagMode::Max || !options_.scale_grad_by_freq(),
               "max mode does not support scaling the gradient by the frequency");
  if (options_.max_norm()) ops::embedding_renorm_(weight, input, *options_.max_norm(), options_.norm_type());
  ops::EmbeddingBagResult r = ops::embedding_bag(weight, input, offsets_, options_.mode(), per_sample_weights_,
                                                 options_.include_last_offset(), options_.padding_idx());
  const Tensor saved_weight = per_sample_weights_.defined() ? weight : Tensor();  // for per_sample_weights' gradient
  ctx.tensors = {input, r.offset2bag, r.bag_size, r.max_indices, per_sample_weights_, saved_weight};
  ctx.values = {weight.size(0), r.bagged};
  return r.output;
}

Tensor EmbeddingBag::backward_impl(const Tensor& grad_output, Context& ctx) {
  const auto saved = [&](std::size_t i) { return ctx.tensors[i].defined() ? ctx.tensors[i].get(name()) : Tensor(); };
  const Tensor input = saved(0), per_sample_weights = saved(4);
  const ops::EmbeddingBagResult r{Tensor(), saved(1), saved(2), saved(3), ctx.values[1]};
  per_sample_weights_grad_ = per_sample_weights.defined() ? ops::embedding_bag_per_sample_weights_backward(
                                                                grad_output, saved(5), input, r, options_.padding_idx())
                                                          : Tensor();
  if (frozen_) return Tensor();
  const Tensor grad_weight =
      ops::embedding_bag_backward(grad_output, input, r, ctx.values[0], options_.mode(), per_sample_weights,
                                  options_.scale_grad_by_freq(), options_.padding_idx());
  Tensor& grad = weight.mutable_grad();
  if (grad.defined()) {
    ops::add_(grad, grad_weight);
  } else {
    grad = grad_weight.to(weight.dtype());
  }
  return Tensor();  // indices have no gradient
}

}  // namespace normrt::nn
