"""Monte Carlo of the ddNTK statistics R, S, T, U of real random MLPs (second-derivative tensors).

Networks as in :mod:`rgflow.training.ensemble`: z^{(1)} = b^{(1)} + W^{(1)}x,
z^{(l+1)} = b^{(l+1)} + W^{(l+1)}σ(z^{(l)}), W^{(l)} ~ N(0, C_W/n_{l−1}) (n_0 the input dimension),
b^{(l)} ~ N(0, C_b), hidden widths n, output width n_out (the sampler uses n_out = 2).  The
learning-rate tensor λ is λ_b for every bias and λ_W/n_{l−1} for every weight of layer l.  With θ
all parameters, z_{i;α} = z^{(L)}_i(x_α) and the parameter-space vectors v_{i;α} = λ ⊙ ∇_θ z_{i;α},
each network has

* Ξ_{i0;i1i2}(α0;α1,α2)       = ∂²z_{i0;α0}[v_{i1;α1}, v_{i2;α2}],
* Ψ_{i0;i1i2i3}(α0;α1,α2,α3)  = ∂³z_{i0;α0}[v_{i1;α1}, v_{i2;α2}, v_{i3;α3}],
* Ω_{i0i1;i2i3}(α0,α1;α2,α3)  = Σ_ρ λ_ρ ∂²z_{i0;α0}[e_ρ, v_{i2;α2}] ∂²z_{i1;α1}[e_ρ, v_{i3;α3}],

so that the dNTK is dĤ_{i0i1i2}(α0;α1,α2) = Σ_μ v_{i0;α0,μ} ∂_μ Ĥ_{i1i2}(α1,α2)
= Ξ_{i1;i0i2}(α1;α0,α2) + Ξ_{i2;i0i1}(α2;α0,α1).  At order 1/n (n = n_{L−1}), with the
neuron structure E[Ψ_{i0;i1i2i3}] = [δ_{i0i1}δ_{i2i3} R_{0123} + δ_{i0i2}δ_{i1i3} R_{0213} +
δ_{i0i3}δ_{i1i2} R_{0312}]/n and E[Ω_{i0i1;i2i3}] = [δ_{i0i1}δ_{i2i3} S + δ_{i0i2}δ_{i1i3} T +
δ_{i0i3}δ_{i1i2} U]/n, the estimators use two distinct output neurons i ≠ k:

    R_{α0α1α2α3}/n = E[Ψ_{i;ikk}(α0;α1,α2,α3)],   S/n = E[Ω_{ii;kk}(α0α1;α2α3)],
    T/n = E[Ω_{ik;ik}(α0α1;α2α3)],                U/n = E[Ω_{ik;ki}(α0α1;α2α3)],

and, as an isotropy check from the same networks, E[Ψ_{i;iii}] = (R_{0123} + R_{0213} + R_{0312})/n
and E[Ω_{ii;ii}] = (S + T + U)/n.  Each per-network value averages the orderings (i, k) = (0, 1),
(1, 0) (and i = 0, 1 for the single-neuron ones); estimates are n × (mean over networks), standard
errors n × (spread of per-network values)/√M.

Computation (float64): exact gradients ∇_θ z_{i;α} of all outputs by backpropagation
(:func:`rgflow.training.ensemble._backprop`, vectorised over networks and over the n_out·N_D output
directions e = i·N_D + α); the Hessian-vector products ∂²z_e[·, v_d] by central differences of
exact gradients, (∇z_e(θ + h v_d) − ∇z_e(θ − h v_d))/(2h) with h = ``STEP_HVP``; Ψ by the 4-point
mixed second difference of g_{e0,d3}(θ) = ∇z_{e0}(θ)·v_{d3} (v fixed at θ_0) along v_{d1}, v_{d2}
with h = ``STEP_PSI``,

    Ψ[e0; d1, d2, d3] = [g(θ+h v1+h v2) − g(θ+h v1−h v2) − g(θ−h v1+h v2) + g(θ−h v1−h v2)]/(4h²),

for d1 ≤ d2 (the stencil is symmetric in d1, d2).  Cost per network: 2D² + 2D + 2 gradient
evaluations of D outputs each (D = n_out N_D).  Steps, chosen by testing against a Richardson
extrapolation of h = 1e-3 and 5e-4 (tanh, C_W = λ = 1, depth 3, n = 16 and depth 4, n = 32,
N_D = 2): the truncation error is O(h²), the roundoff O(ε/h) (Ξ, Ω) and O(ε/h²) (Ψ); at
STEP_HVP = 1e-5 the per-network error of Ξ and Ω is ≲ 1e-9 of their largest entry, at
STEP_PSI = 1e-4 that of Ψ is ≲ 2e-7 (h = 1e-3 would give 1e-5, h = 1e-5 roundoff 1e-6), far below
the Monte Carlo standard errors (≳ 1e-3 of the estimates).  The steps are absolute, sized for
λ_b, λ_W, C_W of order one.  For a linear network (σ(z) = z) z is a polynomial of degree L in θ:
the HVP stencil is then exact (up to roundoff) for L ≤ 3, the Ψ stencil for L ≤ 4.
Tests: tests/rgflow/test_ddntk_montecarlo.py.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from derive.errors import RGFlowError
from rgflow.training.ensemble import _backprop, _init, forward

__all__ = ["DdntkResult", "ddntk_tensors", "ddntk_sample", "learning_rates", "STEP_HVP", "STEP_PSI"]

STEP_HVP = 1e-5
STEP_PSI = 1e-4


@dataclass(frozen=True)
class DdntkResult:
    """n·R, n·S, n·T, n·U (each (N_D,)*4, indices α0 α1 α2 α3) with standard errors; ``psi_same`` =
    n·E[Ψ_{i;iii}], ``omega_same`` = n·E[Ω_{ii;ii}] (isotropy checks, same networks) with theirs;
    ``width`` = n = n_{L−1}; ``networks`` = M."""

    R: np.ndarray
    S: np.ndarray
    T: np.ndarray
    U: np.ndarray
    R_se: np.ndarray
    S_se: np.ndarray
    T_se: np.ndarray
    U_se: np.ndarray
    psi_same: np.ndarray
    psi_same_se: np.ndarray
    omega_same: np.ndarray
    omega_same_se: np.ndarray
    width: int
    networks: int


def learning_rates(sizes, lambda_b: float, lambda_W: float) -> np.ndarray:
    """λ as a flat vector in the parameter order (W_1, b_1, W_2, b_2, …) of layer sizes n_0, …, n_L."""
    parts = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        parts += [np.full(fan_out * fan_in, lambda_W / fan_in), np.full(fan_out, float(lambda_b))]
    return np.concatenate(parts)


def _flatten(Ws, bs) -> np.ndarray:
    M = Ws[0].shape[0]
    return np.concatenate([a.reshape(M, -1) for W, b in zip(Ws, bs) for a in (W, b)], axis=1)


def _unflatten(theta, shapes):
    M, parts, start = theta.shape[0], [], 0
    for shape in shapes:
        size = int(np.prod(shape))
        parts.append(theta[:, start:start + size].reshape((M,) + shape))
        start += size
    return parts[0::2], parts[1::2]


def _output_gradients(theta, shapes, X, sigma, dsigma) -> np.ndarray:
    """∇_θ z_e of every output direction e = i·N_D + α at flat parameters theta (M, P): (M, D, P)."""
    Ws, bs = _unflatten(theta, shapes)
    zs = forward(Ws, bs, X, sigma)
    M, N, n_out = zs[-1].shape
    D = n_out * N
    delta = np.eye(D).reshape(D, n_out, N).transpose(0, 2, 1)       # delta[e, α, i] = 1 for e = i·N + α
    gW, gb = _backprop([np.repeat(W, D, axis=0) for W in Ws], [np.repeat(z, D, axis=0) for z in zs], X,
                       np.tile(delta, (M, 1, 1)), sigma, dsigma)
    return np.concatenate([g.reshape(M, D, -1) for pair in zip(gW, gb) for g in pair], axis=2)


def ddntk_tensors(Ws, bs, X, sigma, dsigma, lambda_b: float, lambda_W: float,
                  step_hvp: float = STEP_HVP, step_psi: float = STEP_PSI):
    """Per-network Ξ, Ψ, Ω (module docstring) of networks Ws[l] (M, n_l, n_{l−1}), bs[l] (M, n_l) at
    inputs X (N_D, n_0).  Returns (Xi, Psi, Omega) with Xi[m, i0, α0, i1, α1, i2, α2] =
    Ξ_{i0;i1i2}(α0;α1,α2), Psi[m, i0, α0, i1, α1, i2, α2, i3, α3] = Ψ_{i0;i1i2i3}(α0;α1,α2,α3) and
    Omega[m, i0, α0, i1, α1, i2, α2, i3, α3] = Ω_{i0i1;i2i3}(α0,α1;α2,α3)."""
    X = np.atleast_2d(np.asarray(X, float))
    Ws = [np.asarray(W, float) for W in Ws]
    bs = [np.asarray(b, float) for b in bs]
    shapes = [s for W, b in zip(Ws, bs) for s in (W.shape[1:], b.shape[1:])]
    lam = learning_rates([X.shape[1]] + [W.shape[1] for W in Ws], lambda_b, lambda_W)
    theta = _flatten(Ws, bs)
    M, P = theta.shape
    N, n_out = X.shape[0], Ws[-1].shape[1]
    D = N * n_out

    def grad(t):
        return _output_gradients(t, shapes, X, sigma, dsigma)

    V = lam * grad(theta)                                                   # (M, D, P): v_d
    Vt = V.transpose(0, 2, 1)
    h = step_hvp
    Hv = np.stack([(grad(theta + h * V[:, d]) - grad(theta - h * V[:, d])) / (2 * h) for d in range(D)],
                  axis=1).reshape(M, D * D, P)                              # [(d, e)]: ∂²z_e[·, v_d]
    Xi = np.matmul(Hv, Vt).reshape(M, D, D, D).transpose(0, 2, 1, 3)        # [e0, d1, d2]
    Omega = np.matmul(Hv * lam, Hv.transpose(0, 2, 1)).reshape(M, D, D, D, D).transpose(0, 2, 4, 1, 3)
    del Hv

    def g(t):                                                               # (M, e0, d3)
        return np.matmul(grad(t), Vt)

    h = step_psi
    g0 = g(theta)
    Psi = np.empty((M, D, D, D, D))                                         # [e0, d1, d2, d3]
    for d1 in range(D):
        for d2 in range(d1, D):
            p, q = h * (V[:, d1] + V[:, d2]), h * (V[:, d1] - V[:, d2])
            cross = 2 * g0 if d1 == d2 else g(theta + q) + g(theta - q)
            Psi[:, :, d1, d2] = Psi[:, :, d2, d1] = (g(theta + p) + g(theta - p) - cross) / (4 * h * h)
    return (Xi.reshape((M,) + (n_out, N) * 3), Psi.reshape((M,) + (n_out, N) * 4),
            Omega.reshape((M,) + (n_out, N) * 4))


def _per_network(Psi, Omega) -> np.ndarray:
    """Per-network R, S, T, U, Ψ_{i;iii}, Ω_{ii;ii} (not yet × n): (M, 6, N_D, N_D, N_D, N_D)."""
    pairs = ((0, 1), (1, 0))
    R = sum(Psi[:, i, :, i, :, k, :, k, :] for i, k in pairs) / 2
    S = sum(Omega[:, i, :, i, :, k, :, k, :] for i, k in pairs) / 2
    T = sum(Omega[:, i, :, k, :, i, :, k, :] for i, k in pairs) / 2
    U = sum(Omega[:, i, :, k, :, k, :, i, :] for i, k in pairs) / 2
    psi = (Psi[:, 0, :, 0, :, 0, :, 0, :] + Psi[:, 1, :, 1, :, 1, :, 1, :]) / 2
    omega = (Omega[:, 0, :, 0, :, 0, :, 0, :] + Omega[:, 1, :, 1, :, 1, :, 1, :]) / 2
    return np.stack([R, S, T, U, psi, omega], axis=1)


def ddntk_sample(sigma, dsigma, X, depth: int, width: int, C_b: float, C_W: float, lambda_b: float,
                 lambda_W: float, networks: int, seed: int = 0, chunk: int | None = None) -> DdntkResult:
    """Estimate n·R, n·S, n·T, n·U (and the single-neuron checks) from ``networks`` random networks of
    ``depth`` layers (hidden width ``width``, two output neurons) at inputs X (N_D, n_0).

    ``sigma``, ``dsigma``: vectorised numpy callables (σ and σ').  Networks are drawn and processed
    ``chunk`` at a time (default: about 200 MB of working arrays per chunk); the draws depend on
    ``seed`` and ``chunk``."""
    X = np.atleast_2d(np.asarray(X, float))
    if depth < 2 or width < 1 or networks < 2 or (chunk is not None and chunk < 1):
        raise RGFlowError("need depth ≥ 2, width ≥ 1, networks ≥ 2 and chunk ≥ 1")
    sizes = [X.shape[1]] + [width] * (depth - 1) + [2]
    P = sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:]))
    D = 2 * X.shape[0]
    if chunk is None:
        chunk = max(1, int(2e8 / (8 * 4 * D * D * P)))
    rng = np.random.default_rng(seed)
    values = []
    for start in range(0, networks, chunk):
        Ws, bs = _init(rng, min(chunk, networks - start), sizes, C_b, C_W, antithetic=False)
        _, Psi, Omega = ddntk_tensors(Ws, bs, X, sigma, dsigma, lambda_b, lambda_W)
        values.append(_per_network(Psi, Omega))
    values = width * np.concatenate(values)
    mean = values.mean(axis=0)
    se = values.std(axis=0, ddof=1) / np.sqrt(networks)
    return DdntkResult(*mean[:4], *se[:4], mean[4], se[4], mean[5], se[5], width, networks)
