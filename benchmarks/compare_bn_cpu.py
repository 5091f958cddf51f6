#!/usr/bin/python3
"""CPU BatchNorm speed of normrt beside PyTorch 1.13 in one run: every shape and mode of bench_batchnorm's CPU
section (forward training, forward eval, backward with all three gradients), normrt with its default environment,
PyTorch at each thread count asked for (its best counts). Prints both times and normrt's speed-up, and the geometric
mean per mode.

  /usr/bin/python3 benchmarks/compare_bn_cpu.py [--threads 1,2] [--repetitions 5] [--rounds 3]

The two sides alternate shape by shape, round after round (this build machine is a virtual machine whose
memory-bound speed drifts by tens of percent over minutes: timing all of one side first and then the other compared
different machines). normrt's time in a round is bench_batchnorm's median for that one benchmark (Google Benchmark,
real time); PyTorch's the median of as many timed calls after a warm-up, over torch.batch_norm (training: running
statistics updated, as normrt's) and torch.ops.aten.native_batch_norm_backward (what autograd calls). Each side's
time is the median over the rounds; the speed-up is PyTorch's best thread count's over normrt's.
"""
import argparse
import json
import math
import os
import statistics
import subprocess
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def benchmark_names(bench):
    listing = subprocess.run([bench, "--benchmark_list_tests", "--benchmark_filter=^cpu/native/"], capture_output=True,
                             text=True, check=True).stdout.split()
    return [name for name in listing if name.startswith("cpu/native/")]


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


def torch_time(torch, mode, shape, repetitions):
    c = shape[1]
    x = torch.randn(*shape)
    weight, bias = torch.rand(c) + 0.5, torch.randn(c)
    running_mean, running_var = torch.zeros(c), torch.ones(c)
    if mode == "backward":
        dy = torch.randn(*shape)
        _, save_mean, save_invstd = torch.ops.aten.native_batch_norm(x, weight, bias, running_mean, running_var,
                                                                      True, 0.1, 1e-5)[:3]
        run = lambda: torch.ops.aten.native_batch_norm_backward(dy, x, weight, running_mean, running_var, save_mean,
                                                                save_invstd, True, 1e-5, [True, True, True])
    else:
        training = mode == "fwd-train"
        run = lambda: torch.batch_norm(x, weight, bias, running_mean, running_var, training, 0.1, 1e-5, False)
    with torch.no_grad():
        for _ in range(3):
            run()
        samples = []
        for _ in range(max(repetitions, 5)):
            start = time.perf_counter()
            run()
            samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--bench", default=os.path.join(ROOT, "build", "benchmarks", "bench_batchnorm"))
    args = parser.parse_args()
    import torch
    threads = [int(t) for t in args.threads.split(",")]
    names = benchmark_names(args.bench)
    ours, theirs = {}, {}  # name -> per-round times; name -> thread count -> per-round times
    for _ in range(args.rounds):
        for name in names:
            _, _, mode, label = name.split("/")[:4]
            shape = [int(v) for v in label.split("x")]
            ours.setdefault(name, []).append(normrt_time(args.bench, name, args.repetitions))
            for t in threads:
                torch.set_num_threads(t)
                theirs.setdefault(name, {}).setdefault(t, []).append(torch_time(torch, mode, shape, args.repetitions))
    print(f"torch {torch.__version__}; normrt with the default environment; times in microseconds (medians over "
          f"{args.rounds} rounds, the sides alternating shape by shape)")
    print(f"{'mode':<10} {'shape':<16} {'normrt':>10} " + " ".join(f"{'torch ' + str(t) + 't':>10}" for t in threads)
          + f" {'speed-up':>9}")
    ratios = {}
    for name in sorted(names, key=lambda n: n.split("/")[2:4]):
        _, _, mode, label = name.split("/")[:4]
        seconds = statistics.median(ours[name])
        torch_seconds = [statistics.median(theirs[name][t]) for t in threads]
        ratio = min(torch_seconds) / seconds
        ratios.setdefault(mode, []).append(ratio)
        print(f"{mode:<10} {label:<16} {seconds * 1e6:>10.1f} " + " ".join(f"{s * 1e6:>10.1f}" for s in torch_seconds)
              + f" {ratio:>8.2f}x")
    for mode, values in ratios.items():
        geomean = math.exp(sum(math.log(v) for v in values) / len(values))
        print(f"{mode}: geometric mean {geomean:.2f}x, lowest {min(values):.2f}x")


if __name__ == "__main__":
    main()
