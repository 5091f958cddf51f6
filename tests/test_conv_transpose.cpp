// Transposed convolution (ops::conv_transpose, nn::ConvTranspose1d/2d/3d) against PyTorch (golden data), as the
// adjoint of conv(), by finite differences through the module, and its refusals, initialisation and repr.
#include <cmath>

#include "conv_transpose_golden_runner.h"

namespace normrt {
namespace {

using testing::dot;
using testing::throws_with;

class ConvTransposeGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(ConvTransposeGolden, MatchesPyTorch) { testing::run_conv_transpose_golden_case(GetParam(), Device::cpu()); }

INSTANTIATE_TEST_SUITE_P(PyTorch, ConvTransposeGolden,
                         ::testing::ValuesIn(testing::conv_transpose_golden_case_names()),
                         [](const auto& info) { return info.param; });

// <conv_transpose(x), y> = <x, conv(y)> for the same weight and parameters, and its input gradient is conv() itself.
TEST(ConvTranspose, IsTheAdjointOfConv) {
  Generator gen(3);
  ops::ConvTransposeParams t;
  t.stride = {2, 3};
  t.padding = {1, 0};
  t.output_padding = {1, 2};
  t.groups = 2;
  ops::ConvParams c;
  c.stride = t.stride;
  c.padding = t.padding;
  c.groups = t.groups;
  const Tensor x = randn({2, 4, 5, 3}, gen), w = randn({4, 3, 3, 2}, gen);
  const Tensor y = ops::conv_transpose(x, w, Tensor(), t);
  const Tensor z = randn(y.sizes(), gen);
  EXPECT_NEAR(dot(y, z), dot(x, ops::conv(z, w, Tensor(), c)), 1e-4 * std::fabs(dot(y, z)));
  Tensor dw;
  EXPECT_EQ(ops::conv_transpose_backward(z, x, w, t, &dw, nullptr).to_vector(),
            ops::conv(z, w, Tensor(), c).to_vector());
  EXPECT_EQ(ops::conv_input_grad(x, y.sizes(), w, c).to_vector(), y.to_vector());
}

// 16-bit operands on the CPU: the float32 computation on their values, the output rounded once.
TEST(ConvTranspose, SixteenBitIsTheFloat32ComputationRounded) {
  Generator gen(9);
  const Tensor x = randn({2, 3, 4, 4}, gen).to(DType::BFloat16), w = randn({3, 2, 2, 2}, gen).to(DType::BFloat16);
  const Tensor b = randn({2}, gen).to(DType::BFloat16);
  ops::ConvTransposeParams p;
  p.stride = {2};
  const Tensor narrow = ops::conv_transpose(x, w, b, p);
  EXPECT_EQ(narrow.dtype(), DType::BFloat16);
  const Tensor wide = ops::conv_transpose(x.to(DType::Float32), w.to(DType::Float32), b.to(DType::Float32), p);
  EXPECT_EQ(narrow.to(DType::Float32).to_vector(), wide.to(DType::BFloat16).to(DType::Float32).to_vector());
}

TEST(ConvTranspose, ModuleTrainsByFiniteDifferences) {
  Generator gen(5);
  nn::ConvTranspose2d layer(nn::ConvTransposeOptions(3, 4, 3).stride(2).padding(1).output_padding(1), &gen);
  const Tensor x = randn({2, 3, 3, 4}, gen);
  const Tensor y = layer.forward(x);
  EXPECT_EQ(y.sizes(), (Shape{2, 4, 6, 8}));
  const Tensor dy = randn(y.sizes(), gen);
  const auto dx = layer.backward(dy).to_vector();
  const auto dw = layer.weight.grad().to_vector(), db = layer.bias.grad().to_vector();
  // The loss <y, dy> is linear in x, the weight and the bias: central differences are exact up to rounding.
  const auto loss = [&](const Tensor& input) { return dot(layer.forward(input), dy); };
  auto xs = x.to_vector();
  for (std::size_t i : {std::size_t{0}, std::size_t{17}, xs.size() - 1}) {
    auto moved = xs;
    moved[i] += 0.5f;
    const double up = loss(from_vector(moved, x.sizes()));
    moved[i] -= 1.0f;
    EXPECT_NEAR(dx[i], up - loss(from_vector(moved, x.sizes())), 1e-3) << i;
  }
  const Tensor weight = layer.weight.clone();
  for (std::size_t i : {std::size_t{0}, std::size_t{40}, static_cast<std::size_t>(weight.numel() - 1)}) {
    auto moved = weight.to_vector();
    moved[i] += 0.5f;
    layer.weight.copy_(from_vector(moved, weight.sizes()));
    const double up = loss(x);
    moved[i] -= 1.0f;
    layer.weight.copy_(from_vector(moved, weight.sizes()));
    EXPECT_NEAR(dw[i], up - loss(x), 1e-3) << i;
  }
  layer.weight.copy_(weight);
  const auto dys = dy.to_vector();
  double total = 0;  // d <y, dy> / d bias[0]: dy summed over channel 0 of both samples (48 positions each)
  for (std::size_t n = 0; n < 2; ++n)
    for (std::size_t j = 0; j < 48; ++j) total += dys[n * 4 * 48 + j];
  EXPECT_NEAR(db[0], total, 1e-4);
}

TEST(ConvTranspose, InitialisesAndPrintsAsPyTorch) {
  nn::ConvTranspose2d layer(nn::ConvTransposeOptions(16, 33, {3, 5}).stride({2, 1}).padding({4, 2})
                                .output_padding({1, 0}).dilation(2).bias(false));
  EXPECT_EQ(layer.weight.sizes(), (Shape{16, 33, 3, 5}));
  EXPECT_FALSE(layer.bias.defined());
  std::ostringstream os;
  os << layer << ' ' << nn::ConvTranspose1d(4, 6, 3);
  // print(nn.ConvTranspose2d(16, 33, (3, 5), stride=(2, 1), padding=(4, 2), output_padding=(1, 0), dilation=2,
  //   bias=False), nn.ConvTranspose1d(4, 6, 3)) in PyTorch 1.13:
  EXPECT_EQ(os.str(), "ConvTranspose2d(16, 33, kernel_size=(3, 5), stride=(2, 1), padding=(4, 2), dilation=(2, 2), "
                      "output_padding=(1, 0), bias=False) ConvTranspose1d(4, 6, kernel_size=(3,), stride=(1,))");
  // kaiming_uniform_(a = sqrt(5)) over fan_in = out_channels / groups * kernel (the weight's dimension 1): bound
  // 1 / sqrt(fan_in), the bias's too.
  nn::ConvTranspose2d grouped(nn::ConvTransposeOptions(4, 6, 3).groups(2));
  const double bound = 1.0 / std::sqrt(3.0 * 9.0);
  double largest = 0;
  for (float v : grouped.weight.to_vector()) largest = std::max(largest, std::fabs(static_cast<double>(v)));
  EXPECT_LE(largest, bound);
  EXPECT_GT(largest, 0.8 * bound);
  for (float v : grouped.bias.to_vector()) EXPECT_LE(std::fabs(v), bound);
  EXPECT_EQ(grouped.state_dict().size(), 2u);
}

// forward(input, output_size) picks the call's output padding (whole sizes and unbatched input too) and leaves the
// module's own for the next plain call; the backward of a call differentiates that call's geometry, also with
// several calls in flight. Sizes out of range get PyTorch's messages, the module unchanged.
TEST(ConvTranspose, ModuleForwardTakesAnOutputSize) {
  Generator gen(8);
  nn::ConvTranspose2d layer(nn::ConvTransposeOptions(4, 3, 3).stride(2).padding(1), &gen);
  const Tensor x = randn({1, 4, 8, 8}, gen);
  EXPECT_EQ(layer.output_padding_for(x.sizes(), {16, 15}), (std::vector<int64_t>{1, 0}));
  EXPECT_EQ(layer.forward(x, {16, 15}).sizes(), (Shape{1, 3, 16, 15}));
  EXPECT_EQ(layer.forward(x, {1, 3, 15, 16}).sizes(), (Shape{1, 3, 15, 16}));
  EXPECT_EQ(layer.forward(randn({4, 8, 8}, gen), {3, 16, 16}).sizes(), (Shape{3, 16, 16}));
  EXPECT_EQ(layer.forward(x).sizes(), (Shape{1, 3, 15, 15}));
  nn::ConvTranspose2d padded(nn::ConvTransposeOptions(4, 3, 3).stride(2).padding(1).output_padding(1), &gen);
  padded.weight.copy_(layer.weight);
  padded.bias.copy_(layer.bias);
  nn::Context wide, narrow;
  const Tensor y_wide = layer.forward(x, {16, 16}, wide), y_narrow = layer.forward(x, {15, 15}, narrow);
  const Tensor dy = randn({1, 3, 16, 16}, gen);
  const Tensor dx_wide = layer.backward(dy, wide);
  EXPECT_EQ(y_wide.to_vector(), padded.forward(x).to_vector());
  EXPECT_EQ(dx_wide.to_vector(), padded.backward(dy).to_vector());
  EXPECT_EQ(layer.backward(randn({1, 3, 15, 15}, gen), narrow).sizes(), x.sizes());
  const auto weight = layer.weight.to_vector();
  EXPECT_TRUE(throws_with([&] { layer.forward(x, {16, 16, 1}); },
                          "ConvTranspose2D: for 4D input, output_size must have 2 or 4 elements (got 3)"));
  EXPECT_TRUE(throws_with([&] { layer.forward(x, {1, 3, 17, 15}); },
                          "requested an output size of [17, 15], but valid sizes range from [15, 15] to [16, 16] (for "
                          "an input of torch.Size([8, 8]))"));
  EXPECT_TRUE(throws_with([&] { layer.forward(x, {14, 20}); }, "requested an output size of [14, 20]"));
  EXPECT_TRUE(throws_with([&] { layer.forward(zeros({4, 8}), {16, 16}); },
                          "Expected 3D (unbatched) or 4D (batched) input to conv_transpose2d"));
  EXPECT_EQ(layer.weight.to_vector(), weight);
  EXPECT_EQ(layer.forward(x).sizes(), (Shape{1, 3, 15, 15}));
}

TEST(ConvTranspose, RefusesWhatPyTorchRefuses) {
  const Tensor x = zeros({1, 5, 8, 8});
  ops::ConvTransposeParams p;
  EXPECT_TRUE(throws_with([&] { ops::conv_transpose(x, zeros({4, 3, 3, 3}), Tensor()); },
                          "Given transposed=1, weight of size [4, 3, 3, 3], expected input[1, 5, 8, 8] to have 4 "
                          "channels, but got 5 channels instead"));
  EXPECT_TRUE(throws_with([&] { ops::conv_transpose(zeros({1, 4, 8, 8}), zeros({4, 3, 3, 3}), zeros({5})); },
                          "Given transposed=1, weight of size [4, 3, 3, 3], expected bias to be 1-dimensional with 3 "
                          "elements, but got bias of size [5] instead"));
  p.stride = {2};
  p.output_padding = {2};
  EXPECT_TRUE(throws_with([&] { ops::conv_transpose(zeros({1, 4, 8, 8}), zeros({4, 3, 3, 3}), Tensor(), p); },
                          "output padding must be smaller than either stride or dilation"));
  p = {};
  p.padding = {2};
  EXPECT_TRUE(throws_with([&] { ops::conv_transpose(zeros({1, 4, 1, 1}), zeros({4, 3, 3, 3}), Tensor(), p); },
                          "Given input size per channel: (1 x 1). Calculated output size per channel: (-1 x -1). "
                          "Output size is too small"));
  p.padding = {4};
  EXPECT_TRUE(throws_with([&] { ops::conv_transpose(zeros({1, 2, 2}), zeros({2, 3, 5}), Tensor(), p); },
                          "Given input size per channel: (1 x 2). Calculated output size per channel: (1 x -2). "
                          "Output size is too small"));  // 1-d, reported as PyTorch's 2-d of height 1
  p = {};
  p.groups = 3;
  EXPECT_TRUE(throws_with([&] { ops::conv_transpose(zeros({1, 4, 8, 8}), zeros({4, 3, 3, 3}), Tensor(), p); },
                          "Given groups=3, expected weight to be divisible by 3 at dimension 0, but got weight of size "
                          "[[4, 3, 3, 3]] instead"));
  EXPECT_TRUE(throws_with([&] { ops::conv_transpose(zeros({4, 8}), zeros({4, 3, 3, 3}), Tensor()); },
                          "Expected 3D (unbatched) or 4D (batched) input to conv_transpose2d, but got input of size: "
                          "[4, 8]"));
  EXPECT_TRUE(throws_with([] { nn::ConvTranspose2d(nn::ConvTransposeOptions(4, 6, 3).groups(4)); },
                          "out_channels must be divisible by groups"));
}

}  // namespace
}  // namespace normrt
