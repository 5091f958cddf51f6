// Folding eval-mode BatchNorm into the layer before it, for inference: Linear -> BatchNorm1d becomes one Linear with
// W' = W * s and b' = (b - running_mean) * s + beta, where s = gamma / sqrt(running_var + eps) per output feature.
// The arithmetic is done in double on the host; the folded layer lives on the original's device.
#pragma once
#include <memory>

#include "normrt/nn/batchnorm.h"
#include "normrt/nn/layers.h"

namespace normrt::nn {

// A model for inference equal to `model` in eval mode: every Linear directly followed by a BatchNorm1d that tracks
// running statistics is replaced by one folded Linear (with bias), nested Sequentials are folded too, and every
// other module is shared with `model` (not copied). Throws unless `model` is in eval mode.
std::shared_ptr<Sequential> fold_batchnorm(Sequential& model);

// The Linear equal to linear followed by bn in eval mode.
std::shared_ptr<Linear> fold_linear_batchnorm(const Linear& linear, const BatchNormBase& bn);

}  // namespace normrt::nn
