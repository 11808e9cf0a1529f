"""The derived recursions for a single input, in closed form in the one-neuron moments.

With one sample every slot of a one-neuron atom sits at the same z, so an atom with m slots
σ and d derivatives in all is the share ⟨(σ^m)^{(d)}⟩_K / m^d (:mod:`derive.engine.collect`),
and d is even (each vertex puts its derivatives on a neuron in pairs).  By the heat equation
of the Gaussian, ⟨f^{(2j)}⟩_K = 2^j d^j⟨f⟩_K/dK^j, so every atom is a K-derivative of a moment

    g_m(K) = ⟨σ(z)^m⟩_K,   z ~ N(0, K),

and the single-input recursions are expressions in g_2, g_4, g_6 and their derivatives: no
distributions are ever differentiated, so kinked activations (ReLU: g_m = K^{m/2}(m−1)!!/2
for even m) need no special case.

Examples
--------
>>> from derive.engine.derived import derived_rule
>>> single_input(derived_rule("V"))
C_W**2*V*r*Derivative(g2(K), K)**2 - C_W**2*g2(K)**2 + C_W**2*g4(K)
"""

from __future__ import annotations

import functools
import math

import numpy as np
import sympy as sp

from .. import symbols
from ..errors import RGFlowError
from ..notation import width_ratio
from ..symbols import C_W, C_b, K
from .derived import DerivedRule, STATISTICS, series_of

__all__ = ["moment", "single_input", "single_input_system", "single_input_flow", "specialise", "algebraic_expectation", "scalar",
           "STATE"]


def moment(m: int) -> sp.Function:
    """g_m(K) = ⟨σ^m⟩_K as an undefined function of K."""
    return sp.Function(f"g{m}")(K)


@functools.lru_cache(maxsize=None)
def scalar(name: str) -> sp.Symbol:
    """The single-input value of the layer-ℓ tensor ``name`` (K excepted: that is :data:`K`)."""
    return K if name == "K" else sp.Symbol(name, real=True)


def _atom(slots: tuple) -> sp.Expr:
    codes = {code for code, _, _ in slots}
    if codes != {"s"}:
        raise ValueError(f"single-input atoms of slot codes {sorted(codes)} are not built")
    m = len(slots)
    d = sum(k for _, k, _ in slots)
    if d % 2:
        raise ValueError(f"odd number of derivatives {d} on one neuron")
    j = d // 2
    return sp.Rational(2**j, m**d) * sp.diff(moment(m), K, j)


def single_input(rule: DerivedRule) -> sp.Expr:
    """The right-hand side of ``rule`` for one input: layer-ℓ tensors as scalars
    (:func:`scalar`), atoms through the moments g_m (:func:`moment`)."""
    k, p = STATISTICS[rule.name]
    series = series_of(rule.name)
    total = sp.S.Zero
    for key in sorted(series, key=str):
        if key.order != p:
            continue
        coef = series[key]
        term = sp.Rational(coef.numerator, coef.denominator) * width_ratio**key.ratio
        term *= sp.Mul(*[scalar(name) for name, _ in key.tensors]) * sp.Mul(*[_atom(a) for a in key.atoms])
        total += term
    total = C_W**k * total
    if rule.name == "K":
        total += C_b
    return sp.collect(sp.expand(total), width_ratio)


def single_input_system(max_order: int = 2) -> dict[str, sp.Expr]:
    """{statistic: single-input right-hand side} up to (1/n)^max_order."""
    from .derived import derived_rule
    return {name: single_input(derived_rule(name)) for name, (_, p) in STATISTICS.items() if p <= max_order}


#: Order of the layer-ℓ statistics in the state of :func:`single_input_flow`.
STATE = ("K", "G1", "G2", "V", "V1", "U")


def _moment_derivatives(act, needed) -> dict:
    """{(m, j): (numpy function of K giving ⟨(σ^m)^{(2j)}⟩_K, 2^j)}: d^j g_m/dK^j is their ratio (Dirac deltas of a
    kinked σ in closed form, the rest by the split Gauss–Legendre rule of derive.quadrature)."""
    from ..activations import integrand
    from ..quadrature import integrand_in_K
    from ..symbols import z
    out = {}
    for m, j in sorted(needed):
        fn = integrand_in_K(integrand(act.bound_expr ** m, 2 * j), z, K)
        out[(m, j)] = (fn, 2**j)
    return out


def single_input_flow(act, depth: int, K1: float, C_b: float, C_W: float, max_order: int = 2) -> dict:
    """Layers 1..depth of the single-input statistics (equal widths, r = 1): {name: array (depth,)}
    for K, G1, G2, V, V1, U (those above ``max_order`` are zero), from the derived recursions.

    Layer 1 is Gaussian: K = K1 (= C_b + C_W x·x/n_0), every correction zero.  The statistics of
    layer ℓ predict E[z²] = K + G1/n + G2/n², the connected four-point function of distinct
    neurons (V + V1/n)/n and that of three distinct neuron pairs U/n² (n = n_{ℓ−1}).
    """
    from ..activations import Activation, activation
    act = act if isinstance(act, Activation) else activation(act)
    if depth < 1 or not (math.isfinite(K1) and K1 > 0) or not (math.isfinite(C_W) and C_W > 0) \
            or not (math.isfinite(C_b) and C_b >= 0):
        raise RGFlowError(f"need depth ≥ 1, K1 > 0, C_W > 0 and C_b ≥ 0 (got {depth}, {K1}, {C_W}, {C_b})")
    system = single_input_system(max_order)
    derivs = {}
    for expr in system.values():
        for d in expr.atoms(sp.Derivative):
            m = int(str(d.expr.func)[1:])
            derivs[d] = (m, sum(c for _, c in d.variable_count))
        for g in expr.atoms(sp.core.function.AppliedUndef):
            derivs.setdefault(g, (int(str(g.func)[1:]), 0))
    moments = _moment_derivatives(act, set(derivs.values()))
    placeholders = {d: sp.Symbol(f"_m{m}_{j}") for d, (m, j) in derivs.items()}
    args = [scalar(name) for name in STATE] + list(placeholders.values())
    fns = {}
    for name, expr in system.items():
        expr = expr.xreplace(placeholders).subs({symbols.C_W: float(C_W), symbols.C_b: float(C_b), width_ratio: 1})
        fns[name] = sp.lambdify(args, expr, modules="numpy")
    values = dict.fromkeys(STATE, 0.0)
    values["K"] = float(K1)
    out = {name: np.zeros(depth) for name in STATE}
    for layer in range(depth):
        for name in STATE:
            out[name][layer] = values[name]
        if not np.isfinite(values["K"]) or values["K"] <= 0:
            raise RGFlowError(f"the kernel is {values['K']} at layer {layer + 1}: the network explodes or dies")
        mvals = [float(moments[derivs[d]][0](np.array(values["K"]))) / moments[derivs[d]][1] for d in placeholders]
        state = [values[name] for name in STATE]
        values = {name: (float(fns[name](*state, *mvals)) if name in fns else 0.0) for name in STATE}
    return out


def algebraic_expectation(integrand: sp.Expr) -> sp.Expr | None:
    """⟨integrand(z)⟩_K in closed form when the Gaussian rules of :mod:`derive.gaussian` give an
    algebraic function of K (Dirac deltas and unevaluated atoms excluded), else None."""
    from ..activations import canonical_steps
    from ..gaussian import expect1, has_atoms
    value = expect1(canonical_steps(integrand), K)
    if has_atoms(value) or value.has(sp.oo, sp.zoo, sp.nan, sp.DiracDelta) or not value.is_algebraic_expr(K):
        return None
    return value


def specialise(expr: sp.Expr, act) -> sp.Expr:
    """``expr`` with each moment g_m(K) = ⟨σ^m⟩_K replaced by its closed form where the Gaussian
    rules of :mod:`derive.gaussian` give an algebraic one (ReLU and the other scale-invariant
    activations, polynomial activations), derivatives carried out; other moments (erf's arcsine,
    tanh's none) stay g_m(K), which keeps the recursions readable."""
    closed = {}
    for g in sorted(expr.atoms(sp.core.function.AppliedUndef), key=str):
        name = str(g.func)
        if not (name[:1] == "g" and name[1:].isdigit() and g.args == (K,)):
            continue                    # not a moment g_m(K)
        value = algebraic_expectation(act.bound_expr ** int(name[1:]))
        if value is not None:
            closed[g] = value
    if not closed:
        return expr
    out = expr.xreplace({d: sp.diff(closed[d.expr], *d.variable_count) for d in expr.atoms(sp.Derivative)
                         if d.expr in closed})
    out = out.xreplace(closed)
    return sp.collect(sp.expand(out), width_ratio)
