// LayerNorm and GroupNorm with PyTorch's semantics, on the CPU and CUDA: modules over ops::layer_norm_forward /
// group_norm_forward (ops/norms.h), statistics per sample (LayerNorm) or per (sample, group) (GroupNorm), the
// same in training and eval. float32 parameters; float16 / bfloat16 input runs in float32 under autocast (PyTorch's
// float32 list), and otherwise keeps its dtype (ops/norms.h: computed in float32, rounded once).
#pragma once
#include <cstdint>
#include <vector>

#include "normrt/nn/module.h"

namespace normrt::nn {

// Normalises over the last normalized_shape.size() dimensions, which must equal normalized_shape; weight and bias
// (elementwise_affine) have that shape (initialised to 1 and 0).
class LayerNorm : public Module {
 public:
  explicit LayerNorm(Shape normalized_shape, double eps = 1e-5, bool elementwise_affine = true);
  std::string name() const override { return "LayerNorm"; }
  std::string extra_repr() const override;

  Tensor weight, bias;  // undefined without elementwise_affine

 private:
  Tensor forward_impl(const Tensor& input, Context& ctx) override;
  Tensor backward_impl(const Tensor& grad_output, Context& ctx) override;
  Shape normalized_shape_;
  double eps_;
};

// Normalises (N, C, *) input over each group of C / num_groups channels (and all spatial positions) per sample;
// weight and bias (affine) are per channel.
class GroupNorm : public Module {
 public:
  GroupNorm(int64_t num_groups, int64_t num_channels, double eps = 1e-5, bool affine = true);
  std::string name() const override { return "GroupNorm"; }
  std::string extra_repr() const override;

  Tensor weight, bias;  // undefined without affine

 private:
  Tensor forward_impl(const Tensor& input, Context& ctx) override;
  Tensor backward_impl(const Tensor& grad_output, Context& ctx) override;
  int64_t groups_, channels_;
  double eps_;
};

}  // namespace normrt::nn
