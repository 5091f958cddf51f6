// ops::pad and its backward, and convolutions with a padding_mode: against PyTorch, against a scatter-add reference
// of the forward's copies, on 16-bit and channels-last inputs, and PyTorch's refusals.
#include <random>

#include "normrt/half.h"
#include "pad_golden_runner.h"

namespace normrt {
namespace {

using testing::throws_with;

class PadGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(PadGolden, MatchesPyTorch) { testing::run_pad_golden_case(GetParam(), Device::cpu()); }

INSTANTIATE_TEST_SUITE_P(PyTorch, PadGolden, ::testing::ValuesIn(testing::pad_golden_case_names()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return testing::test_name(info.param);
                         });

// The input index an output index copies, by the modes' definitions written out per dimension (-1: the constant).
int64_t reference_source(const Shape& in, const std::vector<int64_t>& pad, ops::PadMode mode, Shape out_index) {
  int64_t flat = 0;
  for (std::size_t d = 0; d < in.size(); ++d) {
    const std::size_t from_last = in.size() - 1 - d;
    const bool padded = 2 * from_last < pad.size();
    const int64_t left = padded ? pad[2 * from_last] : 0, right = padded ? pad[2 * from_last + 1] : 0, size = in[d];
    int64_t s = out_index[d] - left;
    if (mode == ops::PadMode::Circular) {  // the part negative pads leave, wrapped
      const int64_t first = std::max<int64_t>(-left, 0), width = size - first - std::max<int64_t>(-right, 0);
      s = first + ((out_index[d] - std::max<int64_t>(left, 0)) % width + width) % width;
    } else if (s < 0 || s >= size) {
      if (mode == ops::PadMode::Constant) return -1;
      if (mode == ops::PadMode::Reflect) s = s < 0 ? -s : (size - 1) - (s - (size - 1));
      if (mode == ops::PadMode::Replicate) s = std::min(std::max<int64_t>(s, 0), size - 1);
    }
    flat = flat * size + s;
  }
  return flat;
}

// Random shapes (size-1 and odd dimensions), modes, pads at their limits and negative ones: the forward copies what
// the definitions say, and the backward equals a scatter-add (in double) of the output gradient to those sources.
TEST(Pad, RandomPadsAgreeWithTheDefinitions) {
  std::mt19937 rng(29);
  auto pick = [&](int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); };
  Generator gen(4);
  for (int trial = 0; trial < 300; ++trial) {
    const auto mode = static_cast<ops::PadMode>(pick(0, 3));
    // Constant padding any trailing dimensions; the other modes 1 to 3 of them after one or two more.
    const bool constant = mode == ops::PadMode::Constant;
    const int64_t dims = constant ? pick(1, 5) : 0;
    const auto padded = static_cast<std::size_t>(constant ? pick(1, dims) : pick(1, 3));
    Shape in(constant ? static_cast<std::size_t>(dims) : padded + static_cast<std::size_t>(pick(1, 2)));
    for (auto& s : in) s = pick(1, 6);
    if (trial % 2 == 0) in.back() = pick(7, 40);  // a last dimension with positions between its edges too
    std::vector<int64_t> pad;
    for (std::size_t k = 0; k < padded; ++k) {
      const int64_t size = in[in.size() - 1 - k], most = mode == ops::PadMode::Reflect ? size - 1 : 4;
      int64_t left = pick(-(size - 1) / 2, most), right = pick(-(size - 1) / 2, most);
      if (mode == ops::PadMode::Circular) {  // wrapping at most once around what negative pads leave
        const int64_t width = size - std::max<int64_t>(-left, 0) - std::max<int64_t>(-right, 0);
        left = std::min(left, width);
        right = std::min(right, width);
      }
      pad.push_back(left);
      pad.push_back(right);
    }
    const double value = mode == ops::PadMode::Constant ? 1.5 : 0.0;
    const Tensor x = randn(in, gen);
    const Tensor y = ops::pad(x, pad, mode, value);
    const Shape out = y.sizes();
    const Tensor dy = randn(out, gen);
    const std::vector<float> xs = x.to_vector(), ys = y.to_vector(), dys = dy.to_vector();
    std::vector<double> dx(xs.size(), 0.0);
    Shape index(in.size(), 0);
    for (std::size_t t = 0; t < ys.size(); ++t) {
      const int64_t source = reference_source(in, pad, mode, index);
      EXPECT_EQ(ys[t], source < 0 ? static_cast<float>(value) : xs[static_cast<std::size_t>(source)]) << trial;
      if (source >= 0) dx[static_cast<std::size_t>(source)] += dys[t];
      for (std::size_t d = index.size(); d-- > 0;) {  // the next output index, last dimension fastest
        if (++index[d] < out[d]) break;
        index[d] = 0;
      }
    }
    EXPECT_TRUE(testing::all_close(ops::pad_backward(dy, in, pad, mode).to_vector(), dx, 1e-6, 1e-6))
        << trial << " " << ops::pad_mode_name(mode) << " " << shape_str(in) << " " << shape_str(pad);
  }
}

// 16-bit elements are copied as they are; the backward sums in float32 and rounds once. A channels-last input pads
// to the contiguous result of its values. Padding nothing copies.
TEST(Pad, SixteenBitChannelsLastAndNothingPadded) {
  Generator gen(6);
  const Tensor x = randn({2, 3, 4, 5}, gen);
  const std::vector<int64_t> pad = {2, 1, 0, 3};
  const Tensor dy = randn(ops::pad(x, pad, ops::PadMode::Reflect).sizes(), gen);
  for (const DType dtype : {DType::Float16, DType::BFloat16}) {
    const Tensor y = ops::pad(x.to(dtype), pad, ops::PadMode::Reflect);
    EXPECT_EQ(y.dtype(), dtype);
    EXPECT_EQ(y.to(DType::Float32).to_vector(), ops::pad(x.to(dtype).to(DType::Float32), pad, ops::PadMode::Reflect)
                                                    .to_vector());
    const Tensor dx = ops::pad_backward(dy.to(dtype), x.sizes(), pad, ops::PadMode::Reflect);
    EXPECT_EQ(dx.dtype(), dtype);
    EXPECT_EQ(dx.to(DType::Float32).to_vector(),
              ops::pad_backward(dy.to(dtype).to(DType::Float32), x.sizes(), pad, ops::PadMode::Reflect)
                  .to(dtype).to(DType::Float32).to_vector());
  }
  const Tensor y = ops::pad(x.to(MemoryFormat::ChannelsLast), pad, ops::PadMode::Circular);
  EXPECT_TRUE(y.is_contiguous());
  EXPECT_EQ(y.to_vector(), ops::pad(x, pad, ops::PadMode::Circular).to_vector());
  Tensor copy = ops::pad(x, {0, 0});
  EXPECT_FALSE(copy.is_same(x));
  EXPECT_EQ(copy.to_vector(), x.to_vector());
  const Tensor back = ops::pad_backward(x, x.sizes(), {0, 0, 0, 0}, ops::PadMode::Reflect);
  EXPECT_FALSE(back.is_same(x));
  EXPECT_EQ(back.to_vector(), x.to_vector());
  EXPECT_EQ(ops::pad(zeros({0, 3}), {1, 1}, ops::PadMode::Constant).sizes(), (Shape{0, 5}));
  // Circular padding cropped to nothing along one dimension wraps nothing there (PyTorch returns the empty tensor),
  // whatever the other side's pad.
  const Tensor cropped = ops::pad(ones({2, 1, 1, 3}), {2, 2, -2, 1}, ops::PadMode::Circular);
  EXPECT_EQ(cropped.sizes(), (Shape{2, 1, 0, 7}));
  EXPECT_EQ(ops::pad_backward(cropped, {2, 1, 1, 3}, {2, 2, -2, 1}, ops::PadMode::Circular).to_vector(),
            std::vector<float>(6, 0.0f));
}

TEST(Pad, RefusalsInPyTorchsWords) {
  const Tensor x = zeros({1, 2, 3});
  EXPECT_TRUE(throws_with([&] { ops::pad(x, {1}); }, "Padding length must be divisible by 2"));
  EXPECT_TRUE(throws_with([&] { ops::pad(x, {1, 2, 3, 4, 5, 6, 7, 8}); }, "Padding length too large"));
  EXPECT_TRUE(throws_with(
      [&] {
        ops::pad(x, {3, 3}, ops::PadMode::Reflect);
      },
      "Argument #4: Padding size should be less than the corresponding input dimension, but got: "
      "padding (3, 3) at dimension 2 of input [1, 2, 3]"));
  EXPECT_TRUE(throws_with(
      [&] {
        ops::pad(zeros({2, 3, 3}), {5, 5, 5, 5}, ops::PadMode::Reflect);
      },
      "Argument #4: Padding size should be less than the corresponding input dimension, but got: "
      "padding (5, 5) at dimension 2 of input 3"));  // W first; reflection_pad2d prints the rank
  EXPECT_TRUE(throws_with([&] { ops::pad(x, {4, 0}, ops::PadMode::Circular); },
                          "Padding value causes wrapping around more than once."));
  // Constant padding crops first, as narrow(), whose words refuse a crop beyond the dimension; then a padded
  // dimension must keep an element unless no pad is positive.
  EXPECT_TRUE(throws_with([&] { ops::pad(x, {-2, -2}); }, "start (0) + length (-1) exceeds dimension size (1)."));
  EXPECT_TRUE(throws_with(
      [&] {
        ops::pad(x, {-4, 0});
      },
      "Dimension out of range (expected to be in range of [-3, 2], but got 4)"));
  EXPECT_TRUE(throws_with(
      [&] {
        ops::pad(x, {-3, 0, 1, 0});
      },
      "The input size 3, plus negative padding -3 and 0 resulted in a negative output size, which "
      "is invalid. Check dimension 2 of your input."));
  EXPECT_EQ(ops::pad(x, {-3, 0}).sizes(), (Shape{1, 2, 0}));
  EXPECT_EQ(ops::pad(x, {-3, 1}).sizes(), (Shape{1, 2, 1}));
  EXPECT_TRUE(throws_with(
      [&] {
        ops::pad(x, {1, 1}, ops::PadMode::Reflect, 2.0);
      },
      "Padding mode \"reflect\" doesn't take in value argument"));
  // The modes but constant pad 1, 2 or 3 trailing dimensions of an input with one or two more.
  for (const auto& [shape, pad] : std::vector<std::pair<Shape, std::vector<int64_t>>>{
           {{3}, {1, 1}}, {{1, 2, 3, 4, 5}, {1, 1}}, {{2, 3}, {1, 1, 1, 1}}, {{1, 2, 3}, {}}})
    EXPECT_TRUE(throws_with([&] { ops::pad(zeros(shape), pad, ops::PadMode::Replicate); },
                            "Only 2D, 3D, 4D, 5D padding with non-constant padding are supported for now"))
        << shape_str(shape);
  // Every dimension but a batch non-empty, each kernel in its own words (reflection_pad1d/2d print the tensor).
  EXPECT_TRUE(throws_with(
      [&] {
        ops::pad(zeros({2, 0}), {1, 1}, ops::PadMode::Replicate);
      },
      "Expected 2D or 3D (batch mode) tensor with possibly 0 batch size and other non-zero "
      "dimensions for input, but got: [2, 0]"));
  EXPECT_TRUE(throws_with(
      [&] {
        ops::pad(zeros({2, 0, 3}), {1, 1}, ops::PadMode::Reflect);
      },
      "2D or 3D (batch mode) tensor expected for input, but got: [ torch.FloatTensor{2,0,3} ]"));
  EXPECT_TRUE(throws_with(
      [&] {
        ops::pad(zeros({2, 0, 3, 3}).to(DType::BFloat16), {1, 1, 1, 1}, ops::PadMode::Reflect);
      },
      "3D or 4D (batch mode) tensor expected for input, but got: [ CPUBFloat16Type{2,0,3,3} ]"));
  EXPECT_TRUE(throws_with(
      [&] {
        ops::pad(zeros({0, 3, 3, 3}), {1, 1, 1, 1, 1, 1}, ops::PadMode::Reflect);
      },
      "Expected 4D or 5D (batch mode) tensor with possibly 0 batch size and other non-zero "
      "dimensions for input, but got: [0, 3, 3, 3]"));
  EXPECT_EQ(ops::pad(zeros({0, 3}), {1, 1}, ops::PadMode::Reflect).sizes(), (Shape{0, 5}));
  EXPECT_EQ(ops::pad(zeros({0, 2, 3}), {1, 1}, ops::PadMode::Replicate).sizes(), (Shape{0, 2, 5}));
  // An output without elements: refused along W in 1-d, only along every padded dimension in 2-d and 3-d.
  EXPECT_TRUE(throws_with(
      [&] {
        ops::pad(x, {-1, -2}, ops::PadMode::Reflect);
      },
      "2input (W: 3)is too small. Calculated output W: 0"));
  EXPECT_TRUE(throws_with(
      [&] {
        ops::pad(x, {-1, -2}, ops::PadMode::Replicate);
      },
      "input (W: 3) is too small. Calculated output W: 0"));
  const Tensor planes = zeros({1, 2, 3, 3});
  EXPECT_TRUE(throws_with(
      [&] {
        ops::pad(planes, {-2, -1, -2, -1}, ops::PadMode::Reflect);
      },
      "input (H: 3, W: 3)is too small.  Calculated output H: 0 W: 0"));
  EXPECT_TRUE(throws_with(
      [&] {
        ops::pad(planes, {-2, -1, -2, -2}, ops::PadMode::Replicate);
      },
      "input (H: 3, W: 3 ) is too small. Calculated output H: -1 W: 0"));
  EXPECT_TRUE(throws_with(
      [&] {
        ops::pad(zeros({1, 2, 3, 3, 3}), {-2, -1, -2, -1, -2, -1}, ops::PadMode::Reflect);
      },
      "input (D: 3 H: 3, W: 3) is too small. Calculated output D: 0 H: 0 W: 0"));
  EXPECT_TRUE(throws_with(
      [&] {
        ops::pad(planes, {-2, -2, 0, 0}, ops::PadMode::Replicate);
      },
      "Trying to create tensor with negative dimension -1: [1, 2, 3, -1]"));
  EXPECT_EQ(ops::pad(planes, {-2, -1, 0, 0}, ops::PadMode::Reflect).sizes(), (Shape{1, 2, 3, 0}));
  // Circular: dimension by dimension from the first padded; an unbatched input as PyTorch 2 takes it.
  EXPECT_TRUE(throws_with(
      [&] {
        ops::pad(planes, {4, 0, -4, 0}, ops::PadMode::Circular);
      },
      "Negative padding value is resulting in an empty dimension"));
  EXPECT_EQ(ops::pad(zeros({2, 3}), {1, 2}, ops::PadMode::Circular).sizes(), (Shape{2, 6}));
  EXPECT_TRUE(throws_with([&] { ops::pad(zeros({2}, TensorOptions().dtype(DType::Int64)), {1, 1}); },
                          "pad: input must be float32, float16 or bfloat16, got int64"));
  EXPECT_TRUE(throws_with([&] { ops::pad_backward(zeros({1, 2, 4}), {1, 2, 3}, {1, 2}, ops::PadMode::Replicate); },
                          "pad_backward: expected grad_output of shape [1, 2, 6], got [1, 2, 4]"));
  nn::Conv2d conv(nn::ConvOptions(2, 3, 3).padding(1).padding_mode(ops::PadMode::Reflect));
  // A convolution with a padding mode pads first, and F.pad words its input's refusals.
  EXPECT_TRUE(throws_with(
      [&] {
        conv.forward(zeros({1, 1, 2, 5, 5}));
      },
      "Only 2D, 3D, 4D, 5D padding with non-constant padding are supported for now"));
  EXPECT_TRUE(throws_with(
      [&] {
        conv.forward(zeros({1, 2, 1, 5}));
      },
      "Argument #6: Padding size should be less than the corresponding input dimension, but got: "
      "padding (1, 1) at dimension 2 of input 4"));
  EXPECT_TRUE(throws_with([] { nn::ReflectionPad2d({1, 2, 3}); },
                          "ReflectionPad2d: expected padding to be a single integer value or a list of 4 values, but "
                          "got padding=[1, 2, 3]"));
  nn::ReplicationPad2d replication(1);
  EXPECT_TRUE(throws_with(
      [&] {
        replication.forward(zeros({2, 3}));
      },
      "Only 2D, 3D, 4D, 5D padding with non-constant padding are supported for now"));
  nn::ConstantPad3d constant(1, 0.5);
  EXPECT_TRUE(throws_with([&] { constant.forward(zeros({2, 3})); }, "Padding length too large"));
  // Unbatched input through a padded convolution: the batched result's only sample.
  Generator gen(9);
  const Tensor image = randn({2, 5, 6}, gen);
  const Tensor batched = conv.forward(image.reshape({1, 2, 5, 6}));
  EXPECT_EQ(conv.forward(image).to_vector(), batched.to_vector());
  EXPECT_EQ(conv.backward(ones({3, 5, 6})).sizes(), (Shape{2, 5, 6}));
}

}  // namespace
}  // namespace normrt
