"""Langevin (MALA) sampling of real finite-width one-hidden-layer Bayesian networks.

Stage *sampling*: (architecture, data) → :class:`LangevinResult`, the arbiter of the
theory.  The target is the exact Gibbs posterior of the network of
:class:`~rgflow.bayes.architecture.Architecture` (L = 1, no biases)::

    p(W, v | y) ∝ exp(−λ_0|W|²/2 − λ_1|v|²/2 − β/2 Σ_μ (y^μ − v·σ(W x^μ/√N_0)/√N)²).

The readout ``v`` enters linearly with a Gaussian prior, so it is integrated out
*exactly*: the hidden weights have the marginal posterior

    log p(W|y) = −λ_0|W|²/2 − ½ log det Σ(W) − ½ yᵀ Σ(W)⁻¹ y + const,
    Σ(W) = I/β + Φ Φᵀ/(λ_1 N),   Φ_{μi} = σ(w_i·x^μ/√N_0),

which is sampled by Langevin dynamics with a Metropolis accept/reject step (MALA,
prior-preconditioned: ``W' = W + (h/2λ_0) ∇log p + √(h/λ_0) ξ``), so the step ``h``
introduces **no** discretisation bias.  Given ``W``, the test output is Gaussian
with known mean and variance, so the generalisation error
``ε_g = mean_t E[(y_t − f(x_t))²]`` is estimated Rao–Blackwellised:
``E[(y_t−f_t)²|W] = (y_t − m_t(W))² + s_t²(W)``.

Statistics: ``n_chains`` independent chains (streams
``np.random.SeedSequence(seed).spawn(n_chains)``, started from the prior), the step
size is adapted during burn-in only (towards 60% acceptance) and then frozen; the
standard error is the spread of the per-chain time averages divided by
``√n_chains`` (chains are independent; correlated samples inside a chain are never
treated as independent).  ``batch_se`` is a within-chain batch-means cross-check and
``drift`` (second minus first half of the recorded samples, with ``drift_se``) flags
an incomplete burn-in.

Examples
--------
>>> import numpy as np
>>> from rgflow.bayes import Architecture
>>> rng = np.random.default_rng(0)
>>> X = rng.standard_normal((20, 3)); y = X[:, 0]
>>> arch = Architecture("linear", widths=(10,), beta=4.0, priors=(1.0,))
>>> r = sample_posterior(arch, X, y, X[:4], y[:4], n_chains=2, n_steps=60, burn_in=20, seed=1)
>>> r.n_chains, bool(r.standard_error > 0)
(2, True)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .architecture import Architecture, check_data
from derive.bayes.errors import BayesInputError
from .kernels import sigma, sigma_prime

__all__ = ["LangevinResult", "sample_posterior"]


@dataclass(frozen=True)
class LangevinResult:
    """Posterior estimates from independent MALA chains (see module docstring)."""

    generalisation_error: float
    standard_error: float
    chain_means: np.ndarray
    mean: np.ndarray          # posterior mean of f on the test inputs
    variance: np.ndarray      # posterior variance of f on the test inputs
    Qbar_mean: float          # ⟨λ_1|v|²/N⟩, the order parameter Q̄ measured on the network
    acceptance: float
    step: float
    n_chains: int
    n_steps: int
    burn_in: int
    seed: int
    batch_se: float
    drift: float              # mean over chains of (2nd half − 1st half) of the recorded ε_g
    drift_se: float           # its standard error (chain spread); |drift| ≫ drift_se: not equilibrated


class _Target:
    def __init__(self, arch, X, y, Xt):
        self.act, self.lam0, self.lam1 = arch.activation, arch.lambda0, arch.priors[0]
        self.N, self.beta = arch.widths[0], arch.beta
        self.Xs = X / math.sqrt(X.shape[1])
        self.Xts = Xt / math.sqrt(X.shape[1])
        self.y = y
        self.eye = np.eye(len(y)) / self.beta

    def __call__(self, W):
        """log p(W|y) and its gradient, batched over chains (W: (C, N, N0))."""
        H = W @ self.Xs.T                                       # (C, N, P)
        Phi = sigma(self.act, H)
        S = np.einsum("cnp,cnq->cpq", Phi, Phi) / (self.lam1 * self.N) + self.eye
        L = np.linalg.cholesky(S)
        Si = np.linalg.inv(S)
        a = Si @ self.y                                         # (C, P)
        logdet = 2.0 * np.sum(np.log(np.diagonal(L, axis1=1, axis2=2)), axis=1)
        logp = -0.5 * self.lam0 * np.sum(W**2, axis=(1, 2)) - 0.5 * logdet - 0.5 * a @ self.y
        M = Si - a[:, :, None] * a[:, None, :]
        G = -(Phi @ M) / (self.lam1 * self.N) * sigma_prime(self.act, H)
        grad = G @ self.Xs - self.lam0 * W
        return logp, grad, (Phi, Si, a)

    def predictive(self, W, cache):
        """Mean and variance of f(x_t) given W (v integrated out)."""
        Phi, Si, a = cache
        Pt = sigma(self.act, W @ self.Xts.T)                    # (C, N, T)
        kt = np.einsum("cnt,cnp->ctp", Pt, Phi) / (self.lam1 * self.N)
        mean = np.einsum("ctp,cp->ct", kt, a)
        var = np.sum(Pt**2, axis=1) / (self.lam1 * self.N) - np.einsum("ctp,cpq,ctq->ct", kt, Si, kt)
        return mean, np.clip(var, 0.0, None), a


def sample_posterior(arch: Architecture, X, y, X_test, y_test, *, n_chains: int = 8,
                     n_steps: int = 2000, burn_in: int = 500, thin: int = 5, seed: int = 0,
                     step: float | None = None, target_accept: float = 0.6) -> LangevinResult:
    """Run ``n_chains`` independent MALA chains on the hidden weights (see module docstring)."""
    if arch.depth != 1:
        raise BayesInputError("Langevin sampling is implemented for one hidden layer")
    if not math.isfinite(arch.beta):
        raise BayesInputError("Langevin sampling needs a finite inverse temperature beta")
    X, y = check_data(X, y)
    Xt, yt = check_data(X_test, y_test, name="X_test")
    if yt is None:
        raise BayesInputError("y_test is required to estimate the generalisation error")
    if Xt.shape[1] != X.shape[1]:
        raise BayesInputError(f"X_test has {Xt.shape[1]} features, X has {X.shape[1]}")
    for name, v in (("n_chains", n_chains), ("n_steps", n_steps), ("thin", thin)):
        if not (isinstance(v, int) and v >= 1):
            raise BayesInputError(f"{name} must be a positive integer, got {v!r}")
    if n_chains < 2 or not (isinstance(burn_in, int) and 0 <= burn_in < n_steps):
        raise BayesInputError("need n_chains ≥ 2 and 0 ≤ burn_in < n_steps")
    target = _Target(arch, X, y, Xt)
    N, N0, C = arch.widths[0], X.shape[1], n_chains
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(C)]
    W = np.stack([g.standard_normal((N, N0)) for g in streams]) / math.sqrt(arch.lambda0)
    logp, grad, cache = target(W)
    h = (0.5 * (N * N0) ** (-1.0 / 3.0)) if step is None else float(step)
    lam0 = arch.lambda0
    acc_window, acc_total, n_after = [], 0.0, 0
    records, means, seconds, variances, qbars = [], [], [], [], []
    for it in range(n_steps):
        xi = np.stack([g.standard_normal((N, N0)) for g in streams])
        Wp = W + (h / (2 * lam0)) * grad + math.sqrt(h / lam0) * xi
        logp_p, grad_p, cache_p = target(Wp)
        fwd = Wp - W - (h / (2 * lam0)) * grad
        bwd = W - Wp - (h / (2 * lam0)) * grad_p
        log_q = -(lam0 / (2 * h)) * (np.sum(bwd**2, axis=(1, 2)) - np.sum(fwd**2, axis=(1, 2)))
        log_a = logp_p - logp + log_q
        u = np.array([g.random() for g in streams])
        accept = np.log(u) < log_a
        W = np.where(accept[:, None, None], Wp, W)
        logp = np.where(accept, logp_p, logp)
        grad = np.where(accept[:, None, None], grad_p, grad)
        cache = tuple(np.where(accept.reshape((C,) + (1,) * (c.ndim - 1)), cp, c)
                      for c, cp in zip(cache, cache_p))
        if it < burn_in:
            acc_window.append(accept.mean())
            if len(acc_window) == 20:
                h *= math.exp(2.0 * (np.mean(acc_window) - target_accept))
                acc_window = []
            continue
        acc_total += accept.mean()
        n_after += 1
        if (it - burn_in) % thin == 0:
            m, s2, a = target.predictive(W, cache)
            records.append(np.mean((yt[None, :] - m) ** 2 + s2, axis=1))
            means.append(m)
            seconds.append(m**2 + s2)
            variances.append(s2)
            # Q̄ = λ_1|v|²/N averaged over v|W: E|v|² = |E v|² + tr Cov v
            Phi = cache[0]
            ev = (Phi @ a[:, :, None])[:, :, 0] / (arch.priors[0] * math.sqrt(N))
            tr = N / arch.priors[0] - np.einsum("cnp,cpq,cnq->c", Phi, cache[1], Phi) / (arch.priors[0] ** 2 * N)
            qbars.append(arch.priors[0] * (np.sum(ev**2, axis=1) + tr) / N)
    R = np.array(records)                                        # (S, C)
    chain_means = R.mean(axis=0)
    se = float(np.std(chain_means, ddof=1) / math.sqrt(C))
    nb = 5
    if R.shape[0] >= nb:
        bm = np.array([b.mean(axis=0) for b in np.array_split(R, nb)])   # (nb, C)
        batch_se = float(np.sqrt(np.mean(np.var(bm, axis=0, ddof=1)) / (nb * C)))
    else:
        batch_se = float("nan")
    half = R.shape[0] // 2
    if half >= 1:
        dd = R[half:].mean(axis=0) - R[:half].mean(axis=0)
        drift, drift_se = float(dd.mean()), float(np.std(dd, ddof=1) / math.sqrt(C))
    else:
        drift, drift_se = float("nan"), float("nan")
    mean = np.mean(means, axis=(0, 1))
    var = np.mean(seconds, axis=(0, 1)) - mean**2
    cm = np.array(chain_means)
    cm.setflags(write=False)
    mean.setflags(write=False)
    var.setflags(write=False)
    return LangevinResult(float(chain_means.mean()), se, cm, mean, var, float(np.mean(qbars)),
                          acc_total / max(n_after, 1), h, C, n_steps, burn_in, seed, batch_se,
                          drift, drift_se)
