#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan + UBSan, in build-fuzz/) and runs each for a bounded time from its
# committed seed corpus. Any crash, leak, sanitizer report, timeout or allocation over the limit fails the script;
# the reproducer is left in build-fuzz/findings/<target>/.
#   scripts/fuzz.sh [SECONDS_PER_TARGET]     (default 30; CI runs this through scripts/test.sh)
#   NORMRT_FUZZ_RUNS=1000000 scripts/fuzz.sh  (a fixed number of executions per target instead of a time)
#   scripts/fuzz.sh --seeds                   (regenerates fuzz/corpus from fuzz/make_seeds.cpp)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=30
seeds_only=0
case "${1:-}" in
  --seeds) seeds_only=1 ;;
  "") ;;
  *) seconds=$1 ;;
esac
mkdir -p build-fuzz
cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DNORMRT_WITH_CUDA=OFF -DNORMRT_BUILD_FUZZERS=ON -DNORMRT_BUILD_TESTS=OFF -DNORMRT_BUILD_BENCHMARKS=OFF \
  -DNORMRT_BUILD_EXAMPLES=OFF > build-fuzz/build.log 2>&1 || { cat build-fuzz/build.log; exit 1; }
cmake --build build-fuzz -j "$(nproc)" --target fuzz_npy fuzz_safetensors fuzz_idx fuzz_checkpoint fuzz_make_seeds >> build-fuzz/build.log 2>&1 \
  || { tail -50 build-fuzz/build.log; exit 1; }
if [ $seeds_only = 1 ]; then
  rm -rf fuzz/corpus
  build-fuzz/fuzz/fuzz_make_seeds fuzz/corpus
  cp tests/golden/data_safetensors/mlp_bn.safetensors fuzz/corpus/safetensors/pytorch_mlp_bn  # written by PyTorch
  exit 0
fi
# The OpenMP and OpenBLAS pools are one thread each: the targets parse, and fork-free determinism helps reproduce.
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
export ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export seconds
fuzz_target() {  # target: one bounded libFuzzer run; prints its outcome, fails on a finding
  local target=$1
  local corpus=fuzz/corpus/${target#fuzz_} work=build-fuzz/work/$target findings=build-fuzz/findings/$target
  rm -rf "$work" && mkdir -p "$work" "$findings"
  local limit=(-max_total_time="$seconds")
  [ -n "${NORMRT_FUZZ_RUNS:-}" ] && limit=(-runs="$NORMRT_FUZZ_RUNS")
  local dict=()
  [ -f "fuzz/${target#fuzz_}.dict" ] && dict=(-dict="fuzz/${target#fuzz_}.dict")
  # Inputs of at most 8 KiB; a single allocation over 64 MB or a process over 1 GB is a finding: whatever a
  # header claims, nothing may allocate more than a small multiple of the input.
  if build-fuzz/fuzz/$target "${limit[@]}" "${dict[@]}" -max_len=8192 -malloc_limit_mb=64 -rss_limit_mb=1024 \
      -timeout=10 -artifact_prefix="$findings/" -print_final_stats=1 "$work" "$corpus" > "$work.log" 2>&1; then
    echo "fuzz: $target: $(grep -E 'stat::number_of_executed_units' "$work.log" | awk '{print $2}') runs, no finding" \
      "($(grep -cE '^#[0-9]+.*(NEW|REDUCE)' "$work.log") new coverage events)"
  else
    { echo "fuzz: $target FAILED; reproducer(s) in $findings/:"
      ls "$findings"
      grep -E "ERROR|SUMMARY|runtime error|==[0-9]+==" "$work.log" | head -20; } | sed "s|^|[$target] |"
    return 1
  fi
}
export -f fuzz_target
# One target per core at a time (each is a single process: the pools above are one thread).
printf '%s\n' fuzz_npy fuzz_safetensors fuzz_idx fuzz_checkpoint | xargs -P "$(nproc)" -I{} bash -c 'fuzz_target {}'
