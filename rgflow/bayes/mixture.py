"""Exact finite-width posterior of one-hidden-layer *linear* networks (stage *reference*).

For σ(h) = h, L = 1, the network function is exactly a Gaussian scale mixture at
any finite ``P`` and ``N``: with ``Q̄ = λ_1 |v|²/N``,

    f = √Q̄ g,   g ~ GP(0, K_GP),   K_GP = C/λ_1,   Q̄ ~ Gamma(N/2, rate N/2),   (11)

because ``Wᵀv | v ~ N(0, |v|²/λ_0)``.  The posterior is therefore the
one-dimensional mixture ``p(Q̄|y) ∝ Q̄^{N/2−1} e^{−NQ̄/2} N(y; 0, I/β + Q̄K_GP)`` of
Gaussian processes, evaluated here by quadrature on ``log Q̄``.  Its Laplace
approximation is the saddle point of eq. (4) (which drops the ``−1`` in the
exponent ``N/2 − 1``), so this is an independent, exact reference for both the
saddle point (agreement as ``P, N → ∞`` at fixed α) and the Langevin sampler.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(1)
>>> X = rng.standard_normal((30, 4)); y = X[:, 0]
>>> res = mixture_posterior(X, y, X[:5], y[:5], width=20, beta=10.0)
>>> bool(0.0 < res.generalisation_error < 1.0)
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .architecture import check_data
from derive.bayes.errors import BayesInputError
from .kernels import input_covariance

__all__ = ["MixturePosterior", "mixture_posterior"]


@dataclass(frozen=True)
class MixturePosterior:
    """Exact posterior summaries of eq. (11): ``E[Q̄|y]``, test mean/variance, ε_g."""

    Qbar_mean: float
    Qbar_mode: float
    mean: np.ndarray
    variance: np.ndarray
    generalisation_error: float | None


def mixture_posterior(X, y, X_test, y_test=None, *, width: int, beta: float, prior: float = 1.0,
                      lambda0: float = 1.0, n_grid: int = 4001) -> MixturePosterior:
    """Exact posterior of a one-hidden-layer linear network of ``width`` N (eq. (11))."""
    X, y = check_data(X, y)
    Xt, yt = check_data(X_test, y_test, name="X_test")
    if not (isinstance(width, int) and width > 0):
        raise BayesInputError(f"width must be a positive integer, got {width!r}")
    if not (0 < beta < math.inf) or not (0 < prior < math.inf) or not (0 < lambda0 < math.inf):
        raise BayesInputError("beta, prior and lambda0 must be finite and positive")
    P, N = len(y), width
    Z = np.vstack([X, Xt])
    K = input_covariance(Z, lambda0=lambda0) / prior
    k, U = np.linalg.eigh(K[:P, :P])
    k = np.clip(k, 0.0, None)
    yt_ = U.T @ y
    kap = K[P:, :P] @ U                                    # (T, P)
    k0 = np.diag(K[P:, P:])

    def logw(t):
        q = np.exp(t)[:, None]
        d = 1.0 / beta + q * k[None, :]
        return (N / 2) * t - N * q[:, 0] / 2 - 0.5 * np.sum(np.log(d) + yt_**2 / d, axis=1)

    coarse = np.linspace(-12, 6, 2000)
    t0 = coarse[np.argmax(logw(coarse))]
    width_t = 12.0 / math.sqrt(N)                           # posterior of log Q̄ is O(1/√N) wide
    t = np.linspace(t0 - width_t - 1.0, t0 + width_t + 1.0, n_grid)
    lw = logw(t)
    w = np.exp(lw - lw.max())
    w /= w.sum()
    q = np.exp(t)
    d = 1.0 / beta + q[:, None] * k[None, :]               # (G, P)
    mean_q = q[:, None] * ((yt_ / d) @ kap.T)              # (G, T)
    var_q = q[:, None] * k0[None, :] - q[:, None] ** 2 * ((1.0 / d) @ (kap**2).T)
    mean = w @ mean_q
    second = w @ (var_q + mean_q**2)
    var = second - mean**2
    eg = None if yt is None else float(np.mean(w @ ((yt[None, :] - mean_q) ** 2 + var_q)))
    a = np.array(mean)
    b = np.array(var)
    a.setflags(write=False)
    b.setflags(write=False)
    return MixturePosterior(float(w @ q), float(q[np.argmax(lw)]), a, b, eg)
