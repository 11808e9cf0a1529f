"""Numerical Gaussian expectations: the fall-back for :class:`~derive.gaussian.Expectation`.

Stage *quadrature*: sympy expression with atoms + numeric values → number.

Two accuracy levels, both splitting the integration range at the kinks of the
integrand (zeros of Heaviside arguments), where Gauss–Hermite would converge only
algebraically:

* ``dps=None`` — double precision, ``scipy.integrate.quad`` on z = √K·u with the
  standard normal weight (absolute error ≲ 1e-12 for the integrands of the engine).
* ``dps=d`` — ``mpmath.quad`` (tanh–sinh) at d decimal digits, the high-precision
  reference of the tests (one variable: well under a second; two variables are
  nested and take about a minute at d = 15).

Plus vectorised Gauss–Hermite rules (:func:`hermite_rule`, :func:`expect_1d`,
:func:`expect_2d`) for evaluating many kernels at once, after a Cholesky factor of
each 2×2 kernel (coincident inputs, K12² = K11K22, are fine).
"""

from __future__ import annotations

import functools
import math
from typing import Callable, Mapping

import mpmath
import numpy as np
import sympy as sp

from .gaussian import Expectation, atoms_of
from .numpy_functions import NUMPY_MODULES

__all__ = ["evaluate", "expectation_value", "hermite_rule", "expect_1d", "expect_2d", "legendre_half_lines",
           "split_plane_rule", "hermite_weights", "pair_expectations"]


def evaluate(expr: sp.Expr, values: Mapping, dps: int | None = None):
    """Numerical value of ``expr`` (atoms by quadrature) at ``values`` {symbol: number}.

    Returns a float when ``dps`` is None, else an ``mpmath.mpf`` with ``dps`` digits.
    """
    subs = {sp.sympify(k): sp.sympify(v) for k, v in values.items()}
    expr = sp.sympify(expr).xreplace(subs)
    replacements = {atom: sp.Float(expectation_value(atom, dps), dps or 17) for atom in atoms_of(expr)}
    expr = expr.xreplace(replacements)
    if expr.free_symbols:
        names = ", ".join(sorted(s.name for s in expr.free_symbols))
        raise ValueError(f"no numeric value given for {names}")
    if dps is None:
        return float(sp.N(expr, 17))
    with mpmath.workdps(dps):
        return mpmath.mpf(sp.N(expr, dps + 5))


def expectation_value(atom: Expectation, dps: int | None = None):
    """Quadrature of one atom whose covariance is numeric."""
    cov = np.array(atom.covariance.evalf(30).tolist(), dtype=object)
    if any(sp.sympify(c).free_symbols for c in cov.flat):
        raise ValueError("expectation atom has a symbolic covariance; substitute values first")
    m = len(atom.variables)
    if m == 1:
        return _quad_1d(atom.integrand, atom.variables[0], sp.sympify(cov[0, 0]), dps)
    if m == 2:
        return _quad_2d(atom, dps)
    if dps is not None:
        raise NotImplementedError("high-precision quadrature is implemented for one and two variables")
    return _hermite_nd(atom)


def _kinks(integrand: sp.Expr, variable: sp.Symbol) -> list:
    points = set()
    for h in integrand.atoms(sp.Heaviside):
        arg = h.args[0]
        if arg.has(variable) and sp.Poly(arg, variable).degree() == 1:
            points.add(sp.solve(arg, variable)[0])
    return sorted(points, key=lambda p: float(p))


def _quad_1d(integrand, variable, k, dps):
    import scipy.integrate
    if k <= 0:
        raise ValueError(f"kernel must be positive, got {k}")
    kinks = [float(p) for p in _kinks(integrand, variable)] if dps is None else _kinks(integrand, variable)
    if dps is None:
        f = sp.lambdify(variable, integrand, modules=NUMPY_MODULES)
        s = math.sqrt(float(k))

        def g(u):
            return float(f(s * u)) * math.exp(-u * u / 2) / math.sqrt(2 * math.pi)
        cuts = [-math.inf] + [p / s for p in kinks] + [math.inf]
        return sum(scipy.integrate.quad(g, a, b, limit=200, epsabs=1e-14, epsrel=1e-13)[0]
                   for a, b in zip(cuts[:-1], cuts[1:]))
    with mpmath.workdps(dps + 10):
        f = sp.lambdify(variable, integrand, modules="mpmath")
        s = mpmath.sqrt(mpmath.mpf(sp.N(k, dps + 10)))
        cuts = [-mpmath.inf] + [mpmath.mpf(sp.N(p, dps + 10)) / s for p in kinks] + [mpmath.inf]
        value = mpmath.quad(lambda u: f(s * u) * mpmath.npdf(u), cuts)
    with mpmath.workdps(dps):
        return +value


def _quad_2d(atom, dps):
    import scipy.integrate
    (v1, v2), C = atom.variables, atom.covariance
    k11, k12, k22 = (sp.N(C[0, 0], 30), sp.N(C[0, 1], 30), sp.N(C[1, 1], 30))
    if k11 <= 0 or k11 * k22 - k12**2 < -1e-25 * k11 * k22:
        raise ValueError("covariance of a two-variable expectation is not positive semi-definite")
    # z1 = a u1, z2 = b u1 + c u2 (Cholesky); inner integral over u2 at fixed u1
    a = sp.sqrt(k11)
    b = k12 / a
    residual = k22 - b**2
    # coincident inputs: treat a round-off-sized conditional variance as exactly 0, else the
    # inner kink sits at u2 ~ 1e8 and adaptive quadrature loses the mass
    c = sp.sqrt(residual) if residual > 1e-12 * k22 else sp.S.Zero
    u1, u2 = sp.symbols("u1 u2", real=True)
    g = atom.integrand.xreplace({v1: a * u1, v2: b * u1 + c * u2})
    outer_kinks = set()
    inner_kinks = []
    for h in g.atoms(sp.Heaviside):
        arg = sp.expand(h.args[0])
        cu2 = arg.coeff(u2)
        if cu2 == 0 or abs(cu2) < 1e-30:
            if arg.has(u1):
                outer_kinks.add(sp.solve(arg, u1)[0])
        else:
            inner_kinks.append(sp.solve(arg, u2)[0])
    if dps is None:
        f = sp.lambdify((u1, u2), g, modules=NUMPY_MODULES)
        inner = [sp.lambdify(u1, p, modules="numpy") for p in inner_kinks]
        outer = sorted(float(p) for p in outer_kinks)

        # the Gaussian's centre is always an edge: QUADPACK maps a half-line onto (0, 1], and a
        # bump far from the finite end is under-resolved (ReLU at rho = 63/64: 1.4e-9 off)
        def over_u2(x):
            cuts = sorted({float(p(x)) for p in inner} | {0.0})
            edges = [-math.inf] + cuts + [math.inf]
            h = lambda y: float(f(x, y)) * math.exp(-y * y / 2)  # noqa: E731
            return sum(scipy.integrate.quad(h, lo, hi, epsabs=1e-14, epsrel=1e-12, limit=200)[0]
                       for lo, hi in zip(edges[:-1], edges[1:])) / math.sqrt(2 * math.pi)
        edges = [-math.inf] + sorted(set(outer) | {0.0}) + [math.inf]
        return sum(scipy.integrate.quad(lambda x: over_u2(x) * math.exp(-x * x / 2), lo, hi,
                                        epsabs=1e-13, epsrel=1e-12, limit=200)[0]
                   for lo, hi in zip(edges[:-1], edges[1:])) / math.sqrt(2 * math.pi)
    with mpmath.workdps(dps + 10):
        f = sp.lambdify((u1, u2), g, modules="mpmath")
        inner = [sp.lambdify(u1, p, modules="mpmath") for p in inner_kinks]
        outer = sorted((mpmath.mpf(sp.N(p, dps + 10)) for p in outer_kinks))

        def over_u2(x):
            cuts = sorted({p(x) for p in inner})
            return mpmath.quad(lambda y: f(x, y) * mpmath.npdf(y), [-mpmath.inf] + cuts + [mpmath.inf])
        value = mpmath.quad(lambda x: over_u2(x) * mpmath.npdf(x), [-mpmath.inf] + outer + [mpmath.inf])
    with mpmath.workdps(dps):
        return +value


def _hermite_nd(atom, degree: int = 40):
    C = np.array(atom.covariance.evalf(20).tolist(), dtype=float)
    L = np.linalg.cholesky(C + 1e-300 * np.eye(len(C)))
    x, w = hermite_rule(degree)
    grids = np.meshgrid(*([x] * len(C)), indexing="ij")
    weights = np.prod(np.meshgrid(*([w] * len(C)), indexing="ij"), axis=0)
    u = np.stack([g.ravel() for g in grids])
    zs = L @ u
    f = sp.lambdify(atom.variables, atom.integrand, modules=NUMPY_MODULES)
    return float(np.sum(weights.ravel() * f(*zs)))


@functools.lru_cache(maxsize=64)
def hermite_rule(degree: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss–Hermite nodes and weights for the standard normal weight (Σw = 1).

    Exact for polynomials of degree ≤ 2·degree − 1.
    """
    x, w = np.polynomial.hermite_e.hermegauss(degree)
    return x, w / math.sqrt(2 * math.pi)


def expect_1d(fn: Callable[[np.ndarray], np.ndarray], K, degree: int = 101) -> np.ndarray:
    """⟨fn(z)⟩_K for an array of variances K (vectorised Gauss–Hermite)."""
    K = np.asarray(K, dtype=float)
    x, w = hermite_rule(degree)
    return fn(np.sqrt(K)[..., None] * x) @ w


def expect_2d(fn1: Callable, fn2: Callable, K11, K12, K22, degree: int = 61) -> np.ndarray:
    """⟨fn1(z1) fn2(z2)⟩ for arrays of 2×2 kernels (vectorised Gauss–Hermite product rule).

    Uses z1 = √K11 u1, z2 = (K12/√K11) u1 + √(K22 − K12²/K11) u2; the inner sum
    over u2 is done first so memory is O(size · degree).
    """
    K11, K12, K22 = (np.asarray(a, dtype=float) for a in (K11, K12, K22))
    x, w = hermite_rule(degree)
    a = np.sqrt(K11)
    b = K12 / a
    c = np.sqrt(np.clip(K22 - b * b, 0.0, None))
    f1 = fn1(a[..., None] * x) * w  # (..., degree)
    inner = fn2(b[..., None, None] * x[:, None] + c[..., None, None] * x[None, :]) @ w  # (..., degree)
    return np.sum(f1 * inner, axis=-1)


@functools.lru_cache(maxsize=8)
def legendre_half_lines(nodes: int = 160, cutoff: float = 12.0):
    """Gauss–Legendre on u ∈ [−cutoff, 0] ∪ [0, cutoff] with the standard normal weight.

    Splitting at u = 0 makes kinks at z = 0 exact break points; the tail beyond
    |u| = 12 weighs < 4e-33.
    """
    x, w = np.polynomial.legendre.leggauss(nodes)
    u = np.concatenate([(x - 1) * cutoff / 2, (x + 1) * cutoff / 2])
    weight = np.concatenate([w, w]) * cutoff / 2 * np.exp(-u * u / 2) / math.sqrt(2 * math.pi)
    return u, weight


@functools.lru_cache(maxsize=8)
def _legendre(nodes: int) -> tuple[np.ndarray, np.ndarray]:
    x, w = np.polynomial.legendre.leggauss(nodes)
    x.flags.writeable = w.flags.writeable = False
    return x, w


def _polar_rule(s00, s10, s11, angular: int, radial: int):
    """Batched whitened polar rule for pairs with Cholesky factors [[s00, 0], [s10, s11]] (arrays of P):
    points z0, z1 of shape (P, radial, 4·angular) and weights of the same shape, the angle split at
    the four rays where z_0 = 0 or z_1 = 0 (Gauss–Legendre on each piece, and in r ∈ [0, 12] against
    r e^{−r²/2}/(2π))."""
    x, wx = _legendre(angular)
    xr, wr = _legendre(radial)
    r = 6.0 * (xr + 1)
    wr = 6.0 * wr * r * np.exp(-r * r / 2) / (2 * np.pi)
    ray = np.arctan2(-s10, s11)                   # z_1 = s10 u_0 + s11 u_1 = 0 along this angle
    quarter = np.ones_like(ray) * np.pi / 2
    rays = np.sort(np.mod(np.stack([quarter, 3 * quarter, ray, ray + np.pi], axis=1), 2 * np.pi), axis=1)
    edges = np.concatenate([rays, rays[:, :1] + 2 * np.pi], axis=1)               # (P, 5)
    lo, hi = edges[:, :-1, None], edges[:, 1:, None]                               # (P, 4, 1)
    theta = ((lo + hi) / 2 + (hi - lo) / 2 * x).reshape(len(ray), -1)             # (P, 4·angular)
    wtheta = ((hi - lo) / 2 * wx).reshape(len(ray), -1)
    c, sn = np.cos(theta)[:, None, :], np.sin(theta)[:, None, :]
    rr = r[None, :, None]
    z0 = s00[:, None, None] * rr * c
    z1 = s10[:, None, None] * rr * c + s11[:, None, None] * rr * sn
    return z0, z1, wr[None, :, None] * wtheta[:, None, :]


def split_plane_rule(C, angular: int = 64, radial: int = 96) -> tuple[np.ndarray, np.ndarray]:
    """Points z (2, N) and weights (N,) with Σ w f(z) ≈ E[f(z)], z ~ N(0, C), C a non-singular 2×2 kernel.

    Whitened polar coordinates z = S (r cos θ, r sin θ), S Sᵀ = C (Cholesky), with the angle split at
    the four rays where z_0 = 0 or z_1 = 0: a function smooth except where one of its arguments
    vanishes (ReLU, its powers, its a.e. derivatives) is integrated with spectral accuracy piece by
    piece (:func:`_polar_rule`).
    """
    S = np.linalg.cholesky(np.asarray(C, dtype=float))
    z0, z1, w = _polar_rule(S[:1, 0], S[1:, 0], S[1:, 1], angular, radial)
    return np.stack([z0.ravel(), z1.ravel()]), w.ravel()


def hermite_weights(w: np.ndarray, Kinv: np.ndarray, ka: int, kb: int) -> np.ndarray:
    """h_{(ka,kb)}(z) = φ(z)^{-1} (−∂_0)^{ka} (−∂_1)^{kb} φ(z) for the bivariate normal density φ of
    covariance K at the points with w = K⁻¹z (rows 0, 1), so that ⟨∂^α F⟩ = ⟨F h_α⟩ (Gaussian
    integration by parts); recursion h_{α+e_i} = w_i h_α − Σ_j (K⁻¹)_{ij} α_j h_{α−e_j}."""
    h = {(0, 0): np.ones_like(w[0])}
    for a in range(ka + 1):
        for b in range(kb + 1):
            if (a, b) == (0, 0):
                continue
            if a > 0:
                i, prev = 0, (a - 1, b)
            else:
                i, prev = 1, (a, b - 1)
            value = w[i] * h[prev]
            if prev[0] > 0:
                value = value - Kinv[i, 0] * prev[0] * h[(prev[0] - 1, prev[1])]
            if prev[1] > 0:
                value = value - Kinv[i, 1] * prev[1] * h[(prev[0], prev[1] - 1)]
            h[(a, b)] = value
    return h[(ka, kb)]


def pair_expectations(f: Callable, g: Callable, K, angular: int = 48, radial: int = 80,
                      chunk: int = 256) -> np.ndarray:
    """E[f(z_a) g(z_b)] for every pair (a, b) of z ~ N(0, K), K an (N, N) kernel: the rule of
    :func:`split_plane_rule` batched over pairs (kinks at z = 0 exact break points), the diagonal and
    coincident pairs (correlation ±1) by the split one-dimensional rule of
    :func:`legendre_half_lines`.  Returns the (N, N) matrix (not symmetrised: f and g may differ).

    >>> K = np.array([[1.0, 0.3], [0.3, 2.0]])
    >>> E = pair_expectations(lambda v: v, lambda v: v, K)
    >>> bool(np.allclose(E, K, atol=1e-13))
    True
    """
    K = np.asarray(K, dtype=float)
    n = K.shape[0]
    out = np.empty((n, n))
    u, w = legendre_half_lines()
    d = np.sqrt(np.clip(np.diag(K), 0.0, None))
    for a in range(n):
        out[a, a] = np.sum(w * f(d[a] * u) * g(d[a] * u))
    a_idx, b_idx = np.triu_indices(n, 1)
    norm = d[a_idx] * d[b_idx]
    singular = np.abs(K[a_idx, b_idx]) >= (1 - 1e-12) * norm        # z_b = (K_ab / K_aa) z_a
    for a, b in zip(a_idx[singular], b_idx[singular]):
        za = d[a] * u
        zb = (K[a, b] / K[a, a]) * za if K[a, a] > 0 else np.zeros_like(za)
        out[a, b] = np.sum(w * f(za) * g(zb))
        out[b, a] = np.sum(w * g(za) * f(zb))
    A, B = a_idx[~singular], b_idx[~singular]
    for start in range(0, len(A), chunk):
        a, b = A[start:start + chunk], B[start:start + chunk]
        s10 = K[a, b] / d[a]
        z0, z1, weight = _polar_rule(d[a], s10, np.sqrt(np.clip(K[b, b] - s10**2, 0.0, None)), angular, radial)
        out[a, b] = np.sum(weight * f(z0) * g(z1), axis=(1, 2))
        out[b, a] = np.sum(weight * g(z0) * f(z1), axis=(1, 2))
    return out


def numeric_in_K(expr: sp.Expr, K: sp.Symbol, extra: Mapping | None = None) -> Callable[[np.ndarray], np.ndarray]:
    """Compile a single-input expression with atoms into a numpy function of K.

    Closed-form parts are lambdified; each atom ⟨f(z)⟩_{k(K)} is evaluated by the
    split Gauss–Legendre rule of :func:`legendre_half_lines` (relative accuracy
    ~1e-13 for the activations of the registry, tested against mpmath).
    """
    expr = sp.sympify(expr).xreplace({sp.sympify(k): sp.sympify(v) for k, v in (extra or {}).items()})
    atoms = atoms_of(expr)
    placeholders = sp.symbols(f"atom0:{len(atoms)}")
    closed = expr.xreplace(dict(zip(atoms, placeholders)))
    outer = sp.lambdify((K,) + tuple(placeholders), closed, modules=NUMPY_MODULES)
    u, w = legendre_half_lines()
    inner = []
    for atom in atoms:
        if len(atom.variables) != 1:
            raise ValueError("numeric_in_K handles single-variable atoms only")
        f = sp.lambdify(atom.variables[0], atom.integrand, modules=NUMPY_MODULES)
        var = sp.lambdify(K, atom.covariance[0, 0], modules="numpy")
        inner.append((f, var))

    def evaluate_at(Kv):
        Kv = np.asarray(Kv, dtype=float)
        values = []
        for f, var in inner:
            s = np.sqrt(np.broadcast_to(var(Kv), Kv.shape))
            with np.errstate(over="ignore"):
                values.append(f(s[..., None] * u) @ w)
        with np.errstate(over="ignore", invalid="ignore"):
            return np.broadcast_to(outer(Kv, *values), Kv.shape).astype(float)
    return evaluate_at


def integrand_in_K(integrand: sp.Expr, variable: sp.Symbol, K: sp.Symbol) -> Callable[[np.ndarray], np.ndarray]:
    """Numerically robust ⟨integrand⟩_K as a numpy function of K.

    The regular part (Dirac deltas dropped) is integrated by the split
    Gauss–Legendre rule; the singular part (delta terms) is taken in closed form
    from :func:`derive.gaussian.expect1`, where it is elementary.  Unlike
    lambdified closed forms this never cancels catastrophically at large K.
    """
    from .gaussian import expect1

    integrand = sp.expand(integrand)
    regular = integrand.replace(sp.DiracDelta, lambda *a: sp.S.Zero)
    singular = sp.expand(integrand - regular)
    delta_part = expect1(singular, K, variable) if singular != 0 else sp.S.Zero
    if delta_part.has(sp.oo, sp.zoo):
        return lambda Kv: np.full(np.shape(Kv), np.inf)
    closed = sp.lambdify(K, delta_part, modules=NUMPY_MODULES)
    f = sp.lambdify(variable, regular, modules=NUMPY_MODULES)
    u, w = legendre_half_lines()

    def evaluate_at(Kv):
        Kv = np.asarray(Kv, dtype=float)
        with np.errstate(over="ignore", invalid="ignore"):
            values = np.broadcast_to(f(np.sqrt(Kv)[..., None] * u), Kv.shape + u.shape) @ w
            return values + np.broadcast_to(closed(Kv), Kv.shape)
    return evaluate_at
