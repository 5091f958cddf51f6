// Comparisons, logical ops, where, masked_fill and bool tensors beyond what the PyTorch golden cases hold
// (tests/golden/make_golden_tensor_ops.py; random_cases.py tensor_ops draws more): runs long enough to be cut over
// the threads, every memory-format combination giving the contiguous result's values, refusals that leave state as
// it was, and bool tensors through printing, files and conversions.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <random>
#include <sstream>

#include "normrt/dlpack.h"
#include "normrt/npy.h"
#include "normrt/ops/comparison.h"
#include "normrt/ops/elementwise.h"
#include "normrt/ops/tensor_ops.h"
#include "normrt/serialize.h"
#include "test_util.h"

namespace normrt {
namespace {

// Values drawn from a small set (so that ties are common) with NaN and both zeros.
Tensor drawn(const Shape& shape, uint32_t seed) {
  const float pool[] = {0.0f, -0.0f, NAN, 1.0f, -1.0f, 0.5f, 2.0f, -INFINITY};
  std::mt19937 rng(seed);
  std::vector<float> v(static_cast<std::size_t>(shape_numel(shape)));
  for (float& e : v) e = pool[rng() % 8];
  return from_vector(v, shape);
}

// The reference: a op b at each output coordinate, the operands read through their broadcast strides here.
std::vector<bool> reference(const std::function<bool(float, float)>& op, const Tensor& a, const Tensor& b,
                            const Shape& out) {
  const auto av = a.to_vector(), bv = b.to_vector();
  const auto strides_of = [&](const Shape& s) {
    std::vector<int64_t> st(out.size(), 0);
    int64_t step = 1;
    for (std::size_t k = s.size(); k-- > 0;) {
      const std::size_t d = out.size() - s.size() + k;
      st[d] = s[k] == 1 ? 0 : step;
      step *= s[k];
    }
    return st;
  };
  const auto as = strides_of(a.sizes()), bs = strides_of(b.sizes());
  std::vector<bool> r;
  for (int64_t i = 0; i < shape_numel(out); ++i) {
    int64_t rest = i, ia = 0, ib = 0;
    for (std::size_t d = out.size(); d-- > 0;) {
      const int64_t c = rest % out[d];
      rest /= out[d];
      ia += c * as[d];
      ib += c * bs[d];
    }
    r.push_back(op(av[static_cast<std::size_t>(ia)], bv[static_cast<std::size_t>(ib)]));
  }
  return r;
}

TEST(Comparison, LongBroadcastRunsMatchAPlainLoop) {
  // Runs of 2^15 + 3 along the last dimension (cut into pieces for the threads), a broadcast row, a column, a number.
  const Shape shape = {3, (int64_t{1} << 15) + 3};
  const Tensor a = drawn(shape, 1), row = drawn({shape[1]}, 2), column = drawn({3, 1}, 3);
  EXPECT_EQ(ops::lt(a, row).to_vector<bool>(), reference([](float x, float y) { return x < y; }, a, row, shape));
  EXPECT_EQ(ops::eq(column, a).to_vector<bool>(), reference([](float x, float y) { return x == y; }, column, a, shape));
  EXPECT_EQ(ops::logical_xor(a, column).to_vector<bool>(),
            reference([](float x, float y) { return (x != 0) != (y != 0); }, a, column, shape));
  EXPECT_EQ((a >= 0.5).to_vector<bool>(), reference([](float x, float y) { return x >= y; }, a, full({}, 0.5), shape));
  const Tensor chosen = ops::where(ops::gt(a, row), a, column);
  const auto av = a.to_vector(), rv = row.to_vector(), cv = column.to_vector(), w = chosen.to_vector();
  for (int64_t i = 0; i < a.numel(); ++i) {
    const auto k = static_cast<std::size_t>(i);
    const float expected =
        av[k] > rv[k % static_cast<std::size_t>(shape[1])] ? av[k] : cv[k / static_cast<std::size_t>(shape[1])];
    ASSERT_TRUE(testing::same_bits({w[k]}, {expected})) << i;
  }
  const int64_t count = ops::sum(ops::ne(a, 0)).item<int64_t>();
  int64_t expected_count = 0;
  for (float v : av) expected_count += v != 0.0f;
  EXPECT_EQ(count, expected_count);
  EXPECT_TRUE(ops::any(a).item<bool>());
  EXPECT_FALSE(ops::all(a).item<bool>());
  EXPECT_TRUE(ops::all(ops::logical_not(ops::eq(a, a)) == ops::ne(a, a)).item<bool>());
}

TEST(Comparison, EveryMemoryFormatGivesTheContiguousValues) {
  const Tensor a = drawn({2, 3, 4, 5}, 4), b = drawn({2, 3, 4, 5}, 5), c = drawn({3, 1, 1}, 6);
  const Tensor mask = ops::gt(a, b);
  for (bool a_last : {false, true})
    for (bool b_last : {false, true}) {
      const Tensor x = a_last ? testing::to_channels_last(a) : a, y = b_last ? testing::to_channels_last(b) : b;
      const Tensor m = b_last ? testing::to_channels_last(mask) : mask;
      SCOPED_TRACE(std::to_string(a_last) + std::to_string(b_last));
      const Tensor le = ops::le(x, y), chosen = ops::where(m, x, c);
      EXPECT_EQ(le.memory_format(), x.memory_format());
      EXPECT_EQ(le.contiguous().to_vector<bool>(), ops::le(a, b).to_vector<bool>());
      EXPECT_EQ(chosen.memory_format(), m.memory_format());
      EXPECT_TRUE(testing::same_bits(chosen.contiguous().to_vector(), ops::where(mask, a, c).to_vector()));
      Tensor filled = x.clone();
      ops::masked_fill_(filled, m, 9.0);
      EXPECT_EQ(filled.memory_format(), x.memory_format());
      EXPECT_TRUE(testing::same_bits(filled.contiguous().to_vector(), ops::masked_fill(a, mask, 9.0).to_vector()));
    }
}

TEST(Comparison, RefusedMaskedFillLeavesSelfAsItWas) {
  Tensor t = from_vector<float>({1.0f, 2.0f, 3.0f}, {3});
  const uint64_t version = t.version();
  const auto refused = [&](const Tensor& mask, Scalar value, const std::string& words) {
    try {
      ops::masked_fill_(t, mask, value);
      ADD_FAILURE() << "not refused: " << words;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
    }
    EXPECT_EQ(t.to_vector(), (std::vector<float>{1.0f, 2.0f, 3.0f}));
    EXPECT_EQ(t.version(), version);
  };
  // PyTorch 1.13 takes a float mask and returns self unchanged; later versions refuse it, as normrt does.
  refused(from_vector<float>({1.0f, 0.0f, 1.0f}, {3}), 1.0,
          "masked_fill_ only supports boolean masks, but got mask with dtype Float");
  refused(from_vector<bool>({true, false, true, true, false, true}, {2, 3}), 1.0,
          "output with shape [3] doesn't match the broadcast shape [2, 3]");
  refused(from_vector<bool>({true, false, true}, {3}), 1e39,
          "value cannot be converted to type float without overflow");
  ops::masked_fill_(t, from_vector<bool>({true, false, true}, {3}), -1.0);
  EXPECT_EQ(t.to_vector(), (std::vector<float>{-1.0f, 2.0f, -1.0f}));
  EXPECT_GT(t.version(), version);
}

TEST(Comparison, WhereTakesNumbersAsPyTorchsWrappedNumbers) {
  const Tensor mask = from_vector<bool>({true, false, true}, {3});
  const Tensor halves = from_vector<float>({1.5f, 2.5f, 3.5f}, {3}).to(DType::Float16);
  const Tensor counts = from_vector<int64_t>({4, 5, 6}, {3});
  const Tensor h = ops::where(mask, halves, 0.1);  // a floating number beside float16: float16
  EXPECT_EQ(h.dtype(), DType::Float16);
  EXPECT_EQ(h.to(DType::Float32).to_vector(), (std::vector<float>{1.5f, static_cast<float>(Half(0.1f)), 3.5f}));
  const Tensor i = ops::where(mask, 7, counts);  // an integer beside int64: int64
  EXPECT_EQ(i.dtype(), DType::Int64);
  EXPECT_EQ(i.to_vector<int64_t>(), (std::vector<int64_t>{7, 5, 7}));
  EXPECT_EQ(ops::where(mask, counts, 0.5).dtype(), DType::Float32);  // a fraction beside int64: float32
  EXPECT_EQ(ops::where(mask, 1, 0.5 * ones({3})).to_vector(), (std::vector<float>{1.0f, 0.5f, 1.0f}));
  EXPECT_THROW(ops::where(counts, counts, counts), Error);
}

TEST(Comparison, BoolTensorsPrintConvertAndTravelAsPyTorchs) {
  const Tensor flags = from_vector<bool>({true, false, true}, {3});
  std::ostringstream printed;
  printed << flags << ' ' << ops::all(flags) << ' ' << from_vector<bool>({true, true}, {1, 2}) << ' '
          << empty({0}, TensorOptions().dtype(DType::Bool));
  EXPECT_EQ(printed.str(),
            "tensor([ True, False,  True]) tensor(False) tensor([[True, True]]) "
            "tensor([], dtype=torch.bool)");
  EXPECT_EQ(flags.to(DType::Float32).to_vector(), (std::vector<float>{1.0f, 0.0f, 1.0f}));
  EXPECT_EQ(flags.to(DType::Int64).to_vector<int64_t>(), (std::vector<int64_t>{1, 0, 1}));
  EXPECT_EQ(from_vector<float>({0.0f, -0.0f, NAN, 1e-45f}, {4}).to(DType::Bool).to_vector<bool>(),
            (std::vector<bool>{false, false, true, true}));
  EXPECT_EQ(from_vector<int64_t>({0, INT64_MIN, 1}, {3}).to(DType::Bool).to_vector<bool>(),
            (std::vector<bool>{false, true, true}));
  EXPECT_TRUE(full({}, 3, TensorOptions().dtype(DType::Bool)).item<bool>());
  EXPECT_EQ(ops::sum(flags).item<int64_t>(), 2);
  EXPECT_EQ(testing::to_channels_last(from_vector<bool>({true, false, false, true, true, false}, {1, 2, 1, 3}))
                .contiguous()
                .to_vector<bool>(),
            (std::vector<bool>{true, false, false, true, true, false}));
  EXPECT_EQ(ops::index_select(flags, 0, from_vector<int64_t>({2, 1, 1}, {3})).to_vector<bool>(),
            (std::vector<bool>{true, false, false}));
  EXPECT_EQ(ops::permute(from_vector<bool>({true, false, false, true, true, false}, {2, 3}), {1, 0}).to_vector<bool>(),
            (std::vector<bool>{true, true, false, true, false, false}));
  // .npy '|b1' and safetensors "BOOL", as NumPy and safetensors write them; DLPack refuses bool, as PyTorch 1.13.
  EXPECT_NE(encode_npy(flags).find("'descr': '|b1'"), std::string::npos);
  EXPECT_EQ(decode_npy(encode_npy(flags), "flags.npy").to_vector<bool>(), flags.to_vector<bool>());
  const std::string file = encode_safetensors({{"flags", flags}});
  EXPECT_NE(file.find("\"dtype\":\"BOOL\""), std::string::npos);
  const nn::NamedTensors loaded = decode_safetensors(file, "flags.safetensors");
  ASSERT_EQ(loaded.size(), 1u);
  EXPECT_EQ(loaded[0].second.dtype(), DType::Bool);
  EXPECT_EQ(loaded[0].second.to_vector<bool>(), flags.to_vector<bool>());
  EXPECT_THROW(to_dlpack(flags), Error);
}

TEST(Comparison, BoolArithmeticIsRefusedInPyTorchsWords) {
  const Tensor flags = from_vector<bool>({true, false}, {2});
  Tensor copy = flags.clone();
  const uint64_t version = copy.version();
  EXPECT_THROW(-flags, Error);
  EXPECT_THROW(flags - flags, Error);
  EXPECT_THROW(copy -= flags, Error);
  EXPECT_THROW(copy += from_vector<int64_t>({1, 1}, {2}), Error);
  EXPECT_THROW(ops::mean(flags), Error);
  EXPECT_EQ(copy.to_vector<bool>(), flags.to_vector<bool>());
  EXPECT_EQ(copy.version(), version);
  copy *= flags;  // bool results stay bool
  EXPECT_EQ(copy.dtype(), DType::Bool);
  EXPECT_EQ((flags + 2).to_vector<int64_t>(), (std::vector<int64_t>{3, 2}));
}

TEST(Comparison, BitwiseOperatorsAreLogicalOnBoolsAndBitwiseOnInt64) {
  const Tensor a = from_vector<bool>({true, true, false, false}, {4}),
               b = from_vector<bool>({true, false, true, false}, {4});
  EXPECT_EQ((~a).to_vector<bool>(), (std::vector<bool>{false, false, true, true}));
  EXPECT_EQ((a & b).to_vector<bool>(), (std::vector<bool>{true, false, false, false}));
  EXPECT_EQ((a | b).to_vector<bool>(), (std::vector<bool>{true, true, true, false}));
  EXPECT_EQ((a ^ b).to_vector<bool>(), (std::vector<bool>{false, true, true, false}));
  // int64 operands (beside bools too) on their bits, over runs long enough to be cut over the threads.
  std::mt19937_64 rng(7);
  std::vector<int64_t> xs(70001), ys(70001);
  for (std::size_t i = 0; i < xs.size(); ++i) {
    xs[i] = static_cast<int64_t>(rng());
    ys[i] = static_cast<int64_t>(rng());
  }
  const Tensor x = from_vector(xs, {70001}), y = from_vector(ys, {70001});
  const std::vector<int64_t> ands = (x & y).to_vector<int64_t>(), ors = (x | y).to_vector<int64_t>(),
                             xors = (x ^ y).to_vector<int64_t>(), nots = (~x).to_vector<int64_t>(),
                             masked = (x & 0xff).to_vector<int64_t>();
  for (std::size_t i = 0; i < xs.size(); ++i) {
    ASSERT_EQ(ands[i], xs[i] & ys[i]) << i;
    ASSERT_EQ(ors[i], xs[i] | ys[i]) << i;
    ASSERT_EQ(xors[i], xs[i] ^ ys[i]) << i;
    ASSERT_EQ(nots[i], ~xs[i]) << i;
    ASSERT_EQ(masked[i], xs[i] & 0xff) << i;
  }
  const Tensor counts = from_vector<int64_t>({1, 2, 3, 4}, {4});
  EXPECT_EQ((a & counts).to_vector<int64_t>(), (std::vector<int64_t>{1, 0, 0, 0}));
  EXPECT_EQ((counts | a).dtype(), DType::Int64);
  EXPECT_TRUE(testing::throws_with([&] { return counts & 2.5; }, "\"bitwise_and_cpu\" not implemented for 'Float'"));
  EXPECT_TRUE(testing::throws_with([&] { return ~ones({2}); }, "\"bitwise_not_cpu\" not implemented for 'Float'"));
}

// Shifts over runs cut over the threads: the count's low six bits (x86's shift, which PyTorch 1.13's CPU kernel
// inherits), the right shift arithmetic; a number on either side.
TEST(Comparison, ShiftsTakeTheCountModulo64AndShiftRightArithmetically) {
  std::mt19937_64 rng(8);
  std::vector<int64_t> xs(70001), counts(70001);
  for (std::size_t i = 0; i < xs.size(); ++i) {
    xs[i] = static_cast<int64_t>(rng());
    counts[i] = static_cast<int64_t>(rng() % 300) - 150;
  }
  const Tensor x = from_vector(xs, {70001}), n = from_vector(counts, {70001});
  const std::vector<int64_t> left = (x << n).to_vector<int64_t>(), right = (x >> n).to_vector<int64_t>();
  const std::vector<int64_t> by_three = (x >> 3).to_vector<int64_t>(),
                             three_by = ops::bitwise_left_shift(3, n).to_vector<int64_t>();
  for (std::size_t i = 0; i < xs.size(); ++i) {
    const unsigned count = static_cast<unsigned>(counts[i]) & 63u;
    ASSERT_EQ(left[i], static_cast<int64_t>(static_cast<uint64_t>(xs[i]) << count)) << i;
    ASSERT_EQ(right[i], static_cast<int64_t>(std::floor(std::ldexp(static_cast<long double>(xs[i]), -count)))) << i;
    ASSERT_EQ(by_three[i], static_cast<int64_t>(std::floor(static_cast<long double>(xs[i]) / 8))) << i;
    ASSERT_EQ(three_by[i], static_cast<int64_t>(uint64_t{3} << count)) << i;
  }
}

// The in-place ops write self and bump its version; self as the other operand is read before it is written; a
// refusal leaves self and its version as they were.
TEST(Comparison, InPlaceBitwiseOpsWriteSelfAndRefuseLeavingItUntouched) {
  Tensor t = from_vector<int64_t>({12, 10, 7, -1, 5, 3}, {2, 3});
  const uint64_t version = t.version();
  t &= from_vector<int64_t>({6, 6, 14}, {3});
  EXPECT_GT(t.version(), version);
  EXPECT_EQ(t.to_vector<int64_t>(), (std::vector<int64_t>{4, 2, 6, 6, 4, 2}));
  t <<= t;
  EXPECT_EQ(t.to_vector<int64_t>(), (std::vector<int64_t>{4 << 4, 2 << 2, 6 << 6, 6 << 6, 4 << 4, 2 << 2}));
  Tensor x = from_vector<int64_t>({-16, 16}, {2});
  x >>= 2;
  x ^= x;
  EXPECT_EQ(x.to_vector<int64_t>(), (std::vector<int64_t>{0, 0}));
  Tensor mask = from_vector<bool>({true, false}, {2});
  mask |= from_vector<bool>({false, true}, {2});
  ops::bitwise_not_(mask);
  EXPECT_EQ(mask.to_vector<bool>(), (std::vector<bool>{false, false}));

  const auto untouched = [](Tensor& t, auto call, const std::string& message) {
    const Tensor before = t.clone();
    const uint64_t at = t.version();
    EXPECT_TRUE(testing::throws_with(call, message));
    EXPECT_TRUE(ops::equal(t, before)) << message;
    EXPECT_EQ(t.version(), at) << message;
  };
  untouched(mask, [&] { mask |= from_vector<int64_t>({1, 2}, {2}); },
            "result type Long can't be cast to the desired output type Bool");
  untouched(mask, [&] { mask <<= mask; }, "\"lshift_cpu\" not implemented for 'Bool'");
  untouched(x, [&] { x &= 0.5; }, "result type Float can't be cast to the desired output type Long");
  untouched(x, [&] { x ^= zeros({3, 2}); }, "output with shape [2] doesn't match the broadcast shape [3, 2]");
}

}  // namespace
}  // namespace normrt
