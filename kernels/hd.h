#pragma once
#ifdef SIMT_EMU
#include "simt.h"  // defines the CUDA keywords for the emulator build
#endif
// Marks functions compiled for both host and device (and for the SIMT emulator, where the keywords are empty).
#if defined(__CUDACC__) || defined(SIMT_EMU)
#define NORMRT_HD __host__ __device__
#else
#define NORMRT_HD
#endif
// Unrolls the next loop in device code (a constant trip count, so that the arrays it indexes stay in registers);
// nothing in host builds, whose compilers decide for themselves.
#if defined(__CUDACC__)
#define NORMRT_UNROLL _Pragma("unroll")
#else
#define NORMRT_UNROLL
#endif
