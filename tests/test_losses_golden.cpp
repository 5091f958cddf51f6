// Softmax over any dimension and the losses with soft or binary targets against PyTorch, and the modules' forms.
#include <algorithm>
#include <initializer_list>

#include "losses_golden_runner.h"
#include "normrt/half.h"
#include "tensor_math.cuh"

namespace normrt {
namespace {

using testing::throws_with;

class LossesGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(LossesGolden, MatchesPyTorch) { testing::run_losses_golden_case(GetParam(), Device::cpu()); }

INSTANTIATE_TEST_SUITE_P(PyTorch, LossesGolden, ::testing::ValuesIn(testing::losses_golden_case_names()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return testing::test_name(info.param);
                         });

TEST(Losses, ModulesAndRefusals) {
  Generator gen(3);
  const Tensor x = randn({2, 3, 4}, gen);
  nn::LogSoftmax log_softmax(1);
  EXPECT_EQ(log_softmax.forward(x).to_vector(), ops::softmax(x, 1, true).to_vector());
  EXPECT_EQ(log_softmax.backward(ones({2, 3, 4})).sizes(), (Shape{2, 3, 4}));
  std::ostringstream os;
  os << nn::Softmax(-1) << ' ' << log_softmax;
  EXPECT_EQ(os.str(), "Softmax(dim=-1) LogSoftmax(dim=1)");  // repr(nn.Softmax(dim=-1)), repr(nn.LogSoftmax(dim=1))
  // Class indices and one-hot probabilities give the same cross-entropy.
  const Tensor logits = randn({4, 5}, gen);
  const std::vector<int64_t> labels = {0, 3, 1, 4};
  std::vector<float> one_hot(20, 0.0f);
  for (std::size_t i = 0; i < labels.size(); ++i) one_hot[i * 5 + static_cast<std::size_t>(labels[i])] = 1.0f;
  const auto hard = ops::cross_entropy(logits, from_vector(labels, {4}));
  const auto soft = ops::cross_entropy(logits, from_vector(one_hot, {4, 5}));
  EXPECT_NEAR(hard.loss.item<float>(), soft.loss.item<float>(), 1e-6);
  EXPECT_TRUE(testing::all_close(soft.grad_input.to_vector(), testing::to_double(hard.grad_input), 1e-5, 1e-6));
  ops::CrossEntropyOptions ignore_3;
  ignore_3.ignore_index = 3;
  nn::CrossEntropyLoss ignoring(ignore_3);  // the module form of ignore_index
  const float with_module = ignoring.forward(logits, from_vector(labels, {4})).item<float>();
  EXPECT_FLOAT_EQ(with_module, ops::cross_entropy(logits, from_vector(labels, {4}), ignore_3).loss.item<float>());
  // With label smoothing: an ignore_index no row has changes nothing (the golden cases check the rest).
  ops::CrossEntropyOptions smoothed;
  smoothed.label_smoothing = 0.1;
  smoothed.ignore_index = -5;
  const auto composed = ops::cross_entropy(logits, from_vector(labels, {4}), smoothed);
  const auto direct = ops::cross_entropy(logits, from_vector(labels, {4}), ops::Reduction::Mean, 0.1);
  EXPECT_NEAR(composed.loss.item<float>(), direct.loss.item<float>(), 1e-6);
  EXPECT_TRUE(testing::all_close(composed.grad_input.to_vector(), testing::to_double(direct.grad_input), 1e-5, 1e-7));
  // Class probabilities: a negative ignore_index is none, another one is refused (PyTorch 1.13's check).
  const Tensor probabilities = ops::softmax(randn({4, 5}, gen), 1, false);
  EXPECT_EQ(ops::cross_entropy(logits, probabilities, smoothed).loss.item<float>(),
            ops::cross_entropy(logits, probabilities, ops::Reduction::Mean, 0.1).loss.item<float>());
  smoothed.ignore_index = 2;
  EXPECT_TRUE(throws_with([&] { ops::cross_entropy(logits, probabilities, smoothed); },
                          "ignore_index is not supported for floating point target"));
  // Class weights: ones change nothing; without ignore_index as with one no row has; the modules carry them; a
  // weight of another length is refused with PyTorch's words.
  ops::CrossEntropyOptions weighted;
  weighted.label_smoothing = 0.2;
  weighted.weight = ones({5});
  const auto unit_weights = ops::cross_entropy(logits, from_vector(labels, {4}), weighted);
  const auto no_weights = ops::cross_entropy(logits, from_vector(labels, {4}), ops::Reduction::Mean, 0.2);
  EXPECT_NEAR(unit_weights.loss.item<float>(), no_weights.loss.item<float>(), 1e-6);
  EXPECT_TRUE(testing::all_close(unit_weights.grad_input.to_vector(), testing::to_double(no_weights.grad_input), 1e-5,
                                 1e-7));
  weighted.weight = from_vector(std::vector<float>{0.5f, 2.0f, 1.0f, 0.25f, 3.0f}, {5});
  const auto without_ignore = ops::cross_entropy(logits, from_vector(labels, {4}), weighted);
  weighted.ignore_index = -100;
  const auto with_ignore = ops::cross_entropy(logits, from_vector(labels, {4}), weighted);
  EXPECT_EQ(without_ignore.loss.item<float>(), with_ignore.loss.item<float>());
  EXPECT_EQ(without_ignore.grad_input.to_vector(), with_ignore.grad_input.to_vector());
  EXPECT_EQ(nn::CrossEntropyLoss(weighted).forward(logits, from_vector(labels, {4})).item<float>(),
            with_ignore.loss.item<float>());
  const Tensor log_probs = ops::softmax(logits, true);
  EXPECT_EQ(nn::NLLLoss(ops::Reduction::Sum, -100, weighted.weight).forward(log_probs, from_vector(labels, {4}))
                .item<float>(),
            ops::nll_loss(log_probs, from_vector(labels, {4}), ops::Reduction::Sum, -100, weighted.weight)
                .loss.item<float>());
  weighted.weight = ones({3});
  EXPECT_TRUE(throws_with([&] { ops::cross_entropy(logits, from_vector(labels, {4}), weighted); },
                          "weight tensor should be defined either for all 5 classes or no classes but got weight "
                          "tensor of shape: [3]"));
  EXPECT_TRUE(throws_with([&] { ops::nll_loss(log_probs, from_vector(labels, {4}), ops::Reduction::Mean, -100,
                                              ones({5}, TensorOptions().dtype(DType::Int64))); },
                          "expected scalar type Float but found Long"));
  smoothed.label_smoothing = 1.5;
  EXPECT_TRUE(throws_with([&] { ops::cross_entropy(logits, from_vector(labels, {4}), smoothed); },
                          "label_smoothing must be between 0.0 and 1.0. Got: 1.5"));
  nn::NLLLoss nll;
  EXPECT_FLOAT_EQ(nll.forward(ops::softmax(logits, true), from_vector(labels, {4})).item<float>(),
                  hard.loss.item<float>());
  EXPECT_TRUE(throws_with([&] { nll.forward(logits, from_vector(std::vector<int64_t>{0, 9, 1, 1}, {4})); },
                          "Target 9 is out of bounds."));
  nn::BCEWithLogitsLoss bce;
  const Tensor loss = bce.forward(zeros({3}), full({3}, 1.0));
  EXPECT_NEAR(loss.item<float>(), std::log(2.0), 1e-6);
  EXPECT_EQ(bce.backward().to_vector(), std::vector<float>(3, -0.5f / 3));
  EXPECT_TRUE(throws_with([&] { ops::binary_cross_entropy_with_logits(zeros({3}), zeros({4})); },
                          "Target size (torch.Size([4])) must be the same as input size (torch.Size([3]))"));
  // Probabilities of another shape than the input's are class indices to PyTorch (F.cross_entropy's words).
  EXPECT_TRUE(throws_with([&] { ops::cross_entropy(logits, zeros({4, 4})); },
                          "0D or 1D target tensor expected, multi-target not supported"));
  EXPECT_TRUE(throws_with([&] { ops::softmax(x, 3, false); }, "Dimension out of range"));
}

// The (C) and (N, C, d1, ...) shapes' refusals in PyTorch's words, checked before anything is computed; a (N, C, d)
// input whose class rows give the same numbers as the (N * d, C) rows it holds.
// A weighted mean whose counted targets all weigh 0 divides by a total weight of 0: PyTorch's loss is NaN, and its
// nll_loss gradient NaN at the counted targets only (0 elsewhere, ignored rows included); cross_entropy's softmax
// backward then spreads each counted row's NaN over that row, an ignored row staying 0.
TEST(Losses, AZeroTotalWeightGivesNaNWherePyTorchsGradientHasIt) {
  Generator gen(12);
  const Tensor x = randn({4, 5}, gen);
  const Tensor targets = from_vector(std::vector<int64_t>{0, 1, -100, 2}, {4});
  const Tensor weight = from_vector(std::vector<float>{0.0f, 0.0f, 0.0f, 1.0f, 2.0f}, {5});
  const auto nll = ops::nll_loss(x, targets, ops::Reduction::Mean, -100, weight);
  EXPECT_TRUE(std::isnan(nll.loss.item()));
  const auto nll_grad = nll.grad_input.to_vector();
  const int64_t counted_target[] = {0, 1, -1, 2};
  for (int64_t r = 0; r < 4; ++r)
    for (int64_t c = 0; c < 5; ++c) {
      const float g = nll_grad[static_cast<std::size_t>(r * 5 + c)];
      if (c == counted_target[r])
        EXPECT_TRUE(std::isnan(g)) << r << ", " << c;
      else
        EXPECT_EQ(g, 0.0f) << r << ", " << c;
    }
  ops::CrossEntropyOptions options;
  options.weight = weight;
  for (double smoothing : {0.0, 0.1}) {
    options.label_smoothing = smoothing;
    const auto ce = ops::cross_entropy(x, targets, options);
    EXPECT_TRUE(std::isnan(ce.loss.item())) << smoothing;
    const auto ce_grad = ce.grad_input.to_vector();
    for (int64_t r = 0; r < 4; ++r)
      for (int64_t c = 0; c < 5; ++c) {
        const float g = ce_grad[static_cast<std::size_t>(r * 5 + c)];
        if (r == 2)
          EXPECT_EQ(g, 0.0f) << smoothing << ": " << c;
        else
          EXPECT_TRUE(std::isnan(g)) << smoothing << ": " << r << ", " << c;
      }
  }
}

// PyTorch 1.13's refusals of the class losses, each message checked there (F.nll_loss, F.cross_entropy), and what it
// takes that looks wrong: label smoothing at or below 0 (NaN too) is none, a spatial input's weight may be any shape of
// C elements.
TEST(Losses, ClassLossArgumentsAsPyTorch) {
  auto labels = [](const Shape& shape) { return zeros(shape, TensorOptions().dtype(DType::Int64)); };
  // A 0-dim target's batch size reads as 0; with an empty batch its size(0) is asked for.
  EXPECT_TRUE(throws_with([&] { ops::nll_loss(zeros({3, 4}), labels({})); },
                          "Expected input batch_size (3) to match target batch_size (0)."));
  EXPECT_TRUE(throws_with([&] { ops::nll_loss(zeros({0, 3}), labels({})); },
                          "Dimension specified as 0 but tensor has no dimensions"));
  EXPECT_TRUE(throws_with([&] { ops::cross_entropy(full({}, 1.0), labels({2})); },
                          "Dimension out of range (expected to be in range of [-1, 0], but got 1)"));
  EXPECT_TRUE(throws_with([&] { ops::nll_loss(zeros({3, 4}), labels({3, 4})); },
                          "0D or 1D target tensor expected, multi-target not supported"));
  EXPECT_TRUE(throws_with([&] { ops::nll_loss(zeros({2, 3, 4, 5}), labels({2, 4, 5}), ops::Reduction::Mean, -100,
                                              ones({4})); },
                          "weight tensor should be defined either for all or no classes"));
  ops::CrossEntropyOptions options;
  options.label_smoothing = 2.0;  // a target of the input's shape holds probabilities: its dtype is checked first
  EXPECT_TRUE(throws_with([&] { ops::cross_entropy(zeros({3, 4}), labels({3, 4}), options); },
                          "Expected floating point type for target with class probabilities, got Long"));
  options.label_smoothing = 0.0;
  options.ignore_index = 2;
  EXPECT_TRUE(throws_with([&] { ops::cross_entropy(zeros({3, 4}), zeros({3, 4}), options); },
                          "ignore_index is not supported for floating point target"));
  // A (C) input with a (C) target PyTorch takes as the loss of the first target; normrt refuses it.
  EXPECT_TRUE(throws_with([&] { ops::nll_loss(zeros({3}), labels({3})); }, "an unbatched (C) input takes a 0-dim"));

  Generator gen(5);
  const Tensor x = randn({3, 4}, gen), probabilities = ops::softmax(randn({3, 4}, gen));
  const Tensor t = from_vector(std::vector<int64_t>{0, 3, 1}, {3});
  for (const Tensor& target : {t, probabilities}) {
    const auto plain = ops::cross_entropy(x, target);
    for (double smoothing : {-0.5, -0.0, static_cast<double>(NAN)}) {
      const auto r = ops::cross_entropy(x, target, ops::Reduction::Mean, smoothing);
      EXPECT_EQ(r.loss.item<float>(), plain.loss.item<float>()) << smoothing;
      EXPECT_EQ(r.grad_input.to_vector(), plain.grad_input.to_vector()) << smoothing;
    }
  }
  const Tensor log_probs = ops::softmax(randn({2, 3, 4, 5}, gen), 1, true);
  const Tensor spatial_t = from_vector(std::vector<int64_t>(40, 2), {2, 4, 5});
  const Tensor w = from_vector(std::vector<float>{0.5f, 2.0f, 1.0f}, {3});
  const auto by_vector = ops::nll_loss(log_probs, spatial_t, ops::Reduction::Sum, -100, w);
  const auto by_column = ops::nll_loss(log_probs, spatial_t, ops::Reduction::Sum, -100, w.reshape({3, 1}));
  EXPECT_EQ(by_column.loss.item<float>(), by_vector.loss.item<float>());
  EXPECT_EQ(by_column.grad_input.to_vector(), by_vector.grad_input.to_vector());
  options = {};
  options.weight = w.reshape({1, 3});
  EXPECT_NO_THROW(ops::cross_entropy(log_probs, spatial_t, options));
  // With smoothing PyTorch views the weight as (1, C, 1, ...) and fails inside; normrt refuses it.
  options.label_smoothing = 0.1;
  EXPECT_TRUE(throws_with([&] { ops::cross_entropy(log_probs, spatial_t, options); },
                          "weight tensor should be defined either for all 3 classes or no classes but got weight "
                          "tensor of shape: [1, 3]"));
  EXPECT_TRUE(throws_with([&] { ops::nll_loss(x, from_vector(std::vector<int64_t>{0, 4, -1}, {3})); },
                          "Target 4 is out of bounds."));
}

TEST(Losses, SpatialAndUnbatchedShapes) {
  Generator gen(11);
  const Tensor x = randn({2, 3, 4, 5}, gen);
  auto labels = [](const Shape& shape) { return zeros(shape, TensorOptions().dtype(DType::Int64)); };
  // PyTorch 1.13's words for each (nll_loss_nd's checks; 4-d inputs go to nll_loss2d as they are, the other ranks are
  // checked by their targets' positions and viewed as 4-d).
  EXPECT_TRUE(throws_with([&] { ops::cross_entropy(x, labels({2, 4, 4})); },
                          "size mismatch (got input: [2, 3, 4, 5] , target: [2, 4, 4]"));
  EXPECT_TRUE(throws_with([&] { ops::nll_loss(x, labels({2, 4})); },
                          "only batches of spatial targets supported (3D tensors) but got targets of dimension: 2"));
  EXPECT_TRUE(throws_with([&] { ops::cross_entropy(zeros({2, 3, 5}), labels({2, 4})); },
                          "Expected target size [2, 5], got [2, 4]"));
  EXPECT_TRUE(throws_with([&] { ops::cross_entropy(x, labels({3, 4, 5})); },
                          "Expected input batch_size (2) to match target batch_size (3)."));
  // A target of another shape than the input's holds class indices.
  EXPECT_TRUE(throws_with([&] { ops::cross_entropy(x, zeros({2, 3, 4, 6})); },
                          "only batches of spatial targets supported (3D tensors) but got targets of dimension: 4"));
  EXPECT_TRUE(throws_with([&] { ops::cross_entropy(randn({3}, gen), labels({1})); },
                          "size mismatch (got input: [3], target: [1])"));
  // A target of the input's shape holds class probabilities, 0-dim ones too.
  EXPECT_TRUE(throws_with([&] { ops::cross_entropy(full({}, 1.0), labels({})); },
                          "Expected floating point type for target with class probabilities, got Long"));
  EXPECT_TRUE(throws_with([&] { ops::nll_loss(full({}, 1.0), labels({})); }, "Expected 1 or more dimensions (got 0)"));
  EXPECT_TRUE(throws_with([&] { ops::cross_entropy(x, Tensor()); }, "cross_entropy: input and target must be defined"));
  // No classes: every position's target is out of bounds, on the spatial CPU path as on the rows'. A 3-d input
  // without classes is viewed as (2, 0, 0, 0) against targets (2, 1, 3) by PyTorch, which refuses that first.
  EXPECT_TRUE(throws_with([&] { ops::cross_entropy(zeros({2, 0, 3, 1}), labels({2, 3, 1})); },
                          "Target 0 is out of bounds."));
  EXPECT_TRUE(throws_with([&] { ops::cross_entropy(zeros({6, 0}), labels({6})); }, "Target 0 is out of bounds."));
  EXPECT_TRUE(throws_with([&] { ops::cross_entropy(zeros({2, 0, 3}), labels({2, 3})); },
                          "size mismatch (got input: [2, 0, 0, 0] , target: [2, 1, 3]"));
  EXPECT_TRUE(throws_with([&] { ops::nll_loss(x, Tensor()); }, "nll_loss: input and target must be defined"));
  // (N, C, d) as rows: sample n's position j is row n * d + j of the (N * d, C) matrix whose columns are the classes.
  // The CPU computes (N, C, d) where the classes lie (tiles of 64 positions), the rows row by row: the same numbers to
  // float rounding. Classes past one lane group (8), several tiles, a part tile, smoothing, ignored positions.
  struct Case {
    int64_t n, classes, d;
    double smoothing;
  };
  for (const Case& k : {Case{3, 4, 7, 0.1}, Case{2, 13, 150, 0.0}, Case{1, 9, 1000, 0.3}}) {
    const Tensor spatial = randn({k.n, k.classes, k.d}, gen) * 2.0 + 30.0;
    const std::vector<float> values = spatial.to_vector();
    std::vector<float> row_values(values.size());
    for (int64_t i = 0; i < k.n; ++i)
      for (int64_t c = 0; c < k.classes; ++c)
        for (int64_t j = 0; j < k.d; ++j)
          row_values[(i * k.d + j) * k.classes + c] = values[(i * k.classes + c) * k.d + j];
    std::vector<int64_t> targets(k.n * k.d);
    for (int64_t i = 0; i < k.n * k.d; ++i) targets[i] = i % 5 == 1 ? -100 : (i * 3) % k.classes;
    for (const auto reduction : {ops::Reduction::Mean, ops::Reduction::Sum}) {
      const auto spatial_loss = ops::cross_entropy(spatial, from_vector(targets, {k.n, k.d}), reduction, k.smoothing);
      const auto row_loss = ops::cross_entropy(from_vector(row_values, {k.n * k.d, k.classes}),
                                               from_vector(targets, {k.n * k.d}), reduction, k.smoothing);
      EXPECT_NEAR(spatial_loss.loss.item<float>(), row_loss.loss.item<float>(),
                  1e-6 * std::fabs(row_loss.loss.item<float>()));
      const std::vector<float> spatial_grad = spatial_loss.grad_input.to_vector();
      const std::vector<float> row_grad = row_loss.grad_input.to_vector();
      std::vector<float> regathered(row_grad.size());
      for (int64_t i = 0; i < k.n; ++i)
        for (int64_t c = 0; c < k.classes; ++c)
          for (int64_t j = 0; j < k.d; ++j)
            regathered[(i * k.classes + c) * k.d + j] = row_grad[(i * k.d + j) * k.classes + c];
      EXPECT_TRUE(testing::all_close(spatial_grad, regathered, 1e-5, 1e-9)) << k.classes << " " << k.d;
    }
  }
}

// BCE-with-logits is computed in float (tmath::bce_with_logits, fmath's e^x and ln(1 + x)): against the exact
// max(x, 0) - x t + ln(1 + e^-|x|) in long double, for |x| < 100 and targets at 0, 1 and near both, where the terms of
// the naive formula cancel. The gradient sigmoid(x) - t against the exact one, in ulps of the larger of sigmoid(x)
// and t (the subtraction's own rounding), down to x = -87; below -88.7 sigmoid is 0, as PyTorch's float e^-x overflows.
TEST(Losses, BinaryCrossEntropyWithLogitsIsWithinAFewUlpsOfTheExactValues) {
  auto ulp_of = [](long double magnitude) {
    return std::ldexp(1.0, std::max(std::ilogb(static_cast<double>(magnitude)), -126) - 23);
  };
  double worst_loss = 0, worst_grad = 0;
  for (float t : {0.0f, 1.0f, 0.5f, 1e-4f, 0.9999f, 0.3f}) {
    for (uint32_t bits = 0; bits < half_bits::bits_of(100.0f); bits += 9973) {
      for (float x : {half_bits::float_of(bits), -half_bits::float_of(bits)}) {
        const long double xl = x, tl = t, sigmoid = 1.0L / (1.0L + std::exp(-xl));
        const long double loss = std::max(xl, 0.0L) - xl * tl + std::log1p(std::exp(-std::fabs(xl)));
        worst_loss = std::max(worst_loss, static_cast<double>(std::fabs(tmath::bce_with_logits(x, t) - loss) /
                                                              ulp_of(loss)));
        if (x > -87.0f)
          worst_grad = std::max(worst_grad, static_cast<double>(std::fabs(tmath::bce_with_logits_grad(x, t) -
                                                                          (sigmoid - tl)) /
                                                                ulp_of(std::max(sigmoid, tl))));
      }
    }
    EXPECT_EQ(tmath::bce_with_logits_grad(-89.0f, t), -t);
  }
  EXPECT_LE(worst_loss, 3.0);
  EXPECT_LE(worst_grad, 2.5);
}

// The CPU op computes tmath's bits: each gradient element, and the loss of a single element, over blocks with a
// ragged end.
TEST(Losses, BinaryCrossEntropyWithLogitsOnTheCpuIsTheElementFunctions) {
  Generator gen(6);
  const int64_t n = 5003;
  const auto x = (randn({n}, gen) * 20.0).to_vector(), t = rand({n}, gen).to_vector();
  const auto grad = ops::binary_cross_entropy_with_logits(from_vector(x, {n}), from_vector(t, {n}),
                                                          ops::Reduction::Sum)
                        .grad_input.to_vector();
  for (std::size_t i = 0; i < x.size(); ++i) {
    ASSERT_EQ(grad[i], tmath::bce_with_logits_grad(x[i], t[i])) << x[i] << ' ' << t[i];
    if (i % 50 != 0) continue;
    const auto one = ops::binary_cross_entropy_with_logits(full({1}, x[i]), full({1}, t[i]), ops::Reduction::Sum);
    ASSERT_EQ(one.loss.item<float>(), tmath::bce_with_logits(x[i], t[i])) << x[i] << ' ' << t[i];
  }
}

}  // namespace
}  // namespace normrt
