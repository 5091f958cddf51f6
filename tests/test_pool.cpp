// Pooling (ops::max_pool / avg_pool / adaptive_avg_pool and the nn modules) on the CPU: against PyTorch (golden
// data), by finite differences, reprs, and refusals.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <sstream>

#include "normrt/generator.h"
#include "pool_golden_runner.h"
#include "pooling_math.cuh"

namespace normrt {
namespace {

using testing::throws_with;

class PoolGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(PoolGolden, MatchesPyTorch) { testing::run_pool_golden_case(GetParam(), Device::cpu()); }

INSTANTIATE_TEST_SUITE_P(PyTorch, PoolGolden, ::testing::ValuesIn(testing::pool_golden_case_names()),
                         [](const auto& info) { return testing::test_name(info.param); });

// Central differences of L = sum(pool(x) * r) for the average poolings (max pooling is piecewise linear in x: its
// gradient is checked exactly against PyTorch).
TEST(Pool, AverageGradientsMatchFiniteDifferences) {
  Generator gen(3);
  Tensor x = randn({2, 2, 7, 6}, gen);
  ops::PoolParams p;
  p.kernel_size = {3, 2};
  p.stride = {2, 2};
  p.padding = {1, 1};
  p.ceil_mode = true;
  p.count_include_pad = false;
  for (bool adaptive : {false, true}) {
    auto forward = [&] { return adaptive ? ops::adaptive_avg_pool(x, 2, {4, 3}) : ops::avg_pool(x, 2, p); };
    const Tensor r = randn(forward().sizes(), gen);
    const Tensor dx = adaptive ? ops::adaptive_avg_pool_backward(r, x, 2) : ops::avg_pool_backward(r, x, 2, p);
    auto loss = [&] {
      const auto y = forward().to_vector(), rv = r.to_vector();
      double total = 0;
      for (std::size_t i = 0; i < y.size(); ++i) total += static_cast<double>(y[i]) * rv[i];
      return total;
    };
    for (int64_t i = 0; i < x.numel(); i += 5) {
      float* v = x.data<float>() + i;
      const float saved = *v;
      *v = saved + 0.01f;
      const double up = loss();
      *v = saved - 0.01f;
      const double down = loss();
      *v = saved;
      EXPECT_NEAR(dx.data<float>()[i], (up - down) / 0.02, 1e-3) << (adaptive ? "adaptive " : "avg ") << i;
    }
  }
}

// Average pooling's windows (partial ones with padding, whole rows, whole planes, global, adaptive and uneven, 2-d and
// 3-d) against windows found here independently. The inputs are 1e4 plus normal draws: floats of one binade, whose
// sums over a window are exact in double in any order, so the outputs are known to the bit.
TEST(Pool, AverageWindowsOfEveryShapeAreExactSumsOverTheirDivisors) {
  struct Case {
    Shape shape;
    bool adaptive;
    std::vector<int64_t> kernel, stride, padding;  // or the adaptive output size in `kernel`
    bool count_include_pad;
  };
  const std::vector<Case> cases = {
      {{2, 3, 9, 11}, false, {3}, {2}, {1}, true},     {{2, 3, 9, 11}, false, {3}, {2}, {1}, false},
      {{2, 3, 9, 11}, false, {2, 11}, {2, 1}, {0}, true}, {{2, 3, 9, 11}, true, {1, 1}, {}, {}, true},
      {{2, 3, 9, 11}, true, {4, 3}, {}, {}, true},        {{1, 2, 5, 6, 7}, true, {1, 1, 1}, {}, {}, true},
      {{1, 2, 5, 6, 7}, true, {2, 1, 1}, {}, {}, true},   {{1, 2, 5, 6, 7}, true, {3, 2, 1}, {}, {}, true},
      {{1, 2, 5, 6, 7}, false, {2}, {2}, {0}, true},      {{2, 2, 40, 45}, true, {1, 1}, {}, {}, true},
      {{1, 2, 70, 70}, false, {3}, {1}, {1}, false},   // more windows than the CPU lists once
      // enough planes for the CPU's threads to share one list of windows
      {{4, 8, 48, 48}, false, {3}, {2}, {1}, false},   {{16, 64, 8, 8}, true, {1, 1}, {}, {}, true}};
  Generator gen(8);
  for (const Case& c : cases) {
    const int spatial = static_cast<int>(c.shape.size()) - 2;
    const Tensor x = randn(c.shape, gen) + 1e4;
    ops::PoolParams p;
    p.kernel_size = c.kernel;
    p.stride = c.stride;
    p.padding = c.padding;
    p.count_include_pad = c.count_include_pad;
    const Tensor y = c.adaptive ? ops::adaptive_avg_pool(x, spatial, c.kernel) : ops::avg_pool(x, spatial, p);
    // Per dimension d (of three, leading ones of size 1): input extent, output extent, and output o's window.
    int64_t in[3] = {1, 1, 1}, out[3] = {1, 1, 1};
    for (int d = 0; d < spatial; ++d) {
      in[3 - spatial + d] = c.shape[static_cast<std::size_t>(2 + d)];
      out[3 - spatial + d] = y.size(2 + d);
    }
    auto pick = [](const std::vector<int64_t>& v, int d) {
      return v[v.size() == 1 ? 0 : static_cast<std::size_t>(d)];
    };
    auto window = [&](int d, int64_t o, int64_t& start, int64_t& end, int64_t& divisor) {
      const int k = d - (3 - spatial);
      if (k < 0) {
        start = 0, end = 1, divisor = 1;
      } else if (c.adaptive) {
        start = o * in[d] / out[d];
        end = ((o + 1) * in[d] + out[d] - 1) / out[d];
        divisor = end - start;
      } else {
        start = o * pick(c.stride, k) - pick(c.padding, k);
        const int64_t padded_end = std::min(start + pick(c.kernel, k), in[d] + pick(c.padding, k));
        const int64_t padded_count = padded_end - start;
        start = std::max<int64_t>(start, 0);
        end = std::min(padded_end, in[d]);
        divisor = c.count_include_pad ? padded_count : end - start;
      }
    };
    const int64_t planes = c.shape[0] * c.shape[1], in_size = in[0] * in[1] * in[2];
    const auto xv = x.to_vector(), yv = y.to_vector();
    std::size_t o = 0;
    for (int64_t plane = 0; plane < planes; ++plane)
      for (int64_t oz = 0; oz < out[0]; ++oz)
        for (int64_t oy = 0; oy < out[1]; ++oy)
          for (int64_t ox = 0; ox < out[2]; ++ox, ++o) {
            int64_t s[3], e[3], n[3];
            window(0, oz, s[0], e[0], n[0]);
            window(1, oy, s[1], e[1], n[1]);
            window(2, ox, s[2], e[2], n[2]);
            double sum = 0;
            for (int64_t z = s[0]; z < e[0]; ++z)
              for (int64_t yy = s[1]; yy < e[1]; ++yy)
                for (int64_t xx = s[2]; xx < e[2]; ++xx)
                  sum += xv[static_cast<std::size_t>(plane * in_size + (z * in[1] + yy) * in[2] + xx)];
            const float expected = static_cast<float>(sum / static_cast<double>(n[0] * n[1] * n[2]));
            ASSERT_EQ(yv[o], expected) << shape_str(c.shape) << (c.adaptive ? " adaptive" : " avg") << " output " << o;
          }
  }
}

// Global average pooling's forward on the CPU (long planes summed four at a time) against the kernels' per-window sum
// (poolmath::window_average), bit for bit. A plane's last element and the first after its lanes' whole groups are
// +-2^80: what is left of the sum depends on which terms were added before they cancel, so the order of the
// additions shows. Plane counts that
// leave 1 to 3 planes over; planes shorter than, equal to and not a multiple of the eight lanes; an all -0 plane and a
// NaN; adaptive to 1 and an avg_pool whose padded kernel covers the plane (its divisor counts the padding);
// channels-last channels over several of the CPU's chunks of 256.
TEST(Pool, GlobalAverageIsTheKernelsWindowSum) {
  Generator gen(5);
  for (const Shape& shape : {Shape{1, 5, 1, 3}, Shape{2, 3, 2, 4}, Shape{3, 3, 7, 7}, Shape{1, 7, 5, 11},
                             Shape{2, 2, 3, 4, 5}, Shape{9, 1, 56, 56}, Shape{3, 1, 9}, Shape{2, 70, 3, 3},
                             Shape{2, 300, 3, 5}}) {
    const int spatial = static_cast<int>(shape.size()) - 2;
    std::vector<float> xv = randn(shape, gen).to_vector();
    const int64_t planes = shape[0] * shape[1], in = static_cast<int64_t>(xv.size()) / planes;
    for (int64_t plane = 1; plane < planes; ++plane) {
      xv[static_cast<std::size_t>(plane * in + in / 8 * 8 % (in - 1))] = 0x1p80f;
      xv[static_cast<std::size_t>(plane * in + in - 1)] = -0x1p80f;
    }
    std::fill(xv.begin(), xv.begin() + in, -0.0f);
    if (planes > 2) xv[static_cast<std::size_t>(2 * in + in / 2)] = NAN;
    const Tensor x = from_vector(xv, shape);
    ops::PoolParams padded;
    for (int d = 0; d < spatial; ++d) padded.kernel_size.push_back(shape[static_cast<std::size_t>(2 + d)] + 2);
    padded.padding = {1};
    const bool has_channels_last = spatial >= 2;
    for (const auto& [adaptive, channels_last] : {std::pair{true, false}, std::pair{false, false},
                                                   std::pair{true, has_channels_last},
                                                   std::pair{false, has_channels_last}}) {
      if (!adaptive && spatial == 3) continue;  // avg_pool3d takes no window larger than the input
      const Tensor input = channels_last ? testing::to_channels_last(x) : x;
      const auto y = (adaptive ? ops::adaptive_avg_pool(input, spatial, std::vector<int64_t>(spatial, 1))
                               : ops::avg_pool(input, spatial, padded))
                         .to_vector();
      ASSERT_EQ(static_cast<int64_t>(y.size()), planes);
      poolmath::PoolGeometry g;
      for (int d = 0; d < spatial; ++d) {
        g.in[3 - spatial + d] = shape[static_cast<std::size_t>(2 + d)];
        g.kernel[3 - spatial + d] = adaptive ? 1 : g.in[3 - spatial + d] + 2;
        g.pad[3 - spatial + d] = adaptive ? 0 : 1;
      }
      const int64_t origin[3] = {0, 0, 0};
      const poolmath::AvgWindow w =
          adaptive ? poolmath::adaptive_avg_pool_window(g, origin) : poolmath::avg_pool_window(g, origin);
      for (int64_t plane = 0; plane < planes; ++plane) {
        const float got = y[static_cast<std::size_t>(plane)];
        const float want = poolmath::window_average(g, &xv[static_cast<std::size_t>(plane * in)], w);
        ASSERT_TRUE(std::memcmp(&got, &want, sizeof(float)) == 0 || (std::isnan(got) && std::isnan(want)))
            << shape_str(shape) << (adaptive ? " adaptive" : " padded avg") << (channels_last ? " channels-last" : "")
            << " plane " << plane << ": " << got << " vs " << want;
      }
      if (!adaptive) EXPECT_NE(w.divisor, static_cast<double>(in));  // the padding counts
    }
  }
}

// Average pooling over many channels (the CPU's channels-as-SIMD-lanes loops, from contiguous input through
// channels-last copies) against the kernels' per-window sum and the plane-by-plane scatter, bit for bit: rows of 3
// (runs shorter than the lanes), whole rows and whole planes merged into runs longer than the lanes, uneven adaptive
// windows, 2-d and 3-d; channel counts that take wide blocks, single vectors and single channels (70 = 2 * 32 + 6,
// 44 = 32 + 8 + 4, 20 = 2 * 8 + 4) and the backward's blocks. Values spread over 2^-40 .. 2^40 and a fifth of them
// +-2^80: which of the small terms survive the giants' cancelling shows the order of the additions.
TEST(Pool, AveragesOverManyChannelsAreTheKernelsWindowSums) {
  struct Case {
    Shape shape;
    bool adaptive;
    std::vector<int64_t> kernel, stride, padding;  // or the adaptive output size in `kernel`
  };
  const std::vector<Case> cases = {{{2, 70, 9, 11}, false, {3}, {2}, {1}},
                                   {{1, 20, 9, 11}, false, {2, 11}, {2, 1}, {0}},
                                   {{2, 17, 9, 10}, true, {4, 3}, {}, {}},
                                   {{1, 16, 4, 5, 6}, true, {2, 1, 1}, {}, {}},
                                   {{1, 18, 5, 6, 7}, false, {3}, {2}, {1}},
                                   {{2, 44, 7, 5}, true, {1, 1}, {}, {}}};
  Generator gen(9);
  for (const Case& c : cases) {
    const int spatial = static_cast<int>(c.shape.size()) - 2;
    std::vector<float> xv = randn(c.shape, gen).to_vector();
    const std::vector<float> spread = rand(c.shape, gen).to_vector();
    for (std::size_t i = 0; i < xv.size(); ++i) {
      xv[i] = std::ldexp(xv[i], static_cast<int>(80.0f * spread[i]) - 40);
      if (spread[i] > 0.8f) xv[i] = std::copysign(0x1p80f, xv[i]);  // cancelling giants: what survives shows the order
    }
    const Tensor x = from_vector(xv, c.shape);
    ops::PoolParams p;
    p.kernel_size = c.kernel;
    p.stride = c.stride;
    p.padding = c.padding;
    for (bool channels_last : {false, true}) {
      const Tensor input = channels_last ? testing::to_channels_last(x) : x;
      const Tensor y = c.adaptive ? ops::adaptive_avg_pool(input, spatial, c.kernel) : ops::avg_pool(input, spatial, p);
      const auto yv = y.to_vector();
      poolmath::PoolGeometry g;
      for (int d = 0; d < spatial; ++d) {
        g.in[3 - spatial + d] = c.shape[static_cast<std::size_t>(2 + d)];
        g.out[3 - spatial + d] = y.size(2 + d);
        if (!c.adaptive) {
          auto pick = [d](const std::vector<int64_t>& v) { return v[v.size() == 1 ? 0 : static_cast<std::size_t>(d)]; };
          g.kernel[3 - spatial + d] = pick(c.kernel);
          g.stride[3 - spatial + d] = pick(c.stride);
          g.pad[3 - spatial + d] = pick(c.padding);
        }
      }
      const int64_t planes = c.shape[0] * c.shape[1], in = g.in_size(), out = g.out_size();
      for (int64_t plane = 0; plane < planes; ++plane)
        for (int64_t o = 0; o < out; ++o) {
          int64_t oc[3];
          poolmath::unflatten(o, g.out, oc);
          const poolmath::AvgWindow w =
              c.adaptive ? poolmath::adaptive_avg_pool_window(g, oc) : poolmath::avg_pool_window(g, oc);
          const float want = poolmath::window_average(g, &xv[static_cast<std::size_t>(plane * in)], w);
          const float got = yv[static_cast<std::size_t>(plane * out + o)];
          ASSERT_EQ(std::memcmp(&got, &want, sizeof(float)), 0)
              << shape_str(c.shape) << (channels_last ? " channels-last" : "") << " plane " << plane << " output "
              << o << ": " << got << " vs " << want;
        }
      // The backward against the scatter plane by plane, output by output, with the same kind of gradient.
      std::vector<float> dyv = randn(y.sizes(), gen).to_vector();
      const std::vector<float> dy_spread = rand(y.sizes(), gen).to_vector();
      for (std::size_t i = 0; i < dyv.size(); ++i) {
        dyv[i] = std::ldexp(dyv[i], static_cast<int>(80.0f * dy_spread[i]) - 40);
        if (dy_spread[i] > 0.8f) dyv[i] = std::copysign(0x1p80f, dyv[i]);
      }
      const Tensor dy = from_vector(dyv, y.sizes()).to(input.memory_format());
      const auto dx = (c.adaptive ? ops::adaptive_avg_pool_backward(dy, input, spatial)
                                  : ops::avg_pool_backward(dy, input, spatial, p))
                          .to_vector();
      std::vector<float> want(xv.size(), 0.0f);
      for (int64_t plane = 0; plane < planes; ++plane)
        for (int64_t o = 0; o < out; ++o) {
          int64_t oc[3];
          poolmath::unflatten(o, g.out, oc);
          const float grad = dyv[static_cast<std::size_t>(plane * out + o)];
          float* dx_plane = &want[static_cast<std::size_t>(plane * in)];
          if (c.adaptive) poolmath::adaptive_avg_backward_scatter(g, grad, oc, dx_plane);
          else poolmath::avg_backward_scatter(g, grad, oc, dx_plane);
        }
      for (std::size_t i = 0; i < want.size(); ++i)
        ASSERT_EQ(std::memcmp(&dx[i], &want[i], sizeof(float)), 0)
            << shape_str(c.shape) << (channels_last ? " channels-last" : "") << " backward element " << i << ": "
            << dx[i] << " vs " << want[i];
    }
  }
}

// Window sums near divisor * (the midpoint between two floats), put in a window as three floats, chosen where the
// double product sum * (1 / divisor) rounds to another float than the quotient RN(sum / divisor): the channels-last
// loops (which divide without a division instruction) must give the quotient's bits, over a 3x3 window's own divisor
// (9) and overridden ones (6 and 3, as padded windows have, 7 and 1000003); infinite and NaN sums stay so. Two
// windows of a (3, 4) plane (one window over the whole plane would take the global average's path).
TEST(Pool, ChannelsLastAveragesAreTheDivisionsBitsWhereTheReciprocalsProductIsNot) {
  constexpr int64_t kChannels = 96;  // three wide blocks of 32: every vector lane
  std::mt19937 draw(21);
  for (const int64_t divisor : {int64_t{9}, int64_t{6}, int64_t{7}, int64_t{3}, int64_t{1000003}}) {
    const double d = static_cast<double>(divisor);
    std::vector<float> xv(static_cast<std::size_t>(kChannels * 12), 0.0f);  // (1, C, 3, 4)
    std::vector<double> sums(static_cast<std::size_t>(kChannels * 2));      // the two windows
    for (int64_t c = 0; c < kChannels; ++c) {
      double sum = 0;
      for (int attempt = 0; attempt < 1000 && sum == 0; ++attempt) {
        const float mantissa = 1.0f + static_cast<float>(draw() % (1u << 23)) * 0x1p-23f;
        const float low = std::ldexp(mantissa, static_cast<int>(draw() % 7) - 3);
        const double exact = d * (0.5 * (static_cast<double>(low) + std::nextafter(low, INFINITY)));
        const double step = std::nextafter(exact, INFINITY) - exact;
        for (int k = -3; k <= 3 && sum == 0; ++k) {
          const double candidate = exact + k * step;
          if (static_cast<float>(candidate * (1.0 / d)) != static_cast<float>(candidate / d)) sum = candidate;
        }
      }
      ASSERT_NE(sum, 0.0) << "divisor " << divisor << " channel " << c;
      const float head = static_cast<float>(sum), middle = static_cast<float>(sum - head);
      const float tail = static_cast<float>(sum - head - middle);
      for (int k = 0; k < 3; ++k) xv[static_cast<std::size_t>(12 * c + k)] = k == 0 ? head : k == 1 ? middle : tail;
      sums[static_cast<std::size_t>(2 * c)] = static_cast<double>(head) + middle + tail;
      sums[static_cast<std::size_t>(2 * c + 1)] = static_cast<double>(middle) + tail;
      ASSERT_EQ(sums[static_cast<std::size_t>(2 * c)], sum);
    }
    xv[12 * 5] = INFINITY;
    xv[12 * 6] = NAN;
    sums[2 * 5] = INFINITY;
    sums[2 * 6] = NAN;
    const Tensor x = from_vector(xv, {1, kChannels, 3, 4});
    ops::PoolParams p;
    p.kernel_size = {3};
    p.stride = {1};
    if (divisor != 9) p.divisor_override = divisor;
    for (const Tensor& input : {x, testing::to_channels_last(x)}) {  // contiguous input goes through a copy
      const auto y = ops::avg_pool(input, 2, p).to_vector();
      for (std::size_t i = 0; i < sums.size(); ++i) {
        const float want = static_cast<float>(sums[i] / d), got = y[i];
        if (std::isnan(want)) {
          EXPECT_TRUE(std::isnan(got)) << "output " << i;
          continue;
        }
        ASSERT_EQ(std::memcmp(&got, &want, sizeof(float)), 0)
            << "divisor " << divisor << " output " << i << ": " << got << " vs " << want;
      }
    }
  }
}

// Global average pooling's backward on the CPU (each element written once with 0 + the plane's share) against the
// kernels' gather (poolmath::adaptive_avg_backward_element), bit for bit, 2-d and 3-d, with a -0 and a NaN among
// the output gradients.
TEST(Pool, GlobalAverageBackwardIsTheKernelsGather) {
  Generator gen(4);
  for (const Shape& shape : {Shape{2, 3, 5, 7}, Shape{1, 2, 3, 4, 5}}) {
    const int spatial = static_cast<int>(shape.size()) - 2;
    const Tensor x = randn(shape, gen);
    std::vector<float> dyv = randn({shape[0], shape[1]}, gen).to_vector();
    dyv[1] = -0.0f;
    dyv[2] = NAN;
    Shape dy_shape = {shape[0], shape[1]};
    for (int d = 0; d < spatial; ++d) dy_shape.push_back(1);
    const auto dx = ops::adaptive_avg_pool_backward(from_vector(dyv, dy_shape), x, spatial).to_vector();
    poolmath::PoolGeometry g;
    for (int d = 0; d < spatial; ++d) g.in[3 - spatial + d] = shape[static_cast<std::size_t>(2 + d)];
    const int64_t in = g.in_size();
    for (std::size_t plane = 0; plane < dyv.size(); ++plane)
      for (int64_t i = 0; i < in; ++i) {
        const float got = dx[plane * static_cast<std::size_t>(in) + static_cast<std::size_t>(i)];
        const float gather = poolmath::adaptive_avg_backward_element(g, &dyv[plane], i);
        ASSERT_TRUE(std::memcmp(&got, &gather, sizeof(float)) == 0 || (std::isnan(got) && std::isnan(gather)))
            << shape_str(shape) << " plane " << plane << " element " << i << ": " << got << " vs " << gather;
      }
  }
}

TEST(Pool, ModulesPrintAsPyTorchAndRunTheOps) {
  // print(nn.MaxPool2d(2), nn.MaxPool1d(3, 2, 1, ceil_mode=True), nn.AvgPool2d(2), nn.AvgPool2d(3, 1, 1,
  //   ceil_mode=True, count_include_pad=False), nn.AdaptiveAvgPool2d((1, 1)), nn.AdaptiveAvgPool2d(3),
  //   nn.MaxPool3d(2, dilation=2), nn.Identity())
  std::ostringstream os;
  os << nn::MaxPool2d(2) << ' ' << nn::MaxPool1d(nn::MaxPoolOptions(3).stride(2).padding(1).ceil_mode(true)) << ' '
     << nn::AvgPool2d(2) << ' '
     << nn::AvgPool2d(nn::AvgPoolOptions(3).stride(1).padding(1).ceil_mode(true).count_include_pad(false)) << ' '
     << nn::AdaptiveAvgPool2d({1, 1}) << ' ' << nn::AdaptiveAvgPool2d(3) << ' '
     << nn::MaxPool3d(nn::MaxPoolOptions(2).dilation(2)) << ' ' << nn::Identity();
  EXPECT_EQ(os.str(),
            "MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False) MaxPool1d(kernel_size=3, "
            "stride=2, padding=1, dilation=1, ceil_mode=True) AvgPool2d(kernel_size=2, stride=2, padding=0) "
            "AvgPool2d(kernel_size=3, stride=1, padding=1) AdaptiveAvgPool2d(output_size=(1, 1)) "
            "AdaptiveAvgPool2d(output_size=3) MaxPool3d(kernel_size=2, stride=2, padding=0, dilation=2, "
            "ceil_mode=False) Identity()");

  Generator gen(4);
  const Tensor x = randn({2, 3, 6, 5}, gen);
  nn::MaxPool2d pool(nn::MaxPoolOptions({3, 2}).stride(2).padding(1));
  const Tensor y = pool.forward(x);
  ops::PoolParams p;
  p.kernel_size = {3, 2};
  p.stride = {2};
  p.padding = {1};
  const auto expected = ops::max_pool(x, 2, p);
  EXPECT_EQ(y.to_vector(), expected.output.to_vector());
  const Tensor dy = randn(y.sizes(), gen);
  EXPECT_EQ(pool.backward(dy).to_vector(), ops::max_pool_backward(dy, x, expected.indices, 2, p).to_vector());

  // divisor_override reaches the op: 3x3 windows of ones sum to 9 inside, fewer at the padded edges.
  nn::AvgPool2d fixed(nn::AvgPoolOptions(3).stride(1).padding(1).divisor_override(9));
  const Tensor sums = fixed.forward(ones({1, 1, 4, 4}));
  EXPECT_EQ(sums.to_vector()[0], 4.0f / 9);
  EXPECT_EQ(sums.to_vector()[5], 1.0f);
  EXPECT_EQ(fixed.backward(ones({1, 1, 4, 4})).to_vector()[5], 1.0f);

  nn::AdaptiveAvgPool2d global(1);
  const Tensor g = global.forward(x);
  EXPECT_EQ(g.sizes(), (Shape{2, 3, 1, 1}));
  const Tensor dg = global.backward(ones({2, 3, 1, 1}));
  for (float v : dg.to_vector()) EXPECT_FLOAT_EQ(v, 1.0f / 30);
}

// AdaptiveMaxPool modules print as PyTorch's and run the op (the indices kept for the backward); a window of -inf
// reports its first element (PyTorch's index 0 for a 1x1 output); float16 is the float32 result rounded, with the
// same indices; PyTorch's messages for bad input.
TEST(Pool, AdaptiveMaxPoolModulesAndChecks) {
  // print(nn.AdaptiveMaxPool2d((5, 7)), nn.AdaptiveMaxPool1d(3), nn.AdaptiveMaxPool3d(2)) in PyTorch 1.13:
  std::ostringstream os;
  os << nn::AdaptiveMaxPool2d({5, 7}) << ' ' << nn::AdaptiveMaxPool1d(3) << ' ' << nn::AdaptiveMaxPool3d(2);
  EXPECT_EQ(os.str(), "AdaptiveMaxPool2d(output_size=(5, 7)) AdaptiveMaxPool1d(output_size=3) "
                      "AdaptiveMaxPool3d(output_size=2)");
  Generator gen(9);
  const Tensor x = randn({2, 3, 7, 6}, gen);
  nn::AdaptiveMaxPool2d pool({3, 4});
  const Tensor y = pool.forward(x);
  const auto r = ops::adaptive_max_pool(x, 2, {3, 4});
  EXPECT_EQ(y.sizes(), (Shape{2, 3, 3, 4}));
  EXPECT_EQ(y.to_vector(), r.output.to_vector());
  const Tensor dy = randn(y.sizes(), gen);
  EXPECT_EQ(pool.backward(dy).to_vector(), ops::adaptive_max_pool_backward(dy, x, r.indices, 2).to_vector());

  const auto low = ops::adaptive_max_pool(full({1, 2, 3, 2}, -INFINITY), 3, {1});
  EXPECT_EQ(low.indices.to_vector<int64_t>(), (std::vector<int64_t>{0}));
  EXPECT_EQ(low.output.to_vector()[0], -INFINITY);

  const auto half = ops::adaptive_max_pool(x.to(DType::Float16), 2, {3, 4});
  const auto widened = ops::adaptive_max_pool(x.to(DType::Float16).to(DType::Float32), 2, {3, 4});
  EXPECT_EQ(half.output.dtype(), DType::Float16);
  EXPECT_EQ(half.output.to(DType::Float32).to_vector(), widened.output.to_vector());
  EXPECT_EQ(half.indices.to_vector<int64_t>(), widened.indices.to_vector<int64_t>());

  EXPECT_TRUE(throws_with([] { ops::adaptive_max_pool(zeros({2, 3}), 2, {3}); },
                          "adaptive_max_pool2d(): Expected 3D or 4D tensor, but got: [2, 3]"));
  EXPECT_TRUE(throws_with([] { ops::adaptive_max_pool(zeros({3, 4, 4}), 3, {3}); },
                          "adaptive_max_pool3d(): Expected 4D or 5D tensor, but got: [3, 4, 4]"));
  EXPECT_TRUE(throws_with([] { ops::adaptive_max_pool(zeros({2, 0, 4, 4}), 2, {3}); },
                          "adaptive_max_pool2d(): Expected input to have non-zero size for non-batch dimensions, but "
                          "input has sizes [2, 0, 4, 4] with dimension 1 being empty"));
  EXPECT_TRUE(throws_with([&] { ops::adaptive_max_pool_backward(dy, x, r.indices.reshape({6, 12}), 2); },
                          "adaptive_max_pool_backward: indices must be the int64 [2, 3, 3, 4] tensor adaptive_max_pool "
                          "returned"));
  EXPECT_TRUE(throws_with([] { nn::AdaptiveMaxPool2d({1, 2, 3}); }, "adaptive_max_pool2d: output_size must be 2"));
}

// Adaptive average pooling takes empty channels and zero output sizes, as PyTorch's: empty results, and a zero
// gradient for an input that no output reads. (Empty channels in channels-last memory once divided by zero.)
TEST(Pool, AdaptiveAveragesOfEmptyChannelsAndEmptyOutputs) {
  for (const MemoryFormat format : {MemoryFormat::Contiguous, MemoryFormat::ChannelsLast}) {
    for (const auto& [shape, out] : std::vector<std::pair<Shape, std::vector<int64_t>>>{
             {{2, 0, 4, 2}, {1, 1}}, {{2, 0, 4, 2}, {3, 2}}, {{2, 3, 4, 2}, {0, 2}}, {{2, 3, 4, 2}, {2, 0}}}) {
      SCOPED_TRACE(shape_str(shape) + " -> " + shape_str(out) + " " + memory_format_name(format));
      const Tensor x = ones(shape).to(format);
      const Tensor y = ops::adaptive_avg_pool(x, 2, out);
      EXPECT_EQ(y.sizes(), (Shape{shape[0], shape[1], out[0], out[1]}));
      const Tensor dx = ops::adaptive_avg_pool_backward(ones(y.sizes()).to(format), x, 2);
      EXPECT_EQ(dx.sizes(), shape);
      EXPECT_EQ(dx.to(MemoryFormat::Contiguous).to_vector(), std::vector<float>(dx.numel(), 0.0f));
    }
  }
  EXPECT_EQ(ops::adaptive_avg_pool(zeros({1, 0, 5}), 1, {2}).sizes(), (Shape{1, 0, 2}));
}

// Each op's words for a wrong rank, empty non-batch dimensions, argument counts and window values, in PyTorch 1.13's
// order (F.max_pool*d with return_indices, as training runs it; F.avg_pool*d), each checked there.
TEST(Pool, RanksEmptyDimensionsAndWindowValuesInEachOpsWords) {
  auto k = [](std::vector<int64_t> kernel, std::vector<int64_t> stride = {}, std::vector<int64_t> dilation = {1}) {
    ops::PoolParams p;
    p.kernel_size = std::move(kernel);
    p.stride = std::move(stride);
    p.dilation = std::move(dilation);
    return p;
  };
  const auto refused = [](auto op, const char* words) { return throws_with(op, words); };
  EXPECT_TRUE(refused([&] { ops::max_pool(zeros({3, 3}), 2, k({2})); },
                      "non-empty 3D or 4D (batch mode) tensor expected for input"));
  EXPECT_TRUE(refused([&] { ops::avg_pool(zeros({3, 3}), 2, k({2})); },
                      "Dimension out of range (expected to be in range of [-2, 1], but got -3)"));
  EXPECT_TRUE(refused([&] { ops::avg_pool(zeros({3, 3, 3, 3, 3}), 2, k({2})); },
                      "Expected 3D or 4D (batch mode) tensor with optional 0 dim batch size for input, but "
                      "got:[3, 3, 3, 3, 3]"));
  EXPECT_TRUE(refused([&] { ops::max_pool(zeros({3, 3, 3}), 3, k({0})); },
                      "non-empty 4D or 5D (batch mode) tensor expected for input"));
  EXPECT_TRUE(refused([&] { ops::max_pool(zeros({2, 0, 3, 3, 3}), 3, k({2})); },
                      "max_pool3d_with_indices_out_cpu_template(): Expected input's non-batch dimensions to have "
                      "positive length, but input has a shape of [2, 0, 3, 3, 3] and non-batch dimension 0 has "
                      "length zero!"));
  EXPECT_TRUE(refused([&] { ops::avg_pool(zeros({2, 2, 3, 0, 3}), 3, k({2})); },
                      "avg_pool3d(): Expected input's non-batch dimensions to have positive length, but input has a "
                      "shape of [2, 2, 3, 0, 3] and non-batch dimension 0 has length zero!"));
  EXPECT_TRUE(refused([&] { ops::max_pool(zeros({3}), 1, k({2, 2})); },
                      "Expected 2 to 3 dimensions, but got 1-dimensional tensor for argument #1 'self' (while "
                      "checking arguments for max_pool1d)"));
  EXPECT_TRUE(refused([&] { ops::max_pool(zeros({2, 0, 3}), 1, k({2})); },
                      "Expected 3D or 4D (batch mode) tensor with optional 0 dim batch size for input, but "
                      "got:[2, 0, 1, 3]"));
  EXPECT_TRUE(refused([&] { ops::adaptive_avg_pool(zeros({3}), 1, {2}); },
                      "Expected 2 to 3 dimensions, but got 1-dimensional tensor for argument #1 'self' (while "
                      "checking arguments for adaptive_avg_pool1d)"));
  EXPECT_TRUE(refused([&] { ops::adaptive_max_pool(zeros({2, 2, 2, 2}), 1, {2}); },
                      "Expected 2 to 3 dimensions, but got 4-dimensional tensor for argument #1 'self' (while "
                      "checking arguments for adaptive_max_pool1d)"));
  EXPECT_TRUE(refused([&] { ops::avg_pool(zeros({1, 2, 3}), 1, k({2, 2})); },
                      "avg_pool1d() argument 'kernel_size' should contain one int (got 2)"));
  EXPECT_TRUE(refused([&] { ops::max_pool(zeros({1, 2, 3}), 1, k({0}, {1})); },
                      "kernel size should be greater than zero, but got kH: 1 kW: 0"));
  EXPECT_TRUE(refused([&] { ops::avg_pool(zeros({1, 2, 5, 5}), 2, k({0}, {1})); },
                      "kernel size should be greater than zero, but got kH: 0 kW: 0"));
  EXPECT_TRUE(refused([&] { ops::avg_pool(zeros({1, 2, 5, 5}), 2, k({0})); }, "stride should not be zero"));
  EXPECT_TRUE(refused([&] { ops::max_pool(zeros({1, 2, 5, 5, 5}), 3, k({2}, {-1})); },
                      "stride should be greater than zero, but got dT: -1 dH: -1 dW: -1"));
  EXPECT_TRUE(refused([&] { ops::max_pool(zeros({1, 2, 5, 5}), 2, k({2}, {}, {0})); },
                      "dilation should be greater than zero, but got dilationH: 0 dilationW: 0"));
  ops::PoolParams padded = k({2});
  padded.padding = {0, 0, 0};
  EXPECT_TRUE(refused([&] { ops::max_pool(zeros({1, 2, 5, 5}), 2, padded); },
                      "max_pool2d: padding must be either be a single int, or a tuple of two ints"));
  EXPECT_TRUE(refused([&] { ops::avg_pool(zeros({1, 2, 5, 5, 5}), 3, k({2, 2})); },
                      "avg_pool3d: kernel_size must be a single int, or a tuple of three ints"));
  // avg_pool3d checks the rank before the divisor, avg_pool2d after.
  ops::PoolParams no_divisor = k({2});
  no_divisor.divisor_override = 0;
  EXPECT_TRUE(refused([&] { ops::avg_pool(zeros({3, 3, 3}), 3, no_divisor); },
                      "non-empty 4D or 5D (batch mode) tensor expected for input"));
  EXPECT_TRUE(refused([&] { ops::avg_pool(zeros({3, 3}), 2, no_divisor); }, "divisor must be not zero"));
}

TEST(Pool, RefusesBadArgumentsWithPyTorchsWords) {
  const Tensor x = zeros({2, 3, 5, 5});
  auto params = [](std::vector<int64_t> k, auto fn) {
    ops::PoolParams p;
    p.kernel_size = std::move(k);
    fn(p);
    return p;
  };
  auto none = [](ops::PoolParams&) {};
  EXPECT_TRUE(throws_with([&] { ops::max_pool(x, 2, params({3}, [](auto& p) { p.padding = {2}; })); },
                          "pad should be at most half of kernel size, but got pad=2 and kernel_size=3"));
  EXPECT_TRUE(throws_with([&] { ops::avg_pool(x, 2, params({2}, [](auto& p) { p.stride = {0}; })); },
                          "stride should not be zero"));
  EXPECT_TRUE(throws_with([&] { ops::avg_pool(x, 2, params({2}, [](auto& p) { p.divisor_override = 0; })); },
                          "divisor must be not zero"));
  EXPECT_TRUE(throws_with([&] { ops::max_pool(x, 2, params({2}, [](auto& p) { p.padding = {-1}; })); },
                          "pad must be non-negative, but got pad: -1"));
  EXPECT_TRUE(throws_with([&] { ops::max_pool(x, 2, params({2}, [](auto& p) { p.dilation = {0}; })); },
                          "dilation should be greater than zero"));
  EXPECT_TRUE(throws_with([&] { ops::max_pool(x, 2, params({0}, [](auto& p) { p.stride = {1}; })); },
                          "kernel size should be greater than zero"));
  EXPECT_TRUE(throws_with([&] { ops::max_pool(zeros({2, 3, 2, 2}), 2, params({3}, none)); },
                          "Given input size: (3x2x2). Calculated output size: (3x0x0). Output size is too small"));
  EXPECT_TRUE(throws_with([&] { ops::avg_pool(zeros({3, 2, 2}), 2, params({3}, none)); },
                          "Given input size: (3x2x2). Calculated output size: (3x0x0). Output size is too small"));
  EXPECT_TRUE(throws_with([&] { ops::avg_pool(zeros({2, 2, 3}), 1, params({5}, none)); },
                          "Given input size: (2x1x3). Calculated output size: (2x1x0). Output size is too small"));
  EXPECT_TRUE(throws_with([&] { ops::max_pool(zeros({2, 3}), 1, params({5}, none)); },
                          "Given input size: (2x1x3). Calculated output size: (2x1x0). Output size is too small"));
  // avg_pool3d takes no window larger than the unpadded input, even where the padding would make room for it.
  EXPECT_TRUE(throws_with([&] { ops::avg_pool(zeros({1, 2, 1, 9, 9}), 3, params({2, 1, 1}, none)); },
                          "input image (T: 1 H: 9 W: 9) smaller than kernel size (kT: 2 kH: 1 kW: 1)"));
  EXPECT_TRUE(throws_with(
      [&] { ops::avg_pool(zeros({2, 3, 4, 2}), 3, params({3, 1, 5}, [](auto& p) { p.padding = {0, 0, 2}; })); },
      "input image (T: 3 H: 4 W: 2) smaller than kernel size (kT: 3 kH: 1 kW: 5)"));
  EXPECT_EQ(ops::max_pool(zeros({1, 2, 1, 9, 9}), 3, params({2, 1, 1}, [](auto& p) { p.padding = {1, 0, 0}; }))
                .output.sizes(),
            (Shape{1, 2, 1, 9, 9}));  // max_pool3d does take it
  EXPECT_TRUE(throws_with([&] { ops::max_pool(zeros({2, 0, 4, 4}), 2, params({2}, none)); },
                          "Expected 3D or 4D (batch mode) tensor with optional 0 dim batch size for input, but "
                          "got:[2, 0, 4, 4]"));
  EXPECT_TRUE(throws_with([&] { ops::max_pool(x, 2, params({2, 2, 2}, none)); },
                          "max_pool2d: kernel_size must either be a single int, or a tuple of two ints"));
  EXPECT_TRUE(throws_with([&] { ops::adaptive_avg_pool(zeros({2, 3, 0, 4}), 2, {2}); },
                          "adaptive_avg_pool2d(): Expected input to have non-zero size for non-batch dimensions, but "
                          "input has sizes [2, 3, 0, 4] with dimension 2 being empty"));
  EXPECT_TRUE(throws_with(
      [&] {
        ops::adaptive_avg_pool(x, 2, {2, 2, 2});
      },
      "adaptive_avg_pool2d: output_size must be 2"));
  EXPECT_TRUE(throws_with(
      [&] {
        ops::adaptive_avg_pool(x, 2, {-1, 2});
      },
      "adaptive_avg_pool2d: elements of output_size must be greater than or equal to 0 but "
      "received {-1, 2}"));
  // PyTorch's quirks, each checked on PyTorch 1.13: 1-d adaptive pooling words itself as the 2-d pooling of the
  // input with a unit height, 3-d average pooling its output sizes as 2-d; average pooling takes empty channels (1-d,
  // 2-d), max pooling refuses them, and refuses a negative output size only as it creates its output.
  EXPECT_TRUE(throws_with(
      [&] {
        ops::adaptive_avg_pool(zeros({1, 2, 4}), 1, {-1});
      },
      "adaptive_avg_pool2d: elements of output_size must be greater than or equal to 0 but "
      "received {1, -1}"));
  EXPECT_TRUE(throws_with(
      [&] {
        ops::adaptive_avg_pool(zeros({1, 2, 4, 4, 4}), 3, {2, -1, 1});
      },
      "adaptive_avg_pool2d: elements of output_size must be greater than or equal to 0 but "
      "received {2, -1,1}"));
  EXPECT_TRUE(throws_with(
      [&] {
        ops::adaptive_avg_pool(zeros({1, 2, 0}), 1, {2});
      },
      "adaptive_avg_pool2d(): Expected input to have non-zero size for non-batch dimensions, but "
      "input has sizes [1, 2, 1, 0] with dimension 3 being empty"));
  EXPECT_TRUE(throws_with(
      [&] {
        ops::adaptive_avg_pool(zeros({1, 0, 4, 4}), 3, {2});
      },
      "adaptive_avg_pool3d(): Expected input to have non-zero size for non-batch dimensions, but "
      "input has sizes [1, 0, 4, 4] with dimension 1 being empty"));
  EXPECT_EQ(ops::adaptive_avg_pool(zeros({1, 0, 4, 4}), 2, {2}).sizes(), (Shape{1, 0, 2, 2}));
  EXPECT_EQ(ops::adaptive_avg_pool(zeros({1, 2, 4, 4}), 2, {0, 2}).sizes(), (Shape{1, 2, 0, 2}));
  EXPECT_TRUE(throws_with(
      [&] {
        ops::adaptive_max_pool(zeros({1, 0, 4}), 1, {2});
      },
      "adaptive_max_pool2d(): Expected input to have non-zero size for non-batch dimensions, but "
      "input has sizes [1, 0, 1, 4] with dimension 1 being empty"));
  EXPECT_TRUE(throws_with(
      [&] {
        ops::adaptive_max_pool(zeros({1, 2, 4}), 1, {-1});
      },
      "Trying to create tensor with negative dimension -1: [1, 2, 1, -1]"));
  EXPECT_TRUE(throws_with(
      [&] {
        ops::adaptive_max_pool(zeros({2, 4, 4, 4}), 3, {2, -3, -1});
      },
      "Trying to create tensor with negative dimension -3: [2, 2, -3, -1]"));
  EXPECT_TRUE(throws_with([] { nn::MaxPool2d(nn::MaxPoolOptions({2, 2, 2})); },
                          "MaxPool2d: kernel_size must either be a single int, or a tuple of 2 ints"));
  // Empty batch: empty output, empty gradient.
  const auto r = ops::max_pool(zeros({0, 3, 4, 4}), 2, params({2}, none));
  EXPECT_EQ(r.output.sizes(), (Shape{0, 3, 2, 2}));
  EXPECT_EQ(ops::max_pool_backward(zeros({0, 3, 2, 2}), zeros({0, 3, 4, 4}), r.indices, 2, params({2}, none)).sizes(),
            (Shape{0, 3, 4, 4}));
  // Indices max_pool could not have returned: out of the plane, negative, in either memory format. A refusal, not a
  // write past the gradient (PyTorch 1.13's CPU backward crashes on them).
  const auto pooled = ops::max_pool(randn({2, 3, 4, 4}), 2, params({2}, none));
  for (const int64_t bad : {int64_t{16}, int64_t{-1}, int64_t{1} << 40}) {
    std::vector<int64_t> indices = pooled.indices.to_vector<int64_t>();
    indices[17] = bad;  // one index of the second image
    const Tensor bad_indices = from_vector(indices, pooled.indices.sizes());
    const std::string message =
        "max_pool_backward: Found an invalid max index: " + std::to_string(bad) + " (input planes hold 16 elements)";
    EXPECT_TRUE(throws_with(
        [&] { ops::max_pool_backward(pooled.output, randn({2, 3, 4, 4}), bad_indices, 2, params({2}, none)); },
        message));
    const Tensor cl_input = randn({2, 3, 4, 4}).to(MemoryFormat::ChannelsLast);
    EXPECT_TRUE(throws_with(
        [&] {
          ops::max_pool_backward(pooled.output.to(MemoryFormat::ChannelsLast), cl_input,
                                 bad_indices.to(MemoryFormat::ChannelsLast), 2, params({2}, none));
        },
        message));
  }
  // Adaptive pooling to zero size gives an empty output and a zero gradient.
  EXPECT_EQ(ops::adaptive_avg_pool(x, 2, {0}).sizes(), (Shape{2, 3, 0, 0}));
  EXPECT_EQ(ops::adaptive_avg_pool_backward(zeros({2, 3, 0, 0}), x, 2).to_vector(), std::vector<float>(150, 0.0f));
}

}  // namespace
}  // namespace normrt

namespace normrt {
namespace {

// A row shortcut row(g, plane, oy, values, indices) against the general window walk (poolmath::max_window), output
// by output, value bits and index, on `trials` planes of ties, NaNs and -inf.
template <typename Row>
void expect_rows_equal_the_general_walk(const poolmath::PoolGeometry& g, Row row, uint32_t trials) {
  std::vector<float> plane(static_cast<std::size_t>(g.in[1] * g.in[2]));
  const float specials[] = {0.0f, -0.0f, 1.0f, 1.0f, -INFINITY, NAN, 2.5f, -3.0f};
  for (uint32_t trial = 0; trial < trials; ++trial) {
    std::vector<uint32_t> bits(plane.size());
    Generator(trial).random_u32(bits.data(), static_cast<int64_t>(bits.size()));
    for (std::size_t i = 0; i < plane.size(); ++i) plane[i] = specials[bits[i] % 8];
    for (int64_t oy = 0; oy < g.out[1]; ++oy) {
      std::vector<float> values(static_cast<std::size_t>(g.out[2]));
      std::vector<int64_t> indices(values.size());
      row(g, plane.data(), oy, values.data(), indices.data());
      for (int64_t ox = 0; ox < g.out[2]; ++ox) {
        const int64_t oc[3] = {0, oy, ox};
        float general = 0;
        int64_t general_index = -1;
        poolmath::max_window(g, plane.data(), oc, general, general_index);
        ASSERT_EQ(indices[ox], general_index) << oy << " " << ox;
        ASSERT_TRUE(std::memcmp(&values[ox], &general, sizeof(float)) == 0) << values[ox] << " vs " << general;
      }
    }
  }
}

// MaxPool2d(2)'s shortcut (poolmath::max_row_2x2) against the general window walk, on planes with ties, NaNs and
// -inf, odd sizes (the last row and column dropped) and every value at every corner of a window.
TEST(Pool, PlainTwoByTwoWindowsEqualTheGeneralWalk) {
  poolmath::PoolGeometry g;
  g.kernel[1] = g.kernel[2] = 2;
  g.stride[1] = g.stride[2] = 2;
  for (const auto& [h, w] : std::vector<std::pair<int64_t, int64_t>>{{2, 2}, {5, 7}, {24, 24}, {3, 2}}) {
    g.in[1] = h;
    g.in[2] = w;
    g.out[1] = h / 2;
    g.out[2] = w / 2;
    ASSERT_TRUE(poolmath::is_plain_2x2(g));
    expect_rows_equal_the_general_walk(g, poolmath::max_row_2x2, 50);
  }
  g.in[1] = 5;
  g.out[1] = 3;  // ceil mode: the last window is clipped, so the general walk is needed
  EXPECT_FALSE(poolmath::is_plain_2x2(g));
}

// max_row_2d (2-d max pooling without dilation: whole windows as SIMD lanes, clipped ones through the general
// walk) against the general walk, for ResNet's 3x3 stride-2 stem and other kernels, strides, paddings and ceil mode,
// on planes with ties, NaNs and -inf.
TEST(Pool, PlainTwoDimensionalRowsEqualTheGeneralWalk) {
  struct Case {
    int64_t h, w, kernel, stride, pad;
    bool ceil;
  };
  const std::vector<Case> cases = {{9, 11, 3, 2, 1, false}, {8, 8, 3, 1, 0, false}, {7, 10, 2, 1, 1, true},
                                   {13, 17, 5, 3, 2, true}, {4, 3, 3, 2, 1, true},  {40, 37, 3, 2, 1, false}};
  for (const Case& c : cases) {
    SCOPED_TRACE(std::to_string(c.h) + "x" + std::to_string(c.w) + " k" + std::to_string(c.kernel) + " s" +
                 std::to_string(c.stride) + " p" + std::to_string(c.pad) + (c.ceil ? " ceil" : ""));
    poolmath::PoolGeometry g;
    g.in[1] = c.h;
    g.in[2] = c.w;
    for (int d = 1; d < 3; ++d) {
      g.kernel[d] = c.kernel;
      g.stride[d] = c.stride;
      g.pad[d] = c.pad;
      const int64_t span = g.in[d] + 2 * c.pad - c.kernel;
      g.out[d] = (c.ceil ? (span + c.stride - 1) / c.stride : span / c.stride) + 1;
      if (c.ceil && (g.out[d] - 1) * c.stride >= g.in[d] + c.pad) --g.out[d];  // PyTorch: windows start inside
    }
    ASSERT_TRUE(poolmath::is_plain_2d(g));
    expect_rows_equal_the_general_walk(g, poolmath::max_row_2d, 30);
  }
  poolmath::PoolGeometry dilated;
  dilated.dilation[2] = 2;
  EXPECT_FALSE(poolmath::is_plain_2d(dilated));
}

}  // namespace
}  // namespace normrt
