// Weight-averaging golden data (tests/golden/make_golden_swa.py) run on one device: the CPU suite and the GPU suites
// (real and emulated) share it.
#pragma once

#include <nlohmann/json.hpp>

#include "golden_manifest.h"
#include "test_util.h"

namespace normrt::testing {

inline std::string swa_dir() { return golden_sibling_dir("data_swa"); }

inline const nlohmann::json& swa_cases() {
  static const nlohmann::json c = read_manifest(swa_dir() + "/cases.json");
  return c;
}

// The script's model: Sequential(Linear(6, 5), BatchNorm1d(5), ReLU(), Linear(5, 3)).
inline std::shared_ptr<nn::Sequential> swa_model() {
  return std::make_shared<nn::Sequential>(nn::Linear(6, 5), nn::BatchNorm1d(5), nn::ReLU(), nn::Linear(5, 3));
}

// A stage's state as the script saved it ("<stage>.<key>.npy"; 0-dim tensors saved with one element).
inline nn::NamedTensors swa_stage(const std::string& name, const std::string& keys) {
  nn::NamedTensors state;
  for (const auto& key : swa_cases()[keys]) {
    const std::string k = key.get<std::string>();
    Tensor t = load_npy(swa_dir() + "/" + name + "." + k + ".npy");
    if (k == "n_averaged" || k.find("num_batches_tracked") != std::string::npos) t = t.reshape({});
    state.emplace_back(k, t);
  }
  return state;
}

// Float tensors within 1e-6 relative (PyTorch's float32 arithmetic; normrt's rounds as written), integers exactly.
inline void expect_swa_state(const nn::NamedTensors& actual, const nn::NamedTensors& expected,
                             const std::string& what) {
  ASSERT_EQ(actual.size(), expected.size()) << what;
  for (std::size_t i = 0; i < actual.size(); ++i) {
    ASSERT_EQ(actual[i].first, expected[i].first) << what;
    const Tensor& a = actual[i].second;
    if (a.dtype() == DType::Int64) {
      EXPECT_EQ(a.to(Device::cpu()).item<int64_t>(), expected[i].second.item<int64_t>())
          << what << " " << actual[i].first;
    } else {
      EXPECT_TRUE(all_close(a.to_vector(), to_double(expected[i].second), 1e-6, 1e-7))
          << what << " " << actual[i].first;
    }
  }
}

// The running mean and torchvision's exponential moving average (with the buffers) step by step, then update_bn's
// cumulative BatchNorm statistics over three batches, as PyTorch computes them; the averaged modules start as deep
// copies of the model do (its initial state loaded). update_bn restores the BatchNorm's momentum and the mode.
inline void run_swa_golden(const Device& device) {
  const nn::NamedTensors init = swa_stage("init", "model_keys");
  auto model = swa_model(), swa_module = swa_model(), ema_module = swa_model();
  for (auto* m : {model.get(), swa_module.get(), ema_module.get()}) {
    m->load_state_dict(init);
    m->to(device);
  }
  optim::swa_utils::AveragedModel swa(swa_module), ema(ema_module, optim::swa_utils::ema_avg_fn(0.9), true);
  for (int k = 0; k < swa_cases()["steps"].get<int>(); ++k) {
    model->load_state_dict(swa_stage("step" + std::to_string(k), "model_keys"));
    swa.update_parameters(*model);
    ema.update_parameters(*model);
    const std::string step = std::to_string(k);
    expect_swa_state(swa.state_dict(), swa_stage("swa" + step, "averaged_keys"), "swa step " + step);
    expect_swa_state(ema.state_dict(), swa_stage("ema" + step, "averaged_keys"), "ema step " + step);
  }
  std::vector<Tensor> batches;
  for (int k = 0; k < swa_cases()["bn_batches"].get<int>(); ++k)
    batches.push_back(load_npy(swa_dir() + "/bn_batch" + std::to_string(k) + ".npy").to(device));
  auto& bn = swa_module->at<nn::BatchNorm1d>(1);
  bn.set_momentum(0.3);
  swa.eval();
  optim::swa_utils::update_bn(batches, swa);
  expect_swa_state(swa.state_dict(), swa_stage("swa_bn", "averaged_keys"), "update_bn");
  EXPECT_EQ(bn.options().momentum(), 0.3);
  EXPECT_FALSE(swa.is_training());
  EXPECT_FALSE(bn.is_training());
}

}  // namespace normrt::testing
