"""Trained networks (issue #15): the infinite-width ensemble in closed form
(:mod:`rgflow.training.infinite`) and brute-force ensembles of real trained networks
(:mod:`rgflow.training.ensemble`), the frozen-NTK part of the order-1/n prediction
(:mod:`rgflow.training.frozen`) and the comparison over widths (:mod:`rgflow.training.validation`).
The whole order-1/n prediction (``predict``) needs the ddNTK statistics and is not built yet
(docs/training.md)."""

from .ensemble import TrainedEnsemble, train_ensemble
from .frozen import FrozenEnsemble, FrozenNTKPrediction, frozen_ensemble, frozen_ntk_prediction, inverse_width_fit
from .infinite import InfiniteWidthPrediction, infinite_width_prediction
from .validation import TrainingValidation, validate_training

__all__ = ["TrainedEnsemble", "train_ensemble", "InfiniteWidthPrediction", "infinite_width_prediction",
           "FrozenNTKPrediction", "frozen_ntk_prediction", "FrozenEnsemble", "frozen_ensemble", "inverse_width_fit",
           "TrainingValidation", "validate_training"]
