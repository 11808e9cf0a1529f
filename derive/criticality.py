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

import functools
from dataclasses import dataclass
from typing import NamedTuple

import mpmath
import numpy as np
import sympy as sp

from .activations import Activation, integrand
from .errors import NotCriticalError
from .gaussian import expect1, has_atoms, series_from_branches, taylor_branch, truncated_power
from .symbols import C_W, K, z

__all__ = ["CriticalPoint", "LocalFlow", "kernel_map", "susceptibilities", "critical_points",
           "numeric_susceptibilities", "numeric_averages",
           "is_scale_invariant", "taylor_coefficients", "SEARCH_RANGE"]

#: Range of K scanned for critical points K* > 0 (log-spaced grid, then Brent).
SEARCH_RANGE = (1e-3, 1e3)
_GRID = 481
_SERIES_ORDERS = (3, 6)


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
    ``side`` is the sign of x on the attracted side.  ``beyond_all_orders`` is the
    a of K' − K ∝ ±e^{−a/K} when every power of K cancels (σ linear near 0 with
    kinks at distance √(2a)), else None.
    """

    increment: tuple
    chi_perp: tuple
    chi_par_sq: tuple
    source: tuple
    side: int
    exact: bool = False
    beyond_all_orders: sp.Expr | None = None


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
    sigma = act.bound_expr
    par = expect1(integrand(act.derivative(1) ** 2 + sigma * act.derivative(2)))
    perp = expect1(integrand(act.derivative(1) ** 2))
    return C_W * par, C_W * perp


def _tidy(expr, budget: int = 60):
    """simplify small expressions only (large closed forms are left as derived)."""
    return sp.simplify(expr) if sp.count_ops(expr) <= budget else expr


@functools.lru_cache(maxsize=256)
def is_scale_invariant(act: Activation) -> bool:
    """σ(λz) = λσ(z) for λ > 0, tested by Euler's identity σ = zσ' (as distributions).

    Such σ are piecewise linear, so σ'' is a pure delta term; checking that first
    avoids simplifying transcendental expressions.
    """
    regular = sp.expand(act.derivative(2).replace(sp.DiracDelta, lambda *a: sp.S.Zero))
    if regular != 0:
        return False
    return sp.simplify(integrand(act.bound_expr) - z * act.derivative(1)) == 0


def taylor_coefficients(act: Activation, order: int = 5) -> dict:
    """σ_p = σ^{(p)}(0) (one-sided pairs (σ_p^+, σ_p^−) where they differ)."""
    degree = max(order, 2 * _SERIES_ORDERS[0] + 1)   # share the expansion with the K*=0 series
    plus, minus = (taylor_branch(act.bound_expr, side, degree) for side in (+1, -1))
    out = {}
    for p in range(order + 1):
        cp = plus.coeff_monomial(z**p) * sp.factorial(p)
        cm = minus.coeff_monomial(z**p) * sp.factorial(p)
        out[p] = cp if sp.simplify(cp - cm) == 0 else (cp, cm)
    return out


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
    if act.derivative(1).has(sp.DiracDelta):   # σ jumps: χ_⊥ = ∞ at every K > 0
        return ()
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
    """K* = 0 with C_b = 0, C_W = 1/σ'(0)² (needs σ(0) = 0 and σ'(0) ≠ 0).

    The series order is raised until a non-vanishing correction to K' = K is found
    (a_1 = 0 activations such as z − z⁵ need the next order).
    """
    taylor = taylor_coefficients(act, 1)
    if isinstance(taylor[0], tuple) or taylor[0] != 0:
        return None
    for order in _SERIES_ORDERS:
        flow, cw = _series_flow(act, order)
        if cw is None:
            return None
        if flow.increment:
            break
    if flow.increment:
        lead = flow.increment[0][0]
        if lead.is_number:
            stability = "stable (attracts from K > 0)" if lead < 0 else "unstable (K > 0 flows away)"
        else:
            stability = f"stable if {_condition(lead < 0)}"
    else:
        stability = f"marginal to order K^{order}"
        nonperturbative = _beyond_all_orders(act, cw)
        if nonperturbative is not None:
            stability, flow = nonperturbative
    return CriticalPoint(sp.S.Zero, cw, sp.S.Zero, stability), flow


def _beyond_all_orders(act, cw):
    """K* = 0 when σ = σ_1 z exactly on (p_−, p_+) ∋ 0: no power of K survives.

    Then K' − K = C_W⟨σ² − σ_1²z²⟩_K involves only |z| ≥ z_0 = min(|p_±|) and is
    ±(power of K)·e^{−z_0²/(2K)}; its sign is read off quadrature at K = z_0²/8,
    z_0²/16, z_0²/32 (where e^{−z_0²/2K} ≥ 1e-7, far above round-off), and
    a = z_0²/2 gives K ≈ a/log ℓ (dK/dℓ ∝ −K^β e^{−a/K}).  Returns
    (stability, LocalFlow) or None when σ is not linear near 0 or has parameters.
    """
    from .activations import canonical_piecewise
    if not act.is_numeric or not act.bound_expr.has(sp.Heaviside):
        return None
    branches = {}   # indicator → branch
    for piece in sp.Add.make_args(sp.expand(canonical_piecewise(integrand(act.bound_expr)))):
        steps = tuple(sorted((f for f in sp.Mul.make_args(piece) if isinstance(f, sp.Heaviside)),
                             key=sp.default_sort_key))
        branches[steps] = branches.get(steps, 0) + piece.subs({h: 1 for h in steps})
    near, edges = [], set()
    for steps, branch in branches.items():
        lo = max((sp.solve(h.args[0], z)[0] for h in steps if sp.diff(h.args[0], z) > 0), default=-sp.oo)
        hi = min((sp.solve(h.args[0], z)[0] for h in steps if sp.diff(h.args[0], z) < 0), default=sp.oo)
        if lo <= 0 <= hi:   # the branch(es) at 0: each must be c·z
            near.append(sp.expand(branch - sp.diff(branch, z).subs(z, 0) * z) == 0)
            edges.update(p for p in (lo, hi) if p.is_finite and p != 0)
    if not edges or not all(near):
        return None
    z0 = min(abs(p) for p in edges)
    num = _NumericSigma(act)
    Ks = np.array([1 / 8, 1 / 16, 1 / 32]) * float(z0) ** 2
    increments = float(cw) * num.g(Ks) - Ks
    if not (np.all(increments < 0) or np.all(increments > 0)):
        return None
    a = sp.nsimplify(z0**2 / 2)
    lo, hi = max([p for p in edges if p < 0], default=-sp.oo), min([p for p in edges if p > 0], default=sp.oo)
    where = f"σ is c·z on each side of 0 for {lo} < z < {hi}"
    if increments[0] > 0:
        return f"unstable (K > 0 flows away; K' − K ∝ +e^{{−a/K}} with a = {a}, {where})", None
    flow = LocalFlow(increment=(), chi_perp=(), chi_par_sq=(), source=(), side=+1, beyond_all_orders=a)
    return f"stable (attracts from K > 0 beyond all orders in K: K' − K ∝ −e^{{−a/K}} with a = {a}, {where})", flow


def _condition(inequality) -> str:
    """A readable condition on the free parameters (e.g. ``Ne(a, 0)`` for −2a² < 0)."""
    symbols = sorted(inequality.free_symbols, key=lambda s: s.name)
    try:
        return str(sp.reduce_inequalities([inequality], symbols))
    except (NotImplementedError, ValueError, TypeError):
        return str(sp.simplify(inequality))


def _series_terms(expr, x):
    from .asymptotics import increments_from_series
    return tuple(increments_from_series(expr, x))


def _series_flow(act, order):
    """Local flow about K* = 0 from exact series in √K (THEORY.md §5, a_1 and b_1)."""
    degree = 2 * order
    sigma = [taylor_branch(act.bound_expr, side, degree + 1) for side in (+1, -1)]
    dsigma = [p.diff(z) for p in sigma]

    def series(branches, power):
        return series_from_branches([truncated_power(b, power, degree) for b in branches], order)
    g_series = series(sigma, 2)
    g1 = g_series.coeff(K, 1)
    if g1 == 0:
        return None, None
    cw = sp.simplify(1 / g1)
    K_next = sp.expand(cw * g_series)
    increment = _series_terms(K_next - K, K)
    if increment and increment[0][0].is_number and increment[0][0] > 0:  # unstable: no laws needed
        return LocalFlow(increment=increment, chi_perp=(), chi_par_sq=(), source=(), side=+1), cw
    chi_par_sq = _truncate(sp.expand(sp.diff(K_next, K) ** 2) - 1, K, order)
    chi_perp = sp.expand(cw * series(dsigma, 2) - 1)
    source = _truncate(sp.expand(cw**2 * (series(sigma, 4) - g_series**2)), K, order)
    flow = LocalFlow(increment=increment, chi_perp=_series_terms(chi_perp, K),
                     chi_par_sq=_series_terms(chi_par_sq, K), source=_series_terms(source, K), side=+1)
    return flow, cw


def _truncate(expr, x, order):
    return sp.Add(*[t for t in sp.Add.make_args(sp.expand(expr)) if t.as_coeff_exponent(x)[1] <= order])


class _NumericSigma:
    """σ, σ', σ'' on the split Gauss–Legendre nodes, for fast Gaussian averages in K.

    Averages are ⟨F(σ, σ', σ'', z)⟩_K for arrays of K; a Dirac delta c·δ(z) in σ''
    (a kink of σ') contributes c·⟨F⟩|_{z=0}/√(2πK) through :meth:`sigma_ddsigma`.
    K-derivatives use the Hermite identities d/dK⟨f⟩ = ⟨f(z² − K)⟩/(2K²) and
    d²/dK²⟨f⟩ = ⟨f(z⁴ − 6Kz² + 3K²)⟩/(4K⁴), which need no further derivatives of σ.
    """

    def __init__(self, act: Activation):
        from .quadrature import legendre_half_lines
        self.u, self.w = legendre_half_lines()
        self.sigma = act.numpy_function()
        self.d1 = act.numpy_derivative(1)
        self.d2 = act.numpy_derivative(2)
        self.singular_d1 = act.derivative(1).has(sp.DiracDelta)
        # σσ'' ∋ c·σ(p)·δ(z − p) for each kink p of σ' (σ continuous there)
        self.deltas = () if self.singular_d1 else tuple(
            (float(p), float(c * integrand(act.bound_expr).subs(z, p))) for p, c in _delta_terms(act.derivative(2)))
        self.kinks = tuple(sorted(float(p) for p in _kink_points(act) if p != 0))

    def average(self, fn, K):
        K = np.atleast_1d(np.asarray(K, dtype=float))
        if self.kinks:   # kinks away from 0 move with K in u = z/√K: split there too
            return np.array([self._split_average(fn, k) for k in K])
        zs = np.sqrt(K)[:, None] * self.u
        with np.errstate(over="ignore", invalid="ignore"):
            return fn(zs, K[:, None]) @ self.w

    def _split_average(self, fn, k):
        """⟨fn⟩_k with Gauss–Legendre on [−12, 12] in u split at 0 and at every kink p/√k."""
        x, w = np.polynomial.legendre.leggauss(80)
        cuts = [c for c in (p / np.sqrt(k) for p in self.kinks) if -_CUTOFF < c < _CUTOFF]
        edges = np.array(sorted({-_CUTOFF, 0.0, _CUTOFF, *cuts}))
        lo, hi = edges[:-1, None], edges[1:, None]
        u = ((hi - lo) * x / 2 + (hi + lo) / 2).ravel()
        weights = ((hi - lo) * w / 2).ravel() * np.exp(-u * u / 2) / np.sqrt(2 * np.pi)
        with np.errstate(over="ignore", invalid="ignore"):
            return fn(np.sqrt(k) * u[None, :], np.array([[k]]))[0] @ weights

    def g(self, K):
        return self.average(lambda x, k: self.sigma(x) ** 2, K)

    def quartic(self, K):
        return self.average(lambda x, k: self.sigma(x) ** 4, K)

    def perp(self, K):
        if self.singular_d1:
            return np.full(np.shape(np.atleast_1d(K)), np.inf)
        return self.average(lambda x, k: self.d1(x) ** 2, K)

    def sigma_ddsigma(self, K):
        K = np.atleast_1d(np.asarray(K, dtype=float))
        singular = sum(w * np.exp(-p * p / (2 * K)) for p, w in self.deltas) / np.sqrt(2 * np.pi * K)
        return self.average(lambda x, k: self.sigma(x) * self.d2(x), K) + singular

    def g_second(self, K):
        return self.average(lambda x, k: self.sigma(x) ** 2 * (x**4 - 6 * k * x**2 + 3 * k**2), K) \
            / (4 * np.atleast_1d(K) ** 4)

    def perp_first(self, K):
        return self.average(lambda x, k: self.d1(x) ** 2 * (x**2 - k), K) / (2 * np.atleast_1d(K) ** 2)


_CUTOFF = 12.0


def _kink_points(act: Activation) -> list:
    """Kinks of σ and its derivatives: zeros of the Heaviside arguments of canonical σ."""
    from .activations import canonical_piecewise
    sigma = integrand(act.bound_expr)
    if not sigma.has(sp.Heaviside):
        return []
    steps = canonical_piecewise(sigma).atoms(sp.Heaviside)
    return sorted({sp.solve(h.args[0], z)[0] for h in steps if h.args[0].has(z)}, key=float)


def numeric_susceptibilities(act: Activation):
    """(χ_∥/C_W, χ_⊥/C_W) as vectorised numpy functions of K (quadrature, ~1e-13 relative).

    χ_∥/C_W = ⟨σ'² + σσ''⟩_K (delta terms of σ'' included), χ_⊥/C_W = ⟨σ'²⟩_K.
    """
    num = _NumericSigma(act)
    return (lambda Ks: num.perp(Ks) + num.sigma_ddsigma(Ks)), num.perp


def _search_grid(act: Activation) -> np.ndarray:
    """Log-spaced K grid of the K* > 0 search, stopped below any divergence of ⟨σ²⟩_K."""
    low, high = SEARCH_RANGE
    threshold = divergence_threshold(act)
    if threshold is not None:
        high = min(high, 0.9 * threshold)
    if high <= low:
        return np.array([low])
    return np.geomspace(low, high, _GRID)


def _delta_terms(expr) -> list:
    """[(p, c)] for the terms c·δ(z − p) of a canonical σ'' (:func:`clean_deltas` form).

    Raises NotCriticalError for any other singular term (δ' or δ², i.e. σ not
    continuous), which no Gaussian average of σσ'' can absorb.
    """
    out = {}
    for term in sp.Add.make_args(sp.expand(expr)):
        deltas = [f for f in sp.Mul.make_args(term) if isinstance(f, sp.DiracDelta)]
        if not deltas:
            continue
        arg = deltas[0].args[0]
        coeff = term / deltas[0]
        if len(deltas) != 1 or len(deltas[0].args) != 1 or sp.diff(arg, z) != 1 or coeff.has(z):
            raise NotCriticalError(f"σ'' has the singular term {term}: σ is not continuous, "
                                   "so χ_∥ and χ_⊥ are not finite")
        point = -arg.subs(z, 0)
        out[point] = out.get(point, 0) + coeff
    return [(p, c) for p, c in out.items() if c != 0]


def _positive_kernel_points(act):
    """Roots K* > 0 of ⟨σσ''⟩_K (χ_∥ = χ_⊥) with C_b = K* − C_W g(K*) ≥ 0."""
    num = _NumericSigma(act)
    Ks = _search_grid(act)
    values = num.sigma_ddsigma(Ks)
    points = []
    finite = np.isfinite(values)
    for i in range(len(Ks) - 1):
        if not (finite[i] and finite[i + 1]) or values[i] == 0 or np.sign(values[i]) == np.sign(values[i + 1]):
            continue
        root = _bisect(lambda k: float(num.sigma_ddsigma(k)[0]), Ks[i], Ks[i + 1])
        cw = 1.0 / float(num.perp(root)[0])
        cb = root - cw * float(num.g(root)[0])
        if cb < -1e-12 * root:
            points.append((CriticalPoint(_float(cb), _float(cw), _float(root),
                                         "unreachable (needs C_b < 0)"), None))
            continue
        points.append(_positive_point(num, root, max(cb, 0.0), cw))
    return points


def _bisect(f, lo: float, hi: float) -> float:
    """Root of f in [lo, hi] (a sign change) to the last bit, by bisection."""
    f_lo = f(lo)
    while True:
        mid = 0.5 * (lo + hi)
        if mid in (lo, hi):
            return mid
        f_mid = f(mid)
        if f_mid == 0:
            return mid
        if (f_mid > 0) == (f_lo > 0):
            lo, f_lo = mid, f_mid
        else:
            hi = mid


def _positive_point(num, root, cb, cw):
    g = float(num.g(root)[0])
    source = cw**2 * (float(num.quartic(root)[0]) - g**2)
    curvature = cw * float(num.g_second(root)[0])   # F''(K*) of F(K) = K' − K
    slope_perp = cw * float(num.perp_first(root)[0])
    if abs(curvature) < 1e-12:
        stability = "marginal (F'' = 0)"
        side = +1
    else:
        side = -int(np.sign(curvature))
        stability = "half-stable (attracts from " + ("above)" if side > 0 else "below)")
    flow = LocalFlow(increment=((_float(curvature / 2), 2),), chi_perp=((_float(slope_perp), 1),),
                     chi_par_sq=((_float(2 * curvature), 1),), source=((_float(source), 0),), side=side)
    return CriticalPoint(_float(cb), _float(cw), _float(root), stability), flow


def _float(x: float) -> sp.Float:
    return sp.Float(float(x), 15)


@functools.lru_cache(maxsize=256)
def divergence_threshold(act: Activation) -> float | None:
    """Smallest K at which ⟨σ²⟩_K is infinite, or None when it is finite for all K.

    σ² ~ exp(2L z²) at large |z| makes ⟨σ²⟩_K diverge for K ≥ 1/(4L).  L is read
    off log|σ(z)|/z² at |z| = 40 and 80, computed by :func:`_signed_log` (the size
    of e^{e^{e^{80}}} is never formed): a sub-Gaussian σ has L(80) ≪ L(40), a
    Gaussian-growing one L(80) ≈ L(40) > 0, a super-exponential one L = ∞ (0.0).
    """
    if not act.is_numeric:
        return None
    rates = []
    for x in (40, 80):
        logs = [_signed_log(act.bound_expr, sign * x)[1] for sign in (+1, -1)]
        if any(mpmath.isnan(v) or v == mpmath.inf for v in logs):
            return 0.0
        rates.append(max(0.0, *(float(v) / x**2 for v in logs if v != -mpmath.inf)))
    if rates[1] > 0.005 and rates[1] > 0.8 * rates[0]:
        return 1.0 / (4.0 * rates[1])
    return None


#: log|u| above which e^u counts as infinite (|σ| > e^{e^{10⁶}}: ⟨σ²⟩_K = ∞ at every K).
_LOG_CAP = 1e6
#: log|u| above which no other function of u is evaluated (cost of the argument reduction).
_ARG_CAP = 1e4


def _signed_log(expr: sp.Expr, x) -> tuple:
    """(sign, log|expr|) at z = x in 30-digit mpmath, bottom-up by magnitudes.

    exp, log, products, powers and sums are combined on the logarithms, so each
    step costs O(1) digits whatever the size of the value; log = +inf stands for a
    value beyond e^{e^{10⁶}}.  Raises NotCriticalError when another function would
    need an argument beyond e^{10⁴} (its evaluation would not finish).
    """
    with mpmath.workdps(30):
        return _slog(expr, x)


def _slog(expr, x):
    if expr == z:
        return _from_value(mpmath.mpf(x))
    if not expr.has(z):
        return _from_value(mpmath.mpf(sp.N(expr, 30)) if expr.is_real is not False else mpmath.nan)
    if expr.is_Mul:
        parts = [_slog(a, x) for a in expr.args]
        sign = int(np.prod([p[0] for p in parts]))
        return (sign, -mpmath.inf) if sign == 0 else (sign, mpmath.fsum(p[1] for p in parts))
    if expr.is_Add:
        parts = [p for p in (_slog(a, x) for a in expr.args) if p[0] != 0]
        if not parts:
            return 0, -mpmath.inf
        top = max(p[1] for p in parts)
        if top == mpmath.inf:
            signs = {p[0] for p in parts if p[1] == mpmath.inf}
            return (signs.pop(), mpmath.inf) if len(signs) == 1 else (0, mpmath.nan)
        sign, log = _from_value(mpmath.fsum(p[0] * mpmath.exp(p[1] - top) for p in parts))
        return sign, log + top
    if isinstance(expr, sp.exp):
        sign, log = _slog(expr.args[0], x)
        if log > _LOG_CAP:
            return (1, mpmath.inf) if sign > 0 else (0, -mpmath.inf)
        return 1, sign * mpmath.exp(log)
    if expr.is_Pow:
        bsign, blog = _slog(expr.base, x)
        esign, elog = _slog(expr.exp, x)
        if elog > _LOG_CAP and blog != 0:
            return (1, mpmath.inf) if esign * blog > 0 else (0, -mpmath.inf)
        e = esign * mpmath.exp(elog)
        if bsign > 0:
            return 1, e * blog
        if bsign == 0:
            return (0, -mpmath.inf) if e > 0 else (1, mpmath.inf)
        if expr.exp.is_Integer:
            return int(bsign ** int(expr.exp)), e * blog
        return 0, mpmath.nan
    if isinstance(expr, sp.Heaviside):
        sign, _ = _slog(expr.args[0], x)
        return _from_value(mpmath.mpf(1) if sign > 0 else mpmath.mpf(0.5 if sign == 0 else 0))
    if len(expr.args) == 1:
        sign, log = _slog(expr.args[0], x)
        if isinstance(expr, sp.log) and sign > 0:
            return _from_value(log)
        if log > _ARG_CAP:
            raise NotCriticalError(f"cannot evaluate σ = {expr} at z = {x}: its argument exceeds "
                                   f"e^{_ARG_CAP:g} (σ grows too fast to analyse)")
        w = sp.Dummy("w", real=True)
        value = sp.lambdify(w, expr.func(w), modules="mpmath")(sign * mpmath.exp(log))
        return _from_value(value if mpmath.im(value) == 0 else mpmath.nan)
    return _from_value(mpmath.mpf(sp.N(expr.subs(z, x), 30)))


def _from_value(v) -> tuple:
    if mpmath.isnan(v):
        return 0, mpmath.nan
    if v == 0:
        return 0, -mpmath.inf
    return (1 if v > 0 else -1), mpmath.log(abs(v))


def explain_absence(act: Activation) -> str:
    """Why an activation has no usable critical point (THEORY.md §5, last item)."""
    if act.derivative(1).has(sp.DiracDelta):
        return "χ_⊥ = C_W⟨σ'²⟩ diverges: σ' contains a Dirac delta, so no C_W makes χ_⊥ = 1"
    taylor = taylor_coefficients(act, 1)
    reasons = []
    s0 = taylor[0]
    if isinstance(s0, tuple) or s0 != 0:
        reasons.append(f"σ(0) = {s0} ≠ 0, so K' ≥ C_W σ(0)²·(1 + O(K)) > 0 and K* = 0 is never a fixed point")
    elif taylor[1] == 0:
        reasons.append("σ'(0) = 0, so χ(0) = 0 and K* = 0 cannot be critical")
    if act.is_numeric:
        Ks = _search_grid(act)
        h = _NumericSigma(act).sigma_ddsigma(Ks)
        finite = h[np.isfinite(h)]
        signs = set(np.sign(finite)) - {0.0}   # exact zeros: e^{−p²/2K} underflows at small K
        if len(Ks) > 1 and len(signs) == 1:
            sign = (">" if signs == {1.0} else "<") if not np.any(finite == 0) else ("≥" if signs == {1.0} else "≤")
            reasons.append(f"⟨σσ''⟩_K {sign} 0 for all K in [{Ks[0]:.4g}, {Ks[-1]:.4g}], "
                           "so χ_∥ ≠ χ_⊥ at every K* > 0 there")
    else:
        reasons.append("a numeric search for K* > 0 needs values for the parameters "
                       + ", ".join(p.name for p in act.free_parameters))
    return "; ".join(reasons) or "no critical point found"


def numeric_averages(act: Activation) -> "_NumericSigma":
    """Fast quadrature ⟨F(σ(z), σ'(z), σ''(z), z)⟩_K for arrays of K (split Gauss–Legendre).

    The returned object has ``average(fn, K)`` with ``fn(z, K)`` built from its
    vectorised ``sigma``, ``d1``, ``d2`` (σ, σ', σ''; the Dirac-delta part of σ'' is
    not included), the same quadrature the critical-point search uses.
    """
    return _NumericSigma(act)
