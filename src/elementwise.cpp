#include "normrt/ops/elementwise.h"

#include "normrt/error.h"

namespace normrt::ops {

Tensor& add_(Tensor& a, const Tensor& b) {
  NORMRT_CHECK(a.sizes() == b.sizes(), "add_: shape mismatch, ", shape_str(a.sizes()), " vs ", shape_str(b.sizes()));
  NORMRT_CHECK(a.device() == b.device(), "Expected all tensors to be on the same device, but found at least two ",
               "devices, ", a.device().str(), " and ", b.device().str(), "!");
  NORMRT_CHECK(a.device().is_cpu(), "add_ on ", a.device().str(), " is not available in this build");
  float* out = a.data<float>();
  const float* in = b.data<float>();
  const int64_t n = a.numel();
  for (int64_t i = 0; i < n; ++i) out[i] += in[i];
  return a;
}

void accumulate_grad(Tensor& tensor, const Tensor& gradient) {
  Tensor& grad = tensor.mutable_grad();
  if (!grad.defined()) {
    grad = gradient.clone();
  } else {
    add_(grad, gradient);
  }
}

}  // namespace normrt::ops
