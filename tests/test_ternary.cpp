// addcmul, addcdiv and lerp over tensors large enough to run in parallel and vectorised, broadcast across memory
// formats and in place, against PyTorch's formulas spelled out here with an exact multiply-add (long double holds a
// float product exactly); the 16-bit dtypes against float32 rounded once; int64's wrap-around; type promotion; and the
// refusals in PyTorch's words, which leave an in-place operand untouched. PyTorch's own numbers are the golden cases
// (make_golden_tensor_ops.py).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "normrt/ops/tensor_ops.h"
#include "normrt/ops/ternary.h"
#include "test_util.h"

namespace normrt {
namespace {

using testing::throws_with;

// a * b + c rounded once to float: the product is exact in long double's 64 bits and the sum rounded there first, which
// rounds to float as the exact sum does unless it lands on a float tie (not for these draws).
float fused(float a, float b, float c) {
  return static_cast<float>(static_cast<long double>(a) * static_cast<long double>(b) + static_cast<long double>(c));
}

float addcmul_of(float self, float t1, float t2, float value) { return fused(value * t1, t2, self); }
float addcdiv_of(float self, float t1, float t2, float value) {
  const float scaled = value * t1;
  const float quotient = scaled / t2;
  return self + quotient;
}
float lerp_of(float start, float end, float weight) {
  const float difference = end - start;
  return weight < 0.5f ? fused(weight, difference, start) : fused(-difference, 1.0f - weight, end);
}

// randn * scale with zeros of both signs, infinities, NaN and extremes near the front (as many as fit).
Tensor drawn(const Shape& shape, uint64_t seed, double scale) {
  Generator gen(seed);
  std::vector<float> values = (randn(shape, gen) * scale).to_vector();
  const std::vector<float> specials = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, 1e-40f, 3e38f};
  const std::size_t offset = std::min<std::size_t>(seed % 5, values.size());
  std::copy_n(specials.begin(), std::min(specials.size(), values.size() - offset), values.begin() + offset);
  return from_vector(values, shape);
}

std::vector<float> values_of(const Tensor& t, const Shape& shape) {
  return ops::broadcast_to(t, shape).to(MemoryFormat::Contiguous).to(DType::Float32).to_vector();
}

std::vector<float> contiguous_values(const Tensor& t) {
  return t.to(MemoryFormat::Contiguous).to(DType::Float32).to_vector();
}

TEST(Ternary, FloatOpsAreTheFormulasBroadcastInEveryLayoutAndInPlace) {
  const Shape shape = {3, 5, 70, 67};
  const Tensor self = drawn(shape, 1, 3.0), per_channel = drawn({5, 1, 1}, 2, 2.0), other = drawn(shape, 3, 1.5);
  const Tensor weights = drawn({70, 67}, 4, 1.0);
  const std::vector<float> s = values_of(self, shape), c = values_of(per_channel, shape), o = values_of(other, shape),
                           w = values_of(weights, shape);
  for (const MemoryFormat format : {MemoryFormat::Contiguous, MemoryFormat::ChannelsLast}) {
    SCOPED_TRACE(format == MemoryFormat::Contiguous ? "NCHW" : "NHWC");
    const Tensor x = self.to(format), z = other.to(MemoryFormat::ChannelsLast);
    std::vector<float> want(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) want[i] = addcmul_of(s[i], c[i], o[i], -0.375f);
    const Tensor product = ops::addcmul(x, per_channel, z, -0.375);
    EXPECT_EQ(product.memory_format(), format);
    ASSERT_TRUE(testing::same_bits(contiguous_values(product), want));
    Tensor in_place = x.clone();
    ops::addcmul_(in_place, per_channel, z, -0.375);
    EXPECT_EQ(in_place.memory_format(), format);
    ASSERT_TRUE(testing::same_bits(contiguous_values(in_place), want));

    for (std::size_t i = 0; i < s.size(); ++i) want[i] = addcdiv_of(s[i], o[i], c[i], 1.75f);
    ASSERT_TRUE(testing::same_bits(contiguous_values(ops::addcdiv(x, z, per_channel, 1.75)), want));
    in_place = x.clone();
    ops::addcdiv_(in_place, z, per_channel, 1.75);
    ASSERT_TRUE(testing::same_bits(contiguous_values(in_place), want));

    for (const double weight : {0.3, 0.5, 0.7, -0.6, 1.0, 0.0, 2.5}) {
      for (std::size_t i = 0; i < s.size(); ++i) want[i] = lerp_of(s[i], o[i], static_cast<float>(weight));
      ASSERT_TRUE(testing::same_bits(contiguous_values(ops::lerp(x, z, weight)), want)) << weight;
    }
    for (std::size_t i = 0; i < s.size(); ++i) want[i] = lerp_of(s[i], c[i], w[i]);
    ASSERT_TRUE(testing::same_bits(contiguous_values(ops::lerp(x, per_channel, weights)), want));
    in_place = x.clone();
    ops::lerp_(in_place, per_channel, weights);
    ASSERT_TRUE(testing::same_bits(contiguous_values(in_place), want));
  }
}

TEST(Ternary, LerpHitsItsEndsExactly) {
  const Tensor start = drawn({4099}, 5, 1e30), end = drawn({4099}, 6, 1e-3);
  const std::vector<float> s = start.to_vector(), e = end.to_vector();
  const std::vector<float> at_start = ops::lerp(start, end, 0.0).to_vector(),
                           at_end = ops::lerp(start, end, 1).to_vector();
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (!std::isfinite(e[i] - s[i])) continue;  // 0 * inf is NaN
    ASSERT_EQ(at_start[i], s[i]) << i;
    ASSERT_EQ(at_end[i], e[i]) << i;
  }
  EXPECT_TRUE(std::isnan(ops::lerp(start, end, NAN).to_vector()[100]));
}

TEST(Ternary, SixteenBitDtypesAreFloat32RoundedOnce) {
  const Shape shape = {2, 3, 33, 17};
  for (const DType dtype : {DType::Float16, DType::BFloat16}) {
    SCOPED_TRACE(dtype_name(dtype));
    const Tensor x = drawn(shape, 7, 2.0).to(dtype), y = drawn({3, 1, 17}, 8, 2.0).to(dtype),
                 z = drawn(shape, 9, 0.5).to(dtype).to(MemoryFormat::ChannelsLast);
    const Tensor xf = x.to(DType::Float32), yf = y.to(DType::Float32), zf = z.to(DType::Float32);
    const auto expect_rounded_once = [&](const Tensor& got, const Tensor& wide) {
      EXPECT_EQ(got.dtype(), dtype);
      ASSERT_TRUE(testing::same_bits(contiguous_values(got), contiguous_values(wide.to(dtype))));
    };
    expect_rounded_once(ops::addcmul(x, y, z, 0.1), ops::addcmul(xf, yf, zf, 0.1));
    expect_rounded_once(ops::addcdiv(x, y, z, -3), ops::addcdiv(xf, yf, zf, -3));
    expect_rounded_once(ops::lerp(x, z, 0.3), ops::lerp(xf, zf, 0.3));
    expect_rounded_once(ops::lerp(x, z, 0.8), ops::lerp(xf, zf, 0.8));
    expect_rounded_once(ops::lerp(x, y, z), ops::lerp(xf, yf, zf));
    Tensor in_place = x.clone();
    ops::addcmul_(in_place, y, z, 0.1);
    expect_rounded_once(in_place, ops::addcmul(xf, yf, zf, 0.1));
    // A 0-dim float32 operand takes the 16-bit dtype (PyTorch's result_type), its value rounded to it first.
    const Tensor third = full({}, 1.0 / 3.0);
    expect_rounded_once(ops::addcmul(x, y, third), ops::addcmul(xf, yf, third.to(dtype).to(DType::Float32)));
    // In place from float32 operands: computed in float32, rounded once into the 16-bit tensor.
    in_place = x.clone();
    ops::addcdiv_(in_place, yf, zf, 0.7);
    expect_rounded_once(in_place, ops::addcdiv(xf, yf, zf, 0.7));
  }
}

TEST(Ternary, Int64AddcmulWrapsAroundAndTruncatesItsValue) {
  const int64_t big = int64_t{1} << 62;
  const Tensor self = from_vector<int64_t>({big, -5, 7, INT64_MIN}, {4});
  const auto wrapped = [](int64_t s, int64_t a, int64_t b, int64_t v) {
    return static_cast<int64_t>(static_cast<uint64_t>(v) * static_cast<uint64_t>(a) * static_cast<uint64_t>(b) +
                                static_cast<uint64_t>(s));
  };
  const std::vector<int64_t> s = self.to_vector<int64_t>();
  for (const auto& [value, as_int] : std::vector<std::pair<Scalar, int64_t>>{{3, 3}, {-2.7, -2}, {2.5, 2}, {true, 1}}) {
    const Tensor got = ops::addcmul(self, self, self, value);
    ASSERT_EQ(got.dtype(), DType::Int64);
    const std::vector<int64_t> g = got.to_vector<int64_t>();
    for (std::size_t i = 0; i < s.size(); ++i) EXPECT_EQ(g[i], wrapped(s[i], s[i], s[i], as_int)) << i;
  }
  // bool operands beside an int64 self count as 0 and 1.
  Tensor counts = from_vector<int64_t>({1, 2}, {2});
  const Tensor flags = from_vector<bool>({true, false}, {2});
  ops::addcmul_(counts, flags, flags, 3);
  EXPECT_EQ(counts.to_vector<int64_t>(), (std::vector<int64_t>{4, 2}));
  EXPECT_TRUE(throws_with([&] { ops::addcmul(self, self, self, NAN); },
                          "value cannot be converted to type int64_t without overflow"));
}

TEST(Ternary, ResultTypesArePyTorchs) {
  const Tensor i = from_vector<int64_t>({1, 2, 3}, {3}), f = from_vector<float>({1.5f, 2.0f, 3.0f}, {3});
  const Tensor h = f.to(DType::Float16), b = f.to(DType::BFloat16);
  EXPECT_EQ(ops::addcmul(i, f, i).dtype(), DType::Float32);
  EXPECT_EQ(ops::addcmul(i, full({}, 2.5), i, 2).to_vector(), (std::vector<float>{6.0f, 12.0f, 18.0f}));
  EXPECT_EQ(ops::addcmul(h, full({}, 2.5), h).dtype(), DType::Float16);
  EXPECT_EQ(ops::addcmul(h, f, b).dtype(), DType::Float32);
  EXPECT_EQ(ops::addcmul(i, i, i, 2.5).to_vector<int64_t>(), (std::vector<int64_t>{3, 10, 21}));
  EXPECT_EQ(ops::addcdiv(i, f, i).to_vector(), (std::vector<float>{2.5f, 3.0f, 4.0f}));
  EXPECT_EQ(ops::addcdiv(i, i, f).dtype(), DType::Float32);
  EXPECT_EQ(ops::lerp(b, b + 1.0, 0.25).dtype(), DType::BFloat16);
  EXPECT_EQ(ops::lerp(f, full({}, 2.0), 0.5).to_vector(), (std::vector<float>{1.75f, 2.0f, 2.5f}));
  const Tensor empty_rows = ops::addcmul(zeros({0, 3}), zeros({0, 3}), ones({3}));
  EXPECT_EQ(empty_rows.sizes(), (Shape{0, 3}));
  // N * spatial = 2 and a single channel.
  const Tensor pair = from_vector<float>({1.0f, -2.0f}, {2, 1, 1, 1});
  EXPECT_EQ(ops::lerp(pair, pair * 3.0, full({1, 1, 1}, 0.5)).to_vector(), (std::vector<float>{2.0f, -4.0f}));
}

TEST(Ternary, ClampWithTensorBoundsIsMinOfMaxBroadcast) {
  const Shape shape = {3, 5, 70, 67};
  const Tensor x = drawn(shape, 11, 2.0), lo = drawn({5, 1, 1}, 12, 1.0) - 0.5, hi = drawn({70, 67}, 13, 1.0) + 0.5;
  const std::vector<float> xs = values_of(x, shape), los = values_of(lo, shape), his = values_of(hi, shape);
  std::vector<float> want(xs.size());
  for (std::size_t i = 0; i < xs.size(); ++i) {
    const float raised = xs[i] < los[i] ? los[i] : xs[i];  // std::max(x, lo): x where they compare equal
    want[i] = std::isnan(los[i]) || std::isnan(his[i]) ? NAN : his[i] < raised ? his[i] : raised;
  }
  for (const MemoryFormat format : {MemoryFormat::Contiguous, MemoryFormat::ChannelsLast}) {
    const Tensor xf = x.to(format);
    const Tensor got = ops::clamp(xf, lo, hi);
    EXPECT_EQ(got.memory_format(), format);
    ASSERT_TRUE(testing::same_bits(contiguous_values(got), want));
    Tensor in_place = xf.clone();
    ops::clamp_(in_place, lo, hi);
    ASSERT_TRUE(testing::same_bits(contiguous_values(in_place), want));
  }
  // Both bounds per channel (one value of each along a row), as maximum then minimum compute it.
  const Tensor upper = lo + 1.0;
  for (const MemoryFormat format : {MemoryFormat::Contiguous, MemoryFormat::ChannelsLast})
    EXPECT_TRUE(testing::same_bits(contiguous_values(ops::clamp(x.to(format), lo, upper)),
                                   contiguous_values(ops::minimum(ops::maximum(x, lo), upper))));
  // One bound alone is maximum / minimum; int64 exact; min > max gives max; 16-bit as float32 rounded once.
  EXPECT_TRUE(
      testing::same_bits(contiguous_values(ops::clamp(x, lo, Tensor())), contiguous_values(ops::maximum(x, lo))));
  EXPECT_TRUE(
      testing::same_bits(contiguous_values(ops::clamp(x, Tensor(), hi)), contiguous_values(ops::minimum(x, hi))));
  const Tensor big = from_vector<int64_t>({INT64_MIN, -3, 7, INT64_MAX}, {4});
  EXPECT_EQ(ops::clamp(big, from_vector<int64_t>({-5, -5, 8, 0}, {4}), full({}, 6, TensorOptions().dtype(DType::Int64)))
                .to_vector<int64_t>(),
            (std::vector<int64_t>{-5, -3, 6, 6}));
  EXPECT_EQ(ops::clamp(from_vector<float>({0.0f, 5.0f, 10.0f}, {3}), full({3}, 3.0), full({3}, 1.0)).to_vector(),
            (std::vector<float>{1.0f, 1.0f, 1.0f}));
  // Where a bound equals the element, the element's zero (PyTorch's scalar loop).
  EXPECT_TRUE(
      testing::same_bits(ops::clamp(from_vector<float>({0.0f, -0.0f}, {2}), from_vector<float>({-0.0f, 0.0f}, {2}),
                                    from_vector<float>({0.0f, 0.0f}, {2}))
                             .to_vector(),
                         {0.0f, -0.0f}));
  const Tensor h = x.to(DType::BFloat16);
  EXPECT_TRUE(
      testing::same_bits(contiguous_values(ops::clamp(h, lo.to(DType::BFloat16), hi.to(DType::BFloat16))),
                         contiguous_values(ops::clamp(h.to(DType::Float32), lo.to(DType::BFloat16).to(DType::Float32),
                                                      hi.to(DType::BFloat16).to(DType::Float32))
                                               .to(DType::BFloat16))));
  // An int64 tensor with a float bound is float32; in place that is refused, the tensor untouched.
  Tensor counts = from_vector<int64_t>({1, 5}, {2});
  EXPECT_EQ(ops::clamp(counts, from_vector<float>({2.5f, 0.0f}, {2}), full({2}, 4.0)).to_vector(),
            (std::vector<float>{2.5f, 4.0f}));
  EXPECT_TRUE(throws_with([&] { ops::clamp_(counts, full({2}, 2.5), full({2}, 4.0)); },
                          "result type Float can't be cast to the desired output type Long"));
  EXPECT_EQ(counts.to_vector<int64_t>(), (std::vector<int64_t>{1, 5}));
  const Tensor flags = from_vector<bool>({true, false}, {2});
  EXPECT_TRUE(throws_with([&] { ops::clamp(flags, flags, flags); }, "\"clamp_cpu\" not implemented for 'Bool'"));
  EXPECT_EQ(ops::clamp(flags, Tensor(), from_vector<bool>({false, true}, {2})).to_vector<bool>(),
            (std::vector<bool>{false, false}));
  EXPECT_TRUE(throws_with([&] { ops::clamp(x, Tensor(), Tensor()); },
                          "torch.clamp: At least one of 'min' or 'max' must not be None"));
  EXPECT_TRUE(throws_with([&] { ops::clamp(full({3}, 1.0), ones({2}), ones({3})); },
                          "The size of tensor a (3) must match the size of tensor b (2) at non-singleton dimension 0"));
}

TEST(Ternary, RefusalsArePyTorchsAndLeaveStateUntouched) {
  const Tensor i = from_vector<int64_t>({1, 2, 3}, {3}), f = from_vector<float>({1.5f, 2.0f, 3.0f}, {3});
  const Tensor flags = from_vector<bool>({true, false, true}, {3}), two = ones({2});
  EXPECT_TRUE(
      throws_with([&] { ops::addcmul(flags, flags, flags); }, "\"addcmul_cpu_out\" not implemented for 'Bool'"));
  EXPECT_TRUE(throws_with([&] { ops::addcmul(flags, flags, flags, 1e300); }, "not implemented for 'Bool'"));
  EXPECT_TRUE(throws_with([&] { ops::addcmul(f, two, f); },
                          "The size of tensor a (3) must match the size of tensor b (2) at non-singleton dimension 0"));
  EXPECT_TRUE(
      throws_with([&] { ops::addcmul(f, f, f, 1e40); }, "value cannot be converted to type float without overflow"));
  EXPECT_TRUE(throws_with([&] { ops::addcmul(f.to(DType::BFloat16), f.to(DType::BFloat16), f, 1e39); },
                          "value cannot be converted to type float without overflow"));
  // addcdiv refuses two integral tensors before anything else (their shapes too).
  EXPECT_TRUE(throws_with(
      [&] {
        ops::addcdiv(f, from_vector<int64_t>({1, 2}, {2}), flags);
      },
      "Integer division with addcdiv is no longer supported, and in a future  release addcdiv will "
      "perform a true division of tensor1 and tensor2."));
  EXPECT_TRUE(throws_with([&] { ops::lerp(f, f.to(DType::Float16), 0.5); },
                          "expected dtype float for `end` but got dtype c10::Half"));
  EXPECT_TRUE(throws_with([&] { ops::lerp(f, two.to(DType::BFloat16), 0.5); },
                          "expected dtype float for `end` but got dtype c10::BFloat16"));
  EXPECT_TRUE(throws_with([&] { ops::lerp(f, f, i); }, "expected dtype float for `weight` but got dtype long int"));
  EXPECT_TRUE(throws_with([&] { ops::lerp(i, f, 0.5); }, "expected dtype long int for `end` but got dtype float"));
  EXPECT_TRUE(throws_with([&] { ops::lerp(i, i, 0.5); }, "\"lerp_kernel_scalar\" not implemented for 'Long'"));
  EXPECT_TRUE(
      throws_with([&] { ops::lerp(flags, flags, flags); }, "\"lerp_kernel_tensor\" not implemented for 'Bool'"));
  EXPECT_TRUE(throws_with([&] { ops::lerp(f, f, 1e40); }, "value cannot be converted to type float without overflow"));
  EXPECT_TRUE(throws_with([&] { ops::lerp(f, Tensor(), 0.5); }, "lerp: an operand is undefined"));
  EXPECT_TRUE(throws_with([&] { ops::addcdiv(f, f, Tensor()); }, "addcdiv: an operand is undefined"));

  Tensor target = f.clone(), counts = i.clone();
  const uint64_t target_version = target.version(), counts_version = counts.version();
  const auto untouched = [&] {
    return target.to_vector() == f.to_vector() && counts.to_vector<int64_t>() == i.to_vector<int64_t>() &&
           target.version() == target_version && counts.version() == counts_version;
  };
  const std::string broadcast = "output with shape [3] doesn't match the broadcast shape [2, 3]";
  EXPECT_TRUE(throws_with([&] { ops::addcmul_(target, ones({2, 3}), f); }, broadcast));
  EXPECT_TRUE(throws_with([&] { ops::lerp_(target, ones({2, 3}), 0.5); }, broadcast));
  EXPECT_TRUE(throws_with([&] { ops::lerp_(target, f, ones({2, 3})); }, broadcast));
  EXPECT_TRUE(throws_with([&] { ops::addcmul_(counts, f, f); },
                          "result type Float can't be cast to the desired output type Long"));
  EXPECT_TRUE(throws_with([&] { ops::addcdiv_(counts, f, i); },
                          "result type Float can't be cast to the desired output type Long"));
  EXPECT_TRUE(throws_with([&] { ops::addcmul_(target, f, f, 1e39); }, "without overflow"));
  EXPECT_TRUE(throws_with([&] { ops::lerp_(counts, i, 0.5); }, "\"lerp_kernel_scalar\" not implemented for 'Long'"));
  EXPECT_TRUE(untouched());
}

}  // namespace
}  // namespace normrt
