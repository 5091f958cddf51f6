// BatchNorm in float16/bfloat16, channels-last, and fused with ReLU / residual add + ReLU on the CPU: PyTorch's golden
// cases, the fused forms against the unfused op followed by the add and ReLU, channels-last against contiguous, the
// 16-bit dtypes against float32 on the same values, finite differences through the fused forms, and bad arguments.
#include <cmath>
#include <cstring>

#include "bn_mixed_golden_runner.h"
#include "reference/bn_reference.h"

namespace normrt {
namespace {

using testing::all_close;
using testing::throws_with;

class MixedGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(MixedGolden, MatchesPyTorch) { testing::run_bn_mixed_case(GetParam(), Device::cpu(), 1e-5); }

INSTANTIATE_TEST_SUITE_P(PyTorch, MixedGolden, ::testing::ValuesIn(testing::bn_mixed_case_names()),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

// Shapes of the fused and layout property tests: C = 1, odd sizes, N * spatial = 2, (N, C), 5-d, a plane not a
// multiple of 32, and enough elements (> 2^18) for the parallel paths.
const std::vector<Shape> kShapes = {{2, 1, 1, 1}, {3, 5, 7, 9}, {1, 3, 2, 1}, {6, 7}, {2, 3, 3, 5, 7},
                                    {4, 33, 1, 1}, {8, 20, 40, 50}};

MemoryFormat channels_last_of(const Shape& shape) {
  return shape.size() == 4 ? MemoryFormat::ChannelsLast : MemoryFormat::ChannelsLast3d;
}

struct Step {
  ops::BatchNormForwardResult forward;
  ops::BatchNormBackwardResult backward;
  Tensor running_mean, running_var;
};

// A training step (forward + backward) of the op with running statistics updated from `rm0`/`rv0`.
Step step(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& rm0, const Tensor& rv0, const Tensor& dy,
          const ops::BatchNormEpilogue& epilogue = {}) {
  Step s;
  s.running_mean = rm0.clone();
  s.running_var = rv0.clone();
  s.forward = ops::batch_norm_forward_training(x, w, b, s.running_mean, s.running_var, Tensor(), 0.1, 1e-5,
                                               std::nullopt, epilogue);
  ops::BatchNormBackwardEpilogue back;
  if (epilogue.relu) back.relu_output = s.forward.output;
  back.residual = epilogue.residual.defined();
  s.backward = ops::batch_norm_backward(dy, x, w, s.forward.save_mean, s.forward.save_invstd, true, 1e-5,
                                        std::nullopt, back);
  return s;
}

struct Inputs {
  Tensor x, z, dy, w, b, rm, rv;
};

Inputs draw(const Shape& shape, uint64_t seed) {
  Generator gen(seed);
  const int64_t c = shape[1];
  Inputs in{randn(shape, gen) * 3.0 + 5.0, randn(shape, gen), randn(shape, gen), rand({c}, gen) + 0.5,
            randn({c}, gen), randn({c}, gen), rand({c}, gen) + 0.5};
  return in;
}

// The fused forward writes what the unfused op followed by a float32 add and ReLU gives, to the bit (one rounding
// each, in that order); the backward zeroes dy where the output is <= 0, and returns it as grad_residual.
TEST(BatchNormFused, EqualsTheUnfusedOpFollowedByAddAndReLU) {
  std::vector<Shape> shapes = kShapes;
  shapes.push_back({2, 3, 830001});  // a ReLU gradient pass over more than 56 MB: non-temporal stores, unaligned runs
  for (const Shape& shape : shapes) {
    SCOPED_TRACE(shape_str(shape));
    const Inputs in = draw(shape, 11 + shape_numel(shape));
    const Step plain = step(in.x, in.w, in.b, in.rm, in.rv, in.dy);
    const std::vector<float> y = plain.forward.output.to_vector(), z = in.z.to_vector(), dy = in.dy.to_vector();
    for (bool add : {false, true}) {
      for (bool relu : {false, true}) {
        if (!add && !relu) continue;
        SCOPED_TRACE(std::string(add ? "add" : "") + (relu ? "relu" : ""));
        const Step fused = step(in.x, in.w, in.b, in.rm, in.rv, in.dy, {add ? in.z : Tensor(), relu});
        std::vector<float> expected(y.size()), masked(y.size());
        for (std::size_t i = 0; i < y.size(); ++i) {
          const float v = add ? y[i] + z[i] : y[i];
          expected[i] = relu ? (v > 0.0f ? v : 0.0f) : v;
          masked[i] = relu && v <= 0.0f ? 0.0f : dy[i];
        }
        EXPECT_EQ(fused.forward.output.to_vector(), expected);
        EXPECT_EQ(fused.running_mean.to_vector(), plain.running_mean.to_vector());
        EXPECT_EQ(fused.running_var.to_vector(), plain.running_var.to_vector());
        const Step unfused_backward = step(in.x, in.w, in.b, in.rm, in.rv, from_vector(masked, shape));
        EXPECT_EQ(fused.backward.grad_input.to_vector(), unfused_backward.backward.grad_input.to_vector());
        EXPECT_EQ(fused.backward.grad_weight.to_vector(), unfused_backward.backward.grad_weight.to_vector());
        if (add) EXPECT_EQ(fused.backward.grad_residual.to_vector(), masked);
        if (!add) EXPECT_FALSE(fused.backward.grad_residual.defined());
      }
    }
  }
}

// Channels-last input gives the contiguous results (the statistics summed in another order: float32 accumulation's
// tolerance) and keeps its format through every output; the residual and grad_output may come in either format.
TEST(BatchNormChannelsLast, MatchesContiguousInEveryOutput) {
  for (const Shape& shape : kShapes) {
    if (shape.size() < 4) continue;
    SCOPED_TRACE(shape_str(shape));
    const Inputs in = draw(shape, 23 + shape_numel(shape));
    const MemoryFormat cl = channels_last_of(shape);
    const Step contiguous = step(in.x, in.w, in.b, in.rm, in.rv, in.dy, {in.z, true});
    const Step last = step(in.x.to(cl), in.w, in.b, in.rm, in.rv, in.dy, {in.z.to(cl), true});
    EXPECT_EQ(last.forward.output.memory_format(), cl);
    EXPECT_EQ(last.backward.grad_input.memory_format(), cl);
    EXPECT_EQ(last.backward.grad_residual.memory_format(), cl);
    auto near = [](const Tensor& a, const Tensor& b) { return all_close(a.to_vector(), b.to_vector(), 1e-5, 1e-5); };
    EXPECT_TRUE(near(last.forward.output, contiguous.forward.output));
    EXPECT_TRUE(near(last.forward.save_mean, contiguous.forward.save_mean));
    EXPECT_TRUE(near(last.forward.save_invstd, contiguous.forward.save_invstd));
    EXPECT_TRUE(near(last.running_var, contiguous.running_var));
    EXPECT_TRUE(near(last.backward.grad_input, contiguous.backward.grad_input));
    EXPECT_TRUE(near(last.backward.grad_weight, contiguous.backward.grad_weight));
    EXPECT_TRUE(near(last.backward.grad_residual, contiguous.backward.grad_residual));
    const auto eval = ops::batch_norm_forward_inference(in.x.to(cl), in.w, in.b, in.rm, in.rv, 1e-5);
    EXPECT_EQ(eval.output.memory_format(), cl);
    EXPECT_EQ(eval.output.to_vector(),
              ops::batch_norm_forward_inference(in.x, in.w, in.b, in.rm, in.rv, 1e-5).output.to_vector());
  }
}

// float16/bfloat16 input is normalised in float32 and rounded once: its results are the float32 op's on the same
// values, rounded to each tensor's dtype; float32 parameters stay float32 (mixed), 16-bit ones are updated in
// float32 and rounded. The shapes take each way the CPU backend reads 16-bit elements (converted in L1 as it goes):
// gathered 7x9 planes, planes longer than a staged chunk, (N, C) rows in a block of 64 columns and a narrower last
// one, channels-last, tensors large enough for the per-channel fused path and for its non-temporal stores (odd
// planes: runs that start anywhere); the fused ReLU with and without the residual, and the eval-mode backward.
TEST(BatchNormDtypes, SixteenBitResultsAreTheFloat32ResultsRoundedOnce) {
  const Shape shapes[] = {{3, 5, 7, 9}, {6, 7}, {2, 1, 1, 1}, {2, 2, 50, 50}, {40, 70}, {3, 70, 3, 3},
                          {8, 16, 130, 128}, {4, 36, 241, 255}};
  for (const Shape& shape : shapes) {
    const bool large = shape_numel(shape) > (1 << 20), streamed = shape_numel(shape) > (1 << 23);
    for (bool channels_last : {false, true}) {
      if (channels_last && shape.size() != 4) continue;
      for (DType dtype : {DType::Float16, DType::BFloat16}) {
        for (bool mixed : {true, false}) {
          for (int fusion = 0; fusion < 3; ++fusion) {  // none, ReLU, residual + ReLU
            if ((large && (!mixed || fusion == 1)) || (streamed && (channels_last || fusion > 0))) continue;
            SCOPED_TRACE(std::string(dtype_name(dtype)) + (mixed ? " mixed " : " ") + shape_str(shape) +
                         (channels_last ? " channels-last" : "") + " fusion " + std::to_string(fusion));
            Inputs in = draw(shape, 5 + shape_numel(shape));
            const MemoryFormat format = channels_last ? MemoryFormat::ChannelsLast : MemoryFormat::Contiguous;
            const Tensor x = in.x.to(dtype).to(format), z = in.z.to(dtype), dy = in.dy.to(dtype);
            const DType pd = mixed ? DType::Float32 : dtype;
            const Tensor w = in.w.to(pd), b = in.b.to(pd), rm = in.rm.to(pd), rv = in.rv.to(pd);
            auto wide = [](const Tensor& t) { return t.to(DType::Float32); };
            const ops::BatchNormEpilogue epilogue{fusion == 2 ? z : Tensor(), fusion > 0};
            const ops::BatchNormEpilogue wide_epilogue{fusion == 2 ? wide(z) : Tensor(), fusion > 0};
            const Step half = step(x, w, b, rm, rv, dy, epilogue);
            const Step full = step(wide(x), wide(w), wide(b), wide(rm), wide(rv), wide(dy), wide_epilogue);
            auto same = [](const Tensor& actual, const Tensor& reference, DType as) {
              EXPECT_EQ(actual.dtype(), as);
              return actual.to(DType::Float32).to_vector() == reference.to(as).to(DType::Float32).to_vector();
            };
            EXPECT_TRUE(same(half.forward.output, full.forward.output, dtype));
            EXPECT_EQ(half.forward.output.memory_format(), format);
            EXPECT_TRUE(same(half.forward.save_mean, full.forward.save_mean, DType::Float32));
            EXPECT_TRUE(same(half.forward.save_invstd, full.forward.save_invstd, DType::Float32));
            EXPECT_TRUE(same(half.running_mean, full.running_mean, pd));
            EXPECT_TRUE(same(half.running_var, full.running_var, pd));
            // The backward's grad_output past the ReLU is the float32 one masked by the rounded output: the same
            // elements pass (rounding keeps the sign of a positive float), so every gradient agrees.
            if (fusion == 2) EXPECT_TRUE(same(half.backward.grad_residual, full.backward.grad_residual, dtype));
            EXPECT_TRUE(same(half.backward.grad_input, full.backward.grad_input, dtype));
            EXPECT_TRUE(same(half.backward.grad_weight, full.backward.grad_weight, pd));
            EXPECT_TRUE(same(half.backward.grad_bias, full.backward.grad_bias, pd));
            ops::BatchNormBackwardEpilogue back, wide_back;
            if (fusion > 0) {
              back.relu_output = half.forward.output;
              wide_back.relu_output = wide(half.forward.output);
            }
            const auto eval = ops::batch_norm_backward(dy, x, w, half.forward.save_mean, half.forward.save_invstd,
                                                       false, 1e-5, std::nullopt, back);
            const auto wide_eval = ops::batch_norm_backward(wide(dy), wide(x), wide(w), half.forward.save_mean,
                                                            half.forward.save_invstd, false, 1e-5, std::nullopt,
                                                            wide_back);
            EXPECT_TRUE(same(eval.grad_input, wide_eval.grad_input, dtype));
          }
        }
      }
    }
  }
}

// Special values in 16-bit input are read as they are: a channel with a NaN or an infinity turns NaN, subnormal
// float16 inputs count at their value, outputs beyond the format's range round to infinity; every output element
// (NaN encodings included) is the float32 op's on the same values rounded once.
TEST(BatchNormDtypes, SpecialValuesRoundLikeTheFloat32Op) {
  const Shape shape{2, 5, 4, 9};  // 36 elements per plane: whole and partial groups of 32 conversions
  Generator gen(7);
  std::vector<float> v = randn(shape, gen).to_vector();
  const int64_t plane = 36;
  v[0 * plane + 3] = NAN;               // channel 0, sample 0
  v[(5 + 1) * plane + 30] = -INFINITY;  // channel 1, sample 1
  for (int64_t i = 0; i < plane; ++i) v[2 * plane + i] = static_cast<float>(i) * 6e-8f;  // channel 2: subnormal halves
  const Tensor w = from_vector(std::vector<float>{1.0f, 1.0f, 1.0f, 3e38f, 1.0f}, {5});
  const Tensor b = from_vector(std::vector<float>{0.0f, 0.0f, 0.0f, 0.0f, 7e4f}, {5});  // channel 4 beyond float16
  auto bits = [](const Tensor& t) {
    const std::vector<float> f = t.to(DType::Float32).to_vector();
    std::vector<uint32_t> out(f.size());
    std::memcpy(out.data(), f.data(), f.size() * sizeof(float));
    return out;
  };
  for (DType dtype : {DType::Float16, DType::BFloat16}) {
    for (bool channels_last : {false, true}) {
      SCOPED_TRACE(std::string(dtype_name(dtype)) + (channels_last ? " channels-last" : ""));
      const MemoryFormat format = channels_last ? MemoryFormat::ChannelsLast : MemoryFormat::Contiguous;
      const Tensor x = from_vector(v, shape).to(dtype).to(format), dy = randn(shape, gen).to(dtype);
      const Tensor wide_x = x.to(DType::Float32), wide_dy = dy.to(DType::Float32);
      const Step half = step(x, w, b, zeros({5}), ones({5}), dy, {Tensor(), true});
      const Step full = step(wide_x, w, b, zeros({5}), ones({5}), wide_dy, {Tensor(), true});
      EXPECT_EQ(bits(half.forward.output), bits(full.forward.output.to(dtype)));
      EXPECT_EQ(bits(half.forward.save_mean), bits(full.forward.save_mean));
      EXPECT_EQ(bits(half.backward.grad_input), bits(full.backward.grad_input.to(dtype)));
      EXPECT_EQ(bits(half.backward.grad_weight), bits(full.backward.grad_weight));
      const std::vector<float> y = half.forward.output.to(DType::Float32).to(MemoryFormat::Contiguous).to_vector();
      EXPECT_TRUE(std::isnan(y[0]) && std::isnan(y[plane + 1]));
      if (dtype == DType::Float16) EXPECT_TRUE(std::isinf(y[4 * plane]));  // 7e4 + normalised: beyond 65504
      EXPECT_TRUE(std::isfinite(half.forward.save_mean.to_vector()[2]));
      const auto eval = ops::batch_norm_forward_inference(x, w, b, half.running_mean, half.running_var, 1e-5);
      const auto wide_eval = ops::batch_norm_forward_inference(wide_x, w, b, half.running_mean, half.running_var,
                                                               1e-5);
      EXPECT_EQ(bits(eval.output), bits(wide_eval.output.to(dtype)));
    }
  }
}

// d/dx, d/dz, d/dweight, d/dbias of L = sum(dy * relu(bn(x) + z)) against central differences of the double reference.
TEST(BatchNormFused, GradientsMatchFiniteDifferences) {
  for (const Shape& shape : {Shape{4, 3}, Shape{2, 3, 2, 3}, Shape{3, 2, 5}}) {
    SCOPED_TRACE(shape_str(shape));
    Generator gen(41);
    const Tensor x = randn(shape, gen), z = randn(shape, gen), dy = randn(shape, gen);
    const int64_t c = shape[1];
    const Tensor w = rand({c}, gen) + 0.5, b = randn({c}, gen);
    const double eps = 1e-3;
    const auto f = ops::batch_norm_forward_training(x, w, b, Tensor(), Tensor(), Tensor(), 0.1, eps, std::nullopt,
                                                    {z, true});
    const auto g = ops::batch_norm_backward(dy, x, w, f.save_mean, f.save_invstd, true, eps, std::nullopt,
                                            {f.output, true});
    int64_t s = 1;
    for (std::size_t d = 2; d < shape.size(); ++d) s *= shape[d];
    const testing::RefGeometry geometry{shape[0], c, s};
    std::vector<double> xs = testing::to_double(x), zs = testing::to_double(z), ws = testing::to_double(w),
                        bs = testing::to_double(b);
    const std::vector<double> dys = testing::to_double(dy);
    auto loss = [&] {
      const auto st = testing::ref_stats(geometry, xs);
      const auto y = testing::ref_normalize(geometry, xs, st.mean, st.var_biased, eps, ws, bs);
      double l = 0;
      for (std::size_t i = 0; i < y.size(); ++i) l += dys[i] * std::max(0.0, y[i] + zs[i]);
      return l;
    };
    auto numeric = [&](std::vector<double>& v) {
      std::vector<double> out(v.size());
      const double h = 1e-6;
      for (std::size_t i = 0; i < v.size(); ++i) {
        const double keep = v[i];
        v[i] = keep + h;
        const double up = loss();
        v[i] = keep - h;
        const double down = loss();
        v[i] = keep;
        out[i] = (up - down) / (2 * h);
      }
      return out;
    };
    EXPECT_TRUE(all_close(g.grad_input.to_vector(), numeric(xs), 1e-4, 1e-4)) << "grad_input";
    EXPECT_TRUE(all_close(g.grad_residual.to_vector(), numeric(zs), 1e-4, 1e-4)) << "grad_residual";
    EXPECT_TRUE(all_close(g.grad_weight.to_vector(), numeric(ws), 1e-4, 1e-4)) << "grad_weight";
    EXPECT_TRUE(all_close(g.grad_bias.to_vector(), numeric(bs), 1e-4, 1e-4)) << "grad_bias";
  }
}

TEST(BatchNormMixed, BadArgumentsThrowAndChangeNothing) {
  Generator gen(3);
  const Tensor x = randn({4, 3, 2, 2}, gen);
  Tensor rm = zeros({3}), rv = ones({3});
  const Tensor counter = zeros({}, TensorOptions().dtype(DType::Int64));
  auto train = [&](const Tensor& input, const Tensor& w, const Tensor& mean, const Tensor& var,
                   const ops::BatchNormEpilogue& epilogue) {
    return [=] { ops::batch_norm_forward_training(input, w, Tensor(), mean, var, counter, 0.1, 1e-5, std::nullopt,
                                                  epilogue); };
  };
  const std::string mixed = "mixed dtype (CPU): expect parameter to have scalar type of Float";
  const Tensor bx = x.to(DType::BFloat16);
  EXPECT_TRUE(throws_with(train(x, ones({3}).to(DType::BFloat16), rm, rv, {}), mixed));
  EXPECT_TRUE(throws_with(train(bx, ones({3}).to(DType::Float16), rm, rv, {}), mixed));
  EXPECT_TRUE(throws_with(train(bx, ones({3}), rm.to(DType::BFloat16), rv.to(DType::BFloat16), {}), mixed));
  EXPECT_TRUE(throws_with(train(x, Tensor(), rm, rv, {randn({4, 3, 2, 1}, gen), true}),
                          "residual shape [4, 3, 2, 1] does not match input shape [4, 3, 2, 2]"));
  EXPECT_TRUE(throws_with(train(x, Tensor(), rm, rv, {bx, false}),
                          "residual must have the input's dtype float32, got bfloat16"));
  EXPECT_EQ(rm.to_vector(), std::vector<float>(3, 0.0f));
  EXPECT_EQ(rv.to_vector(), std::vector<float>(3, 1.0f));
  EXPECT_EQ(counter.item<int64_t>(), 0);

  const auto f = ops::batch_norm_forward_training(x, Tensor(), Tensor(), Tensor(), Tensor(), Tensor(), 0.1, 1e-5);
  EXPECT_TRUE(throws_with(
      [&] {
        ops::batch_norm_backward(x, x, Tensor(), f.save_mean.to(DType::BFloat16), f.save_invstd, true, 1e-5);
      },
      "save_mean and save_invstd must be float32"));
  EXPECT_TRUE(throws_with(
      [&] {
        ops::batch_norm_backward(x, x, Tensor(), f.save_mean, f.save_invstd, true, 1e-5, std::nullopt,
                                 {randn({4, 3}, gen), false});
      },
      "relu_output shape [4, 3] does not match input shape [4, 3, 2, 2]"));

  nn::BatchNorm2d bn(nn::BatchNormOptions(3).relu(true));
  nn::Context plain, added;
  bn.forward(x, plain);
  EXPECT_TRUE(throws_with([&] { bn.backward_add(x, plain); }, "backward_add() needs a preceding forward_add()"));
  bn.forward_add(x, randn({4, 3, 2, 2}, gen), added);
  EXPECT_TRUE(throws_with([&] { bn.backward(x, added); }, "differentiate it with backward_add()"));
  EXPECT_TRUE(bn.backward_add(x, added).residual.defined());
  std::ostringstream repr;
  repr << bn;
  EXPECT_EQ(repr.str(), "BatchNorm2d(3, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True, relu=True)");
}

}  // namespace
}  // namespace normrt
