#!/usr/bin/python3
"""Fits the polynomials of fmath::expm1, fmath::erf_near_zero and fmath::tan_of and the rational of fmath::tail_ratio
(normal_parts', erfc's; kernels/float_math.cuh) and prints their float coefficients.

e^x - 1 = x + x^2 P(x) for |x| <= 1/2: P minimises the largest relative error (iteratively reweighted least squares
on Chebyshev nodes, the exact values from mpmath), its coefficients rounded to float one at a time, lowest order first,
the rest refitted after each rounding so that they absorb it.

The normal CDF's lower tail: Phi(-m) = phi(m) / (m + h(m)), h = P / D with P of degree 4 and D of degree 5 over
[0, 14.5], minimising the largest relative error of m + h (which is Phi(-m)'s). D(0) and P(0) are fixed first as a
pair of floats whose ratio is sqrt(pi / 2) to ~2e-12 (h(0) = sqrt(2 / pi) itself rounds to 2.8e-8); the rest are fitted
by linearised weighted least squares (Sanathanan-Koerner) and rounded to float one at a time in the same way.
erf(x) = x + x R(x^2) for |x| < 1: R = erf(x) / x - 1 of degree 6 in x^2, fitted as P is; tan(x) = x + x^3 T(x^2)
on [0, pi/4 + 0.01], T of degree 6 in x^2, likewise.
Also printed: 2^-64 / sqrt(2 pi) as a float and its relative rounding error, which normal_parts corrects (erfc's
2^-64 sqrt(2 / pi) is twice it, with the same error).
Run:  /usr/bin/python3 scripts/fit_float_math.py   (python3-mpmath, python3-numpy)
"""
import math

import mpmath
import numpy as np

mpmath.mp.dps = 40


def fit(f, a, b, degree, variable, prefactor, first=None):
    xs = np.cos(np.linspace(0, np.pi, 6000)) * (b - a) / 2 + (a + b) / 2
    ys = np.array([f(x) for x in xs]) / prefactor(xs)
    powers = np.vander(variable(xs), degree + 1, increasing=True)
    fixed = [] if first is None else [first]
    for k in range(len(fixed), degree + 1):
        rest = ys - (powers[:, :k] @ np.array(fixed) if k else 0)
        free = powers[:, k:]
        weights = 1 / np.abs(ys)
        for _ in range(40):
            c = np.linalg.lstsq(free * weights[:, None], rest * weights, rcond=None)[0]
            error = np.abs((free @ c - rest) / ys)
            weights = weights * (error / error.max() + 0.02) ** 0.3
        fixed.append(float(np.float32(c[0])))
    return fixed


def float_pair_with_ratio(ratio):
    """(d0, p0), both floats, d0 = 1 + k 2^-23, with p0 / d0 closest to ratio among the first 2^22 k."""
    best = None
    for k in range(1 << 22):
        d0 = 1 + k * 2.0 ** -23
        p0 = float(np.float32(d0 * ratio))
        error = abs(p0 / d0 / ratio - 1)
        if best is None or error < best[0]:
            best = (error, d0, p0)
        if error < 3e-12:
            break
    return best[1], best[2]


def fit_tail_ratio(p_degree=4, d_degree=5, top=14.5):
    def h(m):
        m = mpmath.mpf(m)
        ratio = mpmath.erfc(m / mpmath.sqrt(2)) / 2 * mpmath.exp(m * m / 2) * mpmath.sqrt(2 * mpmath.pi)
        return float(1 / ratio - m)

    ms = np.cos(np.linspace(0, np.pi, 5000)) * top / 2 + top / 2
    hs = np.array([h(m) for m in ms])
    tolerance = ms + hs  # an error in h counts relative to m + h
    d0, p0 = float_pair_with_ratio(math.sqrt(2 / math.pi))
    # P(m) - h (D(m) - d0) = h d0, in the unknowns p1.., d1..
    columns = {"p%d" % i: ms ** i for i in range(1, p_degree + 1)}
    columns.update({"d%d" % i: -hs * ms ** i for i in range(1, d_degree + 1)})

    def solve(fixed):
        free = [name for name in columns if name not in fixed]
        rhs = hs * d0 - p0 - sum(columns[name] * value for name, value in fixed.items())
        denominator, weights = np.ones_like(ms), np.ones_like(ms)
        for _ in range(80):
            scale = weights / (tolerance * denominator)
            solution = np.linalg.lstsq(np.stack([columns[n] for n in free], 1) * scale[:, None], rhs * scale,
                                       rcond=None)[0]
            c = dict(fixed, **dict(zip(free, solution)))
            numerator = p0 + sum(c["p%d" % i] * ms ** i for i in range(1, p_degree + 1))
            denominator = d0 + sum(c["d%d" % i] * ms ** i for i in range(1, d_degree + 1))
            error = np.abs((numerator / denominator - hs) / tolerance)
            weights = weights * (error / error.max() + 0.02) ** 0.5
        return c

    fixed = {}
    for k in range(1, d_degree + 1):
        for name in ["d%d" % k] + (["p%d" % k] if k <= p_degree else []):
            fixed[name] = float(np.float32(solve(fixed)[name]))
    p = [p0] + [fixed["p%d" % i] for i in range(1, p_degree + 1)]
    d = [d0] + [fixed["d%d" % i] for i in range(1, d_degree + 1)]
    error = np.abs((np.polyval(p[::-1], ms) / np.polyval(d[::-1], ms) - hs) / tolerance).max()
    return p, d, error


def main():
    def expm1_rest(x):
        return float((mpmath.expm1(x) - x) / (x * x)) if x != 0 else 0.5

    one = lambda x: 1  # noqa: E731
    print("P (expm1, x), constant term first:")
    print("  " + ", ".join("%.9ef" % c for c in fit(expm1_rest, -0.5, 0.5, 5, lambda x: x, one)))
    def erf_rest(x):
        return float(mpmath.erf(x) / x - 1) if x != 0 else float(2 / mpmath.sqrt(mpmath.pi) - 1)

    print("R (erf, x^2), constant term first:")
    print("  " + ", ".join("%.9ef" % c for c in fit(erf_rest, 0.0, 1.0, 6, lambda x: x * x, one)))
    def tan_rest(x):
        return float((mpmath.tan(x) - x) / x ** 3)

    # (to pi/4 and a hair past it, where 2|x|/pi rounds to the other integer)
    print("T (tan, x^2), constant term first:")
    print("  " + ", ".join("%.9ef" % c for c in fit(tan_rest, 1e-4, 0.7954, 6, lambda x: x * x, one)))
    p, d, error = fit_tail_ratio()
    print("normal_parts' h = P / D, constant terms first (largest relative error of m + h: %.2g):" % error)
    print("  P: " + ", ".join("%.9ef" % c for c in p))
    print("  D: " + ", ".join("%.9ef" % c for c in d))
    exact = 2.0 ** -64 / math.sqrt(2 * math.pi)
    scale = float(np.float32(exact))
    error = np.float32(exact / scale - 1)
    print("2^-64 / sqrt(2 pi): %.9ef, its relative error (exact / float - 1): %.9ef" % (scale, error))


if __name__ == "__main__":
    main()
