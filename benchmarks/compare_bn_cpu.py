#!/usr/bin/python3
"""CPU BatchNorm speed of normrt beside PyTorch 1.13 in one run: every shape and mode of bench_batchnorm's CPU
section (forward training, forward eval, backward with all three gradients), normrt with its default environment,
PyTorch at each thread count asked for (its best counts). Prints both times and normrt's speed-up, and the geometric
mean per mode.

  /usr/bin/python3 benchmarks/compare_bn_cpu.py [--threads 1,2] [--repetitions 5] [--rounds 3] [--matrix]
                                                [--filter REGEX]

--matrix compares the CPU section's dtype x memory format x fusion matrix instead (float16/bfloat16 with float32
parameters, channels-last, BatchNorm + ReLU and BatchNorm + add + ReLU; PyTorch runs the fused forms as BatchNorm
followed by in-place add_ and relu_, and their backward as threshold_backward followed by BatchNorm's backward).

The two sides alternate shape by shape, round after round (this build machine is a virtual machine whose
memory-bound speed drifts by tens of percent over minutes: timing all of one side first and then the other compared
different machines). normrt's time in a round is bench_batchnorm's median for that one benchmark (Google Benchmark,
real time over its repetitions, each the mean of many calls); PyTorch's the same: 0.3 s of calls to warm up, then
as many repetitions, each the mean of the calls that fill 0.2 s, over torch.batch_norm (training: running
statistics updated, as normrt's) and torch.ops.aten.native_batch_norm_backward (what autograd calls). Each side's
time is the median over the rounds; the speed-up is PyTorch's best thread count's over normrt's.
Take several rounds: on the 2-core Xeon build machine, tensors run at one of two speeds for as long as they live,
whatever their page offsets (PyTorch's backward of 32x64x1000: 580-660 or 2000-2550 us per call over eight fresh
allocations, 2026-12-05; presumably the host memory behind the virtual machine's pages). Each round allocates anew on
both sides (bench_batchnorm is a new process), so the median over the rounds is the typical speed.
"""
import argparse
import json
import math
import os
import re
import statistics
import subprocess
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
WARM_UP_SECONDS = 0.3
REPETITION_SECONDS = 0.2
ROOT = os.path.dirname(HERE)


def benchmark_names(bench, section):
    prefix = f"cpu/{section}/"
    listing = subprocess.run([bench, "--benchmark_list_tests", f"--benchmark_filter=^{prefix}"], capture_output=True,
                             text=True, check=True).stdout.split()
    return [name for name in listing if name.startswith(prefix)]


def parse(name):
    """(mode, shape label, dtype, channels_last, fusion) of a cpu/native or cpu/matrix benchmark name."""
    parts = name.split("/")
    if parts[1] == "native":
        return parts[2], parts[3], "float32", False, "none"
    dtype, layout, fusion = parts[2].split("-", 2)
    return parts[3], parts[4], dtype, layout == "nhwc", fusion


def normrt_time(bench, name, repetitions):
    """bench_batchnorm's median real time of one benchmark, in seconds, with normrt's default environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMP_", "OPENBLAS_"))}
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        subprocess.run([bench, f"--benchmark_filter=^{name}$", f"--benchmark_out={out.name}",
                        "--benchmark_out_format=json", f"--benchmark_repetitions={repetitions}",
                        "--benchmark_report_aggregates_only=true"], capture_output=True, env=env, check=True)
        report = json.load(open(out.name))
    for b in report["benchmarks"]:
        if b.get("aggregate_name") == "median":
            return b["real_time"] * {"us": 1e-6, "ms": 1e-3, "ns": 1e-9, "s": 1.0}[b["time_unit"]]
    raise RuntimeError(f"bench_batchnorm reported no median for {name}")


def steady_seconds(call, repetitions):
    """Seconds per call of `call` as Google Benchmark times normrt's side: WARM_UP_SECONDS of calls, then the median
    over `repetitions` of the mean of as many calls as fill REPETITION_SECONDS (until 2026-12-05 these scripts took
    the median of a few single calls after three)."""
    deadline = time.perf_counter() + WARM_UP_SECONDS
    while time.perf_counter() < deadline:
        call()
    samples = []
    for _ in range(repetitions):
        calls, start = 0, time.perf_counter()
        while calls == 0 or time.perf_counter() - start < REPETITION_SECONDS:
            call()
            calls += 1
        samples.append((time.perf_counter() - start) / calls)
    return statistics.median(samples)


def torch_time(torch, mode, shape, repetitions, dtype="float32", channels_last=False, fusion="none"):
    """PyTorch's median time of one call, or None where PyTorch does not run the combination (float16 on its CPU).
    Parameters and statistics are float32 (the mixed-type rule); the fused forms are BatchNorm followed by an in-place
    add and ReLU, their backward threshold_backward on the output followed by BatchNorm's backward."""
    c = shape[1]
    layout = torch.channels_last if channels_last else torch.contiguous_format
    make = lambda: torch.randn(*shape).to(getattr(torch, dtype)).contiguous(memory_format=layout)
    x, z = make(), make()
    weight, bias = torch.rand(c) + 0.5, torch.randn(c)
    running_mean, running_var = torch.zeros(c), torch.ones(c)

    def forward(training):
        y = torch.batch_norm(x, weight, bias, running_mean, running_var, training, 0.1, 1e-5, False)
        if fusion == "add-relu":
            y.add_(z)
        return torch.relu_(y) if fusion != "none" else y

    try:
        with torch.no_grad():
            if mode == "backward":
                dy = make()
                _, save_mean, save_invstd = torch.ops.aten.native_batch_norm(x, weight, bias, running_mean,
                                                                              running_var, True, 0.1, 1e-5)[:3]
                y = forward(True)
                grad = lambda: torch.ops.aten.threshold_backward(dy, y, 0) if fusion != "none" else dy
                run = lambda: torch.ops.aten.native_batch_norm_backward(grad(), x, weight, running_mean, running_var,
                                                                        save_mean, save_invstd, True, 1e-5,
                                                                        [True, True, True])
            else:
                run = lambda: forward(mode == "fwd-train")
            return steady_seconds(run, repetitions)
    except RuntimeError:
        return None


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--bench", default=os.path.join(ROOT, "build", "benchmarks", "bench_batchnorm"))
    parser.add_argument("--matrix", action="store_true",
                        help="the dtype x memory format x fusion matrix (cpu/matrix) instead of the float32 shapes")
    parser.add_argument("--filter", default="",
                        help="only the benchmarks whose name this regular expression matches (backward/32x64x1000)")
    args = parser.parse_args()
    import torch
    threads = [int(t) for t in args.threads.split(",")]
    names = [n for n in benchmark_names(args.bench, "matrix" if args.matrix else "native") if re.search(args.filter, n)]
    ours, theirs = {}, {}  # name -> per-round times; name -> thread count -> per-round times
    for _ in range(args.rounds):
        for name in names:
            mode, label, dtype, channels_last, fusion = parse(name)
            shape = [int(v) for v in label.split("x")]
            ours.setdefault(name, []).append(normrt_time(args.bench, name, args.repetitions))
            for t in threads:
                torch.set_num_threads(t)
                seconds = torch_time(torch, mode, shape, args.repetitions, dtype, channels_last, fusion)
                theirs.setdefault(name, {}).setdefault(t, []).append(seconds)
    print(f"torch {torch.__version__}; normrt with the default environment; times in microseconds (medians over "
          f"{args.rounds} rounds, the sides alternating shape by shape)")
    print(f"{'mode':<10} {'shape':<16} {'combination':<24} {'normrt':>10} "
          + " ".join(f"{'torch ' + str(t) + 't':>10}" for t in threads) + f" {'speed-up':>9}")
    ratios = {}
    for name in sorted(names, key=lambda n: parse(n)[:2] + (n,)):
        mode, label, dtype, channels_last, fusion = parse(name)
        combination = f"{dtype}-{'nhwc' if channels_last else 'nchw'}-{fusion}"
        seconds = statistics.median(ours[name])
        if any(v is None for t in threads for v in theirs[name][t]):
            print(f"{mode:<10} {label:<16} {combination:<24} {seconds * 1e6:>10.1f} "
                  + " ".join(f"{'-':>10}" for _ in threads) + f" {'-':>9}  (PyTorch does not run it)")
            continue
        torch_seconds = [statistics.median(theirs[name][t]) for t in threads]
        ratio = min(torch_seconds) / seconds
        ratios.setdefault(mode, []).append(ratio)
        print(f"{mode:<10} {label:<16} {combination:<24} {seconds * 1e6:>10.1f} "
              + " ".join(f"{s * 1e6:>10.1f}" for s in torch_seconds) + f" {ratio:>8.2f}x")
    for mode, values in ratios.items():
        geomean = math.exp(sum(math.log(v) for v in values) / len(values))
        print(f"{mode}: geometric mean {geomean:.2f}x, lowest {min(values):.2f}x")


if __name__ == "__main__":
    main()
