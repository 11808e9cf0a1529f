"""The notation every recursion is written in: sample indices, layer-ℓ tensors, atoms, r.

Stage *notation* (shared by :mod:`derive.observables` and :mod:`derive.engine`): layer ℓ → ℓ+1,
``r = n_ℓ/n_{ℓ−1}``, the layer-ℓ tensor of an observable as ``sympy.IndexedBase`` named after it,
the next layer's as ``<name>_next``, and Gaussian atoms ⟨…⟩ over z ~ N(0, K^{(ℓ)}) named after the
atom (``ss[a1, a2]`` = ⟨σ_{a1}σ_{a2}⟩; :mod:`derive.recursions` evaluates them).
"""

from __future__ import annotations

import sympy as sp

__all__ = ["width_ratio", "sample_indices", "gram", "state", "next_state", "atom", "pair_derivative"]

#: Width ratio r = n_ℓ / n_{ℓ−1} of the inherited 1/n terms.
width_ratio = sp.Symbol("r", positive=True)
#: Sample indices of the entry-wise rules.
sample_indices = sp.symbols("a1:5", integer=True, nonnegative=True)
#: The input Gram matrix x_a·x_b / n_0 of the initial conditions.
gram = sp.IndexedBase("gram")


def state(name: str) -> sp.IndexedBase:
    """The layer-ℓ tensor of the observable ``name``."""
    return sp.IndexedBase(name)


def next_state(name: str) -> sp.IndexedBase:
    """The layer-(ℓ+1) tensor of the observable ``name``."""
    return sp.IndexedBase(f"{name}_next")


def atom(name: str) -> sp.IndexedBase:
    """The array of the Gaussian expectation atom ``name`` (``derive.recursions`` defines them)."""
    return sp.IndexedBase(name)


def pair_derivative(f: str, g: str, ka: int, kb: int, a, b) -> sp.Indexed:
    """⟨∂_a^{ka} ∂_b^{kb} (f(z_a) g(z_b))⟩ (f, g among ``s`` σ, ``d`` σ', ``c`` classical σ'')
    as an entry of its composed atom ``p<ka><kb>_<f><g>`` (:mod:`derive.recursions`), the two
    samples put in canonical order (ka > kb, or equal orders and f ≤ g) so that each distinct
    expectation is one array.  Its coincident entry a = b is the share
    ⟨(f g)^{(ka+kb)}⟩/2^{ka+kb}: summed over the label sequences of one derivative (as every
    rule here does) the shares give the one-sample derivative."""
    if (kb, g) > (ka, f):
        f, g, ka, kb, a, b = g, f, kb, ka, b, a
    return atom(f"p{ka}{kb}_{f}{g}")[a, b]
