#!/usr/bin/python3
"""Writes golden data for permute, transpose, pixel_shuffle, pixel_unshuffle and channel_shuffle
(tests/test_permute.cpp): each case permutes torch.arange(numel) of its shape, so PyTorch's result lists, for every
output element in order, the input element it holds.

Run:  /usr/bin/python3 tests/golden/make_golden_permute.py  ->  data_permute/cases.json
"""
import json
import os

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "data_permute")


def main():
    specs = [
        ("permute_3d", [2, 3, 4], "permute", [2, 0, 1]),
        ("permute_nchw_to_nhwc", [2, 3, 4, 5], "permute", [0, 2, 3, 1]),
        ("permute_negative_dims", [3, 1, 4, 2], "permute", [-1, 0, -2, 1]),
        ("permute_5d", [2, 3, 2, 3, 2], "permute", [4, 2, 0, 3, 1]),
        ("permute_identity", [4, 5], "permute", [0, 1]),
        ("permute_1d", [7], "permute", [0]),
        ("transpose_last_two", [2, 3, 5], "transpose", [1, 2]),
        ("transpose_negative", [4, 2, 3], "transpose", [-1, 0]),
        ("pixel_shuffle_2", [2, 8, 3, 2], "pixel_shuffle", [2]),
        ("pixel_shuffle_3_unbatched", [9, 2, 3], "pixel_shuffle", [3]),
        ("pixel_shuffle_batch_dims", [2, 3, 4, 2, 2], "pixel_shuffle", [2]),
        ("pixel_unshuffle_2", [2, 3, 4, 6], "pixel_unshuffle", [2]),
        ("pixel_unshuffle_3_unbatched", [1, 6, 3], "pixel_unshuffle", [3]),
        ("channel_shuffle_2", [2, 6, 3], "channel_shuffle", [2]),
        ("channel_shuffle_3_images", [2, 6, 2, 2], "channel_shuffle", [3]),
        ("channel_shuffle_5d", [1, 8, 2, 1, 3], "channel_shuffle", [4]),
        ("channel_shuffle_one_group", [2, 4, 3], "channel_shuffle", [1]),
    ]
    cases = {}
    for name, shape, op, args in specs:
        n = 1
        for s in shape:
            n *= s
        x = torch.arange(n, dtype=torch.float32).reshape(shape)
        if op == "permute":
            y = x.permute(*args)
        elif op == "transpose":
            y = x.transpose(*args)
        else:
            y = getattr(F, op)(x, *args)
        cases[name] = {"op": op, "shape": shape, "args": args, "out_shape": list(y.shape),
                       "expected": [int(v) for v in y.reshape(-1).tolist()]}
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "cases.json"), "w") as f:
        json.dump(cases, f, indent=1)


if __name__ == "__main__":
    main()
