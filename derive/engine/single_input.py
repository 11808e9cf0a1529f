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
C_W**2*(r*V*Derivative(g2(K), K)**2 - g2(K)**2 + g4(K))
"""

from __future__ import annotations

import functools

import sympy as sp

from ..observables import width_ratio
from ..symbols import C_W, C_b, K
from .collect import orders  # noqa: F401  (re-exported for symmetry with to_expr)
from .derived import DerivedRule, STATISTICS, _observables
from .wick import metric_cumulant

__all__ = ["moment", "single_input", "single_input_system", "scalar"]


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
    series = metric_cumulant(_observables(k), p)
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
