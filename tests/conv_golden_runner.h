// Convolution golden cases (tests/golden/make_golden_conv.py) run on one device: the CPU suite and the GPU suites
// (real and emulated) share it.
#pragma once
#include <cmath>

#include <nlohmann/json.hpp>

#include "golden_manifest.h"
#include "test_util.h"

namespace normrt::testing {

inline std::string conv_golden_dir() { return golden_sibling_dir("data_conv"); }

inline std::vector<std::string> conv_golden_case_names() {
  const auto cases = read_manifest(conv_golden_dir() + "/cases.json");
  std::vector<std::string> names;
  for (const auto& [name, c] : cases.items()) names.push_back(name);
  return names;
}

inline std::vector<int64_t> json_ints(const nlohmann::json& v) {
  return v.is_array() ? v.get<std::vector<int64_t>>() : std::vector<int64_t>{v.get<int64_t>()};
}

inline ops::ConvParams conv_params_of(const nlohmann::json& c) {
  ops::ConvParams p;
  if (c.contains("stride")) p.stride = json_ints(c["stride"]);
  if (c.contains("dilation")) p.dilation = json_ints(c["dilation"]);
  if (c.contains("groups")) p.groups = c["groups"].get<int64_t>();
  if (c.contains("padding")) {
    if (c["padding"].is_string()) {
      p.padding_mode = c["padding"] == "same" ? ops::PaddingMode::Same : ops::PaddingMode::Valid;
    } else {
      p.padding = json_ints(c["padding"]);
    }
  }
  return p;
}

// A float32 sum of `terms` products, each at most `bound` in magnitude, is within terms * 2^-24 * bound of the exact
// sum (with margin 2 for the products' own rounding).
inline double sum_tolerance(double terms, double bound) { return 2.0 * terms * std::ldexp(1.0, -24) * bound; }

// `slack` widens the summation bound for algorithms that do not sum directly (cuDNN's FFT and Winograd transforms
// round in their transform domains).
// `channels_last` (for 4-d and 5-d inputs): x, the weight and dy channels-last, as a model moved to channels-last
// holds them; the results keep the input's (and dweight the weight's) format.
inline void run_conv_golden_case_in(const std::string& name, const Device& device, double slack, bool channels_last) {
  const auto c = read_manifest(conv_golden_dir() + "/cases.json")[name];
  const std::string dir = conv_golden_dir() + "/" + name + "/";
  auto npy = [&](const std::string& key) { return load_npy(dir + key + ".npy"); };
  const bool has_bias = c.value("bias", true);
  const ops::ConvParams params = conv_params_of(c);
  Tensor x = npy("x"), w = npy("weight"), dy = npy("dy");
  if (channels_last) {
    x = to_channels_last(x);
    w = to_channels_last(w);
    dy = to_channels_last(dy);
  }
  const Tensor b = has_bias ? npy("bias") : Tensor();
  const Tensor y = ops::conv(x.to(device), w.to(device), has_bias ? b.to(device) : Tensor(), params);
  Tensor dw, db;
  const Tensor dx = ops::conv_backward(dy.to(device), x.to(device), w.to(device), params, &dw,
                                       has_bias ? &db : nullptr);
  EXPECT_EQ(y.device(), device);
  EXPECT_EQ(y.sizes(), npy("y").sizes()) << name;
  EXPECT_EQ(y.memory_format(), x.memory_format()) << name;
  EXPECT_EQ(dx.memory_format(), x.memory_format()) << name;
  EXPECT_EQ(dw.memory_format(), w.memory_format()) << name;

  const auto xs = to_double(x), ws = to_double(w), dys = to_double(dy);
  const double max_x = max_abs(xs), max_w = max_abs(ws), max_dy = max_abs(dys);
  const int64_t groups = params.groups, kernel = w.numel() / (w.size(0) * w.size(1));
  const double patch = static_cast<double>(w.size(1) * kernel);
  const double out_positions = static_cast<double>(dy.numel() / (dy.size(0) * dy.size(1)));
  auto check = [&](const Tensor& actual, const std::string& key, double tol) {
    const auto expected = to_double(npy(key));
    EXPECT_TRUE(all_close(actual.to_vector(), expected, 0.0, slack * tol, 1.0)) << name << ": " << key << " (tol "
                                                                                 << slack * tol << ")";
  };
  const double bias_bound = has_bias ? max_abs(to_double(b)) : 0.0;
  check(y, "y", sum_tolerance(patch + 1, std::max(max_x * max_w, bias_bound)));
  check(dx, "dx", sum_tolerance(static_cast<double>(w.size(0) / groups * kernel), max_dy * max_w));
  check(dw, "dweight", sum_tolerance(static_cast<double>(x.size(0)) * out_positions, max_dy * max_x));
  if (has_bias) check(db, "dbias", sum_tolerance(static_cast<double>(dy.size(0)) * out_positions, max_dy));
}

// The case with contiguous tensors, and channels-last ones where the input is 4-d or 5-d.
inline void run_conv_golden_case(const std::string& name, const Device& device, double slack = 1.0) {
  contiguous_then_channels_last(
      read_manifest(conv_golden_dir() + "/cases.json")[name]["input"].size() >= 4,
      [&](bool channels_last) { run_conv_golden_case_in(name, device, slack, channels_last); });
}

}  // namespace normrt::testing
