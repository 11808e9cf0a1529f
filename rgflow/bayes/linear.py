"""Deep linear networks at zero temperature: the Li–Sompolinsky equation (closed form).

For σ(h) = h the renormalised kernel is ``K^R_L = g K_GP``, ``g = Π_ℓ Q̄_ℓ``, with the
NNGP kernel ``K_GP = C/(λ_1⋯λ_L)``.  At ``β = inf`` the saddle-point equations of
eq. (2) reduce (:func:`derive.bayes.action.li_sompolinsky` derives this in sympy) to

    1 − Q̄_ℓ = α_ℓ (1 − r/g),   g = Π_ℓ Q̄_ℓ,   r = yᵀK_GP⁻¹y/P,                  (7)

and, for equal widths (``α_ℓ = α``), to the Li–Sompolinsky equation
``1 − Q̄ = α(1 − r/Q̄^L)``, i.e. ``Q̄^{L+1} − (1−α)Q̄^L − αr = 0``, which has exactly
one positive root (one sign change, Descartes).  In Li & Sompolinsky's notation
(all priors ``λ_ℓ = 1/σ²``) ``u_0 = σ²Q̄`` and ``r_0 = σ^{2L} r``:
``1 − u_0/σ² = α(1 − r_0/u_0^L)``.

Examples
--------
>>> round(li_sompolinsky_root(0.5, 2.0, 1), 12)   # Q̄² − 0.5Q̄ − 1 = 0
1.280776406404
>>> [round(q, 6) for q in deep_linear_zero_temperature((0.5, 0.5), 2.0)]
[1.197429, 1.197429]
"""

from __future__ import annotations

import math

import numpy as np
from scipy import optimize

from derive.bayes.errors import BayesInputError, NoSaddlePointError

__all__ = ["li_sompolinsky_root", "deep_linear_zero_temperature"]


def _check(alpha, r):
    if not (0 < alpha < math.inf):
        raise BayesInputError(f"alpha must be positive and finite, got {alpha!r}")
    if not (0 < r < math.inf):
        raise BayesInputError(f"r = yᵀK⁻¹y/P must be positive and finite, got {r!r}")


def li_sompolinsky_root(alpha: float, r: float, depth: int) -> float:
    """The positive root ``Q̄`` of ``1 − Q̄ = α(1 − r/Q̄^L)`` (eq. (7), equal widths)."""
    _check(alpha, r)
    if not (isinstance(depth, int) and depth >= 1):
        raise BayesInputError(f"depth must be a positive integer, got {depth!r}")
    f = lambda u: u ** (depth + 1) - (1 - alpha) * u**depth - alpha * r  # noqa: E731
    hi = 1.0
    while f(hi) < 0:
        hi *= 2.0
    return float(optimize.brentq(f, 0.0, hi, xtol=1e-15, rtol=1e-15))


def deep_linear_zero_temperature(alphas, r: float) -> tuple:
    """``(Q̄_1..Q̄_L)`` solving eq. (7) for arbitrary ``α_ℓ`` (1-D root in ``g = ΠQ̄_ℓ``)."""
    alphas = tuple(float(a) for a in np.atleast_1d(alphas))
    for a in alphas:
        _check(a, r)

    def qbars(g):
        return np.array([1.0 - a * (1.0 - r / g) for a in alphas])

    def h(lg):
        q = qbars(math.exp(lg))
        return np.sum(np.log(q)) - lg if np.all(q > 0) else -math.inf

    # the admissible g keep every Q̄_ℓ > 0; h decreases from +∞ (g → g_min) to −∞ (g → ∞)
    gmin = max([a * r / (a - 1.0) for a in alphas if a > 1.0], default=0.0)
    lo = math.log(gmin) + 1e-12 if gmin > 0 else -50.0
    while h(lo) == -math.inf or h(lo) < 0:
        lo = lo + 1e-6 if h(lo) == -math.inf else lo - 5.0
        if lo < -200:
            raise NoSaddlePointError("no positive solution of the deep-linear equation")
    hi = max(lo + 1.0, 1.0)
    while h(hi) > 0:
        hi += 5.0
    lg = optimize.brentq(h, lo, hi, xtol=1e-15)
    return tuple(float(q) for q in qbars(math.exp(lg)))
