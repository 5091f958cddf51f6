#!/usr/bin/python3
"""A/B of two builds of one Google Benchmark binary (bench_batchnorm, bench_nn) on this noisy machine: every
benchmark matching the filter, both binaries alternating benchmark by benchmark and round by round (which runs first
swaps each round), each run a process of its own with 5 repetitions. Prints, per benchmark, each side's best
repetition over all rounds and their ratio (bandwidth-bound code is only ever slowed by the neighbours of a virtual
machine, so the best is the least disturbed), and the median and range of the per-round ratios of the best
repetitions. A/B > 1: B is faster.

  benchmarks/ab_binaries.py A B FILTER [ROUNDS]
  e.g. cp build/benchmarks/bench_batchnorm /tmp/before; (change, rebuild);
       benchmarks/ab_binaries.py /tmp/before build/benchmarks/bench_batchnorm '^cpu/native/backward/' 9
"""
import json
import re
import statistics
import subprocess
import sys
import tempfile


def best_time(binary, name):
    """The fastest repetition's real time of one benchmark (its own time unit)."""
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        subprocess.run([binary, f"--benchmark_filter=^{name}$", f"--benchmark_out={out.name}",
                        "--benchmark_out_format=json", "--benchmark_repetitions=5", "--benchmark_min_time=0.1"],
                       capture_output=True, check=True)
        report = json.load(open(out.name))
    return min(b["real_time"] for b in report["benchmarks"] if b.get("run_type") == "iteration")


def main():
    a, b, pattern = sys.argv[1], sys.argv[2], sys.argv[3]
    rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 5
    listing = subprocess.run([a, "--benchmark_list_tests", f"--benchmark_filter={pattern}"], capture_output=True,
                             text=True, check=True).stdout.split()
    names = [n for n in listing if re.search(pattern, n)]  # not the words of the summary bench_batchnorm prints
    times = {n: ([], []) for n in names}
    for r in range(rounds):
        for n in names:
            for side in ((0, 1) if r % 2 == 0 else (1, 0)):
                times[n][side].append(best_time((a, b)[side], n))
    for n in names:
        ta, tb = times[n]
        ratios = [x / y for x, y in zip(ta, tb)]
        print(f"{n:<60} best A {min(ta):9.1f}  B {min(tb):9.1f}  A/B {min(ta) / min(tb):.2f}; per round median "
              f"{statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f})")


if __name__ == "__main__":
    main()
