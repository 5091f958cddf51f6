#!/usr/bin/python3
"""Side-by-side CPU training speed of normrt-train and PyTorch 1.13 in one run, same model, data and
hyperparameters: one epoch on the first --samples training images, normrt with its defaults (no environment
variables) and the --memory-format asked for, PyTorch at each thread count and memory format asked for (by default
both formats for the convolutional models: its best is the better of them). Prints seconds per epoch and the ratios.

  /usr/bin/python3 benchmarks/compare_training.py --model cnn-bn [--samples 6400] [--threads 1,2] [--rounds 2]
      [--memory-format channels_last] [--torch-memory-formats contiguous,channels_last]
      [--torch-openblas-coretype SkylakeX]
"""
import argparse
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def seconds(output, pattern):
    found = re.findall(pattern, output)
    if not found:
        sys.exit("could not read the epoch time from:\n" + output)
    return float(found[-1])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="cnn-bn")
    parser.add_argument("--samples", type=int, default=6400)
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--rounds", type=int, default=2, help="best of this many runs each")
    parser.add_argument("--torch-openblas-coretype", default="",
                        help="also time PyTorch with OPENBLAS_CORETYPE set to each of these (comma-separated): its "
                             "BLAS kernels chosen by hand, where OpenBLAS does not recognise the CPU")
    parser.add_argument("--train", default=os.path.join(ROOT, "build", "apps", "normrt-train"))
    parser.add_argument("--memory-format", default="contiguous", help="normrt-train's --memory-format")
    parser.add_argument("--torch-memory-formats", default="",
                        help="PyTorch's model memory formats to time (comma-separated; default: contiguous for the "
                             "MLPs, contiguous and channels_last for the convolutional models)")
    args = parser.parse_args()
    torch_formats = (args.torch_memory_formats or
                     ("contiguous" if args.model.startswith("mlp") else "contiguous,channels_last")).split(",")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMP_", "OPENBLAS_"))}
    normrt = min(seconds(subprocess.run(
        [args.train, "--model", args.model, "--epochs", "1", "--limit-train", str(args.samples), "--limit-test", "1000",
         "--device", "cpu", "--no-progress", "--out", "/tmp/normrt-compare"]
        + (["--memory-format", args.memory_format] if args.memory_format != "contiguous" else []),
        capture_output=True, text=True, env=env, check=True).stdout, r"\| ([0-9.]+) s,") for _ in range(args.rounds))
    print(f"normrt-train --model {args.model} --memory-format {args.memory_format}: {normrt:.2f} s for "
          f"{args.samples} samples (default environment)")
    settings = [(t, None, f) for f in torch_formats for t in args.threads.split(",")]
    settings += [(t, core, f) for core in filter(None, args.torch_openblas_coretype.split(",")) for f in torch_formats
                 for t in args.threads.split(",")]
    best = None
    for t, core, fmt in settings:
        torch_env = dict(env, OPENBLAS_CORETYPE=core) if core else env
        torch = min(seconds(subprocess.run(
            ["/usr/bin/python3", os.path.join(HERE, "train_pytorch.py"), "--models", args.model, "--epochs", "1",
             "--limit-train", str(args.samples), "--threads", t, "--memory-format", fmt], capture_output=True,
            text=True, env=torch_env, check=True).stdout, r"mean epoch time ([0-9.]+) s") for _ in range(args.rounds))
        setting = f"{t} thread(s), {fmt}" + (f", OPENBLAS_CORETYPE={core}" if core else "")
        print(f"PyTorch {setting}: {torch:.2f} s; normrt is {torch / normrt:.2f}x as fast")
        best = torch if best is None else min(best, torch)
    print(f"normrt vs PyTorch's best setting: {best / normrt:.2f}x")


if __name__ == "__main__":
    main()
