"""Step (ii) of the engine's NTK sector: expectations with NTK and dNTK factors, order 1/n.

The layer-ℓ NTK entries Ĥ_{j1j2} and dNTK entries dĤ_{j0j1j2} are correlated with the
preactivations through tensors with the neuron structure of THEORY-NTK.md §1 (PDLT ch. 8, 11):

    E[Ĥ_{j1j2}] = δ_{j1j2}(H + H1/n),
    κ(Ĥ_{j1j2;α1α2}, z_{j3α3}, z_{j4α4}) = (1/n)[δ_{j1j2}δ_{j3j4} D_{α1α2α3α4} + δ_{j1j3}δ_{j2j4} F_{α1α3α2α4}
                                                 + δ_{j1j4}δ_{j2j3} F_{α1α4α2α3}],
    κ(Ĥ_{j1j2;α1α2}, Ĥ_{j3j4;α3α4}) = (1/n)[δ_{j1j2}δ_{j3j4} A_{(α1α2)(α3α4)} + δ_{j1j3}δ_{j2j4} B_{α1α3α2α4}
                                            + δ_{j1j4}δ_{j2j3} B_{α1α4α2α3}],
    κ(dĤ_{j0j1j2;α0α1α2}, z_{j3α3}) = (1/n)[δ_{j0j1}δ_{j2j3} P_{α0α1α2α3} + δ_{j0j2}δ_{j1j3} P_{α0α2α1α3}
                                          + δ_{j0j3}δ_{j1j2} Q_{α0α1α2α3}],
    E[Ψ_{j0;j1j2j3}], E[Ω_{j0j1;j2j3}] = (1/n)[pairings of R; of S, T, U]   (the ddNTK; :func:`_ddntk_term`),

κ(Ĥ, z) = 0, E[dĤ · even] = 0 (flip the sign of the last layer), every other mixed cumulant O(1/n²).
With F = Π_t f_t(z_t) over distinct neurons and ΔĤ = Ĥ − E[Ĥ], the cumulant expansion gives
E[ΔĤ F] = ½ Σ κ(ΔĤ, z_β, z_γ)⟨∂_β∂_γ F⟩, E[ΔĤ ΔĤ' F] = κ(ΔĤ, ΔĤ')⟨F⟩, E[dĤ F] = Σ κ(dĤ, z_β)⟨∂_β F⟩,
+ O(1/n²); three or more ΔĤ are O(1/n²).  The derivatives go on slots by Stein, as in
:mod:`~derive.engine.expansion` (no K⁻¹).

An NTK factor is a slot ``("H", (α, β))`` of a neuron's observable (Ĥ_{jj;αβ}); an off-diagonal
factor Ĥ_{tu;αβ} between two distinct neurons is a *link* ``(t, u, α, β)``.
"""

from __future__ import annotations

import functools
import itertools
from fractions import Fraction

from ..notation import symmetry_group
from .expansion import atoms_of, expectation
from .terms import Key, add_into, product

__all__ = ["NTK_TENSORS", "NTK_SYMMETRIES", "ntk_entry", "ntk_expectation"]

#: Rank and index symmetries of the NTK tensors, from their definitions (generators; positions permuted):
#: H_{αβ} = E[Ĥ_{ii;αβ}] and Ĥ_{ii;αβ} = Ĥ_{ii;βα};  A = n κ(Ĥ_ii;12, Ĥ_kk;34): pairs symmetric and
#: interchangeable;  D = n κ(Ĥ_ii;12, z_k3 z_k4): pairs symmetric, not interchangeable;
#: F_{1324} = n E[Ĥ_ij;12 z_i3 z_j4]: i ↔ j;  B_{1324} = n E[Ĥ_ij;12 Ĥ_ij;34]: i ↔ j and the two Ĥ's.
NTK_TENSORS = {"H": (2, ((1, 0),)), "H1": (2, ((1, 0),)),
               "A": (4, ((1, 0, 2, 3), (0, 1, 3, 2), (2, 3, 0, 1))), "B": (4, ((2, 3, 0, 1), (1, 0, 3, 2))),
               "D": (4, ((1, 0, 2, 3), (0, 1, 3, 2))), "F": (4, ((2, 3, 0, 1),)),
               "P": (4, ()), "Q": (4, ((0, 2, 1, 3),)),
               "ddR": (4, ((0, 1, 3, 2),)), "ddS": (4, ((1, 0, 3, 2),)), "ddT": (4, ((1, 0, 3, 2),)),
               "ddU": (4, ((1, 0, 3, 2),))}
#: (P_{0123} = n E[dĤ_{iij;012} z_{j;3}]: no symmetry; Q_{0123} = n E[dĤ_{jii;012} z_{j;3}]: the NTK's two
#: indices (i, α1) ↔ (i, α2).  The ddNTK means (i ≠ k): R_{0123} = n E[Ψ_{i;ikk}(α0;α1α2α3)], symmetric in
#: the last two slots (Ψ is symmetric in its three directions); S, T, U = n E[Ω_{ii;kk}], n E[Ω_{ik;ik}],
#: n E[Ω_{ik;ki}] (α0α1;α2α3), each invariant under Ω_{ab;cd} = Ω_{ba;dc}.)
NTK_SYMMETRIES = {name: gens for name, (_, gens) in NTK_TENSORS.items()}


@functools.lru_cache(maxsize=None)
def _group(name: str) -> tuple[tuple[int, ...], ...]:
    rank, generators = NTK_TENSORS[name]
    return symmetry_group(generators, rank)


def ntk_entry(name: str, indices: tuple) -> tuple:
    """``(name, indices)`` in the smallest index order its symmetry group reaches."""
    best = min((tuple(indices[p] for p in perm) for perm in _group(name)), key=lambda t: tuple(map(str, t)))
    return (name, best)


def _gaussian(neurons: tuple, derivatives: tuple = ()) -> tuple:
    """The order-0 atoms of ⟨Π_t f_t⟩ with one derivative on each (neuron, slot) of ``derivatives``."""
    counts = [[0] * len(slots) for slots in neurons]
    for t, s in derivatives:
        counts[t][s] += 1
    return atoms_of(neurons, counts)


def _fluctuation_pair(f1: tuple, f2: tuple) -> list:
    """κ(ΔĤ_1, ΔĤ_2)·n as a list of tensor entries (factors: ("diag", t, α, β) / ("link", t, u, α, β))."""
    out = []
    if f1[0] == "diag" and f2[0] == "diag":
        (_, t, a1, a2), (_, u, a3, a4) = f1, f2
        out.append(ntk_entry("A", (a1, a2, a3, a4)))
        if t == u:
            out += [ntk_entry("B", (a1, a3, a2, a4)), ntk_entry("B", (a1, a4, a2, a3))]
    elif f1[0] == "link" and f2[0] == "link":
        (_, t1, u1, a1, a2), (_, t2, u2, a3, a4) = f1, f2
        if (t1, u1) == (t2, u2):
            out.append(ntk_entry("B", (a1, a3, a2, a4)))
        if (t1, u1) == (u2, t2):
            out.append(ntk_entry("B", (a1, a4, a2, a3)))
    return out


def _fluctuation_single(factor: tuple, neurons: tuple) -> dict:
    """E[ΔĤ F] = ½ Σ κ(ΔĤ, z, z)⟨∂∂F⟩ at order 1/n, over slot pairs (Stein)."""
    out: dict = {}
    slots = [(t, s) for t, sl in enumerate(neurons) for s in range(len(sl))]
    half = Fraction(1, 2)
    for (t3, s3), (t4, s4) in itertools.product(slots, repeat=2):
        b3, b4 = neurons[t3][s3][1], neurons[t4][s4][1]
        atoms = _gaussian(neurons, ((t3, s3), (t4, s4)))
        entries = []
        if factor[0] == "diag":
            _, t, a1, a2 = factor
            if t3 == t4:
                entries.append(ntk_entry("D", (a1, a2, b3, b4)))
            if t3 == t4 == t:
                entries += [ntk_entry("F", (a1, b3, a2, b4)), ntk_entry("F", (a1, b4, a2, b3))]
        else:
            _, t, u, a1, a2 = factor
            if (t3, t4) == (t, u):
                entries.append(ntk_entry("F", (a1, b3, a2, b4)))
            if (t3, t4) == (u, t):
                entries.append(ntk_entry("F", (a1, b4, a2, b3)))
        for entry in entries:
            add_into(out, Key(1, 1, (entry,), atoms), half)
    return out


def _dntk_term(factor: tuple, neurons: tuple) -> dict:
    """E[dĤ_{t0t1t2;α0α1α2} F] = Σ_{j, β} κ(dĤ, z_{jβ})⟨∂_{jβ}F⟩ at order 1/n (E[dĤ · even] = 0):
    κ = (1/n)[δ_{t0t1}δ_{t2j} P_{α0α1α2β} + δ_{t0t2}δ_{t1j} P_{α0α2α1β} + δ_{t0j}δ_{t1t2} Q_{α0α1α2β}]."""
    (t0, t1, t2), (a0, a1, a2) = factor
    out: dict = {}
    for j, slots in enumerate(neurons):
        for s, (_, beta) in enumerate(slots):
            entries = []
            if t0 == t1 and t2 == j:
                entries.append(ntk_entry("P", (a0, a1, a2, beta)))
            if t0 == t2 and t1 == j:
                entries.append(ntk_entry("P", (a0, a2, a1, beta)))
            if t0 == j and t1 == t2:
                entries.append(ntk_entry("Q", (a0, a1, a2, beta)))
            for entry in entries:
                add_into(out, Key(1, 1, (entry,), _gaussian(neurons, ((j, s),))), Fraction(1))
    return out


def _ddntk_term(factor: tuple) -> list:
    """The tensor entries of E[ddNTK] for one factor ``(kind, (t0, t1, t2, t3), (α0, α1, α2, α3))`` over
    the neurons t (n × the mean; it is O(1/n)).  The layer's laws are O(n)-covariant (rotate the rows of
    W and b of the layer), so a mean of four neuron indices is a sum over the three pairings:

        E[Ψ_{t0;t1t2t3}] = (1/n)[δ_{t0t1}δ_{t2t3} R_{α0α1α2α3} + δ_{t0t2}δ_{t1t3} R_{α0α2α1α3} + δ_{t0t3}δ_{t1t2} R_{α0α3α1α2}],
        E[Ω_{t0t1;t2t3}] = (1/n)[δ_{t0t1}δ_{t2t3} S_{α0α1α2α3} + δ_{t0t2}δ_{t1t3} T_{α0α1α2α3} + δ_{t0t3}δ_{t1t2} U_{α0α1α2α3}],

    Ψ_{t0;t1t2t3} = ∂³z_{t0}[v_{t1}, v_{t2}, v_{t3}] and Ω_{t0t1;t2t3} = ∂²z_{t0}[·, v_{t2}]·λ·∂²z_{t1}[·, v_{t3}]
    (v_t = λ∇z_t; THEORY-NTK.md §4, docs/training.md)."""
    kind, (t0, t1, t2, t3), (a0, a1, a2, a3) = factor
    out = []
    if kind == "Psi":
        for (p, q), (u, w), idx in (((t0, t1), (t2, t3), (a0, a1, a2, a3)), ((t0, t2), (t1, t3), (a0, a2, a1, a3)),
                                    ((t0, t3), (t1, t2), (a0, a3, a1, a2))):
            if p == q and u == w:
                out.append(ntk_entry("ddR", idx))
    else:
        for (p, q), (u, w), name in (((t0, t1), (t2, t3), "ddS"), ((t0, t2), (t1, t3), "ddT"),
                                     ((t0, t3), (t1, t2), "ddU")):
            if p == q and u == w:
                out.append(ntk_entry(name, (a0, a1, a2, a3)))
    return out


def _leading_means(neurons: tuple, max_order: int) -> dict:
    """Every diagonal NTK factor Ĥ_tt of ``neurons`` at its leading mean H (next to a (d)dNTK factor,
    which is already O(1/n))."""
    term = {Key(0, 0, (), ()): Fraction(1)}
    for slots in neurons:
        for code, pair in slots:
            if code == "H":
                term = product(term, {Key(0, 0, (ntk_entry("H", pair),), ()): Fraction(1)}, max_order)
    return term


@functools.lru_cache(maxsize=4096)
def ntk_expectation(neurons: tuple, links: tuple = (), max_order: int = 1, dntk: tuple = (),
                    ddntk: tuple = ()) -> dict:
    """E[Π_t f_t(z_t) Ĥ-factors] over distinct neurons to (1/n)^max_order (max_order ≤ 1).

    ``neurons[t]`` is a tuple of slots: ``(code, sample)`` preactivation functions as in
    :func:`~derive.engine.expansion.expectation` and ``("H", (α, β))`` for a factor Ĥ_{tt;αβ};
    ``links`` are off-diagonal factors Ĥ_{tu;αβ} as ``(t, u, α, β)`` (t ≠ u); ``dntk`` is one dNTK
    factor dĤ_{t0t1t2;α0α1α2} as ``((t0, t1, t2), (α0, α1, α2))`` or ``()``: it has zero mean and no
    correlation with ΔĤ, so at order 1/n it pairs with one preactivation (P, Q) and every Ĥ takes
    its leading mean H; ``ddntk`` is one ddNTK factor ``(kind, neurons, samples)`` (:func:`_ddntk_term`):
    its mean is O(1/n) and its correlations with the rest O(1/n²), so it multiplies the leading
    Gaussian expectation with every Ĥ at H (and no link, whose mean is zero)."""
    if max_order > 1:
        raise ValueError("the NTK sector is derived to order 1/n")
    z_neurons = tuple(tuple(s for s in slots if s[0] != "H") for slots in neurons)
    if ddntk:
        if dntk or links or max_order < 1:
            return {}
        entries = {}
        for entry in _ddntk_term(ddntk):
            add_into(entries, Key(1, 1, (entry,), _gaussian(z_neurons)), Fraction(1))
        return product(_leading_means(neurons, max_order), entries, max_order)
    if dntk:
        if links or max_order < 1:
            return {}
        return product(_leading_means(neurons, max_order), _dntk_term(dntk, z_neurons), max_order)
    factors = [("diag", t, *s[1]) for t, slots in enumerate(neurons) for s in slots if s[0] == "H"]
    factors += [("link", t, u, a, b) for t, u, a, b in links]
    out: dict = {}
    for mask in itertools.product((False, True), repeat=len(factors)):
        fluct = [f for f, m in zip(factors, mask) if m]
        means = [f for f, m in zip(factors, mask) if not m]
        if any(f[0] == "link" for f in means) or len(fluct) > 2:
            continue                                  # E[Ĥ_tu] = 0 (t ≠ u); ≥ 3 fluctuations: O(1/n²)
        term = {Key(0, 0, (), ()): Fraction(1)}
        for _, _, a, b in means:                        # E[Ĥ_tt;ab] = H + H1/n
            term = product(term, {Key(0, 0, (ntk_entry("H", (a, b)),), ()): Fraction(1),
                                  Key(1, 1, (ntk_entry("H1", (a, b)),), ()): Fraction(1)}, max_order)
        if not fluct:
            rest = expectation(z_neurons, max_order)
        elif len(fluct) == 1:
            rest = _fluctuation_single(fluct[0], z_neurons)
        else:
            merged: dict = {}
            for entry in _fluctuation_pair(*fluct):
                add_into(merged, Key(1, 1, (entry,), _gaussian(z_neurons)), Fraction(1))
            rest = merged
        for key, coef in product(term, rest, max_order).items():
            add_into(out, key, coef)
    return out


