#!/usr/bin/env bash
# Compiles the device code of every kernel file (library and benchmarks/variants) for each default CUDA
# architecture of CMakeLists.txt, with register spills and local memory as errors. CI's build targets one
# architecture only (scripts/build.sh), and ptxas decides register budgets per architecture: sm_120 spilled where
# sm_80 did not. The flags are the build's (-fmad=false: NORMRT_KERNEL_FLAGS in CMakeLists.txt). About a minute on 2
# cores. Skipped without nvcc. Needs a configured build/ (for normrt/config.h).
#
# First, without nvcc: no kernel calls a CUDA math function whose last bits differ from the host's (expf, logf,
# tanhf, __expf, ...; float_math.cuh has e^x, ln, tanh and the rest for both), so that the SIMT emulator computes
# the device's bits (tests/simt/simt.h).
set -euo pipefail
cd "$(dirname "$0")/.."
inexact='(^|[^:_a-zA-Z0-9])(std::)?(exp|exp2|exp10|expm1|log|log2|log10|log1p|pow|sin|cos|tan|sincos|sinh|cosh|tanh'
inexact+='|asin|acos|atan|atan2|erf|erfc|erfinv|lgamma|tgamma|cbrt|rsqrt|rcbrt|hypot|normcdf)f?\(|__(expf|exp10f|logf'
inexact+='|log2f|log10f|powf|sinf|cosf|tanf|sincosf|fdividef|frsqrt)'
if calls=$(grep -nE "$inexact" kernels/*.cu kernels/*.cuh benchmarks/variants/*.cu | grep -v '^kernels/float_math.cuh' |
    grep -vE '^[^:]+:[0-9]+:\s*//'); then
  echo "kernel-archs: CUDA math functions whose bits differ from the host's (use float_math.cuh):"
  echo "$calls"
  exit 1
fi
nvcc=${CUDACXX:-/usr/local/cuda/bin/nvcc}
if ! [ -x "$nvcc" ]; then echo "kernel-archs: no nvcc, skipped"; exit 0; fi
archs=$(sed -n 's/.*set(CMAKE_CUDA_ARCHITECTURES "\([^"]*\)").*/\1/p' CMakeLists.txt | tr ';' '\n' | sed 's/-real//')
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
status=0
for arch in $archs; do
  for source in kernels/*.cu benchmarks/variants/*.cu; do
    if ! "$nvcc" -std=c++17 -cubin "-arch=sm_$arch" -fmad=false -Iinclude -Ibuild/include -Ikernels \
        -o "$out/k.cubin" "$source" -Xptxas=-warn-spills,-warn-lmem-usage,-Werror; then
      echo "kernel-archs: $source failed for sm_$arch"
      status=1
    fi
  done
done
[ "$status" = 0 ] && echo "kernel-archs: every kernel file compiles for sm_$(echo $archs | sed 's/ /, sm_/g')" \
  "without spills and calls no inexact CUDA math function"
exit "$status"
