"""The public flow object: recursions + dependency graph + exports.

Stage *flow* (driver of the derive side): activation + observables →
:class:`Flow`, which holds the :class:`~derive.recursions.Recursion`, its
dependency graph (``networkx.DiGraph``, frozen), a deterministic schedule, a
LaTeX export and a stable signature for :mod:`codegen`.

Examples
--------
>>> from derive import activation
>>> f = flow(activation("relu"), observables=("K", "H"))
>>> f.quantities
('K', 'H')
>>> "V'" in f.graph
False
>>> print(f.to_latex().splitlines()[1])
K^{(\\ell+1)}_{\\alpha_{1}\\alpha_{2}} &= C_{W} \\langle \\sigma_{\\alpha_{1}} \\sigma_{\\alpha_{2}} \\rangle_{K^{(\\ell)}} + C_{b} \\\\
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from typing import TYPE_CHECKING

import sympy as sp

from . import observables as _declared
from .activations import Activation, activation
from .graph import build_graph, frozen, schedule, write_graphml
from .hashing import signature_of
from .recursions import (DEFAULT_OBSERVABLES, OBSERVABLES, ORDER2_OBSERVABLES, Recursion, build_recursion,
                         resolve_observables, sample_indices, width_ratio)
from .symbols import C_W, C_b, kernel_matrix, lambda_W, lambda_b

if TYPE_CHECKING:
    import networkx as nx

__all__ = ["Flow", "flow", "FLOW_FORMAT"]

#: Bumped whenever the meaning of a Flow's content changes (part of its signature).
FLOW_FORMAT = 2


@dataclass(frozen=True)
class Flow:
    """Finite-width recursions of one activation for N_D inputs (immutable).

    Attributes
    ----------
    recursion : Recursion
        Atoms (closed forms or quadrature markers) and entry-wise update rules.
    graph : networkx.DiGraph
        Frozen dependency graph (parameters, states, expectation atoms, updates).
    """

    recursion: Recursion
    graph: nx.DiGraph = field(compare=False, repr=False)

    @property
    def activation(self) -> Activation:
        return self.recursion.activation

    @property
    def observables(self) -> tuple[str, ...]:
        return self.recursion.observables

    @property
    def quantities(self) -> tuple[str, ...]:
        return self.recursion.quantities

    def schedule(self) -> tuple[str, ...]:
        """Deterministic evaluation order of the graph nodes."""
        return schedule(self.graph)

    def signature(self) -> str:
        """Stable sha256 of everything that determines generated code."""
        return _signature(self.recursion)

    def canonical_text(self) -> str:
        return f"flow-format:{FLOW_FORMAT}\n" + self.recursion.canonical_text()

    def to_latex(self) -> str:
        """The recursions and the expectation atoms as a LaTeX ``align*`` block."""
        return recursion_latex(self.recursion)

    def write_graphml(self, path) -> None:
        """Export :attr:`graph` as GraphML."""
        write_graphml(self.graph, path)

    def __repr__(self) -> str:
        return (f"Flow(activation={self.activation.name!r}, observables={self.observables}, "
                f"atoms={[a.name for a in self.recursion.atoms]})")


@functools.lru_cache(maxsize=64)
def _signature(rec: Recursion) -> str:
    return signature_of(f"flow-format:{FLOW_FORMAT}\n" + rec.canonical_text())


@functools.lru_cache(maxsize=64)
def _flow(act: Activation, observables: tuple[str, ...], declarations) -> Flow:
    order = 2 if any(d.order >= 2 for d in declarations) else 1
    rec = build_recursion(act, observables if declarations == _declared.DECLARED
                          else [d for d in declarations if d.name in observables], order)
    return Flow(rec, frozen(build_graph(rec)))


def flow(act, observables=None, order: int = 1) -> Flow:
    """Build the N_D-input recursions of ``act`` for ``observables``, to order (1/n)^``order``.

    Parameters
    ----------
    act : Activation or str
        Activation (all parameters bound) or a name/expression for :func:`derive.activation`.
    observables : iterable of str or Observable, or str
        Names among K, H, V, G1, A, B, D, F, H1, P, Q, ddR, ddS, ddT, ddU (:data:`derive.observables.DECLARED`;
        default K, H, V, G1), and/or new :class:`~derive.observables.Observable`
        declarations; what they need is added (V needs K, G1 needs V, H1 needs G1, D, F).
        Default: K, H, V, G1 at order 1; K, V, G1, G2, V1, U at order 2.
    order : 1 or 2
        2 adds the order-1/n² preactivation statistics derived by the engine
        (:func:`derive.observables.order2`): ``G2`` (E[zz] = K + G1/n + G2/n²), ``V1``
        (connected four-point = V/n + V1/n²) and the six-point vertex ``U``; they are compiled
        by :mod:`codegen.order2` (``codegen.compile(f)``; docs/derivation.md).

    Returns
    -------
    Flow
    """
    act = act if isinstance(act, Activation) else activation(act)
    if observables is None:
        observables = DEFAULT_OBSERVABLES if order == 1 else ORDER2_OBSERVABLES
    return _flow(act, *resolve_observables(observables, order))


# ---------------------------------------------------------------------------------
# LaTeX
# ---------------------------------------------------------------------------------

_INDEX_TEX = {s: rf"\alpha_{{{i + 1}}}" for i, s in enumerate(sample_indices)}


def _indexed_tex(name: str, indices, layer: str, declarations: dict) -> str:
    """LaTeX of a state tensor (from its declaration in ``declarations``) or of an atom, at
    ``layer``."""
    idx = [_INDEX_TEX.get(i, sp.latex(i)) for i in indices]
    if name in declarations:
        o = declarations[name]
        head = f"{o.tex}^{{{o.tex_mark}({layer})}}"
        if len(o.index_groups) == 1:
            return head + "_{" + "".join(idx) + "}"
        groups, start = [], 0
        for size in o.index_groups:
            groups.append("(" + "".join(idx[start:start + size]) + ")")
            start += size
        return head + "_{" + "".join(groups) + "}"
    return _ATOM_TEX[name](idx) if name in _ATOM_TEX else _composed_tex(name, idx)


def _prime(k):
    return {0: "", 1: "'", 2: "''", 3: "'''", 4: "^{(4)}"}[k]


def _pair(i, j):
    return lambda idx: rf"\langle \sigma{_prime(i)}_{{{idx[0]}}} \sigma{_prime(j)}_{{{idx[1]}}} \rangle_{{K^{{(\ell)}}}}"


_ATOM_TEX = {
    "ss": _pair(0, 0), "dsds": _pair(1, 1), "d2ss": _pair(2, 0), "d4ss": _pair(4, 0),
    "d3sds": _pair(3, 1), "d2sd2s": _pair(2, 2),
    "s2d2": lambda idx: rf"\langle (\sigma^2)''_{{{idx[0]}}} \rangle_{{K^{{(\ell)}}}}",
    "s2d4": lambda idx: rf"\langle (\sigma^2)^{{(4)}}_{{{idx[0]}}} \rangle_{{K^{{(\ell)}}}}",
    "ssss": lambda idx: (r"\langle " + " ".join(rf"\sigma_{{{i}}}" for i in idx)
                         + r" \rangle_{K^{(\ell)}}"),
}
_SLOT_TEX = {"s": r"\sigma", "d": r"\sigma'", "c": r"\sigma''", "t": r"\sigma'''"}


def _composed_tex(name: str, idx) -> str:
    """LaTeX of a composed atom entry (:data:`derive.recursions.SLOTS` naming): ``q_ddss`` →
    ⟨σ'σ'σσ⟩, ``e_cs`` → ⟨σ''σ⟩, ``p21_dd`` → ⟨∂²∂(σ'σ')⟩ (share on coincident samples)."""
    avg = r"\rangle_{K^{(\ell)}}"
    if name.startswith("g"):      # engine atom g<k1..km>_s..s: Stein derivatives on slots
        ks = [int(c) for c in name[1:name.index("_")]]
        return (r"\langle " + " ".join(rf"\sigma^{{({k})}}_{{{i}}}" if k else rf"\sigma_{{{i}}}" for k, i in zip(ks, idx))
                + " " + avg)
    if name.startswith("q_") or name.startswith("e_"):
        return r"\langle " + " ".join(f"{_SLOT_TEX[c]}_{{{i}}}" for c, i in zip(name[2:], idx)) + " " + avg
    ka, kb, f, g = int(name[1]), int(name[2]), name[4], name[5]
    ops = "".join(rf"\partial_{{{i}}}{'' if k == 1 else f'^{{{k}}}'}" for i, k in zip(idx, (ka, kb)) if k)
    return rf"\langle {ops}\big({_SLOT_TEX[f]}_{{{idx[0]}}} {_SLOT_TEX[g]}_{{{idx[1]}}}\big) " + avg


_PARAM_TEX = {C_b: "C_{b}", C_W: "C_{W}", lambda_b: r"\lambda_{b}", lambda_W: r"\lambda_{W}",
              width_ratio: r"\frac{n_{\ell}}{n_{\ell-1}}"}


def _latex(expr, declarations: dict, layer="\\ell") -> str:
    names = dict(_PARAM_TEX)
    replacements = {}
    for i, ind in enumerate(sorted(expr.atoms(sp.Indexed), key=sp.default_sort_key)):
        sym = sp.Symbol(f"_idx{i}")
        replacements[ind] = sym
        names[sym] = _indexed_tex(str(ind.base.label), ind.indices, layer, declarations)
    return sp.latex(expr.xreplace(replacements), symbol_names=names, mul_symbol=None)


_PATTERN_TEX = {"a": r"a = b", "ab": r"a \neq b"}


def recursion_latex(rec: Recursion) -> str:
    """LaTeX of the update rules of ``rec`` and of its expectation atoms."""
    lines = [r"\begin{align*}"]
    declarations = {d.name: d for d in rec.declarations}
    for u in rec.updates:
        lhs = _indexed_tex(u.quantity, u.lhs.indices, r"\ell+1", declarations)
        cond = {"a<b": r" \quad (\alpha_{1} \neq \alpha_{2})", "aa": ""}.get(u.pattern, "")
        lines.append(f"{lhs} &= {_latex(u.rhs, declarations)}{cond} \\\\")
    for atom in rec.atoms:
        if not any(p.is_closed for p in atom.patterns):
            lines.append(f"{atom.latex} &= \\text{{Gaussian quadrature}} \\\\")
            continue
        for p in atom.patterns:
            size = p.size
            K = kernel_matrix(size)
            letters = "abcdef"
            names = {K[i, j]: f"K_{{{letters[i]}{letters[j]}}}" for i in range(size) for j in range(i, size)}
            head = atom.latex if atom.rank != 4 else atom.latex
            where = _PATTERN_TEX.get(p.key, r"\text{" + p.key + "}")
            value = (sp.latex(p.closed, symbol_names=names, mul_symbol=None) if p.is_closed
                     else r"\text{Gaussian quadrature}")
            lines.append(f"{head}\\big|_{{{where}}} &= {value} \\\\")
    lines[-1] = lines[-1].removesuffix(r" \\")
    lines.append(r"\end{align*}")
    return "\n".join(lines) + "\n"
