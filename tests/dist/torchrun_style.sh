#!/usr/bin/env bash
# normrt-train --distributed in a torchrun-style launch (RANK / WORLD_SIZE / LOCAL_RANK, no MPI), over the file
# backend in a fresh NORMRT_RENDEZVOUS directory. Two checks (CTest runs this once):
#  1. two processes train one epoch with --sync-bn; both exit 0 and rank 0 reports the file group and the accuracy;
#  2. a rank killed mid-run (SIGKILL, as a crash) makes the survivor stop with an error naming the missing rank
#     within its --dist-timeout, instead of hanging.
# Usage: torchrun_style.sh NORMRT_TRAIN WORK_DIR
set -euo pipefail
train=$1
work=$2
rm -rf "$work"
mkdir -p "$work"
common=(--distributed --model mlp-bn --limit-test 512 --batch-size 64 --device cpu --no-progress)

launch() {  # launch RANK OUT_FILE ARGS...: one process of a world of two, in the background
  local rank=$1 out=$2
  shift 2
  RANK=$rank WORLD_SIZE=2 LOCAL_RANK=$rank LOCAL_WORLD_SIZE=2 NORMRT_RENDEZVOUS="$work/rendezvous-$run" \
    "$train" "${common[@]}" "$@" > "$out" 2>&1 &
}

run=1
launch 0 "$work/train-0.log" --sync-bn --epochs 1 --limit-train 2048 --out "$work/out-0"
pid0=$!
launch 1 "$work/train-1.log" --sync-bn --epochs 1 --limit-train 2048 --out "$work/out-1"
pid1=$!
status=0
wait "$pid0" || status=$?
wait "$pid1" || status=$?
cat "$work/train-0.log"
if [ "$status" != 0 ] || ! grep -q "2 processes (file)" "$work/train-0.log" ||
   ! grep -q "final test accuracy" "$work/train-0.log"; then
  echo "FAIL: the two-process run (status $status); rank 1 said:"
  cat "$work/train-1.log"
  exit 1
fi

run=2
launch 0 "$work/crash-0.log" --epochs 1000 --limit-train 2048 --dist-timeout 5 --out "$work/crash-out-0"
pid0=$!
launch 1 "$work/crash-1.log" --epochs 1000 --limit-train 2048 --dist-timeout 5 --out "$work/crash-out-1"
pid1=$!
# Kill rank 1 once training is under way (the first epoch line of rank 0), or after 60 s at the latest.
for _ in $(seq 600); do
  grep -q "epoch" "$work/crash-0.log" 2> /dev/null && break
  sleep 0.1
done
kill -9 "$pid1"
killed_at=$(date +%s)
status=0
wait "$pid0" || status=$?
took=$(( $(date +%s) - killed_at ))
cat "$work/crash-0.log" | tail -3
if [ "$status" = 0 ] || [ "$took" -gt 30 ] || ! grep -q "waiting for rank 1" "$work/crash-0.log"; then
  echo "FAIL: after rank 1 was killed, rank 0 exited with status $status after $took s"
  exit 1
fi
echo "PASS: rank 0 stopped with status $status $took s after rank 1 was killed"
