// Elementwise losses of an input against a target of its shape, with PyTorch's semantics (torch.nn.functional's
// l1_loss, smooth_l1_loss, huber_loss, binary_cross_entropy, kl_div, and mse_loss, declared in ops/nn.h): the loss
// (0-dim, or each element's with Reduction::None) and d loss / d input, as the losses of ops/nn.h. float32 operands, or
// float16/bfloat16 ones (computed in float32; the loss and gradient are float32). The target is not broadcast: PyTorch
// broadcasts a target of another shape with a warning that it "will likely lead to incorrect results", normrt refuses
// it. Per element the arithmetic is PyTorch's (kernels/pointwise_loss_math.cuh); reductions are deterministic.
#pragma once
#include "normrt/ops/nn.h"

namespace normrt::ops {

// |x - t|; its gradient sign(x - t) (0 where x = t).
LossResult l1_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean);

// 0.5 (x - t)^2 / beta where |x - t| < beta, else |x - t| - 0.5 beta; beta < 0 is refused ("smooth_l1_loss does not
// support negative values for beta."). beta = 0 gives l1_loss's loss and, as PyTorch's, the gradient -1 at x = t.
LossResult smooth_l1_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean,
                          double beta = 1.0);

// 0.5 (x - t)^2 where |x - t| < delta, else delta (|x - t| - 0.5 delta); delta must be positive.
LossResult huber_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean,
                      double delta = 1.0);

// -weight (t ln x + (1 - t) ln(1 - x)) for probabilities x, each logarithm clamped at -100; weight (optional)
// broadcasts to the input's shape. Input values outside [0, 1] (NaN included) are refused on the CPU ("all elements of
// input should be between 0 and 1"); on a GPU they are not checked (PyTorch's CUDA kernel asserts on the device).
LossResult binary_cross_entropy(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean,
                                const Tensor& weight = Tensor());

// F.kl_div's reductions. BatchMean divides the sum by the batch size (input.size(0)): the KL divergence as defined,
// where Mean (PyTorch's default, which warns about it) divides by the number of elements.
enum class KLDivReduction { None, Mean, Sum, BatchMean };

// The KL divergence of input log-probabilities x from target probabilities t, per element t ln t - t x (xlogy: 0 where
// t = 0, NaN where t < 0), or with log_target from target log-probabilities, e^t (t - x); its gradient -t (-e^t)
// times the reduction's factor, as autograd gives it for PyTorch's composite kl_div.
LossResult kl_div(const Tensor& input, const Tensor& target, KLDivReduction reduction = KLDivReduction::Mean,
                  bool log_target = false);

}  // namespace normrt::ops
