// The elementwise losses against PyTorch 1.13's float32 results (tests/golden/make_golden_pointwise_loss.py), on one
// device: the CPU suite and the GPU suites share it. Per element the arithmetic is PyTorch's, so each loss and
// gradient must agree to the bit, binary cross-entropy's and kl_div's within 2 or 3 ulp (fmath::log and exp against
// glibc's and Sleef's); the reduced loss within float32 rounding of the sum (normrt adds in double, PyTorch pairwise in
// float).
#pragma once
#include <cmath>

#include <nlohmann/json.hpp>

#include "golden_manifest.h"
#include "test_util.h"

namespace normrt::testing {

inline std::string pointwise_loss_golden_dir() { return golden_sibling_dir("data_pointwise_loss"); }

inline nlohmann::json pointwise_loss_golden() {
  return read_manifest(pointwise_loss_golden_dir() + "/cases.json");
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

// Within `ulps` units in the last place of the expected float, or of sizes[i] where given and larger (NaN where NaN is
// expected, infinities exactly).
inline ::testing::AssertionResult within_ulps(const std::vector<float>& actual, const std::vector<float>& expected,
                                              int ulps, const std::vector<float>& sizes = {}) {
  if (actual.size() != expected.size())
    return ::testing::AssertionFailure() << "size " << actual.size() << " vs expected " << expected.size();
  for (std::size_t i = 0; i < actual.size(); ++i) {
    const float a = actual[i], e = expected[i];
    if (std::isnan(e) || std::isnan(a)) {
      if (std::isnan(a) != std::isnan(e))
        return ::testing::AssertionFailure() << "at " << i << ": " << a << " vs " << e;
      continue;
    }
    const double size = std::max<double>(std::fabs(e), sizes.empty() ? 0.0 : std::fabs(sizes[i]));
    const double ulp = std::ldexp(1.0, std::max(std::ilogb(size == 0 ? 1e-38 : size), -126) - 23);
    if (std::isinf(e) ? a != e : std::fabs(static_cast<double>(a) - e) > ulps * ulp)
      return ::testing::AssertionFailure() << "at " << i << ": " << a << " vs expected " << e;
  }
  return ::testing::AssertionSuccess();
}

inline ops::KLDivReduction kl_reduction_named(const std::string& name) {
  return name == "batchmean" ? ops::KLDivReduction::BatchMean
         : name == "mean"    ? ops::KLDivReduction::Mean
         : name == "sum"     ? ops::KLDivReduction::Sum
                             : ops::KLDivReduction::None;
}

// kl_div's per-element losses: within 2 ulp of the larger term of t ln t - t x (the logarithm's ulp, which the
// difference may cancel down to), or 3 ulp of e^t (t - x); its reduced loss relative to the sum of the terms' sizes.
inline void check_kl_div_loss(const std::string& name, const nlohmann::json& c, const Tensor& x, const Tensor& t,
                              const Tensor& loss, const std::vector<float>& expected) {
  const bool log_target = c.value("log_target", false);
  const auto xs = x.to_vector(), ts = t.to_vector();
  std::vector<double> term_sizes(xs.size());
  double total = 0;
  for (std::size_t i = 0; i < xs.size(); ++i) {
    const double xi = xs[i], ti = ts[i];
    term_sizes[i] = log_target ? std::fabs(std::exp(ti) * (ti - xi))
                               : std::max(std::fabs(ti == 0 ? 0.0 : ti * std::log(ti)), std::fabs(ti * xi));
    total += term_sizes[i];
  }
  const auto actual = loss.to_vector();
  if (c["reduction"] != "none") {
    const double count = c["reduction"] == "sum" ? 1.0
                         : c["reduction"] == "mean" ? static_cast<double>(xs.size())
                                                   : static_cast<double>(x.dim() == 0 ? 1 : x.size(0));
    EXPECT_TRUE(all_close(actual, to_double(expected), 1e-6, 1e-6, total / count)) << name << ": loss";
    return;
  }
  ASSERT_EQ(actual.size(), expected.size()) << name;
  for (std::size_t i = 0; i < actual.size(); ++i) {
    const float e = expected[i];
    if (!std::isfinite(e)) {
      EXPECT_TRUE(std::isnan(e) ? std::isnan(actual[i]) : actual[i] == e) << name << " at " << i;
      continue;
    }
    const double size = log_target ? std::fabs(e) : std::max(term_sizes[i], static_cast<double>(std::fabs(e)));
    const double ulp = std::ldexp(1.0, std::max(std::ilogb(size == 0 ? 1e-38 : size), -126) - 23);
    EXPECT_LE(std::fabs(static_cast<double>(actual[i]) - e), (log_target ? 3 : 2) * ulp)
        << name << " at " << i << ": " << actual[i] << " vs " << e;
  }
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
  if (op == "kl_div") r = ops::kl_div(x, t, kl_reduction_named(c["reduction"]), c.value("log_target", false));
  ASSERT_TRUE(r.loss.defined()) << name;
  EXPECT_EQ(r.loss.device(), device);
  EXPECT_EQ(r.loss.sizes(), npy("loss").sizes()) << name;
  EXPECT_EQ(r.grad_input.sizes(), x.sizes()) << name;
  const auto expected_loss = npy("loss").to_vector();
  // Only the logarithm (and kl_div's e^t) may differ.
  const int ulps = op == "binary_cross_entropy" || (op == "kl_div" && c.value("log_target", false)) ? 2 : 0;
  if (op == "kl_div") {
    check_kl_div_loss(name, c, npy("x"), npy("t"), r.loss, expected_loss);
  } else if (reduction == ops::Reduction::None) {
    // A weight scales the logarithms' rounding with the loss: the ulps are the unweighted loss's.
    const std::vector<float> unweighted =
        c.contains("weight_shape") ? ops::div(npy("loss"), npy("weight")).to_vector() : std::vector<float>();
    // normrt's ln is within 1 ulp, glibc's within 0.5: binary cross-entropy's (t - 1) ln(1 - x) - t ln x, both terms
    // of one sign, carries up to 1.5 ulps of the loss from them, and its products then round from other values.
    const int loss_ulps = op == "binary_cross_entropy" ? 3 : ulps;
    EXPECT_TRUE(within_ulps(r.loss.to_vector(), expected_loss, loss_ulps, unweighted)) << name << ": loss";
  } else {
    EXPECT_TRUE(all_close(r.loss.to_vector(), to_double(expected_loss), 1e-6, 0)) << name << ": loss";
  }
  EXPECT_TRUE(within_ulps(r.grad_input.to_vector(), npy("grad").to_vector(), ulps)) << name << ": grad";
}

}  // namespace normrt::testing
