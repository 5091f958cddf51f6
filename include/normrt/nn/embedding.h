// torch.nn.Embedding: a lookup table of num_embeddings vectors of embedding_dim, indexed by int64 tensors of any
// shape (ops/embedding.h), with PyTorch 1.13's options, initialisation, repr and errors.
#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include "normrt/arg.h"
#include "normrt/generator.h"
#include "normrt/nn/module.h"

namespace normrt::nn {

struct EmbeddingOptions {
  EmbeddingOptions(int64_t num_embeddings, int64_t embedding_dim)
      : num_embeddings_(num_embeddings), embedding_dim_(embedding_dim) {}
  NORMRT_ARG(int64_t, num_embeddings);
  NORMRT_ARG(int64_t, embedding_dim);
  // This row's gradient is always zero, and it starts as zeros: a padding token's vector. Negative counts from the
  // end.
  NORMRT_ARG(std::optional<int64_t>, padding_idx) = std::nullopt;
  // Each forward first rescales the rows it looks up whose norm_type-norm exceeds max_norm (in place, unrecorded).
  NORMRT_ARG(std::optional<double>, max_norm) = std::nullopt;
  NORMRT_ARG(double, norm_type) = 2.0;
  // Each row's gradient divided by how often the batch looks it up.
  NORMRT_ARG(bool, scale_grad_by_freq) = false;
  // Sparse gradients: normrt has no sparse tensors, so the constructor refuses true.
  NORMRT_ARG(bool, sparse) = false;
  // The weight to use instead of a fresh one (num_embeddings, embedding_dim): the module holds this tensor.
  NORMRT_ARG(Tensor, _weight);
};

struct EmbeddingFromPretrainedOptions {
  // Frozen: backward leaves the weight's gradient undefined, so optimizers skip it (requires_grad=False).
  NORMRT_ARG(bool, freeze) = true;
  NORMRT_ARG(std::optional<int64_t>, padding_idx) = std::nullopt;
  NORMRT_ARG(std::optional<double>, max_norm) = std::nullopt;
  NORMRT_ARG(double, norm_type) = 2.0;
  NORMRT_ARG(bool, scale_grad_by_freq) = false;
  NORMRT_ARG(bool, sparse) = false;
};

class Embedding : public Module {
 public:
  // weight drawn N(0, 1) from `gen` (default_generator() when null), the padding row then zeroed, as PyTorch.
  explicit Embedding(const EmbeddingOptions& options, Generator* gen = nullptr);
  Embedding(int64_t num_embeddings, int64_t embedding_dim, Generator* gen = nullptr)
      : Embedding(EmbeddingOptions(num_embeddings, embedding_dim), gen) {}
  // A module holding `embeddings` (2-d) as its weight, as is (the padding row is not zeroed), frozen by default.
  static Embedding from_pretrained(const Tensor& embeddings,
                                   const EmbeddingFromPretrainedOptions& options = EmbeddingFromPretrainedOptions());
  std::string name() const override { return "Embedding"; }
  std::string extra_repr() const override;
  void reset_parameters(Generator& gen);
  const EmbeddingOptions& options() const { return options_; }
  // Whether backward leaves the weight's gradient alone (PyTorch's weight.requires_grad_(False)).
  bool frozen() const { return frozen_; }
  void freeze(bool frozen = true) { frozen_ = frozen; }

  Tensor weight;

 private:
  Tensor forward_impl(const Tensor& input, Context& ctx) override;
  Tensor backward_impl(const Tensor& grad_output, Context& ctx) override;
  EmbeddingOptions options_;
  bool frozen_ = false;
};

}  // namespace normrt::nn
