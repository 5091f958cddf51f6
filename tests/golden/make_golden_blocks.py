#!/usr/bin/python3
"""Writes golden data for the branching blocks (tests/test_blocks.cpp): torchvision.ops.SqueezeExcitation and
StochasticDepth (torchvision 0.14), and Concat, whose PyTorch form is a module returning torch.cat of its branches.

Run with Debian's python3-torch and python3-torchvision (CPU PyTorch 1.13):
    /usr/bin/python3 tests/golden/make_golden_blocks.py
Each case runs one forward (in training or eval mode, as cases.json says) and a backward of a random upstream
gradient. data_blocks/ holds float32 .npy files "<case>.<what>": init.<key> (the state before), x, y, dy, dx,
grad.<parameter> and after.<key> (the state after the forward: BatchNorm running statistics), with cases.json
listing each case's mode and keys. The C++ test builds the same modules (tests/blocks_golden_runner.h).
"""
import json
import os

import numpy as np
import torch
from torch import nn
from torchvision.ops import SqueezeExcitation, StochasticDepth

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "data_blocks")


class Concat(nn.Module):
    """Lua Torch's nn.Concat: every branch takes the input; the outputs are joined along dim."""

    def __init__(self, branches, dim=1):
        super().__init__()
        for i, b in enumerate(branches):
            self.add_module(str(i), b)
        self.dim = dim

    def extra_repr(self):
        return f"dim={self.dim}"

    def forward(self, x):
        return torch.cat([b(x) for b in self.children()], self.dim)


def cases():
    return {
        "se_relu_sigmoid": (SqueezeExcitation(16, 4), (2, 16, 5, 7), True),
        # MobileNetV3's: squeeze to the next multiple of 8 of C / 4, hard sigmoid.
        "se_hardsigmoid": (SqueezeExcitation(24, 8, scale_activation=nn.Hardsigmoid), (3, 24, 4, 4), True),
        # EfficientNet's activation, an unbatched input, a spatial size of one.
        "se_silu_unbatched": (SqueezeExcitation(6, 2, activation=nn.SiLU), (6, 1, 1), True),
        # An Inception block: a 1x1, a 1x1 -> 3x3 and a pool -> 1x1 branch.
        "concat_inception": (Concat([nn.Conv2d(4, 3, 1),
                                     nn.Sequential(nn.Conv2d(4, 2, 1), nn.ReLU(), nn.Conv2d(2, 3, 3, padding=1)),
                                     nn.Sequential(nn.MaxPool2d(3, 1, 1), nn.Conv2d(4, 2, 1))]), (2, 4, 6, 5), True),
        # A DenseNet layer: the input beside BN -> ReLU -> conv of it, BatchNorm in training.
        "concat_dense": (Concat([nn.Identity(), nn.Sequential(nn.BatchNorm2d(4), nn.ReLU(),
                                                              nn.Conv2d(4, 3, 3, padding=1, bias=False))]),
                         (3, 4, 5, 5), True),
        "concat_last_dim": (Concat([nn.Linear(5, 3), nn.Linear(5, 2), nn.Identity()], dim=-1), (4, 5), True),
        # StochasticDepth where it is deterministic: eval, p = 0 and p = 1 in training.
        "stochastic_depth_eval": (StochasticDepth(0.3, "row"), (4, 3, 2), False),
        "stochastic_depth_p0": (StochasticDepth(0.0, "batch"), (4, 3, 2), True),
        "stochastic_depth_p1": (StochasticDepth(1.0, "row"), (4, 3, 2), True),
    }


def save(name, tensor):
    array = tensor.detach().reshape(-1 if tensor.dim() == 0 else tensor.shape).numpy()
    np.save(os.path.join(OUT, name + ".npy"), array if array.dtype == np.int64 else array.astype(np.float32))


def main():
    torch.manual_seed(1204)
    os.makedirs(OUT, exist_ok=True)
    spec = {"generator": "tests/golden/make_golden_blocks.py", "torch": torch.__version__, "cases": {}}
    for name, (module, shape, training) in cases().items():
        module.train(training)
        state = module.state_dict()
        for key, value in state.items():
            save(f"{name}.init.{key}", value)
        x = (torch.randn(*shape) * 2 + 0.5).requires_grad_()
        y = module(x)
        dy = torch.randn_like(y)
        y.backward(dy)
        for n, t in [("x", x), ("y", y), ("dy", dy), ("dx", x.grad)]:
            save(f"{name}.{n}", t)
        params = [(k, p) for k, p in module.named_parameters()]
        for key, p in params:
            save(f"{name}.grad.{key}", p.grad)
        after = module.state_dict()
        for key, value in after.items():
            save(f"{name}.after.{key}", value)
        spec["cases"][name] = {"training": training, "state_keys": list(state.keys()),
                               "parameters": [k for k, _ in params], "repr": repr(module)}
    with open(os.path.join(OUT, "cases.json"), "w") as f:
        json.dump(spec, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
