// ops::pad, the padding layers and convolutions with a padding_mode against PyTorch
// (tests/golden/make_golden_pad.py, float64 from float32 inputs), on one device: the CPU suite and the GPU suites
// share it.
#pragma once
#include <sstream>

#include <nlohmann/json.hpp>

#include "golden_manifest.h"
#include "test_util.h"

namespace normrt::testing {

inline nlohmann::json pad_golden() {
  return read_manifest(golden_sibling_dir("data_pad") + "/cases.json");
}

inline std::vector<std::string> pad_golden_case_names() {
  const auto cases = pad_golden();
  std::vector<std::string> names;
  for (const auto& [name, c] : cases.items()) names.push_back(name);
  return names;
}

inline ops::PadMode pad_mode_of(const std::string& mode) {
  if (mode == "reflect") return ops::PadMode::Reflect;
  if (mode == "replicate") return ops::PadMode::Replicate;
  if (mode == "circular") return ops::PadMode::Circular;
  return ops::PadMode::Constant;  // "constant", and the convolutions' "zeros"
}

// conv_tolerance: the convolutions' relative and absolute tolerance (cuDNN's transform algorithms round beyond a
// direct sum's 1e-5).
inline void run_pad_golden_case(const std::string& name, const Device& device, double conv_tolerance = 1e-5) {
  const auto c = pad_golden()[name];
  auto values = [&](const char* key) { return c[key].get<std::vector<float>>(); };
  auto expected = [&](const char* key) { return c[key].get<std::vector<double>>(); };
  const Shape shape = c["shape"].get<Shape>(), y_shape = c["y_shape"].get<Shape>();
  const Tensor x = from_vector(values("x"), shape, device), dy = from_vector(values("dy"), y_shape, device);
  const ops::PadMode mode = pad_mode_of(c["mode"]);
  if (c["kind"] == "pad") {
    const std::vector<int64_t> pad = c["pad"].get<std::vector<int64_t>>();
    const Tensor y = ops::pad(x, pad, mode, c["value"].get<double>());
    EXPECT_EQ(y.sizes(), y_shape) << name;
    EXPECT_TRUE(all_close(y.to_vector(), expected("y"), 0.0, 0.0)) << name;  // a copy: exact
    const Tensor dx = ops::pad_backward(dy, shape, pad, mode);
    EXPECT_EQ(dx.sizes(), shape) << name;
    EXPECT_TRUE(all_close(dx.to_vector(), expected("dx"), 1e-6, 1e-6)) << name;
    return;
  }
  const auto ints = [](const nlohmann::json& v) {
    return v.is_array() ? nn::IntList(v.get<std::vector<int64_t>>()) : nn::IntList(v.get<int64_t>());
  };
  std::ostringstream repr;
  if (c["kind"] == "layer") {
    const std::string layer = c["layer"];
    const nn::IntList padding = ints(c["padding"]);
    const double value = c["value"].get<double>();
    std::unique_ptr<nn::PadBase> module;
    if (layer == "ReflectionPad1d") module = std::make_unique<nn::ReflectionPad1d>(padding);
    if (layer == "ReflectionPad2d") module = std::make_unique<nn::ReflectionPad2d>(padding);
    if (layer == "ReflectionPad3d") module = std::make_unique<nn::ReflectionPad3d>(padding);
    if (layer == "ReplicationPad1d") module = std::make_unique<nn::ReplicationPad1d>(padding);
    if (layer == "ReplicationPad2d") module = std::make_unique<nn::ReplicationPad2d>(padding);
    if (layer == "ReplicationPad3d") module = std::make_unique<nn::ReplicationPad3d>(padding);
    if (layer == "ConstantPad1d") module = std::make_unique<nn::ConstantPad1d>(padding, value);
    if (layer == "ConstantPad2d") module = std::make_unique<nn::ConstantPad2d>(padding, value);
    if (layer == "ConstantPad3d") module = std::make_unique<nn::ConstantPad3d>(padding, value);
    if (layer == "ZeroPad2d") module = std::make_unique<nn::ZeroPad2d>(padding);
    ASSERT_TRUE(module) << layer;
    repr << *module;
    EXPECT_EQ(repr.str(), c["repr"].get<std::string>());
    const Tensor y = module->forward(x);
    EXPECT_EQ(y.sizes(), y_shape) << name;
    EXPECT_TRUE(all_close(y.to_vector(), expected("y"), 0.0, 0.0)) << name;
    EXPECT_TRUE(all_close(module->backward(dy).to_vector(), expected("dx"), 1e-6, 1e-6)) << name;
    return;
  }
  const int dims = c["dims"].get<int>();
  nn::ConvOptions options(shape[1], c["out_channels"].get<int64_t>(), ints(c["kernel"]));
  options.stride(ints(c["stride"])).padding_mode(mode);
  if (c["padding"].is_string())
    options.padding(ops::PaddingMode::Same);
  else
    options.padding(ints(c["padding"]));
  std::unique_ptr<nn::ConvBase> conv;
  if (dims == 1) conv = std::make_unique<nn::Conv1d>(options);
  if (dims == 2) conv = std::make_unique<nn::Conv2d>(options);
  if (dims == 3) conv = std::make_unique<nn::Conv3d>(options);
  conv->weight.copy_(from_vector(values("weight"), conv->weight.sizes()));
  conv->bias.copy_(from_vector(values("bias"), conv->bias.sizes()));
  repr << *conv;
  EXPECT_EQ(repr.str(), c["repr"].get<std::string>());
  conv->to(device);
  const Tensor y = conv->forward(x);
  EXPECT_EQ(y.sizes(), y_shape) << name;
  const double tol = conv_tolerance;
  EXPECT_TRUE(all_close(y.to_vector(), expected("y"), tol, tol)) << name;
  const Tensor dx = conv->backward(dy);
  EXPECT_EQ(dx.sizes(), shape) << name;
  EXPECT_TRUE(all_close(dx.to_vector(), expected("dx"), tol, tol)) << name;
  EXPECT_TRUE(all_close(conv->weight.grad().to_vector(), expected("dweight"), tol, tol)) << name;
  EXPECT_TRUE(all_close(conv->bias.grad().to_vector(), expected("dbias"), tol, tol)) << name;
}

}  // namespace normrt::testing
