"""Finite-width Bayesian networks in the proportional limit (Ariosto et al. 2022): the
numerics.

Kernel renormalisation (docs/bayes.md): the numerical saddle point of the effective
action and its predictor (:mod:`~rgflow.bayes.saddle`), the deep-linear Li–Sompolinsky
closed form (:mod:`~rgflow.bayes.linear`), the exact finite-width scale mixture of
one-hidden-layer linear networks (:mod:`~rgflow.bayes.mixture`), MALA sampling of real
finite-width networks (:mod:`~rgflow.bayes.langevin`), a noisy-linear-teacher dataset
(:mod:`~rgflow.bayes.data`) and the ``rgflow bayes`` command (:mod:`~rgflow.bayes.cli`).
The action itself is derived in sympy by :mod:`derive.bayes.action`; its names and the
errors are re-exported here.
"""

from derive import lazy as _lazy
from derive.bayes.errors import BayesInputError, NoSaddlePointError

__all__ = ["Architecture", "BayesInputError", "Dataset", "EffectiveAction", "LangevinResult", "MixturePosterior",
           "NoSaddlePointError", "Prediction", "SaddlePoint", "criterion", "deep_action",
           "deep_linear_zero_temperature", "general_action", "li_sompolinsky", "li_sompolinsky_root",
           "linear_teacher", "mean_corrected_action", "mixture_posterior", "nngp_kernel", "predict",
           "sample_posterior", "solve_saddle"]

_lazy.install(__name__, {
    "Architecture": ".architecture", "Dataset": ".data", "linear_teacher": ".data",
    "LangevinResult": ".langevin", "sample_posterior": ".langevin",
    "deep_linear_zero_temperature": ".linear", "li_sompolinsky_root": ".linear",
    "MixturePosterior": ".mixture", "mixture_posterior": ".mixture",
    **{name: ".saddle" for name in ("Prediction", "SaddlePoint", "criterion", "nngp_kernel", "predict",
                                    "solve_saddle")},
    **{name: "derive.bayes.action" for name in ("EffectiveAction", "deep_action", "general_action",
                                                "li_sompolinsky", "mean_corrected_action")}})
