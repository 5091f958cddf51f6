#!/usr/bin/env bash
# The README's main command: installs dependencies, builds, and runs the BatchNorm demo.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
build/examples/normrt-bn-demo
