// normrt-train's training step on the GPU (label gpu): captured into a CUDA graph and replayed (--cuda-graph), it
// gives the eager step's bits: every batch loss, every parameter, buffer, optimizer slot and generator state after
// epochs that end with a short batch (run eagerly between replays) and a learning-rate change.
#include <algorithm>

#include "gpu_test_support.h"
#include "data_parallel_trainers.h"
#include "synthetic_images.h"
#include "test_util.h"
#include "trainer.h"

namespace normrt::app {
namespace {

struct Outcome {
  std::vector<float> losses;
  std::vector<std::pair<std::string, std::vector<float>>> state;
};

Outcome train(TrainConfig c, bool graph, const Dataset& data) {
  c.cuda_graph = graph;
  Trainer trainer(c, data, data);
  Outcome out;
  out.losses = trainer.run().batch_losses;
  for (const auto& [name, tensor] : trainer.checkpoint(c.epochs).tensors) {
    const Tensor host = tensor.to(Device::cpu());
    std::vector<float> values;
    if (host.dtype() == DType::Int64)
      for (int64_t v : host.to_vector<int64_t>()) values.push_back(static_cast<float>(v));
    else
      values = host.to_vector();
    out.state.emplace_back(name, std::move(values));
  }
  return out;
}

// Data-parallel training on the device, ranks as threads (a Trainer each): two ranks with --sync-bn and batches of 8
// train as one process with batches of 16 (the loader's shards make each global batch the single run's batch):
// DistributedDataParallel's buckets and SyncBatchNorm's device stages in a training run, eager steps.
TEST(DeviceDataParallel, TwoRanksWithSyncBatchNormTrainAsOneProcessOnTheirGlobalBatch) {
  NORMRT_GPU_TEST_REQUIRES(cuda::is_available(), "no CUDA device");
  const Dataset train_set = testing::synthetic_images(48, 1), test_set = testing::synthetic_images(16, 2);
  TrainConfig single;
  single.model = "mlp-bn";
  single.device = "cuda";
  single.progress = false;
  single.batch_size = 16;
  single.epochs = 1;
  single.cuda_graph = false;
  Trainer reference(single, train_set, test_set);
  const RunResult whole = reference.run();
  TrainConfig per_rank = single;
  per_rank.batch_size = 8;
  per_rank.sync_bn = true;
  testing::expect_epochs_match(testing::train_ranks(2, per_rank, train_set, test_set), whole);
}

struct Case {
  std::string model, optimizer;
  double dropout;
  int64_t samples, batch;
  std::string precision = "fp32";
};

void PrintTo(const Case& c, std::ostream* os) {
  *os << c.model << " " << c.optimizer << " dropout " << c.dropout << ", " << c.samples << " samples in batches of "
      << c.batch << ", " << c.precision;
}

class GraphTraining : public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override { NORMRT_GPU_TEST_REQUIRES(cuda::is_available(), "no CUDA device"); }
};

TEST_P(GraphTraining, ReplaysGiveTheEagerStepsBits) {
  const Case& k = GetParam();
  const Dataset data = testing::synthetic_images(k.samples, 7);
  TrainConfig c;
  c.model = k.model;
  c.optimizer = k.optimizer;
  c.dropout = k.dropout;
  c.device = "cuda";
  c.progress = false;
  c.batch_size = k.batch;
  c.precision = k.precision;
  c.epochs = 2;  // cosine: the second epoch's learning rate differs (a new plan)
  c.limit_test = 4;
  const Outcome eager = train(c, false, data), graph = train(c, true, data);
  ASSERT_EQ(graph.losses.size(), eager.losses.size());
  for (std::size_t i = 0; i < eager.losses.size(); ++i) EXPECT_EQ(graph.losses[i], eager.losses[i]) << "batch " << i;
  ASSERT_EQ(graph.state.size(), eager.state.size());
  for (std::size_t i = 0; i < eager.state.size(); ++i) {
    EXPECT_EQ(graph.state[i].first, eager.state[i].first);
    EXPECT_EQ(graph.state[i].second, eager.state[i].second) << eager.state[i].first;
  }
}

// Short last batches, so every epoch mixes replays with an eager step; dropout and the optimizers' step-dependent
// hyperparameters (Adam's bias corrections, SGD's first momentum step) are where a stale replay would show; bf16:
// the autocast copies and conversions are allocated inside the capture.
INSTANTIATE_TEST_SUITE_P(Models, GraphTraining,
                         ::testing::Values(Case{"mlp-bn", "adam", 0.2, 70, 16}, Case{"mlp", "sgd", 0.5, 53, 8},
                                           Case{"cnn-bn", "adam", 0.0, 10, 4},
                                           Case{"mlp-bn", "sgd", 0.2, 37, 8, "bf16"}),
                         [](const auto& info) {
                           std::string name =
                               info.param.model + "_" + info.param.optimizer + "_" + info.param.precision;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

}  // namespace
}  // namespace normrt::app
