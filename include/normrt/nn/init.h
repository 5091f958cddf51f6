// Parameter initialisers with torch.nn.init's definitions. Values are drawn on the host from `gen`
// (default_generator() when null) and copied to the tensor's device, so a seed gives the same values everywhere.
#pragma once
#include <string>

#include "normrt/generator.h"
#include "normrt/tensor.h"

namespace normrt::nn::init {

enum class FanMode { FanIn, FanOut };

// torch.nn.init.calculate_gain: "linear", "conv1d/2d/3d", "sigmoid" -> 1, "tanh" -> 5/3, "relu" -> sqrt(2),
// "leaky_relu" -> sqrt(2 / (1 + param^2)) (param default 0.01), "selu" -> 3/4.
double calculate_gain(const std::string& nonlinearity, double param = 0.01);
// (fan_in, fan_out) of a tensor of at least 2 dimensions: size(1) and size(0) times the receptive field.
std::pair<int64_t, int64_t> fans(const Tensor& t);

// t.fill_(value), as torch.nn.init.constant_: any dtype, on the tensor's device, its memory format kept.
void constant_(Tensor& t, Scalar value);
void zeros_(Tensor& t);
void ones_(Tensor& t);
void uniform_(Tensor& t, double a = 0.0, double b = 1.0, Generator* gen = nullptr);
void normal_(Tensor& t, double mean = 0.0, double std = 1.0, Generator* gen = nullptr);
void xavier_uniform_(Tensor& t, double gain = 1.0, Generator* gen = nullptr);
void xavier_normal_(Tensor& t, double gain = 1.0, Generator* gen = nullptr);
void kaiming_uniform_(Tensor& t, double a = 0.0, FanMode mode = FanMode::FanIn,
                      const std::string& nonlinearity = "leaky_relu", Generator* gen = nullptr);
void kaiming_normal_(Tensor& t, double a = 0.0, FanMode mode = FanMode::FanIn,
                     const std::string& nonlinearity = "leaky_relu", Generator* gen = nullptr);
// A (semi-)orthogonal matrix from the QR decomposition of a normal draw (signs fixed by R's diagonal), scaled by
// gain; tensors of more than 2 dimensions are flattened to (size(0), rest).
void orthogonal_(Tensor& t, double gain = 1.0, Generator* gen = nullptr);

}  // namespace normrt::nn::init
