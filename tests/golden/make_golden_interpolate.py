#!/usr/bin/python3
"""Writes golden data for torch.nn.functional.interpolate (nearest, nearest-exact, linear, bilinear, trilinear, area,
bicubic, with and without align_corners, by size and by scale factor (recompute_scale_factor too), up and down) and
the Upsample modules' reprs (tests/test_interpolate.cpp), computed by PyTorch in float32: its source positions are
float arithmetic (a float64 run would move them), which normrt repeats.
Run:  /usr/bin/python3 tests/golden/make_golden_interpolate.py  ->  data_interpolate/cases.json
"""
import json
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "data_interpolate")

# (shape, mode, size, scale_factor, align_corners, module: None, "Upsample", "UpsamplingNearest2d" or
# "UpsamplingBilinear2d"[, recompute_scale_factor])
CASES = [
    ([2, 3, 5], "nearest", 7, None, None, None), ([2, 3, 5], "nearest", None, 2.0, None, None),
    ([1, 2, 9], "nearest", None, 0.5, None, None), ([1, 2, 7], "nearest", 3, None, None, None),
    ([1, 2, 4, 5], "nearest", [7, 3], None, None, None), ([2, 1, 4, 5], "nearest", None, 2.0, None, "Upsample"),
    ([1, 2, 6, 5], "nearest", None, [1.5, 0.7], None, None), ([1, 1, 3, 4, 2], "nearest", None, 2.0, None, None),
    ([1, 2, 3, 4, 2], "nearest", [2, 5, 3], None, None, None),
    ([1, 2, 5, 4], "nearest-exact", [8, 3], None, None, None), ([1, 2, 5, 4], "nearest-exact", None, 1.7, None, None),
    ([1, 1, 6], "nearest-exact", 13, None, None, "Upsample"),
    ([2, 2, 6], "linear", 11, None, False, None), ([2, 2, 6], "linear", 11, None, True, None),
    ([1, 3, 10], "linear", None, 0.6, False, None),
    ([2, 3, 5, 4], "bilinear", [9, 7], None, False, "Upsample"), ([2, 3, 5, 4], "bilinear", [9, 7], None, True, None),
    ([1, 2, 4, 4], "bilinear", None, 2.0, False, None), ([1, 2, 8, 6], "bilinear", None, [0.5, 1.3], False, None),
    ([1, 2, 4, 3], "bilinear", [1, 5], None, True, None),
    ([1, 2, 5, 5], "bilinear", None, [2.0, 1.5], True, "Upsample"),
    ([1, 2, 3, 4, 3], "trilinear", [5, 6, 4], None, False, None),
    ([1, 2, 3, 4, 3], "trilinear", [5, 6, 4], None, True, None), ([1, 1, 2, 3, 4], "trilinear", None, 1.5, False, None),
    ([1, 2, 3, 3], "nearest", None, 2.0, None, "UpsamplingNearest2d"),
    ([1, 2, 3, 4], "bilinear", 5, None, True, "UpsamplingBilinear2d"),
    # Added later (drawn after the cases above): area, PyTorch's adaptive average pooling.
    ([2, 3, 10], "area", 4, None, None, None), ([1, 2, 7, 9], "area", [3, 5], None, None, "Upsample"),
    ([1, 2, 6, 5], "area", None, 0.5, None, None), ([1, 2, 4, 5, 6], "area", [2, 3, 7], None, None, None),
    # Added later: bicubic, up and down, align_corners both ways, an axis of one input (every tap clamped to it) and
    # one output.
    ([2, 3, 5, 4], "bicubic", [9, 7], None, False, "Upsample"), ([2, 3, 5, 4], "bicubic", [9, 7], None, True, None),
    ([1, 2, 4, 4], "bicubic", None, 2.0, False, None), ([1, 2, 8, 6], "bicubic", None, [0.5, 1.3], False, None),
    ([1, 2, 1, 3], "bicubic", [3, 5], None, False, None), ([1, 2, 3, 2], "bicubic", [7, 1], None, True, None),
    ([1, 1, 6, 7], "bicubic", None, [1.7, 2.9], False, None),
    # Added later: recompute_scale_factor=True, the positions from the output size (a seventh element).
    ([1, 2, 5], "linear", None, 1.7, False, None, True), ([1, 2, 7, 5], "nearest", None, [0.7, 1.3], None, None, True),
    ([1, 2, 5, 4], "bicubic", None, 1.9, False, "Upsample", True),
    ([1, 1, 3, 4, 5], "trilinear", None, [1.5, 0.6, 2.3], True, None, True),
    ([2, 2, 9], "nearest-exact", None, 0.45, None, None, True),
]


def flat(t):
    return t.detach().double().reshape(-1).tolist()


def module_of(kind, size, scale, mode, align_corners, recompute=False):
    size = tuple(size) if isinstance(size, list) else size
    scale = tuple(scale) if isinstance(scale, list) else scale
    if kind == "UpsamplingNearest2d":
        return nn.UpsamplingNearest2d(size=size, scale_factor=scale)
    if kind == "UpsamplingBilinear2d":
        return nn.UpsamplingBilinear2d(size=size, scale_factor=scale)
    return nn.Upsample(size=size, scale_factor=scale, mode=mode, align_corners=align_corners,
                       recompute_scale_factor=True if recompute else None)


def main():
    g = torch.Generator().manual_seed(1203)
    cases = {}
    for shape, mode, size, scale, align_corners, module, *rest in CASES:
        recompute = bool(rest and rest[0])
        x32 = torch.randn(shape, generator=g)
        args = dict(size=tuple(size) if isinstance(size, list) else size,
                    scale_factor=tuple(scale) if isinstance(scale, list) else scale, mode=mode)
        if align_corners is not None:
            args["align_corners"] = align_corners
        if recompute:
            args["recompute_scale_factor"] = True
        y = F.interpolate(x32, **args)
        x = x32.clone().requires_grad_()
        F.interpolate(x, **args).backward(dy := torch.randn(y.shape, generator=g))
        name = f"{mode}_{'x'.join(map(str, shape))}_" + (f"size{size}" if size is not None else f"scale{scale}") + \
            ("" if align_corners is None else f"_align{int(align_corners)}") + ("_recompute" if recompute else "")
        cases[name] = {"shape": shape, "mode": mode, "size": size, "scale_factor": scale,
                       "align_corners": align_corners, "x": flat(x32), "dy": flat(dy), "y_shape": list(y.shape),
                       "y": flat(y), "dx": flat(x.grad), "module": module,
                       "repr": repr(module_of(module, size, scale, mode, align_corners, recompute)) if module else None}
        if recompute:
            cases[name]["recompute_scale_factor"] = True
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "cases.json"), "w") as f:
        json.dump(cases, f, indent=1, allow_nan=False)
        f.write("\n")


if __name__ == "__main__":
    main()
