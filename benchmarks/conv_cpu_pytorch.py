#!/usr/bin/python3
"""PyTorch 1.13's CPU convolutions (oneDNN 2.6.3 in Debian's build) on bench_nn's CPU shapes, for the side-by-side
table in benchmarks/results/: milliseconds of forward and of backward (input and weight gradients), at the thread
count given, timed as Google Benchmark times normrt (compare_bn_cpu.steady_seconds; --reps repetitions).

  /usr/bin/python3 benchmarks/conv_cpu_pytorch.py [--threads 2] [--batch 4]
"""
import argparse

import torch
import torch.nn.functional as F

from compare_bn_cpu import steady_seconds

# bench_nn's kConvShapes: (in channels, out channels, size, kernel, stride).
SHAPES = [(64, 64, 56, 3, 1), (256, 64, 56, 1, 1), (128, 128, 28, 3, 1), (256, 256, 14, 3, 1), (512, 512, 7, 3, 1),
          (256, 512, 56, 1, 2)]


def median_ms(fn, reps):
    return steady_seconds(fn, reps) * 1e3


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--reps", type=int, default=15)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s), mkldnn {torch.backends.mkldnn.is_available()}")
    for c, o, hw, k, s in SHAPES:
        x = torch.randn(args.batch, c, hw, hw, requires_grad=True)
        w = torch.randn(o, c, k, k, requires_grad=True)
        y = F.conv2d(x, w, stride=s, padding=k // 2)
        dy = torch.randn_like(y)
        forward = median_ms(lambda: F.conv2d(x.detach(), w.detach(), stride=s, padding=k // 2), args.reps)
        backward = median_ms(lambda: torch.autograd.grad(F.conv2d(x, w, stride=s, padding=k // 2), (x, w), dy),
                             args.reps) - forward
        print(f"{args.batch}x{c}x{hw}x{hw}-k{k}s{s}->{o}: forward {forward:.2f} ms, backward {backward:.2f} ms")


if __name__ == "__main__":
    main()
