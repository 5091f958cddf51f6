// Internal: code whose loops are bound by arithmetic rather than by memory (fmath's e^x per element: softmax,
// cross-entropy, BCE-with-logits, sigmoid, tanh; BatchNorm's double accumulators and 16-bit conversions) is compiled
// for 512-bit vectors where the build has AVX-512. GCC's -march=native tuning for Intel's AVX-512 cores vectorises at
// 256 bits (older cores lowered their clock under 512-bit arithmetic), while PyTorch's AVX-512 kernels run 512 bits
// wide. On the 2-core Xeon build machine, fmath::exp over a row in L1 runs 1.4x faster at 512 bits (4M elements on
// one core: 2308 -> 1666 us), softmax of 4096x1000 1.2x (2160 -> 1800 us); for BatchNorm see batchnorm_cpu.cpp.
// Each lane does the same operations at either width, so the bits do not change (the tests, compiled for plain
// x86-64, check). Loops that only stream memory keep the default: randn, the optimizers' updates and the pooling
// loops gained nothing at 512 bits. Other compilers, and builds without AVX-512, keep their default width.
#pragma once

#if defined(__GNUC__) && !defined(__clang__)
#define NORMRT_WIDE_VECTORS_BEGIN _Pragma("GCC push_options") _Pragma("GCC target(\"prefer-vector-width=512\")")
#define NORMRT_WIDE_VECTORS_END _Pragma("GCC pop_options")
#else
#define NORMRT_WIDE_VECTORS_BEGIN
#define NORMRT_WIDE_VECTORS_END
#endif
