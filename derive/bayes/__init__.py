"""Finite-width Bayesian networks in the proportional limit (Ariosto et al. 2022): the
symbolic side.

The effective action and its saddle-point equations, derived in sympy
(:mod:`~derive.bayes.action`), and the errors of the Bayesian theory
(:mod:`~derive.bayes.errors`).  The numerics — saddle-point solver and predictor,
Li–Sompolinsky closed form, scale mixture, Langevin sampling, datasets and the
``rgflow bayes`` command — live in :mod:`rgflow.bayes`, which re-exports these names.
"""

from .. import lazy as _lazy
from .errors import BayesInputError, NoSaddlePointError

__all__ = ["BayesInputError", "EffectiveAction", "NoSaddlePointError", "deep_action", "general_action",
           "li_sompolinsky", "mean_corrected_action"]

# sympy is imported on first use of a symbolic name, not by ``import derive.bayes``.
_lazy.install(__name__, {name: ".action" for name in ("EffectiveAction", "deep_action", "general_action",
                                                      "li_sompolinsky", "mean_corrected_action")})
