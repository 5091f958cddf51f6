// Softmax over any dimension and the losses with soft or binary targets against PyTorch, and the modules' forms.
#include "losses_golden_runner.h"

namespace normrt {
namespace {

using testing::throws_with;

class LossesGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(LossesGolden, MatchesPyTorch) { testing::run_losses_golden_case(GetParam(), Device::cpu()); }

INSTANTIATE_TEST_SUITE_P(PyTorch, LossesGolden, ::testing::ValuesIn(testing::losses_golden_case_names()),
                         [](const ::testing::TestParamInfo<std::string>& info) { return testing::test_name(info.param); });

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
  ignore_3.label_smoothing = 0.1;
  EXPECT_TRUE(throws_with([&] { ops::cross_entropy(logits, from_vector(labels, {4}), ignore_3); },
                          "ignore_index with label smoothing is not supported yet"));
  nn::NLLLoss nll;
  EXPECT_FLOAT_EQ(nll.forward(ops::softmax(logits, true), from_vector(labels, {4})).item<float>(), hard.loss.item<float>());
  EXPECT_TRUE(throws_with([&] { nll.forward(logits, from_vector(std::vector<int64_t>{0, 9, 1, 1}, {4})); },
                          "Target 9 is out of bounds for 5 classes (sample 1)"));
  nn::BCEWithLogitsLoss bce;
  const Tensor loss = bce.forward(zeros({3}), full({3}, 1.0));
  EXPECT_NEAR(loss.item<float>(), std::log(2.0), 1e-6);
  EXPECT_EQ(bce.backward().to_vector(), std::vector<float>(3, -0.5f / 3));
  EXPECT_TRUE(throws_with([&] { ops::binary_cross_entropy_with_logits(zeros({3}), zeros({4})); },
                          "Target size ([4]) must be the same as input size ([3])"));
  EXPECT_TRUE(throws_with([&] { ops::cross_entropy(logits, zeros({4, 4})); }, "a float32 target holds class probabilities"));
  EXPECT_TRUE(throws_with([&] { ops::softmax(x, 3, false); }, "Dimension out of range"));
}

}  // namespace
}  // namespace normrt
