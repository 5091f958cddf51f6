// permute, transpose, pixel_shuffle, pixel_unshuffle, channel_shuffle and their modules: against PyTorch (golden data:
// where every element goes), as each other's inverses, and PyTorch's refusals.
#include <algorithm>
#include <numeric>
#include <random>
#include <set>
#include <sstream>

#include "permute_golden_runner.h"

namespace normrt {
namespace {

using testing::throws_with;

class PermuteGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(PermuteGolden, MatchesPyTorch) { testing::run_permute_golden_case(GetParam(), Device::cpu()); }

INSTANTIATE_TEST_SUITE_P(PyTorch, PermuteGolden, ::testing::ValuesIn(testing::permute_golden_case_names()),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

// Random permutations of random shapes (up to the 5 dimensions a tensor has, empty ones too) against a direct index
// computation, and their inverses back to the input.
TEST(Permute, RandomPermutationsAgainstTheIndexFormulaAndBack) {
  std::mt19937 rng(3);
  // The last two trials are large enough to be copied in several chunks, in parallel.
  for (int trial = 0; trial < 62; ++trial) {
    const int rank = trial >= 60 ? 4 : 1 + trial % 5;
    Shape shape;
    for (int d = 0; d < rank; ++d) shape.push_back(static_cast<int64_t>(rng() % 5) + (trial == 7 ? 0 : 1));
    if (trial >= 60) shape = {3, 40, 30, 33};
    std::vector<int64_t> dims(static_cast<std::size_t>(rank));
    std::iota(dims.begin(), dims.end(), 0);
    std::shuffle(dims.begin(), dims.end(), rng);
    if (trial == 60) dims = {0, 2, 3, 1};
    Generator gen(static_cast<uint64_t>(trial));
    const Tensor x = randn(shape, gen);
    const Tensor y = ops::permute(x, dims);
    const auto xs = x.to_vector(), ys = y.to_vector();
    ASSERT_EQ(xs.size(), ys.size());
    // Output element (o_0, ..., o_{r-1}) is input element with coordinate dims[d] = o_d.
    std::vector<int64_t> o(static_cast<std::size_t>(rank), 0), in(static_cast<std::size_t>(rank));
    for (std::size_t i = 0; i < ys.size(); ++i) {
      int64_t rest = static_cast<int64_t>(i);
      for (int d = rank - 1; d >= 0; --d) {
        o[static_cast<std::size_t>(d)] = rest % y.size(d);
        rest /= y.size(d);
      }
      for (std::size_t d = 0; d < o.size(); ++d) in[static_cast<std::size_t>(dims[d])] = o[d];
      int64_t source = 0;
      for (std::size_t d = 0; d < in.size(); ++d) source = source * shape[d] + in[d];
      ASSERT_EQ(ys[i], xs[static_cast<std::size_t>(source)]) << "trial " << trial << " element " << i;
    }
    std::vector<int64_t> inverse(static_cast<std::size_t>(rank));
    for (int d = 0; d < rank; ++d) inverse[static_cast<std::size_t>(dims[static_cast<std::size_t>(d)])] = d;
    EXPECT_EQ(ops::permute(y, inverse).to_vector(), xs);
  }
}

// Permutations that move whole matrices of a stack (x.permute({0, 2, 3, 1}) of an image batch, size-1 dimensions
// anywhere, runs of dimensions that stay together) take a tiled transpose on the CPU: against the index formula, for
// elements of 2, 4 and 8 bytes, on matrices with sides below, at and past the tiles and register blocks.
TEST(Permute, StackedTransposesOfEveryElementSizeAgainstTheIndexFormula) {
  struct Case {
    Shape shape;
    std::vector<int64_t> dims;
  };
  const std::vector<Case> cases = {
      {{3, 64, 7, 9}, {0, 2, 3, 1}},   {{2, 5, 33, 1}, {0, 2, 3, 1}}, {{1, 37, 70}, {0, 2, 1}},
      {{2, 1, 3, 41}, {1, 0, 3, 2}},   {{4, 9, 2, 3}, {2, 3, 0, 1}},  {{2, 3, 1, 45, 4}, {0, 3, 4, 2, 1}},
      {{2, 2, 100, 17}, {0, 1, 3, 2}}, {{6, 8, 4}, {0, 2, 1}},        {{130, 3}, {1, 0}}};
  for (const DType dtype : {DType::Float16, DType::Float32, DType::Int64}) {
    for (const Case& c : cases) {
      const int64_t n = shape_numel(c.shape);
      // Every element distinct, so that no misplaced one can match: 0, 1, 2, ... (exact in float32 and int64), and for
      // float16 the bit patterns 0, 1, 2, ... (positive finite values, subnormals first; the largest case needs 12096
      // of the 31744).
      Tensor x;
      if (dtype == DType::Float16) {
        std::vector<Half> values(static_cast<std::size_t>(n));
        for (int64_t i = 0; i < n; ++i) values[static_cast<std::size_t>(i)] = Half::from_bits(static_cast<uint16_t>(i));
        x = from_vector(values, c.shape);
      } else {
        std::vector<int64_t> values(static_cast<std::size_t>(n));
        std::iota(values.begin(), values.end(), int64_t{0});
        x = dtype == DType::Int64 ? from_vector(values, c.shape)
                                  : from_vector(std::vector<float>(values.begin(), values.end()), c.shape);
      }
      // As floats (exact for all of them), distinct as the elements are.
      auto elements = [](const Tensor& t) {
        if (t.dtype() != DType::Int64) return t.to(DType::Float32).to_vector();
        const auto integers = t.to_vector<int64_t>();
        return std::vector<float>(integers.begin(), integers.end());
      };
      const auto xs = elements(x), ys = elements(ops::permute(x, c.dims));
      ASSERT_EQ(std::set<float>(xs.begin(), xs.end()).size(), xs.size());
      const auto rank = c.shape.size();
      std::vector<int64_t> out(rank), o(rank), in(rank);
      for (std::size_t d = 0; d < rank; ++d) out[d] = c.shape[static_cast<std::size_t>(c.dims[d])];
      for (int64_t i = 0; i < n; ++i) {
        int64_t rest = i;
        for (std::size_t d = rank; d-- > 0;) {
          o[d] = rest % out[d];
          rest /= out[d];
        }
        for (std::size_t d = 0; d < rank; ++d) in[static_cast<std::size_t>(c.dims[d])] = o[d];
        int64_t source = 0;
        for (std::size_t d = 0; d < rank; ++d) source = source * c.shape[d] + in[d];
        ASSERT_EQ(ys[static_cast<std::size_t>(i)], xs[static_cast<std::size_t>(source)])
            << "dtype " << static_cast<int>(dtype) << " shape " << ::testing::PrintToString(c.shape) << " element "
            << i;
      }
    }
  }
}

TEST(Permute, ShufflesInvertEachOtherThroughTheModules) {
  Generator gen(4);
  const Tensor x = randn({2, 12, 3, 4}, gen);
  nn::PixelShuffle shuffle(2);
  nn::PixelUnshuffle unshuffle(2);
  nn::ChannelShuffle channels(3);
  const Tensor up = shuffle.forward(x);
  EXPECT_EQ(up.sizes(), (Shape{2, 3, 6, 8}));
  EXPECT_EQ(unshuffle.forward(up).to_vector(), x.to_vector());
  // Each backward is the inverse permutation of the gradient.
  EXPECT_EQ(shuffle.backward(up).to_vector(), x.to_vector());
  EXPECT_EQ(unshuffle.backward(x).to_vector(), up.to_vector());
  const Tensor mixed = channels.forward(x);
  EXPECT_EQ(channels.backward(mixed).to_vector(), x.to_vector());
  std::ostringstream os;
  os << shuffle << ' ' << unshuffle << ' ' << channels;
  // repr(nn.PixelShuffle(2)), repr(nn.PixelUnshuffle(2)), repr(nn.ChannelShuffle(3)) in PyTorch 1.13:
  EXPECT_EQ(os.str(), "PixelShuffle(upscale_factor=2) PixelUnshuffle(downscale_factor=2) ChannelShuffle(groups=3)");
  // Empty batches keep their shapes.
  EXPECT_EQ(ops::pixel_shuffle(zeros({0, 8, 2, 2}), 2).sizes(), (Shape{0, 2, 4, 4}));
  EXPECT_EQ(ops::pixel_unshuffle(zeros({0, 1, 4, 2}), 2).sizes(), (Shape{0, 4, 2, 1}));
  EXPECT_EQ(ops::channel_shuffle(zeros({0, 4, 3}), 2).sizes(), (Shape{0, 4, 3}));
  EXPECT_EQ(ops::permute(zeros({2, 0, 3}), {2, 0, 1}).sizes(), (Shape{3, 2, 0}));
  EXPECT_EQ(ops::transpose(full({}, 2.0), 0, -1).item<float>(), 2.0f);
}

TEST(Permute, RefusesAsPyTorch) {
  const Tensor x = zeros({2, 3, 4});
  // PyTorch 1.13's messages (its permute's first names sparse_coo by mistake).
  EXPECT_TRUE(throws_with([&] { ops::permute(x, {0, 1}); },
                          "number of dimensions in the tensor input does not match the length of the desired ordering "
                          "of dimensions i.e. input.dim() = 3 is not equal to len(dims) = 2"));
  EXPECT_TRUE(throws_with([&] { ops::permute(x, {0, 1, 1}); }, "permute(): duplicate dims are not allowed."));
  EXPECT_TRUE(throws_with([&] { ops::permute(x, {0, 1, 3}); },
                          "Dimension out of range (expected to be in range of [-3, 2], but got 3)"));
  EXPECT_TRUE(throws_with([&] { ops::transpose(x, 0, -4); },
                          "Dimension out of range (expected to be in range of [-3, 2], but got -4)"));
  EXPECT_TRUE(throws_with([&] { ops::pixel_shuffle(zeros({2, 3}), 2); },
                          "pixel_shuffle expects input to have at least 3 dimensions, but got input with 2 "
                          "dimension(s)"));
  EXPECT_TRUE(throws_with([&] { ops::pixel_shuffle(zeros({1, 5, 2, 2}), 2); },
                          "pixel_shuffle expects its input's 'channel' dimension to be divisible by the square of "
                          "upscale_factor, but input.size(-3)=5 is not divisible by 4"));
  EXPECT_TRUE(throws_with([&] { ops::pixel_shuffle(zeros({1, 4, 2, 2}), 0); },
                          "pixel_shuffle expects a positive upscale_factor, but got 0"));
  EXPECT_TRUE(throws_with([&] { ops::pixel_unshuffle(zeros({1, 1, 5, 4}), 2); },
                          "pixel_unshuffle expects height to be divisible by downscale_factor, but input.size(-2)=5 is "
                          "not divisible by 2"));
  EXPECT_TRUE(throws_with([&] { ops::pixel_unshuffle(zeros({1, 1, 4, 5}), 2); },
                          "pixel_unshuffle expects width to be divisible by downscale_factor, but input.size(-1)=5 is "
                          "not divisible by 2"));
  EXPECT_TRUE(throws_with([&] { ops::pixel_unshuffle(zeros({1, 1, 4, 4}), -1); },
                          "pixel_unshuffle expects a positive downscale_factor, but got -1"));
  EXPECT_TRUE(throws_with([&] { ops::channel_shuffle(zeros({1, 5, 2, 2}), 2); },
                          "Number of channels must be divisible by groups. Got 5 channels and 2 groups."));
  EXPECT_TRUE(throws_with([&] { ops::channel_shuffle(zeros({5, 2}), 5); },
                          "channel_shuffle expects input with > 2 dims, but got input with sizes [5, 2]"));
  EXPECT_TRUE(throws_with([&] { ops::channel_shuffle(zeros({1, 4, 2, 2}), 0); },
                          "Number of groups to divide channels in must be positive. Value of groups:0"));
}

}  // namespace
}  // namespace normrt
