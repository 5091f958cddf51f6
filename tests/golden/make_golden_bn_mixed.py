#!/usr/bin/python3
"""Writes golden data for BatchNorm in float16/bfloat16, channels-last, and fused with ReLU / residual add + ReLU
(tests/test_batchnorm_mixed.cpp replays it through normrt::ops and nn::BatchNorm on every device it has).

Run with Debian's python3-torch (CPU PyTorch 1.13):  /usr/bin/python3 tests/golden/make_golden_bn_mixed.py
Each case drives torch.nn.BatchNorm{1,2,3}d with random affine parameters through train, train, eval steps; a step
runs forward and backward with a random grad_output and records output, gradients and buffers afterwards, in the
dtypes PyTorch gives them (float16 as '<f2', bfloat16 as its bits, '<u2').
 * bfloat16: PyTorch's own CPU kernels (weights and buffers in bfloat16, or float32: its mixed-type rule).
 * float16: PyTorch 1.13 has no CPU float16 batch norm, so the case runs in float32 on the float16 values with the
   parameters as they are stored, and rounds each result to its tensor's dtype: the float16 semantics of PyTorch's
   CUDA kernels (statistics in float32, one rounding per output).
 * A case marked float64 (random_cases.py --large) runs every dtype that way in float64, one rounding per output:
   over tens of thousands of elements per channel, PyTorch's float32 sums (and its bfloat16 statistics) miss the
   exact value by more than the runner's tolerance, which is made for float32 accumulation in normrt.
 * Fused cases are PyTorch's composition relu(bn(x) + z) in the input's dtype, its backward through autograd; grad
   of z is stored. Where an element of bn(x) + z lies so close to 0 that rounding could decide whether the ReLU
   passes it (a fused kernel rounds once, the composition twice), its z (or x) is moved away first: the gradients
   would differ there legitimately.
 * Channels-last cases feed PyTorch channels-last tensors; the data are stored in logical order.
"""
import copy
import json
import os

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "data_bn_mixed")

F32, F16, BF16 = torch.float32, torch.float16, torch.bfloat16
NAMES = {F32: "float32", F16: "float16", BF16: "bfloat16"}

CASES = [
    # name, module, input shape, input dtype, parameter dtype, memory format, fusion, options
    dict(name="bf16_2d", module=2, shape=(4, 3, 5, 6), dtype=BF16, params=BF16),
    dict(name="bf16_mixed_2d", module=2, shape=(3, 4, 7, 5), dtype=BF16, params=F32, mean=3.0),
    dict(name="fp16_mixed_2d", module=2, shape=(4, 3, 5, 6), dtype=F16, params=F32),
    dict(name="fp16_2d", module=2, shape=(2, 5, 3, 7), dtype=F16, params=F16, opts={"momentum": None}),
    dict(name="bf16_mixed_1d_nc", module=1, shape=(9, 6), dtype=BF16, params=F32),
    dict(name="fp16_mixed_1d_ncl", module=1, shape=(5, 3, 11), dtype=F16, params=F32),
    dict(name="f32_channels_last", module=2, shape=(3, 5, 4, 7), dtype=F32, params=F32, format="channels_last"),
    dict(name="f32_channels_last_3d", module=3, shape=(2, 3, 2, 3, 5), dtype=F32, params=F32,
         format="channels_last_3d", opts={"momentum": None}),
    dict(name="bf16_mixed_channels_last", module=2, shape=(2, 9, 3, 5), dtype=BF16, params=F32,
         format="channels_last"),
    dict(name="fp16_channels_last", module=2, shape=(2, 17, 3, 3), dtype=F16, params=F16, format="channels_last"),
    dict(name="f32_channels_last_one_channel", module=2, shape=(1, 1, 1, 2), dtype=F32, params=F32,
         format="channels_last"),
    dict(name="f32_relu", module=2, shape=(4, 3, 5, 6), dtype=F32, params=F32, fusion="relu"),
    dict(name="f32_add_relu", module=2, shape=(3, 4, 6, 5), dtype=F32, params=F32, fusion="add_relu"),
    dict(name="f32_add_relu_1d", module=1, shape=(8, 5), dtype=F32, params=F32, fusion="add_relu",
         opts={"affine": False}),
    dict(name="f32_add_2d", module=2, shape=(2, 3, 4, 4), dtype=F32, params=F32, fusion="add"),
    dict(name="bf16_mixed_add_relu_channels_last", module=2, shape=(2, 6, 5, 3), dtype=BF16, params=F32,
         format="channels_last", fusion="add_relu"),
    dict(name="fp16_mixed_relu_channels_last", module=2, shape=(3, 8, 3, 4), dtype=F16, params=F32,
         format="channels_last", fusion="relu"),
    dict(name="fp16_add_relu_3d", module=3, shape=(2, 3, 2, 3, 4), dtype=F16, params=F16, fusion="add_relu",
         opts={"track_running_stats": False}),
]
MODES = ["train", "train", "eval"]


def to_format(t, fmt):
    if fmt == "channels_last":
        return t.contiguous(memory_format=torch.channels_last)
    if fmt == "channels_last_3d":
        return t.contiguous(memory_format=torch.channels_last_3d)
    return t


def save(case_dir, name, t):
    t = t.detach().contiguous()
    if t.dtype == BF16:
        array = t.view(torch.int16).numpy().view(np.uint16)
    else:
        array = t.numpy()
    np.save(os.path.join(case_dir, name + ".npy"), array)


def bn_module(case):
    cls = {1: torch.nn.BatchNorm1d, 2: torch.nn.BatchNorm2d, 3: torch.nn.BatchNorm3d}[case["module"]]
    bn = cls(case["shape"][1], **case.get("opts", {}))
    if bn.affine:
        with torch.no_grad():
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.uniform_(-0.5, 0.5)
    return bn.to(case["params"])


def pre_activation(bn, x, z, fusion, compute):
    """bn(x) + z as PyTorch composes it, in `compute` (the input's dtype, or float32 for float16 input)."""
    y = bn(x.to(compute))
    if fusion in ("add", "add_relu"):
        y = y + z.to(compute)
    return y


# How far from 0 a pre-activation must be for the ReLU to pass the same elements in PyTorch's composition (bn(x)
# rounded to the dtype, then the sum rounded) and in a fused kernel (one rounding): a few units of the dtype's
# precision of the operands' size.
PRECISION = {F32: 2.0 ** -20, F16: 2.0 ** -20, BF16: 2.0 ** -6}


def separate_from_zero(bn, x, z, fusion, compute, dtype):
    """Moves the inputs of elements whose pre-activation lies near 0 (z where there is one, else x) until none does."""
    for _ in range(100):
        with torch.no_grad():
            probe = copy.deepcopy(bn)
            pre = pre_activation(probe, x, z, fusion, compute).float()
            scale = probe(x.to(compute)).float().abs() + (z.float().abs() if fusion == "add_relu" else 0)
        near = pre.abs() < PRECISION[dtype] * (scale + 1)
        if not near.any():
            return x, z
        if fusion == "add_relu":
            z = torch.where(near, z.float() + 0.25, z.float()).to(dtype)
        else:
            x = torch.where(near, x.float() + 0.25, x.float()).to(dtype)
    raise RuntimeError("could not move the pre-activations away from 0")


def run_case(case, seed):
    torch.manual_seed(seed)
    dtype, fmt, fusion = case["dtype"], case.get("format"), case.get("fusion", "none")
    compute = torch.float64 if case.get("float64") else F32 if dtype == F16 else dtype
    bn = bn_module(case)
    initial = {k: v.detach().clone() for k, v in bn.state_dict().items()}
    steps = []
    for mode in MODES:
        x = (torch.randn(case["shape"]) * 2 + case.get("mean", 0.0)).to(dtype)
        z = torch.randn(case["shape"]).to(dtype)
        dy = torch.randn(case["shape"]).to(dtype)
        bn.train(mode == "train")
        work = bn
        if compute != dtype:  # a twin in `compute` whose parameters and buffers hold the module's values
            work = bn_module(case).to(compute)
            work.load_state_dict({k: v.to(compute) if v.is_floating_point() else v for k, v in bn.state_dict().items()})
            work.train(mode == "train")
        if fusion in ("relu", "add_relu"):
            x, z = separate_from_zero(work, x, z, fusion, compute, dtype)
        x, z, dy = to_format(x, fmt), to_format(z, fmt), to_format(dy, fmt)
        xr = x.detach().clone().requires_grad_(True)
        zr = z.detach().clone().requires_grad_(True)
        y = pre_activation(work, xr, zr, fusion, compute)
        if fusion in ("relu", "add_relu"):
            y = torch.relu(y)
        y.backward(dy.to(compute))
        record = dict(x=x, z=z, dy=dy, y=y.to(dtype), dx=xr.grad.to(dtype))
        if fusion in ("add", "add_relu"):
            record["dz"] = zr.grad.to(dtype)
        if bn.affine:
            record["dweight"] = work.weight.grad.to(bn.weight.dtype)
            record["dbias"] = work.bias.grad.to(bn.bias.dtype)
            work.weight.grad = None
            work.bias.grad = None
        if work is not bn:  # the module's buffers take the twin's updates, rounded
            with torch.no_grad():
                twin = dict(work.named_buffers())
                for name, buffer in bn.named_buffers():
                    buffer.copy_(twin[name].to(buffer.dtype))
        if bn.track_running_stats:
            record["running_mean"] = bn.running_mean.detach().clone()
            record["running_var"] = bn.running_var.detach().clone()
            record["num_batches_tracked"] = bn.num_batches_tracked.detach().clone()
        steps.append(record)
    return initial, steps


def main():
    manifest = []
    for index, case in enumerate(CASES):
        seed = 20261130 + 1000 * index
        initial, steps = run_case(case, seed)
        case_dir = os.path.join(OUT, case["name"])
        os.makedirs(case_dir, exist_ok=True)
        for key in ("weight", "bias", "running_mean", "running_var"):
            if key in initial:
                save(case_dir, key + "0", initial[key])
        for k, step in enumerate(steps):
            for key, value in step.items():
                save(case_dir, "step%d_%s" % (k, key), value)
        opts = {"eps": 1e-5, "momentum": 0.1, "affine": True, "track_running_stats": True}
        opts.update(case.get("opts", {}))
        manifest.append(dict(name=case["name"], module=case["module"], num_features=case["shape"][1],
                             dtype=NAMES[case["dtype"]], params=NAMES[case["params"]],
                             memory_format=case.get("format", "contiguous"), fusion=case.get("fusion", "none"),
                             options=opts, modes=MODES))
    with open(os.path.join(OUT, "cases.json"), "w") as f:
        json.dump({"cases": manifest}, f, indent=1)


if __name__ == "__main__":
    main()
