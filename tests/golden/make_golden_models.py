#!/usr/bin/python3
"""Writes golden data for normrt-train's models (tests/test_app.cpp).

Run with Debian's python3-torch (CPU PyTorch 1.13):  /usr/bin/python3 tests/golden/make_golden_models.py
The models are benchmarks/train_pytorch.py's (the PyTorch twins of normrt-train's). data_models/ holds:
- models.json: for each model, its state_dict as [key, shape] pairs in PyTorch's order;
- cnn_bn_steps/: three SGD steps (lr 0.05, momentum 0.9, weight decay 1e-4) of cnn-bn in train mode with its
  Dropout in eval mode (PyTorch's random mask cannot be reproduced), on one fixed batch of 16 images, computed in
  float64. The initial parameters follow formula_init() (the C++ test computes the same values, so they are not
  stored); x.npy, labels.npy, losses.npy (the loss before each step) and final.<key>.npy (the state after the
  steps, rounded to float32) are stored, except for the 9216x128 weight, stored as its product with probes() (a 9216x16 matrix both
  sides compute): 0.6 MB instead of 9.4 MB, and a wrong element still changes the product;
- resnet_steps/: the same three steps of resnet (no dropout in it) on its own batch of 16 images, the same files.
"""
import json
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "benchmarks"))
from train_pytorch import model_for  # noqa: E402

OUT = os.path.join(HERE, "data_models")


def formula_init(model):
    """Deterministic initial parameters: sin patterns at PyTorch's init scale; buffers at their defaults."""
    with torch.no_grad():
        for p, (key, t) in enumerate(model.state_dict().items()):
            if key.endswith(("running_mean", "running_var", "num_batches_tracked")):
                continue
            i = torch.arange(t.numel(), dtype=torch.float64)
            wave = torch.sin(0.61 * i + 1.3 * p + 0.2)
            if t.dim() >= 2:
                values = wave / np.sqrt(t.numel() / t.shape[0])
            elif key.endswith("weight"):  # BatchNorm's scale
                values = 1.0 + 0.1 * wave
            else:
                values = 0.1 * wave
            t.copy_(values.reshape(t.shape).to(t.dtype))


def probes(rows):
    i = torch.arange(rows, dtype=torch.float64).reshape(-1, 1)
    j = torch.arange(16, dtype=torch.float64).reshape(1, -1)
    return torch.sin(0.37 * i * (j + 1) + j)


def main():
    os.makedirs(OUT, exist_ok=True)
    shapes = {}
    for kind in ["mlp", "mlp-bn", "cnn", "cnn-bn", "resnet"]:
        torch.manual_seed(0)
        shapes[kind] = [[k, list(v.shape)] for k, v in model_for(kind).state_dict().items()]
    with open(os.path.join(OUT, "models.json"), "w") as f:
        json.dump(shapes, f, indent=1)

    three_steps("cnn-bn", os.path.join(OUT, "cnn_bn_steps"), seed=1, dropout_index=8)
    three_steps("resnet", os.path.join(OUT, "resnet_steps"), seed=2, dropout_index=None)


def run_steps(kind, dtype, seed, dropout_index):
    """Three SGD steps of `kind` in train mode (its Dropout, if any, in eval mode) in `dtype`."""
    torch.manual_seed(seed)
    model = model_for(kind).to(dtype)
    formula_init(model)
    x = torch.rand(16, 784)
    labels = torch.randint(0, 10, (16,))
    model.train()
    if dropout_index is not None:
        model[dropout_index].eval()  # PyTorch's random mask cannot be reproduced
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)
    losses = []
    for _ in range(3):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x.to(dtype)), labels)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return model, x, labels, losses


def three_steps(kind, d, seed, dropout_index):
    """The float64 steps written to d; prints how far PyTorch's own float32 run of them lands (the scale of the
    rounding the steps amplify, which the C++ test's tolerance must allow)."""
    os.makedirs(d, exist_ok=True)
    model, x, labels, losses = run_steps(kind, torch.float64, seed, dropout_index)
    single = run_steps(kind, torch.float32, seed, dropout_index)[0].state_dict()
    worst = max(((single[k].double() - v).abs().max() / v.abs().max()).item()
                 for k, v in model.state_dict().items() if v.is_floating_point() and v.abs().max() > 0)
    print(f"{kind}: PyTorch's float32 steps differ from the float64 ones by up to {worst:.1e} of a tensor's scale")
    np.save(os.path.join(d, "x.npy"), x.numpy())
    np.save(os.path.join(d, "labels.npy"), labels.numpy())
    np.save(os.path.join(d, "losses.npy"), np.array(losses, dtype=np.float32))
    for key, value in model.state_dict().items():
        if value.numel() > 100000:
            np.save(os.path.join(d, "projected." + key + ".npy"), (value @ probes(value.shape[1])).numpy().astype(np.float32))
        else:
            np.save(os.path.join(d, "final." + key + ".npy"), value.numpy() if value.dtype == torch.int64
                    else value.numpy().astype(np.float32))


if __name__ == "__main__":
    main()
