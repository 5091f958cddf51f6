// addcmul, addcdiv, lerp and clamp's kernels run by the SIMT emulator: every op on every element type over a broadcast
// plan of three operands (one walked in another memory order, one broadcast along two dimensions, one along the middle
// one), against the per-element formulas (ternary_math.cuh) evaluated here with the operands' offsets computed
// independently from the shapes; and in place, the output being the first operand.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "ternary.cuh"

namespace normrt::emu {
namespace {

using tmath::Ternary;

class TernaryKernels : public ::testing::TestWithParam<simt::ResumeOrder> {
 protected:
  void SetUp() override { simt::set_resume_order(GetParam()); }
  void TearDown() override { simt::set_resume_order(simt::ResumeOrder::Forward); }
};

// Output (4, 5, 67) row-major; operand 0 a (4, 5, 67) array stored transposed as (67, 5, 4); operand 1 a (5, 1) array
// broadcast along the first and last dimensions; operand 2 a (4, 1, 67) array. 67 is no multiple of a warp.
constexpr int64_t kA = 4, kB = 5, kC = 67;

cmpmath::Plan three_operand_plan() {
  cmpmath::Plan p;
  p.ndim = 3;
  p.numel = kA * kB * kC;
  const int64_t sizes[] = {kA, kB, kC}, transposed[] = {1, kA, kA * kB}, broadcast[] = {0, 1, 0}, rows[] = {kC, 0, 1};
  for (int d = 0; d < 3; ++d) {
    p.sizes[d] = sizes[d];
    p.strides[0][d] = transposed[d];
    p.strides[1][d] = broadcast[d];
    p.strides[2][d] = rows[d];
  }
  return p;
}

// The operands' offsets of output element (a, b, c), as the shapes say.
void operand_offsets(int64_t i, int64_t (&at)[3]) {
  const int64_t a = i / (kB * kC), b = i / kC % kB, c = i % kC;
  at[0] = c * kA * kB + b * kA + a;
  at[1] = b;
  at[2] = a * kC + c;
}

template <Ternary K, typename T>
void check_op(std::mt19937& rng) {
  using C = tmath::computed_t<T>;
  std::uniform_real_distribution<float> draw(-4.0f, 4.0f);
  const auto value_of = [&]() {
    return std::is_same_v<T, int64_t> ? T(static_cast<int64_t>(draw(rng) * 1e3f)) : T(draw(rng));
  };
  const cmpmath::Plan p = three_operand_plan();
  std::vector<T> x(static_cast<std::size_t>(p.numel)), y(static_cast<std::size_t>(kB)),
      z(static_cast<std::size_t>(kA * kC));
  for (auto* v : {&x, &y, &z})
    for (T& e : *v) e = value_of();
  const C value = std::is_same_v<T, int64_t> ? C(-3) : C(0.75f);
  std::vector<T> out(static_cast<std::size_t>(p.numel) + 1, T(7));
  ternary(K, x.data(), y.data(), K == Ternary::Lerp ? nullptr : z.data(), out.data(), value, p, 2, nullptr);
  for (int64_t i = 0; i < p.numel; ++i) {
    int64_t at[3];
    operand_offsets(i, at);
    const C third = K == Ternary::Lerp ? value : static_cast<C>(z[static_cast<std::size_t>(at[2])]);
    const T expected =
        static_cast<T>(tmath::ternary<K>(static_cast<C>(x[static_cast<std::size_t>(at[0])]),
                                         static_cast<C>(y[static_cast<std::size_t>(at[1])]), third, value));
    ASSERT_EQ(static_cast<C>(out[static_cast<std::size_t>(i)]), static_cast<C>(expected))
        << "op " << static_cast<int>(K) << " at " << i;
  }
  EXPECT_EQ(static_cast<C>(out.back()), C(7));
}

template <typename T>
void check_floating_ops(uint32_t seed) {
  std::mt19937 rng(seed);
  check_op<Ternary::Addcmul, T>(rng);
  check_op<Ternary::Addcdiv, T>(rng);
  check_op<Ternary::Lerp, T>(rng);
  check_op<Ternary::LerpTensor, T>(rng);
  check_op<Ternary::Clamp, T>(rng);
}

TEST_P(TernaryKernels, EveryOpEqualsTheFormulaOnEveryType) {
  check_floating_ops<float>(1);
  check_floating_ops<Half>(2);
  check_floating_ops<BFloat16>(3);
  std::mt19937 rng(4);
  check_op<Ternary::Addcmul, int64_t>(rng);
  check_op<Ternary::Clamp, int64_t>(rng);
  cmpmath::Plan none;  // an empty output: nothing launched
  ternary<float>(Ternary::Addcmul, nullptr, nullptr, nullptr, nullptr, 1.0f, none, 2, nullptr);
}

TEST_P(TernaryKernels, InPlaceReadsEachElementWhereItIsWritten) {
  cmpmath::Plan p;  // (3, 70) dense, the second operand a (70,) row, the third one value
  p.ndim = 2;
  p.numel = 3 * 70;
  p.sizes[0] = 3;
  p.sizes[1] = 70;
  p.strides[0][0] = 70;
  p.strides[0][1] = 1;
  p.strides[1][1] = 1;
  std::vector<float> x(210), y(70), before;
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = 0.25f * static_cast<float>(i) - 9.0f;
  for (std::size_t i = 0; i < y.size(); ++i) y[i] = 1.5f - 0.125f * static_cast<float>(i);
  const float z = 0.3f;
  before = x;
  ternary(Ternary::Addcmul, x.data(), y.data(), &z, x.data(), 2.0f, p, 2, nullptr);
  for (std::size_t i = 0; i < x.size(); ++i)
    ASSERT_EQ(x[i], tmath::ternary<Ternary::Addcmul>(before[i], y[i % 70], z, 2.0f)) << i;
}

INSTANTIATE_TEST_SUITE_P(Orders, TernaryKernels,
                         ::testing::Values(simt::ResumeOrder::Forward, simt::ResumeOrder::Reverse),
                         [](const ::testing::TestParamInfo<simt::ResumeOrder>& info) {
                           return info.param == simt::ResumeOrder::Forward ? "forward" : "reverse";
                         });

}  // namespace
}  // namespace normrt::emu
