#!/usr/bin/env bash
# The README's test command: installs dependencies, builds, and runs every test. GPU tests skip without a device.
# Ends with each step's wall time (where CI's time goes).
set -euo pipefail
cd "$(dirname "$0")/.."
timings=()
step() {
  local start=$SECONDS
  "$@"
  timings+=("$(printf '%5d s  %s' $((SECONDS - start)) "$*")")
}
step scripts/setup.sh
step scripts/build.sh
# CTest gives each GPU test one GPU of the resource spec. The spec lists this machine's GPUs; without one the GPU
# tests only skip, and a single pseudo-GPU with a slot per core lets those thousand skips run in parallel.
gpu_resource_spec() {
  local ids gpus=()
  ids=$(nvidia-smi --query-gpu=index --format=csv,noheader 2>/dev/null) || ids=""
  for id in $ids; do gpus+=("{\"id\": \"$id\", \"slots\": 1}"); done
  [ ${#gpus[@]} = 0 ] && gpus=("{\"id\": \"0\", \"slots\": $(nproc)}")
  local IFS=,
  printf '{"version": {"major": 1, "minor": 0}, "local": [{"gpus": [%s]}]}\n' "${gpus[*]}" > build/ctest-resources.json
}
gpu_resource_spec
step ctest --test-dir build --output-on-failure -j "$(nproc)" --resource-spec-file "$PWD/build/ctest-resources.json"
# Every line of the custom kernels must have run in the emulator tests above (a gcov build of those tests).
step scripts/kernel-coverage.sh
# Every kernel file compiles for every default architecture without register spills or local memory.
step scripts/kernel-archs.sh
# Every parser of untrusted files under libFuzzer with ASan/UBSan, 30 s per target from the committed corpora.
step scripts/fuzz.sh 30
echo "step times:"
printf '%s\n' "${timings[@]}"
