#!/usr/bin/env bash
# Compiles the device code of every kernel file (library and benchmarks/variants) for each default CUDA
# architecture of CMakeLists.txt, with register spills and local memory as errors. CI's build targets one
# architecture only (scripts/build.sh), and ptxas decides register budgets per architecture: sm_120 spilled where
# sm_80 did not. About a minute on 2 cores. Skipped without nvcc. Needs a configured build/ (for normrt/config.h).
set -euo pipefail
cd "$(dirname "$0")/.."
nvcc=${CUDACXX:-/usr/local/cuda/bin/nvcc}
if ! [ -x "$nvcc" ]; then echo "kernel-archs: no nvcc, skipped"; exit 0; fi
archs=$(sed -n 's/.*set(CMAKE_CUDA_ARCHITECTURES "\([^"]*\)").*/\1/p' CMakeLists.txt | tr ';' '\n' | sed 's/-real//')
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
status=0
for arch in $archs; do
  for source in kernels/*.cu benchmarks/variants/*.cu; do
    if ! "$nvcc" -std=c++17 -cubin "-arch=sm_$arch" -Iinclude -Ibuild/include -Ikernels -o "$out/k.cubin" "$source" \
        -Xptxas=-warn-spills,-warn-lmem-usage,-Werror; then
      echo "kernel-archs: $source failed for sm_$arch"
      status=1
    fi
  done
done
[ "$status" = 0 ] && echo "kernel-archs: every kernel file compiles for sm_$(echo $archs | sed 's/ /, sm_/g') without spills"
exit "$status"
