// Internal: where a layer's op adds its parameter gradients. Normally into the parameters' own grads; when the op
// ran on 16-bit copies of float32 parameters (amp::AutocastGuard), into fresh gradients of the copies' dtype, which
// accumulate() then adds into the float32 grads (widened exactly), as autograd's cast node does.
#pragma once
#include "normrt/ops/elementwise.h"
#include "normrt/tensor.h"

namespace normrt::detail {

class ParameterGrads {
 public:
  // `bias` may be undefined; `op_dtype` is the dtype of the weight the op used.
  ParameterGrads(Tensor& weight, Tensor& bias, DType op_dtype)
      : weight_(weight), bias_(bias), copies_(op_dtype != weight.dtype()) {}
  Tensor* weight() { return copies_ ? &weight_grad_ : &weight_.mutable_grad(); }
  Tensor* bias() {
    if (!bias_.defined()) return nullptr;
    return copies_ ? &bias_grad_ : &bias_.mutable_grad();
  }
  void accumulate() {
    if (!copies_) return;
    add_into(weight_, weight_grad_);
    if (bias_.defined()) add_into(bias_, bias_grad_);
  }

 private:
  static void add_into(Tensor& parameter, const Tensor& gradient) {
    Tensor& grad = parameter.mutable_grad();
    if (grad.defined()) {
      ops::add_(grad, gradient);
    } else {
      grad = gradient.to(parameter.dtype());
    }
  }
  Tensor& weight_;
  Tensor& bias_;
  bool copies_;
  Tensor weight_grad_, bias_grad_;
};

}  // namespace normrt::detail
