#!/usr/bin/python3
"""Fits the polynomials of fmath::expm1 and fmath::erf / fmath::erfc (kernels/float_math.cuh) and prints their float
coefficients.

e^x - 1 = x + x^2 P(x) for |x| <= 1/2.
erf(x) = x P(x^2) below 0.625; erfc(x) = e^-x^2 R(x) above, R by a polynomial in x - 1.4375 up to 2.25 and by
(1/x) Q(1/x^2) beyond (to 10.1, where erfc underflows). Each fit minimises the largest relative error (iteratively
reweighted least squares on Chebyshev nodes, the exact values from mpmath), and the coefficients are rounded to float
one at a time, lowest order first, the rest refitted after each rounding so that they absorb it.
Run:  /usr/bin/python3 scripts/fit_float_math.py   (python3-mpmath, python3-numpy)
"""
import math

import mpmath
import numpy as np

mpmath.mp.dps = 30


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


def main():
    def erf_over_x(x):
        return float(mpmath.erf(x) / x) if x != 0 else 2 / math.sqrt(math.pi)

    def scaled_erfc(x):
        return float(mpmath.erfc(x) * mpmath.exp(x * x))

    def expm1_rest(x):
        return float((mpmath.expm1(x) - x) / (x * x)) if x != 0 else 0.5

    one = lambda x: 1  # noqa: E731
    two_over_sqrt_pi = float(np.float32(2 / math.sqrt(math.pi)))  # the limit at 0 kept as the nearest float
    fits = {"P (expm1, x)": fit(expm1_rest, -0.5, 0.5, 5, lambda x: x, one),
            "P (erf, x^2)": fit(erf_over_x, 1e-7, 0.625, 4, lambda x: x * x, one, first=two_over_sqrt_pi),
            "R (erfc, x - 1.4375)": fit(scaled_erfc, 0.625, 2.25, 10, lambda x: x - 1.4375, one),
            "Q (erfc, 1/x^2)": fit(scaled_erfc, 2.25, 10.1, 7, lambda x: 1 / (x * x), lambda x: 1 / x)}
    for name, coefficients in fits.items():
        print(name + ", constant term first:")
        print("  " + ", ".join("%.9ef" % c for c in coefficients))


if __name__ == "__main__":
    main()
