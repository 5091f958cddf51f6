#!/usr/bin/python3
"""Memory-format conversion on the CPU, normrt beside PyTorch 1.13 in one run: bench_nn's cpu/to-memory-format rows
(x.to(MemoryFormat) from the other format, float32 and bfloat16) against x.contiguous(memory_format=...) at each
PyTorch thread count asked for. The sides alternate benchmark by benchmark, round after round (see compare_bn_cpu.py
for why); each side's time is the median over the rounds, the speed-up PyTorch's best thread count's over normrt's.

  /usr/bin/python3 benchmarks/compare_memory_format_cpu.py [--threads 1,2] [--repetitions 5] [--rounds 3]
"""
import argparse
import math
import os
import statistics
import subprocess
import time

from compare_bn_cpu import ROOT, normrt_time


def torch_time(torch, name, threads, repetitions):
    """PyTorch's median time of the conversion a cpu/to-memory-format/<format>/<dtype>/<NxCxHxW> row names."""
    target, dtype, dims = name.split("/")[2:5]
    torch.set_num_threads(threads)
    shape = [int(d) for d in dims.split("x")]
    fmt = torch.channels_last if target == "channels_last" else torch.contiguous_format
    source = torch.channels_last if target == "contiguous" else torch.contiguous_format
    x = torch.randn(shape).to(getattr(torch, dtype)).contiguous(memory_format=source)
    for _ in range(3):
        x.contiguous(memory_format=fmt)
    times = []
    for _ in range(repetitions):
        start = time.perf_counter()
        x.contiguous(memory_format=fmt)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bench", default=os.path.join(ROOT, "build", "benchmarks", "bench_nn"))
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    import torch

    threads = [int(t) for t in args.threads.split(",")]
    listing = subprocess.run([args.bench, "--benchmark_list_tests", "--benchmark_filter=^cpu/to-memory-format/"],
                             capture_output=True, text=True, check=True).stdout.split()
    ours = {name: [] for name in listing}
    theirs = {(name, t): [] for name in listing for t in threads}
    for _ in range(args.rounds):
        for name in listing:
            ours[name].append(normrt_time(args.bench, name, args.repetitions))
            for t in threads:
                theirs[(name, t)].append(torch_time(torch, name, t, args.repetitions))
    print(f"| conversion | normrt us | PyTorch us ({'/'.join(map(str, threads))} threads) | speed-up |")
    print("|---|---|---|---|")
    ratios = []
    for name in listing:
        mine = statistics.median(ours[name])
        others = [statistics.median(theirs[(name, t)]) for t in threads]
        ratios.append(min(others) / mine)
        label = "/".join(name.split("/")[2:5])
        print(f"| {label} | {mine * 1e6:.0f} | {' / '.join(f'{o * 1e6:.0f}' for o in others)} | {ratios[-1]:.2f}x |")
    print(f"geometric mean {math.exp(sum(map(math.log, ratios)) / len(ratios)):.2f}x, lowest {min(ratios):.2f}x")


if __name__ == "__main__":
    main()
