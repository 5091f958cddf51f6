#!/usr/bin/python3
"""Writes golden data for the network building blocks (tests/test_nn_golden.cpp).

Run with Debian's python3-torch (CPU PyTorch 1.13):  /usr/bin/python3 tests/golden/make_golden_nn.py
Cases (data_nn/<case>/*.npy, described by data_nn/cases.json):
  linear, linear_nobias      y = x W^T + b and its gradients for a random upstream gradient
  log_softmax, softmax       forward and backward over dim 1
  cross_entropy_{mean,sum,smooth}, mse_{mean,sum}   loss value and d loss / d input
  optim_<name>               5 steps of an optimizer over two parameters with given gradients (options as given,
                             the rest PyTorch's defaults)
  mlp_bn                     Linear(20,16,bias=False) -> BatchNorm1d(16) -> ReLU -> Linear(16,5), cross-entropy,
                             SGD(lr=0.1, momentum=0.9), 5 steps: the loss of every step
"""
import json
import os

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "data_nn")


def save(case, name, t):
    d = os.path.join(OUT, case)
    os.makedirs(d, exist_ok=True)
    a = t.detach().cpu().numpy()
    np.save(os.path.join(d, name + ".npy"), a if a.dtype == np.int64 else a.astype(np.float32))


def optimizer_case(name, cls, kwargs, steps=5):
    case = "optim_" + name
    params = [torch.randn(3, 4, requires_grad=True), torch.randn(4, requires_grad=True)]
    for i, p in enumerate(params):
        save(case, f"param{i}_init", p)
    opt = cls(params, **kwargs)
    for step in range(steps):
        for i, p in enumerate(params):
            p.grad = torch.randn_like(p)
            save(case, f"grad{i}_step{step}", p.grad)
        opt.step()
        for i, p in enumerate(params):
            save(case, f"param{i}_step{step}", p)
    entry = {"name": case, "kind": "optimizer", "optimizer": name,
             "options": {k: (list(v) if isinstance(v, tuple) else v) for k, v in kwargs.items()}}
    if steps != 5:
        entry["steps"] = steps
    return entry


def main():
    torch.manual_seed(1125)
    manifest = []

    for case, bias in [("linear", True), ("linear_nobias", False)]:
        lin = torch.nn.Linear(7, 4, bias=bias)
        x = torch.randn(5, 7, requires_grad=True)
        dy = torch.randn(5, 4)
        y = lin(x)
        y.backward(dy)
        for n, t in [("x", x), ("weight", lin.weight), ("dy", dy), ("y", y), ("dx", x.grad), ("dweight", lin.weight.grad)]:
            save(case, n, t)
        if bias:
            save(case, "bias", lin.bias)
            save(case, "dbias", lin.bias.grad)
        manifest.append({"name": case, "kind": "linear", "bias": bias})

    for case, fn in [("log_softmax", torch.log_softmax), ("softmax", torch.softmax)]:
        x = torch.randn(3, 5, requires_grad=True) * 3
        x.retain_grad()
        dy = torch.randn(3, 5)
        y = fn(x, 1)
        y.backward(dy)
        for n, t in [("x", x), ("dy", dy), ("y", y), ("dx", x.grad)]:
            save(case, n, t)
        manifest.append({"name": case, "kind": case})

    for case, reduction, smoothing in [("cross_entropy_mean", "mean", 0.0), ("cross_entropy_sum", "sum", 0.0),
                                       ("cross_entropy_smooth", "mean", 0.1)]:
        x = (torch.randn(6, 5) * 2).requires_grad_(True)
        t = torch.randint(0, 5, (6,))
        loss = torch.nn.functional.cross_entropy(x, t, reduction=reduction, label_smoothing=smoothing)
        loss.backward()
        for n, v in [("x", x), ("target", t), ("loss", loss.reshape(1)), ("dx", x.grad)]:
            save(case, n, v)
        manifest.append({"name": case, "kind": "cross_entropy", "reduction": reduction, "label_smoothing": smoothing})

    for case, reduction in [("mse_mean", "mean"), ("mse_sum", "sum")]:
        x = torch.randn(4, 3, requires_grad=True)
        t = torch.randn(4, 3)
        loss = torch.nn.functional.mse_loss(x, t, reduction=reduction)
        loss.backward()
        for n, v in [("x", x), ("target", t), ("loss", loss.reshape(1)), ("dx", x.grad)]:
            save(case, n, v)
        manifest.append({"name": case, "kind": "mse", "reduction": reduction})

    optimizers = {
        "sgd": (torch.optim.SGD, {"lr": 0.1}),
        "sgd_momentum": (torch.optim.SGD, {"lr": 0.1, "momentum": 0.9, "dampening": 0.1, "weight_decay": 0.01}),
        "sgd_nesterov": (torch.optim.SGD, {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.001}),
        "adam": (torch.optim.Adam, {"lr": 1e-2}),
        "adam_wd": (torch.optim.Adam, {"lr": 1e-2, "weight_decay": 0.1, "betas": (0.8, 0.99), "eps": 1e-6}),
        "adamw": (torch.optim.AdamW, {"lr": 1e-2, "weight_decay": 0.1}),
        "adadelta": (torch.optim.Adadelta, {"lr": 1.0, "rho": 0.9, "eps": 1e-6, "weight_decay": 0.01}),
    }
    for name, (cls, kwargs) in optimizers.items():
        manifest.append(optimizer_case(name, cls, kwargs))

    case = "mlp_bn"
    model = torch.nn.Sequential(torch.nn.Linear(20, 16, bias=False), torch.nn.BatchNorm1d(16), torch.nn.ReLU(),
                                torch.nn.Linear(16, 5))
    for key, value in model.state_dict().items():
        save(case, "init_" + key, value.reshape(1) if value.dim() == 0 else value)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    losses = []
    for step in range(5):
        x = torch.randn(8, 20) * 1.5 + 0.3
        t = torch.randint(0, 5, (8,))
        save(case, f"x{step}", x)
        save(case, f"target{step}", t)
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), t)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    save(case, "losses", torch.tensor(losses))
    for key, value in model.state_dict().items():
        save(case, "final_" + key, value.reshape(1) if value.dim() == 0 else value)
    manifest.append({"name": case, "kind": "mlp_bn", "steps": 5, "keys": list(model.state_dict().keys())})

    # AdamW with its default weight decay (1e-2), which Adam's options do not share. Added later: its own seed.
    torch.manual_seed(1126)
    manifest.append(optimizer_case("adamw_default_decay", torch.optim.AdamW, {"lr": 1e-2, "betas": (0.5, 0.9)}))
    torch.manual_seed(1127)  # AMSGrad, added later
    manifest.append(optimizer_case("adam_amsgrad", torch.optim.Adam,
                                   {"lr": 3e-2, "betas": (0.8, 0.95), "weight_decay": 0.1, "amsgrad": True}))
    manifest.append(optimizer_case("adamw_amsgrad", torch.optim.AdamW, {"lr": 2e-2, "amsgrad": True}))
    torch.manual_seed(1128)  # RMSprop and Adagrad, added later
    manifest.append(optimizer_case("rmsprop", torch.optim.RMSprop, {"lr": 1e-2}))
    manifest.append(optimizer_case("rmsprop_momentum", torch.optim.RMSprop,
                                   {"lr": 1e-2, "alpha": 0.9, "momentum": 0.9, "weight_decay": 0.1}))
    manifest.append(optimizer_case("rmsprop_centered", torch.optim.RMSprop,
                                   {"lr": 2e-2, "alpha": 0.8, "eps": 1e-3, "centered": True}))
    manifest.append(optimizer_case("rmsprop_centered_momentum", torch.optim.RMSprop,
                                   {"lr": 1e-2, "momentum": 0.5, "centered": True, "weight_decay": 0.05}))
    manifest.append(optimizer_case("adagrad", torch.optim.Adagrad, {"lr": 0.1}))
    manifest.append(optimizer_case("adagrad_decay", torch.optim.Adagrad,
                                   {"lr": 0.2, "lr_decay": 0.3, "weight_decay": 0.1, "initial_accumulator_value": 0.5,
                                    "eps": 1e-3}))
    torch.manual_seed(1129)  # Adamax and RAdam, added later; RAdam's rectified steps start at step 6 with beta2 0.9
    manifest.append(optimizer_case("adamax", torch.optim.Adamax, {"lr": 0.05}))
    manifest.append(optimizer_case("adamax_wd", torch.optim.Adamax,
                                   {"lr": 0.02, "betas": (0.8, 0.99), "eps": 1e-3, "weight_decay": 0.1}))
    manifest.append(optimizer_case("radam", torch.optim.RAdam, {"lr": 0.01}))
    manifest.append(optimizer_case("radam_rectified", torch.optim.RAdam,
                                   {"lr": 0.05, "betas": (0.8, 0.9), "eps": 1e-6, "weight_decay": 0.05}, steps=12))

    with open(os.path.join(OUT, "cases.json"), "w") as f:
        json.dump({"generator": "tests/golden/make_golden_nn.py", "torch": torch.__version__, "cases": manifest}, f,
                  indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
