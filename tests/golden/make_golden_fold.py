#!/usr/bin/python3
"""Writes golden data for BatchNorm folding (nn::fold_batchnorm, tests/test_fold.cpp): PyTorch 1.13's
torch.fx.experimental.optimization.fuse and torch.nn.utils.fusion.

Run with Debian's python3-torch (CPU PyTorch 1.13):  /usr/bin/python3 tests/golden/make_golden_fold.py
Each model case is a Sequential whose BatchNorms get random statistics and affine parameters (running means far from
zero, variances from 0.05 to 3), put in eval mode and fused by PyTorch's fx pass. data_fold/ holds float32 .npy
files: "<case>.model.<key>" (the state before), "<case>.fused.<key>" (after; the fused BatchNorms' keys are gone),
"<case>.input", "<case>.output" (the eval output before fusing) and "<case>.fused_output". The layer cases fold one
Linear / ConvTranspose2d and its BatchNorm with fuse_linear_bn_eval / fuse_conv_bn_eval(transpose=True): the same
files, the fused state being the new layer's. cases.json lists the cases, their state keys and input shapes.
"""
import json
import os

import numpy as np
import torch
from torch import nn
from torch.fx.experimental.optimization import fuse
from torch.nn.utils.fusion import fuse_conv_bn_eval, fuse_linear_bn_eval

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "data_fold")


def randomize(model):
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            with torch.no_grad():
                if m.affine:
                    m.weight.copy_(torch.randn_like(m.weight))
                    m.bias.copy_(torch.randn_like(m.bias))
                if m.track_running_stats:
                    m.running_mean.copy_(torch.randn_like(m.running_mean) * 3 + 4)
                    m.running_var.copy_(torch.rand_like(m.running_var) * 2.95 + 0.05)
                    m.num_batches_tracked.fill_(7)


def save(name, tensor):
    array = tensor.detach().reshape(-1 if tensor.dim() == 0 else tensor.shape).numpy()
    np.save(os.path.join(OUT, name + ".npy"), array if array.dtype == np.int64 else array.astype(np.float32))


def save_state(prefix, module):
    state = module.state_dict()
    for key, value in state.items():
        save(f"{prefix}.{key}", value)
    return list(state.keys())


def model_cases():
    return {
        # The second pair's convolution has groups and no bias.
        "conv2d": (nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
                                 nn.Conv2d(8, 6, 3, stride=2, groups=2), nn.BatchNorm2d(6, eps=1e-3), nn.ReLU(),
                                 nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, 4)),
                   (2, 3, 9, 11)),
        # A BatchNorm without affine parameters is fused; one without running statistics is skipped.
        "conv1d": (nn.Sequential(nn.Conv1d(4, 5, 3), nn.BatchNorm1d(5, affine=False), nn.Conv1d(5, 5, 1),
                                 nn.BatchNorm1d(5, track_running_stats=False)), (3, 4, 17)),
        "conv3d": (nn.Sequential(nn.Conv3d(2, 4, (1, 3, 3), padding=(0, 1, 1)), nn.BatchNorm3d(4, eps=0.01)),
                   (2, 2, 3, 5, 6)),
        # Nested containers, reflection padding.
        "nested": (nn.Sequential(nn.Sequential(nn.Conv2d(3, 4, 3, padding=1, padding_mode="reflect"),
                                               nn.BatchNorm2d(4)),
                                 nn.ReLU(), nn.Sequential(nn.Conv2d(4, 4, 1), nn.BatchNorm2d(4))), (1, 3, 5, 7)),
    }


def layer_cases():
    return {
        "linear": (nn.Linear(7, 5), nn.BatchNorm1d(5, eps=1e-4), lambda l, b: fuse_linear_bn_eval(l, b), (6, 7)),
        "conv_transpose2d": (nn.ConvTranspose2d(3, 5, 3, stride=2), nn.BatchNorm2d(5),
                             lambda c, b: fuse_conv_bn_eval(c, b, transpose=True), (2, 3, 4, 5)),
        # Enough features for the rounding order of the bias, (linear_bias - mean) * (weight * invstd), to show.
        "linear_wide": (nn.Linear(16, 64, bias=False), nn.BatchNorm1d(64), lambda l, b: fuse_linear_bn_eval(l, b),
                        (3, 16)),
    }


def main():
    torch.manual_seed(1203)
    os.makedirs(OUT, exist_ok=True)
    spec = {"generator": "tests/golden/make_golden_fold.py", "torch": torch.__version__, "models": {},
            "layers": {}}
    with torch.no_grad():
        for name, (model, shape) in model_cases().items():
            randomize(model)
            model.eval()
            x = torch.randn(*shape) * 2 + 1
            keys = save_state(f"{name}.model", model)
            fused = fuse(model)
            save(f"{name}.input", x)
            save(f"{name}.output", model(x))
            save(f"{name}.fused_output", fused(x))
            spec["models"][name] = {"input_shape": list(shape), "model_keys": keys,
                                    "fused_keys": save_state(f"{name}.fused", fused)}
        for name, (layer, bn, fuse_fn, shape) in layer_cases().items():
            pair = nn.Sequential(layer, bn)
            randomize(pair)
            pair.eval()
            x = torch.randn(*shape) * 2 + 1
            keys = save_state(f"{name}.model", pair)
            fused = fuse_fn(layer, bn)
            save(f"{name}.input", x)
            save(f"{name}.output", pair(x))
            save(f"{name}.fused_output", fused(x))
            spec["layers"][name] = {"input_shape": list(shape), "model_keys": keys,
                                    "fused_keys": save_state(f"{name}.fused", fused)}
    with open(os.path.join(OUT, "cases.json"), "w") as f:
        json.dump(spec, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
