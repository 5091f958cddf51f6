// The roundings (floor, ceil, round, trunc, frac, sign, round with decimals) and the divisions that round
// (floor_divide, div with a rounding mode, remainder, fmod) over tensors large enough to run in parallel and
// vectorised, in both memory formats, broadcast and in place, against <cmath> and the definitions of the integer
// divisions. PyTorch's own numbers, edges and refusals are the golden cases (make_golden_tensor_ops.py).
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "normrt/ops/elementwise.h"
#include "normrt/ops/tensor_ops.h"
#include "test_util.h"

namespace normrt {
namespace {

using testing::throws_with;

// randn * 40 with ties (k + 0.5), zeros of both signs, infinities, NaN, values past 2^23 and quotients past 2^29 (which
// the CPU's fmod takes from fmodf, the rest from one double division) in front.
Tensor drawn_values(const Shape& shape, uint64_t seed) {
  Generator gen(seed);
  std::vector<float> values = (randn(shape, gen) * 40.0).to_vector();
  const std::vector<float> specials = {0.5f,      1.5f, 2.5f,       -0.5f,        -2.5f,  0.0f,        -0.0f, INFINITY,
                                       -INFINITY, NAN,  8388609.0f, -16777215.0f, 1e-45f, 0.49999997f, 3e30f, -7e20f};
  std::copy(specials.begin(), specials.end(), values.begin());
  for (std::size_t i = specials.size(); i < values.size(); i += 7) values[i] = std::round(values[i]) + 0.5f;
  return from_vector(values, shape);
}

TEST(Rounding, RoundingsAreCmathsInEveryLayoutDtypeAndInPlace) {
  const Shape shape = {3, 5, 70, 67};
  const Tensor x = drawn_values(shape, 31);
  using Fn = float (*)(float);
  const std::vector<std::pair<ops::UnaryOp, Fn>> cases = {
      {ops::UnaryOp::Floor, [](float v) { return std::floor(v); }},
      {ops::UnaryOp::Ceil, [](float v) { return std::ceil(v); }},
      {ops::UnaryOp::Round, [](float v) { return std::nearbyint(v); }},
      {ops::UnaryOp::Trunc, [](float v) { return std::trunc(v); }},
      {ops::UnaryOp::Frac, [](float v) { return v - std::trunc(v); }},
      {ops::UnaryOp::Sign, [](float v) { return v > 0 ? 1.0f : v < 0 ? -1.0f : 0.0f; }},
      {ops::UnaryOp::Reciprocal, [](float v) { return 1.0f / v; }}};
  for (const DType dtype : {DType::Float32, DType::BFloat16, DType::Float16}) {
    const auto rounded = [dtype](float f) { return testing::rounded_to_dtype(f, dtype); };
    const Tensor typed = x.to(dtype);
    const std::vector<float> xv = typed.to(DType::Float32).to_vector();
    for (const auto& [op, fn] : cases) {
      for (const MemoryFormat format : {MemoryFormat::Contiguous, MemoryFormat::ChannelsLast}) {
        SCOPED_TRACE(std::string(dtype_name(dtype)) + " op " + std::to_string(static_cast<int>(op)) +
                     (format == MemoryFormat::Contiguous ? "" : " NHWC"));
        const Tensor xs = typed.to(format);
        const Tensor out = ops::unary(op, xs);
        Tensor in_place = xs.clone();
        ops::unary_(op, in_place);
        EXPECT_EQ(out.memory_format(), format);
        EXPECT_EQ(out.dtype(), dtype);
        const std::vector<float> got = out.to(MemoryFormat::Contiguous).to(DType::Float32).to_vector();
        ASSERT_TRUE(testing::same_bits(in_place.to(MemoryFormat::Contiguous).to(DType::Float32).to_vector(), got));
        for (std::size_t i = 0; i < xv.size(); ++i) {
          const float want = rounded(fn(xv[i]));
          ASSERT_TRUE(testing::same_bits({got[i]}, {want})) << xv[i] << ": " << got[i] << ", expected " << want;
        }
      }
    }
  }
  // Integers are their own roundings (the same values, a new tensor); a bool tensor is its own sign.
  const Tensor i = randint(-1000, 1000, {4, 1001});
  for (const auto& [op, fn] : cases) {
    if (op == ops::UnaryOp::Frac || op == ops::UnaryOp::Reciprocal) continue;
    const Tensor rounded = ops::unary(op, i);
    EXPECT_FALSE(rounded.is_same(i));
    if (op != ops::UnaryOp::Sign) EXPECT_EQ(rounded.to_vector<int64_t>(), i.to_vector<int64_t>());
  }
  std::vector<int64_t> signs;
  for (const int64_t v : i.to_vector<int64_t>()) signs.push_back((v > 0) - (v < 0));
  EXPECT_EQ(ops::sign(i).to_vector<int64_t>(), signs);
  const Tensor mask = ops::sign(i) > 0;
  EXPECT_EQ(ops::sign(mask).to_vector<bool>(), mask.to_vector<bool>());
}

// round(x, d) is nearbyint(x * 10^d) / 10^d (x / 10^-d, * 10^-d for negative d) in float, 10^|d| rounded to float.
TEST(Rounding, RoundingToDecimalsScalesByTheRoundedPowerOfTen) {
  const Tensor x = drawn_values({2, 3, 65, 67}, 37);
  const std::vector<float> xv = x.to_vector();
  for (const int64_t decimals : {1, 3, 7, 12, -1, -4, 40, -40}) {
    const auto power = static_cast<float>(std::pow(10.0, std::abs(static_cast<double>(decimals))));
    const std::vector<float> got = ops::round(x.to(MemoryFormat::ChannelsLast), decimals).to(MemoryFormat::Contiguous).to_vector();
    Tensor in_place = x.clone();
    ops::round_(in_place, decimals);
    ASSERT_TRUE(testing::same_bits(in_place.to_vector(), got)) << decimals;
    for (std::size_t i = 0; i < xv.size(); ++i) {
      const float want = decimals > 0 ? std::nearbyint(xv[i] * power) / power : std::nearbyint(xv[i] / power) * power;
      ASSERT_TRUE(testing::same_bits({got[i]}, {want})) << xv[i] << " to " << decimals << ": " << got[i];
    }
  }
}

// Python's floor division of float32 operands is the floor of the exact quotient wherever it is a float32 integer
// away from rounding's reach (checked in double); fmod is C's, the truncating division trunc(a / b), the remainder
// fmod moved by b to b's sign. Same-shape, scalar and per-channel divisors, channels-last dividends, in place.
TEST(Rounding, FloatDivisionsFollowTheirDefinitionsInEveryBroadcast) {
  const Shape shape = {3, 5, 70, 67};
  const Tensor a = drawn_values(shape, 41);
  Generator gen(43);
  const Tensor same = drawn_values(shape, 47) * 0.01, per_channel = randn({5, 1, 1}, gen) * 3.0;
  const Tensor scalar = full({}, -2.75f);
  const std::vector<float> av = a.to_vector();
  for (const Tensor* b : {&same, &per_channel, &scalar}) {
    const std::vector<float> bv = ops::broadcast_to(*b, shape).to_vector();
    for (const ops::BinaryOp op : {ops::BinaryOp::FloorDivide, ops::BinaryOp::TruncDivide, ops::BinaryOp::Remainder,
                                   ops::BinaryOp::Fmod}) {
      SCOPED_TRACE("op " + std::to_string(static_cast<int>(op)) + ", divisor " + shape_str(b->sizes()));
      const Tensor out = ops::binary(op, a.to(MemoryFormat::ChannelsLast), *b);
      EXPECT_EQ(out.memory_format(), MemoryFormat::ChannelsLast);
      const std::vector<float> got = out.to(MemoryFormat::Contiguous).to_vector();
      Tensor in_place = a.clone();
      ops::binary_(op, in_place, *b);
      ASSERT_TRUE(testing::same_bits(in_place.to_vector(), got));
      for (std::size_t i = 0; i < av.size(); ++i) {
        const float x = av[i], y = bv[i], mod = std::fmod(x, y);
        float want = 0;
        if (op == ops::BinaryOp::Fmod) want = mod;
        if (op == ops::BinaryOp::TruncDivide) want = std::trunc(x / y);
        if (op == ops::BinaryOp::Remainder) want = mod != 0 && (mod < 0) != (y < 0) ? mod + y : mod;
        if (op != ops::BinaryOp::FloorDivide) {
          ASSERT_TRUE(testing::same_bits({got[i]}, {want})) << x << ", " << y << ": " << got[i];
          continue;
        }
        const double quotient = static_cast<double>(x) / static_cast<double>(y);
        if (y == 0) {
          ASSERT_TRUE(testing::same_bits({got[i]}, {x / y})) << x;
        } else if (std::isfinite(quotient) && std::fabs(quotient) < 1 << 22 &&
                   std::fabs(quotient - std::nearbyint(quotient)) > 1e-9 * std::fabs(quotient)) {
          ASSERT_EQ(got[i], std::floor(quotient)) << x << " // " << y;
        }
      }
    }
  }
}

// int64 divisions are exact: a = q * b + r with |r| < |b|, r of b's sign (floor division, remainder) or of a's
// (truncation, fmod), checked in 128 bits over the whole range, with a number and a tensor divisor; INT64_MIN / -1
// wraps around to INT64_MIN, remainder 0.
TEST(Rounding, IntegerDivisionsAreExactAndWrapAtTheEnds) {
  std::mt19937_64 engine(53);
  std::vector<int64_t> xs, ys;
  for (int k = 0; k < 20000; ++k) {
    const auto wide = static_cast<int64_t>(engine());
    const auto small = static_cast<int64_t>(engine() % 41) - 20;
    xs.push_back(k % 3 == 0 ? small : wide);
    const int64_t y = k % 2 == 0 ? static_cast<int64_t>(engine() % 15) - 7 : static_cast<int64_t>(engine()) >> (k % 60);
    ys.push_back(y == 0 ? 1 : y);
  }
  const std::vector<int64_t> ends = {INT64_MIN, INT64_MIN, INT64_MAX, INT64_MIN, INT64_MAX, -1};
  const std::vector<int64_t> by = {-1, INT64_MAX, INT64_MIN, INT64_MIN, -1, INT64_MIN};
  xs.insert(xs.begin(), ends.begin(), ends.end());
  ys.insert(ys.begin(), by.begin(), by.end());
  const auto n = static_cast<int64_t>(xs.size());
  const Tensor a = from_vector(xs, {n}), b = from_vector(ys, {n});
  const std::vector<int64_t> floor_q = ops::floor_divide(a, b).to_vector<int64_t>();
  const std::vector<int64_t> trunc_q = ops::div(a, b, "trunc").to_vector<int64_t>();
  const std::vector<int64_t> rem = (a % b).to_vector<int64_t>(), mod = ops::fmod(a, b).to_vector<int64_t>();
  for (std::size_t i = 0; i < xs.size(); ++i) {
    const __int128 x = xs[i], y = ys[i];
    if (x == INT64_MIN && y == -1) {
      EXPECT_EQ(floor_q[i], INT64_MIN);
      EXPECT_EQ(trunc_q[i], INT64_MIN);
      EXPECT_EQ(rem[i], 0);
      EXPECT_EQ(mod[i], 0);
      continue;
    }
    const auto magnitude = [](__int128 v) { return v < 0 ? -v : v; };
    for (const auto& [q, r, sign_of] : {std::tuple(floor_q[i], rem[i], y), std::tuple(trunc_q[i], mod[i], x)}) {
      ASSERT_EQ(static_cast<__int128>(q) * y + r, x) << xs[i] << ", " << ys[i];
      ASSERT_LT(magnitude(r), magnitude(y)) << xs[i] << ", " << ys[i];
      ASSERT_TRUE(r == 0 || (r < 0) == (sign_of < 0)) << xs[i] << ", " << ys[i];
    }
  }
  const std::vector<int64_t> by_number = ops::floor_divide(a, -7).to_vector<int64_t>();
  const std::vector<int64_t> number_by = (int64_t{-7} % b).to_vector<int64_t>();
  for (std::size_t i = 0; i < xs.size(); ++i) {
    const __int128 q = by_number[i], r = number_by[i];
    ASSERT_TRUE(q * -7 - 7 < xs[i] && xs[i] <= q * -7) << xs[i];
    ASSERT_TRUE(ys[i] > 0 ? r >= 0 && r < ys[i] : r <= 0 && r > ys[i]) << ys[i];
  }
}

// A zero divisor of an int64 division is refused before anything is written; where no element is computed (an empty
// result) there is nothing to refuse.
TEST(Rounding, IntegerDivisionByZeroIsRefusedLeavingTheDestination) {
  Tensor a = from_vector<int64_t>({5, -6, 7}, {3});
  const Tensor b = from_vector<int64_t>({2, 0, 3}, {3});
  EXPECT_TRUE(throws_with([&] { ops::floor_divide_(a, b); }, "ZeroDivisionError"));
  EXPECT_TRUE(throws_with([&] { a %= 0; }, "ZeroDivisionError"));
  EXPECT_TRUE(throws_with([&] { ops::div_(a, b, "trunc"); }, "ZeroDivisionError"));
  EXPECT_EQ(a.to_vector<int64_t>(), (std::vector<int64_t>{5, -6, 7}));
  EXPECT_EQ(ops::fmod(empty({0, 3}, TensorOptions().dtype(DType::Int64)), b).sizes(), (Shape{0, 3}));
  EXPECT_EQ(ops::remainder(a, 2.0).dtype(), DType::Float32);
  EXPECT_TRUE(throws_with([&] { ops::div(a, b, "round"); },
                          "div expected rounding_mode to be one of None, 'trunc', or 'floor' but found 'round'"));
  EXPECT_EQ(ops::div(a, b + 1, std::nullopt).dtype(), DType::Float32);
}

}  // namespace
}  // namespace normrt
