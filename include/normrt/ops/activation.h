// Activations, as torch.nn.functional's, on CPU and CUDA tensors of float32, float16 or bfloat16 (computed in float32,
// each output rounded once to the input's dtype), in any memory format (the result keeps the input's).
//
// ReLU, Sigmoid and Tanh take their gradient from the forward's output (what a layer keeps anyway); the others from
// its input. All of them share their per-element arithmetic between the CPU loops and the CUDA kernels
// (kernels/nn_math.cuh, kernels/activation_math.cuh): every device computes the same bits.
#pragma once
#include <string>

#include "normrt/tensor.h"

namespace normrt::ops {

enum class Activation { ReLU, Sigmoid, Tanh };

Tensor activation(Activation kind, const Tensor& input);
// Gradient from the forward's output.
Tensor activation_backward(Activation kind, const Tensor& grad_output, const Tensor& output);

// An activation whose gradient needs its input, with its parameters: made by the named constructors, which take
// torch.nn.functional's arguments and defaults.
struct InputActivation {
  enum class Kind { LeakyReLU, ELU, GELU, GELUTanh, SiLU, Mish, Softplus, Hardtanh, Hardswish, Hardsigmoid };

  // x > 0 ? x : negative_slope * x
  static InputActivation leaky_relu(double negative_slope = 0.01);
  // x > 0 ? x : alpha (e^x - 1)
  static InputActivation elu(double alpha = 1.0);
  // scale * elu(x, alpha) with PyTorch's constants (scale 1.0507..., alpha 1.6732...)
  static InputActivation selu();
  // x > 0 ? x : alpha (e^(x / alpha) - 1); alpha != 0
  static InputActivation celu(double alpha = 1.0);
  // x Phi(x) ("none", Phi the standard normal CDF) or its tanh approximation ("tanh")
  static InputActivation gelu(const std::string& approximate = "none");
  // x sigmoid(x)
  static InputActivation silu();
  // x tanh(softplus(x))
  static InputActivation mish();
  // ln(1 + e^(beta x)) / beta, x itself where beta x > threshold
  static InputActivation softplus(double beta = 1.0, double threshold = 20.0);
  // x clamped to [min_val, max_val] (max_val where min_val > max_val, as torch.clamp)
  static InputActivation hardtanh(double min_val = -1.0, double max_val = 1.0);
  static InputActivation relu6() { return hardtanh(0.0, 6.0); }
  // x relu6(x + 3) / 6
  static InputActivation hardswish();
  // relu6(x + 3) / 6
  static InputActivation hardsigmoid();

  Kind kind = Kind::LeakyReLU;
  // The ELU family's form: negative_coefficient * (e^(input_scale x) - 1) for x <= 0, positive_coefficient * x above.
  // LeakyReLU: a = negative_slope; ELU: a = alpha * scale, b = scale, c = input_scale; Softplus: a = beta,
  // b = threshold; Hardtanh: a = min_val, b = max_val.
  double a = 0.0, b = 0.0, c = 0.0;
};

Tensor activation(const InputActivation& f, const Tensor& input);
// d activation(input) / d input times grad_output.
Tensor activation_backward(const InputActivation& f, const Tensor& grad_output, const Tensor& input);

// torch.nn.functional.prelu: x where x > 0, weight[c] x elsewhere, c the element's channel (dimension 1; an input of
// fewer than 2 dimensions has one), or one weight for every channel. The weight (1-D, 1 or C elements) is float32 or
// the input's dtype; the output keeps the input's dtype and memory format. PyTorch's errors.
Tensor prelu(const Tensor& input, const Tensor& weight);
struct PReLUGradients {
  Tensor grad_input;   // the input's dtype and memory format
  Tensor grad_weight;  // the weight's shape and dtype: the sum over the elements of each channel of x dy where x <= 0
};
PReLUGradients prelu_backward(const Tensor& grad_output, const Tensor& input, const Tensor& weight);

// torch.nn.functional's spellings of the forwards.
inline Tensor leaky_relu(const Tensor& input, double negative_slope = 0.01) {
  return activation(InputActivation::leaky_relu(negative_slope), input);
}
inline Tensor elu(const Tensor& input, double alpha = 1.0) { return activation(InputActivation::elu(alpha), input); }
inline Tensor selu(const Tensor& input) { return activation(InputActivation::selu(), input); }
inline Tensor celu(const Tensor& input, double alpha = 1.0) { return activation(InputActivation::celu(alpha), input); }
inline Tensor gelu(const Tensor& input, const std::string& approximate = "none") {
  return activation(InputActivation::gelu(approximate), input);
}
inline Tensor silu(const Tensor& input) { return activation(InputActivation::silu(), input); }
inline Tensor mish(const Tensor& input) { return activation(InputActivation::mish(), input); }
inline Tensor softplus(const Tensor& input, double beta = 1.0, double threshold = 20.0) {
  return activation(InputActivation::softplus(beta, threshold), input);
}
inline Tensor hardtanh(const Tensor& input, double min_val = -1.0, double max_val = 1.0) {
  return activation(InputActivation::hardtanh(min_val, max_val), input);
}
inline Tensor relu6(const Tensor& input) { return activation(InputActivation::relu6(), input); }
inline Tensor hardswish(const Tensor& input) { return activation(InputActivation::hardswish(), input); }
inline Tensor hardsigmoid(const Tensor& input) { return activation(InputActivation::hardsigmoid(), input); }

}  // namespace normrt::ops
