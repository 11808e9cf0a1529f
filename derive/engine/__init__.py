"""The derivation engine (issue #11): layer-to-layer recursions derived from the forward
equations, to a requested order in 1/n.

Steps, each a module: (i) :mod:`~derive.engine.wick` integrates out the weights and biases of
layer ℓ+1, leaving joint cumulants of collective observables of layer ℓ; (ii)
:mod:`~derive.engine.expansion` expands expectations over exchangeable, weakly correlated
neurons in 1/n; (iii) :mod:`~derive.engine.collect` writes the result as update rules over
Gaussian atoms; :mod:`~derive.engine.derived` assembles the recursions of the preactivation
statistics.
"""

from .derived import DerivedRule, derived_rules, derived_rule

__all__ = ["DerivedRule", "derived_rules", "derived_rule"]
