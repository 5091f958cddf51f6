#include "normrt/ops/elementwise.h"
#include "normrt/ops/nn.h"

#include "cuda_launch.h"
#include "normrt/cuda.h"
#include "normrt/error.h"
#if NORMRT_WITH_CUDA
#include "elementwise.cuh"
#endif

namespace normrt::ops {

Tensor& add_(Tensor& a, const Tensor& b) {
  add_scaled_(a, b, 1.0);
  return a;
}

void add_scaled_(Tensor& a, const Tensor& b, double alpha) {
  NORMRT_CHECK(a.sizes() == b.sizes(), "add: shape mismatch, ", shape_str(a.sizes()), " vs ", shape_str(b.sizes()));
  NORMRT_CHECK(a.device() == b.device(), "Expected all tensors to be on the same device, but found at least two ",
               "devices, ", a.device().str(), " and ", b.device().str(), "!");
  float* out = a.data<float>();
  const float* in = b.data<float>();
  const int64_t n = a.numel();
  const auto scale = static_cast<float>(alpha);
  a.bump_version();
  if (a.device().is_cuda()) {
#if NORMRT_WITH_CUDA
    const int device = a.device().index();
    cuda::DeviceGuard guard(device);
    normrt::cuda::axpy(out, in, scale, n, cuda::sm_count(device), cuda::current_stream(device));
    return;
#else
    NORMRT_THROW("add on ", a.device().str(), " needs a build with CUDA (NORMRT_WITH_CUDA)");
#endif
  }
  for (int64_t i = 0; i < n; ++i) out[i] = out[i] + scale * in[i];
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
