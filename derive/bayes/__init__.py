"""Finite-width Bayesian networks in the proportional limit (Ariosto et al. 2022).

Kernel renormalisation: the effective action of docs/bayes.md (symbolic,
:mod:`~derive.bayes.action`), its numerical saddle point and predictor
(:mod:`~derive.bayes.saddle`), the deep-linear Li–Sompolinsky closed form
(:mod:`~derive.bayes.linear`), the exact finite-width scale mixture of one-hidden-
layer linear networks (:mod:`~derive.bayes.mixture`) and Langevin (MALA) sampling
of real finite-width networks (:mod:`~derive.bayes.langevin`).
"""

from .architecture import Architecture
from .errors import BayesInputError, NoSaddlePointError
from .saddle import Prediction, SaddlePoint, criterion, nngp_kernel, predict, solve_saddle

__all__ = ["Architecture", "BayesInputError", "NoSaddlePointError", "Prediction", "SaddlePoint",
           "criterion", "nngp_kernel", "predict", "solve_saddle"]
