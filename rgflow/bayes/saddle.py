"""Numerical saddle point of the effective action and the predictor (stage *solve*).

Implements docs/bayes.md eqs. (2)–(8).  With the renormalised kernel

    K^R_0 = C,   K^R_ℓ = (Q̄_ℓ/λ_ℓ) K[K^R_{ℓ-1}]                    (3)

(at ``L = 1`` with the non-odd correction:
``K^R_1 = (Q̄ (K − m mᵀ) + m mᵀ/(1+Q))/λ_1``, eq. (5)) and ``A = I/β + K^R_L``,
the action whose stationary point dominates ``Z = ∫ e^{-N_L S/2}`` is

    S = Σ_ℓ (α_L/α_ℓ)[−Q_ℓ Q̄_ℓ + log(1+Q_ℓ)] + (α_L/P)[log det(βA) + yᵀA⁻¹y]   (2)

(``β = inf``: ``log det A`` replaces ``log det βA``; the dropped constant does not
move the saddle).  Without the correction ``∂S/∂Q_ℓ = 0`` gives ``Q̄_ℓ = 1/(1+Q_ℓ)``
and the *reduced action*

    S_red(Q̄) = Σ_ℓ (N_ℓ/N_L)[Q̄_ℓ − 1 − log Q̄_ℓ] + (1/N_L)[log det βA + yᵀA⁻¹y]   (4)

is the exponent of a convergent real integral over ``Q̄ > 0`` (a Gamma/Student-t
scale mixture, docs/bayes.md §2), so the saddle is its global minimum: it is found
by bounded minimisation in ``log Q̄`` from several starts and certified by a
central-difference gradient.  With the correction the two equations (6) are solved
by a Newton-type root finder started from the uncorrected solution.

The predictor on test inputs is the Gaussian process with kernel ``K^R_L``
evaluated at the saddle (eq. (8)); the infinite-width NNGP is the same formula at
``Q̄_ℓ = 1, Q_ℓ = 0``.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> X = rng.standard_normal((20, 3)); y = X[:, 0] + 0.1 * rng.standard_normal(20)
>>> arch = Architecture("linear", widths=(10,), beta=100.0, priors=(1.0,))
>>> sp = solve_saddle(arch, X, y)
>>> bool(abs(sp.Qbar[0] - 1 / (1 + sp.Q[0])) < 1e-12), sp.residual < 1e-7
(True, True)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import optimize

from .architecture import Architecture, check_data
from derive.bayes.errors import BayesInputError, NoSaddlePointError
from .kernels import activation_mean, input_covariance, kernel_map

__all__ = ["SaddlePoint", "Prediction", "renormalised_kernel", "action", "reduced_action",
           "action_gradient", "solve_saddle", "predict", "nngp_kernel", "criterion"]

_LOG_BOUND = 25.0


def _frozen(a) -> np.ndarray:
    a = np.array(a, dtype=float)
    a.setflags(write=False)
    return a


def _check_psd(M: np.ndarray, what: str) -> None:
    if not np.all(np.isfinite(M)):
        raise BayesInputError(f"{what} has non-finite entries")
    w = np.linalg.eigvalsh((M + M.T) / 2)
    if w[0] < -1e-9 * max(1.0, abs(w[-1])):
        raise BayesInputError(f"{what} is not positive semi-definite (smallest eigenvalue {w[0]:.3g})")


def renormalised_kernel(arch: Architecture, C, Qbar, Q=None) -> np.ndarray:
    """Eq. (3)/(5): ``K^R_L`` from the input covariance ``C`` at order parameters ``(Q̄, Q)``.

    ``Q`` is used only with the non-odd correction (``L = 1``).
    """
    S = np.asarray(C, dtype=float)
    Qbar = np.atleast_1d(np.asarray(Qbar, dtype=float))
    for ell in range(arch.depth):
        K = kernel_map(arch.activation, S)
        lam = arch.priors[ell]
        if arch.mean_correction:
            m = activation_mean(arch.activation, S)
            K1 = np.outer(m, m)
            q = 0.0 if Q is None else float(np.atleast_1d(Q)[0])
            S = (Qbar[ell] * (K - K1) + K1 / (1.0 + q)) / lam
        else:
            S = Qbar[ell] / lam * K
    return S


def nngp_kernel(arch: Architecture, X1, X2=None) -> np.ndarray:
    """Infinite-width NNGP kernel ``K^R_L`` at ``Q̄ = 1``, ``Q = 0`` of the inputs (rows)."""
    X1, _ = check_data(X1)
    Z = X1 if X2 is None else np.vstack([X1, check_data(X2, name="X2")[0]])
    C = input_covariance(Z, lambda0=arch.lambda0)
    K = renormalised_kernel(arch, C, np.ones(arch.depth), 0.0)
    return K if X2 is None else K[:len(X1), len(X1):]


def _data_term(A: np.ndarray, y: np.ndarray, beta: float) -> float:
    """``log det(βA) + yᵀA⁻¹y`` (``log det A`` at β = inf), via Cholesky."""
    try:
        L = np.linalg.cholesky(A)
    except np.linalg.LinAlgError:
        raise NoSaddlePointError("the matrix I/β + K^R is singular (at β = inf the kernel "
                                 "of the training inputs must be positive definite)") from None
    z = np.linalg.solve(L, y)
    logdet = 2.0 * float(np.sum(np.log(np.diag(L))))
    if math.isfinite(beta):
        logdet += len(y) * math.log(beta)
    return logdet + float(z @ z)


def _A(arch: Architecture, C, Qbar, Q) -> np.ndarray:
    K = renormalised_kernel(arch, C, Qbar, Q)
    if math.isfinite(arch.beta):
        K = K + np.eye(len(K)) / arch.beta
    return K


def action(arch: Architecture, C, y, Qbar, Q) -> float:
    """Eq. (2): the effective action ``S({Q_ℓ, Q̄_ℓ})`` (``C`` the input covariance)."""
    Qbar = np.atleast_1d(np.asarray(Qbar, dtype=float))
    Q = np.atleast_1d(np.asarray(Q, dtype=float))
    NL = arch.widths[-1]
    s = sum(n / NL * (-q * qb + math.log1p(q)) for n, q, qb in zip(arch.widths, Q, Qbar))
    return s + _data_term(_A(arch, C, Qbar, Q), y, arch.beta) / NL


def reduced_action(arch: Architecture, C, y, Qbar) -> float:
    """Eq. (4): ``S`` with ``Q_ℓ = 1/Q̄_ℓ − 1`` eliminated (no mean correction)."""
    Qbar = np.atleast_1d(np.asarray(Qbar, dtype=float))
    NL = arch.widths[-1]
    s = sum(n / NL * (qb - 1.0 - math.log(qb)) for n, qb in zip(arch.widths, Qbar))
    return s + _data_term(_A(arch, C, Qbar, None), y, arch.beta) / NL


def action_gradient(arch: Architecture, C, y, Qbar, Q) -> np.ndarray:
    """Eq. (6) for ``L = 1``: ``(∂S/∂Q̄, ∂S/∂Q)`` in closed form (trace identities)."""
    if arch.depth != 1:
        raise BayesInputError("closed-form gradient implemented for one hidden layer")
    qb, q = float(np.atleast_1d(Qbar)[0]), float(np.atleast_1d(Q)[0])
    lam, N = arch.priors[0], arch.widths[0]
    K = kernel_map(arch.activation, C)
    m = activation_mean(arch.activation, C) if arch.mean_correction else np.zeros(len(C))
    Kc = K - np.outer(m, m)
    A = _A(arch, C, [qb], [q])
    Ai = np.linalg.inv(A)
    Aiy = Ai @ y
    dqb = -q + (np.sum(Ai * Kc) - Aiy @ Kc @ Aiy) / (lam * N)
    dq = -qb + 1.0 / (1.0 + q) - (m @ Ai @ m - (m @ Aiy) ** 2) / (lam * N * (1.0 + q) ** 2)
    return np.array([dqb, dq])


@dataclass(frozen=True)
class SaddlePoint:
    """Solution of eqs. (6): order parameters per hidden layer and diagnostics.

    ``Qbar[ℓ]`` multiplies the layer-ℓ kernel (eq. (3)); ``residual`` is the max-norm
    of the gradient of the action at the solution; ``action`` its value (eq. (2)).
    """

    architecture: Architecture
    P: int
    Qbar: tuple
    Q: tuple
    action: float
    residual: float
    method: str

    @property
    def alphas(self) -> tuple:
        """``α_ℓ = P/N_ℓ``."""
        return self.architecture.alphas(self.P)


def _fd_grad(f, t, h=1e-5):
    g = np.empty_like(t)
    for i in range(len(t)):
        e = np.zeros_like(t)
        e[i] = h
        g[i] = (f(t + e) - f(t - e)) / (2 * h)
    return g


def _solve_reduced(arch, C, y):
    L = arch.depth
    f = lambda t: reduced_action(arch, C, y, np.exp(t))  # noqa: E731
    best = None
    for start in (0.0, -1.0, 1.0, -3.0, 3.0):
        t0 = np.full(L, start)
        try:
            res = optimize.minimize(f, t0, jac=lambda t: _fd_grad(f, t), method="L-BFGS-B",
                                    bounds=[(-_LOG_BOUND, _LOG_BOUND)] * L,
                                    options={"ftol": 1e-15, "gtol": 1e-11, "maxiter": 500})
        except NoSaddlePointError:
            raise
        except (ValueError, FloatingPointError, np.linalg.LinAlgError):
            continue
        if best is None or res.fun < best.fun - 1e-12:
            best = res
    if best is None:
        raise NoSaddlePointError("the reduced action could not be evaluated at any starting point")
    t = best.x
    if np.any(np.abs(t) > _LOG_BOUND - 1e-3):
        raise NoSaddlePointError("no saddle point: the action decreases without bound as some Q̄ "
                                 "→ 0 or ∞ (check the data and the temperature)")
    # Newton polish on the gradient (the minimum is a stationary point of eq. (4)).
    g = _fd_grad(f, t)
    if np.max(np.abs(g)) > 1e-9:
        sol = optimize.root(lambda u: _fd_grad(f, u), t, method="hybr", options={"xtol": 1e-13})
        if sol.success and f(sol.x) <= f(t) + 1e-10:
            t = sol.x
    qbar = np.exp(t)
    q = 1.0 / qbar - 1.0
    resid = float(np.max(np.abs(_fd_grad(f, t) / qbar)))
    return qbar, q, resid, "minimise reduced action (L-BFGS-B in log Q̄) + Newton polish"


def _solve_corrected(arch, C, y):
    plain = Architecture(arch.activation, arch.widths, arch.beta, arch.priors, arch.lambda0,
                         mean_correction=False)
    qb0, _, _, _ = _solve_reduced(plain, C, y)

    def F(u):  # u = (log Q̄, log(1+Q))
        return action_gradient(arch, C, y, [math.exp(u[0])], [math.expm1(u[1])])

    starts = [(math.log(qb0[0]), -math.log(qb0[0])), (0.0, 0.0), (1.0, -1.0), (-1.0, 1.0)]
    for u0 in starts:
        try:
            sol = optimize.root(F, np.array(u0), method="hybr", options={"xtol": 1e-13})
        except (ValueError, FloatingPointError, np.linalg.LinAlgError):
            continue
        if sol.success and np.all(np.abs(sol.x) < _LOG_BOUND):
            r = float(np.max(np.abs(F(sol.x))))
            if r < 1e-8:
                return (np.array([math.exp(sol.x[0])]), np.array([math.expm1(sol.x[1])]), r,
                        "Newton (hybr) on eqs. (6) with the non-odd correction")
    raise NoSaddlePointError("no stationary point of the mean-corrected action was found")


def solve_saddle(arch: Architecture, X, y) -> SaddlePoint:
    """Solve the saddle-point equations (6) for training data ``X`` (P, N_0), ``y`` (P,).

    Raises :class:`~derive.bayes.errors.NoSaddlePointError` when no certified
    stationary point exists (e.g. β = inf with a singular kernel).
    """
    X, y = check_data(X, y)
    C = input_covariance(X, lambda0=arch.lambda0)
    K = renormalised_kernel(arch, C, np.ones(arch.depth), 0.0)
    _check_psd(K, "the NNGP kernel of the training inputs")
    if not math.isfinite(arch.beta) and np.linalg.eigvalsh(K)[0] <= 1e-12 * np.trace(K):
        raise NoSaddlePointError("at β = inf the NNGP kernel of the training inputs must be "
                                 "positive definite (P ≤ rank); use a finite β")
    if arch.mean_correction:
        qbar, q, resid, method = _solve_corrected(arch, C, y)
    else:
        qbar, q, resid, method = _solve_reduced(arch, C, y)
    if not resid < 1e-6:
        raise NoSaddlePointError(f"saddle-point residual {resid:.2e} too large")
    return SaddlePoint(arch, len(y), tuple(float(v) for v in qbar), tuple(float(v) for v in q),
                       float(action(arch, C, y, qbar, q)), resid, method)


@dataclass(frozen=True)
class Prediction:
    """Eq. (8): finite-width (saddle) and infinite-width (NNGP) predictors on test inputs.

    ``generalisation_error`` is ``mean_t[(y_t − mean_t)² + variance_t]`` (eq. (9)),
    ``None`` when no test targets were given; ``bias2`` its first part.
    """

    saddle: SaddlePoint
    mean: np.ndarray
    variance: np.ndarray
    nngp_mean: np.ndarray
    nngp_variance: np.ndarray
    generalisation_error: float | None = None
    nngp_generalisation_error: float | None = None
    bias2: float | None = None
    nngp_bias2: float | None = None


def _gp(K: np.ndarray, P: int, y: np.ndarray, beta: float):
    A = K[:P, :P] + (np.eye(P) / beta if math.isfinite(beta) else 0.0)
    kt = K[P:, :P]
    sol = np.linalg.solve(A, np.column_stack([y, kt.T]))
    mean = kt @ sol[:, 0]
    var = np.diag(K[P:, P:]) - np.sum(kt * sol[:, 1:].T, axis=1)
    return mean, np.clip(var, 0.0, None)


def predict(arch: Architecture, X, y, X_test, y_test=None, saddle: SaddlePoint | None = None) -> Prediction:
    """Mean, variance and generalisation error on ``X_test`` at the saddle, next to the NNGP."""
    X, y = check_data(X, y)
    Xt, yt = check_data(X_test, y_test, name="X_test")
    if Xt.shape[1] != X.shape[1]:
        raise BayesInputError(f"X_test has {Xt.shape[1]} features, X has {X.shape[1]}")
    sp = solve_saddle(arch, X, y) if saddle is None else saddle
    P = len(y)
    C = input_covariance(np.vstack([X, Xt]), lambda0=arch.lambda0)
    mean, var = _gp(renormalised_kernel(arch, C, sp.Qbar, sp.Q), P, y, arch.beta)
    m0, v0 = _gp(renormalised_kernel(arch, C, np.ones(arch.depth), 0.0), P, y, arch.beta)
    eg = eg0 = b2 = b20 = None
    if yt is not None:
        b2, b20 = float(np.mean((yt - mean) ** 2)), float(np.mean((yt - m0) ** 2))
        eg, eg0 = b2 + float(np.mean(var)), b20 + float(np.mean(v0))
    return Prediction(sp, _frozen(mean), _frozen(var), _frozen(m0), _frozen(v0), eg, eg0, b2, b20)


def criterion(arch: Architecture, X, y) -> float:
    """``r = yᵀ K_GP⁻¹ y / P`` with the NNGP kernel ``K_GP`` (eq. (10)).

    At ``β = inf`` and ``L = 1`` (odd σ): ``Q̄ > 1`` (finite width *increases* the
    predictor variance, hence the generalisation error) iff ``r > 1``.
    """
    X, y = check_data(X, y)
    K = nngp_kernel(arch, X)
    w = np.linalg.eigvalsh(K)
    if w[0] <= 1e-12 * w[-1]:
        raise BayesInputError("the NNGP kernel of the training inputs is singular: yᵀK⁻¹y undefined")
    return float(y @ np.linalg.solve(K, y) / len(y))
