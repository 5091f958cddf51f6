// SIMT emulator: compiles CUDA kernel sources as plain C++ (-x c++ -DSIMT_EMU) and runs them on the CPU, so the
// kernels are exercised in CI on machines without a GPU. Test-only; never part of the installed library.
//
// Model: blocks run one after another (a cooperative launch keeps every block resident and runs them one after
// another between grid-wide barriers); the threads of a block are cooperative fibers resumed by a deterministic
// scheduler. In forward or reverse order: threads, and the blocks of every launch, so a missing barrier or a read of
// another block's result from the same launch shows up as a wrong value in one of the two. __syncthreads,
// __syncwarp, __shfl_*_sync, __ballot_sync and grid syncs are rendezvous points. The emulator reports (as simt::Error
// from the launch): barriers reached at different call sites or after other threads exited, grid syncs outside a
// cooperative launch, warp collectives whose mask omits the caller or whose lanes disagree on mask or call site, reads
// of lanes outside the mask, and deadlocks. Dynamic shared memory is filled with 0xFF before each block, so reads of
// unwritten shared memory show up as NaN.
// Its ThreadSanitizer build (normrt_simt_tests_tsan, SIMT_TSAN in simt.cpp) makes every thread a fiber of
// ThreadSanitizer's, ordered only by the launch, barriers, warp collectives and grid syncs: it reports data races in
// shared and global memory (within a block, between blocks, across a grid sync) whatever the resume order. It cannot
// see fence bugs or performance. Its arithmetic is the device's, bit for bit: the library's kernels compile with
// -fmad=false and the emulator with -ffp-contract=off (every multiply and add rounds as written on both), and the
// kernels call no CUDA math function whose bits differ from the host's (float_math.cuh's e^x and ln; division and sqrt
// are correctly rounded on both).
#pragma once
#ifndef SIMT_EMU
#error "simt.h is for the SIMT emulator build (-DSIMT_EMU)"
#endif

// CUDA keywords first, so that the toolkit's host headers keep these definitions.
#define __global__
#define __device__
#define __host__
// Static __shared__ arrays would be one array for every block of a launch here: kernels take shared memory through
// NORMRT_DYNAMIC_SHARED, which the emulator gives each block (resident blocks of a cooperative launch included).
#define __shared__ \
  static_assert(false, "the SIMT emulator has no per-block static __shared__ memory: use NORMRT_DYNAMIC_SHARED");
#define __forceinline__ inline
#define __noinline__
#define __launch_bounds__(...)
#define __restrict__ __restrict

#include <cuda_runtime_api.h>
#include <vector_functions.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <tuple>
#include <utility>

namespace simt {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class ResumeOrder { Forward, Reverse };
// Order in which the scheduler resumes a block's threads (default Forward).
void set_resume_order(ResumeOrder order);
ResumeOrder resume_order();

const uint3& thread_idx();
const uint3& block_idx();
const dim3& block_dim();
const dim3& grid_dim();
void* dynamic_shared();

void syncthreads(const char* file, int line);
// cooperative_groups::this_grid().sync(): a barrier of every thread of a cooperative launch.
void grid_sync(const char* file, int line);

enum class WarpOp { Sync, ShflIdx, ShflUp, ShflDown, ShflXor, Ballot };
// One rendezvous serves every warp collective; returns the payload of the source lane (or the ballot).
uint64_t warp_collective(WarpOp op, unsigned mask, uint64_t payload, int arg, int width, const char* file, int line);

template <typename T>
T shuffle(WarpOp op, unsigned mask, T value, int arg, int width, const char* file, int line) {
  static_assert(sizeof(T) <= sizeof(uint64_t), "shuffles move at most 8 bytes");
  uint64_t payload = 0;
  std::memcpy(&payload, &value, sizeof(T));
  const uint64_t result = warp_collective(op, mask, payload, arg, width, file, line);
  T out;
  std::memcpy(&out, &result, sizeof(T));
  return out;
}

// Runs body() as a grid of blocks of fibers; cooperative: all blocks resident at once, so grid_sync works.
void run_grid(dim3 grid, dim3 block, std::size_t dynamic_shared_bytes, const std::function<void()>& body,
              bool cooperative = false);
// The emulated SM, for launchers that size cooperative grids and shared memory: at most `blocks` blocks of any
// kernel resident per SM (default 4; 0 = no cooperative launches) and shared_bytes_per_sm() of shared memory
// (160 KiB), of which each resident block costs kReservedSharedPerBlock besides its own.
constexpr std::size_t kMaxDynamicShared = 48 * 1024;
constexpr std::size_t kReservedSharedPerBlock = 1024;
void set_cooperative_blocks_per_sm(int blocks);
std::size_t shared_bytes_per_sm();
// What the occupancy calculator answers for a cooperative launch with `dynamic_shared_bytes` per block. A test can
// make it count `bytes` more per block than the device attributes say (a calculator that disagrees with them).
int cooperative_blocks_per_sm(std::size_t dynamic_shared_bytes);
void set_occupancy_extra_shared_per_block(std::size_t bytes);
// Throws simt::Error for a launch configuration CUDA refuses (block size, grid size, shared memory) and counts the
// launch: called when a kernel is launched, which may be before it runs.
void check_launch(dim3 grid, dim3 block, std::size_t dynamic_shared_bytes);

// Where launches go: null (the default) runs each kernel when it is launched; the emulated device's asynchronous
// schedules (tests/simt/emulated_device.h) queue it on its stream instead.
using LaunchQueue = void (*)(cudaStream_t stream, std::function<void()> kernel);
void set_launch_queue(LaunchQueue queue);
LaunchQueue launch_queue();

// Launch with CUDA's by-value argument passing: the arguments are copied at launch, the kernel runs now or when its
// stream reaches it (and again at every replay of a CUDA graph that captured it).
template <typename... Params, typename... Args>
void launch(void (*kernel)(Params...), dim3 grid, dim3 block, std::size_t shared_bytes, cudaStream_t stream,
            bool cooperative, Args&&... args) {
  check_launch(grid, block, shared_bytes);
  auto params = std::make_shared<std::tuple<std::decay_t<Params>...>>(std::forward<Args>(args)...);
  auto run = [kernel, grid, block, shared_bytes, cooperative, params] {
    run_grid(grid, block, shared_bytes, [&] { std::apply(kernel, *params); }, cooperative);
  };
  if (LaunchQueue queue = launch_queue()) queue(stream, run);
  else run();
}

// Number of kernel launches so far (tests check how many launches an op makes).
uint64_t launch_count();
// The grid of launch number `launch` (the first launch is 1, the latest launch_count()); one of the last 16.
dim3 launch_grid(uint64_t launch);

}  // namespace simt

#define threadIdx (::simt::thread_idx())
#define blockIdx (::simt::block_idx())
#define blockDim (::simt::block_dim())
#define gridDim (::simt::grid_dim())
#define warpSize 32

#define __syncthreads() ::simt::syncthreads(__FILE__, __LINE__)
#define __syncwarp(...)                                                                                        \
  ::simt::warp_collective(::simt::WarpOp::Sync, (__VA_ARGS__ + 0) ? (__VA_ARGS__ + 0) : 0xffffffffu, 0, 0, 32, \
                          __FILE__, __LINE__)
#define __shfl_sync(mask, v, lane, ...)                                                                         \
  ::simt::shuffle(::simt::WarpOp::ShflIdx, mask, v, lane, (__VA_ARGS__ + 0) ? (__VA_ARGS__ + 0) : 32, __FILE__, \
                  __LINE__)
#define __shfl_up_sync(mask, v, d, ...) \
  ::simt::shuffle(::simt::WarpOp::ShflUp, mask, v, d, (__VA_ARGS__ + 0) ? (__VA_ARGS__ + 0) : 32, __FILE__, __LINE__)
#define __shfl_down_sync(mask, v, d, ...) \
  ::simt::shuffle(::simt::WarpOp::ShflDown, mask, v, d, (__VA_ARGS__ + 0) ? (__VA_ARGS__ + 0) : 32, __FILE__, __LINE__)
#define __shfl_xor_sync(mask, v, m, ...) \
  ::simt::shuffle(::simt::WarpOp::ShflXor, mask, v, m, (__VA_ARGS__ + 0) ? (__VA_ARGS__ + 0) : 32, __FILE__, __LINE__)
#define __ballot_sync(mask, pred) \
  static_cast<unsigned>(          \
      ::simt::warp_collective(::simt::WarpOp::Ballot, mask, (pred) ? 1u : 0u, 0, 32, __FILE__, __LINE__))

// Device intrinsics the kernels use, with their host meaning.
inline float __ldg(const float* p) { return *p; }
inline float4 __ldg(const float4* p) { return *p; }
inline void __threadfence() {}
// Cache-hinted stores (evict-first) are plain stores.
inline void __stcs(float* p, float v) { *p = v; }
inline void __stcs(float4* p, float4 v) { *p = v; }
inline void __stcs(unsigned short* p, unsigned short v) { *p = v; }
inline void __stcs(ushort4* p, ushort4 v) { *p = v; }
inline void __stcs(uint4* p, uint4 v) { *p = v; }
// An atomic read-modify-write that orders as the kernels' __threadfence() around it does on the device (an
// acquire and a release, which ThreadSanitizer's build of the emulator sees).
inline unsigned atomicAdd(unsigned* p, unsigned v) { return __atomic_fetch_add(p, v, __ATOMIC_ACQ_REL); }
inline float __fdiv_rn(float a, float b) { return a / b; }
inline float __frcp_rn(float a) { return 1.0f / a; }
inline float __fsqrt_rn(float a) { return std::sqrt(a); }
using std::sqrt;
