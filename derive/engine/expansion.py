"""Step (ii) of the derivation engine: expectations over exchangeable, weakly correlated
neurons, expanded in 1/n (issue #11; THEORY.md §3).

The preactivations z_{j;α} of layer ℓ (neurons j, samples α) are a Gaussian mixture, so
their joint cumulants carry the neuron structure of pairings (PDLT §4.1):

    κ(z_{i1α1}, z_{i2α2})     = δ_{i1i2} G_{α1α2},   G = K + (r/n) G1 + (r/n)² G2 + …
    κ(z_{i1α1}, …, z_{i4α4})  = (r/n) Σ_{3 pairings} δδ V + (r/n)² Σ δδ V1 + …
    κ(z_{i1α1}, …, z_{i6α6})  = (r/n)² Σ_{15 pairings} δδδ U + …

(n = n_ℓ, r = n_ℓ/n_{ℓ−1}; a cumulant of 2k preactivations starts at order (1/n)^{k−1}).
For F = Π_t f_t(z_{j_t}) over *distinct* neurons j_t the characteristic function gives

    E[F] = ⟨exp(Ô) F⟩_K,   Ô = Σ_{k≥1} (1/(2k)!) (κ_{2k} − δ_{k1} K)·∂^{2k},

⟨·⟩_K the Gaussian expectation with covariance δ_{ij}K (a product over neurons).  Each
cumulant's (2k−1)!! pairings give the same contribution once the sample indices are summed,
so a tensor T of k pairs enters as the vertex

    (1/(2^k k!)) Σ_{t1..tk} Σ_{β} T_{(β1β2)…(β2k−1β2k)} ∂_{t1β1}∂_{t1β2} … ∂_{tkβ2k−1}∂_{tkβ2k}

over ordered neuron choices t (repeats allowed: two pairs on one neuron is that neuron's
own four-point cumulant).  The β's are summed by Gaussian integration by parts (Stein):
∂_{tβ} f_t is non-zero only for β among the samples f_t depends on, so every derivative is
put on one *slot* of f_t (one factor σ(z_α)) and the tensor index becomes that slot's
sample.  No inverse kernel appears, and coincident samples need no special case (a slot
sum over coincident samples is the total derivative; see :mod:`derive.engine.collect`).
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass
from fractions import Fraction

from .terms import Key, add_into, canonical_entry

__all__ = ["Vertex", "CUMULANTS", "vertices", "expectation", "atoms_of"]


@dataclass(frozen=True)
class Vertex:
    """A layer-ℓ cumulant tensor as a differential operator: ``groups`` pairs of derivatives,
    ``order`` powers of r/n, weight 1/(2^groups groups!)."""

    tensor: str
    groups: int
    order: int

    @property
    def weight(self) -> Fraction:
        return Fraction(1, 2**self.groups * math.factorial(self.groups))


#: Names of the layer-ℓ statistics: (pairs of the cumulant, power of 1/n) → tensor
#: (THEORY.md notation: G = K + G1/n + G2/n², four-point V/n + V1/n², six-point U/n²).
CUMULANTS = {(1, 1): "G1", (1, 2): "G2", (2, 1): "V", (2, 2): "V1", (3, 2): "U"}


def vertices(max_order: int) -> tuple[Vertex, ...]:
    """The vertices of Ô up to ``max_order`` in 1/n."""
    return tuple(Vertex(name, groups, order) for (groups, order), name in sorted(CUMULANTS.items(), key=lambda x: x[0][::-1])
                 if order <= max_order)


def _apply(terms: dict, neurons: tuple, vertex: Vertex, max_order: int) -> dict:
    """Ô_vertex applied to every term (state of derivative counts per slot)."""
    out: dict = {}
    w = vertex.weight
    choices = []   # (neuron, slot a, slot b) for one pair of derivatives
    for t, slots in enumerate(neurons):
        choices.extend((t, s1, s2) for s1 in range(len(slots)) for s2 in range(len(slots)))
    for (state, order, tensors), coef in terms.items():
        if order + vertex.order > max_order:
            continue
        for combo in itertools.product(choices, repeat=vertex.groups):
            counts = [list(c) for c in state]
            index = []
            for t, s1, s2 in combo:
                counts[t][s1] += 1
                counts[t][s2] += 1
                index += [neurons[t][s1][1], neurons[t][s2][1]]
            entry = canonical_entry(vertex.tensor, tuple(index))
            key = (tuple(map(tuple, counts)), order + vertex.order, tuple(sorted(tensors + (entry,), key=str)))
            out[key] = out.get(key, 0) + coef * w
    return out


@functools.lru_cache(maxsize=4096)
def expectation(neurons: tuple, max_order: int) -> dict:
    """E[Π_t f_t(z_{j_t})] over distinct neurons to (1/n)^max_order, as a series
    (:mod:`derive.engine.terms`).

    ``neurons[t]`` is the function of neuron t: a tuple of slots ``(code, sample)``, the
    product of the slot functions (``"s"`` σ, ``"z"`` the preactivation itself, …) at those
    samples.  Each atom of the result is the Gaussian expectation of one neuron's function with
    the derivative counts the vertices put on its slots.
    """
    ops = vertices(max_order)
    start = (tuple((0,) * len(slots) for slots in neurons), 0, ())
    current = {start: Fraction(1)}
    total = dict(current)
    for j in range(1, max_order + 1):
        nxt: dict = {}
        for vertex in ops:
            for key, coef in _apply(current, neurons, vertex, max_order).items():
                nxt[key] = nxt.get(key, 0) + coef
        current = {k: v / j for k, v in nxt.items() if v}
        for key, coef in current.items():
            total[key] = total.get(key, 0) + coef
    series: dict = {}
    for (state, order, tensors), coef in total.items():
        add_into(series, Key(order, order, tensors, atoms_of(neurons, state)), coef)
    return series


def atoms_of(neurons: tuple, counts) -> tuple:
    """The one-neuron Gaussian atoms of ``neurons`` (slot tuples) with derivative ``counts`` per slot,
    in canonical order (slots sorted within an atom, atoms sorted)."""
    return tuple(sorted((tuple(sorted(((code, k, sample) for (code, sample), k in zip(slots, cnt)), key=str))
                         for slots, cnt in zip(neurons, counts)), key=str))
