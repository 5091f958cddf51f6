// The CUDA runtime across streams (label gpu): host reads ordered after the last writer, frees ordered after every
// stream that used a block, streams kept alive by the tensors allocated on them, and stream capture of normrt ops.
// On the emulated device these run under every schedule CI uses (NORMRT_EMU_SCHEDULE), where a missing wait shows
// up as wrong numbers; tests/simt/test_emulated_streams.cpp shows that it does.
#include <cuda_runtime_api.h>

#include <cmath>

#include "gpu_test_support.h"
#include "normrt/cuda_check.h"
#include "normrt/cuda_graph.h"
#include "normrt/ops/elementwise.h"
#include "normrt/storage.h"
#include "test_util.h"
#if NORMRT_EMULATED_DEVICE
#include "emulated_device.h"
#endif

namespace normrt {
namespace {

using testing::throws_with;

class CudaStreams : public ::testing::Test {
 protected:
  void SetUp() override { NORMRT_GPU_TEST_REQUIRES(cuda::is_available(), "no CUDA device"); }
};

std::vector<float> iota_values(int64_t n, float scale) {
  std::vector<float> v(static_cast<std::size_t>(n));
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = scale * static_cast<float>(i % 97) - 3.0f;
  return v;
}

std::vector<float> affine(const std::vector<float>& v, float a, float b) {
  std::vector<float> out(v);
  for (float& x : out) x = a * x + b;
  return out;
}

TEST_F(CudaStreams, TheDefaultStreamIsNonBlockingNotTheLegacyOne) {
  const cudaStream_t stream = cuda::current_stream(0);
  EXPECT_NE(stream, cudaStreamLegacy);
  EXPECT_NE(stream, cudaStream_t{nullptr});
  EXPECT_EQ(stream, cuda::default_stream(0));
}

TEST_F(CudaStreams, HostReadsWaitForTheStreamThatWroteLast) {
  constexpr int64_t n = 3000;
  const std::vector<float> values = iota_values(n, 0.5f);
  const Tensor x = from_vector(values, {n}, Device::cuda(0));
  cuda::Stream side(0);
  Tensor y;
  {
    cuda::StreamGuard guard(side);
    y = x * 2.0 + 1.0;  // allocated and written on the side stream
  }
  // Read from the default stream, which never waited for the side one.
  EXPECT_EQ(y.to_vector(), affine(values, 2.0f, 1.0f));
  // An in-place write on the side stream makes it the last writer again.
  {
    cuda::StreamGuard guard(side);
    ops::add_(y, x);
  }
  EXPECT_EQ(y.to_vector(), affine(values, 3.0f, 1.0f));
  // A device-to-device copy on the default stream is ordered after it too.
  {
    cuda::StreamGuard guard(side);
    ops::mul_(y, from_vector(std::vector<float>(n, 2.0f), {n}, Device::cuda(0)));
  }
  Tensor copy = zeros({n}, Device::cuda(0));
  copy.copy_(y);
  EXPECT_EQ(copy.to_vector(), affine(values, 6.0f, 2.0f));
}

TEST_F(CudaStreams, RecordedStreamsDelayTheFree) {
  constexpr int64_t n = 4096;
  const std::vector<float> values = iota_values(n, 0.25f);
  cuda::Stream side(0);
  Tensor result;
  {
    Tensor source = from_vector(values, {n}, Device::cuda(0));  // allocated on the default stream
    cuda::StreamGuard guard(side);
    result = source * 3.0;  // read on the side stream
    source.record_stream();
  }  // freed in the default stream's order, after the side stream's read
  // Memory of the same size allocated and written on the default stream right away may be the freed block.
  const Tensor reuse = full({n}, 7.0f, Device::cuda(0));
  EXPECT_EQ(result.to_vector(), affine(values, 3.0f, 0.0f));
  EXPECT_EQ(reuse.to_vector(), std::vector<float>(n, 7.0f));
}

// Blocks freed on the default stream serve the next allocations of their size class there without a runtime call,
// until release_cached_device_memory returns them to the pool; other streams' blocks go back to the pool at once.
TEST_F(CudaStreams, TheDefaultStreamsFreedBlocksAreReusedWithoutTheRuntime) {
  constexpr int64_t n = 3000;  // 12000 bytes: class 12288, which 3001..3072 floats share
  release_cached_device_memory(0);
  const void* first = nullptr;
  {
    const Tensor t = full({n}, 1.0f, Device::cuda(0));
    first = t.raw_data();
  }
#if NORMRT_EMULATED_DEVICE
  const std::size_t allocations = emu::stream_ordered_allocations();
#endif
  for (const int64_t size : {n, n + 50}) {
    const Tensor again = full({size}, 4.0f, Device::cuda(0));
    EXPECT_EQ(again.raw_data(), first);
    EXPECT_EQ(again.to_vector(), std::vector<float>(static_cast<std::size_t>(size), 4.0f));
  }
#if NORMRT_EMULATED_DEVICE
  EXPECT_EQ(emu::stream_ordered_allocations(), allocations);
#endif
  EXPECT_GE(release_cached_device_memory(0), std::size_t{12288});
  EXPECT_EQ(release_cached_device_memory(0), 0u);
  {
    const cuda::Stream side(0);
    const cuda::StreamGuard guard(side);
    (void)full({n}, 2.0f, Device::cuda(0));  // allocated and freed on the side stream: to the pool, not the cache
    EXPECT_EQ(release_cached_device_memory(0), 0u);
  }
#if NORMRT_EMULATED_DEVICE
  const std::size_t before = emu::stream_ordered_allocations();
  const Tensor fresh = full({n}, 3.0f, Device::cuda(0));
  EXPECT_EQ(emu::stream_ordered_allocations(), before + 1);  // the cache was emptied: the pool again
#endif
}

TEST_F(CudaStreams, TensorsKeepTheirStreamAliveAfterTheStreamObjectIsGone) {
  std::vector<std::string> errors;
  set_log_handler([&](LogLevel level, const std::string& message) {
    if (level >= LogLevel::Error) errors.push_back(message);
  });
  Tensor t;
  {
    cuda::Stream short_lived(0);
    cuda::StreamGuard guard(short_lived);
    t = full({1000}, 2.5f, Device::cuda(0)) * 2.0;
  }
  EXPECT_EQ(t.to_vector(), std::vector<float>(1000, 5.0f));
  t = Tensor();  // the free goes to the stream, which is destroyed only now
  cuda::synchronize(0);
  set_log_handler(nullptr);
  EXPECT_TRUE(errors.empty()) << errors.front();
}

TEST_F(CudaStreams, OpsCapturedIntoAGraphReplayOnNewInputs) {
  constexpr int64_t n = 1500;
  const std::vector<float> first = iota_values(n, 1.0f), second = iota_values(n, -0.5f);
  cuda::Stream stream(0);
  cuda::StreamGuard guard(stream);
  // Inputs and outputs live outside the graph; what the ops allocate inside it is freed inside it.
  Tensor x = from_vector(first, {n}, Device::cuda(0));
  Tensor y = zeros({n}, Device::cuda(0));
  y.copy_(x * 2.0 + 1.0);  // warm-up outside the capture
  cudaGraph_t graph = nullptr;
  NORMRT_CUDA_CHECK(cudaStreamBeginCapture(stream.get(), cudaStreamCaptureModeGlobal));
  y.copy_(x * 3.0 - 1.0);
  NORMRT_CUDA_CHECK(cudaStreamEndCapture(stream.get(), &graph));
  cudaGraphExec_t exec = nullptr;
  NORMRT_CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));
  EXPECT_EQ(y.to_vector(), affine(first, 2.0f, 1.0f));  // capturing ran nothing
  NORMRT_CUDA_CHECK(cudaGraphLaunch(exec, stream.get()));
  EXPECT_EQ(y.to_vector(), affine(first, 3.0f, -1.0f));
  x.copy_(from_vector(second, {n}));  // new input in place, then replay
  NORMRT_CUDA_CHECK(cudaGraphLaunch(exec, stream.get()));
  EXPECT_EQ(y.to_vector(), affine(second, 3.0f, -1.0f));
  NORMRT_CUDA_CHECK(cudaGraphExecDestroy(exec));
  NORMRT_CUDA_CHECK(cudaGraphDestroy(graph));
}

TEST_F(CudaStreams, GraphOutputsComeFromItsPrivatePoolAndStayPut) {
  constexpr int64_t n = 2500;
  const std::vector<float> first = iota_values(n, 1.0f), second = iota_values(n, 0.75f);
  cuda::Stream stream(0);
  cuda::StreamGuard guard(stream);
  Tensor x = from_vector(first, {n}, Device::cuda(0));
  Tensor before = full({n}, 5.0f, Device::cuda(0));  // allocated before the capture, replaced inside it
  cuda::Graph graph(0);
  graph.capture_begin();
  Tensor y = x * 2.0 + 1.0;  // the temporary's block is reused inside the capture; y's outlives it
  before = y * 0.5;           // the old block's free waits for the end of the capture
  graph.capture_end();
  EXPECT_TRUE(graph.captured());
  graph.replay();
  EXPECT_EQ(y.to_vector(), affine(first, 2.0f, 1.0f));
  EXPECT_EQ(before.to_vector(), affine(first, 1.0f, 0.5f));
  x.copy_(from_vector(second, {n}));
  graph.replay();
  graph.replay();  // replays are idempotent here
  EXPECT_EQ(y.to_vector(), affine(second, 2.0f, 1.0f));
  EXPECT_EQ(before.to_vector(), affine(second, 1.0f, 0.5f));
}

TEST_F(CudaStreams, AGraphRefusesSecondCapturesAndEarlyReplays) {
  cuda::Stream stream(0);
  cuda::StreamGuard guard(stream);
  cuda::Graph graph(0);
  EXPECT_TRUE(throws_with([&] { graph.replay(); }, "replay before a completed capture"));
  EXPECT_TRUE(throws_with([&] { graph.capture_end(); }, "capture_end without capture_begin"));
  graph.capture_begin();
  EXPECT_TRUE(throws_with([&] { graph.capture_begin(); }, "capture_begin called twice"));
  graph.capture_end();
}

TEST_F(CudaStreams, AHostReadInsideACaptureIsRefused) {
  cuda::Stream stream(0);
  cuda::StreamGuard guard(stream);
  Tensor x = full({64}, 1.0f, Device::cuda(0));
  cudaGraph_t graph = nullptr;
  NORMRT_CUDA_CHECK(cudaStreamBeginCapture(stream.get(), cudaStreamCaptureModeGlobal));
  Tensor y = x + 1.0;
  EXPECT_TRUE(throws_with([&] { (void)y.to_vector(); }, "cudaErrorStreamCapture"));
  EXPECT_EQ(cudaStreamEndCapture(stream.get(), &graph), cudaErrorStreamCaptureInvalidated);
  (void)cudaGetLastError();
  EXPECT_EQ(graph, nullptr);
  // y's block came from the invalidated capture, so its free may fail: logged, and no later check may report it.
  set_log_handler([](LogLevel, const std::string&) {});
  y = Tensor();
  set_log_handler(nullptr);
  EXPECT_EQ((x + 1.0).to_vector(), std::vector<float>(64, 2.0f));
}

}  // namespace
}  // namespace normrt
