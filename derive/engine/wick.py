"""Step (i) of the derivation engine: integrate out the layer-(ℓ+1) weights and biases.

For the MLP forward equation z'_{i;α} = b_i + Σ_j W_{ij} σ(z_{j;α}) with b ~ N(0, C_b) and
W ~ N(0, C_W/n) (n = n_ℓ), conditionally on layer ℓ the next preactivations are Gaussian with
covariance δ_{ii'} Ĝ_{αβ}, where Ĝ_{αβ} = C_b + (C_W/n) Σ_j σ(z_{j;α})σ(z_{j;β}) is the collective
metric (Wick/Isserlis over W and b).  The joint cumulant generating function of z' is therefore
that of the linear form ½ Σ_i J_{iα}J_{iβ} Ĝ_{αβ}, and each cumulant of 2k preactivations is the
sum over the (2k−1)!! pairings of δ's times the joint cumulant of k entries of Ĝ:

    G'_{α1α2} = E[Ĝ_{α1α2}],
    V'_{(α1α2)(α3α4)}/n + V1'/n² = κ(Ĝ_{α1α2}, Ĝ_{α3α4}),
    U'_{(α1α2)(α3α4)(α5α6)}/n² = κ(Ĝ_{α1α2}, Ĝ_{α3α4}, Ĝ_{α5α6}).

A joint cumulant of k entries of Ĝ is (C_W/n)^k Σ_{j1..jk} κ(X_{j1}, …, X_{jk}) with the neuron
observables X_{j;αβ} = σ(z_{j;α})σ(z_{j;β}).  The sum is split by which neuron indices coincide
(a set partition π of the k entries; n(n−1)…(n−|π|+1) assignments), and each joint cumulant
is written through expectations over distinct neurons by the moment–cumulant formula, each
expanded in 1/n by :func:`derive.engine.expansion.expectation`.  The cluster property — a
cumulant of X's on m distinct neurons is O(1/n^{m−1}) — is not assumed: it comes out of the
exact cancellation and is checked (:class:`ClusterError`).
"""

from __future__ import annotations

import functools
import math
from fractions import Fraction

from derive.errors import RGFlowError

from .expansion import expectation
from .ntk_expansion import ntk_expectation
from .terms import Key, add_into, product, shift_order

__all__ = ["ClusterError", "set_partitions", "joint_cumulant", "metric_cumulant"]


class ClusterError(RGFlowError, ArithmeticError):
    """A connected correlator kept a term below its cluster order (an engine defect)."""


def set_partitions(items: tuple) -> list[tuple[tuple, ...]]:
    """Every set partition of ``items``: blocks sorted within a partition, partitions by number of
    blocks, then by their blocks.

    >>> set_partitions((1, 2, 3))[:2]
    [((1, 2, 3),), ((1,), (2, 3))]
    >>> len(set_partitions(tuple(range(4))))
    15
    """
    if not items:
        return [()]
    first, rest = items[0], items[1:]
    out = []
    for part in set_partitions(rest):
        for i in range(len(part)):
            out.append(tuple(sorted(part[:i] + ((first,) + part[i],) + part[i + 1:])))
        out.append(tuple(sorted(((first,),) + part)))
    return sorted(set(out), key=lambda p: (len(p), p))


def _block_expectation(observables: tuple, labels: tuple, block: tuple, max_order: int) -> dict:
    """E[Π_{t∈block} X_t] where X_t lives on neuron labels[t]: one function per distinct neuron."""
    neurons: dict = {}
    for t in block:
        neurons.setdefault(labels[t], []).extend(observables[t])
    functions = tuple(tuple(neurons[j]) for j in sorted(neurons))
    if any(code == "H" for slots in functions for code, _ in slots):    # NTK factors Ĥ_jj
        return ntk_expectation(functions, (), max_order)
    return expectation(functions, max_order)


def joint_cumulant(observables: tuple, labels: tuple, max_order: int) -> dict:
    """κ(X_1, …, X_k) of neuron observables ``observables[t]`` (tuples of slots) on neurons
    ``labels[t]`` (equal labels: the same neuron), to (1/n)^max_order (moment–cumulant formula)."""
    k = len(observables)
    out: dict = {}
    for blocks in set_partitions(tuple(range(k))):
        term = {Key(0, 0, (), ()): Fraction((-1) ** (len(blocks) - 1) * math.factorial(len(blocks) - 1))}
        for block in blocks:
            term = product(term, _block_expectation(observables, labels, block, max_order), max_order)
        for key, coef in term.items():
            add_into(out, key, coef)
    distinct = len(set(labels))
    low = [key for key in out if key.order < distinct - 1]
    if low:
        raise ClusterError(f"cumulant of observables on {distinct} neurons kept {len(low)} term(s) below order "
                           f"{distinct - 1}")
    return out


def _falling(m: int, max_order: int) -> dict:
    """n(n−1)…(n−m+1)/n^m = Π_{i<m} (1 − i/n) as a series in 1/n."""
    coeffs = [Fraction(1)]
    for i in range(1, m):
        coeffs = [c - i * (coeffs[p - 1] if p else 0) for p, c in enumerate(coeffs + [Fraction(0)])]
    return {Key(p, 0, (), ()): c for p, c in enumerate(coeffs) if c and p <= max_order}


@functools.lru_cache(maxsize=256)
def metric_cumulant(observables: tuple, max_order: int) -> dict:
    """κ(X̄_1, …, X̄_k)/C_W^k for the collective observables X̄_t = (1/n) Σ_j X_{j,t} (k ≥ 2), or
    E[X̄_1] for k = 1, to (1/n)^max_order: Σ over neuron partitions π of
    n^{(|π|)}/n^k × κ(X's on the neurons of π)."""
    k = len(observables)
    out: dict = {}
    for blocks in set_partitions(tuple(range(k))):
        m = len(blocks)
        reach = max_order - (k - m)
        if reach < 0:
            continue
        labels = [0] * k
        for label, block in enumerate(blocks):
            for t in block:
                labels[t] = label
        kappa = joint_cumulant(observables, tuple(labels), reach)
        term = product(shift_order(kappa, k - m, max_order), _falling(m, max_order), max_order)
        for key, coef in term.items():
            add_into(out, key, coef)
    return out
