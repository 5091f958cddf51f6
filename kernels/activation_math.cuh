// Per-element arithmetic of the activations whose gradient is computed from their input (leaky ReLU, the ELU family,
// GELU, SiLU, Mish, softplus and the hard ones), shared by the CPU loops and the CUDA kernels. Formulas and operation
// order follow PyTorch 1.13's CPU kernels, with two deliberate differences: GELU keeps its accuracy in the lower tail
// (in float32, PyTorch's 0.5 (1 + erf(x / sqrt 2)) loses its digits below x = -5, where 1 + erf cancels, its tanh
// form's 1 + tanh likewise, and ELU's e^x - 1 below |x| = 1e-3), and e^x, e^x - 1 and the CDF are float_math.cuh's,
// so that every device computes the same bits.
#pragma once
#include "float_math.cuh"
#include "hd.h"

namespace normrt::nnmath {

enum class InputActivation { LeakyReLU, ELU, GELU, GELUTanh, SiLU, Mish, Softplus, Hardtanh, Hardswish, Hardsigmoid };

// The parameters, by kind: LeakyReLU a = negative_slope; ELU (ELU, SELU, CELU) a = alpha * scale, b = scale,
// c = input_scale; Softplus a = beta, b = threshold; Hardtanh a = min_val, b = max_val.
struct ActivationCoefficients {
  float a = 0.0f, b = 0.0f, c = 0.0f;
};

constexpr float kGeluTanhBeta = 0.797884560802865355f;  // sqrt(2 / pi)
constexpr float kGeluTanhKappa = 0.044715f;

// sigmoid(v) and 1 - sigmoid(v) from e^-|v|: neither overflows for v far below 0 (where PyTorch's 1 / (1 + e^-v)
// becomes 0 and x sigmoid(x) loses the last normal floats) nor cancels.
struct SigmoidPair {
  float s, complement;
};

NORMRT_HD NORMRT_FMATH_INLINE SigmoidPair sigmoid_pair(float v) {
  const float e = fmath::exp(v < 0.0f ? v : -v);
  const float inverse = 1.0f / (1.0f + e);
  return {fmath::blend(v < 0.0f, e, 1.0f) * inverse, fmath::blend(v < 0.0f, 1.0f, e) * inverse};
}

// GELU's tanh approximation is 0.5 x (1 + tanh u) with u = sqrt(2 / pi) (x + 0.044715 x^3).
NORMRT_HD NORMRT_FMATH_INLINE float gelu_tanh_inner(float x) {
  return kGeluTanhBeta * (x + kGeluTanhKappa * (x * x * x));
}

// GELU's gradient dy (Phi(x) + x phi(x)), phi = e^-x^2/2 / sqrt(2 pi) the density: normal_parts' one exponential
// serves both (a second one for the density cost the CPU backward 1.37x).
NORMRT_HD NORMRT_FMATH_INLINE float gelu_backward(float dy, float x) {
  const fmath::NormalParts p = fmath::normal_parts(x);
  return dy * (p.cdf + x * p.density);
}

// Selects are fmath::blend where a side computes: GCC does not speculate floating-point operations for one side of
// a ?: (they might trap), and a branch keeps the CPU loop from vectorising (leaky ReLU ran 7x slower).
NORMRT_HD inline float input_activation_forward(InputActivation kind, const ActivationCoefficients& k, float x) {
  switch (kind) {
    case InputActivation::LeakyReLU: return fmath::blend(x > 0.0f, x, x * k.a);
    case InputActivation::ELU: return fmath::blend(x <= 0.0f, fmath::expm1(x * k.c) * k.a, x * k.b);
    case InputActivation::GELU: return x * fmath::normal_parts(x).cdf;
    case InputActivation::GELUTanh:  // 0.5 x (1 + tanh u) = x sigmoid(2u), without 1 + tanh's cancellation below 0
      return x * sigmoid_pair(2.0f * gelu_tanh_inner(x)).s;
    case InputActivation::SiLU: return x * sigmoid_pair(x).s;
    case InputActivation::Mish: return x * fmath::tanh(fmath::log1p(fmath::exp(x)));
    case InputActivation::Softplus: {
      const float scaled = x * k.a;
      return fmath::blend(scaled > k.b, x, fmath::log1p(fmath::exp(scaled)) / k.a);
    }
    case InputActivation::Hardtanh: {  // min(max(x, min_val), max_val) with NaN kept, as torch.clamp
      const float low = x < k.a ? k.a : x;
      return low > k.b ? k.b : low;
    }
    case InputActivation::Hardswish:
    case InputActivation::Hardsigmoid: {
      const float shifted = x + 3.0f;  // clamped to [0, 6] with NaN kept, as std::min(std::max(.))
      const float ramp = shifted < 0.0f ? 0.0f : (6.0f < shifted ? 6.0f : shifted);
      return kind == InputActivation::Hardswish ? x * ramp / 6.0f : ramp / 6.0f;
    }
  }
  return x;
}

// d activation / dx times dy, from the forward's input x. Where PyTorch's vectorised CPU loops and their scalar tails
// disagree (the gradient at a NaN input; hardswish's at x = 3), these follow the vectorised loops, which compute all
// but the last few elements of a tensor.
NORMRT_HD inline float input_activation_backward(InputActivation kind, const ActivationCoefficients& k, float dy,
                                                 float x) {
  switch (kind) {
    case InputActivation::LeakyReLU: return fmath::blend(x > 0.0f, dy, dy * k.a);
    case InputActivation::ELU: return fmath::blend(x > 0.0f, dy * k.b, dy * k.c * k.a * fmath::exp(x * k.c));
    case InputActivation::GELU: return gelu_backward(dy, x);
    case InputActivation::GELUTanh: {  // with s = sigmoid(2u): 0.5 (1 + tanh u) = s, 1 - tanh^2 u = 4 s (1 - s)
      const auto [s, complement] = sigmoid_pair(2.0f * gelu_tanh_inner(x));
      const float m = fmath::blend((x > 1e4f) | (x < -1e4f), 1e4f, x);  // s (1 - s) is 0 beyond: keep inf out of it
      const float inner_derivative = kGeluTanhBeta * (1.0f + 3.0f * kGeluTanhKappa * (m * m));
      return dy * (s + 2.0f * x * s * complement * inner_derivative);
    }
    case InputActivation::SiLU: {
      const auto [s, complement] = sigmoid_pair(x);
      return dy * s * (1.0f + x * complement);
    }
    case InputActivation::Mish: {
      const float s = sigmoid_pair(x).s;
      const float t = fmath::tanh(fmath::log1p(fmath::exp(x)));
      return dy * (t + x * s * (1.0f - t * t));
    }
    case InputActivation::Softplus: {
      const float scaled = x * k.a;
      const float z = fmath::exp(scaled);
      return fmath::blend(scaled > k.b, dy, dy * z / (z + 1.0f));
    }
    case InputActivation::Hardtanh: return fmath::blend((x > k.a) & (x < k.b), dy, 0.0f);
    case InputActivation::Hardswish:
      return fmath::blend(x < -3.0f, 0.0f, fmath::blend(x >= 3.0f, dy, dy * (x / 3.0f + 0.5f)));
    case InputActivation::Hardsigmoid: return fmath::blend((x > -3.0f) & (x < 3.0f), dy * (1.0f / 6.0f), 0.0f);
  }
  return dy;
}

// PReLU (PyTorch's prelu kernels): x where x > 0, w x elsewhere (NaN too), w the element's channel's weight; its input
// gradient, and each element's term of the weight's gradient (x dy where x is not positive).
NORMRT_HD inline float prelu_forward(float x, float w) { return x > 0.0f ? x : w * x; }
NORMRT_HD inline float prelu_input_grad(float dy, float x, float w) { return x > 0.0f ? dy : w * dy; }
NORMRT_HD inline float prelu_weight_term(float dy, float x) { return x > 0.0f ? 0.0f : x * dy; }

// The channel of element `stored` (memory order) of an (N, C, spatial) tensor in either layout; 0 for a weight
// shared by every channel.
struct PReLUChannels {
  int64_t channels = 1, spatial = 1;
  bool channels_last = false, shared = true;
};

NORMRT_HD inline int64_t prelu_channel(const PReLUChannels& g, int64_t stored) {
  if (g.shared) return 0;
  return g.channels_last ? stored % g.channels : stored / g.spatial % g.channels;
}

}  // namespace normrt::nnmath
