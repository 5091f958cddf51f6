// Folding eval-mode BatchNorm into the layer before it, for inference (torch.nn.utils.fusion, and the model-wide pass
// of torch.fx.experimental.optimization.fuse): Linear -> BatchNorm1d, Conv{1,2,3}d and ConvTranspose{1,2,3}d (any
// groups) -> BatchNorm{1,2,3}d each become one layer with W' = W * s (per output channel) and b' = (b -
// running_mean) * s + beta, where s = gamma / sqrt(running_var + eps). The arithmetic is done in double on the host
// (PyTorch's fuse rounds each step to float32: the weights agree to a few ulps); the folded layer lives on the
// original's device, in its weight's memory format.
#pragma once
#include <memory>

#include "normrt/nn/batchnorm.h"
#include "normrt/nn/conv.h"
#include "normrt/nn/layers.h"

namespace normrt::nn {

// A model for inference equal to `model` in eval mode: every Linear or convolution directly followed by a BatchNorm
// of its rank that tracks running statistics is replaced by one folded layer (with bias; a BatchNorm's own ReLU
// follows it), nested Sequentials, Residual blocks and Concat branches are folded too, and every other module is
// shared with `model` (not copied). Throws unless `model` is in eval mode. As PyTorch's pass, it assumes batched
// inputs (an unbatched Conv1d's (C, L) output meets a BatchNorm1d on its second dimension).
std::shared_ptr<Sequential> fold_batchnorm(Sequential& model);

// The Linear equal to linear followed by bn in eval mode.
std::shared_ptr<Linear> fold_linear_batchnorm(const Linear& linear, const BatchNormBase& bn);
// The convolution (of conv's rank and options, with a bias) equal to conv followed by bn in eval mode.
std::shared_ptr<ConvBase> fold_conv_batchnorm(const ConvBase& conv, const BatchNormBase& bn);
std::shared_ptr<ConvTransposeBase> fold_conv_batchnorm(const ConvTransposeBase& conv, const BatchNormBase& bn);

}  // namespace normrt::nn
