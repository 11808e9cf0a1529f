"""Order-1/n NTK statistics of real random networks: fluctuations A, B, D, F and dNTK P, Q.

Helper of :mod:`rgflow.montecarlo` (which owns sampling, reduction and the result type):
per-network features, computed from one batch of networks, and the estimators built
from their between-network means and co-moments.  Definitions (THEORY-NTK.md §1): the
stochastic NTK Ĥ^{(l)}_{i1i2;a1a2} = Σ_μ λ_μ ∂z^{(l)}_{i1;a1}/∂θ_μ ∂z^{(l)}_{i2;a2}/∂θ_μ and the
dNTK dĤ^{(l)}_{i0i1i2;a0a1a2} = Σ_μ λ_μ ∂z^{(l)}_{i0;a0}/∂θ_μ ∂Ĥ^{(l)}_{i1i2;a1a2}/∂θ_μ (sums over the
parameters of layers 1..l; λ_b per bias, λ_W/n_{l-1} per weight), with

    E[ΔĤ_{i1i2;12} ΔĤ_{i3i4;34}] = [δ12δ34 A_(12)(34) + δ13δ24 B_1324 + δ14δ23 B_1423] / n_{l-1}
    E[ΔĤ_{i1i2;12} z_{i3;3} z_{i4;4}] = [δ12δ34 D_1234 + δ13δ24 F_1324 + δ14δ23 F_1423] / n_{l-1}
    E[dĤ_{i0i1i2;012} z_{i3;3}] = [δ01δ23 P_0123 + δ02δ13 P_0213 + δ03δ12 Q_0123] / n_{l-1}

(δ's on neuron indices).  Hence, with distinct neurons i ≠ j (the estimators below):

* A_(12)(34)/n = Cov(Ĥ_{ii;12}, Ĥ_{jj;34}),     B_1324/n = E[Ĥ_{ij;12} Ĥ_{ij;34}],
* D_1234/n = Cov(Ĥ_{ii;12}, z_{j;3} z_{j;4}),    F_1324/n = E[Ĥ_{ij;12} z_{i;3} z_{j;4}],
* P_0123/n = E[dĤ_{iij;012} z_{j;3}],           Q_0123/n = E[dĤ_{jii;012} z_{j;3}].

B, F, P, Q need no mean subtraction: E[Ĥ_{ij}] = 0 for i ≠ j and E[dĤ] = 0 exactly (flip
the signs of row i of W^{(l)} and of b^{(l)}_i).  Every estimator averages over all
ordered pairs i ≠ j inside each network (P, Q: over j ≠ i0 for ``neurons`` fixed output
neurons i0 = 0, 1, …, which is unbiased because neurons are exchangeable), and A, D
replace the product of means by its U-statistic, so each is **exactly unbiased** for the
finite-width left-hand side; the O(1/n²) remainder is the theory's truncation.

dNTK by forward mode.  dĤ^{(l)}_{i0··;a0··} is the directional derivative of the whole NTK
matrix Ĥ^{(l)} along v_μ = λ_μ ∂z^{(l)}_{i0;a0}/∂θ_μ.  v is built by backpropagation,
δ^{(l)} = e_{i0}, δ^{(l')} = σ'(z^{(l')}_{a0}) ⊙ W^{(l'+1)ᵀ} δ^{(l'+1)}, so that
Ẇ^{(l')} = (λ_W/n_{l'-1}) δ^{(l')} σ(z^{(l'-1)}_{a0})ᵀ and ḃ^{(l')} = λ_b δ^{(l')}; then the forward
equations are differentiated along v (:func:`ntk_tangent`):

    ż^{(l')}_a = δ^{(l')} Φ^{(l')}_{a0a} + W (σ'_a ⊙ ż^{(l'-1)}_a),
    Ĥ^{(l')}_{ab} = Φ^{(l')}_{ab} I + W D_a Ĥ^{(l'-1)}_{ab} D_b Wᵀ,  Φ^{(l')}_{ab} = λ_b + (λ_W/n) Σ_k σ_{k;a} σ_{k;b},
    Ḣ^{(l')}_{ab} = Φ̇_{ab} I + (λ_W/n)[δ (W D_b Ĥᵀ_{ab} D_a σ_{a0})ᵀ + (W D_a Ĥ_{ab} D_b σ_{a0}) δᵀ]
                  + W [Ḋ_a Ĥ_{ab} D_b + D_a Ĥ_{ab} Ḋ_b + D_a Ḣ_{ab} D_b] Wᵀ,

with D_a = diag σ'(z^{(l'-1)}_a), Ḋ_a = diag(σ''(z^{(l'-1)}_a) ⊙ ż^{(l'-1)}_a),
Φ̇_{ab} = (λ_W/n) Σ_k (σ'_{k;a} ż_{k;a} σ_{k;b} + σ_{k;a} σ'_{k;b} ż_{k;b}), and Ĥ^{(1)} = Φ^{(1)} I
constant.  At the target layer ż^{(l)}_{j;a} = Ĥ^{(l)}_{j i0;a a0} (a check used by the tests).
One pass per (target layer, i0, a0): O(L²) layer steps, each ≈ 2 N_D(N_D+1)/2 n³ flops
per direction.  Tests: tests/rgflow/test_montecarlo_ntk.py (finite differences of the
NTK along v, explicit-Jacobian NTK, exact layer-2 values).
"""

from __future__ import annotations

import numpy as np

__all__ = ["FluctuationLayout", "DntkLayout", "fluctuation_features", "dntk_features", "ntk_forward",
           "ntk_tangent", "finalise_fluctuations", "finalise_dntk"]


# ----------------------------------------------------------------------------------
# feature layouts (slices into the per-network feature vector of montecarlo.sample)
# ----------------------------------------------------------------------------------
class FluctuationLayout:
    """Slices of the A, B, D, F features and the co-moments their standard errors need.

    Features per (network, layer), all divided by n(n−1) (ordered pairs i ≠ j):
    ``PH[t]`` = Σ_{i≠j} Ĥ_{ii;p} Ĥ_{jj;q} for pairs of pairs t = (p ≤ q);
    ``PD[p, q]`` = Σ_{i≠j} Ĥ_{ii;p} z_{j;q1} z_{j;q2};
    ``S1[p, q]`` = Σ_{i≠j} Ĥ_{ij;p} Ĥ_{ij;q} and ``S2[p, q]`` = Σ_{i≠j} Ĥ_{ij;p} Ĥ_{ji;q}
    (p = (a ≤ b); Ĥ_{ij;ba} = Ĥ_{ji;ab} gives every ordering);
    ``T[p, a3, a4]`` = Σ_{i≠j} Ĥ_{ij;p} z_{i;a3} z_{j;a4}.
    """

    def __init__(self, idx, offset: int, sl_m: slice, sl_h: slice):
        npair, nt, nd = idx.np, idx.nt, idx.nd
        o = offset
        self.PH = slice(o, o + nt); o += nt
        self.PD = slice(o, o + npair * npair); o += npair * npair
        self.S = slice(o, o + 2 * npair * npair); o += 2 * npair * npair       # S1 then S2
        self.T = slice(o, o + npair * nd * nd); o += npair * nd * nd
        self.stop = o
        self.specs = {"fl_PH": (self.PH, self.PH, "diag"), "fl_PHh": (self.PH, sl_h, "full"),
                      "fl_hh": (sl_h, sl_h, "full"), "fl_PD": (self.PD, self.PD, "diag"),
                      "fl_PDh": (self.PD, sl_h, "full"), "fl_PDm": (self.PD, sl_m, "full"),
                      "fl_hm": (sl_h, sl_m, "full"), "fl_S": (self.S, self.S, "diag"),
                      "fl_T": (self.T, self.T, "diag")}


class DntkLayout:
    """Slices of the P and Q features: each N_D⁴ per (network, layer), P[a0, a1, a2, a3] =
    mean over the i0's of Σ_{j≠i0} dĤ_{i0i0j;a0a1a2} z_{j;a3}/(n−1), Q[a0, a1, a2, a3] = mean
    over the i0's of z_{i0;a3} Σ_{i≠i0} dĤ_{i0ii;a0a1a2}/(n−1)."""

    def __init__(self, idx, offset: int):
        n4 = idx.nd ** 4
        self.P = slice(offset, offset + n4)
        self.Q = slice(offset + n4, offset + 2 * n4)
        self.stop = offset + 2 * n4
        self.specs = {"dn_PQ": (slice(offset, self.stop), slice(offset, self.stop), "diag")}


# ----------------------------------------------------------------------------------
# per-network features
# ----------------------------------------------------------------------------------
def fluctuation_features(z: np.ndarray, H: np.ndarray, idx) -> np.ndarray:
    """A, B, D, F features of one layer for a batch of networks (see :class:`FluctuationLayout`).

    z : (c, N_D, n) preactivations; H : (c, n_pairs, n, n) the full NTK matrices
    H[:, p, i, j] = Ĥ_{ij;ab} for p = (a ≤ b).  Returns (c, nt + 3 n_pairs² + n_pairs N_D²),
    zeros when n < 2 (no distinct pairs; the estimators then report NaN).
    """
    c, npair, n, _ = H.shape
    nd = idx.nd
    d = idx.nt + 3 * npair * npair + npair * nd * nd
    if n < 2:
        return np.zeros((c, d))
    norm = n * (n - 1)
    diag = np.arange(n)
    h = H[:, :, diag, diag]                                        # (c, np, n) Ĥ_ii
    zz = z[:, idx.pa, :] * z[:, idx.pb, :]                         # (c, np, n) z_{i;a} z_{i;b}
    hs, zs = h.sum(-1), zz.sum(-1)
    hh = np.matmul(h, h.transpose(0, 2, 1))                        # Σ_i Ĥ_ii;p Ĥ_ii;q
    PH = (hs[:, :, None] * hs[:, None, :] - hh)[:, idx.tp, idx.tq] / norm
    PD = (hs[:, :, None] * zs[:, None, :] - np.matmul(h, zz.transpose(0, 2, 1))) / norm
    Hf = H.reshape(c, npair, n * n)
    Ht = np.ascontiguousarray(H.transpose(0, 1, 3, 2)).reshape(c, npair, n * n)
    S1 = np.matmul(Hf, Hf.transpose(0, 2, 1)) - hh
    S2 = np.matmul(Hf, Ht.transpose(0, 2, 1)) - hh
    S1 = 0.5 * (S1 + S1.transpose(0, 2, 1))                        # exact symmetries (rounding)
    S2 = 0.5 * (S2 + S2.transpose(0, 2, 1))
    dp = idx.pa == idx.pb                                          # Ĥ_{;aa} is a symmetric matrix:
    both = dp[:, None] | dp[None, :]                               # S1 = S2 whenever p or q is (a, a)
    Sm = 0.5 * (S1 + S2)
    S1 = np.where(both, Sm, S1)
    S2 = np.where(both, Sm, S2)
    zHz = np.matmul(z[:, None], np.matmul(H, z.transpose(0, 2, 1)[:, None]))   # (c, np, nd, nd)
    T = (zHz - np.einsum("cpi,cai,cbi->cpab", h, z, z)) / norm
    T[:, dp] = 0.5 * (T[:, dp] + T[:, dp].transpose(0, 1, 3, 2))
    return np.concatenate([PH, PD.reshape(c, -1), (S1 / norm).reshape(c, -1), (S2 / norm).reshape(c, -1),
                           T.reshape(c, -1)], axis=1)


def ntk_forward(X, Ws, bs, f, df, lb, lw, idx):
    """Preactivations and full NTK matrices of every layer (THEORY-NTK.md §1 forward equation).

    Ws[l] : (c, n_l, n_{l-1}), bs[l] : (c, n_l).  Returns lists zs[l] : (c, N_D, n_l) and
    Hs[l] : (c, n_pairs, n_l, n_l) with Hs[l][:, p, i, j] = Ĥ^{(l+1)}_{ij;ab}, p = (a ≤ b).
    Reference implementation (same equation as the sampler's loop), used by the tests.
    """
    pa, pb = idx.pa, idx.pb
    c = Ws[0].shape[0]
    n0 = X.shape[1]
    phi1 = lb[0] + lw[0] / n0 * (X @ X.T)[pa, pb]
    zs, Hs = [], []
    z = np.matmul(X, Ws[0].transpose(0, 2, 1)) + bs[0][:, None, :]
    H = phi1[None, :, None, None] * np.broadcast_to(np.eye(Ws[0].shape[1]), (c, len(pa)) + (Ws[0].shape[1],) * 2)
    zs.append(z)
    Hs.append(np.array(H))
    for l in range(1, len(Ws)):
        W = Ws[l]
        s, ds = f(z), df(z)
        m = z.shape[-1]
        phi = lb[l] + lw[l] / m * (s[:, pa, :] * s[:, pb, :]).sum(-1)            # (c, np)
        Ad = ds[:, pa, :, None] * H * ds[:, pb, None, :]
        H = np.matmul(np.matmul(W[:, None], Ad), W[:, None].transpose(0, 1, 3, 2))
        H[:, :, np.arange(W.shape[1]), np.arange(W.shape[1])] += phi[:, :, None]
        z = np.matmul(s, W.transpose(0, 2, 1)) + bs[l][:, None, :]
        zs.append(z)
        Hs.append(H)
    return zs, Hs


def ntk_tangent(X, Ws, zs, Hs, f, df, d2f, lb, lw, idx, target: int, neurons: int):
    """Forward-mode derivative of (z, Ĥ) of layers 1..target+1 along v = λ ∂z^{(target+1)}_{i0;a0}/∂θ.

    ``target`` is 0-based (layer l = target + 1 ≥ 2); directions v = k·N_D + a0 for the output
    neurons i0 = k < min(neurons, n_l).  zs, Hs as returned by :func:`ntk_forward` (Hs[0] may be
    None: Ĥ^{(1)} = Φ^{(1)} I is rebuilt).  Returns (zdot, Hdot, i0, a0): zdot (c, nv, N_D, n_l),
    Hdot (c, nv, n_pairs, n_l, n_l) = dĤ^{(l)}_{i0 i1 i2; a0 a b} at [.., p(a ≤ b), i1, i2], and the
    direction labels.  Implements the differentiated forward equations of the module docstring.
    """
    pa, pb = idx.pa, idx.pb
    nd = idx.nd
    n0 = X.shape[1]
    c = Ws[0].shape[0]
    k = min(neurons, Ws[target].shape[1])
    a0 = np.tile(np.arange(nd), k)
    i0 = np.repeat(np.arange(k), nd)
    nv = len(a0)
    s = [f(z) for z in zs[:target]]
    ds = [df(z) for z in zs[:target]]
    # backpropagation of e_{i0} to every layer: δ^{(l')} = ∂z^{(target)}_{i0;a0}/∂z^{(l')}_{·;a0}
    delta = [None] * (target + 1)
    delta[target] = np.zeros((c, nv, Ws[target].shape[1]))
    delta[target][:, np.arange(nv), i0] = 1.0
    for l in range(target - 1, -1, -1):
        delta[l] = ds[l][:, a0, :] * np.matmul(delta[l + 1], Ws[l + 1])
    # layer 1: ż = δ Φ^{(1)}_{a0 a}, Ḣ^{(1)} = 0
    G0 = X @ X.T
    phi_full = lb[0] + lw[0] / n0 * G0                                # (nd, nd)
    zdot = delta[0][:, :, None, :] * phi_full[a0][None, :, :, None]   # (c, nv, nd, n_1)
    Hdot = None
    n1 = Ws[0].shape[1]
    H_prev = Hs[0]
    if H_prev is None:
        phi1 = phi_full[pa, pb]
        H_prev = phi1[None, :, None, None] * np.broadcast_to(np.eye(n1), (c, len(pa), n1, n1))
    for l in range(1, target + 1):
        W = Ws[l]
        n, m = W.shape[1], W.shape[2]
        Wt = W.transpose(0, 2, 1)
        sP, dP = s[l - 1], ds[l - 1]
        ddP = d2f(zs[l - 1])
        lwm = lw[l] / m
        phi = lb[l] + lwm * np.matmul(sP, sP.transpose(0, 2, 1))     # (c, nd, nd)
        g = dP[:, None] * zdot                                        # σ'_a ż_a   (c, nv, nd, m)
        phid = lwm * (np.einsum("cvpk,cpk->cvp", g[:, :, pa], sP[:, pb])
                      + np.einsum("cpk,cvpk->cvp", sP[:, pa], g[:, :, pb]))
        Dd = ddP[:, None] * zdot                                      # σ''_a ż_a  (c, nv, nd, m)
        dpa, dpb = dP[:, None, pa], dP[:, None, pb]                   # (c, 1, np, m)
        Hb = H_prev[:, None]                                          # (c, 1, np, m, m)
        M = Dd[:, :, pa, :, None] * Hb * dpb[..., None, :] + dpa[..., :, None] * Hb * Dd[:, :, pb, None, :]
        if Hdot is not None:
            M += dpa[..., :, None] * Hdot * dpb[..., None, :]
        sa0 = sP[:, a0, :][:, :, None, :]                             # (c, nv, 1, m)
        u_in = dpb * np.matmul((dpa * sa0)[..., None, :], Hb)[..., 0, :]   # D_b Ĥᵀ D_a σ_{a0}
        w_in = dpa * np.matmul(Hb, (dpb * sa0)[..., None])[..., 0]         # D_a Ĥ D_b σ_{a0}
        u = np.matmul(u_in, Wt[:, None])                              # (c, nv, np, n)
        w = np.matmul(w_in, Wt[:, None])
        Hdot = np.matmul(np.matmul(W[:, None, None], M), Wt[:, None, None])
        dl = delta[l][:, :, None, :]                                  # (c, nv, 1, n)
        Hdot += lwm * (dl[..., :, None] * u[..., None, :] + w[..., :, None] * dl[..., None, :])
        diag = np.arange(n)
        Hdot[..., diag, diag] += phid[..., None]
        zdot = (delta[l][:, :, None, :] * phi[:, a0, :][..., None]
                + np.matmul(g, Wt[:, None]))
        H_prev = Hs[l]
    return zdot, Hdot, i0, a0


def dntk_features(X, Ws, zs, Hs, f, df, d2f, lb, lw, idx, neurons: int) -> np.ndarray:
    """P and Q features (see :class:`DntkLayout`) of every layer: (c, L, 2 N_D⁴); layer 1 is 0
    (Ĥ^{(1)} does not depend on the parameters); zeros for a layer of width 1."""
    nd = idx.nd
    c, L = Ws[0].shape[0], len(Ws)
    n4 = nd ** 4
    out = np.zeros((c, L, 2 * n4))
    for t in range(1, L):
        n = Ws[t].shape[1]
        if n < 2:
            continue
        zdot, Hdot, i0, a0 = ntk_tangent(X, Ws, zs, Hs, f, df, d2f, lb, lw, idx, t, neurons)
        k = len(i0) // nd
        nv = len(i0)
        sel = i0[None, :, None, None, None]
        row = np.take_along_axis(Hdot, sel, axis=3)[:, :, :, 0, :]          # Ḣ_p[i0, j]
        col = np.take_along_axis(Hdot, sel, axis=4)[..., 0]                  # Ḣ_p[j, i0]
        keep = (np.arange(n)[None, :] != i0[:, None])[None, :, None, :]      # j ≠ i0
        z = zs[t]                                                            # (c, nd, n)
        Rz = np.einsum("cvpj,caj->cvpa", row * keep, z) / (n - 1)           # (c, nv, np, nd)
        Cz = np.einsum("cvpj,caj->cvpa", col * keep, z) / (n - 1)
        pair = idx.pair
        Rz = Rz.reshape(c, k, nd, idx.np, nd)[:, :, :, pair, :]           # (c, k, a0, a1, a2, a3)
        Cz = Cz.reshape(c, k, nd, idx.np, nd)[:, :, :, pair, :]
        le = (np.arange(nd)[:, None] <= np.arange(nd)[None, :])[None, None, None, :, :, None]
        P = np.where(le, Rz, Cz).mean(axis=1)
        dg = np.diagonal(Hdot, axis1=3, axis2=4)                             # (c, nv, np, n)
        dsum = (dg * keep).sum(-1) / (n - 1)                                 # (c, nv, np)
        zi0 = np.take_along_axis(z, i0[None, None, :], axis=2)              # (c, nd, nv)
        Qv = dsum[..., None] * zi0.transpose(0, 2, 1)[:, :, None, :]        # (c, nv, np, a3)
        Q = Qv.reshape(c, k, nd, idx.np, nd)[:, :, :, pair, :].mean(axis=1)
        out[:, t, :n4] = P.reshape(c, -1)
        out[:, t, n4:] = Q.reshape(c, -1)
        del zdot, Hdot
    return out


# ----------------------------------------------------------------------------------
# estimators
# ----------------------------------------------------------------------------------
def _connected(Xbar, varX, CXa, CXb, abar, bbar, Caa, Cbb, Cab, M):
    """Unbiased estimate of E[X] − E[a]E[b] and its delta-method standard error.

    E[a]E[b] is replaced by ā b̄ − Ĉov(a, b)/M (U-statistic); the influence function is
    ψ = X − E[b] a − E[a] b, Var ψ = Var X + b² Var a + a² Var b + 2ab Cov(a, b)
    − 2b Cov(X, a) − 2a Cov(X, b).
    """
    est = Xbar - (abar * bbar - Cab / M)
    var = (varX + bbar ** 2 * Caa + abar ** 2 * Cbb + 2 * abar * bbar * Cab
           - 2 * bbar * CXa - 2 * abar * CXb)
    return est, np.sqrt(np.maximum(var, 0.0) / M)


def finalise_fluctuations(acc, idx, lay: FluctuationLayout, sl_m, sl_h, widths, M):
    """A, B, D, F and their standard errors, each (L, N_D, N_D, N_D, N_D), indexed as the
    subscripts of THEORY-NTK.md §1 (A[l, a1, a2, a3, a4] ≈ A_(a1a2)(a3a4)/n, B[l, a1, a3, a2, a4]
    ≈ B_{a1a3a2a4}/n, …); layer 1 exactly 0; NaN for a layer of width 1."""
    nd, npair = idx.nd, idx.np
    L = len(widths)
    mean = acc.mean
    lay_ = np.arange(L)[:, None]
    a1, a2, a3, a4 = (g.ravel() for g in np.indices((nd,) * 4))
    p12, p34 = idx.pair[a1, a2], idx.pair[a3, a4]
    hbar, mbar = mean[:, sl_h], mean[:, sl_m]
    Chh, Chm = acc.cov("fl_hh"), acc.cov("fl_hm")
    Cmm = acc.cov("mm")

    # A_(12)(34)/n = E[Ĥ_ii;12 Ĥ_jj;34] − H12 H34
    t = idx.tri[p12, p34]
    A, A_se = _connected(mean[:, lay.PH][:, t], acc.cov("fl_PH")[:, t],
                         acc.cov("fl_PHh")[lay_, t, p12], acc.cov("fl_PHh")[lay_, t, p34],
                         hbar[:, p12], hbar[:, p34], Chh[lay_, p12, p12], Chh[lay_, p34, p34],
                         Chh[lay_, p12, p34], M)
    # D_1234/n = E[Ĥ_ii;12 z_j;3 z_j;4] − H12 G34
    u = p12 * npair + p34
    D, D_se = _connected(mean[:, lay.PD][:, u], acc.cov("fl_PD")[:, u],
                         acc.cov("fl_PDh")[lay_, u, p12], acc.cov("fl_PDm")[lay_, u, p34],
                         hbar[:, p12], mbar[:, p34], Chh[lay_, p12, p12], Cmm[lay_, p34, p34],
                         Chm[lay_, p12, p34], M)
    # B[a1, a3, a2, a4]: Ĥ_{ij;a1a2} Ĥ_{ij;a3a4}; transposed orientations use S2 (Ĥ_{ij;ba} = Ĥ_{ji;ab})
    b1, b3, b2, b4 = a1, a2, a3, a4                    # array position order (a1, a3, a2, a4)
    q12, q34 = idx.pair[b1, b2], idx.pair[b3, b4]
    flip = (b1 > b2) != (b3 > b4)
    sidx = flip * npair * npair + q12 * npair + q34
    Sm, Sv = mean[:, lay.S], acc.cov("fl_S")
    B, B_se = Sm[:, sidx], np.sqrt(np.maximum(Sv[:, sidx], 0.0) / M)
    # F[a1, a3, a2, a4]: Ĥ_{ij;a1a2} z_{i;a3} z_{j;a4} = T[p12, a3, a4] (a1 ≤ a2) or T[p12, a4, a3]
    tidx = np.where(b1 <= b2, q12 * nd * nd + b3 * nd + b4, q12 * nd * nd + b4 * nd + b3)
    Tm, Tv = mean[:, lay.T], acc.cov("fl_T")
    F, F_se = Tm[:, tidx], np.sqrt(np.maximum(Tv[:, tidx], 0.0) / M)

    out = []
    for a in (A, A_se, B, B_se, D, D_se, F, F_se):
        a = np.array(a, dtype=float).reshape((L,) + (nd,) * 4)
        a[0] = 0.0                                     # Ĥ^{(1)} deterministic and diagonal
        for l in range(1, L):
            if widths[l] < 2:
                a[l] = np.nan
        out.append(a)
    return out


def finalise_dntk(acc, idx, lay: DntkLayout, widths, M):
    """P, P_se, Q, Q_se, each (L, N_D, N_D, N_D, N_D) ≈ tensor/n_{l-1}; layer 1 exactly 0."""
    nd, L = idx.nd, len(widths)
    var = acc.cov("dn_PQ")
    n4 = nd ** 4
    out = []
    for sl, part in ((lay.P, slice(0, n4)), (lay.Q, slice(n4, 2 * n4))):
        est = np.array(acc.mean[:, sl], dtype=float).reshape((L,) + (nd,) * 4)
        se = np.sqrt(np.maximum(var[:, part], 0.0) / M).reshape((L,) + (nd,) * 4)
        est[0] = se[0] = 0.0
        for l in range(1, L):
            if widths[l] < 2:
                est[l] = se[l] = np.nan
        out += [est, se]
    return out
