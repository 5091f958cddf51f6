#include "normrt/nn/shuffle.h"

#include "normrt/ops/permute.h"

namespace normrt::nn {

Tensor PixelShuffle::forward_impl(const Tensor& input, Context&) { return ops::pixel_shuffle(input, factor_); }

Tensor PixelShuffle::backward_impl(const Tensor& grad_output, Context&) {
  return ops::pixel_unshuffle(grad_output, factor_);
}

Tensor PixelUnshuffle::forward_impl(const Tensor& input, Context&) { return ops::pixel_unshuffle(input, factor_); }

Tensor PixelUnshuffle::backward_impl(const Tensor& grad_output, Context&) {
  return ops::pixel_shuffle(grad_output, factor_);
}

Tensor ChannelShuffle::forward_impl(const Tensor& input, Context&) { return ops::channel_shuffle(input, groups_); }

Tensor ChannelShuffle::backward_impl(const Tensor& grad_output, Context&) {
  // channel_shuffle's forward checked the channels divide into groups_.
  return ops::channel_shuffle(grad_output, grad_output.size(1) / groups_);
}

}  // namespace normrt::nn
