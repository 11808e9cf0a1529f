"""Finite-width Bayesian networks in the proportional limit (Ariosto et al. 2022).

Kernel renormalisation (docs/bayes.md): the effective action, derived in sympy
(:mod:`~derive.bayes.action`), its numerical saddle point and predictor
(:mod:`~derive.bayes.saddle`), the deep-linear Li–Sompolinsky closed form
(:mod:`~derive.bayes.linear`), the exact finite-width scale mixture of one-hidden-
layer linear networks (:mod:`~derive.bayes.mixture`), MALA sampling of real
finite-width networks (:mod:`~derive.bayes.langevin`) and a noisy-linear-teacher
dataset (:mod:`~derive.bayes.data`).
"""

from .. import lazy as _lazy
from .errors import BayesInputError, NoSaddlePointError

__all__ = ["Architecture", "BayesInputError", "Dataset", "LangevinResult", "MixturePosterior",
           "NoSaddlePointError", "Prediction", "SaddlePoint", "criterion", "deep_linear_zero_temperature",
           "li_sompolinsky_root", "linear_teacher", "mixture_posterior", "nngp_kernel", "predict",
           "sample_posterior", "solve_saddle"]

_lazy.install(__name__, {
    "Architecture": ".architecture", "Dataset": ".data", "linear_teacher": ".data",
    "LangevinResult": ".langevin", "sample_posterior": ".langevin",
    "deep_linear_zero_temperature": ".linear", "li_sompolinsky_root": ".linear",
    "MixturePosterior": ".mixture", "mixture_posterior": ".mixture",
    **{name: ".saddle" for name in ("Prediction", "SaddlePoint", "criterion", "nngp_kernel", "predict",
                                    "solve_saddle")}})
