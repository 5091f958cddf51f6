#!/usr/bin/python3
"""Writes golden data for torch.gather (with its backward), Tensor.scatter / scatter_add (scatter with reduce="add"
or "multiply" too) and Tensor.scatter_reduce (tests/test_scatter_gather.cpp), computed by PyTorch 1.13 on the CPU in
the case's dtype: float16 and bfloat16 sums and products round at every step as its loop reduces them, int64 sums
and products wrap. Repeated indices are drawn on purpose (scatter keeps
the last in index order).
Run:  /usr/bin/python3 tests/golden/make_golden_scatter_gather.py  ->  data_scatter_gather/cases.json
"""
import json
import os

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "data_scatter_gather")
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16, "int64": torch.int64,
          "bool": torch.bool}


def flat(t):
    t = t.detach()
    return t.reshape(-1).tolist() if t.dtype == torch.int64 else t.double().reshape(-1).tolist()


def values(g, shape, dtype, mean=1.0):
    """N(mean, 1) in `dtype`, integers in [-50, 50) for int64, or bools."""
    if dtype == "bool":
        return torch.randint(0, 2, shape, generator=g).bool()
    if dtype == "int64":
        return torch.randint(-50, 50, shape, generator=g)
    return (torch.randn(shape, generator=g) + mean).to(DTYPES[dtype])


def layout(t, channels_last):
    return t.contiguous(memory_format=torch.channels_last) if channels_last else t


def gather_case(g, shape, dim, index_shape, dtype="float32", channels_last=False, bound=None):
    """torch.gather of N(1, 1) at indices drawn from [0, size along dim) (or [0, bound)), and for floating dtypes the
    input's gradient for a random dy (scatter_add of dy into zeros)."""
    x = layout(values(g, shape, dtype), channels_last)
    size = bound if bound is not None else (shape[dim] if shape else 1)
    index = torch.randint(0, size, index_shape, generator=g)
    case = {"kind": "gather", "dtype": dtype, "shape": list(shape), "dim": dim, "index_shape": list(index_shape),
            "index": flat(index), "channels_last": channels_last, "x": flat(x)}
    if dtype in ("int64", "bool"):
        y = torch.gather(x, dim, index)
    else:
        xg = x.clone().requires_grad_()
        y = torch.gather(xg, dim, index)
        dy = torch.randn(y.shape, generator=g).to(y.dtype)
        y.backward(dy)
        case.update({"dy": flat(dy), "dx": flat(xg.grad)})
    case.update({"y_shape": list(y.shape), "y": flat(y)})
    return case


def scatter_case(g, op, shape, dim, index_shape, src_shape=None, dtype="float32", channels_last=False, value=None,
                 bound=None, self_values=None, src_values=None, reduce=None, include_self=True):
    """self.scatter(dim, index, src) ("assign"), scatter(dim, index, value) ("value"), scatter_add ("add") or
    scatter_reduce(dim, index, src, reduce, include_self=include_self) ("reduce") with indices drawn from
    [0, size along dim) (or [0, bound)) and src N(1, 1) of src_shape (the index's shape unless given); "assign" and
    "value" with a reduce are scatter's reduce="add" / "multiply"; self_values / src_values replace the draws."""
    s = layout(self_values if self_values is not None else values(g, shape, dtype), channels_last)
    size = bound if bound is not None else (shape[dim] if shape else 1)
    index = torch.randint(0, size, index_shape, generator=g)
    case = {"kind": "scatter", "op": op, "dtype": dtype, "shape": list(shape), "dim": dim,
            "index_shape": list(index_shape), "index": flat(index), "channels_last": channels_last, "self": flat(s)}
    if reduce is not None:
        case.update({"reduce": reduce, "include_self": include_self})
    if op == "value":
        y = s.scatter(dim, index, value) if reduce is None else s.scatter(dim, index, value, reduce=reduce)
        case["value"] = value
    else:
        if src_values is None:
            src_values = values(g, src_shape if src_shape is not None else index_shape, dtype)
        src = src_values
        if op == "reduce":
            y = s.scatter_reduce(dim, index, src, reduce, include_self=include_self)
        elif op == "assign":
            y = s.scatter(dim, index, src) if reduce is None else s.scatter(dim, index, src, reduce=reduce)
        else:
            y = s.scatter_add(dim, index, src)
        case.update({"src_shape": list(src.shape), "src": flat(src)})
    assert y.is_contiguous()  # out of place, whatever self's memory format
    case["y"] = flat(y)
    return case


def main():
    g = torch.Generator().manual_seed(63)
    big = torch.tensor([[2**62, 2**62 + 5], [1, -3]]), torch.tensor([[2**62, 2**62], [2**62, 7]])  # sums wrap
    cases = {
        "gather_dim1": gather_case(g, [3, 5], 1, [3, 4]),
        "gather_dim0_smaller_index": gather_case(g, [4, 6], 0, [2, 3]),
        "gather_index_longer_than_dim": gather_case(g, [3, 4], 1, [2, 9]),
        "gather_last_dim_3d": gather_case(g, [2, 3, 7], -1, [2, 2, 9]),
        "gather_middle_dim_5d": gather_case(g, [2, 3, 4, 2, 3], 2, [2, 2, 6, 2, 1]),
        "gather_0d": gather_case(g, [], 0, []),
        "gather_0d_input_1d_index": gather_case(g, [], 0, [3]),
        "gather_1d_input_0d_index": gather_case(g, [6], 0, []),
        "gather_no_index": gather_case(g, [3, 4], 1, [0, 5]),
        "gather_channels_last": gather_case(g, [2, 3, 4, 5], 3, [2, 3, 4, 7], channels_last=True),
        "gather_channels_last_dim1": gather_case(g, [2, 5, 3, 3], 1, [2, 8, 3, 2], channels_last=True),
        "gather_targets": gather_case(g, [6, 10], 1, [6, 1]),
        "gather_repeats_float16": gather_case(g, [4, 3], 0, [40, 3], dtype="float16"),
        "gather_repeats_bfloat16": gather_case(g, [2, 5], 1, [2, 60], dtype="bfloat16"),
        "gather_int64": gather_case(g, [3, 4, 2], 1, [3, 5, 2], dtype="int64"),
        "gather_many_positions": gather_case(g, [3, 7], 0, [400, 7]),
        "scatter_dim1": scatter_case(g, "assign", [3, 5], 1, [2, 4], src_shape=[3, 6]),
        "scatter_repeats_last_wins": scatter_case(g, "assign", [6], 0, [50], bound=3),
        "scatter_dim0_3d": scatter_case(g, "assign", [4, 3, 5], 0, [6, 2, 5], src_shape=[7, 2, 6]),
        "scatter_last_dim_4d": scatter_case(g, "assign", [2, 3, 2, 4], 3, [2, 2, 2, 9]),
        "scatter_channels_last": scatter_case(g, "assign", [2, 4, 3, 3], 1, [2, 6, 3, 2], channels_last=True),
        "scatter_float16": scatter_case(g, "assign", [5, 4], 1, [5, 6], dtype="float16"),
        "scatter_int64": scatter_case(g, "assign", [4, 4], 0, [5, 3], dtype="int64"),
        "scatter_0d": scatter_case(g, "assign", [], 0, [3]),
        "scatter_no_index": scatter_case(g, "assign", [3, 4], 1, [0, 5], src_shape=[3, 4]),
        "scatter_value": scatter_case(g, "value", [4, 5], 1, [4, 3], value=2.5),
        "scatter_value_int64_truncates": scatter_case(g, "value", [3, 4], 0, [2, 4], dtype="int64", value=-2.7),
        "scatter_value_bfloat16_rounds": scatter_case(g, "value", [3, 4], 1, [3, 2], dtype="bfloat16", value=1.0001),
        "scatter_value_channels_last": scatter_case(g, "value", [2, 3, 2, 2], 2, [2, 3, 3, 2], value=-1.0,
                                                    channels_last=True),
        "scatter_add_dim1": scatter_case(g, "add", [3, 5], 1, [3, 8]),
        "scatter_add_hot_element": scatter_case(g, "add", [5], 0, [300], bound=2),
        "scatter_add_dim0_3d": scatter_case(g, "add", [4, 3, 5], 0, [9, 3, 4], src_shape=[9, 3, 5]),
        "scatter_add_channels_last": scatter_case(g, "add", [2, 4, 3, 3], 1, [2, 9, 3, 3], channels_last=True),
        "scatter_add_float16": scatter_case(g, "add", [3, 4], 1, [3, 50], dtype="float16"),
        "scatter_add_bfloat16": scatter_case(g, "add", [4, 2], 0, [70, 2], dtype="bfloat16"),
        "scatter_add_int64_wraps": scatter_case(g, "add", [2, 2], 0, [2, 2], dtype="int64", bound=1,
                                                self_values=big[0], src_values=big[1]),
        "scatter_add_0d": scatter_case(g, "add", [], 0, [4]),
        "scatter_add_many_positions": scatter_case(g, "add", [3, 9], 0, [500, 9]),
        # bools, drawn after the cases above: a bool sum is an or
        "gather_bool": gather_case(g, [3, 5], 1, [3, 7], dtype="bool"),
        "gather_bool_channels_last": gather_case(g, [2, 3, 4, 5], 2, [2, 3, 6, 5], dtype="bool", channels_last=True),
        "scatter_bool": scatter_case(g, "assign", [4, 3], 0, [6, 3], dtype="bool"),
        "scatter_value_bool": scatter_case(g, "value", [3, 4], 1, [3, 5], dtype="bool", value=0.5),
        "scatter_add_bool_is_or": scatter_case(g, "add", [3, 4], 1, [3, 9], dtype="bool"),
        "scatter_add_bool_channels_last": scatter_case(g, "add", [2, 3, 2, 2], 1, [2, 5, 2, 2], dtype="bool",
                                                       channels_last=True),
        # scatter_reduce and scatter's reduce, drawn after the cases above
        "scatter_reduce_sum": scatter_case(g, "reduce", [3, 5], 1, [3, 8], reduce="sum"),
        "scatter_reduce_sum_excluding_self": scatter_case(g, "reduce", [3, 5], 1, [3, 8], reduce="sum",
                                                          include_self=False),
        "scatter_reduce_prod": scatter_case(g, "reduce", [4, 3], 0, [6, 3], reduce="prod"),
        "scatter_reduce_prod_excluding_self": scatter_case(g, "reduce", [4, 3], 0, [6, 3], reduce="prod",
                                                           include_self=False),
        "scatter_reduce_mean": scatter_case(g, "reduce", [3, 5], 1, [3, 9], reduce="mean"),
        "scatter_reduce_mean_excluding_self": scatter_case(g, "reduce", [3, 5], 1, [3, 9], reduce="mean",
                                                           include_self=False),
        "scatter_reduce_amax": scatter_case(g, "reduce", [4, 3, 5], 0, [9, 3, 4], src_shape=[9, 3, 5],
                                            reduce="amax"),
        "scatter_reduce_amax_excluding_self": scatter_case(g, "reduce", [4, 3, 5], 0, [9, 3, 4], reduce="amax",
                                                           include_self=False),
        "scatter_reduce_amin": scatter_case(g, "reduce", [2, 3, 2, 4], 3, [2, 2, 2, 9], reduce="amin"),
        "scatter_reduce_amin_excluding_self": scatter_case(g, "reduce", [2, 3, 2, 4], 3, [2, 2, 2, 9],
                                                           reduce="amin", include_self=False),
        "scatter_reduce_mean_float16_counts_stop_at_2048": scatter_case(g, "reduce", [2], 0, [2500], bound=1,
                                                                        dtype="float16", reduce="mean"),
        "scatter_reduce_mean_bfloat16_excluding_self": scatter_case(g, "reduce", [4, 2], 0, [70, 2],
                                                                    dtype="bfloat16", reduce="mean",
                                                                    include_self=False),
        "scatter_reduce_prod_float16": scatter_case(g, "reduce", [3, 4], 1, [3, 7], dtype="float16", reduce="prod"),
        "scatter_reduce_amax_bfloat16_channels_last": scatter_case(g, "reduce", [2, 4, 3, 3], 1, [2, 9, 3, 3],
                                                                   dtype="bfloat16", channels_last=True,
                                                                   reduce="amax", include_self=False),
        "scatter_reduce_mean_int64_rounds_down": scatter_case(g, "reduce", [3, 4], 0, [7, 4], dtype="int64",
                                                              reduce="mean"),
        "scatter_reduce_mean_int64_excluding_self": scatter_case(g, "reduce", [3, 4], 0, [7, 4], dtype="int64",
                                                                 reduce="mean", include_self=False),
        "scatter_reduce_amax_int64_excluding_self": scatter_case(g, "reduce", [5, 3], 0, [4, 3], dtype="int64",
                                                                 reduce="amax", include_self=False),
        "scatter_reduce_amin_int64_excluding_self": scatter_case(g, "reduce", [5, 3], 0, [4, 3], dtype="int64",
                                                                 reduce="amin", include_self=False),
        "scatter_reduce_prod_int64_wraps": scatter_case(g, "reduce", [2, 2], 0, [2, 2], dtype="int64", bound=1,
                                                        self_values=big[0], src_values=big[1], reduce="prod"),
        "scatter_reduce_sum_bool": scatter_case(g, "reduce", [3, 4], 1, [3, 9], dtype="bool", reduce="sum"),
        "scatter_reduce_prod_bool_excluding_self": scatter_case(g, "reduce", [3, 4], 1, [3, 9], dtype="bool",
                                                                reduce="prod", include_self=False),
        "scatter_reduce_amax_bool": scatter_case(g, "reduce", [4, 3], 0, [6, 3], dtype="bool", reduce="amax"),
        "scatter_reduce_amin_bool_excluding_self": scatter_case(g, "reduce", [4, 3], 0, [6, 3], dtype="bool",
                                                                reduce="amin", include_self=False),
        "scatter_reduce_mean_0d": scatter_case(g, "reduce", [], 0, [3], reduce="mean"),
        "scatter_reduce_amax_5d_middle_dim": scatter_case(g, "reduce", [2, 3, 4, 2, 3], 2, [2, 2, 6, 2, 1],
                                                          reduce="amax"),
        "scatter_reduce_no_index": scatter_case(g, "reduce", [3, 4], 1, [0, 5], src_shape=[3, 4], reduce="mean",
                                                include_self=False),
        "scatter_reduce_mean_many_positions": scatter_case(g, "reduce", [3, 9], 0, [500, 9], reduce="mean",
                                                           include_self=False),
        "scatter_reduce_add": scatter_case(g, "assign", [3, 5], 1, [3, 8], reduce="add"),
        "scatter_reduce_multiply": scatter_case(g, "assign", [4, 3], 0, [6, 3], reduce="multiply"),
        "scatter_reduce_multiply_bool": scatter_case(g, "assign", [4, 3], 0, [6, 3], dtype="bool",
                                                     reduce="multiply"),
        "scatter_value_add": scatter_case(g, "value", [4, 5], 1, [4, 3], value=2.5, reduce="add"),
        "scatter_value_multiply_float16": scatter_case(g, "value", [4, 5], 1, [4, 8], value=1.5, dtype="float16",
                                                       reduce="multiply"),
        "scatter_value_multiply_int64_truncates": scatter_case(g, "value", [3, 4], 0, [2, 4], dtype="int64",
                                                               value=-2.7, reduce="multiply"),
    }
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "cases.json"), "w") as f:
        json.dump(cases, f, indent=1, allow_nan=False)


if __name__ == "__main__":
    main()
