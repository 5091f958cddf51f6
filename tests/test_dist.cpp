// normrt::dist on the in-process backend (ranks as threads): the collectives' results, the same bits on every rank
// whatever the arrival order, and the failures that must not hang: a mismatched shape or collective, a rank that
// leaves, a timeout.
#include <atomic>
#include <climits>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <functional>
#include <thread>

#include "dist_combine.h"
#include "dist_test_util.h"
#include "test_util.h"

namespace normrt {
namespace {

using testing::run_ranks;
using testing::throws_with;

// Values whose float sum depends on the order of the additions: rank order must be the one used.
std::vector<float> contribution(int rank) {
  return {rank == 1 ? 1.0f : rank == 0 ? 1e8f : -1e8f, 0.1f * static_cast<float>(rank + 1), 3.0f};
}

TEST(Dist, AllReduceSumsInRankOrderToTheSameBitsOnEveryRank) {
  for (int size : {1, 2, 3, 4}) {
    SCOPED_TRACE("world of " + std::to_string(size));
    dist::InProcessWorld world(size);
    std::vector<float> expected = contribution(0);
    for (int r = 1; r < size; ++r)
      for (std::size_t i = 0; i < expected.size(); ++i) expected[i] += contribution(r)[i];
    std::vector<std::vector<float>> results(static_cast<std::size_t>(size));
    std::vector<int64_t> int_sums(static_cast<std::size_t>(size));
    const auto errors = run_ranks(world, [&](dist::ProcessGroup& g) {
      EXPECT_EQ(g.size(), size);
      EXPECT_EQ(g.backend(), "threads");
      // Ranks arrive in reverse order: the result must not depend on it.
      std::this_thread::sleep_for(std::chrono::milliseconds(5 * (size - g.rank())));
      Tensor t = from_vector(contribution(g.rank()), {3});
      g.all_reduce(t);
      results[static_cast<std::size_t>(g.rank())] = t.to_vector();
      Tensor n = from_vector(std::vector<int64_t>{(int64_t{1} << 40) + g.rank()}, {1});
      g.all_reduce(n);
      int_sums[static_cast<std::size_t>(g.rank())] = n.to_vector<int64_t>()[0];
    });
    for (int r = 0; r < size; ++r) {
      EXPECT_EQ(errors[static_cast<std::size_t>(r)], "");
      EXPECT_TRUE(testing::same_bits(results[static_cast<std::size_t>(r)], expected)) << "rank " << r;
      EXPECT_EQ(int_sums[static_cast<std::size_t>(r)], size * (int64_t{1} << 40) + size * (size - 1) / 2);
    }
  }
}

TEST(Dist, SixteenBitSumsAreRoundedOnce) {
  dist::InProcessWorld world(3);
  // 2048 + 1 + 1 in float16: rounding after each addition would give 2048 twice (ties to even); once gives 2050.
  const std::vector<float> values = {2048.0f, 1.0f, 1.0f};
  std::vector<float> got(3);
  run_ranks(world, [&](dist::ProcessGroup& g) {
    Tensor t = full({1}, values[static_cast<std::size_t>(g.rank())], TensorOptions().dtype(DType::Float16));
    g.all_reduce(t);
    EXPECT_EQ(t.dtype(), DType::Float16);
    got[static_cast<std::size_t>(g.rank())] = t.to(DType::Float32).item();
  });
  EXPECT_EQ(got, std::vector<float>(3, 2050.0f));
}

TEST(Dist, AllGatherBroadcastAndBarrier) {
  dist::InProcessWorld world(3);
  std::atomic<int> past_barrier{0};
  const auto errors = run_ranks(world, [&](dist::ProcessGroup& g) {
    const auto r = static_cast<float>(g.rank());
    const Tensor gathered = g.all_gather(from_vector(std::vector<float>{r, 10 * r}, {1, 2}));
    EXPECT_EQ(gathered.sizes(), (Shape{3, 1, 2}));
    EXPECT_EQ(gathered.to_vector(), (std::vector<float>{0, 0, 1, 10, 2, 20}));
    Tensor b = from_vector(std::vector<float>{r, r}, {2}).to(MemoryFormat::Contiguous);
    g.broadcast(b, 1);
    EXPECT_EQ(b.to_vector(), (std::vector<float>{1, 1}));
    ++past_barrier;
    g.barrier();
    EXPECT_EQ(past_barrier.load(), 3);  // nobody passes the barrier before everyone reached it
  });
  for (const auto& e : errors) EXPECT_EQ(e, "");
}

TEST(Dist, MismatchedShapesOrCollectivesFailOnEveryRank) {
  dist::InProcessWorld world(3);
  auto errors = run_ranks(world, [](dist::ProcessGroup& g) {
    Tensor t = zeros({g.rank() == 1 ? 3 : 4});
    g.all_reduce(t);
  });
  for (const auto& e : errors)
    EXPECT_NE(e.find("all_reduce: rank 1 has a tensor of [3] float32, rank 0 of [4] float32"), std::string::npos) << e;
  dist::InProcessWorld world2(2);
  errors = run_ranks(world2, [](dist::ProcessGroup& g) {
    Tensor t = zeros({2});
    if (g.rank() == 0) g.all_reduce(t);
    else g.broadcast(t, 0);
  });
  for (const auto& e : errors)
    EXPECT_NE(e.find("collective mismatch at call 0: rank 0 called all_reduce, rank 1 called broadcast from rank 0"),
              std::string::npos) << e;
}

TEST(Dist, ARankThatLeavesFailsTheOthersPromptly) {
  dist::InProcessWorld world(3, std::chrono::seconds(60));
  const auto start = std::chrono::steady_clock::now();
  const auto errors = run_ranks(world, [&](dist::ProcessGroup& g) {
    Tensor t = ones({4});
    g.all_reduce(t);  // everyone: fine
    if (g.rank() == 2) {
      world.leave(2);  // dies mid-epoch
      return;
    }
    g.all_reduce(t);
  });
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  EXPECT_NE(errors[0].find("all_reduce: rank 2 left the group before joining call 1"), std::string::npos) << errors[0];
  EXPECT_NE(errors[1].find("rank 2 left the group"), std::string::npos) << errors[1];
  EXPECT_EQ(errors[2], "");
  EXPECT_TRUE(throws_with([&] { world.group(2).barrier(); }, "barrier: rank 2 has left the group"));
}

TEST(Dist, ARankThatNeverComesTimesOutAndALateOneSeesTheFailure) {
  dist::InProcessWorld world(2, std::chrono::milliseconds(200));
  std::string first;
  std::thread rank0([&] {
    try {
      world.group(0).barrier();
    } catch (const Error& e) {
      first = e.what();
    }
  });
  rank0.join();
  EXPECT_NE(first.find("barrier: timed out after 200 ms waiting for rank(s) 1 (call 0)"), std::string::npos) << first;
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(throws_with([&] { world.group(1).barrier(); }, "barrier: timed out after 200 ms"));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(150));  // at once, no second wait
}

// MPI counts are ints: a tensor of more than INT_MAX bytes per rank is refused by name (after the ranks agree on its
// shape, so every rank refuses it), never cut short by a wrapped count.
TEST(Dist, MpiCountsAboveIntMaxAreRefused) {
  EXPECT_EQ(dist::detail::mpi_byte_count(std::size_t{INT_MAX}, "all_reduce", "[1] float32"), INT_MAX);
  for (const std::size_t bytes : {std::size_t{INT_MAX} + 1, (std::size_t{1} << 32) + 4})
    EXPECT_TRUE(throws_with([&] { (void)dist::detail::mpi_byte_count(bytes, "all_reduce", "[1125899906] float32"); },
                            "all_reduce: [1125899906] float32 takes " + std::to_string(bytes) +
                                " bytes; the mpi backend moves at most 2147483647 bytes per rank and call"));
}

TEST(Dist, BadArgumentsAreRefusedByName) {
  EXPECT_TRUE(throws_with([] { dist::InProcessWorld(0); }, "the world size must be positive, got 0"));
  dist::InProcessWorld world(2);
  EXPECT_TRUE(throws_with([&] { world.group(2); }, "rank 2 is not in a world of 2"));
  Tensor t = zeros({1});
  EXPECT_TRUE(throws_with([&] { world.group(0).broadcast(t, 5); }, "broadcast: root 5 is not a rank of a group of 2"));
  Tensor undefined;
  EXPECT_TRUE(throws_with([&] { world.group(0).all_reduce(undefined); }, "all_reduce: the tensor is undefined"));
}

// Sets (or, for nullptr, unsets) environment variables for one scope, restoring them after.
class ScopedEnvironment {
 public:
  explicit ScopedEnvironment(const std::vector<std::pair<std::string, const char*>>& values) {
    for (const auto& [name, value] : values) {
      const char* old = std::getenv(name.c_str());
      saved_.emplace_back(name, old ? std::optional<std::string>(old) : std::nullopt);
      set(name, value);
    }
  }
  ~ScopedEnvironment() {
    for (const auto& [name, value] : saved_) set(name, value ? value->c_str() : nullptr);
  }
  static void set(const std::string& name, const char* value) {
    if (value) setenv(name.c_str(), value, 1);
    else unsetenv(name.c_str());
  }

 private:
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

TEST(Dist, TheLaunchComesFromMpirunsOrTorchrunsVariablesElseIsAGroupOfOne) {
  const ScopedEnvironment clean({{"OMPI_COMM_WORLD_RANK", nullptr},
                                 {"OMPI_COMM_WORLD_SIZE", nullptr},
                                 {"OMPI_COMM_WORLD_LOCAL_RANK", nullptr},
                                 {"RANK", nullptr},
                                 {"WORLD_SIZE", nullptr},
                                 {"OMPI_COMM_WORLD_LOCAL_SIZE", nullptr},
                                 {"LOCAL_RANK", nullptr},
                                 {"LOCAL_WORLD_SIZE", nullptr},
                                 {"NORMRT_RENDEZVOUS", nullptr}});
  dist::LaunchEnvironment env = dist::launch_environment();
  EXPECT_EQ(env.launcher, "");
  EXPECT_EQ(env.size, 1);
  const auto single = dist::init_from_environment();
  EXPECT_EQ(single->backend(), "single");
  EXPECT_EQ(single->size(), 1);
  Tensor t = from_vector(std::vector<float>{1.5f, -2.0f}, {2});
  single->all_reduce(t);
  EXPECT_EQ(t.to_vector(), (std::vector<float>{1.5f, -2.0f}));
  EXPECT_EQ(single->all_gather(t).sizes(), (Shape{1, 2}));
  EXPECT_TRUE(throws_with([&] { single->broadcast(t, 1); }, "root 1 is not a rank of a group of 1"));

  ScopedEnvironment::set("WORLD_SIZE", "4");
  ScopedEnvironment::set("RANK", "2");
  ScopedEnvironment::set("LOCAL_RANK", "1");
  env = dist::launch_environment();
  EXPECT_EQ(env.launcher, "torchrun");
  EXPECT_EQ(env.rank, 2);
  EXPECT_EQ(env.size, 4);
  EXPECT_EQ(env.local_rank, 1);
  EXPECT_EQ(env.local_size, 1);  // not given
  ScopedEnvironment::set("LOCAL_WORLD_SIZE", "2");
  EXPECT_EQ(dist::launch_environment().local_size, 2);
  ScopedEnvironment::set("LOCAL_WORLD_SIZE", "1");
  EXPECT_TRUE(throws_with([] { (void)dist::launch_environment(); },
                          "LOCAL_WORLD_SIZE=1 does not fit WORLD_SIZE=4 and LOCAL_RANK=1"));
  ScopedEnvironment::set("LOCAL_WORLD_SIZE", "5");
  EXPECT_TRUE(throws_with([] { (void)dist::launch_environment(); }, "LOCAL_WORLD_SIZE=5 does not fit"));
  ScopedEnvironment::set("LOCAL_WORLD_SIZE", "2");
  EXPECT_TRUE(throws_with([] { (void)dist::init_from_environment(); },
                          "a torchrun launch of 4 processes needs NORMRT_RENDEZVOUS"));
  EXPECT_TRUE(
      throws_with([] { (void)dist::init_from_environment("mpi"); }, "the mpi backend needs a launch by mpirun"));
  EXPECT_TRUE(throws_with([] { (void)dist::init_from_environment("gloo"); }, "unknown backend 'gloo'"));
  ScopedEnvironment::set("RANK", "7");
  EXPECT_TRUE(throws_with([] { (void)dist::launch_environment(); }, "RANK=7 is not a rank of WORLD_SIZE=4"));
  ScopedEnvironment::set("RANK", "1x");
  EXPECT_TRUE(throws_with([] { (void)dist::launch_environment(); }, "RANK='1x' is not a non-negative integer"));

  ScopedEnvironment::set("OMPI_COMM_WORLD_SIZE", "3");  // mpirun's variables come first
  ScopedEnvironment::set("OMPI_COMM_WORLD_RANK", "0");
  env = dist::launch_environment();
  EXPECT_EQ(env.launcher, "mpirun");
  EXPECT_EQ(env.size, 3);
  EXPECT_EQ(env.local_rank, 0);
  EXPECT_EQ(env.local_size, 1);
  ScopedEnvironment::set("OMPI_COMM_WORLD_LOCAL_SIZE", "3");
  EXPECT_EQ(dist::launch_environment().local_size, 3);
}

// The file backend (processes sharing a directory), its ranks played by threads with a group each: the other
// backends' results (sums in rank order), only the last call's files left behind, disagreement and a rank that
// stops calling both throw on every waiting rank, a stale session refused by name.
TEST(DistFile, RanksSharingADirectoryComputeWhatTheOtherBackendsDo) {
  const std::string dir = testing::scratch_dir() + "/rendezvous";
  const int size = 3;
  dist::InProcessWorld threads(size);  // only to run the ranks
  std::vector<std::vector<float>> sums(size), gathered(size), broadcast(size);
  const auto errors = run_ranks(threads, [&](dist::ProcessGroup& thread) {
    const auto g = dist::new_file_group(dir, thread.rank(), size, std::chrono::seconds(20));
    const auto r = static_cast<std::size_t>(g->rank());
    EXPECT_EQ(g->backend(), "file");
    Tensor t = from_vector(contribution(g->rank()), {3});
    g->all_reduce(t);
    sums[r] = t.to_vector();
    gathered[r] = g->all_gather(full({2}, 10.0 * g->rank()).to(DType::BFloat16)).to(DType::Float32).to_vector();
    Tensor b = full({1}, 5.0 + g->rank());
    g->broadcast(b, 2);
    broadcast[r] = b.to_vector();
    g->barrier();
  });
  for (const std::string& e : errors) ASSERT_EQ(e, "");
  std::vector<float> expected = contribution(0);
  for (int r = 1; r < size; ++r)
    for (std::size_t i = 0; i < expected.size(); ++i) expected[i] += contribution(r)[i];
  for (int r = 0; r < size; ++r) {
    EXPECT_EQ(sums[r], expected);
    EXPECT_EQ(gathered[r], (std::vector<float>{0, 0, 10, 10, 20, 20}));
    EXPECT_EQ(broadcast[r], std::vector<float>{7.0f});
  }
  std::vector<std::string> left;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) left.push_back(entry.path().filename());
  EXPECT_EQ(left.size(), static_cast<std::size_t>(size)) << "the last call's file of each rank, nothing else";
}

TEST(DistFile, DisagreementAndAStoppedRankThrowOnEveryWaitingRank) {
  const std::string dir = testing::scratch_dir() + "/rendezvous";
  dist::InProcessWorld threads(3);
  auto errors = run_ranks(threads, [&](dist::ProcessGroup& thread) {
    const auto g = dist::new_file_group(dir + "-1", thread.rank(), 3, std::chrono::seconds(20));
    Tensor t = zeros({thread.rank() == 1 ? 4 : 3});
    g->all_reduce(t);
  });
  for (const std::string& e : errors)
    EXPECT_NE(e.find("all_reduce: the ranks disagree: rank 0 called all_reduce [3] float32, rank 1 called all_reduce "
                     "[4] float32"),
              std::string::npos)
        << e;

  errors = run_ranks(threads, [&](dist::ProcessGroup& thread) {
    const auto g = dist::new_file_group(dir + "-2", thread.rank(), 3, std::chrono::milliseconds(300));
    if (thread.rank() == 2) return;  // stops calling, as a process that exited would
    g->barrier();
  });
  for (int r = 0; r < 2; ++r)
    EXPECT_NE(errors[r].find("barrier: timed out after 300 ms waiting for rank 2 (call 1)"), std::string::npos)
        << errors[r];
  EXPECT_EQ(errors[2], "");

  std::filesystem::create_directories(dir + "-3");
  std::ofstream(dir + "-3/session") << "stale";
  EXPECT_TRUE(throws_with([&] { dist::new_file_group(dir + "-3", 0, 2, std::chrono::seconds(1)); },
                          "session exists: an earlier launch left it; remove it"));
}

}  // namespace
}  // namespace normrt
