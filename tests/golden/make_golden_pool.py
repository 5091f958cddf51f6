#!/usr/bin/python3
"""Writes golden data for pooling (tests/test_pool.cpp and the GPU suites).

Run with Debian's python3-torch (CPU PyTorch 1.13):  /usr/bin/python3 tests/golden/make_golden_pool.py
data_pool/cases.json lists the cases (kind max/avg/adaptive/adaptive_max, input shape and the pooling arguments);
data_pool/<case>/ holds x and dy (float32), PyTorch's y and dx, and for max pooling its indices (int64). Max pooling
(adaptive too) runs in float32 (it only selects, and its tie and NaN rules are what is tested); average pooling in
float64 from the float32 inputs (an exact reference). Inputs of "ties" cases are small integers, so windows hold equal values.
"""
import json
import os
import zlib

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "data_pool")

MAX = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}
AVG = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}
ADAPTIVE = {1: F.adaptive_avg_pool1d, 2: F.adaptive_avg_pool2d, 3: F.adaptive_avg_pool3d}
ADAPTIVE_MAX = {1: F.adaptive_max_pool1d, 2: F.adaptive_max_pool2d, 3: F.adaptive_max_pool3d}


def run(name, c):
    g = torch.Generator().manual_seed(zlib.crc32(name.encode()))
    shape = c["input"]
    spatial = c["spatial"]
    if c.get("ties"):
        x32 = torch.randint(0, 3, shape, generator=g).float()
    else:
        x32 = torch.randn(shape, generator=g)
    if c.get("nan"):
        x32.view(-1)[3] = float("nan")
    kind = c["kind"]
    x = (x32 if kind in ("max", "adaptive_max") else x32.double()).requires_grad_()
    arrays = {}
    if kind == "max":
        y, idx = MAX[spatial](x, c["kernel"], stride=c.get("stride"), padding=c.get("padding", 0),
                              dilation=c.get("dilation", 1), ceil_mode=c.get("ceil_mode", False), return_indices=True)
        arrays["indices"] = idx
    elif kind == "avg":
        extra = {"divisor_override": c["divisor_override"]} if "divisor_override" in c else {}
        y = AVG[spatial](x, c["kernel"], stride=c.get("stride"), padding=c.get("padding", 0),
                         ceil_mode=c.get("ceil_mode", False), count_include_pad=c.get("count_include_pad", True),
                         **extra)
    elif kind == "adaptive_max":
        y, idx = ADAPTIVE_MAX[spatial](x, c["output_size"], return_indices=True)
        arrays["indices"] = idx
    else:
        y = ADAPTIVE[spatial](x, c["output_size"])
    dy = torch.randn(y.shape, generator=g).to(x.dtype)
    y.backward(dy)
    arrays.update({"x": x32, "dy": dy, "y": y, "dx": x.grad})
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    for key, t in arrays.items():
        a = t.detach().numpy()
        np.save(os.path.join(d, key + ".npy"), a if key == "indices" else a.astype(np.float32))


def main():
    cases = {
        "max1d_ceil_pad": {"kind": "max", "spatial": 1, "input": [2, 3, 10], "kernel": 3, "stride": 2, "padding": 1,
                           "ceil_mode": True},
        "max1d_dilation": {"kind": "max", "spatial": 1, "input": [1, 2, 11], "kernel": 3, "dilation": 2},
        "max2d_tutorial": {"kind": "max", "spatial": 2, "input": [2, 4, 24, 24], "kernel": 2},
        "max2d_overlap_pad": {"kind": "max", "spatial": 2, "input": [2, 3, 9, 7], "kernel": 3, "stride": 2,
                              "padding": 1},
        "max2d_dilation_pad": {"kind": "max", "spatial": 2, "input": [1, 2, 9, 8], "kernel": 3, "stride": 1,
                               "padding": 1, "dilation": 2},
        "max2d_ceil_partial": {"kind": "max", "spatial": 2, "input": [2, 2, 7, 6], "kernel": [3, 2], "stride": [2, 3],
                               "ceil_mode": True},
        "max2d_ties_overlap": {"kind": "max", "spatial": 2, "input": [2, 3, 6, 6], "kernel": 3, "stride": 1,
                               "ties": True},
        "max2d_nan": {"kind": "max", "spatial": 2, "input": [1, 2, 4, 4], "kernel": 2, "nan": True},
        "max2d_unbatched": {"kind": "max", "spatial": 2, "input": [3, 5, 5], "kernel": 2, "ceil_mode": True},
        "max3d_ceil": {"kind": "max", "spatial": 3, "input": [1, 2, 5, 4, 5], "kernel": 2, "ceil_mode": True},
        "max3d_anisotropic": {"kind": "max", "spatial": 3, "input": [2, 2, 3, 7, 7], "kernel": [1, 3, 3],
                              "stride": [1, 2, 2], "padding": [0, 1, 1]},
        "avg2d_tutorial": {"kind": "avg", "spatial": 2, "input": [2, 3, 8, 8], "kernel": 2},
        "avg2d_pad_include": {"kind": "avg", "spatial": 2, "input": [2, 2, 7, 6], "kernel": 3, "stride": 2,
                              "padding": 1},
        "avg2d_pad_exclude": {"kind": "avg", "spatial": 2, "input": [2, 2, 7, 6], "kernel": 3, "stride": 2,
                              "padding": 1, "count_include_pad": False},
        "avg2d_ceil_include": {"kind": "avg", "spatial": 2, "input": [1, 3, 7, 5], "kernel": 3, "stride": 2,
                               "padding": 1, "ceil_mode": True},
        "avg2d_ceil_exclude": {"kind": "avg", "spatial": 2, "input": [1, 3, 7, 5], "kernel": [3, 2], "stride": 2,
                               "padding": [1, 1], "ceil_mode": True, "count_include_pad": False},
        "avg1d_stride": {"kind": "avg", "spatial": 1, "input": [2, 3, 9], "kernel": 4, "stride": 3, "padding": 2},
        "avg3d_basic": {"kind": "avg", "spatial": 3, "input": [1, 2, 4, 5, 6], "kernel": 2, "stride": [1, 2, 2]},
        "adaptive2d_global": {"kind": "adaptive", "spatial": 2, "input": [3, 4, 7, 7], "output_size": [1, 1]},
        "adaptive2d_overlap": {"kind": "adaptive", "spatial": 2, "input": [2, 2, 7, 5], "output_size": [3, 2]},
        "adaptive2d_upsample": {"kind": "adaptive", "spatial": 2, "input": [1, 2, 3, 2], "output_size": [5, 4]},
        "adaptive1d": {"kind": "adaptive", "spatial": 1, "input": [2, 3, 10], "output_size": [4]},
        "adaptive3d": {"kind": "adaptive", "spatial": 3, "input": [1, 2, 5, 4, 3], "output_size": [2, 3, 2]},
        # Appended (the cases above keep their data): divisor_override, with padding and ceil_mode, and negative.
        "avg2d_divisor_override": {"kind": "avg", "spatial": 2, "input": [2, 3, 7, 6], "kernel": 3, "stride": 2,
                                   "padding": 1, "divisor_override": 5},
        "avg2d_divisor_override_negative": {"kind": "avg", "spatial": 2, "input": [1, 2, 5, 5], "kernel": 2,
                                            "divisor_override": -2},
        "avg3d_divisor_override_ceil": {"kind": "avg", "spatial": 3, "input": [1, 2, 5, 4, 5], "kernel": 2,
                                        "stride": 2, "ceil_mode": True, "divisor_override": 3},
        "avg2d_divisor_override_many_channels": {"kind": "avg", "spatial": 2, "input": [2, 20, 6, 6], "kernel": 3,
                                                 "stride": 2, "padding": 1, "divisor_override": 7},
        # Appended: adaptive max pooling (overlapping windows, ties, NaN, windows smaller than the step).
        "adaptive_max2d_ties_overlap": {"kind": "adaptive_max", "spatial": 2, "input": [2, 3, 7, 5],
                                        "output_size": [4, 3], "ties": True},
        "adaptive_max2d_global": {"kind": "adaptive_max", "spatial": 2, "input": [2, 4, 5, 6], "output_size": [1, 1]},
        "adaptive_max2d_upsample": {"kind": "adaptive_max", "spatial": 2, "input": [1, 2, 3, 2],
                                    "output_size": [5, 4]},
        "adaptive_max1d_nan": {"kind": "adaptive_max", "spatial": 1, "input": [2, 3, 10], "output_size": [4],
                               "nan": True},
        "adaptive_max3d": {"kind": "adaptive_max", "spatial": 3, "input": [1, 2, 5, 4, 3], "output_size": [2, 3, 2]},
        "adaptive_max2d_unbatched": {"kind": "adaptive_max", "spatial": 2, "input": [3, 7, 7], "output_size": [2, 3]},
        "adaptive_max2d_many_channels": {"kind": "adaptive_max", "spatial": 2, "input": [2, 20, 6, 6],
                                         "output_size": 4},
        "adaptive_max1d_many_channels": {"kind": "adaptive_max", "spatial": 1, "input": [2, 20, 9], "output_size": 4},
        "adaptive_max3d_many_channels": {"kind": "adaptive_max", "spatial": 3, "input": [1, 17, 3, 4, 5],
                                         "output_size": [2, 3, 3], "ties": True},
    }
    for name, c in cases.items():
        run(name, c)
    with open(os.path.join(OUT, "cases.json"), "w") as f:
        json.dump(cases, f, indent=1)


if __name__ == "__main__":
    main()
