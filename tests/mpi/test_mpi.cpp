// normrt::dist's MPI backend, run by CTest under `mpirun -np 2` and `-np 3` (every rank runs every test; mpirun
// fails when any rank fails): the launch environment, the collectives' results (the same bits on every rank, sums
// in rank order), the refusals every rank sees alike, a timeout that does not hang, and SyncBatchNorm across
// processes against BatchNorm on the whole batch computed by each rank itself.
#include <gtest/gtest.h>
#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <thread>

#include "normrt/normrt.h"
#include "test_util_core.h"

namespace normrt {
namespace {

using testing::all_close;

std::unique_ptr<dist::ProcessGroup> world(std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
  auto group = dist::init_from_environment(timeout);
  EXPECT_EQ(group->backend(), "mpi");
  return group;
}

TEST(Mpi, TheGroupIsTheLaunchOfMpirun) {
  const dist::LaunchEnvironment env = dist::launch_environment();
  EXPECT_EQ(env.launcher, "mpirun");
  const auto group = world();
  EXPECT_EQ(group->rank(), env.rank);
  EXPECT_EQ(group->size(), env.size);
  EXPECT_GE(group->size(), 2);
  EXPECT_LT(env.local_rank, env.size);
  EXPECT_EQ(env.local_size, env.size);  // CTest's launches are on one machine
  // Together the processes start no more threads than the machine has CPUs (or one each): mpirun binds each to a
  // core up to 2 processes, and oversubscribed (-np 3 on 2 cores) leaves them unbound, each to take its share.
  const long online = sysconf(_SC_NPROCESSORS_ONLN);
  if (std::getenv("OMP_NUM_THREADS") == nullptr)
    EXPECT_LE(omp_get_max_threads() * env.local_size, std::max<long>(online, env.local_size))
        << env.local_size << " processes on " << online << " CPUs";
}

TEST(Mpi, CollectivesGiveEveryRankTheSameBits) {
  const auto group = world();
  const int rank = group->rank(), size = group->size();
  // Values whose float sum depends on the order of the additions: rank order must be the one used.
  const std::vector<float> mine = {rank == 1 ? 1.0f : rank == 0 ? 1e8f : -1e8f, 0.1f * static_cast<float>(rank + 1),
                                   3.0f};
  Tensor t = from_vector(mine, {3});
  group->all_reduce(t);
  std::vector<float> expected = {1e8f, 0.1f, 3.0f};
  for (int r = 1; r < size; ++r) {
    expected[0] += r == 1 ? 1.0f : -1e8f;
    expected[1] += 0.1f * static_cast<float>(r + 1);
    expected[2] += 3.0f;
  }
  EXPECT_EQ(t.to_vector(), expected);
  Tensor counts = from_vector(std::vector<int64_t>{rank, int64_t{1} << 40}, {2});
  group->all_reduce(counts);
  EXPECT_EQ(counts.to_vector<int64_t>(), (std::vector<int64_t>{size * (size - 1) / 2, int64_t{size} << 40}));

  const Tensor gathered = group->all_gather(full({2, 2}, static_cast<float>(rank)));
  ASSERT_EQ(gathered.sizes(), (Shape{size, 2, 2}));
  for (int r = 0; r < size; ++r)
    EXPECT_EQ(ops::select(gathered, 0, r).to_vector(), std::vector<float>(4, static_cast<float>(r)));

  Tensor value = full({5}, static_cast<float>(rank) + 0.5f).to(DType::BFloat16);
  group->broadcast(value, size - 1);
  EXPECT_EQ(value.to(DType::Float32).to_vector(), std::vector<float>(5, static_cast<float>(size - 1) + 0.5f));
  group->barrier();
}

TEST(Mpi, DisagreementsThrowOnEveryRank) {
  const auto group = world();
  Tensor t = zeros({group->rank() == 1 ? 4 : 3});
  try {
    group->all_reduce(t);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("rank 1 called all_reduce [4] float32"), std::string::npos) << e.what();
  }
  try {
    if (group->rank() == 0) group->barrier();
    else (void)group->all_gather(t);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("the ranks disagree"), std::string::npos) << e.what();
  }
  group->barrier();  // a disagreement leaves the group usable
}

// Rank 0 waits for a barrier the others join only after its timeout: it throws (no hang) and its group is failed;
// the others' late barrier still completes (the exchange rank 0 abandoned is kept until exit).
TEST(Mpi, ATimeoutThrowsInsteadOfHanging) {
  const auto group = world(std::chrono::milliseconds(300));
  if (group->rank() == 0) {
    const auto start = std::chrono::steady_clock::now();
    try {
      group->barrier();
      ADD_FAILURE() << "no timeout";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("timed out after 300 ms"), std::string::npos) << e.what();
    }
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
    try {
      group->barrier();
      ADD_FAILURE() << "a failed group answered";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("the group failed earlier"), std::string::npos) << e.what();
    }
  } else {
    std::this_thread::sleep_for(std::chrono::seconds(2));
    group->barrier();
  }
}

// Each rank normalises rows [start, start + share) of a batch every rank draws alike, shares uneven and one empty
// on three ranks; each compares its slice with BatchNorm on the whole batch, computed by itself.
TEST(Mpi, SyncBatchNormAcrossProcessesIsTheWholeBatchsBatchNorm) {
  const auto group = world();
  const int rank = group->rank(), size = group->size();
  std::vector<int64_t> shares;
  for (int r = 0; r < size; ++r) shares.push_back(r == 1 && size > 2 ? 0 : r + 2);
  int64_t start = 0, total = 0;
  for (int r = 0; r < size; ++r) {
    if (r < rank) start += shares[r];
    total += shares[r];
  }
  Generator gen(21);
  const Shape shape = {total, 4, 3, 5};
  const Tensor x = randn(shape, gen) * 3.0 + 100.0, dy = randn(shape, gen);
  const Tensor w = rand({4}, gen) + 0.5, b = randn({4}, gen);
  Tensor rm = zeros({4}), rv = ones({4}), nbt = zeros({}, TensorOptions().dtype(DType::Int64));
  const auto ref = ops::batch_norm_forward_training(x, w, b, rm, rv, nbt, 0.1, 1e-5);
  const auto ref_back = ops::batch_norm_backward(dy, x, w, ref.save_mean, ref.save_invstd, true, 1e-5);

  Tensor my_rm = zeros({4}), my_rv = ones({4}), my_nbt = zeros({}, TensorOptions().dtype(DType::Int64));
  const Tensor xs = ops::narrow(x, 0, start, shares[rank]), dys = ops::narrow(dy, 0, start, shares[rank]);
  const auto f = ops::sync_batch_norm_forward(xs, w, b, my_rm, my_rv, my_nbt, 0.1, 1e-5, *group);
  const auto g = ops::sync_batch_norm_backward(dys, xs, w, f.save_mean, f.save_invstd, *group);
  EXPECT_TRUE(all_close(f.output.to_vector(), ops::narrow(ref.output, 0, start, shares[rank]).to_vector(), 1e-5, 1e-5));
  EXPECT_TRUE(all_close(g.grad_input.to_vector(),
                        ops::narrow(ref_back.grad_input, 0, start, shares[rank]).to_vector(), 1e-4, 1e-5));
  EXPECT_TRUE(all_close(my_rm.to_vector(), rm.to_vector(), 1e-6, 1e-7, 100.0));
  EXPECT_TRUE(all_close(my_rv.to_vector(), rv.to_vector(), 1e-5, 0));
  Tensor grad_weight = g.grad_weight.clone();
  group->all_reduce(grad_weight);
  EXPECT_TRUE(all_close(grad_weight.to_vector(), ref_back.grad_weight.to_vector(), 1e-4, 1e-5));
  // The same running statistics on every rank, to the bit.
  const Tensor everyone = group->all_gather(ops::cat({my_rm, my_rv}, 0));
  const std::vector<float> mine = ops::cat({my_rm, my_rv}, 0).to_vector();
  for (int r = 0; r < size; ++r) EXPECT_EQ(ops::select(everyone, 0, r).to_vector(), mine);
}

}  // namespace
}  // namespace normrt
