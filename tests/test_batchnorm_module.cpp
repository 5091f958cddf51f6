// nn::BatchNorm1d/2d/3d: the seeds' worked examples, module semantics (train/eval, affine, running stats,
// state_dict) and errors that must leave state untouched.
#include "empty_shapes.h"
#include "test_util.h"

namespace normrt {
namespace {

using testing::all_close;
using testing::throws_with;

TEST(BatchNormModule, EmptyDimensionsGiveEmptyGradientsAndZeroParameterGradients) {
  testing::check_empty_shapes_on(Device::cpu());
}

TEST(BatchNormModule, SeedExampleArange9) {
  // torch: x = arange(9).reshape(3, 3); BatchNorm1d(3)(x) -> columns (-1.2247, 0, 1.2247).
  nn::BatchNorm1d bn(3);
  const Tensor x = arange(9).reshape({3, 3});
  const auto y = bn.forward(x).to_vector();
  // Column c holds c, c+3, c+6: mean c+3, biased variance 6, so y = (-3, 0, 3) / sqrt(6 + 1e-5).
  const double k = 3.0 / std::sqrt(6.0 + 1e-5);
  EXPECT_TRUE(all_close(y, std::vector<double>{-k, -k, -k, 0, 0, 0, k, k, k}, 1e-6, 0));
  EXPECT_NEAR(k, 1.2247, 1e-4);
  // running_mean = 0.9 * 0 + 0.1 * (3, 4, 5); running_var = 0.9 * 1 + 0.1 * 9 (unbiased variance 18 / 2).
  EXPECT_TRUE(all_close(bn.running_mean.to_vector(), std::vector<double>{0.3, 0.4, 0.5}, 1e-6, 0));
  EXPECT_TRUE(all_close(bn.running_var.to_vector(), std::vector<double>{1.8, 1.8, 1.8}, 1e-6, 0));
  bn.forward(x);
  EXPECT_TRUE(all_close(bn.running_mean.to_vector(), std::vector<double>{0.57, 0.76, 0.95}, 1e-6, 0));
  EXPECT_EQ(bn.num_batches_tracked.item<int64_t>(), 2);
}

TEST(BatchNormModule, SeedExampleMomentumConverges) {
  // BatchNorm1d(4, momentum=0.3) on arange(20).reshape(5, 4) 50 times: running_mean -> column means (8, 9, 10, 11)
  // (1 - 0.7^50 of the way there, i.e. within 2e-7 relative).
  nn::BatchNorm1d bn(nn::BatchNormOptions(4).momentum(0.3));
  const Tensor x = arange(20).reshape({5, 4});
  for (int i = 0; i < 50; ++i) bn.forward(x);
  EXPECT_TRUE(all_close(bn.running_mean.to_vector(), std::vector<double>{8, 9, 10, 11}, 1e-5, 0));
  // Column variance (unbiased): values c + 4k, k = 0..4 -> 16 * var(0..4) = 16 * 2.5 = 40.
  EXPECT_TRUE(all_close(bn.running_var.to_vector(), std::vector<double>(4, 40.0), 1e-5, 0));
}

TEST(BatchNormModule, AffineFalseHasNoParameters) {
  nn::BatchNorm2d bn(nn::BatchNormOptions(3).affine(false));
  EXPECT_TRUE(bn.parameters().empty());
  EXPECT_FALSE(bn.weight.defined());
  EXPECT_EQ(bn.buffers().size(), 3u);
}

TEST(BatchNormModule, DefaultsAndStateDictKeys) {
  nn::BatchNorm2d bn(5);
  EXPECT_EQ(bn.options().eps(), 1e-5);
  EXPECT_EQ(bn.options().momentum(), std::optional<double>(0.1));
  EXPECT_TRUE(bn.is_training());
  EXPECT_EQ(bn.weight.to_vector(), std::vector<float>(5, 1.0f));
  EXPECT_EQ(bn.bias.to_vector(), std::vector<float>(5, 0.0f));
  EXPECT_EQ(bn.running_mean.to_vector(), std::vector<float>(5, 0.0f));
  EXPECT_EQ(bn.running_var.to_vector(), std::vector<float>(5, 1.0f));
  EXPECT_EQ(bn.num_batches_tracked.dtype(), DType::Int64);
  EXPECT_EQ(bn.num_batches_tracked.dim(), 0);
  std::vector<std::string> keys;
  for (const auto& [key, value] : bn.state_dict()) keys.push_back(key);
  EXPECT_EQ(keys, (std::vector<std::string>{"weight", "bias", "running_mean", "running_var", "num_batches_tracked"}));
  nn::BatchNorm2d no_stats(nn::BatchNormOptions(5).track_running_stats(false));
  EXPECT_FALSE(no_stats.running_mean.defined());
  EXPECT_EQ(no_stats.state_dict().size(), 2u);
}

TEST(BatchNormModule, EvalUsesRunningStatisticsAndDoesNotUpdate) {
  nn::BatchNorm1d bn(2);
  bn.running_mean.copy_(from_vector(std::vector<float>{1.0f, -1.0f}, {2}));
  bn.running_var.copy_(from_vector(std::vector<float>{4.0f, 0.25f}, {2}));
  bn.eval();
  const Tensor x = from_vector(std::vector<float>{3.0f, 0.0f, 5.0f, -2.0f}, {2, 2});
  const auto y = bn.forward(x).to_vector();
  const double a = 1 / std::sqrt(4.0 + 1e-5), b = 1 / std::sqrt(0.25 + 1e-5);
  EXPECT_TRUE(all_close(y, std::vector<double>{2 * a, 1 * b, 4 * a, -1 * b}, 1e-6, 0));
  EXPECT_EQ(bn.num_batches_tracked.item<int64_t>(), 0);
  EXPECT_EQ(bn.running_mean.to_vector(), (std::vector<float>{1.0f, -1.0f}));
  // A single sample is fine in eval mode.
  EXPECT_NO_THROW(bn.forward(from_vector(std::vector<float>{1.0f, 2.0f}, {1, 2})));
}

TEST(BatchNormModule, WithoutRunningStatsEvalUsesBatchStatistics) {
  nn::BatchNorm1d bn(nn::BatchNormOptions(1).track_running_stats(false));
  bn.eval();
  const auto y = bn.forward(from_vector(std::vector<float>{1.0f, 3.0f}, {2, 1})).to_vector();
  const double k = 1 / std::sqrt(1.0 + 1e-5);
  EXPECT_TRUE(all_close(y, std::vector<double>{-k, k}, 1e-6, 0));
  // Batch statistics need two values per channel in eval mode too (PyTorch checks "training or not tracking").
  EXPECT_TRUE(throws_with(
      [&] {
        bn.forward(from_vector(std::vector<float>{1.0f}, {1, 1, 1}));
      },
      "Expected more than 1 value per channel when training, got input size torch.Size([1, 1, 1])"));
}

TEST(BatchNormModule, MomentumNoneIsTheCumulativeAverage) {
  nn::BatchNorm1d bn(nn::BatchNormOptions(1).momentum(std::nullopt));
  const std::vector<std::vector<float>> batches = {{0, 2}, {4, 8}, {-3, -1}};
  double mean_of_means = 0, mean_of_vars = 0;
  for (const auto& b : batches) {
    bn.forward(from_vector(b, {2, 1}));
    mean_of_means += (b[0] + b[1]) / 2.0 / batches.size();
    mean_of_vars += (b[0] - b[1]) * (b[0] - b[1]) / 2.0 / batches.size();  // unbiased variance of two values
  }
  EXPECT_NEAR(bn.running_mean.item(), mean_of_means, 1e-6);
  EXPECT_NEAR(bn.running_var.item(), mean_of_vars, 1e-5);
  EXPECT_EQ(bn.num_batches_tracked.item<int64_t>(), 3);
}

TEST(BatchNormModule, WrongRankMessages) {
  nn::BatchNorm1d bn1(3);
  nn::BatchNorm2d bn2(3);
  nn::BatchNorm3d bn3(3);
  EXPECT_TRUE(throws_with([&] { bn1.forward(zeros({2, 3, 4, 5})); }, "expected 2D or 3D input (got 4D input)"));
  EXPECT_TRUE(throws_with([&] { bn2.forward(zeros({2, 3, 4})); }, "expected 4D input (got 3D input)"));
  EXPECT_TRUE(throws_with([&] { bn3.forward(zeros({2, 3, 4, 5})); }, "expected 5D input (got 4D input)"));
}

TEST(BatchNormModule, FailedForwardLeavesStateUntouched) {
  nn::BatchNorm2d bn(3);
  Generator gen(1);
  bn.forward(randn({2, 3, 2, 2}, gen));
  const auto before = bn.state_dict();
  std::vector<std::vector<float>> floats;
  for (const auto& [k, t] : before)
    if (t.dtype() == DType::Float32) floats.push_back(t.clone().to_vector());
  EXPECT_TRUE(throws_with(
      [&] {
        bn.forward(randn({1, 3, 1, 1}, gen));
      },
      "Expected more than 1 value per channel when training, got input size torch.Size([1, 3, 1, 1])"));
  EXPECT_TRUE(throws_with(
      [&] {
        bn.forward(randn({2, 4, 2, 2}, gen));
      },
      "running_mean should contain 4 elements not 3"));
  std::size_t i = 0;
  for (const auto& [k, t] : bn.state_dict())
    if (t.dtype() == DType::Float32) EXPECT_EQ(t.to_vector(), floats[i++]) << k;
  EXPECT_EQ(bn.num_batches_tracked.item<int64_t>(), 1);
}

TEST(BatchNormModule, BackwardNeedsItsForward) {
  nn::BatchNorm1d bn(3);
  Generator gen(2);
  EXPECT_TRUE(throws_with([&] { bn.backward(zeros({4, 3})); }, "backward() needs a preceding forward()"));
  const Tensor x = randn({4, 3}, gen);
  bn.forward(x);
  EXPECT_TRUE(throws_with(
      [&] {
        bn.backward(zeros({4, 2}));
      },
      "grad_output shape [4, 2] does not match input shape [4, 3]"));
  EXPECT_NO_THROW(bn.backward(randn({4, 3}, gen)));  // the failed call consumed nothing
  EXPECT_TRUE(throws_with([&] { bn.backward(zeros({4, 3})); }, "backward() needs a preceding forward()"));
}

TEST(BatchNormModule, GradientsAccumulateUntilZeroGrad) {
  nn::BatchNorm1d bn(2);
  Generator gen(4);
  const Tensor x = randn({5, 2}, gen), dy = randn({5, 2}, gen);
  bn.forward(x);
  bn.backward(dy);
  const auto once = bn.bias.grad().to_vector();
  bn.forward(x);
  bn.backward(dy);
  const auto twice = bn.bias.grad().to_vector();
  for (std::size_t i = 0; i < once.size(); ++i) EXPECT_FLOAT_EQ(twice[i], 2 * once[i]);
  bn.zero_grad();
  EXPECT_FALSE(bn.bias.grad().defined());
}

TEST(BatchNormModule, LoadStateDictChecksEverythingFirst) {
  nn::BatchNorm1d source(3), target(3);
  Generator gen(5);
  source.forward(randn({6, 3}, gen));
  target.load_state_dict(source.state_dict());
  EXPECT_EQ(target.running_mean.to_vector(), source.running_mean.to_vector());
  EXPECT_EQ(target.num_batches_tracked.item<int64_t>(), 1);

  nn::BatchNorm1d fresh(3);
  auto missing = source.state_dict();
  missing.erase(missing.begin() + 2);
  // PyTorch 1.13's words (nn.BatchNorm1d(3).load_state_dict(...) with each change).
  EXPECT_TRUE(throws_with([&] { fresh.load_state_dict(missing); },
                          "Error(s) in loading state_dict for BatchNorm1d:\n\tMissing key(s) in state_dict: "
                          "\"running_mean\". "));
  auto extra = source.state_dict();
  extra.emplace_back("momentum", zeros({1}));
  EXPECT_TRUE(throws_with([&] { fresh.load_state_dict(extra); },
                          "Error(s) in loading state_dict for BatchNorm1d:\n\tUnexpected key(s) in state_dict: "
                          "\"momentum\". "));
  auto wrong = source.state_dict();
  wrong[2].second = zeros({4});
  EXPECT_TRUE(throws_with([&] { fresh.load_state_dict(wrong); },
                          "Error(s) in loading state_dict for BatchNorm1d:\n\tsize mismatch for running_mean: "
                          "copying a param with shape torch.Size([4]) from checkpoint, the shape in current model "
                          "is torch.Size([3])."));
  EXPECT_EQ(fresh.weight.to_vector(), std::vector<float>(3, 1.0f));
  EXPECT_EQ(fresh.running_mean.to_vector(), std::vector<float>(3, 0.0f));
  EXPECT_EQ(fresh.num_batches_tracked.item<int64_t>(), 0);
}

// As PyTorch loads a plain dict (torch.nn.BatchNorm1d(3).load_state_dict(d) in 1.13): a checkpoint from before
// num_batches_tracked existed loads it as 0, strict or not; 16-bit values load into the float32 module converted.
TEST(BatchNormModule, LoadStateDictUpgradesOldAndSixteenBitCheckpoints) {
  nn::BatchNorm1d source(3), target(3);
  Generator gen(6);
  source.forward(randn({6, 3}, gen) * 2.0 + 1.0);
  target.forward(randn({6, 3}, gen));
  target.forward(randn({6, 3}, gen));
  auto old = source.state_dict();
  old.pop_back();  // num_batches_tracked
  const auto result = target.load_state_dict(old);
  EXPECT_TRUE(result.missing_keys.empty());
  EXPECT_EQ(target.num_batches_tracked.item<int64_t>(), 0);
  EXPECT_EQ(target.running_var.to_vector(), source.running_var.to_vector());
  target.num_batches_tracked.copy_(full({}, 2, TensorOptions().dtype(DType::Int64)));
  EXPECT_TRUE(target.load_state_dict(old, false).missing_keys.empty());
  EXPECT_EQ(target.num_batches_tracked.item<int64_t>(), 0);
  nn::BatchNorm1d untracked(nn::BatchNormOptions(3).track_running_stats(false));
  EXPECT_TRUE(untracked.load_state_dict({{"weight", ones({3})}, {"bias", zeros({3})}}).missing_keys.empty());

  for (const DType dtype : {DType::Float16, DType::BFloat16}) {
    nn::NamedTensors reduced;
    for (const auto& [key, value] : source.state_dict())
      reduced.emplace_back(key, is_floating(value.dtype()) ? value.to(dtype) : value);
    target.load_state_dict(reduced);
    EXPECT_EQ(target.running_mean.dtype(), DType::Float32);
    EXPECT_EQ(target.running_mean.to_vector(), source.running_mean.to(dtype).to(DType::Float32).to_vector());
    EXPECT_EQ(target.num_batches_tracked.item<int64_t>(), 1);
  }
  auto float_count = source.state_dict();
  float_count.back().second = ones({});
  const auto before = target.running_mean.to_vector();
  EXPECT_TRUE(throws_with([&] { target.load_state_dict(float_count); },
                          "dtype mismatch for num_batches_tracked: copying a float32 param from checkpoint, the "
                          "dtype in current model is int64"));
  EXPECT_EQ(target.running_mean.to_vector(), before);
}

TEST(BatchNormModule, OptionsAreValidated) {
  EXPECT_TRUE(throws_with([] { nn::BatchNorm1d bn(0); }, "num_features must be positive"));
  EXPECT_TRUE(throws_with([] { nn::BatchNorm1d bn(nn::BatchNormOptions(2).eps(-1)); }, "eps must be a non-negative"));
}

}  // namespace
}  // namespace normrt
