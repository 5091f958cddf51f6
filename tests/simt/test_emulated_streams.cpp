// The emulated device's asynchronous schedules catch ordering bugs that a synchronous device hides: each test plants
// a bug (a missing event wait, a cross-stream free without record_stream, a host read that waits for the wrong
// stream), sees the emulated run go wrong, and sees the runtime's own path get it right. Emulated device only: on a
// real GPU the planted bugs are races that may or may not show.
#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <cmath>

#include "emulated_device.h"
#include "normrt/cuda.h"
#include "normrt/cuda_check.h"
#include "normrt/log.h"
#include "normrt/ops/elementwise.h"
#include "normrt/tensor.h"

namespace normrt {
namespace {

constexpr int64_t kN = 777;

std::vector<float> ramp() {
  std::vector<float> v(kN);
  for (int64_t i = 0; i < kN; ++i) v[i] = 0.5f * static_cast<float>(i) - 100.0f;
  return v;
}

std::vector<float> scaled(float a, float b) {
  std::vector<float> v = ramp();
  for (float& x : v) x = a * x + b;
  return v;
}

// The old host read: a copy on the current stream and a wait for that stream only.
std::vector<float> read_on_current_stream_only(const Tensor& t) {
  std::vector<float> out(static_cast<std::size_t>(t.numel()));
  const cudaStream_t stream = cuda::current_stream(0);
  NORMRT_CUDA_CHECK(cudaMemcpyAsync(out.data(), t.data<float>(), t.nbytes(), cudaMemcpyDeviceToHost, stream));
  NORMRT_CUDA_CHECK(cudaStreamSynchronize(stream));
  return out;
}

TEST(EmulatedStreams, AsynchronousSchedulesQueueWorkUntilTheHostWaits) {
  emu::ScheduleGuard schedule(emu::Schedule::Lazy);
  const Tensor x = from_vector(ramp(), {kN}, Device::cuda(0));
  EXPECT_EQ(emu::pending(), 0u);  // a host-to-device copy returns complete
  const Tensor y = x * 2.0;
  EXPECT_GT(emu::pending(), 0u);
  EXPECT_EQ(y.to_vector(), scaled(2.0f, 0.0f));
  EXPECT_EQ(emu::pending(), 0u);
}

TEST(EmulatedStreams, AMissingEventWaitReadsUnwrittenMemory) {
  emu::ScheduleGuard schedule(emu::Schedule::Lazy);
  const Tensor x = from_vector(ramp(), {kN}, Device::cuda(0));
  cuda::Stream side(0);
  Tensor y;
  {
    cuda::StreamGuard guard(side);
    y = x * 2.0;  // produced on the side stream
  }
  // Planted: the default stream consumes y without waiting for the side stream.
  const Tensor unordered = y + 1.0;
  const std::vector<float> got = unordered.to_vector();
  EXPECT_TRUE(std::isnan(got[0]) && std::isnan(got[kN - 1])) << "the unordered read saw " << got[0];
  // Fixed: an event wait orders it.
  cuda::stream_wait(cuda::current_stream(0), side.get());
  EXPECT_EQ((y + 1.0).to_vector(), scaled(2.0f, 1.0f));
}

TEST(EmulatedStreams, AHostReadOnTheWrongStreamSeesStaleDataAndToVectorDoesNot) {
  emu::ScheduleGuard schedule(emu::Schedule::Lazy);
  const Tensor x = from_vector(ramp(), {kN}, Device::cuda(0));
  cuda::Stream side(0);
  Tensor y = zeros({kN}, Device::cuda(0));
  (void)y.to_vector();
  {
    cuda::StreamGuard guard(side);
    ops::add_(y, x);  // an in-place write on the side stream
  }
  EXPECT_EQ(read_on_current_stream_only(y), std::vector<float>(kN, 0.0f));  // planted: stale
  EXPECT_EQ(y.to_vector(), ramp());  // the runtime waits for the last writer
}

// A block freed in the default stream's order while the side stream still reads it. Each schedule catches it from
// a different reader: Lazy when the default stream goes on and waits for the side stream afterwards (the default
// stream's free and reuse run first), Eager when the host waits for the side stream (the default stream's ready
// work runs first). With record_stream the free waits for the read, and both get the right numbers.
class CrossStreamFree : public ::testing::TestWithParam<emu::Schedule> {};

TEST_P(CrossStreamFree, IsPoisonedAndReusedUnlessRecorded) {
  emu::ScheduleGuard schedule(GetParam());
  cuda::Stream side(0);
  for (const bool record : {false, true}) {
    Tensor result;
    const void* freed = nullptr;
    {
      Tensor source = from_vector(ramp(), {kN}, Device::cuda(0));  // allocated on the default stream
      freed = source.raw_data();
      cuda::StreamGuard guard(side);
      result = source * 3.0;  // read on the side stream
      if (record) source.record_stream();
    }  // freed in the default stream's order
    const Tensor reuse = full({kN}, 7.0f, Device::cuda(0));
    ASSERT_EQ(reuse.raw_data(), freed) << "the pool did not hand the block out again";
    std::vector<float> got;
    if (GetParam() == emu::Schedule::Lazy) {
      got = result.to_vector();
    } else {
      cuda::StreamGuard guard(side);
      got = result.to_vector();
    }
    if (record) EXPECT_EQ(got, scaled(3.0f, 0.0f));
    else EXPECT_NE(got, scaled(3.0f, 0.0f)) << "the unrecorded cross-stream read was not caught";
    EXPECT_EQ(reuse.to_vector(), std::vector<float>(kN, 7.0f));
  }
}

INSTANTIATE_TEST_SUITE_P(Schedules, CrossStreamFree, ::testing::Values(emu::Schedule::Lazy, emu::Schedule::Eager),
                         [](const auto& info) { return info.param == emu::Schedule::Lazy ? "Lazy" : "Eager"; });

// The pool hands a block to another stream only once its latest free has run: a free from the block's previous
// life, run after the block was handed out again on the same stream, does not count.
TEST(EmulatedStreams, AnEarlierLifesFreeDoesNotReleaseABlockToOtherStreams) {
  emu::ScheduleGuard schedule(emu::Schedule::Lazy);
  cuda::Stream side(0);
  const cudaStream_t main = cuda::current_stream(0);
  constexpr std::size_t kBytes = 4096;
  void* first = nullptr;
  void* again = nullptr;
  NORMRT_CUDA_CHECK(cudaMallocAsync(&first, kBytes, main));
  NORMRT_CUDA_CHECK(cudaFreeAsync(first, main));
  NORMRT_CUDA_CHECK(cudaMallocAsync(&again, kBytes, main));
  ASSERT_EQ(again, first) << "the freeing stream did not get its block back";
  NORMRT_CUDA_CHECK(cudaStreamSynchronize(main));  // the first free runs, the block is live again
  NORMRT_CUDA_CHECK(cudaFreeAsync(again, main));   // queued, not run
  void* other = nullptr;
  NORMRT_CUDA_CHECK(cudaMallocAsync(&other, kBytes, side.get()));
  EXPECT_NE(other, first) << "another stream got a block whose free has not run";
  NORMRT_CUDA_CHECK(cudaStreamSynchronize(main));
  void* after = nullptr;
  NORMRT_CUDA_CHECK(cudaMallocAsync(&after, kBytes, side.get()));
  EXPECT_EQ(after, first) << "the block was not free for other streams once its free ran";
  NORMRT_CUDA_CHECK(cudaFreeAsync(other, side.get()));
  NORMRT_CUDA_CHECK(cudaFreeAsync(after, side.get()));
  NORMRT_CUDA_CHECK(cudaStreamSynchronize(side.get()));
}

TEST(EmulatedStreams, PageableCopiesCompleteLate) {
  emu::ScheduleGuard schedule(emu::Schedule::Lazy);
  const Tensor x = from_vector(ramp(), {kN}, Device::cuda(0));
  std::vector<float> host(kN, -1.0f);
  const cudaStream_t stream = cuda::current_stream(0);
  NORMRT_CUDA_CHECK(cudaMemcpyAsync(host.data(), x.data<float>(), x.nbytes(), cudaMemcpyDeviceToHost, stream));
  EXPECT_EQ(host[5], -1.0f);  // planted: read before waiting
  NORMRT_CUDA_CHECK(cudaStreamSynchronize(stream));
  EXPECT_EQ(host, ramp());
}

TEST(EmulatedStreams, AGraphWithUnfreedAllocationsRunsOnce) {
  cuda::Stream stream(0);
  cuda::StreamGuard guard(stream);
  const Tensor x = full({kN}, 1.0f, Device::cuda(0));
  cudaGraph_t graph = nullptr;
  NORMRT_CUDA_CHECK(cudaStreamBeginCapture(stream.get(), cudaStreamCaptureModeGlobal));
  Tensor y = x * 2.0;  // outlives the capture
  NORMRT_CUDA_CHECK(cudaStreamEndCapture(stream.get(), &graph));
  cudaGraphExec_t exec = nullptr;
  NORMRT_CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));
  EXPECT_EQ(cudaGraphLaunch(exec, stream.get()), cudaSuccess);
  EXPECT_EQ(y.to_vector(), std::vector<float>(kN, 2.0f));
  EXPECT_EQ(cudaGraphLaunch(exec, stream.get()), cudaErrorInvalidValue);
  (void)cudaGetLastError();
  NORMRT_CUDA_CHECK(cudaGraphExecDestroy(exec));
  NORMRT_CUDA_CHECK(cudaGraphDestroy(graph));
}

// A failed runtime call is reported where it fails, once: the runtime also keeps its error as the "last error", which
// the next kernel launch's check would otherwise report as that kernel's failure (seen on an H200: a logged
// cudaFreeAsync failure in one test failed the next test's first fill).
TEST(EmulatedStreams, AFailedCallIsNotReportedAgainByTheNextLaunchCheck) {
  EXPECT_THROW(NORMRT_CUDA_CHECK(cudaSetDevice(7)), Error);
  EXPECT_EQ(zeros({kN}, Device::cuda(0)).to_vector(), std::vector<float>(kN, 0.0f));
  std::vector<std::string> logged;
  set_log_handler([&](LogLevel, const std::string& message) { logged.push_back(message); });
  NORMRT_CUDA_CHECK_LOG(cudaSetDevice(7));
  set_log_handler(nullptr);
  ASSERT_EQ(logged.size(), 1u);
  EXPECT_NE(logged[0].find("cudaSetDevice(7)"), std::string::npos) << logged[0];
  EXPECT_EQ(cudaPeekAtLastError(), cudaSuccess);
  EXPECT_EQ(full({kN}, 2.0f, Device::cuda(0)).to_vector(), std::vector<float>(kN, 2.0f));
}

}  // namespace
}  // namespace normrt
