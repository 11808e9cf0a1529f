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
Ξ_{b;ac}, Ξ symmetric in b, c), and only H's columns in D; for a test point a only Ξ_{a;cd} and
Ξ_{c;ad} (c, d ∈ D).

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

each + O(1/n²) (m_∞, Σ_∞: :mod:`rgflow.training.infinite`).

*Factorisation over the test points.*  The test rows do not couple: the equations of a test row a
(δz_a, δH_{a,D}, Ξ_{a;DD} and Ξ_{D;aD}) read only the training block (ε⁽⁰⁾, δz_D) and tensors with first
or second index a, and nothing reads Ξ_{a;bc} with a, b both test points; :func:`_step` keeps just the
training block and these row entries, so its cost and memory are linear in the test rows.  ε⁽⁰⁾_t
depends on z_0 only through z_{0,D}.  For g a polynomial of z_S (S ⊇ D), Stein's lemma gives
E[Ξ_0 g(z_S)] = (1/n) Σ_{e∈S} X_{..e} E[∂_e g]: only κ(Ξ_0, z_S) enters, so Ξ_0 may be replaced by its
regression on z_S alone, (1/n) X_{..S} K_SS⁺ z_S (exact when X lies in K's range in e, for then X_{..S}
lies in K_SS's).  Hence

* mean: δz_T(a) is a polynomial in z_{0,D} (times at most one Ξ_0 entry), so S = D: one quadrature
  over z_{0,D}, 3^{N_train} nodes, gives E[δz_T(a)] at every test point a at once;
* covariance column b: z⁽⁰⁾_T(b) − m_∞(b) = z_0(b) − A_T(b) z_{0,D} (A_T = H̄_{TD} H̄_DD⁻¹(I − (I − ηH̄_DD)^T)
  as in :mod:`rgflow.training.infinite`) adds z_0(b), so S = D ∪ {b}: one quadrature over z_{0,S},
  3^{N_train+1} nodes, gives E[δz_T(a) (z⁽⁰⁾_T(b) − m_∞(b))] for every row a at once.

Each Gaussian integral is exact by a tensor-product 3-node Gauss–Hermite rule over z_S = L u (L the
symmetric square root of K_SS), exact for degree ≤ 5 ≥ 3 + 1, so the values are those of one rule over
all points jointly (3^{N_P} nodes, the former implementation); m_∞ and Σ_∞ are
:func:`~rgflow.training.infinite.infinite_width_prediction` at the steps run.  So at most
:data:`MAX_TRAIN` = 7 training points (3^8 = 6561 nodes per column) and any number of test points:
per step the mean costs 3^{N_train} nodes × N_test rows and the covariance N_test columns × 3^{N_train+1}
nodes × N_test rows, run in chunks of at most :data:`CHUNK` state elements, so the test count is
limited only by time and by the memory of the inputs themselves (X, psi, omega are (N_P,)*4).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from derive.errors import RGFlowError

from .infinite import check_training, infinite_width_prediction, training_map

__all__ = ["DynamicalCorrection", "dynamical_correction", "Trajectory", "linearised_trajectory", "MAX_TRAIN"]

MAX_TRAIN = 7                    # a covariance column's quadrature has 3^{N_train+1} nodes: 3^8 = 6561 at most
CHUNK = 2 ** 22                  # state elements run at once: nodes × (N_train³ + test rows × 2N_train² + …)


@dataclass(frozen=True)
class DynamicalCorrection:
    """The dynamical (NTK-motion) part of the trained ensemble on the test inputs at order 1/n:
    ``mean_correction``/n and ``covariance_correction``/n added to the infinite-width ``mean_infinite``,
    ``covariance_infinite`` (:mod:`rgflow.training.infinite`'s at the same steps) after ``steps`` steps
    (the number run: at convergence, the one where it was reached); ``nodes`` per quadrature of a
    covariance column, 3^{N_train+1} (the mean's has 3^{N_train})."""

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


def _ddi(psi: np.ndarray, omega: np.ndarray, A: np.ndarray, D: np.ndarray) -> np.ndarray:
    """ddI_{ab;cd} = Ψ_{a;bcd} + Ψ_{b;acd} + Ω_{ab;dc} + Ω_{ab;cd} for a ∈ A, b, c, d ∈ D."""
    omega_A = omega[np.ix_(A, D, D, D)]
    return (psi[np.ix_(A, D, D, D)] + psi[np.ix_(D, A, D, D)].transpose(1, 0, 2, 3) + omega_A.transpose(0, 1, 3, 2)
            + omega_A)


def _source(psi: np.ndarray, omega: np.ndarray, A: np.ndarray, B: np.ndarray, D: np.ndarray) -> np.ndarray:
    """The Ξ source Ψ_{a;bcd} + Ω_{ab;cd} + Ω_{ac;bd} for a ∈ A, b ∈ B, c, d ∈ D."""
    return (psi[np.ix_(A, B, D, D)] + omega[np.ix_(A, B, D, D)]
            + omega[np.ix_(A, D, B, D)].transpose(0, 2, 1, 3))


def _coefficients(H, psi, omega, n_train: int, rows):
    """The constant tensors of the linearised dynamics of the training points D and the test points
    ``rows``: for each set A, (H̄_{AD}, Ψ_{a;cde}, ddI_{ab;cd}, source_{a;bcd}) (b, c, d, e ∈ D), and the
    source of the rows' Ξ_{b;ac} (b, c ∈ D) as [a, b, c, d] = source_{b;acd}."""
    D, R = np.arange(n_train), np.asarray(rows, dtype=int)

    def of(A):
        return H[np.ix_(A, D)], psi[np.ix_(A, D, D, D)], _ddi(psi, omega, A, D), _source(psi, omega, A, D, D)

    return of(D), of(R), _source(psi, omega, D, R, D).transpose(1, 0, 2, 3)


def _last(T: np.ndarray, eps: np.ndarray) -> np.ndarray:
    """Σ_c T[n, …, c] ε_{n,c}."""
    return (T.reshape(len(T), -1, T.shape[-1]) @ eps[:, :, None]).reshape(T.shape[:-1])


def _sourced(xi: np.ndarray, source: np.ndarray, eps: np.ndarray, eta: float) -> np.ndarray:
    """Ξ − η source[ε⁽⁰⁾] (the Ξ equation), in place on the new array: Ξ is the largest state."""
    new = np.tensordot(eps, source, axes=([1], [3]))
    new *= -eta
    new += xi
    return new


def _rows_step(rows, coefficients, powers, xi_b_eps, dz_D, eta):
    """One step (module docstring) of the points A: rows = (z⁽⁰⁾, δz, δH_{A,D}, Ξ_{a;cd}) as (n, A), (n, A),
    (n, A, N), (n, A, N, N) (c, d ∈ D), given the powers (ε, ε⊗ε, ε⊗ε⊗ε) of ε⁽⁰⁾, Σ_c Ξ_{b;ac} ε_c as
    [n, a, b] and δz_D."""
    z, dz, dH, xi = rows
    eps, eps2, eps3 = powers
    n, A = z.shape
    H_AD, psi_A, ddi_A, source_A = coefficients
    dz_new = (dz - eta * dz_D @ H_AD.T - eta * _last(dH, eps)
              + eta ** 2 / 2 * np.einsum("nacd,ncd->na", xi, eps2) - eta ** 3 / 6 * (eps3 @ psi_A.reshape(A, -1).T))
    xi_eps = (eps[:, None, None, :] @ xi)[:, :, 0] + xi_b_eps                   # Σ_c (Ξ_{a;cb} + Ξ_{b;ca}) ε_c
    ddi_eps = (eps2.reshape(n, -1) @ ddi_A.reshape(A * eps.shape[1], -1).T).reshape(n, A, -1)  # ddI[ε, ε]
    dH_new = dH - eta * xi_eps + eta ** 2 / 2 * ddi_eps
    return z - eta * eps @ H_AD.T, dz_new, dH_new, _sourced(xi, source_A, eps, eta)


def _step(state, coefficients, y, eta):
    """One step of the linearised dynamics (module docstring).  The state is the training block
    (z⁽⁰⁾_D, δz_D, δH_DD, Ξ_{D;DD}) and the test rows (z⁽⁰⁾_R, δz_R, δH_RD, Ξ_{a;DD}, Ξ_{D;aD} as
    [n, a, b, c] = Ξ_{b;ac}): only these Ξ entries are ever read, and the rows do not couple (a row a
    reads the training block and its own entries only), so cost and memory are linear in the rows."""
    training, rows, source_B = coefficients
    eps = state[0] - y
    eps2 = eps[:, :, None] * eps[:, None, :]
    powers = (eps, eps2, (eps2[:, :, :, None] * eps[:, None, None, :]).reshape(len(eps), -1))
    new = _rows_step(state[:4], training, powers, _last(state[3], eps).transpose(0, 2, 1), state[1], eta)
    return (new + _rows_step(state[4:8], rows, powers, _last(state[8], eps), state[1], eta)
            + (_sourced(state[8], source_B, eps, eta),))


def _contraction(H_DD: np.ndarray, eta: float) -> float:
    """1 − max|1 − ηλ| over the eigenvalues λ of H̄_DD: the zeroth-order residual's decay per step."""
    lam = np.linalg.eigvalsh(H_DD)
    return 1.0 - np.abs(1.0 - eta * lam).max()


def _converged(old, new, y, gap: float, eps0: float, tol: float) -> bool:
    """ε⁽⁰⁾ and the step's δz increment (training and test rows) below tol·gap relative to ε_0 and δz
    (so the rest of the geometric tail, ~ increment/gap, is below tol)."""
    eps = np.abs(new[0] - y).max()
    increment = max(np.abs(new[1] - old[1]).max(), np.abs(new[5] - old[5]).max(initial=0.0))
    size = max(np.abs(new[1]).max(), np.abs(new[5]).max(initial=0.0))
    return eps <= tol * gap * eps0 and increment <= tol * gap * size


def _run(state, coefficients, y, eta: float, steps: int | None, tol: float, max_steps: int):
    """(the state after ``steps`` steps of :func:`_step`, steps) or, ``steps`` None, at convergence
    (:func:`linearised_trajectory`)."""
    if steps is not None:
        for _ in range(int(steps)):
            state = _step(state, coefficients, y, eta)
        return state, int(steps)
    gap, eps0 = _contraction(coefficients[0][0], eta), np.abs(state[0] - y).max()
    if gap <= 0:
        raise RGFlowError(f"gradient descent with η = {eta} does not converge: need 0 < η < 2/λ_max(H̄_DD) "
                          "and a non-singular H̄_DD")
    for t in range(1, max_steps + 1):
        new = _step(state, coefficients, y, eta)
        if _converged(state, new, y, gap, eps0, tol):
            return new, t
        state = new
    raise RGFlowError(f"the linearised training dynamics did not converge to relative tolerance {tol} within "
                      f"{max_steps} steps (decay per step 1 − {gap:.3g}); pass steps, or a larger max_steps or tol")


def _initial_state(z_D, z_R, xi_D, xi_A, xi_B):
    """The state of :func:`_step` at t = 0 (δz = δH = 0) from z_0 and the Ξ_0 entries (xi_B as [n, a, b, c])."""
    zero = np.zeros_like
    return (z_D, zero(z_D), zero(xi_D[..., 0]), xi_D, z_R, zero(z_R), zero(xi_A[..., 0]), xi_A, xi_B)


def linearised_trajectory(z0, xi0, psi, omega, H, y_train, n_train: int, eta: float, steps: int | None = None,
                          tol: float = 1e-10, max_steps: int = 100_000) -> Trajectory:
    """z⁽⁰⁾_T and δz_T of the linearised dynamics (module docstring) for given initial outputs ``z0``
    (rows, N_P) and Ξ_0 ``xi0`` (rows, N_P, N_P, N_P), constant Ψ ``psi`` and Ω ``omega``
    (N_P, N_P, N_P, N_P, as Ψ_{a;bcd}, Ω_{ab;cd}) and the NTK ``H`` (N_P, N_P); no expectation.

    ``steps`` None runs to convergence: until ε⁽⁰⁾ and the δz increments are below ``tol`` relative to
    their size (scaled by the decay per step), RGFlowError after ``max_steps``."""
    y = np.asarray(y_train, dtype=float).reshape(-1)
    z0, xi0 = np.atleast_2d(np.asarray(z0, dtype=float)), np.asarray(xi0, dtype=float)
    D, R = slice(0, n_train), slice(n_train, z0.shape[1])
    coefficients = _coefficients(np.asarray(H, dtype=float), np.asarray(psi, dtype=float),
                                 np.asarray(omega, dtype=float), n_train, np.arange(n_train, z0.shape[1]))
    state = _initial_state(z0[:, D], z0[:, R], xi0[:, D, D, D], xi0[:, R, D, D],
                           xi0[:, D, R, D].transpose(0, 2, 1, 3))
    state, steps = _run(state, coefficients, y, eta, steps, tol, max_steps)
    return Trajectory(np.concatenate([state[0], state[4]], axis=1), np.concatenate([state[1], state[5]], axis=1),
                      steps)


def _gaussian_factors(K: np.ndarray):
    """(L, K⁺): the symmetric square root of K (positive semi-definite, as :func:`_validated` checks) and
    its pseudo-inverse, from one eigendecomposition (eigenvalues below 1e-12 of the largest are zero)."""
    lam, V = np.linalg.eigh((K + K.T) / 2)
    keep = lam > 1e-12 * max(lam.max(), 0.0)
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


def _rule(K: np.ndarray, S: np.ndarray):
    """(z_S, z_S K_SS⁺, weights): the Gauss–Hermite rule for z_S ~ N(0, K_SS) (z_S = L u, L the symmetric
    square root of K_SS; 3^|S| nodes) and the regression weights, E[V | z_S] = κ(V, z_S) K_SS⁺ z_S."""
    L, K_plus = _gaussian_factors(K[np.ix_(S, S)])
    u, weights = _hermite_rule(len(S))
    z = u @ L
    return z, z @ K_plus, weights


def _quadrature_state(K, X, n_train: int, rows, rules):
    """The initial state (:func:`_step`) of the test ``rows`` at the nodes of the ``rules`` (z_S, z_S K_SS⁺,
    ·) of S = D ∪ {b} (b None: D), stacked along the node axis: z_{0,D} the nodes, z_0 of the rows its
    regression on z_S (δz does not depend on it) and Ξ_0 its regression on z_S, (1/n) X_{..S} K_SS⁺ z_S
    (the factor 1/n scaled out, as in mean_correction)."""
    D, R = np.arange(n_train), np.asarray(rows, dtype=int)
    parts = []
    for b, (z, regression, _) in rules.items():
        S = D if b is None else np.append(D, b)

        def xi(A, B):
            return np.tensordot(regression, X[np.ix_(A, B, D, S)], axes=([1], [3]))

        parts.append((z[:, :n_train], regression @ K[np.ix_(S, R)], xi(D, D), xi(R, D),
                      xi(D, R).transpose(0, 2, 1, 3)))
    return _initial_state(*(np.concatenate(p, axis=0) for p in zip(*parts)))


def _expectations(K, H, X, psi, omega, y, eta, columns, rule, steps, tol, max_steps):
    """(E[δz_T(a) f_b] as [a, b] for the test points a and the b in ``columns``, the steps run): ``rule(b)``
    = (z_S, z_S K_SS⁺, weights·f_b) is the quadrature rule of z_S, S = D ∪ {b} (:func:`_rule`; b None:
    S = D) with its weights times f_b at the nodes.  Run in chunks of test rows and columns (the
    columns' nodes stacked) of at most :data:`CHUNK` state elements; ``steps`` None runs each chunk to
    convergence, then those that converged earlier again to the largest steps (one steps for all)."""
    N, P = len(y), K.shape[0]
    nodes = 3 ** (N + (columns[0] is not None))
    per_row, fixed = 2 * N * N + N + 2, N ** 3 + N * N + 2 * N
    size = min(P - N, max(1, (CHUNK // nodes - fixed) // per_row))
    width = max(1, CHUNK // (nodes * (fixed + size * per_row)))
    out = np.empty((P - N, len(columns)))

    def run(rows, chunk, steps):
        rules = {b: rule(b) for b in columns[chunk]}
        state, steps = _run(_quadrature_state(K, X, N, rows, rules), _coefficients(H, psi, omega, N, rows), y, eta,
                            steps, tol, max_steps)
        dz = state[5].reshape(len(rules), nodes, len(rows))
        out[rows - N, chunk] = np.einsum("kn,kna->ak", np.array([r[2] for r in rules.values()]), dz)
        return steps

    chunks = [(np.arange(start, min(start + size, P)), slice(first, first + width))
              for start in range(N, P, size) for first in range(0, len(columns), width)]
    ran = [run(rows, chunk, steps) for rows, chunk in chunks]
    if steps is None:
        steps = max(ran)
        for (rows, chunk), t in zip(chunks, ran):
            if t < steps:
                run(rows, chunk, steps)
    return out, steps


def _check_symmetric(name: str, T: np.ndarray, permuted: np.ndarray, which: str) -> None:
    """RGFlowError unless T equals its index permutation (the tensor's defining symmetry)."""
    if not np.allclose(T, permuted, rtol=1e-8, atol=1e-12 * max(np.abs(T).max(), 1.0)):
        raise RGFlowError(f"{name} must be symmetric: {which} (check the storage order of its indices)")


def _validated(K, H, X, psi, omega, y_train, n_train, eta, steps):
    """The inputs as float arrays, checked (shapes, training count, kernel, symmetries, learning rate, steps)."""
    K, H, X, psi, omega = (np.asarray(v, dtype=float) for v in (K, H, X, psi, omega))
    y = np.asarray(y_train, dtype=float).reshape(-1)
    P = K.shape[0]
    if K.shape != (P, P) or H.shape != (P, P) or any(t.shape != (P,) * 4 for t in (X, psi, omega)):
        raise RGFlowError("K, H must be (N_P, N_P) and X, psi, omega (N_P, N_P, N_P, N_P) over the same points")
    if n_train > MAX_TRAIN:
        raise RGFlowError(f"{n_train} training points need 3^{n_train + 1} quadrature nodes per test point: "
                          f"at most {MAX_TRAIN} training points (any number of test points)")
    if y.shape != (n_train,) or not 0 < n_train < P:
        raise RGFlowError("need y_train of length N_train and at least one test point after the training points")
    _check_symmetric("X", X, np.einsum("acbe->abce", X), "X_abce = X_acbe")
    for perm in ("acbd", "abdc"):
        _check_symmetric("psi", psi, np.einsum(f"{perm}->abcd", psi), "psi_abcd symmetric in b, c, d")
    _check_symmetric("omega", omega, np.einsum("badc->abcd", omega), "omega_abcd = omega_badc")
    check_training(H[:n_train, :n_train], eta, steps)
    lam = np.linalg.eigvalsh((K + K.T) / 2)
    if lam.max() <= 0.0 or lam.min() < -1e-10 * lam.max():
        raise RGFlowError("the kernel K must be positive semi-definite and non-zero")
    return K, H, X, psi, omega, y


def dynamical_correction(K, H, X, psi, omega, y_train, n_train: int, eta: float, steps: int | None = None,
                         tol: float = 1e-10, max_steps: int = 100_000) -> DynamicalCorrection:
    """The order-1/n dynamical part of the trained ensemble on the test points (module docstring).

    Over all N_P points (N_train ≤ :data:`MAX_TRAIN` training points first, 0..n_train−1, then any
    number of test points): ``K`` the kernel of z_0 and ``H`` the mean NTK H̄ (N_P, N_P); ``X`` =
    n·κ(Ξ_{a;bc}, z_e) (symmetric in b, c; in K's range in e), ``psi`` = n·E[Ψ_{a;bcd}] (symmetric in b,
    c, d), ``omega`` = n·E[Ω_{ab;cd}] (= its [b, a, d, c]), each (N_P,)*4; ``steps`` None for
    convergence (``tol``, ``max_steps`` as in :func:`linearised_trajectory`; the step where the mean's
    quadrature converged, then used for the covariance).  Cost per step: 3^{N_train} nodes × N_test rows
    (mean) and N_test columns × 3^{N_train+1} nodes × N_test rows (covariance), each O(N_train³) (plus
    N_train⁴ per node for the training block), memory bounded by :data:`CHUNK`.

    Raises RGFlowError for inconsistent shapes or symmetries, more than MAX_TRAIN training points, a
    kernel K not positive semi-definite, a singular training NTK, η outside (0, 2/λ_max(H̄_DD)), or no
    convergence within ``max_steps``."""
    K, H, X, psi, omega, y = _validated(K, H, X, psi, omega, y_train, n_train, eta, steps)
    N, tests = n_train, range(n_train, K.shape[0])
    rule_D = _rule(K, np.arange(N))
    mean, steps = _expectations(K, H, X, psi, omega, y, eta, [None], lambda b: rule_D, steps, tol, max_steps)
    A = training_map(H, N, eta, steps)            # z⁽⁰⁾_T(test) = z_0(test) + A_T (y − z_{0,D})

    def column(b):                               # S = D ∪ {b}, f_b = z⁽⁰⁾_T(b) − m_∞(b) = z_0(b) − A_T(b) z_{0,D}
        z, regression, weights = _rule(K, np.append(np.arange(N), b))
        return z, regression, weights * (z[:, N] - z[:, :N] @ A[b - N])

    cross, _ = _expectations(K, H, X, psi, omega, y, eta, list(tests), column, steps, tol, max_steps)
    inf = infinite_width_prediction(K, H, y, N, eta, steps)
    return DynamicalCorrection(mean[:, 0], cross + cross.T, inf.mean, inf.covariance, steps, float(eta), 3 ** (N + 1))
