#!/usr/bin/env bash
# Configures and builds normrt in ./build (Release). CUDA is used when nvcc is found; the architectures default to
# sm_75 code (Turing, CUDA 13's oldest) plus sm_80 code and PTX (which newer GPUs compile), to keep builds on 2
# cores short while running on every GPU CUDA 13 supports. Set
# NORMRT_CUDA_ARCHITECTURES (e.g. "native" on a GPU machine, or the full "75-real;80-real;90-real;100-real;120") to change it.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release "-DCMAKE_CUDA_ARCHITECTURES=${NORMRT_CUDA_ARCHITECTURES:-75-real;80}" \
  ${NORMRT_CMAKE_ARGS:-}
cmake --build build -j "$(nproc)"
