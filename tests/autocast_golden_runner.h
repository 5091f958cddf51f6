// Replays the mixed-precision training golden cases (tests/golden/make_golden_autocast.py; see its header) on a
// device: the network of the case, built and loaded with PyTorch's initial state, trained for its steps under
// amp::AutocastGuard(bfloat16).
#pragma once
#include <memory>

#include <nlohmann/json.hpp>

#include "golden_manifest.h"
#include "test_util.h"

namespace normrt::testing {

inline std::string autocast_golden_dir() { return golden_sibling_dir("data_autocast"); }

inline nlohmann::json autocast_golden_manifest() {
  return read_manifest(autocast_golden_dir() + "/cases.json");
}

inline std::vector<std::string> autocast_golden_case_names() {
  std::vector<std::string> names;
  const nlohmann::json manifest = autocast_golden_manifest();
  for (const auto& c : manifest.value("cases", nlohmann::json::array())) names.push_back(c["name"]);
  return names;
}

inline std::shared_ptr<nn::Sequential> autocast_golden_network(const std::string& name) {
  Generator gen(0);  // the initial values come from the golden state
  if (name == "mlp_bn_bf16")
    return std::make_shared<nn::Sequential>(nn::Linear(20, 16, true, &gen), nn::BatchNorm1d(16), nn::ReLU(),
                                            nn::Linear(16, 5, true, &gen));
  return std::make_shared<nn::Sequential>(nn::Conv2d(nn::ConvOptions(2, 4, 3).padding(1), &gen), nn::BatchNorm2d(4),
                                          nn::ReLU(), nn::MaxPool2d(2), nn::Flatten(),
                                          nn::Linear(4 * 3 * 3, 3, true, &gen));
}

// Tolerances from bfloat16's precision (8 significant bits): PyTorch and normrt sum a GEMM's products in different
// orders, so a rounded output may differ by one unit in the last place (2^-7 relative), and those differences
// travel through BatchNorm and the later layers. The checks that would catch float32 arithmetic or a missed
// rounding are the exact ones: logits are bfloat16, the first step's gradients are bfloat16 values widened (the
// 16-bit gradient added into the float32 grad), and most logits equal PyTorch's bit for bit.
inline void run_autocast_golden_case(const std::string& name, const Device& device) {
  const nlohmann::json manifest = autocast_golden_manifest();
  nlohmann::json spec;
  for (const auto& c : manifest["cases"])
    if (c["name"] == name) spec = c;
  const std::string dir = autocast_golden_dir() + "/" + name + "/";
  const auto load = [&](const std::string& file) { return load_npy(dir + file + ".npy"); };
  const auto bf16_values = [](const Tensor& t) {
    const std::vector<float> v = t.to(Device::cpu()).to(DType::Float32).to_vector();
    for (float e : v)
      if (static_cast<float>(BFloat16(e)) != e) return false;
    return true;
  };
  constexpr double kRtol = 0.05, kAtol = 0.02;

  auto model = autocast_golden_network(name);
  nn::NamedTensors state;
  for (const auto& key : spec["keys"]) {
    const std::string k = key.get<std::string>();
    Tensor t = load("init_" + k);
    if (k.find("num_batches_tracked") != std::string::npos)
      t = full({}, t.to_vector()[0], TensorOptions().dtype(DType::Int64));
    state.emplace_back(k, t);
  }
  model->load_state_dict(state);
  model->to(device);
  optim::SGD opt(model->parameters(), optim::SGDOptions(0.1).momentum(0.9));
  nn::CrossEntropyLoss criterion;
  std::vector<float> losses;
  for (int step = 0; step < spec["steps"].get<int>(); ++step) {
    SCOPED_TRACE("step " + std::to_string(step));
    opt.zero_grad();
    Tensor logits;
    {
      const amp::AutocastGuard autocast(DType::BFloat16);
      logits = model->forward(load("x" + std::to_string(step)).to(device));
    }
    ASSERT_EQ(logits.dtype(), DType::BFloat16);
    const Tensor expected = load("logits" + std::to_string(step));
    EXPECT_TRUE(all_close(logits.to(Device::cpu()).to(DType::Float32).to_vector(), expected.to_vector(), kRtol, kAtol));
    if (step == 0) {
      const std::vector<float> a = logits.to(Device::cpu()).to(DType::Float32).to_vector(), e = expected.to_vector();
      std::size_t same = 0;
      for (std::size_t i = 0; i < a.size(); ++i) same += a[i] == e[i];
      EXPECT_GE(2 * same, a.size()) << same << " of " << a.size() << " logits equal PyTorch's";
    }
    const Tensor loss = criterion.forward(logits, load("target" + std::to_string(step)));
    EXPECT_EQ(loss.dtype(), DType::Float32);
    losses.push_back(loss.item());
    model->backward(criterion.backward());
    if (step == 0) {
      for (const auto& [key, p] : model->named_parameters()) {
        ASSERT_EQ(p.grad().dtype(), DType::Float32) << key;
        // The bias before a BatchNorm has a gradient of 0 in exact arithmetic: what both libraries compute is
        // rounding noise, judged against the magnitude of the weight's gradient, the terms it cancels from.
        const std::string layer = key.substr(0, key.find('.'));
        const double scale = std::max(max_abs(to_double(load("grad0_" + key))),
                                      max_abs(to_double(load("grad0_" + layer + ".weight"))));
        EXPECT_TRUE(all_close(p.grad().to_vector(), load("grad0_" + key).to_vector(), kRtol, kAtol, scale)) << key;
        // Linear and Conv2d gradients were computed in bfloat16; BatchNorm's in float32 (its parameters' dtype).
        if (key.find("1.") != 0) EXPECT_TRUE(bf16_values(p.grad())) << key << ": not a widened bfloat16 gradient";
      }
    }
    opt.step();
  }
  EXPECT_TRUE(all_close(losses, load("losses").to_vector(), kRtol, 0)) << "losses step by step";
  for (const auto& [key, value] : model->state_dict()) {
    EXPECT_EQ(value.dtype(), key.find("num_batches") != std::string::npos ? DType::Int64 : DType::Float32) << key;
    const Tensor expected = load("final_" + key);
    if (value.dtype() == DType::Int64) {
      EXPECT_EQ(value.item<int64_t>(), static_cast<int64_t>(expected.to_vector()[0])) << key;
    } else {
      EXPECT_TRUE(all_close(value.to_vector(), expected.to_vector(), kRtol, kAtol)) << key;
    }
  }
}

}  // namespace normrt::testing
