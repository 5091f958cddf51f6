#!/usr/bin/python3
"""Writes golden data for weight averaging (tests/test_swa_utils.cpp): torch.optim.swa_utils in PyTorch 1.13.

Run with Debian's python3-torch (CPU PyTorch 1.13):  /usr/bin/python3 tests/golden/make_golden_swa.py
A Sequential(Linear(6, 5), BatchNorm1d(5), ReLU(), Linear(5, 3)) takes four training steps (a forward in training
mode, then new parameter values); after each, an AveragedModel (the running mean) and an exponential moving average
(decay 0.9, use_buffers=True, torchvision's) fold it in. Then update_bn recomputes the running mean's BatchNorm
statistics over three batches (momentum 0.3 on the module beforehand, restored after). data_swa/ holds float32 .npy
files "<stage>.<state key>" (0-dim tensors as 1-element arrays) for the stages init, step<k>, swa<k>, ema<k>,
bn_batch<k> and swa_bn, and cases.json the keys and the stage counts.
"""
import json
import os

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "data_swa")


def save(stage, state):
    for key, value in state.items():
        array = value.detach().reshape(-1 if value.dim() == 0 else value.shape).numpy()
        np.save(os.path.join(OUT, f"{stage}.{key}.npy"), array if array.dtype == np.int64 else array.astype(np.float32))


def main():
    torch.manual_seed(1130)
    os.makedirs(OUT, exist_ok=True)
    model = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.BatchNorm1d(5), torch.nn.ReLU(),
                                torch.nn.Linear(5, 3))
    save("init", model.state_dict())
    swa = torch.optim.swa_utils.AveragedModel(model)
    ema = torch.optim.swa_utils.AveragedModel(model, avg_fn=lambda a, m, n: 0.9 * a + (1 - 0.9) * m,
                                              use_buffers=True)
    steps = 4
    with torch.no_grad():
        for k in range(steps):
            model.train()
            model(torch.randn(8, 6) * 2 + 1)
            for p in model.parameters():
                p.copy_(torch.randn_like(p))
            save(f"step{k}", model.state_dict())
            swa.update_parameters(model)
            ema.update_parameters(model)
            save(f"swa{k}", swa.state_dict())
            save(f"ema{k}", ema.state_dict())
    batches = [torch.randn(4 + k, 6) * 3 + 5 for k in range(3)]
    for k, b in enumerate(batches):
        np.save(os.path.join(OUT, f"bn_batch{k}.npy"), b.numpy().astype(np.float32))
    swa.module[1].momentum = 0.3
    swa.eval()
    torch.optim.swa_utils.update_bn(batches, swa)
    assert swa.module[1].momentum == 0.3 and not swa.training
    save("swa_bn", swa.state_dict())
    with open(os.path.join(OUT, "cases.json"), "w") as f:
        json.dump({"generator": "tests/golden/make_golden_swa.py", "torch": torch.__version__, "steps": steps,
                   "bn_batches": len(batches), "model_keys": list(model.state_dict().keys()),
                   "averaged_keys": list(swa.state_dict().keys())}, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
