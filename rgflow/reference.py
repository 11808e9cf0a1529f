"""Plain numpy reference of the N_D-input recursions (tensor-product Gauss–Hermite).

Stage *reference*: activation + inputs → per-layer K, H, V, G1 computed with no
sympy closed forms and no generated code, for tests and benchmarks.  Every
Gaussian expectation is a tensor-product Gauss–Hermite sum after a symmetric
square root of its covariance (PSD-safe, so coincident samples work); only
activations' numpy functions are used.

Two forms of the 1/n recursions are offered (THEORY.md §3):

* ``form="ibp"`` — the integration-by-parts form the engine uses (labelled
  derivatives σ', σ'', ...; smooth activations only, since Dirac deltas of kinked
  activations are dropped by numpy derivatives);
* ``form="inverse"`` — PDLT's original form with the inverse kernel,
  ⟨σσ(z_β1 z_β2 − K_β1β2)⟩ and V with raised indices (no derivatives, so kinked
  activations work; inputs must be linearly independent).  For G1 the fourth
  derivative is replaced by the Hermite tensor h^{β1β2β3β4}(z) (N_D ≤ 2 here,
  so that every expectation is at most two-dimensional).

Accuracy is that of Gauss–Hermite at the given degrees (for tanh at K ≲ 1:
~1e-12 in 2D at degree 80, ~1e-8 in 4D at degree 32; kinked integrands converge
only algebraically).
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from .defaults import learning_rates

__all__ = ["gauss_hermite", "expect_tensor", "reference_flow", "nngp_ntk_closed"]


def gauss_hermite(degree: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights for E[f(u)], u ~ N(0, 1)."""
    x, w = np.polynomial.hermite_e.hermegauss(degree)
    return x, w / math.sqrt(2 * math.pi)


def _sqrt_psd(C: np.ndarray) -> np.ndarray:
    vals, vecs = np.linalg.eigh(C)
    return vecs * np.sqrt(np.clip(vals, 0.0, None))


def expect_tensor(fns, C, degree: int, chunk: int = 2_000_000) -> float:
    """E[Π_i fns[i](z_i)] with z ~ N(0, C), tensor-product Gauss–Hermite of ``degree`` per dimension."""
    C = np.asarray(C, dtype=float)
    m = len(fns)
    S = _sqrt_psd(C)
    x, w = gauss_hermite(degree)
    total = 0.0
    grids = itertools.product(range(degree), repeat=m)
    n = degree**m
    idx = np.array(np.unravel_index(np.arange(n), (degree,) * m))  # (m, n)
    for start in range(0, n, chunk):
        sl = idx[:, start:start + chunk]
        u = x[sl]
        weight = np.prod(w[sl], axis=0)
        z = S @ u
        values = weight.copy()
        for i, f in enumerate(fns):
            values = values * f(z[i])
        total += float(np.sum(values))
    del grids
    return total


def _pairs(fn_a, fn_b, K, degree):
    """⟨fn_a(z_a) fn_b(z_b)⟩ for all (a, b) (vectorised 2-D Gauss–Hermite)."""
    n = K.shape[0]
    x, w = gauss_hermite(degree)
    out = np.empty((n, n))
    for a in range(n):
        for b in range(n):
            C = K[np.ix_([a, b], [a, b])]
            S = _sqrt_psd(C)
            u1, u2 = np.meshgrid(x, x, indexing="ij")
            z = S @ np.stack([u1.ravel(), u2.ravel()])
            out[a, b] = np.sum(np.outer(w, w).ravel() * fn_a(z[0]) * fn_b(z[1]))
    return out


def nngp_ntk_closed(name: str, X, depth, C_b, C_W):
    """NNGP kernel and NTK of a fully connected ReLU or erf network from the arc-cosine /
    arcsine closed forms ("ntk" parameterisation: λ_b = C_b, λ_W = C_W), layers 1..depth."""
    X = np.asarray(X, dtype=float)
    K = C_b + C_W * X @ X.T / X.shape[1]
    H = K.copy()
    Ks, Hs = [K], [H]
    for _ in range(depth - 1):
        d = np.sqrt(np.diag(K))
        if name == "relu":
            c = np.clip(K / np.outer(d, d), -1.0, 1.0)
            np.fill_diagonal(c, 1.0)
            th = np.arccos(c)
            ss = np.outer(d, d) / (2 * np.pi) * (np.sin(th) + (np.pi - th) * c)
            dd = (np.pi - th) / (2 * np.pi)
        elif name == "erf":
            q = 1 + 2 * np.diag(K)
            ss = 2 / np.pi * np.arcsin(np.clip(2 * K / np.sqrt(np.outer(q, q)), -1.0, 1.0))
            dd = 4 / np.pi / np.sqrt(np.outer(q, q) - 4 * K**2)
        else:
            raise ValueError("closed forms only for relu and erf")
        H = C_b + C_W * ss + C_W * dd * H
        K = C_b + C_W * ss
        Ks.append(K)
        Hs.append(H)
    return np.array(Ks), np.array(Hs)


def _param(value, depth):
    arr = np.asarray(value, dtype=float)
    return np.full(depth, float(arr)) if arr.ndim == 0 else arr


def reference_flow(act, X, depth: int, C_b=0.0, C_W=1.0, lambda_b=None, lambda_W=None, width=None,
                   quantities=("K", "H", "V", "G1"), degree2: int = 80, degree4: int = 32,
                   form: str = "ibp") -> dict:
    """Per-layer arrays (index 0 = layer 1) of the requested quantities; see the module docstring."""
    from derive.activations import activation
    act = activation(act) if isinstance(act, str) else act
    X = np.asarray(X, dtype=float)
    n = X.shape[0]
    cb, cw = _param(C_b, depth), _param(C_W, depth)
    lambda_b, lambda_W = learning_rates(C_b, C_W, lambda_b, lambda_W)
    lb = _param(lambda_b, depth)
    lw = _param(lambda_W, depth)
    ratio = np.ones(depth)
    if width is not None:
        w = [width] * depth if np.ndim(width) == 0 else list(width)
        for layer in range(2, depth):
            ratio[layer] = w[layer - 1] / w[layer - 2]
    s = act.numpy_function()
    d = [s] + [act.numpy_derivative(k) for k in range(1, 5)]
    gram = X @ X.T / X.shape[1]
    K = cb[0] + cw[0] * gram
    H = lb[0] + lw[0] * gram
    V = np.zeros((n,) * 4)
    G1 = np.zeros((n, n))
    out = {q: [] for q in quantities}

    def record():
        for q, val in (("K", K), ("H", H), ("V", V), ("G1", G1)):
            if q in out:
                out[q].append(val.copy())
    record()
    want_v = "V" in quantities or "G1" in quantities
    for step in range(1, depth):
        ss = _pairs(s, s, K, degree2)
        Kn = cb[step] + cw[step] * ss
        if "H" in quantities:
            H = lb[step] + lw[step] * ss + cw[step] * _pairs(d[1], d[1], K, degree2) * H
        if want_v:
            Vn = _vertex(act, s, d, K, V, ss, cw[step], ratio[step], degree2, degree4, form)
            if "G1" in quantities:
                G1 = _metric(s, d, K, V, G1, cw[step], ratio[step], degree2, form)
            V = Vn
        K = Kn
        record()
    return {q: np.array(v) for q, v in out.items()}


def _four_point(s, K, degree4):
    n = K.shape[0]
    Q = np.empty((n,) * 4)
    for t in itertools.combinations_with_replacement(range(n), 4):
        value = expect_tensor([s, s, s, s], K[np.ix_(t, t)], degree4)
        for p in set(itertools.permutations(t)):
            Q[p] = value
    return Q


def _vertex(act, s, d, K, V, ss, cw, r, degree2, degree4, form):
    n = K.shape[0]
    Q = _four_point(s, K, degree4)
    first = cw**2 * (Q - np.einsum("ab,cd->abcd", ss, ss))
    if not V.any():
        return first
    if form == "ibp":
        T = _pairs(d[2], s, K, degree2)    # T[a, b] = <s''_a s_b>
        S = _pairs(d[1], d[1], K, degree2)
        D = np.zeros((n, n, n, n))          # D[a1, a2, c, e]: weight of V[c, e, ...] for pair (a1, a2)
        for a1 in range(n):
            for a2 in range(n):
                D[a1, a2, a1, a1] += T[a1, a2]
                D[a1, a2, a1, a2] += S[a1, a2]
                D[a1, a2, a2, a1] += S[a1, a2]
                D[a1, a2, a2, a2] += T[a2, a1]
        second = np.einsum("xyab,abcd,zwcd->xyzw", D, V, D)
        return first + cw**2 * r / 4 * second
    Kinv = np.linalg.inv(K)
    Vup = np.einsum("ijkl,ia,jb,kc,ld->abcd", V, Kinv, Kinv, Kinv, Kinv)
    A = np.empty((n,) * 4)   # A[x, y, a, b] = <s_x s_y (z_a z_b - K_ab)>
    for x in range(n):
        for y in range(n):
            for a in range(n):
                for b in range(n):
                    idx = [x, y, a, b]
                    C = K[np.ix_(idx, idx)]
                    fns = [s, s, lambda v: v, lambda v: v]
                    A[x, y, a, b] = expect_tensor(fns, C, degree4) - K[a, b] * expect_tensor([s, s], C[:2, :2],
                                                                                               degree2)
    second = np.einsum("abcd,xyab,zwcd->xyzw", Vup, A, A)
    return first + cw**2 * r / 4 * second


def _metric(s, d, K, V, G1, cw, r, degree2, form):
    n = K.shape[0]
    G = np.empty((n, n))
    if form == "ibp":
        for a1 in range(n):
            for a2 in range(n):
                C = K[np.ix_([a1, a2], [a1, a2])]

                def e(i, j):
                    return expect_tensor([d[i], d[j]], C, degree2)
                labels = (a1, a2)
                metric = sum(G1[labels[p], labels[q]] * e(2 * (p == q == 0) + (p != q), 2 * (p == q == 1)
                                                          + (p != q))
                             for p in range(2) for q in range(2))
                quartic = 0.0
                for beta in itertools.product(range(2), repeat=4):
                    j = sum(1 for b in beta if b == 0)
                    quartic += V[tuple(labels[b] for b in beta)] * e(j, 4 - j)
                G[a1, a2] = r * cw * (metric / 2 + quartic / 8)
        return G
    if n > 2:
        raise ValueError("the inverse-form G1 reference handles N_D <= 2")
    Kinv = np.linalg.inv(K)
    x, w = gauss_hermite(degree2)
    S = _sqrt_psd(K)
    if n == 1:
        z = S @ x[None, :]
        weights = w
    else:
        u1, u2 = np.meshgrid(x, x, indexing="ij")
        z = S @ np.stack([u1.ravel(), u2.ravel()])
        weights = np.outer(w, w).ravel()
    y = Kinv @ z
    for a1 in range(n):
        for a2 in range(n):
            F = s(z[a1]) * s(z[a2]) * weights
            metric = 0.0
            for i in range(n):
                for j in range(n):
                    metric += G1[i, j] * np.sum(F * (y[i] * y[j] - Kinv[i, j]))
            quartic = 0.0
            for b in itertools.product(range(n), repeat=4):
                i, j, k, l = b
                h = (y[i] * y[j] * y[k] * y[l]
                     - (Kinv[i, j] * y[k] * y[l] + Kinv[i, k] * y[j] * y[l] + Kinv[i, l] * y[j] * y[k]
                        + Kinv[j, k] * y[i] * y[l] + Kinv[j, l] * y[i] * y[k] + Kinv[k, l] * y[i] * y[j])
                     + Kinv[i, j] * Kinv[k, l] + Kinv[i, k] * Kinv[j, l] + Kinv[i, l] * Kinv[j, k])
                quartic += V[i, j, k, l] * np.sum(F * h)
            G[a1, a2] = r * cw * (metric / 2 + quartic / 8)
    return G
