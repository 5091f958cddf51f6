// normrt::ops activations: argument checks, the CPU loops (each specialised for its kind, so that it vectorises) and
// dispatch to kernels/activation.cu. The per-element arithmetic is nn_math.cuh's and activation_math.cuh's.
#include "normrt/ops/activation.h"

#include <algorithm>
#include <type_traits>

#include "activation_math.cuh"
#include "cpu_threads.h"
#include "cuda_launch.h"
#include "nn_math.cuh"
#include "normrt/error.h"
#include "normrt/ops/tensor_ops.h"
#include "nvtx.h"
#include "op_util.h"
#include "wide_vectors.h"
#if NORMRT_WITH_CUDA
#include "activation.cuh"
#endif

namespace normrt::ops {

using util::check_float;
using util::check_pair;
using util::check_same_device;
using util::check_same_shape;
using util::like;
#if NORMRT_WITH_CUDA
using util::Launch;
#else
using util::no_cuda;
#endif

namespace {

nnmath::Activation math_kind(Activation kind) {
  switch (kind) {
    case Activation::ReLU: return nnmath::Activation::ReLU;
    case Activation::Sigmoid: return nnmath::Activation::Sigmoid;
    case Activation::Tanh: return nnmath::Activation::Tanh;
  }
  return nnmath::Activation::ReLU;
}

nnmath::InputActivation math_kind(InputActivation::Kind kind) {
  using K = InputActivation::Kind;
  using M = nnmath::InputActivation;
  switch (kind) {
    case K::LeakyReLU: return M::LeakyReLU;
    case K::ELU: return M::ELU;
    case K::GELU: return M::GELU;
    case K::GELUTanh: return M::GELUTanh;
    case K::SiLU: return M::SiLU;
    case K::Mish: return M::Mish;
    case K::Softplus: return M::Softplus;
    case K::Hardtanh: return M::Hardtanh;
    case K::Hardswish: return M::Hardswish;
    case K::Hardsigmoid: return M::Hardsigmoid;
  }
  return M::LeakyReLU;
}

nnmath::ActivationCoefficients coefficients(const InputActivation& f) {
  return {static_cast<float>(f.a), static_cast<float>(f.b), static_cast<float>(f.c)};
}

// Calls fn with the kind as a compile-time constant, so each CPU loop is specialised (and vectorised) for it.
template <typename Fn>
void with_activation(nnmath::Activation kind, Fn fn) {
  using A = nnmath::Activation;
  switch (kind) {
    case A::ReLU: return fn(std::integral_constant<A, A::ReLU>());
    case A::Sigmoid: return fn(std::integral_constant<A, A::Sigmoid>());
    case A::Tanh: return fn(std::integral_constant<A, A::Tanh>());
  }
}

template <typename Fn>
void with_activation(nnmath::InputActivation kind, Fn fn) {
  using A = nnmath::InputActivation;
  switch (kind) {
    case A::LeakyReLU: return fn(std::integral_constant<A, A::LeakyReLU>());
    case A::ELU: return fn(std::integral_constant<A, A::ELU>());
    case A::GELU: return fn(std::integral_constant<A, A::GELU>());
    case A::GELUTanh: return fn(std::integral_constant<A, A::GELUTanh>());
    case A::SiLU: return fn(std::integral_constant<A, A::SiLU>());
    case A::Mish: return fn(std::integral_constant<A, A::Mish>());
    case A::Softplus: return fn(std::integral_constant<A, A::Softplus>());
    case A::Hardtanh: return fn(std::integral_constant<A, A::Hardtanh>());
    case A::Hardswish: return fn(std::integral_constant<A, A::Hardswish>());
    case A::Hardsigmoid: return fn(std::integral_constant<A, A::Hardsigmoid>());
  }
}

// A backward's operands checked (the gradient and the saved tensor: float32, or one 16-bit dtype when `reduced`, of
// one shape on one device), the gradient in the saved tensor's memory format, and the result to fill.
struct BackwardOperands {
  Tensor dy, dx;
};

BackwardOperands backward_operands(const Tensor& grad_output, const Tensor& saved, const char* saved_name,
                                   bool reduced) {
  if (reduced) {
    check_same_shape(grad_output, "grad_output", saved, saved_name);
    check_same_device(grad_output, saved);
  } else {
    check_pair(grad_output, "grad_output", saved, saved_name);
  }
  return {grad_output.to(saved.memory_format()), empty(saved.sizes(), like(saved))};
}

// PReLU's checks (PyTorch's messages) and the channel of each element.
nnmath::PReLUChannels prelu_channels(const Tensor& input, const Tensor& weight) {
  NORMRT_CHECK(input.defined() && weight.defined(), "prelu: input or weight is undefined");
  nnmath::PReLUChannels g;
  g.channels = input.dim() >= 2 ? input.size(1) : 1;
  // A weight per channel needs channels (a single one takes a 0-dim input too), then the weight's rank, as PyTorch.
  if (weight.numel() != 1) {
    NORMRT_CHECK(input.dim() > 0, "Not allow zero-dim input tensor.");
    NORMRT_CHECK(weight.numel() == g.channels, "Mismatch of parameter numbers and input channel size. Found parameter "
                 "numbers = ", weight.numel(), " and channel size = ", g.channels, ".");
  }
  NORMRT_CHECK(weight.dim() <= 1, "prelu: Expected `weight` to be a scalar or 1D tensor, but got ndim = ",
               weight.dim());
  NORMRT_CHECK(weight.dtype() == DType::Float32 || weight.dtype() == input.dtype(), "prelu: weight must be float32 or "
               "of the input's dtype (", dtype_name(input.dtype()), "), got ", dtype_name(weight.dtype()));
  check_same_device(input, weight);
  g.shared = weight.numel() == 1;
  g.channels_last = !input.is_contiguous();
  g.spatial = input.numel() / std::max<int64_t>(1, (input.dim() >= 2 ? input.size(0) : 1) * g.channels);
  return g;
}

// fn(first, count, weight index or -1 for per-element weights 0..C-1) over the runs of elements in memory order that
// share a weight (contiguous: a channel's plane; channels-last: a pixel's row of channels, each its own; one weight:
// slices of kSharedRun elements, in parallel).
template <typename Fn>
void for_each_prelu_run(const nnmath::PReLUChannels& g, int64_t n, Fn fn) {
  // Nothing to do, and a run of an empty input is 0 elements long: an OpenMP loop's trip count divides by its step.
  if (n == 0) return;
  if (g.shared) {
    constexpr int64_t kSharedRun = int64_t{1} << 16;
#pragma omp parallel for schedule(static) if (cpu::worth_parallel(n))
    for (int64_t first = 0; first < n; first += kSharedRun) fn(first, std::min(kSharedRun, n - first), int64_t{0});
    return;
  }
  if (g.channels_last) {
#pragma omp parallel for schedule(static) if (cpu::worth_parallel(n))
    for (int64_t first = 0; first < n; first += g.channels) fn(first, g.channels, int64_t{-1});
    return;
  }
#pragma omp parallel for schedule(static) if (cpu::worth_parallel(n))
  for (int64_t first = 0; first < n; first += g.spatial) fn(first, g.spatial, first / g.spatial % g.channels);
}

// The weight-gradient terms summed per weight: over everything (shared), over each channel's elements in memory order.
// One weight's terms are summed as lines (n / lines of them, in memory order) and then the lines' sums, `lines` the
// largest divisor of n up to kSharedLines, so that the first sums run in parallel (as one sum, the whole was a chain of
// additions on one core).
Tensor prelu_weight_sums(const nnmath::PReLUChannels& g, const Tensor& terms, int64_t n, const Tensor& weight) {
  Tensor sums;
  if (n == 0) {
    sums = zeros(weight.sizes(), weight.device());
  } else if (g.shared) {
    constexpr int64_t kSharedLines = 4096;
    int64_t lines = std::min(n, kSharedLines);
    while (n % lines != 0) --lines;
    sums = sum(sum(terms.reshape({lines, n / lines}), 1), 0);
  } else if (g.channels_last) {
    sums = sum(terms.reshape({n / g.channels, g.channels}), 0);
  } else {
    sums = sum(sum(terms.reshape({n / (g.channels * g.spatial), g.channels, g.spatial}), 2), 0);
  }
  return sums.reshape(weight.sizes()).to(weight.dtype());
}

}  // namespace

Tensor prelu(const Tensor& input, const Tensor& weight) {
  const detail::NvtxRange range("prelu");
  const nnmath::PReLUChannels g = prelu_channels(input, weight);
  if (!util::is_16bit(input.dtype())) check_float(input, "input");
  const Tensor w = util::widened(weight);
  const int64_t n = input.numel();
  if (input.device().is_cuda()) {
#if NORMRT_WITH_CUDA
    Tensor out = empty(input.sizes(), like(input));
    Launch l(input);
    util::dispatch_element(input.dtype(), [&](auto element) {
      using T = decltype(element);
      cuda::prelu_forward(g, util::stored<T>(input), w.data<float>(), util::stored<T>(out), n, l.sms, l.stream);
    });
    return out;
#else
    no_cuda("prelu");
#endif
  }
  if (util::is_16bit(input.dtype())) return prelu(util::widened(input), w).to(input.dtype());
  Tensor out = empty(input.sizes(), like(input));
  const float *x = util::stored<float>(input), *wv = w.data<float>();
  float* y = util::stored<float>(out);
  for_each_prelu_run(g, n, [&](int64_t first, int64_t count, int64_t c) {
    if (c >= 0) {
      const float wc = wv[c];
      for (int64_t i = first; i < first + count; ++i) y[i] = nnmath::prelu_forward(x[i], wc);
    } else {
      for (int64_t j = 0; j < count; ++j) y[first + j] = nnmath::prelu_forward(x[first + j], wv[j]);
    }
  });
  return out;
}

PReLUGradients prelu_backward(const Tensor& grad_output, const Tensor& input, const Tensor& weight) {
  const detail::NvtxRange range("prelu_backward");
  const nnmath::PReLUChannels g = prelu_channels(input, weight);
  const bool reduced = util::is_16bit(input.dtype());
  NORMRT_CHECK(grad_output.defined() && grad_output.dtype() == input.dtype(), "prelu_backward: grad_output must be of "
               "the input's dtype");
  const BackwardOperands o = backward_operands(grad_output, input, "input", reduced);
  const Tensor w = util::widened(weight);
  const int64_t n = input.numel();
  Tensor terms = empty({n}, input.device());
  if (input.device().is_cuda()) {
#if NORMRT_WITH_CUDA
    Launch l(input);
    util::dispatch_element(input.dtype(), [&](auto element) {
      using T = decltype(element);
      cuda::prelu_backward(g, util::stored<T>(o.dy), util::stored<T>(input), w.data<float>(), util::stored<T>(o.dx),
                           terms.data<float>(), n, l.sms, l.stream);
    });
    return {o.dx, prelu_weight_sums(g, terms, n, weight)};
#else
    no_cuda("prelu_backward");
#endif
  }
  if (reduced) {
    PReLUGradients wide = prelu_backward(util::widened(o.dy), util::widened(input), weight);
    return {wide.grad_input.to(input.dtype()), wide.grad_weight};
  }
  const float *dy = util::stored<float>(o.dy), *x = util::stored<float>(input), *wv = w.data<float>();
  float *dx = util::stored<float>(o.dx), *t = terms.data<float>();
  for_each_prelu_run(g, n, [&](int64_t first, int64_t count, int64_t c) {
    for (int64_t i = first; i < first + count; ++i) {
      const float wi = c >= 0 ? wv[c] : wv[i - first];
      dx[i] = nnmath::prelu_input_grad(dy[i], x[i], wi);
      t[i] = nnmath::prelu_weight_term(dy[i], x[i]);
    }
  });
  return {o.dx, prelu_weight_sums(g, terms, n, weight)};
}

InputActivation InputActivation::leaky_relu(double negative_slope) {
  return {Kind::LeakyReLU, negative_slope, 0.0, 0.0};
}

InputActivation InputActivation::elu(double alpha) { return {Kind::ELU, alpha, 1.0, 1.0}; }

InputActivation InputActivation::selu() {
  constexpr double kAlpha = 1.6732632423543772848170429916717, kScale = 1.0507009873554804934193349852946;
  return {Kind::ELU, kAlpha * kScale, kScale, 1.0};
}

InputActivation InputActivation::celu(double alpha) {
  NORMRT_CHECK(alpha != 0.0, "ZeroDivisionError: alpha cannot be 0 for CELU");
  return {Kind::ELU, alpha, 1.0, 1.0 / alpha};
}

InputActivation InputActivation::gelu(const std::string& approximate) {
  NORMRT_CHECK(approximate == "none" || approximate == "tanh", "approximate argument must be either none or tanh.");
  return {approximate == "none" ? Kind::GELU : Kind::GELUTanh, 0.0, 0.0, 0.0};
}

InputActivation InputActivation::silu() { return {Kind::SiLU, 0.0, 0.0, 0.0}; }
InputActivation InputActivation::mish() { return {Kind::Mish, 0.0, 0.0, 0.0}; }

InputActivation InputActivation::softplus(double beta, double threshold) {
  return {Kind::Softplus, beta, threshold, 0.0};
}

InputActivation InputActivation::hardtanh(double min_val, double max_val) {
  return {Kind::Hardtanh, min_val, max_val, 0.0};
}

InputActivation InputActivation::hardswish() { return {Kind::Hardswish, 0.0, 0.0, 0.0}; }
InputActivation InputActivation::hardsigmoid() { return {Kind::Hardsigmoid, 0.0, 0.0, 0.0}; }

NORMRT_WIDE_VECTORS_BEGIN
Tensor activation(Activation kind, const Tensor& input) {
  const detail::NvtxRange range("activation");
  const auto h = util::reduced_dtype("activation", {&input});
  const int64_t n = input.numel();
  if (input.defined() && input.device().is_cuda()) {  // the kernels take float16 and bfloat16 as they are
#if NORMRT_WITH_CUDA
    if (!h) check_float(input, "input");
    Tensor out = empty(input.sizes(), like(input));
    Launch l(input);
    util::dispatch_element(input.dtype(), [&](auto element) {
      using T = decltype(element);
      cuda::activation_forward(math_kind(kind), util::stored<T>(input), util::stored<T>(out), n, l.sms, l.stream);
    });
    return out;
#else
    no_cuda("activation");
#endif
  }
  if (h) return activation(kind, util::widened(input)).to(*h);
  check_float(input, "input");
  Tensor out = empty(input.sizes(), like(input));
  const float* x = util::stored<float>(input);
  float* y = util::stored<float>(out);
  with_activation(math_kind(kind), [&](auto k) {
#pragma omp parallel for schedule(static) if (cpu::worth_parallel(n))
    for (int64_t i = 0; i < n; ++i) y[i] = nnmath::activation_forward(k, x[i]);
  });
  return out;
}
NORMRT_WIDE_VECTORS_END

Tensor activation_backward(Activation kind, const Tensor& grad_output, const Tensor& output) {
  const detail::NvtxRange range("activation_backward");
  const auto h = util::reduced_dtype("activation_backward", {&grad_output, &output});
  const int64_t n = output.numel();
  if (output.defined() && output.device().is_cuda()) {  // the kernels take float16 and bfloat16 as they are
#if NORMRT_WITH_CUDA
    const BackwardOperands o = backward_operands(grad_output, output, "output", h.has_value());
    Launch l(output);
    util::dispatch_element(output.dtype(), [&](auto element) {
      using T = decltype(element);
      cuda::activation_backward(math_kind(kind), util::stored<T>(o.dy), util::stored<T>(output),
                                util::stored<T>(o.dx), n, l.sms, l.stream);
    });
    return o.dx;
#else
    no_cuda("activation_backward");
#endif
  }
  if (h) return activation_backward(kind, util::widened(grad_output), util::widened(output)).to(*h);
  const BackwardOperands o = backward_operands(grad_output, output, "output", false);
  const float *dy = util::stored<float>(o.dy), *y = util::stored<float>(output);
  float* dx = util::stored<float>(o.dx);
  with_activation(math_kind(kind), [&](auto k) {
#pragma omp parallel for schedule(static) if (cpu::worth_parallel(n))
    for (int64_t i = 0; i < n; ++i) dx[i] = nnmath::activation_backward(k, dy[i], y[i]);
  });
  return o.dx;
}

NORMRT_WIDE_VECTORS_BEGIN
Tensor activation(const InputActivation& f, const Tensor& input) {
  const detail::NvtxRange range("activation");
  NORMRT_CHECK(input.defined(), "activation: input is undefined");
  const auto h = util::reduced_dtype("activation", {&input});
  const int64_t n = input.numel();
  const nnmath::InputActivation kind = math_kind(f.kind);
  const nnmath::ActivationCoefficients k = coefficients(f);
  if (input.defined() && input.device().is_cuda()) {  // the kernels take float16 and bfloat16 as they are
#if NORMRT_WITH_CUDA
    if (!h) check_float(input, "input");
    Tensor out = empty(input.sizes(), like(input));
    Launch l(input);
    util::dispatch_element(input.dtype(), [&](auto element) {
      using T = decltype(element);
      cuda::input_activation_forward(kind, k, util::stored<T>(input), util::stored<T>(out), n, l.sms, l.stream);
    });
    return out;
#else
    no_cuda("activation");
#endif
  }
  if (h) return activation(f, util::widened(input)).to(*h);
  check_float(input, "input");
  Tensor out = empty(input.sizes(), like(input));
  const float* x = util::stored<float>(input);
  float* y = util::stored<float>(out);
  with_activation(kind, [&, k](auto kind_constant) {  // k by value: a store to y cannot change it (the loop vectorises)
#pragma omp parallel for schedule(static) if (cpu::worth_parallel(n))
    for (int64_t i = 0; i < n; ++i) y[i] = nnmath::input_activation_forward(kind_constant, k, x[i]);
  });
  return out;
}

Tensor activation_backward(const InputActivation& f, const Tensor& grad_output, const Tensor& input) {
  const detail::NvtxRange range("activation_backward");
  NORMRT_CHECK(grad_output.defined() && input.defined(), "activation_backward: grad_output or input is undefined");
  const auto h = util::reduced_dtype("activation_backward", {&grad_output, &input});
  const int64_t n = input.numel();
  const nnmath::InputActivation kind = math_kind(f.kind);
  const nnmath::ActivationCoefficients k = coefficients(f);
  if (input.defined() && input.device().is_cuda()) {
#if NORMRT_WITH_CUDA
    const BackwardOperands o = backward_operands(grad_output, input, "input", h.has_value());
    Launch l(input);
    util::dispatch_element(input.dtype(), [&](auto element) {
      using T = decltype(element);
      cuda::input_activation_backward(kind, k, util::stored<T>(o.dy), util::stored<T>(input), util::stored<T>(o.dx),
                                      n, l.sms, l.stream);
    });
    return o.dx;
#else
    no_cuda("activation_backward");
#endif
  }
  if (h) return activation_backward(f, util::widened(grad_output), util::widened(input)).to(*h);
  const BackwardOperands o = backward_operands(grad_output, input, "input", false);
  const float *dy = util::stored<float>(o.dy), *x = util::stored<float>(input);
  float* dx = util::stored<float>(o.dx);
  with_activation(kind, [&, k](auto kind_constant) {
#pragma omp parallel for schedule(static) if (cpu::worth_parallel(n))
    for (int64_t i = 0; i < n; ++i) dx[i] = nnmath::input_activation_backward(kind_constant, k, dy[i], x[i]);
  });
  return o.dx;
}
NORMRT_WIDE_VECTORS_END

}  // namespace normrt::ops
