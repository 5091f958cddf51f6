// LayerNorm / GroupNorm / InstanceNorm golden cases (tests/golden/make_golden_norms.py) run on one device: the CPU
// suite and the GPU suites (real and emulated) share it.
#pragma once
#include <cmath>

#include <nlohmann/json.hpp>

#include "golden_manifest.h"
#include "test_util.h"

namespace normrt::testing {

inline std::string norms_golden_dir() { return golden_sibling_dir("data_norms"); }

inline std::vector<std::string> norms_golden_case_names() {
  const auto cases = read_manifest(norms_golden_dir() + "/cases.json");
  std::vector<std::string> names;
  for (const auto& [name, c] : cases.items()) names.push_back(name);
  return names;
}

// The reference is exact (float64); float32 arithmetic cannot beat the float32-mean floor: the mean of values near
// m carries an error of up to ulp(m) / 2, which x-hat divides by the standard deviation. Tolerances are that floor
// (with margin) or 1e-5, relative to the larger of 1 and the largest expected magnitude. `x` is the case's input; the
// floor is the largest over the whole of it and over each group the case normalises (its contiguous runs of
// norms_group_size(c, x) elements; their variance plus eps): two values at mean 100 normalised on their own carry
// their mean's rounding over their own spread.
inline double norms_floor(const std::vector<double>& values, std::size_t first, std::size_t count, double eps) {
  double mean = 0, var = 0, largest = 0;
  for (std::size_t i = first; i < first + count; ++i)
    mean += values[i] / static_cast<double>(count), largest = std::max(largest, std::fabs(values[i]));
  for (std::size_t i = first; i < first + count; ++i)
    var += (values[i] - mean) * (values[i] - mean) / static_cast<double>(count);
  return largest * std::ldexp(1.0, -24) / std::sqrt(var + eps);
}

// The elements each statistic of case c covers, contiguous in x: 0 where the statistics are not x's own (eval with
// running statistics).
inline int64_t norms_group_size(const nlohmann::json& c, const Shape& x) {
  int64_t numel = 1;
  for (int64_t v : x) numel *= v;
  if (c["kind"] == "layer" || c["kind"] == "layer_fn") {
    int64_t size = 1;
    for (int64_t v : c["normalized_shape"].get<Shape>()) size *= v;
    return size;
  }
  if (c["kind"] == "group" || c["kind"] == "group_fn")
    return numel / std::max<int64_t>(1, x[0] * c["groups"].get<int64_t>());
  if (c.value("eval", false) && c["track"].get<bool>()) return 0;
  int64_t plane = 1;
  for (std::size_t d = x.size() - c["spatial_dims"].get<std::size_t>(); d < x.size(); ++d) plane *= x[d];
  return plane;
}

inline double norms_tolerance(const Tensor& x, int64_t group_size = 0, double eps = 0) {
  const auto values = to_double(x);
  double floor = norms_floor(values, 0, values.size(), 0.0);
  const auto group = static_cast<std::size_t>(group_size);
  for (std::size_t first = 0; group > 0 && first + group <= values.size(); first += group)
    floor = std::max(floor, norms_floor(values, first, group, eps));
  return std::max(1e-5, 8 * floor);
}

// actual against a case's array: defined, on `device`, of its shape, within tol relative to the larger of 1 and the
// array's largest magnitude.
inline void expect_norms_close(const Tensor& actual, const Tensor& expected, const Device& device, double tol,
                               const std::string& what) {
  ASSERT_TRUE(actual.defined()) << what;
  EXPECT_EQ(actual.device(), device) << what;
  EXPECT_EQ(actual.sizes(), expected.sizes()) << what;
  const auto values = to_double(expected);
  EXPECT_TRUE(all_close(actual.to_vector(), values, tol, tol, std::max(1.0, max_abs(values)))) << what;
}

inline std::unique_ptr<nn::InstanceNormBase> make_instance_norm(const nlohmann::json& c) {
  const auto options = nn::InstanceNormOptions(c["features"].get<int64_t>())
                           .eps(c["eps"].get<double>())
                           .momentum(c["momentum"].get<double>())
                           .affine(c["affine"].get<bool>())
                           .track_running_stats(c["track"].get<bool>());
  switch (c["spatial_dims"].get<int>()) {
    case 1: return std::make_unique<nn::InstanceNorm1d>(options);
    case 2: return std::make_unique<nn::InstanceNorm2d>(options);
    default: return std::make_unique<nn::InstanceNorm3d>(options);
  }
}

// Training forward/backward; with tracked statistics a second training forward, then eval forward/backward, each
// against PyTorch's (make_golden_norms.py, run_instance).
inline void run_instance_norm_golden_case(const std::string& name, const nlohmann::json& c, const Device& device) {
  const std::string dir = norms_golden_dir() + "/" + name + "/";
  auto npy = [&](const std::string& key) { return load_npy(dir + key + ".npy"); };
  const auto module = make_instance_norm(c);
  const bool affine = c["affine"].get<bool>(), track = c["track"].get<bool>();
  if (affine) {
    module->weight.copy_(npy("weight"));
    module->bias.copy_(npy("bias"));
  }
  if (track) {
    module->running_mean.copy_(npy("running_mean_start"));
    module->running_var.copy_(npy("running_var_start"));
  }
  module->to(device);
  module->train(!c.value("eval", false));
  const double tol = norms_tolerance(npy("x"), norms_group_size(c, npy("x").sizes()), c["eps"].get<double>());
  auto check = [&](const Tensor& actual, const std::string& key) {
    expect_norms_close(actual, npy(key), device, tol, name + ": " + key);
  };
  check(module->forward(npy("x").to(device)), "y");
  check(module->backward(npy("dy").to(device)), "dx");
  if (affine) {
    check(module->weight.grad(), "dweight");
    check(module->bias.grad(), "dbias");
  }
  if (!track) return;
  module->forward(npy("x2").to(device));
  check(module->running_mean, "running_mean");
  check(module->running_var, "running_var");
  EXPECT_EQ(module->num_batches_tracked.item<int64_t>(), 0) << name << ": instance norm counts no batches";
  module->eval();
  module->zero_grad();
  check(module->forward(npy("x3").to(device)), "y_eval");
  check(module->backward(npy("dy3").to(device)), "dx_eval");
  if (affine) {
    check(module->weight.grad(), "dweight_eval");
    check(module->bias.grad(), "dbias_eval");
  }
}

// ops::layer_norm_* / group_norm_* with the case's weight and bias (each may be absent), their statistics and, always,
// the parameter gradients (make_golden_norms.py, run_functional).
inline void run_functional_norm_golden_case(const std::string& name, const nlohmann::json& c, const Device& device) {
  const std::string dir = norms_golden_dir() + "/" + name + "/";
  auto npy = [&](const std::string& key) { return load_npy(dir + key + ".npy"); };
  const Tensor x = npy("x").to(device), dy = npy("dy").to(device);
  const Tensor weight = c["weight"].get<bool>() ? npy("weight").to(device) : Tensor();
  const Tensor bias = c["bias"].get<bool>() ? npy("bias").to(device) : Tensor();
  const double eps = c["eps"].get<double>(), tol = norms_tolerance(npy("x"), norms_group_size(c, x.sizes()), eps);
  auto check = [&](const Tensor& actual, const std::string& key) {
    expect_norms_close(actual, npy(key), device, tol, name + ": " + key);
  };
  ops::NormForwardResult f;
  ops::NormBackwardResult b;
  if (c["kind"] == "layer_fn") {
    const auto shape = c["normalized_shape"].get<Shape>();
    f = ops::layer_norm_forward(x, shape, weight, bias, eps);
    b = ops::layer_norm_backward(dy, x, shape, f.mean, f.rstd, weight);
  } else {
    const auto groups = c["groups"].get<int64_t>();
    f = ops::group_norm_forward(x, groups, weight, bias, eps);
    b = ops::group_norm_backward(dy, x, groups, f.mean, f.rstd, weight);
  }
  check(f.output, "y");
  check(f.mean, "mean");
  // rstd is judged relative to its own size: 1 / std of data with a spread of 0.01 is ~100.
  const auto rstd = to_double(npy("rstd"));
  EXPECT_EQ(f.rstd.sizes(), npy("rstd").sizes()) << name;
  EXPECT_TRUE(all_close(f.rstd.to_vector(), rstd, tol, 0)) << name << ": rstd";
  check(b.grad_input, "dx");
  check(b.grad_weight, "dweight");
  check(b.grad_bias, "dbias");
}

inline void run_norms_golden_case(const std::string& name, const Device& device) {
  const auto c = read_manifest(norms_golden_dir() + "/cases.json")[name];
  if (c["kind"] == "instance") return run_instance_norm_golden_case(name, c, device);
  if (c["kind"] == "layer_fn" || c["kind"] == "group_fn") return run_functional_norm_golden_case(name, c, device);
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
  const double tol = norms_tolerance(npy("x"), norms_group_size(c, npy("x").sizes()), c["eps"].get<double>());
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
