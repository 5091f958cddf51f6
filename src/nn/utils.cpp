#include "normrt/nn/utils.h"

#include <cmath>

#include "normrt/error.h"
#include "normrt/nn/module.h"
#include "normrt/ops/activation.h"
#include "normrt/ops/nn.h"

namespace normrt::nn::utils {

double clip_grad_norm_(const std::vector<Tensor>& params, double max_norm, double norm_type, bool error_if_nonfinite) {
  NORMRT_CHECK(norm_type > 0, "clip_grad_norm_: norm_type must be positive, got ", norm_type);
  std::vector<Tensor> grads;
  for (const Tensor& p : params)
    if (p.defined() && p.grad().defined()) grads.push_back(p.grad());
  if (grads.empty()) return 0.0;
  const bool inf_norm = std::isinf(norm_type);
  double total = 0;
  for (const Tensor& g : grads) {
    for (float v : g.to_vector()) {
      const double a = std::fabs(static_cast<double>(v));
      total =
          inf_norm ? (std::isnan(a) || std::isnan(total) ? NAN : std::max(total, a)) : total + std::pow(a, norm_type);
    }
  }
  if (!inf_norm) total = std::pow(total, 1.0 / norm_type);
  NORMRT_CHECK(!error_if_nonfinite || std::isfinite(total), "The total norm of order ", python_float_repr(norm_type),
               " for gradients from `parameters` is non-finite, so it cannot be clipped. To disable this error and "
               "scale the gradients by the non-finite norm anyway, set `error_if_nonfinite=False`");
  const double coefficient = std::min(max_norm / (total + 1e-6), 1.0);
  if (coefficient == 1.0) return total;  // multiplying by 1 changes nothing, not even inf or NaN
  for (Tensor& g : grads) ops::add_scaled_(g, g, coefficient - 1.0);  // g *= coefficient, on g's device
  return total;
}

void clip_grad_value_(const std::vector<Tensor>& params, double clip_value) {
  NORMRT_CHECK(!std::isnan(clip_value), "clip_grad_value_: clip_value is NaN");
  const ops::InputActivation clamp = ops::InputActivation::hardtanh(-clip_value, clip_value);
  for (const Tensor& p : params) {
    if (!p.defined() || !p.grad().defined()) continue;
    Tensor grad = p.grad();
    grad.copy_(ops::activation(clamp, grad));
  }
}

}  // namespace normrt::nn::utils
