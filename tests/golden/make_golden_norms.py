#!/usr/bin/python3
"""Writes golden data for LayerNorm and GroupNorm (tests/test_norms.cpp).

Run with Debian's python3-torch (CPU PyTorch 1.13):  /usr/bin/python3 tests/golden/make_golden_norms.py
data_norms/cases.json lists the cases and their parameters; data_norms/<case>/ holds x, dy, and PyTorch's y, dx
(and weight, bias, dweight, dbias when affine) as float32 .npy files, computed by PyTorch in float64 from the
float32 inputs. Inputs include a mean far from zero and a
layer of one element (which normalises to 0).
"""
import json
import os
import zlib

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "data_norms")


def run(name, module, shape, scale=1.0, shift=0.0):
    # Float32 inputs and parameters, computed in float64: the reference is exact for the values normrt receives
    # (PyTorch's own float32 GroupNorm loses ~1e-4 relative on the far-from-zero case, and its one-element
    # LayerNorm gives ~1e-6 where the exact gradient is 0).
    g = torch.Generator().manual_seed(zlib.crc32(name.encode()))
    x32 = torch.randn(shape, generator=g) * scale + shift
    x = x32.double().requires_grad_()
    module.double()
    if getattr(module, "weight", None) is not None:
        with torch.no_grad():
            module.weight.copy_((torch.rand(module.weight.shape, generator=g) + 0.5).double())
            module.bias.copy_(torch.randn(module.bias.shape, generator=g).double())
    y = module(x)
    dy = torch.randn(y.shape, generator=g).double()
    y.backward(dy)
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    arrays = {"x": x, "dy": dy, "y": y, "dx": x.grad}
    if getattr(module, "weight", None) is not None:
        arrays.update({"weight": module.weight, "bias": module.bias, "dweight": module.weight.grad,
                       "dbias": module.bias.grad})
    for key, t in arrays.items():
        np.save(os.path.join(d, key + ".npy"), t.detach().numpy().astype(np.float32))


def main():
    cases = {
        "layernorm_rows": {"kind": "layer", "shape": [5, 8], "normalized_shape": [8], "affine": True, "eps": 1e-5},
        "layernorm_two_dims_far_mean": {"kind": "layer", "shape": [2, 3, 4, 6], "normalized_shape": [4, 6],
                                        "affine": True, "eps": 1e-5, "scale": 3.0, "shift": 50.0},
        "layernorm_no_affine": {"kind": "layer", "shape": [3, 7], "normalized_shape": [7], "affine": False,
                                "eps": 1e-3},
        "layernorm_one_element": {"kind": "layer", "shape": [4, 1], "normalized_shape": [1], "affine": True,
                                  "eps": 1e-5},
        "groupnorm_images": {"kind": "group", "shape": [2, 6, 5, 5], "groups": 3, "affine": True, "eps": 1e-5},
        "groupnorm_sequence": {"kind": "group", "shape": [3, 4, 7], "groups": 2, "affine": True, "eps": 1e-5,
                               "scale": 0.01, "shift": -20.0},
        "groupnorm_instance": {"kind": "group", "shape": [2, 4, 3, 3], "groups": 4, "affine": True, "eps": 1e-5},
        "groupnorm_one_group_no_affine": {"kind": "group", "shape": [2, 3, 2, 2], "groups": 1, "affine": False,
                                          "eps": 1e-5},
    }
    for name, c in cases.items():
        if c["kind"] == "layer":
            m = torch.nn.LayerNorm(c["normalized_shape"], eps=c["eps"], elementwise_affine=c["affine"])
        else:
            m = torch.nn.GroupNorm(c["groups"], c["shape"][1], eps=c["eps"], affine=c["affine"])
        run(name, m, c["shape"], c.get("scale", 1.0), c.get("shift", 0.0))
    with open(os.path.join(OUT, "cases.json"), "w") as f:
        json.dump(cases, f, indent=1)


if __name__ == "__main__":
    main()
