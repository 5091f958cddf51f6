#!/usr/bin/env bash
# The README's main command: installs dependencies (Fashion-MNIST included), builds, and trains the 784-256-256-10
# MLP without and with BatchNorm from the same seed (normrt-train --compare, defaults: 10 epochs, Adam 1e-3 with
# cosine annealing, batch 128), on the GPU when there is one. Curves and metrics go to runs/compare/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
build/apps/normrt-train --compare --out runs/compare "$@"
