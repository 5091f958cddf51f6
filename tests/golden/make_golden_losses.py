#!/usr/bin/python3
"""Writes golden data for softmax over any dimension, cross-entropy with class probabilities or ignore_index (with
and without label smoothing and class weights, and the default ignore_index), nll_loss (for (N, C), (C) and
(N, C, d1, ..., dK) inputs), binary_cross_entropy_with_logits and mse_loss, reduced or not
(tests/test_losses_golden.cpp), computed by PyTorch 1.13 in float64 from float32 inputs.
Run:  /usr/bin/python3 tests/golden/make_golden_losses.py  ->  data_losses/cases.json
"""
import json
import math
import os

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "data_losses")


def flat(t):
    return t.detach().double().reshape(-1).tolist()


def softmax_case(g, shape, dim, log, offset=0.0):
    """(log_)softmax over dim of inputs 3 N(0, 1) + offset, and its gradient for a random dy."""
    x32 = torch.randn(shape, generator=g) * 3 + offset
    x = x32.double().requires_grad_()
    y = F.log_softmax(x, dim) if log else F.softmax(x, dim)
    dy = torch.randn(shape, generator=g).double()
    y.backward(dy)
    return {"kind": "softmax", "shape": shape, "dim": dim, "log": log, "x": flat(x32), "dy": flat(dy), "y": flat(y),
            "dx": flat(x.grad)}


def add_case(cases, g, kind, shape, reduction, ignore, smoothing, weighted, layout, first_ignored):
    """A loss of any input shape: class indices (every third from first_ignored set to ignore_index), class
    probabilities, or elementwise targets (bce, mse); the class weight, label smoothing and the input's memory
    format as asked."""
    x32 = torch.randn(shape, generator=g) * 2
    classes = shape[1] if len(shape) > 1 else shape[0]
    if kind == "nll":
        x32 = torch.log_softmax(x32, 1)
    w = torch.rand(classes, generator=g) * 2 + 0.1
    x = x32.double()
    if layout is not None:
        x = x.contiguous(memory_format=layout)
    x.requires_grad_()
    options = {"reduction": reduction}
    if smoothing:
        options["label_smoothing"] = smoothing
    if weighted:
        options["weight"] = w.double()
    case = {"kind": kind, "shape": shape, "reduction": reduction, "x": flat(x32)}
    if kind in ("bce", "mse"):
        t = torch.rand(shape, generator=g)
        f = F.binary_cross_entropy_with_logits if kind == "bce" else F.mse_loss
        loss = f(x, t.double(), reduction=reduction)
        case.update(t=flat(t))
    elif kind == "ce_probs":
        p = torch.softmax(torch.randn(shape, generator=g), 1 if len(shape) > 1 else 0).float()
        loss = F.cross_entropy(x, p.double(), **options)
        case.update(p=flat(p), smoothing=smoothing)
    else:
        t_shape = [shape[0]] + shape[2:] if len(shape) > 1 else []
        t = torch.randint(0, classes, t_shape, generator=g)
        if t.dim() > 0:
            t.view(-1)[first_ignored::3] = ignore
        f = F.nll_loss if kind == "nll" else F.cross_entropy
        loss = f(x, t, ignore_index=ignore, **options)
        case.update(t=t.reshape(-1).tolist(), t_shape=t_shape, ignore_index=ignore, smoothing=smoothing)
    if weighted:
        case["weight"] = flat(w)
    if layout is not None:
        case["channels_last"] = True
    if reduction == "none":
        loss.sum().backward()
        case.update(loss=flat(loss), loss_shape=list(loss.shape), dx=flat(x.grad))
    else:
        loss.backward()
        case.update(loss=None if math.isnan(float(loss)) else float(loss), dx=flat(x.grad))
    name = f"{kind}_{'x'.join(map(str, shape))}_{reduction}" + (f"_ignore{ignore}" if ignore is not None else "") \
        + (f"_smoothing{smoothing}" if smoothing else "") + ("_weight" if weighted else "") + \
        ("_channels_last" if layout is not None else "")
    cases[name] = case


def main():
    g = torch.Generator().manual_seed(5)
    cases = {}
    for shape, dim, log in [([2, 3, 4], 0, False), ([2, 3, 4], 1, True), ([2, 3, 4, 5], 2, False),
                            ([2, 3, 4, 5], -1, True), ([3, 7], 0, True)]:
        cases[f"softmax_{len(shape)}d_dim{dim}{'_log' if log else ''}"] = softmax_case(g, shape, dim, log)
    for reduction, smoothing in [("mean", 0.0), ("sum", 0.0), ("mean", 0.2)]:
        x32 = torch.randn(5, 4, generator=g) * 2
        p = torch.softmax(torch.randn(5, 4, generator=g), 1).float()
        x = x32.double().requires_grad_()
        loss = F.cross_entropy(x, p.double(), reduction=reduction, label_smoothing=smoothing)
        loss.backward()
        cases[f"ce_probs_{reduction}_{smoothing}"] = {
            "kind": "ce_probs", "shape": [5, 4], "reduction": reduction, "smoothing": smoothing, "x": flat(x32),
            "p": flat(p), "loss": float(loss), "dx": flat(x.grad)}
    for reduction in ["mean", "sum"]:
        x32 = torch.cat([torch.randn(10, generator=g) * 4, torch.tensor([60.0, -60.0, 0.0])])
        t = torch.rand(13, generator=g)
        x = x32.double().requires_grad_()
        loss = F.binary_cross_entropy_with_logits(x, t.double(), reduction=reduction)
        loss.backward()
        cases[f"bce_logits_{reduction}"] = {"kind": "bce", "shape": [13], "reduction": reduction, "x": flat(x32),
                                            "t": flat(t), "loss": float(loss), "dx": flat(x.grad)}
    for kind, reduction, ignore, smoothing in [
            ("nll", "mean", -100, 0.0), ("nll", "sum", 2, 0.0), ("ce_ignore", "mean", 1, 0.0),
            ("ce_ignore", "mean", -7, 0.0), ("ce_ignore", "mean", 3, 0.2), ("ce_ignore", "sum", 1, 0.3),
            ("ce_ignore", "mean", -7, 0.1), ("ce_ignore", "mean", 2, 1.0)]:
        x32 = torch.randn(6, 4, generator=g) * 2
        if kind == "nll":
            x32 = torch.log_softmax(x32, 1)
        t = torch.tensor([0, 3, 1, 2, 1, 3]) if ignore != -100 else torch.tensor([0, -100, 1, 2, -100, 3])
        if ignore == -7:
            t = torch.tensor([-7, -7, -7, -7, -7, -7])  # every row ignored: loss NaN, gradient 0
        x = x32.double().requires_grad_()
        f = F.nll_loss if kind == "nll" else F.cross_entropy
        smoothed = {"label_smoothing": smoothing} if smoothing else {}
        loss = f(x, t, reduction=reduction, ignore_index=ignore, **smoothed)
        loss.backward()
        case = {"kind": kind, "shape": [6, 4], "reduction": reduction, "ignore_index": ignore, "x": flat(x32),
                "t": t.tolist(), "loss": None if math.isnan(float(loss)) else float(loss), "dx": flat(x.grad)}
        if smoothing:
            case["smoothing"] = smoothing
        cases[f"{kind}_{reduction}_ignore{ignore}" + (f"_smoothing{smoothing}" if smoothing else "")] = case
    # Class weights (nn.CrossEntropyLoss(weight=...), nn.NLLLoss(weight=...)), with and without ignore_index and
    # label smoothing; class-probability targets too. Added later: drawn after the cases above.
    for kind, reduction, ignore, smoothing in [
            ("nll", "mean", -100, 0.0), ("nll", "sum", 2, 0.0), ("nll", "mean", 1, 0.0),
            ("ce_ignore", "mean", -100, 0.0), ("ce_ignore", "sum", 3, 0.0), ("ce_ignore", "mean", 1, 0.25),
            ("ce_ignore", "mean", -7, 0.1), ("ce_probs", "mean", None, 0.0), ("ce_probs", "sum", None, 0.3)]:
        x32 = torch.randn(6, 4, generator=g) * 2
        if kind == "nll":
            x32 = torch.log_softmax(x32, 1)
        w = torch.rand(4, generator=g) * 2 + 0.1
        x = x32.double().requires_grad_()
        name = f"{kind}_{reduction}_weight" + (f"_ignore{ignore}" if ignore is not None else "") + \
            (f"_smoothing{smoothing}" if smoothing else "")
        case = {"kind": kind, "shape": [6, 4], "reduction": reduction, "weight": flat(w), "x": flat(x32)}
        if kind == "ce_probs":
            p = torch.softmax(torch.randn(6, 4, generator=g), 1).float()
            loss = F.cross_entropy(x, p.double(), weight=w.double(), reduction=reduction, label_smoothing=smoothing)
            case.update(p=flat(p), smoothing=smoothing)
        else:
            t = torch.tensor([0, 3, 1, 2, 1, 3]) if ignore != -7 else torch.full((6,), -7)  # -7: every row ignored
            f = F.nll_loss if kind == "nll" else F.cross_entropy
            smoothed = {"label_smoothing": smoothing} if smoothing else {}
            loss = f(x, t, weight=w.double(), reduction=reduction, ignore_index=ignore, **smoothed)
            case.update(t=t.tolist(), ignore_index=ignore)
            if smoothing:
                case["smoothing"] = smoothing
        loss.backward()
        case.update(loss=None if math.isnan(float(loss)) else float(loss), dx=flat(x.grad))
        cases[name] = case
    # F.cross_entropy's default ignore_index (-100), not passed: rows targeting -100 count for nothing. Added later.
    for reduction, smoothing, all_ignored in [("mean", 0.0, False), ("sum", 0.0, False), ("mean", 0.15, False),
                                              ("sum", 0.4, False), ("mean", 0.0, True), ("sum", 0.2, True)]:
        x32 = torch.randn(9, 5, generator=g) * 3 + 4
        t = torch.randint(0, 5, (9,), generator=g)
        t[torch.tensor([1, 4, 5, 8])] = -100
        if all_ignored:
            t = torch.full((9,), -100)
        x = x32.double().requires_grad_()
        loss = F.cross_entropy(x, t, reduction=reduction, label_smoothing=smoothing)
        loss.backward()
        cases[f"ce_default_{reduction}_smoothing{smoothing}" + ("_all_ignored" if all_ignored else "")] = {
            "kind": "ce_default", "shape": [9, 5], "reduction": reduction, "smoothing": smoothing, "x": flat(x32),
            "t": t.tolist(), "loss": None if math.isnan(float(loss)) else float(loss), "dx": flat(x.grad)}
    # The other input shapes: (N, C, d1, ..., dK) with targets (N, d1, ..., dK) or class probabilities of the input's
    # shape, channels-last inputs, and an unbatched (C) input with a 0-dim target. Added later.
    for kind, shape, reduction, ignore, smoothing, weighted, layout in [
            ("ce_ignore", [3, 4, 5], "mean", -100, 0.0, False, None),
            ("ce_ignore", [2, 3, 4, 5], "mean", 1, 0.1, True, None),
            ("ce_ignore", [2, 3, 4, 5], "sum", -100, 0.0, False, torch.channels_last),
            ("ce_ignore", [2, 3, 2, 3, 2], "mean", -100, 0.2, False, None),
            ("ce_ignore", [2, 3, 2, 3, 2], "mean", 0, 0.0, True, torch.channels_last_3d),
            ("ce_ignore", [5], "mean", -100, 0.0, False, None),
            ("ce_ignore", [5], "sum", -100, 0.3, True, None),
            ("ce_probs", [2, 3, 4, 5], "mean", None, 0.1, False, None),
            ("ce_probs", [2, 3, 4, 5], "sum", None, 0.0, True, torch.channels_last),
            ("ce_probs", [5], "mean", None, 0.2, False, None),
            ("nll", [2, 3, 4, 5], "mean", 2, 0.0, True, None),
            ("nll", [3, 4, 5], "sum", -100, 0.0, False, None)]:
        add_case(cases, g, kind, shape, reduction, ignore, smoothing, weighted, layout, first_ignored=0)
    # reduction="none": each sample's (position's, element's) loss; the gradient of their sum. Also mse_loss. Added
    # later.
    for kind, shape, ignore, smoothing, weighted, layout in [
            ("ce_ignore", [6, 4], 2, 0.0, False, None), ("ce_ignore", [6, 4], 1, 0.2, True, None),
            ("ce_ignore", [2, 3, 5], -100, 0.1, False, None),
            ("ce_ignore", [2, 3, 4, 5], -100, 0.0, True, torch.channels_last),
            ("ce_ignore", [5], -100, 0.0, False, None),
            ("ce_probs", [5, 4], None, 0.2, False, None), ("ce_probs", [2, 3, 4], None, 0.0, True, None),
            ("nll", [6, 4], 3, 0.0, True, None), ("nll", [2, 4, 3], -100, 0.0, False, None),
            ("bce", [3, 5], None, 0.0, False, None), ("mse", [4, 3], None, 0.0, False, None)]:
        add_case(cases, g, kind, shape, "none", ignore, smoothing, weighted, layout, first_ignored=1)
    # One class with label smoothing: the loss and the gradient are exactly 0. Added later.
    for kind, shape, reduction, ignore, smoothing, weighted in [
            ("ce_ignore", [3, 1], "sum", -100, 0.2, False), ("ce_ignore", [2, 1, 3], "none", -100, 0.1, False),
            ("ce_ignore", [4, 1], "mean", -100, 0.3, True), ("ce_probs", [3, 1], "mean", None, 0.1, False)]:
        add_case(cases, g, kind, shape, reduction, ignore, smoothing, weighted, None, first_ignored=5)
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "cases.json"), "w") as f:
        json.dump(cases, f, indent=1, allow_nan=False)  # NaN losses are written as null


if __name__ == "__main__":
    main()
