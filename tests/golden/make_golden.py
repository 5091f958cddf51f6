#!/usr/bin/python3
"""Writes the BatchNorm golden data that tests/test_batchnorm_golden.cpp compares against.

Run with Debian's python3-torch (CPU PyTorch 1.13):  /usr/bin/python3 tests/golden/make_golden.py
Each case is a torch.nn.BatchNorm{1,2,3}d with random affine parameters driven through a sequence of steps; a step
runs forward in train or eval mode and backward with a random grad_output, and records the output, the gradients
and the buffers afterwards. Arrays are stored as float32; cases.json describes the cases, data/<case>/*.npy holds
the arrays.

The large-mean case (mean 1e4, std 1e-2) is computed by PyTorch in float64: in float32 PyTorch's own output is
off by more than the float32 representation of the mean allows. For it the manifest gives absolute tolerances:
twice the error that rounding the batch mean to float32 (as every float32 implementation saves it) causes in the
exact formulas, evaluated here in float64.
"""
import json
import os

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "data")

CASES = [
    # name, module, num_features, options, input shapes per step, modes per step, input transform
    dict(name="bn1d_nc", module=1, c=5, opts={}, shapes=[(8, 5)] * 3, modes=["train", "train", "eval"]),
    dict(name="bn1d_ncl", module=1, c=4, opts={}, shapes=[(6, 4, 7)] * 2, modes=["train", "eval"]),
    dict(name="bn2d", module=2, c=3, opts={}, shapes=[(4, 3, 5, 6)] * 3, modes=["train", "train", "eval"]),
    dict(name="bn3d", module=3, c=2, opts={}, shapes=[(2, 2, 3, 4, 5)] * 2, modes=["train", "eval"]),
    dict(name="momentum_none", module=2, c=3, opts={"momentum": None}, shapes=[(3, 3, 4, 4)] * 4,
         modes=["train"] * 4),
    dict(name="affine_false", module=2, c=3, opts={"affine": False}, shapes=[(4, 3, 3, 3)] * 2,
         modes=["train", "eval"]),
    dict(name="no_running_stats", module=2, c=3, opts={"track_running_stats": False}, shapes=[(4, 3, 3, 3)] * 2,
         modes=["train", "eval"]),
    dict(name="eps_momentum", module=1, c=3, opts={"eps": 1e-3, "momentum": 0.3}, shapes=[(10, 3)] * 3,
         modes=["train"] * 3),
    dict(name="large_mean", module=1, c=2, opts={}, shapes=[(64, 2)] * 2, modes=["train", "eval"], big_mean=True,
         float64=True),
    dict(name="one_channel_two_values", module=2, c=1, opts={}, shapes=[(2, 1, 1, 1), (1, 1, 1, 2)],
         modes=["train", "train"]),
    dict(name="odd_spatial", module=2, c=3, opts={"momentum": None}, shapes=[(3, 3, 7, 11), (5, 3, 7, 11)],
         modes=["train", "train"]),
    dict(name="empty_batch", module=1, c=3, opts={}, shapes=[(0, 3), (4, 3)], modes=["train", "train"]),
]


def save(case_dir, name, tensor):
    np.save(os.path.join(case_dir, name + ".npy"), tensor.detach().cpu().numpy().astype(np.float32)
            if tensor.dtype != torch.int64 else tensor.detach().cpu().numpy())


def float32_mean_floor(x, dy, w, b, eps):
    """Max errors of y, dx and dweight when the batch mean is rounded to float32, all else exact (float64)."""
    dims = [0] + list(range(2, x.dim()))
    shape = [1, -1] + [1] * (x.dim() - 2)
    mean = x.mean(dims, keepdim=True)
    invstd = 1.0 / torch.sqrt(x.var(dims, unbiased=False, keepdim=True) + eps)
    w, b = w.reshape(shape), b.reshape(shape)

    def outputs(m):
        xhat = (x - m) * invstd
        dx = w * invstd * (dy - dy.mean(dims, keepdim=True) - xhat * (dy * xhat).mean(dims, keepdim=True))
        return xhat * w + b, dx, (dy * xhat).sum(dims)

    exact = outputs(mean)
    rounded = outputs(mean.float().double())
    return [float((a - e).abs().max()) for a, e in zip(rounded, exact)]


def main():
    torch.manual_seed(20261125)
    manifest = []
    for case in CASES:
        case_dir = os.path.join(OUT, case["name"])
        os.makedirs(case_dir, exist_ok=True)
        cls = {1: torch.nn.BatchNorm1d, 2: torch.nn.BatchNorm2d, 3: torch.nn.BatchNorm3d}[case["module"]]
        bn = cls(case["c"], **case["opts"])
        dtype = torch.float64 if case.get("float64") else torch.float32
        bn = bn.to(dtype)
        tolerance = {"y": 0.0, "dx": 0.0, "dweight": 0.0}
        if bn.affine:
            with torch.no_grad():
                bn.weight.copy_(torch.rand(case["c"]) + 0.5)
                bn.bias.copy_(torch.randn(case["c"]))
            save(case_dir, "weight0", bn.weight)
            save(case_dir, "bias0", bn.bias)
        for step, (shape, mode) in enumerate(zip(case["shapes"], case["modes"])):
            x = torch.randn(*shape) * 2.0 + 0.5
            if case.get("big_mean"):
                x = 1e4 + 1e-2 * torch.randn(*shape)
            # Inputs are float32 values even when the computation runs in float64.
            x = x.float().to(dtype).requires_grad_(True)
            bn.train(mode == "train")
            if bn.affine:
                bn.weight.grad = None
                bn.bias.grad = None
            y = bn(x)
            dy = torch.randn(*shape).to(dtype)
            y.backward(dy)
            if case.get("float64") and mode == "train":
                w = bn.weight.detach() if bn.affine else torch.ones(case["c"], dtype=dtype)
                b = bn.bias.detach() if bn.affine else torch.zeros(case["c"], dtype=dtype)
                floors = float32_mean_floor(x.detach(), dy, w, b, bn.eps)
                for key, floor in zip(["y", "dx", "dweight"], floors):
                    tolerance[key] = max(tolerance[key], 2 * floor)
            p = f"step{step}_"
            save(case_dir, p + "x", x)
            save(case_dir, p + "dy", dy)
            save(case_dir, p + "y", y)
            save(case_dir, p + "dx", x.grad)
            if bn.affine:
                save(case_dir, p + "dweight", bn.weight.grad)
                save(case_dir, p + "dbias", bn.bias.grad)
            if bn.track_running_stats:
                save(case_dir, p + "running_mean", bn.running_mean)
                save(case_dir, p + "running_var", bn.running_var)
                save(case_dir, p + "num_batches_tracked", bn.num_batches_tracked.reshape(1))
        opts = {"eps": bn.eps, "momentum": bn.momentum, "affine": bn.affine,
                "track_running_stats": bn.track_running_stats}
        entry = {"name": case["name"], "module": case["module"], "num_features": case["c"], "options": opts,
                 "modes": case["modes"]}
        if case.get("float64"):
            entry["computed_in"] = "float64"
            entry["abs_tolerance"] = tolerance
        manifest.append(entry)
    with open(os.path.join(OUT, "cases.json"), "w") as f:
        json.dump({"generator": "tests/golden/make_golden.py", "torch": torch.__version__, "cases": manifest}, f,
                  indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
