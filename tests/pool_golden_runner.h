// Pooling golden cases (tests/golden/make_golden_pool.py) run on one device: the CPU suite and the GPU suites
// (real and emulated) share it.
#pragma once
#include <cmath>

#include <nlohmann/json.hpp>

#include "golden_manifest.h"
#include "test_util.h"

namespace normrt::testing {

inline std::string pool_golden_dir() { return golden_sibling_dir("data_pool"); }

inline std::vector<std::string> pool_golden_case_names() {
  const auto cases = read_manifest(pool_golden_dir() + "/cases.json");
  std::vector<std::string> names;
  for (const auto& [name, c] : cases.items()) names.push_back(name);
  return names;
}

inline std::vector<int64_t> pool_ints(const nlohmann::json& v) {
  return v.is_array() ? v.get<std::vector<int64_t>>() : std::vector<int64_t>{v.get<int64_t>()};
}

// x and dy channels-last when asked (for 4-d and 5-d inputs), else contiguous; the results keep x's format.
inline void run_pool_golden_case_in(const std::string& name, const Device& device, bool channels_last) {
  const auto c = read_manifest(pool_golden_dir() + "/cases.json")[name];
  const std::string dir = pool_golden_dir() + "/" + name + "/";
  auto npy = [&](const std::string& key) { return load_npy(dir + key + ".npy"); };
  const int spatial = c["spatial"].get<int>();
  Tensor x = npy("x").to(device), dy = npy("dy").to(device);
  if (channels_last) {
    x = to_channels_last(x);
    dy = to_channels_last(dy);
  }
  const std::string kind = c["kind"];
  Tensor y, dx;
  const bool max = kind == "max" || kind == "adaptive_max";
  if (kind == "adaptive") {
    y = ops::adaptive_avg_pool(x, spatial, pool_ints(c["output_size"]));
    dx = ops::adaptive_avg_pool_backward(dy, x, spatial);
  } else if (kind == "adaptive_max") {
    const auto r = ops::adaptive_max_pool(x, spatial, pool_ints(c["output_size"]));
    y = r.output;
    EXPECT_EQ(r.indices.to_vector<int64_t>(), npy("indices").to_vector<int64_t>()) << name;
    EXPECT_EQ(r.indices.memory_format(), x.memory_format()) << name;
    dx = ops::adaptive_max_pool_backward(dy, x, r.indices, spatial);
  } else {
    ops::PoolParams p;
    p.kernel_size = pool_ints(c["kernel"]);
    if (c.contains("stride")) p.stride = pool_ints(c["stride"]);
    if (c.contains("padding")) p.padding = pool_ints(c["padding"]);
    if (c.contains("dilation")) p.dilation = pool_ints(c["dilation"]);
    p.ceil_mode = c.value("ceil_mode", false);
    p.count_include_pad = c.value("count_include_pad", true);
    if (c.contains("divisor_override")) p.divisor_override = c["divisor_override"].get<int64_t>();
    if (kind == "max") {
      const auto r = ops::max_pool(x, spatial, p);
      y = r.output;
      EXPECT_EQ(r.indices.to_vector<int64_t>(), npy("indices").to_vector<int64_t>()) << name;
      dx = ops::max_pool_backward(dy, x, r.indices, spatial, p);
    } else {
      y = ops::avg_pool(x, spatial, p);
      dx = ops::avg_pool_backward(dy, x, spatial, p);
    }
  }
  EXPECT_EQ(y.device(), device);
  EXPECT_EQ(y.sizes(), npy("y").sizes()) << name;
  EXPECT_EQ(y.memory_format(), x.memory_format()) << name;
  EXPECT_EQ(dx.memory_format(), x.memory_format()) << name;
  if (max) {
    // Selection is exact; the gradient sums at most a window's worth of float32 values in PyTorch's order.
    const auto yv = y.to_vector(), ev = npy("y").to_vector();
    ASSERT_EQ(yv.size(), ev.size());
    for (std::size_t i = 0; i < yv.size(); ++i)
      EXPECT_TRUE(yv[i] == ev[i] || (std::isnan(yv[i]) && std::isnan(ev[i]))) << name << " y at " << i;
    EXPECT_EQ(dx.to_vector(), npy("dx").to_vector()) << name;
  } else {
    // Against PyTorch in float64: a float32 result of a sum in double is within 2^-24 relative; the gradient sums at
    // most a few float32 terms.
    EXPECT_TRUE(all_close(y.to_vector(), to_double(npy("y")), 1e-6, 1e-6)) << name;
    EXPECT_TRUE(all_close(dx.to_vector(), to_double(npy("dx")), 1e-6, 1e-6)) << name;
  }
}

// The case with contiguous tensors, and channels-last ones where the input is 4-d or 5-d.
inline void run_pool_golden_case(const std::string& name, const Device& device) {
  contiguous_then_channels_last(read_manifest(pool_golden_dir() + "/cases.json")[name]["input"].size() >= 4,
                                [&](bool channels_last) { run_pool_golden_case_in(name, device, channels_last); });
}

}  // namespace normrt::testing
