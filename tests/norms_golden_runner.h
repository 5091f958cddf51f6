// LayerNorm / GroupNorm golden cases (tests/golden/make_golden_norms.py) run on one device: the CPU suite and the
// GPU suites (real and emulated) share it.
#pragma once
#include <cmath>
#include <fstream>

#include <nlohmann/json.hpp>

#include "test_util.h"

namespace normrt::testing {

inline std::string norms_golden_dir() { return golden_sibling_dir("data_norms"); }

inline std::vector<std::string> norms_golden_case_names() {
  std::ifstream in(norms_golden_dir() + "/cases.json");
  const auto cases = nlohmann::json::parse(in);
  std::vector<std::string> names;
  for (const auto& [name, c] : cases.items()) names.push_back(name);
  return names;
}

inline void run_norms_golden_case(const std::string& name, const Device& device) {
  std::ifstream in(norms_golden_dir() + "/cases.json");
  const auto c = nlohmann::json::parse(in)[name];
  const std::string dir = norms_golden_dir() + "/" + name + "/";
  auto npy = [&](const std::string& key) { return load_npy(dir + key + ".npy"); };
  std::unique_ptr<nn::Module> module;
  Tensor* weight = nullptr;
  Tensor* bias = nullptr;
  if (c["kind"] == "layer") {
    auto m = std::make_unique<nn::LayerNorm>(c["normalized_shape"].get<Shape>(), c["eps"].get<double>(),
                                             c["affine"].get<bool>());
    weight = &m->weight;
    bias = &m->bias;
    module = std::move(m);
  } else {
    auto m = std::make_unique<nn::GroupNorm>(c["groups"].get<int64_t>(), c["shape"][1].get<int64_t>(),
                                             c["eps"].get<double>(), c["affine"].get<bool>());
    weight = &m->weight;
    bias = &m->bias;
    module = std::move(m);
  }
  if (c["affine"].get<bool>()) {
    weight->copy_(npy("weight"));
    bias->copy_(npy("bias"));
  }
  module->to(device);
  const Tensor y = module->forward(npy("x").to(device));
  const Tensor dx = module->backward(npy("dy").to(device));
  EXPECT_EQ(y.device(), device);
  // The reference is exact (float64); float32 arithmetic cannot beat the float32-mean floor: the mean of values near
  // m carries an error of up to ulp(m) / 2, which x-hat divides by the standard deviation. Tolerances are that floor
  // (with margin) or 1e-5, relative to the larger of 1 and the largest expected magnitude.
  const auto x = to_double(npy("x"));
  double mean = 0, var = 0, largest = 0;
  for (double v : x) mean += v / static_cast<double>(x.size()), largest = std::max(largest, std::fabs(v));
  for (double v : x) var += (v - mean) * (v - mean) / static_cast<double>(x.size());
  const double floor = largest * std::ldexp(1.0, -24) / std::sqrt(var);
  const double tol = std::max(1e-5, 8 * floor);
  auto check = [&](const Tensor& actual, const std::string& key) {
    const auto expected = to_double(npy(key));
    EXPECT_TRUE(all_close(actual.to_vector(), expected, tol, tol, std::max(1.0, max_abs(expected))))
        << name << ": " << key;
  };
  check(y, "y");
  check(dx, "dx");
  if (c["affine"].get<bool>()) {
    check(weight->grad(), "dweight");
    check(bias->grad(), "dbias");
  }
}

}  // namespace normrt::testing
