#!/usr/bin/env bash
# One command for a machine with a GPU: build for that card, run the GPU tests, compute-sanitizer (memcheck,
# racecheck, initcheck, synccheck) over the BatchNorm GPU tests, and the benchmark; write
# benchmarks/results/<date>-<gpu>.md and .json (card, driver, CUDA/cuDNN versions, commands, numbers).
#
#   scripts/gpu-check.sh            # build + run (a GPU machine with the build dependencies, or the Docker image)
#   scripts/gpu-check.sh build      # only build ./build-gpu (any machine with nvcc; NORMRT_GPU_ARCH, default 90) and
#                                   # pack ./gpu-bundle (stripped; ./gpu-bundle.tar.xz, ~12 MB, to carry): the GPU
#                                   # binaries plus the Debian runtime libraries they need, for a GPU machine that
#                                   # lacks the -dev packages
#   scripts/gpu-check.sh run        # only run, from ./gpu-bundle (unpacked from the archive if need be) or ./build-gpu
# NORMRT_RESULTS_DIR overrides where the report goes (default benchmarks/results). NORMRT_CHECK_STEPS picks steps
# of the run phase (default "tests sanitize bench bench-nn bench-dist compare train precision"), so that a device
# session can split them across calls; NORMRT_SANITIZERS the compute-sanitizer tools (default "memcheck racecheck
# initcheck synccheck") and NORMRT_SANITIZER_FILTER their gtest filter (default: the BatchNorm, convolution and
# pooling tests on small shapes, the scatters' and the embedding's, whose radix sort has only been emulated, and the
# golden cases of where, masked_fill, the logical ops, bool operands and the selections, whose kernels have only been
# emulated);
# NORMRT_TRAIN_OUT where the training runs write their curves and checkpoints
# (default: the report's directory);
# NORMRT_STEP_TIMEOUT (seconds) bounds each command of the run phase, so that one hung step cannot eat a lease;
# NORMRT_BENCH_ARGS adds Google Benchmark flags to bench_batchnorm (e.g. --benchmark_repetitions=3).
# "compare" times PyTorch on the GPU beside bench's results (benchmarks/compare_bn_gpu.py; needs "bench" before it
# and a CUDA PyTorch). The run phase finds cuDNN and cuBLAS in the toolkit or in the pip wheels of a PyTorch
# installation (LD_LIBRARY_PATH).
set -uo pipefail
cd "$(dirname "$0")/.."
phase=${1:-all}
build_dir=build-gpu

gpu_arch() {
  if [ -n "${NORMRT_GPU_ARCH:-}" ]; then echo "$NORMRT_GPU_ARCH"; return; fi
  local cap
  cap=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d '.')
  echo "${cap:-90}"
}

if [ "$phase" = all ] || [ "$phase" = build ]; then
  arch=$(gpu_arch)
  # The bundle runs on another machine: no -march=native (its CPU may lack this one's AVX-512), and no oneDNN or MPI
  # (Debian's libraries, absent there; the GPU run needs neither).
  cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release "-DCMAKE_CUDA_ARCHITECTURES=${arch}" -DNORMRT_NATIVE=OFF \
    -DNORMRT_WITH_ONEDNN=OFF -DNORMRT_WITH_MPI=OFF || exit 1
  cmake --build "$build_dir" -j "$(nproc)" --target normrt_gpu_tests bench_batchnorm bench_nn bench_dist normrt-train ||
    exit 1
  rm -rf gpu-bundle && mkdir -p gpu-bundle/bin gpu-bundle/lib
  cp "$build_dir/tests/normrt_gpu_tests" "$build_dir/benchmarks/bench_batchnorm" "$build_dir/benchmarks/bench_nn" \
     "$build_dir/benchmarks/bench_dist" "$build_dir/apps/normrt-train" gpu-bundle/bin/
  for lib in libbenchmark libopenblas libgfortran libquadmath libgomp libz; do
    ldd gpu-bundle/bin/* 2>/dev/null | awk -v l="$lib" '$1 ~ l {print $3}' | sort -u | xargs -r -I{} cp -L {} gpu-bundle/lib/
  done
  # Symbols stripped: the device tool carries the tree, the data set and this archive within 64 MiB (unstripped,
  # 26 MB of archive beside Fashion-MNIST's 30 MB did not fit).
  strip --strip-unneeded gpu-bundle/bin/* gpu-bundle/lib/* || exit 1
  # The commit the binaries were built from (a GPU machine's copy of the tree may carry another git state).
  { git rev-parse --short HEAD && git diff --quiet HEAD || echo "(with uncommitted changes)"; } 2>/dev/null |
    paste -sd' ' > gpu-bundle/COMMIT
  tar -cf - gpu-bundle | xz -T0 -9 > gpu-bundle.tar.xz || exit 1
  du -sh gpu-bundle gpu-bundle.tar.xz
  [ "$phase" = build ] && exit 0
fi

bin_dir=gpu-bundle/bin
[ ! -d "$bin_dir" ] && [ -f gpu-bundle.tar.xz ] && tar -xJf gpu-bundle.tar.xz
[ -d "$bin_dir" ] || bin_dir=""
gpu_tests=${bin_dir:+$bin_dir/normrt_gpu_tests}; gpu_tests=${gpu_tests:-$build_dir/tests/normrt_gpu_tests}
bench_bn=${bin_dir:+$bin_dir/bench_batchnorm}; bench_bn=${bench_bn:-$build_dir/benchmarks/bench_batchnorm}
bench_nn=${bin_dir:+$bin_dir/bench_nn}; bench_nn=${bench_nn:-$build_dir/benchmarks/bench_nn}
bench_dist=${bin_dir:+$bin_dir/bench_dist}; bench_dist=${bench_dist:-$build_dir/benchmarks/bench_dist}
train=${bin_dir:+$bin_dir/normrt-train}; train=${train:-$build_dir/apps/normrt-train}
export NORMRT_GOLDEN_DIR="$PWD/tests/golden/data" NORMRT_GOLDEN_NN_DIR="$PWD/tests/golden/data_nn"
export LD_LIBRARY_PATH="$PWD/gpu-bundle/lib:${LD_LIBRARY_PATH:-}"
# libnccl (loaded at run time by the NCCL backend) from the toolkit or PyTorch's wheel.
for dir in /usr/local/cuda/lib /usr/local/cuda/lib64; do
  [ -e "$dir/libnccl.so.2" ] && export LD_LIBRARY_PATH="$LD_LIBRARY_PATH:$dir"
done
for module in nvidia.cudnn nvidia.cublas nvidia.nccl; do
  dir=$(python3 -c "import $module, os; print(os.path.join(list($module.__path__)[0], 'lib'))" 2>/dev/null) &&
    [ -d "$dir" ] && export LD_LIBRARY_PATH="$LD_LIBRARY_PATH:$dir"
done

results_dir=${NORMRT_RESULTS_DIR:-benchmarks/results}
mkdir -p "$results_dir"
gpu_name=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)
slug=$(echo "${gpu_name:-unknown-gpu}" | tr ' A-Z' '-a-z' | tr -cd 'a-z0-9-')
stem="$results_dir/$(date -u +%Y-%m-%d)-${slug}"
report="$stem.md"
status=0

{
  echo "# normrt GPU check, $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo
  echo "- card: ${gpu_name:-unknown}"
  echo "- driver: $(nvidia-smi --query-gpu=driver_version --format=csv,noheader 2>/dev/null | head -1)"
  echo "- nvcc: $(nvcc --version 2>/dev/null | tail -2 | head -1)"
  echo "- commit: $(cat gpu-bundle/COMMIT 2>/dev/null || git rev-parse --short HEAD 2>/dev/null)"
  echo "- command: scripts/gpu-check.sh $phase"
  echo
} > "$report"

steps=" ${NORMRT_CHECK_STEPS:-tests sanitize bench bench-nn bench-dist compare train precision} "
want() { [[ "$steps" == *" $1 "* ]]; }
step_timeout=${NORMRT_STEP_TIMEOUT:-0}
bounded() {
  if [ "$step_timeout" -gt 0 ]; then timeout "$step_timeout" "$@"; else "$@"; fi
  local rc=$?
  [ "$rc" -eq 124 ] && echo "TIMED OUT after ${step_timeout}s: $*" >> "$report"
  return $rc
}
section() { printf '\n## %s\n\n```\n' "$1" >> "$report"; }
end_section() { printf '```\n' >> "$report"; }

if want tests; then
section "normrt_gpu_tests (every test of label gpu; NORMRT_REQUIRE_GPU=1: a skip is a failure)"
missing=$(ldd "$gpu_tests" "$bench_bn" 2>&1 | grep "not found" | sort -u)
[ -n "$missing" ] && echo "missing libraries: $missing" >> "$report"
SECONDS=0
# The whole log beside the report names the test that was running if the step times out; the report keeps what
# --gtest_brief would print.
NORMRT_REQUIRE_GPU=1 bounded "$gpu_tests" 2>&1 | tee "$stem-tests.log" | grep -v -E '^\[ +(RUN|OK) +\]' >> "$report" ||
  status=1
echo "(${SECONDS} s)" >> "$report"
end_section
fi

# The sanitizers run the BatchNorm tests on small shapes (racecheck is slow on large grids).
sanitizer_filter=${NORMRT_SANITIZER_FILTER:-'*CudaPool*:CudaConv.*:*CudaBatchNormShapes.*/2x1:*CudaBatchNormShapes.*/1x1x2:*CudaBatchNormShapes.*/5x3:*CudaBatchNormShapes.*/7x3x33:*CudaBatchNormShapes.*/4x2x8:*CudaBatchNormShapes.*/2x4x5x7:*CudaBatchNormShapes.*/256x1024:*CudaGolden.*:CudaBatchNorm.SeedExampleOnTheDevice:CudaBatchNorm.EmptyBatchAndNaN:*CudaBnKernels.*:CudaVariants.*:CudaScatterGather.*:CudaEmbedding.*:*CudaTensorOpsGolden*where*:*CudaTensorOpsGolden*masked_fill*:*CudaTensorOpsGolden*logical*:*CudaTensorOpsGolden*bool*:*CudaTensorOpsGolden*nonzero*:*CudaTensorOpsGolden*masked_s*:CudaSelections.*:CudaEmbeddingBag.*:CudaRearrange.*:*CudaTensorOpsGolden*shift*:CudaTensor.RoundingsAndDivisions*:*CudaTensorOpsGolden*div_*:*CudaTensorOpsGolden*remainder*:CudaTensor.TernaryOps*:*CudaTensorOpsGolden*addc*:*CudaTensorOpsGolden*lerp*:CudaTensor.Searchsorted*:*CudaTensorOpsGolden*searchsorted*:*CudaTensorOpsGolden*bucketize*:*CudaTensorOpsGolden*clamp_tensor*'}
want sanitize && for tool in ${NORMRT_SANITIZERS:-memcheck racecheck initcheck synccheck}; do
  section "compute-sanitizer --tool $tool"
  bounded compute-sanitizer --tool "$tool" --error-exitcode 1 "$gpu_tests" \
    --gtest_filter="$sanitizer_filter" --gtest_brief=1 >> "$report" 2>&1 || status=1
  end_section
done

if want bench; then
section "bench_batchnorm --benchmark_filter=gpu --benchmark_min_time=0.1"
# shellcheck disable=SC2086  # NORMRT_BENCH_ARGS: extra Google Benchmark flags, word-split on purpose
bounded "$bench_bn" --benchmark_filter=gpu --benchmark_min_time=0.1 ${NORMRT_BENCH_ARGS:-} \
  --benchmark_out="$stem.json" --benchmark_out_format=json --benchmark_color=false 2>&1 |
  sed -n '/^Summary/,$p' >> "$report" || status=1
end_section

fi

if want bench-nn; then
section "bench_nn --benchmark_filter=gpu --benchmark_min_time=0.1"
bounded "$bench_nn" --benchmark_filter=gpu --benchmark_min_time=0.1 --benchmark_color=false 2>&1 |
  grep -E "^gpu|^Run|error" >> "$report" || status=1
end_section
fi

if want bench-dist; then
section "bench_dist --device=cuda: NCCL collectives and SyncBatchNorm's device stages beside BatchNorm (one process)"
bounded "$bench_dist" --device=cuda --benchmark_color=false 2>&1 | grep -E "^dist|^bn|^\||^Sync|error" >> "$report" ||
  status=1
end_section
fi

if want compare; then
section "benchmarks/compare_bn_gpu.py: PyTorch beside bench_batchnorm, same card, same call"
if [ -f "$stem.json" ] && python3 -c "import torch; assert torch.cuda.is_available()" 2>/dev/null; then
  PYTHONUNBUFFERED=1 bounded python3 benchmarks/compare_bn_gpu.py "$stem.json" >> "$report" 2>&1 || status=1
else
  echo "skipped: needs bench_batchnorm's $stem.json and a CUDA PyTorch" >> "$report"
fi
end_section
fi

data_dir=${NORMRT_DATA_DIR:-/usr/share/datasets/fashion-mnist}
train_out=${NORMRT_TRAIN_OUT:-$results_dir}
have_data() { [ -f "$data_dir/train-images-idx3-ubyte.gz" ] || [ -f "$data_dir/train-images-idx3-ubyte" ]; }

if want train; then
section "normrt-train --compare --device cuda (Fashion-MNIST, when present)"
if have_data; then
  bounded "$train" --compare --device cuda --no-progress --out "$train_out/train-gpu" --data-dir "$data_dir" \
    >> "$report" 2>&1 || status=1
  # The training step as a CUDA graph (the default) against eager launches: one cnn-bn epoch each, same seed, so
  # the losses must agree to the last digit and the epoch times show what the graph saves.
  for graph in --no-cuda-graph --cuda-graph; do
    echo "cnn-bn, 1 epoch, $graph:" >> "$report"
    bounded "$train" --model cnn-bn --epochs 1 --device cuda $graph --no-progress --out "$train_out/train-gpu-graph" \
      --data-dir "$data_dir" >> "$report" 2>&1 || status=1
  done
  if python3 -c "import torch" 2>/dev/null; then
    bounded python3 benchmarks/train_pytorch.py --data-dir "$data_dir" >> "$report" 2>&1 || status=1
  fi
else
  echo "skipped: no Fashion-MNIST files in $data_dir (set NORMRT_DATA_DIR)" >> "$report"
fi
end_section
fi

if want precision; then
section "normrt-train --precision fp32|fp16|bf16 --device cuda: mixed precision's accuracy beside fp32's (same seed)"
if have_data; then
  for model in mlp-bn cnn-bn; do
    for precision in fp32 fp16 bf16; do
      echo "$model --precision $precision:" >> "$report"
      bounded "$train" --model "$model" --precision "$precision" --device cuda --no-progress \
        --out "$train_out/precision-$model-$precision" --data-dir "$data_dir" 2>&1 |
        grep -E "epoch 10/|accuracy|skipped|normrt-train:" >> "$report" || status=1
    done
  done
else
  echo "skipped: no Fashion-MNIST files in $data_dir (set NORMRT_DATA_DIR)" >> "$report"
fi
end_section
fi

echo "report: $report (status $status)"
exit $status
