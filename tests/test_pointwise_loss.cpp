// mse_loss, l1_loss, smooth_l1_loss, huber_loss, binary_cross_entropy and their modules: against PyTorch (golden
// data), a double-precision reference written here, finite differences, and PyTorch's refusals.
#include "pointwise_loss_golden_runner.h"

namespace normrt {
namespace {

using testing::throws_with;

class PointwiseLossGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(PointwiseLossGolden, MatchesPyTorch) { testing::run_pointwise_loss_golden_case(GetParam(), Device::cpu()); }

INSTANTIATE_TEST_SUITE_P(PyTorch, PointwiseLossGolden,
                         ::testing::ValuesIn(testing::pointwise_loss_golden_case_names()),
                         testing::pointwise_loss_test_name);

// Each loss of the double-precision formulas and its derivative.
struct Reference {
  std::function<double(double, double)> loss, grad;
};

Reference reference(const std::string& op, double parameter) {
  if (op == "mse") return {[](double x, double t) { return (x - t) * (x - t); },
                           [](double x, double t) { return 2 * (x - t); }};
  if (op == "l1") return {[](double x, double t) { return std::fabs(x - t); },
                          [](double x, double t) { return x > t ? 1.0 : x < t ? -1.0 : 0.0; }};
  if (op == "smooth_l1")
    return {[=](double x, double t) {
              const double z = std::fabs(x - t);
              return z < parameter ? 0.5 * z * z / parameter : z - 0.5 * parameter;
            },
            [=](double x, double t) { return std::clamp((x - t) / parameter, -1.0, 1.0); }};
  if (op == "huber")
    return {[=](double x, double t) {
              const double z = std::fabs(x - t);
              return z < parameter ? 0.5 * z * z : parameter * (z - 0.5 * parameter);
            },
            [=](double x, double t) { return std::clamp(x - t, -parameter, parameter); }};
  return {[](double x, double t) { return -(t * std::log(x) + (1 - t) * std::log1p(-x)); },
          [](double x, double t) { return (x - t) / (x * (1 - x)); }};
}

ops::LossResult run(const std::string& op, const Tensor& x, const Tensor& t, ops::Reduction reduction,
                    double parameter, const Tensor& weight = Tensor()) {
  if (op == "mse") return ops::mse_loss(x, t, reduction);
  if (op == "l1") return ops::l1_loss(x, t, reduction);
  if (op == "smooth_l1") return ops::smooth_l1_loss(x, t, reduction, parameter);
  if (op == "huber") return ops::huber_loss(x, t, reduction, parameter);
  return ops::binary_cross_entropy(x, t, reduction, weight);
}

TEST(PointwiseLoss, MatchesADoubleReferenceOnRandomInputs) {
  // Sizes not a multiple of any vector width, over the thread threshold too.
  for (int64_t n : {1, 37, 70001}) {
    for (const auto& [op, parameter] : std::vector<std::pair<std::string, double>>{
             {"mse", 0.0}, {"l1", 0.0}, {"smooth_l1", 1.0}, {"smooth_l1", 0.3}, {"huber", 1.0}, {"huber", 2.5},
             {"bce", 0.0}}) {
      SCOPED_TRACE(op + " " + std::to_string(parameter) + " n=" + std::to_string(n));
      Generator gen(static_cast<uint64_t>(n) + op.size());
      const bool bce = op == "bce";
      // Probabilities kept away from 0 and 1 so that the double reference needs no clamps.
      const Tensor x = bce ? rand({n}, gen) * 0.98 + 0.01 : randn({n}, gen) * 2;
      const Tensor t = bce ? rand({n}, gen) : randn({n}, gen) * 2;
      const Tensor weight = bce ? rand({n}, gen) + 0.5 : Tensor();
      const auto xs = x.to_vector(), ts = t.to_vector();
      const auto ws = bce ? weight.to_vector() : std::vector<float>(static_cast<std::size_t>(n), 1.0f);
      const Reference ref = reference(op, parameter);
      double total = 0;
      std::vector<double> losses, grads;
      for (std::size_t i = 0; i < xs.size(); ++i) {
        losses.push_back(ws[i] * ref.loss(xs[i], ts[i]));
        grads.push_back(ws[i] * ref.grad(xs[i], ts[i]));
        total += losses.back();
      }
      const auto none = run(op, x, t, ops::Reduction::None, parameter, weight);
      EXPECT_TRUE(testing::all_close(none.loss.to_vector(), losses, 1e-5, 1e-6));
      EXPECT_TRUE(testing::all_close(none.grad_input.to_vector(), grads, 1e-5, 1e-6));
      const auto sum = run(op, x, t, ops::Reduction::Sum, parameter, weight);
      EXPECT_NEAR(sum.loss.item<float>(), total, 1e-5 * std::fabs(total) + 1e-6);
      EXPECT_EQ(sum.grad_input.to_vector(), none.grad_input.to_vector());
      const auto mean = run(op, x, t, ops::Reduction::Mean, parameter, weight);
      EXPECT_NEAR(mean.loss.item<float>(), total / n, 1e-5 * std::fabs(total / n) + 1e-7);
      for (auto& g : grads) g /= static_cast<double>(n);
      EXPECT_TRUE(testing::all_close(mean.grad_input.to_vector(), grads, 1e-5, 1e-7));
    }
  }
}

// kl_div against double formulas on random distributions (exact zeros in the target), each reduction: batchmean
// divides by the batch size, mean by the number of elements; the gradient is the reduction's factor times -t (-e^t).
TEST(PointwiseLoss, KLDivergenceMatchesADoubleReference) {
  for (const Shape& shape : {Shape{3, 37}, Shape{70001, 2}, Shape{5}}) {
    for (const bool log_target : {false, true}) {
      SCOPED_TRACE(shape_str(shape) + (log_target ? " log_target" : ""));
      Generator gen(static_cast<uint64_t>(shape[0]));
      const Tensor x = randn(shape, gen) - 2.0;
      Tensor t = rand(shape, gen);
      auto ts = t.to_vector();
      for (std::size_t i = 0; i < ts.size(); i += 7) ts[i] = 0.0f;
      t = from_vector(ts, shape);
      if (log_target) t = randn(shape, gen) - 1.0;
      const auto xs = x.to_vector(), targets = t.to_vector();
      std::vector<double> losses, grads;
      double total = 0;
      for (std::size_t i = 0; i < xs.size(); ++i) {
        const double xi = xs[i], ti = targets[i];
        losses.push_back(log_target ? std::exp(ti) * (ti - xi) : (ti == 0 ? 0.0 : ti * std::log(ti)) - ti * xi);
        grads.push_back(log_target ? -std::exp(ti) : -ti);
        total += losses.back();
      }
      const auto none = ops::kl_div(x, t, ops::KLDivReduction::None, log_target);
      EXPECT_TRUE(testing::all_close(none.loss.to_vector(), losses, 1e-5, 1e-6));
      EXPECT_TRUE(testing::all_close(none.grad_input.to_vector(), grads, 1e-6, 0));
      const auto n = static_cast<double>(xs.size()), batch = static_cast<double>(shape[0]);
      for (const auto& [reduction, divisor] :
           std::vector<std::pair<ops::KLDivReduction, double>>{{ops::KLDivReduction::Sum, 1.0},
                                                               {ops::KLDivReduction::Mean, n},
                                                               {ops::KLDivReduction::BatchMean, batch}}) {
        const auto r = ops::kl_div(x, t, reduction, log_target);
        EXPECT_NEAR(r.loss.item<float>(), total / divisor, 1e-5 * std::fabs(total / divisor) + 1e-6);
        std::vector<double> scaled = grads;
        for (double& g : scaled) g /= divisor;
        EXPECT_TRUE(testing::all_close(r.grad_input.to_vector(), scaled, 1e-6, 0));
      }
    }
  }
  // batchmean of a 0-dim pair is its loss; of no rows NaN (0 / 0), of rows of nothing 0.
  const Tensor x = full({}, -0.7), t = full({}, 0.3);
  EXPECT_EQ(ops::kl_div(x, t, ops::KLDivReduction::BatchMean).loss.item<float>(),
            ops::kl_div(x, t, ops::KLDivReduction::Sum).loss.item<float>());
  EXPECT_TRUE(std::isnan(ops::kl_div(zeros({0, 3}), zeros({0, 3}), ops::KLDivReduction::BatchMean).loss.item<float>()));
  EXPECT_EQ(ops::kl_div(zeros({3, 0}), zeros({3, 0}), ops::KLDivReduction::BatchMean).loss.item<float>(), 0.0f);
}

TEST(PointwiseLoss, FiniteDifferencesThroughTheModules) {
  Generator gen(4);
  const Shape shape = {3, 5};
  // Inputs whose |x - t| is at least 0.1 from every kink, and probabilities away from 0 and 1.
  std::vector<float> x, t, p;
  for (int i = 0; i < 15; ++i) {
    x.push_back(static_cast<float>(i % 5) * 0.7f - 1.3f);
    t.push_back(static_cast<float>(i % 3) * 0.45f - 0.2f);
    p.push_back(0.1f + 0.05f * static_cast<float>(i));
  }
  const Tensor probability_target = rand(shape, gen), weight = rand({5}, gen) + 0.5;
  nn::L1Loss l1;
  nn::SmoothL1Loss smooth(ops::Reduction::Mean, 0.5);
  nn::HuberLoss huber(ops::Reduction::Sum, 1.5);
  nn::BCELoss bce(ops::Reduction::Mean, weight);
  nn::KLDivLoss kl(ops::KLDivReduction::BatchMean), kl_log(ops::KLDivReduction::Sum, true);
  auto check = [&](auto& loss, const std::vector<float>& input, const Tensor& target) {
    loss.forward(from_vector(input, shape), target);
    const auto grad = loss.backward().to_vector();
    for (std::size_t i = 0; i < input.size(); ++i) {
      auto at = [&](float delta) {
        auto moved = input;
        moved[i] += delta;
        return static_cast<double>(loss.forward(from_vector(moved, shape), target).template item<float>());
      };
      const float h = 1e-3f;
      const double tolerance = 2e-3 * std::max(1.0, std::fabs(static_cast<double>(grad[i])));
      EXPECT_NEAR(grad[i], (at(h) - at(-h)) / (2.0 * h), tolerance) << i;
    }
  };
  check(l1, x, from_vector(t, shape));
  check(smooth, x, from_vector(t, shape));
  check(huber, x, from_vector(t, shape));
  check(bce, p, probability_target);
  check(kl, x, probability_target);
  check(kl_log, x, from_vector(t, shape));
}

TEST(PointwiseLoss, RefusesAsPyTorch) {
  const Tensor x = full({2, 3}, 0.5), t = zeros({2, 3});
  // PyTorch 1.13's messages: F.smooth_l1_loss(..., beta=-1), F.huber_loss(..., delta=0),
  // F.binary_cross_entropy(torch.tensor([0.5, 1.5]), ...), F.binary_cross_entropy(x, t.unsqueeze(0)), and those of the
  // same calls below.
  EXPECT_TRUE(throws_with([&] { ops::smooth_l1_loss(x, t, ops::Reduction::Mean, -1.0); },
                          "smooth_l1_loss does not support negative values for beta."));
  EXPECT_TRUE(throws_with([&] { ops::huber_loss(x, t, ops::Reduction::Mean, 0.0); },
                          "huber_loss does not support non-positive values for delta."));
  EXPECT_TRUE(throws_with([&] { ops::huber_loss(x, t, ops::Reduction::Mean, -2.0); },
                          "huber_loss does not support non-positive values for delta."));
  const Tensor outside = from_vector(std::vector<float>{0.5f, 1.5f}, {2});
  EXPECT_TRUE(throws_with([&] { ops::binary_cross_entropy(outside, zeros({2})); },
                          "all elements of input should be between 0 and 1"));
  EXPECT_TRUE(throws_with([&] { ops::binary_cross_entropy(from_vector(std::vector<float>{NAN}, {1}), zeros({1})); },
                          "all elements of input should be between 0 and 1"));
  EXPECT_TRUE(throws_with([&] { ops::binary_cross_entropy(x, zeros({1, 2, 3})); },
                          "Using a target size (torch.Size([1, 2, 3])) that is different to the input size "
                          "(torch.Size([2, 3])) is deprecated. Please ensure they have the same size."));
  // The weight broadcasts with the target (F.binary_cross_entropy's _infer_size(target, weight)); one that broadcasts
  // beyond the input is refused where PyTorch multiplies the losses by it in place, after the input's values.
  EXPECT_TRUE(throws_with([&] { ops::binary_cross_entropy(x, t, ops::Reduction::Mean, ones({2})); },
                          "The size of tensor a (3) must match the size of tensor b (2) at non-singleton dimension 1"));
  const Tensor three = full({3}, 0.5);
  EXPECT_TRUE(throws_with([&] { ops::binary_cross_entropy(three, zeros({3}), ops::Reduction::None, ones({2, 3})); },
                          "output with shape [3] doesn't match the broadcast shape [2, 3]"));
  EXPECT_TRUE(throws_with([&] { ops::binary_cross_entropy(outside, zeros({2}), ops::Reduction::Sum, ones({2, 2})); },
                          "all elements of input should be between 0 and 1"));
  // The other losses broadcast input and target (kl_div target and input) before anything else: shapes that do not
  // broadcast are refused in infer_size's words, also before smooth_l1's beta and huber's delta. Those that do
  // broadcast PyTorch takes with a warning; normrt refuses them (ops/pointwise_loss.h).
  const Tensor four_three = zeros({4, 3}), other = zeros({2, 1, 5});
  EXPECT_TRUE(throws_with([&] { ops::l1_loss(x, zeros({2})); },
                          "The size of tensor a (3) must match the size of tensor b (2) at non-singleton dimension 1"));
  EXPECT_TRUE(throws_with([&] { ops::kl_div(four_three, other); },
                          "The size of tensor a (5) must match the size of tensor b (3) at non-singleton dimension 2"));
  EXPECT_TRUE(throws_with([&] { ops::smooth_l1_loss(four_three, other, ops::Reduction::Mean, -1.0); },
                          "The size of tensor a (3) must match the size of tensor b (5) at non-singleton dimension 2"));
  EXPECT_TRUE(throws_with([&] { ops::huber_loss(four_three, other, ops::Reduction::Mean, 0.0); },
                          "The size of tensor a (3) must match the size of tensor b (5) at non-singleton dimension 2"));
  EXPECT_TRUE(throws_with([&] { ops::l1_loss(x, t.to(DType::Float16)); },
                          "expected all floating operands to have one dtype"));
  EXPECT_TRUE(throws_with([&] { ops::huber_loss(zeros({2}, TensorOptions().dtype(DType::Int64)), zeros({2})); },
                          "float32"));
  // Probabilities outside [0, 1] in the target are PyTorch's to take (a soft target of any value).
  EXPECT_NEAR(ops::binary_cross_entropy(x, full({2, 3}, 1.5)).loss.item<float>(), std::log(2.0), 1e-6);
}

TEST(PointwiseLoss, SixteenBitChannelsLastAndEmptyInputs) {
  Generator gen(8);
  const Tensor x = randn({2, 3, 4, 5}, gen), t = randn({2, 3, 4, 5}, gen);
  const auto reference = ops::huber_loss(x, t, ops::Reduction::None, 0.7);
  // Channels-last operands: the same values, laid out logically.
  const auto cl = ops::huber_loss(x.to(MemoryFormat::ChannelsLast), t.to(MemoryFormat::ChannelsLast),
                                  ops::Reduction::None, 0.7);
  EXPECT_EQ(cl.loss.to_vector(), reference.loss.to_vector());
  EXPECT_EQ(cl.grad_input.to_vector(), reference.grad_input.to_vector());
  // 16-bit operands: computed in float32 on their values, loss and gradient float32.
  for (DType dtype : {DType::Float16, DType::BFloat16}) {
    const Tensor xh = x.to(dtype), th = t.to(dtype);
    const auto half = ops::smooth_l1_loss(xh, th, ops::Reduction::Sum, 0.5);
    const auto wide = ops::smooth_l1_loss(xh.to(DType::Float32), th.to(DType::Float32), ops::Reduction::Sum, 0.5);
    EXPECT_EQ(half.loss.dtype(), DType::Float32);
    EXPECT_EQ(half.loss.item<float>(), wide.loss.item<float>());
    EXPECT_EQ(half.grad_input.to_vector(), wide.grad_input.to_vector());
  }
  // No elements: PyTorch's mean of nothing is NaN, its sum 0.
  const Tensor none = zeros({0, 3});
  EXPECT_TRUE(std::isnan(ops::l1_loss(none, none).loss.item<float>()));
  EXPECT_EQ(ops::binary_cross_entropy(none, none, ops::Reduction::Sum).loss.item<float>(), 0.0f);
  EXPECT_EQ(ops::huber_loss(none, none, ops::Reduction::None).loss.sizes(), (Shape{0, 3}));
  EXPECT_EQ(ops::smooth_l1_loss(none, none).grad_input.sizes(), (Shape{0, 3}));
}

}  // namespace
}  // namespace normrt
