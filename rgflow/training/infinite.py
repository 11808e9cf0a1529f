"""The infinite-width ensemble of networks trained by gradient descent on the MSE loss.

Stage *training, infinite width* (PDLT §10.2; issue #15): at infinite width the network is linear in
its parameters during training, so with the NTK Θ (= H^{(L)}, the frozen mean NTK) and the
initial function f_0 ~ GP(0, K^{(L)}), full-batch gradient descent on ½Σ_A (f(x_A) − y_A)² with the
learning-rate tensor η λ gives after t steps

    f_t(x) = f_0(x) + A_t(x)(y − f_0(D)),   A_t(x) = Θ_{xD} Θ_{DD}⁻¹ (I − (I − ηΘ_{DD})^t)

(t = None: trained to convergence, (I − ηΘ)^t → 0 when 0 < η < 2/λ_max(Θ_DD)).  Hence the ensemble

    mean        m_t(x)     = A_t(x) y,
    covariance  Σ_t(x, x') = K_{xx'} − A_t(x) K_{Dx'} − K_{xD} A_t(x')ᵀ + A_t(x) K_{DD} A_t(x')ᵀ,

the NTK-parameterisation result of neural-tangents' ``gradient_descent_mse_ensemble`` (which writes
gradient flow, e^{−ηΘt}; the two agree at convergence).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from derive.errors import RGFlowError

__all__ = ["InfiniteWidthPrediction", "infinite_width_prediction", "check_training", "training_map"]


@dataclass(frozen=True)
class InfiniteWidthPrediction:
    """Mean (N_test,) and covariance (N_test, N_test) of the infinite-width trained ensemble."""

    mean: np.ndarray
    covariance: np.ndarray
    steps: int | None
    eta: float


def check_training(H_DD: np.ndarray, eta: float, steps: int | None) -> None:
    """RGFlowError unless gradient descent with the training NTK ``H_DD`` converges: H_DD non-singular,
    0 < η < 2/λ_max, ``steps`` None or non-negative (shared by every order-1/n formula)."""
    lam = np.linalg.eigvalsh(H_DD)
    if lam.min() <= 1e-12 * lam.max():
        raise RGFlowError("the NTK of the training inputs is singular (repeated or degenerate inputs)")
    if not (0 < eta < 2 / lam.max()):
        raise RGFlowError(f"the learning rate η = {eta} must lie in (0, 2/λ_max) = (0, {2 / lam.max():.6g}) "
                          "for gradient descent to converge")
    if steps is not None and steps < 0:
        raise RGFlowError(f"steps must be non-negative, got {steps}")


def training_map(H: np.ndarray, n_train: int, eta: float, steps: int | None) -> np.ndarray:
    """A_t = H_TD H_DD⁻¹ (I − (I − ηH_DD)^t) (N_test, N_train), t = steps (None: ∞): the trained function
    of the linear dynamics is f_t(T) = f_0(T) + A_t (y − f_0(D))."""
    H_DD = H[:n_train, :n_train]
    residual = (np.zeros_like(H_DD) if steps is None
                else np.linalg.matrix_power(np.eye(n_train) - eta * H_DD, int(steps)))
    return H[n_train:, :n_train] @ np.linalg.solve(H_DD, np.eye(n_train) - residual)


def infinite_width_prediction(K, H, y_train, n_train: int, eta: float, steps: int | None = None) -> InfiniteWidthPrediction:
    """The formulas above from the last layer's kernel ``K`` and NTK ``H`` over the samples
    (training samples first: indices 0..n_train−1, then the test samples).

    Raises RGFlowError for a singular training NTK or a learning rate outside (0, 2/λ_max)."""
    K, H = np.asarray(K, dtype=float), np.asarray(H, dtype=float)
    y = np.asarray(y_train, dtype=float).reshape(-1)
    D, T = slice(0, n_train), slice(n_train, K.shape[0])
    if y.shape != (n_train,) or K.shape != H.shape or K.shape[0] <= n_train:
        raise RGFlowError("need y_train of length N_train and kernels over the training then the test samples")
    check_training(H[D, D], eta, steps)
    A = training_map(H, n_train, eta, steps)
    mean = A @ y
    cov = K[T, T] - A @ K[D, T] - K[T, D] @ A.T + A @ K[D, D] @ A.T
    return InfiniteWidthPrediction(mean, (cov + cov.T) / 2, steps, float(eta))
