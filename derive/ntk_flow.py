"""Single-input NTK statistics at order 1/n near criticality: the layer map and its large-depth laws.

Stage *ntk laws*: a usable :class:`~derive.criticality.CriticalPoint` and the law of
x = K − K* (:func:`derive.universality.large_depth_laws`) → the leading large-depth
laws of H, A, B, D, F, P, Q, G^{{1}} and H^{{1}} (THEORY-NTK.md §3–4 boxed single-input
recursions, §8.2; equal widths, r = 1).  Nothing is looked up: the map
:func:`single_input_map` is written with the Gaussian averages g = ⟨σ²⟩_K, h = ⟨σ'²⟩_K,
their K-derivatives and ⟨σ⁴⟩, ⟨σ'²σ²⟩, ⟨σ'⁴⟩, ⟨σ'²σσ''⟩ as symbols; :func:`local_averages`
expands each about the critical point with the machinery :mod:`derive.criticality`
uses for the kernel (closed forms for scale-invariant σ, exact series in √K about K* = 0,
quadrature values and Hermite-identity slopes at a numeric K* > 0), and :func:`ntk_laws`
solves the recursions one after another by dominant balance
(:func:`derive.asymptotics.solve_linear`).

Each recursion X' = c_X(K)·X + Σ_m c_m(K)·(monomial m of the already solved tensors)
is treated as follows: c_X − 1 gives the homogeneous exponent; every monomial
contributes the leading term of its coefficient series times the leading laws of its
tensors.  When the contributions of the top order cancel (the K* = 0, λ_b = 0 case:
H → H_∞ makes Θ_K = λ_W g' + C_W h' H and Var(λ_Wσ² + C_WHσ'²) vanish at leading order)
the next order would need corrections to H and K that are not derived (they carry
log ℓ), so the law is reported as o(ℓ^q) — an honest bound, never a guessed number.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import sympy as sp

from .activations import Activation, integrand
from .asymptotics import Term, solve_linear
from .criticality import CriticalPoint, is_scale_invariant, numeric_averages
from .gaussian import expect1, series_from_branches, taylor_branch, truncated_power
from .symbols import C_W, G1, V, K, ell, lambda_W, lambda_b, n

__all__ = ["single_input_map", "local_averages", "ntk_laws", "NTKLaw", "AVERAGES", "STATE",
           "H", "A", "B", "D", "F", "P", "Q", "H1", "rho", "little_o", "NoNTKLaw"]

#: Infinite-width NTK mean, the order-1/n NTK tensors (single input) and the NTK-mean correction.
H, A, B, D, F, P, Q, H1 = sp.symbols("H A B D F P Q H1", real=True)
#: Order in which the recursions are solved (each needs only those before it).
STATE = (H, V, G1, F, B, D, A, P, Q, H1)
#: NTK weight fraction ρ = λ_W A_2 K/(λ_b + λ_W A_2 K) of the scale-invariant class.
rho = sp.Symbol("rho", nonnegative=True)
#: Little-o: ``little_o(ell/n)`` stands for a law o(ℓ/n) (its leading order cancels).
little_o = sp.Function("o")

# Gaussian averages (functions of K) of the single-input map.
g, h, dg, dh, d2g, d2h, s4, s22, d4, s2sdd = sp.symbols(
    "g h dg dh d2g d2h sigma4 dsigma2_sigma2 dsigma4 dsigma2_sigma_ddsigma", real=True)
#: symbol → meaning (d/dK written as ')
AVERAGES = {g: "⟨σ²⟩", h: "⟨σ'²⟩", dg: "⟨σ²⟩'", dh: "⟨σ'²⟩'", d2g: "⟨σ²⟩''", d2h: "⟨σ'²⟩''",
            s4: "⟨σ⁴⟩", s22: "⟨σ'²σ²⟩", d4: "⟨σ'⁴⟩", s2sdd: "⟨σ'²σσ''⟩"}

#: Series orders (in K) of the K* = 0 expansions: the second is used when a needed
#: coefficient vanishes to the first order.
_ORDERS = (3, 6)
_x = sp.Symbol("x", positive=True)     # K − K*


def single_input_map() -> tuple[tuple[sp.Symbol, sp.Expr], ...]:
    """(X, X^{(ℓ+1)}) for X in :data:`STATE`: the boxed single-input recursions, r = 1.

    χ_∥ = C_W g', χ_⊥ = C_W h, χ_⊥' = C_W h', Θ_K = λ_W g' + C_W h' H (THEORY-NTK.md §3–4);
    G^{{1}} from THEORY.md §3 and H^{{1}} from THEORY-NTK.md §8.2.
    """
    chi_par, chi_perp, chi_perp_prime = C_W * dg, C_W * h, C_W * dh
    theta = lambda_W * dg + C_W * dh * H
    var_local = lambda_W**2 * (s4 - g**2) + 2 * lambda_W * C_W * H * (s22 - h * g) + C_W**2 * H**2 * (d4 - h**2)
    return (
        (H, lambda_b + lambda_W * g + chi_perp * H),
        (V, chi_par**2 * V + C_W**2 * (s4 - g**2)),
        (G1, chi_par * G1 + C_W / 2 * d2g * V),
        (F, chi_par**2 * F + C_W**2 * H * s22),
        (B, chi_perp**2 * B + C_W**2 * H**2 * d4),
        (D, chi_par * chi_perp * D + chi_par * theta * V + lambda_W * C_W * (s4 - g**2) + C_W**2 * H * (s22 - h * g)),
        (A, chi_perp**2 * A + 2 * chi_perp * theta * D + theta**2 * V + var_local),
        (P, chi_perp * chi_par * P + theta * chi_par * F + chi_perp * (chi_par - chi_perp) * B
         + lambda_W * C_W * H * s22 + 2 * C_W**2 * H**2 * s2sdd),
        (Q, chi_perp * chi_par * Q + 2 * theta * chi_par * F + 2 * lambda_W * C_W * H * s22
         + 2 * C_W**2 * H**2 * s2sdd),
        (H1, chi_perp * H1 + theta * G1 + (lambda_W * d2g + C_W * H * d2h) / 2 * V + chi_perp_prime * (D + 2 * F)),
    )


@dataclass(frozen=True)
class LocalAverages:
    """Each average of :data:`AVERAGES` as a polynomial in x = K − K* (``series``).

    ``order``: the series are exact up to x^order (None: closed forms, exact);
    ``exact``: per average, the power of x up to which its series is exact (K-derivatives
    lose one order each).
    ``C_W``: the value substituted for C_W after the expansion (symbolic C_W keeps the
    exact cancellations χ − 1 = O(x) of a numeric critical point).
    """

    series: dict
    order: sp.Expr | None
    C_W: sp.Expr
    exact: dict = None


def local_averages(act: Activation, point: CriticalPoint, order: int = _ORDERS[0]) -> LocalAverages:
    """Expansions of the averages about ``point`` (THEORY-NTK.md §3, d⟨f⟩/dK = ½⟨f''⟩);
    ``order``: the order in K of the series about K* = 0."""
    if is_scale_invariant(act):
        return _closed_form_averages(act, point)
    if point.K_star == 0:
        return _series_averages(act, point, order)
    return _numeric_averages(act, point)


def _closed_form_averages(act, point):
    """Scale-invariant σ: every average is a closed form in K (every K is a fixed point)."""
    s, d1, d2 = act.bound_expr, act.derivative(1), act.derivative(2)
    gK, hK = expect1(integrand(s**2)), expect1(integrand(d1**2))
    series = {g: gK, h: hK, dg: sp.diff(gK, K), dh: sp.diff(hK, K), d2g: sp.diff(gK, K, 2), d2h: sp.diff(hK, K, 2),
              s4: expect1(integrand(s**4)), s22: expect1(integrand(d1**2 * s**2)), d4: expect1(integrand(d1**4)),
              s2sdd: expect1(integrand(d1**2 * s * d2))}
    return LocalAverages({k: sp.cancel(v) for k, v in series.items()}, None, point.C_W)


def _series_averages(act, point, order):
    """K* = 0: exact series in √K from the one-sided Taylor polynomials (as for the kernel)."""
    degree = 2 * order
    sigma = [taylor_branch(act.bound_expr, side, degree + 1) for side in (+1, -1)]
    d1 = [p.diff(p.gens[0]) for p in sigma]
    d2 = [p.diff(p.gens[0]) for p in d1]

    def avg(*factors):
        branches = []
        for side in range(2):
            product = None
            for poly, power in factors:
                part = truncated_power(poly[side], power, degree)
                product = part if product is None else _truncated_product(product, part, degree)
            branches.append(product)
        return series_from_branches(branches, order).subs(K, _x)
    gx, hx = avg((sigma, 2)), avg((d1, 2))
    series = {g: gx, h: hx, dg: sp.diff(gx, _x), dh: sp.diff(hx, _x), d2g: sp.diff(gx, _x, 2),
              d2h: sp.diff(hx, _x, 2), s4: avg((sigma, 4)), s22: avg((d1, 2), (sigma, 2)), d4: avg((d1, 4)),
              s2sdd: avg((d1, 2), (sigma, 1), (d2, 1))}
    # derivatives lose the top orders: the common exactness is x^(order − 2)
    lost = {dg: 1, dh: 1, d2g: 2, d2h: 2}
    exact = {k: sp.Integer(order - lost.get(k, 0)) for k in series}
    return LocalAverages({k: sp.expand(v) for k, v in series.items()}, sp.Integer(order - 2), point.C_W, exact)


def _truncated_product(a, b, degree):
    gens = a.gens
    return sp.Poly(sp.Add(*[c * gens[0] ** m[0] for m, c in (a * b).terms() if m[0] <= degree]), *gens)


def _numeric_averages(act, point):
    """K* > 0 (numeric): quadrature values and d/dK slopes at K* (Hermite identities).

    d/dK⟨f⟩ = ⟨f(z² − K)⟩/(2K²), d²/dK²⟨f⟩ = ⟨f(z⁴ − 6Kz² + 3K²)⟩/(4K⁴) need no
    derivatives of σ beyond σ''.  g'(K*) = h(K*) = 1/C_W are set exactly (criticality),
    so χ_∥ − 1 and χ_⊥ − 1 start at order x.
    """
    num = numeric_averages(act)
    k = float(point.K_star)

    def at(fn, weight):
        return float(num.average(lambda z, kk: fn(z) * weight(z, kk), k)[0])
    one = lambda z, kk: 1.0                                                           # noqa: E731
    first = lambda z, kk: (z**2 - kk) / (2 * kk**2)                                   # noqa: E731
    second = lambda z, kk: (z**4 - 6 * kk * z**2 + 3 * kk**2) / (4 * kk**4)           # noqa: E731
    sq, d1sq = (lambda z: num.sigma(z) ** 2), (lambda z: num.d1(z) ** 2)
    values = {}
    for sym, fn in ((s4, lambda z: num.sigma(z) ** 4), (s22, lambda z: num.d1(z) ** 2 * num.sigma(z) ** 2),
                    (d4, lambda z: num.d1(z) ** 4),
                    (s2sdd, lambda z: num.d1(z) ** 2 * num.sigma(z) * num.d2(z))):
        values[sym] = _F(at(fn, one)) + _F(at(fn, first)) * _x
    g2, h1, h2 = at(sq, second), at(d1sq, first), at(d1sq, second)
    values[g] = _F(at(sq, one)) + _x / C_W
    values[h] = 1 / C_W + _F(h1) * _x
    values[dg] = 1 / C_W + _F(g2) * _x
    values[dh] = _F(h1) + _F(h2) * _x
    values[d2g], values[d2h] = _F(g2), _F(h2)
    if not np.all(np.isfinite([float(v.subs(_x, 0).subs(C_W, point.C_W)) for v in values.values()])):
        raise NoNTKLaw("an average at K* is not finite")
    return LocalAverages(values, sp.S.One, point.C_W, {k: sp.S.One if k not in (d2g, d2h) else sp.S.Zero
                                                       for k in values})


def _F(value):
    return sp.Float(value, 15)


class NoNTKLaw(Exception):
    """The NTK laws cannot be derived for this flow (the message says why)."""


# ---------------------------------------------------------------------------------
# Dominant balance, one recursion after another
# ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class NTKLaw:
    """Leading law of one tensor: ``coefficient``·ℓ^``exponent`` (kind "power"), identically
    zero (kind "zero"), or o(ℓ^exponent) (kind "little-o", coefficient None)."""

    coefficient: sp.Expr | None
    exponent: sp.Expr
    kind: str = "power"

    def expression(self) -> sp.Expr:
        if self.kind == "zero":
            return sp.S.Zero
        if self.kind == "little-o":
            return little_o(ell**self.exponent)
        return self.coefficient * ell**self.exponent


_LB, _LW = sp.Symbol("lambda_b", positive=True), sp.Symbol("lambda_W", positive=True)


def ntk_laws(act: Activation, point: CriticalPoint, x_law: tuple | None,
             lambda_values: dict | None = None) -> tuple[list[tuple[str, sp.Expr]], list[str]]:
    """Leading large-depth laws of the NTK statistics at ``point`` (both learning-rate regimes).

    ``x_law`` is (amplitude, exponent) of K − K* ≈ a ℓ^q (None for scale-invariant σ,
    where K is fixed); ``lambda_values`` may fix "lambda_b" and/or "lambda_W".
    Returns (laws, notes): laws are (name, expression) pairs — ``H``, the ratios
    ``A/(n H^2)``, ``B/(n H^2)``, ``Var(H)/H^2`` = (A + 2B)/(nH²), ``D/(n K H)``,
    ``F/(n K H)``, ``P/(n H^2)``, ``Q/(n H^2)``, ``H1/(n H)`` — each with the suffix
    `` [lambda_b>0]`` or `` [lambda_b=0]`` when the two regimes differ.
    """
    key = tuple(sorted((k, sp.sympify(v)) for k, v in (lambda_values or {}).items()))
    laws, notes = _cached_laws(act, point, None if x_law is None else tuple(x_law), key)
    return list(laws), list(notes)


@functools.lru_cache(maxsize=128)
def _cached_laws(act, point, x_law, lambda_items):
    lambda_values = dict(lambda_items)
    for order in _ORDERS:
        try:
            laws, notes = _ntk_laws(act, point, x_law, lambda_values, local_averages(act, point, order))
            return tuple(laws), tuple(notes)
        except _Truncated:
            continue
    raise NoNTKLaw(f"a needed Gaussian average vanishes to order K^{_ORDERS[-1] - 2} about K* = 0")


class _Truncated(Exception):
    """A coefficient vanished within the series truncation: retry at a higher order."""


def _ntk_laws(act, point, x_law, lambda_values, averages):
    scale_invariant = averages.order is None
    if not scale_invariant and x_law is None:
        raise NoNTKLaw("K − K* has no power law")
    ax, qx = (sp.S.One, sp.S.Zero) if scale_invariant else x_law
    K_lead = K if scale_invariant else (point.K_star if point.K_star != 0 else ax * ell**qx)
    fixed_b = lambda_values.get("lambda_b")
    regimes = [("", _LB)] if scale_invariant else [(" [lambda_b>0]", _LB), (" [lambda_b=0]", sp.S.Zero)]
    if fixed_b is not None:
        regimes = [("", sp.sympify(fixed_b))]
    results, notes, memo = [], [], {}
    for suffix, lb in regimes:
        lw = sp.sympify(lambda_values["lambda_W"]) if "lambda_W" in lambda_values else _LW
        laws, cancelled = _solve_all(averages, ax, qx, lb, lw, memo)
        ratios = _ratios(laws, K_lead)
        if scale_invariant and not lambda_values:
            ratios = [(k, v if k == "H" else _in_rho(v, point.C_W)) for k, v in ratios]
        results.append((suffix, ratios))
        if cancelled:
            regime = suffix.strip(" []").replace("lambda_b", "λ_b") or "these learning rates"
            notes.append(f"NTK, {regime}: the leading source of {', '.join(cancelled)} cancels "
                         "(Θ_K = λ_W g' + C_W h' H and Var(λ_Wσ² + C_WHσ'²) vanish at leading order), "
                         "so only an o(·) bound follows; the next order needs the log ℓ corrections of H and K")
    if len(results) == 2 and [v for _, v in results[0][1]] == [v for _, v in results[1][1]]:
        results = [("", results[0][1])]
        notes.append("NTK laws: the same for λ_b > 0 and λ_b = 0 at leading order")
    out = [(key + suffix, _restore(value)) for suffix, ratios in results for key, value in ratios]
    if scale_invariant and "lambda_b" not in lambda_values and "lambda_W" not in lambda_values:
        notes.append("NTK laws in terms of ρ = λ_W A_2 K/(λ_b + λ_W A_2 K), A_2 = 1/C_W (ρ = 1 for λ_b = 0)")
    if not scale_invariant and point.K_star != 0:
        notes.append(f"NTK laws hold once K − K* ≈ {sp.sstr(_restore(ax * ell**qx))} is small, "
                     f"i.e. ℓ ≫ {float(abs(ax)):.3g}; a free amplitude A_X is set by the initial condition")
    return out, notes


def _restore(expr):
    return sp.sympify(expr).xreplace({_LB: lambda_b, _LW: lambda_W})


def _solve_all(averages, ax, qx, lb, lw, memo):
    """Laws of every tensor of :data:`STATE`, in order; also the names whose source cancelled."""
    subs = {lambda_b: lb, lambda_W: lw}
    if averages.order is None:
        subs[C_W] = averages.C_W
    laws: dict = {}
    cancelled = []
    for X, rhs in single_input_map():
        rhs = sp.expand(rhs.xreplace(subs))
        variables = [v for v in STATE if rhs.has(v)]
        poly = sp.Poly(rhs, *variables)
        homogeneous, source, small = [], [], []
        for monom, coeff in poly.terms():
            powers = dict(zip(variables, monom))
            if coeff not in memo:
                memo[coeff] = _coefficient_series(coeff, averages)
            series = memo[coeff]
            if powers.get(X, 0) == 1 and sum(monom) == 1:
                series = [(c - (1 if p == 0 else 0), p) for c, p in series]
                homogeneous += [Term(c * ax**p, p * qx, 1) for c, p in series if not _negligible(c)]
                continue
            if any(laws[v].kind == "zero" for v, m in powers.items() if m):
                continue
            factor, exponent, tiny = sp.S.One, sp.S.Zero, False
            for v, m in powers.items():
                if m:
                    law = laws[v]
                    exponent += m * law.exponent
                    tiny = tiny or law.kind == "little-o"
                    factor *= law.coefficient**m if law.kind == "power" else 1
            series = [(c, p) for c, p in series if not _negligible(c)]
            if not series:
                if averages.order is not None:
                    raise _Truncated    # zero within the truncation: a higher order is needed
                continue
            c, p = series[0]
            exponent = _exact(exponent + p * qx)
            if tiny:
                small.append(exponent)
            else:
                source.append((c * ax**p * factor, exponent))
        law, was_cancelled = _balance(homogeneous, source, small)
        if was_cancelled or law.kind == "little-o":
            cancelled.append(str(X))
        laws[X] = law
    return laws, cancelled


def _balance(homogeneous, source, small):
    """Group the source by order; a cancelled top order leaves only an o(·) bound."""
    if not source and not small:
        return (NTKLaw(sp.S.Zero, sp.S.Zero, "zero"), False)
    _check_numeric([e for _, e in source] + small)
    top = max([e for _, e in source] + small, key=float)
    exact = [c for c, e in source if abs(float(e) - float(top)) <= 1e-9 * max(1.0, abs(float(top)))]
    total = _tidy(sp.Add(*exact))
    cancelled = bool(exact) and _cancels(total, exact)
    if exact and not cancelled:
        result = solve_linear(homogeneous, [Term(total, top, 0)])
    else:
        result = solve_linear(homogeneous, small=top)
    if result.kind == "little-o":
        return NTKLaw(None, result.exponent, "little-o"), cancelled
    if result.kind != "power law" or result.exponent is None:
        raise NoNTKLaw(result.note or "no power law")
    amplitude = result.amplitude if result.amplitude is not None else sp.Symbol("A_X")
    return NTKLaw(amplitude, _exact(result.exponent)), False


def _exact(e):
    """Exponents stay exact (Rational) when they are; floats of a numeric K* stay floats
    unless they are a simple fraction to round-off (e.g. 3.0 − 1.0 → 2)."""
    e = sp.sympify(e)
    if e.is_Rational:
        return e
    if e.atoms(sp.Float):
        twelfths = round(float(e) * 12)
        return sp.Rational(twelfths, 12) if abs(float(e) * 12 - twelfths) < 1e-9 else e
    return sp.nsimplify(e)


def _check_numeric(exponents):
    if not all(sp.sympify(e).is_number for e in exponents):
        raise NoNTKLaw("the exponents depend on free parameters (give them values)")


def _cancels(total, parts) -> bool:
    if total.atoms(sp.Float) and total.is_number:
        scale = max(abs(complex(sp.N(p))) for p in parts)
        return abs(complex(total)) <= 1e-9 * scale
    return total == 0


def _negligible(c) -> bool:
    c = sp.sympify(c)
    if c.atoms(sp.Float) and c.is_number:
        return abs(complex(c)) < 1e-13
    return c == 0


def _tidy(expr):
    expr = sp.sympify(expr)
    return sp.expand(expr) if expr.atoms(sp.Float) else sp.cancel(expr)


def _coefficient_series(coeff, averages: LocalAverages):
    """Leading-first (coefficient, power of x) of a polynomial in the averages, exact terms only."""
    expr = sp.expand(coeff.xreplace(averages.series))
    if averages.order is not None and expr.has(C_W):
        expr = sp.expand(expr.xreplace({C_W: averages.C_W}))
    if not expr.has(_x):
        return [] if _negligible(expr) or _tidy(expr) == 0 else [(_tidy(expr), sp.S.Zero)]
    limit = _exactness(coeff, averages)
    pairs: dict = {}
    for term in sp.Add.make_args(expr):
        c, p = term.as_independent(_x, as_Add=False)
        power = sp.S.One if p == _x else p.as_base_exp()[1] if p.has(_x) else sp.S.Zero
        if p.has(_x) and p.as_base_exp()[0] != _x:
            raise NoNTKLaw(f"cannot read {term} as c·x^p")
        if limit is None or float(power) <= float(limit):
            pairs[power] = pairs.get(power, 0) + c
    out = []
    for power in sorted(pairs, key=float):
        c = sp.expand(pairs[power])
        if c != 0 and c.is_number and not c.atoms(sp.Float) and abs(sp.N(c, 40)) < 1e-30:
            c = sp.simplify(c)      # an exact zero that expand did not see
        if c != 0:
            out.append((c, power))
    return out


def _exactness(coeff, averages):
    """Power of x up to which the series of ``coeff`` (a polynomial in the averages) is exact.

    A product is exact to min_i(exact_i + Σ_{j≠i} lowest power of factor j); a sum to the
    minimum over its terms.  None: exact to all orders (closed forms).
    """
    if averages.exact is None:
        return None
    symbols = [a for a in AVERAGES if coeff.has(a)]
    if not symbols:
        return None
    low = {a: _lowest_power(averages.series[a]) for a in symbols}
    result = None
    for monom, _ in sp.Poly(coeff, *symbols).terms():
        factors = [a for a, m in zip(symbols, monom) for _ in range(m)]
        if not factors:
            continue
        total_low = sum(low[a] for a in factors)
        bound = min(averages.exact[a] + total_low - low[a] for a in factors)
        result = bound if result is None else min(result, bound)
    return result


def _lowest_power(series):
    series = sp.expand(series)
    if not series.has(_x):
        return sp.S.Zero
    powers = [t.as_independent(_x, as_Add=False)[1].as_base_exp() for t in sp.Add.make_args(series)]
    return min((e if b == _x else sp.S.Zero for b, e in powers), key=float)


def _ratios(laws, K_lead):
    """The reported ratios from the laws of H, A, B, D, F, P, Q, H1."""
    Hl = laws[H]
    if Hl.kind != "power":
        raise NoNTKLaw("the NTK mean H has no power law")
    H_expr = Hl.coefficient * ell**Hl.exponent

    def ratio(law, denominator_exponent, denominator):
        if law.kind == "zero":
            return sp.S.Zero
        power = _exact(law.exponent - denominator_exponent)
        if law.kind == "little-o":
            return little_o(ell**power / n)
        coefficient = law.coefficient / (denominator / ell**denominator_exponent)
        return _simplify(coefficient) * ell**power / n
    K_exp = sp.sympify(K_lead).as_coeff_exponent(ell)[1]
    var_law = _sum_law(laws[A], laws[B], 2)
    return [
        ("H", _simplify(Hl.coefficient) * ell**Hl.exponent),
        ("A/(n H^2)", ratio(laws[A], 2 * Hl.exponent, H_expr**2)),
        ("B/(n H^2)", ratio(laws[B], 2 * Hl.exponent, H_expr**2)),
        ("Var(H)/H^2", ratio(var_law, 2 * Hl.exponent, H_expr**2)),
        ("D/(n K H)", ratio(laws[D], Hl.exponent + K_exp, K_lead * H_expr)),
        ("F/(n K H)", ratio(laws[F], Hl.exponent + K_exp, K_lead * H_expr)),
        ("P/(n H^2)", ratio(laws[P], 2 * Hl.exponent, H_expr**2)),
        ("Q/(n H^2)", ratio(laws[Q], 2 * Hl.exponent, H_expr**2)),
        ("H1/(n H)", ratio(laws[H1], Hl.exponent, H_expr)),
    ]


def _sum_law(a: NTKLaw, b: NTKLaw, weight) -> NTKLaw:
    """Leading law of a + weight·b."""
    if a.kind == "zero":
        return b if b.kind != "power" else NTKLaw(weight * b.coefficient, b.exponent)
    if b.kind == "zero":
        return a
    ea, eb = float(a.exponent), float(b.exponent)
    if ea > eb:
        return a
    if eb > ea:
        return b if b.kind != "power" else NTKLaw(weight * b.coefficient, b.exponent)
    if a.kind == "little-o" and b.kind == "little-o":
        return a
    if a.kind == "little-o":
        return NTKLaw(weight * b.coefficient, b.exponent)
    if b.kind == "little-o":
        return a
    total = _tidy(a.coefficient + weight * b.coefficient)
    return NTKLaw(total, a.exponent) if total != 0 else NTKLaw(None, a.exponent, "little-o")


def _simplify(expr):
    expr = sp.sympify(expr)
    if expr.atoms(sp.Float):
        return sp.expand(expr) if not expr.free_symbols else sp.cancel(expr)
    return sp.factor(sp.cancel(expr))


def _in_rho(expr, cw):
    """Scale-invariant laws: λ_b = Θ(1 − ρ), λ_W = ρΘ/(A_2 K) with A_2 = 1/C_W (Θ cancels)."""
    if expr.has(little_o) or not (expr.has(_LB) or expr.has(_LW)):
        return expr
    theta = sp.Symbol("Theta_1", positive=True)
    out = sp.factor(sp.cancel(expr.xreplace({_LB: theta * (1 - rho), _LW: rho * theta * sp.sympify(cw) / K})))
    return out if not out.has(theta) else expr
