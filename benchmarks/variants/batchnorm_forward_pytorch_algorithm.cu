// Variant 2, PyTorch's algorithm for fp32 NCHW training (ATen's Normalization.cuh, 1.13), written for this
// project as the baseline bench_batchnorm sets the library against:
//  1. statistics: grid = C, one block per channel whatever C and N*S are (few blocks for small C, which is where
//     the library splits channels), a 2-D block (threadIdx.x along S, threadIdx.y along N) sized from S; every
//     thread runs an unshifted float Welford update per element (a division each), then warp and block merges;
//  2. running statistics and the batch count: a separate small launch (PyTorch's update kernel and its
//     num_batches_tracked.add_(1), here one block);
//  3. normalisation: grid (C, blocks over N) reading x a second time.
// Three launches and three passes over the data (read, read, write); no L2-aware ordering.
#include "batchnorm_forward_pytorch_algorithm.cuh"

#include <algorithm>

#include "bn_math.cuh"

namespace normrt::bn::NORMRT_KERNEL_NS::variants {

namespace {

constexpr int kMaxBlock = 512;
constexpr int kUpdateThreads = 256;
constexpr unsigned kFullMask = 0xffffffffu;

// The smallest of 32, 64, ..., 512 that covers n (512 beyond).
unsigned threads_for(int64_t n) {
  unsigned t = 32;
  while (t < kMaxBlock && t < n) t *= 2;
  return t;
}

__device__ Welford<float> warp_merge(Welford<float> s) {
  for (int m = 16; m >= 1; m /= 2) {
    Welford<float> o;
    o.mean = __shfl_xor_sync(kFullMask, s.mean, m);
    o.m2 = __shfl_xor_sync(kFullMask, s.m2, m);
    o.count = __shfl_xor_sync(kFullMask, s.count, m);
    s = (threadIdx.x & m) ? welford_merge(o, s) : welford_merge(s, o);
  }
  return s;
}

__global__ void __launch_bounds__(kMaxBlock) collect_statistics_kernel(ForwardTrainingParams p, float* var) {
  NORMRT_DYNAMIC_SHARED(Welford<float>, warps);  // [kMaxBlock / 32] (dynamic: the emulator's per-block kind)
  const uint64_t c = blockIdx.x, C = static_cast<uint64_t>(p.geometry.C), S = static_cast<uint64_t>(p.geometry.S);
  Welford<float> s;
  for (uint64_t n = threadIdx.y; n < static_cast<uint64_t>(p.geometry.N); n += blockDim.y)
    for (uint64_t i = threadIdx.x; i < S; i += blockDim.x) welford_add(s, p.x[(n * C + c) * S + i]);
  // blockDim.x is a multiple of 32, so a warp is 32 consecutive threadIdx.x of one row.
  s = warp_merge(s);
  const unsigned warp = (threadIdx.y * blockDim.x + threadIdx.x) / 32, count = blockDim.x * blockDim.y / 32;
  if (threadIdx.x % 32 == 0) warps[warp] = s;
  __syncthreads();
  if (warp != 0) return;
  s = threadIdx.x < count ? warps[threadIdx.x] : Welford<float>{};
  s = warp_merge(s);
  if (threadIdx.x != 0) return;
  p.save_mean[c] = s.mean;
  var[c] = s.m2 / s.count;
  p.save_invstd[c] = invstd_from_var(var[c], static_cast<float>(p.eps));
}

// One block: every thread reads the batch count before thread 0 increments it.
__global__ void __launch_bounds__(kUpdateThreads) update_running_kernel(ForwardTrainingParams p, const float* var) {
  const int64_t batches = p.num_batches_tracked != nullptr ? *p.num_batches_tracked + 1 : 0;
  const float factor = static_cast<float>(running_factor(p.cumulative_average, p.momentum, batches));
  const float count = static_cast<float>(p.geometry.per_channel());
  for (int64_t c = threadIdx.x; c < p.geometry.C && p.running_mean != nullptr; c += blockDim.x) {
    p.running_mean[c] = running_update(p.running_mean[c], p.save_mean[c], factor);
    p.running_var[c] = running_update(p.running_var[c], var[c] * count / (count - 1.0f), factor);
  }
  __syncthreads();
  if (threadIdx.x == 0 && p.num_batches_tracked != nullptr) *p.num_batches_tracked = batches;
}

__global__ void __launch_bounds__(kMaxBlock) transform_kernel(ForwardTrainingParams p) {
  const uint64_t c = blockIdx.x, C = static_cast<uint64_t>(p.geometry.C), S = static_cast<uint64_t>(p.geometry.S);
  const float mean = p.save_mean[c], scale = p.save_invstd[c] * (p.weight ? p.weight[c] : 1.0f);
  const float shift = p.bias ? p.bias[c] : 0.0f;
  for (uint64_t n = blockIdx.y * blockDim.y + threadIdx.y; n < static_cast<uint64_t>(p.geometry.N);
       n += gridDim.y * blockDim.y)
    for (uint64_t i = threadIdx.x; i < S; i += blockDim.x) {
      const uint64_t e = (n * C + c) * S + i;
      p.y[e] = normalize(p.x[e], mean, scale, shift);
    }
}

}  // namespace

bool pytorch_algorithm_supported(const Geometry& g) { return g.S > 1 && g.per_channel() > 1 && g.C > 0; }

void forward_training_pytorch_algorithm(const ForwardTrainingParams& p, float* workspace, cudaStream_t stream) {
  const Geometry& g = p.geometry;
  const unsigned tx = threads_for(g.S);
  NORMRT_LAUNCH(collect_statistics_kernel, dim3(static_cast<unsigned>(g.C)), dim3(tx, kMaxBlock / tx),
                kMaxBlock / 32 * sizeof(Welford<float>), stream, p, workspace);
  NORMRT_CHECK_LAUNCH();
  NORMRT_LAUNCH(update_running_kernel, dim3(1), dim3(kUpdateThreads), 0, stream, p,
                static_cast<const float*>(workspace));
  NORMRT_CHECK_LAUNCH();
  // PyTorch's transform block: at least 64 threads along S, the rest along N; up to 256K/C blocks over N.
  const unsigned fx = std::max(threads_for(g.S / 4), std::min(threads_for(g.S), 64u));
  const unsigned fy = std::max(64u / fx, 1u);
  const int64_t by = std::clamp<int64_t>(std::min<int64_t>(256 * 1024 / g.C, (g.N + fy - 1) / fy), 1, 65535);
  NORMRT_LAUNCH(transform_kernel, dim3(static_cast<unsigned>(g.C), static_cast<unsigned>(by)), dim3(fx, fy), 0,
                stream, p);
  NORMRT_CHECK_LAUNCH();
}

}  // namespace normrt::bn::NORMRT_KERNEL_NS::variants
