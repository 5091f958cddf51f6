// The activations whose gradient needs their input: against PyTorch (values, NaN and infinities, reprs), the
// gradients against central differences of the forward, 16-bit and channels-last inputs, and PyTorch's refusals.
#include <cmath>

#include "activation_golden_runner.h"
#include "prelu_golden_runner.h"
#include "normrt/half.h"
#include "normrt/ops/elementwise.h"

namespace normrt {
namespace {

using testing::throws_with;

class ActivationGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(ActivationGolden, MatchesPyTorch) { testing::run_activation_golden_case(GetParam(), Device::cpu()); }

INSTANTIATE_TEST_SUITE_P(PyTorch, ActivationGolden, ::testing::ValuesIn(testing::activation_golden_case_names()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return testing::test_name(info.param);
                         });

struct Kinked {
  ops::InputActivation f;
  std::vector<double> kinks;  // where the derivative jumps (no central difference across them)
};

std::vector<Kinked> every_kind() {
  using F = ops::InputActivation;
  return {{F::leaky_relu(0.1), {0.0}}, {F::elu(0.7), {0.0}}, {F::selu(), {0.0}}, {F::celu(1.5), {0.0}},
          {F::gelu("none"), {}},       {F::gelu("tanh"), {}}, {F::silu(), {}},   {F::mish(), {}},
          {F::softplus(2.0, 3.0), {1.5}}, {F::hardtanh(-0.5, 2.0), {-0.5, 2.0}}, {F::relu6(), {0.0, 6.0}},
          {F::hardswish(), {-3.0, 3.0}}, {F::hardsigmoid(), {-3.0, 3.0}}};
}

// d/dx by central differences of the float32 forward (step h = 1e-2 max(1, |x|): its truncation error ~h^2 and the
// forward's rounding ~1e-7 |f| / h both stay far below the tolerance), at random points away from the kinks.
class PReLUGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(PReLUGolden, MatchesPyTorch) { testing::run_prelu_golden_case(GetParam(), Device::cpu()); }

INSTANTIATE_TEST_SUITE_P(PyTorch, PReLUGolden, ::testing::ValuesIn(testing::prelu_golden_case_names()),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

// PReLU's weight gradient by central differences (the input's is the activation's, golden-tested), per channel and
// shared, over enough elements for the CPU loops to run in parallel; 16-bit input with a float32 weight computes in
// float32 on its values; PyTorch's refusals.
TEST(PReLU, WeightGradientsSixteenBitInputAndRefusals) {
  Generator gen(14);
  for (int64_t parameters : {int64_t{1}, int64_t{3}}) {
    const Tensor x = randn({4, 3, 80, 80}, gen), probe = randn({4, 3, 80, 80}, gen);
    const Tensor weight = rand({parameters}, gen);
    const auto grads = ops::prelu_backward(probe, x, weight);
    const auto xs = x.to_vector(), ps = probe.to_vector();
    for (int64_t c = 0; c < parameters; ++c) {
      double expected = 0;  // d sum(prelu(x) probe) / d w_c = sum over c's elements of x probe where x <= 0
      for (std::size_t i = 0; i < xs.size(); ++i)
        if ((parameters == 1 || static_cast<int64_t>(i / 6400 % 3) == c) && !(xs[i] > 0)) expected += xs[i] * ps[i];
      EXPECT_NEAR(grads.grad_weight.to_vector()[static_cast<std::size_t>(c)], expected, 1e-4 * std::fabs(expected));
    }
    // The values and input gradients, element by element (a shared weight's elements go in slices over the threads).
    const auto ws = weight.to_vector(), ys = ops::prelu(x, weight).to_vector(), dxs = grads.grad_input.to_vector();
    for (std::size_t i = 0; i < xs.size(); ++i) {
      const float w = ws[parameters == 1 ? 0 : i / 6400 % 3];
      ASSERT_EQ(ys[i], xs[i] > 0 ? xs[i] : w * xs[i]) << i;
      ASSERT_EQ(dxs[i], xs[i] > 0 ? ps[i] : w * ps[i]) << i;
    }
  }
  const Tensor x = randn({2, 3, 5}, gen), w = from_vector(std::vector<float>{0.1f, -0.3f, 2.0f}, {3});
  for (DType dtype : {DType::Float16, DType::BFloat16}) {
    const Tensor xh = x.to(dtype);
    const Tensor y = ops::prelu(xh, w);
    EXPECT_EQ(y.dtype(), dtype);
    EXPECT_EQ(y.to(DType::Float32).to_vector(), ops::prelu(xh.to(DType::Float32), w).to(dtype).to(DType::Float32)
                                                    .to_vector());
    const auto grads = ops::prelu_backward(xh, xh, w);
    EXPECT_EQ(grads.grad_input.dtype(), dtype);
    EXPECT_EQ(grads.grad_weight.dtype(), DType::Float32);
  }
  // PyTorch 1.13's messages: F.prelu(torch.zeros(2, 4, 3), torch.ones(3)), F.prelu(torch.tensor(1.), torch.ones(2)),
  // F.prelu(x, torch.ones(1, 1)); a single weight takes a 0-dim input (F.prelu(torch.tensor(-2.), torch.tensor([.25]))
  // is -0.5), and the channels are checked before the weight's rank.
  EXPECT_TRUE(throws_with([] { ops::prelu(zeros({2, 4, 3}), ones({3})); },
                          "Mismatch of parameter numbers and input channel size. Found parameter numbers = 3 and "
                          "channel size = 4."));
  EXPECT_TRUE(throws_with([] { ops::prelu(zeros({}), ones({2})); }, "Not allow zero-dim input tensor."));
  EXPECT_EQ(ops::prelu(full({}, -2.0), full({1}, 0.25)).to_vector(), std::vector<float>{-0.5f});
  const auto scalar = ops::prelu_backward(ones({}), full({}, -2.0), full({1}, 0.25));
  EXPECT_EQ(scalar.grad_input.to_vector(), std::vector<float>{0.25f});
  EXPECT_EQ(scalar.grad_weight.to_vector(), std::vector<float>{-2.0f});
  EXPECT_TRUE(throws_with([] { ops::prelu(zeros({2, 2, 3}), ones({3, 1})); },
                          "Mismatch of parameter numbers and input channel size. Found parameter numbers = 3 and "
                          "channel size = 2."));
  EXPECT_TRUE(throws_with([] { ops::prelu(zeros({2, 3}), ones({1, 1})); },
                          "prelu: Expected `weight` to be a scalar or 1D tensor, but got ndim = 2"));
  EXPECT_TRUE(throws_with([] { nn::PReLU(0); }, "num_parameters must be positive"));
  nn::PReLU module;
  EXPECT_EQ(module.weight.to_vector(), std::vector<float>{0.25f});
  EXPECT_EQ(module.forward(zeros({0, 5})).sizes(), (Shape{0, 5}));
  EXPECT_EQ(module.backward(zeros({0, 5})).sizes(), (Shape{0, 5}));
  EXPECT_EQ(module.weight.grad().to_vector(), std::vector<float>{0.0f});
}

TEST(Activations, GradientsMatchCentralDifferencesOfTheForward) {
  Generator gen(1202);
  const Tensor drawn = randn({400}, gen);
  for (const auto& [f, kinks] : every_kind()) {
    std::vector<float> xs, up, down;
    std::vector<double> steps;
    for (float v : drawn.to_vector()) {
      const float x = v * 4.0f;
      const double h = 1e-2 * std::max(1.0, std::fabs(static_cast<double>(x)));
      bool near_kink = false;
      for (double k : kinks) near_kink = near_kink || std::fabs(x - k) < 3 * h;
      if (near_kink) continue;
      xs.push_back(x);
      up.push_back(static_cast<float>(x + h));
      down.push_back(static_cast<float>(x - h));
      steps.push_back(static_cast<double>(up.back()) - down.back());  // the step the floats actually take
    }
    const Shape shape = {static_cast<int64_t>(xs.size())};
    const auto y_up = ops::activation(f, from_vector(up, shape)).to_vector();
    const auto y_down = ops::activation(f, from_vector(down, shape)).to_vector();
    const auto analytic = ops::activation_backward(f, ones(shape), from_vector(xs, shape)).to_vector();
    for (std::size_t i = 0; i < xs.size(); ++i) {
      const double numeric = (static_cast<double>(y_up[i]) - y_down[i]) / steps[i];
      EXPECT_NEAR(analytic[i], numeric, 2e-3 * (1.0 + std::fabs(numeric)))
          << "kind " << static_cast<int>(f.kind) << " at x = " << xs[i];
    }
  }
}

// float16 / bfloat16: widened, computed in float32, rounded once; channels-last: the same values in the input's
// layout, the gradient taken in any layout.
TEST(Activations, SixteenBitAndChannelsLastInputsGiveTheFloat32Results) {
  Generator gen(5);
  const Tensor x = ops::mul(randn({2, 3, 5, 4}, gen), full({}, 3.0)), dy = randn({2, 3, 5, 4}, gen);
  for (const auto& [f, kinks] : every_kind()) {
    const Tensor y = ops::activation(f, x), dx = ops::activation_backward(f, dy, x);
    for (DType dtype : {DType::Float16, DType::BFloat16}) {
      const Tensor x16 = x.to(dtype), dy16 = dy.to(dtype);
      const Tensor expected_y = ops::activation(f, x16.to(DType::Float32)).to(dtype);
      const Tensor expected_dx = ops::activation_backward(f, dy16.to(DType::Float32), x16.to(DType::Float32)).to(dtype);
      const Tensor y16 = ops::activation(f, x16), dx16 = ops::activation_backward(f, dy16, x16);
      EXPECT_EQ(y16.dtype(), dtype);
      EXPECT_EQ(y16.to(DType::Float32).to_vector(), expected_y.to(DType::Float32).to_vector());
      EXPECT_EQ(dx16.to(DType::Float32).to_vector(), expected_dx.to(DType::Float32).to_vector());
    }
    const Tensor x_cl = x.to(MemoryFormat::ChannelsLast);
    const Tensor y_cl = ops::activation(f, x_cl);
    EXPECT_EQ(y_cl.memory_format(), MemoryFormat::ChannelsLast);
    EXPECT_EQ(y_cl.to(MemoryFormat::Contiguous).to_vector(), y.to_vector());
    const Tensor dx_cl = ops::activation_backward(f, dy, x_cl);  // a contiguous gradient of a channels-last input
    EXPECT_EQ(dx_cl.memory_format(), MemoryFormat::ChannelsLast);
    EXPECT_EQ(dx_cl.to(MemoryFormat::Contiguous).to_vector(), dx.to_vector());
  }
}

TEST(Activations, ModulesKeepTheirInputForTheBackwardAndWorkOnEmptyTensors) {
  nn::GELU gelu;
  Generator gen(9);
  const Tensor x = randn({4, 6}, gen), dy = randn({4, 6}, gen);
  gelu.forward(x);
  const Tensor dx = gelu.backward(dy);
  EXPECT_EQ(dx.to_vector(), ops::activation_backward(ops::InputActivation::gelu(), dy, x).to_vector());
  const Tensor empty_input = zeros({0, 3});
  EXPECT_EQ(ops::silu(empty_input).sizes(), (Shape{0, 3}));
  EXPECT_EQ(ops::activation_backward(ops::InputActivation::silu(), empty_input, empty_input).sizes(), (Shape{0, 3}));
}

TEST(Activations, RefuseBadArgumentsWithPyTorchsWords) {
  EXPECT_TRUE(throws_with([] { ops::InputActivation::gelu("exact"); },
                          "approximate argument must be either none or tanh."));
  EXPECT_TRUE(throws_with([] { nn::GELU("erf"); }, "approximate argument must be either none or tanh."));
  EXPECT_TRUE(throws_with([] { ops::celu(ones({2}), 0.0); }, "ZeroDivisionError: alpha cannot be 0 for CELU"));
  EXPECT_TRUE(throws_with([] { nn::CELU(0.0); }, "ZeroDivisionError: alpha cannot be 0 for CELU"));
  EXPECT_TRUE(throws_with([] { nn::Hardtanh(1.0, 1.0); }, "Hardtanh: max_val (1.0) must be greater than min_val"));
  EXPECT_NO_THROW(ops::hardtanh(ones({2}), 2.0, 1.0));  // the functional form clamps to max_val, as PyTorch's
  const auto f = ops::InputActivation::mish();
  EXPECT_TRUE(throws_with([&] { ops::activation(f, zeros({3}, TensorOptions().dtype(DType::Int64))); },
                          "input must be float32, got int64"));
  EXPECT_TRUE(throws_with([&] { ops::activation_backward(f, ones({3}), ones({4})); },
                          "grad_output shape [3] does not match input shape [4]"));
  EXPECT_TRUE(throws_with([&] { ops::activation(f, Tensor()); }, "input is undefined"));
}

}  // namespace
}  // namespace normrt
