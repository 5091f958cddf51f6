#!/usr/bin/env bash
# Which lines of the CUDA kernels the emulator tests never run: builds the SIMT emulator tests with gcov
# instrumentation (./build-coverage), runs them, and prints every unexecuted line of kernels/*.cu and
# benchmarks/variants/*.cu per template instantiation. Exits 1 when there is any. Needs scripts/setup.sh first.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=build-coverage
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS="--coverage -O0" \
  -DNORMRT_BUILD_BENCHMARKS=OFF -DNORMRT_BUILD_APPS=OFF -DNORMRT_BUILD_EXAMPLES=OFF > /dev/null
# The suite's own objects, and the emulator with the BatchNorm kernels, which it shares with the GPU suites.
objects=("$PWD/$build_dir/tests/CMakeFiles/normrt_simt_tests.dir"
  "$PWD/$build_dir/tests/CMakeFiles/normrt_simt_batchnorm.dir")
for dir in "${objects[@]}"; do
  [ -d "$dir" ] && find "$dir" -name '*.gcda' -delete  # stale counts would clash with rebuilt objects
done
cmake --build "$build_dir" -j "$(nproc)" --target normrt_simt_tests > /dev/null
find "${objects[@]}" -name '*.gcda' -delete  # the build ran the tests once to list them
"$build_dir/tests/normrt_simt_tests" --gtest_brief=1 > /dev/null
report=$(mktemp -d)
trap 'rm -rf "$report"' EXIT
# gcov runs from the source root: the objects name their sources relative to it (-ffile-prefix-map).
for wrapper in "${objects[0]}"/simt_emu_*.cpp.o "${objects[1]}"/simt_emu_*.cpp.o; do
  gcov -o "$wrapper" "$wrapper" > /dev/null 2>&1 || true
  mv ./*.gcov "$report"/ 2>/dev/null || true
done
status=0
for source in kernels/*.cu benchmarks/variants/*.cu; do
  gcov_file="$report/$(basename "$source").gcov"
  if [ ! -f "$gcov_file" ]; then
    # Every kernel file runs in the emulator, except the CUB wrapper (kernels/reduce.cu), which needs a GPU.
    [ "$source" = kernels/reduce.cu ] && continue
    echo "== $source: not built into the emulator tests (add it to tests/CMakeLists.txt)"
    status=1
    continue
  fi
  # A report without counted lines means gcov did not find the source: the check would pass vacuously.
  if ! grep -qE '^ +[0-9]+\*?:' "$gcov_file"; then
    echo "== $source: gcov produced no line counts (source not found?)"
    status=1
    continue
  fi
  # gcov lists each template instantiation between '-----' lines under a header ending in ':'.
  missed=$(awk '/^-+$/ {header="(source line)"; next} /^[^ ].*:$/ {header=$0; next}
    /^ +#####:/ {if (header != shown) {print header; shown=header} print}' "$gcov_file")
  if [ -n "$missed" ]; then
    echo "== $source: lines the emulator tests never ran"
    echo "$missed" | c++filt | cut -c1-200
    status=1
  fi
done
[ "$status" = 0 ] && echo "every kernel line ran in the emulator tests"
exit "$status"
