"""Monte Carlo of the collective metric's cumulants: the order-1/n² statistics of real networks.

Stage *metric cumulants*: (activation, K^{(1)}, depth, width) → :class:`MetricCumulants`.

Given layer l, the preactivations of layer l+1 are exactly Gaussian with covariance
δ_{ii'} Ĝ^{(l)}, Ĝ^{(l)}_{ab} = C_b + (C_W/n_l) Σ_j σ(z^{(l)}_{j;a}) σ(z^{(l)}_{j;b}) (THEORY.md §3,
:mod:`rgflow.montecarlo`), so the statistics of layer l+1 are the cumulants of Ĝ^{(l)} over the
ensemble of networks, at any width:

* metric            G^{(l+1)} = E[Ĝ]                         = K + G1/n + G2/n² + O(1/n³),
* four-point         κ(Ĝ_{a1a2}, Ĝ_{a3a4})                    = V/n + V1/n² + O(1/n³),
* six-point          κ(Ĝ_{a1a2}, Ĝ_{a3a4}, Ĝ_{a5a6})          = U/n² + O(1/n³)

(the connected functions of distinct neurons; n = n_l).  :func:`sample` draws real networks —
Gaussian weights W^{(l)} ~ N(0, C_W/n_{l−1}) and biases, layer by layer, vectorised over a batch
of networks — from layer-1 preactivations z^{(1)} ~ N(0, K^{(1)}) (exact: the first layer is
Gaussian), records Ĝ^{(l)} of every network and returns unbiased k-statistics with standard
errors from the spread of batch estimates (each batch's k-statistics are unbiased too).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np

from derive.errors import RGFlowError

__all__ = ["MetricCumulants", "MetricCumulantsError", "sample"]


class MetricCumulantsError(RGFlowError, ValueError):
    """Bad arguments for :func:`sample`."""


@dataclass(frozen=True)
class MetricCumulants:
    """Per-layer cumulants of the collective metric; index l−1 holds layer l (l = 1..depth).

    ``metric`` (L, N_D, N_D) = E[z z]; ``four`` (L, N_D⁴) = κ(Ĝ, Ĝ) (= V/n + V1/n²);
    ``six`` (L, N_D⁶) = κ(Ĝ, Ĝ, Ĝ) (= U/n²), with ``*_se`` standard errors.  Layer 1 is
    exact (K^{(1)}, zero cumulants, zero errors).
    """

    metric: np.ndarray
    metric_se: np.ndarray
    four: np.ndarray
    four_se: np.ndarray
    six: np.ndarray
    six_se: np.ndarray
    networks: int
    width: int


def _k_statistics(G: np.ndarray):
    """(mean, second, third joint k-statistics) of the rows of G (M, N_D, N_D)."""
    M = G.shape[0]
    mean = G.mean(axis=0)
    d = G - mean
    k2 = np.einsum("mab,mcd->abcd", d, d) / (M - 1)
    k3 = np.einsum("mab,mcd,mef->abcdef", d, d, d) * M / ((M - 1) * (M - 2))
    return mean, k2, k3


def sample(act, K1, depth: int, width: int, C_b: float = 0.0, C_W: float = 1.0, networks: int = 100_000,
           seed: int = 0, batch: int = 4096, groups: int = 50, progress: bool = True) -> MetricCumulants:
    """Cumulants of Ĝ^{(l)} over ``networks`` real networks of equal ``width``, layers 1..depth.

    ``act`` is an :class:`~derive.Activation` or a name; ``K1`` the layer-1 kernel (N_D × N_D, or a
    number for one input).  The batch estimates behind the standard errors come from ``groups``
    disjoint groups of networks.
    """
    from derive import activation
    from derive.activations import Activation
    act = act if isinstance(act, Activation) else activation(act)
    sigma = act.numpy_function()
    K1 = np.atleast_2d(np.asarray(K1, dtype=float))
    for name, value, ok in (("depth", depth, depth >= 1), ("width", width, width >= 1),
                            ("groups", groups, groups >= 2), ("networks", networks, networks >= 3 * groups),
                            ("C_W", C_W, C_W > 0), ("C_b", C_b, C_b >= 0)):
        if not ok or not np.isfinite(value):
            raise MetricCumulantsError(f"{name} = {value} is out of range (depth, width ≥ 1; groups ≥ 2; "
                                       "networks ≥ 3·groups; C_W > 0; C_b ≥ 0)")
    nd = K1.shape[0]
    if K1.shape != (nd, nd) or not np.all(np.isfinite(K1)) or not np.allclose(K1, K1.T):
        raise MetricCumulantsError(f"K1 must be a finite symmetric N_D × N_D matrix, got shape {K1.shape}")
    vals, vecs = np.linalg.eigh(K1)
    if vals.min() < -1e-12 * max(1.0, vals.max()):
        raise MetricCumulantsError(f"K1 is not positive semi-definite (smallest eigenvalue {vals.min():.3g})")
    L = vecs * np.sqrt(np.clip(vals, 0.0, None))      # K1 = L Lᵀ, coincident inputs allowed
    rng = np.random.default_rng(seed)
    records = np.empty((depth - 1, networks, nd, nd))
    done = 0
    while done < networks:
        B = min(batch, networks - done)
        z = np.einsum("ab,mib->mia", L, rng.standard_normal((B, width, nd)))      # layer 1
        for layer in range(depth - 1):
            s = sigma(z)
            records[layer, done:done + B] = C_b + C_W / width * np.einsum("mia,mib->mab", s, s)
            if layer < depth - 2:
                W = rng.standard_normal((B, width, width)) * np.sqrt(C_W / width)
                b = rng.standard_normal((B, width, 1)) * np.sqrt(C_b)
                z = np.einsum("mij,mja->mia", W, s) + b
        done += B
        if progress:
            print(f"rgflow: metric cumulants: {done}/{networks} networks (width {width})", file=sys.stderr,
                  flush=True)
    out = {"metric": [K1], "four": [np.zeros((nd,) * 4)], "six": [np.zeros((nd,) * 6)]}
    se = {key: [np.zeros_like(v[0])] for key, v in out.items()}
    for layer in range(depth - 1):
        G = records[layer]
        if not np.all(np.isfinite(G)):
            raise ArithmeticError(f"non-finite metric at layer {layer + 2}: the network overflows")
        full = _k_statistics(G)
        parts = [_k_statistics(chunk) for chunk in np.array_split(G, groups)]
        for key, value, idx in zip(("metric", "four", "six"), full, range(3)):
            out[key].append(value)
            spread = np.std([p[idx] for p in parts], axis=0, ddof=1)
            se[key].append(spread / np.sqrt(groups))
    arrays = {k: np.array(v) for k, v in out.items()}
    errors = {f"{k}_se": np.array(v) for k, v in se.items()}
    return MetricCumulants(**arrays, **errors, networks=networks, width=width)
