// The layer, loss and optimizer kernels run by the SIMT emulator, against the CPU formulas (nn_math.cuh, the
// same code the CPU path runs: results must be identical bits) and double-precision references.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <iterator>
#include <numeric>
#include <random>
#include <type_traits>

#include "activation.cuh"
#include "device_groups.cuh"
#include "elementwise.cuh"
#include "embedding.cuh"
#include "interpolate.cuh"
#include "norms.cuh"
#include "optimizer.cuh"
#include "pad.cuh"
#include "permute.cuh"
#include "pointwise_loss.cuh"
#include "pooling.cuh"
#include "scatter_gather.cuh"
#include "softmax.cuh"
#include "tensor_ops.cuh"
#include "test_util_core.h"

namespace normrt::emu {
namespace {

using normrt::testing::all_close;
using normrt::testing::same_bits;

std::vector<float> random_vector(std::size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (float& e : v) e = dist(rng);
  return v;
}

// Dropout over channels-last memory: the element at logical index l of an (N, C, S) tensor drops as element l of a
// contiguous one (x's first N C S elements, as (N, S, C) memory).
template <typename T>
void check_channels_last_dropout(const std::vector<T>& x) {
  const int64_t n = 3, c = 7, s = 47;
  ASSERT_GE(static_cast<int64_t>(x.size()), n * c * s);
  std::vector<T> y(static_cast<std::size_t>(n * c * s));
  dropout(x.data(), y.data(), n * c * s, 0.25f, 42, 7, nullptr, c, s, 2, nullptr);
  for (int64_t i = 0; i < n * c * s; ++i) {
    const int64_t image = i / (s * c), position = i / c % s, channel = i % c;
    const auto logical = static_cast<uint64_t>((image * c + channel) * s + position);
    const float kept = static_cast<float>(x[static_cast<std::size_t>(i)]) * static_cast<float>(1.0 / 0.75);
    ASSERT_EQ(static_cast<float>(y[static_cast<std::size_t>(i)]),
              static_cast<float>(T(nnmath::dropout_keep(42, 7, logical, 0.25f) ? kept : 0.0f)))
        << i;
  }
}

template <typename T>
void check_16bit_activations(const std::vector<float>& x_values, const std::vector<float>& dy_values) {
  std::vector<T> x, dy;
  for (float v : x_values) x.push_back(T(v));
  for (float v : dy_values) dy.push_back(T(v));
  for (auto kind : {nnmath::Activation::ReLU, nnmath::Activation::Sigmoid, nnmath::Activation::Tanh}) {
    std::vector<T> y(x.size()), dx(x.size());
    activation_forward(kind, x.data(), y.data(), static_cast<int64_t>(x.size()), 2, nullptr);
    activation_backward(kind, dy.data(), y.data(), dx.data(), static_cast<int64_t>(x.size()), 2, nullptr);
    for (std::size_t i = 0; i < x.size(); ++i) {
      const float yi = static_cast<float>(T(nnmath::activation_forward(kind, static_cast<float>(x[i]))));
      ASSERT_EQ(static_cast<float>(y[i]), yi);
      ASSERT_EQ(static_cast<float>(dx[i]),
                static_cast<float>(T(nnmath::activation_backward(kind, static_cast<float>(dy[i]), yi))));
    }
  }
  std::vector<T> y(x.size());
  dropout(x.data(), y.data(), static_cast<int64_t>(x.size()), 0.25f, 42, 7, nullptr, 0, 0, 2, nullptr);
  for (std::size_t i = 0; i < x.size(); ++i) {
    const float kept = static_cast<float>(x[i]) * static_cast<float>(1.0 / 0.75);
    ASSERT_EQ(y[i].bits, T(nnmath::dropout_keep(42, 7, i, 0.25f) ? kept : 0.0f).bits) << i;
  }
  check_channels_last_dropout(x);
}

class NnKernels : public ::testing::TestWithParam<simt::ResumeOrder> {
 protected:
  void SetUp() override { simt::set_resume_order(GetParam()); }
  void TearDown() override { simt::set_resume_order(simt::ResumeOrder::Forward); }
};

TEST_P(NnKernels, ActivationsAndDropoutEqualTheCpuFormulas) {
  const auto x = random_vector(1001, 1), dy = random_vector(1001, 2);
  for (auto kind : {nnmath::Activation::ReLU, nnmath::Activation::Sigmoid, nnmath::Activation::Tanh}) {
    std::vector<float> y(x.size()), dx(x.size());
    activation_forward(kind, x.data(), y.data(), static_cast<int64_t>(x.size()), 2, nullptr);
    activation_backward(kind, dy.data(), y.data(), dx.data(), static_cast<int64_t>(x.size()), 2, nullptr);
    for (std::size_t i = 0; i < x.size(); ++i) {
      ASSERT_EQ(y[i], nnmath::activation_forward(kind, x[i]));
      ASSERT_EQ(dx[i], nnmath::activation_backward(kind, dy[i], y[i]));
    }
  }
  // 16-bit elements: widened, computed in float, rounded once (the float32 path's results); dropout too.
  check_16bit_activations<Half>(x, dy);
  check_16bit_activations<BFloat16>(x, dy);
  std::vector<float> y(x.size());
  dropout(x.data(), y.data(), static_cast<int64_t>(x.size()), 0.25f, 42, 7, nullptr, 0, 0, 2, nullptr);
  for (std::size_t i = 0; i < x.size(); ++i)
    ASSERT_EQ(y[i], nnmath::dropout_keep(42, 7, i, 0.25f) ? x[i] * static_cast<float>(1.0 / 0.75) : 0.0f);
  check_channels_last_dropout(x);
  // The offset read from device memory (CUDA graphs) instead of the argument.
  const int64_t device_offset = 1234;
  dropout(x.data(), y.data(), static_cast<int64_t>(x.size()), 0.25f, 42, 7, &device_offset, 0, 0, 2, nullptr);
  for (std::size_t i = 0; i < x.size(); ++i)
    ASSERT_EQ(y[i], nnmath::dropout_keep(42, 1234, i, 0.25f) ? x[i] * static_cast<float>(1.0 / 0.75) : 0.0f);
}

// Every kind of activation_math.cuh with its coefficients, on float and 16-bit elements (widened, computed in float,
// rounded once), the special values included; an empty launch does nothing.
template <typename T>
void check_input_activations(const std::vector<float>& x_values, const std::vector<float>& dy_values) {
  using K = nnmath::InputActivation;
  const std::vector<std::pair<K, nnmath::ActivationCoefficients>> kinds = {
      {K::LeakyReLU, {0.2f, 0.0f, 0.0f}}, {K::ELU, {1.7580993f, 1.050701f, 1.0f}}, {K::ELU, {0.5f, 1.0f, 2.0f}},
      {K::GELU, {}}, {K::GELUTanh, {}}, {K::SiLU, {}}, {K::Mish, {}}, {K::Softplus, {2.0f, 3.0f, 0.0f}},
      {K::Hardtanh, {-0.5f, 2.0f, 0.0f}}, {K::Hardswish, {}}, {K::Hardsigmoid, {}}};
  std::vector<T> x, dy;
  for (float v : x_values) x.push_back(T(v));
  for (float v : dy_values) dy.push_back(T(v));
  for (const auto& [kind, k] : kinds) {
    std::vector<T> y(x.size()), dx(x.size());
    input_activation_forward(kind, k, x.data(), y.data(), static_cast<int64_t>(x.size()), 2, nullptr);
    input_activation_backward(kind, k, dy.data(), x.data(), dx.data(), static_cast<int64_t>(x.size()), 2, nullptr);
    for (std::size_t i = 0; i < x.size(); ++i) {
      const float xi = static_cast<float>(x[i]), dyi = static_cast<float>(dy[i]);
      const T expected_y(nnmath::input_activation_forward(kind, k, xi));
      const T expected_dx(nnmath::input_activation_backward(kind, k, dyi, xi));
      ASSERT_EQ(std::memcmp(&y[i], &expected_y, sizeof(T)), 0) << static_cast<int>(kind) << " at " << xi;
      ASSERT_EQ(std::memcmp(&dx[i], &expected_dx, sizeof(T)), 0) << static_cast<int>(kind) << " at " << xi;
    }
    input_activation_forward(kind, k, x.data(), y.data(), 0, 2, nullptr);
    input_activation_backward(kind, k, dy.data(), x.data(), dx.data(), 0, 2, nullptr);
  }
}

TEST_P(NnKernels, InputActivationsEqualTheCpuFormulas) {
  auto x = random_vector(1001, 3, 4.0f);
  const auto dy = random_vector(x.size() + 9, 4);
  for (float v : {0.0f, -3.0f, 3.0f, 2.0f, -0.5f, 1.5f, INFINITY, -INFINITY, NAN}) x.push_back(v);
  check_input_activations<float>(x, dy);
  check_input_activations<Half>(x, dy);
  check_input_activations<BFloat16>(x, dy);
}

// Every elementwise loss (with and without a weight, reduced or not) on the emulator against the CPU's formulas, the
// switch points and special values included; an empty launch does nothing.
TEST_P(NnKernels, PointwiseLossesEqualTheCpuFormulas) {
  using L = lossmath::PointwiseLoss;
  auto x = random_vector(777, 5, 2.0f), t = random_vector(777, 6, 2.0f);
  std::vector<float> px, pt;  // probabilities for binary cross-entropy
  for (std::size_t i = 0; i < x.size(); ++i) {
    px.push_back(0.5f + 0.5f * std::tanh(x[i]));
    pt.push_back(0.5f + 0.5f * std::tanh(t[i]));
  }
  const std::vector<std::pair<float, float>> specials = {{1.0f, 1.0f}, {1.5f, 0.5f}, {-0.5f, 0.5f}, {NAN, 0.0f},
                                                         {INFINITY, 1.0f}, {0.0f, 1.0f}, {1.0f, 0.0f}, {1e-30f, 0.3f}};
  for (const auto& [a, b] : specials) {
    x.push_back(a);
    t.push_back(b);
    px.push_back(std::fabs(a) <= 1.0f ? std::fabs(a) : 0.5f);
    pt.push_back(b);
  }
  const auto weight = random_vector(x.size(), 7);
  const auto n = static_cast<int64_t>(x.size());
  for (const auto& [kind, parameter] : std::vector<std::pair<L, float>>{
           {L::SquaredError, 0.0f}, {L::L1, 0.0f}, {L::SmoothL1, 1.0f}, {L::SmoothL1, 0.0f}, {L::Huber, 1.0f},
           {L::BinaryCrossEntropy, 0.0f}, {L::KLDivergence, 0.0f}, {L::KLDivergenceLogTarget, 0.0f}}) {
    for (bool mean : {false, true}) {
      for (bool weighted : {false, true}) {
        if (weighted && kind != L::BinaryCrossEntropy) continue;
        lossmath::PointwiseLossParams p;
        p.kind = kind;
        p.parameter = parameter;
        p.norm = mean ? 1.0f / static_cast<float>(n) : 1.0f;
        p.divisor = mean ? static_cast<float>(n) : 1.0f;
        const bool bce = kind == L::BinaryCrossEntropy;
        const std::vector<float>& xs = bce ? px : x;
        const std::vector<float>& ts = bce || kind == L::KLDivergence ? pt : t;  // KL: against probabilities
        std::vector<float> losses(x.size()), grad(x.size());
        pointwise_loss(p, xs.data(), ts.data(), weighted ? weight.data() : nullptr, losses.data(), grad.data(), n, 2,
                       nullptr);
        for (std::size_t i = 0; i < x.size(); ++i) {
          const float w = weighted ? weight[i] : 1.0f;
          const float expected_loss = lossmath::pointwise_loss(p, xs[i], ts[i], w);
          const float expected_grad = lossmath::pointwise_loss_grad(p, xs[i], ts[i], w);
          ASSERT_EQ(std::memcmp(&losses[i], &expected_loss, sizeof(float)), 0) << static_cast<int>(kind) << " " << i;
          ASSERT_EQ(std::memcmp(&grad[i], &expected_grad, sizeof(float)), 0) << static_cast<int>(kind) << " " << i;
        }
        pointwise_loss(p, xs.data(), ts.data(), nullptr, losses.data(), grad.data(), 0, 2, nullptr);
      }
    }
  }
}

// PReLU's kernels on the emulator against the CPU's formulas, for each element type, both layouts and a shared
// weight; an empty launch does nothing.
template <typename T>
void check_prelu(const nnmath::PReLUChannels& g, const std::vector<float>& x_values, const std::vector<float>& w) {
  std::vector<T> x, dy;
  for (float v : x_values) x.push_back(T(v));
  for (float v : x_values) dy.push_back(T(0.5f - v));
  const auto n = static_cast<int64_t>(x.size());
  std::vector<T> y(x.size()), dx(x.size());
  std::vector<float> terms(x.size());
  prelu_forward(g, x.data(), w.data(), y.data(), n, 2, nullptr);
  prelu_backward(g, dy.data(), x.data(), w.data(), dx.data(), terms.data(), n, 2, nullptr);
  for (int64_t i = 0; i < n; ++i) {
    const auto k = static_cast<std::size_t>(i);
    const float wi = w[static_cast<std::size_t>(nnmath::prelu_channel(g, i))];
    const float xi = static_cast<float>(x[k]), dyi = static_cast<float>(dy[k]);
    const T expected_y(nnmath::prelu_forward(xi, wi)), expected_dx(nnmath::prelu_input_grad(dyi, xi, wi));
    const float expected_term = nnmath::prelu_weight_term(dyi, xi);
    ASSERT_EQ(std::memcmp(&y[k], &expected_y, sizeof(T)), 0) << i;
    ASSERT_EQ(std::memcmp(&dx[k], &expected_dx, sizeof(T)), 0) << i;
    ASSERT_EQ(std::memcmp(&terms[k], &expected_term, sizeof(float)), 0) << i;
  }
  prelu_forward(g, x.data(), w.data(), y.data(), 0, 2, nullptr);
  prelu_backward(g, dy.data(), x.data(), w.data(), dx.data(), terms.data(), 0, 2, nullptr);
}

TEST_P(NnKernels, PReLUEqualsTheCpuFormulas) {
  auto x = random_vector(2 * 3 * 35, 8, 2.0f);
  x[0] = 0.0f;
  x[1] = NAN;
  const std::vector<float> w = {0.25f, -0.5f, 1.5f};
  nnmath::PReLUChannels contiguous, channels_last, shared;
  contiguous.channels = channels_last.channels = 3;
  contiguous.spatial = channels_last.spatial = 35;
  contiguous.shared = channels_last.shared = false;
  channels_last.channels_last = true;
  for (const auto& g : {contiguous, channels_last, shared}) {
    check_prelu<float>(g, x, w);
    check_prelu<Half>(g, x, w);
    check_prelu<BFloat16>(g, x, w);
  }
}

// The permutation gather on the emulator, every element size, against permute_source (the CPU's index arithmetic):
// (2, 3, 4, 5) -> (0, 2, 3, 1) and a 6-dimensional view (pixel_shuffle's); an empty launch does nothing.
template <typename T>
void check_permute(const permmath::PermuteGeometry& g) {
  std::vector<T> in(static_cast<std::size_t>(g.numel)), out(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) in[i] = static_cast<T>(i * 7 + 3);
  permute_copy(g, in.data(), out.data(), 2, nullptr);
  for (int64_t i = 0; i < g.numel; ++i)
    ASSERT_EQ(out[static_cast<std::size_t>(i)], in[static_cast<std::size_t>(permmath::permute_source(g, i))]) << i;
  permmath::PermuteGeometry none = g;
  none.numel = 0;
  permute_copy(none, in.data(), out.data(), 2, nullptr);
}

TEST_P(NnKernels, PermutationsEqualTheIndexFormula) {
  permmath::PermuteGeometry nhwc;  // (2, 3, 4, 5) permuted to (0, 2, 3, 1): sizes (2, 4, 5, 3)
  nhwc.dims = 4;
  nhwc.numel = 120;
  const int64_t sizes[] = {2, 4, 5, 3}, strides[] = {60, 5, 1, 20};
  for (int d = 0; d < 4; ++d) {
    nhwc.out_sizes[d] = sizes[d];
    nhwc.source_strides[d] = strides[d];
  }
  permmath::PermuteGeometry shuffle;  // (1, 2, 2, 2, 3, 2) permuted by (0, 1, 4, 2, 5, 3)
  shuffle.dims = 6;
  shuffle.numel = 48;
  const int64_t view_strides[] = {48, 24, 12, 6, 2, 1}, view_sizes[] = {1, 2, 2, 2, 3, 2}, order[] = {0, 1, 4, 2, 5, 3};
  for (int d = 0; d < 6; ++d) {
    shuffle.out_sizes[d] = view_sizes[order[d]];
    shuffle.source_strides[d] = view_strides[order[d]];
  }
  for (const auto& g : {nhwc, shuffle}) {
    check_permute<uint8_t>(g);
    check_permute<uint16_t>(g);
    check_permute<uint32_t>(g);
    check_permute<uint64_t>(g);
  }
}

// A geometry of (batch, channels, spatial) to (batch, channels, out) in one layout, the axes' steps as PyTorch's
// in / out (align_corners: (in - 1) / (out - 1)).
imath::Geometry interpolation(imath::Mode mode, int64_t batch, int64_t channels, const std::vector<int64_t>& in,
                              const std::vector<int64_t>& out, bool align_corners, bool channels_last) {
  imath::Geometry g;
  g.mode = mode;
  g.first_axis = imath::kMaxAxes - static_cast<int>(in.size());
  g.batch = batch;
  g.channels = channels;
  g.channels_last = channels_last;
  for (std::size_t d = 0; d < in.size(); ++d) {
    imath::Axis& a = g.axis[g.first_axis + static_cast<int>(d)];
    a.in = in[d];
    a.out = out[d];
    a.align_corners = align_corners;
    a.step = align_corners ? (a.out > 1 ? static_cast<float>(a.in - 1) / static_cast<float>(a.out - 1) : 0.0f)
                           : static_cast<float>(a.in) / static_cast<float>(a.out);
  }
  auto strides = [&](bool output, int64_t* stride) {
    int64_t inner = channels_last ? channels : 1;
    for (int d = imath::kMaxAxes - 1; d >= 0; --d) {
      stride[2 + d] = inner;
      inner *= output ? g.axis[d].out : g.axis[d].in;
    }
    const int64_t plane = inner / (channels_last ? channels : 1);
    stride[1] = channels_last ? 1 : plane;
    stride[0] = channels * plane;
  };
  strides(false, g.in_stride);
  strides(true, g.out_stride);
  return g;
}

// Every mode, one to three axes, both layouts: the kernels give interpolate_math's bits, forward and backward; an
// empty launch does nothing.
TEST_P(NnKernels, InterpolationEqualsTheCpuFormulas) {
  struct Case {
    imath::Mode mode;
    std::vector<int64_t> in, out;
    bool align_corners, channels_last;
  };
  using M = imath::Mode;
  const std::vector<Case> cases = {
      {M::Nearest, {5}, {7}, false, false},         {M::Nearest, {4, 5}, {8, 10}, false, true},
      {M::Nearest, {4, 6}, {4, 3}, false, false},   {M::NearestExact, {5, 4}, {8, 3}, false, true},
      {M::Linear, {6}, {11}, true, false},          {M::Linear, {5, 4}, {9, 7}, false, true},
      {M::Linear, {5, 4}, {5, 1}, true, false},     {M::Linear, {3, 4, 3}, {5, 6, 4}, false, true},
      {M::NearestExact, {2, 3, 4}, {3, 5, 2}, false, false}, {M::Cubic, {5, 4}, {9, 7}, false, false},
      {M::Cubic, {5, 4}, {3, 9}, true, true},       {M::Cubic, {1, 3}, {4, 2}, false, false}};
  for (const Case& c : cases) {
    const imath::Geometry g = interpolation(c.mode, 2, 3, c.in, c.out, c.align_corners, c.channels_last);
    int64_t in_n = 6, out_n = 6;
    for (int64_t v : c.in) in_n *= v;
    for (int64_t v : c.out) out_n *= v;
    const auto x = random_vector(static_cast<std::size_t>(in_n), 5);
    const auto dy = random_vector(static_cast<std::size_t>(out_n), 6);
    std::vector<float> y(static_cast<std::size_t>(out_n)), dx(static_cast<std::size_t>(in_n));
    interpolate_forward({g, x.data(), y.data()}, 2, nullptr);
    interpolate_backward({g, dy.data(), dx.data()}, 2, nullptr);
    for (int64_t i = 0; i < out_n; ++i)
      ASSERT_EQ(y[static_cast<std::size_t>(i)], imath::interpolate_element(g, x.data(), i)) << i;
    for (int64_t i = 0; i < in_n; ++i)
      ASSERT_EQ(dx[static_cast<std::size_t>(i)], imath::interpolate_gradient_element(g, dy.data(), i)) << i;
  }
  imath::Geometry empty = interpolation(imath::Mode::Nearest, 0, 3, {4}, {8}, false, false);
  interpolate_forward({empty, nullptr, nullptr}, 2, nullptr);
  interpolate_backward({empty, nullptr, nullptr}, 2, nullptr);
}

TEST_P(NnKernels, BroadcastArithmeticEqualsTheCpuFormula) {
  // (N, C, H, W) against a per-channel (C, 1, 1) operand, a scalar, a row, and in place (out == a).
  struct Case {
    tmath::Broadcast p;
    std::size_t a_size, b_size;
  };
  auto make = [](std::initializer_list<int64_t> sizes, std::initializer_list<int64_t> a,
                 std::initializer_list<int64_t> b) {
    tmath::Broadcast p;
    p.ndim = static_cast<int>(sizes.size());
    p.numel = 1;
    int d = 0;
    for (int64_t s : sizes) p.sizes[d++] = s, p.numel *= s;
    d = 0;
    for (int64_t s : a) p.a_strides[d++] = s;
    d = 0;
    for (int64_t s : b) p.b_strides[d++] = s;
    return p;
  };
  const std::vector<Case> cases = {
      {make({2, 3, 5, 7}, {105, 35, 7, 1}, {0, 1, 0, 0}), 210, 3},   // per channel
      {make({4, 300}, {300, 1}, {0, 0}), 1200, 1},                   // scalar, more elements than threads
      {make({6, 9}, {0, 1}, {9, 1}), 9, 54},                         // the first operand broadcast
      {make({2, 3, 4, 2, 3}, {72, 24, 6, 3, 1}, {0, 0, 6, 3, 1}), 144, 24}};
  // Every element type: 16-bit values widened, computed in float, rounded once (the float32 path's results).
  const auto check = [](const Case& c, auto element) {
    using T = decltype(element);
    std::vector<T> a, b;
    for (float v : random_vector(c.a_size, 5, 100.0f)) a.push_back(T(v));
    for (float v : random_vector(c.b_size, 6, 3.0f)) b.push_back(T(v));
    for (auto op : {tmath::Binary::Add, tmath::Binary::Sub, tmath::Binary::Mul, tmath::Binary::Div,
                    tmath::Binary::Maximum, tmath::Binary::Minimum, tmath::Binary::Pow}) {
      std::vector<T> out(static_cast<std::size_t>(c.p.numel));
      binary(op, a.data(), b.data(), out.data(), c.p, 2, nullptr);
      for (int64_t i = 0; i < c.p.numel; ++i) {
        int64_t ia, ib;
        tmath::broadcast_offsets(c.p, i, ia, ib);
        const T expected(tmath::apply(op, static_cast<float>(a[static_cast<std::size_t>(ia)]),
                                      static_cast<float>(b[static_cast<std::size_t>(ib)])));
        ASSERT_TRUE(same_bits({static_cast<float>(out[static_cast<std::size_t>(i)])}, {static_cast<float>(expected)}))
            << static_cast<int>(op) << " at " << i;
      }
    }
  };
  for (const auto& c : cases) {
    check(c, float{});
    check(c, Half{});
    check(c, BFloat16{});
  }
  // int64: the wrapping sums, differences and products of large values, against unsigned arithmetic.
  for (const auto& c : cases) {
    std::vector<int64_t> a, b;
    for (float v : random_vector(c.a_size, 5, 1.0f)) a.push_back(static_cast<int64_t>(v * 9.2e18f));
    for (float v : random_vector(c.b_size, 6, 1.0f)) b.push_back(static_cast<int64_t>(v * 4e9f));
    for (auto op : {tmath::Binary::Add, tmath::Binary::Sub, tmath::Binary::Mul, tmath::Binary::Maximum,
                    tmath::Binary::Minimum}) {
      std::vector<int64_t> out(static_cast<std::size_t>(c.p.numel));
      binary(op, a.data(), b.data(), out.data(), c.p, 2, nullptr);
      for (int64_t i = 0; i < c.p.numel; ++i) {
        int64_t ia, ib;
        tmath::broadcast_offsets(c.p, i, ia, ib);
        const int64_t sa = a[static_cast<std::size_t>(ia)], sb = b[static_cast<std::size_t>(ib)];
        const auto x = static_cast<uint64_t>(sa), y = static_cast<uint64_t>(sb);
        const uint64_t wrapped = op == tmath::Binary::Add ? x + y : op == tmath::Binary::Sub ? x - y : x * y;
        const int64_t expected = op == tmath::Binary::Maximum   ? std::max(sa, sb)
                                 : op == tmath::Binary::Minimum ? std::min(sa, sb)
                                                                : static_cast<int64_t>(wrapped);
        ASSERT_EQ(out[static_cast<std::size_t>(i)], expected) << i;
      }
    }
  }
  // int64 powers: by repeated multiplication, wrapping; a negative power is 1 for 1, +-1 for -1 and 0 otherwise.
  for (const auto& c : cases) {
    std::vector<int64_t> a, b;
    for (float v : random_vector(c.a_size, 5, 9.0f)) a.push_back(static_cast<int64_t>(v));
    for (float v : random_vector(c.b_size, 6, 45.0f)) b.push_back(static_cast<int64_t>(v));
    std::vector<int64_t> out(static_cast<std::size_t>(c.p.numel));
    binary(tmath::Binary::Pow, a.data(), b.data(), out.data(), c.p, 2, nullptr);
    for (int64_t i = 0; i < c.p.numel; ++i) {
      int64_t ia, ib;
      tmath::broadcast_offsets(c.p, i, ia, ib);
      const int64_t base = a[static_cast<std::size_t>(ia)], exponent = b[static_cast<std::size_t>(ib)];
      uint64_t product = 1;
      for (int64_t k = 0; k < exponent; ++k) product *= static_cast<uint64_t>(base);
      const int64_t expected = exponent >= 0 ? static_cast<int64_t>(product)
                               : base == 1   ? 1
                               : base == -1  ? (exponent % 2 != 0 ? -1 : 1)
                                             : 0;
      ASSERT_EQ(out[static_cast<std::size_t>(i)], expected) << base << " ^ " << exponent;
    }
  }
  auto in_place = random_vector(210, 7);
  const auto expected = in_place;
  const auto scale = random_vector(3, 8);
  binary(tmath::Binary::Mul, in_place.data(), scale.data(), in_place.data(), cases[0].p, 2, nullptr);
  for (std::size_t i = 0; i < in_place.size(); ++i) ASSERT_EQ(in_place[i], expected[i] * scale[(i / 35) % 3]);
  tmath::Broadcast empty;  // nothing to do: no launch
  binary<float>(tmath::Binary::Add, nullptr, nullptr, nullptr, empty, 2, nullptr);
}

TEST_P(NnKernels, ElementwiseFunctionsEqualTheCpuFormula) {
  // More elements than the grid's threads, so that the grid-stride loop wraps; in place too.
  constexpr std::size_t n = 3000;
  auto values = random_vector(n, 11, 6.0f);
  const float far_angles[] = {105615.0f, -1e10f, 3e38f, 8.70205924e13f, INFINITY, NAN};  // sin's other reduction
  for (std::size_t k = 0; k < std::size(far_angles); ++k) values[k * 97] = far_angles[k];
  const auto check = [&](auto element) {
    using T = decltype(element);
    std::vector<T> x;
    for (float v : values) x.push_back(T(v));
    for (auto op : {tmath::Unary::Neg,   tmath::Unary::Abs,           tmath::Unary::Sqrt,  tmath::Unary::Exp,
                    tmath::Unary::Log,   tmath::Unary::Clamp,         tmath::Unary::Pow,   tmath::Unary::Square,
                    tmath::Unary::Cube,  tmath::Unary::InverseSquare, tmath::Unary::Rsqrt, tmath::Unary::Reciprocal,
                    tmath::Unary::Log1p, tmath::Unary::Expm1,         tmath::Unary::Log2,  tmath::Unary::Log10,
                    tmath::Unary::Exp2,  tmath::Unary::Sigmoid,       tmath::Unary::Tanh,  tmath::Unary::Erf,
                    tmath::Unary::Erfc,  tmath::Unary::Sin,           tmath::Unary::Cos,   tmath::Unary::Tan})
      for (const float exponent : {1.7f, -3.0f}) {  // Clamp's bounds beside Pow's exponent
        const tmath::UnaryArgs<float> args{-1.25f, 2.5f, exponent};
        std::vector<T> y(n), in_place = x;
        unary(op, x.data(), y.data(), static_cast<int64_t>(n), args, 2, nullptr);
        unary(op, in_place.data(), in_place.data(), static_cast<int64_t>(n), args, 2, nullptr);
        for (std::size_t i = 0; i < n; ++i) {
          const float expected = static_cast<float>(T(tmath::apply(op, static_cast<float>(x[i]), args)));
          ASSERT_TRUE(same_bits({static_cast<float>(y[i])}, {expected})) << static_cast<int>(op) << " at " << i;
          ASSERT_TRUE(same_bits({static_cast<float>(in_place[i])}, {expected})) << static_cast<int>(op) << " at " << i;
        }
      }
  };
  check(float{});
  check(Half{});
  check(BFloat16{});
  // int64: negation and absolute value wrap at INT64_MIN; clamp compares exactly past 2^53.
  std::vector<int64_t> x = {INT64_MIN, INT64_MIN + 1, -7, 0, 9, INT64_MAX, (int64_t{1} << 62) + 1};
  for (float v : values) x.push_back(static_cast<int64_t>(v * 1e3f));
  const tmath::UnaryArgs<int64_t> int_bounds{-(int64_t{1} << 62), int64_t{1} << 62, 3};
  for (auto op : {tmath::Unary::Neg, tmath::Unary::Abs, tmath::Unary::Clamp, tmath::Unary::Pow}) {
    std::vector<int64_t> y(x.size());
    unary(op, x.data(), y.data(), static_cast<int64_t>(x.size()), int_bounds, 2, nullptr);
    for (std::size_t i = 0; i < x.size(); ++i) {
      const auto u = static_cast<uint64_t>(x[i]);
      const int64_t expected = op == tmath::Unary::Neg   ? static_cast<int64_t>(0 - u)
                               : op == tmath::Unary::Abs ? (x[i] < 0 ? static_cast<int64_t>(0 - u) : x[i])
                               : op == tmath::Unary::Pow ? static_cast<int64_t>(u * u * u)
                                                         : std::min(std::max(x[i], int_bounds.lo), int_bounds.hi);
      ASSERT_EQ(y[i], expected) << static_cast<int>(op) << " at " << i;
    }
  }
  unary<float>(tmath::Unary::Exp, nullptr, nullptr, 0, {}, 2, nullptr);  // nothing to do: no launch
}

// sort_lines against std::stable_sort with NaN above every number: lines with ties, NaN and signed zeros, of lengths
// that are and are not powers of two, all of each line and its first half, float and int64.
TEST_P(NnKernels, SortedLinesAreTheStableSortsFirstK) {
  const int64_t outer = 3, inner = 5;
  const auto check = [&](const auto& x, int64_t length) {
    using T = typename std::decay_t<decltype(x)>::value_type;
    for (const bool descending : {false, true})
      for (const int64_t k : {length, (length + 1) / 2}) {
        std::vector<T> values(static_cast<std::size_t>(outer * k * inner));
        std::vector<int64_t> indices(values.size()), scratch(static_cast<std::size_t>(2 * outer * inner * length));
        sort_lines(x.data(), values.data(), indices.data(), scratch.data(), outer, length, inner, k, descending, 2,
                   nullptr);
        for (int64_t o = 0; o < outer; ++o)
          for (int64_t j = 0; j < inner; ++j) {
            const auto at = [&](int64_t r) { return x[static_cast<std::size_t>((o * length + r) * inner + j)]; };
            std::vector<int64_t> order(static_cast<std::size_t>(length));
            std::iota(order.begin(), order.end(), int64_t{0});
            std::stable_sort(order.begin(), order.end(), [&](int64_t p, int64_t q) {
              const T a = at(p), b = at(q);
              if (a != a) return descending && b == b;  // NaN: above every number
              if (b != b) return !descending;
              return descending ? b < a : a < b;
            });
            for (int64_t r = 0; r < k; ++r) {
              const auto out = static_cast<std::size_t>((o * k + r) * inner + j);
              ASSERT_EQ(indices[out], order[static_cast<std::size_t>(r)]) << length << " " << descending << " " << r;
              const T expected = at(indices[out]);
              ASSERT_EQ(std::memcmp(&values[out], &expected, sizeof(T)), 0) << length << " " << descending << " " << r;
            }
          }
      }
  };
  for (const int64_t length : {1, 7, 16, 37}) {
    std::vector<float> x = random_vector(static_cast<std::size_t>(outer * length * inner), 21, 4.0f);
    for (float& v : x) v = std::round(v);  // ties, and zeros of both signs
    for (std::size_t i = 3; i < x.size(); i += 11) x[i] = NAN;
    check(x, length);
    std::vector<int64_t> integers;
    for (float v : x) integers.push_back(v == v ? static_cast<int64_t>(v) * (int64_t{1} << 50) : INT64_MIN);
    check(integers, length);
  }
  sort_lines<float>(nullptr, nullptr, nullptr, nullptr, 0, 4, 3, 4, false, 2, nullptr);  // no lines: no launch
}

// cumulate_lines against running sums and products accumulated here in the same types, over more lines than the
// grid's threads.
TEST_P(NnKernels, CumulativeLinesAccumulateInTheirTypes) {
  const int64_t outer = 3, length = 40, inner = 700;
  const std::vector<float> x = random_vector(static_cast<std::size_t>(outer * length * inner), 23, 1.5f);
  std::vector<int64_t> integers;
  for (float v : x) integers.push_back(static_cast<int64_t>(v * 1e5f));
  for (const bool product : {false, true}) {
    std::vector<float> wide(x.size()), narrow(x.size());
    std::vector<int64_t> wrapped(x.size());
    cumulate_lines<double>(x.data(), wide.data(), outer, length, inner, product, 2, nullptr);
    cumulate_lines<float>(x.data(), narrow.data(), outer, length, inner, product, 2, nullptr);
    cumulate_lines<uint64_t>(integers.data(), wrapped.data(), outer, length, inner, product, 2, nullptr);
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t j = 0; j < inner; ++j) {
        double d = product ? 1 : 0;
        float f = product ? 1 : 0;
        uint64_t u = product ? 1 : 0;
        for (int64_t r = 0; r < length; ++r) {
          const auto at = static_cast<std::size_t>((o * length + r) * inner + j);
          d = product ? d * x[at] : d + x[at];
          f = product ? f * x[at] : f + x[at];
          u = product ? u * static_cast<uint64_t>(integers[at]) : u + static_cast<uint64_t>(integers[at]);
          ASSERT_EQ(wide[at], static_cast<float>(d));
          ASSERT_EQ(narrow[at], f);
          ASSERT_EQ(wrapped[at], static_cast<int64_t>(u));
        }
      }
  }
  cumulate_lines<double, float>(nullptr, nullptr, 0, 4, 3, false, 2, nullptr);  // no lines: no launch
}

// sort_by_row's keys and order and row_bounds' count and offset for `indices` over `rows` (scratch allocated here).
struct Groups {
  std::vector<int64_t> keys, order, count, offset;
};
Groups device_groups(const std::vector<int64_t>& indices, int64_t rows) {
  const auto n = static_cast<int64_t>(indices.size());
  Groups g{{},
           std::vector<int64_t>(indices.size(), -1),
           std::vector<int64_t>(static_cast<std::size_t>(rows), -5),
           std::vector<int64_t>(static_cast<std::size_t>(rows), -5)};
  std::vector<int64_t> scratch(static_cast<std::size_t>(group_scratch_elements(n)), -7);
  const int64_t* keys = sort_by_row(indices.data(), n, rows, scratch.data(), g.order.data(), 2, nullptr);
  g.keys.assign(keys, keys + n);
  row_bounds(keys, n, rows, g.count.data(), g.offset.data(), 2, nullptr);
  return g;
}

// The stable counting sort written out: each row's positions in position order, bad indices left out (sorted last,
// keyed `rows`).
void expect_stable_groups(const std::vector<int64_t>& indices, int64_t rows, const Groups& g) {
  std::vector<int64_t> count(static_cast<std::size_t>(rows)), order, keys;
  for (int64_t k = 0; k < rows; ++k)
    for (std::size_t i = 0; i < indices.size(); ++i)
      if (indices[i] == k) ++count[k], order.push_back(static_cast<int64_t>(i)), keys.push_back(k);
  for (std::size_t i = 0; i < indices.size(); ++i)
    if (indices[i] < 0 || indices[i] >= rows) order.push_back(static_cast<int64_t>(i)), keys.push_back(rows);
  EXPECT_EQ(g.count, count);
  int64_t start = 0;
  for (int64_t k = 0; k < rows; ++k) {
    ASSERT_EQ(g.offset[k], start) << k;
    start += count[k];
  }
  EXPECT_EQ(g.order, order);
  EXPECT_EQ(g.keys, keys);
}

// The grouping over several tiles (the last one partial), one to three radix passes (rows up to 2^8, 2^16, 2^24),
// hot rows, bad indices of every kind (negative, the row count itself, far beyond), no positions, a single row.
TEST_P(NnKernels, DeviceGroupsAreAStableSortOfThePositionsByRow) {
  std::mt19937 rng(11);
  for (const int64_t rows : {int64_t{1}, int64_t{255}, int64_t{300}, int64_t{70000}}) {
    for (const int64_t n : {int64_t{0}, int64_t{1}, int64_t{5000}}) {
      std::vector<int64_t> indices(static_cast<std::size_t>(n));
      for (auto& k : indices) {
        const unsigned pick = rng() % 10;
        k = pick < 3    ? rows / 2
            : pick == 3 ? -1
            : pick == 4 ? rows
            : pick == 5 ? int64_t{1} << 40
                        : static_cast<int64_t>(rng() % rows);
      }
      expect_stable_groups(indices, rows, device_groups(indices, rows));
    }
  }
  row_bounds(nullptr, 4, 0, nullptr, nullptr, 2, nullptr);  // no rows: no launch
}

// Row lookups on the emulator: for two tables side by side (index_select's outer dimension), each row's sum against
// PyTorch's CPU loop (position by position into the rows) and the lookup with the rows of bad indices filled;
// max_norm renormalises exactly the rows looked up.
template <typename T>
void check_row_sums(const std::vector<float>& grad_values, const std::vector<int64_t>& indices, int64_t rows,
                    int64_t columns, const std::vector<int64_t>& count, const std::vector<int64_t>& offset,
                    const std::vector<int64_t>& order) {
  const int64_t outer = 2, n = static_cast<int64_t>(indices.size());
  std::vector<T> grad;
  for (const float v : grad_values) grad.push_back(T(v));
  for (const bool scale : {false, true}) {
    std::vector<T> out(static_cast<std::size_t>(outer * rows * columns), T(7.0f)), expected(out.size(), T(0.0f));
    embedding_backward<T>(EmbeddingBackwardParams{grad.data(), out.data(), count.data(), offset.data(), order.data(),
                                                  outer, n, rows, columns, 4, scale},
                          2, nullptr);
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t i = 0; i < n; ++i) {
        const int64_t k = indices[i];
        if (k < 0 || k >= rows || k == 4) continue;
        const float alpha = embmath::gradient_scale<T>(count[k], scale);
        for (int64_t c = 0; c < columns; ++c) {
          T& sum = expected[(o * rows + k) * columns + c];
          sum = embmath::accumulate(sum, grad[(o * n + i) * columns + c], alpha);
        }
      }
    for (std::size_t e = 0; e < out.size(); ++e)
      ASSERT_EQ(static_cast<float>(out[e]), static_cast<float>(expected[e])) << e << (scale ? " scaled" : "");
  }
}

// lookup_rows of elements of T (bit patterns), outer tables side by side; bad indices give `fill`.
template <typename T>
void check_lookup(const std::vector<int64_t>& indices, int64_t outer, int64_t rows, int64_t columns) {
  const auto n = static_cast<int64_t>(indices.size());
  std::vector<T> table(static_cast<std::size_t>(outer * rows * columns));
  std::vector<T> out(static_cast<std::size_t>(outer * n * columns));
  for (std::size_t e = 0; e < table.size(); ++e) table[e] = static_cast<T>(e * 2654435761u + 1);
  const T fill = static_cast<T>(0xdeadbeefu);
  lookup_rows(table.data(), outer, rows, columns, indices.data(), n, fill, out.data(), 2, nullptr);
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < n; ++i)
      for (int64_t c = 0; c < columns; ++c) {
        const int64_t k = indices[i];
        ASSERT_EQ(out[(o * n + i) * columns + c], k >= 0 && k < rows ? table[(o * rows + k) * columns + c] : fill)
            << o << " " << i;
      }
}

// embedding_renorm of T against embmath::renorm_row on the rows looked up (count > 0).
template <typename T>
void check_renorm(const std::vector<float>& values, const std::vector<int64_t>& count, int64_t rows, int64_t columns) {
  std::vector<T> renormed, expected;
  for (int64_t e = 0; e < rows * columns; ++e) renormed.push_back(T(values[e]));
  expected = renormed;
  embedding_renorm(renormed.data(), rows, columns, count.data(), 1.5, 2.0, 2, nullptr);
  for (int64_t k = 0; k < rows; ++k)
    if (count[k] > 0) embmath::renorm_row(expected.data() + k * columns, columns, 1.5, 2.0);
  int64_t changed = 0;
  for (int64_t e = 0; e < rows * columns; ++e) {
    ASSERT_EQ(static_cast<float>(renormed[e]), static_cast<float>(expected[e])) << e;
    changed += static_cast<float>(renormed[e]) != static_cast<float>(T(values[e]));
  }
  EXPECT_GT(changed, 0);  // some rows were longer than 1.5
}

// embedding_bag<T>: each element embmath::bag_element of its bag (bounds clamped to [0, n]: the last bag's end past
// the input, a bag starting before 0), each bag's size and its positions' bag, every mode with and without
// per-sample weights and padding; a bad index reads NaN.
template <typename T>
void check_bags(const std::vector<float>& values, const std::vector<int64_t>& indices, int64_t rows, int64_t columns) {
  const std::vector<int64_t> bounds = {-3, 0, 4, 4, 9, 30, 38, 60};  // 7 bags: clamped, empty, past the input
  const int64_t n = static_cast<int64_t>(indices.size()), bags = static_cast<int64_t>(bounds.size()) - 1;
  std::vector<T> weight, scales;
  for (int64_t e = 0; e < rows * columns; ++e) weight.push_back(T(values[e]));
  for (int64_t p = 0; p < n; ++p) scales.push_back(T(values[p] - 0.5f));
  for (const auto mode : {embmath::BagMode::Sum, embmath::BagMode::Mean, embmath::BagMode::Max})
    for (const int64_t padding : {int64_t{-1}, int64_t{6}})
      for (const bool weighted : {false, true}) {
        if (weighted && mode != embmath::BagMode::Sum) continue;
        std::vector<T> out(static_cast<std::size_t>(bags * columns));
        std::vector<int64_t> arg(out.size()), size(static_cast<std::size_t>(bags)), bag_of(indices.size(), -7);
        const T* weights = weighted ? scales.data() : nullptr;
        int64_t* rows_of_max = mode == embmath::BagMode::Max ? arg.data() : nullptr;
        embedding_bag<T>(EmbeddingBagParams{weight.data(), indices.data(), bounds.data(), weights, out.data(),
                                            rows_of_max, size.data(), bag_of.data(), rows, columns, n, bags, padding,
                                            mode, padding < 0},
                         2, nullptr);
        for (int64_t b = 0; b < bags; ++b) {
          const int64_t begin = std::clamp<int64_t>(bounds[b], 0, n);
          const int64_t end = std::clamp<int64_t>(bounds[b + 1], begin, n);
          int64_t kept = 0;
          for (int64_t q = begin; q < end; ++q) {
            ASSERT_EQ(bag_of[q], b) << q;
            kept += indices[q] != padding;
          }
          ASSERT_EQ(size[b], kept) << b;
          for (int64_t c = 0; c < columns; ++c) {
            int64_t best;
            const T want =
                embmath::bag_element(weight.data(), rows, columns, indices.data(), begin, end,
                                     weighted ? scales.data() : nullptr, mode, padding, padding < 0, c, &best);
            const float got = static_cast<float>(out[b * columns + c]);
            ASSERT_TRUE(got == static_cast<float>(want) || (std::isnan(got) && std::isnan(static_cast<float>(want))))
                << static_cast<int>(mode) << " bag " << b << " column " << c;
            if (mode == embmath::BagMode::Max) ASSERT_EQ(arg[b * columns + c], best) << b << " " << c;
          }
        }
        for (int64_t q = std::clamp<int64_t>(bounds.back(), 0, n); q < n; ++q) ASSERT_EQ(bag_of[q], -7) << q;
      }
}

TEST_P(NnKernels, RowLookupKernelsGroupPositionsStablyAndSumInOrder) {
  const int64_t rows = 23, columns = 5, n = 700, outer = 2;
  std::mt19937 rng(5);
  std::vector<int64_t> indices(static_cast<std::size_t>(n));
  for (auto& k : indices) k = rng() % 3 == 0 ? 6 : static_cast<int64_t>(rng() % (rows + 2)) - 1;  // -1 and 23 bad
  const Groups groups = device_groups(indices, rows);
  expect_stable_groups(indices, rows, groups);
  const std::vector<int64_t>&count = groups.count, &offset = groups.offset, &order = groups.order;

  const std::vector<float> grad = random_vector(static_cast<std::size_t>(outer * n * columns), 31);
  check_row_sums<float>(grad, indices, rows, columns, count, offset, order);
  check_row_sums<Half>(grad, indices, rows, columns, count, offset, order);
  check_row_sums<BFloat16>(grad, indices, rows, columns, count, offset, order);

  check_lookup<uint8_t>(indices, outer, rows, columns);  // bool tables
  check_lookup<uint16_t>(indices, outer, rows, columns);
  check_lookup<uint32_t>(indices, outer, rows, columns);
  check_lookup<uint64_t>(indices, outer, rows, columns);
  const std::vector<float> weight = random_vector(static_cast<std::size_t>(rows * columns), 37, 2.0f);
  check_renorm<float>(weight, count, rows, columns);
  check_renorm<Half>(weight, count, rows, columns);
  check_renorm<BFloat16>(weight, count, rows, columns);
  std::vector<int64_t> bagged(indices.begin(), indices.begin() + 50);  // -1 and 23 read NaN
  bagged[12] = 6;                                                      // ties in the max: the same row twice in one bag
  check_bags<float>(weight, bagged, rows, columns);
  check_bags<Half>(weight, bagged, rows, columns);
  check_bags<BFloat16>(weight, bagged, rows, columns);

  lookup_rows<uint32_t>(nullptr, outer, rows, 0, nullptr, n, 0u, nullptr, 2, nullptr);
  embedding_backward<float>(
      EmbeddingBackwardParams{nullptr, nullptr, nullptr, nullptr, nullptr, 0, n, 3, 3, -1, false}, 2, nullptr);
  embedding_renorm<float>(nullptr, 0, 3, nullptr, 1.0, 2.0, 2, nullptr);
  embedding_bag<float>(EmbeddingBagParams{nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, rows,
                                          columns, 0, 0, -1, embmath::BagMode::Sum, true},
                       2, nullptr);  // no bags: no launch
}

// The assigning scatter of T on self (3, 4, 5) from src (4, 52, 2) at index (3, 50, 2) along dim 1, against each
// position applied in index order with scatter_gather_math.cuh's offsets (bad indices left out).
template <typename T>
void check_scatter(const scattermath::Geometry& g, const std::vector<int64_t>& index, int64_t elements,
                   const Groups& sorted) {
  std::vector<T> self, src;
  const auto value = [](int64_t e, uint64_t salt) {  // integers: bit patterns whose int64 sums wrap
    if constexpr (std::is_integral_v<T>)
      return static_cast<T>((static_cast<uint64_t>(e) * 2654435761u + salt) << 33 | static_cast<uint64_t>(e));
    else
      return T(static_cast<float>((e * 37 + static_cast<int64_t>(salt)) % 101) / 8.0f - 3.25f);
  };
  for (int64_t e = 0; e < elements; ++e) self.push_back(value(e, 1));
  for (int64_t e = 0; e < 4 * 52 * 2; ++e) src.push_back(value(e, 5));
  std::vector<T> expected = self;
  for (int64_t p = 0; p < g.n; ++p)
    if (scattermath::in_range(g, index[p])) {
      T& element = expected[scattermath::target_offset(g, p, index[p])];
      element = src[scattermath::source_offset(g, p)];
    }
  scatter_assign<T>(ScatterParams{self.data(), src.data(), sorted.keys.data(), sorted.order.data(), elements, g}, 2,
                    nullptr);
  for (int64_t e = 0; e < elements; ++e) ASSERT_EQ(std::memcmp(&self[e], &expected[e], sizeof(T)), 0) << e;
}

// scatter_reduce<T> by `reduce` from the element or its identity, against the CPU's passes over the positions in
// index order: the identity filled in first without include_self, the values reduced in, a mean's count kept in T
// beside and divided by at the end.
template <typename T>
void check_scatter_reduce(const scattermath::Geometry& g, const std::vector<int64_t>& index, int64_t elements,
                          const Groups& sorted, scattermath::Reduce reduce, bool include_self) {
  std::vector<T> self, src;
  const auto value = [reduce](int64_t e, uint64_t salt) {  // integers wrap in sums and products
    if constexpr (std::is_integral_v<T>)
      return reduce == scattermath::Reduce::Mean
                 ? static_cast<T>((static_cast<int64_t>(salt) + e * 7919) % 2001 - 1000)
                 : static_cast<T>((static_cast<uint64_t>(e) * 2654435761u + salt) << 33 | static_cast<uint64_t>(e));
    else
      return T(static_cast<float>((e * 37 + static_cast<int64_t>(salt)) % 101) / 64.0f - 0.4f);
  };
  for (int64_t e = 0; e < elements; ++e) self.push_back(value(e, 1));
  for (int64_t e = 0; e < 4 * 52 * 2; ++e) src.push_back(value(e, 5));
  std::vector<T> expected = self, counts(static_cast<std::size_t>(elements), T(include_self ? 1 : 0));
  for (int64_t p = 0; p < g.n && !include_self; ++p)
    if (scattermath::in_range(g, index[p]))
      expected[scattermath::target_offset(g, p, index[p])] = scattermath::identity<T>(reduce);
  for (int64_t p = 0; p < g.n; ++p)
    if (scattermath::in_range(g, index[p])) {
      const int64_t e = scattermath::target_offset(g, p, index[p]);
      expected[e] = scattermath::combine(reduce, expected[e], src[scattermath::source_offset(g, p)]);
      counts[e] = scattermath::add(counts[e], T(1));
    }
  for (int64_t e = 0; e < elements && reduce == scattermath::Reduce::Mean; ++e)
    if (static_cast<float>(counts[e]) != 0.0f) expected[e] = scattermath::mean_of(expected[e], counts[e]);
  ScatterParams params{self.data(), src.data(), sorted.keys.data(), sorted.order.data(), elements, g};
  params.reduce = reduce;
  params.include_self = include_self;
  scatter_reduce<T>(params, 2, nullptr);
  for (int64_t e = 0; e < elements; ++e)
    ASSERT_EQ(std::memcmp(&self[e], &expected[e], sizeof(T)), 0)
        << "reduce " << static_cast<int>(reduce) << " include_self " << include_self << " at " << e;
}

template <typename T>
void check_gather(const scattermath::Geometry& g, const std::vector<int64_t>& index) {
  std::vector<T> input(60), out(static_cast<std::size_t>(g.n));
  for (std::size_t e = 0; e < input.size(); ++e) input[e] = static_cast<T>(e * 2654435761u + 1);
  const T fill = static_cast<T>(0xdeadbeefu);
  gather(input.data(), index.data(), g, fill, out.data(), 2, nullptr);
  for (int64_t p = 0; p < g.n; ++p)
    ASSERT_EQ(out[p], scattermath::in_range(g, index[p]) ? input[scattermath::target_offset(g, p, index[p])] : fill)
        << p;
}

TEST_P(NnKernels, ScatterKernelsApplyEachElementsPositionsInIndexOrder) {
  scattermath::Geometry g;
  g.dims = 3;
  g.dim = 1;
  g.n = 3 * 50 * 2;  // one tile of the sort
  g.bound = 4;
  const int64_t sizes[] = {3, 50, 2}, target[] = {20, 5, 1}, source[] = {104, 2, 1};
  for (int d = 0; d < 3; ++d) g.sizes[d] = sizes[d], g.target_strides[d] = target[d], g.source_strides[d] = source[d];
  std::mt19937 rng(9);
  std::vector<int64_t> index(static_cast<std::size_t>(g.n));
  for (auto& v : index) v = static_cast<int64_t>(rng() % 6) - 1;  // -1 and 4 out of range
  check_gather<uint8_t>(g, index);  // bool tensors
  check_gather<uint16_t>(g, index);
  check_gather<uint32_t>(g, index);
  check_gather<uint64_t>(g, index);

  std::vector<int64_t> targets(index.size(), -7);
  scatter_targets(index.data(), g, targets.data(), 2, nullptr);
  for (int64_t p = 0; p < g.n; ++p)
    ASSERT_EQ(targets[p], scattermath::in_range(g, index[p]) ? scattermath::target_offset(g, p, index[p]) : -1) << p;
  const int64_t elements = 60;
  const Groups sorted = device_groups(targets, elements);

  check_scatter<uint8_t>(g, index, elements, sorted);
  check_scatter<uint16_t>(g, index, elements, sorted);
  check_scatter<uint32_t>(g, index, elements, sorted);
  check_scatter<uint64_t>(g, index, elements, sorted);
  using scattermath::Reduce;
  for (const Reduce reduce : {Reduce::Sum, Reduce::Prod, Reduce::Mean, Reduce::Amax, Reduce::Amin})
    for (const bool include_self : {true, false}) {
      check_scatter_reduce<float>(g, index, elements, sorted, reduce, include_self);
      check_scatter_reduce<Half>(g, index, elements, sorted, reduce, include_self);
      check_scatter_reduce<BFloat16>(g, index, elements, sorted, reduce, include_self);
      check_scatter_reduce<int64_t>(g, index, elements, sorted, reduce, include_self);
    }

  g.n = 0;  // no positions: no launches
  gather<uint32_t>(nullptr, nullptr, g, 0u, nullptr, 2, nullptr);
  scatter_targets(nullptr, g, nullptr, 2, nullptr);
  scatter_reduce<float>(ScatterParams{nullptr, nullptr, nullptr, nullptr, elements, g}, 2, nullptr);
  scatter_assign<uint16_t>(ScatterParams{nullptr, nullptr, nullptr, nullptr, elements, g}, 2, nullptr);
}

TEST_P(NnKernels, ReductionsOverADimensionEqualTheCpuFormula) {
  const int64_t outer = 3, length = 70, inner = 5;  // more outputs than... one thread each; 15 outputs
  auto x = random_vector(static_cast<std::size_t>(outer * length * inner), 9);
  x[static_cast<std::size_t>((1 * length + 40) * inner + 2)] = NAN;  // output (1, 2): NaN is the maximum
  x[static_cast<std::size_t>((2 * length + 0) * inner + 4)] = NAN;   // output (2, 4): NaN first
  for (auto kind : {tmath::Reduce::Sum, tmath::Reduce::Mean, tmath::Reduce::Max, tmath::Reduce::Min}) {
    std::vector<float> out(static_cast<std::size_t>(outer * inner));
    std::vector<int64_t> indices(out.size(), -1);
    const bool extremum = tmath::is_extremum(kind);
    reduce_dim(kind, x.data(), out.data(), extremum ? indices.data() : nullptr, outer, length, inner, 2, nullptr);
    for (int64_t i = 0; i < outer * inner; ++i) {
      float value;
      int64_t index;
      tmath::reduce_line(kind, x.data() + (i / inner) * length * inner + i % inner, length, inner, value, index);
      ASSERT_TRUE(out[static_cast<std::size_t>(i)] == value ||
                  (std::isnan(value) && std::isnan(out[static_cast<std::size_t>(i)])));
      if (extremum) ASSERT_EQ(indices[static_cast<std::size_t>(i)], index);
    }
    if (extremum) {
      EXPECT_EQ(indices[1 * inner + 2], 40);
      EXPECT_EQ(indices[2 * inner + 4], 0);
    }
  }
  reduce_dim<float>(tmath::Reduce::Sum, nullptr, nullptr, nullptr, 0, 4, 3, 2, nullptr);  // no outputs: no launch
}

TEST_P(NnKernels, VariancesOverADimensionEqualTheCpuFormula) {
  const int64_t outer = 3, length = 70, inner = 5;
  auto x = random_vector(static_cast<std::size_t>(outer * length * inner), 12, 3.0f);
  for (float& v : x) v += 1000.0f;
  for (const int64_t correction : {0, 1})
    for (const bool take_sqrt : {false, true}) {
      std::vector<float> out(static_cast<std::size_t>(outer * inner));
      variance_lines(x.data(), out.data(), outer, length, inner, correction, take_sqrt, 2, nullptr);
      for (int64_t i = 0; i < outer * inner; ++i) {
        const float expected = tmath::variance_line(x.data() + (i / inner) * length * inner + i % inner, length, inner,
                                                    correction, take_sqrt);
        ASSERT_EQ(out[static_cast<std::size_t>(i)], expected) << i;
      }
    }
  variance_lines(nullptr, nullptr, 0, 4, 3, 1, false, 2, nullptr);  // no outputs: no launch
}

TEST_P(NnKernels, Int64ReductionsAreExactWrapAroundAndTakeTheFirstExtremum) {
  const int64_t outer = 2, length = 37, inner = 9;
  std::vector<int64_t> x(static_cast<std::size_t>(outer * length * inner));
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<int64_t>((i * 7919) % 23) - 11;  // ties for the maximum
  x[(0 * length + 5) * inner + 3] = int64_t{1} << 62;  // output (0, 3): 3 * 2^62 wraps to -2^62 (+ the rest)
  x[(0 * length + 6) * inner + 3] = int64_t{1} << 62;
  x[(0 * length + 7) * inner + 3] = int64_t{1} << 62;
  for (auto kind : {tmath::Reduce::Sum, tmath::Reduce::Max, tmath::Reduce::Min}) {
    std::vector<int64_t> out(static_cast<std::size_t>(outer * inner)), indices(out.size(), -1);
    reduce_dim(kind, x.data(), out.data(), kind == tmath::Reduce::Sum ? nullptr : indices.data(), outer, length, inner,
               2, nullptr);
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t j = 0; j < inner; ++j) {
        uint64_t sum = 0;
        int64_t best = x[static_cast<std::size_t>(o * length * inner + j)], at = 0, least = best, least_at = 0;
        for (int64_t r = 0; r < length; ++r) {
          const int64_t v = x[static_cast<std::size_t>((o * length + r) * inner + j)];
          sum += static_cast<uint64_t>(v);
          if (v > best) {
            best = v;
            at = r;
          }
          if (v < least) {
            least = v;
            least_at = r;
          }
        }
        const auto i = static_cast<std::size_t>(o * inner + j);
        if (kind == tmath::Reduce::Sum) {
          ASSERT_EQ(out[i], static_cast<int64_t>(sum));
        } else {
          ASSERT_EQ(out[i], kind == tmath::Reduce::Max ? best : least);
          ASSERT_EQ(indices[i], kind == tmath::Reduce::Max ? at : least_at);
        }
      }
    if (kind == tmath::Reduce::Max) EXPECT_EQ(indices[3], 5);
  }
}

TEST_P(NnKernels, SoftmaxLinesAndBinaryCrossEntropyEqualTheCpuFormulas) {
  const int64_t outer = 3, length = 9, inner = 101;  // more lines than threads per block
  const auto x = random_vector(static_cast<std::size_t>(outer * length * inner), 10, 3.0f);
  const auto dy = random_vector(x.size(), 11);
  for (bool log : {false, true}) {
    std::vector<float> y(x.size()), dx(x.size()), y_ref(x.size()), dx_ref(x.size());
    softmax_lines(x.data(), y.data(), outer, length, inner, log, 2, nullptr);
    softmax_lines_backward(dy.data(), y.data(), dx.data(), outer, length, inner, log, 2, nullptr);
    for (int64_t i = 0; i < outer * inner; ++i) {
      const int64_t base = (i / inner) * length * inner + i % inner;
      tmath::softmax_line(x.data() + base, length, inner, y_ref.data() + base, log);
      tmath::softmax_backward_line(dy.data() + base, y.data() + base, length, inner, dx_ref.data() + base, log);
    }
    ASSERT_EQ(y, y_ref);
    ASSERT_EQ(dx, dx_ref);
  }
  auto logits = random_vector(300, 12, 10.0f);
  logits[0] = 80.0f;
  logits[1] = -80.0f;
  const auto targets = random_vector(300, 13);
  std::vector<float> losses(300), grad(300);
  bce_with_logits(logits.data(), targets.data(), losses.data(), grad.data(), 0.5f, 300, 2, nullptr);
  for (std::size_t i = 0; i < 300; ++i) {
    ASSERT_EQ(losses[i], tmath::bce_with_logits(logits[i], targets[i]));
    ASSERT_EQ(grad[i], 0.5f * tmath::bce_with_logits_grad(logits[i], targets[i]));
    ASSERT_TRUE(std::isfinite(losses[i]));
  }
  // Negative log-likelihood rows: ordinary, ignored and out-of-range targets, over more rows than threads.
  const int64_t rows = 300, cols = 7;
  const auto logp = random_vector(static_cast<std::size_t>(rows * cols), 14);
  std::vector<int64_t> t(static_cast<std::size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) t[static_cast<std::size_t>(r)] = r % 9 - 1;  // -1 (ignored), 0..6, 7 (bad)
  std::vector<float> row_loss(t.size()), valid(t.size()), g(logp.size(), 5.0f), g_ref(logp.size());
  nll(logp.data(), t.data(), -1, row_loss.data(), valid.data(), g.data(), rows, cols, 2, nullptr);
  for (int64_t r = 0; r < rows; ++r) {
    float l, v;
    tmath::nll_row(logp.data() + r * cols, t[static_cast<std::size_t>(r)], -1, cols, g_ref.data() + r * cols, l, v);
    ASSERT_TRUE(row_loss[static_cast<std::size_t>(r)] == l ||
                (std::isnan(l) && std::isnan(row_loss[static_cast<std::size_t>(r)])));
    ASSERT_EQ(valid[static_cast<std::size_t>(r)], v);
  }
  ASSERT_EQ(g, g_ref);
  nll(nullptr, nullptr, 0, nullptr, nullptr, nullptr, 0, cols, 2, nullptr);
  softmax_lines(nullptr, nullptr, 0, 3, 2, false, 2, nullptr);  // no lines: no launch
  softmax_lines_backward(nullptr, nullptr, nullptr, 2, 3, 0, true, 2, nullptr);
  bce_with_logits(nullptr, nullptr, nullptr, nullptr, 1.0f, 0, 2, nullptr);
}

TEST_P(NnKernels, SoftmaxRowsMatchDoubleReference) {
  const int64_t rows = 5, cols = 300;  // more columns than threads per row
  const auto x = random_vector(rows * cols, 3, 3.0f), dy = random_vector(rows * cols, 4);
  for (bool log : {false, true}) {
    std::vector<float> y(x.size()), dx(x.size());
    softmax_forward(x.data(), y.data(), rows, cols, log, nullptr);
    softmax_backward(dy.data(), y.data(), dx.data(), rows, cols, log, nullptr);
    std::vector<double> y_ref(x.size()), dx_ref(x.size());
    for (int64_t r = 0; r < rows; ++r) {
      double m = -INFINITY, z = 0, dot = 0, sum_dy = 0;
      for (int64_t c = 0; c < cols; ++c) m = std::max(m, static_cast<double>(x[r * cols + c]));
      for (int64_t c = 0; c < cols; ++c) z += std::exp(x[r * cols + c] - m);
      for (int64_t c = 0; c < cols; ++c) {
        const double p = std::exp(x[r * cols + c] - m) / z;
        y_ref[r * cols + c] = log ? std::log(p) : p;
        dot += dy[r * cols + c] * p;
        sum_dy += dy[r * cols + c];
      }
      for (int64_t c = 0; c < cols; ++c) {
        const double p = std::exp(x[r * cols + c] - m) / z;
        dx_ref[r * cols + c] = log ? dy[r * cols + c] - p * sum_dy : p * (dy[r * cols + c] - dot);
      }
    }
    EXPECT_TRUE(all_close(y, y_ref, 1e-5, 1e-6)) << (log ? "log_softmax" : "softmax");
    EXPECT_TRUE(all_close(dx, dx_ref, 1e-4, 1e-5)) << (log ? "log_softmax" : "softmax") << " backward";
  }
}

// Rows against a double reference, the mean's scale from the host or counted on the device, rows ignored (-100) with
// a zero gradient, every row ignored (NaN loss), and a target out of range (NaN loss and gradient row).
TEST_P(NnKernels, CrossEntropyRowsAndArgmax) {
  const int64_t rows = 7, cols = 10, ignore = -100;
  const auto x = random_vector(rows * cols, 5, 2.0f);
  const std::vector<int64_t> targets = {0, 9, ignore, 3, 7, ignore, 1};
  std::vector<float> loss(rows), grad(x.size());
  const float smoothing = 0.1f;
  float inverse_kept = 0.0f;
  inverse_kept_count(targets.data(), rows, ignore, &inverse_kept, nullptr);
  EXPECT_EQ(inverse_kept, static_cast<float>(1.0 / 5));
  for (const bool on_device : {false, true}) {
    const float host_scale = on_device ? 1.0f : 1.0f / 5;
    cross_entropy({x.data(), targets.data(), loss.data(), grad.data(), rows, cols, ignore, smoothing, host_scale,
                   host_scale, on_device ? &inverse_kept : nullptr},
                  nullptr);
    for (int64_t r = 0; r < rows; ++r) {
      if (targets[r] == ignore) {
        EXPECT_EQ(loss[r], 0.0f);
        for (int64_t c = 0; c < cols; ++c) EXPECT_EQ(grad[r * cols + c], 0.0f);
        continue;
      }
      double m = -INFINITY, z = 0, sum_x = 0;
      for (int64_t c = 0; c < cols; ++c) m = std::max(m, static_cast<double>(x[r * cols + c]));
      for (int64_t c = 0; c < cols; ++c) {
        z += std::exp(x[r * cols + c] - m);
        sum_x += x[r * cols + c];
      }
      const double lse = m + std::log(z);
      const double expected = (lse - (1 - smoothing) * x[r * cols + targets[r]] - smoothing / cols * sum_x) / 5;
      EXPECT_NEAR(loss[r], expected, 1e-6) << on_device;
      for (int64_t c = 0; c < cols; ++c) {
        const double g =
            (std::exp(x[r * cols + c] - lse) - (c == targets[r] ? 1 - smoothing : 0.0) - smoothing / cols) / 5;
        EXPECT_NEAR(grad[r * cols + c], g, 1e-6);
      }
    }
  }
  const std::vector<int64_t> ignored(rows, ignore);
  inverse_kept_count(ignored.data(), rows, ignore, &inverse_kept, nullptr);
  EXPECT_EQ(inverse_kept, INFINITY);
  cross_entropy({x.data(), ignored.data(), loss.data(), grad.data(), rows, cols, ignore, 0.0f, 1.0f, 1.0f,
                 &inverse_kept},
                nullptr);
  for (int64_t r = 0; r < rows; ++r) EXPECT_TRUE(std::isnan(loss[r]));
  for (float g : grad) EXPECT_EQ(g, 0.0f);
  std::vector<int64_t> bad = targets;
  bad[1] = cols;
  cross_entropy({x.data(), bad.data(), loss.data(), grad.data(), rows, cols, ignore, 0.0f, 1.0f, 1.0f, nullptr},
                nullptr);
  EXPECT_TRUE(std::isnan(loss[1]));
  for (int64_t c = 0; c < cols; ++c) EXPECT_TRUE(std::isnan(grad[cols + c]));
  EXPECT_FALSE(std::isnan(loss[0]));

  std::vector<int64_t> correct(rows);
  argmax_matches(x.data(), targets.data(), correct.data(), rows, cols, nullptr);
  for (int64_t r = 0; r < rows; ++r) {
    int64_t best = 0;
    for (int64_t c = 1; c < cols; ++c)
      if (x[r * cols + c] > x[r * cols + best]) best = c;
    EXPECT_EQ(correct[r], best == targets[r] ? 1 : 0);
  }
}

// Padding in every mode and element type: the forward copies padmath's source of each output element (the constant
// elsewhere), and the backward gathers padmath's line sums, one dimension per launch; empty launches do nothing.
TEST_P(NnKernels, PadCopiesAndGathersAsPadMath) {
  auto run = [](auto element, padmath::Mode mode) {
    using T = decltype(element);
    padmath::PadGeometry g;
    g.ndim = 3;
    g.mode = mode;
    const int64_t in[3] = {2, 3, 5}, left[3] = {0, mode == padmath::Mode::Reflect ? 2 : 3, -1},
                  right[3] = {0, 1, mode == padmath::Mode::Reflect ? 4 : 3};
    for (int d = 0; d < 3; ++d) {
      g.in[d] = in[d];
      g.left[d] = left[d];
      g.out[d] = in[d] + left[d] + right[d];
    }
    const int64_t n_in = 2 * 3 * 5, n_out = g.out[0] * g.out[1] * g.out[2];
    const auto values = random_vector(static_cast<std::size_t>(n_in), 21);
    std::vector<T> x(values.begin(), values.end()), y(static_cast<std::size_t>(n_out));
    const T fill = T(-3.5f);
    pad_forward(PadForwardParams<T>{g, x.data(), y.data(), fill}, 1, nullptr);
    for (int64_t t = 0; t < n_out; ++t) {
      const int64_t source = padmath::pad_source_index(g, t);
      EXPECT_EQ(static_cast<float>(y[t]), static_cast<float>(source < 0 ? fill : x[source])) << t;
    }
    padmath::PadLine line;  // the middle dimension: (2, out, 5) gathered to (2, 3, 5)
    line.outer = 2;
    line.size = 3;
    line.out = g.out[1];
    line.inner = 5;
    line.left = g.left[1];
    line.mode = mode;
    const auto dy = random_vector(static_cast<std::size_t>(2 * line.out * 5), 22);
    std::vector<float> dx(static_cast<std::size_t>(n_in));
    pad_backward(PadBackwardParams{line, dy.data(), dx.data()}, 1, nullptr);
    for (int64_t t = 0; t < n_in; ++t) EXPECT_EQ(dx[t], padmath::pad_line_gradient(line, dy.data(), t)) << t;
  };
  for (const auto mode : {padmath::Mode::Constant, padmath::Mode::Reflect, padmath::Mode::Replicate,
                          padmath::Mode::Circular}) {
    run(float{}, mode);
    run(Half{}, mode);
    run(BFloat16{}, mode);
  }
  padmath::PadGeometry empty;
  empty.ndim = 1;
  pad_forward(PadForwardParams<float>{empty, nullptr, nullptr, 0.0f}, 1, nullptr);
  pad_forward(PadForwardParams<Half>{empty, nullptr, nullptr, Half{}}, 1, nullptr);
  pad_forward(PadForwardParams<BFloat16>{empty, nullptr, nullptr, BFloat16{}}, 1, nullptr);
  pad_backward(PadBackwardParams{padmath::PadLine{}, nullptr, nullptr}, 1, nullptr);
}

// One chunk of rows (written straight to out) and several (partial sums in the workspace, then added in order),
// columns not a multiple of the 32-column tile, an empty batch; against a double sum of the same floats.
TEST_P(NnKernels, ColumnSumsAgreeWithADoubleSum) {
  const std::vector<std::pair<int64_t, int64_t>> shapes = {{37, 300}, {1, 1}, {256, 33}, {257, 40}, {1000, 3}, {0, 5}};
  for (const auto& [rows, cols] : shapes) {
    const auto m = random_vector(rows * cols, 6);
    EXPECT_EQ(column_sum_workspace_floats(rows, cols), rows > 256 ? ((rows + 255) / 256) * cols : 0);
    for (const bool accumulate : {false, true}) {
      SCOPED_TRACE(std::to_string(rows) + "x" + std::to_string(cols) + (accumulate ? " accumulate" : ""));
      std::vector<float> out(cols, 1.5f), workspace(column_sum_workspace_floats(rows, cols), -7.0f);
      column_sum(m.data(), out.data(), rows, cols, accumulate, workspace.data(), nullptr);
      for (int64_t j = 0; j < cols; ++j) {
        double sum = accumulate ? 1.5 : 0.0, magnitude = 1.0;
        for (int64_t i = 0; i < rows; ++i) {
          sum += m[i * cols + j];
          magnitude += std::fabs(m[i * cols + j]);
        }
        ASSERT_NEAR(out[j], sum, 1e-6 * magnitude) << "column " << j;
      }
    }
  }
}

// LayerNorm / GroupNorm rows against a double reference: short rows (a warp per row), longer ones (4 and 8 warps),
// means far from zero, GroupNorm's per-channel segments and its segments of one element (per-element parameters in
// groups), weight or bias alone, more rows than one chunk of the parameter sums, and empty launches.
TEST_P(NnKernels, NormRowsMatchADoubleReference) {
  struct Case {
    normmath::RowGeometry g;
    bool weight, bias;
    float offset;
  };
  const std::vector<Case> cases = {{{5, 40, 1, 1}, true, true, 0.0f},      {{3, 300, 1, 1}, true, true, 1000.0f},
                                   {{2, 2100, 1, 1}, true, false, -5.0f},  {{6, 21, 7, 2}, true, true, 30.0f},
                                   {{12, 2, 1, 3}, true, true, 0.0f},      {{600, 5, 1, 1}, false, true, 0.0f},
                                   {{8, 3000, 1000, 4}, false, false, 2.0f}, {{520, 9, 3, 2}, true, true, 0.0f}};
  for (const Case& c : cases) {
    const normmath::RowGeometry& g = c.g;
    SCOPED_TRACE(std::to_string(g.rows) + " rows of " + std::to_string(g.length) + ", segment " +
                 std::to_string(g.segment) + ", groups " + std::to_string(g.groups));
    const int64_t n = g.rows * g.length, params = g.parameters();
    auto x = random_vector(n, 21, 2.0f);
    for (float& v : x) v += c.offset;
    const auto dy = random_vector(n, 22), weight = random_vector(params, 23), bias = random_vector(params, 24);
    const float* w = c.weight ? weight.data() : nullptr;
    const float* b = c.bias ? bias.data() : nullptr;
    std::vector<float> y(n), mean(g.rows), rstd(g.rows), dx(n), grad_w(params, -1.0f), grad_b(params, -1.0f);
    std::vector<float> workspace(row_norm_backward_workspace_floats(g), -7.0f);
    row_norm_forward(g, x.data(), w, b, 1e-5f, y.data(), mean.data(), rstd.data(), nullptr);
    row_norm_backward(g, dy.data(), x.data(), mean.data(), rstd.data(), w, dx.data(), grad_w.data(), grad_b.data(),
                      workspace.data(), nullptr);
    std::vector<double> y_ref(n), dx_ref(n), mean_ref(g.rows), rstd_ref(g.rows), gw_ref(params), gb_ref(params);
    double dx_terms = 0;  // dx cancels to ~0 in rows of two: judged against its terms' size
    for (int64_t r = 0; r < g.rows; ++r) {
      const float* xr = x.data() + r * g.length;
      double m = 0, m2 = 0, sum_g = 0, sum_gx = 0;
      for (int64_t e = 0; e < g.length; ++e) m += xr[e];
      m /= static_cast<double>(g.length);
      for (int64_t e = 0; e < g.length; ++e) m2 += (xr[e] - m) * (xr[e] - m);
      const double s = 1.0 / std::sqrt(m2 / static_cast<double>(g.length) + 1e-5);
      mean_ref[r] = m, rstd_ref[r] = s;
      const auto wt = [&](int64_t e) { return c.weight ? static_cast<double>(weight[g.parameter(r, e)]) : 1.0; };
      for (int64_t e = 0; e < g.length; ++e) {
        const int64_t i = r * g.length + e, p = g.parameter(r, e);
        const double xh = (xr[e] - m) * s;
        y_ref[i] = xh * wt(e) + (c.bias ? bias[p] : 0.0);
        sum_g += dy[i] * wt(e);
        sum_gx += dy[i] * wt(e) * xh;
        gw_ref[p] += dy[i] * xh;
        gb_ref[p] += dy[i];
      }
      for (int64_t e = 0; e < g.length; ++e) {
        const int64_t i = r * g.length + e;
        const double xh = (xr[e] - m) * s;
        dx_ref[i] = s * (dy[i] * wt(e) - sum_g / g.length - xh * sum_gx / g.length);
        dx_terms = std::max(dx_terms, std::fabs(s * dy[i] * wt(e)));
      }
    }
    EXPECT_TRUE(all_close(mean, mean_ref, 1e-6, 1e-6));
    EXPECT_TRUE(all_close(rstd, rstd_ref, 1e-5, 0));
    EXPECT_TRUE(all_close(y, y_ref, 1e-5, 1e-5));
    EXPECT_TRUE(all_close(dx, dx_ref, 1e-4, 1e-5, dx_terms));
    EXPECT_TRUE(all_close(grad_w, gw_ref, 1e-4, 1e-4));
    EXPECT_TRUE(all_close(grad_b, gb_ref, 1e-4, 1e-4));
  }
  const normmath::RowGeometry none{0, 4, 1, 1};
  row_norm_forward(none, nullptr, nullptr, nullptr, 1e-5f, nullptr, nullptr, nullptr, nullptr);
  row_norm_backward(none, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr);
}

using Tensors = std::vector<std::vector<float>>;

// A fused launch's list over tensors held as vectors: parameters, gradients and up to three states (null: none).
TensorList tensor_list(Tensors& p, Tensors& g, Tensors* s1, Tensors* s2 = nullptr, Tensors* s3 = nullptr) {
  TensorList list;
  int64_t end = 0;
  for (std::size_t t = 0; t < p.size(); ++t) {
    list.param[t] = p[t].data();
    list.grad[t] = g[t].data();
    list.state1[t] = s1 != nullptr ? (*s1)[t].data() : nullptr;
    list.state2[t] = s2 != nullptr ? (*s2)[t].data() : nullptr;
    list.state3[t] = s3 != nullptr ? (*s3)[t].data() : nullptr;
    end += static_cast<int64_t>(p[t].size());
    list.end[t] = end;
  }
  list.count = static_cast<int>(p.size());
  return list;
}

// A fused step over tensors of several sizes, against the per-element CPU formula.
TEST_P(NnKernels, MultiTensorOptimizerStepsEqualTheCpuFormula) {
  const int count = 5;
  Tensors p, g, s1, s2;
  for (int t = 0; t < count; ++t) {
    const std::size_t n = static_cast<std::size_t>(1 + 97 * t);
    p.push_back(random_vector(n, 10 + t));
    g.push_back(random_vector(n, 20 + t));
    s1.push_back(random_vector(n, 30 + t, 0.1f));
    std::vector<float> v = random_vector(n, 40 + t, 0.1f);
    for (float& e : v) e = e * e;
    s2.push_back(v);
  }
  TensorList list = tensor_list(p, g, &s1, &s2);
  auto ep = p, e1 = s1, e2 = s2;
  const nnmath::AdamHyper adam{0.9f, 0.999f, 0.1f, 0.001f, 1e-8f, 0.01f, true, false, 0.9999f, 0.01f, 0.03f};
  adam_step(list, adam, 2, nullptr);
  for (int t = 0; t < count; ++t)
    for (std::size_t i = 0; i < ep[t].size(); ++i) nnmath::adam_update(ep[t][i], g[t][i], e1[t][i], e2[t][i], adam);
  EXPECT_EQ(p, ep);
  EXPECT_EQ(s1, e1);
  EXPECT_EQ(s2, e2);
  const nnmath::SgdHyper sgd{0.1f, 0.9f, 1.0f, 0.01f, true, false};
  sgd_step(list, sgd, 2, nullptr);
  for (int t = 0; t < count; ++t)
    for (std::size_t i = 0; i < ep[t].size(); ++i) nnmath::sgd_update(ep[t][i], g[t][i], e1[t][i], sgd);
  EXPECT_EQ(p, ep);
  // Plain SGD keeps no momentum buffer: the kernel gets no state pointers.
  TensorList plain = list;
  for (int t = 0; t < count; ++t) plain.state1[t] = plain.state2[t] = nullptr;
  const nnmath::SgdHyper plain_sgd{0.1f, 0.0f, 1.0f, 0.01f, false, false};
  sgd_step(plain, plain_sgd, 2, nullptr);
  for (int t = 0; t < count; ++t)
    for (std::size_t i = 0; i < ep[t].size(); ++i) {
      float no_buffer = 0.0f;
      nnmath::sgd_update(ep[t][i], g[t][i], no_buffer, plain_sgd);
    }
  EXPECT_EQ(p, ep);
  for (auto& v : s1)  // Adadelta's states are running averages of squares: non-negative
    for (float& e : v) e = e * e;
  e1 = s1;
  const nnmath::AdadeltaHyper adadelta{1.0f, 0.9f, 0.1f, 1e-6f, 0.0f};
  adadelta_step(list, adadelta, 2, nullptr);
  for (int t = 0; t < count; ++t)
    for (std::size_t i = 0; i < ep[t].size(); ++i)
      nnmath::adadelta_update(ep[t][i], g[t][i], e1[t][i], e2[t][i], adadelta);
  EXPECT_EQ(p, ep);
  // From a table indexed on the device (CUDA graphs): entry 1 applies, the by-value hyperparameters do not.
  const nnmath::AdamHyper table[2] = {adam, {0.8f, 0.99f, 0.2f, 0.01f, 1e-7f, 0.0f, false, false, 1.0f, 0.02f, 0.1f}};
  const int64_t index = 1;
  adam_step(list, HyperSource<nnmath::AdamHyper>(adam, table, &index), 2, nullptr);
  for (int t = 0; t < count; ++t)
    for (std::size_t i = 0; i < ep[t].size(); ++i)
      nnmath::adam_update(ep[t][i], g[t][i], e1[t][i], e2[t][i], table[1]);
  EXPECT_EQ(p, ep);
  EXPECT_EQ(s1, e1);
  EXPECT_EQ(s2, e2);
  // A set skip flag (GradScaler's found_inf) leaves everything as it was; a clear one steps.
  for (const float found_inf : {1.0f, 0.0f}) {
    adam_step(list, HyperSource<nnmath::AdamHyper>(adam, table, &index, &found_inf), 2, nullptr);
    if (found_inf == 0.0f)
      for (int t = 0; t < count; ++t)
        for (std::size_t i = 0; i < ep[t].size(); ++i)
          nnmath::adam_update(ep[t][i], g[t][i], e1[t][i], e2[t][i], table[1]);
    EXPECT_EQ(p, ep) << "found_inf " << found_inf;
    EXPECT_EQ(s1, e1);
    EXPECT_EQ(s2, e2);
  }
  // AMSGrad's third state, the largest exp_avg_sq so far: maxima seeded on both sides of the new second moments.
  std::vector<std::vector<float>> s3;
  for (int t = 0; t < count; ++t) {
    std::vector<float> v = random_vector(p[t].size(), 50 + t, 0.1f);
    for (float& e : v) e = e * e;
    s3.push_back(v);
    list.state3[t] = s3[t].data();
  }
  auto e3 = s3;
  nnmath::AdamHyper amsgrad = table[1];
  amsgrad.amsgrad = true;
  adam_step(list, amsgrad, 2, nullptr);
  for (int t = 0; t < count; ++t)
    for (std::size_t i = 0; i < ep[t].size(); ++i)
      nnmath::adam_amsgrad_update(ep[t][i], g[t][i], e1[t][i], e2[t][i], e3[t][i], amsgrad);
  EXPECT_EQ(p, ep);
  EXPECT_EQ(s2, e2);
  EXPECT_EQ(s3, e3);
  int kept = 0, replaced = 0;  // the seeds put the old maximum above some new second moments, below others
  for (int t = 0; t < count; ++t)
    for (std::size_t i = 0; i < s3[t].size(); ++i) (s3[t][i] > s2[t][i] ? kept : replaced) += 1;
  EXPECT_GT(kept, 0);
  EXPECT_GT(replaced, 0);
}

// RMSprop in each of its slot layouts (square_avg; grad_avg when centered; the momentum buffer after them), Adagrad,
// Adamax and RAdam, against the per-element CPU formula. Each RMSprop layout starts from the same state, the square
// averages above the squared gradient averages, as a run keeps them.
TEST_P(NnKernels, RmspropAdagradAdamaxAndRadamStepsEqualTheCpuFormula) {
  const int count = 4;
  Tensors p, g, square, average, buffer;
  for (int t = 0; t < count; ++t) {
    const std::size_t n = static_cast<std::size_t>(3 + 61 * t);
    p.push_back(random_vector(n, 60 + t));
    g.push_back(random_vector(n, 70 + t));
    average.push_back(random_vector(n, 80 + t, 0.1f));
    buffer.push_back(random_vector(n, 90 + t, 0.1f));
    std::vector<float> v = random_vector(n, 100 + t, 0.5f);
    for (std::size_t i = 0; i < n; ++i) v[i] = v[i] * v[i] + average[t][i] * average[t][i];
    square.push_back(v);
  }
  const auto start_p = p, start_square = square, start_average = average, start_buffer = buffer;
  for (const bool centered : {false, true})
    for (const bool momentum : {false, true}) {
      SCOPED_TRACE(std::string(centered ? "centered" : "plain") + (momentum ? " with momentum" : ""));
      p = start_p, square = start_square, average = start_average, buffer = start_buffer;
      const TensorList list = tensor_list(p, g, &square, centered ? &average : momentum ? &buffer : nullptr,
                                          centered && momentum ? &buffer : nullptr);
      auto ep = p, es = square, ea = average, eb = buffer;
      const nnmath::RmspropHyper h{0.01f, 0.9f, 0.1f, 1e-6f, 0.02f, momentum ? 0.8f : 0.0f, centered, momentum};
      rmsprop_step(list, h, 2, nullptr);
      for (int t = 0; t < count; ++t)
        for (std::size_t i = 0; i < ep[t].size(); ++i)
          nnmath::rmsprop_update(ep[t][i], g[t][i], es[t][i], ea[t][i], eb[t][i], h);
      EXPECT_EQ(p, ep);
      EXPECT_EQ(square, es);
      EXPECT_EQ(average, ea);  // changed only when centered (the formula leaves it otherwise)
      EXPECT_EQ(buffer, eb);
      EXPECT_NE(p, start_p);
    }
  TensorList list = tensor_list(p, g, &square);
  auto ep = p, es = square;
  const nnmath::AdagradHyper h{-0.05f, 1e-10f, 0.1f};
  adagrad_step(list, h, 2, nullptr);
  for (int t = 0; t < count; ++t)
    for (std::size_t i = 0; i < ep[t].size(); ++i) nnmath::adagrad_update(ep[t][i], g[t][i], es[t][i], h);
  EXPECT_EQ(p, ep);
  EXPECT_EQ(square, es);
  // Adamax (exp_avg, exp_inf) and RAdam (exp_avg, exp_avg_sq), rectified and not.
  for (auto& v : average) v.assign(v.size(), 0.5f);  // exp_inf: a positive norm
  list = tensor_list(p, g, &square, &average);
  auto ea = average;
  ep = p, es = square;
  const nnmath::AdamaxHyper adamax{0.9f, 0.999f, 0.1f, 1e-8f, 0.01f, -0.02f};
  adamax_step(list, adamax, 2, nullptr);
  for (int t = 0; t < count; ++t)
    for (std::size_t i = 0; i < ep[t].size(); ++i) nnmath::adamax_update(ep[t][i], g[t][i], es[t][i], ea[t][i], adamax);
  EXPECT_EQ(p, ep);
  EXPECT_EQ(square, es);
  EXPECT_EQ(average, ea);
  for (const bool rectified : {false, true}) {
    const nnmath::RadamHyper radam{0.9f, 0.99f, 0.1f, 0.01f, 1e-8f, 0.0f, 0.5f, 0.01f, 0.3f, rectified ? 0.7f : 0.0f,
                                   rectified};
    radam_step(list, radam, 2, nullptr);
    for (int t = 0; t < count; ++t)
      for (std::size_t i = 0; i < ep[t].size(); ++i)
        nnmath::radam_update(ep[t][i], g[t][i], es[t][i], ea[t][i], radam);
    EXPECT_EQ(p, ep);
    EXPECT_EQ(average, ea);
  }
}

// Gradient accumulation (a += alpha * b) over several grid strides, and the device-side counter.
// GradScaler: gradients of several tensors (the launch's list, more elements than one pass of the grid) divided by
// the scale, the flag raised by an inf in a later tensor and left alone without one; the scale update on the device.
TEST_P(NnKernels, UnscaleAndLossScaleUpdateEqualTheCpuFormulas) {
  std::vector<std::vector<float>> grads = {std::vector<float>(3000, 0.0f), std::vector<float>(7, 0.0f)};
  std::mt19937 rng(3);
  std::normal_distribution<float> dist(0.0f, 1000.0f);
  for (auto& g : grads)
    for (float& v : g) v = dist(rng);
  for (bool poisoned : {false, true}) {
    auto unscaled = grads;
    if (poisoned) unscaled[1][4] = std::nanf("");
    auto expected = unscaled;
    TensorList list;
    int64_t end = 0;
    for (std::size_t t = 0; t < unscaled.size(); ++t) {
      list.param[t] = unscaled[t].data();
      end += static_cast<int64_t>(unscaled[t].size());
      list.end[t] = end;
    }
    list.count = static_cast<int>(unscaled.size());
    const float scale = 3.0f;  // 1/3 is not exact: the inverse is rounded once, from double
    float found_inf = 0.0f;
    unscale_grads(list, &scale, &found_inf, 1, nullptr);
    const float inverse = nnmath::inverse_scale(scale);
    EXPECT_EQ(inverse, static_cast<float>(1.0 / 3.0));
    for (auto& g : expected)
      for (float& v : g) v *= inverse;
    EXPECT_EQ(found_inf, poisoned ? 1.0f : 0.0f);
    for (std::size_t t = 0; t < expected.size(); ++t)
      for (std::size_t i = 0; i < expected[t].size(); ++i)
        if (!std::isnan(expected[t][i])) ASSERT_EQ(unscaled[t][i], expected[t][i]) << t << " " << i;
  }
  const nnmath::LossScaleHyper h{2.0, 0.5, 2};
  for (float found : {0.0f, 1.0f}) {
    float scale = 64.0f, expected_scale = 64.0f;
    int64_t tracker = 1, expected_tracker = 1;
    update_loss_scale(&scale, &tracker, &found, h, nullptr);
    nnmath::update_loss_scale(expected_scale, expected_tracker, found != 0.0f, h);
    EXPECT_EQ(scale, expected_scale);
    EXPECT_EQ(tracker, expected_tracker);
  }
}

TEST_P(NnKernels, AxpyAndIncrement) {
  const std::size_t n = 2 * 256 * 16 * 2 + 37;  // more than one pass of a 2-SM grid
  auto a = random_vector(n, 51);
  const auto b = random_vector(n, 52);
  auto expected = a;
  for (std::size_t i = 0; i < n; ++i) expected[i] = expected[i] + 0.25f * b[i];
  axpy(a.data(), b.data(), 0.25f, static_cast<int64_t>(n), 2, nullptr);
  EXPECT_EQ(a, expected);
  axpy(a.data(), b.data(), 0.25f, 0, 2, nullptr);  // nothing to do, nothing launched
  EXPECT_EQ(a, expected);
  int64_t counter = 41;
  increment(&counter, nullptr);
  EXPECT_EQ(counter, 42);
  add(&counter, -50, nullptr);
  EXPECT_EQ(counter, -8);
}

// The device factories' fill, float and int64, over several grid strides; nothing written past n.
TEST_P(NnKernels, FillWritesTheValueToExactlyNElements) {
  const std::size_t n = 2 * 256 * 16 * 2 + 37;
  std::vector<float> f(n + 3, -1.0f);
  fill(f.data(), 2.5f, static_cast<int64_t>(n), 2, nullptr);
  EXPECT_EQ(std::vector<float>(f.begin(), f.begin() + n), std::vector<float>(n, 2.5f));
  EXPECT_EQ(std::vector<float>(f.begin() + n, f.end()), std::vector<float>(3, -1.0f));
  std::vector<int64_t> i(n + 1, 5);
  fill(i.data(), int64_t{-7}, static_cast<int64_t>(n), 2, nullptr);
  EXPECT_EQ(std::vector<int64_t>(i.begin(), i.begin() + n), std::vector<int64_t>(n, -7));
  EXPECT_EQ(i[n], 5);
  fill(i.data(), int64_t{9}, 0, 2, nullptr);  // nothing to do, nothing launched
  EXPECT_EQ(i[0], -7);
}

// 16-bit fills by their bits, and the dtype conversions: every float16 and bfloat16 pattern through float and across,
// over several grid strides, against the host conversions of normrt/half.h (checked against PyTorch in
// tests/test_dtypes.cpp); nothing written past n.
TEST_P(NnKernels, SixteenBitFillAndConversionsEqualTheHostConversions) {
  std::vector<uint16_t> bits(65536 + 1, 0xabcd);
  fill(bits.data(), uint16_t{0x3c00}, 65536, 2, nullptr);
  EXPECT_EQ(std::vector<uint16_t>(bits.begin(), bits.end() - 1), std::vector<uint16_t>(65536, 0x3c00));
  EXPECT_EQ(bits.back(), 0xabcd);
  std::vector<Half> halves;
  std::vector<BFloat16> bf16s;
  for (uint32_t b = 0; b < 65536; ++b) {
    halves.push_back(Half::from_bits(static_cast<uint16_t>(b)));
    bf16s.push_back(BFloat16::from_bits(static_cast<uint16_t>(b)));
  }
  const int64_t n = 65536;
  std::vector<float> from_half(n + 1, -1.0f), from_bf16(n + 1, -1.0f);
  convert(halves.data(), from_half.data(), n, 2, nullptr);
  convert(bf16s.data(), from_bf16.data(), n, 2, nullptr);
  std::vector<Half> half_again(n + 1, Half::from_bits(0xabcd)), bf16_to_half(n, Half{});
  std::vector<BFloat16> bf16_again(n + 1, BFloat16::from_bits(0xabcd)), half_to_bf16(n, BFloat16{});
  convert(from_half.data(), half_again.data(), n, 2, nullptr);
  convert(from_bf16.data(), bf16_again.data(), n, 2, nullptr);
  convert(bf16s.data(), bf16_to_half.data(), n, 2, nullptr);
  convert(halves.data(), half_to_bf16.data(), n, 2, nullptr);
  for (int64_t b = 0; b < n; ++b) {
    const float hf = static_cast<float>(halves[b]), bf = static_cast<float>(bf16s[b]);
    ASSERT_EQ(std::memcmp(&from_half[b], &hf, 4), 0) << b;
    ASSERT_EQ(std::memcmp(&from_bf16[b], &bf, 4), 0) << b;
    ASSERT_EQ(half_again[b].bits, Half(hf).bits) << b;
    ASSERT_EQ(bf16_again[b].bits, BFloat16(bf).bits) << b;
    ASSERT_EQ(bf16_to_half[b].bits, Half(bf).bits) << b;
    ASSERT_EQ(half_to_bf16[b].bits, BFloat16(hf).bits) << b;
  }
  EXPECT_EQ(from_half[n], -1.0f);
  EXPECT_EQ(half_again[n].bits, 0xabcd);
  EXPECT_EQ(bf16_again[n].bits, 0xabcd);
  convert(halves.data(), from_half.data(), 0, 2, nullptr);  // nothing to do, nothing launched
}

// bool to and from every other dtype: a number is true where it is not zero (NaN too; -0.0 is zero, and so is a value
// the 16-bit type rounds to zero), a bool is 0 or 1; and the byte fill of the bool factories.
TEST_P(NnKernels, BoolConversionsAndFillEqualTheHostConversions) {
  const std::vector<float> values = {0.0f, -0.0f, NAN, INFINITY, -INFINITY, 1e-45f, -2.5f, 1.0f, 3e38f, 1e-8f};
  const std::vector<bool> expected = {false, false, true, true, true, true, true, true, true, true};
  const auto n = static_cast<int64_t>(values.size());
  const auto from = [&](auto element) {
    using T = decltype(element);
    std::vector<T> typed;
    for (float v : values) typed.push_back(T(v));
    bool out[16];
    std::fill(std::begin(out), std::end(out), false);
    out[n] = true;  // past the end: untouched
    convert(typed.data(), out, n, 2, nullptr);
    for (int64_t i = 0; i < n; ++i)
      EXPECT_EQ(out[i], expected[static_cast<std::size_t>(i)] && static_cast<float>(typed[i]) != 0.0f) << i;
    EXPECT_TRUE(out[n]);
    const bool flags[] = {true, false, true};
    std::vector<T> back(4, T(7.0f));
    convert(flags, back.data(), 3, 2, nullptr);
    EXPECT_EQ(static_cast<float>(back[0]), 1.0f);
    EXPECT_EQ(static_cast<float>(back[1]), 0.0f);
    EXPECT_EQ(static_cast<float>(back[2]), 1.0f);
    EXPECT_EQ(static_cast<float>(back[3]), 7.0f);
  };
  from(float{});
  from(Half{});
  from(BFloat16{});
  const std::vector<int64_t> integers = {0, 1, -1, INT64_MIN, INT64_MAX, (int64_t{1} << 53) + 1};
  bool flags[6];
  convert(integers.data(), flags, 6, 2, nullptr);
  for (int i = 0; i < 6; ++i) EXPECT_EQ(flags[i], integers[static_cast<std::size_t>(i)] != 0) << i;
  const bool some[] = {false, true};
  int64_t widened[2] = {5, 5};
  convert(some, widened, 2, 2, nullptr);
  EXPECT_EQ(widened[0], 0);
  EXPECT_EQ(widened[1], 1);
  std::vector<uint8_t> bytes(70001, 0xab);
  fill(bytes.data(), uint8_t{1}, 70000, 2, nullptr);
  EXPECT_EQ(std::vector<uint8_t>(bytes.begin(), bytes.end() - 1), std::vector<uint8_t>(70000, 1));
  EXPECT_EQ(bytes.back(), 0xab);
}

// int64 to and from every floating dtype: truncation (tmath::truncated_int64) and rounding through float, the host's
// formulas (whose values tests/test_tensor.cpp checks against PyTorch), for NaN, infinities, values beyond int64's
// range and ordinary ones.
TEST_P(NnKernels, Int64ConversionsEqualTheHostConversions) {
  std::vector<float> values = {NAN, INFINITY, -INFINITY, 1e30f, -1e30f, 9.3e18f, -9223372036854775808.0f, 2.7f, -2.7f};
  for (float v : random_vector(600, 11, 70000.0f)) values.push_back(v);
  std::vector<int64_t> integers = {INT64_MIN, INT64_MAX, (int64_t{1} << 53) + 1, 65519, 65520,
                                   -((int64_t{1} << 24) + 3)};
  for (float v : random_vector(600, 12, 1e7f)) integers.push_back(static_cast<int64_t>(v) * 1000003);
  const auto check = [&](auto element) {
    using T = decltype(element);
    std::vector<T> floating;
    for (float v : values) floating.push_back(T(v));
    std::vector<int64_t> truncated(floating.size() + 1, 7), expected_truncated(floating.size() + 1, 7);
    convert(floating.data(), truncated.data(), static_cast<int64_t>(floating.size()), 2, nullptr);
    for (std::size_t i = 0; i < floating.size(); ++i)
      expected_truncated[i] = tmath::truncated_int64(static_cast<float>(floating[i]));
    EXPECT_EQ(truncated, expected_truncated);
    std::vector<T> rounded(integers.size());
    convert(integers.data(), rounded.data(), static_cast<int64_t>(integers.size()), 2, nullptr);
    for (std::size_t i = 0; i < integers.size(); ++i) {
      const T expected(static_cast<float>(integers[i]));
      ASSERT_EQ(std::memcmp(&rounded[i], &expected, sizeof(T)), 0) << integers[i];
    }
  };
  check(float{});
  check(Half{});
  check(BFloat16{});
}

// The memory-format conversion: batched transposes of 2-, 4- and 8-byte elements, in whole and partial tiles, over
// several grid strides.
template <typename T>
void check_transpose(int64_t batch, int64_t rows, int64_t cols) {
  const int64_t n = batch * rows * cols;
  std::vector<T> in(static_cast<std::size_t>(n)), out(static_cast<std::size_t>(n) + 1, T{7});
  for (int64_t i = 0; i < n; ++i) in[i] = static_cast<T>(i * 2654435761u);
  transpose_batched(in.data(), out.data(), batch, rows, cols, 2, nullptr);
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c)
        ASSERT_EQ(out[(b * cols + c) * rows + r], in[(b * rows + r) * cols + c]) << b << " " << r << " " << c;
  EXPECT_EQ(out[n], T{7});
}

TEST_P(NnKernels, TransposeBatchedMovesEveryElement) {
  check_transpose<uint8_t>(3, 7, 45);
  check_transpose<uint16_t>(3, 5, 1031);
  check_transpose<uint32_t>(2, 33, 257);
  check_transpose<uint64_t>(4, 1, 7);
  check_transpose<uint64_t>(2, 64, 40);  // whole tiles beside partial ones
  uint32_t untouched = 9;
  transpose_batched(&untouched, &untouched, 0, 3, 3, 2, nullptr);  // nothing to do, nothing launched
  EXPECT_EQ(untouched, 9u);
}

// The arrays of planes (image, channel, position) laid out channels-last, (image, position, channel).
template <typename V>
std::vector<V> planes_channels_last(const std::vector<V>& planes, int64_t channels, int64_t per_plane) {
  std::vector<V> out(planes.size());
  const int64_t images = static_cast<int64_t>(planes.size()) / (channels * per_plane);
  for (int64_t n = 0; n < images; ++n)
    for (int64_t c = 0; c < channels; ++c)
      for (int64_t i = 0; i < per_plane; ++i)
        out[static_cast<std::size_t>((n * per_plane + i) * channels + c)] =
            planes[static_cast<std::size_t>((n * channels + c) * per_plane + i)];
  return out;
}

// The pooling kernels on elements of type T (x_values and dy_values rounded to T) against the poolmath functions on
// the widened elements, rounded once: the CPU's float32 path. Then on channels-last memory with `channels` channels
// (geometry.planes = images * channels): the contiguous kernels' bits, laid out channels-last.
template <typename T>
void check_pooling(const poolmath::PoolGeometry& g, const std::vector<float>& x_values,
                   const std::vector<float>& dy_values, int64_t channels, T) {
  const int64_t in = g.planes * g.in_size(), out = g.planes * g.out_size();
  std::vector<T> x, dy;
  std::vector<float> wide_x, wide_dy;
  for (float v : x_values) x.push_back(T(v)), wide_x.push_back(static_cast<float>(x.back()));
  for (float v : dy_values) dy.push_back(T(v)), wide_dy.push_back(static_cast<float>(dy.back()));
  const auto same = [](float expected, T got) {
    const float e = static_cast<float>(T(expected)), v = static_cast<float>(got);
    return e == v || (std::isnan(e) && std::isnan(v));
  };
  for (PoolKind kind : {PoolKind::Max, PoolKind::Average, PoolKind::AdaptiveAverage, PoolKind::AdaptiveMax}) {
    const bool max = kind == PoolKind::Max || kind == PoolKind::AdaptiveMax;
    std::vector<T> y(static_cast<std::size_t>(out)), dx(static_cast<std::size_t>(in));
    std::vector<int64_t> indices(static_cast<std::size_t>(out));
    pool_forward(PoolForwardParams<T>{g, kind, x.data(), y.data(), indices.data()}, 2, nullptr);
    pool_backward(PoolBackwardParams<T>{g, kind, dy.data(), indices.data(), dx.data()}, 2, nullptr);
    for (int64_t t = 0; t < out; ++t) {
      const float* plane = wide_x.data() + t / g.out_size() * g.in_size();
      int64_t o[3];
      poolmath::unflatten(t % g.out_size(), g.out, o);
      if (max) {
        float value;
        int64_t index;
        if (kind == PoolKind::Max) poolmath::max_window(g, plane, o, value, index);
        else poolmath::adaptive_max_window(g, plane, o, value, index);
        ASSERT_TRUE(same(value, y[t]));
        ASSERT_EQ(index, indices[t]);
      } else {
        const float expected = kind == PoolKind::Average ? poolmath::avg_window(g, plane, o)
                                                         : poolmath::adaptive_avg_window(g, plane, o);
        ASSERT_TRUE(same(expected, y[t]));
      }
    }
    for (int64_t t = 0; t < in; ++t) {
      const int64_t plane = t / g.in_size(), i = t % g.in_size();
      const float* dyp = wide_dy.data() + plane * g.out_size();
      const int64_t* index_plane = indices.data() + plane * g.out_size();
      float expected = 0.0f;
      if (kind == PoolKind::Max) expected = poolmath::max_backward_element(g, dyp, index_plane, i);
      if (kind == PoolKind::AdaptiveMax) expected = poolmath::adaptive_max_backward_element(g, dyp, index_plane, i);
      if (kind == PoolKind::Average) expected = poolmath::avg_backward_element(g, dyp, i);
      if (kind == PoolKind::AdaptiveAverage) expected = poolmath::adaptive_avg_backward_element(g, dyp, i);
      ASSERT_TRUE(same(expected, dx[t]));
    }
    const auto same_bits = [](const std::vector<T>& a, const std::vector<T>& b) {  // NaN included
      return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
    };
    const std::vector<T> x_cl = planes_channels_last(x, channels, g.in_size());
    const std::vector<T> dy_cl = planes_channels_last(dy, channels, g.out_size());
    std::vector<T> y_cl(y.size()), dx_cl(dx.size());
    std::vector<int64_t> indices_cl(indices.size());
    pool_forward(PoolForwardParams<T>{g, kind, x_cl.data(), y_cl.data(), indices_cl.data(), channels}, 2, nullptr);
    EXPECT_TRUE(same_bits(y_cl, planes_channels_last(y, channels, g.out_size())));
    if (max) ASSERT_EQ(indices_cl, planes_channels_last(indices, channels, g.out_size()));
    pool_backward(PoolBackwardParams<T>{g, kind, dy_cl.data(), indices_cl.data(), dx_cl.data(), channels}, 2, nullptr);
    EXPECT_TRUE(same_bits(dx_cl, planes_channels_last(dx, channels, g.in_size())));
  }
}

TEST_P(NnKernels, PoolingEqualsTheCpuFormulas) {
  // Max, average, adaptive average and adaptive max over 1-3 dimensions, with padding, strides, dilation and
  // ceil-mode shapes; the kernels must give the CPU loop's bits (same poolmath functions), forward and backward,
  // indices included, on float32, float16 and bfloat16 elements, and the same bits on channels-last memory.
  struct Case {
    int64_t planes, in[3], out[3], kernel[3], stride[3], pad[3], dilation[3];
    bool count_include_pad;
    int64_t channels;  // per image, for the channels-last run
  };
  const Case cases[] = {
      {6, {1, 1, 13}, {1, 1, 7}, {1, 1, 3}, {1, 1, 2}, {0, 0, 1}, {1, 1, 1}, true, 3},
      {2, {1, 7, 6}, {1, 3, 3}, {1, 3, 2}, {1, 2, 2}, {0, 1, 0}, {1, 1, 2}, false, 1},
      {2, {1, 5, 5}, {1, 3, 3}, {1, 2, 2}, {1, 2, 2}, {0, 0, 0}, {1, 1, 1}, true, 2},  // ceil-mode-like: partial window
      {4, {4, 5, 6}, {2, 3, 3}, {2, 3, 3}, {2, 2, 2}, {1, 1, 1}, {1, 1, 1}, false, 2},
  };
  uint32_t seed = 10;
  for (const Case& c : cases) {
    poolmath::PoolGeometry g;
    g.planes = c.planes;
    for (int d = 0; d < 3; ++d) {
      g.in[d] = c.in[d];
      g.out[d] = c.out[d];
      g.kernel[d] = c.kernel[d];
      g.stride[d] = c.stride[d];
      g.pad[d] = c.pad[d];
      g.dilation[d] = c.dilation[d];
    }
    g.count_include_pad = c.count_include_pad;
    const int64_t in = g.planes * g.in_size(), out = g.planes * g.out_size();
    auto x = random_vector(static_cast<std::size_t>(in), ++seed);
    x[1] = x[2];  // a tie
    x[static_cast<std::size_t>(in - 1)] = NAN;
    const auto dy = random_vector(static_cast<std::size_t>(out), ++seed);
    check_pooling(g, x, dy, c.channels, float{});
    check_pooling(g, x, dy, c.channels, Half{});
    check_pooling(g, x, dy, c.channels, BFloat16{});
  }
  // Nothing to do is no launch.
  poolmath::PoolGeometry empty;
  pool_forward(PoolForwardParams<float>{empty, PoolKind::Max, nullptr, nullptr, nullptr}, 2, nullptr);
  pool_backward(PoolBackwardParams<float>{empty, PoolKind::Max, nullptr, nullptr, nullptr}, 2, nullptr);
}

INSTANTIATE_TEST_SUITE_P(Orders, NnKernels, ::testing::Values(simt::ResumeOrder::Forward, simt::ResumeOrder::Reverse),
                         [](const ::testing::TestParamInfo<simt::ResumeOrder>& info) {
                           return info.param == simt::ResumeOrder::Forward ? "forward" : "reverse";
                         });

}  // namespace
}  // namespace normrt::emu
