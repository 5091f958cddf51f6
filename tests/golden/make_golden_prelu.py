#!/usr/bin/python3
"""Writes golden data for PReLU (torch.nn.PReLU / F.prelu; tests/test_activation.cpp): the output, the input
gradient and the weight gradient, computed by PyTorch 1.13 in float64 from float32 inputs (the output and input
gradient, one product each, are then exact in float32), for a shared weight and one per channel, 1-d to 5-d inputs,
zero, negative and special values, and the module's repr.

Run:  /usr/bin/python3 tests/golden/make_golden_prelu.py  ->  data_prelu/cases.json
"""
import json
import math
import os
import zlib

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "data_prelu")


def flat(t):
    return [v if math.isfinite(v) else str(v) for v in t.detach().double().reshape(-1).tolist()]


def main():
    specs = [("shared_images", [2, 3, 4, 5], 1), ("per_channel_images", [2, 3, 4, 5], 3),
             ("per_channel_sequence", [3, 4, 7], 4), ("per_channel_features", [5, 6], 6),
             ("shared_vector", [9], 1), ("per_channel_volumes", [2, 2, 3, 2, 3], 2),
             ("one_channel", [4, 1, 3], 1)]
    cases = {}
    for name, shape, parameters in specs:
        g = torch.Generator().manual_seed(zlib.crc32(name.encode()))
        x = torch.randn(shape, generator=g) * 2
        flat_x = x.view(-1)
        # Zeros everywhere; NaN and infinities in one case only (they make the weight's gradient NaN or infinite).
        specials = [0.0, -0.0, -1e-30]
        if name == "shared_vector":
            specials += [float("nan"), float("inf"), float("-inf")]
        for i, v in enumerate(specials):
            if i < flat_x.numel():
                flat_x[i] = v
        weight = torch.randn(parameters, generator=g) * 0.5
        dy = torch.randn(shape, generator=g)
        m = torch.nn.PReLU(parameters).double()
        with torch.no_grad():
            m.weight.copy_(weight.double())
        xd = x.double().requires_grad_()
        y = m(xd)
        y.backward(dy.double())
        cases[name] = {"shape": shape, "parameters": parameters, "x": flat(x), "weight": flat(weight),
                       "dy": flat(dy), "y": flat(y), "dx": flat(xd.grad), "dweight": flat(m.weight.grad),
                       "repr": repr(torch.nn.PReLU(parameters))}
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "cases.json"), "w") as f:
        json.dump(cases, f, indent=1)


if __name__ == "__main__":
    main()
