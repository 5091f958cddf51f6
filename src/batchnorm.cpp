// normrt::ops BatchNorm: argument checks (PyTorch's wording where PyTorch has one) and dispatch to the backend
// of the tensors' device. Nothing is computed or changed until every check has passed.
#include "normrt/ops/batchnorm.h"

#include <cmath>
#include <initializer_list>

#include "batchnorm_backend.h"
#include "batchnorm_choice.h"
#include "log.h"
#include "normrt/error.h"
#include "nvtx.h"

namespace normrt::ops {

namespace {

bn::Geometry geometry_of(const Tensor& input) {
  bn::Geometry g;
  g.N = input.size(0);
  g.C = input.size(1);
  g.S = 1;
  for (int64_t d = 2; d < input.dim(); ++d) g.S *= input.size(d);
  return g;
}

void check_same_device(std::initializer_list<const Tensor*> tensors) {
  const Tensor* first = nullptr;
  for (const Tensor* t : tensors) {
    if (!t->defined()) continue;
    if (first == nullptr) {
      first = t;
    } else if (t->device() != first->device()) {
      NORMRT_THROW("Expected all tensors to be on the same device, but found at least two devices, ",
                   first->device().str(), " and ", t->device().str(), "!");
    }
  }
}

void check_input(const Tensor& input, const char* what) {
  NORMRT_CHECK(input.defined(), what, " is undefined");
  NORMRT_CHECK(input.dtype() == DType::Float32, what, " must be float32, got ", dtype_name(input.dtype()));
  NORMRT_CHECK(input.memory_format() == MemoryFormat::Contiguous, what,
               " must be contiguous (channels-last is not supported yet)");
  NORMRT_CHECK(input.dim() >= 2, "batch_norm: ", what, " must have at least 2 dimensions (N, C, ...), got ",
               input.dim(), "D input");
}

// A per-channel vector: undefined is allowed when `optional`; otherwise float32 with exactly C elements.
void check_channel_vector(const Tensor& t, const char* name, int64_t channels, bool optional) {
  if (!t.defined()) {
    NORMRT_CHECK(optional, name, " is required but undefined");
    return;
  }
  NORMRT_CHECK(t.dtype() == DType::Float32, name, " must be float32, got ", dtype_name(t.dtype()));
  NORMRT_CHECK(t.numel() == channels, name, " should contain ", channels, " elements not ", t.numel());
}

void check_eps(double eps) {
  NORMRT_CHECK(std::isfinite(eps) && eps >= 0, "eps must be a non-negative finite number, got ", eps);
}

template <typename T>
T* ptr(const Tensor& t) {
  return t.defined() ? const_cast<T*>(t.data<T>()) : nullptr;
}

#if NORMRT_WITH_CUDA
// Which implementation runs this call (see batchnorm_choice.cpp); a CuDNN request that cannot be honoured is logged.
bool use_cudnn(std::optional<Backend> requested, const Tensor& input, const bn::Geometry& g, bn::Pass pass,
               bool affine, bool cumulative_average, double eps) {
  const Backend wanted = requested.value_or(default_backend());
  const bn::BackendChoice choice = bn::choose_backend(wanted, input.device(), g, pass, affine, cumulative_average, eps);
  if (!choice.reason.empty()) detail::debug_log(detail::concat("BatchNorm: cudnn requested, running native: ", choice.reason));
  return choice.backend == Backend::CuDNN;
}
#endif

#if !NORMRT_WITH_CUDA
[[noreturn]] void no_cuda_backend() {
  NORMRT_THROW("BatchNorm on CUDA tensors needs a build with CUDA (NORMRT_WITH_CUDA)");
}
#endif

}  // namespace

BatchNormForwardResult batch_norm_forward_training(const Tensor& input, const Tensor& weight, const Tensor& bias,
                                                   const Tensor& running_mean, const Tensor& running_var,
                                                   const Tensor& num_batches_tracked,
                                                   std::optional<double> momentum, double eps,
                                                   std::optional<Backend> backend) {
  const detail::NvtxRange range("batch_norm_forward_training");
  check_input(input, "input");
  const bn::Geometry g = geometry_of(input);
  check_channel_vector(running_mean, "running_mean", g.C, true);
  check_channel_vector(running_var, "running_var", g.C, true);
  check_channel_vector(weight, "weight", g.C, true);
  check_channel_vector(bias, "bias", g.C, true);
  NORMRT_CHECK(running_mean.defined() == running_var.defined(),
               "running_mean and running_var must be both defined or both undefined");
  if (num_batches_tracked.defined()) {
    NORMRT_CHECK(num_batches_tracked.dtype() == DType::Int64 && num_batches_tracked.numel() == 1,
                 "num_batches_tracked must be a one-element int64 tensor");
  }
  NORMRT_CHECK(momentum.has_value() || !running_mean.defined() || num_batches_tracked.defined(),
               "momentum=None (cumulative moving average) needs num_batches_tracked");
  NORMRT_CHECK(!momentum.has_value() || std::isfinite(*momentum), "momentum must be finite, got ", *momentum);
  check_eps(eps);
  check_same_device({&input, &weight, &bias, &running_mean, &running_var, &num_batches_tracked});
  NORMRT_CHECK(g.per_channel() != 1, "Expected more than 1 value per channel when training, got input size ",
               shape_str(input.sizes()));

  const TensorOptions options(input.device());
  BatchNormForwardResult result{empty(input.sizes(), options), empty({g.C}, options), empty({g.C}, options)};
  bn::ForwardTrainingParams p;
  p.geometry = g;
  p.x = input.data<float>();
  p.weight = ptr<float>(weight);
  p.bias = ptr<float>(bias);
  p.y = result.output.data<float>();
  p.save_mean = result.save_mean.data<float>();
  p.save_invstd = result.save_invstd.data<float>();
  p.running_mean = ptr<float>(running_mean);
  p.running_var = ptr<float>(running_var);
  p.num_batches_tracked = ptr<int64_t>(num_batches_tracked);
  p.eps = eps;
  p.cumulative_average = !momentum.has_value();
  p.momentum = momentum.value_or(0.0);
  if (input.device().is_cpu()) {
    bn::cpu_forward_training(p);
  } else {
#if NORMRT_WITH_CUDA
    if (use_cudnn(backend, input, g, bn::Pass::ForwardTraining, weight.defined() && bias.defined(),
                  p.cumulative_average, eps)) {
      bn::cudnn_forward_training(p, input.device());
    } else {
      bn::cuda_forward_training(p, input.device());
    }
#else
    no_cuda_backend();
#endif
  }
  for (const Tensor* updated : {&running_mean, &running_var, &num_batches_tracked})
    if (updated->defined()) updated->bump_version();
  return result;
}

BatchNormForwardResult batch_norm_forward_inference(const Tensor& input, const Tensor& weight, const Tensor& bias,
                                                    const Tensor& running_mean, const Tensor& running_var,
                                                    double eps, std::optional<Backend> backend) {
  const detail::NvtxRange range("batch_norm_forward_inference");
  check_input(input, "input");
  const bn::Geometry g = geometry_of(input);
  check_channel_vector(running_mean, "running_mean", g.C, false);
  check_channel_vector(running_var, "running_var", g.C, false);
  check_channel_vector(weight, "weight", g.C, true);
  check_channel_vector(bias, "bias", g.C, true);
  check_eps(eps);
  check_same_device({&input, &weight, &bias, &running_mean, &running_var});

  const TensorOptions options(input.device());
  BatchNormForwardResult result{empty(input.sizes(), options), empty({g.C}, options), empty({g.C}, options)};
  bn::ForwardInferenceParams p;
  p.geometry = g;
  p.x = input.data<float>();
  p.weight = ptr<float>(weight);
  p.bias = ptr<float>(bias);
  p.running_mean = running_mean.data<float>();
  p.running_var = running_var.data<float>();
  p.y = result.output.data<float>();
  p.save_mean = result.save_mean.data<float>();
  p.save_invstd = result.save_invstd.data<float>();
  p.eps = eps;
  if (input.device().is_cpu()) {
    bn::cpu_forward_inference(p);
  } else {
#if NORMRT_WITH_CUDA
    if (use_cudnn(backend, input, g, bn::Pass::ForwardInference, weight.defined() && bias.defined(), false, eps)) {
      bn::cudnn_forward_inference(p, input.device());
    } else {
      bn::cuda_forward_inference(p, input.device());
    }
#else
    no_cuda_backend();
#endif
  }
  return result;
}

BatchNormBackwardResult batch_norm_backward(const Tensor& grad_output, const Tensor& input, const Tensor& weight,
                                            const Tensor& save_mean, const Tensor& save_invstd, bool training,
                                            double eps, std::optional<Backend> backend) {
  const detail::NvtxRange range("batch_norm_backward");
  check_input(input, "input");
  NORMRT_CHECK(grad_output.defined(), "grad_output is undefined");
  NORMRT_CHECK(grad_output.dtype() == DType::Float32, "grad_output must be float32, got ",
               dtype_name(grad_output.dtype()));
  NORMRT_CHECK(grad_output.sizes() == input.sizes(), "grad_output shape ", shape_str(grad_output.sizes()),
               " does not match input shape ", shape_str(input.sizes()));
  const bn::Geometry g = geometry_of(input);
  check_channel_vector(weight, "weight", g.C, true);
  check_channel_vector(save_mean, "save_mean", g.C, false);
  check_channel_vector(save_invstd, "save_invstd", g.C, false);
  check_eps(eps);
  check_same_device({&grad_output, &input, &weight, &save_mean, &save_invstd});

  const TensorOptions options(input.device());
  BatchNormBackwardResult result;
  result.grad_input = empty(input.sizes(), options);
  if (weight.defined()) {
    result.grad_weight = empty({g.C}, options);
    result.grad_bias = empty({g.C}, options);
  }
  bn::BackwardParams p;
  p.geometry = g;
  p.dy = grad_output.data<float>();
  p.x = input.data<float>();
  p.weight = ptr<float>(weight);
  p.mean = save_mean.data<float>();
  p.invstd = save_invstd.data<float>();
  p.dx = result.grad_input.data<float>();
  p.dweight = ptr<float>(result.grad_weight);
  p.dbias = ptr<float>(result.grad_bias);
  p.training = training;
  if (input.device().is_cpu()) {
    bn::cpu_backward(p);
  } else {
#if NORMRT_WITH_CUDA
    if (use_cudnn(backend, input, g, training ? bn::Pass::BackwardTraining : bn::Pass::BackwardInference,
                  weight.defined(), false, eps)) {
      bn::cudnn_backward(p, eps, input.device());
    } else {
      bn::cuda_backward(p, input.device());
    }
#else
    no_cuda_backend();
#endif
  }
  return result;
}

}  // namespace normrt::ops
