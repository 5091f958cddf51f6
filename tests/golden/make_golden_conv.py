#!/usr/bin/python3
"""Writes golden data for convolutions (tests/test_conv.cpp and the GPU suites).

Run with Debian's python3-torch (CPU PyTorch 1.13):  /usr/bin/python3 tests/golden/make_golden_conv.py
data_conv/cases.json lists the cases (input shape, out channels, kernel, stride, padding as ints or "same"/"valid",
dilation, groups, bias); data_conv/<case>/ holds x, weight, bias (when used) and dy as float32 .npy files, and
PyTorch's y, dx, dweight, dbias computed in float64 from those float32 values (an exact reference for what normrt
receives; normrt's float32 sums are compared within their rounding bound).
"""
import json
import os
import zlib

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "data_conv")

FUNCS = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


def run(name, c):
    g = torch.Generator().manual_seed(zlib.crc32(name.encode()))
    shape = c["input"]
    spatial = len(shape) - 2
    kernel = c["kernel"] if isinstance(c["kernel"], list) else [c["kernel"]] * spatial
    groups = c.get("groups", 1)
    x = (torch.randn(shape, generator=g) * c.get("scale", 1.0) + c.get("shift", 0.0)).double().requires_grad_()
    w = torch.randn([c["out"], shape[1] // groups] + kernel, generator=g).double().requires_grad_()
    b = torch.randn([c["out"]], generator=g).double().requires_grad_() if c.get("bias", True) else None
    y = FUNCS[spatial](x, w, b, stride=c.get("stride", 1), padding=c.get("padding", 0),
                       dilation=c.get("dilation", 1), groups=groups)
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
        # 1-d
        "conv1d_basic": {"input": [2, 3, 11], "out": 4, "kernel": 3},
        "conv1d_stride_pad": {"input": [3, 2, 10], "out": 3, "kernel": 4, "stride": 2, "padding": 1},
        "conv1d_dilation": {"input": [2, 3, 13], "out": 2, "kernel": 3, "dilation": 3, "padding": 2},
        "conv1d_groups": {"input": [2, 4, 9], "out": 6, "kernel": 3, "groups": 2, "bias": False},
        "conv1d_depthwise": {"input": [1, 5, 17], "out": 5, "kernel": 5, "groups": 5, "padding": "same"},
        "conv1d_same_even": {"input": [2, 3, 8], "out": 2, "kernel": 4, "padding": "same"},
        "conv1d_valid_c1": {"input": [4, 1, 6], "out": 3, "kernel": 6, "padding": "valid"},
        # 2-d
        "conv2d_basic": {"input": [2, 3, 7, 6], "out": 4, "kernel": 3},
        "conv2d_pad_stride": {"input": [2, 3, 9, 8], "out": 5, "kernel": [3, 1], "stride": [2, 1],
                              "padding": [1, 0]},
        "conv2d_stride3_odd": {"input": [1, 2, 11, 13], "out": 3, "kernel": [2, 4], "stride": 3, "padding": 2},
        "conv2d_dilation": {"input": [2, 2, 10, 9], "out": 3, "kernel": 3, "dilation": [2, 3], "padding": [2, 1]},
        "conv2d_groups": {"input": [2, 6, 6, 5], "out": 4, "kernel": 3, "groups": 2, "padding": 1},
        "conv2d_depthwise_multiplier": {"input": [2, 4, 8, 7], "out": 8, "kernel": 3, "groups": 4, "padding": 1,
                                        "bias": False},
        "conv2d_same_even": {"input": [2, 3, 6, 7], "out": 2, "kernel": [4, 2], "padding": "same"},
        "conv2d_same_dilated": {"input": [1, 2, 9, 9], "out": 3, "kernel": 3, "dilation": 2, "padding": "same"},
        "conv2d_pointwise": {"input": [3, 8, 5, 5], "out": 6, "kernel": 1},
        "conv2d_pointwise_stride": {"input": [2, 4, 7, 7], "out": 3, "kernel": 1, "stride": 2},
        "conv2d_c1_kernel_is_input": {"input": [3, 1, 5, 4], "out": 2, "kernel": [5, 4]},
        "conv2d_batch1_no_bias_far_mean": {"input": [1, 3, 12, 10], "out": 4, "kernel": 3, "padding": 1,
                                           "bias": False, "shift": 30.0},
        "conv2d_tutorial_first": {"input": [4, 1, 28, 28], "out": 8, "kernel": 3},
        "conv2d_spatial_2": {"input": [2, 3, 2, 1], "out": 2, "kernel": 1},
        # 3-d
        "conv3d_basic": {"input": [2, 2, 5, 6, 4], "out": 3, "kernel": 3, "padding": 1},
        "conv3d_stride_groups": {"input": [1, 4, 7, 6, 5], "out": 4, "kernel": [3, 2, 3], "stride": [2, 1, 2],
                                 "groups": 2},
        "conv3d_same_even_dilated": {"input": [2, 2, 5, 5, 6], "out": 2, "kernel": 2, "dilation": [1, 2, 1],
                                     "padding": "same", "bias": False},
        "conv3d_depthwise": {"input": [1, 3, 4, 5, 6], "out": 3, "kernel": [1, 3, 3], "groups": 3, "padding": [0, 1, 1]},
    }
    for name, c in cases.items():
        run(name, c)
    with open(os.path.join(OUT, "cases.json"), "w") as f:
        json.dump(cases, f, indent=1)


if __name__ == "__main__":
    main()
