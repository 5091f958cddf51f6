// torch.nn.Upsample over ops::interpolate, and its fixed-mode forms UpsamplingNearest2d and UpsamplingBilinear2d
// (align_corners=True), with PyTorch's reprs.
#pragma once
#include <string>

#include "normrt/nn/module.h"
#include "normrt/ops/interpolate.h"

namespace normrt::nn {

using UpsampleOptions = ops::InterpolateOptions;

class Upsample : public Module {
 public:
  explicit Upsample(const UpsampleOptions& options) : Upsample("Upsample", options) {}
  std::string name() const override { return name_; }
  std::string extra_repr() const override;
  const UpsampleOptions& options() const { return options_; }

 protected:
  Upsample(std::string name, const UpsampleOptions& options);

 private:
  Tensor forward_impl(const Tensor& input, Context& ctx) override;  // ctx.values: the input's sizes
  Tensor backward_impl(const Tensor& grad_output, Context& ctx) override;
  std::string name_;
  UpsampleOptions options_;
};

// Upsample with mode nearest (options: size or scale_factor).
class UpsamplingNearest2d : public Upsample {
 public:
  explicit UpsamplingNearest2d(UpsampleOptions options)
      : Upsample("UpsamplingNearest2d", options.mode(ops::InterpolateMode::Nearest)) {}
};

// Upsample with mode bilinear and align_corners=True.
class UpsamplingBilinear2d : public Upsample {
 public:
  explicit UpsamplingBilinear2d(UpsampleOptions options)
      : Upsample("UpsamplingBilinear2d", options.mode(ops::InterpolateMode::Bilinear).align_corners(true)) {}
};

}  // namespace normrt::nn
