#!/usr/bin/python3
"""Writes golden data for torch.nn.functional.embedding, its backward (padding_idx, scale_grad_by_freq), max_norm's
renormalisation, nn.Embedding, torch.index_select with its backward, and F.embedding_bag / nn.EmbeddingBag with their
gradients (tests/test_embedding.cpp), computed by PyTorch 1.13 on the CPU in the case's dtype (float32, float16,
bfloat16: what its CPU kernels round, which normrt matches bit for bit; embedding_bag's gradients PyTorch sums in an
unstable sort's order through BLAS, so they match to rounding; its CPU has no bfloat16 embedding_bag).
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


MODES = {"sum": 0, "mean": 1, "max": 2}


def bag_input(g, rows, lengths, hot=None):
    """1-D indices for bags of `lengths` (or 2-D (bags, length) when `lengths` is a pair given as a tuple), drawn from
    [0, rows); `hot` takes a third of them."""
    shape = list(lengths) if isinstance(lengths, tuple) else [sum(lengths)]
    indices = torch.randint(0, rows, shape, generator=g)
    if hot is not None:
        indices[torch.rand(shape, generator=g) < 1 / 3] = hot
    if isinstance(lengths, tuple):
        return indices, None
    starts = [0]
    for n in lengths[:-1]:
        starts.append(starts[-1] + n)
    return indices, torch.tensor(starts if lengths else [], dtype=torch.int64)


def bag_case(g, rows, columns, lengths, mode, dtype="float32", weighted=False, padding_idx=None,
             include_last_offset=False, scale=False, hot=None, ties=False):
    """F.embedding_bag of a weight 2 N(0, 1) + 0.5 in `dtype` (small integers with `ties`: maxima tie) over bags of
    `lengths` (bag_input), with per-sample weights N(0, 1) when `weighted`, and its gradients for a random dy."""
    weight = (torch.randint(-2, 3, (rows, columns), generator=g).float() if ties
              else torch.randn(rows, columns, generator=g) * 2 + 0.5).to(DTYPES[dtype])
    indices, offsets = bag_input(g, rows, lengths, hot)
    if include_last_offset and offsets is not None:  # a 2-D input's last row then ends the bags (F.embedding_bag's)
        offsets = torch.cat([offsets, torch.tensor([indices.numel()])])
    psw = torch.randn(indices.shape, generator=g).to(DTYPES[dtype]) if weighted else None
    w = weight.clone().requires_grad_()
    p = psw.clone().requires_grad_() if weighted else None
    y = F.embedding_bag(indices, w, offsets, mode=mode, per_sample_weights=p, padding_idx=padding_idx,
                        include_last_offset=include_last_offset, scale_grad_by_freq=scale)
    dy = torch.randn(y.shape, generator=g).to(y.dtype)
    if y.requires_grad:  # not with an empty input: PyTorch's output then has no history (the gradients are zero)
        y.backward(dy)
    dweight = w.grad if w.grad is not None else torch.zeros_like(weight)
    if scale:  # 1.13's CPU scales a row by another row's count (counts[indices[i]], i its group): the row's own
        w = weight.clone().requires_grad_()
        p = psw.clone().requires_grad_() if weighted else None
        F.embedding_bag(indices, w, offsets, mode=mode, per_sample_weights=p, padding_idx=padding_idx,
                        include_last_offset=include_last_offset).backward(dy)
        counts = torch.bincount(indices.reshape(-1), minlength=rows).clamp(min=1).to(w.grad.dtype)
        dweight = w.grad / counts[:, None]
    return {"kind": "bag", "dtype": dtype, "rows": rows, "columns": columns, "weight": flat(weight),
            "input_shape": list(indices.shape), "indices": indices.reshape(-1).tolist(),
            "offsets": None if offsets is None else offsets.tolist(), "mode": mode,
            "per_sample_weights": flat(psw) if weighted else None, "padding_idx": padding_idx,
            "include_last_offset": include_last_offset, "scale_grad_by_freq": scale, "y_shape": list(y.shape),
            "y": flat(y), "dy": flat(dy), "dweight": flat(dweight),
            "dper_sample_weights": flat(p.grad) if weighted else None}


def bag_module_case(g, options, lengths, pretrained=None, weighted=False):
    """nn.EmbeddingBag(**options) (from_pretrained when `pretrained` holds its options): its repr, output and
    gradients, its weight set to the case's draw first."""
    rows, columns = options["num_embeddings"], options["embedding_dim"]
    weight = torch.randn(rows, columns, generator=g)
    if pretrained is not None:
        module = torch.nn.EmbeddingBag.from_pretrained(weight.clone(), **pretrained)
    else:
        module = torch.nn.EmbeddingBag(**options)
        with torch.no_grad():
            module.weight.copy_(weight)
    indices, offsets = bag_input(g, rows, lengths)
    if module.include_last_offset and offsets is not None:
        offsets = torch.cat([offsets, torch.tensor([indices.numel()])])
    psw = torch.randn(indices.shape, generator=g).requires_grad_() if weighted else None
    y = module(indices, offsets, per_sample_weights=psw)
    dy = torch.randn(y.shape, generator=g)
    if y.requires_grad:  # not from a frozen module without per-sample weights
        y.backward(dy)
    text, dweight = repr(module), module.weight.grad
    dpsw = flat(psw.grad) if weighted else None
    if dweight is not None and module.scale_grad_by_freq:  # the row's own count (bag_case)
        module.scale_grad_by_freq = False
        module.weight.grad = None
        module(indices, offsets, per_sample_weights=psw).backward(dy)
        dweight = module.weight.grad / torch.bincount(indices.reshape(-1), minlength=rows).clamp(min=1)[:, None]
    return {"kind": "bag_module", "options": options, "pretrained": pretrained, "repr": text,
            "weight": flat(weight), "input_shape": list(indices.shape), "indices": indices.reshape(-1).tolist(),
            "offsets": None if offsets is None else offsets.tolist(),
            "per_sample_weights": flat(psw) if weighted else None, "y_shape": list(y.shape), "y": flat(y),
            "dy": flat(dy), "renormed": flat(module.weight),
            "dweight": None if dweight is None else flat(dweight), "dper_sample_weights": dpsw}


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
    g = torch.Generator().manual_seed(66)  # embedding_bag's cases (added later: their own draws)
    cases.update({
        "bag_sum": bag_case(g, 10, 5, [3, 0, 5, 1], "sum"),
        "bag_mean": bag_case(g, 10, 5, [3, 0, 5, 1], "mean"),
        "bag_max": bag_case(g, 10, 5, [3, 0, 5, 1], "max"),
        "bag_max_ties_first_wins": bag_case(g, 6, 7, [4, 6, 2], "max", ties=True),
        "bag_2d_mean": bag_case(g, 9, 6, (4, 3), "mean"),
        "bag_2d_max": bag_case(g, 9, 6, (3, 5), "max"),
        "bag_per_sample_weights": bag_case(g, 8, 9, [2, 4, 3], "sum", weighted=True),
        "bag_padding_mean": bag_case(g, 5, 4, [3, 2, 4, 1], "mean", padding_idx=2, hot=2),
        "bag_padding_negative_max": bag_case(g, 5, 4, [3, 2, 4], "max", padding_idx=-1, hot=4),
        "bag_padding_weighted": bag_case(g, 6, 3, [4, 4], "sum", weighted=True, padding_idx=0, hot=0),
        "bag_include_last_offset_sum": bag_case(g, 7, 5, [2, 3, 0, 4], "sum", include_last_offset=True),
        "bag_include_last_offset_mean": bag_case(g, 7, 5, [2, 3, 4], "mean", include_last_offset=True),
        "bag_scale_grad_by_freq_sum": bag_case(g, 6, 8, [5, 7, 3], "sum", scale=True, hot=1),
        "bag_scale_grad_by_freq_mean": bag_case(g, 6, 8, [5, 7, 3], "mean", scale=True, hot=1, padding_idx=3),
        "bag_odd_columns_weighted": bag_case(g, 30, 37, [40, 25, 1, 17], "sum", weighted=True, hot=9),
        "bag_many_indices": bag_case(g, 50, 3, [300, 500, 300], "mean", hot=7),
        "bag_empty_input": bag_case(g, 4, 3, [0, 0], "mean"),
        "bag_float16_sum": bag_case(g, 9, 5, [6, 9, 3], "sum", dtype="float16", hot=4),
        "bag_float16_mean_rounds_twice": bag_case(g, 9, 6, [7, 9, 3], "mean", dtype="float16"),
        "bag_float16_max": bag_case(g, 9, 6, [7, 0, 3], "max", dtype="float16"),
        "bag_float16_weighted": bag_case(g, 9, 20, [7, 9, 3], "sum", dtype="float16", weighted=True),
        "bag_module_default": bag_module_case(g, {"num_embeddings": 10, "embedding_dim": 4}, [3, 2, 5]),
        "bag_module_options": bag_module_case(g, {"num_embeddings": 8, "embedding_dim": 5, "mode": "sum",
                                                  "padding_idx": 1, "max_norm": 1.0, "scale_grad_by_freq": True,
                                                  "include_last_offset": True}, [4, 3, 3], weighted=True),
        "bag_module_max_2d": bag_module_case(g, {"num_embeddings": 6, "embedding_dim": 3, "mode": "max",
                                                 "norm_type": 1.0}, (3, 4)),
        "bag_module_pretrained_frozen": bag_module_case(g, {"num_embeddings": 5, "embedding_dim": 3}, [2, 4],
                                                        pretrained={}),
        "bag_module_pretrained_trained": bag_module_case(g, {"num_embeddings": 5, "embedding_dim": 3}, [2, 4],
                                                         pretrained={"freeze": False, "mode": "max",
                                                                     "padding_idx": 2}),
    })
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "cases.json"), "w") as f:
        json.dump(cases, f, indent=1, allow_nan=False)


if __name__ == "__main__":
    main()
