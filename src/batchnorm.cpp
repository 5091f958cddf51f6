// normrt::ops BatchNorm: argument checks (PyTorch's wording where PyTorch has one) and dispatch to the backend
// of the tensors' device. Nothing is computed or changed until every check has passed.
#include "normrt/ops/batchnorm.h"

#include <cmath>
#include <initializer_list>

#include "batchnorm_backend.h"
#include "op_util.h"
#include "batchnorm_choice.h"
#include "log.h"
#include "normrt/error.h"
#include "nvtx.h"

namespace normrt::ops {

namespace {

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

bool is_bn_dtype(DType dtype) {
  return dtype == DType::Float32 || dtype == DType::Float16 || dtype == DType::BFloat16;
}

void check_input(const Tensor& input, const char* what) {
  NORMRT_CHECK(input.defined(), what, " is undefined");
  NORMRT_CHECK(is_bn_dtype(input.dtype()), what, " must be float32, float16 or bfloat16, got ",
               dtype_name(input.dtype()));
  NORMRT_CHECK(input.dim() >= 2, "batch_norm: ", what, " must have at least 2 dimensions (N, C, ...), got ",
               input.dim(), "D input");
}

// A per-channel vector: undefined is allowed when `optional`; otherwise exactly C elements (dtypes: check_dtypes).
void check_channel_vector(const Tensor& t, const char* name, int64_t channels, bool optional) {
  if (!t.defined()) {
    NORMRT_CHECK(optional, name, " is required but undefined");
    return;
  }
  NORMRT_CHECK(t.numel() == channels, name, " should contain ", channels, " elements not ", t.numel());
}

// PyTorch's mixed-type rule: the defined parameters and buffers share one dtype, the input's or, for a 16-bit input,
// float32.
void check_dtypes(const Tensor& input, std::initializer_list<const Tensor*> parameters) {
  const char* device = input.device().is_cpu() ? "CPU" : "CUDA";
  std::optional<DType> common;
  for (const Tensor* t : parameters) {
    if (!t->defined()) continue;
    const bool allowed = t->dtype() == input.dtype() || t->dtype() == DType::Float32;
    NORMRT_CHECK(allowed && (!common || *common == t->dtype()), "mixed dtype (", device,
                 "): expect parameter to have scalar type of Float");
    common = t->dtype();
  }
}

// A per-channel tensor as the float32 the backends take: itself, or a converted copy.
Tensor as_float(const Tensor& t) { return t.defined() && t.dtype() != DType::Float32 ? t.to(DType::Float32) : t; }

float* fptr(const Tensor& t) { return t.defined() ? static_cast<float*>(t.raw_data()) : nullptr; }

using bn::like_input;
using bn::typed;

// An operand of the input's shape (residual, grad_output, a fused forward's output): same dtype when `same_dtype`,
// any memory format (brought to the input's), in the dtype `element` the backend takes.
Tensor elementwise_operand(const Tensor& t, const Tensor& input, const char* name, bool same_dtype, DType element) {
  NORMRT_CHECK(t.sizes() == input.sizes(), name, " shape ", shape_str(t.sizes()), " does not match input shape ",
               shape_str(input.sizes()));
  NORMRT_CHECK(is_bn_dtype(t.dtype()) && (!same_dtype || t.dtype() == input.dtype()), name,
               " must have the input's dtype ", dtype_name(input.dtype()), ", got ", dtype_name(t.dtype()));
  return t.to(input.memory_format()).to(element);
}

// The backend of one call. The CPU backend and the CUDA kernels take float16/bfloat16 elements as they are; cuDNN as
// its plan says.
struct Route {
  bool cpu = false, cudnn = false;
  DType element = DType::Float32;
#if NORMRT_WITH_CUDA
  bn::CudnnCall cudnn_call;  // when cudnn
#endif
};

// Params of the route's element type filled by `fill`, run by the route's backend: cpu, cudnn or cuda.
template <template <typename> class Params, typename Fill, typename Cpu, typename Cudnn, typename Cuda>
void run_route(const Route& route, const Fill& fill, const Cpu& cpu, const Cudnn& cudnn, const Cuda& cuda) {
  util::dispatch_element(route.element, [&](auto element) {
    Params<decltype(element)> p;
    fill(p);
    if (route.cpu) cpu(p);
    else if (route.cudnn) cudnn(p);
    else cuda(p);
  });
}

// The fused epilogue after cuDNN, as a pass of its own (cuDNN's plan takes float32 copies whenever it needs one).
template <typename Params>
void epilogue_after_cudnn([[maybe_unused]] const Params& p, [[maybe_unused]] const Device& device) {
#if NORMRT_WITH_CUDA
  if constexpr (std::is_same_v<typename Params::Element, float>) bn::cuda_epilogue(p, device);
#endif
}

// `count` float32 vectors of `channels`, then `tail` floats, as views of one allocation on `device`, each starting
// 256 bytes from the block's start (cudaMalloc's alignment) or a multiple of that: a call allocates its per-channel
// outputs and its kernels' workspace once (each allocation and free is a driver call on a GPU).
std::vector<Tensor> channel_block(int64_t channels, int count, int64_t tail, const Device& device) {
  constexpr int64_t kAlignFloats = 64;
  const int64_t stride = (channels + kAlignFloats - 1) / kAlignFloats * kAlignFloats;
  const Tensor block = empty({stride * count + tail}, TensorOptions(device));
  std::vector<Tensor> views;
  for (int i = 0; i < count; ++i) views.push_back(detail::leading_rows(block, i * stride, channels));
  if (tail > 0) views.push_back(detail::leading_rows(block, count * stride, tail));
  return views;
}

// The custom kernels' workspace for a training pass of geometry g on `device` (floats; none on the CPU).
int64_t workspace_floats([[maybe_unused]] const bn::Geometry& g, [[maybe_unused]] const Device& device) {
#if NORMRT_WITH_CUDA
  if (device.is_cuda()) return static_cast<int64_t>(bn::cuda_workspace_floats(g, device));
#endif
  return 0;
}

// What either forward hands its backend: input and residual as the route's elements, the per-channel tensors as
// float32 (copies of 16-bit ones, which a training step writes back), and the outputs (`stats`: save_mean and
// save_invstd).
struct ForwardOperands {
  Tensor x, residual, w, b, rm, rv;
  BatchNormForwardResult result;
  ForwardOperands(const Tensor& input, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                  const Tensor& running_var, const Tensor& epilogue_residual, const Route& route,
                  const std::vector<Tensor>& stats)
      : x(input.to(route.element)),
        residual(epilogue_residual.defined()
                     ? elementwise_operand(epilogue_residual, input, "residual", true, route.element)
                     : Tensor()),
        w(as_float(weight)),
        b(as_float(bias)),
        rm(as_float(running_mean)),
        rv(as_float(running_var)),
        result{like_input(input, route.element), stats[0], stats[1], Tensor(), Tensor()} {}
  // The fields both forwards' params have.
  template <typename P>
  void fill(P& p, const bn::Geometry& g, double eps, bool relu) const {
    using T = typename P::Element;
    p.geometry = g;
    p.x = typed<const T>(x);
    p.weight = fptr(w);
    p.bias = fptr(b);
    p.y = typed<T>(result.output);
    p.save_mean = fptr(result.save_mean);
    p.save_invstd = fptr(result.save_invstd);
    p.running_mean = fptr(rm);
    p.running_var = fptr(rv);
    p.eps = eps;
    p.residual = typed<const T>(residual);
    p.relu = relu;
  }
};

// Writes a float32 working copy back into a parameter or buffer of another dtype (nothing when they are one).
void write_back(Tensor target, const Tensor& working) {
  if (target.defined() && !target.is_same(working)) target.copy_(working.to(target.dtype()));
}

void check_eps(double eps) {
  NORMRT_CHECK(std::isfinite(eps) && eps >= 0, "eps must be a non-negative finite number, got ", eps);
}

template <typename T>
T* ptr(const Tensor& t) {
  return t.defined() ? const_cast<T*>(t.data<T>()) : nullptr;
}

#if !NORMRT_WITH_CUDA
[[noreturn]] void no_cuda_backend() {
  NORMRT_THROW("BatchNorm on CUDA tensors needs a build with CUDA (NORMRT_WITH_CUDA)");
}
#endif

// What a call adds to its geometry for choosing cuDNN and planning its run.
struct CallTraits {
  bool affine = false, cumulative_average = false, relu = false, residual = false, forward_fused = false;
  double eps = 0.0;
};

// Which implementation runs this call (see batchnorm_choice.cpp); a CuDNN request that cannot be honoured is logged.
Route route_of(const Tensor& input, [[maybe_unused]] std::optional<Backend> backend, [[maybe_unused]] bn::Pass pass,
               [[maybe_unused]] const CallTraits& traits) {
  Route route;
  route.cpu = input.device().is_cpu();
  route.element = input.dtype();
  if (route.cpu) return route;
#if NORMRT_WITH_CUDA
  const bn::Geometry dims = bn::dims_of(input);
  const bn::CudnnRequest request{!input.is_contiguous(), input.dtype(), traits.relu, traits.residual,
                                 traits.forward_fused};
  const bn::BackendChoice choice = bn::choose_backend(backend.value_or(default_backend()), input.device(), dims, pass,
                                                      traits.affine, traits.cumulative_average, traits.eps, request);
  if (!choice.reason.empty())
    detail::debug_log(detail::concat("BatchNorm: cudnn requested, running native: ", choice.reason));
  route.cudnn = choice.backend == Backend::CuDNN;
  if (route.cudnn) {
    route.cudnn_call = {dims, choice.plan};
    if (choice.plan.float32_copies) route.element = DType::Float32;
  }
#else
  no_cuda_backend();
#endif
  return route;
}

}  // namespace

}  // namespace normrt::ops

namespace normrt::bn {

bn::Geometry dims_of(const Tensor& input) {
  bn::Geometry g{input.size(0), input.size(1), 1};
  for (int64_t d = 2; d < input.dim(); ++d) g.S *= input.size(d);
  return g;
}

bn::Geometry geometry_of(const Tensor& input) {
  bn::Geometry g = dims_of(input);
  if (!input.is_contiguous()) {
    g.N *= g.S;
    g.S = 1;
  }
  return g;
}

}  // namespace normrt::bn

namespace normrt::ops {

using bn::geometry_of;

BatchNormForwardResult batch_norm_forward_training(const Tensor& input, const Tensor& weight, const Tensor& bias,
                                                   const Tensor& running_mean, const Tensor& running_var,
                                                   const Tensor& num_batches_tracked,
                                                   std::optional<double> momentum, double eps,
                                                   std::optional<Backend> backend,
                                                   const BatchNormEpilogue& epilogue) {
  const detail::NvtxRange range("batch_norm_forward_training");
  check_input(input, "input");
  const bn::Geometry g = geometry_of(input);
  // F.batch_norm checks the batch's size first (_verify_batch_size), then the per-channel tensors.
  NORMRT_CHECK(g.per_channel() != 1, "Expected more than 1 value per channel when training, got input size ",
               util::torch_size_str(input.sizes()));
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
  check_dtypes(input, {&weight, &bias, &running_mean, &running_var});
  check_same_device({&input, &weight, &bias, &running_mean, &running_var, &num_batches_tracked, &epilogue.residual});
  CallTraits traits;
  traits.affine = weight.defined() && bias.defined();
  traits.cumulative_average = !momentum.has_value();
  traits.relu = epilogue.relu;
  traits.residual = epilogue.residual.defined();
  traits.eps = eps;
  const Route route = route_of(input, backend, bn::Pass::ForwardTraining, traits);
  // save_mean, save_invstd, save_mean_low, and the kernels' workspace.
  const std::vector<Tensor> block = channel_block(g.C, 3, workspace_floats(g, input.device()), input.device());
  [[maybe_unused]] float* const workspace = block.size() > 3 ? fptr(block[3]) : nullptr;
  const ForwardOperands operands(input, weight, bias, running_mean, running_var, epilogue.residual, route, block);
  Tensor cudnn_reserve;
  // What rounding each mean to float left, for the compensated centering of the forward and backward: every backend
  // but cuDNN (which centres on its own) writes it.
  Tensor save_mean_low = block[2];
  auto fill = [&](auto& p) {
    operands.fill(p, g, eps, epilogue.relu);
    p.save_mean_low = fptr(save_mean_low);
    p.num_batches_tracked = ptr<int64_t>(num_batches_tracked);
    p.cumulative_average = !momentum.has_value();
    p.momentum = momentum.value_or(0.0);
  };
  run_route<bn::ForwardTrainingParamsOf>(
      route, fill, [](const auto& p) { bn::cpu_forward_training(p); },
      [&](const auto& p) {
#if NORMRT_WITH_CUDA
        if (!bn::cudnn_forward_training(p, route.cudnn_call, cudnn_reserve, input.device())) {
          detail::debug_log("BatchNorm: cuDNN does not fuse this ReLU, running native");
          bn::cuda_forward_training(p, input.device(), workspace);
          return;
        }
        save_mean_low = Tensor();
        if (!route.cudnn_call.plan.fused) epilogue_after_cudnn(p, input.device());
#else
        (void)p;
#endif
      },
      [&](const auto& p) {
#if NORMRT_WITH_CUDA
        bn::cuda_forward_training(p, input.device(), workspace);
#else
        (void)p;
#endif
      });
  write_back(running_mean, operands.rm);
  write_back(running_var, operands.rv);
  for (const Tensor* updated : {&running_mean, &running_var, &num_batches_tracked})
    if (updated->defined()) updated->bump_version();
  BatchNormForwardResult result = operands.result;
  result.output = result.output.to(input.dtype());
  result.cudnn_reserve = cudnn_reserve;
  result.save_mean_low = save_mean_low;
  return result;
}

BatchNormForwardResult batch_norm_forward_inference(const Tensor& input, const Tensor& weight, const Tensor& bias,
                                                    const Tensor& running_mean, const Tensor& running_var,
                                                    double eps, std::optional<Backend> backend,
                                                    const BatchNormEpilogue& epilogue) {
  const detail::NvtxRange range("batch_norm_forward_inference");
  check_input(input, "input");
  const bn::Geometry g = geometry_of(input);
  NORMRT_CHECK(running_mean.defined(), "running_mean must be defined in evaluation mode");
  check_channel_vector(running_mean, "running_mean", g.C, false);
  NORMRT_CHECK(running_var.defined(), "running_var must be defined in evaluation mode");
  check_channel_vector(running_var, "running_var", g.C, false);
  check_channel_vector(weight, "weight", g.C, true);
  check_channel_vector(bias, "bias", g.C, true);
  check_eps(eps);
  check_dtypes(input, {&weight, &bias, &running_mean, &running_var});
  check_same_device({&input, &weight, &bias, &running_mean, &running_var, &epilogue.residual});
  CallTraits traits;
  traits.affine = weight.defined() && bias.defined();
  traits.relu = epilogue.relu;
  traits.residual = epilogue.residual.defined();
  traits.eps = eps;
  const Route route = route_of(input, backend, bn::Pass::ForwardInference, traits);
  const ForwardOperands operands(input, weight, bias, running_mean, running_var, epilogue.residual, route,
                                 channel_block(g.C, 2, 0, input.device()));
  auto fill = [&](auto& p) { operands.fill(p, g, eps, epilogue.relu); };
  run_route<bn::ForwardInferenceParamsOf>(
      route, fill, [](const auto& p) { bn::cpu_forward_inference(p); },
      [&](const auto& p) {
#if NORMRT_WITH_CUDA
        bn::cudnn_forward_inference(p, route.cudnn_call, input.device());
        epilogue_after_cudnn(p, input.device());
#else
        (void)p;
#endif
      },
      [&](const auto& p) {
#if NORMRT_WITH_CUDA
        bn::cuda_forward_inference(p, input.device());
#else
        (void)p;
#endif
      });
  BatchNormForwardResult result = operands.result;
  result.output = result.output.to(input.dtype());
  return result;
}

BatchNormBackwardResult batch_norm_backward(const Tensor& grad_output, const Tensor& input, const Tensor& weight,
                                            const Tensor& save_mean, const Tensor& save_invstd, bool training,
                                            double eps, std::optional<Backend> backend,
                                            const BatchNormBackwardEpilogue& epilogue) {
  const detail::NvtxRange range("batch_norm_backward");
  check_input(input, "input");
  NORMRT_CHECK(grad_output.defined(), "grad_output is undefined");
  const bn::Geometry g = geometry_of(input);
  check_channel_vector(weight, "weight", g.C, true);
  check_channel_vector(save_mean, "save_mean", g.C, false);
  check_channel_vector(save_invstd, "save_invstd", g.C, false);
  check_eps(eps);
  check_dtypes(input, {&weight});
  for (const Tensor* saved : {&save_mean, &save_invstd})
    NORMRT_CHECK(saved->dtype() == DType::Float32, "save_mean and save_invstd must be float32 (as the forward returns "
                 "them), got ", dtype_name(saved->dtype()));
  check_channel_vector(epilogue.mean_low, "mean_low", g.C, true);
  NORMRT_CHECK(!epilogue.mean_low.defined() || epilogue.mean_low.dtype() == DType::Float32,
               "mean_low must be float32 (as the forward returns it), got ", dtype_name(epilogue.mean_low.dtype()));
  check_same_device({&grad_output, &input, &weight, &save_mean, &save_invstd, &epilogue.relu_output, &epilogue.bias,
                     &epilogue.cudnn_reserve, &epilogue.mean_low});
  CallTraits traits;
  traits.affine = weight.defined();
  traits.relu = epilogue.relu_output.defined();
  traits.residual = epilogue.residual;
  traits.forward_fused = epilogue.cudnn_reserve.defined();
  traits.eps = eps;
  const Route route =
      route_of(input, backend, training ? bn::Pass::BackwardTraining : bn::Pass::BackwardInference, traits);
#if NORMRT_WITH_CUDA
  const bool cudnn_fused = route.cudnn && route.cudnn_call.plan.fused;
#else
  const bool cudnn_fused = false;
#endif
  if (cudnn_fused) check_channel_vector(epilogue.bias, "bias", g.C, false);
  Tensor dy = elementwise_operand(grad_output, input, "grad_output", false, route.element);
  // The gradient past the ReLU (the residual's, and the normalisation's dy): the CUDA kernels (and cuDNN's fused
  // backward) mask dy as they read it and write grad_residual where they write dx; the CPU backend masks dy as it
  // reads it when there is no residual; otherwise (and for unfused cuDNN) it is a pass of its own first.
  const bool relu = epilogue.relu_output.defined();
  const bool kernels_mask = relu && (route.cpu ? !epilogue.residual : !route.cudnn || cudnn_fused);
  const Tensor relu_output =
      relu ? elementwise_operand(epilogue.relu_output, input, "relu_output", true, route.element) : Tensor();
  Tensor grad_residual = kernels_mask && epilogue.residual ? like_input(input, route.element) : Tensor();
  if (relu && !kernels_mask) {
    Tensor passed = like_input(input, route.element);
    if (route.cpu) {
      util::dispatch_element(route.element, [&](auto element) {
        using T = decltype(element);
        bn::cpu_relu_gradient(typed<const T>(dy), typed<const T>(relu_output), typed<T>(passed), input.numel());
      });
    } else {
#if NORMRT_WITH_CUDA
      bn::cuda_relu_gradient(fptr(dy), fptr(relu_output), fptr(passed), input.numel(), input.device());
#endif
    }
    dy = passed;
  }
  if (epilogue.residual && !grad_residual.defined()) grad_residual = dy;

  const Tensor x = input.to(route.element), w = as_float(weight), fused_bias = as_float(epilogue.bias);
  Tensor grad_input = like_input(input, route.element);
  // grad_weight and grad_bias (with a weight), and the kernels' workspace.
  const int vectors = weight.defined() ? 2 : 0;
  const std::vector<Tensor> block = channel_block(g.C, vectors, workspace_floats(g, input.device()), input.device());
  [[maybe_unused]] float* const workspace =
      static_cast<int>(block.size()) > vectors ? fptr(block[static_cast<std::size_t>(vectors)]) : nullptr;
  Tensor grad_weight, grad_bias;
  if (weight.defined()) {
    grad_weight = block[0];
    grad_bias = block[1];
  }
  auto fill = [&](auto& p) {
    using T = typename std::decay_t<decltype(p)>::Element;
    p.geometry = g;
    p.dy = typed<const T>(dy);
    p.x = typed<const T>(x);
    p.weight = fptr(w);
    p.mean = fptr(save_mean);
    p.invstd = fptr(save_invstd);
    if (training) p.mean_low = fptr(epilogue.mean_low);  // cuDNN's backward centres on save_mean alone
    p.dx = typed<T>(grad_input);
    p.dweight = fptr(grad_weight);
    p.dbias = fptr(grad_bias);
    p.training = training;
    if (kernels_mask) {
      p.relu_output = typed<const T>(relu_output);
      p.grad_residual = typed<T>(grad_residual);
    }
    if (cudnn_fused) p.bias = fptr(fused_bias);
  };
  run_route<bn::BackwardParamsOf>(
      route, fill, [](const auto& p) { bn::cpu_backward(p); },
      [&](const auto& p) {
#if NORMRT_WITH_CUDA
        bn::cudnn_backward(p, route.cudnn_call, epilogue.cudnn_reserve, eps, input.device());
#else
        (void)p;
#endif
      },
      [&](const auto& p) {
#if NORMRT_WITH_CUDA
        bn::cuda_backward(p, input.device(), workspace);
#else
        (void)p;
#endif
      });
  BatchNormBackwardResult result;
  if (grad_residual.defined()) result.grad_residual = grad_residual.to(input.dtype());
  result.grad_input = grad_input.to(input.dtype());
  if (weight.defined()) {
    result.grad_weight = grad_weight.to(weight.dtype());
    result.grad_bias = grad_bias.to(weight.dtype());
  }
  return result;
}

}  // namespace normrt::ops
