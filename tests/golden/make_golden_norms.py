#!/usr/bin/python3
"""Writes golden data for LayerNorm, GroupNorm, their functional ops and InstanceNorm1d/2d/3d (tests/test_norms.cpp).

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


def run_instance(name, c):
    # Training forward and backward on x; with tracked statistics a second training forward (x2) and an eval forward
    # and backward (x3, dy3) too, the weight's gradient of the eval backward alone. A case with "eval" runs the first
    # pass in eval mode.
    g = torch.Generator().manual_seed(zlib.crc32(name.encode()))
    cls = {1: torch.nn.InstanceNorm1d, 2: torch.nn.InstanceNorm2d, 3: torch.nn.InstanceNorm3d}[c["spatial_dims"]]
    m = cls(c["features"], eps=c["eps"], momentum=c["momentum"], affine=c["affine"],
            track_running_stats=c["track"]).double()
    scale, shift = c.get("scale", 1.0), c.get("shift", 0.0)
    draw = lambda: (torch.randn(c["shape"], generator=g) * scale + shift).double()
    if c["affine"]:
        with torch.no_grad():
            m.weight.copy_((torch.rand(m.weight.shape, generator=g) + 0.5).double())
            m.bias.copy_(torch.randn(m.bias.shape, generator=g).double())
    if c.get("running"):
        with torch.no_grad():
            m.running_mean.copy_(torch.randn(c["features"], generator=g).double())
            m.running_var.copy_((torch.rand(c["features"], generator=g) + 0.5).double())
    arrays = {}
    if c["affine"]:
        arrays.update({"weight": m.weight.detach().clone(), "bias": m.bias.detach().clone()})
    if c["track"]:
        arrays.update({"running_mean_start": m.running_mean.clone(), "running_var_start": m.running_var.clone()})
    m.train(not c.get("eval", False))
    x = draw().requires_grad_()
    y = m(x)
    dy = torch.randn(y.shape, generator=g).double()
    y.backward(dy)
    arrays.update({"x": x, "dy": dy, "y": y, "dx": x.grad})
    if c["affine"]:
        arrays.update({"dweight": m.weight.grad.clone(), "dbias": m.bias.grad.clone()})
    if c["track"]:
        x2 = draw()
        m(x2)
        arrays.update({"x2": x2, "running_mean": m.running_mean, "running_var": m.running_var})
        m.eval()
        m.zero_grad()
        x3 = draw().requires_grad_()
        y3 = m(x3)
        dy3 = torch.randn(y3.shape, generator=g).double()
        y3.backward(dy3)
        arrays.update({"x3": x3, "dy3": dy3, "y_eval": y3, "dx_eval": x3.grad})
        if c["affine"]:
            arrays.update({"dweight_eval": m.weight.grad, "dbias_eval": m.bias.grad})
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    for key, t in arrays.items():
        np.save(os.path.join(d, key + ".npy"), t.detach().numpy().astype(np.float32))


def run_functional(name, c):
    # F.layer_norm / F.group_norm with the weight and bias each present or not, in float64 from float32 inputs, with
    # aten's statistics (native_layer_norm / native_group_norm's mean and rstd). The parameter gradients are those of
    # a weight of ones and a bias of zeros where the case has none (the op's parameter_gradients).
    g = torch.Generator().manual_seed(zlib.crc32(name.encode()))
    x = (torch.randn(c["shape"], generator=g) * c.get("scale", 1.0) + c.get("shift", 0.0)).double()
    shape = c["normalized_shape"] if c["kind"] == "layer_fn" else [c["shape"][1]]
    weight = (torch.rand(shape, generator=g) + 0.5).double() if c["weight"] else None
    bias = torch.randn(shape, generator=g).double() if c["bias"] else None
    w = (weight if weight is not None else torch.ones(shape, dtype=torch.float64)).requires_grad_()
    b = (bias if bias is not None else torch.zeros(shape, dtype=torch.float64)).requires_grad_()
    x.requires_grad_()
    if c["kind"] == "layer_fn":
        y = torch.nn.functional.layer_norm(x, shape, w, b, c["eps"])
        _, mean, rstd = torch.ops.aten.native_layer_norm(x.detach(), shape, weight, bias, c["eps"])
    else:
        y = torch.nn.functional.group_norm(x, c["groups"], w, b, c["eps"])
        n, ch = c["shape"][0], c["shape"][1]
        hw = int(np.prod(c["shape"][2:])) if len(c["shape"]) > 2 else 1
        _, mean, rstd = torch.ops.aten.native_group_norm(x.detach(), weight, bias, n, ch, hw, c["groups"], c["eps"])
    dy = torch.randn(y.shape, generator=g).double()
    y.backward(dy)
    arrays = {"x": x, "dy": dy, "y": y, "dx": x.grad, "mean": mean, "rstd": rstd, "dweight": w.grad, "dbias": b.grad}
    if weight is not None:
        arrays["weight"] = weight
    if bias is not None:
        arrays["bias"] = bias
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    for key, t in arrays.items():
        np.save(os.path.join(d, key + ".npy"), t.detach().numpy().astype(np.float32))


def run_case(name, c):
    """Writes case `name` of any kind (the kinds of main's cases)."""
    if c["kind"] == "instance":
        return run_instance(name, c)
    if c["kind"] in ("layer_fn", "group_fn"):
        return run_functional(name, c)
    if c["kind"] == "layer":
        m = torch.nn.LayerNorm(c["normalized_shape"], eps=c["eps"], elementwise_affine=c["affine"])
    else:
        m = torch.nn.GroupNorm(c["groups"], c["shape"][1], eps=c["eps"], affine=c["affine"])
    run(name, m, c["shape"], c.get("scale", 1.0), c.get("shift", 0.0))


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
        # Appended after the LayerNorm / GroupNorm cases (whose data stay as they were).
        "instancenorm2d_affine_tracked": {"kind": "instance", "spatial_dims": 2, "shape": [3, 4, 5, 6], "features": 4,
                                          "affine": True, "track": True, "momentum": 0.1, "eps": 1e-5,
                                          "running": True},
        "instancenorm1d_plain": {"kind": "instance", "spatial_dims": 1, "shape": [4, 3, 7], "features": 3,
                                 "affine": False, "track": False, "momentum": 0.1, "eps": 1e-5},
        "instancenorm1d_unbatched_affine": {"kind": "instance", "spatial_dims": 1, "shape": [3, 9], "features": 3,
                                            "affine": True, "track": False, "momentum": 0.1, "eps": 1e-5},
        "instancenorm3d_far_mean_tracked": {"kind": "instance", "spatial_dims": 3, "shape": [2, 3, 3, 4, 5],
                                            "features": 3, "affine": False, "track": True, "momentum": 0.3,
                                            "eps": 1e-3, "scale": 0.01, "shift": -20.0},
        "instancenorm2d_one_channel_unbatched_tracked": {"kind": "instance", "spatial_dims": 2, "shape": [1, 7, 5],
                                                         "features": 1, "affine": True, "track": True,
                                                         "momentum": 0.5, "eps": 1e-5},
        "instancenorm2d_eval_untracked": {"kind": "instance", "spatial_dims": 2, "shape": [2, 3, 4, 4],
                                          "features": 3, "affine": True, "track": False, "momentum": 0.1,
                                          "eps": 1e-5, "eval": True},
        "instancenorm2d_two_elements_tracked": {"kind": "instance", "spatial_dims": 2, "shape": [5, 2, 1, 2],
                                                "features": 2, "affine": True, "track": True, "momentum": 0.1,
                                                "eps": 1e-5, "running": True},
        # Appended: the functional ops (ops/norms.h) with weight or bias alone, rows long enough for several warps,
        # more rows than one chunk of the parameter sums, GroupNorm of (N, C) input.
        "layer_fn_weight_only_long_rows": {"kind": "layer_fn", "shape": [3, 2100], "normalized_shape": [2100],
                                           "weight": True, "bias": False, "eps": 1e-5, "scale": 2.0, "shift": 100.0},
        "layer_fn_bias_only_many_rows": {"kind": "layer_fn", "shape": [300, 2, 5], "normalized_shape": [5],
                                         "weight": False, "bias": True, "eps": 1e-5},
        "layer_fn_plain_two_dims": {"kind": "layer_fn", "shape": [2, 3, 300], "normalized_shape": [3, 300],
                                    "weight": False, "bias": False, "eps": 1e-3},
        "group_fn_weight_only": {"kind": "group_fn", "shape": [4, 6, 17], "groups": 3, "weight": True,
                                 "bias": False, "eps": 1e-5},
        "group_fn_channels_only": {"kind": "group_fn", "shape": [5, 6], "groups": 2, "weight": True, "bias": True,
                                   "eps": 1e-5, "shift": -30.0},
        "group_fn_bias_only_images": {"kind": "group_fn", "shape": [2, 8, 20, 20], "groups": 4, "weight": False,
                                      "bias": True, "eps": 1e-5},
    }
    for name, c in cases.items():
        run_case(name, c)
    with open(os.path.join(OUT, "cases.json"), "w") as f:
        json.dump(cases, f, indent=1)


if __name__ == "__main__":
    main()
