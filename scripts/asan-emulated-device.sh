#!/usr/bin/env bash
# The GPU test suites on the emulated device (tests/simt/emulated_cudart.cpp) under AddressSanitizer and
# UndefinedBehaviorSanitizer: the library's CUDA host code and the kernels together, on the op-level shapes, against
# the buffers the library itself allocates. Not part of scripts/test.sh (about 4 minutes of building on 2 cores);
# run it after changing the CUDA host code or a kernel's launch plan. Needs scripts/setup.sh first.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=build-asan
sanitize="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined"
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS=$sanitize" \
  "-DCMAKE_EXE_LINKER_FLAGS=-fsanitize=address,undefined" -DNORMRT_BUILD_BENCHMARKS=OFF \
  -DNORMRT_BUILD_EXAMPLES=OFF > /dev/null
cmake --build "$build_dir" -j "$(nproc)" --target normrt_emudev_gpu_tests > /dev/null
"$build_dir/tests/normrt_emudev_gpu_tests" --gtest_brief=1
