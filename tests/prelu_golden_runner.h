// PReLU against PyTorch (tests/golden/make_golden_prelu.py, float64 from float32 inputs), on one device, contiguous
// and (4-d / 5-d) channels-last input: the output and input gradient are one product each, so exactly PyTorch's; the
// weight gradient, a sum, within float rounding. The CPU suite and the GPU suites share it.
#pragma once
#include <cmath>
#include <sstream>

#include <nlohmann/json.hpp>

#include "golden_manifest.h"
#include "test_util.h"

namespace normrt::testing {

inline nlohmann::json prelu_golden() {
  return read_manifest(golden_sibling_dir("data_prelu") + "/cases.json");
}

inline std::vector<std::string> prelu_golden_case_names() {
  const auto cases = prelu_golden();
  std::vector<std::string> names;
  for (const auto& [name, c] : cases.items()) names.push_back(name);
  return names;
}

// A golden list: numbers, or "nan" / "inf" / "-inf".
inline std::vector<float> prelu_values(const nlohmann::json& list) {
  std::vector<float> out;
  for (const auto& v : list) out.push_back(v.is_string() ? std::stof(v.get<std::string>()) : v.get<float>());
  return out;
}

inline void run_prelu_golden_case(const std::string& name, const Device& device) {
  const auto c = prelu_golden()[name];
  const Shape shape = c["shape"].get<Shape>();
  const Tensor x = from_vector(prelu_values(c["x"]), shape), dy = from_vector(prelu_values(c["dy"]), shape);
  for (bool channels_last : {false, true}) {
    if (channels_last && shape.size() != 4 && shape.size() != 5) continue;
    SCOPED_TRACE(name + (channels_last ? " channels-last" : ""));
    nn::PReLU module(c["parameters"].get<int64_t>());
    module.weight.copy_(from_vector(prelu_values(c["weight"]), module.weight.sizes()));
    module.to(device);
    std::ostringstream repr;
    repr << module;
    EXPECT_EQ(repr.str(), c["repr"].get<std::string>());
    const Tensor input = channels_last ? to_channels_last(x) : x;
    const Tensor y = module.forward(input.to(device));
    EXPECT_EQ(y.memory_format(), input.memory_format());
    EXPECT_TRUE(same_bits(y.to_vector(), prelu_values(c["y"])));
    const Tensor dx = module.backward((channels_last ? to_channels_last(dy) : dy).to(device));
    EXPECT_TRUE(same_bits(dx.to_vector(), prelu_values(c["dx"])));
    const auto expected = prelu_values(c["dweight"]);
    EXPECT_TRUE(all_close(module.weight.grad().to_vector(), to_double(expected), 1e-6, 1e-7)) << "dweight";
  }
}

}  // namespace normrt::testing
