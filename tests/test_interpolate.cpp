// ops::interpolate and its backward, and the Upsample modules: against PyTorch, the backward as the forward's adjoint
// on random shapes, modes and layouts, 16-bit and empty inputs, and PyTorch's refusals.
#include <cmath>
#include <cstring>
#include <random>

#include "interpolate_golden_runner.h"

namespace normrt {
namespace {

using testing::dot;
using testing::throws_with;

class InterpolateGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(InterpolateGolden, MatchesPyTorch) { testing::run_interpolate_golden_case(GetParam(), Device::cpu()); }

INSTANTIATE_TEST_SUITE_P(PyTorch, InterpolateGolden, ::testing::ValuesIn(testing::interpolate_golden_case_names()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return testing::test_name(info.param);
                         });

// The backward is the forward's adjoint: <interpolate(x), dy> = <x, interpolate_backward(dy)> for any x and dy, the
// forward being linear in x. Random sizes (1 included, up and down by large factors), every mode and layout.
TEST(Interpolate, TheBackwardIsTheForwardsAdjoint) {
  std::mt19937 rng(1203);
  Generator gen(7);
  auto size = [&](int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); };
  const ops::InterpolateMode modes[] = {ops::InterpolateMode::Nearest, ops::InterpolateMode::NearestExact,
                                        ops::InterpolateMode::Linear, ops::InterpolateMode::Bilinear,
                                        ops::InterpolateMode::Trilinear, ops::InterpolateMode::Area,
                                        ops::InterpolateMode::Bicubic};
  for (int trial = 0; trial < 84; ++trial) {
    const ops::InterpolateMode mode = modes[trial % 7];
    const bool two_axes = mode == ops::InterpolateMode::Bilinear || mode == ops::InterpolateMode::Bicubic;
    const int axes = mode == ops::InterpolateMode::Linear      ? 1
                     : two_axes                                ? 2
                     : mode == ops::InterpolateMode::Trilinear ? 3
                                                               : static_cast<int>(size(1, 3));
    Shape shape = {size(1, 2), size(1, 3)};
    ops::InterpolateOptions options;
    options.mode(mode);
    std::vector<int64_t> out;
    std::vector<double> factors;
    for (int d = 0; d < axes; ++d) {
      shape.push_back(size(1, 9));
      out.push_back(size(1, 3 * shape.back() + 2));
      factors.push_back(std::uniform_real_distribution<double>(0.3, 3.0)(rng));
    }
    bool by_scale = trial % 3 == 0;
    for (int d = 0; d < axes; ++d) by_scale = by_scale && std::floor(shape[2 + d] * factors[d]) >= 1;
    if (by_scale) options.scale_factor(factors); else options.size(out);
    if (mode == ops::InterpolateMode::Linear || two_axes || mode == ops::InterpolateMode::Trilinear)
      options.align_corners(trial % 2 == 0);
    const MemoryFormat format = axes == 2 && trial % 4 < 2   ? MemoryFormat::ChannelsLast
                                : axes == 3 && trial % 4 < 2 ? MemoryFormat::ChannelsLast3d
                                                             : MemoryFormat::Contiguous;
    SCOPED_TRACE("trial " + std::to_string(trial) + " " + shape_str(shape) + " " + interpolate_mode_name(mode));
    const Tensor x = randn(shape, gen).to(format);
    const Tensor y = ops::interpolate(x, options);
    const Tensor dy = randn(y.sizes(), gen).to(format);
    const Tensor dx = ops::interpolate_backward(dy, shape, options);
    const double forward = dot(y, dy), backward = dot(x, dx);
    EXPECT_NEAR(forward, backward, 1e-4 * (1.0 + std::fabs(forward)));
  }
}

// Nearest copies elements as they are (torch.nn.functional.interpolate's nearest is a gather): -0 stays -0, NaN NaN.
TEST(Interpolate, NearestCopiesTheElementsBits) {
  const Tensor x = from_vector(std::vector<float>{-0.0f, 1.5f, NAN, -INFINITY}, {1, 1, 2, 2});
  const auto y = ops::interpolate(x, ops::InterpolateOptions().scale_factor(2.0)).to_vector();
  for (std::size_t i = 0; i < y.size(); ++i) {
    const std::size_t source = (i / 4 / 2) * 2 + (i % 4) / 2;
    const float expected = x.to_vector()[source];
    EXPECT_EQ(std::memcmp(&y[i], &expected, sizeof(float)), 0) << i;
  }
}

// Contiguous bilinear and bicubic input takes a row loop, channels-last input the generic corner sums (interpolate_at,
// which the kernels run): both must give the same bits, up and down, with align_corners, for odd sizes and a single
// column.
TEST(Interpolate, PlanarRowsGiveTheGenericSumsBits) {
  Generator gen(21);
  const std::vector<std::pair<Shape, ops::InterpolateOptions>> cases = {
      {{2, 3, 7, 5}, ops::InterpolateOptions().scale_factor(2.0).mode(ops::InterpolateMode::Bilinear)},
      {{1, 2, 9, 11}, ops::InterpolateOptions().size(std::vector<int64_t>{4, 17}).mode(ops::InterpolateMode::Bilinear)
                          .align_corners(true)},
      {{3, 1, 5, 1}, ops::InterpolateOptions().size(std::vector<int64_t>{6, 3}).mode(ops::InterpolateMode::Bilinear)},
      {{1, 4, 6, 6}, ops::InterpolateOptions().scale_factor(std::vector<double>{0.7, 1.3})
                         .mode(ops::InterpolateMode::Bilinear)},
      {{2, 3, 7, 5}, ops::InterpolateOptions().scale_factor(2.0).mode(ops::InterpolateMode::Bicubic)},
      {{1, 2, 9, 11}, ops::InterpolateOptions().size(std::vector<int64_t>{4, 17}).mode(ops::InterpolateMode::Bicubic)
                          .align_corners(true)},
      {{3, 1, 5, 1}, ops::InterpolateOptions().size(std::vector<int64_t>{6, 3}).mode(ops::InterpolateMode::Bicubic)}};
  for (const auto& [shape, options] : cases) {
    SCOPED_TRACE(shape_str(shape));
    const Tensor x = randn(shape, gen) * 3.0;
    const auto rows = ops::interpolate(x, options).to_vector();
    const auto generic = ops::interpolate(testing::to_channels_last(x), options).contiguous().to_vector();
    ASSERT_EQ(rows.size(), generic.size());
    EXPECT_EQ(std::memcmp(rows.data(), generic.data(), rows.size() * sizeof(float)), 0);
  }
}

// The contiguous backward sums each plane axis by axis (planar_gradient), channels-last input gathers per input element
// (interpolate_gradient_at, which the kernels run): the same bits for random 2-d and 3-d shapes, every mode with
// several spatial axes, sizes up and down (inputs no output reaches), by size or scale factor, with and without
// align_corners.
TEST(Interpolate, PlanarGradientGivesTheGenericSumsBits) {
  std::mt19937 rng(1204);
  Generator gen(22);
  auto draw = [&](int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); };
  using M = ops::InterpolateMode;
  const M modes[] = {M::Nearest, M::NearestExact, M::Bilinear, M::Bicubic, M::Trilinear, M::Area};
  for (int trial = 0; trial < 300; ++trial) {
    const M mode = modes[trial % 6];
    const int axes = mode == M::Bilinear || mode == M::Bicubic ? 2 : mode == M::Trilinear ? 3 : 2 + trial % 2;
    Shape shape = {draw(1, 2), draw(1, 5)};
    std::vector<int64_t> out;
    std::vector<double> factors;
    for (int d = 0; d < axes; ++d) {
      shape.push_back(draw(1, axes == 2 ? 19 : 7));
      out.push_back(draw(1, 4 * shape.back() + 3));
      factors.push_back(std::uniform_real_distribution<double>(0.2, 4.0)(rng));
    }
    ops::InterpolateOptions options;
    options.mode(mode);
    bool by_scale = trial % 3 == 0;
    for (int d = 0; d < axes; ++d) by_scale = by_scale && std::floor(shape[2 + d] * factors[d]) >= 1;
    if (by_scale) options.scale_factor(factors); else options.size(out);
    if (mode == M::Bilinear || mode == M::Bicubic || mode == M::Trilinear) options.align_corners(trial % 2 == 0);
    SCOPED_TRACE(shape_str(shape) + " " + ops::interpolate_mode_name(mode) + " trial " + std::to_string(trial));
    const Tensor y = ops::interpolate(randn(shape, gen), options);
    const Tensor dy = randn(y.sizes(), gen) * 3.0;
    const Tensor generic = ops::interpolate_backward(testing::to_channels_last(dy), shape, options);
    ASSERT_NE(generic.memory_format(), MemoryFormat::Contiguous);
    EXPECT_TRUE(testing::same_bits(ops::interpolate_backward(dy, shape, options).to_vector(),
                                   generic.contiguous().to_vector()));
  }
}

TEST(Interpolate, SixteenBitAndEmptyInputs) {
  Generator gen(3);
  const Tensor x = randn({2, 3, 5, 4}, gen);
  ops::InterpolateOptions options;
  options.size(std::vector<int64_t>{7, 9}).mode(ops::InterpolateMode::Bilinear);
  for (DType dtype : {DType::Float16, DType::BFloat16}) {
    const Tensor x16 = x.to(dtype);
    const Tensor y = ops::interpolate(x16, options);
    EXPECT_EQ(y.dtype(), dtype);
    EXPECT_EQ(y.to(DType::Float32).to_vector(),
              ops::interpolate(x16.to(DType::Float32), options).to(dtype).to(DType::Float32).to_vector());
    const Tensor dx = ops::interpolate_backward(y, x.sizes(), options);
    EXPECT_EQ(dx.dtype(), dtype);
  }
  const Tensor empty_batch = zeros({0, 3, 4, 4});
  EXPECT_EQ(ops::interpolate(empty_batch, ops::InterpolateOptions().scale_factor(2.0)).sizes(), (Shape{0, 3, 8, 8}));
  EXPECT_EQ(ops::interpolate_backward(zeros({0, 3, 8, 8}), {0, 3, 4, 4}, ops::InterpolateOptions().scale_factor(2.0))
                .sizes(),
            (Shape{0, 3, 4, 4}));
}

TEST(Interpolate, RefusesBadArgumentsWithPyTorchsWords) {
  const Tensor x = zeros({1, 2, 4, 4});
  using O = ops::InterpolateOptions;
  using M = ops::InterpolateMode;
  EXPECT_TRUE(throws_with([&] { ops::interpolate(x, O()); }, "either size or scale_factor should be defined"));
  EXPECT_TRUE(throws_with([&] { ops::interpolate(x, O().size(2).scale_factor(2.0)); },
                          "only one of size or scale_factor should be defined"));
  EXPECT_TRUE(throws_with([&] { ops::interpolate(x, O().size(3).recompute_scale_factor(true)); },
                          "recompute_scale_factor is not meaningful with an explicit size."));
  EXPECT_TRUE(throws_with([&] { ops::interpolate(x, O().size(4).mode(M::Area).align_corners(false)); },
                          "align_corners option can only be set with the interpolating modes"));
  EXPECT_TRUE(throws_with([&] { ops::interpolate(x, O().size(4).align_corners(true)); },
                          "align_corners option can only be set with the interpolating modes: linear | bilinear | "
                          "bicubic | trilinear"));
  EXPECT_TRUE(throws_with([&] { ops::interpolate(zeros({2, 4, 4}), O().size(4).mode(M::Bilinear)); },
                          "Got 3D input, but bilinear mode needs 4D input"));
  EXPECT_TRUE(throws_with(
      [&] {
        ops::interpolate(zeros({2, 1, 4, 4, 4}), O().size(4).mode(M::Bicubic));
      },
      "Input Error: Only 3D, 4D and 5D input Tensors supported (got 5D) for the modes: nearest | "
      "linear | bilinear | bicubic | trilinear | area | nearest-exact (got bicubic)"));
  EXPECT_TRUE(throws_with([&] { ops::interpolate(x, O().size(3).mode(M::Linear)); },
                          "Got 4D input, but linear mode needs 3D input"));
  EXPECT_TRUE(throws_with([&] { ops::interpolate(x, O().size(std::vector<int64_t>{2})); },
                          "Input and output must have the same number of spatial dimensions, but got input with "
                          "spatial dimensions of [4, 4] and output size of (2,)."));
  EXPECT_TRUE(throws_with([&] { ops::interpolate(x, O().scale_factor(std::vector<double>{2.0})); },
                          "Input and scale_factor must have the same number of spatial dimensions, but got input with "
                          "spatial dimensions of [4, 4] and scale_factor of shape (2.0,)."));
  EXPECT_TRUE(throws_with([&] { ops::interpolate(x, O().size(std::vector<int64_t>{0, 2})); },
                          "Input and output sizes should be greater than 0, but got input (H: 4, W: 4) output (H: 0, "
                          "W: 2)"));
  // F.interpolate's order and its kernels' words: align_corners first, then the sizes' count (the spatial dimensions
  // of an input of rank 2 are none), the rank last; the 1-d kernels say "and output"; an empty channel dimension is
  // refused after the sizes; ATen truncates a scaled size where F.interpolate would floor it.
  EXPECT_TRUE(throws_with(
      [&] {
        ops::interpolate(zeros({4, 4}), O().align_corners(true));
      },
      "align_corners option can only be set with the interpolating modes"));
  EXPECT_TRUE(throws_with(
      [&] {
        ops::interpolate(zeros({4, 4}), O().size(std::vector<int64_t>{2}));
      },
      "but got input with spatial dimensions of [] and output size of (2,)."));
  EXPECT_TRUE(throws_with([&] { ops::interpolate(x, O().scale_factor(std::vector<double>{})); },  // given, as ()
                          "but got input with spatial dimensions of [4, 4] and scale_factor of shape ()."));
  EXPECT_TRUE(throws_with(
      [&] {
        ops::interpolate(zeros({1, 2, 3}), O().size(0).mode(M::Linear));
      },
      "Input and output sizes should be greater than 0, but got input (W: 3) and output (W: 0)"));
  EXPECT_TRUE(throws_with(
      [&] {
        ops::interpolate(zeros({1, 0, 3, 3}), O().size(2).mode(M::Bicubic));
      },
      "Non-empty 4D data tensor expected but got a tensor with sizes [1, 0, 3, 3]"));
  EXPECT_TRUE(throws_with(
      [&] {
        ops::interpolate(zeros({1, 2, 3}), O().scale_factor(-0.5));
      },
      "input (W: 3) and output (W: -1)"));
  EXPECT_TRUE(throws_with(
      [&] {
        ops::interpolate(zeros({1, 2, 3}), O().scale_factor(-0.5).recompute_scale_factor(true));
      },
      "input (W: 3) and output (W: -2)"));
  // Area is adaptive average pooling: zero sizes and empty channels taken, negative sizes in its words.
  EXPECT_EQ(ops::interpolate(zeros({1, 0, 4, 4}), O().size(std::vector<int64_t>{0, 2}).mode(M::Area)).sizes(),
            (Shape{1, 0, 0, 2}));
  EXPECT_TRUE(throws_with(
      [&] {
        ops::interpolate(zeros({1, 2, 4, 4}), O().scale_factor(-1.0).mode(M::Area));
      },
      "adaptive_avg_pool2d: elements of output_size must be greater than or equal to 0 but "
      "received {-4, -4}"));
  EXPECT_TRUE(throws_with([&] { ops::interpolate(x, O().scale_factor(0.1)); },
                          "output (H: 0, W: 0)"));
  EXPECT_TRUE(throws_with([&] { ops::interpolate(x, O().scale_factor(NAN)); }, "scale_factor nan gives no"));
  EXPECT_TRUE(throws_with([&] { ops::interpolate(x, O().scale_factor(1e300)); }, "gives no output size"));
  EXPECT_TRUE(throws_with([&] { ops::interpolate(zeros({4, 4}), O().size(2)); },
                          "Input Error: Only 3D, 4D and 5D input Tensors supported (got 2D)"));
  EXPECT_TRUE(throws_with([&] { ops::interpolate(zeros({1, 1, 4}, TensorOptions().dtype(DType::Int64)), O().size(2)); },
                          "interpolate: input must be floating"));
  EXPECT_TRUE(throws_with([&] { ops::interpolate_backward(zeros({1, 2, 5, 5}), {1, 2, 4, 4}, O().size(6)); },
                          "interpolate_backward: expected grad_output of shape [1, 2, 6, 6], got [1, 2, 5, 5]"));
  EXPECT_TRUE(throws_with([] { nn::Upsample(ops::InterpolateOptions()); },
                          "either size or scale_factor should be defined"));
}

}  // namespace
}  // namespace normrt
