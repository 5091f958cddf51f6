// What lets one kernel source build twice: with nvcc for the GPU, and as plain C++ (-x c++ -DSIMT_EMU) for the
// CPU SIMT emulator in tests/simt. Kernels launch through NORMRT_LAUNCH and take dynamic shared memory through
// NORMRT_DYNAMIC_SHARED; the two builds live in different namespaces (NORMRT_KERNEL_NS) so they can share a binary.
// The emulated-device test build (tests/simt/emulated_cudart.cpp) compiles the emulator build into namespace `cuda`
// instead, where the library's host code calls it.
#pragma once

#include <cstddef>
#include <cstdint>

namespace normrt {
// Blocks of `threads` for a grid-stride loop over n elements: enough to cover them, at most 16 per SM (the loop takes
// the rest), at least one.
inline unsigned grid_stride_blocks(int64_t n, int threads, int sm_count) {
  const int64_t wanted = (n + threads - 1) / threads, most = 16 * static_cast<int64_t>(sm_count > 1 ? sm_count : 1);
  return static_cast<unsigned>(wanted < 1 ? 1 : wanted < most ? wanted : most);
}

// What a block's dynamic shared memory may be: per SM, per block (with the opt-in), and what the system keeps of
// the SM's per resident block.
struct SharedMemoryLimits {
  std::size_t per_sm, per_block, reserved_per_block;
};
}  // namespace normrt

#ifdef SIMT_EMU
#include "simt.h"
#ifndef NORMRT_KERNEL_NS
#define NORMRT_KERNEL_NS emu
#endif
#define NORMRT_LAUNCH(kernel, grid, block, smem, stream, ...) \
  ::simt::launch(kernel, grid, block, smem, stream, false, __VA_ARGS__)
#define NORMRT_LAUNCH_COOPERATIVE(kernel, grid, block, smem, stream, ...) \
  ::simt::launch(kernel, grid, block, smem, stream, true, __VA_ARGS__)
#define NORMRT_COOPERATIVE_BLOCKS_PER_SM(kernel, threads, smem) ::simt::cooperative_blocks_per_sm(smem)
#define NORMRT_SHARED_MEMORY_LIMITS()                                                      \
  ::normrt::SharedMemoryLimits {                                                          \
    ::simt::shared_bytes_per_sm(), ::simt::kMaxDynamicShared, ::simt::kReservedSharedPerBlock \
  }
#define NORMRT_ALLOW_SHARED(kernel, limits) ((void)(limits))
#define NORMRT_GRID_SYNC() ::simt::grid_sync(__FILE__, __LINE__)
#define NORMRT_DYNAMIC_SHARED(T, name) T* name = reinterpret_cast<T*>(::simt::dynamic_shared())
#define NORMRT_CHECK_LAUNCH() ((void)0)
#define NORMRT_UMULHI(a, b) static_cast<uint32_t>((static_cast<uint64_t>(a) * (b)) >> 32)
#define NORMRT_POPC(x) __builtin_popcount(x)
#else
#include <cooperative_groups.h>
#include <cuda_runtime.h>

#include <map>
#include <mutex>
#include <set>
#include <tuple>
#include <utility>

#include "normrt/cuda_check.h"
#define NORMRT_KERNEL_NS cuda
#define NORMRT_LAUNCH(kernel, grid, block, smem, stream, ...) kernel<<<grid, block, smem, stream>>>(__VA_ARGS__)
// A launch whose blocks are all resident at once (cooperative_groups grid sync); grids no larger than
// NORMRT_COOPERATIVE_BLOCKS_PER_SM x SMs.
#define NORMRT_LAUNCH_COOPERATIVE(kernel, grid, block, smem, stream, ...) \
  NORMRT_CUDA_CHECK(::normrt::kernel_launch::cooperative(kernel, grid, block, smem, stream, __VA_ARGS__))
#define NORMRT_COOPERATIVE_BLOCKS_PER_SM(kernel, threads, smem) \
  ::normrt::kernel_launch::cooperative_blocks_per_sm(kernel, threads, smem)
#define NORMRT_SHARED_MEMORY_LIMITS() ::normrt::kernel_launch::shared_memory_limits()
// Lets `kernel` use dynamic shared memory up to the per-block opt-in, with the SM's carveout preferring shared memory.
#define NORMRT_ALLOW_SHARED(kernel, limits) ::normrt::kernel_launch::allow_shared(kernel, limits)
#define NORMRT_GRID_SYNC() ::cooperative_groups::this_grid().sync()
namespace normrt::kernel_launch {
template <typename... Params, typename... Args>
cudaError_t cooperative(void (*kernel)(Params...), dim3 grid, dim3 block, std::size_t smem, cudaStream_t stream,
                        Args&&... args) {
  cudaLaunchAttribute attribute{};
  attribute.id = cudaLaunchAttributeCooperative;
  attribute.val.cooperative = 1;
  cudaLaunchConfig_t config{};
  config.gridDim = grid;
  config.blockDim = block;
  config.dynamicSmemBytes = smem;
  config.stream = stream;
  config.attrs = &attribute;
  config.numAttrs = 1;
  return cudaLaunchKernelEx(&config, kernel, std::forward<Args>(args)...);
}
// What the cooperative step asks before each launch (occupancy, shared-memory limits) is fixed per process for a
// kernel, device and launch shape once allow_shared has or has not run for the kernel (its carveout changes the
// occupancy), and each query is runtime calls on the host's clock: answers are kept. One lock for all of it.
inline std::mutex& launch_facts_mutex() {
  static std::mutex mutex;
  return mutex;
}
// (kernel, device) pairs allow_shared has opted in.
inline std::set<std::pair<const void*, int>>& shared_allowed() {
  static auto* allowed = new std::set<std::pair<const void*, int>>;
  return *allowed;
}
// known[key], computed by compute() on first sight (outside the lock: it makes runtime calls).
template <typename Key, typename Value, typename Compute>
Value remembered(std::map<Key, Value>& known, const Key& key, Compute compute) {
  {
    const std::lock_guard<std::mutex> lock(launch_facts_mutex());
    const auto it = known.find(key);
    if (it != known.end()) return it->second;
  }
  const Value value = compute();
  const std::lock_guard<std::mutex> lock(launch_facts_mutex());
  known.emplace(key, value);
  return value;
}
// Blocks of `kernel` resident per SM on the current device with `smem` bytes of dynamic shared memory each, 0 if the
// device has no cooperative launches. Host-side queries on first sight, no synchronisation.
template <typename... Params>
int cooperative_blocks_per_sm(void (*kernel)(Params...), int threads, std::size_t smem) {
  using Key = std::tuple<const void*, int, int, std::size_t, bool>;
  static auto* known = new std::map<Key, int>;
  int device = 0;
  NORMRT_CUDA_CHECK(cudaGetDevice(&device));
  const void* id = reinterpret_cast<const void*>(kernel);
  bool allowed = false;
  {
    const std::lock_guard<std::mutex> lock(launch_facts_mutex());
    allowed = shared_allowed().count({id, device}) != 0;
  }
  return remembered(*known, Key{id, device, threads, smem, allowed}, [&] {
    int supported = 0, blocks = 0;
    NORMRT_CUDA_CHECK(cudaDeviceGetAttribute(&supported, cudaDevAttrCooperativeLaunch, device));
    if (supported) NORMRT_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&blocks, kernel, threads, smem));
    return blocks;
  });
}
inline SharedMemoryLimits shared_memory_limits() {
  static auto* known = new std::map<int, SharedMemoryLimits>;
  int device = 0;
  NORMRT_CUDA_CHECK(cudaGetDevice(&device));
  return remembered(*known, device, [device] {
    int per_sm = 0, per_block = 0, reserved = 0;
    NORMRT_CUDA_CHECK(cudaDeviceGetAttribute(&per_sm, cudaDevAttrMaxSharedMemoryPerMultiprocessor, device));
    NORMRT_CUDA_CHECK(cudaDeviceGetAttribute(&per_block, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
    NORMRT_CUDA_CHECK(cudaDeviceGetAttribute(&reserved, cudaDevAttrReservedSharedMemoryPerBlock, device));
    return SharedMemoryLimits{static_cast<std::size_t>(per_sm), static_cast<std::size_t>(per_block),
                              static_cast<std::size_t>(reserved)};
  });
}
// Set once per kernel and device (the attributes stay); the per-block limit is the device's opt-in maximum. Keyed
// by the kernel itself: variants of one template can share a signature (channel_cooperative_kernel's vec4 flag), and
// a flag per signature left the second variant at the default 48 KB, so its shared-memory cache silently went unused.
template <typename... Params>
void allow_shared(void (*kernel)(Params...), const SharedMemoryLimits& limits) {
  int device = 0;
  NORMRT_CUDA_CHECK(cudaGetDevice(&device));
  const void* id = reinterpret_cast<const void*>(kernel);
  const std::lock_guard<std::mutex> lock(launch_facts_mutex());
  if (shared_allowed().count({id, device}) != 0) return;
  NORMRT_CUDA_CHECK(
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(limits.per_block)));
  NORMRT_CUDA_CHECK(
      cudaFuncSetAttribute(kernel, cudaFuncAttributePreferredSharedMemoryCarveout, cudaSharedmemCarveoutMaxShared));
  shared_allowed().insert({id, device});
}
}  // namespace normrt::kernel_launch
#define NORMRT_DYNAMIC_SHARED(T, name)                                \
  extern __shared__ __align__(16) unsigned char normrt_dynamic_smem_[]; \
  T* name = reinterpret_cast<T*>(normrt_dynamic_smem_)
#define NORMRT_CHECK_LAUNCH() NORMRT_CUDA_CHECK(cudaGetLastError())
#ifdef __CUDA_ARCH__
#define NORMRT_UMULHI(a, b) __umulhi(a, b)
#define NORMRT_POPC(x) __popc(x)
#else
#define NORMRT_UMULHI(a, b) static_cast<uint32_t>((static_cast<uint64_t>(a) * (b)) >> 32)
#define NORMRT_POPC(x) __builtin_popcount(x)
#endif
#endif
