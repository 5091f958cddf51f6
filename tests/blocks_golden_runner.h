// Branching-block golden data (tests/golden/make_golden_blocks.py) run on one device: the CPU suite and the GPU
// suites (real and emulated) share it.
#pragma once
#include <sstream>

#include <nlohmann/json.hpp>

#include "golden_manifest.h"
#include "test_util.h"

namespace normrt::testing {

inline std::string blocks_dir() { return golden_sibling_dir("data_blocks"); }

inline const nlohmann::json& blocks_cases() {
  static const nlohmann::json c = read_manifest(blocks_dir() + "/cases.json");
  return c;
}

// The script's modules, by case name.
inline std::shared_ptr<nn::Module> blocks_module(const std::string& name) {
  using nn::ConvOptions;
  if (name == "se_relu_sigmoid") return std::make_shared<nn::SqueezeExcitation>(16, 4);
  if (name == "se_hardsigmoid") {
    return std::make_shared<nn::SqueezeExcitation>(24, 8, nullptr, std::make_shared<nn::Hardsigmoid>());
  }
  if (name == "se_silu_unbatched") return std::make_shared<nn::SqueezeExcitation>(6, 2, std::make_shared<nn::SiLU>());
  if (name == "concat_inception") {
    return std::make_shared<nn::Concat>(std::initializer_list<std::shared_ptr<nn::Module>>{
        std::make_shared<nn::Conv2d>(4, 3, 1),
        std::make_shared<nn::Sequential>(nn::Conv2d(4, 2, 1), nn::ReLU(),
                                         nn::Conv2d(ConvOptions(2, 3, 3).padding(1))),
        std::make_shared<nn::Sequential>(nn::MaxPool2d(nn::MaxPoolOptions(3).stride(1).padding(1)),
                                         nn::Conv2d(4, 2, 1))});
  }
  if (name == "concat_dense") {
    auto dense = std::make_shared<nn::Concat>();
    dense->push_back(nn::Identity());
    dense->push_back(nn::Sequential(nn::BatchNorm2d(4), nn::ReLU(), nn::Conv2d(ConvOptions(4, 3, 3).padding(1).bias(false))));
    return dense;
  }
  if (name == "concat_last_dim") {
    auto cat = std::make_shared<nn::Concat>(-1);
    cat->push_back(nn::Linear(5, 3));
    cat->push_back(nn::Linear(5, 2));
    cat->push_back(nn::Identity());
    return cat;
  }
  if (name == "stochastic_depth_eval") return std::make_shared<nn::StochasticDepth>(0.3, "row");
  if (name == "stochastic_depth_p0") return std::make_shared<nn::StochasticDepth>(0.0, "batch");
  if (name == "stochastic_depth_p1") return std::make_shared<nn::StochasticDepth>(1.0, "row");
  throw std::runtime_error("no blocks case " + name);
}

inline Tensor blocks_tensor(const std::string& name, const std::string& what) {
  return load_npy(blocks_dir() + "/" + name + "." + what + ".npy");
}

// Every case: the module loads PyTorch's initial state on `device`, runs PyTorch's forward (in its mode) and
// backward, and matches its output, input gradient, parameter gradients, state after the forward and repr.
inline void run_blocks_golden(const Device& device) {
  ASSERT_EQ(blocks_cases()["cases"].size(), 9u);
  for (const auto& [name, spec] : blocks_cases()["cases"].items()) {
    SCOPED_TRACE(name);
    auto module = blocks_module(name);
    const auto state = [&](const std::string& stage) {
      nn::NamedTensors s;
      for (const auto& key : spec["state_keys"]) {
        const std::string k = key.get<std::string>();
        Tensor t = blocks_tensor(name, stage + "." + k);
        if (k.find("num_batches_tracked") != std::string::npos) t = t.reshape({});
        s.emplace_back(k, t);
      }
      return s;
    };
    module->load_state_dict(state("init"));
    module->to(device);
    module->train(spec["training"].get<bool>());
    std::ostringstream repr;
    repr << *module;
    EXPECT_EQ(repr.str(), spec["repr"].get<std::string>());

    const Tensor y = module->forward(blocks_tensor(name, "x").to(device));
    EXPECT_TRUE(all_close(y.to_vector(), to_double(blocks_tensor(name, "y")), 1e-5, 1e-5)) << "output";
    const Tensor dx = module->backward(blocks_tensor(name, "dy").to(device));
    EXPECT_TRUE(all_close(dx.to_vector(), to_double(blocks_tensor(name, "dx")), 1e-4, 1e-5)) << "input gradient";
    const nn::NamedTensors params = module->named_parameters();
    ASSERT_EQ(params.size(), spec["parameters"].size());
    for (std::size_t i = 0; i < params.size(); ++i) {
      const std::string key = spec["parameters"][i].get<std::string>();
      EXPECT_EQ(params[i].first, key);
      EXPECT_TRUE(all_close(params[i].second.grad().to_vector(), to_double(blocks_tensor(name, "grad." + key)), 1e-4,
                            1e-5))
          << "gradient of " << key;
    }
    const nn::NamedTensors after = module->state_dict(), expected = state("after");
    for (std::size_t i = 0; i < after.size(); ++i) {
      if (after[i].second.dtype() == DType::Int64) {
        EXPECT_EQ(after[i].second.to(Device::cpu()).item<int64_t>(), expected[i].second.item<int64_t>());
      } else {
        EXPECT_TRUE(all_close(after[i].second.to_vector(), to_double(expected[i].second), 1e-5, 1e-6))
            << after[i].first;
      }
    }
  }
}

}  // namespace normrt::testing
