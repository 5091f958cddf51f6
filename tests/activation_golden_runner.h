// The activations whose gradient needs their input (ops::activation(InputActivation), its backward and the modules)
// against PyTorch (tests/golden/make_golden_activation.py, float64 from float32 inputs), on one device: the CPU suite
// and the GPU suites share it.
#pragma once
#include <memory>
#include <sstream>

#include <nlohmann/json.hpp>

#include "normrt/nn/activation.h"
#include "golden_manifest.h"
#include "test_util.h"

namespace normrt::testing {

inline nlohmann::json activation_golden() {
  return read_manifest(golden_sibling_dir("data_activation") + "/cases.json");
}

inline std::vector<std::string> activation_golden_case_names() {
  const auto cases = activation_golden();
  std::vector<std::string> names;
  for (const auto& [name, c] : cases.items()) names.push_back(name);
  return names;
}

inline ops::InputActivation input_activation_of(const std::string& function, const nlohmann::json& args) {
  using F = ops::InputActivation;
  auto arg = [&](std::size_t i) { return args.at(i).get<double>(); };
  if (function == "leaky_relu") return F::leaky_relu(arg(0));
  if (function == "elu") return F::elu(arg(0));
  if (function == "selu") return F::selu();
  if (function == "celu") return F::celu(arg(0));
  if (function == "gelu") return F::gelu(args.at(0).get<std::string>());
  if (function == "silu") return F::silu();
  if (function == "mish") return F::mish();
  if (function == "softplus") return F::softplus(arg(0), arg(1));
  if (function == "hardtanh") return F::hardtanh(arg(0), arg(1));
  if (function == "relu6") return F::relu6();
  if (function == "hardswish") return F::hardswish();
  if (function == "hardsigmoid") return F::hardsigmoid();
  throw std::runtime_error("unknown activation " + function);
}

inline std::unique_ptr<nn::InputActivationModule> activation_module_of(const std::string& function,
                                                                       const nlohmann::json& args) {
  auto arg = [&](std::size_t i) { return args.at(i).get<double>(); };
  if (function == "leaky_relu") return std::make_unique<nn::LeakyReLU>(arg(0));
  if (function == "elu") return std::make_unique<nn::ELU>(arg(0));
  if (function == "selu") return std::make_unique<nn::SELU>();
  if (function == "celu") return std::make_unique<nn::CELU>(arg(0));
  if (function == "gelu") return std::make_unique<nn::GELU>(args.at(0).get<std::string>());
  if (function == "silu") return std::make_unique<nn::SiLU>();
  if (function == "mish") return std::make_unique<nn::Mish>();
  if (function == "softplus") return std::make_unique<nn::Softplus>(arg(0), arg(1));
  if (function == "hardtanh") return std::make_unique<nn::Hardtanh>(arg(0), arg(1));
  if (function == "relu6") return std::make_unique<nn::ReLU6>();
  if (function == "hardswish") return std::make_unique<nn::Hardswish>();
  if (function == "hardsigmoid") return std::make_unique<nn::Hardsigmoid>();
  throw std::runtime_error("unknown activation " + function);
}

// Float32 results within a few ulps of PyTorch's float64 ones (the formulas' float rounding; erfc's tail within 4
// ulp), absolute errors below the smallest normal float aside (subnormal results); gradients, sums of terms of the
// order of grad_output (which cancel where the derivative crosses 0), also within 2e-7 max |grad_output|. The
// functional form and the module.
inline void run_activation_golden_case(const std::string& name, const Device& device) {
  const auto c = activation_golden()[name];
  const std::vector<float> xs = c["x"].get<std::vector<float>>(), dys = c["dy"].get<std::vector<float>>();
  const std::vector<double> y = c["y"].get<std::vector<double>>(), dx = c["dx"].get<std::vector<double>>();
  const Shape shape = {static_cast<int64_t>(xs.size())};
  const Tensor x = from_vector(xs, shape, device), dy = from_vector(dys, shape, device);
  const std::string function = c["function"];
  const ops::InputActivation f = input_activation_of(function, c["args"]);
  // Softplus with beta != 1 and GELU's tanh form compute e^v of a rounded v (beta x; 2u, a cubic in x): in their
  // lower tails, |v| up to ~100 times v's relative rounding.
  const bool rounded_exponent = function == "softplus" || (function == "gelu" && c["args"][0] == "tanh");
  const double kRtol = rounded_exponent ? 2e-5 : 4e-6;
  constexpr double kAtol = 1.2e-38, kGradAtol = 2e-7, kScale = 1.0;
  double dy_scale = 0;  // the gradients' absolute tolerance is relative to grad_output's magnitude
  for (float v : dys) dy_scale = std::max(dy_scale, std::fabs(static_cast<double>(v)));
  EXPECT_TRUE(all_close(ops::activation(f, x).to_vector(), y, kRtol, kAtol, kScale)) << name;
  EXPECT_TRUE(all_close(ops::activation_backward(f, dy, x).to_vector(), dx, kRtol, kGradAtol, dy_scale)) << name;
  // NaN and +-inf (with a gradient of ones): NaN where PyTorch gives NaN, and its values elsewhere.
  std::vector<float> special_x;
  std::vector<double> special_y, special_dx;
  for (const auto& v : c["special_x"]) special_x.push_back(std::stof(v.get<std::string>()));
  for (const auto& v : c["special_y"]) special_y.push_back(std::stod(v.get<std::string>()));
  for (const auto& v : c["special_dx"]) special_dx.push_back(std::stod(v.get<std::string>()));
  const Shape special_shape = {static_cast<int64_t>(special_x.size())};
  const Tensor sx = from_vector(special_x, special_shape, device);
  EXPECT_TRUE(all_close(ops::activation(f, sx).to_vector(), special_y, kRtol, kAtol, kScale)) << name;
  EXPECT_TRUE(all_close(ops::activation_backward(f, ones(special_shape, device), sx).to_vector(), special_dx, kRtol,
                        kAtol, kScale))
      << name;
  if (c["repr"].is_null()) return;
  auto module = activation_module_of(function, c["args"]);
  std::ostringstream repr;
  repr << *module;
  EXPECT_EQ(repr.str(), c["repr"].get<std::string>());
  EXPECT_TRUE(all_close(module->forward(x).to_vector(), y, kRtol, kAtol, kScale)) << name;
  EXPECT_TRUE(all_close(module->backward(dy).to_vector(), dx, kRtol, kGradAtol, dy_scale)) << name;
}

}  // namespace normrt::testing
