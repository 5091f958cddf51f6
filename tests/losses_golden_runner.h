// Softmax over any dimension, cross-entropy and nll_loss (class indices or probabilities, every input shape PyTorch
// takes) and binary_cross_entropy_with_logits against PyTorch (tests/golden/make_golden_losses.py, float64 from
// float32 inputs), on one device: the CPU suite and the GPU suites share it.
#pragma once
#include <cmath>

#include <nlohmann/json.hpp>

#include "golden_manifest.h"
#include "test_util.h"

namespace normrt::testing {

inline nlohmann::json losses_golden() {
  return read_manifest(golden_sibling_dir("data_losses") + "/cases.json");
}

inline std::vector<std::string> losses_golden_case_names() {
  const auto cases = losses_golden();
  std::vector<std::string> names;
  for (const auto& [name, c] : cases.items()) names.push_back(name);
  return names;
}

inline void run_losses_golden_case(const std::string& name, const Device& device) {
  const auto c = losses_golden()[name];
  const Shape shape = c["shape"].get<Shape>();
  auto tensor = [&](const char* key) { return from_vector(c[key].get<std::vector<float>>(), shape, device); };
  auto expected = [&](const char* key) { return c[key].get<std::vector<double>>(); };
  const bool channels_last = c.value("channels_last", false);  // the input (and class probabilities) so laid out
  auto laid_out = [&](const Tensor& t) {
    return channels_last ? t.to(t.dim() == 4 ? MemoryFormat::ChannelsLast : MemoryFormat::ChannelsLast3d) : t;
  };
  const Tensor x = laid_out(tensor("x"));
  if (c["kind"] == "softmax") {
    const int64_t dim = c["dim"].get<int64_t>();
    const bool log = c["log"].get<bool>();
    const Tensor y = ops::softmax(x, dim, log);
    EXPECT_TRUE(all_close(y.to_vector(), expected("y"), 1e-5, 1e-6)) << name;
    EXPECT_TRUE(all_close(ops::softmax_backward(tensor("dy"), y, dim, log).to_vector(), expected("dx"), 1e-5, 1e-5))
        << name;
    return;
  }
  const auto reduction = c["reduction"] == "mean"  ? ops::Reduction::Mean
                         : c["reduction"] == "sum" ? ops::Reduction::Sum
                                                   : ops::Reduction::None;
  ops::LossResult r;
  ops::CrossEntropyOptions options;
  options.reduction = reduction;
  options.label_smoothing = c.value("smoothing", 0.0);
  // Refused configurations (random_cases.py --refused) give the weight's, the target's and the probabilities' shapes.
  const int64_t classes = shape.size() > 1 ? shape[1] : shape.empty() ? 0 : shape[0];
  if (c.contains("weight"))
    options.weight = from_vector(c["weight"].get<std::vector<float>>(), c.value("w_shape", Shape{classes}), device);
  const auto target_shape = [&] { return c.contains("t_shape") ? c["t_shape"].get<Shape>() : Shape{shape.at(0)}; };
  if (c["kind"] == "ce_probs") {
    const Tensor p = laid_out(from_vector(c["p"].get<std::vector<float>>(), c.value("p_shape", shape), device));
    if (c.contains("ignore_index")) options.ignore_index = c["ignore_index"].get<int64_t>();
    r = options.weight.defined() || c.contains("ignore_index")
            ? ops::cross_entropy(x, p, options)
            : ops::cross_entropy(x, p, reduction, options.label_smoothing);
  } else if (c["kind"] == "bce") {
    r = ops::binary_cross_entropy_with_logits(x, tensor("t"), reduction);
  } else if (c["kind"] == "mse") {
    r = ops::mse_loss(x, tensor("t"), reduction);
  } else if (c["kind"] == "ce_default") {  // PyTorch's default ignore_index, -100, by the function and the module
    const Tensor t = from_vector(c["t"].get<std::vector<int64_t>>(), target_shape(), device);
    r = ops::cross_entropy(x, t, reduction, options.label_smoothing);
    const auto module_losses = nn::CrossEntropyLoss(reduction, options.label_smoothing).forward(x, t).to_vector();
    const auto function_losses = r.loss.to_vector();
    ASSERT_EQ(module_losses.size(), function_losses.size()) << name;
    for (std::size_t i = 0; i < module_losses.size(); ++i)
      EXPECT_TRUE(module_losses[i] == function_losses[i] ||
                  (std::isnan(module_losses[i]) && std::isnan(function_losses[i])))
          << name;
  } else {
    const Tensor t = from_vector(c["t"].get<std::vector<int64_t>>(), target_shape(), device);
    options.ignore_index = c["ignore_index"].get<int64_t>();
    r = c["kind"] == "nll" ? ops::nll_loss(x, t, reduction, *options.ignore_index, options.weight)
                           : ops::cross_entropy(x, t, options);
  }
  if (reduction == ops::Reduction::None) {  // each sample's loss; the gradient of their sum
    EXPECT_EQ(r.loss.sizes(), c["loss_shape"].get<Shape>()) << name;
    EXPECT_TRUE(all_close(r.loss.to_vector(), expected("loss"), 1e-5, 1e-6)) << name;
  } else if (!c["loss"].is_number()) {  // NaN, written as null
    EXPECT_TRUE(std::isnan(r.loss.item<float>())) << name;
  } else {
    const double loss = c["loss"].get<double>();
    EXPECT_NEAR(r.loss.item<float>(), loss, 1e-5 * std::max(1.0, std::fabs(loss))) << name;
  }
  EXPECT_TRUE(all_close(r.grad_input.to_vector(), expected("dx"), 1e-5, 1e-6)) << name;
  EXPECT_EQ(r.grad_input.sizes(), x.sizes()) << name;
  EXPECT_EQ(r.grad_input.memory_format(), x.memory_format()) << name;  // as the input, as PyTorch's gradient
}

}  // namespace normrt::testing
