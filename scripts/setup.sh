#!/usr/bin/env bash
# Installs what normrt needs from Debian packages (only the missing ones; apt-get update only when needed).
# The CUDA toolkit (nvcc, cuDNN) is not a Debian package here: CMake uses it when present and builds CPU-only
# otherwise. PyTorch (python3-torch, and python3-torchvision for the blocks' golden data and their comparison rows) is
# needed only to regenerate golden data and for the comparisons with PyTorch in benchmarks/ (compare_*.py,
# train_pytorch.py): NORMRT_SETUP_TORCH=1 adds them.
# clang, its sanitizer/libFuzzer runtimes and libomp build the fuzz targets (scripts/fuzz.sh). libdnnl-dev (oneDNN 2.6)
# runs the CPU convolutions it is faster for (NORMRT_WITH_ONEDNN; without it, im2col + OpenBLAS runs them all).
set -euo pipefail
cd "$(dirname "$0")/.."
packages=(build-essential cmake libgtest-dev libbenchmark-dev libopenblas-dev zlib1g-dev libcli11-dev
          nlohmann-json3-dev dataset-fashion-mnist clang libclang-rt-14-dev libomp-dev python3-venv python3-numpy
          pkg-config libdlpack-dev libopenmpi-dev openmpi-bin libdnnl-dev)
if [ "${NORMRT_SETUP_TORCH:-0}" = 1 ]; then packages+=(python3-torch python3-torchvision python3-numpy); fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# The safetensors interop test reads normrt's files with Python's safetensors package (pip), in a venv that sees
# Debian's numpy (and PyTorch, when installed).
venv=build/interop-venv
if ! "$venv/bin/python" -c "import safetensors, numpy" 2> /dev/null; then
  echo "setup: creating $venv with the safetensors package"
  rm -rf "$venv"
  /usr/bin/python3 -m venv --system-site-packages "$venv"
  "$venv/bin/pip" install -q safetensors
fi
