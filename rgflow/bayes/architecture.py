"""The network and prior specification shared by theory and sampling (stage *input*).

:class:`Architecture` is the fully connected, bias-free network of Ariosto et al.
(2022) with ``L`` hidden layers (docs/bayes.md §1)::

    h^{(1)}_i(x)   = Σ_j w^{(1)}_{ij} x_j / √N_0
    h^{(ℓ+1)}_i(x) = Σ_j w^{(ℓ+1)}_{ij} σ(h^{(ℓ)}_j(x)) / √N_ℓ
    f(x)           = Σ_j v_j σ(h^{(L)}_j(x)) / √N_L

with the Gibbs weight ``exp(-β/2 Σ_μ (y^μ - f(x^μ))² - Σ_ℓ λ_ℓ |W^{(ℓ)}|²/2)``:
``λ_0`` is the prior precision of the first-layer weights, ``λ_ℓ`` (ℓ = 1..L) that of
the weights *reading out of* hidden layer ℓ (``λ_L`` is the last-layer prior of the
seed, its "λ_1" at L = 1), ``N_ℓ`` the width of hidden layer ℓ, ``β`` the inverse
temperature (``β = inf`` is the zero-temperature limit) and the proportional
ratios are ``α_ℓ = P/N_ℓ``.

Examples
--------
>>> a = Architecture("relu", widths=(100,), beta=10.0, priors=(1.0,))
>>> a.depth, a.mean_correction
(1, True)
>>> Architecture("erf", widths=(100, 50), beta=1.0, priors=(1.0, 2.0)).mean_correction
False
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np

from derive.bayes.errors import BayesInputError
from .kernels import ODD, check_activation

__all__ = ["Architecture", "check_data"]


@dataclass(frozen=True)
class Architecture:
    """Activation, widths ``(N_1..N_L)``, inverse temperature ``β``, priors ``(λ_1..λ_L)``, ``λ_0``.

    ``mean_correction`` (default: ``True`` exactly when σ is not odd and ``L = 1``)
    switches on the non-odd correction of the one-hidden-layer action
    (docs/bayes.md eq. (5)); it is not derived for ``L > 1`` (requesting it raises).
    """

    activation: str
    widths: tuple
    beta: float
    priors: tuple
    lambda0: float = 1.0
    mean_correction: bool | None = None

    def __post_init__(self):
        check_activation(self.activation)
        widths = tuple(self.widths) if np.ndim(self.widths) else (self.widths,)
        priors = tuple(self.priors) if np.ndim(self.priors) else (self.priors,)
        if not widths:
            raise BayesInputError("at least one hidden layer is needed (widths is empty)")
        for n in widths:
            if isinstance(n, bool) or not isinstance(n, Integral) or n <= 0:
                raise BayesInputError(f"widths must be positive integers, got {n!r}")
        if len(priors) != len(widths):
            raise BayesInputError(f"need one prior per hidden layer: {len(widths)} widths, "
                                  f"{len(priors)} priors")
        for lam in priors + (self.lambda0,):
            if isinstance(lam, bool) or not isinstance(lam, Real) or not (0 < lam < math.inf):
                raise BayesInputError(f"priors must be finite positive numbers, got {lam!r}")
        b = self.beta
        if isinstance(b, bool) or not isinstance(b, Real) or not (b > 0):
            raise BayesInputError(f"inverse temperature beta must be positive, got {b!r}")
        mc = self.mean_correction
        if mc is None:
            mc = self.activation not in ODD and len(widths) == 1
        elif mc and len(widths) > 1:
            raise BayesInputError("the non-odd mean correction is derived for one hidden layer only")
        object.__setattr__(self, "widths", tuple(int(n) for n in widths))
        object.__setattr__(self, "priors", tuple(float(x) for x in priors))
        object.__setattr__(self, "lambda0", float(self.lambda0))
        object.__setattr__(self, "beta", float(b))
        object.__setattr__(self, "mean_correction", bool(mc) and self.activation not in ODD)

    @property
    def depth(self) -> int:
        """Number of hidden layers ``L``."""
        return len(self.widths)

    def alphas(self, P: int) -> tuple:
        """``α_ℓ = P/N_ℓ``."""
        return tuple(P / n for n in self.widths)


def check_data(X, y=None, name: str = "X") -> tuple:
    """Validate a design matrix ``X`` (P, N_0) and targets ``y`` (P,); return float copies."""
    try:
        X = np.array(X, dtype=float)
    except (TypeError, ValueError):
        raise BayesInputError(f"{name} must be a numeric array") from None
    if X.ndim != 2 or X.shape[0] < 1 or X.shape[1] < 1:
        raise BayesInputError(f"{name} must have shape (P, N_0), got {X.shape}")
    if not np.all(np.isfinite(X)):
        raise BayesInputError(f"{name} contains non-finite entries")
    if y is None:
        return X, None
    try:
        y = np.array(y, dtype=float)
    except (TypeError, ValueError):
        raise BayesInputError("y must be a numeric array") from None
    if y.shape != (X.shape[0],):
        raise BayesInputError(f"y must have shape ({X.shape[0]},) to match {name}, got {y.shape}")
    if not np.all(np.isfinite(y)):
        raise BayesInputError("y contains non-finite entries")
    return X, y
