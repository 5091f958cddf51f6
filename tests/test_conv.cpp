// Convolutions (ops::conv / conv_backward, nn::Conv1d/2d/3d) on the CPU: against PyTorch (golden data), against
// the direct double-precision reference over random geometries, by finite differences, and their refusals.
#include <random>
#include <sstream>

#include "conv_golden_runner.h"
#include "normrt/config.h"
#include "conv_reference.h"

namespace normrt {
namespace {

using testing::all_close;
using testing::throws_with;
using testing::to_double;

class ConvGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(ConvGolden, MatchesPyTorch) { testing::run_conv_golden_case(GetParam(), Device::cpu()); }

INSTANTIATE_TEST_SUITE_P(PyTorch, ConvGolden, ::testing::ValuesIn(testing::conv_golden_case_names()),
                         [](const auto& info) { return testing::test_name(info.param); });

// A random geometry: 1-3 spatial dimensions, small odd sizes, strides, dilations, groups and padding kinds.
struct RandomConv {
  Shape input, weight;
  ops::ConvParams params;
};

// The CPU implementations a test runs under: im2col + BLAS, and oneDNN where normrt was built with it (oneDNN takes
// kernels larger than 1x1 with 4 or more input channels per group forward, 12 or more backward).
std::vector<bool> onednn_settings() {
  return NORMRT_WITH_ONEDNN ? std::vector<bool>{false, true} : std::vector<bool>{false};
}

// Sets ops::set_conv_use_onednn for a scope and restores the default (on).
struct OneDnnSetting {
  explicit OneDnnSetting(bool on) { ops::set_conv_use_onednn(on); }
  ~OneDnnSetting() { ops::set_conv_use_onednn(true); }
  OneDnnSetting(const OneDnnSetting&) = delete;
  OneDnnSetting& operator=(const OneDnnSetting&) = delete;
};

const char* implementation(bool onednn) { return onednn ? "oneDNN where it takes the layer" : "im2col"; }

RandomConv random_conv(std::mt19937& rng, int min_spatial = 1) {
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  RandomConv r;
  const int spatial = pick(min_spatial, 3);
  const int64_t groups = pick(1, 3);
  // Half of the geometries have enough channels per group for oneDNN (forward from 4, backward from 12).
  const int64_t c = groups * (pick(0, 1) == 0 ? pick(1, 3) : pick(4, 16)), o = groups * pick(1, 5);
  r.params.groups = groups;
  const int mode = pick(0, 4);  // mostly explicit padding
  r.params.padding_mode = mode == 3 ? ops::PaddingMode::Same : mode == 4 ? ops::PaddingMode::Valid
                                                                        : ops::PaddingMode::Explicit;
  r.params.stride.clear();
  r.params.padding.clear();
  r.params.dilation.clear();
  r.input = {pick(1, 3), c};
  r.weight = {o, c / groups};
  for (int d = 0; d < spatial; ++d) {
    const int64_t k = pick(1, 4), dil = pick(1, 2), pad = pick(0, 2);
    const int64_t stride = r.params.padding_mode == ops::PaddingMode::Same ? 1 : pick(1, 3);
    const int64_t extent = dil * (k - 1) + 1;
    const int64_t size = std::max<int64_t>(extent - (r.params.padding_mode == ops::PaddingMode::Explicit ? 2 * pad : 0),
                                           1) + pick(0, spatial == 3 ? 3 : 6);
    r.input.push_back(size);
    r.weight.push_back(k);
    r.params.stride.push_back(stride);
    r.params.padding.push_back(pad);
    r.params.dilation.push_back(dil);
  }
  return r;
}

TEST(Conv, RandomGeometriesMatchTheDirectReference) {
  for (const bool onednn : onednn_settings()) {
    SCOPED_TRACE(implementation(onednn));
    const OneDnnSetting setting(onednn);
    std::mt19937 rng(7);
    Generator gen(3);
    for (int trial = 0; trial < 60; ++trial) {
      const RandomConv r = random_conv(rng);
      const Tensor x = randn(r.input, gen), w = randn(r.weight, gen), b = randn({r.weight[0]}, gen);
      const auto g = ops::detail::resolve_conv(r.input, r.weight, nullptr, r.params);
      const Tensor y = ops::conv(x, w, b, r.params);
      const Tensor dy = randn(y.sizes(), gen);
      Tensor dw, db;
      const Tensor dx = ops::conv_backward(dy, x, w, r.params, &dw, &db);
      auto expected_y = testing::reference_conv_forward(g, x.data<float>(), w.data<float>());
      const int64_t positions = g.out_size();
      for (std::size_t i = 0; i < expected_y.size(); ++i)
        expected_y[i] += b.data<float>()[(static_cast<int64_t>(i) / positions) % g.o];
      const std::string what = "trial " + std::to_string(trial) + " input " + shape_str(r.input) + " weight " +
                               shape_str(r.weight);
      EXPECT_TRUE(all_close(y.to_vector(), expected_y, 1e-5, 1e-5)) << what;
      const auto expected_dx = testing::reference_conv_backward_data(g, dy.data<float>(), w.data<float>());
      const auto expected_dw = testing::reference_conv_backward_filter(g, x.data<float>(), dy.data<float>());
      EXPECT_TRUE(all_close(dx.to_vector(), expected_dx, 1e-5, 1e-5)) << what;
      EXPECT_TRUE(all_close(dw.to_vector(), expected_dw, 1e-5, 1e-5)) << what;
      // Gradients accumulate into defined tensors, as in linear_backward.
      const auto dw_once = to_double(dw), db_once = to_double(db);
      ops::conv_backward(dy, x, w, r.params, &dw, &db, /*need_input_grad=*/false);
      for (std::size_t i = 0; i < dw_once.size(); ++i)
        ASSERT_NEAR(dw.data<float>()[i], 2 * dw_once[i], 1e-4 * (1 + std::fabs(dw_once[i])));
      for (std::size_t i = 0; i < db_once.size(); ++i)
        ASSERT_NEAR(db.data<float>()[i], 2 * db_once[i], 1e-4 * (1 + std::fabs(db_once[i])));
    }
  }
}

// Channels-last operands: x, dy and w each in either memory format (2-d and 3-d convolutions, 4-d and 5-d tensors).
// y and dx take x's memory format; the values are the reference's whichever path ran (oneDNN's NHWC kernels, or
// contiguous copies).
TEST(Conv, ChannelsLastOperandsMatchTheDirectReference) {
  for (const bool onednn : onednn_settings()) {
    SCOPED_TRACE(implementation(onednn));
    const OneDnnSetting setting(onednn);
    std::mt19937 rng(11);
    Generator gen(5);
    for (int trial = 0; trial < 48; ++trial) {
      const RandomConv r = random_conv(rng, 2);
      const MemoryFormat cl = r.input.size() == 4 ? MemoryFormat::ChannelsLast : MemoryFormat::ChannelsLast3d;
      // Every trial has a channels-last x or dy; the weight is channels-last in a quarter of them.
      const MemoryFormat x_format = trial % 3 == 2 ? MemoryFormat::Contiguous : cl;
      const MemoryFormat dy_format = trial % 3 == 0 ? MemoryFormat::Contiguous : cl;
      const Tensor x = randn(r.input, gen), w = randn(r.weight, gen), b = randn({r.weight[0]}, gen);
      const auto g = ops::detail::resolve_conv(r.input, r.weight, nullptr, r.params);
      const Tensor w_used = trial % 4 == 1 ? w.to(cl) : w;
      const Tensor y = ops::conv(x.to(x_format), w_used, b, r.params);
      const Tensor dy = randn(y.sizes(), gen);
      Tensor dw, db;
      const Tensor dx = ops::conv_backward(dy.to(dy_format), x.to(x_format), w_used, r.params, &dw, &db);
      const std::string what = "trial " + std::to_string(trial) + " input " + shape_str(r.input) + " weight " +
                               shape_str(r.weight) + " x " + memory_format_name(x_format) + " dy " +
                               memory_format_name(dy_format) + " w " + memory_format_name(w_used.memory_format());
      EXPECT_EQ(y.memory_format(), x_format) << what;
      EXPECT_EQ(dx.memory_format(), x_format) << what;
      EXPECT_EQ(dw.memory_format(), w_used.memory_format()) << what;  // a gradient takes its weight's format
      auto expected_y = testing::reference_conv_forward(g, x.data<float>(), w.data<float>());
      for (std::size_t i = 0; i < expected_y.size(); ++i)
        expected_y[i] += b.data<float>()[(static_cast<int64_t>(i) / g.out_size()) % g.o];
      EXPECT_TRUE(all_close(y.to_vector(), expected_y, 1e-5, 1e-5)) << what;
      EXPECT_TRUE(all_close(dx.to_vector(),
                            testing::reference_conv_backward_data(g, dy.data<float>(), w.data<float>()), 1e-5, 1e-5))
          << what;
      EXPECT_TRUE(all_close(dw.to_vector(),
                            testing::reference_conv_backward_filter(g, x.data<float>(), dy.data<float>()), 1e-5, 1e-5))
          << what;
      std::vector<double> expected_db(static_cast<std::size_t>(g.o), 0.0);
      const std::vector<float> dy_values = dy.to_vector();
      for (std::size_t i = 0; i < dy_values.size(); ++i)
        expected_db[static_cast<std::size_t>((static_cast<int64_t>(i) / g.out_size()) % g.o)] += dy_values[i];
      EXPECT_TRUE(all_close(db.to_vector(), expected_db, 1e-5, 1e-5)) << what;
      // Accumulating into the gradients keeps their format and adds the second call's share.
      const auto dw_once = to_double(dw);
      ops::conv_backward(dy.to(dy_format), x.to(x_format), w_used, r.params, &dw, &db, false);
      EXPECT_EQ(dw.memory_format(), w_used.memory_format()) << what;
      const std::vector<float> dw_twice = dw.to_vector();
      for (std::size_t i = 0; i < dw_once.size(); ++i)
        ASSERT_NEAR(dw_twice[i], 2 * dw_once[i], 1e-4 * (1 + std::fabs(dw_once[i]))) << what;
    }
  }
}

// Central differences of L = sum(conv(x, w, b) * r) against the analytic gradients.
TEST(Conv, GradientsMatchFiniteDifferences) {
  for (const bool onednn : onednn_settings()) {
    SCOPED_TRACE(implementation(onednn));
    const OneDnnSetting setting(onednn);
    Generator gen(5);
    ops::ConvParams p;
    p.stride = {2, 1};
    p.dilation = {1, 2};
    p.padding = {1, 2};
    p.groups = 2;
    Tensor x = randn({2, 24, 5, 6}, gen), w = randn({4, 12, 3, 2}, gen), b = randn({4}, gen);  // oneDNN's both ways
    const Tensor r = randn(ops::conv_output_shape(x.sizes(), w.sizes(), p), gen);
    auto loss = [&] {
      const auto y = ops::conv(x, w, b, p).to_vector();
      const auto rv = r.to_vector();
      double total = 0;
      for (std::size_t i = 0; i < y.size(); ++i) total += static_cast<double>(y[i]) * rv[i];
      return total;
    };
    Tensor dw, db;
    const Tensor dx = ops::conv_backward(r, x, w, p, &dw, &db);
    const double h = 1e-2;
    for (auto [t, grad] : {std::pair<Tensor*, Tensor*>{&x, const_cast<Tensor*>(&dx)}, {&w, &dw}, {&b, &db}}) {
      for (int64_t i = 0; i < t->numel(); i += 3) {
        float* v = t->data<float>() + i;
        const float saved = *v;
        *v = saved + static_cast<float>(h);
        const double up = loss();
        *v = saved - static_cast<float>(h);
        const double down = loss();
        *v = saved;
        const double numeric = (up - down) / (2 * h);
        EXPECT_NEAR(grad->data<float>()[i], numeric, 2e-3 * (1 + std::fabs(numeric))) << "element " << i;
      }
    }
  }
}

TEST(Conv, UnbatchedInputIsABatchOfOne) {
  Generator gen(9);
  const Tensor x = randn({3, 7, 6}, gen), w = randn({2, 3, 3, 3}, gen), b = randn({2}, gen);
  const Tensor y = ops::conv(x, w, b);
  EXPECT_EQ(y.sizes(), (Shape{2, 5, 4}));
  EXPECT_EQ(y.to_vector(), ops::conv(x.reshape({1, 3, 7, 6}), w, b).to_vector());
  Tensor dw;
  const Tensor dx = ops::conv_backward(randn({2, 5, 4}, gen), x, w, {}, &dw, nullptr);
  EXPECT_EQ(dx.sizes(), x.sizes());
  // An unbatched 3-d input is 4-d, and may be channels-last memory: its values count, in logical order (the layout
  // is not the batch's NDHWC), and the results keep its format.
  const Tensor volume = randn({3, 4, 5, 6}, gen), w3 = randn({2, 3, 2, 2, 2}, gen), dy = randn({2, 3, 4, 5}, gen);
  const Tensor volume_cl = volume.to(MemoryFormat::ChannelsLast);
  const Tensor y3 = ops::conv(volume_cl, w3, Tensor());
  EXPECT_EQ(y3.memory_format(), MemoryFormat::ChannelsLast);
  EXPECT_EQ(y3.to_vector(), ops::conv(volume, w3, Tensor()).to_vector());
  Tensor dw3, dw3_cl;
  const Tensor dx3 = ops::conv_backward(dy, volume, w3, {}, &dw3, nullptr);
  const Tensor dx3_cl = ops::conv_backward(dy.to(MemoryFormat::ChannelsLast), volume_cl, w3, {}, &dw3_cl, nullptr);
  EXPECT_EQ(dx3_cl.memory_format(), MemoryFormat::ChannelsLast);
  EXPECT_EQ(dx3_cl.to_vector(), dx3.to_vector());
  EXPECT_EQ(dw3_cl.to_vector(), dw3.to_vector());
}

TEST(Conv, ResultsAreIdenticalRunToRun) {
  for (const bool onednn : onednn_settings()) {
    SCOPED_TRACE(implementation(onednn));
    const OneDnnSetting setting(onednn);
    Generator gen(13);
    const Tensor x = randn({4, 16, 15, 13}, gen), w = randn({8, 16, 3, 3}, gen), dy = randn({4, 8, 13, 11}, gen);
    Tensor dw1, dw2;
    const Tensor dx1 = ops::conv_backward(dy, x, w, {}, &dw1, nullptr);
    const Tensor dx2 = ops::conv_backward(dy, x, w, {}, &dw2, nullptr);
    EXPECT_EQ(ops::conv(x, w, Tensor()).to_vector(), ops::conv(x, w, Tensor()).to_vector());
    EXPECT_EQ(dx1.to_vector(), dx2.to_vector());
    EXPECT_EQ(dw1.to_vector(), dw2.to_vector());
  }
}

// More geometries than oneDNN's per-thread cache of primitives keeps (256): each result stays right past the point
// where the cache starts over (checked against im2col + BLAS).
TEST(Conv, ManyGeometriesStayCorrectPastTheKeptPrimitives) {
  if (!NORMRT_WITH_ONEDNN) GTEST_SKIP() << "built without oneDNN";
  Generator gen(17);
  const Tensor w = randn({4, 16, 3, 3}, gen);
  for (int64_t n = 1; n <= 300; ++n) {
    const Tensor x = randn({n, 16, 3, 3}, gen);
    std::vector<float> expected;
    {
      const OneDnnSetting setting(false);
      expected = ops::conv(x, w, Tensor()).to_vector();
    }
    ASSERT_TRUE(all_close(ops::conv(x, w, Tensor()).to_vector(), expected, 1e-5, 1e-5)) << "batch " << n;
  }
}

TEST(Conv, EmptyBatchAndEmptyChannels) {
  for (const MemoryFormat format : {MemoryFormat::Contiguous, MemoryFormat::ChannelsLast}) {
    SCOPED_TRACE(memory_format_name(format));
    Generator gen(1);
    // N = 0: an empty output; the weight gradient is zero, the bias gradient too.
    Tensor dw, db;
    const Tensor w = randn({3, 2, 3, 3}, gen), b = randn({3}, gen);
    EXPECT_EQ(ops::conv(zeros({0, 2, 5, 5}).to(format), w, b).sizes(), (Shape{0, 3, 3, 3}));
    const Tensor dx =
        ops::conv_backward(zeros({0, 3, 3, 3}).to(format), zeros({0, 2, 5, 5}).to(format), w, {}, &dw, &db);
    EXPECT_EQ(dx.sizes(), (Shape{0, 2, 5, 5}));
    EXPECT_EQ(dw.to_vector(), std::vector<float>(w.numel(), 0.0f));
    EXPECT_EQ(db.to_vector(), std::vector<float>(3, 0.0f));
    // C = 0: the output is the bias.
    const std::vector<float> y = ops::conv(zeros({2, 0, 4, 4}).to(format), zeros({3, 0, 3, 3}), b).to_vector();
    for (std::size_t i = 0; i < y.size(); ++i) EXPECT_EQ(y[i], b.data<float>()[i / 4 % 3]);
  }
}

TEST(Conv, RefusesBadArgumentsWithPyTorchsWords) {
  const Tensor x = zeros({2, 3, 5, 5}), w = zeros({4, 3, 3, 3});
  auto params = [](auto fn) {
    ops::ConvParams p;
    fn(p);
    return p;
  };
  EXPECT_TRUE(throws_with([&] { ops::conv(x, w, Tensor(), params([](auto& p) { p.stride = {0}; })); },
                          "non-positive stride is not supported"));
  EXPECT_TRUE(throws_with([&] { ops::conv(x, w, Tensor(), params([](auto& p) { p.padding = {-1}; })); },
                          "negative padding is not supported"));
  EXPECT_TRUE(throws_with([&] { ops::conv(x, w, Tensor(), params([](auto& p) { p.dilation = {0}; })); },
                          "non-positive dilation is not supported"));
  EXPECT_TRUE(throws_with([&] { ops::conv(x, w, Tensor(), params([](auto& p) { p.groups = 0; })); },
                          "non-positive groups is not supported"));
  EXPECT_TRUE(throws_with([&] { ops::conv(x, w, Tensor(), params([](auto& p) { p.stride = {1, 2, 3}; })); },
                          "expected stride to be a single integer value or a list of 2 values to match the "
                          "convolution dimensions, but got stride=[1, 2, 3]"));
  EXPECT_TRUE(throws_with([&] { ops::conv(zeros({2, 3, 5, 5, 5}), w, Tensor()); },
                          "Expected 3D (unbatched) or 4D (batched) input to conv2d, but got input of size: "
                          "[2, 3, 5, 5, 5]"));
  EXPECT_TRUE(throws_with([&] { ops::conv(x, zeros({2, 3, 3, 3}), Tensor(), params([](auto& p) { p.groups = 3; })); },
                          "Given groups=3, expected weight to be at least 3 at dimension 0, but got weight of size "
                          "[2, 3, 3, 3] instead"));
  EXPECT_TRUE(throws_with([&] { ops::conv(x, zeros({4, 1, 3, 3}), Tensor(), params([](auto& p) { p.groups = 3; })); },
                          "Given groups=3, expected weight to be divisible by 3 at dimension 0"));
  EXPECT_TRUE(throws_with([&] { ops::conv(x, zeros({4, 4, 3, 3}), Tensor()); },
                          "Given groups=1, weight of size [4, 4, 3, 3], expected input[2, 3, 5, 5] to have 4 "
                          "channels, but got 3 channels instead"));
  EXPECT_TRUE(throws_with([&] { ops::conv(x, w, zeros({5})); },
                          "Given weight of size [4, 3, 3, 3], expected bias to be 1-dimensional with 4 elements, but "
                          "got bias of size [5] instead"));
  EXPECT_TRUE(throws_with([&] { ops::conv(x, zeros({4, 3, 7, 3}), Tensor()); },
                          "Calculated padded input size per channel: (5 x 5). Kernel size: (7 x 3). Kernel size can't "
                          "be greater than actual input size"));
  EXPECT_TRUE(throws_with([&] { ops::conv(zeros({2, 3, 0, 5}), zeros({4, 3, 1, 1}), Tensor()); },
                          "Calculated padded input size per channel: (0 x 5). Kernel size: (1 x 1)"));
  EXPECT_TRUE(throws_with(
      [&] {
        ops::conv(x, w, Tensor(), params([](auto& p) {
                    p.stride = {2};
                    p.padding_mode = ops::PaddingMode::Same;
                  }));
      },
      "padding='same' is not supported for strided convolutions"));
  EXPECT_TRUE(throws_with([&] { ops::conv(x, zeros({4, 3}), Tensor()); }, "must have 3, 4 or 5 dimensions"));
  Tensor dw;
  EXPECT_TRUE(throws_with([&] { ops::conv_backward(zeros({2, 4, 2, 3}), x, w, {}, &dw, nullptr); },
                          "grad_output shape [2, 4, 2, 3] does not match the output shape [2, 4, 3, 3]"));
  EXPECT_FALSE(dw.defined());
}


TEST(ConvModule, PrintsInitialisesAndRunsAsPyTorch) {
  // print(nn.Conv2d(4, 4, 3, groups=2, padding="same"), nn.Conv2d(4, 4, (3, 1), stride=2, padding=1, bias=False),
  //       nn.Conv1d(4, 4, 3, dilation=2), nn.Conv3d(1, 2, 1), nn.Conv2d(1, 2, 3, padding="valid"))
  std::ostringstream os;
  os << nn::Conv2d(nn::ConvOptions(4, 4, 3).groups(2).padding(ops::PaddingMode::Same)) << ' '
     << nn::Conv2d(nn::ConvOptions(4, 4, {3, 1}).stride(2).padding(1).bias(false)) << ' '
     << nn::Conv1d(nn::ConvOptions(4, 4, 3).dilation(2)) << ' ' << nn::Conv3d(1, 2, 1) << ' '
     << nn::Conv2d(nn::ConvOptions(1, 2, 3).padding(ops::PaddingMode::Valid));
  EXPECT_EQ(os.str(),
            "Conv2d(4, 4, kernel_size=(3, 3), stride=(1, 1), padding=same, groups=2) Conv2d(4, 4, kernel_size=(3, 1), "
            "stride=(2, 2), padding=(1, 1), bias=False) Conv1d(4, 4, kernel_size=(3,), stride=(1,), dilation=(2,)) "
            "Conv3d(1, 2, kernel_size=(1, 1, 1), stride=(1, 1, 1)) Conv2d(1, 2, kernel_size=(3, 3), stride=(1, 1), "
            "padding=valid)");

  Generator gen(21);
  nn::Conv2d conv(nn::ConvOptions(6, 8, {3, 2}).groups(2).padding({1, 0}), &gen);
  EXPECT_EQ(conv.weight.sizes(), (Shape{8, 3, 3, 2}));
  const auto state = conv.state_dict();
  ASSERT_EQ(state.size(), 2u);
  EXPECT_EQ(state[0].first, "weight");
  EXPECT_EQ(state[1].first, "bias");
  // kaiming_uniform(a = sqrt(5)) and the bias draw are both U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = 3 * 3 * 2.
  const double bound = 1.0 / std::sqrt(18.0);
  for (const Tensor& t : {conv.weight, conv.bias})
    for (float v : t.to_vector()) EXPECT_LE(std::fabs(v), bound + 1e-7);
  double spread = 0;
  for (float v : conv.weight.to_vector()) spread = std::max(spread, std::fabs(static_cast<double>(v)));
  EXPECT_GT(spread, 0.8 * bound);  // the values fill the range

  const Tensor x = randn({2, 6, 5, 4}, gen);
  const Tensor y = conv.forward(x);
  EXPECT_EQ(y.to_vector(), ops::conv(x, conv.weight, conv.bias, conv.params()).to_vector());
  const Tensor dy = randn(y.sizes(), gen);
  const Tensor dx = conv.backward(dy);
  Tensor dw, db;
  EXPECT_EQ(dx.to_vector(), ops::conv_backward(dy, x, conv.weight, conv.params(), &dw, &db).to_vector());
  EXPECT_EQ(conv.weight.grad().to_vector(), dw.to_vector());
  EXPECT_EQ(conv.bias.grad().to_vector(), db.to_vector());
}

TEST(ConvModule, RefusesBadOptionsAndLeavesStateAlone) {
  EXPECT_TRUE(
      throws_with([] { nn::Conv2d(nn::ConvOptions(3, 4, 3).groups(2)); }, "in_channels must be divisible by groups"));
  EXPECT_TRUE(
      throws_with([] { nn::Conv2d(nn::ConvOptions(4, 3, 3).groups(2)); }, "out_channels must be divisible by groups"));
  EXPECT_TRUE(throws_with([] { nn::Conv2d(nn::ConvOptions(4, 4, 3).groups(0)); }, "groups must be a positive integer"));
  EXPECT_TRUE(throws_with([] { nn::Conv2d(nn::ConvOptions(4, 4, 3).stride(2).padding(ops::PaddingMode::Same)); },
                          "padding='same' is not supported for strided convolutions"));
  EXPECT_TRUE(throws_with([] { nn::Conv2d(nn::ConvOptions(4, 4, {3, 3, 3})); },
                          "expected kernel_size to be a single integer value or a list of 2 values"));
  EXPECT_TRUE(
      throws_with([] { nn::Conv1d(nn::ConvOptions(4, 4, 3).padding(-1)); }, "negative padding is not supported"));
  // A bad input is refused before anything changes: no gradient appears, a pending forward stays pending.
  nn::Conv2d conv(3, 4, 3);
  const auto weight = conv.weight.to_vector();
  EXPECT_TRUE(throws_with([&] { conv.forward(zeros({1, 4, 5, 5})); },
                          "expected input[1, 4, 5, 5] to have 3 channels, but got 4 channels instead"));
  EXPECT_TRUE(throws_with(
      [&] {
        conv.forward(zeros({1, 3, 2, 5}));
      },
      "Kernel size can't be greater than actual input size"));
  EXPECT_EQ(conv.weight.to_vector(), weight);
  EXPECT_FALSE(conv.weight.grad().defined());
  EXPECT_TRUE(throws_with([&] { conv.backward(zeros({1, 4, 3, 3})); }, "backward() needs a preceding forward()"));
}

TEST(ConvModule, ResidualSumsBothPathsGradients) {
  // y = body(x) + shortcut(x): its input gradient is the sum of the two modules' input gradients, and each path's
  // parameters get their own gradients, as computed by running the two paths separately.
  Generator g1(8);
  nn::Residual block(nn::Sequential(nn::Conv2d(nn::ConvOptions(3, 4, 3).padding(1).bias(false)), nn::BatchNorm2d(4),
                                    nn::ReLU(), nn::Conv2d(nn::ConvOptions(4, 4, 3).padding(1))),
                     nn::Conv2d(nn::ConvOptions(3, 4, 1)));
  nn::Sequential body(nn::Conv2d(nn::ConvOptions(3, 4, 3).padding(1).bias(false)), nn::BatchNorm2d(4), nn::ReLU(),
                      nn::Conv2d(nn::ConvOptions(4, 4, 3).padding(1)));
  nn::Conv2d shortcut(nn::ConvOptions(3, 4, 1));
  body.load_state_dict(block.body().state_dict());
  shortcut.load_state_dict(block.shortcut()->state_dict());
  const Tensor x = randn({2, 3, 6, 5}, g1), dy = randn({2, 4, 6, 5}, g1);
  const Tensor y = block.forward(x);
  const Tensor expected = ops::add(body.forward(x), shortcut.forward(x));
  EXPECT_EQ(y.to_vector(), expected.to_vector());
  const Tensor dx = block.backward(dy);
  EXPECT_EQ(dx.to_vector(), ops::add(body.backward(dy), shortcut.backward(dy)).to_vector());
  const auto pb = block.named_parameters();
  auto separate = body.named_parameters();
  for (auto& [name, t] : shortcut.named_parameters()) separate.emplace_back(name, t);
  ASSERT_EQ(pb.size(), separate.size());
  for (std::size_t i = 0; i < pb.size(); ++i)
    EXPECT_EQ(pb[i].second.grad().to_vector(), separate[i].second.grad().to_vector());
  EXPECT_EQ(pb[0].first, "body.0.weight");
  EXPECT_EQ(pb.back().first, "shortcut.bias");
  // The identity shortcut adds x itself, and a shape mismatch is named.
  nn::Residual plain(nn::Conv2d(nn::ConvOptions(3, 3, 3).padding(1)));
  const Tensor yp = plain.forward(x);
  auto& inner = dynamic_cast<nn::Conv2d&>(plain.body());
  EXPECT_EQ(yp.to_vector(), ops::add(ops::conv(x, inner.weight, inner.bias, inner.params()), x).to_vector());
  EXPECT_TRUE(throws_with([&] { nn::Residual(nn::Conv2d(3, 4, 1)).forward(x); },
                          "Residual: the body's output [2, 4, 6, 5] and the shortcut's [2, 3, 6, 5] differ"));
}

// Residual(...).relu(): relu(body(x) + shortcut(x)). A body ending in a BatchNorm runs its block end fused
// (BatchNorm, add and ReLU in one op): the same bits as the modules run separately with the add and ReLU after, in
// the output, the input gradient, every parameter gradient and the running statistics; other bodies take the ReLU
// after the add. Folding for inference keeps the ReLU.
TEST(ConvModule, ResidualReLUFusesTheBlockEndWhereTheBodyEndsInBatchNorm) {
  for (bool ends_in_bn : {true, false}) {
    SCOPED_TRACE(ends_in_bn ? "fused" : "unfused");
    Generator gen(12);
    auto make_body = [&] {
      nn::Sequential body(nn::Conv2d(nn::ConvOptions(3, 4, 3).padding(1).bias(false)), nn::BatchNorm2d(4));
      if (!ends_in_bn) body.push_back(nn::Conv2d(nn::ConvOptions(4, 4, 1)));
      return body;
    };
    auto shared_block = std::make_shared<nn::Residual>(make_body(), nn::Conv2d(nn::ConvOptions(3, 4, 1)));
    nn::Residual& block = shared_block->relu();
    nn::Sequential body = make_body();
    nn::Conv2d shortcut(nn::ConvOptions(3, 4, 1));
    body.load_state_dict(block.body().state_dict());
    shortcut.load_state_dict(block.shortcut()->state_dict());
    for (int step = 0; step < 2; ++step) {
      const Tensor x = randn({2, 3, 5, 7}, gen), dy = randn({2, 4, 5, 7}, gen);
      block.zero_grad();
      body.zero_grad();
      shortcut.zero_grad();
      const Tensor y = block.forward(x);
      const Tensor expected = ops::activation(ops::Activation::ReLU, ops::add(body.forward(x), shortcut.forward(x)));
      EXPECT_EQ(y.to_vector(), expected.to_vector());
      const Tensor dx = block.backward(dy);
      const Tensor g = ops::activation_backward(ops::Activation::ReLU, dy, expected);
      EXPECT_EQ(dx.to_vector(), ops::add(body.backward(g), shortcut.backward(g)).to_vector());
      const auto pb = block.named_parameters();
      auto separate = body.named_parameters();
      for (auto& [name, t] : shortcut.named_parameters()) separate.emplace_back(name, t);
      ASSERT_EQ(pb.size(), separate.size());
      for (std::size_t i = 0; i < pb.size(); ++i)
        EXPECT_EQ(pb[i].second.grad().to_vector(), separate[i].second.grad().to_vector()) << pb[i].first;
      auto buffer = [](const nn::Module& m, const std::string& name) {
        for (const auto& [key, t] : m.state_dict())
          if (key == name) return t.to_vector();
        return std::vector<float>{};
      };
      EXPECT_EQ(buffer(block, "body.1.running_var"), buffer(body, "1.running_var"));
    }
    nn::Sequential net{shared_block};
    net.eval();
    auto folded = nn::fold_batchnorm(net);
    const Tensor x = randn({2, 3, 5, 7}, gen);
    EXPECT_TRUE(all_close(folded->forward(x).to_vector(), block.forward(x).to_vector(), 1e-5, 1e-5));
  }
  // A body ending in a BatchNorm with its own ReLU keeps it before the add: relu(relu(bn(h)) + x).
  {
    Generator gen(14);
    nn::Residual block(nn::Sequential(nn::Conv2d(nn::ConvOptions(3, 3, 3).padding(1)),
                                      nn::BatchNorm2d(nn::BatchNormOptions(3).relu(true))));
    block.relu();
    auto& body = dynamic_cast<nn::Sequential&>(block.body());
    const Tensor x = randn({2, 3, 4, 5}, gen);
    const Tensor y = block.forward(x);
    body.at<nn::BatchNorm2d>(1).reset_running_stats();
    const Tensor h = body.forward(x);  // relu(bn(conv(x))), in the same training mode
    EXPECT_EQ(y.to_vector(), ops::activation(ops::Activation::ReLU, ops::add(h, x)).to_vector());
  }
  // A BatchNorm with its own fused ReLU folds into a convolution followed by a ReLU.
  Generator gen(13);
  nn::Sequential conv_bn_relu(nn::Conv2d(nn::ConvOptions(3, 4, 3)),
                              nn::BatchNorm2d(nn::BatchNormOptions(4).relu(true)));
  conv_bn_relu.forward(randn({4, 3, 6, 6}, gen));
  conv_bn_relu.eval();
  auto folded = nn::fold_batchnorm(conv_bn_relu);
  const Tensor x = randn({2, 3, 6, 6}, gen);
  const std::vector<float> y = conv_bn_relu.forward(x).to_vector();
  EXPECT_TRUE(std::any_of(y.begin(), y.end(), [](float v) { return v == 0.0f; }));
  EXPECT_TRUE(all_close(folded->forward(x).to_vector(), y, 1e-5, 1e-5));
}

TEST(ConvModule, LinearTakesAnyLeadingDimensions) {
  Generator gen(2);
  nn::Linear linear(5, 3, true, &gen);
  const Tensor x = randn({2, 4, 5}, gen);
  const Tensor y = linear.forward(x);
  EXPECT_EQ(y.sizes(), (Shape{2, 4, 3}));
  EXPECT_EQ(y.to_vector(), ops::linear(x.reshape({8, 5}), linear.weight, linear.bias).to_vector());
  const Tensor dy = randn({2, 4, 3}, gen);
  const Tensor dx = linear.backward(dy);
  EXPECT_EQ(dx.sizes(), x.sizes());
  Tensor dw, db;
  EXPECT_EQ(dx.to_vector(),
            ops::linear_backward(dy.reshape({8, 3}), x.reshape({8, 5}), linear.weight, &dw, &db).to_vector());
  EXPECT_EQ(linear.weight.grad().to_vector(), dw.to_vector());
  EXPECT_EQ(linear.forward(randn({5}, gen)).sizes(), (Shape{3}));  // one sample, as PyTorch
  EXPECT_TRUE(throws_with([&] { linear.forward(randn({2, 4}, gen)); }, "cannot be multiplied"));
}

TEST(ConvModule, FoldingBatchNormIntoConvolutionsKeepsEvalOutputs) {
  // Conv -> BN pairs of every rank, also inside Residual blocks, fold into single convolutions; the folded model
  // has no BatchNorm left and gives the same eval outputs.
  Generator gen(17);
  auto conv_bn = [](int64_t in, int64_t out, int64_t k, int64_t stride) {
    return nn::Sequential(nn::Conv2d(nn::ConvOptions(in, out, k).stride(stride).padding(k / 2).bias(false)),
                          nn::BatchNorm2d(out));
  };
  nn::Sequential model(nn::Conv2d(nn::ConvOptions(2, 4, 3).padding(1)), nn::BatchNorm2d(4), nn::ReLU(),
                       nn::Residual(nn::Sequential(conv_bn(4, 6, 3, 2), nn::ReLU(), conv_bn(6, 6, 3, 1)),
                                    conv_bn(4, 6, 1, 2)),
                       nn::ReLU(), nn::AdaptiveAvgPool2d(1), nn::Flatten(), nn::Linear(6, 3));
  nn::Sequential one_d(nn::Conv1d(nn::ConvOptions(3, 5, 3).dilation(2)), nn::BatchNorm1d(5), nn::Tanh());
  for (nn::Sequential* m : {&model, &one_d}) {
    // Training steps give the running statistics values far from their defaults.
    for (int step = 0; step < 3; ++step)
      m->forward(m == &model ? randn({4, 2, 9, 8}, gen) * 3.0 + 1.0 : randn({4, 3, 11}, gen) * 2.0 - 1.0);
    m->eval();
    const Tensor x = m == &model ? randn({3, 2, 9, 8}, gen) : randn({3, 3, 11}, gen);
    const auto folded = nn::fold_batchnorm(*m);
    int batchnorms = 0;
    for (nn::Module* sub : folded->modules()) batchnorms += sub->name().rfind("BatchNorm", 0) == 0;
    EXPECT_EQ(batchnorms, 0);
    EXPECT_TRUE(all_close(folded->forward(x).to_vector(), to_double(m->forward(x)), 1e-5, 1e-5));
  }
  nn::Conv2d conv(2, 3, 3);
  nn::BatchNorm1d wrong(3);
  EXPECT_TRUE(throws_with([&] { nn::fold_conv_batchnorm(conv, wrong); }, "BatchNorm1d cannot follow a Conv2d"));
}

}  // namespace
}  // namespace normrt
