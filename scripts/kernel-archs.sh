#!/usr/bin/env bash
# Compiles the device code of every kernel file (library and benchmarks/variants) for each default CUDA
# architecture of CMakeLists.txt that build/ does not compile itself, with register spills and local memory as errors.
# CI's build targets two architectures (sm_75 and sm_80: scripts/build.sh), and ptxas decides register budgets per
# architecture: sm_120 spilled where sm_80 did not. The flags are the build's (-fmad=false: NORMRT_KERNEL_FLAGS in
# CMakeLists.txt). A few minutes on 2 cores, one compilation per core. Skipped without nvcc. Needs a configured
# build/ (for normrt/config.h), built first for the architectures it leaves to that build.
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
# Architectures that build/ itself compiles every kernel file for with these checks (the library's kernels, and the
# variants through the benchmarks) are that build's to check: scripts/test.sh builds before it runs this.
cached() { sed -n "s/^$1:[A-Z]*=//p" build/CMakeCache.txt 2>/dev/null; }
built=""
if [ "$(cached NORMRT_KERNEL_CHECKS)" = ON ] && [ "$(cached NORMRT_BUILD_BENCHMARKS)" = ON ] &&
    [ "$(cached NORMRT_WITH_CUDA)" = ON ]; then
  built=$(cached CMAKE_CUDA_ARCHITECTURES | tr ';' '\n' | grep -E '^[0-9]+(-real)?$' | sed 's/-real//' || true)
fi
archs=$(for arch in $archs; do echo "$built" | grep -qx "$arch" || echo "$arch"; done)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
export nvcc out
compile() {  # arch source: one ptxas run, a line on failure
  if ! "$nvcc" -std=c++17 -cubin "-arch=sm_$1" -fmad=false -Iinclude -Ibuild/include -Ikernels \
      -o "$out/sm_$1-$(basename "$2").cubin" "$2" -Xptxas=-warn-spills,-warn-lmem-usage,-Werror; then
    echo "kernel-archs: $2 failed for sm_$1"
    return 1
  fi
}
export -f compile
status=0
# Largest files first, so that the last compilations to start are short ones.
for source in $(ls -S kernels/*.cu benchmarks/variants/*.cu); do
  for arch in $archs; do echo "$arch $source"; done
done | xargs -P "$(nproc)" -n 2 bash -c 'compile "$0" "$1"' || status=1
list() { [ -n "$1" ] && echo "sm_$(echo $1 | sed 's/ /, sm_/g')"; }
[ "$status" = 0 ] && echo "kernel-archs: every kernel file compiles for $(list "$archs")" \
  "${built:+($(list "$built") in build/) }without spills and calls no inexact CUDA math function"
exit "$status"
