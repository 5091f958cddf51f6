#!/usr/bin/env bash
# The README's test command: installs dependencies, builds, and runs every test. GPU tests skip without a device.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
ctest --test-dir build --output-on-failure -j "$(nproc)" --resource-spec-file "$PWD/tests/resources.json"
# Every line of the custom kernels must have run in the emulator tests above (a gcov build of those tests).
scripts/kernel-coverage.sh
# Every kernel file compiles for every default architecture without register spills or local memory.
scripts/kernel-archs.sh
# Every parser of untrusted files under libFuzzer with ASan/UBSan, 30 s per target from the committed corpora.
scripts/fuzz.sh 30
