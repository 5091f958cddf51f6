#!/usr/bin/python3
"""Writes golden data for the tensor ops (tests/tensor_ops_golden_runner.h): reductions (sum, mean, max, argmax, min,
argmin, var, std over a dimension or every element), the index ops (narrow, slice, select), cat and stack, the
permutations (permute, transpose, pixel_shuffle, pixel_unshuffle, channel_shuffle), arithmetic (add, sub, mul, div and
add_, mul_ in place; with a number on either side and in place), maximum and minimum, the elementwise functions (neg,
abs, sqrt, exp, log, clamp; in place too), full, full_like and fill_, reshape and softmax/log_softmax, the comparisons
(eq, ne, lt, le, gt, ge against a tensor or a number; logical_and/or/xor/not), where, masked_fill and masked_fill_,
any and all, the selections (nonzero, argwhere, nonzero as a tuple, masked_select, masked_scatter and
masked_scatter_; nonzero's inputs about half zeros), indexing by a tensor (x[index], x[index] = values, index_put_
with accumulate), broadcast_to, the bitwise ops (and, or, xor, not, the shifts; with a number too, and in place) and
the rearrangements (flip, roll, repeat, repeat_interleave, tril, triu), computed by PyTorch 1.13 on
the CPU, over every dtype normrt has (float32, float16, bfloat16, int64, bool: the ops above on bool operands too) and
channels-last inputs. A case PyTorch refuses keeps its message instead, which normrt must throw word for word.
PyTorch 1.13's CPU has no float16 kernels for sqrt, exp, log and clamp: there the reference is what its CUDA kernels
compute, the float32 function of the widened input rounded once to float16 (clamp's bounds rounded to float16 first,
and refused past its range in full()'s words).

Run:  /usr/bin/python3 tests/golden/make_golden_tensor_ops.py  ->  data_tensor_ops/cases.json and, per case, the
inputs in<k>.npy (stored contiguous; a case's "cls" says which to make channels-last) and PyTorch's outputs
out<k>.npy (bfloat16 as its bits, uint16, as normrt's .npy files).

The cases pick what a sweep might miss: int64 sums that wrap, 16-bit sums whose float32 accumulation rounds once,
NaN maxima and ties, cat's promotion and its skipping of 1-d empty tensors, int64 operands beside 0-dim floating ones,
true division of integers, numbers beside tensors (t + 1 keeps int64, t + 0.5 does not; a float16 tensor rounds the
number first; full() refuses a value its dtype cannot hold), a 0-dim permute, empty dimensions, and refusals in each
op's own words. (PyTorch 1.13 fills int64 with 2.0 ** 63, converting out of range; normrt refuses it: a unit test.
masked_scatter_ places source in row-major order, as PyTorch's CUDA kernel does; 1.13's CPU kernel walks a
channels-last self in memory order, so the reference runs on a contiguous copy.) tests/golden/random_cases.py
tensor_ops draws many more.
"""
import json
import math
import operator
import os
import shutil

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "data_tensor_ops")

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16, "int64": torch.int64,
          "bool": torch.bool}


def save(t, path):
    t = t.contiguous()
    if t.dtype == torch.bfloat16:
        np.save(path, t.view(torch.int16).numpy().view(np.uint16))
    else:
        np.save(path, t.numpy())


def drawn_input(g, shape, dtype, channels_last, nan=False, sparse=False):
    """Eighths in [-8, 8] (exact in every floating dtype, so ties and equal maxima occur), integers in [-5, 5], or
    bools; `sparse`: about half of them made zero (a floating value times 0, so negative ones give -0.0)."""
    if dtype == "bool":
        t = torch.randint(0, 2, shape, generator=g).bool()
    elif dtype == "int64":
        t = torch.randint(-5, 6, shape, generator=g, dtype=torch.int64)
    else:
        t = (torch.randint(-64, 65, shape, generator=g).to(torch.float32) / 8).to(DTYPES[dtype])
        if nan and t.numel():
            t.view(-1)[int(torch.randint(t.numel(), (1,), generator=g))] = float("nan")
    if sparse:
        keep = torch.randint(0, 2, shape, generator=g).bool()
        t = torch.where(keep, t, t * 0 if t.is_floating_point() else torch.zeros_like(t))
    if channels_last:
        t = t.contiguous(memory_format=torch.channels_last if t.dim() == 4 else torch.channels_last_3d)
    return t


BINARY = {"add": operator.add, "sub": operator.sub, "mul": operator.mul, "div": operator.truediv, "pow": operator.pow,
          "eq": operator.eq, "ne": operator.ne, "lt": operator.lt, "le": operator.le, "gt": operator.gt,
          "ge": operator.ge, "bitwise_and": operator.and_, "bitwise_or": operator.or_, "bitwise_xor": operator.xor,
          "bitwise_left_shift": operator.lshift, "bitwise_right_shift": operator.rshift}
DIVISIONS = {"remainder": torch.remainder, "fmod": torch.fmod, "floor_divide": torch.floor_divide,
             "div_trunc": lambda a, b: torch.div(a, b, rounding_mode="trunc"),
             "div_floor": lambda a, b: torch.div(a, b, rounding_mode="floor")}
BINARY.update(DIVISIONS)
BINARY["copysign"] = torch.copysign
BITWISE_IN_PLACE = ("bitwise_and_", "bitwise_or_", "bitwise_xor_", "bitwise_left_shift_", "bitwise_right_shift_")
COMPARISONS = ("eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or", "logical_xor")
TRANSCENDENTAL = ("rsqrt", "log1p", "expm1", "log2", "log10", "exp2", "sigmoid", "tanh", "erf", "erfc", "sin", "cos",
                  "tan")
UNARY = ("neg", "abs", "sqrt", "exp", "log", "clamp", "floor", "ceil", "round", "trunc", "frac", "sign",
         "reciprocal") + TRANSCENDENTAL


def elementwise(op, x, bounds):
    """neg, abs, sqrt, exp, log, clamp (`bounds`: [min, max], None for an absent one) and their in-place forms."""
    name = op.rstrip("_")
    kwargs = {"min": bounds[0], "max": bounds[1]} if name == "clamp" else {}
    if x.dtype == torch.float16 and name not in ("neg", "abs"):
        # Bounds rounded to float16 (refused past its range), but where a NaN bound has another beside it: PyTorch
        # then fills the result with NaN before converting either.
        nan_beside_another = name == "clamp" and None not in bounds and any(math.isnan(b) for b in bounds)
        if name == "clamp" and bounds != [None, None] and not nan_beside_another:
            kwargs = {k: b if b is None else torch.full((), b, dtype=torch.float16).item() for k, b in kwargs.items()}
        y = getattr(torch, name)(x.float(), **kwargs).half()
        return y if name == op else x.copy_(y)
    return getattr(torch, name)(x, **kwargs) if name == op else getattr(x, op)(**kwargs)


def round_decimals(x, decimals):
    """torch.round(x, decimals=d). float16 (no kernel on PyTorch 1.13's CPU) as its bfloat16 computes: 10^|d| and
    x * 10^d (x / 10^-d) rounded to the dtype, nearbyint, then the division (product) rounded once."""
    if x.dtype != torch.float16:
        return torch.round(x, decimals=decimals)
    scale = torch.tensor(10.0 ** abs(decimals)).half().float()
    wide = x.float()
    scaled = (wide * scale if decimals > 0 else wide / scale).half().float()
    return (torch.round(scaled) / scale if decimals > 0 else torch.round(scaled) * scale).half()


def division(op, a, b):
    """A division op of DIVISIONS in place (op ends in "_"), or not."""
    if not op.endswith("_"):
        return DIVISIONS[op](a, b)
    if op.startswith("div_"):
        return a.div_(b, rounding_mode=op[len("div_"):-1])
    return getattr(a, op)(b)


TERNARY = ("addcmul", "addcmul_", "addcdiv", "addcdiv_", "lerp", "lerp_", "lerp_tensor", "lerp_tensor_")


def ternary(op, ts, number):
    """addcmul / addcdiv (their value the number, 1 when None), lerp (its weight the number) and lerp_tensor, in place
    when op ends in "_". float16, which PyTorch 1.13's CPU refuses for these ("not implemented for 'Half'"), as its
    GPU computes it: the operands in the result's dtype, widened to float32, the op there, rounded once."""
    name, in_place = op.rstrip("_"), op.endswith("_")

    def apply(xs, in_place):
        if name in ("addcmul", "addcdiv"):
            value = 1 if number is None else number
            return getattr(xs[0], op)(xs[1], xs[2], value=value) if in_place else \
                getattr(torch, name)(xs[0], xs[1], xs[2], value=value)
        weight = xs[2] if name == "lerp_tensor" else number
        return xs[0].lerp_(xs[1], weight) if in_place else torch.lerp(xs[0], xs[1], weight)

    try:
        return apply(ts, in_place)
    except RuntimeError as e:
        if "not implemented for 'Half'" not in str(e):
            raise
    dtype = ts[0].dtype if name.startswith("lerp") else apply([t.to("meta") for t in ts], False).dtype
    wide = apply([t.to(dtype).float() for t in ts], False)
    return ts[0].copy_(wide) if in_place else wide.to(dtype)


def clamp_tensor(op, ts):
    """clamp_tensor(_) with both bounds, clamp_tensor_min(_) / clamp_tensor_max(_) with one. float16 with both, which
    PyTorch 1.13's CPU refuses ("not implemented for 'Half'"), from the operands in the result's dtype widened to
    float32 (the clamp is exact), as its GPU computes it."""
    in_place, name = op.endswith("_"), op.rstrip("_")
    bounds = {"clamp_tensor": (ts[1], ts[2]) if len(ts) > 2 else (None, None), "clamp_tensor_min": (ts[1], None),
              "clamp_tensor_max": (None, ts[1])}[name]
    apply = lambda x, lo, hi: x.clamp_(lo, hi) if in_place else torch.clamp(x, lo, hi)
    try:
        return apply(ts[0], *bounds)
    except RuntimeError as e:
        if "not implemented for 'Half'" not in str(e):
            raise
    dtype = torch.result_type(ts[0], bounds[0]) if name != "clamp_tensor" else \
        torch.clamp(*[t.to("meta") for t in ts]).dtype
    wide = torch.clamp(*[t.to(dtype).float() for t in ts]).to(dtype)
    return ts[0].copy_(wide) if in_place else wide


def call(op, args, ts, number=None, dtype=None, bounds=None, tolerances=None, replacements=None):
    """The PyTorch call of an op, as the runner makes normrt's. `number` is the Scalar of the number ops: t op n
    (<op>_number), n op t (number_<op>), t op= n (<op>_number_), fill_, full_like and full (shape args, `dtype`);
    `bounds` clamp's, `replacements` nan_to_num's [nan, posinf, neginf]."""
    if op.rstrip("_") in UNARY:
        return elementwise(op, ts[0], bounds)
    if op == "round_decimals":
        return round_decimals(ts[0], args[0])
    if op == "round_decimals_":
        return ts[0].copy_(round_decimals(ts[0].clone(), args[0])) if ts[0].dtype == torch.float16 else \
            ts[0].round_(decimals=args[0])
    if op.rstrip("_") in DIVISIONS:
        return division(op, ts[0], ts[1])
    if op == "div_rounding_mode_x":
        return torch.div(ts[0], ts[1], rounding_mode="x")
    if op in TERNARY:
        return ternary(op, ts, number)
    if op.startswith("clamp_tensor"):  # clamp with tensor bounds: ts[1] min and ts[2] max, or one of them
        return clamp_tensor(op, ts)
    if op.startswith("searchsorted"):  # args: [right, side: 0 absent, 1 "left", 2 "right", 3 "middle"]
        values = number if op == "searchsorted_number" else ts[1]
        return torch.searchsorted(ts[0], values, right=bool(args[0]), side=[None, "left", "right", "middle"][args[1]],
                                  sorter=ts[2] if op == "searchsorted_sorter" else None)
    if op.startswith("bucketize"):  # args: [right]
        return torch.bucketize(number if op == "bucketize_number" else ts[0], ts[-1], right=bool(args[0]))
    if op in ("copysign", "copysign_"):
        return torch.copysign(ts[0], ts[1]) if op == "copysign" else ts[0].copysign_(ts[1])
    if op in ("nan_to_num", "nan_to_num_"):
        return getattr(torch, op)(ts[0], *replacements) if op == "nan_to_num" else ts[0].nan_to_num_(*replacements)
    if op in ("maximum", "minimum"):
        return getattr(torch, op)(ts[0], ts[1])
    if op == "full":
        return torch.full(args, number, dtype=DTYPES[dtype])
    x = ts[0]
    if op in COMPARISONS:
        return getattr(torch, op)(ts[0], ts[1])
    if op in ("logical_not", "isnan", "isinf", "isfinite"):
        return getattr(torch, op)(x)
    if op in ("any_dim", "all_dim"):
        return getattr(torch, op[:3])(x, args[0], keepdim=bool(args[1]))
    if op == "count_nonzero":
        return torch.count_nonzero(x, args[0])
    if op in ("isclose", "allclose"):
        rtol, atol, equal_nan = tolerances
        result = getattr(torch, op)(ts[0], ts[1], rtol=rtol, atol=atol, equal_nan=bool(equal_nan))
        return result if op == "isclose" else torch.tensor(result)
    if op == "equal":
        return torch.tensor(torch.equal(ts[0], ts[1]))
    if op == "where":
        return torch.where(ts[0], ts[1], ts[2])
    if op in ("bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_left_shift", "bitwise_right_shift"):
        return getattr(torch, op)(ts[0], ts[1])
    if op == "bitwise_not":
        return torch.bitwise_not(x)
    if op == "flip":
        return torch.flip(x, args)
    if op == "roll":  # args: (shift, dim) pairs, or one shift for the flattened tensor
        return torch.roll(x, args[0]) if len(args) == 1 else torch.roll(x, args[0::2], args[1::2])
    if op == "repeat":
        return x.repeat(*args)
    if op == "repeat_interleave":  # args: repeats[, dim]
        return torch.repeat_interleave(x, args[0], *args[1:])
    if op == "repeat_interleave_tensor":  # ts[1] the counts; args: [dim]
        return torch.repeat_interleave(x, ts[1], *args)
    if op in ("tril", "triu"):
        return getattr(torch, op)(x, *args)
    if op in BITWISE_IN_PLACE:
        return getattr(ts[0], op)(ts[1])
    if op == "bitwise_not_":
        return x.bitwise_not_()
    if op in ("nonzero", "argwhere"):
        return getattr(torch, op)(x)
    if op == "nonzero_tuple":
        return torch.nonzero(x, as_tuple=True)
    if op == "masked_select":
        return torch.masked_select(ts[0], ts[1])
    if op == "masked_scatter":
        return torch.masked_scatter(ts[0], ts[1], ts[2])
    if op == "index":
        return x[ts[1]]
    if op == "index_put_":
        x[ts[1]] = ts[2]
        return x
    if op == "index_put_accumulate":
        return x.index_put_((ts[1],), ts[2], accumulate=True)
    if op == "broadcast_to":
        return torch.broadcast_to(x, args)
    if op == "masked_scatter_":
        # Source placed in row-major order whatever self's memory format, as PyTorch's CUDA kernel places it (1.13's
        # CPU kernel walks a channels-last self in memory order instead).
        return ts[0].copy_(ts[0].contiguous().masked_scatter_(ts[1], ts[2]))
    if op in ("masked_fill", "masked_fill_"):
        return getattr(x, op)(ts[1], number)
    if op == "fill_":
        return x.fill_(number)
    if op == "full_like":
        return torch.full_like(x, number)
    if op.endswith("_number"):
        return BINARY[op[:-len("_number")]](x, number)
    if op.endswith("_number_") and op[:-len("_number_")] in DIVISIONS:
        return division(op[:-len("number_")], x, number)
    if op.endswith("_number_"):
        return getattr(x, op[:-len("number_")])(number)
    if op.startswith("number_"):
        name = op[len("number_"):]
        if name == "pow":
            return torch.pow(number, x)  # the Scalar-base overload (Python's n ** t makes a 0-dim tensor of n first)
        if name != "div":
            return BINARY[name](number, x)
        # Python's n / t multiplies by t's reciprocal, rounding twice; libtorch's (and normrt's) divides once. The
        # number is wrapped as t op n would wrap it, and the division is true division.
        common = torch.result_type(x, number)
        common = torch.float32 if common == torch.int64 else common
        return torch.div(torch.tensor(number).to(common), x.to(common))
    if op.endswith("_all"):
        return getattr(torch, op[:-len("_all")])(x)
    if op in ("sum", "mean"):
        return getattr(torch, op)(x, args[0], keepdim=bool(args[1]))
    if op in ("max", "min", "argmax", "argmin"):
        return getattr(torch, op)(x, args[0], keepdim=bool(args[1]))
    if op in ("var", "std"):
        return getattr(torch, op)(x, args[0], unbiased=bool(args[1]), keepdim=bool(args[2]))
    if op in ("cumsum", "cumprod"):
        if x.dtype != torch.float16:
            return getattr(torch, op)(x, args[0])
        # Not on PyTorch 1.13's CPU: accumulated in float, as its bfloat16 (NumPy's float32 runs in index order).
        getattr(torch, op)(x.float(), args[0])  # PyTorch's refusals
        if x.dim() == 0:
            return x.clone()
        return torch.from_numpy(getattr(np, op)(x.float().numpy(), axis=args[0], dtype=np.float32)).half()
    if op in ("sort", "argsort"):
        result = torch.sort(x, stable=True, dim=args[0], descending=bool(args[1]))
        return result if op == "sort" else result.indices
    if op == "topk":
        # normrt's ties come in index order: the stable sort's first k, whose values are topk's.
        if x.dtype == torch.float16:  # not on PyTorch 1.13's CPU: float32's, whose values float16 holds
            values, indices = call(op, args, [x.float()])
            return values.half(), indices
        k, dim, largest = args[0], args[1], bool(args[2])
        values, indices = torch.topk(x, k, dim, largest)
        if x.dim() > 0:
            stable = torch.sort(x, stable=True, dim=dim, descending=largest)
            assert torch.equal(values.isnan(), stable.values.narrow(dim, 0, k).isnan())
            assert torch.equal(values.nan_to_num(), stable.values.narrow(dim, 0, k).nan_to_num())
            values, indices = (t.narrow(dim, 0, k).contiguous() for t in stable)
        return values, indices
    if op == "narrow":
        return torch.narrow(x, *args)
    if op == "slice":
        return torch.ops.aten.slice(x, *args)
    if op == "select":
        return torch.select(x, *args)
    if op in ("cat", "stack"):
        return getattr(torch, op)(ts, args[0])
    if op == "permute":
        return x.permute(args)
    if op == "transpose":
        return x.transpose(*args)
    if op in ("pixel_shuffle", "pixel_unshuffle", "channel_shuffle"):
        return getattr(F, op)(x, args[0])
    if op in ("add", "sub", "mul", "div", "pow"):
        return getattr(torch, op)(ts[0], ts[1])
    if op in ("add_", "mul_", "pow_"):
        return getattr(ts[0], op)(ts[1])
    if op == "reshape":
        return x.reshape(args)
    if op in ("softmax", "log_softmax"):
        return getattr(F, op)(x, args[0])
    raise ValueError(op)


def json_number(number):
    """A number as cases.json holds it: an int or a float, but infinities and NaN as the strings "inf", "-inf" and
    "nan" (JSON has none)."""
    if isinstance(number, float) and not math.isfinite(number):
        return str(number)
    return number


def tensor_ops_case(g, out, name, op, shapes, dtypes, args=(), cls=None, inputs=None, number=None, dtype=None,
                    bounds=None, tolerances=None, replacements=None):
    """Writes one case (drawn inputs unless `inputs` gives them) and returns its manifest entry; `number` and
    `dtype` are the number ops' (call()), `bounds` clamp's."""
    cls = cls or [False] * len(shapes)
    nan = op in ("max", "argmax", "min", "argmin", "sum", "max_all", "argmax_all", "min_all", "argmin_all", "sum_all",
                 "maximum", "minimum", "clamp", "clamp_", "abs", "exp", "log", "sort", "argsort", "topk",
                 "logical_not", "any_all", "all_all", "where", "masked_fill", "isnan", "isinf", "isfinite", "any_dim",
                 "all_dim", "count_nonzero", "count_nonzero_all", "equal", "nonzero", "argwhere", "nonzero_tuple",
                 "masked_select", "masked_scatter", "masked_scatter_", "floor", "ceil", "round", "trunc", "frac",
                 "sign", "reciprocal", "copysign", "nan_to_num", "nan_to_num_") + COMPARISONS + tuple(DIVISIONS) + \
        TERNARY
    sparse = op in ("nonzero", "argwhere", "nonzero_tuple")
    ts = inputs or [drawn_input(g, s, d, c, nan, sparse) for s, d, c in zip(shapes, dtypes, cls)]
    if op.startswith("index") and not inputs and dtypes[1] == "int64" and shapes[0] and shapes[0][0] > 0:
        # entries of dim 0, either sign
        ts[1] = torch.randint(-shapes[0][0], shapes[0][0], shapes[1], generator=g)
    if op.rstrip("_") in DIVISIONS and not inputs and dtypes[1] == "int64":  # no integer division by zero
        ts[1] = torch.randint(1, 6, shapes[1], generator=g) * (1 - 2 * torch.randint(0, 2, shapes[1], generator=g))
    if op == "repeat_interleave_tensor" and not inputs and dtypes[1] == "int64":  # counts, mostly not negative
        ts[1] = torch.randint(-1 if torch.rand(1, generator=g) < 0.1 else 0, 4, shapes[1], generator=g)
    if op == "searchsorted_sorter" and not inputs and dtypes[2] == "int64" and shapes[2] == shapes[0] and shapes[0]:
        ts[2] = torch.argsort(ts[0].float(), -1)  # within the boundaries (PyTorch reads past them unchecked)
    folder = os.path.join(out, name)
    os.makedirs(folder)
    for k, t in enumerate(ts):
        save(t, os.path.join(folder, f"in{k}.npy"))
    case = {"op": op, "shapes": [list(s) for s in shapes], "dtypes": list(dtypes), "cls": list(cls), "args": list(args)}
    if number is not None:
        case["number"] = json_number(number)
    if dtype is not None:
        case["dtype"] = dtype
    if bounds is not None:
        case["bounds"] = [b if b is None else json_number(b) for b in bounds]
    if tolerances is not None:
        case["tolerances"] = list(tolerances)
    if replacements is not None:
        case["replacements"] = [v if v is None else json_number(v) for v in replacements]
    try:
        result = call(op, list(args), [t.clone(memory_format=torch.preserve_format) for t in ts], number, dtype,
                      bounds, tolerances, replacements)
    except (RuntimeError, IndexError, ValueError) as e:
        case["error"] = str(e).split("\n")[0].strip()
        return case
    outputs = list(result) if isinstance(result, tuple) else [result]
    case["outputs"] = [str(y.dtype).replace("torch.", "") for y in outputs]
    for k, y in enumerate(outputs):
        save(y, os.path.join(folder, f"out{k}.npy"))
    return case


def main():
    g = torch.Generator().manual_seed(57)
    if os.path.exists(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)
    i64 = lambda values: torch.tensor(values, dtype=torch.int64)
    specs = [
        ("sum_int64_wraps", "sum", [[3]], ["int64"], [0, 0], None, [i64([2 ** 62] * 3)]),
        ("sum_float16_rounds_once", "sum", [[4096]], ["float16"], [0, 1], None,
         [torch.full((4096,), 0.1, dtype=torch.float16)]),
        ("sum_bfloat16_rows", "sum", [[3, 5, 7]], ["bfloat16"], [-1, 0]),
        ("sum_empty_dim", "sum", [[2, 0, 3]], ["float32"], [1, 1]),
        ("mean_channels_last", "mean", [[2, 3, 4, 5]], ["float32"], [1, 0], [True]),
        ("mean_empty_is_nan", "mean", [[3, 0]], ["bfloat16"], [1, 0]),
        ("mean_int64_refused", "mean", [[2, 3]], ["int64"], [5, 0]),
        ("max_float16_nan_and_ties", "max", [[4, 6]], ["float16"], [0, 1]),
        ("max_int64_ties", "max", [[5, 4]], ["int64"], [0, 0]),
        ("max_0dim", "max", [[]], ["float32"], [-1, 1]),
        ("argmax_empty_refused", "argmax", [[0, 3]], ["float32"], [0, 0]),
        ("argmax_bfloat16", "argmax", [[2, 3, 5]], ["bfloat16"], [-2, 1]),
        ("narrow_negative_start", "narrow", [[3, 6]], ["int64"], [1, -4, 3]),
        ("narrow_too_long_refused", "narrow", [[3, 6]], ["float32"], [0, 2, 2]),
        ("slice_clamped", "slice", [[4, 5]], ["float16"], [-1, -3, 100]),
        ("slice_reversed_bounds", "slice", [[4, 5]], ["float32"], [0, 3, 1]),
        ("slice_0dim_refused", "slice", [[]], ["float32"], [0, 0, 1]),
        ("select_negative", "select", [[2, 3, 4, 5]], ["float32"], [-3, -1], [True]),
        ("select_out_of_range_refused", "select", [[2, 3]], ["int64"], [1, 3]),
        ("cat_promotes_16bit_to_float32", "cat", [[2, 3], [2, 1]], ["float16", "bfloat16"], [1]),
        ("cat_skips_1d_empty", "cat", [[0], [2, 3], [0]], ["float16", "int64", "int64"], [-1]),
        ("cat_only_1d_empty", "cat", [[0], [0]], ["float32", "float32"], [5]),
        ("cat_channels_last", "cat", [[2, 3, 2, 2], [2, 1, 2, 2]], ["float32", "float32"], [1], [True, True]),
        ("cat_0dim_refused", "cat", [[2], [], [2]], ["float32"] * 3, [0]),
        ("cat_ranks_refused", "cat", [[0], [2, 3], [2]], ["float32"] * 3, [1]),
        ("stack_mixed_dtypes", "stack", [[2, 3], [2, 3]], ["int64", "float32"], [2]),
        ("stack_sizes_refused", "stack", [[2, 3], [2, 4]], ["float32", "float32"], [0]),
        ("permute_0dim", "permute", [[]], ["float32"], []),
        ("permute_5d_channels_last", "permute", [[2, 3, 2, 1, 4]], ["bfloat16"], [-1, 3, 0, 2, 1], [True]),
        ("permute_duplicate_refused", "permute", [[2, 3]], ["float32"], [1, -1]),
        ("transpose_dim0_checked_first", "transpose", [[2, 3]], ["float32"], [-3, 2]),
        ("pixel_shuffle_int64", "pixel_shuffle", [[2, 8, 3, 2]], ["int64"], [2]),
        ("pixel_unshuffle_channels_last", "pixel_unshuffle", [[1, 2, 4, 6]], ["float16"], [2], [True]),
        ("channel_shuffle_rank_before_groups", "channel_shuffle", [[5]], ["float32"], [0]),
        ("add_int64_broadcast", "add", [[2, 3, 4], [3, 1]], ["int64", "int64"]),
        ("mul_int64_wraps", "mul", [[2], [2]], ["int64", "int64"], [], None, [i64([2 ** 62, -7]), i64([4, 3])]),
        ("div_int64_is_float32", "div", [[3, 4], [4]], ["int64", "int64"]),
        ("mul_int64_by_0dim_float16", "mul", [[2, 3], []], ["int64", "float16"]),
        ("sub_float16_minus_0dim_float32", "sub", [[2], []], ["float16", "float32"], [], None,
         [torch.tensor([2048.0, 3.0], dtype=torch.float16), torch.tensor(2049.0)]),
        ("add_channels_last_int64", "add", [[2, 3, 2, 2], [2, 3, 2, 2]], ["int64", "int64"], [], [True, False]),
        ("add_in_place_float16_int64", "add_", [[2, 3], [3]], ["float16", "int64"]),
        ("mul_in_place_int64_float_refused", "mul_", [[2, 3], []], ["int64", "float32"]),
        ("add_shapes_refused", "add", [[2, 3], [2]], ["float32", "float32"]),
        ("reshape_inferred", "reshape", [[2, 3, 4]], ["bfloat16"], [4, -1, 2]),
        ("reshape_ambiguous_refused", "reshape", [[2, 0]], ["float32"], [-1, 0]),
        ("softmax_middle_dim", "softmax", [[3, 4, 5]], ["float32"], [1]),
        ("log_softmax_bfloat16", "log_softmax", [[2, 7]], ["bfloat16"], [-1]),
        ("softmax_int64_refused", "softmax", [[3, 4]], ["int64"], [-1]),
        ("softmax_int64_empty", "softmax", [[3, 0]], ["int64"], [0]),
    ]
    # Numbers beside tensors: (name, op, shape, dtype, number, channels-last, input); full: (name, "full", shape,
    # dtype, number).
    nan, inf = float("nan"), float("inf")
    number_specs = [
        ("add_number_int64_stays_int64", "add_number", [2, 3], "int64", 2),
        ("add_number_int64_wraps", "add_number", [2], "int64", 2 ** 62, False, i64([2 ** 62, -1])),
        ("mul_number_int64_wraps", "mul_number", [2], "int64", -2 ** 63, False, i64([1, 3])),
        ("add_number_int64_exact_past_2_53", "add_number", [2], "int64", 2 ** 53 + 1, False, i64([2, 0])),
        ("add_number_int64_fraction_is_float32", "add_number", [3, 2], "int64", 0.5),
        ("div_number_int64_is_float32", "div_number", [2, 3], "int64", 2),
        ("sub_number_0dim_int64_fraction", "sub_number", [], "int64", 2.5),
        ("number_sub_int64", "number_sub", [2, 3], "int64", 10),
        ("number_sub_int64_fraction", "number_sub", [4], "int64", 2.5),
        ("number_div_int64", "number_div", [2, 3], "int64", 7),
        ("number_add_int64", "number_add", [3], "int64", -2 ** 63),
        ("number_mul_bfloat16", "number_mul", [2, 2], "bfloat16", 0.1234567),
        ("mul_number_float16_rounds_the_number", "mul_number", [4, 5], "float16", 0.1234567),
        ("add_number_float16_past_its_range", "add_number", [3], "float16", 70000),
        ("mul_number_0dim_float16_stays_float16", "mul_number", [], "float16", 0.1),
        ("add_number_float32_huge_integer", "add_number", [3], "float32", 2 ** 62 + 1),
        ("mul_number_float32_past_its_range", "mul_number", [3], "float32", 1e40),
        ("sub_number_nan", "sub_number", [2, 2], "float32", nan),
        ("div_number_bfloat16_by_zero", "div_number", [2, 3], "bfloat16", 0),
        ("number_div_float16_rounds_once", "number_div", [4, 6], "float16", 3),
        ("number_div_float32", "number_div", [3, 5], "float32", 0.3),
        ("number_sub_channels_last", "number_sub", [2, 3, 2, 2], "float32", 1.5, True),
        ("add_number__int64", "add_number_", [2, 3], "int64", 3),
        ("add_number__int64_fraction_refused", "add_number_", [2, 3], "int64", 1.5),
        ("div_number__int64_refused", "div_number_", [2], "int64", 2),
        ("mul_number__float16", "mul_number_", [2, 3], "float16", 0.3),
        ("sub_number__bfloat16_large_integer", "sub_number_", [3], "bfloat16", 2 ** 40 + 1),
        ("mul_number__int64_channels_last", "mul_number_", [1, 2, 2, 3], "int64", -3, True),
        ("fill__int64_exact", "fill_", [2, 3], "int64", 2 ** 62 + 7),
        ("fill__int64_truncates", "fill_", [3], "int64", 2.9),
        ("fill__int64_nan_refused", "fill_", [3], "int64", nan),
        ("fill__float16_refused", "fill_", [2, 2], "float16", 1e5),
        ("fill__bfloat16_channels_last", "fill_", [2, 3, 2, 2], "bfloat16", 0.1234567, True),
        ("full_like_float16_channels_last", "full_like", [1, 3, 2, 2], "float16", -2.5, True),
        ("full_like_int64_refused", "full_like", [2], "int64", inf),
        ("full_int64_exact", "full", [2, 3], "int64", 2 ** 62 + 1),
        ("full_int64_truncates", "full", [2], "int64", -3.7),
        ("full_int64_nan_refused", "full", [2], "int64", nan),
        ("full_int64_inf_refused", "full", [2], "int64", -inf),
        ("full_float16_largest", "full", [2], "float16", -65504),
        ("full_float16_just_past_refused", "full", [2], "float16", 65504.5),
        ("full_float16_integer_refused", "full", [2], "float16", 70000),
        ("full_float16_inf", "full", [2], "float16", -inf),
        ("full_bfloat16_refused", "full", [2], "bfloat16", 1e39),
        ("full_bfloat16_rounds", "full", [3], "bfloat16", 0.1234567),
        ("full_float32_refused", "full", [2], "float32", -1e40),
        ("full_float32_empty_refused", "full", [0, 3], "float32", 1e40),
        ("full_float32_nan", "full", [2, 1], "float32", nan),
        ("full_float32_integer_rounds", "full", [], "float32", 2 ** 24 + 1),
    ]
    # Reductions over every element, drawn after the cases above so that theirs keep their inputs.
    cl = lambda t: t.contiguous(memory_format=torch.channels_last)
    whole_specs = [
        ("sum_all_int64_wraps", "sum_all", [[2, 2]], ["int64"], [], None, [i64([[2 ** 62, 2 ** 62], [2 ** 62, 1]])]),
        ("sum_all_float16_rounds_once", "sum_all", [[64, 64]], ["float16"], [], None,
         [torch.full((64, 64), 0.1, dtype=torch.float16)]),
        ("sum_all_empty", "sum_all", [[0, 3]], ["bfloat16"]),
        ("sum_all_0dim", "sum_all", [[]], ["float32"]),
        ("mean_all_channels_last", "mean_all", [[2, 3, 4, 5]], ["float32"], [], [True]),
        ("mean_all_empty_is_nan", "mean_all", [[3, 0]], ["float32"]),
        ("mean_all_int64_refused", "mean_all", [[2]], ["int64"]),
        ("max_all_float16_nan", "max_all", [[3, 4]], ["float16"]),
        ("max_all_0dim_int64", "max_all", [[]], ["int64"]),
        ("max_all_empty_refused", "max_all", [[0]], ["float32"]),
        ("argmax_all_channels_last_logical_index", "argmax_all", [[1, 2, 3, 4]], ["float32"], [], [True],
         [cl(torch.arange(24.0).reshape(1, 2, 3, 4))]),
        ("argmax_all_ties_first", "argmax_all", [[2, 3]], ["int64"], [], None, [i64([[1, 7, 2], [7, 0, 7]])]),
        ("argmax_all_empty_refused", "argmax_all", [[2, 0]], ["bfloat16"]),
    ]
    # maximum/minimum and the elementwise functions, drawn after the cases above so that theirs keep their inputs;
    # clamp's bounds as [min, max].
    f32 = lambda values: torch.tensor(values, dtype=torch.float32)
    int64_edges = i64([-2 ** 63, -2 ** 63 + 1, -5, 0, 7, 2 ** 63 - 1])
    elementwise_specs = [
        ("maximum_nan_either_side", "maximum", [[3, 4], [4]], ["float32", "float32"]),
        ("minimum_nan_either_side", "minimum", [[3, 4], [3, 1]], ["float32", "float32"]),
        ("maximum_int64_broadcast", "maximum", [[2, 3, 1], [4]], ["int64", "int64"]),
        ("minimum_int64_extremes", "minimum", [[6], [6]], ["int64", "int64"], [], None,
         [int64_edges, i64([2 ** 63 - 1, -2 ** 63, -4, 0, 8, 2 ** 63 - 2])]),
        ("maximum_int64_by_0dim_float16", "maximum", [[2, 3], []], ["int64", "float16"]),
        ("minimum_bfloat16_channels_last", "minimum", [[2, 3, 2, 2], [3, 1, 1]], ["bfloat16", "bfloat16"], [],
         [True, False]),
        ("maximum_float16_float32_promotes", "maximum", [[3], [3]], ["float16", "float32"]),
        ("maximum_empty", "maximum", [[0, 3], [3]], ["float32", "float32"]),
        ("minimum_shapes_refused", "minimum", [[2], [3]], ["float32", "float32"]),
        ("neg_int64_wraps", "neg", [[6]], ["int64"], [], None, [int64_edges]),
        ("abs_int64_wraps", "abs", [[6]], ["int64"], [], None, [int64_edges]),
        ("neg_float16", "neg", [[2, 3]], ["float16"]),
        ("abs_bfloat16_channels_last", "abs", [[1, 2, 2, 3]], ["bfloat16"], [], [True]),
        ("sqrt_int64_is_float32", "sqrt", [[2, 3]], ["int64"]),
        ("sqrt_float32", "sqrt", [[4, 5]], ["float32"]),
        ("sqrt_float32_edges", "sqrt", [[7]], ["float32"], [], None,
         [f32([0.0, -0.0, -1.0, 1e-45, float("inf"), 2.0, 3.4e38])]),
        ("sqrt_float16", "sqrt", [[3, 4]], ["float16"]),
        ("exp_bfloat16", "exp", [[3, 5]], ["bfloat16"]),
        ("exp_float32_edges", "exp", [[8]], ["float32"], [], None,
         [f32([88.72, 89.0, -87.3, -103.9, -104.5, 0.0, 1e-8, float("-inf")])]),
        ("exp_float16", "exp", [[4, 2]], ["float16"]),
        ("exp_int64_is_float32", "exp", [[5]], ["int64"]),
        ("log_float32_edges", "log", [[8]], ["float32"], [], None,
         [f32([0.0, -0.0, -1.0, 1e-45, 1e-40, float("inf"), 1.0, 3.4e38])]),
        ("log_int64_is_float32", "log", [[2, 3]], ["int64"]),
        ("log_float16_channels_last", "log", [[1, 3, 2, 2]], ["float16"], [], [True]),
        ("log_empty", "log", [[0, 3]], ["float32"]),
        ("exp_0dim", "exp", [[]], ["float32"]),
        ("sqrt__float32", "sqrt_", [[3, 4]], ["float32"]),
        ("exp__int64_refused", "exp_", [[3]], ["int64"]),
        ("log__bfloat16", "log_", [[2, 5]], ["bfloat16"]),
        ("abs__int64", "abs_", [[2, 3]], ["int64"]),
        ("neg__float16_channels_last", "neg_", [[2, 2, 1, 3]], ["float16"], [], [True]),
    ]
    nan = float("nan")
    clamp_specs = [
        ("clamp_both", "clamp", [3, 4], "float32", [-1.3, 2.2]),
        ("clamp_min_only_int64", "clamp", [2, 3], "int64", [2, None]),
        ("clamp_max_only_bfloat16", "clamp", [4, 3], "bfloat16", [None, 0.75]),
        ("clamp_int64_fraction_is_float32", "clamp", [2, 3], "int64", [0.5, None]),
        ("clamp_int64_exact_past_2_53", "clamp", [3], "int64", [2 ** 62 + 1, None], False,
         i64([2 ** 62, -5, 2 ** 62 + 3])),
        ("clamp_min_above_max", "clamp", [3, 4], "float32", [3, -1]),
        ("clamp_nan_bound_beside_another_is_nan", "clamp", [3, 4], "float32", [nan, 1.0]),
        ("clamp_nan_bound_alone_clamps_nothing", "clamp", [3, 4], "float32", [None, nan]),
        ("clamp_int64_nan_bound_beside_another", "clamp", [3], "int64", [0, nan]),
        ("clamp_nan_bound_leaves_the_other_unchecked", "clamp", [2], "bfloat16", [nan, -1e40]),
        ("clamp_infinite_bounds", "clamp", [2, 3], "float32", [float("-inf"), float("inf")]),
        ("clamp_bfloat16_rounds_bounds", "clamp", [4, 4], "bfloat16", [0.1234567, 2.9]),
        ("clamp_float16", "clamp", [3, 4], "float16", [-2.3, 1.1]),
        ("clamp_float16_bound_refused", "clamp", [2], "float16", [None, 70000]),
        ("clamp_float32_bound_refused", "clamp", [2], "float32", [-1e40, None]),
        ("clamp_int64_float_bound_refused", "clamp", [2], "int64", [1e40, None]),
        ("clamp_no_bounds_refused", "clamp", [2], "float32", [None, None]),
        ("clamp_channels_last_int64", "clamp", [2, 3, 2, 2], "int64", [-2, 3], True),
        ("clamp_0dim", "clamp", [], "float32", [1, None]),
        ("clamp__bfloat16_channels_last", "clamp_", [1, 2, 3, 2], "bfloat16", [-1, 1], True),
        ("clamp__float16", "clamp_", [3, 3], "float16", [None, -0.5]),
        ("clamp__int64", "clamp_", [2, 4], "int64", [-1, 1]),
        ("clamp__int64_fraction_refused", "clamp_", [2, 3], "int64", [0.5, None]),
        ("clamp__int64_cast_refused_before_range", "clamp_", [2], "int64", [1e40, None]),
        ("clamp__no_bounds_refused", "clamp_", [2], "float32", [None, None]),
    ]
    # Minima, drawn after the cases above.
    minimum_specs = [
        ("min_float16_nan_and_ties", "min", [[4, 6]], ["float16"], [0, 1]),
        ("min_int64_ties", "min", [[5, 4]], ["int64"], [-1, 0], None, [i64([[3, -2, -2, 7]] * 5)]),
        ("min_channels_last", "min", [[2, 3, 4, 5]], ["float32"], [1, 0], [True]),
        ("min_0dim", "min", [[]], ["bfloat16"], [0, 1]),
        ("min_empty_refused", "min", [[2, 0]], ["float32"], [1, 0]),
        ("argmin_bfloat16", "argmin", [[2, 3, 5]], ["bfloat16"], [-2, 1]),
        ("argmin_empty_refused", "argmin", [[0, 3]], ["int64"], [0, 0]),
        ("min_all_float32_nan", "min_all", [[3, 4]], ["float32"]),
        ("min_all_int64_extremes", "min_all", [[6]], ["int64"], [], None, [int64_edges]),
        ("min_all_empty_refused", "min_all", [[0]], ["float16"]),
        ("argmin_all_channels_last_logical_index", "argmin_all", [[1, 2, 3, 4]], ["float32"], [], [True],
         [cl(-torch.arange(24.0).reshape(1, 2, 3, 4))]),
        ("argmin_all_ties_first", "argmin_all", [[2, 3]], ["int64"], [], None, [i64([[1, -7, 2], [-7, 0, -7]])]),
        ("argmin_all_empty_refused", "argmin_all", [[2, 0]], ["bfloat16"]),
    ]
    # Variances, drawn after the cases above: [dim, unbiased, keepdim].
    variance_specs = [
        ("var_middle_dim", "var", [[3, 5, 7]], ["float32"], [1, 1, 0]),
        ("std_biased_keepdim", "std", [[4, 6]], ["float32"], [-1, 0, 1]),
        ("var_far_from_zero", "var", [[3, 40]], ["float32"], [1, 1, 0], None,
         [1e4 + torch.arange(120.0).reshape(3, 40) % 17 / 64]),
        ("var_single_element_is_nan", "var", [[3, 1]], ["float32"], [1, 1, 0]),
        ("var_single_element_biased_is_0", "var", [[3, 1]], ["float32"], [1, 0, 0]),
        ("std_empty_line_is_nan", "std", [[0, 3]], ["float32"], [0, 0, 0]),
        ("std_bfloat16", "std", [[5, 9]], ["bfloat16"], [0, 1, 0]),
        ("var_float16_channels_last", "var", [[2, 3, 4, 5]], ["float16"], [1, 1, 1], [True]),
        ("var_nan_line", "var", [[4, 6]], ["float32"], [1, 1, 0], None,
         [torch.tensor([[1.0, 2.0, float("nan"), 4.0, 5.0, 6.0]] * 4)]),
        ("var_0dim", "var", [[]], ["float32"], [0, 0, 0]),
        ("var_int64_refused", "var", [[2, 3]], ["int64"], [0, 1, 0]),
        ("std_dim_refused", "std", [[2, 3]], ["float32"], [2, 1, 0]),
        ("var_all_float32", "var_all", [[4, 7]], ["float32"]),
        ("std_all_float16", "std_all", [[3, 5]], ["float16"]),
        ("var_all_empty_is_nan", "var_all", [[0, 2]], ["float32"]),
        ("std_all_int64_refused", "std_all", [[3]], ["int64"]),
    ]
    # Powers, drawn after the cases above: t ** n, t.pow_(n) and torch.pow(n, t) as number cases (name, op, shape,
    # dtype, exponent or base, channels-last, input), then tensor ** tensor.
    specials = [0.0, -0.0, float("-inf"), float("inf"), nan, 2.0, -1.0, 0.3, 7.5]
    bases = [0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 2.0, -2.0, inf, -inf, nan, 3.0, -8.0, 1e-45]
    exponents = [0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 2.0, 3.0, -3.0, inf, -inf, nan, 1 / 3, 16777217.0, 1e10]
    # PyTorch's CPU loops treat their last elements (past the last multiple of 16 for float32, 32 for bfloat16, on
    # AVX2) apart: float32 pow with an exponent float cannot hold uses it as a double there (as a float in the
    # vectorised loop), and bfloat16's 1 / sqrt rounds the square root to bfloat16 there. normrt computes every element
    # as the vectorised loop: such cases have a multiple of 32 elements, the others exponents float holds.
    spread = torch.logspace(-20, 20, 64)
    bf16 = lambda values: torch.tensor(values, dtype=torch.bfloat16)
    f16 = lambda values: torch.tensor(values, dtype=torch.float16)
    bf16_spread = torch.cat([bf16([1.00390625, 3.0, -1.00390625, 0.0, -0.0]), (torch.arange(1, 60) / 7).bfloat16()])
    pow_number_specs = [
        ("pow_number_float32", "pow_number", [3, 4], "float32", 0.375),
        ("pow_number_float32_spread", "pow_number", [64], "float32", -1.75, False, spread),
        ("pow_number_float32_exponent_rounded_to_float", "pow_number", [64], "float32", 1.7, False, spread),
        ("pow_number_float32_sqrt_specials", "pow_number", [9], "float32", 0.5, False, f32(specials)),
        ("pow_number_float32_rsqrt_specials", "pow_number", [9], "float32", -0.5, False, f32(specials)),
        ("pow_number_float32_reciprocal_specials", "pow_number", [9], "float32", -1, False, f32(specials)),
        ("pow_number_float32_square", "pow_number", [64], "float32", 2, False, spread * 1.1),
        ("pow_number_float32_cube", "pow_number", [64], "float32", 3.0, False, -spread / 3),
        ("pow_number_float32_inverse_square", "pow_number", [64], "float32", -2, False, spread / 3),
        ("pow_number_float32_near_three_is_pow", "pow_number", [64], "float32", 3.00000001, False, spread / 3),
        ("pow_number_float32_specials", "pow_number", [9], "float32", -3, False, f32(specials)),
        ("pow_number_float32_huge_exponent", "pow_number", [9], "float32", 1e50, False, f32(specials)),
        ("pow_number_float16_sqrt_is_pow", "pow_number", [9], "float16", 0.5, False, f16(specials)),
        ("pow_number_float16_cube", "pow_number", [5, 6], "float16", 3),
        ("pow_number_float16_exponent_rounded", "pow_number", [39], "float16", 0.1, False,
         (torch.arange(1, 40) / 3).half()),
        ("pow_number_float16_exponent_refused", "pow_number", [3], "float16", 1e5),
        ("pow_number_bfloat16_cube_rounds_the_square", "pow_number", [64], "bfloat16", 3, False, bf16_spread),
        ("pow_number_bfloat16_inverse_square", "pow_number", [64], "bfloat16", -2, False, bf16_spread),
        ("pow_number_bfloat16_rsqrt", "pow_number", [64], "bfloat16", -0.5, False, bf16_spread),
        ("pow_number_bfloat16_exponent_rounds_to_three", "pow_number", [64], "bfloat16", 3.01, False, bf16_spread),
        ("pow_number_bfloat16_general", "pow_number", [64], "bfloat16", -1.3, False, bf16_spread),
        ("pow_number_bfloat16_exponent_refused", "pow_number", [3], "bfloat16", 1e39),
        ("pow_number_int64", "pow_number", [3, 4], "int64", 3),
        ("pow_number_int64_wraps", "pow_number", [4], "int64", 41, False, i64([3, -3, 2, 7])),
        ("pow_number_int64_negative_refused", "pow_number", [3], "int64", -2),
        ("pow_number_int64_fraction_is_float32", "pow_number", [3, 4], "int64", 2.5),
        ("pow_number_int64_float_two_is_float32", "pow_number", [3, 4], "int64", 2.0),
        ("pow_number_zero_is_one", "pow_number", [9], "float32", 0, False, f32(specials)),
        ("pow_number_int64_zero_float_is_float32", "pow_number", [2, 3], "int64", 0.0),
        ("pow_number_one_copies", "pow_number", [1, 2, 2, 3], "bfloat16", 1, True),
        ("pow_number_nan_exponent", "pow_number", [9], "float32", nan, False, f32(specials[:8] + [1.0])),
        ("pow_number_channels_last", "pow_number", [2, 3, 2, 2], "float32", 0.75, True),
        ("pow_number_0dim", "pow_number", [], "float32", 2.5),
        ("pow_number_empty", "pow_number", [0, 3], "float16", 0.3),
        ("pow_number__float32", "pow_number_", [3, 4], "float32", 3),
        ("pow_number__bfloat16_cube", "pow_number_", [64], "bfloat16", 3, False, bf16_spread),
        ("pow_number__int64", "pow_number_", [2, 3], "int64", 5),
        ("pow_number__int64_fraction_refused", "pow_number_", [2, 3], "int64", 0.5),
        ("pow_number__int64_zero_float_refused", "pow_number_", [2], "int64", 0.0),
        ("pow_number__int64_negative_refused", "pow_number_", [2], "int64", -1),
        ("pow_number__float16_refused", "pow_number_", [2, 2], "float16", 7e4),
        ("pow_number__float16_channels_last", "pow_number_", [1, 2, 3, 2], "float16", -1.5, True),
        ("number_pow_float32", "number_pow", [3, 4], "float32", 2.5),
        ("number_pow_int64", "number_pow", [3, 4], "int64", 2),
        ("number_pow_int64_fraction_is_float32", "number_pow", [3, 4], "int64", 0.5),
        ("number_pow_one_is_ones", "number_pow", [9], "float32", 1, False, f32(specials)),
        ("number_pow_float16_rounds_the_base", "number_pow", [4, 5], "float16", 0.1234567),
        ("number_pow_negative_base", "number_pow", [3, 4], "float32", -2),
        ("number_pow_int64_negative_base", "number_pow", [3, 4], "int64", -3),
        ("number_pow_channels_last", "number_pow", [2, 3, 2, 1], "bfloat16", 3, True),
    ]
    grid_bases = f32([b for b in bases for _ in exponents])
    grid_exponents = f32([e for _ in bases for e in exponents])
    pow_specs = [
        ("pow_float32_broadcast", "pow", [[3, 4], [4]], ["float32", "float32"]),
        ("pow_float32_special_grid", "pow", [[len(grid_bases)]] * 2, ["float32", "float32"], [], None,
         [grid_bases, grid_exponents]),
        ("pow_int64_negative_exponents", "pow", [[5], [5]], ["int64", "int64"], [], None,
         [i64([2, -3, 0, 1, -1]), i64([-1, -2, -1, -5, -3])]),
        ("pow_int64_broadcast", "pow", [[2, 3, 1], [4]], ["int64", "int64"]),
        ("pow_int64_wraps", "pow", [[3], [3]], ["int64", "int64"], [], None, [i64([3, -3, 7]), i64([41, 41, 23])]),
        ("pow_float16_float32_promotes", "pow", [[3], [3]], ["float16", "float32"]),
        ("pow_int64_by_0dim_float16", "pow", [[2, 3], []], ["int64", "float16"]),
        ("pow_bfloat16_channels_last", "pow", [[2, 3, 2, 2], [3, 1, 1]], ["bfloat16", "bfloat16"], [], [True, False]),
        ("pow_shapes_refused", "pow", [[2], [3]], ["float32", "float32"]),
        ("pow__float32_by_int64", "pow_", [[2, 3], [3]], ["float32", "int64"]),
        ("pow__int64_by_float_refused", "pow_", [[2, 3], []], ["int64", "float32"]),
        ("pow__float16_broadcast_refused", "pow_", [[3], [2, 3]], ["float16", "float16"]),
    ]
    # Sorting, drawn after the cases above: sort and argsort [dim, descending], topk [k, dim, largest]; the drawn
    # eighths tie often.
    unordered = f32([1.0, nan, 1.0, nan, 0.0, -0.0, -inf, inf, 2.0, 2.0, nan, -1.0, 0.0])
    sort_specs = [
        ("sort_last_dim", "sort", [[3, 9]], ["float32"], [-1, 0]),
        ("sort_descending_middle_dim", "sort", [[2, 7, 3]], ["float32"], [1, 1]),
        ("sort_nan_zeros_and_ties", "sort", [[13]], ["float32"], [0, 0], None, [unordered]),
        ("sort_nan_zeros_and_ties_descending", "sort", [[13]], ["float32"], [0, 1], None, [unordered]),
        ("sort_int64", "sort", [[4, 6]], ["int64"], [0, 1]),
        ("sort_int64_extremes", "sort", [[6]], ["int64"], [0, 0], None, [int64_edges]),
        ("sort_float16", "sort", [[5, 4]], ["float16"], [1, 0]),
        ("sort_bfloat16_descending", "sort", [[3, 8]], ["bfloat16"], [-1, 1]),
        ("sort_channels_last", "sort", [[2, 3, 4, 5]], ["float32"], [1, 0], [True]),
        ("sort_0dim", "sort", [[]], ["float32"], [0, 0]),
        ("sort_empty", "sort", [[0, 3]], ["float32"], [1, 0]),
        ("sort_dim_refused", "sort", [[3]], ["float32"], [2, 0]),
        ("argsort_descending", "argsort", [[4, 5]], ["float32"], [0, 1]),
        ("argsort_int64", "argsort", [[7]], ["int64"], [-1, 0]),
        ("topk_largest", "topk", [[4, 10]], ["float32"], [3, -1, 1]),
        ("topk_smallest_middle_dim", "topk", [[2, 9, 3]], ["float32"], [4, 1, 0]),
        ("topk_nan_first", "topk", [[13]], ["float32"], [5, 0, 1], None, [unordered]),
        ("topk_smallest_zeros_in_index_order", "topk", [[13]], ["float32"], [4, 0, 0], None, [unordered]),
        ("topk_int64", "topk", [[3, 8]], ["int64"], [2, 1, 0]),
        ("topk_bfloat16_channels_last", "topk", [[2, 3, 4, 5]], ["bfloat16"], [2, 1, 1], [True]),
        ("topk_k_zero", "topk", [[3, 4]], ["float32"], [0, 1, 1]),
        ("topk_all_float16", "topk", [[3, 4]], ["float16"], [4, 1, 0]),
        ("topk_0dim", "topk", [[]], ["float32"], [1, 0, 1]),
        ("topk_empty_rows", "topk", [[0, 3]], ["float32"], [2, 1, 1]),
        ("topk_k_too_large_refused", "topk", [[3, 4]], ["float32"], [5, 1, 1]),
        ("topk_k_negative_refused", "topk", [[3]], ["float32"], [-1, 0, 1]),
        ("topk_dim_refused", "topk", [[3]], ["float32"], [2, 2, 1]),
        ("topk_dim_refused_before_k", "topk", [[3]], ["float32"], [-1, 2, 1]),
        ("topk_0dim_k_zero", "topk", [[]], ["int64"], [0, -1, 0]),
    ]
    # Running sums and products, drawn after the cases above: [dim].
    cumulative_specs = [
        ("cumsum_last_dim", "cumsum", [[3, 9]], ["float32"], [-1]),
        ("cumsum_middle_dim", "cumsum", [[2, 7, 3]], ["float32"], [1]),
        ("cumsum_accumulates_in_double", "cumsum", [[4]], ["float32"], [0], None, [f32([1e8, 1.0, -1e8, 1.0])]),
        ("cumprod_accumulates_in_double", "cumprod", [[3]], ["float32"], [0], None, [f32([3.4e38, 10.0, 0.01])]),
        ("cumsum_bfloat16_accumulates_in_float", "cumsum", [[4]], ["bfloat16"], [0], None,
         [bf16([256.0, 1.0, 1.0, 1.0])]),
        ("cumprod_bfloat16_nan", "cumprod", [[3, 5]], ["bfloat16"], [1]),
        ("cumsum_float16", "cumsum", [[5, 4]], ["float16"], [0]),
        ("cumprod_float16_accumulates_in_float", "cumprod", [[4]], ["float16"], [0], None,
         [f16([1.0009765625, 1.0009765625, 1.0009765625, 0.5])]),
        ("cumsum_int64_wraps", "cumsum", [[2]], ["int64"], [0], None, [i64([2 ** 62, 2 ** 62])]),
        ("cumprod_int64_wraps", "cumprod", [[3]], ["int64"], [0], None, [i64([2 ** 40, 2 ** 40, 3])]),
        ("cumprod_int64", "cumprod", [[2, 5]], ["int64"], [1]),
        ("cumsum_channels_last", "cumsum", [[2, 3, 4, 5]], ["float32"], [1], [True]),
        ("cumsum_0dim", "cumsum", [[]], ["float32"], [0]),
        ("cumsum_empty", "cumsum", [[0, 3]], ["float32"], [1]),
        ("cumsum_dim_refused", "cumsum", [[3]], ["float32"], [1]),
        ("cumprod_float16_dim_refused", "cumprod", [[3]], ["float16"], [-2]),
        ("cumsum_bfloat16_float_loses_the_one", "cumsum", [[3]], ["bfloat16"], [0], None,
         [bf16([2.0 ** 24, 1.0, -2.0 ** 24])]),
    ]
    # Comparisons, logical ops, where, masked_fill, any / all and bool operands of the ops above, drawn after the cases
    # above (masked_fill: [t, mask] shapes and dtypes and its number as the spec's args).
    bools = lambda values: torch.tensor(values, dtype=torch.bool)
    signed_zeros = f32([0.0, -0.0, nan, 1.0, nan])
    comparison_specs = [
        ("eq_float32_ties_and_nan", "eq", [[3, 4], [4]], ["float32", "float32"]),
        ("ne_nan_is_true", "ne", [[5], [5]], ["float32", "float32"], [], None,
         [signed_zeros, f32([-0.0, 0.0, nan, 1.0, 2.0])]),
        ("eq_signed_zeros_and_nan", "eq", [[5], [5]], ["float32", "float32"], [], None,
         [signed_zeros, f32([-0.0, 0.0, nan, 1.0, 2.0])]),
        ("lt_int64_float32_promotes", "lt", [[2, 3], [3]], ["int64", "float32"]),
        ("le_float16_bfloat16_as_float32", "le", [[3, 4], [4]], ["float16", "bfloat16"]),
        ("gt_bfloat16_channels_last", "gt", [[2, 3, 2, 2], [3, 1, 1]], ["bfloat16", "bfloat16"], [], [True, False]),
        ("ge_int64_by_0dim_float16", "ge", [[2, 3], []], ["int64", "float16"]),
        ("ge_float16_by_0dim_float32_rounds_it", "ge", [[3], []], ["float16", "float32"], [], None,
         [f16([0.0999755859375, 0.0999755859375, 0.1]), f32(0.1)]),
        ("eq_int64_as_float32_past_2_24", "eq", [[3], [3]], ["int64", "float32"], [], None,
         [i64([16777217, 3, -2 ** 63]), f32([16777216.0, 3.0, -2.0 ** 63])]),
        ("eq_int64_exact", "eq", [[3], [3]], ["int64", "int64"], [], None,
         [i64([2 ** 62 + 1, 3, -2 ** 63]), i64([2 ** 62, 3, -2 ** 63])]),
        ("eq_bool", "eq", [[4], [4]], ["bool", "bool"], [], None, [bools([True, False, True, False]),
                                                                  bools([True, True, False, False])]),
        ("lt_bool_int64", "lt", [[2, 3], [3]], ["bool", "int64"]),
        ("gt_bool_bool", "gt", [[2, 4], [4]], ["bool", "bool"]),
        ("le_int64_channels_last_5d", "le", [[2, 3, 2, 2, 2], [2, 3, 2, 2, 2]], ["int64", "int64"], [], [True, False]),
        ("eq_empty", "eq", [[0, 3], [3]], ["float32", "float32"]),
        ("ne_0dim", "ne", [[], []], ["float32", "int64"]),
        ("gt_shapes_refused", "gt", [[2], [3]], ["float32", "float32"]),
        ("logical_and_nan_is_true", "logical_and", [[5], [5]], ["float32", "float32"], [], None,
         [signed_zeros, f32([1.0, 1.0, 0.0, 2.0, 3.0])]),
        ("logical_or_int64_bool_broadcast", "logical_or", [[2, 3], [3]], ["int64", "bool"]),
        ("logical_xor_bfloat16", "logical_xor", [[3, 4], [4]], ["bfloat16", "float16"]),
        ("logical_and_channels_last", "logical_and", [[2, 3, 2, 2], [2, 3, 2, 2]], ["float32", "bool"], [],
         [False, True]),
        ("logical_not_float16_nan", "logical_not", [[5]], ["float16"], [], None, [signed_zeros.half()]),
        ("logical_not_bool_channels_last", "logical_not", [[1, 2, 2, 3]], ["bool"], [], [True]),
        ("logical_not_int64", "logical_not", [[2, 3]], ["int64"]),
        ("where_broadcast_three", "where", [[2, 1, 3], [4, 1], [3]], ["bool", "float32", "float32"]),
        ("where_promotes_int64_float16", "where", [[3], [3], [3]], ["bool", "int64", "float16"]),
        ("where_0dim_float32_beside_float16", "where", [[2, 3], [], [2, 3]], ["bool", "float32", "float16"]),
        ("where_0dim_int64_beside_bool", "where", [[3], [], [3]], ["bool", "int64", "bool"]),
        ("where_bool_values", "where", [[4], [4], [4]], ["bool", "bool", "bool"]),
        ("where_int64", "where", [[2, 3], [2, 3], [1]], ["bool", "int64", "int64"]),
        ("where_bfloat16_channels_last", "where", [[2, 3, 2, 2], [2, 3, 2, 2], [3, 1, 1]],
         ["bool", "bfloat16", "bfloat16"], [], [True, True, False]),
        ("where_channels_last_condition_only", "where", [[2, 3, 2, 2], [3, 1, 1], [1]],
         ["bool", "float32", "float32"], [], [True, False, False]),
        ("where_empty", "where", [[0, 2], [2], [1]], ["bool", "float32", "float32"]),
        ("where_condition_float_refused", "where", [[3], [3], [3]], ["float32", "float32", "float32"]),
        ("where_shapes_refused", "where", [[2], [3], [3]], ["bool", "float32", "float32"]),
        ("any_all_float32_nan_is_true", "any_all", [[3]], ["float32"], [], None, [f32([0.0, nan, -0.0])]),
        ("any_all_zeros_is_false", "any_all", [[3]], ["float32"], [], None, [f32([0.0, -0.0, 0.0])]),
        ("all_all_int64", "all_all", [[2, 3]], ["int64"]),
        ("all_all_bfloat16_negative_zero", "all_all", [[2]], ["bfloat16"], [], None, [bf16([-0.0, 1.0])]),
        ("all_all_empty_is_true", "all_all", [[0, 3]], ["float32"]),
        ("any_all_empty_is_false", "any_all", [[0]], ["int64"]),
        ("any_all_bool_channels_last", "any_all", [[1, 2, 2, 2]], ["bool"], [], [True]),
        ("all_all_bool", "all_all", [[3, 4]], ["bool"]),
        ("add_bool_bool_is_bool", "add", [[4], [4]], ["bool", "bool"]),
        ("mul_bool_float16", "mul", [[2, 3], [3]], ["bool", "float16"]),
        ("maximum_bool", "maximum", [[3, 2], [2]], ["bool", "bool"]),
        ("add_bool_by_0dim_int64", "add", [[4], []], ["bool", "int64"]),
        ("div_bool_is_float32", "div", [[4], [4]], ["bool", "bool"]),
        ("sub_bool_bool_refused", "sub", [[3], [3]], ["bool", "bool"]),
        ("sub_bool_int64_refused", "sub", [[3], [3]], ["int64", "bool"]),
        ("add__bool_by_int64_refused", "add_", [[3], [3]], ["bool", "int64"]),
        ("mul__bool", "mul_", [[2, 3], [3]], ["bool", "bool"]),
        ("add__int64_by_bool", "add_", [[2, 3], [3]], ["int64", "bool"]),
        ("neg_bool_refused", "neg", [[3]], ["bool"]),
        ("abs_bool_refused", "abs", [[3]], ["bool"]),
        ("sqrt_bool_is_float32", "sqrt", [[4]], ["bool"]),
        ("exp_bool_is_float32", "exp", [[2, 2]], ["bool"]),
        ("sum_all_bool_counts", "sum_all", [[3, 5]], ["bool"]),
        ("sum_bool_dim_is_int64", "sum", [[3, 5]], ["bool"], [1, 1]),
        ("mean_all_bool_refused", "mean_all", [[3]], ["bool"]),
        ("max_all_bool", "max_all", [[3, 5]], ["bool"]),
        ("min_bool_dim", "min", [[3, 5]], ["bool"], [0, 0]),
        ("cumsum_bool_is_int64", "cumsum", [[2, 4]], ["bool"], [1]),
        ("cat_bool_int64_promotes", "cat", [[2], [3]], ["bool", "int64"], [0]),
        ("cat_bool", "cat", [[2, 2], [1, 2]], ["bool", "bool"], [0]),
        ("stack_bool_float16", "stack", [[2, 3], [2, 3]], ["bool", "float16"], [1]),
        ("permute_bool", "permute", [[2, 3, 4]], ["bool"], [2, 0, 1]),
        ("transpose_bool_channels_last", "transpose", [[2, 3, 2, 2]], ["bool"], [1, 3], [True]),
        ("reshape_bool", "reshape", [[2, 6]], ["bool"], [3, -1]),
        ("narrow_bool", "narrow", [[4, 5]], ["bool"], [1, 1, 3]),
        ("select_bool", "select", [[4, 5]], ["bool"], [0, -1]),
    ]
    comparison_number_specs = [
        ("eq_number_int64_as_float32", "eq_number", [3], "int64", 16777216.0, False, i64([16777217, 1, 16777216])),
        ("eq_number_int64_exact", "eq_number", [3], "int64", 2 ** 62 + 1, False, i64([2 ** 62, 2 ** 62 + 1, 0])),
        ("lt_number_float16_rounds_the_number", "lt_number", [3], "float16", 0.1, False,
         f16([0.0999755859375, 0.0999755859375, 0.1])),
        ("ne_number_nan", "ne_number", [3], "float32", nan),
        ("eq_number_nan", "eq_number", [3], "float32", nan),
        ("ge_number_bool", "ge_number", [4], "bool", 1),
        ("gt_number_bool_by_fraction", "gt_number", [4], "bool", 0.5),
        ("le_number_bfloat16_channels_last", "le_number", [2, 3, 2, 2], "bfloat16", 0.25, True),
        ("gt_number_float16_past_its_range", "gt_number", [3], "float16", 70000),
        ("lt_number_int64_inf", "lt_number", [3], "int64", inf),
        ("number_lt_float32", "number_lt", [2, 3], "float32", -0.5),
        ("number_eq_int64", "number_eq", [2, 3], "int64", 2),
        ("eq_number_0dim", "eq_number", [], "float32", 0),
        ("add_number_bool_int_is_int64", "add_number", [4], "bool", 2),
        ("add_number_bool_fraction_is_float32", "add_number", [4], "bool", 0.5),
        ("mul_number_bool_fraction_is_float32", "mul_number", [4], "bool", 0.1),
        ("sub_number_bool_refused", "sub_number", [3], "bool", 1),
        ("pow_number_bool_is_int64", "pow_number", [4], "bool", 2),
        ("fill__bool", "fill_", [2, 3], "bool", 0.5),
        ("fill__bool_nan_is_true", "fill_", [3], "bool", nan),
        ("full_bool", "full", [2, 2], "bool", 2),
        ("full_bool_zero", "full", [3], "bool", -0.0),
    ]
    masked_fill_specs = [
        ("masked_fill_float32", "masked_fill", [[3, 4], [4]], ["float32", "bool"], 2.5),
        ("masked_fill_int64_truncates", "masked_fill", [[2, 3], [2, 3]], ["int64", "bool"], 2.7),
        ("masked_fill_int64_exact", "masked_fill", [[2, 3], [3]], ["int64", "bool"], 2 ** 62 + 1),
        ("masked_fill_float16_rounds", "masked_fill", [[2, 3], [2, 1]], ["float16", "bool"], 0.1234567),
        ("masked_fill_float16_refused", "masked_fill", [[2], [2]], ["float16", "bool"], 70000),
        ("masked_fill_bfloat16_inf", "masked_fill", [[2, 3], [3]], ["bfloat16", "bool"], inf),
        ("masked_fill_nan", "masked_fill", [[3], [3]], ["float32", "bool"], nan),
        ("masked_fill_int64_nan_refused", "masked_fill", [[3], [3]], ["int64", "bool"], nan),
        ("masked_fill_bool", "masked_fill", [[4], [4]], ["bool", "bool"], 0.5),
        ("masked_fill_broadcasts_self", "masked_fill", [[3], [2, 1]], ["float32", "bool"], -1),
        ("masked_fill_channels_last", "masked_fill", [[1, 2, 2, 3], [1, 1, 3]], ["float32", "bool"], 7, [True, False]),
        ("masked_fill_0dim_mask", "masked_fill", [[2, 3], []], ["bfloat16", "bool"], -2),
        ("masked_fill_empty", "masked_fill", [[0, 3], [3]], ["float32", "bool"], 1),
        ("masked_fill_shapes_refused", "masked_fill", [[3], [2]], ["float32", "bool"], 1),
        ("masked_fill__float32", "masked_fill_", [[3, 4], [4]], ["float32", "bool"], -1.5),
        ("masked_fill__bfloat16_channels_last", "masked_fill_", [[1, 2, 2, 3], [1, 2, 2, 3]], ["bfloat16", "bool"],
         0.3, [True, True]),
        ("masked_fill__int64", "masked_fill_", [[2, 3], [1, 3]], ["int64", "bool"], -4),
        ("masked_fill__broadcast_refused", "masked_fill_", [[3], [2, 3]], ["float32", "bool"], 1),
        ("masked_fill__float16_refused", "masked_fill_", [[3], [3]], ["float16", "bool"], -1e6),
        ("masked_fill__shapes_refused_before_the_value", "masked_fill_", [[3], [2]], ["float16", "bool"], 1e6),
        ("masked_fill_shapes_refused_before_the_value", "masked_fill", [[3], [2]], ["int64", "bool"], 1e40),
    ]
    # Bool operands of the ops without bool kernels in PyTorch (refused after their arguments are checked, and only
    # where there is something to compute) and of those that take them by another dtype; drawn after the cases above.
    bool_edge_specs = [
        ("argmax_bool_refused", "argmax", [[3, 4]], ["bool"], [1, 0]),
        ("argmin_all_bool_refused", "argmin_all", [[5]], ["bool"]),
        ("argmax_bool_dim_refused_first", "argmax", [[3]], ["bool"], [2, 0]),
        ("argmin_bool_empty_result", "argmin", [[2, 0]], ["bool"], [0, 0]),
        ("topk_bool_refused", "topk", [[3, 4]], ["bool"], [2, 1, 1]),
        ("topk_bool_0dim_copies", "topk", [[]], ["bool"], [0, -1, 1]),
        ("sort_bool_descending", "sort", [[3, 5]], ["bool"], [1, 1]),
        ("argsort_bool", "argsort", [[7]], ["bool"], [0, 0]),
        ("softmax_bool_refused", "softmax", [[2, 3]], ["bool"], [0]),
        ("log_softmax_bool_refused", "log_softmax", [[2, 3]], ["bool"], [-1]),
        ("softmax_bool_empty", "softmax", [[0, 3]], ["bool"], [1]),
        ("pow_bool_bool_shapes_refused_first", "pow", [[2], [3]], ["bool", "bool"]),
        ("pow_bool_bool_refused", "pow", [[3], [3]], ["bool", "bool"]),
        ("pow_int64_by_bool_exact", "pow", [[3], [3]], ["int64", "bool"], [], None,
         [i64([2 ** 62 + 1, 3, -7]), bools([True, False, True])]),
    ]
    bool_number_specs = [
        ("number_pow_bool_is_int64_exact", "number_pow", [4], "bool", 2 ** 31 + 5),
        ("clamp__bool_refused", "clamp_", [3], "bool", [0, 1]),
        ("clamp_bool_is_int64", "clamp", [2, 3], "bool", [0, None]),
        ("clamp_bool_fraction_is_float32", "clamp", [4], "bool", [None, 0.5]),
    ]
    # NaN and infinity tests, reductions of truth over a dimension, isclose / allclose ([rtol, atol, equal_nan]) and
    # equal, drawn after the cases above.
    special = f32([1.0, nan, inf, -inf, 0.0, -0.0, 3e38, 1e-45])
    truth_specs = [
        ("isnan_float32", "isnan", [[8]], ["float32"], [], None, [special]),
        ("isinf_float16_channels_last", "isinf", [[1, 2, 2, 2]], ["float16"], [], [True],
         [cl(special.half().view(1, 2, 2, 2))]),
        ("isfinite_bfloat16", "isfinite", [[8]], ["bfloat16"], [], None, [special.bfloat16()]),
        ("isfinite_float32_largest", "isfinite", [[8]], ["float32"], [], None, [special]),
        ("isnan_int64", "isnan", [[2, 3]], ["int64"]),
        ("isinf_bool", "isinf", [[3]], ["bool"]),
        ("isfinite_int64_channels_last", "isfinite", [[1, 2, 2, 3]], ["int64"], [], [True]),
        ("any_dim_float32_nan", "any_dim", [[3, 4]], ["float32"], [1, 0]),
        ("all_dim_keepdim_int64", "all_dim", [[3, 4]], ["int64"], [0, 1]),
        ("all_dim_empty_is_true", "all_dim", [[0, 3]], ["float32"], [0, 0]),
        ("any_dim_empty_is_false", "any_dim", [[2, 0]], ["bool"], [1, 0]),
        ("any_dim_channels_last", "any_dim", [[2, 3, 2, 2]], ["bfloat16"], [1, 0], [True]),
        ("all_dim_refused", "all_dim", [[3]], ["float32"], [2, 0]),
        ("count_nonzero_all_nan_counts", "count_nonzero_all", [[8]], ["float32"], [], None, [special]),
        ("count_nonzero_dim", "count_nonzero", [[3, 5]], ["int64"], [0]),
        ("count_nonzero_bool_last_dim", "count_nonzero", [[2, 3, 4]], ["bool"], [-1]),
        ("count_nonzero_dim_refused", "count_nonzero", [[3]], ["float32"], [1]),
        ("equal_same", "equal", [[2, 3], [2, 3]], ["float32", "float32"], [], None, [f32([[1.0, 2.0, 3.0]] * 2)] * 2),
        ("equal_nan_is_not", "equal", [[8], [8]], ["float32", "float32"], [], None, [special, special]),
        ("equal_int64_float32_values", "equal", [[3], [3]], ["int64", "float32"], [], None,
         [i64([1, 2, 3]), f32([1.0, 2.0, 3.0])]),
        ("equal_shapes_differ", "equal", [[3], [1, 3]], ["float32", "float32"]),
    ]
    closeness = f32([1.0, 1.00001, nan, inf, -inf, 1e-9, 0.0, 100.0])
    close_specs = [
        ("isclose_defaults", "isclose", [[8], [8]], ["float32", "float32"], (1e-5, 1e-8, 0),
         [closeness, f32([1.0, 1.0, nan, inf, inf, 0.0, 1e-8, 100.001])]),
        ("isclose_equal_nan", "isclose", [[8], [8]], ["float32", "float32"], (1e-5, 1e-8, 1),
         [closeness, f32([1.0, 1.0, nan, inf, inf, 0.0, 1e-8, 100.001])]),
        ("isclose_loose_broadcast", "isclose", [[3, 4], [4]], ["float32", "float32"], (0.1, 0.5, 0), None),
        ("isclose_float16", "isclose", [[4, 5], [4, 5]], ["float16", "float16"], (1e-2, 1e-3, 0), None),
        ("isclose_bfloat16", "isclose", [[4, 5], [5]], ["bfloat16", "bfloat16"], (0.05, 0.0, 0), None),
        ("isclose_int64", "isclose", [[3, 4], [3, 4]], ["int64", "int64"], (0.0, 1.0, 0), None),
        ("isclose_int64_relative", "isclose", [[3], [3]], ["int64", "int64"], (0.5, 0.0, 0),
         [i64([10, 10, -2 ** 62]), i64([14, 21, -2 ** 62 + 1])]),
        ("isclose_bool", "isclose", [[4], [4]], ["bool", "bool"], (1e-5, 1e-8, 0), None),
        ("isclose_exact_only", "isclose", [[3, 3], [3, 3]], ["float32", "float32"], (0.0, 0.0, 0), None),
        ("isclose_dtypes_refused", "isclose", [[3], [3]], ["int64", "float32"], (1e-5, 1e-8, 0), None),
        ("isclose_rtol_refused", "isclose", [[3], [3]], ["float32", "float32"], (-1.0, 1e-8, 0), None),
        ("isclose_atol_refused", "isclose", [[3], [3]], ["float32", "float32"], (1e-5, -1.0, 0), None),
        ("allclose_true", "allclose", [[3, 4], [3, 4]], ["float32", "float32"], (1e-5, 1e-8, 0),
         [torch.ones(3, 4), torch.ones(3, 4) + 1e-7]),
        ("allclose_false", "allclose", [[3, 4], [4]], ["float32", "float32"], (1e-5, 1e-8, 0), None),
        ("allclose_nan_equal", "allclose", [[8], [8]], ["float32", "float32"], (1e-5, 1e-8, 1), [closeness, closeness]),
    ]
    # Where PyTorch's bool argmax and topk refusals start (its kernels' shortcuts), drawn after the cases above.
    bool_shortcut_specs = [
        ("argmax_bool_dim_of_size_one", "argmax", [[3, 1, 2]], ["bool"], [1, 1]),
        ("argmin_bool_0dim_refused", "argmin", [[]], ["bool"], [0, 0]),
        ("argmax_all_bool_one_element_refused", "argmax_all", [[1]], ["bool"]),
        ("argmin_bool_one_element_dim", "argmin", [[1]], ["bool"], [0, 0]),
        ("topk_bool_empty_refused", "topk", [[3, 0]], ["bool"], [0, 1, 1]),
        ("topk_bool_k_zero_refused", "topk", [[3, 4]], ["bool"], [0, 1, 0]),
        ("topk_bool_k_checked_first", "topk", [[3, 4]], ["bool"], [5, 1, 1]),
    ]
    # isclose's equal_nan runs in place on the first operand's shape, drawn after the cases above.
    close_shape_specs = [
        ("isclose_equal_nan_broadcast_refused", "isclose", [[], [2, 3]], ["float32", "float32"], (1e-5, 1e-8, 1), None),
        ("isclose_equal_nan_broadcasts_the_second", "isclose", [[2, 3], [3]], ["float16", "float16"], (1e-3, 1e-3, 1),
         None),
        ("isclose_int64_equal_nan_broadcasts", "isclose", [[], [2, 3]], ["int64", "int64"], (0.0, 1.0, 1), None),
    ]
    # The selections, drawn after the cases above, nonzero's inputs about half zeros (masked_select: [t, mask];
    # masked_scatter: [t, mask, source]).
    selection_specs = [
        ("nonzero_float32_signed_zeros_nan", "nonzero", [[3, 5]], ["float32"]),
        ("nonzero_float16", "nonzero", [[4, 3, 2]], ["float16"]),
        ("nonzero_bfloat16_channels_last", "nonzero", [[2, 3, 2, 2]], ["bfloat16"], [], [True]),
        ("nonzero_float32_channels_last_5d", "nonzero", [[2, 2, 2, 2, 3]], ["float32"], [], [True]),
        ("nonzero_int64", "nonzero", [[6]], ["int64"]),
        ("nonzero_bool", "nonzero", [[2, 5]], ["bool"]),
        ("nonzero_0dim", "nonzero", [[]], ["float32"], [], None, [f32(2.5)]),
        ("nonzero_0dim_negative_zero", "nonzero", [[]], ["float32"], [], None, [f32(-0.0)]),
        ("nonzero_empty", "nonzero", [[0, 3]], ["float32"]),
        ("argwhere_int64", "argwhere", [[3, 4]], ["int64"]),
        ("nonzero_tuple_float32", "nonzero_tuple", [[2, 3, 4]], ["float32"]),
        ("nonzero_tuple_0dim", "nonzero_tuple", [[]], ["int64"], [], None, [i64(7)]),
        ("nonzero_tuple_empty", "nonzero_tuple", [[2, 0]], ["bool"]),
        ("masked_select_float32", "masked_select", [[3, 4], [4]], ["float32", "bool"]),
        ("masked_select_broadcasts_both", "masked_select", [[3, 1], [2, 1, 4]], ["float16", "bool"]),
        ("masked_select_bfloat16_channels_last", "masked_select", [[2, 3, 2, 2], [2, 3, 2, 2]], ["bfloat16", "bool"],
         [], [True, False]),
        ("masked_select_mask_channels_last", "masked_select", [[2, 3, 2, 2], [2, 3, 2, 2]], ["int64", "bool"], [],
         [False, True]),
        ("masked_select_bool", "masked_select", [[2, 3], [3]], ["bool", "bool"]),
        ("masked_select_0dim", "masked_select", [[], []], ["float32", "bool"], [], None, [f32(4.0), bools(True)]),
        ("masked_select_empty", "masked_select", [[0, 3], [3]], ["float32", "bool"]),
        ("masked_select_float_mask_refused", "masked_select", [[3], [3]], ["float32", "float32"]),
        ("masked_select_shapes_refused", "masked_select", [[2, 3], [2]], ["float32", "bool"]),
        ("masked_scatter_float32", "masked_scatter", [[3, 4], [4], [12]], ["float32", "bool", "float32"]),
        ("masked_scatter_broadcasts_self", "masked_scatter", [[3], [2, 3], [7]], ["float32", "bool", "float32"]),
        ("masked_scatter_source_2d", "masked_scatter", [[2, 3], [2, 3], [2, 4]], ["int64", "bool", "int64"]),
        ("masked_scatter_bool", "masked_scatter", [[4, 2], [4, 1], [8]], ["bool", "bool", "bool"]),
        ("masked_scatter_float16", "masked_scatter", [[5], [5], [5]], ["float16", "bool", "float16"]),
        ("masked_scatter_bfloat16_channels_last", "masked_scatter", [[2, 3, 2, 2], [3, 1, 2], [24]],
         ["bfloat16", "bool", "bfloat16"], [], [True, False, False]),
        ("masked_scatter_0dim", "masked_scatter", [[], [], [2]], ["float32", "bool", "float32"], [], None,
         [f32(1.0), bools(True), f32([4.0, 5.0])]),
        ("masked_scatter_source_short_refused", "masked_scatter", [[3], [3], [1]], ["float32", "bool", "float32"], [],
         None, [f32([1.0, 2.0, 3.0]), bools([True, False, True]), f32([9.0])]),
        ("masked_scatter_dtypes_refused", "masked_scatter", [[3], [3], [3]], ["float32", "bool", "int64"]),
        ("masked_scatter_shapes_refused", "masked_scatter", [[2, 3], [2], [6]], ["float32", "bool", "float32"]),
        ("masked_scatter__float32", "masked_scatter_", [[2, 3], [3], [6]], ["float32", "bool", "float32"]),
        ("masked_scatter__int64_channels_last", "masked_scatter_", [[2, 2, 2, 3], [2, 1, 3], [24]],
         ["int64", "bool", "int64"], [], [True, False, False]),
        ("masked_scatter__expand_rank_refused", "masked_scatter_", [[3], [2, 3], [6]], ["float32", "bool", "float32"]),
        ("masked_scatter__expand_size_refused", "masked_scatter_", [[2, 3], [4], [6]], ["float32", "bool", "float32"]),
        ("masked_scatter__dtypes_before_shapes_refused", "masked_scatter_", [[3], [2, 3], [6]],
         ["float32", "bool", "int64"]),
        ("masked_scatter__source_short_refused", "masked_scatter_", [[2, 2], [2, 2], [0]],
         ["float16", "bool", "float16"], [], None,
         [f16([[1.0, 2.0], [3.0, 4.0]]), bools([[False, True], [False, False]]), f16([])]),
    ]
    # Indexing by a tensor (x[index], x[index] = values, index_put_ with accumulate) and broadcast_to, drawn after the
    # cases above ([x, index] or [x, index, values]; int64 indices drawn within dim 0, both signs).
    rows = lambda values: torch.arange(float(np.prod(values))).reshape(values)
    indexing_specs = [
        ("index_mask_leading", "index", [[2, 3, 4], [2]], ["float32", "bool"]),
        ("index_mask_two_dims", "index", [[2, 3, 4], [2, 3]], ["float16", "bool"]),
        ("index_mask_every_dim", "index", [[2, 3], [2, 3]], ["int64", "bool"]),
        ("index_mask_0dim_of_0dim", "index", [[], []], ["float32", "bool"], [], None, [f32(5.0), bools(True)]),
        ("index_mask_0dim_false", "index", [[2, 3], []], ["float32", "bool"], [], None, [rows([2, 3]), bools(False)]),
        ("index_int64_rows", "index", [[4, 3], [5]], ["bfloat16", "int64"]),
        ("index_int64_2d", "index", [[3, 2, 2], [2, 2]], ["bool", "int64"]),
        ("index_int64_0dim", "index", [[3, 2], []], ["float32", "int64"]),
        ("index_channels_last", "index", [[2, 3, 2, 2], [3]], ["float32", "int64"], [], [True, False]),
        ("index_mask_channels_last_self", "index", [[2, 3, 2, 2], [2, 3]], ["float32", "bool"], [], [True, False]),
        ("index_empty_mask", "index", [[0, 3], [0]], ["float32", "bool"]),
        ("index_float_refused", "index", [[2, 3], [2]], ["float32", "float32"]),
        ("index_mask_shape_refused", "index", [[2, 3], [3]], ["float32", "bool"]),
        ("index_mask_too_many_refused", "index", [[2, 3], [2, 3, 1]], ["float32", "bool"]),
        ("index_out_of_bounds_refused", "index", [[2, 3], [3]], ["float32", "int64"], [], None,
         [rows([2, 3]), i64([0, 7, -5])]),
        ("index_negative_out_of_bounds_refused", "index", [[2, 3], [1]], ["float32", "int64"], [], None,
         [rows([2, 3]), i64([-3])]),
        ("index_int64_of_0dim_refused", "index", [[], [1]], ["float32", "int64"], [], None, [f32(5.0), i64([0])]),
        ("index_put__mask", "index_put_", [[2, 3, 4], [2, 3], [4]], ["float32", "bool", "float32"]),
        ("index_put__mask_number", "index_put_", [[2, 3], [2], []], ["int64", "bool", "int64"]),
        ("index_put__repeats_keep_the_last", "index_put_", [[3, 2], [3], [3, 2]], ["float32", "int64", "float32"], [],
         None, [torch.zeros(3, 2), i64([1, 1, 0]), rows([3, 2])]),
        ("index_put__channels_last", "index_put_", [[2, 3, 2, 2], [2], [3, 2, 2]], ["float16", "int64", "float16"],
         [], [True, False, False]),
        ("index_put__bool", "index_put_", [[3, 2], [3], [2]], ["bool", "bool", "bool"]),
        ("index_put__mask_0dim_of_0dim", "index_put_", [[], [], []], ["float32", "bool", "float32"], [], None,
         [f32(5.0), bools(True), f32(2.0)]),
        ("index_put__dtype_refused", "index_put_", [[2, 3], [2], [3]], ["float32", "bool", "int64"]),
        ("index_put__shape_refused", "index_put_", [[2, 3], [2], [4]], ["float32", "bool", "float32"]),
        ("index_put__shape_before_bounds_refused", "index_put_", [[2, 3], [1], [4]], ["float32", "int64", "float32"],
         [], None, [rows([2, 3]), i64([5]), f32([1.0, 1.0, 1.0, 1.0])]),
        ("index_put__bounds_refused", "index_put_", [[2, 3], [2], [3]], ["float32", "int64", "float32"], [], None,
         [rows([2, 3]), i64([-3, 7]), f32([1.0, 1.0, 1.0])]),
        ("index_put_accumulate_repeats", "index_put_accumulate", [[2, 3], [2, 2], [2, 2, 3]],
         ["float32", "int64", "float32"], [], None, [torch.zeros(2, 3), i64([[0, 1], [1, 1]]), rows([2, 2, 3])]),
        ("index_put_accumulate_float16_in_order", "index_put_accumulate", [[1], [3], [3]],
         ["float16", "int64", "float16"], [], None, [f16([0.0]), i64([0, 0, 0]), f16([2048.0, 1.0, 1.0])]),
        ("index_put_accumulate_bool_is_an_or", "index_put_accumulate", [[2, 3], [2], [3]], ["bool", "int64", "bool"],
         [], None, [torch.zeros(2, 3, dtype=torch.bool), i64([1, 1]), bools([True, False, True])]),
        ("index_put_accumulate_mask_number", "index_put_accumulate", [[2, 3], [2, 3], []],
         ["bfloat16", "bool", "bfloat16"]),
        ("broadcast_to_leading", "broadcast_to", [[3, 1]], ["float32"], [2, 3, 4]),
        ("broadcast_to_keeps_minus_one", "broadcast_to", [[2, 1]], ["int64"], [-1, 3]),
        ("broadcast_to_itself_channels_last", "broadcast_to", [[2, 3, 2, 2]], ["bfloat16"], [2, 3, 2, 2], [True]),
        ("broadcast_to_bool", "broadcast_to", [[1, 3]], ["bool"], [2, 3]),
        ("broadcast_to_empty", "broadcast_to", [[0, 1]], ["float16"], [0, 3]),
        ("broadcast_to_leading_minus_one_refused", "broadcast_to", [[2, 1]], ["float32"], [-1, 2, 3]),
        ("broadcast_to_size_refused", "broadcast_to", [[2, 1]], ["float32"], [3, 3]),
        ("broadcast_to_rank_refused", "broadcast_to", [[2, 1]], ["bool"], [3]),
        ("broadcast_to_rank_float16_refused", "broadcast_to", [[2, 1]], ["float16"], [3]),
        ("index_float_of_0dim_refused_by_rank", "index", [[], []], ["float32", "float16"]),
        ("index_of_empty_dim_refused", "index", [[0, 2], [2]], ["float32", "int64"]),
    ]
    # The bitwise ops of int64 and bool tensors, and their refusals, drawn after the cases above.
    bitwise_specs = [
        ("bitwise_and_int64", "bitwise_and", [[3, 4], [4]], ["int64", "int64"]),
        ("bitwise_or_int64_bool", "bitwise_or", [[2, 3], [3]], ["int64", "bool"]),
        ("bitwise_xor_bool", "bitwise_xor", [[4], [4]], ["bool", "bool"]),
        ("bitwise_and_extremes", "bitwise_and", [[3], [3]], ["int64", "int64"], [], None,
         [i64([-2 ** 63, 2 ** 63 - 1, -1]), i64([-1, -2 ** 63, 12345])]),
        ("bitwise_xor_channels_last", "bitwise_xor", [[2, 3, 2, 2], [2, 3, 2, 2]], ["int64", "int64"], [],
         [True, False]),
        ("bitwise_or_0dim_bool_beside_int64", "bitwise_or", [[], [3]], ["bool", "int64"]),
        ("bitwise_not_int64", "bitwise_not", [[5]], ["int64"]),
        ("bitwise_not_bool", "bitwise_not", [[2, 2]], ["bool"]),
        ("bitwise_not_float_refused", "bitwise_not", [[3]], ["float32"]),
        ("bitwise_and_float_refused", "bitwise_and", [[3], [3]], ["float32", "int64"]),
        ("bitwise_or_bfloat16_refused", "bitwise_or", [[3], [3]], ["bfloat16", "bfloat16"]),
        ("bitwise_and_shapes_refused", "bitwise_and", [[2], [3]], ["float32", "float32"]),
    ]
    bitwise_number_specs = [
        ("bitwise_and_number_int64", "bitwise_and_number", [3, 4], "int64", 3),
        ("bitwise_or_number_bool_by_int", "bitwise_or_number", [4], "bool", 6),
        ("bitwise_xor_number_negative", "bitwise_xor_number", [5], "int64", -1),
        ("bitwise_and_number_float_refused", "bitwise_and_number", [3], "int64", 2.5),
    ]
    # A 0-dim index into an empty dim 0 is an integer, refused in select's words (sweep 104), drawn after the cases
    # above.
    empty_put_specs = [
        ("index_put__of_empty_dim_refused", "index_put_", [[0, 2], [1], [2]], ["float32", "int64", "float32"], [],
         None, [torch.zeros(0, 2), i64([-2]), f32([1.0, 2.0])]),
        ("index_put__0dim_of_empty_dim_refused", "index_put_", [[0, 2], [], [2]], ["float32", "int64", "float32"], [],
         None, [torch.zeros(0, 2), i64(-2), f32([1.0, 2.0])]),
        ("index_0dim_of_empty_dim_refused", "index", [[0, 2], []], ["float32", "int64"], [], None,
         [torch.zeros(0, 2), i64(3)]),
    ]
    cases = {}

    def add(spec):
        name, op, shapes, dtypes = spec[:4]
        args = spec[4] if len(spec) > 4 else []
        cls = spec[5] if len(spec) > 5 else None
        inputs = spec[6] if len(spec) > 6 else None
        cases[name] = tensor_ops_case(g, OUT, name, op, shapes, dtypes, args, cls, inputs)

    def add_number(spec):  # (name, op, shape, dtype, number[, channels-last[, input]]); full: shape and dtype
        name, op, shape, dtype, number, *rest = spec
        if op == "full":
            cases[name] = tensor_ops_case(g, OUT, name, op, [], [], shape, number=number, dtype=dtype)
        else:
            cls = [rest[0]] if rest else None
            inputs = [rest[1]] if len(rest) > 1 else None
            cases[name] = tensor_ops_case(g, OUT, name, op, [shape], [dtype], [], cls, inputs, number)

    for spec in specs:
        add(spec)
    for spec in number_specs:
        add_number(spec)
    for spec in whole_specs:
        add(spec)
    for spec in elementwise_specs:
        add(spec)
    for name, op, shape, dtype, bounds, *rest in clamp_specs:
        cls = [rest[0]] if rest else None
        inputs = [rest[1]] if len(rest) > 1 else None
        cases[name] = tensor_ops_case(g, OUT, name, op, [shape], [dtype], [], cls, inputs, bounds=bounds)
    for spec in minimum_specs:
        add(spec)
    for spec in variance_specs:
        add(spec)
    for spec in pow_number_specs:
        add_number(spec)
    for spec in pow_specs:
        add(spec)
    for spec in sort_specs:
        add(spec)
    for spec in cumulative_specs:
        add(spec)
    for spec in comparison_specs:
        add(spec)
    for spec in comparison_number_specs:
        add_number(spec)
    for name, op, shapes, dtypes, number, *rest in masked_fill_specs:
        cases[name] = tensor_ops_case(g, OUT, name, op, shapes, dtypes, [], rest[0] if rest else None, None, number)
    for spec in bool_edge_specs:
        add(spec)
    for name, op, shape, dtype, arg in bool_number_specs:
        if op.startswith("clamp"):
            cases[name] = tensor_ops_case(g, OUT, name, op, [shape], [dtype], bounds=arg)
        else:
            cases[name] = tensor_ops_case(g, OUT, name, op, [shape], [dtype], number=arg)
    for spec in truth_specs:
        add(spec)
    for name, op, shapes, dtypes, tolerances, inputs in close_specs:
        cases[name] = tensor_ops_case(g, OUT, name, op, shapes, dtypes, inputs=inputs, tolerances=tolerances)
    for spec in bool_shortcut_specs:
        add(spec)
    for name, op, shapes, dtypes, tolerances, inputs in close_shape_specs:
        cases[name] = tensor_ops_case(g, OUT, name, op, shapes, dtypes, inputs=inputs, tolerances=tolerances)
    for spec in selection_specs:
        add(spec)
    for spec in indexing_specs:
        add(spec)
    for spec in bitwise_specs:
        add(spec)
    for spec in bitwise_number_specs:
        add_number(spec)
    for spec in empty_put_specs:
        add(spec)
    # The shifts (counts modulo 64, as 1.13's CPU shifts) and the in-place bitwise ops, drawn after the cases above.
    counts = i64([1, 2, 1, 63, 64, -1, 70, 200])
    shifted = i64([1, -8, 2 ** 62, -1, 5, 7, 3, -2 ** 63])
    shift_specs = [
        ("bitwise_left_shift_int64", "bitwise_left_shift", [[3, 4], [4]], ["int64", "int64"]),
        ("bitwise_right_shift_int64", "bitwise_right_shift", [[3, 4], [3, 1]], ["int64", "int64"]),
        ("bitwise_left_shift_counts_past_63", "bitwise_left_shift", [[8], [8]], ["int64", "int64"], [], None,
         [shifted, counts]),
        ("bitwise_right_shift_counts_past_63", "bitwise_right_shift", [[8], [8]], ["int64", "int64"], [], None,
         [shifted, counts]),
        ("bitwise_left_shift_bool_beside_int64", "bitwise_left_shift", [[3], [3]], ["bool", "int64"]),
        ("bitwise_right_shift_int64_by_bool", "bitwise_right_shift", [[2, 3], [3]], ["int64", "bool"]),
        ("bitwise_right_shift_channels_last", "bitwise_right_shift", [[2, 3, 2, 2], [2, 3, 2, 2]],
         ["int64", "int64"], [], [True, False]),
        ("bitwise_left_shift_bool_refused", "bitwise_left_shift", [[3], [3]], ["bool", "bool"]),
        ("bitwise_right_shift_bool_refused", "bitwise_right_shift", [[3], [3]], ["bool", "bool"]),
        ("bitwise_right_shift_float_refused", "bitwise_right_shift", [[3], [3]], ["float32", "int64"]),
        ("bitwise_left_shift_float16_refused", "bitwise_left_shift", [[3], []], ["int64", "float16"]),
        ("bitwise_left_shift_shapes_refused", "bitwise_left_shift", [[2], [3]], ["int64", "int64"]),
        ("bitwise_and__int64", "bitwise_and_", [[2, 3], [3]], ["int64", "int64"]),
        ("bitwise_or__int64_by_bool", "bitwise_or_", [[2, 3], [2, 3]], ["int64", "bool"]),
        ("bitwise_xor__bool", "bitwise_xor_", [[4], [4]], ["bool", "bool"]),
        ("bitwise_xor__channels_last", "bitwise_xor_", [[2, 3, 2, 2], [3, 1, 1]], ["int64", "int64"], [],
         [True, False]),
        ("bitwise_left_shift__int64", "bitwise_left_shift_", [[3, 4], [4]], ["int64", "int64"]),
        ("bitwise_right_shift__int64_0dim_count", "bitwise_right_shift_", [[5], []], ["int64", "int64"]),
        ("bitwise_not__int64", "bitwise_not_", [[5]], ["int64"]),
        ("bitwise_not__bool", "bitwise_not_", [[2, 2]], ["bool"]),
        ("bitwise_or__bool_by_int64_refused", "bitwise_or_", [[3], [3]], ["bool", "int64"]),
        ("bitwise_and__int64_by_float_refused", "bitwise_and_", [[3], [3]], ["int64", "float32"]),
        ("bitwise_and__float_refused", "bitwise_and_", [[3], [3]], ["float32", "float32"]),
        ("bitwise_xor__shape_refused", "bitwise_xor_", [[3], [2, 3]], ["int64", "int64"]),
        ("bitwise_xor__shape_before_dtype_refused", "bitwise_xor_", [[3], [2, 3]], ["bool", "float32"]),
        ("bitwise_left_shift__bool_refused", "bitwise_left_shift_", [[3], [3]], ["bool", "bool"]),
        ("bitwise_not__float_refused", "bitwise_not_", [[3]], ["float32"]),
    ]
    shift_number_specs = [
        ("bitwise_left_shift_number_int64", "bitwise_left_shift_number", [3, 4], "int64", 3),
        ("bitwise_right_shift_number_by_65", "bitwise_right_shift_number", [5], "int64", 65),
        ("bitwise_left_shift_number_negative_count", "bitwise_left_shift_number", [5], "int64", -3),
        ("bitwise_left_shift_number_bool_by_int", "bitwise_left_shift_number", [4], "bool", 2),
        ("bitwise_left_shift_number_float_refused", "bitwise_left_shift_number", [3], "int64", 2.5),
        ("number_bitwise_left_shift_int64", "number_bitwise_left_shift", [5], "int64", 3),
        ("number_bitwise_right_shift_int64", "number_bitwise_right_shift", [5], "int64", -100),
        ("bitwise_and_number__int64", "bitwise_and_number_", [2, 3], "int64", 6),
        ("bitwise_xor_number__int64_negative", "bitwise_xor_number_", [4], "int64", -1),
        ("bitwise_left_shift_number__int64", "bitwise_left_shift_number_", [4], "int64", 2),
        ("bitwise_right_shift_number__int64", "bitwise_right_shift_number_", [2, 2], "int64", 1),
        ("bitwise_or_number__bool_by_int_refused", "bitwise_or_number_", [3], "bool", 2),
        ("bitwise_and_number__int64_by_float_refused", "bitwise_and_number_", [3], "int64", 0.5),
    ]
    for spec in shift_specs:
        add(spec)
    for spec in shift_number_specs:
        add_number(spec)
    # The rearrangements, drawn after the cases above.
    rearrange_specs = [
        ("flip_dim0", "flip", [[3, 4]], ["float32"], [0]),
        ("flip_two_dims_negative", "flip", [[2, 3, 5]], ["int64"], [-1, 0]),
        ("flip_channels_last", "flip", [[2, 3, 4, 5]], ["float16"], [1, 3], [True]),
        ("flip_bool", "flip", [[4, 1]], ["bool"], [0, 1]),
        ("flip_0dim", "flip", [[]], ["float32"], [0]),
        ("flip_no_dims", "flip", [[2, 3]], ["bfloat16"], []),
        ("flip_duplicate_refused", "flip", [[2, 3]], ["float32"], [0, -2]),
        ("flip_dim_refused", "flip", [[2, 3]], ["float32"], [2]),
        ("roll_flattened", "roll", [[2, 3]], ["float32"], [1]),
        ("roll_negative_past_size", "roll", [[2, 5]], ["int64"], [-7, 1]),
        ("roll_two_dims", "roll", [[3, 4, 2]], ["float32"], [1, 0, 2, -2]),
        ("roll_same_dim_twice", "roll", [[3, 4]], ["bool"], [1, 1, 2, 1]),
        ("roll_channels_last", "roll", [[2, 3, 4, 5]], ["float32"], [2, 1, -1, 3], [True]),
        ("roll_flattened_channels_last", "roll", [[2, 3, 2, 2]], ["bfloat16"], [5], [True]),
        ("roll_empty_dim", "roll", [[0, 3]], ["float32"], [1, 0]),
        ("roll_0dim", "roll", [[]], ["float16"], [3]),
        ("roll_0dim_dim_refused", "roll", [[]], ["float32"], [1, 0]),
        ("roll_dim_refused", "roll", [[2, 3]], ["float32"], [1, -3]),
        ("repeat_2d", "repeat", [[2, 3]], ["float32"], [2, 3]),
        ("repeat_adds_dims", "repeat", [[2, 3]], ["int64"], [2, 1, 2]),
        ("repeat_zero", "repeat", [[2, 3]], ["float16"], [0, 1]),
        ("repeat_channels_last", "repeat", [[2, 3, 2, 2]], ["float32"], [1, 2, 1, 3], [True]),
        ("repeat_0dim", "repeat", [[]], ["bool"], [3, 2]),
        ("repeat_five_dims", "repeat", [[2, 1, 3]], ["bfloat16"], [2, 1, 2, 3, 1]),
        ("repeat_fewer_dims_refused", "repeat", [[2, 3]], ["float32"], [2]),
        ("repeat_negative_refused", "repeat", [[2, 3]], ["float32"], [2, -1]),
        ("repeat_interleave_flattened", "repeat_interleave", [[2, 3]], ["float32"], [2]),
        ("repeat_interleave_dim0", "repeat_interleave", [[2, 3]], ["int64"], [3, 0]),
        ("repeat_interleave_last_dim", "repeat_interleave", [[2, 3, 4]], ["float16"], [2, -1]),
        ("repeat_interleave_zero", "repeat_interleave", [[2, 3]], ["bool"], [0, 1]),
        ("repeat_interleave_channels_last", "repeat_interleave", [[2, 3, 2, 2]], ["float32"], [2, 1], [True]),
        ("repeat_interleave_0dim", "repeat_interleave", [[]], ["float32"], [3]),
        ("repeat_interleave_0dim_dim_refused", "repeat_interleave", [[]], ["float32"], [3, 0]),
        ("repeat_interleave_negative_refused", "repeat_interleave", [[2, 3]], ["float32"], [-1, 0]),
        ("repeat_interleave_counts", "repeat_interleave_tensor", [[3, 2], [3]], ["float32", "int64"], [0], None,
         [torch.randn(3, 2, generator=g), i64([2, 0, 3])]),
        ("repeat_interleave_counts_flattened", "repeat_interleave_tensor", [[2, 2], [4]], ["int64", "int64"], [],
         None, [torch.arange(4).reshape(2, 2), i64([1, 2, 0, 1])]),
        ("repeat_interleave_one_count", "repeat_interleave_tensor", [[2, 3], [1]], ["bfloat16", "int64"], [1], None,
         [torch.randn(2, 3, generator=g).bfloat16(), i64([2])]),
        ("repeat_interleave_0dim_count", "repeat_interleave_tensor", [[3, 2], []], ["bool", "int64"], [0], None,
         [torch.tensor([[True, False], [False, False], [True, True]]), torch.tensor(2)]),
        ("repeat_interleave_counts_size_refused", "repeat_interleave_tensor", [[2, 3], [3]], ["float32", "int64"],
         [0], None, [torch.randn(2, 3, generator=g), i64([1, 1, 1])]),
        ("repeat_interleave_counts_negative_refused", "repeat_interleave_tensor", [[2, 3], [2]],
         ["float32", "int64"], [0], None, [torch.randn(2, 3, generator=g), i64([1, -1])]),
        ("repeat_interleave_counts_2d_refused", "repeat_interleave_tensor", [[2, 3], [1, 2]], ["float32", "int64"],
         [0], None, [torch.randn(2, 3, generator=g), i64([1, 2]).reshape(1, 2)]),
        ("repeat_interleave_counts_float_refused", "repeat_interleave_tensor", [[2, 3], [2]],
         ["float32", "float32"], [0], None, [torch.randn(2, 3, generator=g), torch.tensor([1.0, 2.0])]),
        ("tril_default", "tril", [[4, 5]], ["float32"], []),
        ("tril_positive_diagonal_batched", "tril", [[2, 3, 4]], ["int64"], [1]),
        ("tril_negative_diagonal", "tril", [[5, 3]], ["float16"], [-2]),
        ("tril_nan_zeroed", "tril", [[3, 3]], ["float32"], [], None,
         [torch.tensor([[1.0, float("nan"), 2.0], [3.0, 4.0, float("inf")], [5.0, 6.0, 7.0]])]),
        ("triu_default", "triu", [[4, 5]], ["bfloat16"], []),
        ("triu_bool_batched", "triu", [[2, 3, 4]], ["bool"], [2]),
        ("triu_past_the_matrix", "triu", [[2, 3]], ["int64"], [5]),
        ("triu_channels_last", "triu", [[2, 3, 4, 4]], ["float32"], [-1], [True]),
        ("tril_1d_refused", "tril", [[3]], ["float32"], []),
        ("triu_0dim_refused", "triu", [[]], ["float32"], []),
        ("roll_empty_dims_unchecked", "roll", [[2, 0, 3]], ["float32"], [1, 7]),
        ("tril_empty_1d", "tril", [[0]], ["int64"], [2]),
    ]
    for spec in rearrange_specs:
        add(spec)
    # The roundings and the divisions that round, drawn after the cases above: edges of each, values of every
    # magnitude (a 16-bit division rounds its steps), integer signs and extremes, refusals.
    edges = f32([1.5, -1.5, 2.5, -0.5, 0.5, float("nan"), float("inf"), float("-inf"), -0.0, -2.7, 8388609.0, 1e-45])
    wide = lambda n: torch.randn(n, generator=g) * torch.exp(torch.randn(n, generator=g) * 3)
    dividends = f32([1.0, -1.0, 0.0, -0.0, float("inf"), float("-inf"), float("nan"), 5.5, -5.5]).reshape(9, 1)
    divisors = f32([0.0, -0.0, float("inf"), float("-inf"), float("nan"), 2.0, -2.0])
    int_dividends = i64([7, -7, 7, -7, 0, 2 ** 63 - 1, -2 ** 63, -2 ** 63, 5])
    int_divisors = i64([2, 2, -2, -2, -3, 2 ** 63 - 1, 3, 2 ** 63 - 1, -2 ** 63])
    rounding_specs = [(f"{op}_float32_edges", op, [[12]], ["float32"], [], None, [edges])
                      for op in ("floor", "ceil", "round", "trunc", "frac", "sign", "reciprocal")]
    rounding_specs += [
        ("floor_bfloat16_channels_last", "floor", [[2, 3, 2, 2]], ["bfloat16"], [], [True]),
        ("ceil_float16", "ceil", [[3, 5]], ["float16"]),
        ("round_float16_ties", "round", [[8]], ["float16"], [], None,
         [torch.tensor([0.5, 1.5, 2.5, -2.5, 1000.5, 2047.5, 65504.0, -0.25]).half()]),
        ("trunc_float32", "trunc", [[4, 5]], ["float32"], [], None, [wide(20).reshape(4, 5)]),
        ("frac_bfloat16", "frac", [[7]], ["bfloat16"], [], None, [wide(7).bfloat16()]),
        ("sign_int64", "sign", [[6]], ["int64"], [], None, [int64_edges]),
        ("sign_bool", "sign", [[2, 3]], ["bool"]),
        ("sign_float16", "sign", [[3, 3]], ["float16"]),
        ("reciprocal_int64_is_float32", "reciprocal", [[6]], ["int64"]),
        ("reciprocal_bool_is_float32", "reciprocal", [[4]], ["bool"]),
        ("reciprocal_bfloat16", "reciprocal", [[3, 4]], ["bfloat16"]),
        ("floor_int64_itself", "floor", [[6]], ["int64"], [], None, [int64_edges]),
        ("round_int64_itself", "round", [[2, 3]], ["int64"]),
        ("floor_bool_refused", "floor", [[3]], ["bool"]),
        ("trunc_bool_refused", "trunc", [[3]], ["bool"]),
        ("frac_int64_refused", "frac", [[3]], ["int64"]),
        ("frac_bool_refused", "frac", [[3]], ["bool"]),
        ("round__float32", "round_", [[3, 4]], ["float32"]),
        ("ceil__int64", "ceil_", [[5]], ["int64"]),
        ("trunc__float16_channels_last", "trunc_", [[1, 2, 2, 3]], ["float16"], [], [True]),
        ("frac__float32", "frac_", [[6]], ["float32"], [], None, [wide(6)]),
        ("sign__bool", "sign_", [[4]], ["bool"]),
        ("sign__bfloat16", "sign_", [[5]], ["bfloat16"]),
        ("reciprocal__float32", "reciprocal_", [[5]], ["float32"]),
        ("reciprocal__int64_refused", "reciprocal_", [[3]], ["int64"]),
        ("floor__bool_refused", "floor_", [[3]], ["bool"]),
        ("round_decimals_2", "round_decimals", [[40]], ["float32"], [2], None, [wide(40)]),
        ("round_decimals_minus_2", "round_decimals", [[40]], ["float32"], [-2], None, [wide(40) * 100]),
        ("round_decimals_38_overflows", "round_decimals", [[12]], ["float32"], [38], None, [edges]),
        ("round_decimals_39_nan", "round_decimals", [[4]], ["float32"], [39]),
        ("round_decimals_bfloat16_steps", "round_decimals", [[60]], ["bfloat16"], [4], None, [wide(60).bfloat16()]),
        ("round_decimals_bfloat16_tens", "round_decimals", [[60]], ["bfloat16"], [-4], None,
         [(wide(60) * 1e4).bfloat16()]),
        ("round_decimals_float16_steps", "round_decimals", [[60]], ["float16"], [2], None, [wide(60).half()]),
        ("round_decimals_channels_last", "round_decimals", [[2, 3, 2, 2]], ["float32"], [1], [True]),
        ("round_decimals_0_int64", "round_decimals", [[4]], ["int64"], [0]),
        ("round_decimals_int64_refused", "round_decimals", [[4]], ["int64"], [1]),
        ("round_decimals_bool_refused", "round_decimals", [[4]], ["bool"], [-1]),
        ("round_decimals__bfloat16", "round_decimals_", [[30]], ["bfloat16"], [1], None, [wide(30).bfloat16()]),
        ("round_decimals__float32", "round_decimals_", [[30]], ["float32"], [3], None, [wide(30)]),
        ("round_decimals__int64_refused", "round_decimals_", [[4]], ["int64"], [2]),
    ]
    for op in DIVISIONS:
        rounding_specs += [
            (f"{op}_float32_edges", op, [[9, 1], [7]], ["float32", "float32"], [], None, [dividends, divisors]),
            (f"{op}_float32_wide", op, [[200], [200]], ["float32", "float32"], [], None, [wide(200), wide(200)]),
            (f"{op}_float16_wide", op, [[300], [300]], ["float16", "float16"], [], None,
             [wide(300).half(), wide(300).half()]),
            (f"{op}_bfloat16_wide", op, [[300], [300]], ["bfloat16", "bfloat16"], [], None,
             [wide(300).bfloat16(), wide(300).bfloat16()]),
            (f"{op}_int64", op, [[9], [9]], ["int64", "int64"], [], None, [int_dividends, int_divisors]),
            (f"{op}_int64_broadcast", op, [[3, 4], [4]], ["int64", "int64"]),
            (f"{op}_channels_last", op, [[2, 3, 2, 2], [3, 1, 1]], ["float32", "float32"], [], [True, False]),
            (f"{op}_int64_by_0dim_float", op, [[2, 3], []], ["int64", "float16"]),
            (f"{op}_int64_by_zero_refused", op, [[4], [4]], ["int64", "int64"], [], None,
             [i64([1, 2, 3, 4]), i64([1, 0, 1, 1])]),
            (f"{op}_int64_by_false_refused", op, [[2], [2]], ["int64", "bool"], [], None,
             [i64([3, 4]), torch.tensor([True, False])]),
            (f"{op}_bool_by_int64", op, [[2], [2]], ["bool", "int64"], [], None,
             [torch.tensor([True, False]), i64([3, -2])]),
            (f"{op}_bool_refused", op, [[2], [2]], ["bool", "bool"]),
            (f"{op}_shapes_refused", op, [[3], [2]], ["bool", "bool"]),
            (f"{op}_", op + "_", [[3, 4], [4]], ["float32", "float32"]),
            (f"{op}__bfloat16", op + "_", [[50], [50]], ["bfloat16", "bfloat16"], [], None,
             [wide(50).bfloat16(), wide(50).bfloat16()]),
            (f"{op}__int64", op + "_", [[2, 3], [3]], ["int64", "int64"]),
            (f"{op}__int64_by_float_refused", op + "_", [[3], [3]], ["int64", "float32"]),
            (f"{op}__shape_refused", op + "_", [[3], [2, 3]], ["float32", "float32"]),
        ]
    rounding_specs.append(("div_rounding_mode_x_refused", "div_rounding_mode_x", [[3], [2]], ["float32", "float32"]))
    division_number_specs = [
        ("remainder_number_float32", "remainder_number", [3, 4], "float32", -2.5),
        ("remainder_number_int64", "remainder_number", [2, 3], "int64", 3),
        ("remainder_number_int64_by_float", "remainder_number", [5], "int64", 2.5),
        ("remainder_number_int64_by_zero_refused", "remainder_number", [3], "int64", 0),
        ("number_remainder_float32", "number_remainder", [6], "float32", 7.5),
        ("number_remainder_int64", "number_remainder", [3], "int64", -7, False, i64([2, -3, 5])),
        ("fmod_number_int64", "fmod_number", [2, 3], "int64", -3),
        ("fmod_number_float16", "fmod_number", [8], "float16", 0.3),
        ("floor_divide_number_float16", "floor_divide_number", [8], "float16", 0.3, False, wide(8).half()),
        ("floor_divide_number_int64_by_float", "floor_divide_number", [6], "int64", 2.5),
        ("div_trunc_number_int64", "div_trunc_number", [6], "int64", -2),
        ("div_floor_number_bfloat16", "div_floor_number", [8], "bfloat16", 0.7, False, wide(8).bfloat16()),
        ("remainder_number__int64", "remainder_number_", [2, 3], "int64", 4),
        ("remainder_number__int64_by_float_refused", "remainder_number_", [3], "int64", 2.5),
        ("fmod_number__float32", "fmod_number_", [5], "float32", -1.5),
        ("floor_divide_number__bfloat16", "floor_divide_number_", [8], "bfloat16", 3.0, False, wide(8).bfloat16()),
        ("div_floor_number__float32_channels_last", "div_floor_number_", [1, 3, 2, 2], "float32", 0.75, True),
        ("div_trunc_number__int64_by_zero_refused", "div_trunc_number_", [3], "int64", 0),
    ]
    for spec in rounding_specs:
        add(spec)
    for spec in division_number_specs:
        add_number(spec)
    # repeat_interleave's negative repeats where no element is repeated (seed 116's draws found normrt refusing them).
    for spec in [
        ("repeat_interleave_negative_of_empty_dim", "repeat_interleave", [[0, 3]], ["float32"], [-1, 0]),
        ("repeat_interleave_negative_of_empty", "repeat_interleave", [[2, 0]], ["int64"], [-2]),
        ("repeat_interleave_negative_dim_refused_first", "repeat_interleave", [[0, 3]], ["float32"], [-1, 7]),
        ("repeat_interleave_negative_count_of_empty_dim", "repeat_interleave_tensor", [[0, 3], [1]],
         ["float32", "int64"], [0], None, [torch.zeros(0, 3), i64([-1])]),
    ]:
        add(spec)
    # Seed 117's draws: index_put_ through a mask with one value of another dtype (PyTorch's masked_fill_ path), and
    # float counts with negative values, refused for their dtype first.
    mask23 = torch.tensor([[True, False, True], [False, True, False]])
    for spec in [
        ("index_put__mask_one_float32_value_into_float16", "index_put_", [[2, 3], [2, 3], []],
         ["float16", "bool", "float32"], [], None, [torch.zeros(2, 3).half(), mask23, torch.tensor(1.5)]),
        ("index_put__row_mask_one_value_into_int64", "index_put_", [[2, 3], [2], [1]], ["int64", "bool", "float32"],
         [], None, [i64([[1, 2, 3], [4, 5, 6]]), torch.tensor([False, True]), torch.tensor([-2.75])]),
        ("index_put__mask_one_value_overflow_refused", "index_put_", [[2, 3], [2, 3], []],
         ["float16", "bool", "float32"], [], None, [torch.zeros(2, 3).half(), mask23, torch.tensor(1e6)]),
        ("index_put__index_one_value_of_another_dtype_refused", "index_put_", [[2, 3], [1], []],
         ["float16", "int64", "float32"], [], None, [torch.zeros(2, 3).half(), i64([1]), torch.tensor(1.5)]),
        ("index_put_accumulate_mask_one_value_of_another_dtype_refused", "index_put_accumulate", [[2, 3], [2, 3], []],
         ["float16", "bool", "float32"], [], None, [torch.zeros(2, 3).half(), mask23, torch.tensor(1.5)]),
        ("repeat_interleave_negative_float_counts_refused", "repeat_interleave_tensor", [[3], [3]],
         ["float32", "float32"], [0], None, [torch.zeros(3), torch.tensor([-1.0, 2.0, 0.5])]),
    ]:
        add(spec)
    # copysign and nan_to_num, drawn after the cases above.
    signs = f32([1.0, -2.0, float("nan"), 0.0, -0.0, float("inf")])
    for spec in [
        ("copysign_float32_edges", "copysign", [[6, 1], [6]], ["float32", "float32"], [], None,
         [signs.reshape(6, 1), -signs]),
        ("copysign_int64_is_float32", "copysign", [[2, 3], [3]], ["int64", "int64"]),
        ("copysign_bool_is_float32", "copysign", [[4], [4]], ["bool", "bool"]),
        ("copysign_float16_bfloat16_promotes", "copysign", [[3, 4], [4]], ["float16", "bfloat16"]),
        ("copysign_channels_last", "copysign", [[2, 3, 2, 2], [3, 1, 1]], ["bfloat16", "bfloat16"], [], [True, False]),
        ("copysign_shapes_refused", "copysign", [[3], [2]], ["float32", "float32"]),
        ("copysign_", "copysign_", [[2, 5], [5]], ["float16", "float32"]),
        ("copysign__int64_refused", "copysign_", [[3], [3]], ["int64", "float32"]),
    ]:
        add(spec)
    for spec in [
        ("copysign_number_negative_zero", "copysign_number", [2, 3], "float32", -0.0),
        ("copysign_number_int64", "copysign_number", [4], "int64", -1),
        ("copysign_number__bfloat16", "copysign_number_", [5], "bfloat16", float("nan")),
    ]:
        add_number(spec)
    specials = f32([float("nan"), float("inf"), float("-inf"), 1.5, -0.0, 3.4e38])
    for name, dtype, replacement, op in [
        ("nan_to_num_defaults", "float32", [0.0, None, None], "nan_to_num"),
        ("nan_to_num_given", "float32", [2.0, 3.0, -3.0], "nan_to_num"),
        ("nan_to_num_float16_defaults", "float16", [0.0, None, None], "nan_to_num"),
        ("nan_to_num_float16_past_its_range", "float16", [1e6, 70000.0, -65519.0], "nan_to_num"),
        ("nan_to_num_bfloat16_defaults", "bfloat16", [0.0, None, None], "nan_to_num"),
        ("nan_to_num_float32_past_its_range", "float32", [None, 1e39, -3.4028235677973366e38], "nan_to_num"),
        ("nan_to_num_nan_absent", "float32", [None, 1.0, None], "nan_to_num"),
        ("nan_to_num__float32", "float32", [-1.0, 9.0, None], "nan_to_num_"),
        ("nan_to_num__bfloat16", "bfloat16", [0.5, None, -7.0], "nan_to_num_"),
    ]:
        cases[name] = tensor_ops_case(g, OUT, name, op, [[6]], [dtype], [], None, [specials.to(DTYPES[dtype])],
                                      replacements=replacement)
    for name, shape, dtype, cl in [("nan_to_num_int64_itself", [2, 3], "int64", False),
                                   ("nan_to_num_bool_itself", [4], "bool", False),
                                   ("nan_to_num__int64_itself", [3], "int64", False),
                                   ("nan_to_num_channels_last", [2, 3, 2, 2], "float32", True)]:
        op = "nan_to_num_" if "__" in name else "nan_to_num"
        cases[name] = tensor_ops_case(g, OUT, name, op, [shape], [dtype], [], [cl], replacements=[1.0, 2.0, -2.0])
    # Seed 118's draws: a NaN replacement, and a 0-dim mask (an index: its value must be of self's dtype).
    cases["nan_to_num_nan_by_nan"] = tensor_ops_case(g, OUT, "nan_to_num_nan_by_nan", "nan_to_num", [[6]], ["float32"],
                                                     [], None, [specials], replacements=[float("nan"), None, 2.0])
    add(("index_put__0dim_mask_one_value_of_another_dtype_refused", "index_put_", [[2], [], []],
         ["int64", "bool", "float32"], [], None, [i64([4, 5]), torch.tensor(True), torch.tensor(1.5)]))
    # addcmul, addcdiv and lerp (the value or weight the case's number), drawn after the cases above.
    ends = f32([0.0, -0.0, float("inf"), float("nan"), 1e30, -3.0])
    for name, op, shapes, dtypes, number, cls, inputs in [
        ("addcmul_float32_broadcast", "addcmul", [[2, 3, 5], [3, 1], [5]], ["float32"] * 3, 0.3, None, None),
        ("addcmul_default_value", "addcmul", [[67], [67], [67]], ["float32"] * 3, None, None, None),
        ("addcmul_int64_wraps", "addcmul", [[3], [3], [3]], ["int64"] * 3, 3, None,
         [i64([2 ** 62, -5, 7])] * 3),
        ("addcmul_int64_float_value_truncated", "addcmul", [[4], [4], [4]], ["int64"] * 3, -2.7, None, None),
        ("addcmul_int64_nan_value_refused", "addcmul", [[4], [4], [4]], ["int64"] * 3, float("nan"), None, None),
        ("addcmul_bool_refused", "addcmul", [[4], [4], [4]], ["bool"] * 3, None, None, None),
        ("addcmul_int64_bool_bool", "addcmul", [[4], [4], [4]], ["int64", "bool", "bool"], 3, None, None),
        ("addcmul_promotes_to_float32", "addcmul", [[2, 3], [3], [2, 3]], ["int64", "float32", "int64"], 0.5, None,
         None),
        ("addcmul_0dim_float32_beside_bfloat16", "addcmul", [[4, 3], [], [3]], ["bfloat16", "float32", "bfloat16"],
         0.1, None, None),
        ("addcmul_0dim_float32_beside_float16", "addcmul", [[4, 3], [], [3]], ["float16", "float32", "float16"], 0.1,
         None, None),
        ("addcmul_float16_bfloat16", "addcmul", [[5], [5], [5]], ["float16", "bfloat16", "float16"], 2, None, None),
        ("addcmul_channels_last", "addcmul", [[2, 3, 4, 5], [3, 1, 1], [2, 3, 4, 5]], ["float32"] * 3, -1.25,
         [True, False, False], None),
        ("addcmul_value_overflow_refused", "addcmul", [[3], [3], [3]], ["bfloat16"] * 3, 1e39, None, None),
        ("addcmul_shapes_refused", "addcmul", [[3], [2], [3]], ["float32"] * 3, None, None, None),
        ("addcmul_empty", "addcmul", [[0, 3], [0, 3], [3]], ["float32"] * 3, 2, None, None),
        ("addcmul_", "addcmul_", [[3, 67], [67], [3, 1]], ["float32"] * 3, 0.7, None, None),
        ("addcmul__bfloat16", "addcmul_", [[3, 5], [5], [3, 5]],
         ["bfloat16", "bfloat16", "bfloat16"], 0.7, None, None),
        ("addcmul__float16", "addcmul_", [[2, 3, 4, 5], [4, 5], [3, 1, 1]], ["float16"] * 3, -3, [True, False, False],
         None),
        ("addcmul__int64_of_float_refused", "addcmul_", [[3], [3], [3]], ["int64", "float32", "float32"], None, None,
         None),
        ("addcmul__broadcast_refused", "addcmul_", [[3], [2, 3], [3]], ["float32"] * 3, None, None, None),
        ("addcdiv_float32_broadcast", "addcdiv", [[2, 3, 5], [3, 1], [5]], ["float32"] * 3, -0.3, None, None),
        ("addcdiv_by_zeros_and_infinities", "addcdiv", [[6], [6], [6, 1]], ["float32"] * 3, 1.5, None,
         [ends, ends.flip(0), ends.reshape(6, 1)]),
        ("addcdiv_int64_self_float_operand", "addcdiv", [[2, 3], [3], [2, 3]], ["int64", "float32", "int64"], 2,
         None, None),
        ("addcdiv_integer_division_refused", "addcdiv", [[3], [2], [3]], ["float32", "int64", "bool"], None, None,
         None),
        ("addcdiv_bfloat16", "addcdiv", [[4, 7], [7], [4, 7]], ["bfloat16"] * 3, 0.1234567, None, None),
        ("addcdiv_float16", "addcdiv", [[4, 7], [7], [4, 7]], ["float16"] * 3, 0.1234567, None, None),
        ("addcdiv_", "addcdiv_", [[2, 3, 4, 5], [3, 1, 1], [2, 3, 4, 5]], ["float32"] * 3, 0.25, [True, False, True],
         None),
        ("addcdiv__int64_refused", "addcdiv_", [[3], [3], [3]], ["int64", "float32", "int64"], None, None, None),
        ("lerp_float32", "lerp", [[3, 67], [67]], ["float32"] * 2, 0.3, None, None),
        ("lerp_weight_above_half", "lerp", [[3, 67], [3, 67]], ["float32"] * 2, 0.7, None, None),
        ("lerp_negative_weight", "lerp", [[3, 67], [3, 67]], ["float32"] * 2, -0.7, None, None),
        ("lerp_weight_one", "lerp", [[6], [6, 1]], ["float32"] * 2, 1, None, [ends, ends.reshape(6, 1)]),
        ("lerp_weight_zero", "lerp", [[6], [6, 1]], ["float32"] * 2, 0, None, [ends, ends.reshape(6, 1)]),
        ("lerp_weight_half", "lerp", [[6], [6, 1]], ["float32"] * 2, 0.5, None, [ends, ends.reshape(6, 1)]),
        ("lerp_weight_nan", "lerp", [[4], [4]], ["float32"] * 2, float("nan"), None, None),
        ("lerp_bfloat16", "lerp", [[5, 9], [9]], ["bfloat16"] * 2, 0.3, None, None),
        ("lerp_float16", "lerp", [[5, 9], [9]], ["float16"] * 2, 0.8, None, None),
        ("lerp_channels_last", "lerp", [[2, 3, 4, 5], [3, 1, 1]], ["float32"] * 2, 2.5, [True, False], None),
        ("lerp_0dim_end", "lerp", [[5], []], ["float32"] * 2, 0.25, None, None),
        ("lerp_end_dtype_refused", "lerp", [[3], [2]], ["float32", "float16"], 0.5, None, None),
        ("lerp_int64_end_refused", "lerp", [[3], [3]], ["int64", "float32"], 0.5, None, None),
        ("lerp_int64_refused", "lerp", [[3], [3]], ["int64"] * 2, 0.5, None, None),
        ("lerp_bool_refused", "lerp", [[3], [3]], ["bool"] * 2, 0.5, None, None),
        ("lerp_weight_overflow_refused", "lerp", [[3], [3]], ["bfloat16"] * 2, 1e40, None, None),
        ("lerp_", "lerp_", [[2, 3, 4, 5], [4, 5]], ["bfloat16"] * 2, 0.6, [True, False], None),
        ("lerp__broadcast_refused", "lerp_", [[3], [2, 3]], ["float32"] * 2, 0.5, None, None),
        ("lerp_tensor_float32", "lerp_tensor", [[3, 67], [67], [3, 1]], ["float32"] * 3, None, None, None),
        ("lerp_tensor_weights_around_half", "lerp_tensor", [[7], [7], [7]], ["float32"] * 3, None, None,
         [f32([1.0, -2.0, 3.0, 4.0, 1e30, -1.0, 0.0]), f32([5.0, 7.0, -1.0, 4.5, -1e30, 2.0, 1.0]),
          f32([0.5, 0.49999997, -0.5, -0.7, 0.3, 1.0, float("nan")])]),
        ("lerp_tensor_bfloat16", "lerp_tensor", [[4, 6], [6], [4, 6]], ["bfloat16"] * 3, None, None, None),
        ("lerp_tensor_float16", "lerp_tensor", [[4, 6], [6], [4, 6]], ["float16"] * 3, None, None, None),
        ("lerp_tensor_channels_last", "lerp_tensor", [[2, 3, 4, 5], [2, 3, 4, 5], [3, 1, 1]], ["float32"] * 3, None,
         [True, True, False], None),
        ("lerp_tensor_weight_dtype_refused", "lerp_tensor", [[3], [3], [3]], ["float32", "float32", "int64"], None,
         None, None),
        ("lerp_tensor_int64_refused", "lerp_tensor", [[3], [3], [3]], ["int64"] * 3, None, None, None),
        ("lerp_tensor_shapes_refused", "lerp_tensor", [[3], [3], [2]], ["float32"] * 3, None, None, None),
        ("lerp_tensor_", "lerp_tensor_", [[3, 5], [5], [3, 1]], ["float32"] * 3, None, None, None),
        ("lerp_tensor__broadcast_refused", "lerp_tensor_", [[3], [3], [2, 3]], ["float32"] * 3, None, None, None),
    ]:
        cases[name] = tensor_ops_case(g, OUT, name, op, shapes, dtypes, [], cls, inputs, number)
    # searchsorted and bucketize: sorted boundaries with repeats and values on them, unsorted ones and NaNs (PyTorch's
    # binary search step by step), rows, a sorter, the result types compared in, numbers, refusals.
    steps = f32([-3.0, -1.0, -1.0, 0.0, 0.5, 2.0, 2.0, 2.0, 7.0])
    probes = f32([[-5.0, -3.0, -1.0, -0.5, 0.0], [0.5, 1.0, 2.0, 7.0, 9.0]])
    rows = torch.sort(torch.randint(-4, 5, (2, 3, 6), generator=g).float(), -1).values
    row_values = torch.randint(-10, 11, (2, 3, 4), generator=g).float() / 2
    shuffled = torch.randn(11, generator=g)
    with_nan = f32([-1.0, 0.0, 2.0, float("nan"), float("nan")])
    nan_probes = f32([float("nan"), -2.0, 0.0, 1.0, 2.0, 3.0])
    half_pair = torch.tensor([2048.0, 2050.0]).half()
    for name, op, args, inputs, number in [
        ("searchsorted_1d", "searchsorted", [0, 0], [steps, probes], None),
        ("searchsorted_1d_right", "searchsorted", [1, 0], [steps, probes], None),
        ("searchsorted_side_right", "searchsorted", [0, 2], [steps, probes], None),
        ("searchsorted_side_left", "searchsorted", [0, 1], [steps, probes], None),
        ("searchsorted_side_right_right", "searchsorted", [1, 2], [steps, probes], None),
        ("searchsorted_side_middle_refused", "searchsorted", [0, 3], [steps, probes], None),
        ("searchsorted_side_opposite_refused", "searchsorted", [1, 1], [steps, probes], None),
        ("searchsorted_rows", "searchsorted", [0, 0], [rows, row_values], None),
        ("searchsorted_rows_right", "searchsorted", [1, 0], [rows, row_values], None),
        ("searchsorted_rows_mismatch_refused", "searchsorted", [0, 0], [rows, row_values.reshape(3, 2, 4)], None),
        ("searchsorted_rows_rank_refused", "searchsorted", [0, 0], [rows, row_values[0, 0]], None),
        ("searchsorted_unsorted", "searchsorted", [0, 0], [shuffled, torch.randn(3, 7, generator=g)], None),
        ("searchsorted_unsorted_right", "searchsorted", [1, 0], [shuffled, torch.randn(3, 7, generator=g)], None),
        ("searchsorted_nan", "searchsorted", [0, 0], [with_nan, nan_probes], None),
        ("searchsorted_nan_right", "searchsorted", [1, 0], [with_nan, nan_probes], None),
        ("searchsorted_float16", "searchsorted", [0, 0], [steps.half(), probes.half()], None),
        ("searchsorted_bfloat16_right", "searchsorted", [1, 0], [steps.bfloat16(), probes.bfloat16()], None),
        ("searchsorted_int64", "searchsorted", [0, 0], [steps.long(), probes.long()], None),
        ("searchsorted_int64_float32", "searchsorted", [0, 0], [steps.long(), probes], None),
        ("searchsorted_float16_0dim_float32", "searchsorted", [0, 0], [half_pair, torch.tensor(2049.0)], None),
        ("searchsorted_float16_float32", "searchsorted", [0, 0], [half_pair, f32([2049.0])], None),
        ("searchsorted_bfloat16_float16", "searchsorted", [0, 0],
         [torch.tensor([1.0]).bfloat16(), torch.tensor([1.001]).half()], None),
        ("searchsorted_bool_values", "searchsorted", [0, 0], [f32([0.0, 1.0]), torch.tensor([True, False])], None),
        ("searchsorted_bool_refused", "searchsorted", [0, 0],
         [torch.tensor([False, True]), torch.tensor([True])], None),
        ("searchsorted_empty_rows", "searchsorted", [0, 0], [torch.zeros(2, 0), torch.ones(2, 3)], None),
        ("searchsorted_no_values", "searchsorted", [0, 0], [steps, torch.zeros(0, 3)], None),
        ("searchsorted_0dim_boundaries_refused", "searchsorted", [0, 0], [torch.tensor(1.0), probes], None),
        ("searchsorted_0dim_value", "searchsorted", [0, 0], [steps, torch.tensor(2.0)], None),
        ("searchsorted_channels_last_values", "searchsorted", [0, 0],
         [steps, torch.randn(2, 3, 4, 5, generator=g).contiguous(memory_format=torch.channels_last) * 3], None),
        ("searchsorted_sorter", "searchsorted_sorter", [0, 0], [shuffled, probes, torch.argsort(shuffled)], None),
        ("searchsorted_sorter_right", "searchsorted_sorter", [1, 0],
         [shuffled.round(), probes, torch.argsort(shuffled.round(), stable=True)], None),
        ("searchsorted_sorter_rows", "searchsorted_sorter", [0, 0],
         [rows.flip(-1), row_values, torch.arange(5, -1, -1).expand(2, 3, 6).contiguous()], None),
        ("searchsorted_sorter_dtype_refused", "searchsorted_sorter", [0, 0],
         [shuffled, probes, torch.argsort(shuffled).float()], None),
        ("searchsorted_sorter_shape_refused", "searchsorted_sorter", [0, 0],
         [shuffled, probes, torch.arange(10)], None),
        ("searchsorted_number_float_beside_float16", "searchsorted_number", [0, 0], [half_pair], 2049.0),
        ("searchsorted_number_int_beside_float16", "searchsorted_number", [1, 0], [half_pair], 2049),
        ("searchsorted_number_float_beside_int64", "searchsorted_number", [0, 0], [steps.long()], 1e30),
        ("searchsorted_number_nan", "searchsorted_number", [0, 2], [steps], float("nan")),
        ("searchsorted_number_rows_refused", "searchsorted_number", [0, 0], [rows], 1.0),
        ("bucketize", "bucketize", [0], [probes, steps], None),
        ("bucketize_right", "bucketize", [1], [probes, steps], None),
        ("bucketize_int64_beside_float32", "bucketize", [0], [probes.long(), steps], None),
        ("bucketize_rows_refused", "bucketize", [0], [probes, rows], None),
        ("bucketize_number", "bucketize_number", [1], [steps], 2),
        ("bucketize_number_0dim_refused", "bucketize_number", [0], [torch.tensor(1.0)], 2.5),
        ("searchsorted_bool_no_values", "searchsorted", [0, 0],
         [torch.tensor([False, True]), torch.zeros(2, 0, dtype=torch.bool)], None),
    ]:
        shapes = [list(t.shape) for t in inputs]
        dtypes = [str(t.dtype).replace("torch.", "") for t in inputs]
        cls = [t.dim() == 4 and not t.is_contiguous() for t in inputs]
        cases[name] = tensor_ops_case(g, OUT, name, op, shapes, dtypes, args, cls, inputs, number)
    # clamp with tensor bounds (both, or one: maximum / minimum), drawn after the cases above.
    bounds_x = f32([1.0, -2.0, float("nan"), 0.0, 5.0, 3.0, -7.5])
    bounds_lo = f32([0.0, float("nan"), 0.0, -1.0, 6.0, 1.0, -8.0])
    bounds_hi = f32([2.0, 1.0, 1.0, 0.5, 4.0, float("nan"), float("inf")])
    for spec in [
        ("clamp_tensor_nan_and_crossed_bounds", "clamp_tensor", [[7], [7], [7]], ["float32"] * 3, [], None,
         [bounds_x, bounds_lo, bounds_hi]),
        ("clamp_tensor_broadcast", "clamp_tensor", [[2, 3, 4, 5], [3, 1, 1], [4, 5]], ["float32"] * 3),
        ("clamp_tensor_channels_last", "clamp_tensor", [[2, 3, 4, 5], [3, 1, 1], [2, 3, 4, 5]], ["float32"] * 3, [],
         [True, False, True]),
        ("clamp_tensor_int64", "clamp_tensor", [[3, 4], [4], [3, 1]], ["int64"] * 3),
        ("clamp_tensor_int64_float_bound", "clamp_tensor", [[6], [6], []], ["int64", "float32", "float32"]),
        ("clamp_tensor_bfloat16", "clamp_tensor", [[4, 6], [6], [4, 1]], ["bfloat16"] * 3),
        ("clamp_tensor_float16", "clamp_tensor", [[4, 6], [6], [4, 1]], ["float16"] * 3),
        ("clamp_tensor_float16_0dim_float32_bound", "clamp_tensor", [[5], [], [5]], ["float16", "float32", "float16"]),
        ("clamp_tensor_bool_refused", "clamp_tensor", [[4], [4], [4]], ["bool"] * 3),
        ("clamp_tensor_bool_int64_bounds", "clamp_tensor", [[4], [4], [4]], ["bool", "int64", "int64"]),
        ("clamp_tensor_shapes_refused", "clamp_tensor", [[3], [2], [3]], ["float32"] * 3),
        ("clamp_tensor_", "clamp_tensor_", [[3, 7], [7], [3, 1]], ["float32"] * 3),
        ("clamp_tensor__bfloat16_float32_bounds", "clamp_tensor_", [[3, 7], [7], [3, 1]],
         ["bfloat16", "float32", "float32"]),
        ("clamp_tensor__int64_float_refused", "clamp_tensor_", [[3], [3], [3]], ["int64", "float32", "int64"]),
        ("clamp_tensor__broadcast_refused", "clamp_tensor_", [[3], [2, 3], [3]], ["float32"] * 3),
        ("clamp_tensor_min", "clamp_tensor_min", [[7], [7]], ["float32"] * 2, [], None, [bounds_x, bounds_lo]),
        ("clamp_tensor_max", "clamp_tensor_max", [[7], [7]], ["float32"] * 2, [], None, [bounds_x, bounds_hi]),
        ("clamp_tensor_min_bool", "clamp_tensor_min", [[4], [4]], ["bool"] * 2),
        ("clamp_tensor_max_int64_float", "clamp_tensor_max", [[2, 3], [3]], ["int64", "float32"]),
        ("clamp_tensor_min__float16", "clamp_tensor_min_", [[3, 4], [4]], ["float16"] * 2),
        ("clamp_tensor_max__int64_float_refused", "clamp_tensor_max_", [[3], [3]], ["int64", "float32"]),
        ("clamp_tensor_zeros_keep_the_elements_sign", "clamp_tensor", [[4], [4], [4]], ["float32"] * 3, [], None,
         [f32([0.0, -0.0, 0.0, -0.0]), f32([-0.0, 0.0, 0.0, -0.0]), f32([0.0, 0.0, -0.0, -0.0])]),
    ]:
        add(spec)
    # The floating functions beyond exp and log: edges (zeros, infinities, NaN, subnormals, poles, overflow and
    # underflow, exact powers), every dtype, in place, drawn after the cases above.
    transcendental_edges = f32([0.0, -0.0, -1.0, 1e-45, -1e-45, float("inf"), float("-inf"), float("nan"), 1.0,
                                3.4e38, -88.8, 88.8, 127.9, 128.0, -150.0, -149.5, 1e-3, 1024.0, 1e10, 0.5, -0.75])
    for f in TRANSCENDENTAL:
        for spec in [
            (f + "_float32", f, [[4, 5]], ["float32"]),
            # (SLEEF's log1p, PyTorch's CPU one, is +inf from 1e38 on: normrt's is ln(1 + x) there, as PyTorch's GPU)
            (f + "_float32_edges", f, [[21]], ["float32"], [], None,
             [transcendental_edges.clamp(max=1e37) if f == "log1p" else transcendental_edges]),
            # bfloat16 in whole multiples of 32 elements: PyTorch's vectorised loop (its scalar loop's rsqrt rounds the
            # root to bfloat16 first; normrt's follows the vectorised one everywhere, as pow's by -0.5)
            (f + "_bfloat16_channels_last", f, [[2, 4, 2, 2]], ["bfloat16"], [], [True]),
            (f + "_float16", f, [[4, 2]], ["float16"]),
            (f + "_int64_is_float32", f, [[5]], ["int64"]),
            (f + "_bool_is_float32", f, [[4]], ["bool"]),
            (f + "_0dim", f, [[]], ["float32"]),
            (f + "__float32", f + "_", [[3, 4]], ["float32"]),
            (f + "__bfloat16", f + "_", [[2, 16]], ["bfloat16"]),
            (f + "__int64_refused", f + "_", [[3]], ["int64"]),
        ]:
            add(spec)
    # Angles of every magnitude (reduced by 2/pi to 96 bits): powers of ten and of two, the largest float, the switch
    # between normrt's two reductions, the worst inputs of its sweeps, near multiples of pi/2 and of pi (355 and 103993,
    # numerators of pi's convergents).
    huge_angles = f32([1e5, 105615.0, 105616.0, -2e5, 1e6, -1e7, 3e8, 1e12, -1e15, 7e18, 1e22, -1e25, 1e30,
                       3.4028235e38, 2.0 ** 60, -(2.0 ** 90), 2.0 ** 127, 1e38, 8.70205924e13, 4.9134742e17,
                       52508860.0, 2.33613016e19, -6.2831855, 1.5707964, 355.0, 103993.0])
    for f in ("sin", "cos", "tan"):
        add((f + "_float32_angles_of_every_magnitude", f, [[26]], ["float32"], [], None, [huge_angles]))
        add((f + "_bfloat16_angles_of_every_magnitude", f, [[26]], ["bfloat16"], [], None, [huge_angles.bfloat16()]))
    with open(os.path.join(OUT, "cases.json"), "w") as f:
        json.dump(cases, f, indent=1)


if __name__ == "__main__":
    main()
