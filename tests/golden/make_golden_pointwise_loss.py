#!/usr/bin/python3
"""Writes golden data for the elementwise losses mse_loss, l1_loss, smooth_l1_loss, huber_loss, binary_cross_entropy
and kl_div (tests/test_pointwise_loss.cpp), computed by PyTorch 1.13 in float32 as its CPU kernels compute them:
normrt's per-element arithmetic is PyTorch's, so the per-element losses and gradients are expected to the last bit or
two (the logarithm's), the reductions to float32 rounding.

Run:  /usr/bin/python3 tests/golden/make_golden_pointwise_loss.py  ->  data_pointwise_loss/cases.json and, per case,
x, t (and weight), loss and grad (d loss / d x; for reduction "none" the gradient of the losses' sum) as .npy files.
The regression losses run on whole multiples of 32 elements: PyTorch's vectorised loops compute all but a tensor's
last few elements, its scalar tails round some gradients differently (huber_loss's clamped gradient in double), and
normrt follows the vectorised loops. Inputs include the switch points (x - t exactly 0, +-beta, +-delta), NaN and
infinities, probabilities of exactly 0 and 1 (clamped logarithms, the 1e-12 gradient floor) and values a rounding
away from them. kl_div's inputs are log-probabilities (log_softmax rows) against probabilities (or log-probabilities)
with exact zeros, and one case of special values (t = 0, NaN, negative, +inf; x = -inf).
"""
import json
import os
import zlib

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "data_pointwise_loss")


def regression_pair(g, shape, parameter):
    x = torch.randn(shape, generator=g) * 2
    t = torch.randn(shape, generator=g) * 2
    flat_x, flat_t = x.view(-1), t.view(-1)
    # The switch points: equal, exactly one parameter apart either way, and a special value or two.
    specials = [(1.5, 1.5), (0.25 + parameter, 0.25), (0.25 - parameter, 0.25), (-3.0, -3.0 + parameter)]
    if flat_x.numel() >= 16:
        specials += [(float("nan"), 0.0), (float("inf"), 1.0), (-2.0, float("-inf"))]
    for i, (a, b) in enumerate(specials[:flat_x.numel()]):
        flat_x[i], flat_t[i] = a, b
    return x, t


def probabilities(g, shape):
    x = torch.rand(shape, generator=g)
    t = torch.rand(shape, generator=g)
    flat_x, flat_t = x.view(-1), t.view(-1)
    specials = [(0.0, 0.0), (1.0, 1.0), (0.0, 1.0), (1.0, 0.0), (1e-8, 0.0), (1 - 2 ** -24, 1.0), (0.5, 0.5),
                (1e-30, 0.3), (2 ** -24, 1.0)]
    for i, (a, b) in enumerate(specials[:flat_x.numel()]):
        flat_x[i], flat_t[i] = a, b
    # Hard targets on part of the rest, as in classification.
    flat_t[len(specials)::3] = torch.round(flat_t[len(specials)::3])
    return x, t


def distributions(g, shape, log_target, specials):
    if not shape:  # a 0-dim pair
        t = torch.rand((), generator=g)
        return -2 * torch.rand((), generator=g), torch.log(t) if log_target else t
    rows = torch.randn(shape, generator=g).reshape(-1, shape[-1] if shape else 1) * 2
    x = torch.log_softmax(torch.randn(rows.shape, generator=g) * 2, dim=1).reshape(shape)
    t = torch.softmax(rows, dim=1).reshape(shape)
    flat_x, flat_t = x.view(-1), t.view(-1)
    if flat_t.numel() >= 8:
        flat_t[1::5] = 0.0  # exact zeros: xlogy's 0
    if log_target:
        t = torch.log(t)  # -inf where 0
        flat_t = t.view(-1)
    if specials:
        values = [(-1.0, 0.0), (float("-inf"), 0.0), (-2.0, float("nan")), (-0.5, -0.5), (-1.0, float("inf")),
                  (-3.0, 100.0), (float("-inf"), 0.5), (0.0, 1e-30)]
        for i, (a, b) in enumerate(values[:flat_x.numel()]):
            flat_x[i], flat_t[i] = a, b
    return x, t


def run(name, case):
    g = torch.Generator().manual_seed(zlib.crc32(name.encode()))
    op, shape, reduction = case["op"], case["shape"], case["reduction"]
    arrays = {}
    if op == "kl_div":
        log_target = case.get("log_target", False)
        x, t = distributions(g, shape, log_target, case.get("specials", False))
        f = lambda a: F.kl_div(a, t, reduction=reduction, log_target=log_target)
    elif op == "binary_cross_entropy":
        x, t = probabilities(g, shape)
        kwargs = {}
        if "weight_shape" in case:
            w = torch.rand(case["weight_shape"], generator=g) * 2
            kwargs["weight"] = w
            arrays["weight"] = w
        f = lambda a: F.binary_cross_entropy(a, t, reduction=reduction, **kwargs)
    else:
        parameter = case.get("parameter", 1.0)
        x, t = regression_pair(g, shape, parameter)
        if op == "mse_loss":
            f = lambda a: F.mse_loss(a, t, reduction=reduction)
        elif op == "l1_loss":
            f = lambda a: F.l1_loss(a, t, reduction=reduction)
        elif op == "smooth_l1_loss":
            f = lambda a: F.smooth_l1_loss(a, t, reduction=reduction, beta=parameter)
        else:
            f = lambda a: F.huber_loss(a, t, reduction=reduction, delta=parameter)
    xg = x.clone().requires_grad_()
    loss = f(xg)
    (loss if reduction != "none" else loss.sum()).backward()
    arrays.update({"x": x, "t": t, "loss": loss.detach(), "grad": xg.grad})
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    for key, v in arrays.items():
        np.save(os.path.join(d, key + ".npy"), v.detach().numpy().astype(np.float32))


def main():
    cases = {}
    for reduction in ["mean", "sum", "none"]:
        cases[f"l1_{reduction}"] = {"op": "l1_loss", "shape": [4, 8], "reduction": reduction}
        cases[f"smooth_l1_{reduction}"] = {"op": "smooth_l1_loss", "shape": [4, 3, 8], "reduction": reduction,
                                           "parameter": 1.0}
        cases[f"huber_{reduction}"] = {"op": "huber_loss", "shape": [64], "reduction": reduction, "parameter": 1.0}
        cases[f"bce_{reduction}"] = {"op": "binary_cross_entropy", "shape": [6, 7], "reduction": reduction}
    cases["smooth_l1_beta_0.25"] = {"op": "smooth_l1_loss", "shape": [2, 16], "reduction": "mean",
                                    "parameter": 0.25}
    cases["smooth_l1_beta_0"] = {"op": "smooth_l1_loss", "shape": [32], "reduction": "sum", "parameter": 0.0}
    cases["huber_delta_3"] = {"op": "huber_loss", "shape": [3, 2, 16], "reduction": "none", "parameter": 3.0}
    cases["huber_delta_0.1"] = {"op": "huber_loss", "shape": [64], "reduction": "mean", "parameter": 0.1}
    cases["bce_weight_per_column"] = {"op": "binary_cross_entropy", "shape": [5, 4], "reduction": "mean",
                                      "weight_shape": [4]}
    cases["bce_weight_full"] = {"op": "binary_cross_entropy", "shape": [3, 2, 4], "reduction": "none",
                                "weight_shape": [3, 2, 4]}
    cases["bce_weight_column_vector_sum"] = {"op": "binary_cross_entropy", "shape": [4, 3], "reduction": "sum",
                                             "weight_shape": [4, 1]}
    cases["bce_one_element"] = {"op": "binary_cross_entropy", "shape": [1], "reduction": "mean"}
    # Appended (the cases above keep their data).
    for reduction in ["mean", "sum", "none"]:
        cases[f"mse_{reduction}"] = {"op": "mse_loss", "shape": [2, 3, 16], "reduction": reduction}
    for reduction in ["mean", "sum", "none", "batchmean"]:
        cases[f"kl_div_{reduction}"] = {"op": "kl_div", "shape": [4, 8], "reduction": reduction}
        cases[f"kl_div_log_target_{reduction}"] = {"op": "kl_div", "shape": [3, 5, 7], "reduction": reduction,
                                                   "log_target": True}
    cases["kl_div_specials"] = {"op": "kl_div", "shape": [16], "reduction": "none", "specials": True}
    cases["kl_div_log_target_specials"] = {"op": "kl_div", "shape": [16], "reduction": "none", "specials": True,
                                           "log_target": True}
    cases["kl_div_batchmean_0d"] = {"op": "kl_div", "shape": [], "reduction": "batchmean"}
    # A beta that is not a power of two (PyTorch's vectorised gradient norm * ((x - t) / beta) rounds differently
    # from (norm * (x - t)) / beta) and a weight below 1 broadcast from one element. Appended later.
    cases["smooth_l1_beta_3_mean"] = {"op": "smooth_l1_loss", "shape": [3, 32], "reduction": "mean", "parameter": 3.0}
    cases["bce_weight_broadcast_none"] = {"op": "binary_cross_entropy", "shape": [3, 2, 32], "reduction": "none",
                                          "weight_shape": [1, 1]}
    for name, case in cases.items():
        run(name, case)
    with open(os.path.join(OUT, "cases.json"), "w") as f:
        json.dump(cases, f, indent=1)


if __name__ == "__main__":
    main()
