#!/usr/bin/python3
"""Writes golden data for BatchNorm in eval mode on running statistics that are not a usable variance
(tests/test_batchnorm_ops.cpp, BatchNormOps.EvalOnDegenerateRunningStatisticsMatchesPyTorch): what PyTorch 1.13's
CPU kernels give, infinities and NaNs included.

Run with Debian's python3-torch (CPU PyTorch 1.13):  /usr/bin/python3 tests/golden/make_golden_bn_eval_edge.py
In eval mode PyTorch takes invstd = 1 / sqrt(running_var + eps) as it is (training's rule, invstd = 0 for a zero
variance with eps = 0, does not apply), and its CPU kernel normalises as x * alpha + beta with alpha = invstd * weight
and beta = bias - running_mean * alpha. The channels of each case: a zero running variance with eps = 0 and a
positive, zero and negative mean; the same with weight 0 and with a negative weight; a negative running variance
(NaN); an infinite running mean; and one ordinary channel. x holds values on both sides of each mean and equal to it,
and dy a zero. Each case is one forward (torch.batch_norm, training=False) and its backward (autograd); data_bn_eval_edge/
holds float32 .npy files "<case>.<key>" for x, dy, weight, bias, running_mean, running_var, y, dx, dweight and
dbias; cases.json lists the cases with their shapes and eps.
"""
import json
import math
import os

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "data_bn_eval_edge")

# Per channel: running mean, running variance, weight, bias.
CHANNELS = [
    (0.0, 0.0, 1.5, 0.5),
    (1.0, 0.0, 1.0, -0.25),
    (-2.0, 0.0, 0.75, 1.0),
    (1.0, 0.0, 0.0, 0.5),
    (-1.0, 0.0, -2.0, 0.0),
    (0.5, -1.0, 1.0, 0.0),
    (math.inf, 1.0, 1.0, 0.0),
    (0.25, 2.0, 1.25, -0.5),
]
CASES = [
    dict(name="nc", shape=(6, len(CHANNELS))),
    dict(name="nchw", shape=(2, len(CHANNELS), 3, 2)),
]
EPS = 0.0


def main():
    torch.manual_seed(20261203)
    os.makedirs(OUT, exist_ok=True)
    mean, var, weight, bias = (torch.tensor(column, dtype=torch.float32) for column in zip(*CHANNELS))
    manifest = []
    for case in CASES:
        shape = case["shape"]
        channel_shape = [1, -1] + [1] * (len(shape) - 2)
        # Around each channel's mean (for the finite ones): below it, equal to it, above it.
        offsets = torch.randint(-2, 3, shape).float()
        centre = torch.where(torch.isfinite(mean), mean, torch.zeros_like(mean)).reshape(channel_shape)
        x = (centre + offsets).requires_grad_(True)
        dy = torch.randn(shape)
        dy.view(-1)[0] = 0.0
        w = weight.clone().requires_grad_(True)
        b = bias.clone().requires_grad_(True)
        y = torch.batch_norm(x, w, b, mean.clone(), var.clone(), False, 0.1, EPS, False)
        y.backward(dy)
        arrays = dict(x=x, dy=dy, weight=weight, bias=bias, running_mean=mean, running_var=var, y=y, dx=x.grad,
                      dweight=w.grad, dbias=b.grad)
        for key, value in arrays.items():
            np.save(os.path.join(OUT, f"{case['name']}.{key}.npy"), value.detach().numpy().astype(np.float32))
        manifest.append(dict(name=case["name"], shape=list(shape), eps=EPS))
    with open(os.path.join(OUT, "cases.json"), "w") as f:
        json.dump({"generator": "tests/golden/make_golden_bn_eval_edge.py", "torch": torch.__version__,
                   "cases": manifest}, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
