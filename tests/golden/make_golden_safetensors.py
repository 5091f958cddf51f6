#!/usr/bin/python3
"""Writes golden data for the safetensors interop test (tests/test_serialize.cpp).

Run with Debian's python3-torch (CPU PyTorch 1.13) and the safetensors package (pip):
  /usr/bin/python3 -m venv --system-site-packages /tmp/st && /tmp/st/bin/pip install safetensors
  /tmp/st/bin/python tests/golden/make_golden_safetensors.py
data_safetensors/:
  mlp_bn.safetensors   state_dict of Linear(8,16,bias=False) -> BatchNorm1d(16) -> ReLU -> Linear(16,4), trained 5
                       SGD steps on shifted data (so the running statistics are far from their initial values),
                       written by safetensors.torch.save_file with metadata {"source": "pytorch"}
  input.npy            a batch of 6 inputs
  eval_output.npy      the model's eval-mode output for it (running statistics), computed by PyTorch
"""
import os

import numpy as np
import torch
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "data_safetensors")


def main():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16, bias=False), torch.nn.BatchNorm1d(16), torch.nn.ReLU(),
                                torch.nn.Linear(16, 4))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(5):
        x = torch.randn(32, 8) * 2.0 + 1.0
        loss = model(x).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    x = torch.randn(6, 8) * 2.0 + 1.0
    with torch.no_grad():
        y = model(x)
    os.makedirs(OUT, exist_ok=True)
    save_file(model.state_dict(), os.path.join(OUT, "mlp_bn.safetensors"), metadata={"source": "pytorch"})
    np.save(os.path.join(OUT, "input.npy"), x.numpy().astype(np.float32))
    np.save(os.path.join(OUT, "eval_output.npy"), y.numpy().astype(np.float32))


if __name__ == "__main__":
    main()
