"""Trained networks (issue #15): the infinite-width ensemble in closed form
(:mod:`rgflow.training.infinite`) and brute-force ensembles of real trained networks
(:mod:`rgflow.training.ensemble`).  The order-1/n prediction (``predict``) needs the ddNTK
statistics and is not built yet (docs/training.md)."""

from .ensemble import TrainedEnsemble, train_ensemble
from .infinite import InfiniteWidthPrediction, infinite_width_prediction

__all__ = ["TrainedEnsemble", "train_ensemble", "InfiniteWidthPrediction", "infinite_width_prediction"]
