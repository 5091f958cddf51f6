// Transposed-convolution golden cases (tests/golden/make_golden_conv_transpose.py) run on one device: the CPU suite
// and the GPU suites (real and emulated) share it. Tolerances are conv's summation bounds (conv_golden_runner.h).
#pragma once

#include <nlohmann/json.hpp>

#include "conv_golden_runner.h"
#include "golden_manifest.h"

namespace normrt::testing {

inline std::string conv_transpose_golden_dir() { return golden_sibling_dir("data_conv_transpose"); }

inline std::vector<std::string> conv_transpose_golden_case_names() {
  const auto cases = read_manifest(conv_transpose_golden_dir() + "/cases.json");
  std::vector<std::string> names;
  for (const auto& [name, c] : cases.items()) names.push_back(name);
  return names;
}

inline ops::ConvTransposeParams conv_transpose_params_of(const nlohmann::json& c) {
  ops::ConvTransposeParams p;
  if (c.contains("stride")) p.stride = json_ints(c["stride"]);
  if (c.contains("padding")) p.padding = json_ints(c["padding"]);
  if (c.contains("output_padding")) p.output_padding = json_ints(c["output_padding"]);
  if (c.contains("dilation")) p.dilation = json_ints(c["dilation"]);
  if (c.contains("groups")) p.groups = c["groups"].get<int64_t>();
  return p;
}

// A case with "output_size": the module's forward(input, output_size) and backward, its weight and bias the case's.
inline void conv_transpose_module_call(const nlohmann::json& c, const Tensor& x, const Tensor& w, const Tensor& b,
                                       const Tensor& dy, Tensor* y, Tensor* dx, Tensor* dw, Tensor* db) {
  const int spatial = static_cast<int>(w.dim()) - 2;
  const bool batched = x.dim() == spatial + 2;
  const ops::ConvTransposeParams p = conv_transpose_params_of(c);
  nn::ConvTransposeOptions options(x.size(batched ? 1 : 0), w.size(1) * p.groups,
                                   std::vector<int64_t>(w.sizes().begin() + 2, w.sizes().end()));
  options.stride(p.stride).padding(p.padding).dilation(p.dilation).groups(p.groups).bias(b.defined());
  std::unique_ptr<nn::ConvTransposeBase> module;
  if (spatial == 1) module = std::make_unique<nn::ConvTranspose1d>(options);
  if (spatial == 2) module = std::make_unique<nn::ConvTranspose2d>(options);
  if (spatial == 3) module = std::make_unique<nn::ConvTranspose3d>(options);
  module->to(x.device());
  module->weight.copy_(w);
  if (b.defined()) module->bias.copy_(b);
  *y = module->forward(x, json_ints(c["output_size"]));
  *dx = module->backward(dy);
  *dw = module->weight.grad();
  if (b.defined()) *db = module->bias.grad();
}

// The op's forward and backward (fresh weight and bias gradients) against PyTorch's, or the module's for a case with
// "output_size"; `slack` as conv's runner.
inline void run_conv_transpose_golden_case(const std::string& name, const Device& device, double slack = 1.0) {
  const auto c = read_manifest(conv_transpose_golden_dir() + "/cases.json")[name];
  const std::string dir = conv_transpose_golden_dir() + "/" + name + "/";
  auto npy = [&](const std::string& key) { return load_npy(dir + key + ".npy"); };
  const bool has_bias = c.value("bias", true);
  const ops::ConvTransposeParams params = conv_transpose_params_of(c);
  const Tensor x = npy("x"), w = npy("weight"), dy = npy("dy"), b = has_bias ? npy("bias") : Tensor();
  Tensor y, dx, dw, db;
  if (c.contains("output_size")) {
    conv_transpose_module_call(c, x.to(device), w.to(device), has_bias ? b.to(device) : Tensor(), dy.to(device), &y,
                               &dx, &dw, &db);
  } else {
    y = ops::conv_transpose(x.to(device), w.to(device), has_bias ? b.to(device) : Tensor(), params);
    EXPECT_EQ(ops::conv_transpose_output_shape(x.sizes(), w.sizes(), params), npy("y").sizes()) << name;
    dx = ops::conv_transpose_backward(dy.to(device), x.to(device), w.to(device), params, &dw,
                                      has_bias ? &db : nullptr);
  }
  EXPECT_EQ(y.device(), device);
  EXPECT_EQ(y.sizes(), npy("y").sizes()) << name;
  EXPECT_EQ(dx.sizes(), x.sizes()) << name;
  const double max_x = max_abs(to_double(x)), max_w = max_abs(to_double(w)), max_dy = max_abs(to_double(dy));
  const int64_t spatial = w.dim() - 2, kernel = w.numel() / (w.size(0) * w.size(1));
  const bool batched = x.dim() == spatial + 2;
  const double samples = batched ? static_cast<double>(x.size(0)) : 1.0;
  const double in_positions = static_cast<double>(x.numel()) / samples / static_cast<double>(w.size(0));
  const double out_positions = static_cast<double>(dy.numel()) / samples / static_cast<double>(y.size(batched ? 1 : 0));
  auto check = [&](const Tensor& actual, const std::string& key, double tol) {
    EXPECT_TRUE(all_close(actual.to_vector(), to_double(npy(key)), 0.0, slack * tol, 1.0))
        << name << ": " << key << " (tol " << slack * tol << ")";
  };
  const double bias_bound = has_bias ? max_abs(to_double(b)) : 0.0;
  const double groups = static_cast<double>(params.groups);
  const double y_terms = static_cast<double>(w.size(0)) / groups * static_cast<double>(kernel) + 1;
  check(y, "y", sum_tolerance(y_terms, std::max(max_x * max_w, bias_bound)));
  check(dx, "dx", sum_tolerance(static_cast<double>(w.size(1) * kernel), max_dy * max_w));
  check(dw, "dweight", sum_tolerance(samples * in_positions, max_dy * max_x));
  if (has_bias) check(db, "dbias", sum_tolerance(samples * out_positions, max_dy));
}

}  // namespace normrt::testing
