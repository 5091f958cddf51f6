#!/usr/bin/python3
"""Writes golden data for transposed convolutions (tests/test_conv_transpose.cpp and the GPU suites).

Run with Debian's python3-torch (CPU PyTorch 1.13):  /usr/bin/python3 tests/golden/make_golden_conv_transpose.py
data_conv_transpose/cases.json lists the cases (input shape, out channels, kernel, stride, padding, output_padding,
dilation, groups, bias); data_conv_transpose/<case>/ holds x, weight, bias (when used) and dy as float32 .npy files,
and PyTorch's y, dx, dweight, dbias computed in float64 from those float32 values (an exact reference for what normrt
receives). Shapes cover DCGAN's kernel 4 / stride 2 / padding 1, U-Net's kernel 2 / stride 2, output_padding, groups
with dilation, output_padding at or above the stride (below a larger dilation), unbatched input, 1-d and 3-d, and the
modules' forward(input, output_size) (cases with "output_size": the module's output, its weight and bias the case's).
"""
import json
import os
import zlib

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "data_conv_transpose")

FUNCS = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}
MODULES = {1: torch.nn.ConvTranspose1d, 2: torch.nn.ConvTranspose2d, 3: torch.nn.ConvTranspose3d}


def run(name, c):
    g = torch.Generator().manual_seed(zlib.crc32(name.encode()))
    shape = c["input"]
    spatial = c["spatial"]
    channels = shape[-spatial - 1]
    kernel = c["kernel"] if isinstance(c["kernel"], list) else [c["kernel"]] * spatial
    groups = c.get("groups", 1)
    x = torch.randn(shape, generator=g).double().requires_grad_()
    w = torch.randn([channels, c["out"] // groups] + kernel, generator=g).double().requires_grad_()
    b = torch.randn([c["out"]], generator=g).double().requires_grad_() if c.get("bias", True) else None
    if "output_size" in c:  # the module's forward(input, output_size), its weight and bias w and b
        module = MODULES[spatial](channels, c["out"], kernel, stride=c.get("stride", 1), padding=c.get("padding", 0),
                                  groups=groups, bias=b is not None, dilation=c.get("dilation", 1)).double()
        module.weight = torch.nn.Parameter(w.detach().clone())
        if b is not None:
            module.bias = torch.nn.Parameter(b.detach().clone())
        y = module(x, output_size=c["output_size"])
        w, b = module.weight, module.bias
    else:
        y = FUNCS[spatial](x, w, b, stride=c.get("stride", 1), padding=c.get("padding", 0),
                           output_padding=c.get("output_padding", 0), groups=groups, dilation=c.get("dilation", 1))
    dy = torch.randn(y.shape, generator=g).double()
    y.backward(dy)
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    arrays = {"x": x, "weight": w, "dy": dy, "y": y, "dx": x.grad, "dweight": w.grad}
    if b is not None:
        arrays.update({"bias": b, "dbias": b.grad})
    for key, t in arrays.items():
        np.save(os.path.join(d, key + ".npy"), t.detach().numpy().astype(np.float32))


def main():
    cases = {
        "ct2d_plain": {"spatial": 2, "input": [2, 4, 5, 6], "out": 3, "kernel": 3},
        "ct2d_dcgan_k4s2p1": {"spatial": 2, "input": [2, 6, 4, 4], "out": 3, "kernel": 4, "stride": 2,
                              "padding": 1},
        "ct2d_unet_k2s2": {"spatial": 2, "input": [1, 8, 5, 7], "out": 4, "kernel": 2, "stride": 2},
        "ct2d_output_padding": {"spatial": 2, "input": [2, 4, 5, 5], "out": 6, "kernel": 3, "stride": 2,
                                "padding": 1, "output_padding": 1},
        "ct2d_groups_dilation": {"spatial": 2, "input": [2, 4, 5, 4], "out": 6, "kernel": [3, 2], "stride": [1, 2],
                                 "padding": [1, 0], "output_padding": [0, 1], "dilation": [2, 1], "groups": 2},
        "ct2d_unbatched_no_bias": {"spatial": 2, "input": [4, 5, 5], "out": 2, "kernel": 2, "stride": 2,
                                   "bias": False},
        "ct1d_stride3": {"spatial": 1, "input": [2, 3, 7], "out": 5, "kernel": 3, "stride": 3, "padding": 1,
                         "output_padding": 2},
        "ct3d": {"spatial": 3, "input": [1, 2, 3, 4, 3], "out": 3, "kernel": [2, 3, 2], "stride": [2, 1, 2],
                 "padding": [0, 1, 0]},
        # The module's forward(input, output_size) (the output padding it implies), added later.
        "ct2d_output_size": {"spatial": 2, "input": [2, 3, 5, 4], "out": 4, "kernel": 3, "stride": [3, 2],
                             "padding": 1, "output_size": [14, 8]},
        "ct1d_output_size_whole": {"spatial": 1, "input": [2, 3, 6], "out": 2, "kernel": 4, "stride": 4,
                                   "output_size": [2, 2, 26]},
        "ct3d_output_size_unbatched": {"spatial": 3, "input": [2, 3, 3, 2], "out": 2, "kernel": 2, "stride": 2,
                                       "output_size": [6, 7, 4], "bias": False},
        # output_padding at least the stride, below a larger dilation (the positions past the input's reach, and
        # with padding some within it), added later.
        "ct2d_output_padding_dilation": {"spatial": 2, "input": [2, 3, 4, 5], "out": 2, "kernel": 2,
                                         "padding": [2, 1], "output_padding": [2, 1], "dilation": [3, 2]},
        "ct1d_output_padding_dilation_stride2": {"spatial": 1, "input": [2, 4, 5], "out": 4, "kernel": 3,
                                                 "stride": 2, "output_padding": 4, "dilation": 5, "groups": 2},
        "ct3d_output_padding_dilation_unbatched": {"spatial": 3, "input": [2, 3, 2, 4], "out": 2, "kernel": [2, 1, 3],
                                                   "stride": [1, 2, 1], "padding": [1, 0, 0],
                                                   "output_padding": [1, 0, 2], "dilation": [2, 1, 3], "bias": False},
    }
    for name, c in cases.items():
        run(name, c)
    with open(os.path.join(OUT, "cases.json"), "w") as f:
        json.dump(cases, f, indent=1)


if __name__ == "__main__":
    main()
