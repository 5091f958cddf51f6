// Weight averaging (normrt/swa_utils.h) against torch.optim.swa_utils: tests/golden/make_golden_swa.py wrote
// data_swa/ with PyTorch 1.13.
#include "swa_golden_runner.h"

namespace normrt {
namespace {

using optim::swa_utils::AveragedModel;
using testing::swa_model;
using testing::throws_with;

TEST(SwaUtils, AveragesAndBatchNormStatisticsMatchPyTorch) { testing::run_swa_golden(Device::cpu()); }

TEST(SwaUtils, RefusesMismatchedModelsAndKeepsStateWhenAPassFails) {
  auto model = swa_model();
  AveragedModel swa(swa_model());
  const auto other = std::make_shared<nn::Sequential>(nn::Linear(6, 5), nn::ReLU(), nn::Linear(5, 3));
  EXPECT_TRUE(throws_with([&] { swa.update_parameters(*other); },
                          "AveragedModel.update_parameters: the model has 4 parameters, the averaged module 6"));
  const auto wider = std::make_shared<nn::Sequential>(nn::Linear(6, 7), nn::BatchNorm1d(7), nn::ReLU(),
                                                      nn::Linear(7, 3));
  EXPECT_TRUE(throws_with([&] { swa.update_parameters(*wider); },
                          "tensor 0 of the model is float32 [7, 6], the averaged module's float32 [5, 6]"));
  EXPECT_EQ(swa.num_averaged(), 0);
  swa.update_parameters(*model);
  swa.update_parameters(*model);
  EXPECT_EQ(swa.num_averaged(), 2);
  EXPECT_EQ(swa.module().parameters()[0].to_vector(), model->parameters()[0].to_vector());

  // A batch that fails the forward (its width): the statistics of the pass so far are undone, momentum and mode
  // restored.
  auto& bn = model->at<nn::BatchNorm1d>(1);
  model->train();
  model->forward(randn({4, 6}) + 3.0);
  const auto mean = bn.running_mean.to_vector(), var = bn.running_var.to_vector();
  model->eval();
  EXPECT_TRUE(throws_with([&] { optim::swa_utils::update_bn({randn({4, 6}), randn({4, 7})}, *model); },
                          "mat1 and mat2 shapes cannot be multiplied (4x7 and 6x5)"));
  EXPECT_EQ(bn.running_mean.to_vector(), mean);
  EXPECT_EQ(bn.running_var.to_vector(), var);
  EXPECT_EQ(bn.num_batches_tracked.item<int64_t>(), 1);
  EXPECT_EQ(bn.options().momentum(), 0.1);
  EXPECT_FALSE(model->is_training());
  // No BatchNorm: nothing to do, no input read.
  int reads = 0;
  optim::swa_utils::update_bn([&]() -> std::optional<Tensor> { return ++reads, std::nullopt; }, *other);
  EXPECT_EQ(reads, 0);
  EXPECT_TRUE(throws_with([] { optim::swa_utils::ema_avg_fn(1.5); }, "ema_avg_fn: decay must be in [0, 1], got 1.5"));
}

// update_bn starts from reset statistics: a model that trained before gets the statistics a fresh one gets.
TEST(SwaUtils, UpdateBnForgetsEarlierStatistics) {
  auto trained = swa_model(), fresh = swa_model();
  fresh->load_state_dict(trained->state_dict());
  trained->train();
  for (int i = 0; i < 3; ++i) trained->forward(randn({4, 6}) * 2.0 + 1.0);
  const std::vector<Tensor> batches = {randn({5, 6}) + 4.0, randn({3, 6}) - 1.0};
  optim::swa_utils::update_bn(batches, *trained);
  optim::swa_utils::update_bn(batches, *fresh);
  for (std::size_t i = 0; i < 2; ++i) EXPECT_EQ(trained->buffers()[i].to_vector(), fresh->buffers()[i].to_vector());
  EXPECT_EQ(trained->buffers()[2].item<int64_t>(), 2);
}

// Integer buffers average in float32 and truncate, as PyTorch's copy_ of a float result into num_batches_tracked:
// (1 + 4) / 2 = 2.5 -> 2.
TEST(SwaUtils, IntegerBuffersAreTruncatedAverages) {
  auto model = swa_model();
  AveragedModel ema(swa_model(), optim::swa_utils::ema_avg_fn(0.5), true);
  model->train();
  model->forward(randn({4, 6}));
  ema.update_parameters(*model);
  for (int i = 0; i < 3; ++i) model->forward(randn({4, 6}));
  ema.update_parameters(*model);
  EXPECT_EQ(ema.module().buffers()[2].item<int64_t>(), 2);
  EXPECT_EQ(ema.num_averaged(), 2);
}

}  // namespace
}  // namespace normrt
