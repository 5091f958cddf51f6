// ops::embedding / embedding_backward / embedding_renorm_, nn::Embedding, ops::index_select / index_select_backward and
// ops::embedding_bag with its gradients / nn::EmbeddingBag against PyTorch 1.13
// (tests/golden/make_golden_embedding.py), on one device: the CPU suite and the GPU suites share it. Lookups, bags and
// embedding gradients are exact (the same additions in the same order, rounded alike); embedding_bag's gradients agree
// to rounding (run_embedding_bag_golden_case); max_norm's scale comes from a norm PyTorch accumulates in float
// (bfloat16 rounding as it goes), normrt in double, so renormalised rows agree to within a rounding or so of the dtype.
#pragma once
#include <cmath>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "golden_manifest.h"
#include "normrt/nn/embedding.h"
#include "normrt/ops/embedding.h"
#include "normrt/ops/tensor_ops.h"
#include "test_util.h"

namespace normrt::testing {

inline nlohmann::json embedding_golden() {
  return read_manifest(golden_sibling_dir("data_embedding") + "/cases.json");
}

inline std::vector<std::string> embedding_golden_case_names() {
  const auto cases = embedding_golden();  // items() of a temporary would outlive it
  std::vector<std::string> names;
  for (const auto& [name, c] : cases.items()) names.push_back(name);
  return names;
}

inline DType embedding_dtype(const std::string& name) {
  return name == "float16" ? DType::Float16 : name == "bfloat16" ? DType::BFloat16 : DType::Float32;
}

inline double embedding_norm_type(const nlohmann::json& v) {
  if (v.is_string()) return v.get<std::string>() == "inf" ? INFINITY : -INFINITY;
  return v.get<double>();
}

inline std::vector<double> widened_values(const Tensor& t) {
  const std::vector<float> v = t.to(Device::cpu()).to(DType::Float32).to_vector();
  return std::vector<double>(v.begin(), v.end());
}

inline ops::EmbeddingBagMode embedding_bag_mode(const std::string& mode) {
  return mode == "sum"   ? ops::EmbeddingBagMode::Sum
         : mode == "max" ? ops::EmbeddingBagMode::Max
                         : ops::EmbeddingBagMode::Mean;
}

// embedding_bag's case: the output bit for bit (a module's with max_norm to renormalisation's rounding), the
// gradients to rounding: PyTorch sums a row's terms in an unstable sort's order, its scale folded into BLAS's axpy.
inline void run_embedding_bag_golden_case(const std::string& name, const nlohmann::json& c, const Device& device) {
  const auto floats = [&](const char* key) { return c[key].get<std::vector<float>>(); };
  const auto expected = [&](const char* key) { return c[key].get<std::vector<double>>(); };
  const Shape y_shape = c["y_shape"].get<Shape>();
  const Tensor input = from_vector(c["indices"].get<std::vector<int64_t>>(), c["input_shape"].get<Shape>(), device);
  const Tensor offsets = c["offsets"].is_null() ? Tensor()
                                                : from_vector(c["offsets"].get<std::vector<int64_t>>(),
                                                              {int64_t(c["offsets"].size())}, device);
  const bool module_case = c["kind"] == "bag_module";
  const DType dtype = module_case ? DType::Float32 : embedding_dtype(c["dtype"]);
  const double rtol = dtype == DType::Float32 ? 1e-5 : 1e-2, atol = dtype == DType::Float32 ? 1e-5 : 1e-2;
  Tensor per_sample_weights;
  if (!c["per_sample_weights"].is_null())
    per_sample_weights = from_vector(floats("per_sample_weights"), input.sizes(), device).to(dtype);
  const Tensor dy = from_vector(floats("dy"), y_shape, device).to(dtype);
  const auto expect_gradients = [&](const Tensor& dweight, const Tensor& dper_sample_weights) {
    if (c["dweight"].is_null()) {
      EXPECT_FALSE(dweight.defined()) << name;
    } else {
      ASSERT_TRUE(dweight.defined()) << name;
      EXPECT_TRUE(all_close(widened_values(dweight), expected("dweight"), rtol, atol)) << name << " dweight";
    }
    if (c["dper_sample_weights"].is_null()) return;
    ASSERT_TRUE(dper_sample_weights.defined()) << name;
    EXPECT_TRUE(all_close(widened_values(dper_sample_weights), expected("dper_sample_weights"), rtol, atol))
        << name << " dper_sample_weights";
  };
  if (!module_case) {
    const int64_t rows = c["rows"], columns = c["columns"];
    const Tensor weight = from_vector(floats("weight"), {rows, columns}, device).to(dtype);
    const ops::EmbeddingBagMode mode = embedding_bag_mode(c["mode"]);
    const std::optional<int64_t> padding_idx =
        c["padding_idx"].is_null() ? std::nullopt : std::optional<int64_t>(c["padding_idx"].get<int64_t>());
    const ops::EmbeddingBagResult r =
        ops::embedding_bag(weight, input, offsets, mode, per_sample_weights, c["include_last_offset"], padding_idx);
    EXPECT_EQ(r.output.sizes(), y_shape) << name;
    EXPECT_EQ(r.output.dtype(), dtype) << name;
    EXPECT_TRUE(all_close(widened_values(r.output), expected("y"), 0.0, 0.0)) << name;
    expect_gradients(
        ops::embedding_bag_backward(dy, input, r, rows, mode, per_sample_weights, c["scale_grad_by_freq"], padding_idx),
        per_sample_weights.defined() ? ops::embedding_bag_per_sample_weights_backward(dy, weight, input, r, padding_idx)
                                     : Tensor());
    return;
  }
  const auto o = c["options"];
  const int64_t rows = o["num_embeddings"], columns = o["embedding_dim"];
  const Tensor weight = from_vector(floats("weight"), {rows, columns});
  std::optional<nn::EmbeddingBag> module;
  if (c["pretrained"].is_null()) {
    nn::EmbeddingBagOptions options(rows, columns);
    if (o.contains("mode")) options.mode(embedding_bag_mode(o["mode"]));
    if (o.contains("padding_idx")) options.padding_idx(o["padding_idx"].get<int64_t>());
    if (o.contains("max_norm")) options.max_norm(o["max_norm"].get<double>());
    if (o.contains("norm_type")) options.norm_type(o["norm_type"].get<double>());
    if (o.contains("scale_grad_by_freq")) options.scale_grad_by_freq(o["scale_grad_by_freq"].get<bool>());
    if (o.contains("include_last_offset")) options.include_last_offset(o["include_last_offset"].get<bool>());
    module.emplace(options);
    if (options.padding_idx()) {  // PyTorch's initialisation zeroes the padding row (its draws are its own)
      const std::vector<float> drawn = module->weight.to_vector();
      const int64_t padding = *module->options().padding_idx();
      for (int64_t j = 0; j < columns; ++j) EXPECT_EQ(drawn[padding * columns + j], 0.0f) << name;
    }
    module->weight.copy_(weight);
  } else {
    const auto p = c["pretrained"];
    nn::EmbeddingBagFromPretrainedOptions options;
    if (p.contains("freeze")) options.freeze(p["freeze"].get<bool>());
    if (p.contains("mode")) options.mode(embedding_bag_mode(p["mode"]));
    if (p.contains("padding_idx")) options.padding_idx(p["padding_idx"].get<int64_t>());
    module.emplace(nn::EmbeddingBag::from_pretrained(weight.clone(), options));
  }
  std::ostringstream repr;
  repr << *module;
  EXPECT_EQ(repr.str(), c["repr"].get<std::string>()) << name;
  module->to(device);
  const Tensor y = module->forward(input, offsets, per_sample_weights);
  EXPECT_EQ(y.sizes(), y_shape) << name;
  EXPECT_TRUE(all_close(widened_values(y), expected("y"), 1e-6, 1e-7)) << name;
  EXPECT_TRUE(all_close(widened_values(module->weight), expected("renormed"), 1e-6, 1e-7)) << name;
  EXPECT_FALSE(module->backward(dy).defined()) << name;
  expect_gradients(module->weight.grad(), module->per_sample_weights_grad());
}

inline void run_embedding_golden_case(const std::string& name, const Device& device) {
  const auto c = embedding_golden()[name];
  const auto floats = [&](const char* key) { return c[key].get<std::vector<float>>(); };
  const auto expected = [&](const char* key) { return c[key].get<std::vector<double>>(); };
  const Shape y_shape = c["y_shape"].get<Shape>();
  if (c["kind"] == "index_select") {
    const DType dtype = embedding_dtype(c["dtype"]);
    const Shape shape = c["shape"].get<Shape>();
    Tensor x = from_vector(floats("x"), shape).to(dtype);
    if (c["channels_last"].get<bool>()) x = x.to(MemoryFormat::ChannelsLast);
    const Tensor index = c["index"].is_array()
                             ? from_vector(c["index"].get<std::vector<int64_t>>(), {int64_t(c["index"].size())})
                             : from_vector(std::vector<int64_t>{c["index"].get<int64_t>()}, {});
    const int64_t dim = c["dim"];
    const Tensor y = ops::index_select(x.to(device), dim, index.to(device));
    EXPECT_EQ(y.sizes(), y_shape) << name;
    EXPECT_EQ(y.memory_format(), MemoryFormat::Contiguous) << name;
    EXPECT_TRUE(all_close(widened_values(y), expected("y"), 0.0, 0.0)) << name;
    const Tensor dx = ops::index_select_backward(from_vector(floats("dy"), y_shape, device).to(dtype), shape, dim,
                                                 index.to(device));
    EXPECT_EQ(dx.sizes(), shape) << name;
    EXPECT_EQ(dx.dtype(), dtype) << name;
    EXPECT_TRUE(all_close(widened_values(dx), expected("dx"), 0.0, 0.0)) << name;
    return;
  }
  if (c["kind"] == "bag" || c["kind"] == "bag_module") {
    run_embedding_bag_golden_case(name, c, device);
    return;
  }
  const Tensor indices = from_vector(c["indices"].get<std::vector<int64_t>>(), c["index_shape"].get<Shape>(), device);
  if (c["kind"] == "functional") {
    const DType dtype = embedding_dtype(c["dtype"]);
    const int64_t rows = c["rows"], columns = c["columns"];
    Tensor weight = from_vector(floats("weight"), {rows, columns}, device).to(dtype);
    // A 16-bit renormalised element may round the other way, subnormal ones included.
    const double renorm_rtol = dtype == DType::Float32 ? 1e-6 : 1e-2, renorm_atol = dtype == DType::Float32 ? 1e-7 : 1e-4;
    const bool renorms = !c["max_norm"].is_null();
    if (renorms) {
      ops::embedding_renorm_(weight, indices, c["max_norm"].get<double>(), embedding_norm_type(c["norm_type"]));
      EXPECT_TRUE(all_close(widened_values(weight), expected("renormed"), renorm_rtol, renorm_atol)) << name;
    }
    const Tensor y = ops::embedding(weight, indices);
    EXPECT_EQ(y.sizes(), y_shape) << name;
    EXPECT_EQ(y.dtype(), dtype) << name;
    EXPECT_TRUE(all_close(widened_values(y), expected("y"), renorms ? renorm_rtol : 0.0, renorms ? renorm_atol : 0.0))
        << name;
    const std::optional<int64_t> padding_idx =
        c["padding_idx"].is_null() ? std::nullopt : std::optional<int64_t>(c["padding_idx"].get<int64_t>());
    const Tensor dy = from_vector(floats("dy"), y_shape, device).to(dtype);
    const Tensor dweight = ops::embedding_backward(dy, indices, rows, padding_idx, c["scale_grad_by_freq"]);
    EXPECT_EQ(dweight.sizes(), Shape({rows, columns})) << name;
    EXPECT_TRUE(all_close(widened_values(dweight), expected("dweight"), 0.0, 0.0)) << name;
    return;
  }
  const auto o = c["options"];
  const int64_t rows = o["num_embeddings"], columns = o["embedding_dim"];
  const Tensor weight = from_vector(floats("weight"), {rows, columns});
  std::optional<nn::Embedding> module;
  if (c["pretrained"].is_null()) {
    nn::EmbeddingOptions options(rows, columns);
    if (o.contains("padding_idx")) options.padding_idx(o["padding_idx"].get<int64_t>());
    if (o.contains("max_norm")) options.max_norm(o["max_norm"].get<double>());
    if (o.contains("norm_type")) options.norm_type(o["norm_type"].get<double>());
    if (o.contains("scale_grad_by_freq")) options.scale_grad_by_freq(o["scale_grad_by_freq"].get<bool>());
    module.emplace(options);
    if (options.padding_idx()) {  // PyTorch's initialisation zeroes the padding row (its draws are its own)
      const std::vector<float> drawn = module->weight.to_vector();
      const int64_t padding = *module->options().padding_idx();
      for (int64_t j = 0; j < columns; ++j) EXPECT_EQ(drawn[padding * columns + j], 0.0f) << name;
    }
    module->weight.copy_(weight);
  } else {
    const auto p = c["pretrained"];
    nn::EmbeddingFromPretrainedOptions options;
    if (p.contains("freeze")) options.freeze(p["freeze"].get<bool>());
    if (p.contains("padding_idx")) options.padding_idx(p["padding_idx"].get<int64_t>());
    module.emplace(nn::Embedding::from_pretrained(weight.clone(), options));
  }
  std::ostringstream repr;
  repr << *module;
  EXPECT_EQ(repr.str(), c["repr"].get<std::string>()) << name;
  module->to(device);
  const Tensor y = module->forward(indices);
  EXPECT_EQ(y.sizes(), y_shape) << name;
  EXPECT_TRUE(all_close(widened_values(y), expected("y"), 1e-6, 1e-7)) << name;
  EXPECT_TRUE(all_close(widened_values(module->weight), expected("renormed"), 1e-6, 1e-7)) << name;
  const Tensor grad_input = module->backward(from_vector(floats("dy"), y_shape, device));
  EXPECT_FALSE(grad_input.defined()) << name;
  if (c["dweight"].is_null()) {
    EXPECT_FALSE(module->weight.grad().defined()) << name;
  } else {
    ASSERT_TRUE(module->weight.grad().defined()) << name;
    EXPECT_TRUE(all_close(widened_values(module->weight.grad()), expected("dweight"), 0.0, 0.0)) << name;
  }
}

}  // namespace normrt::testing
