#!/usr/bin/python3
"""Writes golden data for mixed-precision training under autocast (tests/test_autocast.cpp replays it through
nn modules under amp::AutocastGuard on every device it has).

Run with Debian's python3-torch (CPU PyTorch 1.13):  /usr/bin/python3 tests/golden/make_golden_autocast.py
Each case trains a small BatchNorm network for three SGD steps (lr 0.1, momentum 0.9) inside
torch.autocast("cpu", dtype=torch.bfloat16): Linear and Conv2d compute in bfloat16, BatchNorm takes their bfloat16
output with its float32 parameters and running statistics, cross_entropy runs in float32, parameters and their
gradients stay float32. PyTorch 1.13's CPU autocast takes bfloat16 only, so float16 has no CPU golden here.
Recorded, as float32 arrays (bfloat16 values are exact in float32): the initial state, each step's input, targets,
logits (bfloat16 in PyTorch) and loss, the gradients of the first step, and the final state.
"""
import json
import os

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "data_autocast")
STEPS = 3


def mlp_bn():
    return torch.nn.Sequential(torch.nn.Linear(20, 16), torch.nn.BatchNorm1d(16), torch.nn.ReLU(),
                               torch.nn.Linear(16, 5))


def cnn_bn():
    return torch.nn.Sequential(torch.nn.Conv2d(2, 4, 3, padding=1), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
                               torch.nn.MaxPool2d(2), torch.nn.Flatten(), torch.nn.Linear(4 * 3 * 3, 3))


CASES = [
    dict(name="mlp_bn_bf16", build=mlp_bn, input=(12, 20), classes=5, mean=2.0),
    dict(name="cnn_bn_bf16", build=cnn_bn, input=(6, 2, 6, 6), classes=3, mean=-1.0),
]


def save(folder, name, tensor):
    np.save(os.path.join(folder, name + ".npy"), tensor.detach().to(torch.float32).numpy())


def make(case, seed):
    torch.manual_seed(seed)
    folder = os.path.join(OUT, case["name"])
    os.makedirs(folder, exist_ok=True)
    net = case["build"]()
    keys = list(net.state_dict().keys())
    for key, value in net.state_dict().items():
        save(folder, "init_" + key, value)
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    losses = []
    for step in range(STEPS):
        x = torch.randn(*case["input"]) * 1.5 + case["mean"]
        target = torch.randint(0, case["classes"], (case["input"][0],))
        opt.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            logits = net(x)
            loss = torch.nn.functional.cross_entropy(logits, target)
        assert logits.dtype == torch.bfloat16 and loss.dtype == torch.float32
        loss.backward()
        save(folder, "x%d" % step, x)
        np.save(os.path.join(folder, "target%d.npy" % step), target.numpy())
        save(folder, "logits%d" % step, logits)
        losses.append(loss.item())
        if step == 0:
            for key, p in net.named_parameters():
                assert p.grad.dtype == torch.float32
                save(folder, "grad0_" + key, p.grad)
        opt.step()
    np.save(os.path.join(folder, "losses.npy"), np.array(losses, dtype=np.float32))
    for key, value in net.state_dict().items():
        save(folder, "final_" + key, value)
    return {"name": case["name"], "keys": keys, "steps": STEPS}


def main():
    manifest = {"torch": torch.__version__, "cases": [make(c, 100 + i) for i, c in enumerate(CASES)]}
    with open(os.path.join(OUT, "cases.json"), "w") as f:
        json.dump(manifest, f, indent=1)


if __name__ == "__main__":
    main()
