// ops::interpolate, its backward and the Upsample modules against PyTorch (tests/golden/make_golden_interpolate.py,
// float32), on one device, contiguous and (4-d and 5-d) channels-last: the CPU suite and the GPU suites share it.
#pragma once
#include <algorithm>
#include <cmath>
#include <memory>
#include <sstream>

#include <nlohmann/json.hpp>

#include "normrt/nn/upsampling.h"
#include "golden_manifest.h"
#include "test_util.h"

namespace normrt::testing {

inline nlohmann::json interpolate_golden() {
  return read_manifest(golden_sibling_dir("data_interpolate") + "/cases.json");
}

inline std::vector<std::string> interpolate_golden_case_names() {
  const auto cases = interpolate_golden();
  std::vector<std::string> names;
  for (const auto& [name, c] : cases.items()) names.push_back(name);
  return names;
}

inline ops::InterpolateOptions interpolate_options_of(const nlohmann::json& c) {
  ops::InterpolateOptions o;
  const std::string mode = c["mode"];
  o.mode(mode == "nearest-exact" ? ops::InterpolateMode::NearestExact
         : mode == "linear"      ? ops::InterpolateMode::Linear
         : mode == "bilinear"    ? ops::InterpolateMode::Bilinear
         : mode == "trilinear"   ? ops::InterpolateMode::Trilinear
         : mode == "area"        ? ops::InterpolateMode::Area
         : mode == "bicubic"     ? ops::InterpolateMode::Bicubic
                                 : ops::InterpolateMode::Nearest);
  if (c["size"].is_array()) o.size(c["size"].get<std::vector<int64_t>>());
  if (c["size"].is_number()) o.size(c["size"].get<int64_t>());
  if (c["scale_factor"].is_array()) o.scale_factor(c["scale_factor"].get<std::vector<double>>());
  if (c["scale_factor"].is_number()) o.scale_factor(c["scale_factor"].get<double>());
  if (c["align_corners"].is_boolean()) o.align_corners(c["align_corners"].get<bool>());
  o.recompute_scale_factor(c.value("recompute_scale_factor", false));
  return o;
}

// Nearest copies: PyTorch's elements exactly (its index formulas, float rounding included). The linear modes' weights
// agree with PyTorch's to a few float ulps (its vectorised loops round the positions their own way), their sums
// within 1e-6 of the largest value. Bicubic's cubic weights move faster with the source position than linear's, whose
// float rounding alone puts PyTorch's own float32 2.3e-6 of the largest value from its float64 (a random sweep at
// 2x2x3x8 by 1.81 x 1.91; normrt's lies as far on the other side): within 1e-5. The backward sums the same terms in
// another order: within 1e-6 sqrt(outputs per input) of the largest value (1e-5 for bicubic).
inline void run_interpolate_golden_case(const std::string& name, const Device& device) {
  const auto c = interpolate_golden()[name];
  const Shape shape = c["shape"].get<Shape>(), y_shape = c["y_shape"].get<Shape>();
  const std::vector<double> y = c["y"].get<std::vector<double>>(), dx = c["dx"].get<std::vector<double>>();
  const ops::InterpolateOptions options = interpolate_options_of(c);
  const std::string mode = c["mode"];
  const double unit = mode == "bicubic" ? 1e-5 : 1e-6;
  const double tol = mode == "nearest" || mode == "nearest-exact" ? 0.0 : unit;
  const double fan = std::max(1.0, static_cast<double>(y.size()) / static_cast<double>(dx.size()));
  const double grad_tol = unit * std::sqrt(fan);
  std::vector<MemoryFormat> formats = {MemoryFormat::Contiguous};
  if (shape.size() == 4) formats.push_back(MemoryFormat::ChannelsLast);
  if (shape.size() == 5) formats.push_back(MemoryFormat::ChannelsLast3d);
  for (MemoryFormat format : formats) {
    SCOPED_TRACE(std::string(name) + " " + memory_format_name(format));
    const Tensor x = from_vector(c["x"].get<std::vector<float>>(), shape, device).to(format);
    const Tensor dy = from_vector(c["dy"].get<std::vector<float>>(), y_shape, device).to(format);
    const Tensor out = ops::interpolate(x, options);
    EXPECT_EQ(out.sizes(), y_shape);
    EXPECT_EQ(out.memory_format(), format);
    EXPECT_TRUE(all_close(out.to(MemoryFormat::Contiguous).to_vector(), y, tol, tol));
    const Tensor grad = ops::interpolate_backward(dy, shape, options);
    EXPECT_EQ(grad.sizes(), shape);
    EXPECT_EQ(grad.memory_format(), format);
    EXPECT_TRUE(all_close(grad.to(MemoryFormat::Contiguous).to_vector(), dx, 1e-6, grad_tol));
    if (c["module"].is_null()) continue;
    const std::string kind = c["module"];
    std::unique_ptr<nn::Upsample> module;
    if (kind == "UpsamplingNearest2d") module = std::make_unique<nn::UpsamplingNearest2d>(options);
    if (kind == "UpsamplingBilinear2d") module = std::make_unique<nn::UpsamplingBilinear2d>(options);
    if (kind == "Upsample") module = std::make_unique<nn::Upsample>(options);
    std::ostringstream repr;
    repr << *module;
    EXPECT_EQ(repr.str(), c["repr"].get<std::string>());
    EXPECT_TRUE(all_close(module->forward(x).to(MemoryFormat::Contiguous).to_vector(), y, tol, tol));
    EXPECT_TRUE(all_close(module->backward(dy).to(MemoryFormat::Contiguous).to_vector(), dx, 1e-6, grad_tol));
  }
}

}  // namespace normrt::testing
