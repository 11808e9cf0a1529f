"""NNGP kernels of one hidden layer, in closed form (stage *kernel*).

Conventions (Ariosto et al. 2022; docs/bayes.md §1): first-layer weights have the
Gaussian prior ``exp(-λ_0 |w|²/2)`` and preactivations are ``h = w·x/√N_0``, so
the preactivation covariance is

    C_{μν} = x^μ·x^ν / (λ_0 N_0).

The kernel map ``K[C]_{μν} = E[σ(h_μ) σ(h_ν)]``, ``h ~ N(0, C)``, and the
preactivation mean ``m_μ = E[σ(h_μ)]`` (the non-odd correction
``K^{(1)} = m mᵀ``) have closed forms for the activations listed in
:data:`ACTIVATIONS`:

* ``linear``: ``K = C``, ``m = 0``;
* ``relu``: arc-cosine kernel ``√(C_μμ C_νν)/(2π) (sin θ + (π−θ) cos θ)``,
  ``cos θ = C_μν/√(C_μμ C_νν)``, ``m_μ = √(C_μμ/(2π))``;
* ``erf``: ``(2/π) arcsin(2C_μν/√((1+2C_μμ)(1+2C_νν)))``, ``m = 0``.

Examples
--------
>>> import numpy as np
>>> C = np.array([[1.0, 0.5], [0.5, 1.0]])
>>> np.round(kernel_map("relu", C), 4)
array([[0.5   , 0.3045],
       [0.3045, 0.5   ]])
>>> np.round(activation_mean("relu", C), 4)
array([0.3989, 0.3989])
"""

from __future__ import annotations

import math

import numpy as np

from derive.bayes.errors import BayesInputError

__all__ = ["ACTIVATIONS", "ODD", "check_activation", "input_covariance", "kernel_map",
           "activation_mean", "sigma", "sigma_prime"]

ACTIVATIONS = ("erf", "linear", "relu")
ODD = frozenset({"erf", "linear"})


def check_activation(name: str) -> str:
    """Return ``name`` if it has closed-form kernels, else raise :class:`BayesInputError`."""
    if name not in ACTIVATIONS:
        raise BayesInputError(f"activation {name!r} not supported by rgflow.bayes "
                              f"(choose one of {', '.join(ACTIVATIONS)})")
    return name


def input_covariance(X1, X2=None, lambda0: float = 1.0) -> np.ndarray:
    """``C = X1 X2ᵀ / (λ_0 N_0)``: covariance of first-layer preactivations."""
    X1 = np.asarray(X1, dtype=float)
    X2 = X1 if X2 is None else np.asarray(X2, dtype=float)
    return X1 @ X2.T / (lambda0 * X1.shape[1])


def kernel_map(name: str, C) -> np.ndarray:
    """``K[C]_{μν} = E[σ(h_μ)σ(h_ν)]`` for ``h ~ N(0, C)`` (``C`` symmetric PSD)."""
    check_activation(name)
    C = np.asarray(C, dtype=float)
    if name == "linear":
        return C.copy()
    d = np.sqrt(np.clip(np.diag(C), 0.0, None))
    if name == "relu":
        dd = np.outer(d, d)
        with np.errstate(invalid="ignore", divide="ignore"):
            c = np.where(dd > 0, C / np.where(dd > 0, dd, 1.0), 0.0)
        c = np.clip(c, -1.0, 1.0)
        th = np.arccos(c)
        return dd / (2 * math.pi) * (np.sin(th) + (math.pi - th) * c)
    q = np.sqrt(1.0 + 2.0 * np.diag(C))
    return 2.0 / math.pi * np.arcsin(np.clip(2.0 * C / np.outer(q, q), -1.0, 1.0))


def activation_mean(name: str, C) -> np.ndarray:
    """``m_μ = E[σ(h_μ)]``, ``h_μ ~ N(0, C_μμ)`` (zero for odd σ)."""
    check_activation(name)
    diag = np.clip(np.diag(np.asarray(C, dtype=float)), 0.0, None)
    if name in ODD:
        return np.zeros_like(diag)
    return np.sqrt(diag / (2 * math.pi))


def sigma(name: str, h: np.ndarray) -> np.ndarray:
    """The activation itself (numpy), for sampling real networks."""
    check_activation(name)
    if name == "linear":
        return h
    if name == "relu":
        return np.maximum(h, 0.0)
    from scipy.special import erf
    return erf(h)


def sigma_prime(name: str, h: np.ndarray) -> np.ndarray:
    """Derivative of :func:`sigma` (ReLU: Heaviside step, 0 at the kink)."""
    check_activation(name)
    if name == "linear":
        return np.ones_like(h)
    if name == "relu":
        return (h > 0).astype(h.dtype)
    return 2.0 / math.sqrt(math.pi) * np.exp(-h * h)
