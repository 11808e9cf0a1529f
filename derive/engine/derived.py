"""The preactivation statistics of the next layer, derived (issue #11, step iv).

The statistics are the cumulants of the collective metric Ĝ (:mod:`derive.engine.wick`):
a cumulant of k entries of Ĝ at order (1/n)^p is the layer-(ℓ+1) tensor
``CUMULANTS[(k, p)]`` — the same table that names the layer-ℓ vertices the expansion reads
(:data:`derive.engine.expansion.CUMULANTS`), so the system closes order by order:

    K' + G1'/n + G2'/n² = C_b + C_W E[σ_{α1}σ_{α2}],
    V'/n + V1'/n²       = C_W² κ(σ_{α1}σ_{α2}, σ_{α3}σ_{α4})   (over n neurons, averaged),
    U'/n²               = C_W³ κ(σ_{α1}σ_{α2}, σ_{α3}σ_{α4}, σ_{α5}σ_{α6}).

Examples
--------
>>> rule = derived_rule("G1")
>>> rule.indices
(a1, a2)
>>> sorted({x.base.label.name for x in rule.rhs.atoms(sp.Indexed)})
['G1', 'V', 'p11_ss', 'p20_ss', 'p22_ss', 'p31_ss', 'p40_ss']
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import sympy as sp

from ..symbols import C_W, C_b
from .collect import orders, to_expr
from .expansion import CUMULANTS
from .store import cached
from .wick import ClusterError, metric_cumulant

__all__ = ["DerivedRule", "STATISTICS", "derived_rule", "derived_rules", "series_of", "SAMPLES"]

#: Sample indices of the derived rules (a1..a6; a1..a4 are :data:`derive.observables.sample_indices`).
SAMPLES = sp.symbols("a1:7", integer=True, nonnegative=True)

#: Every statistic the preactivation sector derives: name → (entries of Ĝ, power of 1/n).
STATISTICS = {"K": (1, 0), **{name: key for key, name in CUMULANTS.items()}}


@dataclass(frozen=True)
class DerivedRule:
    """``<name>_next[indices] = rhs`` for every entry (coincident samples included)."""

    name: str
    indices: tuple
    rhs: sp.Expr
    order: int


def _observables(k: int) -> tuple:
    return tuple(((("s", SAMPLES[2 * t]), ("s", SAMPLES[2 * t + 1]))) for t in range(k))


@functools.lru_cache(maxsize=None)
def series_of(name: str) -> dict:
    """The derivation of the statistic ``name``: C_W^{-k} × the cumulant of k metric entries as a
    series in 1/n (:func:`derive.engine.wick.metric_cumulant`), through the disk cache
    (:mod:`derive.engine.store`)."""
    k, p = STATISTICS[name]
    return cached(f"metric_cumulant|{k}|{p}", lambda: metric_cumulant(_observables(k), p))


@functools.lru_cache(maxsize=None)
def derived_rule(name: str) -> DerivedRule:
    """The derived update rule of the statistic ``name`` (one of :data:`STATISTICS`)."""
    if name not in STATISTICS:
        raise KeyError(f"no derived statistic {name!r}; known: {', '.join(STATISTICS)}")
    k, p = STATISTICS[name]
    series = series_of(name)
    below = [q for q in orders(series) if q < k - 1]
    if below:
        raise ClusterError(f"the cumulant of {k} metric entries has terms at order(s) {below}")
    rhs = C_W**k * to_expr(series, p)
    if name == "K":
        rhs = C_b + rhs
    return DerivedRule(name, SAMPLES[:2 * k], rhs, p)


def derived_rules(max_order: int = 1) -> tuple[DerivedRule, ...]:
    """Every derived statistic up to (1/n)^max_order, in the order of :data:`STATISTICS`."""
    return tuple(derived_rule(name) for name, (_, p) in STATISTICS.items() if p <= max_order)
