"""Brute-force truth: ensembles of real finite-width MLPs trained by full-batch gradient descent.

Stage *training, ensemble* (issue #15 item 3): M networks z^{(1)} = b^{(1)} + W^{(1)}x,
z^{(l+1)} = b^{(l+1)} + W^{(l+1)}σ(z^{(l)}), widths n_1 = … = n_{L−1} = n and one output, drawn at
the PDLT initialisation (W^{(l)} ~ N(0, C_W/n_{l−1}), b ~ N(0, C_b)), trained on
½Σ_A (z^{(L)}(x_A) − y_A)² with PDLT's learning-rate tensor — each bias moves by −η λ_b ∂/∂b, each
weight of layer l by −η (λ_W/n_{l−1}) ∂/∂W — vectorised over the ensemble (batched numpy matmuls,
exact backpropagation).

Antithetic pairs: networks 2k and 2k+1 are identical except that the last layer's weights and bias
are negated, so their initial functions are f_0 and −f_0; averaging each pair removes the part of
the trained prediction that is odd in f_0 (most of its spread), and the standard error of the mean
comes from the M/2 independent pair averages.  The covariance of the trained predictions is the
sample covariance over all M networks (each has the ensemble's law), its standard error from the
spread of estimates over groups of pairs.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np

from derive.errors import RGFlowError

__all__ = ["TrainedEnsemble", "train_ensemble", "forward", "gradients", "empirical_ntk", "ensemble_statistics"]


@dataclass(frozen=True)
class TrainedEnsemble:
    """Trained predictions on the test inputs: ``predictions`` (M, N_test); ``mean`` ± ``mean_se``;
    ``covariance`` ± ``covariance_se``; ``steps`` taken; ``train_loss`` (M,) at the end;
    ``initial`` and ``final`` parameters ((W_1..W_L), (b_1..b_L)), each (M, …)."""

    predictions: np.ndarray
    mean: np.ndarray
    mean_se: np.ndarray
    covariance: np.ndarray
    covariance_se: np.ndarray
    steps: int
    train_loss: np.ndarray
    width: int
    networks: int
    initial: tuple = ()
    final: tuple = ()


def _init(rng, M, sizes, C_b, C_W, antithetic):
    Ws, bs = [], []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        half = M // 2 if antithetic else M
        W = rng.standard_normal((half, fan_out, fan_in)) * np.sqrt(C_W / fan_in)
        b = rng.standard_normal((half, fan_out)) * np.sqrt(C_b)
        if antithetic:
            W, b = np.repeat(W, 2, axis=0), np.repeat(b, 2, axis=0)
        Ws.append(W)
        bs.append(b)
    if antithetic:
        Ws[-1][1::2] *= -1
        bs[-1][1::2] *= -1
    return Ws, bs


def forward(Ws, bs, X, sigma):
    """Preactivations of every layer for inputs X (N, n_0): list of (M, N, n_l)."""
    zs, a = [], np.broadcast_to(X, (Ws[0].shape[0],) + X.shape)
    for l, (W, b) in enumerate(zip(Ws, bs)):
        z = np.einsum("mij,mnj->mni", W, a) + b[:, None, :]
        zs.append(z)
        if l < len(Ws) - 1:
            a = sigma(z)
    return zs


def _backprop(Ws, zs, X, delta, sigma, dsigma):
    """Σ_A delta_A ∂z^{(L)}(x_A)/∂θ for every network: (∂/∂W_l, ∂/∂b_l) per layer."""
    gW, gb = [None] * len(Ws), [None] * len(Ws)
    for l in range(len(Ws) - 1, -1, -1):
        a = sigma(zs[l - 1]) if l > 0 else np.broadcast_to(X, (Ws[0].shape[0],) + X.shape)
        gW[l] = np.einsum("mni,mnj->mij", delta, a)
        gb[l] = delta.sum(axis=1)
        if l > 0:
            delta = np.einsum("mni,mij->mnj", delta, Ws[l]) * dsigma(zs[l - 1])
    return gW, gb


def gradients(Ws, bs, X, y, sigma, dsigma):
    """(∂L/∂W_l, ∂L/∂b_l) for L = ½Σ_A (z^{(L)}(x_A) − y_A)², and the loss, for every network."""
    zs = forward(Ws, bs, X, sigma)
    delta = zs[-1] - y[None, :, None]                                 # (M, N, 1)
    gW, gb = _backprop(Ws, zs, X, delta, sigma, dsigma)
    return gW, gb, 0.5 * np.sum(delta[..., 0] ** 2, axis=1)


def empirical_ntk(Ws, bs, X, sigma, dsigma, lambda_b: float, lambda_W: float) -> np.ndarray:
    """Θ_{AB} = Σ_θ λ_θ ∂z^{(L)}(x_A)/∂θ ∂z^{(L)}(x_B)/∂θ of every network, (M, N, N), with the
    learning-rate tensor of the training (λ_b per bias, λ_W/n_{l−1} per weight of layer l)."""
    zs = forward(Ws, bs, X, sigma)
    M, N = zs[-1].shape[:2]
    grads = []
    for A in range(N):
        delta = np.zeros((M, N, 1))
        delta[:, A, 0] = 1.0
        grads.append(_backprop(Ws, zs, X, delta, sigma, dsigma))
    theta = np.zeros((M, N, N))
    for A in range(N):
        for B in range(A, N):
            total = np.zeros(M)
            for l, W in enumerate(Ws):
                total += lambda_W / W.shape[2] * np.einsum("mij,mij->m", grads[A][0][l], grads[B][0][l])
                total += lambda_b * np.einsum("mi,mi->m", grads[A][1][l], grads[B][1][l])
            theta[:, A, B] = theta[:, B, A] = total
    return theta


def train_ensemble(act, X_train, y_train, X_test, depth: int, width: int, C_b: float, C_W: float,
                   lambda_b: float, lambda_W: float, eta: float, steps: int | None = None,
                   networks: int = 1000, seed: int = 0, antithetic: bool = True, groups: int = 20,
                   tol: float = 1e-10, max_steps: int = 100_000, progress: bool = False) -> TrainedEnsemble:
    """Train ``networks`` real networks and return their predictions on ``X_test`` (see module doc).

    ``steps=None`` trains until every network's training residual is below ``tol`` times the norm
    of y (at most ``max_steps`` steps; RGFlowError if not reached)."""
    from derive import activation
    from derive.activations import Activation
    act = act if isinstance(act, Activation) else activation(act)
    sigma, dsigma = act.numpy_function(), act.numpy_derivative(1)
    X_train, X_test = np.atleast_2d(np.asarray(X_train, float)), np.atleast_2d(np.asarray(X_test, float))
    y = np.asarray(y_train, float).reshape(-1)
    if depth < 2 or width < 1 or networks < 2 * groups or (antithetic and networks % 2) or eta <= 0:
        raise RGFlowError("need depth ≥ 2, width ≥ 1, networks ≥ 2·groups (even with antithetic pairs), η > 0")
    if y.shape[0] != X_train.shape[0] or X_test.shape[1] != X_train.shape[1]:
        raise RGFlowError("X_train, y_train and X_test do not match in shape")
    sizes = [X_train.shape[1]] + [width] * (depth - 1) + [1]
    rng = np.random.default_rng(seed)
    Ws, bs = _init(rng, networks, sizes, C_b, C_W, antithetic)
    initial = (tuple(W.copy() for W in Ws), tuple(b.copy() for b in bs))
    rates_W = [eta * lambda_W / fan_in for fan_in in sizes[:-1]]
    rate_b = eta * lambda_b
    scale = max(np.linalg.norm(y), 1e-300)
    t, bound = 0, None
    while True:
        gW, gb, loss = gradients(Ws, bs, X_train, y, sigma, dsigma)
        bound = 1e8 * (loss.max() + scale**2) if bound is None else bound
        if not np.all(np.isfinite(loss)) or loss.max() > bound:
            raise RGFlowError(f"training diverged at step {t}: the loss grew 1e8-fold (η = {eta} too large?)")
        done = (t >= steps) if steps is not None else bool(np.sqrt(2 * loss.max()) <= tol * scale)
        if done:
            break
        if steps is None and t >= max_steps:
            raise RGFlowError(f"not converged after {max_steps} steps (residual {np.sqrt(2 * loss.max()):.3g})")
        for l in range(len(Ws)):
            Ws[l] -= rates_W[l] * gW[l]
            bs[l] -= rate_b * gb[l]
        t += 1
        if progress and t % 1000 == 0:
            print(f"rgflow: training: step {t}, largest loss {loss.max():.3g}", file=sys.stderr, flush=True)
    pred = forward(Ws, bs, X_test, sigma)[-1][..., 0]                 # (M, N_test)
    mean, mean_se, cov, cov_se = ensemble_statistics(pred, antithetic, groups)
    return TrainedEnsemble(pred, mean, mean_se, cov, cov_se, t, loss, width, networks, initial,
                           (tuple(Ws), tuple(bs)))


def ensemble_statistics(pred: np.ndarray, antithetic: bool, groups: int):
    """(mean, its standard error, covariance, its standard error) of predictions (M, N_test): the mean's
    error from the independent units (antithetic pairs averaged, or single networks), the covariance
    over all networks with its error from the spread over ``groups`` groups of units."""
    units = pred.reshape(-1, 2, pred.shape[1]).mean(axis=1) if antithetic else pred
    mean = pred.mean(axis=0)
    mean_se = units.std(axis=0, ddof=1) / np.sqrt(units.shape[0])
    cov = np.cov(pred, rowvar=False, ddof=1).reshape(pred.shape[1], pred.shape[1])
    members = np.arange(pred.shape[0]).reshape(units.shape[0], -1)          # networks of each pair (or one)
    parts = np.array([np.cov(pred[group.ravel()], rowvar=False, ddof=1).reshape(cov.shape)
                      for group in np.array_split(members, groups)])
    return mean, mean_se, cov, parts.std(axis=0, ddof=1) / np.sqrt(groups)
