// Building blocks of torchvision's models beyond torch.nn (torchvision.ops): the squeeze-and-excitation block of
// MobileNetV3, EfficientNet and RegNet, and the stochastic depth (drop path) of EfficientNet and ConvNeXt residual
// blocks. Names, defaults, state_dict keys, reprs and errors are torchvision's.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "normrt/generator.h"
#include "normrt/nn/module.h"

namespace normrt::nn {

// torchvision.ops.SqueezeExcitation: scale = scale_activation(fc2(activation(fc1(avgpool(x))))) per sample and
// channel, output scale * x, for x of shape (N, C, H, W) or (C, H, W). Children avgpool (AdaptiveAvgPool2d(1)),
// fc1 (Conv2d(input_channels, squeeze_channels, 1)), fc2 (Conv2d(squeeze_channels, input_channels, 1)), activation
// (ReLU by default; MobileNetV3's) and scale_activation (Sigmoid by default; Hardsigmoid in MobileNetV3), so the
// state_dict keys are fc1.weight, fc1.bias, fc2.weight, fc2.bias. The convolutions' initial values come from `gen`
// (default_generator() when null) as Conv2d's.
class SqueezeExcitation : public Module {
 public:
  SqueezeExcitation(int64_t input_channels, int64_t squeeze_channels, std::shared_ptr<Module> activation = nullptr,
                    std::shared_ptr<Module> scale_activation = nullptr, Generator* gen = nullptr);
  std::string name() const override { return "SqueezeExcitation"; }

 private:
  // ctx.children: the contexts of avgpool, fc1, activation, fc2 and scale_activation (the order they run in);
  // ctx.tensors: the input and the scale.
  Tensor forward_impl(const Tensor& input, Context& ctx) override;
  Tensor backward_impl(const Tensor& grad_output, Context& ctx) override;
  void child_replaced(const Module* old_child, const std::shared_ptr<Module>& replacement) override;
  // The scale path in the order it runs.
  std::shared_ptr<Module> avgpool_, fc1_, activation_, fc2_, scale_activation_;
};

// torchvision.ops.StochasticDepth ("Deep Networks with Stochastic Depth"): in training, mode "row" zeroes each
// sample's whole input with probability p (a residual branch dropped for that sample), mode "batch" the whole batch
// at once; kept values are scaled by 1 / (1 - p) (at p = 1 everything is dropped and nothing scaled). Identity in
// eval and at p = 0. The mask comes from the layer's own Philox stream, seeded from default_generator() (or `gen`)
// at construction, as Dropout's.
class StochasticDepth : public Module {
 public:
  StochasticDepth(double p, const std::string& mode, Generator* gen = nullptr);
  std::string name() const override { return "StochasticDepth"; }
  // torchvision's repr is "StochasticDepth(p=0.2, mode=row)".
  std::string extra_repr() const override;
  Generator& generator() { return generator_; }

 private:
  // ctx.tensors: the mask (N, 1, ...) or (1, ...) in the input's dtype; empty when the forward was the identity.
  Tensor forward_impl(const Tensor& input, Context& ctx) override;
  Tensor backward_impl(const Tensor& grad_output, Context& ctx) override;
  double p_;
  bool per_sample_;
  Generator generator_;
};

}  // namespace normrt::nn
