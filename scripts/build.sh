#!/usr/bin/env bash
# Configures and builds normrt in ./build (Release). CUDA is used when nvcc is found; the architectures default to
# one (sm_80 code plus PTX, which runs on every supported GPU) to keep builds on 2 cores short. Set
# NORMRT_CUDA_ARCHITECTURES (e.g. "native" on a GPU machine, or the full "80-real;90-real;100-real;120") to change it.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release "-DCMAKE_CUDA_ARCHITECTURES=${NORMRT_CUDA_ARCHITECTURES:-80}" \
  ${NORMRT_CMAKE_ARGS:-}
cmake --build build -j "$(nproc)"
