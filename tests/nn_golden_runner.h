// Replays the network-building-block golden cases (tests/golden/make_golden_nn.py; see its header) on a device.
#pragma once
#include <cstdlib>
#include <memory>

#include <nlohmann/json.hpp>

#include "golden_manifest.h"
#include "test_util.h"

#ifndef NORMRT_GOLDEN_NN_DIR
#error "NORMRT_GOLDEN_NN_DIR must point at tests/golden/data_nn"
#endif

namespace normrt::testing {

// The data folder: $NORMRT_GOLDEN_NN_DIR when set (binaries run from another checkout), else the one compiled in.
inline std::string nn_golden_dir() {
  const char* env = std::getenv("NORMRT_GOLDEN_NN_DIR");
  return env != nullptr ? env : NORMRT_GOLDEN_NN_DIR;
}

inline nlohmann::json nn_golden_manifest() {
  return read_manifest(nn_golden_dir() + "/cases.json");
}

inline std::vector<std::string> nn_golden_case_names() {
  std::vector<std::string> names;
  const nlohmann::json manifest = nn_golden_manifest();
  for (const auto& c : manifest.value("cases", nlohmann::json::array())) names.push_back(c["name"]);
  return names;
}

inline std::unique_ptr<optim::Optimizer> make_optimizer(const std::string& name, const nlohmann::json& o,
                                                        std::vector<Tensor> params) {
  if (name.rfind("sgd", 0) == 0) {
    optim::SGDOptions options(o["lr"].get<double>());
    if (o.contains("momentum")) options.momentum(o["momentum"].get<double>());
    if (o.contains("dampening")) options.dampening(o["dampening"].get<double>());
    if (o.contains("weight_decay")) options.weight_decay(o["weight_decay"].get<double>());
    if (o.contains("nesterov")) options.nesterov(o["nesterov"].get<bool>());
    return std::make_unique<optim::SGD>(std::move(params), options);
  }
  if (name.rfind("adamax", 0) == 0 || name.rfind("radam", 0) == 0) {
    auto configured = [&](auto options) {
      if (o.contains("betas")) options.beta1(o["betas"][0].get<double>()).beta2(o["betas"][1].get<double>());
      if (o.contains("eps")) options.eps(o["eps"].get<double>());
      if (o.contains("weight_decay")) options.weight_decay(o["weight_decay"].get<double>());
      return options;
    };
    const double lr = o["lr"].get<double>();
    if (name.rfind("adamax", 0) == 0)
      return std::make_unique<optim::Adamax>(std::move(params), configured(optim::AdamaxOptions(lr)));
    return std::make_unique<optim::RAdam>(std::move(params), configured(optim::RAdamOptions(lr)));
  }
  if (name.rfind("adam", 0) == 0) {
    // The options the case sets; the others keep the optimizer's defaults (AdamW's weight_decay is 1e-2, Adam's 0).
    auto configured = [&](auto options) {
      if (o.contains("betas")) options.beta1(o["betas"][0].get<double>()).beta2(o["betas"][1].get<double>());
      if (o.contains("eps")) options.eps(o["eps"].get<double>());
      if (o.contains("weight_decay")) options.weight_decay(o["weight_decay"].get<double>());
      if (o.contains("amsgrad")) options.amsgrad(o["amsgrad"].get<bool>());
      return options;
    };
    const double lr = o["lr"].get<double>();
    if (name.rfind("adamw", 0) == 0)
      return std::make_unique<optim::AdamW>(std::move(params), configured(optim::AdamWOptions(lr)));
    return std::make_unique<optim::Adam>(std::move(params), configured(optim::AdamOptions(lr)));
  }
  if (name.rfind("rmsprop", 0) == 0) {
    optim::RMSpropOptions options(o["lr"].get<double>());
    if (o.contains("alpha")) options.alpha(o["alpha"].get<double>());
    if (o.contains("eps")) options.eps(o["eps"].get<double>());
    if (o.contains("weight_decay")) options.weight_decay(o["weight_decay"].get<double>());
    if (o.contains("momentum")) options.momentum(o["momentum"].get<double>());
    if (o.contains("centered")) options.centered(o["centered"].get<bool>());
    return std::make_unique<optim::RMSprop>(std::move(params), options);
  }
  if (name.rfind("adagrad", 0) == 0) {
    optim::AdagradOptions options(o["lr"].get<double>());
    if (o.contains("lr_decay")) options.lr_decay(o["lr_decay"].get<double>());
    if (o.contains("weight_decay")) options.weight_decay(o["weight_decay"].get<double>());
    if (o.contains("initial_accumulator_value"))
      options.initial_accumulator_value(o["initial_accumulator_value"].get<double>());
    if (o.contains("eps")) options.eps(o["eps"].get<double>());
    return std::make_unique<optim::Adagrad>(std::move(params), options);
  }
  optim::AdadeltaOptions options(o["lr"].get<double>());
  options.rho(o["rho"].get<double>()).eps(o["eps"].get<double>()).weight_decay(o["weight_decay"].get<double>());
  return std::make_unique<optim::Adadelta>(std::move(params), options);
}

// rtol: relative tolerance; atol is 1e-6 of each tensor's largest magnitude.
inline void run_nn_golden_case(const std::string& name, const Device& device, double rtol) {
  nlohmann::json spec;
  const nlohmann::json manifest = nn_golden_manifest();
  for (const auto& c : manifest["cases"])
    if (c["name"] == name) spec = c;
  const std::string dir = nn_golden_dir() + "/" + name + "/";
  auto load_cpu = [&](const std::string& file) { return load_npy(dir + file + ".npy"); };
  auto load = [&](const std::string& file) { return load_cpu(file).to(device); };
  auto close = [&](const Tensor& actual, const std::string& file) {
    return all_close(actual.to_vector(), load_cpu(file).to_vector(), rtol, 1e-6);
  };
  const std::string kind = spec["kind"];
  if (kind == "linear") {
    const Tensor x = load("x"), w = load("weight"), b = spec["bias"].get<bool>() ? load("bias") : Tensor();
    EXPECT_TRUE(close(ops::linear(x, w, b), "y")) << "y";
    Tensor dw, db;
    const Tensor dx = ops::linear_backward(load("dy"), x, w, &dw, b.defined() ? &db : nullptr);
    EXPECT_TRUE(close(dx, "dx")) << "dx";
    EXPECT_TRUE(close(dw, "dweight")) << "dweight";
    if (b.defined()) EXPECT_TRUE(close(db, "dbias")) << "dbias";
  } else if (kind == "log_softmax" || kind == "softmax") {
    const bool log = kind == "log_softmax";
    const Tensor y = ops::softmax(load("x"), log);
    EXPECT_TRUE(close(y, "y")) << "y";
    EXPECT_TRUE(close(ops::softmax_backward(load("dy"), y, log), "dx")) << "dx";
  } else if (kind == "cross_entropy" || kind == "mse") {
    const auto reduction = spec["reduction"] == "mean" ? ops::Reduction::Mean : ops::Reduction::Sum;
    const auto r = kind == "mse" ? ops::mse_loss(load("x"), load("target"), reduction)
                                 : ops::cross_entropy(load("x"), load_cpu("target"), reduction,
                                                      spec["label_smoothing"].get<double>());
    EXPECT_TRUE(close(r.loss.reshape({1}), "loss")) << "loss";
    EXPECT_TRUE(close(r.grad_input, "dx")) << "dx";
  } else if (kind == "optimizer") {
    std::vector<Tensor> params = {load("param0_init"), load("param1_init")};
    auto opt = make_optimizer(spec["optimizer"], spec["options"], params);
    for (int step = 0; step < spec.value("steps", 5); ++step) {
      SCOPED_TRACE("step " + std::to_string(step));
      for (int i = 0; i < 2; ++i)
        params[i].mutable_grad() = load("grad" + std::to_string(i) + "_step" + std::to_string(step));
      opt->step();
      for (int i = 0; i < 2; ++i)
        EXPECT_TRUE(close(params[i], "param" + std::to_string(i) + "_step" + std::to_string(step))) << "param " << i;
    }
  } else if (kind == "mlp_bn") {
    Generator gen(0);
    nn::Sequential model({std::make_shared<nn::Linear>(20, 16, false, &gen), std::make_shared<nn::BatchNorm1d>(16),
                          std::make_shared<nn::ReLU>(), std::make_shared<nn::Linear>(16, 5, true, &gen)});
    nn::NamedTensors state;
    for (const auto& key : spec["keys"]) {
      Tensor t = load_cpu("init_" + key.get<std::string>());
      if (key.get<std::string>().find("num_batches_tracked") != std::string::npos) t = t.reshape({});
      state.emplace_back(key.get<std::string>(), t);
    }
    model.load_state_dict(state);
    model.to(device);
    optim::SGD opt(model.parameters(), optim::SGDOptions(0.1).momentum(0.9));
    nn::CrossEntropyLoss criterion;
    std::vector<float> losses;
    for (int step = 0; step < spec["steps"].get<int>(); ++step) {
      opt.zero_grad();
      const Tensor logits = model.forward(load("x" + std::to_string(step)));
      losses.push_back(criterion.forward(logits, load_cpu("target" + std::to_string(step))).item());
      model.backward(criterion.backward());
      opt.step();
    }
    EXPECT_TRUE(all_close(losses, load_cpu("losses").to_vector(), rtol, 0)) << "losses step by step";
    for (const auto& [key, value] : model.state_dict()) {
      if (value.dtype() == DType::Int64) {
        EXPECT_EQ(value.item<int64_t>(), load_cpu("final_" + key).to_vector<int64_t>()[0]) << key;
      } else {
        EXPECT_TRUE(close(value, "final_" + key)) << key;
      }
    }
  } else {
    FAIL() << "unknown golden kind " << kind;
  }
}

}  // namespace normrt::testing
