#!/usr/bin/python3
"""Writes golden data for the activations whose gradient needs their input (torch.nn.functional.leaky_relu, elu,
selu, celu, gelu, silu, mish, softplus, hardtanh, relu6, hardswish, hardsigmoid) and their modules' reprs
(tests/test_activation.cpp), computed by PyTorch 1.13 in float64 from float32 inputs: random values, and the points
where the formulas switch (0, +-3, the clamp bounds, softplus's threshold), tiny and large magnitudes, NaN and +-inf.
Run:  /usr/bin/python3 tests/golden/make_golden_activation.py  ->  data_activation/cases.json
"""
import json
import math
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "data_activation")

# Tiny values stop at 1e-7: PyTorch's ELU computes e^x - 1, which cancels to 0 in float64 from |x| ~ 1e-16 on (and
# in float32 loses digits from 1e-3 down); normrt's e^x - 1 keeps them.
SPECIAL = [0.0, -0.0, 1.0, -1.0, 3.0, -3.0, 6.0, -6.0, 2.0, -2.0, 3.5, 10.5, 5.25, 20.0, 20.5, -20.0, 30.0, -30.0,
           100.0, -100.0, 1e-7, -1e-7, 1e-3, -1e-3, 0.5, -0.5, 9.0, -9.0, 15.0, -15.0, 1e30, -1e30]

# (name, function, arguments, module or None). A module is built with the same arguments.
CASES = [
    ("leaky_relu", F.leaky_relu, [0.01], nn.LeakyReLU), ("leaky_relu", F.leaky_relu, [0.2], nn.LeakyReLU),
    ("leaky_relu", F.leaky_relu, [-0.5], nn.LeakyReLU), ("leaky_relu", F.leaky_relu, [1.5], nn.LeakyReLU),
    ("elu", F.elu, [1.0], nn.ELU), ("elu", F.elu, [0.5], nn.ELU), ("elu", F.elu, [2.0], nn.ELU),
    ("selu", F.selu, [], nn.SELU),
    ("celu", F.celu, [1.0], nn.CELU), ("celu", F.celu, [0.3], nn.CELU), ("celu", F.celu, [2.5], nn.CELU),
    ("gelu", lambda x, a: F.gelu(x, approximate=a), ["none"], nn.GELU),
    ("gelu", lambda x, a: F.gelu(x, approximate=a), ["tanh"], nn.GELU),
    ("silu", F.silu, [], nn.SiLU), ("mish", F.mish, [], nn.Mish),
    # Softplus shown as PyTorch shows its int defaults: whole numbers passed as ints.
    ("softplus", F.softplus, [1, 20], nn.Softplus), ("softplus", F.softplus, [2, 10.5], nn.Softplus),
    ("softplus", F.softplus, [0.5, 1], nn.Softplus), ("softplus", F.softplus, [-1, 5], nn.Softplus),
    ("hardtanh", F.hardtanh, [-1.0, 1.0], nn.Hardtanh), ("hardtanh", F.hardtanh, [-2.0, 3.5], nn.Hardtanh),
    ("hardtanh", F.hardtanh, [2.0, 1.0], None),  # min_val > max_val: the functional form clamps to max_val
    ("relu6", F.relu6, [], nn.ReLU6), ("hardswish", F.hardswish, [], nn.Hardswish),
    ("hardsigmoid", F.hardsigmoid, [], nn.Hardsigmoid),
]


def flat(t):
    return t.detach().double().reshape(-1).tolist()


def exact_gelu(x, dy, approximate):
    """GELU and its gradient in forms that keep the lower tail: Phi through erfc, and the tanh form's
    0.5 (1 + tanh u) as sigmoid(2u) (F.gelu's 1 + erf and 1 + tanh cancel to 0 from x = -8.3 on even in float64).
    Checked against F.gelu where that has its digits."""
    if approximate == "none":
        cdf = 0.5 * torch.erfc(-x / math.sqrt(2))
        y, grad = x * cdf, dy * (cdf + x * torch.exp(-0.5 * x * x) / math.sqrt(2 * math.pi))
    else:
        beta, kappa = math.sqrt(2 / math.pi), 0.044715
        s = torch.sigmoid(2 * beta * (x + kappa * x ** 3))
        y, grad = x * s, dy * (s + 2 * x * s * (1 - s) * beta * (1 + 3 * kappa * x * x))
    plain = x.clone().requires_grad_()
    F.gelu(plain, approximate=approximate).backward(dy)
    kept = x > -5
    assert torch.allclose(y[kept], F.gelu(x, approximate=approximate)[kept], rtol=1e-9, atol=0)
    assert torch.allclose(grad[kept], plain.grad[kept], rtol=1e-9, atol=1e-14)
    return y, grad


# PyTorch's CPU kernels treat a few points differently in their vectorised loops and their scalar tails (hardswish's
# gradient at x = 3 is grad_output in one and 1.5 grad_output in the other; at NaN, NaN in one and grad_output in the
# other): every tensor here is a whole number of vectors long (a multiple of 16 elements), so that all of it goes
# through the vectorised loops, which are what a real tensor meets.
def run_case(g, name, fn, args, module, scale=4.0):
    """The case of activation `name` (fn(x, *args)) on SPECIAL and 64 draws of scale N(0, 1)."""
    random = torch.randn(64, generator=g) * scale
    x32 = torch.cat([torch.tensor(SPECIAL), random])
    x = x32.double().requires_grad_()
    y = fn(x, *args)
    dy = torch.randn(x.shape, generator=g)
    y.backward(dy.double())
    if name == "gelu":
        y, grad = exact_gelu(x.detach(), dy.double(), args[0])
        x.grad = grad
    # NaN and the infinities, spelled as strings (JSON has no such numbers), with a gradient of ones.
    special = torch.tensor([float("nan"), float("inf"), -float("inf")] * 16, dtype=torch.float64, requires_grad=True)
    special_y = fn(special, *args)
    special_y.backward(torch.ones(special.shape, dtype=torch.float64))
    return {"function": name, "args": args, "repr": repr(module(*args)) if module else None, "x": flat(x32),
            "dy": flat(dy), "y": flat(y), "dx": flat(x.grad), "special_x": [str(v) for v in flat(special)[:3]],
            "special_y": [str(v) for v in flat(special_y)[:3]],
            "special_dx": [str(v) for v in flat(special.grad)[:3]]}


def main():
    g = torch.Generator().manual_seed(1202)
    cases = {}
    for name, fn, args, module in CASES:
        cases[name + "_" + "_".join(str(a) for a in args)] = run_case(g, name, fn, args, module)
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "cases.json"), "w") as f:
        json.dump(cases, f, separators=(",", ":"), sort_keys=True, allow_nan=False)
        f.write("\n")


if __name__ == "__main__":
    main()
