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

// A group that notes, at each all_reduce, which stream is current on the tensor's device.
class StreamNotingGroup final : public dist::ProcessGroup {
 public:
  explicit StreamNotingGroup(dist::ProcessGroup& inner) : ProcessGroup(inner.rank(), inner.size()), inner_(inner) {}
  std::string backend() const override { return inner_.backend(); }
  void all_reduce(Tensor& t) override {
    streams.push_back(cuda::current_stream(t.device().index()));
    inner_.all_reduce(t);
  }
  Tensor all_gather(const Tensor& t) override { return inner_.all_gather(t); }
  void broadcast(Tensor& t, int root) override { inner_.broadcast(t, root); }
  void barrier() override { inner_.barrier(); }
  std::vector<cudaStream_t> streams;

 private:
  dist::ProcessGroup& inner_;
};

// DistributedDataParallel averages CUDA gradients on a communication stream of its own, after the kernels that
// produced them, and the current stream waits for the averages when the backward returns. On the emulated device's
// lazy and eager schedules a missing wait either way shows: gradients averaged before they are final, or read before
// they are averaged.
TEST(DeviceDataParallel, BucketsAreAveragedOnACommunicationStream) {
  NORMRT_GPU_TEST_REQUIRES(cuda::is_available(), "no CUDA device");
  Generator data(5);
  const Tensor x = randn({6, 4}, data), dy = randn({6, 3}, data);
  const auto make = [] {
    Generator gen(11);
    auto net = std::make_shared<nn::Sequential>();
    net->push_back(nn::Linear(4, 8, true, &gen));
    net->push_back(nn::ReLU());
    net->push_back(nn::Linear(8, 3, true, &gen));
    return net;
  };
  // On the CPU: each rank's half of the batch through its own replica, the gradients averaged.
  std::vector<std::vector<float>> expected;
  const auto first = make(), second = make();
  nn::Context first_ctx, second_ctx;
  first->forward(ops::narrow(x, 0, 0, 3), first_ctx);
  first->backward(ops::narrow(dy, 0, 0, 3), first_ctx);
  second->forward(ops::narrow(x, 0, 3, 3), second_ctx);
  second->backward(ops::narrow(dy, 0, 3, 3), second_ctx);
  const auto first_params = first->parameters(), second_params = second->parameters();
  for (std::size_t k = 0; k < first_params.size(); ++k)
    expected.push_back(((first_params[k].grad() + second_params[k].grad()) * 0.5).to_vector());

  dist::InProcessWorld world(2);
  const auto errors = testing::run_ranks(world, [&](dist::ProcessGroup& inner) {
    StreamNotingGroup group(inner);
    const auto net = make();
    net->to(Device::cuda(0));
    nn::DistributedDataParallel ddp(net, group, /*bucket_bytes=*/4);  // a bucket per parameter
    const cudaStream_t compute = cuda::current_stream(0);
    const int64_t r = group.rank();
    ddp.forward(ops::narrow(x, 0, 3 * r, 3).to(Device::cuda(0)));
    ddp.backward(ops::narrow(dy, 0, 3 * r, 3).to(Device::cuda(0)));
    EXPECT_EQ(group.streams.size(), 4u);
    for (cudaStream_t s : group.streams) EXPECT_NE(s, compute);
    EXPECT_EQ(cuda::current_stream(0), compute);
    const auto params = ddp.parameters();
    for (std::size_t k = 0; k < params.size(); ++k)
      EXPECT_TRUE(testing::all_close(params[k].grad().to(Device::cpu()).to_vector(), expected[k], 1e-5, 1e-6)) << k;
  });
  for (const std::string& e : errors) ASSERT_EQ(e, "");
}

// A Linear and a parameter that its forward never uses.
class WithUnusedParameter final : public nn::Module {
 public:
  WithUnusedParameter() : linear_(std::make_shared<nn::Linear>(4, 3)) {
    Generator gen(13);
    unused = randn({5}, gen);
    register_module("linear", linear_);
    register_parameter("unused", &unused);
  }
  WithUnusedParameter(WithUnusedParameter&&) = delete;
  std::string name() const override { return "WithUnusedParameter"; }
  Tensor unused;

 protected:
  Tensor forward_impl(const Tensor& input, nn::Context& ctx) override {
    ctx.children.resize(1);
    return linear_->forward(input, ctx.children[0]);
  }
  Tensor backward_impl(const Tensor& grad_output, nn::Context& ctx) override {
    return linear_->backward(grad_output, ctx.children[0]);
  }

 private:
  std::shared_ptr<nn::Linear> linear_;
};

// A parameter the backward does not reach gets zeros (made on the compute stream before the bucket moves to the
// communication stream), averaged with the rest; the reached ones are averaged as on the CPU. Two steps, the
// gradients zeroed (freed) between them, on every schedule of the emulated device.
TEST(DeviceDataParallel, UnreachedParametersGetAveragedZeros) {
  NORMRT_GPU_TEST_REQUIRES(cuda::is_available(), "no CUDA device");
  Generator data(6);
  const Tensor x = randn({4, 4}, data), dy = randn({4, 3}, data);
  dist::InProcessWorld world(2);
  std::vector<std::vector<float>> weight_grads(2);
  const auto errors = testing::run_ranks(world, [&](dist::ProcessGroup& group) {
    auto net = std::make_shared<WithUnusedParameter>();
    net->to(Device::cuda(0));
    nn::DistributedDataParallel ddp(net, group, /*bucket_bytes=*/4);
    const int64_t r = group.rank();
    for (int step = 0; step < 2; ++step) {
      ddp.zero_grad();
      ddp.forward(ops::narrow(x, 0, 2 * r, 2).to(Device::cuda(0)));
      ddp.backward(ops::narrow(dy, 0, 2 * r, 2).to(Device::cuda(0)));
      ASSERT_TRUE(net->unused.grad().defined());
      EXPECT_EQ(net->unused.grad().to(Device::cpu()).to_vector(), std::vector<float>(5, 0.0f)) << "step " << step;
    }
    for (const auto& [key, p] : net->named_parameters())
      if (key == "linear.weight") weight_grads[r] = p.grad().to(Device::cpu()).to_vector();
  });
  for (const std::string& e : errors) ASSERT_EQ(e, "");
  ASSERT_EQ(weight_grads[0].size(), 12u);
  EXPECT_EQ(weight_grads[0], weight_grads[1]);  // averaged: the same on both ranks
}

struct Case {
  std::string model, optimizer;
  double dropout;
  int64_t samples, batch;
  std::string precision = "fp32";
  std::string bn_backend = "native";
  std::string memory_format = "contiguous";
  bool skips = false;  // fp16: some step overflows at the initial loss scale
};

void PrintTo(const Case& c, std::ostream* os) {
  *os << c.model << " " << c.optimizer << " dropout " << c.dropout << ", " << c.samples << " samples in batches of "
      << c.batch << ", " << c.precision << ", BatchNorm " << c.bn_backend << ", " << c.memory_format;
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
  c.bn_backend = k.bn_backend;
  c.memory_format = k.memory_format;
  c.epochs = 2;  // cosine: the second epoch's learning rate differs (a new plan)
  c.limit_test = 4;
  const Outcome eager = train(c, false, data), graph = train(c, true, data);
  EXPECT_TRUE(testing::same_bits(graph.losses, eager.losses)) << "batch losses";
  ASSERT_EQ(graph.state.size(), eager.state.size());
  for (std::size_t i = 0; i < eager.state.size(); ++i) {
    EXPECT_EQ(graph.state[i].first, eager.state[i].first);
    EXPECT_TRUE(testing::same_bits(graph.state[i].second, eager.state[i].second)) << eager.state[i].first;
  }
#if NORMRT_EMULATED_DEVICE  // the case's premise, where CI runs it (a GPU's 16-bit sums may round otherwise)
  if (k.precision == "fp16") {  // whether the loss scaler backed off: a step was skipped (on the device, in the graph)
    const auto scale = std::find_if(eager.state.begin(), eager.state.end(),
                                    [](const auto& entry) { return entry.first == "amp.scale"; });
    ASSERT_NE(scale, eager.state.end());
    EXPECT_EQ(scale->second.at(0) < amp::GradScalerOptions().init_scale(), k.skips) << "amp.scale " << scale->second[0];
  }
#endif
}

// Short last batches, so every epoch mixes replays with an eager step; dropout and the optimizers' step-dependent
// hyperparameters (Adam's bias corrections, SGD's first momentum step) are where a stale replay would show; bf16:
// the autocast copies and conversions are allocated inside the capture; fp16: the loss scaler's skips are decided on
// the device (cnn-bn's early steps overflow; mlp-bn's do not); cudnn: cuDNN's batch norm (its workspaces)
// inside the capture; channels_last: cuDNN's NHWC convolutions on channels-last weights, whose gradients the
// optimizer steps in their layout.
INSTANTIATE_TEST_SUITE_P(Models, GraphTraining,
                         ::testing::Values(Case{"mlp-bn", "adam", 0.2, 70, 16}, Case{"mlp", "sgd", 0.5, 53, 8},
                                           Case{"cnn-bn", "adam", 0.0, 10, 4},
                                           Case{"mlp-bn", "sgd", 0.2, 37, 8, "bf16"},
                                           Case{"mlp-bn", "adam", 0.2, 70, 16, "fp16"},
                                           Case{"cnn-bn", "sgd", 0.0, 10, 4, "fp16", "native", "contiguous", true},
                                           Case{"cnn-bn", "adam", 0.0, 10, 4, "fp32", "cudnn"},
                                           Case{"cnn-bn", "sgd", 0.0, 10, 4, "fp32", "native", "channels_last"}),
                         [](const auto& info) {
                           std::string name = info.param.model + "_" + info.param.optimizer + "_" +
                                              info.param.precision + "_" + info.param.bn_backend +
                                              (info.param.memory_format == "contiguous" ? "" : "_channels_last");
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

}  // namespace
}  // namespace normrt::app
