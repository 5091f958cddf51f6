#!/usr/bin/python3
"""Writes golden data for torch.nn.functional.embedding, its backward (padding_idx, scale_grad_by_freq), max_norm's
renormalisation, nn.Embedding and torch.index_select with its backward (tests/test_embedding.cpp), computed by
PyTorch 1.13 on the CPU in the case's dtype (float32, float16, bfloat16: what its CPU kernels round, which normrt
matches bit for bit).
Run:  /usr/bin/python3 tests/golden/make_golden_embedding.py  ->  data_embedding/cases.json
"""
import json
import math
import os

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "data_embedding")
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def flat(t):
    return t.detach().double().reshape(-1).tolist()


def lookup_case(g, rows, columns, index_shape, dtype="float32", padding_idx=None, scale=False, max_norm=None,
                norm_type=2.0, hot=None):
    """F.embedding of a weight 2 N(0, 1) + 0.5 in `dtype` at indices drawn from [0, rows) (`hot`: that row also
    takes a third of them), and the weight's gradient for a random dy. An infinite norm_type is written "inf" or
    "-inf" (JSON has no infinities)."""
    weight = (torch.randn(rows, columns, generator=g) * 2 + 0.5).to(DTYPES[dtype])
    indices = torch.randint(0, rows, index_shape, generator=g)
    if hot is not None:
        indices[torch.rand(index_shape, generator=g) < 1 / 3] = hot
    w = weight.clone().requires_grad_()
    y = F.embedding(indices, w, padding_idx=padding_idx, max_norm=max_norm, norm_type=norm_type,
                    scale_grad_by_freq=scale)
    dy = torch.randn(y.shape, generator=g).to(y.dtype)
    y.backward(dy)
    case = {"kind": "functional", "dtype": dtype, "rows": rows, "columns": columns, "index_shape": list(index_shape),
            "weight": flat(weight), "indices": indices.reshape(-1).tolist(), "padding_idx": padding_idx,
            "scale_grad_by_freq": scale, "max_norm": max_norm,
            "norm_type": norm_type if math.isfinite(norm_type) else repr(norm_type), "dy": flat(dy),
            "y_shape": list(y.shape), "y": flat(y), "dweight": flat(w.grad)}
    if max_norm is not None:
        case["renormed"] = flat(w)
    return case


def module_case(g, options, index_shape, pretrained=None):
    """nn.Embedding(**options) (from_pretrained when `pretrained` holds its options) drawn from torch.manual_seed(5):
    its repr, initial weight (the test draws normrt's own and compares the padding row and shape), output and
    gradient."""
    torch.manual_seed(5)
    if pretrained is not None:
        weight = torch.randn(options["num_embeddings"], options["embedding_dim"], generator=g)
        module = torch.nn.Embedding.from_pretrained(weight.clone(), **pretrained)
    else:
        module = torch.nn.Embedding(**options)
    initial = module.weight.detach().clone()
    indices = torch.randint(0, options["num_embeddings"], index_shape, generator=g)
    y = module(indices)
    dy = torch.randn(y.shape, generator=g)
    if y.requires_grad:
        y.backward(dy)
    grad = module.weight.grad
    return {"kind": "module", "options": options, "pretrained": pretrained, "index_shape": list(index_shape),
            "repr": repr(module), "weight": flat(initial), "indices": indices.reshape(-1).tolist(), "dy": flat(dy),
            "y_shape": list(y.shape), "y": flat(y), "renormed": flat(module.weight),
            "dweight": flat(grad) if grad is not None else None}


def index_select_case(g, shape, dim, index, dtype="float32", channels_last=False):
    """torch.index_select of an input N(0, 1) + 1 in `dtype` at `index` (a list, or an int for a 0-d index), and its
    backward (index_add_ into zeros, in index order) for a random dy."""
    x = (torch.randn(shape, generator=g) + 1).to(DTYPES[dtype])
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    idx = torch.tensor(index, dtype=torch.int64)
    xg = x.clone().requires_grad_()
    y = torch.index_select(xg, dim, idx)
    dy = torch.randn(y.shape, generator=g).to(y.dtype)
    y.backward(dy)
    return {"kind": "index_select", "dtype": dtype, "shape": list(shape), "dim": dim, "index": index,
            "channels_last": channels_last, "x": flat(x), "dy": flat(dy), "y_shape": list(y.shape), "y": flat(y),
            "dx": flat(xg.grad)}


def main():
    g = torch.Generator().manual_seed(61)
    cases = {
        "lookup_1d": lookup_case(g, 7, 5, [9]),
        "lookup_2d_odd_dim": lookup_case(g, 11, 17, [3, 4]),
        "lookup_0dim_index": lookup_case(g, 4, 3, []),
        "lookup_no_index": lookup_case(g, 4, 3, [2, 0]),
        "lookup_one_row": lookup_case(g, 1, 6, [5]),
        "lookup_hot_row": lookup_case(g, 13, 8, [40], hot=3),
        "padding_idx": lookup_case(g, 6, 4, [4, 5], padding_idx=2),
        "scale_grad_by_freq": lookup_case(g, 5, 19, [30], scale=True, hot=1),
        "scale_and_padding": lookup_case(g, 6, 9, [2, 15], padding_idx=0, scale=True),
        # PyTorch's multi-threaded backward (over 1000 indices) partitions the rows; the sums keep position order.
        "many_indices": lookup_case(g, 50, 3, [1100], scale=True, hot=7),
        "float16": lookup_case(g, 9, 5, [20], dtype="float16", hot=4),
        "float16_scaled": lookup_case(g, 7, 40, [25], dtype="float16", scale=True, padding_idx=3, hot=2),
        "bfloat16": lookup_case(g, 9, 6, [20], dtype="bfloat16", hot=4),
        # PyTorch rounds bfloat16 scaled sums as normrt in its vectorised loop, 32 columns at a time on AVX2.
        "bfloat16_scaled": lookup_case(g, 7, 64, [25], dtype="bfloat16", scale=True, hot=2),
        "max_norm": lookup_case(g, 8, 6, [10], max_norm=2.0, hot=5),
        "max_norm_l1": lookup_case(g, 8, 6, [2, 5], max_norm=3.5, norm_type=1.0),
        "max_norm_inf": lookup_case(g, 8, 6, [10], max_norm=1.5, norm_type=math.inf),
        "max_norm_minus_inf": lookup_case(g, 8, 3, [10], max_norm=0.6, norm_type=-math.inf),
        "max_norm_p1_5": lookup_case(g, 8, 7, [10], max_norm=2.5, norm_type=1.5, scale=True),
        "max_norm_p0": lookup_case(g, 8, 5, [10], max_norm=4.0, norm_type=0.0),
        "max_norm_float16": lookup_case(g, 8, 6, [10], dtype="float16", max_norm=2.0),
        "max_norm_bfloat16": lookup_case(g, 8, 6, [10], dtype="bfloat16", max_norm=2.0),
        "module_default": module_case(g, {"num_embeddings": 10, "embedding_dim": 4}, [2, 3]),
        "module_padding": module_case(g, {"num_embeddings": 6, "embedding_dim": 3, "padding_idx": -2}, [8]),
        "module_options": module_case(g, {"num_embeddings": 9, "embedding_dim": 5, "padding_idx": 0, "max_norm": 1.0,
                                          "norm_type": 3.0, "scale_grad_by_freq": True}, [4, 4]),
        "module_pretrained_frozen": module_case(g, {"num_embeddings": 5, "embedding_dim": 3}, [6], pretrained={}),
        "module_pretrained_trained": module_case(g, {"num_embeddings": 5, "embedding_dim": 3}, [6],
                                                 pretrained={"freeze": False, "padding_idx": 1}),
    }
    g = torch.Generator().manual_seed(62)  # index_select's cases (added later: their own draws)
    cases.update({
        "index_select_dim0_repeats": index_select_case(g, [5, 3], 0, [4, 0, 4, 2, 4]),
        "index_select_dim1": index_select_case(g, [2, 5, 3], 1, [1, 1, 4, 0]),
        "index_select_last_dim": index_select_case(g, [2, 3, 7], -1, [6, 0, 6, 3]),
        "index_select_0d_index": index_select_case(g, [3, 4], 0, 2),
        "index_select_no_index": index_select_case(g, [2, 3, 4], 1, []),
        "index_select_1d": index_select_case(g, [6], 0, [5, 5, 1]),
        "index_select_channels_last": index_select_case(g, [2, 3, 4, 5], 1, [2, 0, 2], channels_last=True),
        "index_select_float16": index_select_case(g, [4, 9], 1, [8, 1, 8, 8], dtype="float16"),
        "index_select_bfloat16": index_select_case(g, [3, 6, 2], 1, [5, 5, 0, 5], dtype="bfloat16"),
        "index_select_many": index_select_case(g, [3, 40, 5], 1, [(7 * i) % 40 for i in range(300)]),
    })
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "cases.json"), "w") as f:
        json.dump(cases, f, indent=1, allow_nan=False)


if __name__ == "__main__":
    main()
