"""Calibration of the trapezoid rule for one smooth factor function.

Stage *calibrate*: factor f(z) (sympy) → ``hz``, the largest step in z (from a fixed
ladder) at which the trapezoid rule for E[F(s u + m)], u ~ N(0, 1), with F = f and
F = f², at s = 6 and two shifts m, has relative error ≤ 1e-10.  At s = 6 the
Gaussian weight is resolved far better than f, so ``hz`` measures the analyticity
strip of f and its growth there (tanh, poles at ±iπ/2: hz ≈ 0.38; sin: 1.8; erf, entire
but growing like exp(y²) off the real axis: 0.45).  The generated kernels rescale it to other tolerances with the exp(−c/h)
error law of the trapezoid rule (see ``codegen/numerics_template.py``).

The ladder is discrete and the errors change by orders of magnitude between its
rungs, so the result (printed into generated modules) is the same on every machine.

Examples
--------
>>> import sympy as sp
>>> from derive.symbols import z
>>> zstep(sp.tanh(z)) < zstep(sp.tanh(z / 2))      # poles at ±iπ/2 vs ±iπ: a wider strip
True
>>> zstep(sp.tanh(z)), zstep(sp.sin(z))
(0.380546, 1.810193)
"""

from __future__ import annotations

import functools
import math

import numpy as np
import sympy as sp

from derive.symbols import z

__all__ = ["zstep", "LADDER", "CALIBRATION_TOLERANCE"]

#: Candidate z-steps (geometric, ratio 2^(1/4)), smallest first.
LADDER = tuple(round(0.02 * 2 ** (k / 4), 6) for k in range(33))
CALIBRATION_TOLERANCE = 1e-10
_SCALE = 6.0
_SHIFTS = (0.0, 2.2)
_RADIUS = 9.0


def _trapezoid(F, h: float, shift: float) -> tuple[float, float]:
    J = int(_RADIUS / h)
    u = np.arange(-J, J + 1) * h
    w = h * np.exp(-0.5 * u * u) / math.sqrt(2 * math.pi)
    with np.errstate(all="ignore"):
        values = F(_SCALE * u + shift)
    return float(np.sum(w * values)), float(np.sum(w * np.abs(values)))


@functools.lru_cache(maxsize=512)
def zstep(expr: sp.Expr) -> float:
    """Calibrated trapezoid z-step of the smooth factor ``expr`` (a function of z)."""
    if not expr.has(z):
        return LADDER[-1]
    try:
        f = sp.lambdify(z, expr, modules=["scipy", "numpy"])
        f(np.linspace(-1.0, 1.0, 3))
    except Exception:  # noqa: BLE001 - an unprintable factor gets the finest step
        return LADDER[0]
    functions = (lambda x: np.broadcast_to(f(x), np.shape(x)),
                 lambda x: np.broadcast_to(f(x), np.shape(x)) ** 2)
    reference = {}
    for i, F in enumerate(functions):
        for shift in _SHIFTS:
            reference[(i, shift)] = _trapezoid(F, LADDER[0] / (4 * _SCALE), shift)
    if not all(math.isfinite(v) for pair in reference.values() for v in pair):
        return LADDER[0]
    best = LADDER[0]
    for hz in LADDER:
        ok = True
        for i, F in enumerate(functions):
            for shift in _SHIFTS:
                value, _ = _trapezoid(F, hz / _SCALE, shift)
                ref, scale = reference[(i, shift)]
                if not abs(value - ref) <= CALIBRATION_TOLERANCE * max(scale, 1e-300):
                    ok = False
        if not ok:
            break
        best = hz
    return best
