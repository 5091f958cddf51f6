// Tensor conveniences: printing as PyTorch prints, from_blob over caller memory, randint and the default
// generator, and DLPack exchange without copies; arithmetic, reductions and the index ops against PyTorch.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <sstream>
#include <tuple>

#if __has_include(<dlpack/dlpack.h>)
#include "normrt/dlpack.h"
#define NORMRT_TEST_DLPACK 1
#endif
#include "tensor_ops_golden_runner.h"
#include "test_util.h"

namespace normrt {
namespace {

using testing::throws_with;

std::string printed(const Tensor& t) {
  std::ostringstream os;
  os << t;
  return os.str();
}

TEST(TensorBasics, PrintsAsPyTorch) {
  // str(t) in PyTorch 1.13 for the same values (the torch expression is on each line).
  EXPECT_EQ(printed(arange(6).reshape({2, 3})),  // torch.arange(6.).reshape(2, 3)
            "tensor([[0., 1., 2.],\n        [3., 4., 5.]])");
  EXPECT_EQ(printed(from_vector(std::vector<float>{1.5f, -2.25f, 3.0f, 0.0f, 10.125f, -0.5f}, {2, 3})),
            "tensor([[ 1.5000, -2.2500,  3.0000],\n        [ 0.0000, 10.1250, -0.5000]])");
  EXPECT_EQ(printed(from_vector(std::vector<float>{1e-5f, 2.5f, -300000.0f}, {3})),
            "tensor([ 1.0000e-05,  2.5000e+00, -3.0000e+05])");
  EXPECT_EQ(printed(from_vector(std::vector<int64_t>{1, -20, 3, 400, 5, 6}, {2, 3})),
            "tensor([[  1, -20,   3],\n        [400,   5,   6]])");
  EXPECT_EQ(printed(from_vector(std::vector<float>{NAN, INFINITY, -INFINITY, 1.5f}, {4})),
            "tensor([   nan,    inf,   -inf, 1.5000])");
  EXPECT_EQ(printed(full({}, 3.25)), "tensor(3.2500)");
  EXPECT_EQ(printed(zeros({0, 3})), "tensor([], size=(0, 3))");
  EXPECT_EQ(printed(zeros({0})), "tensor([])");
  EXPECT_EQ(printed(zeros({0, 2}, TensorOptions().dtype(DType::Int64))), "tensor([], size=(0, 2), dtype=torch.int64)");
  EXPECT_EQ(printed(arange(2000).reshape({2, 1000})),  // torch.arange(2000.).reshape(2, 1000): summarised
            "tensor([[0.0000e+00, 1.0000e+00, 2.0000e+00,  ..., 9.9700e+02, 9.9800e+02,\n         9.9900e+02],\n"
            "        [1.0000e+03, 1.0010e+03, 1.0020e+03,  ..., 1.9970e+03, 1.9980e+03,\n         1.9990e+03]])");
  std::vector<float> sevenths;
  for (int i = 0; i < 30; ++i) sevenths.push_back(static_cast<float>(i) / 7.0f);
  EXPECT_EQ(printed(from_vector(sevenths, {30})),  // torch.arange(30.) / 7
            "tensor([0.0000, 0.1429, 0.2857, 0.4286, 0.5714, 0.7143, 0.8571, 1.0000, 1.1429,\n"
            "        1.2857, 1.4286, 1.5714, 1.7143, 1.8571, 2.0000, 2.1429, 2.2857, 2.4286,\n"
            "        2.5714, 2.7143, 2.8571, 3.0000, 3.1429, 3.2857, 3.4286, 3.5714, 3.7143,\n"
            "        3.8571, 4.0000, 4.1429])");
  EXPECT_EQ(printed(arange(-5.0, 7.0).reshape({2, 2, 3})),  // torch.arange(12.).reshape(2, 2, 3) - 5
            "tensor([[[-5., -4., -3.],\n         [-2., -1.,  0.]],\n\n        [[ 1.,  2.,  3.],\n         [ 4.,  5.,  "
            "6.]]])");
  EXPECT_EQ(printed(zeros({2, 2})), "tensor([[0., 0.],\n        [0., 0.]])");
  EXPECT_EQ(printed(from_vector(std::vector<float>{1.0f, 1e9f}, {2})), "tensor([1.0000e+00, 1.0000e+09])");
}

TEST(TensorBasics, ArithmeticBroadcastsAsPyTorch) {
  Generator gen(12);
  const Tensor x = randn({2, 3, 4, 5}, gen), per_channel = randn({3, 1, 1}, gen), row = randn({5}, gen);
  const auto xv = x.to_vector(), cv = per_channel.to_vector(), rv = row.to_vector();
  // Double-precision references of x * c + r and (x - r) / c, element by element.
  const Tensor y = x * per_channel + row;
  const Tensor z = (x - row) / per_channel;
  EXPECT_EQ(y.sizes(), x.sizes());
  for (int64_t i = 0; i < x.numel(); ++i) {
    const double c = cv[static_cast<std::size_t>((i / 20) % 3)], r = rv[static_cast<std::size_t>(i % 5)];
    EXPECT_NEAR(y.to_vector()[static_cast<std::size_t>(i)], xv[static_cast<std::size_t>(i)] * c + r, 1e-5);
    EXPECT_NEAR(z.to_vector()[static_cast<std::size_t>(i)], (xv[static_cast<std::size_t>(i)] - r) / c,
                1e-5 * std::fabs((xv[static_cast<std::size_t>(i)] - r) / c) + 1e-6);
  }
  EXPECT_EQ(((2.0 * x) - x).to_vector(), x.to_vector());  // exact in float
  EXPECT_EQ((1.0 / full({2}, 4.0)).to_vector(), (std::vector<float>{0.25f, 0.25f}));
  EXPECT_EQ(ops::add(ones({3, 1}), arange(4)).sizes(), (Shape{3, 4}));  // both broadcast
  Tensor acc = zeros({2, 3});
  acc += ones({3});
  acc *= 3.0;
  acc -= full({2, 1}, 1.0);
  acc /= 2.0;
  EXPECT_EQ(acc.to_vector(), std::vector<float>(6, 1.0f));
  const uint64_t version = acc.version();
  acc += 1.0;
  EXPECT_GT(acc.version(), version);  // in-place arithmetic counts as a modification
  EXPECT_TRUE(throws_with([&] { x + ones({4, 4}); },
                          "The size of tensor a (5) must match the size of tensor b (4) at non-singleton dimension 3"));
  // Two mismatches: PyTorch names the innermost (its infer_size scans from the last dimension).
  EXPECT_TRUE(throws_with([&] { zeros({4, 3}) + zeros({2, 5}); },
                          "The size of tensor a (3) must match the size of tensor b (5) at non-singleton dimension 1"));
  Tensor small = zeros({3});
  EXPECT_TRUE(throws_with([&] { small += ones({2, 3}); },
                          "output with shape [3] doesn't match the broadcast shape [2, 3]"));
  EXPECT_EQ((zeros({0, 3}) + ones({3})).sizes(), (Shape{0, 3}));
}

// What PyTorch's Python cannot say (make_golden_tensor_ops.py's number cases have the rest): C++ integer types of
// every width, and int64's edges, where PyTorch 1.13 converts 2.0 ** 63 out of range and normrt refuses it.
TEST(TensorBasics, NumbersOfEveryIntegerTypeStayIntegral) {
  const Tensor t = from_vector(std::vector<int64_t>{4, -9}, {2});
  EXPECT_EQ((t + 1).to_vector<int64_t>(), (std::vector<int64_t>{5, -8}));
  EXPECT_EQ((t * std::size_t{3}).to_vector<int64_t>(), (std::vector<int64_t>{12, -27}));
  EXPECT_EQ((static_cast<short>(2) - t).to_vector<int64_t>(), (std::vector<int64_t>{-2, 11}));
  EXPECT_EQ((t + true).to_vector<int64_t>(), (std::vector<int64_t>{5, -8}));
  EXPECT_EQ((t + 'a').dtype(), DType::Int64);
  EXPECT_EQ((t * 0.5f).dtype(), DType::Float32);
  const std::string overflow = "value cannot be converted to type int64_t without overflow";
  EXPECT_TRUE(throws_with([&] { t + std::numeric_limits<uint64_t>::max(); }, overflow));
  EXPECT_EQ(Scalar(uint64_t{1} << 62).to_int64(), int64_t{1} << 62);
  EXPECT_EQ(Scalar(-0x1p63).to_int64(), std::numeric_limits<int64_t>::min());
  EXPECT_EQ(Scalar(-3.99).to_int64(), -3);
  EXPECT_TRUE(throws_with([] { Scalar(0x1p63).to_int64(); }, overflow));
  EXPECT_TRUE(throws_with([] { full({1}, 0x1p63, TensorOptions().dtype(DType::Int64)); }, overflow));
  EXPECT_EQ(full({1}, std::numeric_limits<int64_t>::max(), TensorOptions().dtype(DType::Int64)).item<int64_t>(),
            std::numeric_limits<int64_t>::max());
  EXPECT_EQ(full({1}, std::numeric_limits<float>::max()).item(), std::numeric_limits<float>::max());
}

// libtorch's t.item<T>() is t.item().to<T>(): any dtype to any T, refusing what T cannot hold.
TEST(TensorBasics, ItemConvertsAsLibtorch) {
  const Tensor quarter = full({1}, -2.75);
  EXPECT_EQ(quarter.item<double>(), -2.75);
  EXPECT_EQ(quarter.item<int64_t>(), -2);  // truncated
  EXPECT_EQ(static_cast<float>(quarter.item<Half>()), -2.75f);
  const Tensor tenth = full({}, 0.1);
  EXPECT_EQ(tenth.item<double>(), static_cast<double>(0.1f));  // float32's value, exactly
  const Tensor big = full({1, 1}, (int64_t{1} << 62) + 1, TensorOptions().dtype(DType::Int64));
  EXPECT_EQ(big.item<int64_t>(), (int64_t{1} << 62) + 1);
  EXPECT_EQ(big.item<double>(), 0x1p62);
  EXPECT_EQ(big.item(), 0x1p62f);
  const std::string overflow = "value cannot be converted to type ";
  EXPECT_TRUE(throws_with([&] { big.item<Half>(); }, overflow + "at::Half without overflow"));
  EXPECT_TRUE(throws_with([] { full({1}, NAN).item<int64_t>(); }, overflow + "int64_t without overflow"));
  EXPECT_TRUE(std::isnan(full({1}, NAN).item<double>()));
  EXPECT_TRUE(throws_with([] { full({1}, 7e4).item<Half>(); }, overflow + "at::Half without overflow"));
  EXPECT_EQ(static_cast<float>(full({1}, 7e4).item<BFloat16>()), 70144.0f);  // bfloat16's nearest
  EXPECT_EQ(full({1}, 2.5, TensorOptions().dtype(DType::BFloat16)).item<int64_t>(), 2);
  EXPECT_TRUE(throws_with([] { ones({2}).item(); }, "a Tensor with 2 elements cannot be converted to Scalar"));
}

TEST(TensorBasics, FillAndLikeFactoriesKeepTheLayout) {
  Tensor image = arange(24).reshape({1, 2, 3, 4}).to(DType::BFloat16).to(MemoryFormat::ChannelsLast);
  for (const Tensor& like : {zeros_like(image), ones_like(image), full_like(image, 3)}) {
    EXPECT_EQ(like.sizes(), image.sizes());
    EXPECT_EQ(like.dtype(), DType::BFloat16);
    EXPECT_EQ(like.memory_format(), MemoryFormat::ChannelsLast);
  }
  EXPECT_EQ(full_like(image, 3).to(DType::Float32).to_vector(), std::vector<float>(24, 3.0f));
  const uint64_t version = image.version();
  const Tensor alias = image;
  image.fill_(-1.5);
  EXPECT_GT(image.version(), version);  // an in-place write, seen through every handle
  EXPECT_EQ(alias.memory_format(), MemoryFormat::ChannelsLast);
  EXPECT_EQ(alias.to(DType::Float32).to_vector(), std::vector<float>(24, -1.5f));
  EXPECT_EQ(image.zero_().to(DType::Float32).to_vector(), std::vector<float>(24, 0.0f));
  EXPECT_TRUE(throws_with([] { Tensor().fill_(1); }, "fill_: the tensor is undefined"));
}

// The values and refusals below are PyTorch 1.13's (CPU) for the same operands.
TEST(TensorBasics, Int64AndMixedDtypeArithmeticPromoteAsPyTorch) {
  const auto long_tensor = [](std::vector<int64_t> v, Shape shape) { return from_vector(v, std::move(shape)); };
  const Tensor a = long_tensor({3, -7, int64_t{1} << 62, 5, 0, -1}, {2, 3}), b = long_tensor({2, 4, 2}, {3});
  EXPECT_EQ((a + b).dtype(), DType::Int64);
  EXPECT_EQ((a + b).to_vector<int64_t>(), (std::vector<int64_t>{5, -3, (int64_t{1} << 62) + 2, 7, 4, 1}));
  EXPECT_EQ((a - b).to_vector<int64_t>(), (std::vector<int64_t>{1, -11, (int64_t{1} << 62) - 2, 3, -4, -3}));
  EXPECT_EQ((a * b).to_vector<int64_t>(), (std::vector<int64_t>{6, -28, INT64_MIN, 10, 0, -2}));  // wraps
  const Tensor quotient = a / b;  // true division
  EXPECT_EQ(quotient.dtype(), DType::Float32);
  EXPECT_EQ(quotient.to_vector(), (std::vector<float>{1.5f, -1.75f, 2.305843009213694e18f, 2.5f, 0.0f, -0.5f}));
  const Tensor image = long_tensor({0, 1, 2, 3, 4, 5, 6, 7}, {1, 2, 2, 2}).to(MemoryFormat::ChannelsLast);
  EXPECT_EQ((image * image.contiguous()).to_vector<int64_t>(), (std::vector<int64_t>{0, 1, 4, 9, 16, 25, 36, 49}));
  // A 0-dim floating operand makes the result floating; the operands are cast to the result's dtype first.
  const Tensor half_scale = full({}, 0.5, TensorOptions().dtype(DType::Float16));
  EXPECT_EQ((a * half_scale).dtype(), DType::Float16);
  EXPECT_EQ((a * half_scale).to(DType::Float32).to_vector(),
            (std::vector<float>{1.5f, -3.5f, INFINITY, 2.5f, 0.0f, -0.5f}));
  EXPECT_EQ((a + full({}, 1.5)).dtype(), DType::Float32);
  EXPECT_EQ((long_tensor({3}, {}) + full({}, 2.5, TensorOptions().dtype(DType::BFloat16))).dtype(), DType::BFloat16);
  const Tensor half = full({1}, 1.5, TensorOptions().dtype(DType::Float16));
  EXPECT_EQ((long_tensor({2049}, {1}) * half).to(DType::Float32).item(), 3072.0f);  // 2049 is 2048 in float16
  EXPECT_EQ((full({1}, 2048.0, TensorOptions().dtype(DType::Float16)) - full({}, 2049.0)).to(DType::Float32).item(),
            0.0f);
  Tensor h = ones({2}, TensorOptions().dtype(DType::Float16));
  h += long_tensor({2049, 1}, {2});
  EXPECT_EQ(h.to(DType::Float32).to_vector(), (std::vector<float>{2048.0f, 2.0f}));
  // An int64 destination takes no floating result, and is left as it was.
  Tensor counts = long_tensor({4, 9}, {2});
  EXPECT_TRUE(throws_with([&] { counts += full({}, 1.5); },
                          "result type Float can't be cast to the desired output type Long"));
  EXPECT_TRUE(throws_with([&] { counts /= long_tensor({1, 2}, {2}); },
                          "result type Float can't be cast to the desired output type Long"));
  EXPECT_TRUE(throws_with([&] { counts *= ones({2}, TensorOptions().dtype(DType::Float16)); },
                          "result type Half can't be cast to the desired output type Long"));
  EXPECT_EQ(counts.to_vector<int64_t>(), (std::vector<int64_t>{4, 9}));
  counts *= long_tensor({3}, {});
  EXPECT_EQ(counts.to_vector<int64_t>(), (std::vector<int64_t>{12, 27}));
}

// Every dim of shapes whose inner extent is 1, a few columns, and more than a block of columns (with a ragged last
// block), large enough to run in parallel: sums and means are the index-order double sums to the bit, max picks the
// first maximum and the first NaN (a tie and NaNs put in), as a line-by-line reference does.
// Broadcast pairs whose coalesced plans end in runs of every kind (both operands stepping, one of them, neither) and
// keep leading size-1 dimensions, in every operator, large enough to run in parallel: each element is the operator
// on the two elements index arithmetic picks, to the bit.
TEST(TensorBasics, BroadcastArithmeticIsTheElementwiseOpOfTheIndexedPair) {
  const std::vector<std::pair<Shape, Shape>> pairs = {
      {{2, 3, 4, 5}, {3, 1, 1}}, {{2, 1, 4, 1}, {1, 3, 1, 5}}, {{4, 1}, {1, 5}},  {{1}, {2, 3}},
      {{2, 3, 4}, {2, 1, 4}},    {{5, 1, 1}, {5, 1, 7}},       {{1, 1, 6}, {3, 1}}, {{32, 64, 7, 9}, {64, 1, 1}},
      {{7, 1}, {2, 7, 300}},     {{70001}, {1}},               {{1}, {3, 40000}}};
  Generator gen(16);
  for (const auto& [a_shape, b_shape] : pairs) {
    const Tensor a = randn(a_shape, gen), b = rand(b_shape, gen) + 0.5;
    const Shape out = ops::broadcast_shape(a_shape, b_shape);
    const std::vector<float> av = a.to_vector(), bv = b.to_vector();
    // An operand's element for output index i: its coordinates, 0 where its (right-aligned) size is 1.
    auto element = [&](const std::vector<float>& v, const Shape& shape, int64_t i) {
      int64_t offset = 0, stride = 1;
      for (int d = static_cast<int>(out.size()) - 1, k = static_cast<int>(shape.size()) - 1; d >= 0; --d, --k) {
        const int64_t coordinate = i % out[static_cast<std::size_t>(d)];
        i /= out[static_cast<std::size_t>(d)];
        if (k < 0) continue;
        const int64_t size = shape[static_cast<std::size_t>(k)];
        if (size != 1) offset += coordinate * stride;
        stride *= size;
      }
      return v[static_cast<std::size_t>(offset)];
    };
    const std::vector<std::vector<float>> results = {(a + b).to_vector(),
                                                     (a - b).to_vector(),
                                                     (a * b).to_vector(),
                                                     (a / b).to_vector(),
                                                     (b - a).to_vector(),
                                                     ops::maximum(a, b).to_vector(),
                                                     ops::minimum(b, a).to_vector()};
    for (int64_t i = 0; i < shape_numel(out); ++i) {
      const float x = element(av, a_shape, i), y = element(bv, b_shape, i);
      const std::vector<float> expected = {x + y, x - y, x * y, x / y, y - x, std::max(x, y), std::min(y, x)};
      for (std::size_t k = 0; k < expected.size(); ++k)
        ASSERT_EQ(results[k][static_cast<std::size_t>(i)], expected[k])
            << shape_str(a_shape) << " " << shape_str(b_shape) << " op " << k << " at " << i;
    }
  }
}

// Each function over enough elements to run in parallel and vectorised, in both memory formats, against <cmath> in
// double: sqrt, abs, neg and clamp to the bit, exp and ln within an ulp of the exact value.
TEST(TensorBasics, ElementwiseFunctionsAreCmathsToWithinAnUlp) {
  Generator gen(17);
  const Tensor x = randn({3, 5, 70, 67}, gen) * 30.0;
  const Tensor positive = rand({3, 5, 70, 67}, gen) * 100.0;
  for (const MemoryFormat format : {MemoryFormat::Contiguous, MemoryFormat::ChannelsLast}) {
    const Tensor xs = x.to(format), ps = positive.to(format);
    const std::vector<float> xv = x.to_vector(), pv = positive.to_vector();
    const std::vector<float> neg = (-xs).to_vector(), abs = ops::abs(xs).to_vector(), sqrt = ops::sqrt(ps).to_vector();
    const std::vector<float> exp = ops::exp(xs).to_vector(), log = ops::log(ps).to_vector();
    const std::vector<float> clamp = ops::clamp(xs, -7.5, 12.25).to_vector();
    const std::vector<float> lower = ops::clamp_min(xs, 3).to_vector(), upper = ops::clamp_max(xs, -3).to_vector();
    const auto ulp_of = [](double v) { return std::ldexp(1.0, std::ilogb(static_cast<float>(v)) - 23); };
    for (std::size_t i = 0; i < xv.size(); ++i) {
      const float v = xv[i], p = pv[i];
      ASSERT_EQ(neg[i], -v) << i;
      ASSERT_EQ(abs[i], std::fabs(v)) << i;
      ASSERT_EQ(sqrt[i], std::sqrt(p)) << i;
      ASSERT_EQ(clamp[i], std::min(std::max(v, -7.5f), 12.25f)) << i;
      ASSERT_EQ(lower[i], std::max(v, 3.0f)) << i;
      ASSERT_EQ(upper[i], std::min(v, -3.0f)) << i;
      const double e = std::exp(static_cast<double>(v)), l = std::log(static_cast<double>(p));
      if (e > 1e-37 && e < 3e38) ASSERT_LE(std::fabs(exp[i] - e), ulp_of(e)) << v;
      if (l != 0) ASSERT_LE(std::fabs(log[i] - l), ulp_of(l)) << p;
    }
    EXPECT_EQ(ops::exp(xs).memory_format(), format);
  }
}

// x^n over enough elements to run in parallel and vectorised, in both memory formats and in place, to the bit of the
// operations PyTorch 1.13 runs for each dtype and exponent: float32 and bfloat16 sqrt, 1 / sqrt, 1 / x, x*x, x*x*x
// and 1 / (x*x) at 0.5, -0.5, -1, 2, 3 and -2, bfloat16 rounding x*x before the third factor or the reciprocal and
// comparing its exponent rounded (3.01 is 3), float32 comparing it unrounded (3.00000001 is pow); float16 pow
// everywhere with its exponent rounded. pow is double-precision <cmath>'s rounded once (correct rounding).
TEST(TensorBasics, PowTakesPyTorchsOperationsForEachDtypeAndExponent) {
  Generator gen(23);
  std::vector<float> values = (randn({3, 5, 70, 67}, gen) * 3.0).to_vector();
  const std::vector<float> specials = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, 1.0f, -1.0f, 1.00390625f, 1e-30f};
  std::copy(specials.begin(), specials.end(), values.begin());
  const Tensor x = from_vector(values, {3, 5, 70, 67});
  const auto correctly_rounded = [](float v, float e) {
    return static_cast<float>(std::pow(static_cast<double>(v), static_cast<double>(e)));
  };
  for (const DType dtype : {DType::Float32, DType::BFloat16, DType::Float16}) {
    const auto round = [dtype](float f) { return testing::rounded_to_dtype(f, dtype); };
    const auto expected = [&](double n, float v) {
      const float e = round(static_cast<float>(n));
      if (dtype == DType::Float16) return round(correctly_rounded(v, e));
      const double compared = dtype == DType::Float32 ? n : e;
      if (n == 0.5) return round(std::sqrt(v));
      if (n == -0.5) return round(1.0f / std::sqrt(v));
      if (n == -1) return round(1.0f / v);
      if (compared == 2) return round(v * v);
      if (compared == 3) return round(round(v * v) * v);
      if (compared == -2) return round(1.0f / round(v * v));
      return round(correctly_rounded(v, e));
    };
    const Tensor typed = x.to(dtype);
    const std::vector<float> xv = typed.to(DType::Float32).to_vector();
    for (const double n : {0.5, -0.5, -1.0, 2.0, 3.0, -2.0, 3.00000001, 3.01, 0.37, -1.3}) {
      for (const MemoryFormat format : {MemoryFormat::Contiguous, MemoryFormat::ChannelsLast}) {
        SCOPED_TRACE(std::string(dtype_name(dtype)) + " ^ " + std::to_string(n) +
                     (format == MemoryFormat::Contiguous ? "" : " NHWC"));
        const Tensor xs = typed.to(format);
        Tensor in_place = xs.clone();
        ops::pow_(in_place, n);
        const Tensor out = ops::pow(xs, n);
        EXPECT_EQ(out.memory_format(), format);
        const std::vector<float> got = out.to(DType::Float32).to_vector();
        ASSERT_TRUE(testing::same_bits(in_place.to(DType::Float32).to_vector(), got));
        for (std::size_t i = 0; i < xv.size(); ++i) {
          const float want = expected(n, xv[i]);
          ASSERT_TRUE(testing::same_bits({got[i]}, {want})) << xv[i] << ": " << got[i] << ", expected " << want;
        }
      }
    }
  }
}

// int64 powers by repeated multiplication (wrapping), to every power up to 64; tensor-tensor and number-tensor powers
// elementwise as pow of the broadcast operands.
TEST(TensorBasics, PowersOfIntegersWrapAndTensorPowersBroadcast) {
  const std::vector<int64_t> bases = {0, 1, -1, 2, -2, 3, -7, 12345, INT64_MAX, INT64_MIN};
  const Tensor b = from_vector(bases, {static_cast<int64_t>(bases.size())});
  for (int64_t n = 0; n <= 64; ++n) {
    const std::vector<int64_t> got = ops::pow(b, n).to_vector<int64_t>();
    for (std::size_t i = 0; i < bases.size(); ++i) {
      uint64_t product = 1;
      for (int64_t k = 0; k < n; ++k) product *= static_cast<uint64_t>(bases[i]);
      ASSERT_EQ(got[i], static_cast<int64_t>(product)) << bases[i] << " ^ " << n;
    }
  }
  const Tensor copy = ops::pow(b, 1);
  EXPECT_FALSE(copy.is_same(b));
  const std::vector<int64_t> exponents = {-3, -2, -1, 0, 5};
  const Tensor e = from_vector(exponents, {5, 1});
  const std::vector<int64_t> grid = ops::pow(b, e).to_vector<int64_t>();  // (5, 10)
  for (std::size_t r = 0; r < exponents.size(); ++r)
    for (std::size_t c = 0; c < bases.size(); ++c) {
      const int64_t v = bases[c], n = exponents[r];
      const int64_t want = n >= 0    ? ops::pow(b, n).to_vector<int64_t>()[c]
                           : v == 1  ? 1
                           : v == -1 ? (n % 2 != 0 ? -1 : 1)
                                     : 0;
      ASSERT_EQ(grid[r * bases.size() + c], want) << v << " ^ " << n;
    }

  Generator gen(29);
  const Tensor base = rand({3, 1, 65, 66}, gen) * 4.0, exponent = randn({4, 1, 66}, gen) * 5.0;
  const std::vector<float> bv = base.to_vector(), ev = exponent.to_vector();
  const std::vector<float> powers = ops::pow(base, exponent).to_vector(), of_two = ops::pow(2.5, exponent).to_vector();
  for (int64_t i = 0; i < 3 * 4 * 65 * 66; ++i) {
    const int64_t w = i % 66, h = i / 66 % 65, c = i / (66 * 65) % 4, n = i / (66 * 65 * 4);
    const float v = bv[static_cast<std::size_t>((n * 65 + h) * 66 + w)], p = ev[static_cast<std::size_t>(c * 66 + w)];
    ASSERT_EQ(powers[static_cast<std::size_t>(i)], static_cast<float>(std::pow(double{v}, double{p})))
        << v << " ^ " << p;
    if (n == 0 && h == 0)
      ASSERT_EQ(of_two[static_cast<std::size_t>(c * 66 + w)], static_cast<float>(std::pow(2.5, double{p}))) << p;
  }
}

// A reduction over `dim` as (outer, length, inner): the lines of `length` elements, `inner` apart, it reduces.
std::tuple<int64_t, int64_t, int64_t> lines_along(const Shape& shape, int64_t dim) {
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < dim; ++d) outer *= shape[static_cast<std::size_t>(d)];
  for (std::size_t d = static_cast<std::size_t>(dim) + 1; d < shape.size(); ++d) inner *= shape[d];
  return {outer, shape[static_cast<std::size_t>(dim)], inner};
}

TEST(TensorBasics, ReductionsOverEveryDimAreTheIndexOrderLines) {
  Generator gen(15);
  for (const Shape& shape :
       {Shape{7, 5}, Shape{3, 4, 1030}, Shape{2, 300, 600}, Shape{1100, 3}, Shape{1001, 64}, Shape{40, 37}}) {
    const std::vector<float> base = (randn(shape, gen) * 100.0).to_vector();
    std::vector<float> w = base;  // max and min: values rounded to a few integers (ties at the extremes) and NaNs
    for (float& e : w) e = std::round(e / 40.0f);
    for (std::size_t i = 11; i < w.size(); i += 9973) w[i] = NAN;
    const Tensor y = from_vector(w, shape);
    for (int64_t dim = 0; dim < static_cast<int64_t>(shape.size()); ++dim) {
      SCOPED_TRACE(shape_str(shape) + " dim " + std::to_string(dim));
      int64_t outer, length, inner;
      std::tie(outer, length, inner) = lines_along(shape, dim);
      // Sums and means: in every 8 elements of a line (and the rest), +L and -L (L ~ 2^52) at places that move with the
      // line and the block, so that the additions between the two round to integers and the pair's cancellation leaves
      // that rounding in the float result: any other order of the additions (within a line, across a vector's lanes, in
      // a block of columns) gives other bits.
      std::vector<float> v = base;
      for (int64_t o = 0; o < outer; ++o)
        for (int64_t j = 0; j < inner; ++j)
          for (int64_t block = 0; block * 8 + 2 <= length; ++block) {
            const int64_t span = std::min<int64_t>(8, length - block * 8), phase = block * 3 + o + j;
            const int64_t first = phase % span, second = (first + 1 + phase % (span - 1)) % span;
            const float large = std::ldexp(1.0f + static_cast<float>(phase % 1000) / 1024.0f, 52);
            v[static_cast<std::size_t>((o * length + block * 8 + first) * inner + j)] = large;
            v[static_cast<std::size_t>((o * length + block * 8 + second) * inner + j)] = -large;
          }
      const Tensor x = from_vector(v, shape);
      const std::vector<float> sums = ops::sum(x, dim).to_vector(), means = ops::mean(x, dim).to_vector();
      const auto [values, indices] = ops::max(y, dim);
      const std::vector<float> maxima = values.to_vector();
      const std::vector<int64_t> where = indices.to_vector<int64_t>();
      const auto [min_values, min_indices] = ops::min(y, dim);
      const std::vector<float> minima = min_values.to_vector();
      const std::vector<int64_t> min_where = min_indices.to_vector<int64_t>();
      for (int64_t o = 0; o < outer; ++o)
        for (int64_t j = 0; j < inner; ++j) {
          const auto index = [&](int64_t r) { return static_cast<std::size_t>((o * length + r) * inner + j); };
          const auto at = [&](int64_t r) { return w[index(r)]; };
          double sum = 0;
          int64_t best = 0, least = 0;
          for (int64_t r = 0; r < length; ++r) {
            sum += v[index(r)];
            if (!std::isnan(at(best)) && (at(r) > at(best) || std::isnan(at(r)))) best = r;
            if (!std::isnan(at(least)) && (at(r) < at(least) || std::isnan(at(r)))) least = r;
          }
          const auto i = static_cast<std::size_t>(o * inner + j);
          ASSERT_EQ(sums[i], static_cast<float>(sum)) << o << " " << j;
          ASSERT_EQ(means[i], static_cast<float>(sum / static_cast<double>(length))) << o << " " << j;
          ASSERT_EQ(where[i], best) << o << " " << j;
          ASSERT_TRUE(std::isnan(at(best)) ? std::isnan(maxima[i]) : maxima[i] == at(best)) << o << " " << j;
          ASSERT_EQ(min_where[i], least) << o << " " << j;
          ASSERT_TRUE(std::isnan(at(least)) ? std::isnan(minima[i]) : minima[i] == at(least)) << o << " " << j;
        }
    }
  }
}

// var and std over each dim of shapes whose lines run in parallel and across columns, at a mean 1e6 times the spread
// (E[x^2] - E[x]^2 in double would keep few digits there), against a two-pass reference in double: within an ulp.
TEST(TensorBasics, VariancesAreExactAtAnyMean) {
  Generator gen(18);
  for (const Shape& shape : {Shape{7, 5}, Shape{3, 4, 1030}, Shape{1001, 64}}) {
    const Tensor x = randn(shape, gen) * 0.01 + 1e4;
    const std::vector<float> v = x.to_vector();
    for (int64_t dim = 0; dim < static_cast<int64_t>(shape.size()); ++dim) {
      SCOPED_TRACE(shape_str(shape) + " dim " + std::to_string(dim));
      int64_t outer, length, inner;
      std::tie(outer, length, inner) = lines_along(shape, dim);
      const std::vector<float> unbiased = ops::var(x, dim).to_vector(), biased = ops::var(x, dim, false).to_vector();
      const std::vector<float> deviation = ops::std(x, dim).to_vector();
      for (int64_t o = 0; o < outer; ++o)
        for (int64_t j = 0; j < inner; ++j) {
          const auto at = [&](int64_t r) {
            return static_cast<double>(v[static_cast<std::size_t>((o * length + r) * inner + j)]);
          };
          double mean = 0, m2 = 0;
          for (int64_t r = 0; r < length; ++r) mean += at(r);
          mean /= static_cast<double>(length);
          for (int64_t r = 0; r < length; ++r) m2 += (at(r) - mean) * (at(r) - mean);
          const auto i = static_cast<std::size_t>(o * inner + j);
          const double expected = m2 / static_cast<double>(length - 1);
          ASSERT_NEAR(unbiased[i], expected, expected * 1.2e-7) << o << " " << j;
          ASSERT_NEAR(biased[i], m2 / static_cast<double>(length), expected * 1.2e-7) << o << " " << j;
          ASSERT_NEAR(deviation[i], std::sqrt(expected), std::sqrt(expected) * 1.2e-7) << o << " " << j;
        }
    }
  }
}

class TensorOpsGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(TensorOpsGolden, MatchesPyTorch) { testing::run_tensor_ops_golden_case(GetParam(), Device::cpu()); }

INSTANTIATE_TEST_SUITE_P(PyTorch, TensorOpsGolden, ::testing::ValuesIn(testing::tensor_ops_golden_case_names()),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

TEST(TensorBasics, ReductionsAndIndexOpsFollowPyTorch) {
  Generator gen(14);
  const Tensor x = randn({2, 3, 4}, gen);
  const auto v = x.to_vector();
  auto at = [&](int64_t i, int64_t j, int64_t k) {
    return static_cast<double>(v[static_cast<std::size_t>((i * 3 + j) * 4 + k)]);
  };
  const Tensor s1 = ops::sum(x, 1), m2 = ops::mean(x, -1, true);
  EXPECT_EQ(s1.sizes(), (Shape{2, 4}));
  EXPECT_EQ(m2.sizes(), (Shape{2, 3, 1}));
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t k = 0; k < 4; ++k)
      EXPECT_NEAR(s1.to_vector()[static_cast<std::size_t>(i * 4 + k)], at(i, 0, k) + at(i, 1, k) + at(i, 2, k), 1e-6);
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t j = 0; j < 3; ++j)
      EXPECT_NEAR(m2.to_vector()[static_cast<std::size_t>(i * 3 + j)],
                  (at(i, j, 0) + at(i, j, 1) + at(i, j, 2) + at(i, j, 3)) / 4, 1e-6);
  const Tensor ties = from_vector(std::vector<float>{1, 5, 5, 2, NAN, 3, 7, NAN}, {2, 4});
  // torch.max(t, 1) and torch.argmax(t, 0) for this t in PyTorch 1.13: indices [1, 0] (first occurrence of a tie;
  // the first NaN is the maximum) and [1, 0, 1, 1].
  const auto [values, indices] = ops::max(ties, 1);
  EXPECT_EQ(indices.to_vector<int64_t>(), (std::vector<int64_t>{1, 0}));
  EXPECT_EQ(values.to_vector()[0], 5.0f);
  EXPECT_TRUE(std::isnan(values.to_vector()[1]));
  EXPECT_EQ(ops::argmax(ties, 0).to_vector<int64_t>(), (std::vector<int64_t>{1, 0, 1, 1}));
  EXPECT_TRUE(std::isnan(ops::mean(zeros({3, 0}), 1).to_vector()[0]));  // mean of nothing, as PyTorch
  EXPECT_EQ(ops::sum(zeros({3, 0}), 1).to_vector(), std::vector<float>(3, 0.0f));
  EXPECT_TRUE(throws_with(
      [&] {
        ops::max(zeros({3, 0}), 1);
      },
      "max(): Expected reduction dim 1 to have non-zero size."));
  // Refused whatever the other dimensions hold, and named after the op (PyTorch 1.13's words).
  EXPECT_TRUE(
      throws_with([&] { ops::max(zeros({0, 0}), 1); }, "max(): Expected reduction dim 1 to have non-zero size."));
  EXPECT_TRUE(
      throws_with([&] { ops::argmax(zeros({0, 3}), 0); }, "argmax(): Expected reduction dim 0 to have non-zero size."));
  EXPECT_EQ(ops::max(zeros({0, 3}), 1).first.sizes(), (Shape{0}));
  EXPECT_TRUE(
      throws_with([&] { ops::sum(x, 3); }, "Dimension out of range (expected to be in range of [-3, 2], but got 3)"));

  const Tensor a = arange(24).reshape({2, 3, 4});
  EXPECT_EQ(ops::narrow(a, 1, 1, 2).to_vector(),
            (std::vector<float>{4, 5, 6, 7, 8, 9, 10, 11, 16, 17, 18, 19, 20, 21, 22, 23}));
  EXPECT_EQ(ops::select(a, 2, -1).to_vector(), (std::vector<float>{3, 7, 11, 15, 19, 23}));
  EXPECT_EQ(ops::select(a, 2, -1).sizes(), (Shape{2, 3}));
  EXPECT_EQ(ops::slice(a, 0, -1, 100).sizes(), (Shape{1, 3, 4}));  // Python's a[-1:100]
  EXPECT_EQ(ops::slice(a, 2, 3, 1).sizes(), (Shape{2, 3, 0}));
  const Tensor c = ops::cat({a, ops::narrow(a, 2, 0, 1)}, -1);
  EXPECT_EQ(c.sizes(), (Shape{2, 3, 5}));
  EXPECT_EQ(ops::select(c, 2, 4).to_vector(), ops::select(a, 2, 0).to_vector());
  const Tensor st = ops::stack({ones({2, 3}), zeros({2, 3})}, 1);
  EXPECT_EQ(st.sizes(), (Shape{2, 2, 3}));
  EXPECT_EQ(st.to_vector(), (std::vector<float>{1, 1, 1, 0, 0, 0, 1, 1, 1, 0, 0, 0}));
  const Tensor labels = from_vector(std::vector<int64_t>{1, 2, 3, 4}, {4});
  EXPECT_EQ(ops::narrow(labels, 0, 1, 2).to_vector<int64_t>(), (std::vector<int64_t>{2, 3}));
  EXPECT_TRUE(throws_with([&] { ops::narrow(a, 1, 2, 2); }, "start (2) + length (2) exceeds dimension size (3)."));
  EXPECT_TRUE(throws_with([&] { ops::select(a, 1, 3); },
                          "select(): index 3 out of range for tensor of size [2, 3, 4] at dimension 1"));
  EXPECT_TRUE(throws_with(
      [&] {
        ops::cat({a, zeros({2, 4, 4})}, 2);
      },
      "Sizes of tensors must match except in dimension 2. Expected size 3 but got size 4 for tensor "
      "number 1 in the list."));
  EXPECT_TRUE(throws_with(
      [&] {
        ops::stack({zeros({2, 3}), zeros({2, 4})});
      },
      "stack expects each tensor to be equal size, but got [2, 3] at entry 0 and [2, 4] at entry 1"));
}

// The values below are PyTorch 1.13's for the same calls.
TEST(TensorBasics, ReductionsAndJoinsTakeEveryDtypeAsPyTorch) {
  const TensorOptions int64 = TensorOptions().dtype(DType::Int64);
  const Tensor big = full({3}, static_cast<double>(int64_t{1} << 62), int64);
  EXPECT_EQ(ops::sum(big, 0).item<int64_t>(), -(int64_t{1} << 62));  // wraps, as torch.sum of int64
  const Tensor labels = from_vector(std::vector<int64_t>{3, -1, 7, 7, 2, 9}, {2, 3});
  EXPECT_EQ(ops::sum(labels, 1).to_vector<int64_t>(), (std::vector<int64_t>{9, 18}));
  const auto [values, indices] = ops::max(labels, 0);
  EXPECT_EQ(values.dtype(), DType::Int64);
  EXPECT_EQ(values.to_vector<int64_t>(), (std::vector<int64_t>{7, 2, 9}));
  EXPECT_EQ(indices.to_vector<int64_t>(), (std::vector<int64_t>{1, 1, 1}));
  EXPECT_EQ(ops::argmax(from_vector(std::vector<int64_t>{4, 8, 8}, {3}), 0).item<int64_t>(), 1);  // the first tie
  EXPECT_TRUE(throws_with([&] { ops::mean(labels, 5); }, "mean(): could not infer output dtype. Input dtype must be "
                          "either a floating point or complex dtype. Got: Long"));
  EXPECT_TRUE(throws_with([&] { ops::sum(labels, 5); }, "Dimension out of range (expected to be in range of [-2, 1], "
                          "but got 5)"));
  // 16-bit sums and means in float, rounded once: 4096 * float16(0.1) = 409.5, 4096 * bfloat16(0.1) = 410.
  for (const auto& [dtype, sum] : {std::pair{DType::Float16, 409.5f}, std::pair{DType::BFloat16, 410.0f}}) {
    const Tensor tenths = full({4096}, 0.1, TensorOptions().dtype(dtype));
    EXPECT_EQ(ops::sum(tenths, 0).dtype(), dtype);
    EXPECT_EQ(ops::sum(tenths, 0).to(DType::Float32).item(), sum);
    EXPECT_EQ(ops::mean(tenths, 0).to(DType::Float32).item(), tenths.to(DType::Float32).to_vector()[0]);
  }
  const Tensor large = full({3}, 60000.0, TensorOptions().dtype(DType::Float16));
  EXPECT_EQ(ops::sum(large, 0).to(DType::Float32).item(), INFINITY);
  EXPECT_EQ(ops::max(large, 0).first.dtype(), DType::Float16);

  // cat and stack promote (float16 with bfloat16 to float32; int64 with a floating dtype to it) and cat skips 1-d
  // empty tensors, which still take part in the promotion.
  const Tensor half = full({2, 3}, 1.5, TensorOptions().dtype(DType::Float16));
  const Tensor mixed = ops::cat({half, full({2, 1}, 2.5, TensorOptions().dtype(DType::BFloat16))}, 1);
  EXPECT_EQ(mixed.dtype(), DType::Float32);
  EXPECT_EQ(mixed.to_vector(), (std::vector<float>{1.5, 1.5, 1.5, 2.5, 1.5, 1.5, 1.5, 2.5}));
  const Tensor with_empty = ops::cat({labels, zeros({0}, TensorOptions().dtype(DType::Float16))}, 1);
  EXPECT_EQ(with_empty.dtype(), DType::Float16);
  EXPECT_EQ(with_empty.to(DType::Float32).to_vector(), labels.to(DType::Float32).to_vector());
  EXPECT_EQ(ops::cat({zeros({0}), labels, zeros({0})}, -1).sizes(), (Shape{2, 3}));
  EXPECT_EQ(ops::cat({zeros({0}), zeros({0})}, 5).sizes(), (Shape{0}));
  EXPECT_EQ(ops::stack({zeros({2}), from_vector(std::vector<int64_t>{1, 2}, {2})}, 1).to_vector(),
            (std::vector<float>{0, 1, 0, 2}));
  EXPECT_TRUE(throws_with([&] { ops::cat({labels, zeros({}), labels}, 0); },
                          "zero-dimensional tensor (at position 1) cannot be concatenated"));
  EXPECT_TRUE(throws_with([&] { ops::cat({zeros({0}), labels, zeros({2})}, 1); },
                          "Tensors must have same number of dimensions: got 2 and 1"));

  // A 0-dim tensor has one order; channel_shuffle checks the rank before the groups.
  EXPECT_EQ(ops::permute(full({}, 4.0), {}).item(), 4.0f);
  EXPECT_EQ(ops::permute(full({}, 4.0), {}).sizes(), Shape{});
  EXPECT_TRUE(throws_with([&] { ops::channel_shuffle(zeros({5}), 0); },
                          "channel_shuffle expects input with > 2 dims, but got input with sizes [5]"));
}

// Copies past a few megabytes go in slices over the threads, a slice ending inside a row and the next starting there:
// every element lands where the index arithmetic puts it (the values are their own flat indices).
TEST(TensorBasics, LargeNarrowsAndConcatenationsPutEveryElementInItsPlace) {
  const int64_t n = 3, rows = 1001, cols = 703;  // 8.4 MB; a row of 2.8 MB is not a multiple of the slices
  const Tensor a = arange(n * rows * cols).reshape({n, rows, cols});
  const Tensor middle = ops::narrow(a, 1, 2, rows - 3);
  const std::vector<float> flat = a.to_vector(), got = middle.to_vector();
  ASSERT_EQ(got.size(), static_cast<std::size_t>(n * (rows - 3) * cols));
  std::size_t wrong = 0;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t r = 0; r < rows - 3; ++r)
      for (int64_t c = 0; c < cols; ++c)
        wrong += got[static_cast<std::size_t>((i * (rows - 3) + r) * cols + c)] !=
                 flat[static_cast<std::size_t>((i * rows + r + 2) * cols + c)];
  EXPECT_EQ(wrong, 0u);
  const Tensor joined = ops::cat({middle, ops::narrow(a, 1, 0, 2), ops::narrow(a, 1, rows - 1, 1)}, 1);
  EXPECT_EQ(joined.sizes(), a.sizes());
  const std::vector<float> back = joined.to_vector();
  wrong = 0;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t source = r < rows - 3 ? r + 2 : r < rows - 1 ? r - (rows - 3) : rows - 1;
      for (int64_t c = 0; c < cols; ++c)
        wrong += back[static_cast<std::size_t>((i * rows + r) * cols + c)] !=
                 flat[static_cast<std::size_t>((i * rows + source) * cols + c)];
    }
  EXPECT_EQ(wrong, 0u);
}

TEST(TensorBasics, FromBlobSharesCallerMemoryAndCallsTheDeleterOnce) {
  std::vector<float> memory = {1, 2, 3, 4, 5, 6};
  int deleted = 0;
  {
    Tensor t = from_blob(memory.data(), {2, 3}, {}, [&](void* p) {
      EXPECT_EQ(p, memory.data());
      ++deleted;
    });
    Tensor copy = t;
    EXPECT_EQ(t.raw_data(), memory.data());
    t.data<float>()[4] = 50;  // no copy: the caller's memory changes
    EXPECT_EQ(memory[4], 50);
    t = Tensor();
    EXPECT_EQ(deleted, 0);  // a handle is still alive
  }
  EXPECT_EQ(deleted, 1);
  Tensor borrowed = from_blob(memory.data(), {6});  // no deleter: the caller keeps ownership
  EXPECT_EQ(borrowed.to_vector()[4], 50);
  EXPECT_TRUE(throws_with([&] { from_blob(nullptr, {3}); }, "from_blob: null data for 12 bytes"));
}

TEST(TensorBasics, RandintAndTheDefaultGenerator) {
  manual_seed(7);
  const auto a = randn({5}).to_vector();
  manual_seed(7);
  EXPECT_EQ(randn({5}).to_vector(), a);
  Generator gen(3);
  const auto r = randint(-2, 3, {4000}, gen).to_vector<int64_t>();
  std::vector<int> counts(5, 0);
  for (int64_t v : r) {
    ASSERT_TRUE(v >= -2 && v < 3) << v;
    ++counts[static_cast<std::size_t>(v + 2)];
  }
  for (int c : counts) EXPECT_GT(c, 700);  // 800 expected each
  EXPECT_TRUE(throws_with([&] { randint(3, 3, {2}, gen); }, "random_ expects 'from' to be less than 'to'"));
}

#if NORMRT_TEST_DLPACK
TEST(TensorBasics, DLPackRoundTripsWithoutCopies) {
  Tensor t = from_vector(std::vector<float>{1, 2, 3, 4, 5, 6}, {2, 3});
  const void* data = t.raw_data();
  DLManagedTensor* managed = to_dlpack(t);
  EXPECT_EQ(managed->dl_tensor.device.device_type, kDLCPU);
  EXPECT_EQ(managed->dl_tensor.ndim, 2);
  EXPECT_EQ(managed->dl_tensor.strides[0], 3);
  t = Tensor();  // the DLPack tensor keeps the memory alive
  Tensor back = from_dlpack(managed);
  EXPECT_EQ(back.raw_data(), data);
  EXPECT_EQ(back.to_vector(), (std::vector<float>{1, 2, 3, 4, 5, 6}));

  // A producer's tensor: a byte offset, a size-1 dimension with an arbitrary stride, and its deleter.
  static int deleted = 0;
  std::vector<int64_t> memory = {99, 10, 20, 30};
  int64_t shape[2] = {3, 1}, strides[2] = {1, 42};
  DLManagedTensor foreign{};
  foreign.dl_tensor = {memory.data(), {kDLCPU, 0}, 2, {kDLInt, 64, 1}, shape, strides, sizeof(int64_t)};
  foreign.deleter = [](DLManagedTensor*) { ++deleted; };
  {
    const Tensor f = from_dlpack(&foreign);
    EXPECT_EQ(f.to_vector<int64_t>(), (std::vector<int64_t>{10, 20, 30}));
  }
  EXPECT_EQ(deleted, 1);
  foreign.dl_tensor.shape[0] = 1;
  foreign.dl_tensor.shape[1] = 3;
  int64_t transposed[2] = {1, 3};  // (1, 3) with column strides: not row-major
  foreign.dl_tensor.strides = transposed;
  EXPECT_TRUE(throws_with(
      [&] { from_dlpack(&foreign); },
      "only dense row-major or channels-last tensors are supported; strides [1, 3] for shape [1, 3]"));
  foreign.dl_tensor.strides = nullptr;
  foreign.dl_tensor.dtype = {kDLFloat, 64, 1};
  EXPECT_TRUE(throws_with([&] { from_dlpack(&foreign); }, "from_dlpack: dtype (code 2, 64 bits, 1 lanes)"));
  EXPECT_EQ(deleted, 1);  // refused: still the caller's
}
#endif

// testing::same_bits, which the tests claiming the same bits (device and CPU, resumed and whole runs) compare with:
// float's == would take -0 for +0 and reject equal NaNs; any NaN matches any NaN (no op promises a payload or sign).
TEST(TestSupport, SameBitsTellsSignedZerosApartAndTakesAnyNaNForANaN) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const uint32_t gpu_nan_bits = 0x7fffffffu;
  float gpu_nan;
  std::memcpy(&gpu_nan, &gpu_nan_bits, sizeof gpu_nan);
  EXPECT_TRUE(testing::same_bits({0.0f, nan, -1.5f}, {0.0f, nan, -1.5f}));
  EXPECT_FALSE(testing::same_bits({0.0f}, {-0.0f}));
  EXPECT_TRUE(testing::same_bits({nan, -nan}, {-nan, gpu_nan}));
  EXPECT_FALSE(testing::same_bits({nan}, {std::numeric_limits<float>::infinity()}));
  EXPECT_FALSE(testing::same_bits({1.0f}, {nan}));
  EXPECT_FALSE(testing::same_bits({1.0f}, {std::nextafter(1.0f, 2.0f)}));
  EXPECT_FALSE(testing::same_bits({1.0f}, {1.0f, 1.0f}));
}

// sort along every dimension of tensors with ties, NaN and zeros of both signs, against std::stable_sort with NaN above
// every number, both ways (a line of 1500 too); topk is the sort's first k, contiguous; sort keeps channels-last.
TEST(TensorBasics, SortIsStableWithNanAboveEveryNumberAndTopkIsItsPrefix) {
  Generator gen(31);
  for (const Shape& shape : {Shape{3, 5, 6, 67}, Shape{2, 1500}}) {
    std::vector<float> v = (randn(shape, gen) * 3.0).to_vector();
    for (float& e : v) e = std::round(e);
    for (std::size_t i = 5; i < v.size(); i += 97) v[i] = NAN;
    const Tensor x = from_vector(v, shape);
    for (int64_t dim = 0; dim < static_cast<int64_t>(shape.size()); ++dim)
      for (const bool descending : {false, true}) {
        SCOPED_TRACE(shape_str(shape) + " dim " + std::to_string(dim) + (descending ? " descending" : ""));
        int64_t outer, length, inner;
        std::tie(outer, length, inner) = lines_along(shape, dim);
        const int64_t k = (length + 2) / 3;
        const auto [values, indices] = ops::sort(x, dim, descending);
        const auto [top, top_indices] = ops::topk(x, k, dim, descending);
        const std::vector<float> sv = values.to_vector(), tv = top.to_vector();
        const std::vector<int64_t> si = indices.to_vector<int64_t>(), ti = top_indices.to_vector<int64_t>();
        for (int64_t o = 0; o < outer; ++o)
          for (int64_t j = 0; j < inner; ++j) {
            const auto at = [&](int64_t r) { return v[static_cast<std::size_t>((o * length + r) * inner + j)]; };
            std::vector<int64_t> order(static_cast<std::size_t>(length));
            std::iota(order.begin(), order.end(), int64_t{0});
            std::stable_sort(order.begin(), order.end(), [&](int64_t p, int64_t q) {
              const float a = at(p), b = at(q);
              if (std::isnan(a)) return descending && !std::isnan(b);
              if (std::isnan(b)) return !descending;
              return descending ? b < a : a < b;
            });
            for (int64_t r = 0; r < length; ++r) {
              const int64_t want = order[static_cast<std::size_t>(r)];
              const auto out = static_cast<std::size_t>((o * length + r) * inner + j);
              ASSERT_EQ(si[out], want) << o << " " << j << " " << r;
              ASSERT_TRUE(testing::same_bits({sv[out]}, {at(want)}));
              if (r >= k) continue;
              const auto first = static_cast<std::size_t>((o * k + r) * inner + j);
              ASSERT_EQ(ti[first], want);
              ASSERT_TRUE(testing::same_bits({tv[first]}, {at(want)}));
            }
          }
      }
    if (shape.size() != 4) continue;
    const Tensor nhwc = x.to(MemoryFormat::ChannelsLast);
    const auto [values, indices] = ops::sort(nhwc, 1);
    EXPECT_EQ(values.memory_format(), MemoryFormat::ChannelsLast);
    EXPECT_EQ(indices.memory_format(), MemoryFormat::ChannelsLast);
    EXPECT_TRUE(testing::same_bits(values.to_vector(), ops::sort(x, 1).first.to_vector()));
    EXPECT_EQ(ops::topk(nhwc, 2, 1).first.memory_format(), MemoryFormat::Contiguous);
  }
  for (const int64_t k : {0, 1}) {  // a 0-dim tensor is its own top element, k = 0 too, as PyTorch's
    const auto [value, index] = ops::topk(full({}, 2.5), k);
    EXPECT_EQ(value.item<float>(), 2.5f);
    EXPECT_EQ(index.item<int64_t>(), 0);
  }
}

// cumsum and cumprod along every dimension, in both memory formats: running sums and products in index order,
// accumulated in double for float32, in float for bfloat16 (its elements widened), wrapping for int64.
TEST(TensorBasics, CumulativeSumsAndProductsAccumulateAsPyTorchsCpuKernels) {
  Generator gen(37);
  const Shape shape{3, 4, 70, 67};
  const std::vector<float> v = (randn(shape, gen) * 0.5 + 1.0).to_vector();
  const Tensor x = from_vector(v, shape), b = x.to(DType::BFloat16);
  const std::vector<float> bv = b.to(DType::Float32).to_vector();
  std::vector<int64_t> iv;
  for (float e : v) iv.push_back(static_cast<int64_t>(e * 1e6f));
  const Tensor i = from_vector(iv, shape);
  for (int64_t dim = 0; dim < 4; ++dim)
    for (const bool product : {false, true}) {
      SCOPED_TRACE("dim " + std::to_string(dim) + (product ? " cumprod" : " cumsum"));
      const auto run = [&](const Tensor& t) { return product ? ops::cumprod(t, dim) : ops::cumsum(t, dim); };
      const std::vector<float> f = run(x.to(MemoryFormat::ChannelsLast)).to_vector();
      const std::vector<float> h = run(b).to(DType::Float32).to_vector();
      const std::vector<int64_t> n = run(i).to_vector<int64_t>();
      int64_t outer, length, inner;
      std::tie(outer, length, inner) = lines_along(shape, dim);
      for (int64_t o = 0; o < outer; ++o)
        for (int64_t j = 0; j < inner; ++j) {
          double d = product ? 1 : 0;
          float s = product ? 1 : 0;
          uint64_t w = product ? 1 : 0;
          for (int64_t r = 0; r < length; ++r) {
            const auto at = static_cast<std::size_t>((o * length + r) * inner + j);
            d = product ? d * v[at] : d + v[at];
            s = product ? s * bv[at] : s + bv[at];
            w = product ? w * static_cast<uint64_t>(iv[at]) : w + static_cast<uint64_t>(iv[at]);
            ASSERT_EQ(f[at], static_cast<float>(d)) << o << " " << j << " " << r;
            ASSERT_EQ(h[at], static_cast<float>(BFloat16(s))) << o << " " << j << " " << r;
            ASSERT_EQ(n[at], static_cast<int64_t>(w)) << o << " " << j << " " << r;
          }
        }
    }
  EXPECT_EQ(ops::cumsum(x.to(MemoryFormat::ChannelsLast), 1).memory_format(), MemoryFormat::Contiguous);
}

}  // namespace
}  // namespace normrt
