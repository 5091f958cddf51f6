// ops::gather / gather_backward / scatter / scatter_ (with a reduce too) / scatter_add / scatter_add_ /
// scatter_reduce / scatter_reduce_ against PyTorch 1.13
// (tests/golden/make_golden_scatter_gather.py), on one device: the CPU suite and the GPU suites share it. Every value
// is exact: the same elements copied, the same reductions in the same order rounded alike.
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "golden_manifest.h"
#include "normrt/ops/scatter_gather.h"
#include "test_util.h"

namespace normrt::testing {

inline nlohmann::json scatter_gather_golden() {
  return read_manifest(golden_sibling_dir("data_scatter_gather") + "/cases.json");
}

inline std::vector<std::string> scatter_gather_golden_case_names() {
  const auto cases = scatter_gather_golden();  // items() of a temporary would outlive it
  std::vector<std::string> names;
  for (const auto& [name, c] : cases.items()) names.push_back(name);
  return names;
}

// A case's values as a tensor of its dtype (int64 exactly), channels-last when asked.
inline Tensor golden_values(const nlohmann::json& values, const Shape& shape, const std::string& dtype,
                            bool channels_last = false) {
  Tensor t = dtype == "int64" ? from_vector(values.get<std::vector<int64_t>>(), shape)
                              : from_vector(values.get<std::vector<float>>(), shape)
                                    .to(dtype == "float16"    ? DType::Float16
                                        : dtype == "bfloat16" ? DType::BFloat16
                                        : dtype == "bool"     ? DType::Bool
                                                              : DType::Float32);
  return channels_last ? t.to(MemoryFormat::ChannelsLast) : t;
}

// t's values (in logical order) equal the case's, bit for bit (int64 exactly; NaN nowhere expected).
inline void expect_golden_values(const Tensor& t, const nlohmann::json& expected, const std::string& what) {
  const Tensor host = t.to(Device::cpu());
  if (host.dtype() == DType::Int64) {
    EXPECT_EQ(host.to_vector<int64_t>(), expected.get<std::vector<int64_t>>()) << what;
    return;
  }
  const std::vector<float> got = host.to(DType::Float32).to_vector();
  const auto want = expected.get<std::vector<double>>();
  ASSERT_EQ(got.size(), want.size()) << what;
  for (std::size_t i = 0; i < got.size(); ++i) ASSERT_EQ(static_cast<double>(got[i]), want[i]) << what << " at " << i;
}

inline void run_scatter_gather_golden_case(const std::string& name, const Device& device) {
  const auto c = scatter_gather_golden()[name];
  const std::string dtype = c["dtype"];
  const Shape shape = c["shape"].get<Shape>(), index_shape = c["index_shape"].get<Shape>();
  const int64_t dim = c["dim"];
  const bool channels_last = c["channels_last"];
  const Tensor index = from_vector(c["index"].get<std::vector<int64_t>>(), index_shape, device);
  if (c["kind"] == "gather") {
    const Tensor x = golden_values(c["x"], shape, dtype, channels_last).to(device);
    const Tensor y = ops::gather(x, dim, index);
    EXPECT_EQ(y.sizes(), c["y_shape"].get<Shape>()) << name;
    EXPECT_EQ(y.dtype(), x.dtype()) << name;
    EXPECT_TRUE(y.is_contiguous()) << name;
    expect_golden_values(y, c["y"], name + " y");
    if (c.contains("dx")) {
      const Tensor dx = ops::gather_backward(golden_values(c["dy"], index_shape, dtype).to(device), shape, dim, index);
      EXPECT_EQ(dx.sizes(), shape) << name;
      EXPECT_EQ(dx.dtype(), x.dtype()) << name;
      expect_golden_values(dx, c["dx"], name + " dx");
    }
    return;
  }
  const Tensor self = golden_values(c["self"], shape, dtype, channels_last).to(device);
  const std::string op = c["op"];
  const std::string reduce = c.value("reduce", "");
  const bool include_self = c.value("include_self", true);
  Tensor src;
  if (op != "value") src = golden_values(c["src"], c["src_shape"].get<Shape>(), dtype).to(device);
  const auto scatter_out = [&]() {
    if (op == "value")
      return reduce.empty() ? ops::scatter(self, dim, index, c["value"].get<double>())
                            : ops::scatter(self, dim, index, c["value"].get<double>(), reduce);
    if (op == "reduce") return ops::scatter_reduce(self, dim, index, src, reduce, include_self);
    if (op == "assign")
      return reduce.empty() ? ops::scatter(self, dim, index, src) : ops::scatter(self, dim, index, src, reduce);
    return ops::scatter_add(self, dim, index, src);
  };
  const Tensor y = scatter_out();
  EXPECT_EQ(y.sizes(), shape) << name;
  EXPECT_TRUE(y.is_contiguous()) << name;
  expect_golden_values(y, c["y"], name + " out of place");
  expect_golden_values(self, c["self"], name + " self untouched");
  // In place: self's memory format kept, its version bumped.
  Tensor inplace = self.clone();
  const uint64_t version = inplace.version();
  if (op == "value" && reduce.empty())
    ops::scatter_(inplace, dim, index, c["value"].get<double>());
  else if (op == "value")
    ops::scatter_(inplace, dim, index, c["value"].get<double>(), reduce);
  else if (op == "reduce")
    ops::scatter_reduce_(inplace, dim, index, src, reduce, include_self);
  else if (op == "assign" && reduce.empty())
    ops::scatter_(inplace, dim, index, src);
  else if (op == "assign")
    ops::scatter_(inplace, dim, index, src, reduce);
  else
    ops::scatter_add_(inplace, dim, index, src);
  EXPECT_EQ(inplace.memory_format(), self.memory_format()) << name;
  if (index.numel() > 0) EXPECT_GT(inplace.version(), version) << name;
  expect_golden_values(inplace, c["y"], name + " in place");
}

}  // namespace normrt::testing
