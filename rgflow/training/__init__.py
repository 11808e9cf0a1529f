"""Trained networks (issue #15): the infinite-width ensemble in closed form
(:mod:`rgflow.training.infinite`) and brute-force ensembles of real trained networks
(:mod:`rgflow.training.ensemble`), and the frozen-NTK part of the order-1/n mean
(:mod:`rgflow.training.frozen`).  The whole order-1/n prediction (``predict``) needs the ddNTK
statistics and is not built yet (docs/training.md)."""

from .ensemble import TrainedEnsemble, train_ensemble
from .frozen import FrozenNTKMean, frozen_ensemble_mean, frozen_ntk_mean, inverse_width_fit
from .infinite import InfiniteWidthPrediction, infinite_width_prediction

__all__ = ["TrainedEnsemble", "train_ensemble", "InfiniteWidthPrediction", "infinite_width_prediction",
           "FrozenNTKMean", "frozen_ntk_mean", "frozen_ensemble_mean", "inverse_width_fit"]
