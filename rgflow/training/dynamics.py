"""The dynamical part of the 1/n trained ensemble: the NTK's motion during training (dNTK, ddNTK).

Stage *training, dynamical part at order 1/n* (issue #15; docs/training.md; PDLT ch. 11 and ∞).
Full-batch gradient descent on ½Σ_{A∈D}(z_A − y_A)², Δθ = −η λ Σ_A ∇z_A ε_A with ε_A = z_A − y_A and
a diagonal learning-rate tensor λ.  With v_c = λ∇z_c, over the points (training D = 0..N−1, then the
test points, N_P in all) define per network

    H_{ab} = ∇z_a·λ·∇z_b,  Ξ_{a;bc} = ∂²z_a[v_b, v_c],  Ψ_{a;bcd} = ∂³z_a[v_b, v_c, v_d],
    Ω_{ab;cd} = (∂²z_a[·, v_c])·λ·(∂²z_b[·, v_d]).

Taylor's theorem at θ_t gives, to first order in the 1/n objects Ξ, Ψ, Ω (their own changes and
products are of higher order; Ψ and Ω constant; sums over c, d, e ∈ D)

    z_{t+1,a}   = z_a − η H_{ac} ε_c + (η²/2) Ξ_{a;cd} ε_c ε_d − (η³/6) Ψ_{a;cde} ε_c ε_d ε_e,
    H_{t+1,ab}  = H_{ab} − η (Ξ_{a;cb} + Ξ_{b;ca}) ε_c + (η²/2) ddI_{ab;cd} ε_c ε_d,
                  ddI_{ab;cd} = Ψ_{a;bcd} + Ψ_{b;acd} + Ω_{ab;dc} + Ω_{ab;cd},
    Ξ_{t+1,a;bc} = Ξ_{a;bc} − η (Ψ_{a;bcd} + Ω_{ab;cd} + Ω_{ac;bd}) ε_d

(all at step t on the right).  Only Ξ_{a;bc} with c ∈ D is ever needed (Ξ_{a;cd} and Ξ_{b;ca} =
Ξ_{b;ac}, Ξ symmetric in b, c), and only H's columns in D.

:func:`linearised_trajectory` linearises these around the zeroth-order trajectory (H = H̄, Ξ = Ψ = Ω = 0:
ε⁽⁰⁾_t = (I − ηH̄_DD)^t ε_0, z⁽⁰⁾_{t+1} = z⁽⁰⁾_t − η H̄_{:,D} ε⁽⁰⁾_t) to first order in (Ξ_0, Ψ, Ω):

    δz_{t+1} = δz_t − η H̄_{:,D} δz_{t,D} − η δH_t ε⁽⁰⁾_t + (η²/2) Ξ_t[ε⁽⁰⁾, ε⁽⁰⁾] − (η³/6) Ψ[ε⁽⁰⁾, ε⁽⁰⁾, ε⁽⁰⁾],
    δH_{t+1} = δH_t − η (Ξ_{t,a;cb} + Ξ_{t,b;ca}) ε⁽⁰⁾_c + (η²/2) ddI[ε⁽⁰⁾, ε⁽⁰⁾],   δH_0 = 0,
    Ξ_{t+1}  = Ξ_t − η (Ψ_{a;bcd} + Ω_{ab;cd} + Ω_{ac;bd}) ε⁽⁰⁾_d,

for given z_0, Ξ_0, Ψ, Ω (one row per network, vectorised over rows); δz_T is a polynomial of
degree ≤ 3 in z_0.  :func:`dynamical_correction` takes its expectation over the initial ensemble at
order 1/n with H_0 = H̄ (the NTK's own fluctuation ΔH and mean shift are the frozen part,
:mod:`rgflow.training.frozen`): z_0 ~ N(0, K) on all points, E[Ψ] = psi/n, E[Ω] = omega/n, and Ξ_0 of
zero mean correlated with z_0, E[Ξ_{0,a;bc} g(z_0)] = (1/n) Σ_e X_{abce} E[∂g/∂z_e] (X = n·κ(Ξ, z)),
which for polynomial g is Ξ_0 replaced by its regression on z_0, (1/n) X K⁺ z_0 (K⁺ the
pseudo-inverse: a singular K is fine when X lies in its range).  Then

    E[z_T(test)]   = m_∞ + mean_correction/n,        mean_correction = n E[δz_T],
    Cov[z_T(test)] = Σ_∞ + covariance_correction/n,   covariance_correction = n (E[δz_T (z⁽⁰⁾_T − m_∞)ᵀ] + h.c.),

each + O(1/n²) (m_∞, Σ_∞: :mod:`rgflow.training.infinite`).  The Gaussian integrals are exact by a
tensor-product 3-node Gauss–Hermite rule over z_0 = L u (L the symmetric square root of K), exact for
degree ≤ 5 ≥ 3 + 1: 3^{N_P} nodes, so at most :data:`MAX_POINTS` = 8 points (6561 nodes).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from derive.errors import RGFlowError

__all__ = ["DynamicalCorrection", "dynamical_correction", "Trajectory", "linearised_trajectory", "MAX_POINTS"]

MAX_POINTS = 8                   # 3^8 = 6561 quadrature nodes: the tensor-product rule's practical limit


@dataclass(frozen=True)
class DynamicalCorrection:
    """The dynamical (NTK-motion) part of the trained ensemble on the test inputs at order 1/n:
    ``mean_correction``/n and ``covariance_correction``/n added to the infinite-width ``mean_infinite``,
    ``covariance_infinite`` (here from the same quadrature; equal to :mod:`rgflow.training.infinite`'s)
    after ``steps`` steps (the number run: at convergence, the one where it was reached)."""

    mean_correction: np.ndarray
    covariance_correction: np.ndarray
    mean_infinite: np.ndarray
    covariance_infinite: np.ndarray
    steps: int
    eta: float
    nodes: int


@dataclass(frozen=True)
class Trajectory:
    """The linearised dynamics after ``steps`` steps, one row per network: the zeroth-order outputs
    ``z`` = z⁽⁰⁾_T and their first-order change ``dz`` = δz_T, both (rows, N_P)."""

    z: np.ndarray
    dz: np.ndarray
    steps: int


def _coefficients(psi: np.ndarray, omega: np.ndarray, n_train: int):
    """The constant tensors of the linearised dynamics: Ψ_{a;cde} (c, d, e ∈ D), ddI_{ab;cd}
    (b, c, d ∈ D) and the Ξ source Ψ_{a;bcd} + Ω_{ab;cd} + Ω_{ac;bd} (c, d ∈ D)."""
    D = slice(0, n_train)
    ddi = psi + np.einsum("bacd->abcd", psi) + np.einsum("abdc->abcd", omega) + omega
    source = psi + omega + np.einsum("acbd->abcd", omega)
    return psi[:, D, D, D], ddi[:, D, D, D], source[:, :, D, D]


def _quadratic(T: np.ndarray, eps: np.ndarray) -> np.ndarray:
    """Σ_{cd} T[n, …, c, d] ε_{n,c} ε_{n,d} for per-row tensors T (rows, …, N, N)."""
    return np.einsum("n...d,nd->n...", np.einsum("n...cd,nc->n...d", T, eps), eps)


def _step(state, H_D, psi_D, ddi_D, source_D, y, eta):
    """One step of the linearised dynamics (module docstring) on state (z⁽⁰⁾, δz, δH_{:,D}, Ξ_{:,:,D})."""
    z, dz, dH, xi = state
    N = len(y)
    eps = z[:, :N] - y
    xi_dd = xi[:, :, :N, :]                                                    # Ξ_{a;cd}, c, d ∈ D
    psi_eps = np.tensordot(eps, psi_D, axes=([1], [3]))                        # (n, a, c, d)
    dz_new = (dz - eta * dz[:, :N] @ H_D.T - eta * np.einsum("nab,nb->na", dH, eps)
              + eta ** 2 / 2 * _quadratic(xi_dd, eps) - eta ** 3 / 6 * _quadratic(psi_eps, eps))
    xi_eps = np.einsum("nacb,nc->nab", xi_dd, eps) + np.einsum("nbac,nc->nab", xi[:, :N], eps)
    ddi_eps = np.tensordot(eps, ddi_D, axes=([1], [3]))                        # (n, a, b, c)
    dH_new = dH - eta * xi_eps + eta ** 2 / 2 * np.einsum("nabc,nc->nab", ddi_eps, eps)
    xi_new = np.tensordot(eps, source_D, axes=([1], [3]))
    xi_new *= -eta
    xi_new += xi                                     # in place: Ξ is the largest array, (rows, N_P, N_P, N)
    return z - eta * eps @ H_D.T, dz_new, dH_new, xi_new


def _contraction(H_D: np.ndarray, eta: float) -> float:
    """1 − max|1 − ηλ| over the eigenvalues λ of H̄_DD: the zeroth-order residual's decay per step."""
    lam = np.linalg.eigvalsh(H_D[: H_D.shape[1]])
    return 1.0 - np.abs(1.0 - eta * lam).max()


def _converged(old, new, y, gap: float, eps0: float, tol: float) -> bool:
    """ε⁽⁰⁾ and the step's δz increment below tol·gap relative to ε_0 and δz (so the rest of the
    geometric tail, ~ increment/gap, is below tol)."""
    eps = np.abs(new[0][:, : len(y)] - y).max()
    increment = np.abs(new[1] - old[1]).max()
    return eps <= tol * gap * eps0 and increment <= tol * gap * np.abs(new[1]).max()


def linearised_trajectory(z0, xi0, psi, omega, H, y_train, n_train: int, eta: float, steps: int | None = None,
                          tol: float = 1e-10, max_steps: int = 100_000) -> Trajectory:
    """z⁽⁰⁾_T and δz_T of the linearised dynamics (module docstring) for given initial outputs ``z0``
    (rows, N_P) and Ξ_0 ``xi0`` (rows, N_P, N_P, N_P), constant Ψ ``psi`` and Ω ``omega``
    (N_P, N_P, N_P, N_P, as Ψ_{a;bcd}, Ω_{ab;cd}) and the NTK ``H`` (N_P, N_P); no expectation.

    ``steps`` None runs to convergence: until ε⁽⁰⁾ and the δz increments are below ``tol`` relative to
    their size (scaled by the decay per step), RGFlowError after ``max_steps``."""
    y = np.asarray(y_train, dtype=float).reshape(-1)
    z0, xi0 = np.atleast_2d(np.asarray(z0, dtype=float)), np.asarray(xi0, dtype=float)
    H_D = np.asarray(H, dtype=float)[:, :n_train]
    psi_D, ddi_D, source_D = _coefficients(np.asarray(psi, float), np.asarray(omega, float), n_train)
    state = (z0, np.zeros_like(z0), np.zeros(z0.shape + (n_train,)), xi0[..., :n_train])
    if steps is not None:
        for _ in range(int(steps)):
            state = _step(state, H_D, psi_D, ddi_D, source_D, y, eta)
        return Trajectory(state[0], state[1], int(steps))
    gap, eps0 = _contraction(H_D, eta), np.abs(z0[:, :n_train] - y).max()
    if gap <= 0:
        raise RGFlowError(f"gradient descent with η = {eta} does not converge: need 0 < η < 2/λ_max(H̄_DD) "
                          "and a non-singular H̄_DD")
    for t in range(1, max_steps + 1):
        new = _step(state, H_D, psi_D, ddi_D, source_D, y, eta)
        if _converged(state, new, y, gap, eps0, tol):
            return Trajectory(new[0], new[1], t)
        state = new
    raise RGFlowError(f"the linearised training dynamics did not converge to relative tolerance {tol} within "
                      f"{max_steps} steps (decay per step 1 − {gap:.3g}); pass steps, or a larger max_steps or tol")


def _gaussian_factors(K: np.ndarray):
    """(L, K⁺): the symmetric square root of K and its pseudo-inverse, from one eigendecomposition
    (eigenvalues below 1e-12 of the largest are zero); RGFlowError if K is not positive semi-definite."""
    lam, V = np.linalg.eigh((K + K.T) / 2)
    scale = max(lam.max(), 0.0)
    if scale == 0.0 or lam.min() < -1e-10 * scale:
        raise RGFlowError("the kernel K must be positive semi-definite and non-zero")
    keep = lam > 1e-12 * scale
    root = np.where(keep, np.sqrt(np.clip(lam, 0.0, None)), 0.0)
    inverse = np.where(keep, 1.0 / np.where(keep, lam, 1.0), 0.0)
    return (V * root) @ V.T, (V * inverse) @ V.T


def _hermite_rule(dim: int):
    """(nodes (3^dim, dim), weights (3^dim,)): the tensor-product 3-node Gauss–Hermite rule for
    u ~ N(0, I_dim), exact for polynomials of degree ≤ 5 in each variable."""
    x, w = np.polynomial.hermite_e.hermegauss(3)
    w = w / np.sqrt(2.0 * np.pi)
    grids = np.meshgrid(*([np.arange(3)] * dim), indexing="ij")
    index = np.stack([g.reshape(-1) for g in grids], axis=1)
    return x[index], np.prod(w[index], axis=1)


def _check_symmetric(name: str, T: np.ndarray, permuted: np.ndarray, which: str) -> None:
    """RGFlowError unless T equals its index permutation (the tensor's defining symmetry)."""
    if not np.allclose(T, permuted, rtol=1e-8, atol=1e-12 * max(np.abs(T).max(), 1.0)):
        raise RGFlowError(f"{name} must be symmetric: {which} (check the storage order of its indices)")


def _validated(K, H, X, psi, omega, y_train, n_train, eta, steps):
    """The inputs as float arrays, checked (shapes, symmetries, learning rate, steps)."""
    K, H, X, psi, omega = (np.asarray(v, dtype=float) for v in (K, H, X, psi, omega))
    y = np.asarray(y_train, dtype=float).reshape(-1)
    P = K.shape[0]
    if K.shape != (P, P) or H.shape != (P, P) or any(t.shape != (P,) * 4 for t in (X, psi, omega)):
        raise RGFlowError("K, H must be (N_P, N_P) and X, psi, omega (N_P, N_P, N_P, N_P) over the same points")
    if P > MAX_POINTS:
        raise RGFlowError(f"{P} points need 3^{P} quadrature nodes: at most {MAX_POINTS} points (training + test)")
    if y.shape != (n_train,) or not 0 < n_train < P:
        raise RGFlowError("need y_train of length N_train and at least one test point after the training points")
    if steps is not None and steps < 0:
        raise RGFlowError(f"steps must be non-negative, got {steps}")
    _check_symmetric("X", X, np.einsum("acbe->abce", X), "X_abce = X_acbe")
    for perm in ("acbd", "abdc"):
        _check_symmetric("psi", psi, np.einsum(f"{perm}->abcd", psi), "psi_abcd symmetric in b, c, d")
    _check_symmetric("omega", omega, np.einsum("badc->abcd", omega), "omega_abcd = omega_badc")
    lam = np.linalg.eigvalsh(H[:n_train, :n_train])
    if lam.min() <= 1e-12 * lam.max():
        raise RGFlowError("the NTK of the training inputs is singular (repeated or degenerate inputs)")
    if not 0 < eta < 2 / lam.max():
        raise RGFlowError(f"the learning rate η = {eta} must lie in (0, 2/λ_max) = (0, {2 / lam.max():.6g})")
    return K, H, X, psi, omega, y


def dynamical_correction(K, H, X, psi, omega, y_train, n_train: int, eta: float, steps: int | None = None,
                         tol: float = 1e-10, max_steps: int = 100_000) -> DynamicalCorrection:
    """The order-1/n dynamical part of the trained ensemble on the test points (module docstring).

    Over all N_P ≤ :data:`MAX_POINTS` points (training first, 0..n_train−1, then the test points):
    ``K`` the kernel of z_0 and ``H`` the mean NTK H̄ (N_P, N_P); ``X`` = n·κ(Ξ_{a;bc}, z_e) (symmetric
    in b, c), ``psi`` = n·E[Ψ_{a;bcd}] (symmetric in b, c, d), ``omega`` = n·E[Ω_{ab;cd}] (= its
    [b, a, d, c]), each (N_P,)*4; ``steps`` None for convergence (``tol``, ``max_steps`` as in
    :func:`linearised_trajectory`).  Cost: 3^{N_P} quadrature nodes per step.

    Raises RGFlowError for inconsistent shapes or symmetries, more than MAX_POINTS points, a singular
    training NTK, η outside (0, 2/λ_max(H̄_DD)), or no convergence within ``max_steps``."""
    K, H, X, psi, omega, y = _validated(K, H, X, psi, omega, y_train, n_train, eta, steps)
    L, K_plus = _gaussian_factors(K)
    u, weights = _hermite_rule(K.shape[0])
    z0 = u @ L
    xi0 = np.tensordot(z0 @ K_plus, X, axes=([1], [3]))                       # E[Ξ_0 | z_0] (times n)
    traj = linearised_trajectory(z0, xi0, psi, omega, H, y, n_train, eta, steps, tol, max_steps)
    z, dz = traj.z[:, n_train:], traj.dz[:, n_train:]
    mean = weights @ z
    centred = z - mean
    cross = np.einsum("n,ni,nj->ij", weights, dz, centred)
    cov = np.einsum("n,ni,nj->ij", weights, centred, centred)
    return DynamicalCorrection(weights @ dz, cross + cross.T, mean, (cov + cov.T) / 2, traj.steps, float(eta),
                               len(weights))
