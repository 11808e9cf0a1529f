"""The NTK sector of the derivation engine at order 1/n (issue #11): H, H1, A, B, D, F, P, Q derived.

Step (i), Wick over the layer-(ℓ+1) weights of the forward equations

    z'_{i;α} = b_i + Σ_j W_ij σ_{j;α},
    Ĥ'_{i1i2;α1α2} = δ_{i1i2} Φ̂_{α1α2} + Σ_{j1j2} W_{i1j1} W_{i2j2} σ'_{j1;α1} σ'_{j2;α2} Ĥ_{j1j2;α1α2},
    Φ̂ = λ_b + (λ_W/n) Σ_j σ_{j;α1} σ_{j;α2},

leaves (rows of W independent given layer ℓ; W_{ij1}W_{ij2} → δ_{j1j2} C_W/n):

    E[Ĥ'_ii | ℓ] = Θ̂ = λ_b + λ_W X̄ + C_W Ȳ,   X̄ = (1/n)Σ_j σ_jσ_j,   Ȳ_{α1α2} = (1/n)Σ_j σ'_{jα1}σ'_{jα2}Ĥ_{jj;α1α2},

so H' + H1'/n = E[Θ̂], D'/n = κ(Θ̂_12, Ĝ_34), A'/n = κ(Θ̂_12, Θ̂_34) (i ≠ k: different rows), and for
the crossed tensors (i ≠ j, one W from each row)

    F'_{α1α3α2α4}/n = C_W² E[(1/n²) Σ_{j1 j2} σ'_{j1α1}σ_{j1α3} σ'_{j2α2}σ_{j2α4} Ĥ_{j1j2;α1α2}],
    B'_{α1α3α2α4}/n = C_W² E[(1/n²) Σ_{j1 j2} σ'_{j1α1}σ'_{j1α3} σ'_{j2α2}σ'_{j2α4} Ĥ_{j1j2;α1α2} Ĥ_{j1j2;α3α4}].

P' and Q' come from the dNTK forward equation (THEORY-NTK.md §1): P'/n = E[dĤ'_{iij} z'_j] and
Q'/n = E[dĤ'_{jii} z'_j] pair its W's (one, or three) with the W of z'_j row by row, leaving double
sums of the same kind over Ĥ_{j1j2}, Ĥ_{j1j1}Ĥ_{j1j2}, Ĥ_{j1j2}Ĥ_{j1j2} and dĤ_{j1j1j2} (P) or dĤ_{j1j2j2} (Q)
with σ'' the classical second derivative (code ``c``); see :func:`ntk_series`.

Step (ii) needs, next to the preactivation cumulants of :mod:`~derive.engine.expansion`, the joint
cumulants of layer-ℓ NTK (and dNTK) entries with preactivations (:mod:`~derive.engine.ntk_expansion`),
which have the neuron structure (PDLT ch. 8; THEORY-NTK.md §1), to order 1/n:

    E[Ĥ_{j1j2}] = δ_{j1j2}(H + H1/n),
    κ(Ĥ_{j1j2;α1α2}, z_{j3α3}, z_{j4α4}) = (1/n)[δ_{j1j2}δ_{j3j4} D_{α1α2α3α4} + δ_{j1j3}δ_{j2j4} F_{α1α3α2α4}
                                                 + δ_{j1j4}δ_{j2j3} F_{α1α4α2α3}],
    κ(Ĥ_{j1j2;α1α2}, Ĥ_{j3j4;α3α4}) = (1/n)[δ_{j1j2}δ_{j3j4} A_{(α1α2)(α3α4)} + δ_{j1j3}δ_{j2j4} B_{α1α3α2α4}
                                            + δ_{j1j4}δ_{j2j3} B_{α1α4α2α3}],

κ(Ĥ, z) = 0 and every other mixed cumulant O(1/n²).  With F = Π_t f_t(z_t) over distinct neurons and
ΔĤ = Ĥ − E[Ĥ], the cumulant expansion gives E[ΔĤ F] = ½ Σ κ(ΔĤ, z_β, z_γ) ⟨∂_β∂_γ F⟩ + O(1/n²) and
E[ΔĤ ΔĤ' F] = κ(ΔĤ, ΔĤ')⟨F⟩ + O(1/n²); three or more ΔĤ are O(1/n²).  The derivatives go on slots
by Stein, as in the preactivation sector (no K⁻¹).  Steps (iii)–(iv) are shared.

An NTK factor is a slot ``("H", (α, β))`` of a neuron's observable (Ĥ_{jj;αβ}); an off-diagonal
factor Ĥ_{tu;αβ} between two distinct neurons is a *link* ``(t, u, α, β)``.
"""

from __future__ import annotations

import functools
from fractions import Fraction

import sympy as sp

from ..symbols import C_W, lambda_W, lambda_b
from .collect import to_expr
from .derived import SAMPLES, DerivedRule
from .ntk_expansion import NTK_SYMMETRIES, ntk_entry, ntk_expectation
from .store import cached_family
from .terms import Key, add_into, product
from .wick import metric_cumulant

__all__ = ["NTK_SYMMETRIES", "ntk_entry", "ntk_expectation", "ntk_series", "ntk_rule", "NTK_STATISTICS", "COUPLINGS"]


# ---------------------------------------------------------------------------------
# Step (i): the NTK statistics of layer ℓ+1 as cumulants of collective observables
# ---------------------------------------------------------------------------------

def _X(a, b) -> tuple:
    return (("s", a), ("s", b))


def _Y(a, b) -> tuple:
    return (("d", a), ("d", b), ("H", (a, b)))


def _d(a) -> tuple:
    return ("d", a)


def _double_sum(f1: tuple, f2: tuple, links: tuple, max_order: int, dntk: tuple = (), ddntk: tuple = ()) -> dict:
    """E[(1/n²) Σ_{j1 j2} f1(z_j1) f2(z_j2) Π_links Ĥ_{j1j2} · dĤ · ddNTK]: the j1 = j2 term (links become
    Ĥ_jj factors of one neuron, the (d)dNTK's neuron pattern collapses; weight 1/n) plus (1 − 1/n) × the
    distinct-neuron term.  ``dntk`` = ((neuron labels in {0, 1}), (α0, α1, α2)) or (); ``ddntk`` =
    (kind, (neuron labels), (α0, α1, α2, α3)) or () (:func:`~derive.engine.ntk_expansion.ntk_expectation`)."""
    same = (tuple(f1) + tuple(f2) + tuple(("H", (a, b)) for a, b in links),)
    same_dntk = (((0, 0, 0), dntk[1]),) if dntk else ()
    same_ddntk = (ddntk[0], (0, 0, 0, 0), ddntk[2]) if ddntk else ()
    out: dict = {}
    if max_order >= 1:
        for key, coef in ntk_expectation(same, (), max_order - 1, *same_dntk, ddntk=same_ddntk).items():
            add_into(out, Key(key.order + 1, key.ratio, key.tensors, key.atoms), coef)
    distinct = ntk_expectation((tuple(f1), tuple(f2)), tuple((0, 1, a, b) for a, b in links), max_order,
                               *((dntk,) if dntk else ()), ddntk=ddntk)
    for key, coef in product(distinct, {Key(0, 0, (), ()): Fraction(1), Key(1, 0, (), ()): Fraction(-1)},
                             max_order).items():
        add_into(out, key, coef)
    return out


def _xi_sum(f1: tuple, f2: tuple, links: tuple, labels: tuple, samples: tuple) -> dict:
    """:func:`_double_sum` with the factor Ξ_{t0;t1t2}(α0;α1,α2) = ∂²z_{t0}[v_{t1}, v_{t2}] (v_t = λ∇z_t), the
    second derivative along two gradient directions, through the dNTK dĤ_{t0;t1t2} = Ξ_{t1;t0t2} + Ξ_{t2;t0t1}
    (differentiate Ĥ = ∇z·λ·∇z):  Ξ_{0;12} = ½(dĤ_{1;02} + dĤ_{2;01} − dĤ_{0;12})."""
    (t0, t1, t2), (a0, a1, a2) = labels, samples
    half = Fraction(1, 2)
    out: dict = {}
    for coef, dntk in ((half, ((t1, t0, t2), (a1, a0, a2))), (half, ((t2, t0, t1), (a2, a0, a1))),
                       (-half, ((t0, t1, t2), (a0, a1, a2)))):
        for key, value in _double_sum(f1, f2, links, 1, dntk).items():
            add_into(out, key, coef * value)
    return out


def _sum(*parts) -> dict:
    out: dict = {}
    for part in parts:
        for key, coef in part.items():
            add_into(out, key, coef)
    return out


#: name → (rank, power of 1/n of its leading term)
NTK_STATISTICS = {"H": (2, 0), "H1": (2, 1), "D": (4, 1), "A": (4, 1), "F": (4, 1), "B": (4, 1), "P": (4, 1),
                  "Q": (4, 1), "ddR": (4, 1), "ddS": (4, 1), "ddT": (4, 1), "ddU": (4, 1)}
#: The couplings (products of C_W, λ_b, λ_W of layer ℓ+1) each statistic's derivation is split by.
COUPLINGS = {"H": ("lambda_b", "lambda_W", "C_W"), "H1": ("lambda_b", "lambda_W", "C_W"),
             "D": ("C_W*lambda_W", "C_W*C_W"), "A": ("lambda_W*lambda_W", "C_W*lambda_W", "C_W*C_W"),
             "F": ("C_W*C_W",), "B": ("C_W*C_W",), "P": ("C_W*lambda_W", "C_W*C_W"), "Q": ("C_W*lambda_W", "C_W*C_W"),
             "ddR": ("C_W*lambda_W", "C_W*C_W"), "ddS": ("C_W*lambda_W", "C_W*C_W"),
             "ddT": ("lambda_W*lambda_W", "C_W*lambda_W", "C_W*C_W"), "ddU": ("C_W*C_W",)}


@functools.lru_cache(maxsize=None)
def ntk_series(name: str, samples: tuple) -> dict:
    """The derivation of the NTK statistic ``name`` as {coupling: series}: the couplings are
    "lambda_b", "lambda_W", "C_W", products "lambda_W*C_W", …, each multiplying a series in 1/n
    (the rule is Σ coupling × to_expr(series, order))."""
    a = samples
    if name in ("H", "H1"):
        order = NTK_STATISTICS[name][1]
        return {"lambda_b": {Key(0, 0, (), ()): Fraction(1)} if order == 0 else {},
                "lambda_W": _at(metric_cumulant((_X(a[0], a[1]),), order), order),
                "C_W": _at(metric_cumulant((_Y(a[0], a[1]),), order), order)}
    if name in ("D", "A"):
        second = (("C_W", _X(a[2], a[3])),) if name == "D" else (("lambda_W", _X(a[2], a[3])), ("C_W", _Y(a[2], a[3])))
        parts: dict = {}
        for c1, o1 in (("lambda_W", _X(a[0], a[1])), ("C_W", _Y(a[0], a[1]))):
            for c2, o2 in second:
                parts.setdefault("*".join(sorted((c1, c2))), []).append(_at(metric_cumulant((o1, o2), 1), 1))
        return {coupling: _sum(*series) for coupling, series in parts.items()}
    if name == "F":      # F[α1, α3, α2, α4]
        a1, a3, a2, a4 = a
        return {"C_W*C_W": _at(_double_sum((("d", a1), ("s", a3)), (("d", a2), ("s", a4)), ((a1, a2),), 1), 1)}
    if name == "B":      # B[α1, α3, α2, α4]
        a1, a3, a2, a4 = a
        return {"C_W*C_W": _at(_double_sum((("d", a1), ("d", a3)), (("d", a2), ("d", a4)), ((a1, a2), (a3, a4)), 1), 1)}
    if name == "P":      # P[α0, α1, α2, α3]: dĤ'_{iij} z'_j through the dNTK forward equation
        a0, a1, a2, a3 = a
        return {"C_W*lambda_W": _at(_double_sum((("s", a0), _d(a1)), (_d(a2), ("s", a3)), ((a1, a2),), 1), 1),
                "C_W*C_W": _at(_sum(
                    _double_sum((_d(a0), ("c", a1), ("H", (a0, a1))), (_d(a2), ("s", a3)), ((a1, a2),), 1),
                    _double_sum((_d(a0), _d(a1)), (("c", a2), ("s", a3)), ((a0, a2), (a1, a2)), 1),
                    _double_sum((_d(a0), _d(a1)), (_d(a2), ("s", a3)), (), 1, ((0, 0, 1), (a0, a1, a2)))), 1)}
    if name == "Q":      # Q[α0, α1, α2, α3]: dĤ'_{jii} z'_j
        a0, a1, a2, a3 = a
        f1 = (_d(a0), ("s", a3))
        return {"C_W*lambda_W": _at(_sum(_double_sum(f1, (_d(a1), ("s", a2)), ((a0, a1),), 1),
                                         _double_sum(f1, (("s", a1), _d(a2)), ((a0, a2),), 1)), 1),
                "C_W*C_W": _at(_sum(
                    _double_sum(f1, (("c", a1), _d(a2), ("H", (a1, a2))), ((a0, a1),), 1),
                    _double_sum(f1, (_d(a1), ("c", a2), ("H", (a1, a2))), ((a0, a2),), 1),
                    _double_sum(f1, (_d(a1), _d(a2)), (), 1, ((0, 1, 1), (a0, a1, a2)))), 1)}
    if name in DDNTK_SERIES:
        return {coupling: _at(_sum(*[term(*a) for term in terms]), 1) for coupling, terms in DDNTK_SERIES[name].items()}
    raise KeyError(name)


def _t(a) -> tuple:
    return ("t", a)


def _c(a) -> tuple:
    return ("c", a)


def _s(a) -> tuple:
    return ("s", a)


def _H(a, b) -> tuple:
    return ("H", (a, b))


#: The ddNTK means of layer ℓ+1 (docs/training.md "ddNTK"), each a sum of double sums over layer-ℓ neurons
#: j (row i of W^{(ℓ+1)}) and l (row k) left by Wick's theorem over W^{(ℓ+1)} in the forward equations
#: of Ψ' and Ω' (c = the classical σ'', t = the classical third derivative; links Ĥ_{jl}; Ξ and the ddNTK
#: of layer ℓ as factors).  R from Ψ'_{i;ikk}, S from Ω'_{ii;kk}, T from Ω'_{ik;ik}, U from Ω'_{ik;ki}.
DDNTK_SERIES = {
    "ddR": {
        "C_W*lambda_W": (
            lambda a0, a1, a2, a3: _double_sum((_s(a1), _c(a0)), (_d(a2), _d(a3)), ((a0, a2), (a0, a3)), 1),
            lambda a0, a1, a2, a3: _xi_sum((_s(a1), _d(a0)), (_d(a2), _d(a3)), (), (0, 1, 1), (a0, a2, a3))),
        "C_W*C_W": (
            lambda a0, a1, a2, a3: _double_sum((_t(a0), _d(a1), _H(a0, a1)), (_d(a2), _d(a3)), ((a0, a2), (a0, a3)), 1),
            lambda a0, a1, a2, a3: _xi_sum((_c(a0), _d(a1)), (_d(a2), _d(a3)), ((a0, a3),), (0, 0, 1), (a0, a1, a2)),
            lambda a0, a1, a2, a3: _xi_sum((_c(a0), _d(a1)), (_d(a3), _d(a2)), ((a0, a2),), (0, 0, 1), (a0, a1, a3)),
            lambda a0, a1, a2, a3: _xi_sum((_c(a0), _d(a1), _H(a0, a1)), (_d(a2), _d(a3)), (), (0, 1, 1), (a0, a2, a3)),
            lambda a0, a1, a2, a3: _double_sum((_d(a0), _d(a1)), (_d(a2), _d(a3)), (), 1,
                                               ddntk=("Psi", (0, 0, 1, 1), (a0, a1, a2, a3))))},
    "ddS": {
        "C_W*lambda_W": (
            lambda a0, a1, a2, a3: _double_sum((_d(a0), _d(a1)), (_d(a2), _d(a3)), ((a0, a2), (a1, a3)), 1),),
        "C_W*C_W": (
            lambda a0, a1, a2, a3: _double_sum((_c(a0), _c(a1), _H(a0, a1)), (_d(a2), _d(a3)), ((a0, a2), (a1, a3)), 1),
            lambda a0, a1, a2, a3: _xi_sum((_c(a0), _d(a1)), (_d(a2), _d(a3)), ((a0, a2),), (0, 0, 1), (a1, a0, a3)),
            lambda a0, a1, a2, a3: _xi_sum((_d(a0), _c(a1)), (_d(a2), _d(a3)), ((a1, a3),), (0, 0, 1), (a0, a1, a2)),
            lambda a0, a1, a2, a3: _double_sum((_d(a0), _d(a1)), (_d(a2), _d(a3)), (), 1,
                                               ddntk=("Omega", (0, 0, 1, 1), (a0, a1, a2, a3))))},
    "ddT": {
        "lambda_W*lambda_W": (
            lambda a0, a1, a2, a3: _double_sum((_s(a2), _d(a0)), (_s(a3), _d(a1)), ((a0, a1),), 1),),
        "C_W*lambda_W": (
            lambda a0, a1, a2, a3: _double_sum((_s(a2), _d(a0)), (_c(a1), _d(a3), _H(a1, a3)), ((a0, a1),), 1),
            lambda a0, a1, a2, a3: _double_sum((_c(a0), _d(a2), _H(a0, a2)), (_s(a3), _d(a1)), ((a0, a1),), 1),
            lambda a0, a1, a2, a3: _xi_sum((_s(a2), _d(a0)), (_d(a1), _d(a3)), (), (1, 0, 1), (a1, a0, a3)),
            lambda a0, a1, a2, a3: _xi_sum((_d(a0), _d(a2)), (_s(a3), _d(a1)), (), (0, 1, 0), (a0, a1, a2))),
        "C_W*C_W": (
            lambda a0, a1, a2, a3: _double_sum((_c(a0), _d(a2), _H(a0, a2)), (_c(a1), _d(a3), _H(a1, a3)), ((a0, a1),), 1),
            lambda a0, a1, a2, a3: _xi_sum((_c(a0), _d(a2), _H(a0, a2)), (_d(a1), _d(a3)), (), (1, 0, 1), (a1, a0, a3)),
            lambda a0, a1, a2, a3: _xi_sum((_d(a0), _d(a2)), (_c(a1), _d(a3), _H(a1, a3)), (), (0, 1, 0), (a0, a1, a2)),
            lambda a0, a1, a2, a3: _double_sum((_d(a0), _d(a2)), (_d(a1), _d(a3)), (), 1,
                                               ddntk=("Omega", (0, 1, 0, 1), (a0, a1, a2, a3))))},
    "ddU": {
        "C_W*C_W": (
            lambda a0, a1, a2, a3: _double_sum((_c(a0), _d(a3)), (_c(a1), _d(a2)), ((a0, a2), (a3, a1), (a0, a1)), 1),
            lambda a0, a1, a2, a3: _xi_sum((_c(a0), _d(a3)), (_d(a2), _d(a1)), ((a0, a2),), (1, 0, 0), (a1, a0, a3)),
            lambda a0, a1, a2, a3: _xi_sum((_d(a0), _d(a3)), (_c(a1), _d(a2)), ((a3, a1),), (0, 1, 1), (a0, a1, a2)),
            lambda a0, a1, a2, a3: _double_sum((_d(a0), _d(a3)), (_d(a1), _d(a2)), (), 1,
                                               ddntk=("Omega", (0, 1, 1, 0), (a0, a1, a2, a3))))},
}


def _at(series: dict, order: int) -> dict:
    """The terms of ``series`` at exactly ``order``."""
    return {k: v for k, v in series.items() if k.order == order}


@functools.lru_cache(maxsize=None)
def ntk_rule(name: str):
    """The derived update rule of the NTK statistic ``name`` (a :class:`~derive.engine.derived.DerivedRule`;
    indices in the storage order of the tensor: B and F as [α1, α3, α2, α4])."""
    rank, order = NTK_STATISTICS[name]
    couplings = {"lambda_b": lambda_b, "lambda_W": lambda_W, "C_W": C_W}
    family = cached_family(f"ntk|{name}|{order}", COUPLINGS[name], lambda: ntk_series(name, SAMPLES[:rank]))
    rhs = sp.S.Zero
    for coupling, series in family.items():
        factor = sp.Mul(*[couplings[c] for c in coupling.split("*")])
        rhs += factor * to_expr(series, order)
    return DerivedRule(name, SAMPLES[:rank], rhs, order)
