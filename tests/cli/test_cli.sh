#!/usr/bin/env bash
# Careless command lines and hostile files against normrt-train and normrt-predict: every refusal must be one line
# on stderr naming the problem with exit status 1 (CLI11's own parse errors: its non-zero codes), never a signal,
# and no existing file may be damaged. Usage: test_cli.sh BIN_DIR (where normrt-train and normrt-predict are).
set -uo pipefail
bin=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0 passed=0

u32() { printf '\\x%02x\\x%02x\\x%02x\\x%02x' $(($1 >> 24 & 255)) $(($1 >> 16 & 255)) $(($1 >> 8 & 255)) $(($1 & 255)); }
# An IDX data set of `count` random 28x28 images with labels cycling 0-9: make_data DIR PREFIX COUNT
make_data() {
  local dir=$1 prefix=$2 count=$3 labels="" i
  mkdir -p "$dir"
  { printf '\x00\x00\x08\x03'; printf "$(u32 "$count")$(u32 28)$(u32 28)"; head -c $((count * 784)) /dev/urandom; } \
    > "$dir/$prefix-images-idx3-ubyte"
  for ((i = 0; i < count; i++)); do labels+=$(printf '\\x%02x' $((i % 10))); done
  { printf '\x00\x00\x08\x01'; printf "$(u32 "$count")"; printf "$labels"; } > "$dir/$prefix-labels-idx1-ubyte"
}
make_data "$work/data" train 96
make_data "$work/data" t10k 32

train=("$bin/normrt-train" --data-dir "$work/data" --device cpu --no-progress)
predict=("$bin/normrt-predict" --data-dir "$work/data" --device cpu)

report() {  # report OK|FAIL description [details]
  if [ "$1" = OK ]; then passed=$((passed + 1)); else failures=$((failures + 1)); echo "FAIL: $2"; [ -n "${3:-}" ] && echo "$3"; fi
}

# expect_refusal "expected text" command...: exit 1 (or CLI11's code), one stderr line containing the text.
expect_refusal() {
  local want=$1
  shift
  "$@" > "$work/stdout" 2> "$work/stderr"
  local rc=$? lines
  lines=$(wc -l < "$work/stderr")
  if [ $rc -ge 1 ] && [ $rc -lt 128 ] && [ "$lines" -le 1 ] && grep -qF -- "$want" "$work/stderr"; then
    report OK
  else
    report FAIL "$* -> rc $rc, expected a one-line refusal with '$want'" "$(head -c 2000 "$work/stderr")"
  fi
}

expect_success() {
  "$@" > "$work/stdout" 2> "$work/stderr"
  local rc=$?
  if [ $rc -eq 0 ]; then report OK; else report FAIL "$* -> rc $rc" "$(tail -c 2000 "$work/stderr")"; fi
}

# Options out of range.
expect_refusal "dropout probability has to be between 0 and 1, but got -1" "${train[@]}" --dropout -1
expect_refusal "dropout probability has to be between 0 and 1, but got nan" "${train[@]}" --dropout nan
expect_refusal "--epochs must be in [0, 1000000]" "${train[@]}" --epochs -1
expect_refusal "--batch-size must be positive" "${train[@]}" --batch-size 0
expect_refusal "--lr must be a non-negative number" "${train[@]}" --lr nan
expect_refusal "--limit-train and --limit-test must be non-negative" "${train[@]}" --limit-train -3
expect_refusal "--stop-after needs --save" "${train[@]}" --stop-after 1
expect_refusal "unknown model 'vgg'" "${train[@]}" --model vgg
expect_refusal "normrt-train: Could not convert: --epochs = 99999999999999999999 (see --help)" \
  "${train[@]}" --epochs 99999999999999999999
expect_refusal "normrt-predict: checkpoint is required (see --help)" "${predict[@]}"
# Output paths that cannot be written are refused before any training.
expect_refusal "--out /proc/normrt-denied: cannot create the directory" "${train[@]}" --out /proc/normrt-denied
expect_refusal "is a directory, not a file name" "${train[@]}" --out "$work/out" --save "$work"
expect_refusal "directory '$work/nodir' does not exist" "${train[@]}" --out "$work/out" --save "$work/nodir/x.ckpt"
mkfifo "$work/fifo"
expect_refusal "is a device, FIFO or socket, not a file normrt may replace" "${train[@]}" --out "$work/out" --save "$work/fifo"
[ -p "$work/fifo" ] && report OK || report FAIL "the FIFO given as --save was replaced"
# Inputs that are not files.
expect_refusal "is a directory, not a file" "${train[@]}" --out "$work/out" --resume "$work/data"
expect_refusal "/dev/zero: not a regular file" "${train[@]}" --out "$work/out" --resume /dev/zero
expect_refusal "not a normrt checkpoint" "${train[@]}" --out "$work/out" --resume "$work/data/t10k-labels-idx1-ubyte"
mkdir -p "$work/dirdata/train-images-idx3-ubyte.gz"
cp "$work/data/train-labels-idx1-ubyte" "$work/dirdata/"
expect_refusal "train-images-idx3-ubyte.gz: is a directory" "$bin/normrt-train" --out "$work/out" --data-dir "$work/dirdata"
mkdir -p "$work/empty"
{ printf '\x00\x00\x08\x03'; printf "$(u32 0)$(u32 28)$(u32 28)"; } > "$work/empty/train-images-idx3-ubyte"
{ printf '\x00\x00\x08\x01'; printf "$(u32 0)"; } > "$work/empty/train-labels-idx1-ubyte"
expect_refusal "holds no images" "$bin/normrt-train" --out "$work/out" --data-dir "$work/empty"

# A run cut short by --stop-after, resumed with no repeated flags, then predicted from (dropout included).
ckpt="$work/run.ckpt"
expect_success "${train[@]}" --model mlp-bn --dropout 0.2 --normalize --epochs 2 --stop-after 1 --save "$ckpt" --out "$work/out"
expect_success "${train[@]}" --resume "$ckpt" --save "$ckpt" --out "$work/out"
grep -q "epoch 2/2" "$work/stdout" && report OK || report FAIL "the resumed run did not train epoch 2 of 2" "$(cat "$work/stdout")"
expect_refusal "leaves nothing to train" "${train[@]}" --resume "$ckpt" --out "$work/out"
expect_refusal "checkpoint holds an mlp-bn model but --model is mlp" "${train[@]}" --resume "$ckpt" --model mlp --epochs 3 --out "$work/out"
expect_success "${train[@]}" --eval --resume "$ckpt"
expect_success "${train[@]}" --model mlp --epochs 1 --export "$work/model.safetensors" --out "$work/out"
grep -qa '"0.weight":{"dtype":"F32","shape":\[256,784\]' "$work/model.safetensors" && report OK \
  || report FAIL "--export wrote no safetensors state_dict" "$(head -c 300 "$work/model.safetensors")"
expect_refusal "is a directory, not a file name" "${train[@]}" --export "$work" --out "$work/out"
expect_success "${predict[@]}" "$ckpt" --count 5
grep -q "of 5 correct" "$work/stdout" && report OK || report FAIL "predict printed no summary" "$(cat "$work/stdout")"
# The convolutional models train, checkpoint and predict the same way (predict folds Conv -> BatchNorm pairs).
for model in cnn-bn resnet; do
  expect_success "${train[@]}" --model "$model" --epochs 1 --save "$work/$model.ckpt" --out "$work/out"
  expect_success "${predict[@]}" "$work/$model.ckpt" --count 7
  grep -q "of 7 correct" "$work/stdout" && report OK || report FAIL "predict ($model) printed no summary" "$(cat "$work/stdout")"
done
expect_refusal "--compare pairs a model with its BatchNorm twin" "${train[@]}" --model resnet --compare --out "$work/out"
expect_refusal "unknown model 'vgg'" "${train[@]}" --model vgg --out "$work/out"
expect_refusal "--flip must be a probability in [0, 1]" "${train[@]}" --flip 2 --out "$work/out"
expect_refusal "--crop-padding must be in [0, 27]" "${train[@]}" --crop-padding 28 --out "$work/out"
expect_refusal "outside the test set" "${predict[@]}" "$ckpt" --first 9223372036854775807 --count 10
expect_refusal "outside the test set" "${predict[@]}" "$ckpt" --count 99999999999
expect_refusal "--count must be positive" "${predict[@]}" "$ckpt" --count 0
expect_refusal "--first must be non-negative" "${predict[@]}" "$ckpt" --first -1
expect_refusal "not a normrt checkpoint" "${predict[@]}" "$work/data/t10k-images-idx3-ubyte"
expect_refusal "is a directory" "${predict[@]}" "$work"
expect_success "${train[@]}" --model mlp --epochs 1 --batch-size 9223372036854775807 --out "$work/out"

# A full disk (RLIMIT_FSIZE, SIGXFSZ ignored): the run fails naming the file, and nothing is left half-written.
cp "$ckpt" "$work/before.ckpt"
(ulimit -f 64; trap '' XFSZ; exec "${train[@]}" --resume "$ckpt" --epochs 3 --save "$ckpt" --out "$work/out") \
  > "$work/stdout" 2> "$work/stderr"
rc=$?
if [ $rc -eq 1 ] && grep -qF "run.ckpt: write failed" "$work/stderr" && cmp -s "$ckpt" "$work/before.ckpt"; then
  report OK
else
  report FAIL "disk full while checkpointing: rc $rc, checkpoint kept: $(cmp -s "$ckpt" "$work/before.ckpt" && echo yes || echo no)" "$(cat "$work/stderr")"
fi
mkdir -p "$work/full"
(ulimit -f 2; trap '' XFSZ; exec "${train[@]}" --model mlp --epochs 1 --out "$work/full") > "$work/stdout" 2> "$work/stderr"
rc=$?
partial=$(find "$work/full" -type f \( -empty -o -name '.*' \) | wc -l)
if [ $rc -eq 1 ] && grep -qF "write failed" "$work/stderr" && [ "$partial" -eq 0 ] && ! grep -q "^curves:" "$work/stdout"; then
  report OK
else
  report FAIL "disk full while writing metrics: rc $rc, $partial empty or temporary files" "$(cat "$work/stderr"; ls -la "$work/full")"
fi

echo "$passed passed, $failures failed"
[ $failures -eq 0 ]
