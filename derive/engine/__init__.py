"""The derivation engine (issue #11): layer-to-layer recursions derived from the forward
equations, to a requested order in 1/n.

Steps, each a module: (i) :mod:`~derive.engine.wick` integrates out the weights and biases of
layer ℓ+1, leaving joint cumulants of collective observables of layer ℓ; (ii)
:mod:`~derive.engine.expansion` expands expectations over exchangeable, weakly correlated
neurons in 1/n; (iii) :mod:`~derive.engine.collect` writes the result as update rules over
Gaussian atoms; :mod:`~derive.engine.derived` assembles the recursions of the preactivation
statistics.
"""

from .derived import STATISTICS, DerivedRule, derived_rules, derived_rule
from .ntk import NTK_STATISTICS, ntk_rule
from .ntk_expansion import NTK_TENSORS
from .terms import pairing_generators

__all__ = ["DerivedRule", "derived_rules", "derived_rule", "compiled_rule", "symmetry_generators"]


def compiled_rule(name: str) -> DerivedRule:
    """The derived order-1/n rule of a statistic the compiled flows carry: K, V, G1 (preactivations,
    :func:`derived_rule`) or H, H1, A, B, D, F, P, Q (NTK sector, :func:`~derive.engine.ntk.ntk_rule`)."""
    return ntk_rule(name) if name in NTK_STATISTICS else derived_rule(name)


def symmetry_generators(name: str) -> tuple[tuple[int, ...], ...]:
    """Generators of the index symmetries of the statistic ``name``, from its definition: a cumulant of
    k entries of Ĝ has symmetric, interchangeable pairs; the NTK tensors' groups are in
    :data:`~derive.engine.ntk_expansion.NTK_TENSORS`."""
    if name in NTK_TENSORS:
        return NTK_TENSORS[name][1]
    return pairing_generators(STATISTICS[name][0])
