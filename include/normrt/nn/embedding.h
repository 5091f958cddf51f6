// torch.nn.Embedding: a lookup table of num_embeddings vectors of embedding_dim, indexed by int64 tensors of any
// shape (ops/embedding.h), and torch.nn.EmbeddingBag, its bags reduced, with PyTorch 1.13's options, initialisation,
// repr and errors.
#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include "normrt/arg.h"
#include "normrt/generator.h"
#include "normrt/nn/module.h"
#include "normrt/ops/embedding.h"

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

struct EmbeddingBagOptions {
  EmbeddingBagOptions(int64_t num_embeddings, int64_t embedding_dim)
      : num_embeddings_(num_embeddings), embedding_dim_(embedding_dim) {}
  NORMRT_ARG(int64_t, num_embeddings);
  NORMRT_ARG(int64_t, embedding_dim);
  // Each forward first rescales the rows it looks up whose norm_type-norm exceeds max_norm (in place, unrecorded).
  NORMRT_ARG(std::optional<double>, max_norm) = std::nullopt;
  NORMRT_ARG(double, norm_type) = 2.0;
  // Each row's gradient divided by how often the batch looks it up.
  NORMRT_ARG(bool, scale_grad_by_freq) = false;
  NORMRT_ARG(ops::EmbeddingBagMode, mode) = ops::EmbeddingBagMode::Mean;
  // Sparse gradients: normrt has no sparse tensors, so the constructor refuses true.
  NORMRT_ARG(bool, sparse) = false;
  // offsets holds one more entry: where the last bag ends.
  NORMRT_ARG(bool, include_last_offset) = false;
  // Positions looking up this row count in no bag, and the row starts as zeros. Negative counts from the end.
  NORMRT_ARG(std::optional<int64_t>, padding_idx) = std::nullopt;
  // The weight to use instead of a fresh one (num_embeddings, embedding_dim): the module holds this tensor.
  NORMRT_ARG(Tensor, _weight);
};

struct EmbeddingBagFromPretrainedOptions {
  // Frozen: backward leaves the weight's gradient undefined, so optimizers skip it (requires_grad=False).
  NORMRT_ARG(bool, freeze) = true;
  NORMRT_ARG(std::optional<double>, max_norm) = std::nullopt;
  NORMRT_ARG(double, norm_type) = 2.0;
  NORMRT_ARG(bool, scale_grad_by_freq) = false;
  NORMRT_ARG(ops::EmbeddingBagMode, mode) = ops::EmbeddingBagMode::Mean;
  NORMRT_ARG(bool, sparse) = false;
  NORMRT_ARG(bool, include_last_offset) = false;
  NORMRT_ARG(std::optional<int64_t>, padding_idx) = std::nullopt;
};

// torch.nn.EmbeddingBag: each bag of looked-up rows reduced to one (sum, mean or max; ops::embedding_bag), as text
// classifiers and recommendation models pool tokens or features, without the (positions, embedding_dim) tensor
// between. forward(input, offsets, per_sample_weights) as PyTorch's; backward gives the weight's gradient (unless
// frozen) and keeps per_sample_weights' (per_sample_weights_grad()); the input has none.
class EmbeddingBag : public Module {
 public:
  // weight drawn N(0, 1) from `gen` (default_generator() when null), the padding row then zeroed, as PyTorch.
  explicit EmbeddingBag(const EmbeddingBagOptions& options, Generator* gen = nullptr);
  EmbeddingBag(int64_t num_embeddings, int64_t embedding_dim, Generator* gen = nullptr)
      : EmbeddingBag(EmbeddingBagOptions(num_embeddings, embedding_dim), gen) {}
  // A module holding `embeddings` (2-d) as its weight, as is, frozen by default.
  static EmbeddingBag from_pretrained(
      const Tensor& embeddings, const EmbeddingBagFromPretrainedOptions& options = EmbeddingBagFromPretrainedOptions());
  using Module::forward;
  // input 1-D with offsets, or 2-D (bags of equal length) without; per_sample_weights only with mode Sum.
  Tensor forward(const Tensor& input, const Tensor& offsets, const Tensor& per_sample_weights = Tensor());
  std::string name() const override { return "EmbeddingBag"; }
  std::string extra_repr() const override;
  void reset_parameters(Generator& gen);
  const EmbeddingBagOptions& options() const { return options_; }
  bool frozen() const { return frozen_; }
  void freeze(bool frozen = true) { frozen_ = frozen; }
  // per_sample_weights' gradient from the last backward (undefined when its forward had none).
  const Tensor& per_sample_weights_grad() const { return per_sample_weights_grad_; }

  Tensor weight;

 private:
  Tensor forward_impl(const Tensor& input, Context& ctx) override;
  Tensor backward_impl(const Tensor& grad_output, Context& ctx) override;
  EmbeddingBagOptions options_;
  bool frozen_ = false;
  Tensor offsets_, per_sample_weights_;  // the arguments of the forward under way
  Tensor per_sample_weights_grad_;
};

}  // namespace normrt::nn
