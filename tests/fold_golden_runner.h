// BatchNorm-folding golden data (tests/golden/make_golden_fold.py) run on one device: the CPU suite and the GPU suites
// (real and emulated) share it.
#pragma once

#include <nlohmann/json.hpp>

#include "golden_manifest.h"
#include "test_util.h"

namespace normrt::testing {

inline std::string fold_dir() { return golden_sibling_dir("data_fold"); }

inline const nlohmann::json& fold_cases() {
  static const nlohmann::json c = read_manifest(fold_dir() + "/cases.json");
  return c;
}

// The script's models, by case name.
inline std::shared_ptr<nn::Sequential> fold_model(const std::string& name) {
  using nn::BatchNormOptions;
  using nn::ConvOptions;
  if (name == "conv2d") {
    return std::make_shared<nn::Sequential>(
        nn::Conv2d(ConvOptions(3, 8, 3).padding(1).bias(false)), nn::BatchNorm2d(8), nn::ReLU(),
        nn::Conv2d(ConvOptions(8, 6, 3).stride(2).groups(2)), nn::BatchNorm2d(BatchNormOptions(6).eps(1e-3)),
        nn::ReLU(), nn::AdaptiveAvgPool2d(1), nn::Flatten(), nn::Linear(6, 4));
  }
  if (name == "conv1d") {
    return std::make_shared<nn::Sequential>(nn::Conv1d(4, 5, 3), nn::BatchNorm1d(BatchNormOptions(5).affine(false)),
                                            nn::Conv1d(5, 5, 1),
                                            nn::BatchNorm1d(BatchNormOptions(5).track_running_stats(false)));
  }
  if (name == "conv3d") {
    return std::make_shared<nn::Sequential>(nn::Conv3d(ConvOptions(2, 4, {1, 3, 3}).padding({0, 1, 1})),
                                            nn::BatchNorm3d(BatchNormOptions(4).eps(0.01)));
  }
  if (name == "nested") {
    return std::make_shared<nn::Sequential>(
        nn::Sequential(nn::Conv2d(ConvOptions(3, 4, 3).padding(1).padding_mode(ops::PadMode::Reflect)),
                       nn::BatchNorm2d(4)),
        nn::ReLU(), nn::Sequential(nn::Conv2d(4, 4, 1), nn::BatchNorm2d(4)));
  }
  if (name == "linear") return std::make_shared<nn::Sequential>(nn::Linear(7, 5),
                                                                  nn::BatchNorm1d(BatchNormOptions(5).eps(1e-4)));
  if (name == "linear_wide") return std::make_shared<nn::Sequential>(nn::Linear(16, 64, false), nn::BatchNorm1d(64));
  if (name == "conv_transpose2d") {
    return std::make_shared<nn::Sequential>(nn::ConvTranspose2d(nn::ConvTransposeOptions(3, 5, 3).stride(2)),
                                            nn::BatchNorm2d(5));
  }
  throw std::runtime_error("no fold model " + name);
}

// A state as the script saved it ("<case>.<stage>.<key>.npy"; 0-dim tensors saved with one element).
inline nn::NamedTensors fold_state(const std::string& name, const std::string& stage, const nlohmann::json& keys) {
  nn::NamedTensors state;
  for (const auto& key : keys) {
    const std::string k = key.get<std::string>();
    Tensor t = load_npy(fold_dir() + "/" + name + "." + stage + "." + k + ".npy");
    if (k.find("num_batches_tracked") != std::string::npos) t = t.reshape({});
    state.emplace_back(k, t);
  }
  return state;
}

// Every case: the model loads PyTorch's state on `device` and runs in eval mode as PyTorch did; fold_batchnorm (model
// cases) or fold_conv_batchnorm / fold_linear_batchnorm (layer cases) gives PyTorch's fused tensors in the same order
// (normrt renumbers the Sequential where PyTorch's pass leaves gaps) to a few float32 ulps, on the device, and
// PyTorch's fused output.
inline void run_fold_golden(const Device& device) {
  const auto check = [&](const std::string& name, const nlohmann::json& spec, nn::Module& folded, const Tensor& x) {
    const nn::NamedTensors expected = fold_state(name, "fused", spec["fused_keys"]);
    const nn::NamedTensors actual = folded.state_dict();
    ASSERT_EQ(actual.size(), expected.size()) << name;
    for (std::size_t i = 0; i < actual.size(); ++i) {
      const std::string what = name + " " + actual[i].first + " (PyTorch's " + expected[i].first + ")";
      ASSERT_EQ(actual[i].second.sizes(), expected[i].second.sizes()) << what;
      EXPECT_EQ(actual[i].second.device(), device) << what;
      if (actual[i].second.dtype() == DType::Int64) {
        EXPECT_EQ(actual[i].second.to(Device::cpu()).item<int64_t>(), expected[i].second.item<int64_t>()) << what;
        continue;
      }
      // Folded in double here, step by step in float32 by PyTorch; a bias (b - mean) * s + beta can cancel, so its
      // bound scales with the terms (means up to about 15, s up to about 10).
      const bool bias = actual[i].first.size() >= 4 && actual[i].first.substr(actual[i].first.size() - 4) == "bias";
      EXPECT_TRUE(all_close(actual[i].second.to_vector(), to_double(expected[i].second), 1e-6, bias ? 5e-5 : 1e-7))
          << what;
    }
    const Tensor y = folded.forward(x);
    const auto want = load_npy(fold_dir() + "/" + name + ".fused_output.npy");
    EXPECT_TRUE(all_close(y.to_vector(), to_double(want), 1e-4, 1e-4)) << name << " folded output";
  };
  const auto load = [&](const std::string& name, const nlohmann::json& spec) {
    auto model = fold_model(name);
    model->load_state_dict(fold_state(name, "model", spec["model_keys"]));
    model->to(device);
    model->eval();
    const Tensor x = load_npy(fold_dir() + "/" + name + ".input.npy").to(device);
    const auto want = load_npy(fold_dir() + "/" + name + ".output.npy");
    EXPECT_TRUE(all_close(model->forward(x).to_vector(), to_double(want), 1e-4, 1e-4)) << name << " unfolded";
    return std::make_pair(model, x);
  };
  ASSERT_EQ(fold_cases()["models"].size(), 4u);
  for (const auto& [name, spec] : fold_cases()["models"].items()) {
    auto [model, x] = load(name, spec);
    check(name, spec, *nn::fold_batchnorm(*model), x);
  }
  ASSERT_EQ(fold_cases()["layers"].size(), 3u);
  for (const auto& [name, spec] : fold_cases()["layers"].items()) {
    auto [pair, x] = load(name, spec);
    const auto& bn = dynamic_cast<const nn::BatchNormBase&>((*pair)[1]);
    std::shared_ptr<nn::Module> folded;
    if (auto* linear = dynamic_cast<nn::Linear*>(&(*pair)[0])) folded = nn::fold_linear_batchnorm(*linear, bn);
    else folded = nn::fold_conv_batchnorm(pair->at<nn::ConvTranspose2d>(0), bn);
    check(name, spec, *folded, x);
  }
}

}  // namespace normrt::testing
