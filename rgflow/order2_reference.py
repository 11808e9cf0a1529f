"""Numbers from the derived order-1/n² rules for a few inputs (a reference evaluator).

Stage *order-2 reference*: (smooth activation, K^{(1)}, depth) → per-layer K, G1, G2, V, V1, U for
N_D inputs, evaluating the entry-wise rules of :mod:`derive.engine` directly from its series (exact
coefficients over tensor entries and atoms; equal widths, r = 1), and every atom entry is integrated by a tensor product rule over its distinct samples (at most
min(N_D, 6)), with the share convention of :mod:`derive.engine.collect` where samples coincide:
a group G of coincident slots contributes (σ^{|G|})^{(k_G)}/|G|^{k_G}, k_G its derivative count.

This is the engine's N_D order-2 result before codegen compiles it (docs/derivation.md): plain
numpy, cost ∝ N_D^6 · degree^{N_D}, meant for N_D ≤ 2 and validation.  Smooth activations (tanh,
GELU, SWISH, erf, …) are differentiated symbolically; activations kinked at z = 0 (ReLU, leaky ReLU)
are integrated by parts instead (:class:`_Atoms`); kinks elsewhere are refused.
"""

from __future__ import annotations

import functools
import itertools

import numpy as np
import sympy as sp

from derive.activations import Activation, activation, kinked_at_zero
from derive.engine.derived import SAMPLES, STATISTICS, series_of
from derive.errors import RGFlowError
from derive.numpy_functions import NUMPY_MODULES
from derive.quadrature import hermite_weights, legendre_half_lines, split_plane_rule
from derive.symbols import z

__all__ = ["order2_flow"]

@functools.lru_cache(maxsize=None)
def _entry_terms(name: str, idx: tuple) -> list:
    """The terms of one entry of a derived rule: [(coefficient, power of r, tensor entries
    ((name, index tuple), …), atoms as groups ((sample, slots m, derivatives k), …))]."""
    rule_indices = SAMPLES[:2 * STATISTICS[name][0]]
    value = dict(zip(rule_indices, idx))
    terms = []
    for key, coef in series_of(name).items():
        if key.order != STATISTICS[name][1]:
            continue
        tensors = tuple((t, tuple(value[i] for i in index)) for t, index in key.tensors)
        atoms = []
        for slots in key.atoms:
            groups: dict = {}
            for _, k, sample in slots:
                m, total = groups.get(value[sample], (0, 0))
                groups[value[sample]] = (m + 1, total + k)
            atoms.append(tuple((sample, m, k) for sample, (m, k) in sorted(groups.items())))
        terms.append((float(coef), key.ratio, tensors, tuple(atoms)))
    return terms


class _Atoms:
    """Atom entries ⟨…⟩ over N(0, K) (cached per layer).

    Smooth σ: the derivatives (σ^m)^{(k)} symbolically, integrated by a tensor product rule over the
    distinct samples (positive semi-definite square root: coincident inputs work).  σ kinked at
    z = 0: no derivative of σ is taken — Gaussian integration by parts moves them onto the density
    (Hermite polynomials: He_k(z/√K)/K^{k/2} for one sample, :func:`derive.quadrature.hermite_weights` for two), and
    the two-sample integrals are done in whitened polar coordinates with the angle split at the rays
    z_a = 0, z_b = 0, where σ bends: exact up to the rule's resolution for piecewise-polynomial σ.
    That needs the pair kernel to be non-singular (distinct inputs)."""

    def __init__(self, act: Activation, K: np.ndarray, degree: int):
        self.act, self.K, self.degree = act, K, degree
        if degree:
            x, w = np.polynomial.hermite_e.hermegauss(degree)
            self.x, self.w = x, w / np.sqrt(2 * np.pi)
        else:       # split Gauss–Legendre on |u| ≤ 12 (resolves activations with a narrow bend at z = 0)
            self.x, self.w = legendre_half_lines()
        self.kinked = kinked_at_zero(act)
        self.values: dict = {}

    @staticmethod
    @functools.lru_cache(maxsize=None)
    def _function(act: Activation, m: int, k: int):
        expr = sp.diff(act.bound_expr ** m, z, k)
        if expr.has(sp.DiracDelta, sp.Heaviside, sp.Abs, sp.sign):
            raise RGFlowError(f"the order-2 reference needs a smooth activation; {act.name} is kinked")
        fn = sp.lambdify(z, expr, modules=NUMPY_MODULES)
        return fn if expr.has(z) else (lambda v, c=float(expr): np.full_like(v, c))

    def value(self, atom: tuple) -> float:
        """⟨Π_groups (σ^m)^{(k)}(z_sample) / m^k⟩ for ``atom`` = ((sample, m, k), …)."""
        if atom not in self.values:
            groups = {sample: (m, k) for sample, m, k in atom}
            compute = self._by_parts if self.kinked else self._derivatives
            self.values[atom] = compute(groups) / np.prod([float(m) ** k for m, k in groups.values()])
        return self.values[atom]

    def _derivatives(self, groups: dict) -> float:
        distinct = sorted(groups)
        C = self.K[np.ix_(distinct, distinct)]
        vals, vecs = np.linalg.eigh(C)
        S = vecs * np.sqrt(np.clip(vals, 0.0, None))
        grid = np.array(np.meshgrid(*[self.x] * len(distinct), indexing="ij")).reshape(len(distinct), -1)
        weight = np.prod(np.array(np.meshgrid(*[self.w] * len(distinct), indexing="ij")).reshape(len(distinct), -1),
                         axis=0)
        zs = S @ grid
        integrand = weight.copy()
        for row, sample in enumerate(distinct):
            m, k = groups[sample]
            integrand *= self._function(self.act, m, k)(zs[row])
        return float(np.sum(integrand))

    def _power(self, m: int, values: np.ndarray) -> np.ndarray:
        return self.act.numpy_function()(values) ** m

    def _by_parts(self, groups: dict) -> float:
        distinct = sorted(groups)
        if len(distinct) == 1:
            (m, k), = groups.values()
            Kaa = self.K[distinct[0], distinct[0]]
            u, w = legendre_half_lines()
            he = np.polynomial.hermite_e.hermeval(u, [0.0] * k + [1.0])
            return float(np.sum(w * self._power(m, np.sqrt(Kaa) * u) * he)) / Kaa ** (k / 2)
        if len(distinct) > 2:
            raise RGFlowError("the order-2 reference integrates kinked atoms over at most two samples")
        C = self.K[np.ix_(distinct, distinct)]
        if np.linalg.det(C) <= 1e-12 * C[0, 0] * C[1, 1]:
            raise RGFlowError("the order-2 reference needs linearly independent inputs for a kinked activation")
        zs, weight = split_plane_rule(C)
        (ma, ka), (mb, kb) = groups[distinct[0]], groups[distinct[1]]
        h = hermite_weights(np.linalg.solve(C, zs), np.linalg.inv(C), ka, kb)
        return float(np.sum(weight * self._power(ma, zs[0]) * self._power(mb, zs[1]) * h))


def order2_flow(act, K1, depth: int, C_b: float = 0.0, C_W: float = 1.0, degree: int = 0,
                max_order: int = 2) -> dict[str, np.ndarray]:
    """Layers 1..depth of K, G1, G2 (depth, N_D, N_D), V, V1 (depth, N_D⁴) and U (depth, N_D⁶) for
    the inputs with layer-1 kernel ``K1`` (equal widths, r = 1; layer 1 Gaussian), from the derived
    rules.  Statistics above ``max_order`` are zero.  ``degree``: Gauss–Hermite nodes per sample,
    or 0 (default) for the split Gauss–Legendre rule of :func:`derive.quadrature.legendre_half_lines`
    (320 nodes per sample; needed where σ bends on a scale much below √K, e.g. SWISH at K* = 14)."""
    act = act if isinstance(act, Activation) else activation(act)
    K1 = np.atleast_2d(np.asarray(K1, dtype=float))
    nd = K1.shape[0]
    if K1.shape != (nd, nd) or not np.all(np.isfinite(K1)) or not np.allclose(K1, K1.T) \
            or np.linalg.eigvalsh(K1).min() < -1e-12 * max(1.0, np.abs(K1).max()):
        raise RGFlowError("K1 must be a finite, symmetric, positive semi-definite N_D × N_D kernel")
    if depth < 1 or not (np.isfinite(C_W) and C_W > 0) or not (np.isfinite(C_b) and C_b >= 0):
        raise RGFlowError(f"need depth ≥ 1, C_W > 0 and C_b ≥ 0 (got {depth}, {C_W}, {C_b})")
    names = [n for n, (_, p) in STATISTICS.items() if p <= max_order]
    ranks = {n: 2 * STATISTICS[n][0] for n in STATISTICS}
    state = {n: np.zeros((nd,) * ranks[n]) for n in STATISTICS}
    state["K"] = K1.copy()
    out = {n: np.zeros((depth,) + (nd,) * ranks[n]) for n in STATISTICS}
    for layer in range(depth):
        for n in STATISTICS:
            out[n][layer] = state[n]
        if layer == depth - 1:
            break
        atoms = _Atoms(act, state["K"], degree)
        nxt = {n: np.zeros_like(state[n]) for n in STATISTICS}
        for n in names:
            k = STATISTICS[n][0]
            for idx in itertools.product(range(nd), repeat=2 * k):
                total = 0.0
                for coef, _, tensors, atom_groups in _entry_terms(n, idx):
                    term = coef
                    for t, index in tensors:
                        term *= state[t][index]
                    for atom in atom_groups:
                        term *= atoms.value(atom)
                    total += term
                nxt[n][idx] = C_W**k * total + (C_b if n == "K" else 0.0)
        state = nxt
    return out
