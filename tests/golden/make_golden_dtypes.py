#!/usr/bin/python3
"""Writes golden data for the float16/bfloat16 conversions (tests/test_dtypes.cpp, the emulator's conversion kernel).

Run with Debian's python3-torch (CPU PyTorch 1.13):  /usr/bin/python3 tests/golden/make_golden_dtypes.py
data_dtypes/values.npy: float32 inputs: crafted edges of both formats (zeros, the largest finite values and the
halfway points above them, infinities, the quiet NaN, float16 subnormals and the halfway points around them, exact
ties between neighbours, which round to even) and random values over every exponent that matters;
data_dtypes/to_float16.npy and to_bfloat16.npy: PyTorch's x.to(dtype) of them, as float16 and as uint16 bits;
data_dtypes/float16_all_as_float32.npy: PyTorch's float32 value of every float16 bit pattern 0..65535 in order.
"""
import os

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "data_dtypes")


def crafted():
    values = [0.0, -0.0, 1.0, -1.0, 65504.0, 65519.996, 65520.0, -65520.0, 65536.0, 1e38, 3.4028235e38,
              float("inf"), float("-inf"), float("nan"),
              2.0 ** -14, 2.0 ** -24, 2.0 ** -25, 2.0 ** -25 * 1.0000001, 2.0 ** -26, 3 * 2.0 ** -25, 5 * 2.0 ** -25,
              (1023.5) * 2.0 ** -24, 2.0 ** -14 - 2.0 ** -25, 1e-45, 1.17549435e-38, 1.0e-8]
    # Exact ties between float16 neighbours around 1 and 1000 (round to even), and just either side.
    for base in (1.0, 1000.0, 3.0e-5):
        ulp = np.spacing(np.float16(base)).astype(np.float32)
        for k in range(4):
            tie = np.float32(base) + (k + 0.5) * ulp
            values += [float(tie), float(np.nextafter(tie, np.float32(0))), float(np.nextafter(tie, np.float32(1e9)))]
    # Exact ties between bfloat16 neighbours.
    for base in (1.0, 3.0e10, 7.0e-30):
        bits = np.array([base], dtype=np.float32).view(np.uint32)[0]
        for k in range(4):
            tie = np.array([(bits & 0xFFFF0000) + (k << 16) + 0x8000], dtype=np.uint32).view(np.float32)[0]
            values += [float(tie), float(np.nextafter(tie, np.float32(0))), float(np.nextafter(tie, np.float32(1e38)))]
    values = np.array(values, dtype=np.float32)
    return np.concatenate([values, -values])


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(1234)
    mantissas = rng.uniform(1.0, 2.0, 8000).astype(np.float32)
    exponents = rng.integers(-30, 20, 8000)
    signs = rng.choice(np.array([-1.0, 1.0], dtype=np.float32), 8000)
    random = (signs * mantissas * np.exp2(exponents)).astype(np.float32)
    wide = (rng.standard_normal(2000) * np.exp2(rng.integers(-140, 127, 2000))).astype(np.float32)
    x = np.concatenate([crafted(), random, wide]).astype(np.float32)
    t = torch.from_numpy(x)
    np.save(os.path.join(OUT, "values.npy"), x)
    np.save(os.path.join(OUT, "to_float16.npy"), t.to(torch.float16).numpy())
    np.save(os.path.join(OUT, "to_bfloat16.npy"), t.to(torch.bfloat16).view(torch.int16).numpy().view(np.uint16))
    every = np.arange(65536, dtype=np.uint16)
    as_float = torch.from_numpy(every.view(np.int16)).view(torch.float16).to(torch.float32).numpy()
    np.save(os.path.join(OUT, "float16_all_as_float32.npy"), as_float)


if __name__ == "__main__":
    main()
