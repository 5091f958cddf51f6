#include "normrt/nn/embedding.h"

#include "normrt/error.h"
#include "normrt/nn/init.h"
#include "normrt/ops/elementwise.h"
#include "normrt/ops/embedding.h"
#include "normrt/ops/tensor_ops.h"

namespace normrt::nn {

Embedding::Embedding(const EmbeddingOptions& options, Generator* gen) : options_(options) {
  const int64_t rows = options.num_embeddings(), columns = options.embedding_dim();
  NORMRT_CHECK(rows >= 0 && columns >= 0, "Trying to create tensor with negative dimension ", rows < 0 ? rows : columns,
               ": [", rows, ", ", columns, "]");
  if (options.padding_idx()) {
    const int64_t padding = *options.padding_idx();
    NORMRT_CHECK(padding < rows && padding >= -rows, "Padding_idx must be within num_embeddings");
    options_.padding_idx(padding < 0 ? padding + rows : padding);
  }
  NORMRT_CHECK(!options.sparse(),
               "Embedding: sparse=true asks for sparse gradients, and normrt has no sparse tensors "
               "(use sparse=false: dense gradients)");
  if (options._weight().defined()) {
    NORMRT_CHECK(options._weight().sizes() == Shape({rows, columns}),
                 "Shape of weight does not match num_embeddings and embedding_dim");
    weight = options._weight();
  } else {
    weight = empty({rows, columns});
  }
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

void Embedding::reset_parameters(Generator& gen) {
  init::normal_(weight, 0.0, 1.0, &gen);
  if (!options_.padding_idx()) return;
  const Tensor zeros =
      normrt::zeros({1, options_.embedding_dim()}, TensorOptions(weight.device()).dtype(weight.dtype()));
  weight.copy_(ops::cat({ops::narrow(weight, 0, 0, *options_.padding_idx()), zeros,
                         ops::slice(weight, 0, *options_.padding_idx() + 1, weight.size(0))}));
}

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

}  // namespace normrt::nn
