// The NCCL process-group backend (src/dist_nccl.cpp), ranks as threads over an in-process bootstrap group. On a GPU
// a group of one at least (NCCL takes one rank per device), one rank per device where there are several; on the
// emulated device (tests/simt/emulated_nccl.cpp) three ranks sharing it. Collectives and their dtypes, results the
// same on every rank and left on the device; disagreeing calls and a rank that stops both throw on every waiting
// rank and leave the group failed; SyncBatchNorm over NCCL against BatchNorm on the whole batch.
#include "gpu_test_support.h"

#include "dist_test_util.h"
#include "normrt/config.h"
#include "normrt/cuda.h"
#include "test_util.h"

namespace normrt {
namespace {

#if NORMRT_WITH_NCCL

using testing::all_close;
using testing::run_ranks;

// The device of rank r in a group of `ranks`, or -1 when this machine cannot host such a group.
int device_of(int r, int ranks) {
#ifdef NORMRT_EMULATED_DEVICE
  (void)ranks;
  (void)r;
  return 0;
#else
  return ranks <= cuda::device_count() ? r : -1;
#endif
}

// Runs body(group, device) on one thread per rank, each over an NCCL group bootstrapped by an in-process world.
std::vector<std::string> run_nccl_ranks(int ranks, const std::function<void(dist::ProcessGroup&, int)>& body,
                                        std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
  dist::InProcessWorld bootstrap(ranks, timeout);
  return run_ranks(bootstrap, [&](dist::ProcessGroup& boot) {
    const int device = device_of(boot.rank(), ranks);
    cuda::DeviceGuard guard(device);
    const std::unique_ptr<dist::ProcessGroup> group = dist::new_nccl_group(boot, device);
    body(*group, device);
  });
}

std::vector<int> group_sizes() {
  std::vector<int> sizes = {1};
  if (device_of(2, 3) >= 0) sizes.push_back(3);
  else if (device_of(1, 2) >= 0) sizes.push_back(2);
  return sizes;
}

TEST(CudaNccl, CollectivesGiveEveryRankTheSameResultsOnTheDevice) {
  NORMRT_GPU_TEST_REQUIRES(cuda::is_available(), "no CUDA device");
  for (int ranks : group_sizes()) {
    SCOPED_TRACE(std::to_string(ranks) + " ranks");
    std::vector<std::vector<float>> sums(ranks), half_sums(ranks), gathered(ranks), broadcast(ranks);
    std::vector<std::vector<int64_t>> counts(ranks);
    const auto errors = run_nccl_ranks(ranks, [&](dist::ProcessGroup& g, int device) {
      const auto r = static_cast<std::size_t>(g.rank());
      const Device here = Device::cuda(device);
      EXPECT_EQ(g.backend(), "nccl");
      Tensor t = from_vector(std::vector<float>{1.0f + g.rank(), 0.5f, -2.0f * g.rank()}, {3}).to(here);
      g.all_reduce(t);
      EXPECT_EQ(t.device(), here);
      sums[r] = t.to_vector();
      Tensor h = full({2, 2}, 0.25 + g.rank(), TensorOptions(here).dtype(DType::BFloat16));
      g.all_reduce(h);
      EXPECT_EQ(h.dtype(), DType::BFloat16);
      half_sums[r] = h.to(DType::Float32).to_vector();
      Tensor n = full({1}, 7.0 * (g.rank() + 1), TensorOptions(here).dtype(DType::Int64));
      g.all_reduce(n);
      counts[r] = n.to(Device::cpu()).to_vector<int64_t>();
      const Tensor all = g.all_gather(full({2}, 10.0 * g.rank(), here));
      EXPECT_EQ(all.device(), here);
      EXPECT_EQ(all.sizes(), (Shape{g.size(), 2}));
      gathered[r] = all.to_vector();
      Tensor b = full({1}, 5.0 + g.rank(), here);
      g.broadcast(b, g.size() - 1);
      broadcast[r] = b.to_vector();
      g.barrier();
    });
    for (const std::string& e : errors) ASSERT_EQ(e, "");
    const auto k = static_cast<float>(ranks);
    for (int r = 0; r < ranks; ++r) {
      EXPECT_EQ(sums[r], (std::vector<float>{k + k * (k - 1) / 2, 0.5f * k, -k * (k - 1)}));
      EXPECT_EQ(half_sums[r], std::vector<float>(4, 0.25f * k + k * (k - 1) / 2));
      EXPECT_EQ(counts[r], std::vector<int64_t>{7 * ranks * (ranks + 1) / 2});
      std::vector<float> expected;
      for (int q = 0; q < ranks; ++q) expected.insert(expected.end(), 2, 10.0f * q);
      EXPECT_EQ(gathered[r], expected);
      EXPECT_EQ(broadcast[r], std::vector<float>{4.0f + k});
    }
  }
}

// Disagreeing calls throw on every rank, naming the rank; so does a rank that stops calling (it leaves the
// bootstrap), after which the group refuses every call.
TEST(CudaNccl, DisagreementAndADepartedRankThrowOnEveryWaitingRank) {
  NORMRT_GPU_TEST_REQUIRES(cuda::is_available(), "no CUDA device");
  const int ranks = group_sizes().back();
  if (ranks < 2) GTEST_SKIP() << "one device: an NCCL group of one cannot disagree";
  auto errors = run_nccl_ranks(ranks, [&](dist::ProcessGroup& g, int device) {
    Tensor t = zeros({g.rank() == 1 ? 4 : 3}, Device::cuda(device));
    g.all_reduce(t);
  });
  for (const std::string& e : errors)
    EXPECT_NE(e.find("all_reduce: the ranks disagree: rank 0 called all_reduce [3] float32, rank 1 called "
                     "all_reduce [4] float32"),
              std::string::npos)
        << e;

  dist::InProcessWorld bootstrap(ranks, std::chrono::seconds(30));
  std::vector<std::string> later(static_cast<std::size_t>(ranks));
  errors = run_ranks(bootstrap, [&](dist::ProcessGroup& boot) {
    const int device = device_of(boot.rank(), ranks);
    cuda::DeviceGuard guard(device);
    const auto group = dist::new_nccl_group(boot, device);
    if (boot.rank() == ranks - 1) {
      bootstrap.leave(boot.rank());
      return;
    }
    try {
      group->barrier();
    } catch (const Error&) {
      Tensor t = zeros({1}, Device::cuda(device));
      try {
        group->all_reduce(t);
      } catch (const Error& e) {
        later[static_cast<std::size_t>(boot.rank())] = e.what();
      }
      throw;
    }
  });
  for (int r = 0; r + 1 < ranks; ++r) {
    EXPECT_NE(errors[r].find("barrier"), std::string::npos) << errors[r];
    EXPECT_NE(errors[r].find("rank " + std::to_string(ranks - 1) + " left the group"), std::string::npos) << errors[r];
    EXPECT_NE(later[r].find("the NCCL group failed earlier"), std::string::npos) << later[r];
  }
  EXPECT_EQ(errors[ranks - 1], "");
}

// CPU tensors (a trainer's metrics) travel through the device and come back; a device this machine lacks is refused.
TEST(CudaNccl, CpuTensorsAreStagedThroughTheDevice) {
  NORMRT_GPU_TEST_REQUIRES(cuda::is_available(), "no CUDA device");
  const int ranks = group_sizes().back();
  std::vector<std::vector<int64_t>> sums(ranks);
  std::vector<Shape> gathered(ranks);
  const auto errors = run_nccl_ranks(ranks, [&](dist::ProcessGroup& g, int) {
    Tensor counts = from_vector(std::vector<int64_t>{g.rank(), 10}, {2});
    g.all_reduce(counts);
    EXPECT_TRUE(counts.device().is_cpu());
    sums[g.rank()] = counts.to_vector<int64_t>();
    const Tensor all = g.all_gather(zeros({3}));
    EXPECT_TRUE(all.device().is_cpu());
    gathered[g.rank()] = all.sizes();
    Tensor b = full({1}, 1.0 + g.rank());
    g.broadcast(b, 0);
    EXPECT_EQ(b.to_vector(), std::vector<float>{1.0f});
  });
  for (const std::string& e : errors) ASSERT_EQ(e, "");
  for (int r = 0; r < ranks; ++r) {
    EXPECT_EQ(sums[r], (std::vector<int64_t>{ranks * (ranks - 1) / 2, 10 * ranks}));
    EXPECT_EQ(gathered[r], (Shape{ranks, 3}));
  }
  EXPECT_TRUE(testing::throws_with(
      [] {
        dist::InProcessWorld w(1);
        dist::new_nccl_group(w.group(0), 99);
      },
      "cuda:99 is not a device of this machine"));
}

// SyncBatchNorm's device stages over NCCL: the ranks' shares together give BatchNorm on the whole batch.
TEST(CudaNccl, SyncBatchNormOverNcclMatchesTheWholeBatch) {
  NORMRT_GPU_TEST_REQUIRES(cuda::is_available(), "no CUDA device");
  const int ranks = group_sizes().back();
  Generator gen(3);
  const Shape shape{3 * ranks + 1, 4, 5, 3};
  const Tensor x = randn(shape, gen) * 3.0 + 1.0, dy = randn(shape, gen);
  const Tensor w = rand({4}, gen) + 0.5, b = randn({4}, gen);
  Tensor rm = zeros({4}), rv = ones({4});
  const auto ref = ops::batch_norm_forward_training(x, w, b, rm, rv, Tensor(), 0.1, 1e-5);
  const auto ref_back = ops::batch_norm_backward(dy, x, w, ref.save_mean, ref.save_invstd, true, 1e-5);
  std::vector<Tensor> outputs(ranks), grads(ranks), running_var(ranks);
  const auto errors = run_nccl_ranks(ranks, [&](dist::ProcessGroup& g, int device) {
    const Device here = Device::cuda(device);
    const int64_t start = g.rank() == 0 ? 0 : 3 * g.rank() + 1, rows = g.rank() == 0 ? 4 : 3;
    const Tensor xs = ops::narrow(x, 0, start, rows).to(here), dys = ops::narrow(dy, 0, start, rows).to(here);
    Tensor m = zeros({4}, here), v = ones({4}, here);
    const auto f = ops::sync_batch_norm_forward(xs, w.to(here), b.to(here), m, v, Tensor(), 0.1, 1e-5, g);
    const auto gr = ops::sync_batch_norm_backward(dys, xs, w.to(here), f.save_mean, f.save_invstd, g);
    outputs[g.rank()] = f.output.to(Device::cpu());
    grads[g.rank()] = gr.grad_input.to(Device::cpu());
    running_var[g.rank()] = v.to(Device::cpu());
  });
  for (const std::string& e : errors) ASSERT_EQ(e, "");
  EXPECT_TRUE(all_close(ops::cat(outputs, 0).to_vector(), ref.output.to_vector(), 1e-5, 1e-5));
  EXPECT_TRUE(all_close(ops::cat(grads, 0).to_vector(), ref_back.grad_input.to_vector(), 1e-4, 1e-5));
  for (const Tensor& v : running_var) {
    EXPECT_EQ(v.to_vector(), running_var[0].to_vector());
    EXPECT_TRUE(all_close(v.to_vector(), rv.to_vector(), 1e-5, 0));
  }
}

#else

TEST(CudaNccl, NotBuilt) { GTEST_SKIP() << "built without NCCL (NORMRT_WITH_NCCL=OFF)"; }

#endif

}  // namespace
}  // namespace normrt
