"""The derived recursions as text and LaTeX (``rgflow derive``).

Two forms: the single-input recursions in the moments g_m(K) = ⟨σ^m⟩_K (closed forms substituted
where they are algebraic, :func:`derive.engine.single_input.specialise`), and the entry-wise
rules for N_D inputs over Gaussian atoms (:mod:`derive.engine.collect`), which do not depend on
the activation until the atoms are evaluated.  Statistics are printed in the order of
:data:`derive.engine.derived.STATISTICS`; atom names in sorted order.
"""

from __future__ import annotations

import sympy as sp

from .derived import STATISTICS, derived_rule
from .single_input import single_input, specialise

__all__ = ["statistics_for", "derivation_text", "derivation_latex", "LEGEND"]

LEGEND = ("layer l -> l+1; K, G1, G2: the metric E[zz] = K + G1/n + G2/n^2; V, V1: the connected "
          "four-point function (V/n + V1/n^2)(pairings); U: the connected six-point function U/n^2; "
          "n = n_{l-1} for layer-l tensors, r = n_l/n_{l-1}")
#: LaTeX symbol and superscript mark of each statistic (THEORY.md notation: G^{\{1\}(ℓ)}).
_TEX = {"K": ("K", ""), "G1": ("G", r"\{1\}"), "G2": ("G", r"\{2\}"), "V": ("V", ""), "V1": ("V", r"\{1\}"),
        "U": ("U", "")}


def _symbol_names() -> dict:
    from .single_input import scalar
    return {scalar(name): f"{base}^{{{mark}}}" if mark else base for name, (base, mark) in _TEX.items()
            if name != "K"}


def statistics_for(order: int, observables=None) -> tuple[str, ...]:
    """The statistics up to (1/n)^order, or the named subset (ValueError for an unknown one)."""
    names = tuple(n for n, (_, p) in STATISTICS.items() if p <= order)
    if observables is None:
        return names
    wanted = [o for o in observables if o]
    unknown = sorted(set(wanted) - set(names))
    if unknown:
        raise ValueError(f"unknown statistic(s) {', '.join(unknown)} at order {order}; choose from {', '.join(names)}")
    return tuple(n for n in names if n in wanted)


def _single(act, name):
    return specialise(single_input(derived_rule(name)), act)


def derivation_text(act, order: int = 1, observables=None, general: bool = False) -> str:
    """The derived recursions of ``act`` as plain text."""
    names = statistics_for(order, observables)
    lines = [f"Derived recursions of {act.name} to order 1/n^{order} "
             f"({'N_D inputs, entry-wise' if general else 'single input'}).", f"Notation: {LEGEND}."]
    if general:
        lines.append("Atoms: ss[a,b] = <s(z_a)s(z_b)>; p<i><j>_ss[a,b] = <d_a^i d_b^j (s(z_a)s(z_b))>; "
                     "ssss = <s s s s>; g<k..>_s..[a..] = <prod_slots d^k s(z_a)> over N(0, K); coincident "
                     "samples share the total derivative evenly.")
        for name in names:
            rule = derived_rule(name)
            idx = ",".join(str(i) for i in rule.indices)
            lines.append(f"{name}_next[{idx}] = {sp.sstr(rule.rhs)}")
    else:
        lines.append("g_m(K) = <sigma(z)^m> over z ~ N(0, K); primes are K-derivatives.")
        for name in names:
            lines.append(f"{name}' = {sp.sstr(_single(act, name))}")
    return "\n".join(lines) + "\n"


def derivation_latex(act, order: int = 1, observables=None, general: bool = False) -> str:
    """The derived recursions of ``act`` as a LaTeX ``align`` environment."""
    names = statistics_for(order, observables)
    rows = []
    for name in names:
        base, mark = _TEX[name]
        lhs = f"{base}^{{{mark}(\\ell+1)}}"
        if general:
            rule = derived_rule(name)
            lhs += "_{" + "".join(sp.latex(i) for i in rule.indices) + "}"
            rhs = sp.latex(rule.rhs)
        else:
            rhs = sp.latex(_single(act, name), symbol_names=_symbol_names())
        rows.append(f"{lhs} &= {rhs}")
    return "\\begin{align}\n" + " \\\\\n".join(rows) + "\n\\end{align}\n"
