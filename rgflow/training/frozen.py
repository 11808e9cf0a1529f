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

from .infinite import check_training

__all__ = ["FrozenNTKPrediction", "frozen_ntk_prediction", "ntk_covariance", "ntk_preactivation_cumulant",
           "frozen_ensemble", "FrozenEnsemble", "frozen_predictions", "inverse_width_fit", "InverseWidthFit"]


@dataclass(frozen=True)
class FrozenNTKPrediction:
    """The frozen-NTK trained ensemble on the test inputs to order 1/n (n = n_{L−1}): mean
    ``mean_infinite`` + ``mean_correction``/n and covariance ``covariance_infinite`` +
    ``covariance_correction``/n, each + O(1/n²)."""

    mean_infinite: np.ndarray
    mean_correction: np.ndarray
    covariance_infinite: np.ndarray
    covariance_correction: np.ndarray
    steps: int | None
    eta: float

    def mean_at(self, n: float) -> np.ndarray:
        """The order-1/n mean at the last hidden width n."""
        return self.mean_infinite + self.mean_correction / n

    def covariance_at(self, n: float) -> np.ndarray:
        """The order-1/n covariance at the last hidden width n."""
        return self.covariance_infinite + self.covariance_correction / n


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


def ntk_preactivation_cumulant(D: np.ndarray, F: np.ndarray) -> np.ndarray:
    """n · κ(Θ̂_ab, f_c, f_d) of the output-layer NTK with two outputs of the same neuron, (N, N, N, N),
    from the compiled D and F (F stored as F[α1, α3, α2, α4])."""
    return D + np.einsum("acbd->abcd", F) + np.einsum("adbc->abcd", F)


def frozen_ntk_prediction(K, H, G1, H1, A, B, D, F, y_train, n_train: int, eta: float,
                          steps: int | None = None) -> FrozenNTKPrediction:
    """The frozen-NTK ensemble to order 1/n from the output layer's compiled statistics over the samples
    (training samples first, indices 0..n_train−1, then the test samples): K, H, G1, H1 (N, N) and
    A, B, D, F (N, N, N, N); ``eta`` the learning rate (the learning-rate tensor's λ_b, λ_W are those
    the flow's NTK was computed with), ``steps`` None for convergence.

    With f_t = L(Θ̂) f_0 + M(Θ̂) y, M(Θ) = Θ_TD G_t(Θ_DD), L = [−M | I] (columns: training, test):

        mean        = M y + (1/n){DM[H1] y + ½ Σ C D²M y},
        covariance  = L K Lᵀ + (1/n){L G1 Lᵀ + (DL[H1] K Lᵀ + Σ_p DL[S_p] 𝒟_p Lᵀ + ½ Σ C D²L K Lᵀ + h.c.)
                                     + Σ C DL K DLᵀ + Σ C (DM y)(DM y)ᵀ},

    C = n·Cov(Θ̂) (:func:`ntk_covariance`), 𝒟_p = n·κ(Θ̂_p, f_0, f_0) (:func:`ntk_preactivation_cumulant`);
    the cumulants of the joint law beyond these (κ(Θ̂, Θ̂, f_0, f_0), third cumulants of Θ̂) are O(1/n²)."""
    K, H, G1, H1 = (np.asarray(v, dtype=float) for v in (K, H, G1, H1))
    A, B, D4, F4 = (np.asarray(v, dtype=float) for v in (A, B, D, F))
    y = np.asarray(y_train, dtype=float).reshape(-1)
    N = H.shape[0]
    if any(m.shape != (N, N) for m in (K, G1, H1)) or any(t.shape != (N,) * 4 for t in (A, B, D4, F4)):
        raise RGFlowError("K, H, G1, H1 must be (N, N) and A, B, D, F (N, N, N, N) over the same samples")
    if y.shape != (n_train,) or not 0 < n_train < N:
        raise RGFlowError("need y_train of length N_train and at least one test sample after the training samples")
    Dn, T = slice(0, n_train), slice(n_train, N)
    check_training(H[Dn, Dn], eta, steps)
    eye = np.eye(n_train)
    G0 = _apply_G(H[Dn, Dn], eye, eta, steps)[0]
    M0 = H[T, Dn] @ G0
    L0 = np.hstack([-M0, np.eye(N - n_train)])

    def derivatives(delta):
        """(DM[Δ], D²M[Δ, Δ]) as (N_test, N_train) matrices."""
        _, dG, d2G = _apply_G(H[Dn, Dn], eye, eta, steps, delta[Dn, Dn])
        return delta[T, Dn] @ G0 + H[T, Dn] @ dG, 2.0 * delta[T, Dn] @ dG + H[T, Dn] @ d2G

    def as_L(dM):
        return np.hstack([-dM, np.zeros((N - n_train, N - n_train))])

    mean, cov = M0 @ y, L0 @ K @ L0.T
    dM1 = derivatives(H1)[0]
    mean_corr = dM1 @ y
    half = as_L(dM1) @ K @ L0.T                                  # the terms written once, then + transpose
    pairs = [(a, b) for a in range(N) for b in range(a, N)]
    cum = ntk_preactivation_cumulant(D4, F4)
    directions = []
    for a, b in pairs:
        delta = np.zeros((N, N))
        delta[a, b] = delta[b, a] = 1.0
        half = half + as_L(derivatives(delta)[0]) @ cum[a, b] @ L0.T
        directions.append(delta)
    C4 = ntk_covariance(A, B)
    C = np.array([[C4[a, b, c, d] for c, d in pairs] for a, b in pairs])
    mu, U = np.linalg.eigh((C + C.T) / 2)
    second = np.zeros_like(cov)
    for k in range(len(pairs)):
        if mu[k] == 0.0:
            continue
        delta = np.einsum("p,pij->ij", U[:, k], np.array(directions))
        dM, d2M = derivatives(delta)
        mean_corr = mean_corr + 0.5 * mu[k] * d2M @ y
        half = half + 0.5 * mu[k] * as_L(d2M) @ K @ L0.T
        second = second + mu[k] * (as_L(dM) @ K @ as_L(dM).T + np.outer(dM @ y, dM @ y))
    cov_corr = L0 @ G1 @ L0.T + half + half.T + second
    return FrozenNTKPrediction(mean, mean_corr, (cov + cov.T) / 2, (cov_corr + cov_corr.T) / 2, steps, float(eta))


@dataclass(frozen=True)
class FrozenEnsemble:
    """Brute force: the frozen-NTK predictions of real networks on the test inputs, their ``mean`` ±
    ``mean_se`` and ``covariance`` ± ``covariance_se``."""

    mean: np.ndarray
    mean_se: np.ndarray
    covariance: np.ndarray
    covariance_se: np.ndarray
    networks: int


def frozen_ensemble(act, X_train, y_train, X_test, depth: int, width: int, C_b: float, C_W: float,
                    lambda_b: float, lambda_W: float, eta: float, steps: int | None = None,
                    networks: int = 20_000, seed: int = 0, groups: int = 20, chunk: int = 2000) -> FrozenEnsemble:
    """Brute force: ``networks`` real networks (those of :func:`rgflow.training.train_ensemble`, in
    antithetic pairs), each trained with its own NTK frozen at initialisation — f_t = f_0(T) +
    Θ̂_TD G_t(Θ̂_DD)(y − f_0(D)) with the empirical Θ̂ (same learning-rate tensor) and f_0 — and the
    statistics of those predictions (:func:`rgflow.training.ensemble.ensemble_statistics`)."""
    from derive import activation
    from derive.activations import Activation

    from .ensemble import _init, ensemble_statistics
    act = act if isinstance(act, Activation) else activation(act)
    sigma, dsigma = act.numpy_function(), act.numpy_derivative(1)
    X_train, X_test = np.atleast_2d(np.asarray(X_train, float)), np.atleast_2d(np.asarray(X_test, float))
    y = np.asarray(y_train, float).reshape(-1)
    if (depth < 2 or width < 1 or networks < 2 * groups or networks % 2 or chunk % 2 or y.shape != (X_train.shape[0],)
            or steps is not None and steps < 0):
        raise RGFlowError("need depth ≥ 2, width ≥ 1, an even number of networks ≥ 2·groups, y_train of length "
                          "N_train and steps ≥ 0")
    rng = np.random.default_rng(seed)
    preds = []
    for start in range(0, networks, chunk):
        M = min(chunk, networks - start)
        Ws, bs = _init(rng, M, [X_train.shape[1]] + [width] * (depth - 1) + [1], C_b, C_W, True)
        preds.append(frozen_predictions(Ws, bs, X_train, y, X_test, sigma, dsigma, lambda_b, lambda_W, eta, steps))
    pred = np.concatenate(preds)
    return FrozenEnsemble(*ensemble_statistics(pred, True, groups), networks)


def frozen_predictions(Ws, bs, X_train, y, X_test, sigma, dsigma, lambda_b: float, lambda_W: float, eta: float,
                       steps: int | None) -> np.ndarray:
    """(M, N_test): each network (parameters ``Ws``, ``bs``, (M, …) arrays as in
    :mod:`rgflow.training.ensemble`) trained with its NTK frozen at these parameters:
    f_0(T) + Θ̂_TD G_t(Θ̂_DD)(y − f_0(D)), the empirical Θ̂ with the learning-rate tensor (λ_b, λ_W)."""
    from .ensemble import empirical_ntk, forward
    X = np.vstack([X_train, X_test])
    n_train = X_train.shape[0]
    theta = empirical_ntk(Ws, bs, X, sigma, dsigma, lambda_b, lambda_W)
    f0 = forward(Ws, bs, X, sigma)[-1][..., 0]
    DD, TD = theta[:, :n_train, :n_train], theta[:, n_train:, :n_train]
    residual = y - f0[:, :n_train]
    if steps is None:
        lam = np.linalg.eigvalsh(DD)
        singular = int(np.sum(lam[:, 0] <= 1e-12 * lam[:, -1]))
        if singular:
            raise RGFlowError(f"{singular} of {len(DD)} networks of width {Ws[-1].shape[2]} have a singular training "
                              "NTK at initialisation (e.g. ReLU neurons dead on every input), so their frozen-NTK "
                              "regression does not converge; train a fixed number of steps instead")
        g = np.linalg.solve(DD, residual[..., None])[..., 0]
    else:                          # G_t r = η Σ_{s<t} (I − ηΘ)^s r: no inverse, singular Θ allowed
        w, g = residual.copy(), np.zeros_like(residual)
        for _ in range(int(steps)):
            g += w
            w = w - eta * np.einsum("mij,mj->mi", DD, w)
        g *= eta
    return f0[:, n_train:] + np.einsum("mij,mj->mi", TD, g)


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
