// The tensor ops (comparisons, where, masked_fill and the selections too) against PyTorch 1.13
// (tests/golden/make_golden_tensor_ops.py; random_cases.py tensor_ops draws more), on one device: the CPU suite and
// the GPU suites share it. Each case's outputs must have PyTorch's dtypes and shapes and its values: to the bit for the
// copying ops and arithmetic (computed in float and rounded once, as PyTorch's CPU kernels), within two units of the
// dtype's precision for sums, means, variances and softmax (normrt adds in double, PyTorch pairwise in float; the
// exponentials differ in the last bit), relatively so for exp, log and the other transcendental functions (six
// units), and within an ulp for float32 powers. A case PyTorch refuses must be refused in its words, leaving an
// in-place op's destination as it was.
#pragma once
#include <cmath>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <nlohmann/json.hpp>

#include "golden_manifest.h"
#include "normrt/npy.h"
#include "normrt/ops/bucketize.h"
#include "normrt/ops/comparison.h"
#include "normrt/ops/elementwise.h"
#include "normrt/ops/nn.h"
#include "normrt/ops/nonzero.h"
#include "normrt/ops/permute.h"
#include "normrt/ops/rearrange.h"
#include "normrt/ops/tensor_ops.h"
#include "normrt/ops/ternary.h"
#include "test_util.h"

namespace normrt::testing {

inline std::string tensor_ops_golden_dir() { return golden_sibling_dir("data_tensor_ops"); }

inline nlohmann::json tensor_ops_golden() { return read_manifest(tensor_ops_golden_dir() + "/cases.json"); }

inline std::vector<std::string> tensor_ops_golden_case_names() {
  const auto cases = tensor_ops_golden();  // items() refers to it
  std::vector<std::string> names;
  for (const auto& [name, c] : cases.items()) names.push_back(name);
  return names;
}

// A case's number: an integer or a floating value, or "inf", "-inf" or "nan" as a string.
inline Scalar number_of(const nlohmann::json& n) {
  if (n.is_string()) return std::stod(n.get<std::string>());
  if (n.is_number_integer()) return n.get<int64_t>();
  return n.get<double>();
}

inline DType dtype_named(const std::string& name) {
  for (const DType d : {DType::Float32, DType::Float16, DType::BFloat16, DType::Int64, DType::Bool}) {
    if (name == dtype_name(d)) return d;
  }
  ADD_FAILURE() << "unknown dtype " << name;
  return DType::Float32;
}

inline std::string unary_name(ops::UnaryOp op) {
  switch (op) {
    case ops::UnaryOp::Neg: return "neg";
    case ops::UnaryOp::Abs: return "abs";
    case ops::UnaryOp::Sqrt: return "sqrt";
    case ops::UnaryOp::Exp: return "exp";
    case ops::UnaryOp::Log: return "log";
    case ops::UnaryOp::Floor: return "floor";
    case ops::UnaryOp::Ceil: return "ceil";
    case ops::UnaryOp::Round: return "round";
    case ops::UnaryOp::Trunc: return "trunc";
    case ops::UnaryOp::Frac: return "frac";
    case ops::UnaryOp::Sign: return "sign";
    case ops::UnaryOp::Rsqrt: return "rsqrt";
    case ops::UnaryOp::Log1p: return "log1p";
    case ops::UnaryOp::Expm1: return "expm1";
    case ops::UnaryOp::Log2: return "log2";
    case ops::UnaryOp::Log10: return "log10";
    case ops::UnaryOp::Exp2: return "exp2";
    case ops::UnaryOp::Sigmoid: return "sigmoid";
    case ops::UnaryOp::Tanh: return "tanh";
    case ops::UnaryOp::Erf: return "erf";
    case ops::UnaryOp::Erfc: return "erfc";
    case ops::UnaryOp::Sin: return "sin";
    case ops::UnaryOp::Cos: return "cos";
    case ops::UnaryOp::Tan: return "tan";
    case ops::UnaryOp::Reciprocal: break;
  }
  return "reciprocal";
}

// A number op of a case (make_golden_tensor_ops.py's call()): t op n, n op t, t op= n, fill_, full_like.
inline std::vector<Tensor> run_number_op(const std::string& op, Tensor& t, Scalar n) {
  if (op == "add_number") return {t + n};
  if (op == "sub_number") return {t - n};
  if (op == "mul_number") return {t * n};
  if (op == "div_number") return {t / n};
  if (op == "number_add") return {n + t};
  if (op == "number_sub") return {n - t};
  if (op == "number_mul") return {n * t};
  if (op == "number_div") return {n / t};
  if (op == "add_number_") return {t += n};
  if (op == "sub_number_") return {t -= n};
  if (op == "mul_number_") return {t *= n};
  if (op == "div_number_") return {t /= n};
  if (op == "eq_number") return {t == n};
  if (op == "ne_number") return {t != n};
  if (op == "lt_number") return {t < n};
  if (op == "le_number") return {t <= n};
  if (op == "gt_number") return {t > n};
  if (op == "ge_number") return {t >= n};
  if (op == "bitwise_and_number") return {t & n};
  if (op == "bitwise_or_number") return {t | n};
  if (op == "bitwise_xor_number") return {t ^ n};
  if (op == "bitwise_left_shift_number") return {t << n};
  if (op == "bitwise_right_shift_number") return {t >> n};
  if (op == "number_bitwise_left_shift") return {ops::bitwise_left_shift(n, t)};
  if (op == "number_bitwise_right_shift") return {ops::bitwise_right_shift(n, t)};
  if (op == "bitwise_and_number_") return {t &= n};
  if (op == "bitwise_or_number_") return {t |= n};
  if (op == "bitwise_xor_number_") return {t ^= n};
  if (op == "bitwise_left_shift_number_") return {t <<= n};
  if (op == "bitwise_right_shift_number_") return {t >>= n};
  if (op == "number_lt") return {ops::gt(t, n)};  // Python's n < t is t > n
  if (op == "number_eq") return {ops::eq(t, n)};
  if (op == "pow_number") return {ops::pow(t, n)};
  if (op == "pow_number_") return {ops::pow_(t, n)};
  if (op == "number_pow") return {ops::pow(n, t)};
  if (op == "remainder_number") return {t % n};
  if (op == "fmod_number") return {ops::fmod(t, n)};
  if (op == "floor_divide_number") return {ops::floor_divide(t, n)};
  if (op == "div_trunc_number") return {ops::div(t, n, "trunc")};
  if (op == "div_floor_number") return {ops::div(t, n, "floor")};
  if (op == "number_remainder") return {n % t};
  if (op == "remainder_number_") return {t %= n};
  if (op == "fmod_number_") return {ops::fmod_(t, n)};
  if (op == "floor_divide_number_") return {ops::floor_divide_(t, n)};
  if (op == "div_trunc_number_") return {ops::div_(t, n, "trunc")};
  if (op == "div_floor_number_") return {ops::div_(t, n, "floor")};
  if (op == "copysign_number") return {ops::copysign(t, n)};
  if (op == "copysign_number_") return {ops::copysign_(t, n)};
  if (op == "fill_") return {t.fill_(n)};
  if (op == "full_like") return {full_like(t, n)};
  ADD_FAILURE() << "unknown op " << op;
  return {};
}

// The op of a case, as make_golden_tensor_ops.py's call() makes PyTorch's; in-place ops return their destination.
inline std::vector<Tensor> run_tensor_op(const nlohmann::json& c, std::vector<Tensor>& ts, const Device& device) {
  const std::string op = c["op"];
  const auto a = c["args"].get<std::vector<int64_t>>();
  if (op == "full") {
    return {full(Shape(a.begin(), a.end()), number_of(c["number"]),
                 TensorOptions(device).dtype(dtype_named(c["dtype"].get<std::string>())))};
  }
  if (op == "masked_fill") return {ops::masked_fill(ts[0], ts[1], number_of(c["number"]))};
  if (op == "masked_fill_") return {ops::masked_fill_(ts[0], ts[1], number_of(c["number"]))};
  // addcmul's and addcdiv's value (1 when absent) and lerp's weight: the case's number.
  const auto value = [&] { return c.contains("number") ? number_of(c["number"]) : Scalar(1); };
  if (op == "addcmul") return {ops::addcmul(ts[0], ts[1], ts[2], value())};
  if (op == "addcmul_") return {ops::addcmul_(ts[0], ts[1], ts[2], value())};
  if (op == "addcdiv") return {ops::addcdiv(ts[0], ts[1], ts[2], value())};
  if (op == "addcdiv_") return {ops::addcdiv_(ts[0], ts[1], ts[2], value())};
  if (op == "clamp_tensor") return {ops::clamp(ts[0], ts[1], ts[2])};
  if (op == "clamp_tensor_") return {ops::clamp_(ts[0], ts[1], ts[2])};
  if (op == "clamp_tensor_min") return {ops::clamp(ts[0], ts[1], Tensor())};
  if (op == "clamp_tensor_min_") return {ops::clamp_(ts[0], ts[1], Tensor())};
  if (op == "clamp_tensor_max") return {ops::clamp(ts[0], Tensor(), ts[1])};
  if (op == "clamp_tensor_max_") return {ops::clamp_(ts[0], Tensor(), ts[1])};
  if (op == "lerp") return {ops::lerp(ts[0], ts[1], value())};
  if (op == "lerp_") return {ops::lerp_(ts[0], ts[1], value())};
  if (op == "lerp_tensor") return {ops::lerp(ts[0], ts[1], ts[2])};
  if (op == "lerp_tensor_") return {ops::lerp_(ts[0], ts[1], ts[2])};
  if (op.rfind("searchsorted", 0) == 0) {  // args: right, side (0 absent, 1 "left", 2 "right", 3 "middle")
    const std::optional<std::string_view> sides[] = {std::nullopt, "left", "right", "middle"};
    const auto side = sides[a[1]];
    if (op == "searchsorted_number") return {ops::searchsorted(ts[0], value(), a[0] != 0, side)};
    return {ops::searchsorted(ts[0], ts[1], a[0] != 0, side, op == "searchsorted_sorter" ? ts[2] : Tensor())};
  }
  if (op == "bucketize") return {ops::bucketize(ts[0], ts[1], a[0] != 0)};
  if (op == "bucketize_number") return {ops::bucketize(value(), ts[0], a[0] != 0)};
  if (c.contains("number")) return run_number_op(op, ts[0], number_of(c["number"]));
  if (c.contains("replacements")) {  // nan_to_num's nan, posinf and neginf
    const auto value = [&](int k) -> std::optional<double> {
      const auto& v = c["replacements"][k];
      return v.is_null() ? std::nullopt : std::optional<double>(number_of(v).to_double());
    };
    if (op == "nan_to_num_") return {ops::nan_to_num_(ts[0], value(0), value(1), value(2))};
    return {ops::nan_to_num(ts[0], value(0), value(1), value(2))};
  }
  if (c.contains("bounds")) {
    const auto bound = [&](int k) -> std::optional<Scalar> {
      const auto& b = c["bounds"][k];
      return b.is_null() ? std::nullopt : std::optional<Scalar>(number_of(b));
    };
    if (op == "clamp_") return {ops::clamp_(ts[0], bound(0), bound(1))};
    return {ops::clamp(ts[0], bound(0), bound(1))};
  }
  if (op == "eq") return {ts[0] == ts[1]};
  if (op == "ne") return {ts[0] != ts[1]};
  if (op == "lt") return {ts[0] < ts[1]};
  if (op == "le") return {ts[0] <= ts[1]};
  if (op == "gt") return {ts[0] > ts[1]};
  if (op == "ge") return {ts[0] >= ts[1]};
  if (op == "logical_and") return {ops::logical_and(ts[0], ts[1])};
  if (op == "logical_or") return {ops::logical_or(ts[0], ts[1])};
  if (op == "logical_xor") return {ops::logical_xor(ts[0], ts[1])};
  if (op == "logical_not") return {ops::logical_not(ts[0])};
  if (op == "where") return {ops::where(ts[0], ts[1], ts[2])};
  if (op == "bitwise_and") return {ops::bitwise_and(ts[0], ts[1])};
  if (op == "bitwise_or") return {ops::bitwise_or(ts[0], ts[1])};
  if (op == "bitwise_xor") return {ops::bitwise_xor(ts[0], ts[1])};
  if (op == "bitwise_not") return {~ts[0]};
  if (op == "flip") return {ops::flip(ts[0], a)};
  if (op == "roll" && a.size() == 1) return {ops::roll(ts[0], a)};
  if (op == "roll") {
    std::vector<int64_t> shifts, dims;
    for (std::size_t k = 0; k + 1 < a.size(); k += 2) {
      shifts.push_back(a[k]);
      dims.push_back(a[k + 1]);
    }
    return {ops::roll(ts[0], shifts, dims)};
  }
  if (op == "repeat") return {ops::repeat(ts[0], a)};
  if (op == "repeat_interleave")
    return {a.size() == 1 ? ops::repeat_interleave(ts[0], a[0]) : ops::repeat_interleave(ts[0], a[0], a[1])};
  if (op == "repeat_interleave_tensor")
    return {a.empty() ? ops::repeat_interleave(ts[0], ts[1]) : ops::repeat_interleave(ts[0], ts[1], a[0])};
  if (op == "tril") return {ops::tril(ts[0], a.empty() ? 0 : a[0])};
  if (op == "triu") return {ops::triu(ts[0], a.empty() ? 0 : a[0])};
  if (op == "bitwise_left_shift") return {ts[0] << ts[1]};
  if (op == "bitwise_right_shift") return {ts[0] >> ts[1]};
  if (op == "bitwise_and_") return {ts[0] &= ts[1]};
  if (op == "bitwise_or_") return {ts[0] |= ts[1]};
  if (op == "bitwise_xor_") return {ts[0] ^= ts[1]};
  if (op == "bitwise_left_shift_") return {ts[0] <<= ts[1]};
  if (op == "bitwise_right_shift_") return {ts[0] >>= ts[1]};
  if (op == "bitwise_not_") return {ops::bitwise_not_(ts[0])};
  if (op == "nonzero") return {ops::nonzero(ts[0])};
  if (op == "argwhere") return {ops::argwhere(ts[0])};
  if (op == "nonzero_tuple") return ops::nonzero_as_tuple(ts[0]);
  if (op == "masked_select") return {ops::masked_select(ts[0], ts[1])};
  if (op == "masked_scatter") return {ops::masked_scatter(ts[0], ts[1], ts[2])};
  if (op == "masked_scatter_") return {ops::masked_scatter_(ts[0], ts[1], ts[2])};
  if (op == "index") return {ops::index(ts[0], ts[1])};
  if (op == "index_put_") return {ops::index_put_(ts[0], ts[1], ts[2])};
  if (op == "index_put_accumulate") return {ops::index_put_(ts[0], ts[1], ts[2], true)};
  if (op == "broadcast_to") return {ops::broadcast_to(ts[0], Shape(a.begin(), a.end()))};
  if (op == "isnan") return {ops::isnan(ts[0])};
  if (op == "isinf") return {ops::isinf(ts[0])};
  if (op == "isfinite") return {ops::isfinite(ts[0])};
  if (op == "any_dim") return {ops::any(ts[0], a[0], a[1] != 0)};
  if (op == "all_dim") return {ops::all(ts[0], a[0], a[1] != 0)};
  if (op == "count_nonzero") return {ops::count_nonzero(ts[0], a[0])};
  if (op == "count_nonzero_all") return {ops::count_nonzero(ts[0])};
  if (op == "equal") return {from_vector<bool>({ops::equal(ts[0], ts[1])}, {}, TensorOptions(device))};
  if (op == "isclose" || op == "allclose") {
    const auto& t = c["tolerances"];
    const double rtol = t[0], atol = t[1];
    const bool equal_nan = t[2].get<int>() != 0;
    if (op == "isclose") return {ops::isclose(ts[0], ts[1], rtol, atol, equal_nan)};
    return {from_vector<bool>({ops::allclose(ts[0], ts[1], rtol, atol, equal_nan)}, {}, TensorOptions(device))};
  }
  if (op == "any_all") return {ops::any(ts[0])};
  if (op == "all_all") return {ops::all(ts[0])};
  if (op == "maximum") return {ops::maximum(ts[0], ts[1])};
  if (op == "minimum") return {ops::minimum(ts[0], ts[1])};
  using U = ops::UnaryOp;
  for (const U u : {U::Neg,     U::Abs,  U::Sqrt,       U::Exp,   U::Log,   U::Floor, U::Ceil, U::Round, U::Trunc,
                    U::Frac,    U::Sign, U::Reciprocal, U::Rsqrt, U::Log1p, U::Expm1, U::Log2, U::Log10, U::Exp2,
                    U::Sigmoid, U::Tanh, U::Erf,        U::Erfc,  U::Sin,   U::Cos,   U::Tan}) {
    const std::string name = unary_name(u);
    if (op == name) return {u == ops::UnaryOp::Neg ? -ts[0] : ops::unary(u, ts[0])};
    if (op == name + "_") return {ops::unary_(u, ts[0])};
  }
  const Tensor& x = ts[0];
  if (op == "sum") return {ops::sum(x, a[0], a[1] != 0)};
  if (op == "mean") return {ops::mean(x, a[0], a[1] != 0)};
  if (op == "max") {
    const auto [values, indices] = ops::max(x, a[0], a[1] != 0);
    return {values, indices};
  }
  if (op == "argmax") return {ops::argmax(x, a[0], a[1] != 0)};
  if (op == "min") {
    const auto [values, indices] = ops::min(x, a[0], a[1] != 0);
    return {values, indices};
  }
  if (op == "argmin") return {ops::argmin(x, a[0], a[1] != 0)};
  if (op == "cumsum") return {ops::cumsum(x, a[0])};
  if (op == "cumprod") return {ops::cumprod(x, a[0])};
  if (op == "sort") {
    const auto [values, indices] = ops::sort(x, a[0], a[1] != 0);
    return {values, indices};
  }
  if (op == "argsort") return {ops::argsort(x, a[0], a[1] != 0)};
  if (op == "topk") {
    const auto [values, indices] = ops::topk(x, a[0], a[1], a[2] != 0);
    return {values, indices};
  }
  if (op == "var") return {ops::var(x, a[0], a[1] != 0, a[2] != 0)};
  if (op == "std") return {ops::std(x, a[0], a[1] != 0, a[2] != 0)};
  if (op == "sum_all") return {ops::sum(x)};
  if (op == "mean_all") return {ops::mean(x)};
  if (op == "max_all") return {ops::max(x)};
  if (op == "argmax_all") return {ops::argmax(x)};
  if (op == "min_all") return {ops::min(x)};
  if (op == "argmin_all") return {ops::argmin(x)};
  if (op == "var_all") return {ops::var(x)};
  if (op == "std_all") return {ops::std(x)};
  if (op == "narrow") return {ops::narrow(x, a[0], a[1], a[2])};
  if (op == "slice") return {ops::slice(x, a[0], a[1], a[2])};
  if (op == "select") return {ops::select(x, a[0], a[1])};
  if (op == "cat") return {ops::cat(ts, a[0])};
  if (op == "stack") return {ops::stack(ts, a[0])};
  if (op == "permute") return {ops::permute(x, a)};
  if (op == "transpose") return {ops::transpose(x, a[0], a[1])};
  if (op == "pixel_shuffle") return {ops::pixel_shuffle(x, a[0])};
  if (op == "pixel_unshuffle") return {ops::pixel_unshuffle(x, a[0])};
  if (op == "channel_shuffle") return {ops::channel_shuffle(x, a[0])};
  if (op == "add") return {ops::add(ts[0], ts[1])};
  if (op == "sub") return {ops::sub(ts[0], ts[1])};
  if (op == "mul") return {ops::mul(ts[0], ts[1])};
  if (op == "div") return {ops::div(ts[0], ts[1])};
  if (op == "add_") return {ops::add_(ts[0], ts[1])};
  if (op == "mul_") return {ops::mul_(ts[0], ts[1])};
  if (op == "pow") return {ops::pow(ts[0], ts[1])};
  if (op == "pow_") return {ops::pow_(ts[0], ts[1])};
  if (op == "round_decimals") return {ops::round(x, a[0])};
  if (op == "round_decimals_") return {ops::round_(ts[0], a[0])};
  if (op == "remainder") return {ts[0] % ts[1]};
  if (op == "fmod") return {ops::fmod(ts[0], ts[1])};
  if (op == "floor_divide") return {ops::floor_divide(ts[0], ts[1])};
  if (op == "div_trunc") return {ops::div(ts[0], ts[1], "trunc")};
  if (op == "div_floor") return {ops::div(ts[0], ts[1], "floor")};
  if (op == "remainder_") return {ts[0] %= ts[1]};
  if (op == "fmod_") return {ops::fmod_(ts[0], ts[1])};
  if (op == "floor_divide_") return {ops::floor_divide_(ts[0], ts[1])};
  if (op == "div_trunc_") return {ops::div_(ts[0], ts[1], "trunc")};
  if (op == "div_floor_") return {ops::div_(ts[0], ts[1], "floor")};
  if (op == "div_rounding_mode_x") return {ops::div(ts[0], ts[1], "x")};
  if (op == "copysign") return {ops::copysign(ts[0], ts[1])};
  if (op == "copysign_") return {ops::copysign_(ts[0], ts[1])};
  if (op == "reshape") return {x.reshape(Shape(a.begin(), a.end()))};
  if (op == "softmax" || op == "log_softmax") return {ops::softmax(x, a[0], op == "log_softmax")};
  ADD_FAILURE() << "unknown op " << op;
  return {};
}

// A tensor's bytes in its memory order, from any device.
inline std::vector<uint8_t> bytes_of(const Tensor& t) {
  const Tensor host = t.to(Device::cpu());
  const auto* p = static_cast<const uint8_t*>(host.raw_data());
  return std::vector<uint8_t>(p, p + host.nbytes());
}

// Whether each float is the expected one or its neighbour of the same sign (NaN for NaN).
inline ::testing::AssertionResult within_an_ulp(const std::vector<float>& actual, const std::vector<float>& expected) {
  for (std::size_t i = 0; i < actual.size(); ++i) {
    const uint32_t a = half_bits::bits_of(actual[i]), e = half_bits::bits_of(expected[i]);
    const bool nan_a = std::isnan(actual[i]), nan_e = std::isnan(expected[i]);
    if (nan_a != nan_e || (!nan_a && ((a ^ e) >> 31 != 0 || (a > e ? a - e : e - a) > 1)))
      return ::testing::AssertionFailure() << "at " << i << ": " << actual[i] << " vs expected " << expected[i];
  }
  return ::testing::AssertionSuccess();
}

// An exception's message without the " (src/file.cpp:line)" normrt appends.
inline std::string message_of(const std::exception& e) {
  const std::string m = e.what();
  const auto at = m.rfind(" (src/");
  return at == std::string::npos ? m : m.substr(0, at);
}

inline void run_tensor_ops_golden_case(const std::string& name, const Device& device) {
  const auto c = tensor_ops_golden()[name];
  const std::string dir = tensor_ops_golden_dir() + "/" + name + "/";
  std::vector<Tensor> inputs;
  for (std::size_t k = 0; k < c["shapes"].size(); ++k) {
    Tensor t = load_npy(dir + "in" + std::to_string(k) + ".npy");
    if (c["cls"][k].get<bool>()) t = to_channels_last(t);
    inputs.push_back(t.to(device));
  }
  const std::string op = c["op"];
  if (c.contains("error")) {
    const std::vector<uint8_t> before = inputs.empty() ? std::vector<uint8_t>() : bytes_of(inputs[0]);
    try {
      run_tensor_op(c, inputs, device);
      ADD_FAILURE() << name << ": PyTorch refuses it (" << c["error"].get<std::string>() << "), normrt did not";
    } catch (const std::exception& e) {
      // A kernel's name in PyTorch's words ends in its device: "abs_cpu" on the CPU, "abs_cuda" on a GPU
      // ("floor_vml_cpu", "addcmul_cpu_out" and "lerp_kernel_scalar" there "floor_cuda", "addcmul_cuda" and
      // "lerp_cuda"); a tensor's type names it: "CPUBoolType" and "CUDABoolType", "torch.HalfTensor" and
      // "torch.cuda.HalfTensor".
      std::string expected = c["error"];
      const std::pair<const char*, const char*> gpu_kernels[] = {
          {"_vml_cpu\" not", "_cuda\" not"}, {"_cpu_out\" not", "_cuda\" not"}, {"_cpu\" not", "_cuda\" not"},
          {"lerp_kernel_scalar\"", "lerp_cuda\""}, {"lerp_kernel_tensor\"", "lerp_cuda\""}};
      for (const auto& [cpu, gpu] : gpu_kernels) {
        const auto at = expected.find(cpu);
        if (!device.is_cuda() || at == std::string::npos) continue;
        expected.replace(at, std::strlen(cpu), gpu);
        break;
      }
      const auto type = expected.find("(CPU");
      if (device.is_cuda() && type != std::string::npos) expected.replace(type + 1, 3, "CUDA");
      const auto legacy = expected.find("(torch.");
      if (device.is_cuda() && legacy != std::string::npos) expected.insert(legacy + 7, "cuda.");
      EXPECT_EQ(message_of(e), expected) << name;
    }
    if (!inputs.empty()) EXPECT_EQ(bytes_of(inputs[0]), before) << name << ": the input changed";
    return;
  }
  const std::vector<Tensor> outputs = run_tensor_op(c, inputs, device);
  const auto dtypes = c["outputs"].get<std::vector<std::string>>();
  ASSERT_EQ(outputs.size(), dtypes.size()) << name;
  const bool rounded = op == "sum" || op == "mean" || op == "sum_all" || op == "mean_all" || op == "softmax" ||
                       op == "log_softmax" || op == "var" || op == "std" || op == "var_all" || op == "std_all";
  // e^x and ln x: normrt's and PyTorch's are each within an ulp of the exact value (relative, so no absolute slack);
  // the other transcendental functions within 4.3 ulps (float_math.cuh) beside SLEEF's 1.5.
  const std::string function = op.back() == '_' ? op.substr(0, op.size() - 1) : op;
  const bool transcendental = function == "exp" || function == "log";
  const bool more_transcendental = function == "log1p" || function == "expm1" || function == "log2" ||
                                   function == "log10" || function == "exp2" || function == "sigmoid" ||
                                   function == "tanh" || function == "erf" || function == "erfc" || function == "sin" ||
                                   function == "cos" || function == "tan";
  // x^y: normrt's powf is correctly rounded, PyTorch's vectorised one within an ulp; a 16-bit result is that float
  // rounded, so the same but for a float within an ulp of a rounding boundary.
  const bool powered = op.find("pow") != std::string::npos;
  for (std::size_t k = 0; k < outputs.size(); ++k) {
    SCOPED_TRACE(name + " output " + std::to_string(k));
    const Tensor expected = load_npy(dir + "out" + std::to_string(k) + ".npy");
    const Tensor actual = outputs[k].to(Device::cpu());
    EXPECT_EQ(outputs[k].device(), device);
    EXPECT_EQ(dtype_name(actual.dtype()), dtypes[k]);
    EXPECT_EQ(actual.sizes(), expected.sizes());
    if (actual.dtype() != expected.dtype() || actual.sizes() != expected.sizes()) continue;
    const double unit = actual.dtype() == DType::Float32   ? std::ldexp(1.0, -23)
                        : actual.dtype() == DType::Float16 ? std::ldexp(1.0, -10)
                                                           : std::ldexp(1.0, -7);
    const std::vector<float> values = actual.to(DType::Float32).to_vector();
    if (actual.dtype() == DType::Int64) {
      EXPECT_EQ(actual.to_vector<int64_t>(), expected.to_vector<int64_t>());
    } else if (powered && actual.dtype() == DType::Float32) {
      EXPECT_TRUE(within_an_ulp(values, expected.to_vector()));
    } else if (transcendental) {
      EXPECT_TRUE(all_close(values, expected.to(DType::Float32).to_vector(), 2 * unit, 0.0));
    } else if (more_transcendental) {  // and SLEEF's log1p is 0 at the smallest subnormals
      EXPECT_TRUE(all_close(values, expected.to(DType::Float32).to_vector(), 6 * unit, std::ldexp(1.0, -146), 1.0));
    } else if (!rounded) {
      EXPECT_TRUE(same_bits(values, expected.to(DType::Float32).to_vector()));
    } else {
      EXPECT_TRUE(all_close(values, expected.to(DType::Float32).to_vector(), 2 * unit, unit));
    }
  }
}

}  // namespace normrt::testing
