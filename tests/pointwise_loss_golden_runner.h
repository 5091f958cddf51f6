// The elementwise losses against PyTorch 1.13's float32 results (tests/golden/make_golden_pointwise_loss.py), on one
// device: the CPU suite and the GPU suites share it. Per element the arithmetic is PyTorch's, so each loss and
// gradient must agree to the bit, binary cross-entropy's within 2 ulp (fmath::log against glibc's logf); the reduced
// loss within float32 rounding of the sum (normrt adds in double, PyTorch pairwise in float).
#pragma once
#include <cmath>
#include <fstream>

#include <nlohmann/json.hpp>

#include "test_util.h"

namespace normrt::testing {

inline std::string pointwise_loss_golden_dir() { return golden_sibling_dir("data_pointwise_loss"); }

inline nlohmann::json pointwise_loss_golden() {
  std::ifstream in(pointwise_loss_golden_dir() + "/cases.json");
  return nlohmann::json::parse(in);
}

inline std::vector<std::string> pointwise_loss_golden_case_names() {
  const auto cases = pointwise_loss_golden();
  std::vector<std::string> names;
  for (const auto& [name, c] : cases.items()) names.push_back(name);
  return names;
}

// A case name as a test name (gtest allows no '.').
inline std::string pointwise_loss_test_name(const ::testing::TestParamInfo<std::string>& info) {
  std::string name = info.param;
  for (char& ch : name)
    if (ch == '.') ch = '_';
  return name;
}

inline ops::Reduction reduction_named(const std::string& name) {
  return name == "mean" ? ops::Reduction::Mean : name == "sum" ? ops::Reduction::Sum : ops::Reduction::None;
}

// Within `ulps` units in the last place of the expected float (NaN where NaN is expected, infinities exactly).
inline ::testing::AssertionResult within_ulps(const std::vector<float>& actual, const std::vector<float>& expected,
                                             int ulps) {
  if (actual.size() != expected.size())
    return ::testing::AssertionFailure() << "size " << actual.size() << " vs expected " << expected.size();
  for (std::size_t i = 0; i < actual.size(); ++i) {
    const float a = actual[i], e = expected[i];
    if (std::isnan(e) || std::isnan(a)) {
      if (std::isnan(a) != std::isnan(e))
        return ::testing::AssertionFailure() << "at " << i << ": " << a << " vs " << e;
      continue;
    }
    const double ulp = std::ldexp(1.0, std::max(std::ilogb(e == 0 ? 1e-38f : e), -126) - 23);
    if (std::isinf(e) ? a != e : std::fabs(static_cast<double>(a) - e) > ulps * ulp)
      return ::testing::AssertionFailure() << "at " << i << ": " << a << " vs expected " << e;
  }
  return ::testing::AssertionSuccess();
}

inline void run_pointwise_loss_golden_case(const std::string& name, const Device& device) {
  const auto c = pointwise_loss_golden()[name];
  const std::string dir = pointwise_loss_golden_dir() + "/" + name + "/";
  auto npy = [&](const std::string& key) { return load_npy(dir + key + ".npy"); };
  const Tensor x = npy("x").to(device), t = npy("t").to(device);
  const std::string op = c["op"];
  const ops::Reduction reduction = reduction_named(c["reduction"]);
  const double parameter = c.value("parameter", 1.0);
  ops::LossResult r;
  if (op == "mse_loss") r = ops::mse_loss(x, t, reduction);
  if (op == "l1_loss") r = ops::l1_loss(x, t, reduction);
  if (op == "smooth_l1_loss") r = ops::smooth_l1_loss(x, t, reduction, parameter);
  if (op == "huber_loss") r = ops::huber_loss(x, t, reduction, parameter);
  if (op == "binary_cross_entropy")
    r = ops::binary_cross_entropy(x, t, reduction, c.contains("weight_shape") ? npy("weight").to(device) : Tensor());
  ASSERT_TRUE(r.loss.defined()) << name;
  EXPECT_EQ(r.loss.device(), device);
  EXPECT_EQ(r.loss.sizes(), npy("loss").sizes()) << name;
  EXPECT_EQ(r.grad_input.sizes(), x.sizes()) << name;
  const auto expected_loss = npy("loss").to_vector();
  const int ulps = op == "binary_cross_entropy" ? 2 : 0;  // only the logarithm may differ
  if (reduction == ops::Reduction::None) {
    EXPECT_TRUE(within_ulps(r.loss.to_vector(), expected_loss, ulps)) << name << ": loss";
  } else {
    EXPECT_TRUE(all_close(r.loss.to_vector(), to_double(expected_loss), 1e-6, 0)) << name << ": loss";
  }
  EXPECT_TRUE(within_ulps(r.grad_input.to_vector(), npy("grad").to_vector(), ulps)) << name << ": grad";
}

}  // namespace normrt::testing
