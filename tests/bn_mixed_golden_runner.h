// Replays the PyTorch golden cases of BatchNorm in float16/bfloat16, channels-last and fused with ReLU / residual add
// (tests/golden/make_golden_bn_mixed.py; see its header) through nn::BatchNorm on a device.
#pragma once
#include <memory>

#include <nlohmann/json.hpp>

#include "golden_manifest.h"
#include "test_util.h"

namespace normrt::testing {

inline std::string bn_mixed_golden_dir() { return golden_sibling_dir("data_bn_mixed"); }

inline nlohmann::json bn_mixed_manifest() {
  return read_manifest(bn_mixed_golden_dir() + "/cases.json");
}

inline std::vector<std::string> bn_mixed_case_names() {
  std::vector<std::string> names;
  const nlohmann::json manifest = bn_mixed_manifest();
  for (const auto& c : manifest.value("cases", nlohmann::json::array())) names.push_back(c["name"]);
  return names;
}

// The unit roundoff of a dtype: half the distance from 1 to the next value.
inline double unit_roundoff(DType dtype) {
  switch (dtype) {
    case DType::Float16: return std::ldexp(1.0, -11);
    case DType::BFloat16: return std::ldexp(1.0, -8);
    default: return std::ldexp(1.0, -24);
  }
}

inline DType parse_dtype(const std::string& name) {
  if (name == "float16") return DType::Float16;
  if (name == "bfloat16") return DType::BFloat16;
  return DType::Float32;
}

inline MemoryFormat parse_memory_format(const std::string& name) {
  if (name == "channels_last") return MemoryFormat::ChannelsLast;
  if (name == "channels_last_3d") return MemoryFormat::ChannelsLast3d;
  return MemoryFormat::Contiguous;
}

// Replays case `name` on `device`. A value may differ from PyTorch's by the roundings the two make differently (a
// fused epilogue rounds once where PyTorch's composition rounds twice; PyTorch's bfloat16 sums round the operands):
// two units of the result's dtype relative to it, plus `compute_rtol` (the float32 accumulation: 1e-5 on the CPU)
// and one unit of the dtype relative to the tensor's largest value (for values that cancel to ~0).
inline void run_bn_mixed_case(const std::string& name, const Device& device, double compute_rtol) {
  nlohmann::json spec;
  const nlohmann::json manifest = bn_mixed_manifest();
  for (const auto& c : manifest["cases"])
    if (c["name"] == name) spec = c;
  const std::string dir = bn_mixed_golden_dir() + "/" + name + "/";
  const DType dtype = parse_dtype(spec["dtype"]);
  const MemoryFormat format = parse_memory_format(spec["memory_format"]);
  const std::string fusion = spec["fusion"];
  const bool add = fusion == "add" || fusion == "add_relu";
  const bool relu = fusion == "relu" || fusion == "add_relu";
  auto load = [&](const std::string& file) { return load_npy(dir + file + ".npy").to(device); };

  const auto& o = spec["options"];
  nn::BatchNormOptions options(spec["num_features"].get<int64_t>());
  options.eps(o["eps"].get<double>()).affine(o["affine"].get<bool>()).track_running_stats(o["track_running_stats"]);
  options.momentum(o["momentum"].is_null() ? std::nullopt : std::optional<double>(o["momentum"].get<double>()));
  options.relu(relu);
  std::unique_ptr<nn::BatchNormBase> bn;
  switch (spec["module"].get<int>()) {
    case 1: bn = std::make_unique<nn::BatchNorm1d>(options); break;
    case 2: bn = std::make_unique<nn::BatchNorm2d>(options); break;
    default: bn = std::make_unique<nn::BatchNorm3d>(options); break;
  }
  bn->to(device);
  // The case's parameters and buffers as stored: float32, or the input's dtype.
  for (auto [tensor, file] :
       {std::pair{&bn->weight, "weight0"}, std::pair{&bn->bias, "bias0"},
        std::pair{&bn->running_mean, "running_mean0"}, std::pair{&bn->running_var, "running_var0"}})
    if (tensor->defined()) tensor->set_data(load(file));

  auto values = [](const Tensor& t) { return to_double(t.to(DType::Float32)); };
  auto close = [&](const Tensor& actual, const Tensor& expected, const char* what, double scale = -1) {
    EXPECT_EQ(actual.dtype(), expected.dtype()) << what;
    const double u = unit_roundoff(expected.dtype());
    const auto e = values(expected);
    if (scale < 0) scale = max_abs(e);
    return all_close(values(actual), e, 2 * u + compute_rtol, u + compute_rtol / 10, scale);
  };
  for (std::size_t step = 0; step < spec["modes"].size(); ++step) {
    SCOPED_TRACE("step " + std::to_string(step) + " (" + spec["modes"][step].get<std::string>() + ")");
    const std::string p = "step" + std::to_string(step) + "_";
    bn->train(spec["modes"][step] == "train");
    bn->zero_grad();
    const Tensor x = load(p + "x").to(format), z = load(p + "z").to(format), dy = load(p + "dy").to(format);
    ASSERT_EQ(x.dtype(), dtype);
    nn::Context ctx;
    const Tensor y = add ? bn->forward_add(x, z, ctx, relu) : bn->forward(x, ctx);
    EXPECT_EQ(y.memory_format(), format);
    EXPECT_TRUE(close(y, load(p + "y"), "y")) << "output";
    Tensor dx;
    if (add) {
      const auto grads = bn->backward_add(dy, ctx);
      dx = grads.input;
      EXPECT_TRUE(close(grads.residual, load(p + "dz"), "dz")) << "grad_residual";
    } else {
      dx = bn->backward(dy, ctx);
    }
    EXPECT_EQ(dx.memory_format(), format);
    // dx cancels to ~0 for two values per channel: its scale is at least that of dy * weight.
    const Tensor expected_dx = load(p + "dx");
    const double weight_scale = bn->options().affine() ? max_abs(values(bn->weight)) : 1.0;
    const double dx_scale = std::max(max_abs(values(expected_dx)), max_abs(values(dy)) * weight_scale);
    EXPECT_TRUE(close(dx, expected_dx, "dx", dx_scale)) << "grad_input";
    if (bn->options().affine()) {
      EXPECT_TRUE(close(bn->weight.grad(), load(p + "dweight"), "dweight")) << "grad_weight";
      EXPECT_TRUE(close(bn->bias.grad(), load(p + "dbias"), "dbias")) << "grad_bias";
    }
    if (bn->options().track_running_stats()) {
      // A channel's mean cancels to ~0 (inputs around 0): the float sums' error is relative to the inputs it adds,
      // and enters the running mean times the momentum (None: at most 1).
      const double mean_scale = max_abs(values(x)) * bn->options().momentum().value_or(1.0);
      const Tensor expected_mean = load(p + "running_mean");
      EXPECT_TRUE(
          close(bn->running_mean, expected_mean, "running_mean", std::max(max_abs(values(expected_mean)), mean_scale)))
          << "running_mean";
      EXPECT_TRUE(close(bn->running_var, load(p + "running_var"), "running_var")) << "running_var";
      EXPECT_EQ(bn->num_batches_tracked.item<int64_t>(), load(p + "num_batches_tracked").to_vector<int64_t>()[0]);
    }
  }
}

}  // namespace normrt::testing
