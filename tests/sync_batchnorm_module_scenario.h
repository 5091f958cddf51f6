// The SyncBatchNorm module's scenario, shared by the CPU and GPU suites: replicas on two ranks (threads of the
// in-process group) train two steps on uneven shares of a batch on `device`, in step with BatchNorm2d on the whole
// batch on the CPU; eval uses the running statistics as BatchNorm does.
#pragma once
#include "dist_test_util.h"
#include "test_util.h"

namespace normrt::testing {

inline void check_sync_batchnorm_module_on(const Device& device) {
  Generator gen(5);
  const Tensor x = randn({6, 3, 4, 5}, gen) * 2.0 + 3.0, dy = randn({6, 3, 4, 5}, gen);
  nn::BatchNorm2d reference(3);
  Tensor y_ref;
  for (int step = 0; step < 2; ++step) {
    nn::Context ctx;
    y_ref = reference.forward(x, ctx);
    reference.backward(dy, ctx);
  }
  reference.eval();
  const Tensor eval_ref = reference.forward(x);

  dist::InProcessWorld world(2);
  std::vector<std::unique_ptr<nn::SyncBatchNorm>> replicas(2);
  std::vector<Tensor> outputs(2), eval_outputs(2);
  const auto errors = run_ranks(world, [&](dist::ProcessGroup& group) {
    const int r = group.rank();
    auto& bn = replicas[static_cast<std::size_t>(r)];
    bn = std::make_unique<nn::SyncBatchNorm>(nn::BatchNormOptions(3), group);
    bn->to(device);
    const auto share = [&](const Tensor& t) { return ops::narrow(t, 0, 4 * r, r == 0 ? 4 : 2).to(device); };
    const Tensor xs = share(x), dys = share(dy);
    for (int step = 0; step < 2; ++step) {
      nn::Context ctx;
      outputs[static_cast<std::size_t>(r)] = bn->forward(xs, ctx).to(Device::cpu());
      bn->backward(dys, ctx);
    }
    bn->eval();
    eval_outputs[static_cast<std::size_t>(r)] = bn->forward(xs).to(Device::cpu());
  });
  for (const std::string& e : errors) ASSERT_EQ(e, "");
  EXPECT_TRUE(all_close(ops::cat(outputs, 0).to_vector(), y_ref.to_vector(), 1e-5, 1e-5));
  EXPECT_TRUE(all_close(ops::cat(eval_outputs, 0).to_vector(), eval_ref.to_vector(), 1e-5, 1e-5));
  for (const auto& bn : replicas) {
    EXPECT_EQ(bn->name(), "SyncBatchNorm");
    EXPECT_TRUE(all_close(bn->running_mean.to_vector(), reference.running_mean.to_vector(), 1e-5, 1e-6));
    EXPECT_TRUE(all_close(bn->running_var.to_vector(), reference.running_var.to_vector(), 1e-5, 1e-6));
    EXPECT_EQ(bn->num_batches_tracked.to(Device::cpu()).item<int64_t>(), 2);
  }
  const Tensor grad_sum = replicas[0]->weight.grad().to(Device::cpu()) + replicas[1]->weight.grad().to(Device::cpu());
  EXPECT_TRUE(all_close(grad_sum.to_vector(), reference.weight.grad().to_vector(), 1e-4, 1e-5));
}

}  // namespace normrt::testing
