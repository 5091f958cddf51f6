// Permutations against PyTorch (tests/golden/make_golden_permute.py): each case permutes arange(numel) and must put
// every input element where PyTorch does, for float32, bfloat16 and int64 elements, contiguous and (4-d / 5-d)
// channels-last input. The CPU suite and the GPU suites share it.
#pragma once

#include <nlohmann/json.hpp>

#include "golden_manifest.h"
#include "test_util.h"

namespace normrt::testing {

inline nlohmann::json permute_golden() {
  return read_manifest(golden_sibling_dir("data_permute") + "/cases.json");
}

inline std::vector<std::string> permute_golden_case_names() {
  const auto cases = permute_golden();
  std::vector<std::string> names;
  for (const auto& [name, c] : cases.items()) names.push_back(name);
  return names;
}

inline Tensor run_permute_case(const nlohmann::json& c, const Tensor& x) {
  const std::string op = c["op"];
  const auto args = c["args"].get<std::vector<int64_t>>();
  if (op == "permute") return ops::permute(x, args);
  if (op == "transpose") return ops::transpose(x, args[0], args[1]);
  if (op == "pixel_shuffle") return ops::pixel_shuffle(x, args[0]);
  if (op == "pixel_unshuffle") return ops::pixel_unshuffle(x, args[0]);
  return ops::channel_shuffle(x, args[0]);
}

inline void run_permute_golden_case(const std::string& name, const Device& device) {
  const auto c = permute_golden()[name];
  const Shape shape = c["shape"].get<Shape>();
  const auto expected = c["expected"].get<std::vector<int64_t>>();
  std::vector<float> values;
  std::vector<int64_t> indices;
  for (int64_t i = 0; i < shape_numel(shape); ++i) {
    values.push_back(static_cast<float>(i));
    indices.push_back(i);
  }
  const Tensor x = from_vector(values, shape);
  std::vector<Tensor> inputs = {x, x.to(DType::BFloat16), from_vector(indices, shape)};
  if (shape.size() == 4 || shape.size() == 5) inputs.push_back(to_channels_last(x));
  for (const Tensor& input : inputs) {
    SCOPED_TRACE(name + " " + dtype_name(input.dtype()) + (input.is_contiguous() ? "" : " channels-last"));
    const Tensor y = run_permute_case(c, input.to(device));
    EXPECT_EQ(y.device(), device);
    EXPECT_EQ(y.dtype(), input.dtype());
    EXPECT_EQ(y.sizes(), c["out_shape"].get<Shape>());
    const Tensor on_host = y.to(Device::cpu());
    std::vector<int64_t> actual;
    if (on_host.dtype() == DType::Int64) {
      const int64_t* p = on_host.data<int64_t>();
      actual.assign(p, p + on_host.numel());
    } else {
      // bfloat16 holds these integers (below 256) exactly; larger cases check float32 and int64 only.
      if (on_host.dtype() == DType::BFloat16 && shape_numel(shape) > 256) continue;
      for (float v : on_host.to(DType::Float32).to_vector()) actual.push_back(static_cast<int64_t>(v));
    }
    EXPECT_EQ(actual, expected);
  }
}

}  // namespace normrt::testing
