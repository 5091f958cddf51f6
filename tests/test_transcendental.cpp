// The floating functions beyond exp and log (rsqrt, log1p, expm1, log2, log10, exp2, sigmoid, tanh, erf, erfc, sin,
// cos, tan) over tensors large enough to run in parallel and vectorised, in both memory formats and in place, to the
// bit of float_math.cuh's scalar functions (whose accuracy test_float_math.cpp measures over every float), and against
// <cmath> in double; their dtypes (int64 and bool to float32, 16-bit types rounded once) and refusals. PyTorch's own
// numbers are the golden cases (make_golden_tensor_ops.py).
#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "float_math.cuh"
#include "normrt/ops/elementwise.h"
#include "normrt/ops/tensor_ops.h"
#include "test_util.h"

namespace normrt {
namespace {

using testing::throws_with;

struct Function {
  ops::UnaryOp op;
  const char* name;
  float (*scalar)(float);   // the bits every device computes
  double (*exact)(double);  // <cmath>'s, in double
  double ulps;              // the scalar function's accuracy: its FloatMath test's bound
  double from = -INFINITY;  // where that accuracy starts (sigmoid is 0 where e^-x overflows, as PyTorch's)
};

const std::vector<Function>& functions() {
  static const std::vector<Function> all = {
      {ops::UnaryOp::Rsqrt, "rsqrt", [](float v) { return 1.0f / std::sqrt(v); },
       [](double v) { return 1.0 / std::sqrt(v); }, 1.5},
      {ops::UnaryOp::Log1p, "log1p", [](float v) { return fmath::log1p(v); }, [](double v) { return std::log1p(v); },
       2.5},
      {ops::UnaryOp::Expm1, "expm1", [](float v) { return fmath::expm1(v); }, [](double v) { return std::expm1(v); },
       2.0},
      {ops::UnaryOp::Log2, "log2", [](float v) { return fmath::log2(v); }, [](double v) { return std::log2(v); }, 1.05},
      {ops::UnaryOp::Log10, "log10", [](float v) { return fmath::log10(v); }, [](double v) { return std::log10(v); },
       1.05},
      {ops::UnaryOp::Exp2, "exp2", [](float v) { return fmath::exp2(v); }, [](double v) { return std::exp2(v); }, 1.0},
      {ops::UnaryOp::Sigmoid, "sigmoid", [](float v) { return fmath::sigmoid(v); },
       [](double v) { return 1.0 / (1.0 + std::exp(-v)); }, 2.5, -88.7},
      {ops::UnaryOp::Erf, "erf", [](float v) { return fmath::erf(v); }, [](double v) { return std::erf(v); }, 1.21},
      {ops::UnaryOp::Erfc, "erfc", [](float v) { return fmath::erfc(v); }, [](double v) { return std::erfc(v); }, 4.3},
      {ops::UnaryOp::Tanh, "tanh", [](float v) { return fmath::tanh(v); }, [](double v) { return std::tanh(v); }, 1.5},
      {ops::UnaryOp::Sin, "sin", [](float v) { return fmath::sin(v); }, [](double v) { return std::sin(v); }, 0.81},
      {ops::UnaryOp::Cos, "cos", [](float v) { return fmath::cos(v); }, [](double v) { return std::cos(v); }, 0.81},
      {ops::UnaryOp::Tan, "tan", [](float v) { return fmath::tan(v); }, [](double v) { return std::tan(v); }, 1.18}};
  return all;
}

// randn * 30 with specials in front: zeros of both signs, infinities, NaN, -1 (log1p's pole), subnormals, powers of two
// and ten, integers (exp2's exact results), values where exp2 and expm1 overflow or underflow, and one where SLEEF's
// log1p (PyTorch's CPU one) overflows.
Tensor drawn_values(const Shape& shape, uint64_t seed) {
  Generator gen(seed);
  std::vector<float> values = (randn(shape, gen) * 30.0).to_vector();
  const std::vector<float> specials = {0.0f,  -0.0f, INFINITY, -INFINITY, NAN,    -1.0f,   1e-45f, -3e-39f, 1024.0f,
                                       1e-3f, 3e38f, -149.0f,  127.0f,    128.0f, -150.0f, 89.0f,  -89.0f,  0.5f};
  std::copy(specials.begin(), specials.end(), values.begin());
  return from_vector(values, shape);
}

// |got - exact| in ulps of a float of exact's magnitude; inf against a value past the range is exact.
double ulps(float got, double exact) {
  if (std::isinf(got) && std::fabs(exact) > 3.4028234663852886e38 && (got > 0) == (exact > 0)) return 0.0;
  const double magnitude = std::fabs(exact);
  const int exponent = magnitude < 0x1p-126 ? -126 : std::ilogb(magnitude);
  return std::fabs(got - exact) / std::ldexp(1.0, exponent - 23);
}

TEST(Transcendental, FunctionsComputeFloatMathsBitsInEveryLayoutDtypeAndInPlace) {
  const Shape shape = {3, 5, 70, 67};
  const Tensor x = drawn_values(shape, 53);
  for (const DType dtype : {DType::Float32, DType::BFloat16, DType::Float16}) {
    const auto rounded = [dtype](float f) { return testing::rounded_to_dtype(f, dtype); };
    const Tensor typed = x.to(dtype);
    const std::vector<float> xv = typed.to(DType::Float32).to_vector();
    for (const Function& f : functions()) {
      for (const MemoryFormat format : {MemoryFormat::Contiguous, MemoryFormat::ChannelsLast}) {
        SCOPED_TRACE(std::string(dtype_name(dtype)) + " " + f.name +
                     (format == MemoryFormat::Contiguous ? "" : " NHWC"));
        const Tensor xs = typed.to(format);
        const Tensor out = ops::unary(f.op, xs);
        Tensor in_place = xs.clone();
        ops::unary_(f.op, in_place);
        EXPECT_EQ(out.memory_format(), format);
        EXPECT_EQ(out.dtype(), dtype);
        const std::vector<float> got = out.to(MemoryFormat::Contiguous).to(DType::Float32).to_vector();
        ASSERT_TRUE(testing::same_bits(in_place.to(MemoryFormat::Contiguous).to(DType::Float32).to_vector(), got));
        for (std::size_t i = 0; i < xv.size(); ++i) {
          const float want = rounded(f.scalar(xv[i]));
          ASSERT_TRUE(testing::same_bits({got[i]}, {want})) << xv[i] << ": " << got[i] << ", expected " << want;
          const double exact = f.exact(xv[i]);
          if (dtype == DType::Float32 && !std::isnan(exact) && xv[i] >= f.from)
            ASSERT_LE(ulps(got[i], exact), f.ulps) << xv[i] << ": " << got[i] << ", exactly " << exact;
        }
      }
    }
  }
}

TEST(Transcendental, SpellingsAreTheFunctions) {
  const Tensor x = drawn_values({4, 33}, 59);
  const std::vector<std::pair<ops::UnaryOp, std::function<Tensor(const Tensor&)>>> spellings = {
      {ops::UnaryOp::Rsqrt, ops::rsqrt},     {ops::UnaryOp::Log1p, ops::log1p}, {ops::UnaryOp::Expm1, ops::expm1},
      {ops::UnaryOp::Log2, ops::log2},       {ops::UnaryOp::Log10, ops::log10}, {ops::UnaryOp::Exp2, ops::exp2},
      {ops::UnaryOp::Sigmoid, ops::sigmoid}, {ops::UnaryOp::Tanh, ops::tanh},   {ops::UnaryOp::Erf, ops::erf},
      {ops::UnaryOp::Erfc, ops::erfc},       {ops::UnaryOp::Sin, ops::sin},     {ops::UnaryOp::Cos, ops::cos},
      {ops::UnaryOp::Tan, ops::tan}};
  const std::vector<std::function<Tensor&(Tensor&)>> in_place = {
      ops::rsqrt_, ops::log1p_, ops::expm1_, ops::log2_, ops::log10_, ops::exp2_, ops::sigmoid_,
      ops::tanh_,  ops::erf_,   ops::erfc_,  ops::sin_,  ops::cos_,   ops::tan_};
  for (std::size_t k = 0; k < spellings.size(); ++k) {
    const std::vector<float> want = ops::unary(spellings[k].first, x).to_vector();
    EXPECT_TRUE(testing::same_bits(spellings[k].second(x).to_vector(), want)) << k;
    Tensor y = x.clone();
    EXPECT_TRUE(&in_place[k](y) == &y);
    EXPECT_TRUE(testing::same_bits(y.to_vector(), want)) << k;
  }
}

// Exact where the exact value is a float: powers of two and ten, integer powers of two.
TEST(Transcendental, LogarithmsOfPowersAndPowersOfIntegersAreExact) {
  std::vector<float> twos, exponents;
  for (int k = -149; k <= 127; ++k) {
    twos.push_back(std::ldexp(1.0f, k));
    exponents.push_back(static_cast<float>(k));
  }
  EXPECT_EQ(ops::log2(from_vector(twos, {static_cast<int64_t>(twos.size())})).to_vector(), exponents);
  EXPECT_EQ(ops::exp2(from_vector(exponents, {static_cast<int64_t>(exponents.size())})).to_vector(), twos);
  std::vector<float> tens, decades;
  for (int k = 0; k <= 10; ++k) {
    tens.push_back(static_cast<float>(std::pow(10.0, k)));
    decades.push_back(static_cast<float>(k));
  }
  EXPECT_EQ(ops::log10(from_vector(tens, {11})).to_vector(), decades);
}

TEST(Transcendental, IntegersAndBoolsAreFloat32AndRefusedInPlace) {
  const Tensor i = randint(-50, 50, {3, 41});
  const Tensor b = i > 0;
  for (const Function& f : functions()) {
    SCOPED_TRACE(f.name);
    for (const Tensor* t : {&i, &b}) {
      const Tensor out = ops::unary(f.op, *t);
      EXPECT_EQ(out.dtype(), DType::Float32);
      EXPECT_TRUE(testing::same_bits(out.to_vector(), ops::unary(f.op, t->to(DType::Float32)).to_vector()));
      Tensor copy = t->clone();
      const std::string type = t->dtype() == DType::Int64 ? "Long" : "Bool";
      EXPECT_TRUE(throws_with([&] { ops::unary_(f.op, copy); },
                              "result type Float can't be cast to the desired output type " + type));
      EXPECT_EQ(copy.to(DType::Int64).to_vector<int64_t>(), t->to(DType::Int64).to_vector<int64_t>());
    }
    EXPECT_EQ(ops::unary(f.op, empty({0, 3})).sizes(), (Shape{0, 3}));
    const Tensor scalar = full({}, 0.25f);
    EXPECT_TRUE(testing::same_bits(ops::unary(f.op, scalar).to_vector(), {f.scalar(0.25f)}));
    EXPECT_EQ(ops::unary(f.op, scalar).dim(), 0);
  }
}

// sin, cos and tan's CPU loop takes a block below fmath::kNearAngle at the machine's width and one with an element past
// it element by element: angles of every magnitude scattered through blocks of both kinds, 16-bit types too (a
// bfloat16 reaches 3e38, a float16 never leaves the near reduction), give the scalar functions' bits.
TEST(Transcendental, AnglesOfEveryMagnitudeInAnyBlockAreReducedAlike) {
  Generator gen(61);
  std::vector<float> angles = (rand({5000}, gen) * 6.0 - 3.0).to_vector();
  const std::vector<float> far = {fmath::kNearAngle, -fmath::kNearAngle, 1e10f, -3.4e38f, 8.70205924e13f, INFINITY, NAN,
                                  65504.0f,          105614.99f,         1e5f};
  for (std::size_t k = 0; k < far.size(); ++k) angles[k * 487 + 3] = far[k];  // one in about half the blocks
  for (std::size_t i = 4000; i < angles.size(); ++i) angles[i] = std::ldexp(angles[i], static_cast<int>(i % 130));
  const Tensor x = from_vector(angles, {5000});
  for (const DType dtype : {DType::Float32, DType::BFloat16, DType::Float16}) {
    const std::vector<float> xv = x.to(dtype).to(DType::Float32).to_vector();
    for (const Function& f : functions()) {
      if (f.op != ops::UnaryOp::Sin && f.op != ops::UnaryOp::Cos && f.op != ops::UnaryOp::Tan) continue;
      SCOPED_TRACE(std::string(dtype_name(dtype)) + " " + f.name);
      const std::vector<float> got = ops::unary(f.op, x.to(dtype)).to(DType::Float32).to_vector();
      for (std::size_t i = 0; i < xv.size(); ++i) {
        const float want = testing::rounded_to_dtype(f.scalar(xv[i]), dtype);
        ASSERT_TRUE(testing::same_bits({got[i]}, {want})) << xv[i] << ": " << got[i] << ", expected " << want;
        if (dtype == DType::Float32 && std::isfinite(xv[i])) ASSERT_LE(ulps(got[i], f.exact(xv[i])), f.ulps) << xv[i];
      }
    }
  }
}

}  // namespace
}  // namespace normrt
