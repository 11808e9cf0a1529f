"""Trained networks (issue #15): the order-1/n prediction of gradient-descent-trained MLPs
(:func:`predict`, :mod:`rgflow.training.predict`) — the infinite-width ensemble in closed form
(:mod:`rgflow.training.infinite`), the frozen-NTK part of the 1/n correction
(:mod:`rgflow.training.frozen`) and its dynamical part, the NTK's motion through the dNTK and ddNTK
(:mod:`rgflow.training.dynamics`) — and the brute-force truth it is validated against: ensembles of real
trained networks (:mod:`rgflow.training.ensemble`) compared over widths (:mod:`rgflow.training.validation`)."""

from .dynamics import DynamicalCorrection, dynamical_correction
from .ensemble import TrainedEnsemble, train_ensemble
from .frozen import FrozenEnsemble, FrozenNTKPrediction, frozen_ensemble, frozen_ntk_prediction, inverse_width_fit
from .infinite import InfiniteWidthPrediction, infinite_width_prediction
from .predict import TrainedPrediction, predict
from .validation import TrainingValidation, validate_training

__all__ = ["predict", "TrainedPrediction", "TrainedEnsemble", "train_ensemble", "InfiniteWidthPrediction",
           "infinite_width_prediction", "FrozenNTKPrediction", "frozen_ntk_prediction", "FrozenEnsemble",
           "frozen_ensemble", "inverse_width_fit", "DynamicalCorrection", "dynamical_correction",
           "TrainingValidation", "validate_training"]
