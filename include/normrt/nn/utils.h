// torch.nn.utils equivalents.
#pragma once
#include <limits>
#include <vector>

#include "normrt/tensor.h"

namespace normrt::nn::utils {

// Scales the gradients of `params` (those that have one) in place so that their joint norm of order norm_type
// (2 by default; infinity for the largest magnitude) is at most max_norm, as torch.nn.utils.clip_grad_norm_
// (coefficient max_norm / (norm + 1e-6), clamped to 1). Returns the norm before clipping. With error_if_nonfinite a
// NaN or infinite norm throws PyTorch's error and changes nothing. The norm is summed in double on the host (on a
// GPU the gradients are read back: one synchronisation per call).
double clip_grad_norm_(const std::vector<Tensor>& params, double max_norm, double norm_type = 2.0,
                       bool error_if_nonfinite = false);

// torch.nn.utils.clip_grad_value_: every gradient of `params` (those that have one) clamped in place to
// [-clip_value, clip_value] as torch.clamp does (NaN kept; a negative clip_value, whose bounds cross, gives every
// element clip_value), on the gradient's device.
void clip_grad_value_(const std::vector<Tensor>& params, double clip_value);

}  // namespace normrt::nn::utils
