"""Step (iii) of the derivation engine: series → entry-wise update rules over Gaussian atoms.

A term's atom ⟨Π_s ∂^{k_s} f_s(z_{α_s})⟩_K (one neuron; slots s with function code, derivative
count and sample) becomes an entry of a named atom array:

* two slots: ``ss`` (no derivatives on σσ), ``dsds``, ``e_<f><g>``, or the Stein-derivative atom
  ``p<ka><kb>_<f><g>`` (:func:`derive.notation.pair_derivative`);
* four slots without derivatives: ``ssss`` / ``q_<f1f2f3f4>``;
* otherwise the general atom ``g<k1…km>_<f1…fm>`` (slots in canonical order).

Coincident samples: a rule sums each derivative over the slots of the function it acts on, and
slots whose samples coincide at run time then share one tensor entry; the entry of a general
atom where the slots of a group G coincide is the *share* ⟨(Π_{s∈G} f_s)^{(Σ k_s)}⟩ / |G|^{Σ k_s}
(the total derivative split evenly over the |G|^{Σk} slot sequences), as for the pair atoms.
"""

from __future__ import annotations

import sympy as sp

from ..notation import atom, pair_derivative, state, width_ratio

__all__ = ["atom_entry", "to_expr", "orders"]

_FIXED_PAIRS = {("s", "s"): "ss", ("d", "d"): "dsds"}


def atom_entry(slots: tuple) -> sp.Expr:
    """The array entry of the one-neuron atom with ``slots`` ((code, k, sample), …)."""
    slots = tuple(sorted(slots, key=lambda s: (s[0], -s[1], str(s[2]))))
    codes = "".join(s[0] for s in slots)
    ks = [s[1] for s in slots]
    samples = [s[2] for s in slots]
    if len(slots) == 2:
        (f, ka, a), (g, kb, b) = slots
        if ka == kb == 0:
            if (f, g) in _FIXED_PAIRS:
                a, b = sorted((a, b), key=str)
                return atom(_FIXED_PAIRS[(f, g)])[a, b]
            return atom(f"e_{f}{g}")[a, b]
        return pair_derivative(f, g, ka, kb, a, b)
    if not any(ks) and len(slots) == 4:
        return atom("ssss" if codes == "ssss" else f"q_{codes}")[tuple(samples)]
    if any(k > 9 for k in ks):
        raise ValueError(f"derivative order above 9 on one slot: {slots}")
    return atom(f"g{''.join(map(str, ks))}_{codes}")[tuple(samples)]


def orders(series: dict) -> tuple[int, ...]:
    """The powers of 1/n present in ``series``."""
    return tuple(sorted({k.order for k in series}))


def to_expr(series: dict, order: int) -> sp.Expr:
    """The coefficient of (1/n)^order of ``series`` as a sympy expression in the layer-ℓ
    tensors (``state(name)[…]``), the atoms and r."""
    terms = []
    for key in sorted(series, key=str):
        if key.order != order:
            continue
        coef = series[key]
        factor = sp.Rational(coef.numerator, coef.denominator) * width_ratio**key.ratio
        tensors = [state(name)[idx] for name, idx in key.tensors]
        atoms = [atom_entry(slots) for slots in key.atoms]
        terms.append(sp.Mul(factor, *tensors, *atoms))
    return sp.Add(*terms)
