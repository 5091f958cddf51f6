// The emulator's own tests: collectives compute what CUDA defines, and planted bugs are reported.
#include <gtest/gtest.h>

#include <vector>

#include "cuda_compat.cuh"

namespace {

__global__ void warp_sum_kernel(const float* in, float* out) {
  float v = in[threadIdx.x];
  for (int m = 16; m >= 1; m /= 2) v += __shfl_xor_sync(0xffffffffu, v, m);
  out[threadIdx.x] = v;
}

__global__ void shuffle_kinds_kernel(int* down, int* up, int* idx, unsigned* ballot) {
  const int lane = threadIdx.x;
  down[lane] = __shfl_down_sync(0xffffffffu, lane, 3);
  up[lane] = __shfl_up_sync(0xffffffffu, lane, 2, 16);
  idx[lane] = __shfl_sync(0xffffffffu, lane * 10, 5);
  ballot[lane] = __ballot_sync(0xffffffffu, lane % 3 == 0);
}

// Each thread publishes its id and reads its neighbour's; `with_barrier` decides whether that is correct.
__global__ void neighbour_kernel(float* out, bool with_barrier) {
  NORMRT_DYNAMIC_SHARED(float, shared);
  shared[threadIdx.x] = static_cast<float>(threadIdx.x);
  if (with_barrier) __syncthreads();
  out[threadIdx.x] = shared[(threadIdx.x + 1) % blockDim.x];
}

__global__ void bad_mask_kernel(float* out) {
  out[threadIdx.x] = __shfl_xor_sync(0x1u, 1.0f, 1);
}

__global__ void divergent_barrier_kernel(float* out) {
  if (threadIdx.x < 16) {
    __syncthreads();
  } else {
    __syncthreads();
  }
  out[threadIdx.x] = 1.0f;
}

__global__ void early_exit_kernel(float* out) {
  if (threadIdx.x == 3) return;
  __syncthreads();
  out[threadIdx.x] = 1.0f;
}

__global__ void half_warp_kernel(float* out) {
  if (threadIdx.x >= 16) return;
  out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, 1.0f, 1);
}

// Each block publishes its index, the grid syncs, and every thread reads the sum of all blocks' values; a block's own
// value survives the barrier in dynamic shared memory.
__global__ void grid_exchange_kernel(float* published, float* out) {
  NORMRT_DYNAMIC_SHARED(float, own);
  if (threadIdx.x == 0) {
    own[0] = static_cast<float>(blockIdx.x + 1);
    published[blockIdx.x] = own[0];
  }
  NORMRT_GRID_SYNC();
  float sum = 0.0f;
  for (unsigned b = 0; b < gridDim.x; ++b) sum += published[b];
  out[blockIdx.x * blockDim.x + threadIdx.x] = sum * 100.0f + own[0];
}

// Block 1 writes what block 0 reads, in one launch without a grid sync: a race between blocks.
__global__ void cross_block_kernel(float* data) {
  if (threadIdx.x != 0) return;
  if (blockIdx.x == 1) data[0] = 1.0f;
  if (blockIdx.x == 0) data[1] = data[0];
}

__global__ void grid_sync_after_exit_kernel(float* out) {
  if (blockIdx.x == 1 && threadIdx.x == 0) return;
  NORMRT_GRID_SYNC();
  out[threadIdx.x] = 1.0f;
}

__global__ void lone_grid_sync_kernel(float* out) {
  NORMRT_GRID_SYNC();
  out[threadIdx.x] = 1.0f;
}

class Simt : public ::testing::TestWithParam<simt::ResumeOrder> {
 protected:
  void SetUp() override { simt::set_resume_order(GetParam()); }
  void TearDown() override { simt::set_resume_order(simt::ResumeOrder::Forward); }
};

TEST_P(Simt, XorShuffleReduction) {
  std::vector<float> in(32), out(32);
  for (int i = 0; i < 32; ++i) in[i] = static_cast<float>(i);
  NORMRT_LAUNCH(warp_sum_kernel, dim3(1), dim3(32), 0, nullptr, in.data(), out.data());
  for (float v : out) EXPECT_EQ(v, 496.0f);
}

TEST_P(Simt, ShuffleKindsFollowCudaSemantics) {
  std::vector<int> down(32), up(32), idx(32);
  std::vector<unsigned> ballot(32);
  NORMRT_LAUNCH(shuffle_kinds_kernel, dim3(1), dim3(32), 0, nullptr, down.data(), up.data(), idx.data(),
                ballot.data());
  unsigned expected_ballot = 0;
  for (int l = 0; l < 32; l += 3) expected_ballot |= 1u << l;
  for (int l = 0; l < 32; ++l) {
    EXPECT_EQ(down[l], l + 3 < 32 ? l + 3 : l);           // beyond the warp: own value
    EXPECT_EQ(up[l], (l % 16) >= 2 ? l - 2 : l);          // width 16: segments of 16 lanes
    EXPECT_EQ(idx[l], 50);
    EXPECT_EQ(ballot[l], expected_ballot);
  }
}

TEST_P(Simt, BarrierMakesSharedMemoryExchangeCorrect) {
  std::vector<float> out(64);
  NORMRT_LAUNCH(neighbour_kernel, dim3(1), dim3(64), 64 * sizeof(float), nullptr, out.data(), true);
  for (int t = 0; t < 64; ++t) EXPECT_EQ(out[t], static_cast<float>((t + 1) % 64));
}

TEST_P(Simt, GridSyncOfACooperativeLaunchExchangesBetweenBlocks) {
  std::vector<float> published(3, -1.0f), out(3 * 64);
  NORMRT_LAUNCH_COOPERATIVE(grid_exchange_kernel, dim3(3), dim3(64), sizeof(float), nullptr, published.data(),
                            out.data());
  for (int b = 0; b < 3; ++b)
    for (int t = 0; t < 64; ++t) EXPECT_EQ(out[b * 64 + t], 600.0f + static_cast<float>(b + 1));
}

// A planted missing __syncthreads: in reverse resume order a thread reads its neighbour's slot before the
// neighbour has run, and sees the 0xFF fill (a NaN).
TEST(SimtPlanted, MissingBarrierIsExposedInReverseOrder) {
  std::vector<float> out(64);
  simt::set_resume_order(simt::ResumeOrder::Reverse);
  NORMRT_LAUNCH(neighbour_kernel, dim3(1), dim3(64), 64 * sizeof(float), nullptr, out.data(), false);
  simt::set_resume_order(simt::ResumeOrder::Forward);
  int wrong = 0;
  for (int t = 0; t < 64; ++t) wrong += out[t] != static_cast<float>((t + 1) % 64);
  EXPECT_GT(wrong, 0);
}

// A planted read of another block's write in the same launch: block 0 reads the value from before the launch when the
// blocks run in index order, block 1's when they run in reverse. The ThreadSanitizer build reports the race in either
// order (tests/CMakeLists.txt).
TEST(SimtPlanted, ReadOfAnotherBlocksWriteDependsOnTheBlockOrder) {
  for (const auto order : {simt::ResumeOrder::Forward, simt::ResumeOrder::Reverse}) {
    std::vector<float> data(2, 0.0f);
    simt::set_resume_order(order);
    NORMRT_LAUNCH(cross_block_kernel, dim3(2), dim3(32), 0, nullptr, data.data());
    EXPECT_EQ(data[1], order == simt::ResumeOrder::Forward ? 0.0f : 1.0f);
  }
  simt::set_resume_order(simt::ResumeOrder::Forward);
}

// Launches a planted-bug kernel on one warp; the emulator must refuse it with a message containing `needle`.
::testing::AssertionResult reported(void (*kernel)(float*), const std::string& needle) {
  std::vector<float> out(32);
  try {
    NORMRT_LAUNCH(kernel, dim3(1), dim3(32), 0, nullptr, out.data());
  } catch (const simt::Error& e) {
    if (std::string(e.what()).find(needle) != std::string::npos) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "reported \"" << e.what() << "\", expected \"" << needle << "\"";
  }
  return ::testing::AssertionFailure() << "no error reported";
}

TEST(SimtPlanted, MaskWithoutTheCallerIsReported) {
  EXPECT_TRUE(reported(bad_mask_kernel, "omits the calling lane"));
}

TEST(SimtPlanted, DivergentSyncthreadsIsReported) {
  EXPECT_TRUE(reported(divergent_barrier_kernel, "divergent __syncthreads"));
}

TEST(SimtPlanted, BarrierAfterAnExitIsReported) {
  EXPECT_TRUE(reported(early_exit_kernel, "after other threads of the block exited"));
}

TEST(SimtPlanted, CollectiveNamingAnExitedLaneIsReported) {
  EXPECT_TRUE(reported(half_warp_kernel, "has exited"));
}

TEST(SimtPlanted, GridSyncWithoutACooperativeLaunchIsReported) {
  EXPECT_TRUE(reported(lone_grid_sync_kernel, "not launched cooperatively"));
}

TEST(SimtPlanted, GridSyncAfterAnExitIsReported) {
  std::vector<float> out(32);
  try {
    NORMRT_LAUNCH_COOPERATIVE(grid_sync_after_exit_kernel, dim3(2), dim3(32), 0, nullptr, out.data());
    ADD_FAILURE() << "no error reported";
  } catch (const simt::Error& e) {
    EXPECT_NE(std::string(e.what()).find("after other threads of the grid exited"), std::string::npos) << e.what();
  }
}

INSTANTIATE_TEST_SUITE_P(Orders, Simt, ::testing::Values(simt::ResumeOrder::Forward, simt::ResumeOrder::Reverse),
                         [](const ::testing::TestParamInfo<simt::ResumeOrder>& info) {
                           return info.param == simt::ResumeOrder::Forward ? "forward" : "reverse";
                         });

}  // namespace
