// Per-element arithmetic of the network layers and optimizers, shared by the CPU paths and the CUDA kernels (and
// so tested on the CPU). Formulas follow PyTorch 1.13's reference (non-fused, non-foreach) implementations in
// operation order, so that CPU results match PyTorch's to float rounding.
#pragma once
#include <cmath>
#include <cstdint>

#include "float_math.cuh"
#include "hd.h"

namespace normrt::nnmath {

enum class Activation { ReLU, Sigmoid, Tanh };

NORMRT_HD inline float activation_forward(Activation a, float x) {
  switch (a) {
    case Activation::ReLU: return x > 0.0f ? x : (x == x ? 0.0f : x);  // NaN propagates, as torch.relu
    case Activation::Sigmoid: return fmath::sigmoid(x);
    case Activation::Tanh: return fmath::tanh(x);
  }
  return x;
}

// Gradient from the forward's output y (all three derivatives are functions of y).
NORMRT_HD inline float activation_backward(Activation a, float dy, float y) {
  switch (a) {
    case Activation::ReLU: return y <= 0.0f ? 0.0f : dy;  // torch's threshold_backward: passes where y is NaN
    case Activation::Sigmoid: return dy * (1.0f - y) * y;
    case Activation::Tanh: return dy * (1.0f - y * y);
  }
  return dy;
}

// Cross-entropy of a row with label smoothing s over C classes (uniform = s / C), from the row's max m, ln(sum of
// e^(x - m)) and sum of x, in PyTorch's terms of log-probabilities: -(1 - s) log p_t - uniform sum(log p), where
// log p_t = (x_t - m) - ln(sum) and sum(log p) = (sum(x) - C m) - C ln(sum). So grouped, what cancels does so exactly
// (one class: a loss of 0, as PyTorch's), a target logit of -inf costs +inf, and without smoothing sum(x) is not
// used (another class's -inf logit leaves the loss finite, as PyTorch's).
template <typename T>
NORMRT_HD inline T smoothed_cross_entropy(T max, T x_target, T log_sum, T sum_x, T classes, T smoothing, T uniform) {
  const T target_term = -((T(1) - smoothing) * ((x_target - max) - log_sum));
  if (smoothing == T(0)) return target_term;
  return target_term - uniform * ((sum_x - classes * max) - classes * log_sum);
}
// The target's gradient p - (1 - s) - uniform from its probability p: 0 for one class.
template <typename T>
NORMRT_HD inline T smoothed_target_gradient(T probability, T smoothing, T uniform) {
  return (probability - T(1)) + (smoothing - uniform);
}

// Philox4x32-10 (Salmon et al. 2011): counter (hi, lo) and key -> four 32-bit words.
struct Philox4 {
  uint32_t v[4];
};

// One Philox round on the counter c with key (k0, k1), 32-bit words held in W: uint32_t, or uint64_t below 2^32
// (the CPU's dropout, whose SIMD lanes multiply 64-bit words).
template <typename W>
NORMRT_HD inline void philox_round(W& c0, W& c1, W& c2, W& c3, W k0, W k1) {
  const uint64_t p0 = static_cast<uint64_t>(0xD2511F53u) * c0;
  const uint64_t p1 = static_cast<uint64_t>(0xCD9E8D57u) * c2;
  c0 = static_cast<W>(p1 >> 32) ^ c1 ^ k0;
  c1 = static_cast<W>(p1 & 0xFFFFFFFFu);
  c2 = static_cast<W>(p0 >> 32) ^ c3 ^ k1;
  c3 = static_cast<W>(p0 & 0xFFFFFFFFu);
}

constexpr uint32_t kPhiloxBump0 = 0x9E3779B9u, kPhiloxBump1 = 0xBB67AE85u;

NORMRT_HD inline Philox4 philox4x32_10(uint64_t key, uint64_t counter_hi, uint64_t counter_lo) {
  uint32_t c0 = static_cast<uint32_t>(counter_lo), c1 = static_cast<uint32_t>(counter_lo >> 32);
  uint32_t c2 = static_cast<uint32_t>(counter_hi), c3 = static_cast<uint32_t>(counter_hi >> 32);
  uint32_t k0 = static_cast<uint32_t>(key), k1 = static_cast<uint32_t>(key >> 32);
  for (int round = 0; round < 10; ++round, k0 += kPhiloxBump0, k1 += kPhiloxBump1)
    philox_round<uint32_t>(c0, c1, c2, c3, k0, k1);
  return {{c0, c1, c2, c3}};
}

// 24 random bits -> a float in [0, 1), every value exactly representable.
NORMRT_HD inline float unit_float(uint32_t bits) { return static_cast<float>(bits >> 8) * (1.0f / 16777216.0f); }

// Inverted dropout: element `index` of a call whose stream starts at Philox block `offset` is kept when its
// uniform draw is >= p. Element i uses word i % 4 of block offset + i / 4, so the mask depends only on
// (seed, offset, index): identical on every device and for any launch shape.
NORMRT_HD inline bool dropout_keep(uint64_t seed, uint64_t offset, uint64_t index, float p) {
  const Philox4 block = philox4x32_10(seed, 0, offset + index / 4);
  // Selected, not indexed: a computed index into the block would put it in a GPU thread's local memory.
  const uint64_t k = index % 4;
  const uint32_t word = k == 0 ? block.v[0] : k == 1 ? block.v[1] : k == 2 ? block.v[2] : block.v[3];
  return unit_float(word) >= p;
}

// The logical index, (n C + c) S + s, of element `stored` of a channels-last tensor: (N, S, C) memory of an (N, C, S)
// tensor. Dropout draws by logical index, so that a memory format does not change which elements drop.
NORMRT_HD inline int64_t channels_last_logical_index(int64_t stored, int64_t channels, int64_t spatial) {
  const int64_t c = stored % channels, rest = stored / channels;
  return (rest / spatial * channels + c) * spatial + rest % spatial;
}

// ---- optimizers ----

// GradScaler (torch.cuda.amp): whether a value is finite (false for inf and NaN, without <cmath> on the device),
// the unscaling factor (1 / scale in double, rounded once, as PyTorch's scaler computes it), and the scale's update
// after a step, as ATen's _amp_update_scale_: back off and restart the count after an inf/NaN; otherwise count the
// clean step and grow every growth_interval of them, unless the grown scale would not be finite.
NORMRT_HD inline bool is_finite(float v) { return v - v == 0.0f; }

NORMRT_HD inline float inverse_scale(float scale) { return static_cast<float>(1.0 / static_cast<double>(scale)); }

struct LossScaleHyper {
  double growth_factor, backoff_factor;
  int64_t growth_interval;
};

NORMRT_HD inline void update_loss_scale(float& scale, int64_t& growth_tracker, bool found_inf,
                                        const LossScaleHyper& h) {
  if (found_inf) {
    scale = static_cast<float>(static_cast<double>(scale) * h.backoff_factor);
    growth_tracker = 0;
    return;
  }
  const int64_t successful = growth_tracker + 1;
  if (successful == h.growth_interval) {
    const float grown = static_cast<float>(static_cast<double>(scale) * h.growth_factor);
    if (is_finite(grown)) scale = grown;
    growth_tracker = 0;
  } else {
    growth_tracker = successful;
  }
}

// Derived constants such as 1 - dampening are computed in double on the host and rounded once, as PyTorch's
// Python code does before handing them to its kernels.
struct SgdHyper {
  float lr, momentum, one_minus_dampening, weight_decay;
  bool nesterov;
  bool first_step;  // the momentum buffer is initialised to the gradient
};

NORMRT_HD inline void sgd_update(float& param, float grad, float& momentum_buffer, const SgdHyper& h) {
  float d = grad;
  if (h.weight_decay != 0.0f) d = d + h.weight_decay * param;
  if (h.momentum != 0.0f) {
    momentum_buffer = h.first_step ? d : momentum_buffer * h.momentum + h.one_minus_dampening * d;
    d = h.nesterov ? d + h.momentum * momentum_buffer : momentum_buffer;
  }
  param = param + (-h.lr) * d;
}

struct AdamHyper {
  float beta1, beta2, one_minus_beta1, one_minus_beta2, eps, weight_decay;
  bool decoupled_weight_decay;  // AdamW
  bool amsgrad;                 // the denominator from the largest exp_avg_sq so far (adam_amsgrad_update)
  float decay_factor;           // AdamW: 1 - lr * weight_decay
  float step_size;              // lr / (1 - beta1^step)
  float bias_correction2_sqrt;  // sqrt(1 - beta2^step)
};

// A step up to its denominator: weight decay (L2 into the gradient, or AdamW's on the parameter), then the moments.
NORMRT_HD inline void adam_moments(float& param, float grad, float& exp_avg, float& exp_avg_sq, const AdamHyper& h) {
  if (h.decoupled_weight_decay) {
    param = param * h.decay_factor;
  } else if (h.weight_decay != 0.0f) {
    grad = grad + h.weight_decay * param;
  }
  exp_avg = exp_avg * h.beta1 + h.one_minus_beta1 * grad;
  exp_avg_sq = exp_avg_sq * h.beta2 + h.one_minus_beta2 * grad * grad;
}

NORMRT_HD inline void adam_descend(float& param, float exp_avg, float second_moment, const AdamHyper& h) {
  const float denom = sqrtf(second_moment) / h.bias_correction2_sqrt + h.eps;
  param = param + (-h.step_size) * (exp_avg / denom);
}

NORMRT_HD inline void adam_update(float& param, float grad, float& exp_avg, float& exp_avg_sq, const AdamHyper& h) {
  adam_moments(param, grad, exp_avg, exp_avg_sq, h);
  adam_descend(param, exp_avg, exp_avg_sq, h);
}

// AMSGrad: max_exp_avg_sq keeps the largest exp_avg_sq so far (a NaN stays, as torch.maximum's) and divides instead.
NORMRT_HD inline void adam_amsgrad_update(float& param, float grad, float& exp_avg, float& exp_avg_sq,
                                          float& max_exp_avg_sq, const AdamHyper& h) {
  adam_moments(param, grad, exp_avg, exp_avg_sq, h);
  max_exp_avg_sq = exp_avg_sq > max_exp_avg_sq || exp_avg_sq != exp_avg_sq ? exp_avg_sq : max_exp_avg_sq;
  adam_descend(param, exp_avg, max_exp_avg_sq, h);
}

struct AdadeltaHyper {
  float lr, rho, one_minus_rho, eps, weight_decay;
};

NORMRT_HD inline void adadelta_update(float& param, float grad, float& square_avg, float& acc_delta,
                                      const AdadeltaHyper& h) {
  if (h.weight_decay != 0.0f) grad = grad + h.weight_decay * param;
  square_avg = square_avg * h.rho + h.one_minus_rho * grad * grad;
  const float std_dev = sqrtf(square_avg + h.eps);
  const float delta = sqrtf(acc_delta + h.eps) / std_dev * grad;
  acc_delta = acc_delta * h.rho + h.one_minus_rho * delta * delta;
  param = param + (-h.lr) * delta;
}

// RMSprop (torch.optim.RMSprop): the square average, in centered mode the gradient average too, and the step through
// the momentum buffer when momentum > 0 (use_buffer), each rounded in PyTorch's order (addcmul / addcdiv's
// value * a * b and value * a / b).
struct RmspropHyper {
  float lr, alpha, one_minus_alpha, eps, weight_decay, momentum;
  bool centered;
  bool use_buffer;  // momentum > 0
};

NORMRT_HD inline void rmsprop_update(float& param, float grad, float& square_avg, float& grad_avg,
                                     float& momentum_buffer, const RmspropHyper& h) {
  if (h.weight_decay != 0.0f) grad = grad + h.weight_decay * param;
  square_avg = square_avg * h.alpha + h.one_minus_alpha * grad * grad;
  float avg;
  if (h.centered) {
    grad_avg = grad_avg * h.alpha + h.one_minus_alpha * grad;
    avg = sqrtf(square_avg - grad_avg * grad_avg) + h.eps;
  } else {
    avg = sqrtf(square_avg) + h.eps;
  }
  if (h.use_buffer) {
    momentum_buffer = momentum_buffer * h.momentum + grad / avg;
    param = param + (-h.lr) * momentum_buffer;
  } else {
    param = param + (-h.lr) * grad / avg;
  }
}

// Adagrad (torch.optim.Adagrad): the sum of squared gradients, the step lr / (1 + (step - 1) lr_decay) computed on
// the host.
struct AdagradHyper {
  float neg_step_lr;  // -lr / (1 + (step - 1) * lr_decay)
  float eps, weight_decay;
};

NORMRT_HD inline void adagrad_update(float& param, float grad, float& sum, const AdagradHyper& h) {
  if (h.weight_decay != 0.0f) grad = grad + h.weight_decay * param;
  sum = sum + grad * grad;
  param = param + h.neg_step_lr * grad / (sqrtf(sum) + h.eps);
}

// Adamax (torch.optim.Adamax): the infinity norm max(exp_inf * beta2, |grad| + eps), NaN kept as torch.amax keeps it.
struct AdamaxHyper {
  float beta1, beta2, one_minus_beta1, eps, weight_decay;
  float neg_step_lr;  // -lr / (1 - beta1^step)
};

NORMRT_HD inline void adamax_update(float& param, float grad, float& exp_avg, float& exp_inf, const AdamaxHyper& h) {
  if (h.weight_decay != 0.0f) grad = grad + h.weight_decay * param;
  exp_avg = exp_avg * h.beta1 + h.one_minus_beta1 * grad;
  const float decayed = exp_inf * h.beta2, bound = fabsf(grad) + h.eps;
  exp_inf = bound > decayed || bound != bound ? bound : decayed;
  param = param + h.neg_step_lr * exp_avg / exp_inf;
}

// RAdam (torch.optim.RAdam): Adam's moments, the step rectified by the variance term once the approximated SMA's
// length passes 5 (rectified), else a momentum step; PyTorch's order of operations.
struct RadamHyper {
  float beta1, beta2, one_minus_beta1, one_minus_beta2, eps, weight_decay;
  float bias_correction1, lr, bias_correction2_sqrt, rect;
  bool rectified;
};

NORMRT_HD inline void radam_update(float& param, float grad, float& exp_avg, float& exp_avg_sq, const RadamHyper& h) {
  if (h.weight_decay != 0.0f) grad = grad + h.weight_decay * param;
  exp_avg = exp_avg * h.beta1 + h.one_minus_beta1 * grad;
  exp_avg_sq = exp_avg_sq * h.beta2 + h.one_minus_beta2 * grad * grad;
  const float step = exp_avg / h.bias_correction1 * h.lr;
  if (h.rectified) {
    param = param - step * (h.bias_correction2_sqrt / (sqrtf(exp_avg_sq) + h.eps)) * h.rect;
  } else {
    param = param - step;
  }
}

}  // namespace normrt::nnmath
