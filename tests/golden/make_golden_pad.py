#!/usr/bin/python3
"""Writes golden data for torch.nn.functional.pad (constant, reflect, replicate, circular; negative pads crop),
nn.Conv*d with padding_mode and the padding layers (tests/test_pad.cpp), computed by PyTorch 1.13 in float64 from
float32 inputs.
Run:  /usr/bin/python3 tests/golden/make_golden_pad.py  ->  data_pad/cases.json
"""
import json
import os

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "data_pad")


def flat(t):
    return t.detach().double().reshape(-1).tolist()


def pad_case(g, shape, pad, mode, value):
    """F.pad of an input 2 N(0, 1) + 1 of `shape`, and its gradient for a random dy."""
    x32 = torch.randn(shape, generator=g) * 2 + 1
    x = x32.double().requires_grad_()
    y = F.pad(x, pad, mode=mode, value=value) if mode == "constant" else F.pad(x, pad, mode=mode)
    dy = torch.randn(y.shape, generator=g)
    y.backward(dy.double())
    return {"kind": "pad", "shape": shape, "pad": pad, "mode": mode, "value": value or 0.0, "x": flat(x32),
            "dy": flat(dy), "y_shape": list(y.shape), "y": flat(y), "dx": flat(x.grad)}


def main():
    g = torch.Generator().manual_seed(17)
    cases = {}
    for shape, pad, mode, value in [
            ([1, 2, 3], [1, 2], "constant", 0.5), ([2, 3, 4], [-1, 2, 1, 0], "constant", 0.0),
            ([1, 1, 2, 2, 3], [1, 1, 1, 1, 1, 1, 1, 1, 1, 1], "constant", -2.0), ([4], [3, 0], "constant", 0.0),
            ([2, 3, 5], [2, 4], "reflect", None), ([3, 5], [2, 2], "reflect", None),
            ([1, 2, 4, 5], [3, 1, 2, 3], "reflect", None), ([1, 2, 3, 4, 5], [1, 2, 2, 1, 0, 2], "reflect", None),
            ([1, 2, 6], [-1, 2], "reflect", None),
            ([2, 3, 4], [3, 5], "replicate", None), ([1, 2, 3, 1], [0, 2, 4, 1], "replicate", None),
            ([1, 1, 2, 3, 2], [2, 2, 1, 0, 3, 3], "replicate", None), ([1, 1, 1], [2, 3], "replicate", None),
            ([1, 2, 5], [5, 2], "circular", None), ([1, 2, 3, 4], [4, 1, 3, 2], "circular", None),
            ([1, 1, 2, 3, 4], [1, 1, 2, 1, 2, 2], "circular", None), ([2, 1, 7], [-2, 3], "circular", None)]:
        name = f"{mode}_{'x'.join(map(str, shape))}_pad{'_'.join(map(str, pad))}"
        cases[name] = pad_case(g, shape, pad, mode, value)
    # Convolutions with padding_mode: PyTorch pads with F.pad, then convolves unpadded.
    for dims, shape, kernel, padding, mode, stride in [
            (1, [2, 3, 9], 3, 2, "reflect", 1), (2, [1, 2, 6, 5], 3, 1, "replicate", 2),
            (2, [2, 2, 5, 7], (3, 2), (1, 2), "circular", 1), (2, [1, 3, 6, 6], 4, "same", "reflect", 1),
            (3, [1, 2, 3, 4, 5], 3, 1, "replicate", 1), (2, [1, 2, 5, 5], 3, 1, "zeros", 1)]:
        conv = [None, torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Conv3d][dims](
            shape[1], 4, kernel, stride=stride, padding=padding, padding_mode=mode).double()
        with torch.no_grad():
            for p in conv.parameters():
                p.copy_((torch.rand(p.shape, generator=g) * 2 - 1).double())
        x32 = torch.randn(shape, generator=g)
        x = x32.double().requires_grad_()
        y = conv(x)
        dy = torch.randn(y.shape, generator=g)
        y.backward(dy.double())
        spelled = "_".join(map(str, padding)) if isinstance(padding, tuple) else str(padding)
        name = f"conv{dims}d_{mode}_{'x'.join(map(str, shape))}_padding{spelled}"
        cases[name] = {"kind": "conv", "dims": dims, "shape": shape,
                       "kernel": list(kernel) if isinstance(kernel, tuple) else kernel,
                       "padding": list(padding) if isinstance(padding, tuple) else padding, "mode": mode,
                       "stride": stride, "out_channels": 4, "weight": flat(conv.weight), "bias": flat(conv.bias),
                       "x": flat(x32), "dy": flat(dy), "y_shape": list(y.shape), "y": flat(y), "dx": flat(x.grad),
                       "dweight": flat(conv.weight.grad), "dbias": flat(conv.bias.grad), "repr": repr(conv)}
    # The padding layers (added later: drawn after the cases above).
    for layer, padding, value, shape in [
            ("ReflectionPad1d", [1, 2], None, [2, 3, 5]), ("ReflectionPad2d", 2, None, [1, 2, 4, 5]),
            ("ReflectionPad3d", 1, None, [2, 3, 3, 3]), ("ReplicationPad1d", 3, None, [4, 2]),
            ("ReplicationPad2d", [1, 2, 0, 1], None, [2, 3, 4]), ("ReplicationPad3d", 1, None, [1, 1, 2, 3, 2]),
            ("ConstantPad1d", 2, 3.5, [2, 3]), ("ConstantPad2d", [1, 0, 2, 3], -1.0, [2, 3, 4]),
            ("ConstantPad3d", 1, 2.0, [1, 2, 2, 2]), ("ZeroPad2d", 1, None, [1, 1, 2, 2])]:
        module = getattr(torch.nn, layer)(tuple(padding) if isinstance(padding, list) else padding,
                                          *([value] if value is not None else []))
        x32 = torch.randn(shape, generator=g)
        x = x32.double().requires_grad_()
        y = module(x)
        dy = torch.randn(y.shape, generator=g)
        y.backward(dy.double())
        cases[f"layer_{layer}_{'x'.join(map(str, shape))}"] = {
            "kind": "layer", "layer": layer, "padding": padding, "value": value or 0.0, "shape": shape,
            "mode": "constant", "x": flat(x32), "dy": flat(dy), "y_shape": list(y.shape), "y": flat(y),
            "dx": flat(x.grad), "repr": repr(module)}
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "cases.json"), "w") as f:
        json.dump(cases, f, indent=1, allow_nan=False)


if __name__ == "__main__":
    main()
