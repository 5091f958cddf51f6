// The comparison, where and float-class kernels run by the SIMT emulator: every operator on every element type and
// where on every element size, over a broadcast plan of three operands (one walked in another memory order, one
// broadcast, one a single value), against the per-element formulas (comparison_math.cuh) evaluated here with the
// plan's offsets computed independently from the shapes; the float classes of every 16-bit pattern against the C++
// library's.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <vector>

#include "comparison.cuh"

namespace normrt::emu {
namespace {

using cmpmath::Compare;

class ComparisonKernels : public ::testing::TestWithParam<simt::ResumeOrder> {
 protected:
  void SetUp() override { simt::set_resume_order(GetParam()); }
  void TearDown() override { simt::set_resume_order(simt::ResumeOrder::Forward); }
};

// Output (4, 5, 67) row-major; operand 0 is a (4, 5, 67) array stored transposed as (67, 5, 4); operand 1 a (5, 1)
// array broadcast along the first and last dimensions; operand 2 one value. 67 is no multiple of a warp.
constexpr int64_t kA = 4, kB = 5, kC = 67;

cmpmath::Plan three_operand_plan() {
  cmpmath::Plan p;
  p.ndim = 3;
  p.numel = kA * kB * kC;
  const int64_t sizes[] = {kA, kB, kC}, transposed[] = {1, kA, kA * kB}, broadcast[] = {0, 1, 0};
  for (int d = 0; d < 3; ++d) {
    p.sizes[d] = sizes[d];
    p.strides[0][d] = transposed[d];
    p.strides[1][d] = broadcast[d];
    p.strides[2][d] = 0;
  }
  return p;
}

// The offsets of output element (a, b, c), as the shapes say.
void operand_offsets(int64_t i, int64_t& first, int64_t& second) {
  const int64_t a = i / (kB * kC), b = i / kC % kB, c = i % kC;
  first = c * kA * kB + b * kA + a;
  second = b;
}

template <typename T>
void check_compare(const std::vector<float>& values, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<std::size_t> pick(0, values.size() - 1);
  // Arrays, not std::vector: std::vector<bool> packs its bits.
  const auto x = std::make_unique<T[]>(static_cast<std::size_t>(kA * kB * kC));
  const auto y = std::make_unique<T[]>(static_cast<std::size_t>(kB));
  for (int64_t i = 0; i < kA * kB * kC; ++i) x[i] = static_cast<T>(values[pick(rng)]);
  for (int64_t i = 0; i < kB; ++i) y[i] = static_cast<T>(values[pick(rng)]);
  const cmpmath::Plan p = three_operand_plan();
  for (int op = 0; op <= static_cast<int>(Compare::Xor); ++op) {
    const auto kind = static_cast<Compare>(op);
    std::vector<uint8_t> out(static_cast<std::size_t>(p.numel) + 1, 0xab);
    compare(kind, x.get(), y.get(), reinterpret_cast<bool*>(out.data()), p, 2, nullptr);
    for (int64_t i = 0; i < p.numel; ++i) {
      int64_t first, second;
      operand_offsets(i, first, second);
      const bool expected = cmpmath::apply(kind, static_cast<double>(static_cast<float>(x[first])),
                                           static_cast<double>(static_cast<float>(y[second])));
      ASSERT_EQ(out[static_cast<std::size_t>(i)], expected ? 1 : 0) << "op " << op << " at " << i;
    }
    EXPECT_EQ(out.back(), 0xab);
  }
}

TEST_P(ComparisonKernels, CompareEqualsTheFormulaOnEveryType) {
  const std::vector<float> floating = {0.0f, -0.0f, NAN, 1.0f, -1.0f, 0.5f, INFINITY, -INFINITY, 2.0f};
  check_compare<float>(floating, 1);
  check_compare<Half>(floating, 2);
  check_compare<BFloat16>(floating, 3);
  check_compare<int64_t>({0.0f, 1.0f, -1.0f, 3.0f, -7.0f}, 4);
  check_compare<bool>({0.0f, 1.0f}, 5);
  // Beyond what float holds: int64 compared as integers.
  const int64_t big[] = {(int64_t{1} << 62) + 1, INT64_MIN}, other[] = {int64_t{1} << 62, INT64_MIN};
  bool flags[2];
  cmpmath::Plan flat;
  flat.ndim = 1;
  flat.numel = 2;
  flat.sizes[0] = 2;
  flat.strides[0][0] = flat.strides[1][0] = 1;
  compare(Compare::Eq, big, other, flags, flat, 2, nullptr);
  EXPECT_FALSE(flags[0]);
  EXPECT_TRUE(flags[1]);
  flat.numel = 0;
  compare(Compare::Eq, big, other, flags, flat, 2, nullptr);  // nothing to do, nothing launched
}

template <typename Bits>
void check_where() {
  const cmpmath::Plan p = three_operand_plan();
  std::vector<Bits> x(static_cast<std::size_t>(p.numel)), y(static_cast<std::size_t>(kB));
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<Bits>(i * 3 + 1);
  for (std::size_t i = 0; i < y.size(); ++i) y[i] = static_cast<Bits>(~i);
  cmpmath::Plan with_condition = p;  // the condition: (4, 1, 67), row-major
  const int64_t condition_strides[] = {kC, 0, 1};
  for (int d = 0; d < 3; ++d) with_condition.strides[2][d] = condition_strides[d];
  std::vector<uint8_t> condition(static_cast<std::size_t>(kA * kC));
  for (std::size_t i = 0; i < condition.size(); ++i) condition[i] = (i * 7919) % 3 == 0;
  std::vector<Bits> out(static_cast<std::size_t>(p.numel) + 1, Bits(0x5a));
  where(reinterpret_cast<const bool*>(condition.data()), x.data(), y.data(), out.data(), with_condition, 2, nullptr);
  for (int64_t i = 0; i < p.numel; ++i) {
    int64_t first, second;
    operand_offsets(i, first, second);
    const bool chosen = condition[static_cast<std::size_t>(i / (kB * kC) * kC + i % kC)] != 0;
    ASSERT_EQ(out[static_cast<std::size_t>(i)], chosen ? x[first] : y[second]) << i;
  }
  EXPECT_EQ(out.back(), Bits(0x5a));
}

TEST_P(ComparisonKernels, WhereCopiesTheChosenBitsOfEveryElementSize) {
  check_where<uint8_t>();
  check_where<uint16_t>();
  check_where<uint32_t>();
  check_where<uint64_t>();
  cmpmath::Plan none;  // an empty output: nothing launched
  where<uint8_t>(nullptr, nullptr, nullptr, nullptr, none, 2, nullptr);
}

TEST_P(ComparisonKernels, BitwiseAppliesEachOpToTheBitsOfEveryElement) {
  const cmpmath::Plan p = three_operand_plan();
  std::vector<uint64_t> x(static_cast<std::size_t>(p.numel)), y(static_cast<std::size_t>(kB));
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = (i + 1) * 0x9e3779b97f4a7c15ull;
  for (std::size_t i = 0; i < y.size(); ++i) y[i] = ~(i * 0xff00ff00ff00ffull);
  // The shifts' counts: every bit pattern's low six bits (the count modulo 64), negative and past 63 too.
  const auto expected = [](int op, uint64_t a, uint64_t b) -> uint64_t {
    const unsigned count = static_cast<unsigned>(b % 64);
    switch (op) {
      case 0: return a & b;
      case 1: return a | b;
      case 2: return a ^ b;
      case 3: return a << count;
      default: return count == 0 ? a : (a >> count) | (a >> 63 ? ~uint64_t{0} << (64 - count) : 0);
    }
  };
  for (int op = 0; op <= static_cast<int>(cmpmath::BitOp::ShiftRight); ++op) {
    std::vector<uint64_t> out(static_cast<std::size_t>(p.numel) + 1, 0x5a);
    bitwise(static_cast<cmpmath::BitOp>(op), x.data(), y.data(), out.data(), p, 2, nullptr);
    for (int64_t i = 0; i < p.numel; ++i) {
      int64_t first, second;
      operand_offsets(i, first, second);
      const uint64_t a = x[static_cast<std::size_t>(first)], b = y[static_cast<std::size_t>(second)];
      ASSERT_EQ(out[static_cast<std::size_t>(i)], expected(op, a, b)) << op << " " << i;
    }
    EXPECT_EQ(out.back(), 0x5au);
  }
  cmpmath::Plan none;  // nothing launched
  bitwise(cmpmath::BitOp::And, nullptr, nullptr, nullptr, none, 2, nullptr);
}

// Every float16 and bfloat16 bit pattern, and float32 ones around each class boundary, through a broadcast plan (the
// values stored reversed): the class of the value they convert to.
template <typename U, typename Decode>
void check_classify(const std::vector<U>& bits, U exponent, U fraction, Decode decode) {
  cmpmath::Plan reversed;
  reversed.ndim = 1;
  reversed.numel = static_cast<int64_t>(bits.size());
  reversed.sizes[0] = reversed.numel;
  reversed.strides[0][0] = -1;
  const U* last = bits.data() + bits.size() - 1;
  for (int c = 0; c <= static_cast<int>(cmpmath::FloatClass::Finite); ++c) {
    const auto kind = static_cast<cmpmath::FloatClass>(c);
    std::vector<uint8_t> out(bits.size() + 1, 0xab);
    classify(kind, last, exponent, fraction, reinterpret_cast<bool*>(out.data()), reversed, 2, nullptr);
    for (std::size_t i = 0; i < bits.size(); ++i) {
      const float v = decode(bits[bits.size() - 1 - i]);
      const bool expected = kind == cmpmath::FloatClass::NaN   ? std::isnan(v)
                            : kind == cmpmath::FloatClass::Inf ? std::isinf(v)
                                                               : std::isfinite(v);
      ASSERT_EQ(out[i], expected ? 1 : 0) << "class " << c << " at " << i;
    }
    EXPECT_EQ(out.back(), 0xab);
  }
}

TEST_P(ComparisonKernels, ClassifyGivesEveryFloatBitPatternsClass) {
  std::vector<uint16_t> all16(1 << 16);
  for (std::size_t i = 0; i < all16.size(); ++i) all16[i] = static_cast<uint16_t>(i);
  check_classify<uint16_t>(all16, 0x7c00, 0x03ff, [](uint16_t b) { return static_cast<float>(Half::from_bits(b)); });
  check_classify<uint16_t>(all16, 0x7f80, 0x007f,
                           [](uint16_t b) { return static_cast<float>(BFloat16::from_bits(b)); });
  std::vector<uint32_t> some32;
  for (const uint32_t base : {0x00000000u, 0x3f800000u, 0x7f7fffffu, 0x7f800000u, 0x7fc00000u, 0xff800000u})
    for (uint32_t d = 0; d < 3; ++d) some32.insert(some32.end(), {base + d, base - d, base ^ 0x80000000u});
  check_classify<uint32_t>(some32, 0x7f800000u, 0x007fffffu, [](uint32_t b) {
    float v;
    std::memcpy(&v, &b, sizeof v);
    return v;
  });
  cmpmath::Plan none;  // nothing launched
  classify<uint16_t>(cmpmath::FloatClass::NaN, nullptr, 0, 0, nullptr, none, 2, nullptr);
}

INSTANTIATE_TEST_SUITE_P(Orders, ComparisonKernels,
                         ::testing::Values(simt::ResumeOrder::Forward, simt::ResumeOrder::Reverse),
                         [](const ::testing::TestParamInfo<simt::ResumeOrder>& info) {
                           return info.param == simt::ResumeOrder::Forward ? "forward" : "reverse";
                         });

}  // namespace
}  // namespace normrt::emu
