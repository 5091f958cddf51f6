// What lets one kernel source build twice: with nvcc for the GPU, and as plain C++ (-x c++ -DSIMT_EMU) for the
// CPU SIMT emulator in tests/simt. Kernels launch through NORMRT_LAUNCH and take dynamic shared memory through
// NORMRT_DYNAMIC_SHARED; the two builds live in different namespaces (NORMRT_KERNEL_NS) so they can share a binary.
// The emulated-device test build (tests/simt/emulated_cudart.cpp) compiles the emulator build into namespace `cuda`
// instead, where the library's host code calls it.
#pragma once

#ifdef SIMT_EMU
#include "simt.h"
#ifndef NORMRT_KERNEL_NS
#define NORMRT_KERNEL_NS emu
#endif
#define NORMRT_LAUNCH(kernel, grid, block, smem, stream, ...) \
  ::simt::launch(kernel, grid, block, smem, stream, __VA_ARGS__)
#define NORMRT_DYNAMIC_SHARED(T, name) T* name = reinterpret_cast<T*>(::simt::dynamic_shared())
#define NORMRT_CHECK_LAUNCH() ((void)0)
#define NORMRT_UMULHI(a, b) static_cast<uint32_t>((static_cast<uint64_t>(a) * (b)) >> 32)
#else
#include <cuda_runtime.h>

#include "normrt/cuda_check.h"
#define NORMRT_KERNEL_NS cuda
#define NORMRT_LAUNCH(kernel, grid, block, smem, stream, ...) kernel<<<grid, block, smem, stream>>>(__VA_ARGS__)
#define NORMRT_DYNAMIC_SHARED(T, name)                                \
  extern __shared__ __align__(16) unsigned char normrt_dynamic_smem_[]; \
  T* name = reinterpret_cast<T*>(normrt_dynamic_smem_)
#define NORMRT_CHECK_LAUNCH() NORMRT_CUDA_CHECK(cudaGetLastError())
#ifdef __CUDA_ARCH__
#define NORMRT_UMULHI(a, b) __umulhi(a, b)
#else
#define NORMRT_UMULHI(a, b) static_cast<uint32_t>((static_cast<uint64_t>(a) * (b)) >> 32)
#endif
#endif
