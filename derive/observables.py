"""Observables declared as data: one :class:`Observable` per tensor the recursions carry.

Stage *declarations*: the derivation engine's rules → :data:`DECLARED`, the tuple of observables
in canonical order (each update rule is derived from the forward equations by
:mod:`derive.engine`; the hand-typed formulas are test references, tests/declared_rules.py).  Everything downstream is generic in them: which observables an observable
requires and which Gaussian atoms it reads are read off its update rules
(:func:`requires`, :func:`atoms_read`), the canonical order, the generated module's status
code of a non-finite value, the LaTeX of the recursions and the Monte Carlo estimator a
validation compares with come from the fields below.

Notation (THEORY.md §2, §3, §6): layer ℓ → ℓ+1, ``K = K^{(ℓ)}``, ``r = n_ℓ/n_{ℓ−1}``,
atoms ⟨…⟩ over z ~ N(0, K^{(ℓ)}) written as ``sympy.IndexedBase`` named after the atom
(``ss[a1, a2]`` = ⟨σ_{a1}σ_{a2}⟩), the next layer's tensor as ``<name>_next``.

Examples
--------
>>> [o.name for o in DECLARED]
['K', 'H', 'V', 'G1', 'A', 'B', 'D', 'F', 'H1', 'P', 'Q', 'ddR', 'ddS', 'ddT', 'ddU']
>>> requires(observable("G1"))
('K', 'V')
>>> atoms_read(observable("H"))
('dsds', 'ss')
>>> observable("V").symmetries
((1, 0, 2, 3), (0, 1, 3, 2), (2, 3, 0, 1))
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import sympy as sp

from .notation import atom, gram, next_state, pair_derivative, sample_indices, state, width_ratio
from .symbols import C_W, C_b, lambda_W, lambda_b

__all__ = ["Observable", "Rule", "DECLARED", "ORDER2_NAMES", "order2", "observable", "names", "requires", "atoms_read",
           "closure", "resolve", "check", "pair_derivative", "width_ratio", "sample_indices", "gram", "state",
           "next_state", "atom"]

@dataclass(frozen=True)
class Rule:
    """``<name>_next[indices] = rhs`` on the index pattern ``pattern``: ``"ab"`` (every pair,
    diagonal included), ``"a<b"`` (off-diagonal pairs), ``"aa"`` (the diagonal), ``"abcd"``
    (every quadruple), ``"abcdef"`` (every sextuple)."""

    pattern: str
    indices: tuple
    rhs: sp.Expr


@dataclass(frozen=True)
class Observable:
    """One tensor of the layer-to-layer recursions.

    Attributes
    ----------
    name : str
        Its name in the API (``res.<name>[l]``) and in generated code.
    rank : int
        Number of sample indices.
    symmetries : tuple of permutations
        Generators of the index permutations that leave it invariant.
    initial : sympy.Expr
        Its value at layer 1 in terms of :data:`gram` and the layer-1 parameters.
    rules : tuple of Rule
        The update rules (every index pattern of the tensor is covered once).
    order : int
        The power of 1/n it multiplies in the statistic it belongs to (0: leading order).
    tex : str
        LaTeX symbol; the layer goes in a superscript after ``tex_mark``, the indices in a
        subscript (``G^{\\{1\\}(\\ell)}_{\\alpha_1\\alpha_2}``).
    index_groups : tuple of int
        How the subscript groups the indices in LaTeX (``(2, 2)``: V_{(α1α2)(α3α4)}).
    estimator : str
        Name of the Monte Carlo statistic it is compared with (``rgflow validate``).
    description : str
        One line for reports.
    """

    name: str
    rank: int
    symmetries: tuple[tuple[int, ...], ...]
    initial: sp.Expr
    rules: tuple[Rule, ...]
    order: int
    tex: str
    tex_mark: str
    index_groups: tuple[int, ...]
    estimator: str
    description: str

    def canonical_text(self) -> str:
        """Everything that determines generated code, as stable text (part of flow signatures)."""
        rules = ";".join(f"{r.pattern}:{sp.srepr(r.rhs)}" for r in self.rules)
        return (f"{self.name}|{self.rank}|{self.symmetries}|{sp.srepr(self.initial)}|{self.order}|"
                f"{rules}")


def _declarations() -> tuple[Observable, ...]:
    """Every observable with the update rule and index symmetries the derivation engine derives from
    the forward equations (:func:`derive.engine.compiled_rule`, :func:`derive.engine.symmetry_generators`):
    one rule per observable over every index entry, coincident samples included (the share
    convention of :mod:`derive.engine.collect`).  What is set here is what is not physics: the
    initial condition's form, LaTeX, the Monte Carlo estimator and the description.  The hand-typed
    forms of THEORY.md / THEORY-NTK.md are test references (tests/declared_rules.py)."""
    a1, a2 = sample_indices[:2]
    return (
        _declare("K", C_b + C_W * gram[a1, a2], 0, "K", "", (2,), "metric", "kernel (the metric at infinite width)"),
        _declare("H", lambda_b + lambda_W * gram[a1, a2], 0, "H", "", (2,), "ntk", "NTK mean at leading order"),
        _declare("V", sp.S.Zero, 1, "V", "", (2, 2), "vertex", "four-point vertex (connected four-point function x n)"),
        _declare("G1", sp.S.Zero, 1, "G", r"\{1\}", (2,), "metric", "1/n correction of the metric"),
        _declare("A", sp.S.Zero, 1, "A", "", (2, 2), "A", "NTK variance, same-neuron-pair part (x n)"),
        _declare("B", sp.S.Zero, 1, "B", "", (4,), "B", "NTK variance, crossed part B[a1,a3,a2,a4] (x n)"),
        _declare("D", sp.S.Zero, 1, "D", "", (2, 2), "D", "NTK-preactivation cross-correlation, same-neuron-pair part (x n)"),
        _declare("F", sp.S.Zero, 1, "F", "", (4,), "F", "NTK-preactivation cross-correlation, crossed part F[a1,a3,a2,a4] (x n)"),
        _declare("H1", sp.S.Zero, 1, "H", r"\{1\}", (2,), "ntk", "1/n correction of the NTK mean"),
        _declare("P", sp.S.Zero, 1, "P", "", (4,), "P", "dNTK-preactivation correlation P[a0,a1,a2,a3] (x n)"),
        _declare("Q", sp.S.Zero, 1, "Q", "", (4,), "Q", "dNTK-preactivation correlation Q[a0,a1,a2,a3] (x n)"),
        _declare("ddR", sp.S.Zero, 1, "R", "", (4,), "ddR", "ddNTK mean, third-derivative part R[a0,a1,a2,a3] (x n)"),
        _declare("ddS", sp.S.Zero, 1, "S", "", (4,), "ddS", "ddNTK mean, Hessian-product part S[a0,a1,a2,a3] (x n)"),
        _declare("ddT", sp.S.Zero, 1, "T", "", (4,), "ddT", "ddNTK mean, Hessian-product part T[a0,a1,a2,a3] (x n)"),
        _declare("ddU", sp.S.Zero, 1, "U", "", (4,), "ddU", "ddNTK mean, Hessian-product part U[a0,a1,a2,a3] (x n)"),
    )


def _declare(name, initial, order, tex, mark, groups, estimator, description) -> Observable:
    """One observable whose rule and symmetries the engine derives (:func:`_declarations`)."""
    from .engine import compiled_rule, symmetry_generators
    derived = compiled_rule(name)
    rank = len(derived.indices)
    rule = Rule(_FULL_PATTERN[rank], tuple(derived.indices), derived.rhs)
    return Observable(name, rank, symmetry_generators(name), initial, (rule,), order, tex, mark, groups,
                      estimator, description)


#: The index pattern of a rule over every entry of a tensor of each rank.
_FULL_PATTERN = {2: "ab", 4: "abcd", 6: "abcdef"}


@functools.lru_cache(maxsize=None)
def order2() -> tuple[Observable, ...]:
    """The order-1/n² preactivation statistics (issue #11, docs/derivation.md): the NNLO metric G2
    (E[zz] = K + G1/n + G2/n²), the 1/n correction V1 of the four-point vertex (connected four-point
    = V/n + V1/n²) and the six-point vertex U (connected six-point = (1/n²) Σ_{15 pairings} δδδ U),
    each derived by the engine (:func:`derive.engine.derived_rule`).  They are asked for with
    ``flow(act, ..., order=2)``; every other observable stays at order 1/n."""
    return (
        _declare("G2", sp.S.Zero, 2, "G", r"\{2\}", (2,), "metric", "1/n^2 correction of the metric"),
        _declare("V1", sp.S.Zero, 2, "V", r"\{1\}", (2, 2), "vertex",
                 "1/n correction of the four-point vertex (connected four-point x n^2, order 1/n^2)"),
        _declare("U", sp.S.Zero, 2, "U", "", (2, 2, 2), "six-point",
                 "six-point vertex U[a1..a6] = U_(a1a2)(a3a4)(a5a6) (connected six-point x n^2)"),
    )


#: The declared observables in canonical order.
DECLARED: tuple[Observable, ...] = _declarations()
_BY_NAME = {o.name: o for o in DECLARED}
#: Names of the order-1/n² statistics (:func:`order2`, built on first use: their derivation is the
#: engine's largest).
ORDER2_NAMES = ("G2", "V1", "U")


def names() -> tuple[str, ...]:
    """Names of the declared observables in canonical order."""
    return tuple(_BY_NAME)


def observable(name: str) -> Observable:
    """The declaration called ``name`` (KeyError naming the known ones otherwise)."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"no observable {name!r}; declared: {', '.join(_BY_NAME)}") from None


def _bases(o: Observable) -> set[str]:
    return {str(x.base.label) for rule in o.rules for x in rule.rhs.atoms(sp.Indexed)}


def requires(o: Observable, declarations: tuple[Observable, ...] = DECLARED) -> tuple[str, ...]:
    """The other observables whose layer-ℓ tensors its rules read, in the order of
    ``declarations``; K is always required (every atom is an expectation over N(0, K))."""
    read = _bases(o) | {"K"}
    return tuple(d.name for d in declarations if d.name in read and d.name != o.name)


def atoms_read(o: Observable, declarations: tuple[Observable, ...] = DECLARED) -> tuple[str, ...]:
    """The Gaussian atoms its rules read (sorted names)."""
    return tuple(sorted(_bases(o) - {d.name for d in declarations}))


def closure(requested, declarations: tuple[Observable, ...] = DECLARED) -> tuple[str, ...]:
    """The requested observables and everything they require, in the order of ``declarations``."""
    by_name = {d.name: d for d in declarations}
    needed, stack = set(), list(requested)
    while stack:
        q = stack.pop()
        if q not in needed:
            needed.add(q)
            stack.extend(requires(by_name[q], declarations))
    return tuple(d.name for d in declarations if d.name in needed)


def resolve(requested, order: int = 1) -> tuple[tuple[str, ...], tuple[Observable, ...]]:
    """Requested observables — declared names, or :class:`Observable` values declared
    elsewhere (a test, a user's extension) — as (names, declarations): the declarations are
    :data:`DECLARED` (and with ``order=2`` the order-1/n² statistics :func:`order2`) followed by
    the new ones, in the order given.

    A new observable is one value: nothing in the pipeline (graph, lowering, rendering,
    results) needs to know it.

    Raises
    ------
    KeyError
        For an unknown name (the caller turns it into its own error).
    ValueError
        For a new observable whose name is already declared differently.
    """
    base = DECLARED + (order2() if order == 2 else ())
    by_base = {d.name: d for d in base}
    extra, names = [], []
    for item in requested:
        if isinstance(item, Observable):
            known = by_base.get(item.name) or next((e for e in extra if e.name == item.name), None)
            if known is not None and known != item:
                raise ValueError(f"observable {item.name!r} is already declared differently")
            if known is None:
                extra.append(item)
            names.append(item.name)
        else:
            names.append(str(item))
    declarations = base + tuple(extra)
    by_name = {d.name: d for d in declarations}
    unknown = sorted(set(names) - set(by_name))
    if unknown:
        raise KeyError(", ".join(unknown))
    for d in extra:
        for name in requires(d, declarations):
            if name not in by_name:
                raise KeyError(name)
    position = [d.name for d in declarations]
    return tuple(sorted(set(names), key=position.index)), declarations


def check(o: Observable) -> None:
    """ValueError unless ``o`` is a well-formed declaration: its rules cover each entry once
    (``ab``; or ``aa`` and ``a<b``; or ``abcd``), use as many indices as its rank, and its
    symmetries are permutations of the indices, and its initial condition is one the evaluator
    can set (a number, or entry-wise in ``gram[a1, a2]``)."""
    patterns = sorted(rule.pattern for rule in o.rules)
    allowed = {2: (["ab"], ["a<b", "aa"]), 4: (["abcd"],), 6: (["abcdef"],)}
    if o.rank not in allowed or patterns not in [sorted(p) for p in allowed[o.rank]]:
        raise ValueError(f"observable {o.name!r}: rank {o.rank} with rule patterns {patterns} is not supported")
    for perm in o.symmetries:
        if sorted(perm) != list(range(o.rank)):
            raise ValueError(f"observable {o.name!r}: symmetry {perm} is not a permutation of {o.rank} indices")
    a1, a2 = sample_indices[:2]
    entries = o.initial.atoms(sp.Indexed)
    if any(x.base != gram or x.indices != (a1, a2) for x in entries) or (entries and o.rank != 2):
        raise ValueError(f"observable {o.name!r}: the initial condition must be a number, or for rank 2 "
                         "entry-wise in gram[a1, a2] and the layer-1 parameters")
    if not o.name.isidentifier() or not o.name.isascii() or o.name.startswith("_"):
        raise ValueError(f"observable name {o.name!r} must be a plain ASCII identifier")
