"""Criticality: the single-input kernel map, susceptibilities and critical points.

Stage *criticality*: :class:`~derive.activations.Activation` → susceptibilities,
critical points and, for each usable critical point, a :class:`LocalFlow` (the
leading terms of the recursions near it) for :mod:`derive.asymptotics`.

Equations (THEORY.md §4): g(K) = ⟨σ²⟩_K, K' = C_b + C_W g(K),
χ_∥ = C_W g'(K) = C_W⟨σ'² + σσ''⟩_K, χ_⊥ = C_W⟨σ'²⟩_K.  A fixed point is critical
when χ_∥ = χ_⊥ = 1, i.e. ⟨σσ''⟩_{K*} = 0 and C_W = 1/⟨σ'²⟩_{K*}.
K-derivatives use the heat-equation identity d/dK ⟨f⟩_K = ½⟨f''⟩_K.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import scipy.optimize
import sympy as sp

from .activations import Activation, integrand
from .gaussian import expect1, expectation_series, has_atoms
from .quadrature import integrand_in_K
from .symbols import C_W, K, z

__all__ = ["CriticalPoint", "LocalFlow", "kernel_map", "susceptibilities", "critical_points",
           "is_scale_invariant", "taylor_coefficients", "SEARCH_RANGE"]

#: Range of K scanned for critical points K* > 0 (log-spaced grid, then Brent).
SEARCH_RANGE = (1e-3, 1e3)
_GRID = 481
_SERIES_ORDER = 6


class CriticalPoint(NamedTuple):
    """(C_b, C_W, K_star, stability) of one critical point (THEORY.md §4)."""

    C_b: sp.Expr
    C_W: sp.Expr
    K_star: sp.Expr
    stability: str


@dataclass(frozen=True)
class LocalFlow:
    """Leading terms of the critical recursions in the deviation x = K − K*.

    Each series is a tuple of (coefficient, power of x), increasing powers:
    ``increment``: K' − K; ``chi_perp``: χ_⊥ − 1; ``chi_par_sq``: χ_∥² − 1;
    ``source``: C_W²(⟨σ⁴⟩ − ⟨σ²⟩²) (the V recursion's inhomogeneous term).
    ``side`` is the sign of x on the attracted side.
    """

    increment: tuple
    chi_perp: tuple
    chi_par_sq: tuple
    source: tuple
    side: int
    exact: bool = False


def kernel_map(act: Activation) -> sp.Expr:
    """g(K) = ⟨σ²⟩_K, closed form or with quadrature atoms (PDLT eq. 5.3)."""
    return expect1(integrand(act.bound_expr**2))


def susceptibilities(act: Activation) -> tuple[sp.Expr, sp.Expr]:
    """(χ_∥(K), χ_⊥(K)) as expressions in K and C_W (THEORY.md §4).

    Examples
    --------
    >>> from derive import activation
    >>> susceptibilities(activation("relu"))
    (C_W/2, C_W/2)
    """
    g = kernel_map(act)
    if has_atoms(g):
        sigma = act.bound_expr
        par = expect1(integrand(act.derivative(1) ** 2 + sigma * act.derivative(2)))
    else:
        par = sp.simplify(sp.diff(g, K))
    perp = expect1(integrand(act.derivative(1) ** 2))
    return sp.simplify(C_W * par), sp.simplify(C_W * perp)


def is_scale_invariant(act: Activation) -> bool:
    """σ(λz) = λσ(z) for λ > 0, tested by Euler's identity σ = zσ' (as distributions)."""
    return sp.simplify(act.bound_expr - z * act.derivative(1)) == 0


def taylor_coefficients(act: Activation, order: int = 5) -> dict:
    """σ_p = σ^{(p)}(0) (one-sided pairs (σ_p^+, σ_p^−) where they differ)."""
    out = {}
    for side, name in ((+1, "+"), (-1, "-")):
        branch = act.bound_expr.replace(sp.Heaviside, lambda a, *r: sp.S.One if
                                        (sp.diff(a, z) * side).is_positive else sp.S.Zero)
        series = sp.series(branch, z, 0, order + 1).removeO()
        for p in range(order + 1):
            out.setdefault(p, {})[name] = sp.simplify(series.coeff(z, p) * sp.factorial(p))
    return {p: (v["+"] if sp.simplify(v["+"] - v["-"]) == 0 else (v["+"], v["-"])) for p, v in out.items()}


# ---------------------------------------------------------------------------------
# Critical points
# ---------------------------------------------------------------------------------

def critical_points(act: Activation) -> tuple[tuple[CriticalPoint, LocalFlow | None], ...]:
    """All critical points with their local flows, and the reasons for absent ones.

    Returns a tuple of (CriticalPoint, LocalFlow) pairs; a point whose flow cannot
    be analysed has LocalFlow None.  See :func:`explain_absence` for the "why not".
    """
    if is_scale_invariant(act):
        return (_scale_invariant_point(act),)
    points = []
    zero = _zero_kernel_point(act)
    if zero is not None:
        points.append(zero)
    if act.is_numeric:
        points.extend(_positive_kernel_points(act))
    return tuple(points)


def _scale_invariant_point(act):
    g = kernel_map(act)
    A2 = sp.simplify(g / K)
    cw = sp.simplify(1 / A2)
    source = sp.simplify(cw**2 * (expect1(integrand(act.bound_expr**4)) - g**2))
    flow = LocalFlow(increment=(), chi_perp=(), chi_par_sq=(), source=((sp.simplify(source / K**2), 2),),
                     side=+1, exact=True)
    return CriticalPoint(sp.S.Zero, cw, sp.Symbol("K", positive=True), "marginal (every K is a fixed point)"), flow


def _zero_kernel_point(act):
    """K* = 0 with C_b = 0, C_W = 1/σ'(0)² (needs σ(0) = 0 and σ'(0) ≠ 0)."""
    taylor = taylor_coefficients(act, 1)
    s0, s1 = taylor[0], taylor[1]
    if isinstance(s0, tuple) or s0 != 0:
        return None
    g_series = expectation_series(act.bound_expr**2, _SERIES_ORDER)
    g1 = g_series.coeff(K, 1)
    if g1 == 0:
        return None
    cw = sp.simplify(1 / g1)
    flow = _series_flow(act, cw, g_series)
    if flow.increment:
        lead = flow.increment[0][0]
        if lead.is_number:
            stability = "stable (attracts from K > 0)" if lead < 0 else "unstable (K > 0 flows away)"
        else:
            stability = f"stable if {sp.simplify(lead)} < 0"
    else:
        stability = f"marginal to order K^{_SERIES_ORDER}"
    del s1
    return CriticalPoint(sp.S.Zero, cw, sp.S.Zero, stability), flow


def _series_terms(expr, x, start_power=None):
    from .asymptotics import increments_from_series
    pairs = increments_from_series(expr, x)
    return tuple((c, p) for c, p in pairs if start_power is None or p > start_power)


def _series_flow(act, cw, g_series) -> LocalFlow:
    """Local flow about K* = 0 from exact series in √K (THEORY.md §5, a_1 and b_1)."""
    K_next = sp.expand(cw * g_series)
    increment = _series_terms(K_next - K, K)
    chi_par = sp.expand(sp.diff(K_next, K))
    chi_par_sq = _truncate(sp.expand(chi_par**2) - 1, K, _SERIES_ORDER)
    perp = expectation_series(act.derivative(1) ** 2, _SERIES_ORDER)
    chi_perp = sp.expand(cw * perp - 1)
    quartic = expectation_series(act.bound_expr**4, _SERIES_ORDER)
    source = _truncate(sp.expand(cw**2 * (quartic - g_series**2)), K, _SERIES_ORDER)
    return LocalFlow(increment=increment, chi_perp=_series_terms(chi_perp, K),
                     chi_par_sq=_series_terms(chi_par_sq, K), source=_series_terms(source, K), side=+1)


def _truncate(expr, x, order):
    return sp.Add(*[t for t in sp.Add.make_args(sp.expand(expr)) if t.as_coeff_exponent(x)[1] <= order])


def _numeric(act, expr):
    return integrand_in_K(integrand(expr), z, K)


def _positive_kernel_points(act):
    """Roots K* > 0 of ⟨σσ''⟩_K (χ_∥ = χ_⊥) with C_b = K* − C_W g(K*) ≥ 0."""
    sigma, d1, d2 = act.bound_expr, act.derivative(1), act.derivative(2)
    h = _numeric(act, sigma * d2)
    Ks = np.geomspace(*SEARCH_RANGE, _GRID)
    values = h(Ks)
    points = []
    finite = np.isfinite(values)
    for i in range(len(Ks) - 1):
        if not (finite[i] and finite[i + 1]) or values[i] == 0 or np.sign(values[i]) == np.sign(values[i + 1]):
            continue
        root = scipy.optimize.brentq(lambda k: float(h(np.array(k))), Ks[i], Ks[i + 1], xtol=1e-15, rtol=1e-15)
        perp = float(_numeric(act, d1**2)(np.array(root)))
        g = float(_numeric(act, sigma**2)(np.array(root)))
        cw, cb = 1.0 / perp, root - g / perp
        if cb < -1e-12 * root:
            points.append((CriticalPoint(_float(cb), _float(cw), _float(root),
                                         "unreachable (needs C_b < 0)"), None))
            continue
        points.append(_positive_point(act, root, max(cb, 0.0), cw))
    return points


def _positive_point(act, root, cb, cw):
    sigma, d1 = act.bound_expr, act.derivative(1)

    def at(integrand):
        return float(_numeric(act, integrand)(np.array(root)))
    g = at(sigma**2)
    g2 = at(integrand(sigma**2, 4)) / 4          # g''(K*) = ¼⟨(σ²)''''⟩
    perp1 = at(integrand(d1**2, 2)) / 2          # d⟨σ'²⟩/dK = ½⟨(σ'²)''⟩
    source = cw**2 * (at(sigma**4) - g**2)
    curvature = cw * g2                            # F''(K*) of F(K) = K' − K
    if abs(curvature) < 1e-12:
        stability = "marginal (F'' = 0)"
        side = +1
    else:
        side = -int(np.sign(curvature))
        stability = "half-stable (attracts from " + ("above)" if side > 0 else "below)")
    flow = LocalFlow(increment=((_float(curvature / 2), 2),), chi_perp=((_float(cw * perp1), 1),),
                     chi_par_sq=((_float(2 * curvature), 1),), source=((_float(source), 0),), side=side)
    return CriticalPoint(_float(cb), _float(cw), _float(root), stability), flow


def _float(x: float) -> sp.Float:
    return sp.Float(float(x), 15)


def explain_absence(act: Activation) -> str:
    """Why an activation has no usable critical point (THEORY.md §5, last item)."""
    sigma, d1 = act.bound_expr, act.derivative(1)
    perp = _numeric(act, d1**2)(np.array([1.0]))[0] if act.is_numeric else None
    if perp is not None and not np.isfinite(perp):
        return "χ_⊥ = C_W⟨σ'²⟩ diverges: σ' contains a Dirac delta, so no C_W makes χ_⊥ = 1"
    taylor = taylor_coefficients(act, 1)
    reasons = []
    s0 = taylor[0]
    if isinstance(s0, tuple) or s0 != 0:
        reasons.append(f"σ(0) = {s0} ≠ 0, so K' ≥ C_W σ(0)²·(1 + O(K)) > 0 and K* = 0 is never a fixed point")
    elif taylor[1] == 0:
        reasons.append("σ'(0) = 0, so χ(0) = 0 and K* = 0 cannot be critical")
    if act.is_numeric:
        h = _numeric(act, sigma * act.derivative(2))(np.geomspace(*SEARCH_RANGE, _GRID))
        finite = h[np.isfinite(h)]
        if finite.size and (np.all(finite > 0) or np.all(finite < 0)):
            sign = ">" if finite[0] > 0 else "<"
            reasons.append(f"⟨σσ''⟩_K {sign} 0 for all K in [{SEARCH_RANGE[0]:g}, {SEARCH_RANGE[1]:g}], "
                           "so χ_∥ ≠ χ_⊥ at every K* > 0")
    else:
        reasons.append("a numeric search for K* > 0 needs values for the parameters "
                       + ", ".join(p.name for p in act.free_parameters))
    return "; ".join(reasons) or "no critical point found"
