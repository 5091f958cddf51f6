// Network building blocks on the CPU: finite-difference gradient checks against double-precision references,
// dropout, initialisers, Sequential, optimizers' bookkeeping, schedulers and argument errors.
#include <cmath>
#include <cstring>
#include <functional>
#include <sstream>

#include "empty_shapes.h"
#include "nn_math.cuh"
#include "tensor_math.cuh"
#include "test_util.h"

namespace normrt {
namespace {

using testing::all_close;
using testing::throws_with;
using testing::to_double;

// Central differences of a double-precision scalar function at x.
std::vector<double> numeric_gradient(std::vector<double> x,
                                     const std::function<double(const std::vector<double>&)>& f) {
  const double h = 1e-6;
  std::vector<double> g(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double keep = x[i];
    x[i] = keep + h;
    const double up = f(x);
    x[i] = keep - h;
    const double down = f(x);
    x[i] = keep;
    g[i] = (up - down) / (2 * h);
  }
  return g;
}

double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

TEST(NnGradcheck, Linear) {
  Generator gen(1);
  const int64_t n = 3, in = 4, out = 2;
  const Tensor x = randn({n, in}, gen), w = randn({out, in}, gen), b = randn({out}, gen), dy = randn({n, out}, gen);
  Tensor dw, db;
  const Tensor dx = ops::linear_backward(dy, x, w, &dw, &db);
  const auto xd = to_double(x), wd = to_double(w), bd = to_double(b), dyd = to_double(dy);
  auto loss = [&](const std::vector<double>& X, const std::vector<double>& W, const std::vector<double>& B) {
    std::vector<double> y(n * out);
    for (int64_t r = 0; r < n; ++r)
      for (int64_t o = 0; o < out; ++o) {
        double s = B[o];
        for (int64_t i = 0; i < in; ++i) s += X[r * in + i] * W[o * in + i];
        y[r * out + o] = s;
      }
    return dot(y, dyd);
  };
  EXPECT_TRUE(all_close(dx.to_vector(), numeric_gradient(xd, [&](auto& v) { return loss(v, wd, bd); }), 1e-4, 1e-5));
  EXPECT_TRUE(all_close(dw.to_vector(), numeric_gradient(wd, [&](auto& v) { return loss(xd, v, bd); }), 1e-4, 1e-5));
  EXPECT_TRUE(all_close(db.to_vector(), numeric_gradient(bd, [&](auto& v) { return loss(xd, wd, v); }), 1e-4, 1e-5));
  // A second backward accumulates (doubling is exact in float); without grad_bias the bias gradient is left alone.
  const auto once_w = dw.to_vector(), once_b = db.to_vector();
  ops::linear_backward(dy, x, w, &dw, &db);
  for (std::size_t i = 0; i < once_b.size(); ++i) EXPECT_EQ(db.to_vector()[i], 2 * once_b[i]);
  for (std::size_t i = 0; i < once_w.size(); ++i) EXPECT_EQ(dw.to_vector()[i], 2 * once_w[i]);
  const auto twice = db.to_vector();
  ops::linear_backward(dy, x, w, &dw, nullptr);
  EXPECT_EQ(db.to_vector(), twice);
}

TEST(Nn, ReluBackwardIsThresholdBackward) {
  // PyTorch's relu backward (threshold_backward) zeroes the gradient where y <= 0 only: it passes where y is NaN.
  const Tensor y = from_vector(std::vector<float>{NAN, -0.0f, 0.0f, 3.0f, INFINITY}, {5});
  const Tensor dy = from_vector(std::vector<float>{1.0f, 2.0f, 3.0f, 4.0f, 5.0f}, {5});
  EXPECT_EQ(ops::activation_backward(ops::Activation::ReLU, dy, y).to_vector(),
            (std::vector<float>{1.0f, 0.0f, 0.0f, 4.0f, 5.0f}));
}

TEST(NnGradcheck, ActivationsAndSoftmax) {
  Generator gen(2);
  std::vector<float> xv = randn({4, 5}, gen).to_vector();
  for (float& v : xv) v = std::fabs(v) < 0.05f ? v + 0.2f : v;  // keep ReLU's kink away from the differences
  const Tensor x = from_vector(xv, {4, 5}), dy = randn({4, 5}, gen);
  const auto xd = to_double(x), dyd = to_double(dy);
  struct Case {
    ops::Activation kind;
    std::function<double(double)> f;
  };
  const Case cases[] = {{ops::Activation::ReLU, [](double v) { return v > 0 ? v : 0.0; }},
                        {ops::Activation::Sigmoid, [](double v) { return 1 / (1 + std::exp(-v)); }},
                        {ops::Activation::Tanh, [](double v) { return std::tanh(v); }}};
  for (const auto& c : cases) {
    const Tensor y = ops::activation(c.kind, x);
    std::vector<double> y_ref;
    for (double v : xd) y_ref.push_back(c.f(v));
    EXPECT_TRUE(all_close(y.to_vector(), y_ref, 1e-6, 1e-7));
    const auto num = numeric_gradient(xd, [&](const std::vector<double>& v) {
      double s = 0;
      for (std::size_t i = 0; i < v.size(); ++i) s += dyd[i] * c.f(v[i]);
      return s;
    });
    EXPECT_TRUE(all_close(ops::activation_backward(c.kind, dy, y).to_vector(), num, 1e-4, 1e-5));
  }
  for (bool log : {false, true}) {
    auto ref = [&](const std::vector<double>& v) {
      double s = 0;
      for (int r = 0; r < 4; ++r) {
        double m = -INFINITY, z = 0;
        for (int c = 0; c < 5; ++c) m = std::max(m, v[r * 5 + c]);
        for (int c = 0; c < 5; ++c) z += std::exp(v[r * 5 + c] - m);
        for (int c = 0; c < 5; ++c) {
          const double ls = v[r * 5 + c] - m - std::log(z);
          s += dyd[r * 5 + c] * (log ? ls : std::exp(ls));
        }
      }
      return s;
    };
    const Tensor y = ops::softmax(x, log);
    EXPECT_TRUE(all_close(ops::softmax_backward(dy, y, log).to_vector(), numeric_gradient(xd, ref), 1e-4, 1e-5));
  }
}

// Rows of every length class of the lanes (shorter than, a multiple of, and past a multiple of kLineLanes, and long),
// far from zero and spread wide (those with a -inf entry), against double math. The bounds follow from float e^x (an
// ulp, of a value whose argument x - max was rounded once) and double sums.
TEST(Nn, SoftmaxAndCrossEntropyOfAwkwardRowsAreDoubleMathToFloatPrecision) {
  Generator gen(11);
  const double u = std::ldexp(1.0, -24);
  for (int64_t cols : {1, 7, 8, 9, 1003}) {
    for (double offset : {0.0, 1e4, -3e4}) {
      for (double spread : {1.0, 30.0}) {
        const int64_t rows = 3;
        std::vector<float> xv = (randn({rows, cols}, gen) * spread + offset).to_vector();
        const bool with_inf = cols > 1 && spread > 1;
        if (with_inf) xv[static_cast<std::size_t>(cols + 1)] = -INFINITY;
        const Tensor x = from_vector(xv, {rows, cols}), dy = randn({rows, cols}, gen);
        const std::vector<float> dyv = dy.to_vector();
        std::vector<int64_t> targets(static_cast<std::size_t>(rows));
        for (int64_t r = 0; r < rows; ++r) targets[static_cast<std::size_t>(r)] = (r * 5) % cols;
        const auto y = ops::softmax(x, false).to_vector(), log_y = ops::softmax(x, true).to_vector();
        const auto dx_log = ops::softmax_backward(dy, ops::softmax(x, true), true).to_vector();
        const auto ce = ops::cross_entropy(x, from_vector(targets, {rows}), ops::Reduction::Sum, 0.1);
        const auto grad = ce.grad_input.to_vector();
        double loss = 0;
        for (int64_t r = 0; r < rows; ++r) {
          const std::size_t base = static_cast<std::size_t>(r * cols);
          double m = -INFINITY, z = 0, sum_dy = 0, sum_x = 0;
          for (int64_t c = 0; c < cols; ++c) m = std::max(m, static_cast<double>(xv[base + c]));
          for (int64_t c = 0; c < cols; ++c) {
            z += std::exp(xv[base + c] - m);
            sum_dy += dyv[base + c];
            sum_x += xv[base + c];
          }
          const std::size_t t = base + static_cast<std::size_t>(targets[static_cast<std::size_t>(r)]);
          loss += m + std::log(z) - 0.9 * xv[t] - 0.1 / static_cast<double>(cols) * sum_x;
          for (int64_t c = 0; c < cols; ++c) {
            const std::size_t i = base + static_cast<std::size_t>(c);
            const double shift = xv[i] - m, p = std::exp(shift) / z, log_p = shift - std::log(z);
            const double p_bound = p == 0 ? 0 : p * (6 + std::fabs(shift)) * u + 0x1p-149;  // subnormals: an ulp
            ASSERT_NEAR(y[i], p, p_bound) << cols << " " << offset << " " << spread << " " << i;
            if (std::isinf(log_p)) ASSERT_EQ(log_y[i], log_p);
            else ASSERT_NEAR(log_y[i], log_p, (std::fabs(log_p) + 4) * u);
            const double dx = dyv[i] - p * sum_dy;
            const double dx_bound = (std::fabs(dx) + std::fabs(p * sum_dy) * (std::fabs(log_p) + 8)) * u;
            if (p > 0) ASSERT_NEAR(dx_log[i], dx, dx_bound);
            else ASSERT_EQ(dx_log[i], static_cast<float>(dx));
            const double g = p - (i == t ? 0.9 : 0.0) - 0.1 / static_cast<double>(cols);
            ASSERT_NEAR(grad[i], g, p_bound + (std::fabs(g) + 2) * u);
          }
        }
        if (with_inf) {
          EXPECT_TRUE(std::isinf(ce.loss.item<float>())) << "a -inf logit costs infinitely much where smoothed";
        } else {  // the offset cancels in double; log(sum) carries the float exponentials' error
          EXPECT_NEAR(ce.loss.item<float>(), loss, 1e-6 * (std::fabs(loss) + rows)) << cols << " " << offset;
        }
      }
    }
  }
  // A NaN anywhere in a row makes the whole row NaN; the other rows are untouched.
  const Tensor x = from_vector(std::vector<float>{1, NAN, 3, 1, 2, 3}, {2, 3});
  for (bool log : {false, true}) {
    const auto y = ops::softmax(x, log).to_vector();
    for (int c = 0; c < 3; ++c) EXPECT_TRUE(std::isnan(y[static_cast<std::size_t>(c)]));
    const auto clean = ops::softmax(from_vector(std::vector<float>{1, 2, 3}, {1, 3}), log).to_vector();
    EXPECT_EQ(std::vector<float>(y.begin() + 3, y.end()), clean);
  }
}

// The CPU softmax runs its own one-pass rows (src/nn_ops.cpp), compiled for the machine's widest vectors; the tests
// are compiled for plain x86-64: the ops must still compute the line functions' bits, which the kernels share. Row
// lengths around the blocks of 16 and groups of 8 the rows take, and a line with a stride (softmax over dim 1 of a
// 3-D tensor). (FloatMath checks the activations the same way.)
TEST(Nn, SoftmaxOnTheCpuIsTheLineFunctions) {
  Generator gen(12);
  for (int64_t cols : {1, 8, 15, 16, 17, 31, 33, 1000}) {
    const int64_t rows = 5;
    const Tensor x = randn({rows, cols}, gen) * 4.0, dy = randn({rows, cols}, gen);
    const std::vector<float> xv = x.to_vector(), dyv = dy.to_vector();
    for (bool log : {false, true}) {
      const Tensor y = ops::softmax(x, log);
      const std::vector<float> yv = y.to_vector(), dxv = ops::softmax_backward(dy, y, log).to_vector();
      std::vector<float> y_ref(xv.size()), dx_ref(xv.size());
      for (int64_t r = 0; r < rows; ++r) {
        const int64_t base = r * cols;
        tmath::softmax_line(xv.data() + base, cols, 1, y_ref.data() + base, log);
        tmath::softmax_backward_line(dyv.data() + base, yv.data() + base, cols, 1, dx_ref.data() + base, log);
      }
      ASSERT_EQ(0, std::memcmp(yv.data(), y_ref.data(), 4 * yv.size())) << cols << " log " << log;
      ASSERT_EQ(0, std::memcmp(dxv.data(), dx_ref.data(), 4 * dxv.size())) << cols << " log " << log;
    }
  }
  const int64_t outer = 3, length = 37, inner = 20;
  const std::vector<float> xv = (randn({outer, length, inner}, gen) * 4.0).to_vector();
  const auto yv = ops::softmax(from_vector(xv, {outer, length, inner}), 1, true).to_vector();
  std::vector<float> y_ref(xv.size());
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      const int64_t base = o * length * inner + i;
      tmath::softmax_line(xv.data() + base, length, inner, y_ref.data() + base, true);
    }
  EXPECT_EQ(0, std::memcmp(yv.data(), y_ref.data(), 4 * yv.size()));
}

TEST(NnGradcheck, Losses) {
  Generator gen(3);
  const Tensor x = randn({5, 4}, gen), target = randn({5, 4}, gen);
  const Tensor classes = from_vector(std::vector<int64_t>{0, 3, 1, 1, 2}, {5});
  const auto xd = to_double(x), td = to_double(target);
  for (double smoothing : {0.0, 0.2}) {
    const auto r = ops::cross_entropy(x, classes, ops::Reduction::Mean, smoothing);
    auto ce = [&](const std::vector<double>& v) {
      double total = 0;
      for (int i = 0; i < 5; ++i) {
        double m = -INFINITY, z = 0;
        for (int c = 0; c < 4; ++c) m = std::max(m, v[i * 4 + c]);
        for (int c = 0; c < 4; ++c) z += std::exp(v[i * 4 + c] - m);
        const double lse = m + std::log(z);
        const int t = static_cast<int>(classes.data<int64_t>()[i]);
        double smooth = 0;
        for (int c = 0; c < 4; ++c) smooth += lse - v[i * 4 + c];
        total += (1 - smoothing) * (lse - v[i * 4 + t]) + smoothing * smooth / 4;
      }
      return total / 5;
    };
    EXPECT_NEAR(r.loss.item(), ce(xd), 1e-6);
    EXPECT_TRUE(all_close(r.grad_input.to_vector(), numeric_gradient(xd, ce), 1e-4, 1e-5));
  }
  const auto m = ops::mse_loss(x, target, ops::Reduction::Sum);
  auto mse = [&](const std::vector<double>& v) {
    double s = 0;
    for (std::size_t i = 0; i < v.size(); ++i) s += (v[i] - td[i]) * (v[i] - td[i]);
    return s;
  };
  EXPECT_NEAR(m.loss.item(), mse(xd), 1e-4);
  EXPECT_TRUE(all_close(m.grad_input.to_vector(), numeric_gradient(xd, mse), 1e-4, 1e-5));
}

TEST(Nn, LayerModulesMatchTheirOps) {
  Generator gen(4);
  nn::Sequential model({std::make_shared<nn::Flatten>(), std::make_shared<nn::Linear>(6, 3, true, &gen),
                        std::make_shared<nn::Tanh>(), std::make_shared<nn::LogSoftmax>()});
  const Tensor x = randn({2, 2, 3}, gen);
  const Tensor y = model.forward(x);
  auto* linear = dynamic_cast<nn::Linear*>(&model[1]);
  ASSERT_NE(linear, nullptr);
  const Tensor expected =
      ops::softmax(ops::activation(ops::Activation::Tanh, ops::linear(x.reshape({2, 6}), linear->weight, linear->bias)),
                   true);
  EXPECT_EQ(y.to_vector(), expected.to_vector());
  const Tensor dx = model.backward(ones({2, 3}));
  EXPECT_EQ(dx.sizes(), x.sizes());
  EXPECT_TRUE(linear->weight.grad().defined());
  EXPECT_TRUE(throws_with([&] { model.backward(ones({2, 3})); }, "backward() needs a preceding forward()"));
}

// backward_parameters gives the parameter gradients of backward, bit for bit, while the first layers with parameters
// (a Linear, a Conv2d behind a parameterless Unflatten) compute no input gradient: their ops return it undefined.
TEST(Nn, BackwardParametersSkipsTheInputGradient) {
  auto build = [] {
    Generator gen(9);
    return std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::Module>>{
        std::make_shared<nn::Unflatten>(1, Shape{1, 4, 4}),
        std::make_shared<nn::Conv2d>(nn::ConvOptions(1, 2, {3}), &gen), std::make_shared<nn::ReLU>(),
        std::make_shared<nn::Flatten>(), std::make_shared<nn::Linear>(8, 5, false, &gen),
        std::make_shared<nn::Tanh>(), std::make_shared<nn::Linear>(5, 3, true, &gen)});
  };
  Generator gen(3);
  const Tensor x = randn({4, 16}, gen), dy = randn({4, 3}, gen);
  auto full = build(), partial = build();
  full->forward(x);
  EXPECT_EQ(full->backward(dy).sizes(), x.sizes());
  partial->forward(x);
  partial->backward_parameters(dy);
  const auto a = full->named_parameters(), b = partial->named_parameters();
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i)
    EXPECT_EQ(a[i].second.grad().to_vector(), b[i].second.grad().to_vector()) << a[i].first;
  EXPECT_TRUE(throws_with([&] { partial->backward(dy); }, "backward() needs a preceding forward()"));

  Generator g2(4);
  const Tensor w = randn({3, 6}, g2), input = randn({2, 6}, g2), grad = randn({2, 3}, g2);
  Tensor dw_full, dw_partial;
  ops::linear_backward(grad, input, w, &dw_full, nullptr);
  EXPECT_FALSE(ops::linear_backward(grad, input, w, &dw_partial, nullptr, false).defined());
  EXPECT_EQ(dw_full.to_vector(), dw_partial.to_vector());
}

TEST(Nn, InPlaceChangesToSavedTensorsAreRefusedByBackward) {
  Generator gen(5);
  const auto refused = [](auto fn, const std::string& saver) {
    return throws_with(fn, "one of the variables needed for gradient computation has been modified by an inplace "
                           "operation: [float32 [2, 3]], saved by " + saver + ", is at version 1; expected version 0 "
                           "instead");
  };
  // ReLU keeps its output: a caller that adds to it in place changes what backward would use.
  nn::ReLU relu;
  Tensor y = relu.forward(randn({2, 3}, gen));
  ops::add_(y, ones({2, 3}));
  EXPECT_TRUE(refused([&] { relu.backward(ones({2, 3})); }, "ReLU"));
  // Linear keeps its input and its weight: an in-place copy into the input, or an optimizer step between
  // forward and backward, are both caught.
  nn::Linear lin(3, 3, true, &gen);
  Tensor x = randn({2, 3}, gen);
  lin.forward(x);
  x.copy_(zeros({2, 3}));
  EXPECT_TRUE(refused([&] { lin.backward(ones({2, 3})); }, "Linear"));
  const Tensor x2 = randn({2, 3}, gen);
  lin.forward(x2);
  lin.weight.mutable_grad() = ones({3, 3});
  optim::SGD(lin.parameters(), optim::SGDOptions(0.1)).step();
  EXPECT_TRUE(throws_with([&] { lin.backward(ones({2, 3})); }, "[float32 [3, 3]], saved by Linear, is at version"));
  // A change through another view of the same storage counts too (BatchNorm keeps its input).
  nn::BatchNorm1d bn(3);
  Tensor x3 = randn({2, 3}, gen);
  bn.forward(x3);
  Tensor flat = x3.reshape({6});
  ops::add_(flat, ones({6}));
  EXPECT_TRUE(refused([&] { bn.backward(ones({2, 3})); }, "BatchNorm1d"));
  // Untouched, the same sequence works; Softmax too.
  const Tensor x4 = randn({2, 3}, gen);
  bn.forward(x4);
  EXPECT_EQ(bn.backward(ones({2, 3})).sizes(), (Shape{2, 3}));
  nn::Softmax softmax;
  Tensor p = softmax.forward(x4);
  p.bump_version();  // as code that wrote through p.data<float>() must
  EXPECT_TRUE(refused([&] { softmax.backward(ones({2, 3})); }, "Softmax"));
}

TEST(Nn, ZeroSizeDimensionsThroughEveryOp) { testing::check_empty_nn_ops_on(Device::cpu()); }

TEST(Nn, ModulesPrintAsPyTorchPrintsThem) {
  auto inner = std::make_shared<nn::Sequential>(
      std::make_shared<nn::BatchNorm3d>(nn::BatchNormOptions(5).eps(2e-5).momentum(0.25)));
  nn::Sequential model(
      std::make_shared<nn::Linear>(784, 256, false), std::make_shared<nn::BatchNorm1d>(256),
      std::make_shared<nn::ReLU>(), std::make_shared<nn::Dropout>(0.2), std::make_shared<nn::Linear>(256, 10),
      std::make_shared<nn::BatchNorm2d>(
          nn::BatchNormOptions(3).eps(1e-3).momentum(std::nullopt).affine(false).track_running_stats(false)),
      std::make_shared<nn::Sigmoid>(), std::make_shared<nn::Tanh>(), std::make_shared<nn::Softmax>(),
      std::make_shared<nn::LogSoftmax>(), std::make_shared<nn::Flatten>(), inner,
      std::make_shared<nn::BatchNorm1d>(nn::BatchNormOptions(4).eps(100000.0).momentum(1e-7)));
  std::ostringstream os;
  os << model;
  // print(torch.nn.Sequential(Linear(784, 256, bias=False), BatchNorm1d(256), ReLU(), Dropout(0.2), Linear(256, 10),
  //   BatchNorm2d(3, eps=1e-3, momentum=None, affine=False, track_running_stats=False), Sigmoid(), Tanh(),
  //   Softmax(dim=1), LogSoftmax(dim=1), Flatten(), Sequential(BatchNorm3d(5, eps=2e-5, momentum=0.25)),
  //   BatchNorm1d(4, eps=100000.0, momentum=1e-7))) in PyTorch 1.13:
  EXPECT_EQ(os.str(), R"(Sequential(
  (0): Linear(in_features=784, out_features=256, bias=False)
  (1): BatchNorm1d(256, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)
  (2): ReLU()
  (3): Dropout(p=0.2, inplace=False)
  (4): Linear(in_features=256, out_features=10, bias=True)
  (5): BatchNorm2d(3, eps=0.001, momentum=None, affine=False, track_running_stats=False)
  (6): Sigmoid()
  (7): Tanh()
  (8): Softmax(dim=1)
  (9): LogSoftmax(dim=1)
  (10): Flatten(start_dim=1, end_dim=-1)
  (11): Sequential(
    (0): BatchNorm3d(5, eps=2e-05, momentum=0.25, affine=True, track_running_stats=True)
  )
  (12): BatchNorm1d(4, eps=100000.0, momentum=1e-07, affine=True, track_running_stats=True)
))");
  // Python's float repr: [repr(v) for v in (1.0, 0.1, 1e16, 123456.789, 1.5e-5, -2.5e300, 1/3)]
  const std::vector<std::pair<double, std::string>> floats = {
      {1.0, "1.0"}, {0.1, "0.1"}, {1e16, "1e+16"}, {123456.789, "123456.789"}, {1.5e-5, "1.5e-05"},
      {-2.5e300, "-2.5e+300"}, {1.0 / 3, "0.3333333333333333"}, {0.0001, "0.0001"}, {123.0, "123.0"}};
  for (const auto& [v, text] : floats) EXPECT_EQ(nn::python_float_repr(v), text);
}

TEST(Nn, SequentialTakesModulesByValue) {
  // The same network built from values and from shared_ptrs (same weights) computes the same thing.
  Generator g1(11);
  nn::Sequential by_value(nn::Linear(5, 4, false), nn::BatchNorm1d(4), nn::ReLU(),
                          nn::Sequential(nn::Linear(4, 3, true), nn::Tanh()));
  nn::Sequential by_pointer(std::make_shared<nn::Linear>(5, 4, false), std::make_shared<nn::BatchNorm1d>(4),
                            std::make_shared<nn::ReLU>(),
                            std::make_shared<nn::Sequential>(std::make_shared<nn::Linear>(4, 3, true),
                                                             std::make_shared<nn::Tanh>()));
  EXPECT_EQ(by_value.state_dict().size(), 8u);
  by_pointer.load_state_dict(by_value.state_dict());
  std::ostringstream a, b;
  a << by_value;
  b << by_pointer;
  EXPECT_EQ(a.str(), b.str());

  // A module moved in keeps its tensors' identity: the handle taken before the move is the registered parameter.
  nn::Linear head(3, 2);
  const Tensor head_weight = head.weight;
  by_value.push_back(std::move(head));
  by_pointer.push_back(std::make_shared<nn::Linear>(3, 2));
  by_pointer.at<nn::Linear>(4).weight.copy_(head_weight);
  by_pointer.at<nn::Linear>(4).bias.copy_(by_value.at<nn::Linear>(4).bias);
  EXPECT_TRUE(head.parameters().empty());  // the moved-from module is empty
  const auto params = by_value.parameters();
  ASSERT_EQ(params.size(), 7u);
  EXPECT_TRUE(params[5].is_same(head_weight));

  // Trained side by side, the two stay equal: every registered tensor of the moved modules is the live member.
  optim::SGD opt_v(by_value.parameters(), optim::SGDOptions(0.1));
  optim::SGD opt_p(by_pointer.parameters(), optim::SGDOptions(0.1));
  const auto head_initial = to_double(head_weight);
  const Tensor x = randn({6, 5}, g1);
  for (int step = 0; step < 3; ++step) {
    for (auto* m : {&by_value, &by_pointer}) {
      m->zero_grad();
      m->forward(x);
      m->backward(ones({6, 2}));
    }
    opt_v.step();
    opt_p.step();
  }
  const auto sv = by_value.state_dict(), sp = by_pointer.state_dict();
  ASSERT_EQ(sv.size(), sp.size());
  for (std::size_t i = 0; i < sv.size(); ++i) {
    EXPECT_EQ(sv[i].first, sp[i].first);
    if (sv[i].second.dtype() == DType::Int64)
      EXPECT_EQ(sv[i].second.to_vector<int64_t>(), sp[i].second.to_vector<int64_t>()) << sv[i].first;
    else
      EXPECT_EQ(sv[i].second.to_vector(), sp[i].second.to_vector()) << sv[i].first;
  }
  EXPECT_NE(to_double(head_weight), head_initial);  // the handle taken before the move was stepped
}

TEST(Nn, ModuleTreesCanBeWalkedAndPartlyLoaded) {
  auto block = std::make_shared<nn::Sequential>(std::make_shared<nn::Linear>(3, 3), std::make_shared<nn::ReLU>());
  nn::Sequential model(std::make_shared<nn::Linear>(4, 3, false), std::make_shared<nn::BatchNorm1d>(3), block);
  EXPECT_EQ(model.children().size(), 3u);
  std::vector<std::string> names;
  for (const auto& [name, m] : model.named_modules()) names.push_back(name + ":" + m->name());
  EXPECT_EQ(names, (std::vector<std::string>{":Sequential", "0:Linear", "1:BatchNorm1d", "2:Sequential", "2.0:Linear",
                                             "2.1:ReLU"}));
  std::vector<std::string> order;  // children before parents, as PyTorch's apply
  model.apply([&](nn::Module& m) { order.push_back(m.name()); });
  EXPECT_EQ(order, (std::vector<std::string>{"Linear", "BatchNorm1d", "Linear", "ReLU", "Sequential", "Sequential"}));
  EXPECT_EQ(model.at<nn::BatchNorm1d>(1).options().num_features(), 3);
  EXPECT_TRUE(throws_with([&] { model.at<nn::Linear>(1); }, "module 1 is a BatchNorm1d, not the type asked for"));
  EXPECT_TRUE(throws_with([&] { model[7]; }, "index 7 is out of range (3 modules)"));

  // strict=false loads the keys both sides have and reports the rest, as PyTorch's _IncompatibleKeys.
  nn::NamedTensors partial = {{"0.weight", ones({3, 4})}, {"extra.bias", zeros({2})}};
  const auto result = model.load_state_dict(partial, false);
  EXPECT_EQ(model.at<nn::Linear>(0).weight.to_vector(), std::vector<float>(12, 1.0f));
  EXPECT_EQ(result.unexpected_keys, (std::vector<std::string>{"extra.bias"}));
  // num_batches_tracked is not missing: BatchNorm loads a lacking one as 0, as PyTorch's.
  EXPECT_EQ(result.missing_keys, (std::vector<std::string>{"1.weight", "1.bias", "1.running_mean", "1.running_var",
                                                           "2.0.weight", "2.0.bias"}));
  EXPECT_TRUE(throws_with([&] { model.load_state_dict(partial); },
                          "Missing key(s) in state_dict: \"1.weight\", \"1.bias\", \"1.running_mean\", "
                          "\"1.running_var\", \"2.0.weight\", \"2.0.bias\". \n\tUnexpected key(s) in state_dict: "
                          "\"extra.bias\". "));
  partial[0].second = ones({4, 4});  // shapes must match even without strict
  EXPECT_TRUE(throws_with([&] { model.load_state_dict(partial, false); },
                          ":\n\tsize mismatch for 0.weight: copying a param with shape torch.Size([4, 4]) from "
                          "checkpoint"));
}

TEST(Nn, FoldedBatchNormGivesTheSameEvalOutputs) {
  Generator gen(11);
  auto inner = std::make_shared<nn::Sequential>(std::make_shared<nn::Linear>(3, 3, true, &gen),
                                                std::make_shared<nn::BatchNorm1d>(3));
  nn::Sequential model(std::make_shared<nn::Linear>(6, 8, false, &gen), std::make_shared<nn::BatchNorm1d>(8),
                       std::make_shared<nn::ReLU>(), std::make_shared<nn::Linear>(8, 5, true, &gen),
                       std::make_shared<nn::BatchNorm1d>(nn::BatchNormOptions(5).affine(false).eps(1e-3)),
                       std::make_shared<nn::Linear>(5, 3, true, &gen),
                       std::make_shared<nn::BatchNorm1d>(nn::BatchNormOptions(3).track_running_stats(false)), inner);
  // Non-trivial affine parameters and running statistics (a few training batches of shifted data).
  for (auto* bn : {&model.at<nn::BatchNorm1d>(1), &inner->at<nn::BatchNorm1d>(1)}) {
    bn->weight.copy_(rand({bn->weight.numel()}, gen));
    bn->bias.copy_(randn({bn->bias.numel()}, gen));
  }
  for (int i = 0; i < 4; ++i) {
    Tensor x = randn({16, 6}, gen);
    ops::add_(x, full({16, 6}, 3.0));
    model.forward(x);
  }
  EXPECT_TRUE(throws_with([&] { nn::fold_batchnorm(model); }, "the model must be in eval mode"));
  model.eval();
  const auto folded = nn::fold_batchnorm(model);
  std::ostringstream os;
  os << *folded;
  EXPECT_EQ(os.str(), R"(Sequential(
  (0): Linear(in_features=6, out_features=8, bias=True)
  (1): ReLU()
  (2): Linear(in_features=8, out_features=5, bias=True)
  (3): Linear(in_features=5, out_features=3, bias=True)
  (4): BatchNorm1d(3, eps=1e-05, momentum=0.1, affine=True, track_running_stats=False)
  (5): Sequential(
    (0): Linear(in_features=3, out_features=3, bias=True)
  )
))");
  const Tensor x = randn({7, 6}, gen);
  const auto expected = model.forward(x).to_vector();
  EXPECT_TRUE(all_close(folded->forward(x).to_vector(), std::vector<double>(expected.begin(), expected.end()), 1e-5,
                        1e-6));
}

TEST(Nn, NoGradGuardKeepsNothingForBackward) {
  nn::Sequential model(std::make_shared<nn::Linear>(4, 3), std::make_shared<nn::BatchNorm1d>(3),
                       std::make_shared<nn::ReLU>());
  Generator gen(2);
  const Tensor x = randn({5, 4}, gen);
  EXPECT_TRUE(is_grad_enabled());
  {
    NoGradGuard guard;
    EXPECT_FALSE(is_grad_enabled());
    {
      NoGradGuard nested;
    }
    EXPECT_FALSE(is_grad_enabled());
    const Tensor y = model.forward(x);
    EXPECT_EQ(model.at<nn::BatchNorm1d>(1).num_batches_tracked.item<int64_t>(), 1);  // running stats still update
    EXPECT_TRUE(throws_with([&] { model.backward(ones({5, 3})); }, "backward() needs a preceding forward()"));
  }
  EXPECT_TRUE(is_grad_enabled());
  model.forward(x);
  EXPECT_EQ(model.backward(ones({5, 3})).sizes(), (Shape{5, 4}));
}

TEST(Nn, LogLinesReachTheUsersHandlerAtItsLevel) {
  std::vector<std::pair<LogLevel, std::string>> lines;
  set_log_handler([&](LogLevel level, const std::string& message) { lines.emplace_back(level, message); });
  const LogLevel before = log_level();
  set_log_level(LogLevel::Warning);
  nn::Linear empty_input(0, 3);  // PyTorch warns: Initializing zero-element tensors is a no-op
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0], std::make_pair(LogLevel::Warning, std::string("Initializing zero-element tensors is a no-op")));
  set_log_level(LogLevel::Error);
  nn::Linear quiet(0, 3);
  log(LogLevel::Info, "not shown");
  EXPECT_EQ(lines.size(), 1u);
  set_log_level(LogLevel::Debug);
  log(LogLevel::Info, "shown");
  EXPECT_EQ(lines.back(), std::make_pair(LogLevel::Info, std::string("shown")));
  set_log_handler(nullptr);
  set_log_level(before);
}

TEST(Nn, AModuleRunTwiceBeforeItsBackwardsDifferentiatesEachCall) {
  // Weight sharing (a siamese pair): two forwards, each with its own context, then their backwards in reverse
  // order. Each call's gradient equals that of a separate copy run on that input alone; the shared parameters
  // receive the sum.
  auto make = [] {
    Generator g(4);
    return std::make_shared<nn::Sequential>(std::make_shared<nn::Linear>(5, 4, false, &g),
                                            std::make_shared<nn::BatchNorm1d>(4), std::make_shared<nn::ReLU>(),
                                            std::make_shared<nn::Dropout>(0.3, &g),
                                            std::make_shared<nn::Linear>(4, 3, true, &g));
  };
  Generator gen(21);
  const Tensor x1 = randn({6, 5}, gen), x2 = randn({6, 5}, gen), dy1 = randn({6, 3}, gen), dy2 = randn({6, 3}, gen);
  auto shared = make();
  nn::Context first, second;
  const Tensor y1 = shared->forward(x1, first);
  const Tensor y2 = shared->forward(x2, second);
  const Tensor dx2 = shared->backward(dy2, second);
  const Tensor dx1 = shared->backward(dy1, first);
  EXPECT_TRUE(throws_with([&] { shared->backward(dy1, first); }, "each forward is differentiated once"));

  auto a = make();  // the first call alone
  EXPECT_EQ(a->forward(x1).to_vector(), y1.to_vector());
  EXPECT_EQ(a->backward(dy1).to_vector(), dx1.to_vector());
  auto b = make();  // the second call, after a forward of x1 (dropout stream and running statistics advanced)
  b->forward(x1);
  EXPECT_EQ(b->forward(x2).to_vector(), y2.to_vector());
  EXPECT_EQ(b->backward(dy2).to_vector(), dx2.to_vector());
  const auto ps = shared->parameters(), pa = a->parameters(), pb = b->parameters();
  for (std::size_t i = 0; i < ps.size(); ++i) {
    const auto ga = pa[i].grad().to_vector(), gb = pb[i].grad().to_vector();
    std::vector<double> sum(ga.size());
    for (std::size_t j = 0; j < ga.size(); ++j) sum[j] = static_cast<double>(ga[j]) + gb[j];
    EXPECT_TRUE(all_close(ps[i].grad().to_vector(), sum, 1e-6, 1e-7)) << "parameter " << i;
  }
  EXPECT_EQ(shared->at<nn::BatchNorm1d>(1).running_mean.to_vector(),
            b->at<nn::BatchNorm1d>(1).running_mean.to_vector());
}

TEST(Nn, SequentialStateDictKeysFollowPyTorch) {
  nn::Sequential model({std::make_shared<nn::Linear>(4, 3, false), std::make_shared<nn::BatchNorm1d>(3),
                        std::make_shared<nn::ReLU>(), std::make_shared<nn::Dropout>(0.5),
                        std::make_shared<nn::Linear>(3, 2)});
  std::vector<std::string> keys;
  for (const auto& [k, v] : model.state_dict()) keys.push_back(k);
  // torch.nn.Sequential(Linear(4, 3, bias=False), BatchNorm1d(3), ReLU(), Dropout(0.5), Linear(3, 2))
  // .state_dict().keys() in PyTorch 1.13: module by module, each module's parameters then its buffers.
  EXPECT_EQ(keys, (std::vector<std::string>{"0.weight", "1.weight", "1.bias", "1.running_mean", "1.running_var",
                                            "1.num_batches_tracked", "4.weight", "4.bias"}));
  EXPECT_EQ(model.parameters().size(), 5u);
  model.eval();
  EXPECT_FALSE(model[1].is_training());
  model.train();
  EXPECT_TRUE(model[3].is_training());
}

TEST(Nn, LinearInitialisationBoundsAndErrors) {
  Generator gen(5);
  nn::Linear linear(50, 20, true, &gen);
  const double bound = 1 / std::sqrt(50.0);
  for (float v : linear.weight.to_vector()) EXPECT_LE(std::fabs(v), bound);
  for (float v : linear.bias.to_vector()) EXPECT_LE(std::fabs(v), bound);
  EXPECT_TRUE(throws_with([&] { linear.forward(zeros({3, 49})); },
                          "mat1 and mat2 shapes cannot be multiplied (3x49 and 50x20)"));
  // ops::linear's other refusals in F.linear's words (its weight.t(), matmul, addmm's expand of the bias for 2-d and
  // 3-d inputs, the in-place add of it otherwise); a 1-D weight and the biases PyTorch broadcasts in normrt's words.
  const auto z = [](const Shape& shape) { return zeros(shape); };
  EXPECT_TRUE(throws_with([&] { ops::linear(z({2, 2, 2, 3}), z({5, 4}), Tensor()); },
                          "mat1 and mat2 shapes cannot be multiplied (8x3 and 4x5)"));
  EXPECT_TRUE(throws_with([&] { ops::linear(z({2, 3}), z({1, 2, 3}), Tensor()); },
                          "t() expects a tensor with <= 2 dimensions, but self is 3D"));
  EXPECT_TRUE(throws_with([&] { ops::linear(z({}), z({5, 3}), Tensor()); },
                          "both arguments to matmul need to be at least 1D, but they are 0D and 2D"));
  EXPECT_TRUE(throws_with([&] { ops::linear(z({2, 3, 3}), z({5, 3}), z({4})); },
                          "The expanded size of the tensor (5) must match the existing size (4) at non-singleton "
                          "dimension 1.  Target sizes: [6, 5].  Tensor sizes: [4]"));
  EXPECT_TRUE(throws_with([&] { ops::linear(z({2, 2, 4, 3}), z({5, 3}), z({3, 5})); },
                          "The size of tensor a (4) must match the size of tensor b (3) at non-singleton dimension 2"));
  EXPECT_TRUE(throws_with([&] { ops::linear(z({3}), z({5, 3}), z({2, 5})); },
                          "output with shape [5] doesn't match the broadcast shape [2, 5]"));
  EXPECT_TRUE(throws_with([&] { ops::linear(z({2, 3}), z({3}), Tensor()); },
                          "linear: expected a 2-D weight (out, in), got shape [3]"));
  EXPECT_TRUE(throws_with([&] { ops::linear(z({2, 3}), z({5, 3}), z({1})); },
                          "linear: expected a bias of shape [5], got [1]"));
  nn::Linear no_bias(3, 2, false);
  EXPECT_EQ(no_bias.parameters().size(), 1u);
}

// Logits of -inf (masked classes), as PyTorch: without smoothing the class counts for nothing (its probability and
// gradient are 0), a target on it costs +inf, and with smoothing every class's log-probability counts: +inf. The
// expected losses are ln(sum of e^x over the finite classes) - x_t in double, times the target's weight; the rows as
// (N, C) and as the positions of (N, C, L).
TEST(Nn, CrossEntropyOfMinusInfinityLogitsIsPyTorchs) {
  const float inf = INFINITY;
  const std::vector<float> xv = {0.5f, -inf, 1.5f, -0.25f, 2.0f, 0.75f, -inf, -1.0f};  // 2 rows of 4 classes
  const std::vector<float> wv = {1.0f, 2.0f, 0.5f, 3.0f};
  std::vector<float> positions(8);  // (1, 4, 2): class c of row l at c * 2 + l
  for (int l = 0; l < 2; ++l)
    for (int c = 0; c < 4; ++c)
      positions[static_cast<std::size_t>(c * 2 + l)] = xv[static_cast<std::size_t>(l * 4 + c)];
  const std::vector<int64_t> targets = {2, 0}, on_masked = {1, 0};
  auto row_loss = [&](std::size_t r) {
    double z = 0;
    for (std::size_t c = 0; c < 4; ++c) z += std::exp(static_cast<double>(xv[r * 4 + c]));
    return std::log(z) - xv[r * 4 + static_cast<std::size_t>(targets[r])];
  };
  for (bool weighted : {false, true}) {
    for (bool spatial : {false, true}) {
      SCOPED_TRACE(std::string(weighted ? "weighted" : "unweighted") + (spatial ? " (N, C, L)" : " (N, C)"));
      const Tensor x = spatial ? from_vector(positions, {1, 4, 2}) : from_vector(xv, {2, 4});
      const Shape target_shape = spatial ? Shape{1, 2} : Shape{2};
      ops::CrossEntropyOptions o;
      o.reduction = ops::Reduction::Sum;
      if (weighted) o.weight = from_vector(wv, {4});
      const auto r = ops::cross_entropy(x, from_vector(targets, target_shape), o);
      double expected = 0;
      for (std::size_t i = 0; i < 2; ++i)
        expected += (weighted ? wv[static_cast<std::size_t>(targets[i])] : 1.0) * row_loss(i);
      EXPECT_NEAR(r.loss.item<float>(), expected, 1e-6 * expected);
      const auto g = r.grad_input.to_vector();
      EXPECT_EQ(g[spatial ? 2 : 1], 0.0f);  // the masked classes
      EXPECT_EQ(g[spatial ? 5 : 6], 0.0f);
      EXPECT_EQ(ops::cross_entropy(x, from_vector(on_masked, target_shape), o).loss.item<float>(), inf);
      o.label_smoothing = 0.1;
      EXPECT_EQ(ops::cross_entropy(x, from_vector(targets, target_shape), o).loss.item<float>(), inf);
    }
  }
}

TEST(Nn, CrossEntropyErrorsNameTheProblem) {
  const Tensor logits = zeros({4, 10});
  EXPECT_TRUE(throws_with([&] { ops::cross_entropy(logits, from_vector(std::vector<int64_t>{1, 2, 12, 3}, {4})); },
                          "Target 12 is out of bounds."));
  EXPECT_TRUE(throws_with([&] { ops::cross_entropy(logits, from_vector(std::vector<int64_t>{1, 2, 3}, {3})); },
                          "Expected input batch_size (4) to match target batch_size (3)."));
  EXPECT_TRUE(
      throws_with([&] { ops::cross_entropy(logits, zeros({4})); }, "expected scalar type Long but found Float"));
  EXPECT_TRUE(throws_with([&] { ops::mse_loss(zeros({2, 3}), zeros({3, 2})); },
                          "The size of tensor a (3) must match the size of tensor b (2) at non-singleton dimension 1"));
  const Tensor t = from_vector(std::vector<int64_t>{1, 2, 3, 4}, {4});
  EXPECT_EQ(ops::count_correct(from_vector(std::vector<float>(40, 0.0f), {4, 10}), t).item<int64_t>(), 0);
}

TEST(Nn, DropoutIsInvertedReproducibleAndEvalIdentity) {
  const Tensor x = ones({1000});
  const Tensor a = ops::dropout(x, 0.3, 7, 0), b = ops::dropout(x, 0.3, 7, 0), c = ops::dropout(x, 0.3, 7, 250);
  EXPECT_EQ(a.to_vector(), b.to_vector());
  EXPECT_NE(a.to_vector(), c.to_vector());
  int kept = 0;
  for (float v : a.to_vector()) {
    if (v != 0.0f) {
      ++kept;
      EXPECT_FLOAT_EQ(v, static_cast<float>(1.0 / 0.7));
    }
  }
  EXPECT_NEAR(kept / 1000.0, 0.7, 0.06);  // > 4 standard deviations of a binomial(1000, 0.7)
  EXPECT_EQ(ops::dropout(x, 0.0, 1, 0).to_vector(), x.to_vector());
  EXPECT_EQ(ops::dropout(x, 1.0, 1, 0).to_vector(), std::vector<float>(1000, 0.0f));
  EXPECT_TRUE(
      throws_with([&] { ops::dropout(x, 1.5, 1, 0); }, "dropout probability has to be between 0 and 1, but got 1.5"));

  Generator gen(9);
  nn::Dropout layer(0.5, &gen);
  const Tensor y = layer.forward(x);
  const Tensor g = layer.backward(ones({1000}));
  EXPECT_EQ(y.to_vector(), g.to_vector());  // the same mask scales the gradient
  EXPECT_NE(layer.forward(x).to_vector(), y.to_vector());  // the next call draws a new mask
  layer.eval();
  EXPECT_TRUE(layer.forward(x).is_same(x));
}

// Channel dropout: each (sample, channel) kept whole (scaled by 1 / (1 - p)) or zeroed whole, at rate p; the same
// mask scales the gradient; eval and p = 0 are the identity; unbatched input is one sample; PyTorch 1.13's ranks.
TEST(Nn, FeatureDropoutDropsWholeChannels) {
  Generator gen(21);
  const Tensor x = randn({50, 40, 3, 5}, gen);
  nn::Dropout2d layer(0.3, &gen);
  const Tensor y = layer.forward(x), g = layer.backward(ones(x.sizes()));
  const auto xs = x.to_vector(), ys = y.to_vector(), gs = g.to_vector();
  int dropped = 0;
  const float scale = static_cast<float>(1.0 / 0.7);
  for (std::size_t plane = 0; plane < 50 * 40; ++plane) {
    const bool zero = gs[plane * 15] == 0.0f;
    dropped += zero;
    for (std::size_t k = plane * 15; k < plane * 15 + 15; ++k) {
      ASSERT_EQ(gs[k], zero ? 0.0f : scale) << k;
      ASSERT_EQ(ys[k], zero ? 0.0f : xs[k] * scale) << k;
    }
  }
  EXPECT_NEAR(dropped / 2000.0, 0.3, 0.05);  // > 4 standard deviations of a binomial(2000, 0.3)
  EXPECT_NE(layer.forward(x).to_vector(), ys);  // a new mask each call
  layer.eval();
  EXPECT_TRUE(layer.forward(x).is_same(x));
  // Unbatched (C, D, H, W) input to Dropout3d: one mask value per channel.
  nn::Dropout3d volumes(0.5, &gen);
  const auto v = volumes.forward(ones({8, 2, 2, 2})).to_vector();
  for (std::size_t c = 0; c < 8; ++c)
    for (std::size_t k = 1; k < 8; ++k) ASSERT_EQ(v[c * 8 + k], v[c * 8]) << c;
  // Dropout1d takes (N, C, L) and (C, L); Dropout2d (N, C, H, W) and, as PyTorch 1.13, (N, C, L).
  nn::Dropout1d sequences(1.0, &gen);
  EXPECT_EQ(sequences.forward(ones({2, 3, 4})).to_vector(), std::vector<float>(24, 0.0f));
  EXPECT_EQ(sequences.forward(ones({3, 4})).sizes(), (Shape{3, 4}));
  EXPECT_EQ(layer.forward(ones({2, 3, 4})).sizes(), (Shape{2, 3, 4}));
  EXPECT_TRUE(throws_with([&] { nn::Dropout2d().forward(ones({2, 3})); },
                          "Dropout2d: expected 3D or 4D input (got 2D input)"));
  EXPECT_TRUE(throws_with([&] { nn::Dropout3d().forward(ones({2, 3, 4})); },
                          "Dropout3d: expected 4D or 5D input (got 3D input)"));
  EXPECT_TRUE(throws_with([] { nn::Dropout2d(-0.1); }, "dropout probability has to be between 0 and 1, but got -0.1"));
  // A refused construction draws no seed from the generator it was given.
  Generator untouched(9);
  EXPECT_THROW(nn::Dropout2d(1.5, &untouched), Error);
  EXPECT_THROW(nn::Dropout(-1.0, &untouched), Error);
  EXPECT_EQ(untouched.offset(), 0u);
  nn::Dropout accepted(0.5, &untouched);
  EXPECT_NE(untouched.offset(), 0u);
  nn::Dropout2d none(0.0);
  EXPECT_TRUE(none.forward(x).is_same(x));
  // 16-bit input keeps its dtype; the mask is the float32 one rounded.
  EXPECT_EQ(nn::Dropout2d(0.5, &gen).forward(x.to(DType::BFloat16)).dtype(), DType::BFloat16);
  std::ostringstream os;
  os << nn::Dropout2d(0.25);
  EXPECT_EQ(os.str(), "Dropout2d(p=0.25, inplace=False)");  // repr(nn.Dropout2d(0.25)) in PyTorch 1.13
}

// The CPU module keeps the mask instead of regenerating it: same bits as the regenerating op, forward and backward,
// on values with both signs and zeros (whose dropped gradient must stay +0, as the op gives).
TEST(Nn, DropoutMaskGivesTheRegeneratedBits) {
  Generator data(3);
  Tensor x = randn({1001}, data);
  std::vector<float> v = x.to_vector();
  for (std::size_t i = 0; i < v.size(); i += 7) v[i] = 0.0f;
  x = from_vector(v, {1001});
  const Tensor dy = randn({1001}, data);
  for (double p : {0.0, 0.25, 0.9, 1.0}) {
    const ops::DropoutResult r = ops::dropout_with_mask(x, p, 11, 40);
    const auto expected = ops::dropout(x, p, 11, 40).to_vector(), got = r.output.to_vector();
    const auto expected_dx = ops::dropout(dy, p, 11, 40).to_vector(),
               dx = ops::dropout_backward(dy, r.mask).to_vector();
    ASSERT_EQ(std::memcmp(got.data(), expected.data(), got.size() * sizeof(float)), 0) << p;
    ASSERT_EQ(std::memcmp(dx.data(), expected_dx.data(), dx.size() * sizeof(float)), 0) << p;
  }
}

// The CPU draws the kernel's mask: element i kept where nnmath::dropout_keep says (word i % 4 of Philox block
// offset + i / 4), on lengths that end inside a block and inside a batch of blocks, and offsets whose blocks cross
// 2^32 (the counter's upper word).
TEST(Nn, DropoutOnTheCpuDrawsTheKernelsMask) {
  Generator data(4);
  for (int64_t n : {int64_t{1}, int64_t{63}, int64_t{1001}, int64_t{300001}}) {
    const Tensor x = randn({n}, data);
    const std::vector<float> v = x.to_vector();
    for (uint64_t offset : {uint64_t{0}, uint64_t{0xFFFFFFF8}}) {
      for (double p : {0.1, 0.5}) {
        const std::vector<float> y = ops::dropout(x, p, 99, offset).to_vector();
        const auto scale = static_cast<float>(1.0 / (1.0 - p));
        for (int64_t i = 0; i < n; ++i) {
          const bool keep = nnmath::dropout_keep(99, offset, static_cast<uint64_t>(i), static_cast<float>(p));
          ASSERT_EQ(y[i], keep ? v[i] * scale : 0.0f) << n << " " << offset << " " << p << " " << i;
        }
      }
    }
  }
}

TEST(NnInit, GainsFansAndDistributions) {
  EXPECT_DOUBLE_EQ(nn::init::calculate_gain("relu"), std::sqrt(2.0));
  EXPECT_DOUBLE_EQ(nn::init::calculate_gain("tanh"), 5.0 / 3.0);
  EXPECT_DOUBLE_EQ(nn::init::calculate_gain("leaky_relu", std::sqrt(5.0)), std::sqrt(2.0 / 6.0));
  EXPECT_TRUE(throws_with([] { nn::init::calculate_gain("swish"); }, "Unsupported nonlinearity swish"));
  Tensor conv = empty({8, 4, 3, 3});
  EXPECT_EQ(nn::init::fans(conv), (std::pair<int64_t, int64_t>{36, 72}));
  Tensor v = empty({5});
  EXPECT_TRUE(throws_with([&] { nn::init::xavier_uniform_(v); }, "fewer than 2 dimensions"));

  Generator gen(11);
  Tensor w = empty({200, 300});
  nn::init::kaiming_normal_(w, 0.0, nn::init::FanMode::FanIn, "relu", &gen);
  double sq = 0;
  for (float e : w.to_vector()) sq += e * e;
  EXPECT_NEAR(std::sqrt(sq / 60000), std::sqrt(2.0 / 300), 0.02 * std::sqrt(2.0 / 300));
  nn::init::xavier_uniform_(w, 1.0, &gen);
  const double bound = std::sqrt(6.0 / 500);
  for (float e : w.to_vector()) EXPECT_LE(std::fabs(e), bound);
  nn::init::constant_(w, 0.25);
  EXPECT_EQ(w.to_vector(), std::vector<float>(60000, 0.25f));
  Tensor counts = empty({2, 3}, TensorOptions().dtype(DType::Int64));
  nn::init::constant_(counts, int64_t{1} << 60);
  EXPECT_EQ(counts.to_vector<int64_t>(), std::vector<int64_t>(6, int64_t{1} << 60));
  nn::init::ones_(counts);
  EXPECT_EQ(counts.to_vector<int64_t>(), std::vector<int64_t>(6, 1));
  Tensor image = empty({1, 2, 2, 3}, TensorOptions().dtype(DType::Float16).memory_format(MemoryFormat::ChannelsLast));
  nn::init::zeros_(image);
  EXPECT_EQ(image.memory_format(), MemoryFormat::ChannelsLast);
  EXPECT_EQ(image.to(DType::Float32).to_vector(), std::vector<float>(12, 0.0f));
  EXPECT_TRUE(throws_with([&] { nn::init::constant_(image, 1e5); },
                          "value cannot be converted to type at::Half without overflow"));
}

TEST(NnInit, OrthogonalRowsOrColumns) {
  Generator gen(12);
  for (Shape shape : {Shape{6, 4}, Shape{3, 7}, Shape{4, 2, 3}}) {
    Tensor q = empty(shape);
    nn::init::orthogonal_(q, 2.0, &gen);
    const int64_t rows = shape[0], cols = q.numel() / rows;
    const auto v = q.to_vector();
    // Q^T Q = gain^2 I for tall matrices, Q Q^T = gain^2 I for wide ones.
    const bool tall = rows >= cols;
    const int64_t k = tall ? cols : rows, len = tall ? rows : cols;
    for (int64_t a = 0; a < k; ++a)
      for (int64_t b = 0; b < k; ++b) {
        double s = 0;
        for (int64_t i = 0; i < len; ++i)
          s += tall ? v[i * cols + a] * v[i * cols + b] : v[a * cols + i] * v[b * cols + i];
        EXPECT_NEAR(s, a == b ? 4.0 : 0.0, 1e-5) << shape_str(shape);
      }
  }
}

TEST(Optim, SkipsUndefinedGradsAndRoundTripsState) {
  Tensor a = ones({3}), b = ones({2});
  optim::Adam opt({a, b}, optim::AdamOptions(0.1));
  a.mutable_grad() = full({3}, 0.5);
  opt.step();
  EXPECT_NE(a.to_vector(), std::vector<float>(3, 1.0f));
  EXPECT_EQ(b.to_vector(), std::vector<float>(2, 1.0f));
  const auto state = opt.state();
  EXPECT_EQ(state[2].first, "0.step");
  EXPECT_EQ(state[2].second.item<int64_t>(), 1);
  Tensor a2 = ones({3}), b2 = ones({2});
  optim::Adam restored({a2, b2}, optim::AdamOptions(0.1));
  restored.load_state(state);
  EXPECT_EQ(restored.state()[0].second.to_vector(), state[0].second.to_vector());
  optim::Adam other({ones({4})}, optim::AdamOptions(0.1));
  EXPECT_TRUE(throws_with([&] { other.load_state(state); }, "expected 3 entries, got 6"));
  opt.zero_grad();
  EXPECT_FALSE(a.grad().defined());
}

// AMSGrad keeps a third state per parameter, PyTorch's max_exp_avg_sq; a plain Adam's state does not load into it.
// The maximum holds through a step whose second moment shrinks (the step then is smaller than plain Adam's).
TEST(Optim, AmsgradKeepsTheLargestSecondMoment) {
  Tensor p = zeros({2}), q = zeros({2});
  optim::Adam amsgrad({p}, optim::AdamOptions(0.1).amsgrad(true));
  optim::Adam plain({q}, optim::AdamOptions(0.1));
  for (float g : {10.0f, 0.1f}) {
    p.mutable_grad() = full({2}, g);
    q.mutable_grad() = full({2}, g);
    amsgrad.step();
    plain.step();
  }
  const auto state = amsgrad.state();
  ASSERT_EQ(state.size(), 4u);
  EXPECT_EQ(state[2].first, "0.max_exp_avg_sq");
  EXPECT_GT(state[2].second.to_vector()[0], state[1].second.to_vector()[0]);  // the first step's, above the second's
  EXPECT_GT(p.to_vector()[0], q.to_vector()[0]);  // both descend; AMSGrad's second step divides by the larger moment
  EXPECT_TRUE(throws_with([&] { amsgrad.load_state(plain.state()); }, "expected 4 entries, got 3"));
  optim::AdamW decoupled({q}, optim::AdamWOptions(0.1).amsgrad(true));
  EXPECT_EQ(decoupled.state().size(), 4u);
}

// Adamax's infinity norm keeps a NaN gradient as torch.amax does (the max of a NaN is NaN), as PyTorch's state shows.
TEST(Optim, AdamaxNormKeepsNaN) {
  Tensor p = ones({2});
  optim::Adamax adamax({p}, optim::AdamaxOptions(0.1));
  p.mutable_grad() = from_vector(std::vector<float>{NAN, 0.5f}, {2});
  adamax.step();
  const auto exp_inf = adamax.state()[1].second.to_vector();
  EXPECT_EQ(adamax.state()[1].first, "0.exp_inf");
  EXPECT_TRUE(std::isnan(exp_inf[0]));
  EXPECT_EQ(exp_inf[1], 0.5f + 1e-8f);
}

TEST(Optim, OptionsAreValidated) {
  EXPECT_TRUE(throws_with([] { optim::SGD({ones({1})}, optim::SGDOptions(-1.0)); }, "Invalid learning rate: -1"));
  EXPECT_TRUE(throws_with([] { optim::SGD({ones({1})}, optim::SGDOptions(0.1).nesterov(true)); },
                          "Nesterov momentum requires a momentum and zero dampening"));
  EXPECT_TRUE(throws_with([] { optim::Adam({ones({1})}, optim::AdamOptions().beta1(1.0)); },
                          "Invalid beta parameter at index 0: 1"));
  EXPECT_TRUE(throws_with([] { optim::RMSprop({ones({1})}, optim::RMSpropOptions().alpha(-0.5)); },
                          "Invalid alpha value: -0.5"));
  EXPECT_TRUE(throws_with([] { optim::RMSprop({ones({1})}, optim::RMSpropOptions().momentum(-1)); },
                          "Invalid momentum value: -1"));
  EXPECT_TRUE(throws_with([] { optim::RMSprop({ones({1})}, optim::RMSpropOptions().eps(-1)); },
                          "Invalid epsilon value: -1"));
  EXPECT_TRUE(throws_with([] { optim::Adagrad({ones({1})}, optim::AdagradOptions().lr_decay(-1)); },
                          "Invalid lr_decay value: -1"));
  EXPECT_TRUE(throws_with([] { optim::Adagrad({ones({1})}, optim::AdagradOptions().initial_accumulator_value(-1)); },
                          "Invalid initial_accumulator_value value: -1"));
  EXPECT_TRUE(
      throws_with([] { optim::Adagrad({optim::ParamGroup({ones({1})}).momentum(0.9)}, optim::AdagradOptions()); },
                  "Adagrad has no momentum to set in a parameter group"));
  EXPECT_TRUE(throws_with([] { optim::Adamax({ones({1})}, optim::AdamaxOptions().beta2(1.0)); },
                          "Invalid beta parameter at index 1: 1"));
  EXPECT_TRUE(throws_with([] { optim::RAdam({ones({1})}, optim::RAdamOptions().beta1(1.5)); },
                          "Invalid beta parameter at index 0: 1.5"));
  EXPECT_TRUE(
      throws_with([] { optim::RAdam({ones({1})}, optim::RAdamOptions().eps(-1)); }, "Invalid epsilon value: -1"));
  Tensor p = ones({1});
  optim::RMSprop no_momentum({p}, optim::RMSpropOptions());
  EXPECT_TRUE(throws_with([&] { no_momentum.set_momentum(0, 0.9); }, "this optimizer has no momentum to set"));
}

// RMSprop's and Adagrad's state carries PyTorch's names, only the slots the options call for; Adagrad's sum starts at
// initial_accumulator_value (in the parameter's memory format), and a state whose slots differ does not load.
TEST(Optim, RmspropAndAdagradStateFollowsTheOptions) {
  auto keys = [](const optim::Optimizer& o) {
    std::vector<std::string> k;
    for (const auto& [name, value] : o.state()) k.push_back(name);
    return k;
  };
  Tensor p = ones({2});
  optim::RMSprop plain({p}, optim::RMSpropOptions());
  EXPECT_EQ(keys(plain), (std::vector<std::string>{"0.square_avg", "0.step"}));
  EXPECT_FALSE(plain.has_momentum());
  optim::RMSprop full_state({p}, optim::RMSpropOptions().centered(true).momentum(0.5));
  EXPECT_EQ(keys(full_state), (std::vector<std::string>{"0.square_avg", "0.grad_avg", "0.momentum_buffer", "0.step"}));
  EXPECT_TRUE(full_state.has_momentum());
  // One group with momentum gives every parameter a buffer; the group without leaves its buffer at zero.
  Tensor q = ones({2});
  optim::RMSprop mixed({optim::ParamGroup({p}).momentum(0.9), optim::ParamGroup({q})}, optim::RMSpropOptions(0.1));
  p.mutable_grad() = full({2}, 1.0);
  q.mutable_grad() = full({2}, 1.0);
  mixed.step();
  const auto state = mixed.state();
  ASSERT_EQ(state.size(), 6u);
  EXPECT_EQ(state[1].first, "0.momentum_buffer");
  EXPECT_NE(state[1].second.to_vector()[0], 0.0f);
  EXPECT_EQ(state[4].first, "1.momentum_buffer");
  EXPECT_EQ(state[4].second.to_vector()[0], 0.0f);
  EXPECT_TRUE(throws_with([&] { plain.load_state(full_state.state()); }, "expected 2 entries, got 4"));

  const Tensor image = ones({1, 3, 2, 2}).to(MemoryFormat::ChannelsLast);
  optim::Adagrad adagrad({image}, optim::AdagradOptions().initial_accumulator_value(0.25));
  const auto sums = adagrad.state();
  EXPECT_EQ(sums[0].first, "0.sum");
  EXPECT_EQ(sums[0].second.to_vector(), std::vector<float>(12, 0.25f));
  EXPECT_EQ(sums[0].second.memory_format(), MemoryFormat::ChannelsLast);
}

TEST(Optim, Schedulers) {
  Tensor p = ones({1});
  optim::SGD opt({p}, optim::SGDOptions(1.0));
  optim::StepLR step(opt, 2, 0.5);
  std::vector<double> lrs;
  for (int e = 0; e < 5; ++e) {
    lrs.push_back(opt.lr());
    step.step();
  }
  EXPECT_EQ(lrs, (std::vector<double>{1.0, 1.0, 0.5, 0.5, 0.25}));
  optim::SGD opt2({p}, optim::SGDOptions(0.1));
  optim::CosineAnnealingLR cosine(opt2, 4, 0.01);
  cosine.step();
  EXPECT_NEAR(opt2.lr(), 0.01 + 0.09 * (1 + std::cos(M_PI / 4)) / 2, 1e-12);
  cosine.set_epoch(4);
  EXPECT_NEAR(opt2.lr(), 0.01, 1e-12);
  optim::SGD opt3({p}, optim::SGDOptions(1.0));
  optim::MultiStepLR multistep(opt3, {3, 1, 3}, 0.5);  // order free, a repeated milestone counts twice
  multistep.set_epoch(2);
  EXPECT_EQ(opt3.lr(), 0.5);
  multistep.set_epoch(3);
  EXPECT_EQ(opt3.lr(), 0.125);
  // A second scheduler on the optimizer starts from the initial lr the first one recorded (PyTorch's initial_lr),
  // not from the lr the first one set.
  EXPECT_EQ(opt3.initial_lr(), 1.0);
  optim::ExponentialLR exponential(opt3, 0.5);
  EXPECT_EQ(opt3.lr(), 1.0);
  exponential.set_epoch(3);
  EXPECT_EQ(opt3.lr(), 0.125);
}

}  // namespace
}  // namespace normrt
