"""The 1/n correction of the trained ensemble mean from the NTK's fluctuations at initialisation.

Stage *training, frozen NTK at order 1/n* (issue #15; docs/training.md).  A network trained with its
NTK frozen at initialisation (the linearised model: kernel regression with the network's own Θ̂ and
f_0) predicts after t steps of full-batch gradient descent on ½Σ_A (f(x_A) − y_A)²

    f_t(x) = f_0(x) + Θ̂_{xD} G_t(Θ̂_DD) (y − f_0(D)),   G_t(X) = X⁻¹(I − (I − ηX)^t)   (t = ∞: X⁻¹).

Θ̂ is even in the last layer's weights and f_0 odd, so E[f_0] = E[Θ̂-dependent × f_0] = 0 and the
ensemble mean is E[F(Θ̂)] y with F(Θ) = Θ_{xD} G_t(Θ_DD).  The output-layer NTK (one output neuron)
has mean H + H1/n and covariance (PDLT ch. 8; THEORY-NTK.md §1, the compiled A, B)

    Cov(Θ̂_{ab}, Θ̂_{cd}) = (1/n)[A_{(ab)(cd)} + B_{acbd} + B_{adbc}]   (B stored as B[α1, α3, α2, α4]),

its higher cumulants O(1/n²), so to order 1/n (n = n_{L−1}, the last hidden width)

    E[f_t(x)] = F(H) y + (1/n) { DF[H1] y + ½ Σ_{pq} C_{pq} D²F[S_p, S_q] y } + O(1/n²),

with S_p the symmetric unit directions of the entries p = (a ≤ b) and C_{pq} the covariance above
times n.  The directional derivatives are exact: for t = ∞ by DX⁻¹ = −X⁻¹ΔX⁻¹, D²X⁻¹ = 2X⁻¹ΔX⁻¹ΔX⁻¹;
for finite t by differentiating the iteration w_{s+1} = (I − ηX) w_s twice along Δ (G_t y = η Σ_{s<t} w_s).

This is the part of the finite-width correction that a frozen NTK carries (its mean shift H1 and its
fluctuation A, B); the trained network's NTK also moves (dNTK, ddNTK), which adds the dynamical part
of PDLT ch. 11 — not built (docs/training.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from derive.errors import RGFlowError

__all__ = ["FrozenNTKMean", "frozen_ntk_mean", "ntk_covariance", "frozen_ensemble_mean", "inverse_width_fit",
           "InverseWidthFit"]


@dataclass(frozen=True)
class FrozenNTKMean:
    """E[f_t(x_test)] of the frozen-NTK ensemble = ``mean_infinite`` + ``correction``/n + O(1/n²)."""

    mean_infinite: np.ndarray
    correction: np.ndarray
    steps: int | None
    eta: float

    def mean_at(self, n: float) -> np.ndarray:
        """The order-1/n mean at the last hidden width n."""
        return self.mean_infinite + self.correction / n


def ntk_covariance(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """n · Cov(Θ̂_ab, Θ̂_cd) of the output-layer NTK entries, (N, N, N, N), from the compiled A and B."""
    return A + np.einsum("acbd->abcd", B) + np.einsum("adbc->abcd", B)


def _apply_G(X: np.ndarray, y: np.ndarray, eta: float, steps: int | None, delta: np.ndarray | None = None):
    """(G y, DG[Δ] y, D²G[Δ, Δ] y) for G = G_t of the module docstring (the derivatives 0 without Δ)."""
    if steps is None:
        v = np.linalg.solve(X, y)
        if delta is None:
            return v, 0.0, 0.0
        dv = -np.linalg.solve(X, delta @ v)
        return v, dv, -2.0 * np.linalg.solve(X, delta @ dv)
    P = np.eye(len(X)) - eta * X
    dP = None if delta is None else -eta * delta
    w, dw, d2w = y.copy(), np.zeros_like(y), np.zeros_like(y)
    g, dg, d2g = np.zeros_like(y), np.zeros_like(y), np.zeros_like(y)
    for _ in range(int(steps)):
        g += w
        if dP is not None:
            dg += dw
            d2g += d2w
            d2w = 2.0 * dP @ dw + P @ d2w
            dw = dP @ w + P @ dw
        w = P @ w
    return eta * g, eta * dg, eta * d2g


def frozen_ntk_mean(H, H1, A, B, y_train, n_train: int, eta: float, steps: int | None = None) -> FrozenNTKMean:
    """The frozen-NTK ensemble mean to order 1/n (module docstring) from the output layer's compiled
    ``H``, ``H1`` (N, N) and ``A``, ``B`` (N, N, N, N), over the samples with the training samples first
    (indices 0..n_train−1) and then the test samples; ``eta`` the learning rate (the learning-rate
    tensor's λ_b, λ_W are those the flow's NTK was computed with), ``steps`` None for convergence."""
    H, H1, A, B = (np.asarray(v, dtype=float) for v in (H, H1, A, B))
    y = np.asarray(y_train, dtype=float).reshape(-1)
    N = H.shape[0]
    if H.shape != (N, N) or H1.shape != (N, N) or A.shape != (N,) * 4 or B.shape != (N,) * 4:
        raise RGFlowError("H, H1 must be (N, N) and A, B (N, N, N, N) over the same samples")
    if y.shape != (n_train,) or not 0 < n_train < N:
        raise RGFlowError("need y_train of length N_train and at least one test sample after the training samples")
    D, T = slice(0, n_train), slice(n_train, N)
    lam = np.linalg.eigvalsh(H[D, D])
    if lam.min() <= 1e-12 * lam.max():
        raise RGFlowError("the NTK of the training inputs is singular (repeated or degenerate inputs)")
    if not (0 < eta < 2 / lam.max()):
        raise RGFlowError(f"the learning rate η = {eta} must lie in (0, 2/λ_max) = (0, {2 / lam.max():.6g})")
    if steps is not None and steps < 0:
        raise RGFlowError(f"steps must be non-negative, got {steps}")

    def first_and_second(delta):
        """(DF[Δ] y, D²F[Δ, Δ] y) on the test samples."""
        g, dg, d2g = _apply_G(H[D, D], y, eta, steps, delta[D, D])
        return delta[T, D] @ g + H[T, D] @ dg, 2.0 * delta[T, D] @ dg + H[T, D] @ d2g

    g0 = _apply_G(H[D, D], y, eta, steps)[0]
    mean = H[T, D] @ g0
    correction = first_and_second(H1)[0]
    pairs = [(a, b) for a in range(N) for b in range(a, N)]
    C4 = ntk_covariance(A, B)
    C = np.array([[C4[a, b, c, d] for c, d in pairs] for a, b in pairs])
    mu, U = np.linalg.eigh((C + C.T) / 2)
    for k in range(len(pairs)):
        if mu[k] == 0.0:
            continue
        delta = np.zeros((N, N))
        for (a, b), u in zip(pairs, U[:, k]):
            delta[a, b] = delta[b, a] = u
        correction = correction + 0.5 * mu[k] * first_and_second(delta)[1]
    return FrozenNTKMean(mean, correction, steps, float(eta))


def frozen_ensemble_mean(act, X_train, y_train, X_test, depth: int, width: int, C_b: float, C_W: float,
                         lambda_b: float, lambda_W: float, eta: float, steps: int | None = None,
                         networks: int = 20_000, seed: int = 0, chunk: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    """Brute force: (mean, standard error) over ``networks`` real networks of the frozen-NTK
    prediction Θ̂_{xD} G_t(Θ̂_DD) y on ``X_test`` (the networks of :func:`rgflow.training.train_ensemble`,
    their empirical NTK at initialisation with the same learning-rate tensor).  The f_0 terms, whose
    ensemble mean vanishes exactly (odd in the last layer), are left out: the estimator of the same
    mean with the smallest spread."""
    from derive import activation
    from derive.activations import Activation

    from .ensemble import _init, empirical_ntk
    act = act if isinstance(act, Activation) else activation(act)
    sigma, dsigma = act.numpy_function(), act.numpy_derivative(1)
    X_train, X_test = np.atleast_2d(np.asarray(X_train, float)), np.atleast_2d(np.asarray(X_test, float))
    y = np.asarray(y_train, float).reshape(-1)
    if depth < 2 or width < 1 or networks < 2 or y.shape != (X_train.shape[0],) or steps is not None and steps < 0:
        raise RGFlowError("need depth ≥ 2, width ≥ 1, networks ≥ 2, y_train of length N_train and steps ≥ 0")
    X = np.vstack([X_train, X_test])
    n_train = X_train.shape[0]
    rng = np.random.default_rng(seed)
    values = []
    for start in range(0, networks, chunk):
        M = min(chunk, networks - start)
        Ws, bs = _init(rng, M, [X.shape[1]] + [width] * (depth - 1) + [1], C_b, C_W, False)
        theta = empirical_ntk(Ws, bs, X, sigma, dsigma, lambda_b, lambda_W)
        DD, TD = theta[:, :n_train, :n_train], theta[:, n_train:, :n_train]
        if steps is None:
            g = np.linalg.solve(DD, np.broadcast_to(y, (M, n_train))[..., None])[..., 0]
        else:
            w, g = np.broadcast_to(y, (M, n_train)).copy(), np.zeros((M, n_train))
            P = np.eye(n_train) - eta * DD
            for _ in range(int(steps)):
                g += w
                w = np.einsum("mij,mj->mi", P, w)
            g *= eta
        values.append(np.einsum("mij,mj->mi", TD, g))
    v = np.concatenate(values)
    return v.mean(axis=0), v.std(axis=0, ddof=1) / np.sqrt(len(v))


@dataclass(frozen=True)
class InverseWidthFit:
    """mean(n) = m_∞ + c/n + d/n²: the fitted ``c``, ``d`` (per test input) with standard errors."""

    c: np.ndarray
    c_se: np.ndarray
    d: np.ndarray
    d_se: np.ndarray


def inverse_width_fit(widths, means, ses, m_inf) -> InverseWidthFit:
    """Weighted least squares of n(mean_n − m_∞) = c + d/n over the widths (weights 1/(n·se_n)²), per
    test input: the 1/n coefficient of Monte Carlo means with the infinite-width value known exactly."""
    n = np.asarray(widths, dtype=float)
    means, ses = np.atleast_2d(np.asarray(means, float)), np.atleast_2d(np.asarray(ses, float))
    if len(n) < 3 or means.shape != ses.shape or means.shape[0] != len(n) or np.any(ses <= 0):
        raise RGFlowError("need at least three widths, one mean and one positive standard error per width")
    design = np.stack([np.ones_like(n), 1.0 / n], axis=1)
    m_inf = np.asarray(m_inf, float).reshape(-1)
    coef, err = np.empty((2, means.shape[1])), np.empty((2, means.shape[1]))
    for j in range(means.shape[1]):
        y = n * (means[:, j] - m_inf[j])
        w = 1.0 / (n * ses[:, j]) ** 2
        cov = np.linalg.inv(design.T @ (w[:, None] * design))
        coef[:, j] = cov @ design.T @ (w * y)
        err[:, j] = np.sqrt(np.diag(cov))
    return InverseWidthFit(coef[0], err[0], coef[1], err[1])
