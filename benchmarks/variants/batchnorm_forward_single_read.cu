// Variant 1, single-read forward training (the apex persistent-kernel idea on NCHW): one block per channel loads
// the channel's N*S values into shared memory while summing them, so x crosses DRAM once (8 bytes per element
// instead of the 12 of the three-pass path: stats read, normalise read, write). With the values on chip the
// statistics are an exact two-pass (mean, then squared deviations of the shifted values), and the
// normalisation writes y from shared memory. One launch: the block that finishes last (an integer semaphore, no
// float atomics) increments num_batches_tracked after every block has read it.
// Limits: S > 1, N*S within one block's shared memory (about 56K floats on H100 with the opt-in), < 2^31 elements.
#include "batchnorm_forward_single_read.cuh"

#include "bn_math.cuh"
#include "index_math.cuh"

namespace normrt::bn::NORMRT_KERNEL_NS::variants {

namespace {

constexpr int kThreads = 512;
constexpr int kUnroll = 4;
constexpr unsigned kFullMask = 0xffffffffu;
constexpr std::size_t kScratchFloats = kThreads / 32 + 1;

__device__ float block_sum(float v, float* scratch) {
  for (int m = 16; m >= 1; m /= 2) v += __shfl_xor_sync(kFullMask, v, m);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  if (threadIdx.x == 0) {
    float total = 0.0f;
    for (int w = 0; w < kThreads / 32; ++w) total += scratch[w];
    scratch[kThreads / 32] = total;
  }
  __syncthreads();
  const float total = scratch[kThreads / 32];
  __syncthreads();
  return total;
}

__global__ void __launch_bounds__(kThreads)
    single_read_kernel(ForwardTrainingParams p, Divider<uint32_t> run, unsigned* blocks_done) {
  NORMRT_DYNAMIC_SHARED(float, shared);
  float* scratch = shared;
  float* values = shared + kScratchFloats;
  const uint32_t c = blockIdx.x, channels = static_cast<uint32_t>(p.geometry.C);
  const uint32_t S = static_cast<uint32_t>(p.geometry.S), count = static_cast<uint32_t>(p.geometry.per_channel());
  // Only thread 0 reads the counter, before it signals its block's arrival below.
  const int64_t batches = threadIdx.x == 0 && p.num_batches_tracked != nullptr ? *p.num_batches_tracked + 1 : 0;
  const float pivot = p.x[static_cast<uint64_t>(c) * S];

  auto x_at = [&](uint32_t i) {
    uint32_t n, s;
    run.divmod(i, n, s);
    return p.x[(n * channels + c) * S + s] - pivot;
  };
  float sum = 0.0f;
  uint32_t i = threadIdx.x;
  for (; i + (kUnroll - 1) * kThreads < count; i += kUnroll * kThreads) {  // kUnroll loads in flight per thread
    float v[kUnroll];
    for (int j = 0; j < kUnroll; ++j) v[j] = x_at(i + j * kThreads);
    for (int j = 0; j < kUnroll; ++j) {
      values[i + j * kThreads] = v[j];
      sum += v[j];
    }
  }
  for (; i < count; i += kThreads) {
    values[i] = x_at(i);
    sum += values[i];
  }
  const float mean = block_sum(sum, scratch) / static_cast<float>(count);
  float squares = 0.0f;
  for (uint32_t i = threadIdx.x; i < count; i += kThreads) squares += (values[i] - mean) * (values[i] - mean);
  const float m2 = block_sum(squares, scratch);

  const float invstd = invstd_from_var(m2 / static_cast<float>(count), static_cast<float>(p.eps));
  const float scale = invstd * (p.weight ? p.weight[c] : 1.0f), shift = p.bias ? p.bias[c] : 0.0f;
  for (uint32_t i = threadIdx.x; i < count; i += kThreads) {
    uint32_t n, s;
    run.divmod(i, n, s);
    p.y[(n * channels + c) * S + s] = normalize(values[i], mean, scale, shift);
  }
  if (threadIdx.x != 0) return;
  p.save_mean[c] = pivot + mean;
  p.save_invstd[c] = invstd;
  if (p.running_mean != nullptr) {
    const float factor = static_cast<float>(running_factor(p.cumulative_average, p.momentum, batches));
    p.running_mean[c] = running_update(p.running_mean[c], pivot + mean, factor);
    p.running_var[c] = running_update(p.running_var[c], unbiased_var(m2, static_cast<float>(count)), factor);
  }
  if (p.num_batches_tracked != nullptr) {
    __threadfence();  // this block's read of the counter happens before its arrival is counted
    if (atomicAdd(blocks_done, 1u) == gridDim.x - 1) {
      __threadfence();  // and the last block's write happens after every arrival it has counted (acquire)
      *p.num_batches_tracked = batches;
      *blocks_done = 0;
    }
  }
}

}  // namespace

bool single_read_supported(const Geometry& g, std::size_t max_shared_bytes) {
  const std::size_t bytes = (kScratchFloats + static_cast<std::size_t>(g.per_channel())) * sizeof(float);
  return g.S > 1 && g.per_channel() > 0 && g.C > 0 && bytes <= max_shared_bytes && g.numel() < (int64_t{1} << 31);
}

void forward_training_single_read(const ForwardTrainingParams& p, unsigned* workspace,
                                  std::size_t max_shared_bytes, cudaStream_t stream) {
  const Geometry& g = p.geometry;
  const std::size_t bytes = (kScratchFloats + static_cast<std::size_t>(g.per_channel())) * sizeof(float);
  (void)max_shared_bytes;  // the caller has checked single_read_supported()
#ifndef SIMT_EMU
  NORMRT_CUDA_CHECK(cudaFuncSetAttribute(single_read_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                         static_cast<int>(bytes)));
#endif
  NORMRT_LAUNCH(single_read_kernel, dim3(static_cast<unsigned>(g.C)), dim3(kThreads), bytes, stream, p,
                Divider<uint32_t>(static_cast<uint32_t>(g.S)), workspace);
  NORMRT_CHECK_LAUNCH();
}

}  // namespace normrt::bn::NORMRT_KERNEL_NS::variants
