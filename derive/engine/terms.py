"""Terms of the derivation engine: exact coefficients × tensor entries × Gaussian atoms.

Stage *engine terms* (issue #11): the engine's arithmetic is done on :class:`Series`
values — dictionaries from a canonical :class:`Key` to an exact rational coefficient —
so that the cancellations of the cluster expansion (a connected correlator has no
disconnected part) happen exactly, term by term, before any sympy expression is built.

A key holds

* ``order``: the power of 1/n (n = n_ℓ, the width of the layer whose neurons are summed);
* ``ratio``: the power of r = n_ℓ/n_{ℓ−1} (each layer-ℓ tensor is normalised by n_{ℓ−1});
* ``tensors``: layer-ℓ tensor entries, ``(name, indices)`` with the indices in the
  canonical order of the tensor's symmetry group (:func:`canonical_entry`);
* ``atoms``: Gaussian atoms ⟨Π_s ∂^{k_s} f_s(z_{α_s})⟩_K over one neuron, each a sorted
  tuple of slots ``(code, k, sample)``.

Sample indices are sympy symbols (``a1``, ``a2``, …); they are compared by name.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass

import sympy as sp

__all__ = ["Key", "Series", "canonical_entry", "pairing_symmetries", "pairing_generators", "add_into", "product", "shift_order",
           "sample_symbol"]


@functools.lru_cache(maxsize=None)
def pairing_symmetries(groups: int) -> tuple[tuple[int, ...], ...]:
    """Every index permutation of a tensor of ``groups`` symmetric pairs that may also be
    permuted among themselves (G: 1 pair, V: 2, U: 3), as tuples of positions.

    >>> len(pairing_symmetries(2)), len(pairing_symmetries(3))
    (8, 48)
    """
    out = set()
    for order in itertools.permutations(range(groups)):
        for flips in itertools.product((False, True), repeat=groups):
            perm = []
            for g, flip in zip(order, flips):
                pair = (2 * g, 2 * g + 1)
                perm.extend(pair[::-1] if flip else pair)
            out.add(tuple(perm))
    return tuple(sorted(out))


def pairing_generators(groups: int) -> tuple[tuple[int, ...], ...]:
    """Generators of :func:`pairing_symmetries`: each pair flipped, then neighbouring pairs swapped.

    >>> pairing_generators(1), pairing_generators(2)
    (((1, 0),), ((1, 0, 2, 3), (0, 1, 3, 2), (2, 3, 0, 1)))
    """
    identity = tuple(range(2 * groups))
    out = []
    for g in range(groups):
        perm = list(identity)
        perm[2 * g], perm[2 * g + 1] = perm[2 * g + 1], perm[2 * g]
        out.append(tuple(perm))
    for g in range(groups - 1):
        perm = list(identity)
        perm[2 * g:2 * g + 4] = perm[2 * g + 2:2 * g + 4] + perm[2 * g:2 * g + 2]
        out.append(tuple(perm))
    return tuple(out)


def canonical_entry(name: str, indices: tuple) -> tuple:
    """``(name, indices)`` with the indices permuted into the smallest order (by name) that the
    tensor's symmetry group reaches.  Every tensor the engine carries is a joint cumulant of
    len(indices)/2 entries of the collective metric Ĝ_{αβ}, so its group is that of
    :func:`pairing_symmetries` (symmetric pairs, pairs interchangeable)."""
    group = pairing_symmetries(len(indices) // 2)
    best = min((tuple(indices[p] for p in perm) for perm in group), key=lambda t: tuple(map(str, t)))
    return (name, best)


@dataclass(frozen=True, order=True)
class Key:
    """Canonical identity of a term (see the module docstring)."""

    order: int
    ratio: int
    tensors: tuple
    atoms: tuple


#: A truncated series: Key → exact coefficient.
Series = dict


def _sorted(items) -> tuple:
    return tuple(sorted(items, key=str))


def add_into(target: Series, key: Key, coef) -> None:
    """target[key] += coef, dropping zeros."""
    value = target.get(key, 0) + coef
    if value:
        target[key] = value
    else:
        target.pop(key, None)


def product(a: Series, b: Series, max_order: int) -> Series:
    """The product of two series (atoms and tensor entries multiply), truncated at ``max_order``."""
    out: Series = {}
    for ka, ca in a.items():
        for kb, cb in b.items():
            order = ka.order + kb.order
            if order > max_order:
                continue
            key = Key(order, ka.ratio + kb.ratio, _sorted(ka.tensors + kb.tensors), _sorted(ka.atoms + kb.atoms))
            add_into(out, key, ca * cb)
    return out


def shift_order(a: Series, by: int, max_order: int) -> Series:
    """a × (1/n)^by (no power of r), truncated."""
    return {Key(k.order + by, k.ratio, k.tensors, k.atoms): v for k, v in a.items() if k.order + by <= max_order}


@functools.lru_cache(maxsize=None)
def sample_symbol(name: str) -> sp.Symbol:
    return sp.Symbol(name, integer=True, nonnegative=True)
