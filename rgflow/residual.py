"""Residual MLPs at order 1/n: kernel, NTK mean and the four-point function (docs/residual.md).

Stage *residual flow*: (activation, inputs, ξ, γ, C_b, C_W, λ_b, λ_W, depth) → per-layer K, H, V of

    z^{(1)} = b + W x,        z^{(ℓ+1)} = ξ z^{(ℓ)} + γ [b + W σ(z^{(ℓ)})]        (THEORY-NTK.md §5)

for N_D inputs, equal widths, with V^{(ℓ)}_{(a1a2)(a3a4)} = n·Cov(z_{i;a1} z_{i;a2}, z_{k;a3} z_{k;a4}),
i ≠ k, at leading order (no power of 1/n included).

Why V alone does not close.  In a plain MLP the neurons of layer ℓ+1 are conditionally i.i.d. with
one random covariance Ĝ, so every cross-neuron correlation is D[f]·V·D[g].  A residual neuron keeps
its own past (z' = ξz + γu), and the cross-neuron covariance is a general bilinear form
𝒞_ℓ[f, g] = n Cov(f(z_i), g(z_k)).  Conditional on layer ℓ, u ~ N(0, Ĝ) independently per neuron, so
E[f(z'_i) | ℓ] = (T_Ĝ f)(z_i) with T_Ĝ f(z) = E_u f(ξz + γu).  Expanding T_Ĝ = T + ΔĜ·∂T + … with
ΔĜ = (C_W/n) Σ_j Δ(σσ)(z_j), splitting j into {i}, {k} and the others (their connected correlations
with z_i, z_k are 𝒞/n; three-neuron ones are O(1/n²)), and keeping O(1/n):

    𝒞_{ℓ+1}[f, g] = 𝒞_ℓ[Tf, Tg] + γ²C_W ( D'[f]·{Cov_K(σσ, Tg) + 𝒞_ℓ[σσ, Tg]} + (f ↔ g) )
                    + γ⁴C_W² D'[f]·{Cov_K(σσ, σσ) + 𝒞_ℓ[σσ, σσ]}·D'[g],                       (R)

where D_ℓ[f]_{pq} = ∂⟨f⟩_{K_ℓ}/∂K_{ℓ,pq} (so ⟨∂_Ĝ Tf⟩ = γ² D_{ℓ+1}[f]) and D_ℓ[Tf] = ξ² D_{ℓ+1}[f].
The bilinear form stays of the shape 𝒞_ℓ[f, g] = D_ℓ[f]·Ψ_ℓ[g] + Ψ_ℓ[f]·D_ℓ[g] + D_ℓ[f]·Ω_ℓ·D_ℓ[g]
(exactly: every source term of (R) carries a D'), which closes (R) as

    Ψ_{ℓ+1}[g] = M_ℓ Ψ_ℓ[T g] + γ²C_W Cov_{K_ℓ}(σσ, T g),      M_ℓ = ξ² 1 + γ²C_W D_ℓ[σσ],
    Ω_{ℓ+1} = ξ⁴ Ω_ℓ + ξ²γ²C_W (X + Xᵀ) + γ⁴C_W² {Cov_K(σσ, σσ) + 𝒞_ℓ[σσ, σσ]},
    X = Ψ_ℓ[σσ] + D_ℓ[σσ]·Ω_ℓ,      V_ℓ = 𝒞_ℓ[zz, zz],      Ψ_1 = Ω_1 = 0.

Only two families of Ψ values are needed.  Quadratics stay quadratics under T
(T z_c z_d = ξ² z_c z_d + const), so Ψ_{ℓ+1}[zz] = ξ² M_ℓ Ψ_ℓ[zz] + ξ²γ²C_W Cov_K(σσ, zz) with
Cov_K(σ_aσ_b, z_c z_d) = 2 K_cp K_dq D[σ_aσ_b]_{pq} (Stein).  Unrolling the Ψ recursion,

    Ψ_ℓ[σσ^{(ℓ)}] = Σ_{m<ℓ} M_{ℓ−1}⋯M_{m+1} γ²C_W Γ_{mℓ},   Γ_{mℓ} = Cov(σσ(z), σσ(y)),

with (z, y) jointly Gaussian, Var z = K_m, Var y = K_ℓ, Cov(z, y) = ξ^{ℓ−m} K_m: the composed transfer
T_m∘…∘T_{ℓ−1} is the conditional expectation along the Gaussian residual stream.  So the closure
costs O(L²) Gaussian integrals over at most 2·N_D variables and needs no truncation.

``closure="naive"`` is the V-only truncation 𝒞_ℓ ≈ D·V·D (V' = M V Mᵀ + local terms) that
THEORY-NTK.md §5 shows to be wrong for ReLU; it is offered for comparison and is exact for linear σ.
At ξ = 0, γ = 1 both reduce to the plain-MLP recursion of THEORY.md §3.

Numerics: two-variable integrals by the split polar rule of :func:`derive.quadrature.split_plane_rule`
(exact break points for kinks at z = 0), one-variable ones by split Gauss–Legendre, more variables
(N_D ≥ 2: Γ has up to four) by tensor Gauss–Hermite of ``degree`` (algebraic convergence for kinked
σ).  ∂⟨σσ⟩/∂K by σ', σ'' for smooth σ, by Gaussian integration by parts (no derivative of σ) for σ
kinked at 0 — then the inputs must be linearly independent.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from derive.activations import Activation, activation, kinked_at_zero
from derive.errors import RGFlowError
from derive.quadrature import legendre_half_lines, pair_expectations, split_plane_rule

from .defaults import learning_rates
from .reference import expect_tensor

__all__ = ["ResidualFlow", "residual_flow", "CLOSURES", "ResidualLaw", "residual_law"]

#: The available closures of the four-point function.
CLOSURES = ("bilinear", "naive")


@dataclass(frozen=True, eq=False)
class ResidualFlow:
    """Per-layer statistics of a residual MLP (index ℓ−1 holds layer ℓ).

    ``K`` (L, N_D, N_D) kernel; ``H`` (L, N_D, N_D) NTK mean (None without learning rates);
    ``V`` (L, N_D, N_D, N_D, N_D) four-point vertex (None with ``vertex=False``), V[ℓ−1, a1, a2, a3, a4] = V_{(a1a2)(a3a4)}
    = n·Cov(z_{i;a1}z_{i;a2}, z_{k;a3}z_{k;a4}) at leading order; ``closure`` says how V was closed.
    """

    K: np.ndarray
    H: np.ndarray | None
    V: np.ndarray | None
    xi: float
    gamma: float
    closure: str


def _positive(name: str, value, strict: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not math.isfinite(value) or value < 0 or (strict and value == 0):
        raise RGFlowError(f"{name} must be a finite {'positive' if strict else 'non-negative'} number, got {value!r}")
    return float(value)


class _Gauss:
    """Gaussian expectations of products of functions of (possibly coincident) Gaussian variables."""

    def __init__(self, degree: int):
        self.degree = degree
        self.u, self.w = legendre_half_lines()

    def expect(self, fns, C) -> float:
        """E[Π fns[i](v_i)], v ~ N(0, C); coincident variables (correlation 1) are merged."""
        C = np.asarray(C, dtype=float)
        groups: list[list[int]] = []
        for i in range(len(fns)):
            for g in groups:
                j = g[0]
                if C[i, i] == C[j, j] and abs(C[i, j] - C[i, i]) <= 1e-13 * max(C[i, i], 1e-300):
                    g.append(i)
                    break
            else:
                groups.append([i])

        def merged(g):
            return lambda v, g=g: np.prod([fns[i](v) for i in g], axis=0)
        heads = [g[0] for g in groups]
        funcs = [merged(g) for g in groups]
        Cg = C[np.ix_(heads, heads)]
        # independent blocks (zero covariance between them) factorise
        blocks, seen = [], set()
        for i in range(len(groups)):
            if i in seen:
                continue
            block, todo = [], [i]
            while todo:
                j = todo.pop()
                if j not in seen:
                    seen.add(j)
                    block.append(j)
                    todo.extend(k for k in range(len(groups)) if k not in seen and Cg[j, k] != 0.0)
            blocks.append(sorted(block))
        if len(blocks) > 1:
            return math.prod(self._connected([funcs[i] for i in b], Cg[np.ix_(b, b)]) for b in blocks)
        return self._connected(funcs, Cg)

    def _connected(self, funcs, Cg) -> float:
        if len(funcs) == 1:
            z = math.sqrt(max(Cg[0, 0], 0.0)) * self.u
            return float(np.sum(self.w * funcs[0](z)))
        if len(funcs) == 2 and np.linalg.det(Cg) > 1e-12 * Cg[0, 0] * Cg[1, 1]:
            zs, weight = split_plane_rule(Cg)
            return float(np.sum(weight * funcs[0](zs[0]) * funcs[1](zs[1])))
        return float(expect_tensor(funcs, Cg, self.degree))


class _Layer:
    """The Gaussian expectations of one layer with kernel K: ⟨σσ⟩, ⟨σ'σ'⟩, D[σσ], Cov(σσ, σσ)."""

    def __init__(self, act: Activation, kinked: bool, K: np.ndarray, gauss: _Gauss, need_ntk: bool,
                 need_vertex: bool = True):
        n = K.shape[0]
        s = act.numpy_function()
        self.K = K
        pairs = lambda f, g: pair_expectations(f, g, K)
        self.G = pairs(s, s)
        self.dd = pairs(act.numpy_derivative(1), act.numpy_derivative(1)) if need_ntk else None
        if not need_vertex:
            return
        # D[a, b, p, q] = ∂⟨σ_a σ_b⟩/∂K_pq, with dF = Σ_pq D_pq dK_pq over ordered (p, q): ½⟨∂_p ∂_q σ_aσ_b⟩
        D = np.zeros((n,) * 4)
        if kinked:
            for a, b in itertools.product(range(n), repeat=2):
                block = [a] if a == b else [a, b]
                Kb = K[np.ix_(block, block)]
                if np.linalg.det(Kb) <= 1e-12 * np.prod(np.diag(Kb)):
                    raise RGFlowError("the residual flow of an activation kinked at z = 0 needs linearly "
                                      "independent inputs")
                Ki = np.linalg.inv(Kb)
                for p, q in itertools.product(range(len(block)), repeat=2):
                    # ⟨∂_p∂_q F⟩ = ⟨F · ((K⁻¹z)_p (K⁻¹z)_q − K⁻¹_pq)⟩  (Gaussian integration by parts)
                    def weight(*zs, p=p, q=q):
                        y = np.tensordot(Ki, np.stack(zs), axes=1)
                        return y[p] * y[q] - Ki[p, q]
                    if len(block) == 1:
                        val = gauss.expect([lambda v: s(v) ** 2 * weight(v)], Kb)
                    else:
                        zs, wts = split_plane_rule(Kb)
                        val = float(np.sum(wts * s(zs[0]) * s(zs[1]) * weight(zs[0], zs[1])))
                    D[a, b, block[p], block[q]] += 0.5 * val
        else:
            d1, d2 = act.numpy_derivative(1), act.numpy_derivative(2)
            T = pairs(d2, s)                                           # ⟨σ''_a σ_b⟩
            S = self.dd if self.dd is not None else pairs(d1, d1)      # ⟨σ'_a σ'_b⟩
            for a, b in itertools.product(range(n), repeat=2):
                D[a, b, a, a] += 0.5 * T[a, b]
                D[a, b, b, b] += 0.5 * T[b, a]
                D[a, b, a, b] += 0.5 * S[a, b]
                D[a, b, b, a] += 0.5 * S[a, b]
        self.D = D
        # Cov_K(σ_aσ_b, σ_cσ_d)
        Q = np.empty((n,) * 4)
        for t in itertools.combinations_with_replacement(range(n), 4):
            val = gauss.expect([s] * 4, K[np.ix_(t, t)])
            for perm in set(itertools.permutations(t)):
                Q[perm] = val
        self.cov_ss = Q - np.einsum("ab,cd->abcd", self.G, self.G)
        # Cov_K(σ_aσ_b, z_c z_d) = 2 K_cp K_dq D[a, b, p, q]  (Stein)
        self.cov_sz = 2 * np.einsum("cp,dq,abpq->abcd", K, K, D)


def _cross_covariance(s, Km: np.ndarray, Kl: np.ndarray, rho: float, gauss: _Gauss) -> np.ndarray:
    """Γ[a, b, c, d] = Cov(σ(z_a)σ(z_b), σ(y_c)σ(y_d)) with Var z = Km, Var y = Kl, Cov(z, y) = ρ Km."""
    n = Km.shape[0]
    big = np.block([[Km, rho * Km], [rho * Km, Kl]])
    G = np.zeros((n,) * 4)
    for a, b in itertools.combinations_with_replacement(range(n), 2):
        for c, d in itertools.combinations_with_replacement(range(n), 2):
            idx = [a, b, n + c, n + d]
            val = gauss.expect([s] * 4, big[np.ix_(idx, idx)]) \
                - gauss.expect([s, s], Km[np.ix_([a, b], [a, b])]) * gauss.expect([s, s], Kl[np.ix_([c, d], [c, d])])
            for (x, y) in {(a, b), (b, a)}:
                for (u, v) in {(c, d), (d, c)}:
                    G[x, y, u, v] = val
    return G


def _apply(M: np.ndarray, T: np.ndarray) -> np.ndarray:
    """(M T)[.., a, b] = M[a, b, p, q] T[.., p, q]: an operator on the derivative index."""
    return np.einsum("abpq,...pq->...ab", M, T)


def residual_flow(act, X, depth: int, xi: float, gamma: float = 1.0, C_b: float = 0.0, C_W: float = 1.0,
                  lambda_b=None, lambda_W=None, closure: str = "bilinear", degree: int = 20,
                  vertex: bool = True) -> ResidualFlow:
    """Layers 1..depth of K, H and V of the residual MLP z' = ξz + γ(b + Wσ(z)) (module docstring).

    ``X`` (N_D, n_0) inputs; λ's default as for plain MLPs (:func:`rgflow.defaults.learning_rates`;
    H is None when both are None).  ``closure``: "bilinear" (exact at order 1/n) or "naive" (V-only).
    ``degree``: Gauss–Hermite nodes per variable for integrals over more than two variables.
    ``vertex=False``: the kernel and NTK mean only (``V`` is None), N_D² two-variable integrals per
    layer batched over pairs — the infinite-width residual NNGP and NTK for hundreds of inputs.
    Cost with the vertex: O(L² N_D⁴) integrals over up to 2N_D variables (meant for N_D ≤ 3).

    >>> import numpy as np
    >>> f = residual_flow("linear", np.array([[1.0]]), depth=3, xi=0.8, gamma=0.6)
    >>> K = f.K[:, 0, 0]; bool(np.allclose(K, [1.0, 1.0, 1.0]))
    True
    >>> s = 4 * 0.64 * 0.36 + 2 * 0.36**2     # exact: V_L = K² (L−1) s at χ = 1
    >>> bool(np.allclose(f.V[:, 0, 0, 0, 0], [0.0, s, 2 * s]))
    True
    """
    act = act if isinstance(act, Activation) else activation(act)
    X = np.asarray(X, dtype=float)
    if X.ndim != 2 or not X.size or not np.isfinite(X).all():
        raise RGFlowError("X must be a finite array of shape (N_D, n_0)")
    if isinstance(depth, bool) or not isinstance(depth, (int, np.integer)) or depth < 1:
        raise RGFlowError(f"depth must be an integer >= 1, got {depth!r}")
    if closure not in CLOSURES:
        raise RGFlowError(f"unknown closure {closure!r}; choose one of {', '.join(CLOSURES)}")
    xi, gamma = _positive("xi", xi, False), _positive("gamma", gamma, True)
    C_b, C_W = _positive("C_b", C_b, False), _positive("C_W", C_W, False)
    want_ntk = lambda_b is not None or lambda_W is not None
    lb, lw = learning_rates(C_b, C_W, lambda_b, lambda_W)
    lb, lw = _positive("lambda_b", lb, False), _positive("lambda_W", lw, False)
    kinked = kinked_at_zero(act)
    s = act.numpy_function()
    gauss = _Gauss(degree)
    n = X.shape[0]
    gram = X @ X.T / X.shape[1]
    K = C_b + C_W * gram
    H = lb + lw * gram
    V = np.zeros((n,) * 4) if vertex else None
    Psi_z = np.zeros((n,) * 4)       # Ψ_ℓ[z_c z_d]_{ab} stored as [c, d, a, b]
    Omega = np.zeros((n,) * 4)
    layers: list[_Layer] = []
    Ks, Hs, Vs = [K], [H], [V]
    a2, g2, cw = xi * xi, gamma * gamma, C_W
    eye = np.einsum("ap,bq->abpq", np.eye(n), np.eye(n))
    for ell in range(1, depth):
        lay = _Layer(act, kinked, K, gauss, want_ntk, vertex)
        layers.append(lay)
        if not vertex:
            V_next = V
        elif closure == "naive":
            M = a2 * eye + g2 * cw * lay.D
            V_next = (np.einsum("abpq,pqrs,cdrs->abcd", M, V, M)
                      + a2 * g2 * cw * (lay.cov_sz + lay.cov_sz.transpose(2, 3, 0, 1))
                      + g2 * g2 * cw * cw * lay.cov_ss)
        else:
            # Ψ_ℓ[σσ^{(ℓ)}]: Σ_{m<ℓ} M_{ℓ−1}⋯M_{m+1} γ²C_W Γ_{mℓ}   (stored [c, d, a, b])
            Psi_s = np.zeros((n,) * 4)
            for m in range(len(layers) - 1):          # earlier layers m (0-based) < ℓ−1
                Gam = _cross_covariance(s, layers[m].K, K, xi ** (len(layers) - 1 - m), gauss)
                term = g2 * cw * Gam.transpose(2, 3, 0, 1)           # [c, d | a, b]: derivative index last
                for k in range(m + 1, len(layers) - 1):
                    term = _apply(a2 * eye + g2 * cw * layers[k].D, term)
                Psi_s += term
            Dm = lay.D
            C_ss = (np.einsum("abpq,cdpq->abcd", Dm, Psi_s) + np.einsum("abpq,cdpq->abcd", Psi_s, Dm)
                    + np.einsum("abpq,pqrs,cdrs->abcd", Dm, Omega, Dm))
            X_ = Psi_s + np.einsum("abpq,pqef->abef", Dm, Omega)
            M = a2 * eye + g2 * cw * Dm
            Omega = (a2 * a2 * Omega + a2 * g2 * cw * (X_ + X_.transpose(2, 3, 0, 1))
                     + g2 * g2 * cw * cw * (lay.cov_ss + C_ss))
            Psi_z = a2 * _apply(M, Psi_z) + a2 * g2 * cw * lay.cov_sz.transpose(2, 3, 0, 1)
            V_next = Psi_z + Psi_z.transpose(2, 3, 0, 1) + Omega
        if want_ntk:
            H = a2 * H + g2 * (lb + lw * lay.G + cw * lay.dd * H)
        K = a2 * K + g2 * (C_b + cw * lay.G)
        V = 0.5 * (V_next + V_next.transpose(2, 3, 0, 1)) if vertex else None
        if not (np.isfinite(K).all() and (V is None or np.isfinite(V).all())):
            raise RGFlowError(f"the residual flow overflows at layer {ell + 1}")
        Ks.append(K)
        Hs.append(H)
        Vs.append(V)
    return ResidualFlow(K=np.array(Ks), H=np.array(Hs) if want_ntk else None, V=np.array(Vs) if vertex else None,
                        xi=xi, gamma=gamma, closure=closure)


@dataclass(frozen=True)
class ResidualLaw:
    """Large-depth law of the four-point function of a critical residual MLP (docs/residual.md).

    ``xi2`` = ξ²; the block is critical at γ²C_b = ε C_b*, γ²C_W = ε C_W* (ε = 1 − ξ², (C_b*, C_W*, K*)
    the plain MLP's critical point), where V/(nK²) ≈ ``nu`` ℓ/n (bilinear closure) and ``nu_naive`` ℓ/n
    (V-only closure).  ``nu`` is None where the law is not derived (``note`` says why).
    """

    activation: str
    universality_class: str
    xi2: float
    C_b: float
    C_W: float
    K_star: str
    nu: float | None
    nu_naive: float | None
    note: str

    def to_dict(self) -> dict:
        return {"xi2": self.xi2, "gamma2_C_b": self.C_b, "gamma2_C_W": self.C_W, "K_star": self.K_star,
                "nu": self.nu, "nu_naive": self.nu_naive, "note": self.note}

    def __str__(self) -> str:
        eps = 1 - self.xi2
        rows = [f"residual block    z' = xi z + gamma (b + W sigma(z)), xi^2 = {self.xi2:g}",
                f"critical at       gamma^2 C_b = {self.C_b:.6g}, gamma^2 C_W = {self.C_W:.6g} "
                f"(= {eps:g} x the MLP's), K* = {self.K_star}"]
        if self.nu is not None:
            rows.append(f"V/(n K^2) ~       {self.nu:.6g}*ell/n   (bilinear closure; V-only closure "
                        f"{self.nu_naive:.6g}*ell/n)")
        rows.append(f"note              {self.note}")
        return "\n".join(rows)


def _cross_sum(s, xi: float, gauss: _Gauss, variance: float, tol: float = 1e-13) -> float:
    """Σ_{k≥1} Cov(σ²(z), σ²(y)), z, y ~ N(0, 1) with correlation ξ^k.  By Gebelein's inequality
    |Cov(f(z), f(y))| ≤ |corr| Var f, so the tail after the term with correlation ρ is at most
    Var(σ²) ρ ξ/(1 − ξ): the sum stops when that is below ``tol`` times the running total."""
    total, rho = 0.0, 1.0
    while True:
        rho *= xi
        C = np.array([[1.0, rho], [rho, 1.0]])[np.ix_([0, 0, 1, 1], [0, 0, 1, 1])]
        total += gauss.expect([s, s, s, s], C) - gauss.expect([s, s], C[:2, :2]) ** 2
        if variance * rho * xi / (1 - xi) <= tol * max(abs(total), variance):
            return total


def residual_law(act, xi2: float) -> ResidualLaw:
    """The large-depth law V/(nK²) ≈ ν ℓ/n of a residual MLP with ξ² = ``xi2`` at criticality.

    Scale-invariant σ (every K fixed, χ = 1): unrolling the closure of :func:`residual_flow`, Ψ_ℓ[σσ]
    and Ψ_ℓ[zz] tend to constants and Ω grows by a constant per layer, so exactly

        ν = (εC_W*)² [Var(σ²) + 2 Σ_{k≥1} Cov(σ²(z), σ²(y))|_{corr ξ^k}] / K²,
        ν_naive = [(εC_W*)² Var(σ²) + 2ξ²εC_W* Cov(z², σ²)] / K²        (any K; ε = 1 − ξ²).

    K* = 0 class (σ odd, K ≈ 1/(−a₁εℓ)): a residual layer is ε plain layers (χ − 1 and the flow of K
    scale by ε) with the local source ε(2 − ε)·2K² instead of 2K² per plain layer, so
    ν = ε(2 − ε) ν_MLP; the modes beyond V are sourced by ⟨σ² h_c⟩ ~ K^{c/2} → 0, so both closures
    share this law.  Other classes: not derived (RGFlowError for no critical point).

    >>> round(residual_law("relu", 0.0).nu, 10)      # ξ = 0 is the plain MLP: 5 ℓ/n
    5.0
    """
    from derive.universality import classify, usable_critical_point
    act = act if isinstance(act, Activation) else activation(act)
    xi2 = _positive("xi2", xi2, False)
    if xi2 >= 1:
        raise RGFlowError(f"xi2 must be below 1 (a critical residual block needs gamma^2 C_W > 0), got {xi2!r}")
    report = classify(act)
    point = usable_critical_point(report)
    if point is None:
        raise RGFlowError(f"{act.name} has no usable critical point; the residual law needs one")
    eps = 1.0 - xi2
    try:
        cb, cw = eps * float(point.C_b), eps * float(point.C_W)
    except TypeError:
        raise RGFlowError(f"the critical point of {act.name} depends on unbound parameters; bind them "
                          "(-p NAME=VALUE)") from None
    label = report.universality_class
    common = dict(activation=act.name, universality_class=label, xi2=xi2, C_b=cb, C_W=cw, K_star=str(point.K_star))
    if label == "scale-invariant":
        s = act.numpy_function()
        gauss = _Gauss(20)
        one = np.ones((2, 2))
        var = gauss.expect([s] * 4, np.ones((4, 4))) - gauss.expect([s, s], one) ** 2
        cov_zs = gauss.expect([s, s, lambda v: v, lambda v: v], np.ones((4, 4))) - gauss.expect([s, s], one)
        cross = _cross_sum(s, math.sqrt(xi2), gauss, var) if xi2 > 0 else 0.0
        return ResidualLaw(**common, nu=cw * cw * (var + 2 * cross), nu_naive=cw * cw * var + 2 * xi2 * cw * cov_zs,
                           note="exact sum over the cross-layer covariances of sigma^2 (bilinear-form closure)")
    laws = dict(report.asymptotics)
    if label == "K*=0" and "V/(n K^2)" in laws:
        from derive.symbols import ell, n
        nu_mlp = float(_coefficient(laws["V/(n K^2)"], ell / n))
        nu = eps * (2 - eps) * nu_mlp
        return ResidualLaw(**common, nu=nu, nu_naive=nu,
                           note=f"eps (2 - eps) x the MLP's {nu_mlp:.6g}; asymptotic, both closures "
                                "(the extra modes die with K -> 0)")
    return ResidualLaw(**common, nu=None, nu_naive=None,
                       note=f"not derived for the {label} class (only scale-invariant and K*=0)")


def _coefficient(expr, unit) -> float:
    """The number c with expr = c·unit (e.g. 2ℓ/(3n) over ℓ/n)."""
    import sympy as sp
    c = sp.simplify(expr / unit)
    if not c.is_number:
        raise RGFlowError(f"{expr} is not a multiple of {unit}")
    return float(c)
