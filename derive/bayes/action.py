"""Symbolic effective action and saddle-point equations (stage *derive*; sympy).

What is derived here (docs/bayes.md §2–3):

* :func:`deep_action` — the action (2) of ``L`` hidden layers in the *spectral
  form*, valid whenever the renormalised kernel is a scalar multiple of a fixed
  matrix (one hidden layer with any σ; deep networks with positively homogeneous σ:
  linear, ReLU): ``K^R_L = g K̂``, ``g = Π_ℓ Q̄_ℓ/λ_ℓ``, ``K̂ = Σ_i k_i u_i u_iᵀ``,
  ``ỹ_i = u_i·y``, so ``Tr log β(I/β + K^R_L) = Σ_i log(1 + β g k_i)`` and
  ``yᵀ(I/β + K^R_L)⁻¹y = Σ_i ỹ_i²/(1/β + g k_i)``.  The saddle-point equations are
  obtained by ``sympy.diff`` of this expression.
* :func:`general_action` — the matrix form for any σ and depth, with the data term
  an undefined function ``F`` of the layer coefficients; sympy applies the chain rule
  and :data:`TRACE_IDENTITY` names ``∂F``.
* :func:`mean_corrected_action` — one hidden layer, non-odd σ (eq. (5)).
* :func:`li_sompolinsky` — the ``β → ∞``, isotropic (``α_ℓ = α``) limit of the
  deep spectral saddle equations, simplified by sympy to
  ``1 − Q̄ = α (1 − r/Q̄^L)``, ``r = yᵀK_GP⁻¹y/P`` (eq. (7)).

Examples
--------
>>> ls = li_sompolinsky(2)
>>> ls
Eq(1 - \\bar{Q}, alpha*(1 - r/\\bar{Q}**2))
>>> act = deep_action(1)
>>> len(act.saddle_equations)
2
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import sympy as sp

from .errors import BayesInputError

__all__ = ["EffectiveAction", "deep_action", "general_action", "mean_corrected_action",
           "li_sompolinsky", "TRACE_IDENTITY", "symbols_for"]

#: The identity that turns ``∂F`` into matrix traces (``A = I/β + K^R_L``).
TRACE_IDENTITY = (r"\partial_\theta \left[\operatorname{Tr}\log\beta A + y^{\top}A^{-1}y\right]"
                  r" = \operatorname{Tr}\left(A^{-1}\partial_\theta A\right)"
                  r" - y^{\top}A^{-1}(\partial_\theta A)A^{-1}y")

beta = sp.Symbol("beta", positive=True)
P = sp.Symbol("P", positive=True, integer=True)
i = sp.Symbol("i", integer=True, positive=True)
k = sp.IndexedBase("k", positive=True)
yt = sp.IndexedBase(r"\tilde{y}", real=True)


def _check_depth(depth):
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
        raise BayesInputError(f"depth must be a positive integer, got {depth!r}")


def symbols_for(depth: int):
    """``(Q, Q̄, α, λ)`` symbol tuples for layers ``1..depth`` (positive where physical)."""
    _check_depth(depth)
    Q = tuple(sp.Symbol(f"Q_{l}", real=True) for l in range(1, depth + 1))
    Qb = tuple(sp.Symbol(rf"\bar{{Q}}_{l}", positive=True) for l in range(1, depth + 1))
    al = tuple(sp.Symbol(rf"alpha_{l}", positive=True) for l in range(1, depth + 1))
    lam = tuple(sp.Symbol(rf"lambda_{l}", positive=True) for l in range(1, depth + 1))
    return Q, Qb, al, lam


@dataclass(frozen=True)
class EffectiveAction:
    """An effective action ``S`` and its saddle-point equations (sympy).

    ``variables`` lists the order parameters in the order of ``saddle_equations``
    (each equation is ``∂S/∂var = 0``, rearranged); ``to_latex`` is deterministic.
    """

    name: str
    depth: int
    action: sp.Expr
    variables: tuple
    saddle_equations: tuple
    notes: tuple = ()

    def to_latex(self) -> str:
        """LaTeX of the action and saddle-point equations (one ``align`` block)."""
        lines = [rf"% {self.name}", r"\begin{align}", rf"S &= {sp.latex(self.action)} \\"]
        for eq in self.saddle_equations:
            lines.append(rf"{sp.latex(eq.lhs)} &= {sp.latex(eq.rhs)} \\")
        lines[-1] = lines[-1][:-3]
        lines.append(r"\end{align}")
        lines.extend(f"% {n}" for n in self.notes)
        return "\n".join(lines) + "\n"


def _layer_terms(Q, Qb, al):
    L = len(Q)
    return sum(al[L - 1] / al[l] * (-Q[l] * Qb[l] + sp.log(1 + Q[l])) for l in range(L))


@lru_cache(maxsize=None)
def deep_action(depth: int) -> EffectiveAction:
    """Spectral form of eq. (2) (``K^R_L = g K̂``) and its saddle-point equations."""
    _check_depth(depth)
    Q, Qb, al, lam = symbols_for(depth)
    g = sp.Mul(*[Qb[l] / lam[l] for l in range(depth)])
    summand = sp.log(1 + beta * g * k[i]) + yt[i] ** 2 / (1 / beta + g * k[i])
    S = _layer_terms(Q, Qb, al) + al[-1] / P * sp.Sum(summand, (i, 1, P))
    eqs = []
    for l in range(depth):
        dQ = sp.diff(S, Q[l])                       # −(α_L/α_ℓ)Q̄_ℓ + (α_L/α_ℓ)/(1+Q_ℓ)
        eqs.append(sp.Eq(Qb[l], sp.solve(dQ, Qb[l])[0]))
    for l in range(depth):
        dQb = sp.diff(S, Qb[l])
        # ∂S/∂Q̄_ℓ = −(α_L/α_ℓ) Q_ℓ + (α_L/P) Σ_i ∂_{Q̄_ℓ}(summand) is linear in Q_ℓ:
        coeff = dQb.coeff(Q[l])
        assert sp.simplify(coeff + al[-1] / al[l]) == 0
        rhs = sp.expand(-(dQb - coeff * Q[l]) / coeff)
        rhs = rhs.replace(lambda e: isinstance(e, sp.Sum),
                          lambda e: sp.Sum(sp.factor(sp.together(e.function)), *e.limits))
        eqs.append(sp.Eq(Q[l], sp.factor_terms(rhs)))
    variables = tuple(Q) + tuple(Qb)
    return EffectiveAction(f"deep action, L = {depth}, spectral form", depth, S, variables,
                           tuple(eqs), (r"k_i, \tilde y_i: eigenvalues of \hat K and projections "
                                        r"of y on its eigenvectors; K^R_L = g \hat K",))


@lru_cache(maxsize=None)
def general_action(depth: int) -> EffectiveAction:
    """Eq. (2) for any σ: data term ``F(c_1, …, c_L)`` of the layer coefficients ``c_ℓ = Q̄_ℓ/λ_ℓ``."""
    _check_depth(depth)
    Q, Qb, al, lam = symbols_for(depth)
    c = [Qb[l] / lam[l] for l in range(depth)]
    F = sp.Function("F")(*c)
    S = _layer_terms(Q, Qb, al) + al[-1] / P * F
    eqs = [sp.Eq(Qb[l], sp.solve(sp.diff(S, Q[l]), Qb[l])[0]) for l in range(depth)]
    eqs += [sp.Eq(Q[l], sp.solve(sp.diff(S, Qb[l]), Q[l])[0]) for l in range(depth)]
    return EffectiveAction(f"deep action, L = {depth}, any activation", depth, S,
                           tuple(Q) + tuple(Qb), tuple(eqs),
                           (r"F = \operatorname{Tr}\log\beta(I/\beta + K^R_L) + y^T (I/\beta + K^R_L)^{-1} y,"
                            r" K^R_l = c_l K[K^R_{l-1}], K^R_0 = C", TRACE_IDENTITY))


@lru_cache(maxsize=None)
def mean_corrected_action() -> EffectiveAction:
    """Eq. (5): one hidden layer, non-odd σ; ``A = I/β + (Q̄ K_c + K^{(1)}/(1+Q))/λ_1``.

    ``F(a, b) = Tr log βA + yᵀA⁻¹y`` with ``A = I/β + a K_c + b K^{(1)}``, ``K_c = K − m mᵀ``,
    ``K^{(1)} = m mᵀ``, ``a = Q̄/λ_1``, ``b = 1/(λ_1(1+Q))``.
    """
    Q, Qb, al, lam = symbols_for(1)
    a, b = Qb[0] / lam[0], 1 / (lam[0] * (1 + Q[0]))
    F = sp.Function("F")(a, b)
    S = -Q[0] * Qb[0] + sp.log(1 + Q[0]) + al[0] / P * F
    eqs = (sp.Eq(Qb[0], sp.solve(sp.diff(S, Q[0]), Qb[0])[0]),
           sp.Eq(Q[0], sp.solve(sp.diff(S, Qb[0]), Q[0])[0]))
    return EffectiveAction("one hidden layer, non-odd activation (mean correction)", 1, S,
                           (Q[0], Qb[0]), eqs,
                           (r"F(a,b) = \operatorname{Tr}\log\beta(I/\beta + aK_c + bK^{(1)}) + "
                            r"y^T(I/\beta + aK_c + bK^{(1)})^{-1}y,\ K_c = K - mm^T,\ K^{(1)} = mm^T",
                            TRACE_IDENTITY))


@lru_cache(maxsize=None)
def li_sompolinsky(depth: int) -> sp.Eq:
    """Derive eq. (7) from :func:`deep_action` at ``β → ∞``, ``α_ℓ = α``, ``λ_ℓ = λ``.

    Returns ``Eq(1 − Q̄, α(1 − r/Q̄^L))`` with ``r = yᵀK_GP⁻¹y/P``; the derivation is
    checked symbolically (a mismatch raises ``AssertionError``).
    """
    act = deep_action(depth)
    Q, Qb, al, lam = symbols_for(depth)
    alpha, lam_, u, r = sp.symbols(r"alpha lambda \bar{Q} r", positive=True)
    g = sp.Mul(*[Qb[l] / lam[l] for l in range(depth)])
    summand = sp.log(1 + beta * g * k[i]) + yt[i] ** 2 / (1 / beta + g * k[i])
    # Q̄_1 ∂_{Q̄_1} of the summand, then T → 0 (β → ∞) termwise:
    term = sp.limit(sp.simplify(Qb[0] * sp.diff(summand, Qb[0])), beta, sp.oo)
    # term = 1 − ỹ_i²/(g k_i); Σ_i ỹ_i²/k_i = P r / Π λ_ℓ (definition of r)
    term = sp.expand(term)
    ratio = sp.Symbol("ratio")                          # stands for ỹ_i²/k_i
    term = term.subs(yt[i] ** 2, ratio * k[i])
    total = sp.expand(P * term.subs(ratio, r / sp.Mul(*lam)))
    # Saddle: Q_1 Q̄_1 = (α_1/P) Σ_i Q̄_1 ∂_{Q̄_1}(summand), with Q_1 = 1/Q̄_1 − 1:
    lhs = 1 - Qb[0]
    rhs = al[0] / P * total
    iso = {al[l]: alpha for l in range(depth)} | {Qb[l]: u for l in range(depth)} \
        | {lam[l]: lam_ for l in range(depth)}
    lhs, rhs = lhs.subs(iso), sp.simplify(rhs.subs(iso))
    expected = alpha * (1 - r / u**depth)
    assert sp.simplify(rhs - expected) == 0, (rhs, expected)
    # cross-check against the general saddle equation of deep_action (Q_ℓ = (α_ℓ/P) Σ ...):
    gen = act.saddle_equations[depth].rhs
    assert gen.has(sp.Sum)
    return sp.Eq(lhs, expected)
