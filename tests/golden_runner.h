// Replays the PyTorch golden cases (tests/golden/make_golden.py; see its header) through nn::BatchNorm on a device.
#pragma once
#include <cstdlib>
#include <memory>

#include <nlohmann/json.hpp>

#include "golden_manifest.h"
#include "test_util.h"

#ifndef NORMRT_GOLDEN_DIR
#error "NORMRT_GOLDEN_DIR must point at tests/golden/data"
#endif

namespace normrt::testing {
// The data folder: $NORMRT_GOLDEN_DIR when set (binaries run from another checkout), else the one compiled in.
inline std::string golden_dir() {
  const char* env = std::getenv("NORMRT_GOLDEN_DIR");
  return env != nullptr ? env : NORMRT_GOLDEN_DIR;
}

// The manifest (cases.json) of a golden data folder beside data/ (golden_sibling_dir's name).
inline nlohmann::json sibling_manifest(const std::string& name) {
  return read_manifest(golden_sibling_dir(name) + "/cases.json");
}

namespace golden_detail {

inline nlohmann::json load_manifest() {
  return read_manifest(golden_dir() + "/cases.json");
}

inline std::vector<std::string> golden_case_names() {
  std::vector<std::string> names;
  const nlohmann::json manifest = load_manifest();
  for (const auto& c : manifest.value("cases", nlohmann::json::array())) names.push_back(c["name"]);
  return names;
}

inline std::unique_ptr<nn::BatchNormBase> make_module(const nlohmann::json& c) {
  const auto& o = c["options"];
  nn::BatchNormOptions options(c["num_features"].get<int64_t>());
  options.eps(o["eps"].get<double>()).affine(o["affine"].get<bool>()).track_running_stats(o["track_running_stats"]);
  options.momentum(o["momentum"].is_null() ? std::nullopt : std::optional<double>(o["momentum"].get<double>()));
  switch (c["module"].get<int>()) {
    case 1: return std::make_unique<nn::BatchNorm1d>(options);
    case 2: return std::make_unique<nn::BatchNorm2d>(options);
    default: return std::make_unique<nn::BatchNorm3d>(options);
  }
}

// The largest 1 / sqrt(var + eps) over the channels of x (N, C, *), the batch's biased variance in double.
inline double max_invstd(const Tensor& x, double eps) {
  const std::vector<float> v = x.to_vector();
  const int64_t n = x.size(0), c = x.size(1), s = n * c > 0 ? x.numel() / (n * c) : 0;
  double largest = 0;
  for (int64_t ch = 0; ch < c && n * s > 0; ++ch) {
    double sum = 0, sq = 0;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t k = 0; k < s; ++k) sum += v[static_cast<std::size_t>((i * c + ch) * s + k)];
    const double mean = sum / static_cast<double>(n * s);
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t k = 0; k < s; ++k) {
        const double d = v[static_cast<std::size_t>((i * c + ch) * s + k)] - mean;
        sq += d * d;
      }
    }
    largest = std::max(largest, 1.0 / std::sqrt(sq / static_cast<double>(n * s) + eps));
  }
  return largest;
}

}  // namespace golden_detail

using golden_detail::golden_case_names;

// Replays golden case `name` on `device`; rtol is the relative tolerance (1e-5 on the CPU, whose backend accumulates
// in double, its backward after float blocks of eight terms; looser on a GPU, whose kernels accumulate in float like
// PyTorch's).
// `channels_last`: the 4-d and 5-d inputs and output gradients channels-last (other ranks as they are); the output and
// the input gradient must keep the format.
inline void run_golden_case_in(const std::string& name, const Device& device, double rtol, bool channels_last) {
  nlohmann::json spec;
  const nlohmann::json manifest = golden_detail::load_manifest();
  for (const auto& c : manifest["cases"])
    if (c["name"] == name) spec = c;
  const std::string dir = golden_dir() + "/" + name + "/";
  auto load = [&](const std::string& file) { return load_npy(dir + file + ".npy").to(device); };
  auto bn = golden_detail::make_module(spec);
  bn->to(device);
  if (bn->options().affine()) {
    bn->weight.copy_(load("weight0"));
    bn->bias.copy_(load("bias0"));
  }
  const auto modes = spec["modes"].get<std::vector<std::string>>();
  constexpr double atol = 1e-6;
  // Absolute tolerances where the manifest gives them (float64 references; see make_golden.py), else none.
  auto abs_tolerance = [&](const char* key) {
    return spec.contains("abs_tolerance") && spec["abs_tolerance"].contains(key)
               ? spec["abs_tolerance"][key].get<double>()
               : 0.0;
  };
  auto close = [&](const Tensor& actual, const Tensor& expected, const char* key, double scale = -1) {
    const auto e = expected.to_vector();
    if (scale < 0) scale = testing::max_abs(testing::to_double(e));
    // atol relative to `scale`, plus the case's absolute tolerance, as one absolute bound.
    return all_close(actual.to_vector(), e, rtol, 1.0, atol * scale + abs_tolerance(key));
  };
  for (std::size_t step = 0; step < modes.size(); ++step) {
    SCOPED_TRACE("step " + std::to_string(step) + " (" + modes[step] + ")");
    const std::string p = "step" + std::to_string(step) + "_";
    bn->train(modes[step] == "train");
    bn->zero_grad();
    auto in_format = [&](const Tensor& t) { return channels_last && t.dim() >= 4 ? to_channels_last(t) : t; };
    const Tensor x = in_format(load(p + "x"));
    const Tensor y = bn->forward(x);
    EXPECT_EQ(y.memory_format(), x.memory_format());
    EXPECT_TRUE(close(y, load(p + "y"), "y")) << "output";
    const Tensor dy = in_format(load(p + "dy"));
    const Tensor dx = bn->backward(dy);
    EXPECT_EQ(dx.memory_format(), x.memory_format());
    // dx cancels to ~0 for two values per channel: its scale is that of the terms that cancel, dy * invstd * weight
    // (with two values PyTorch's own float32 dx is several ulps of those terms off the float64 answer).
    const Tensor expected_dx = load(p + "dx");
    const double weight_scale = bn->options().affine() ? testing::max_abs(testing::to_double(bn->weight)) : 1.0;
    const double dx_scale = std::max(testing::max_abs(testing::to_double(expected_dx)),
                                     testing::max_abs(testing::to_double(dy)) * weight_scale *
                                         (bn->is_training() ? golden_detail::max_invstd(x, bn->options().eps()) : 1.0));
    EXPECT_TRUE(close(dx, expected_dx, "dx", dx_scale)) << "grad_input";
    if (bn->options().affine()) {
      EXPECT_TRUE(close(bn->weight.grad(), load(p + "dweight"), "dweight")) << "grad_weight";
      EXPECT_TRUE(close(bn->bias.grad(), load(p + "dbias"), "dbias")) << "grad_bias";
    }
    if (bn->options().track_running_stats()) {
      EXPECT_TRUE(close(bn->running_mean, load(p + "running_mean"), "running_mean")) << "running_mean";
      EXPECT_TRUE(close(bn->running_var, load(p + "running_var"), "running_var")) << "running_var";
      EXPECT_EQ(bn->num_batches_tracked.item<int64_t>(), load(p + "num_batches_tracked").to_vector<int64_t>()[0]);
    }
  }
}

// The case with contiguous tensors, then again channels-last where its module takes 4-d or 5-d input.
inline void run_golden_case(const std::string& name, const Device& device, double rtol) {
  bool spatial = false;
  const nlohmann::json manifest = golden_detail::load_manifest();  // a local: the loop reads into it
  for (const auto& c : manifest["cases"])
    if (c["name"] == name) spatial = c["module"].get<int>() > 1;
  contiguous_then_channels_last(spatial,
                                [&](bool channels_last) { run_golden_case_in(name, device, rtol, channels_last); });
}

}  // namespace normrt::testing
