// torch.nn.PixelShuffle, PixelUnshuffle and ChannelShuffle (ops/permute.h), with PyTorch's reprs. Each forward is a
// permutation of the input's elements and its backward the inverse permutation of the gradient.
#pragma once
#include <cstdint>
#include <string>

#include "normrt/nn/module.h"

namespace normrt::nn {

// (*, C r^2, H, W) -> (*, C, H r, W r): a sub-pixel convolution's upsampling (ESPCN, EDSR).
class PixelShuffle : public Module {
 public:
  explicit PixelShuffle(int64_t upscale_factor) : factor_(upscale_factor) {}
  std::string name() const override { return "PixelShuffle"; }
  std::string extra_repr() const override { return "upscale_factor=" + std::to_string(factor_); }

 private:
  Tensor forward_impl(const Tensor& input, Context& ctx) override;
  Tensor backward_impl(const Tensor& grad_output, Context& ctx) override;
  int64_t factor_;
};

// (*, C, H, W) -> (*, C r^2, H / r, W / r).
class PixelUnshuffle : public Module {
 public:
  explicit PixelUnshuffle(int64_t downscale_factor) : factor_(downscale_factor) {}
  std::string name() const override { return "PixelUnshuffle"; }
  std::string extra_repr() const override { return "downscale_factor=" + std::to_string(factor_); }

 private:
  Tensor forward_impl(const Tensor& input, Context& ctx) override;
  Tensor backward_impl(const Tensor& grad_output, Context& ctx) override;
  int64_t factor_;
};

// (N, C, *) with each of `groups` groups of channels interleaved (ShuffleNet).
class ChannelShuffle : public Module {
 public:
  explicit ChannelShuffle(int64_t groups) : groups_(groups) {}
  std::string name() const override { return "ChannelShuffle"; }
  std::string extra_repr() const override { return "groups=" + std::to_string(groups_); }

 private:
  Tensor forward_impl(const Tensor& input, Context& ctx) override;
  Tensor backward_impl(const Tensor& grad_output, Context& ctx) override;
  int64_t groups_;
};

}  // namespace normrt::nn
