"""Independent plain-numpy reference for the order-1/n NTK recursions (tests only).

Implements, for N_D = 1 or 2 inputs, the recursions of ../shared/THEORY-NTK.md §3 (V, D, F,
B, A), §4 (P, Q), §8.2 (H^{1}) and THEORY.md §2–3, 6 (K, H, V, G^{1}) *in the form with the
inverse kernel*: every Gaussian expectation is a tensor-product quadrature in Cholesky
coordinates (z = L u, K = L Lᵀ) over the (at most two) distinct samples, and every derivative contraction
is evaluated by Stein's lemma with K⁻¹ (y = K⁻¹z, Λ = K⁻¹)

    ⟨∂_β f⟩         = ⟨f y_β⟩
    ⟨∂_β1∂_β2 f⟩    = ⟨f (y_β1 y_β2 − Λ_β1β2)⟩
    ⟨∂_β1..∂_β4 f⟩  = ⟨f He_β1β2β3β4(y)⟩   (multivariate Hermite polynomial of N(0, K))

— never by differentiating σ.  That makes it independent of rgflow's integration-by-parts
evaluator (it needs a smooth σ and a non-degenerate K).  σ'' is still passed in because the
dNTK forward equation contains it explicitly (𝒰 and the Q local terms of §4).

Sums over β run over all distinct samples; for the samples a bracket does not depend on,
Stein's identity gives exactly zero, so this is the "β's over the samples of the bracket"
rule of THEORY-NTK §2.  Two exactly identical inputs are de-duplicated (one distinct
sample; the tensors are symmetric under relabelling identical samples, so the single-sample
result is broadcast back).

Quadrature: ``rule="trapezoid"`` (default) is the trapezoidal rule on ``order`` = 221
equispaced Cholesky-coordinate nodes per dimension over |u| ≤ 11; ``rule="hermite"`` is
Gauss–Hermite (default 120 nodes).  Measured (depth 8, λ_b = 0.5, λ_W = 1, one and two
inputs; relative max-norm difference against 401 trapezoid nodes, all eleven quantities):
trapezoid 221 ≤ 1.1e-12 for tanh, erf, GELU and SWISH at their critical points and off
criticality (SWISH critical, K* ≈ 14.3: 2.7e-12); trapezoid 161 ≤ 1.2e-12 except SWISH
critical (3.6e-10).  Gauss–Hermite converges much more slowly when K is large (analytic
strip |Im u| < d/√K): 100 nodes gave 1.3e-5 (GELU critical), 1.2e-3 (SWISH critical),
6.5e-5 (tanh at K ≈ 1.8); 250 nodes still 2e-6 for SWISH critical.  A call with two inputs
and depth 8 takes about 1 s.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from numpy.polynomial.hermite_e import hermegauss
from scipy import special

#: Returned quantities, in order.  Shapes: (L, N, N) for the two-index ones,
#: (L, N, N, N, N) for the four-index ones (index l-1 is layer l).
NAMES = ("K", "H", "V", "G1", "A", "B", "D", "F", "H1", "P", "Q")
TWO_INDEX = ("K", "H", "G1", "H1")
#: Default nodes per dimension of each quadrature rule.
DEFAULT_ORDER = {"trapezoid": 221, "hermite": 120}


# --------------------------------------------------------------------------------------
# activations


def reference_for(name: str):
    """(σ, σ', σ'') as numpy callables for "tanh", "erf", "gelu", "swish", "sin", "linear".

    erf is erf(z) (not erf(z/√2)), gelu is z·Φ(z), swish is z·sigmoid(z) — the definitions
    of derive/activations.py.
    """
    if name == "tanh":
        return (np.tanh,
                lambda z: 1.0 - np.tanh(z) ** 2,
                lambda z: -2.0 * np.tanh(z) * (1.0 - np.tanh(z) ** 2))
    if name == "erf":
        c = 2.0 / math.sqrt(math.pi)
        return (special.erf,
                lambda z: c * np.exp(-z * z),
                lambda z: -2.0 * z * c * np.exp(-z * z))
    if name == "gelu":
        phi = lambda z: np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)  # noqa: E731
        return (lambda z: z * special.ndtr(z),
                lambda z: special.ndtr(z) + z * phi(z),
                lambda z: (2.0 - z * z) * phi(z))
    if name == "swish":
        s = special.expit
        return (lambda z: z * s(z),
                lambda z: s(z) + z * s(z) * (1.0 - s(z)),
                lambda z: s(z) * (1.0 - s(z)) * (2.0 + z * (1.0 - 2.0 * s(z))))
    if name == "sin":
        return (np.sin, np.cos, lambda z: -np.sin(z))
    if name == "linear":
        return (lambda z: np.asarray(z, dtype=float),
                lambda z: np.ones_like(np.asarray(z, dtype=float)),
                lambda z: np.zeros_like(np.asarray(z, dtype=float)))
    raise ValueError(f"no reference activation {name!r}")


# --------------------------------------------------------------------------------------
# quadrature with Stein weights


@lru_cache(maxsize=None)
def _rule_1d(rule: str, order: int):
    """Nodes and weights of E[f(u)], u ~ N(0, 1).

    "hermite": Gauss–Hermite with ``order`` nodes.  "trapezoid": the trapezoidal rule on
    ``order`` equispaced nodes over |u| ≤ 11 (step 22/(order − 1)); for σ analytic in a
    strip |Im z| < d its error falls like exp(−2π d/(h√K)), far faster than Gauss–Hermite's
    exp(−c d √order/√K) when K is large (SWISH, GELU critical points).
    """
    if rule == "hermite":
        u, w = hermegauss(order)
        return u, w / math.sqrt(2.0 * math.pi)
    if rule == "trapezoid":
        u = np.linspace(-11.0, 11.0, order)
        w = np.exp(-0.5 * u * u) * (u[1] - u[0]) / math.sqrt(2.0 * math.pi)
        return u, w
    raise ValueError(f"unknown quadrature rule {rule!r}")


class _Grid:
    """Quadrature points z (M, N) ~ N(0, K) with the Stein weight arrays.

    w0[m]; w1[b, m] = w y_b; w2[b1, b2, m] = w (y y − Λ); w4[b1..b4, m] = w He4(y).
    So ⟨f⟩ = w0 @ f, ⟨∂_b f⟩ = w1[b] @ f, etc., for f given on the points.
    """

    def __init__(self, K: np.ndarray, order: int, rule: str):
        N = K.shape[0]
        u, w = _rule_1d(rule, order)
        chol = np.linalg.cholesky(K)
        if N == 1:
            U = u[:, None]
            self.w0 = w.copy()
        else:
            U = np.stack(np.meshgrid(u, u, indexing="ij"), axis=-1).reshape(-1, 2)
            self.w0 = np.outer(w, w).ravel()
        self.z = U @ chol.T                                   # z = L u
        lam = np.linalg.inv(K)
        lam = 0.5 * (lam + lam.T)
        y = self.z @ lam                                      # y = K⁻¹ z
        w0 = self.w0
        self.w1 = (y * w0[:, None]).T                         # (N, M)
        yy = np.einsum("mi,mj->ijm", y, y)
        self.w2 = (yy - lam[:, :, None]) * w0
        # He4 = y1y2y3y4 − Σ_6 Λ_ab y_c y_d + Σ_3 Λ_ab Λ_cd
        y4 = np.einsum("ijm,klm->ijklm", yy, yy)
        L = lam
        pair_yy = (np.einsum("ij,klm->ijklm", L, yy) + np.einsum("ik,jlm->ijklm", L, yy)
                   + np.einsum("il,jkm->ijklm", L, yy) + np.einsum("jk,ilm->ijklm", L, yy)
                   + np.einsum("jl,ikm->ijklm", L, yy) + np.einsum("kl,ijm->ijklm", L, yy))
        pair_ll = (np.einsum("ij,kl->ijkl", L, L) + np.einsum("ik,jl->ijkl", L, L)
                   + np.einsum("il,jk->ijkl", L, L))
        self.w4 = (y4 - pair_yy + pair_ll[..., None]) * w0

    def mean(self, f):
        return f @ self.w0

    def d1(self, f):
        """⟨∂_b f⟩ for f of shape (..., M) → (..., N)."""
        return np.einsum("bm,...m->...b", self.w1, f)

    def d2(self, f):
        return np.einsum("bcm,...m->...bc", self.w2, f)

    def d4(self, f):
        return np.einsum("bcdem,...m->...bcde", self.w4, f)


# --------------------------------------------------------------------------------------
# one layer


def _step(state, grid: _Grid, act, C_b, C_W, lb, lW, r):
    """Layer ℓ → ℓ+1 (hyperparameters of layer ℓ+1, r = n_ℓ/n_{ℓ−1})."""
    K, H, V, G1, A, B, D, F, H1, P, Q = (state[k] for k in NAMES)
    sig, dsig, ddsig = act
    Z = grid.z.T                                             # (N, M): z of each sample
    s, p, q = sig(Z), dsig(Z), ddsig(Z)                      # σ, σ', σ'' per sample
    E = grid.mean
    ss = s[:, None] * s[None]                                # σ_a σ_b       (N, N, M)
    pp = p[:, None] * p[None]                                # σ'_a σ'_b
    u = p[:, None] * s[None]                                 # u_ab = σ'_a σ_b
    Ess, Epp = E(ss), E(pp)

    Kf = C_W * ss                                            # 𝒦_12
    Tf = lW * ss + C_W * H[:, :, None] * pp                  # 𝒯_12

    def cov(f, g):
        return (np.einsum("abm,cdm,m->abcd", f, g, grid.w0)
                - np.einsum("ab,cd->abcd", E(f), E(g)))

    d2K, d2T = grid.d2(Kf), grid.d2(Tf)

    def vv(df, dg):                                          # 𝒱[f, g]
        return 0.25 * np.einsum("abij,ijkl,cdkl->abcd", df, V, dg)

    def dd(dg):                                              # 𝒟_12[g_34], indexed [1,2,3,4]
        return 0.5 * np.einsum("abkl,cdkl->abcd", D, dg)

    new = {}
    new["K"] = C_b + C_W * Ess
    new["H"] = lb + lW * Ess + C_W * Epp * H

    new["V"] = cov(Kf, Kf) + r * vv(d2K, d2K)
    new["D"] = cov(Tf, Kf) + r * (vv(d2T, d2K) + C_W * Epp[:, :, None, None] * dd(d2K))
    new["A"] = cov(Tf, Tf) + r * (vv(d2T, d2T)
                                  + C_W * Epp[:, :, None, None] * dd(d2T)
                                  + C_W * Epp[None, None] * np.transpose(dd(d2T), (2, 3, 0, 1))
                                  + C_W**2 * np.einsum("ab,cd->abcd", Epp, Epp) * A)

    # F'_{a1 a3 a2 a4}: neuron i1 carries (a1, a3), neuron i2 (a2, a4)
    du = grid.d1(u)                                          # ⟨∂_b (σ'_a σ_c)⟩ [a, c, b]
    Euu = np.einsum("acm,bdm,m->acbd", u, u, grid.w0)
    new["F"] = C_W**2 * (H[:, None, :, None] * Euu
                         + r * np.einsum("ixjy,ikx,jly->ikjl", F, du, du))
    Epppp = np.einsum("acm,bdm,m->acbd", pp, pp, grid.w0)    # ⟨σ'_a1 σ'_a3 σ'_a2 σ'_a4⟩
    new["B"] = C_W**2 * (np.einsum("ab,cd->acbd", H, H) * Epppp
                         + r * np.einsum("ac,bd->acbd", Epp, Epp) * B)

    # metric and NTK mean at order 1/n
    d2ss, d4ss = grid.d2(ss), grid.d4(ss)
    d2pp, d4pp = grid.d2(pp), grid.d4(pp)

    def shift(d2f, d4f):                                     # ½ΣG1⟨∂∂f⟩ + ⅛ΣV⟨∂⁴f⟩
        return (0.5 * np.einsum("ij,abij->ab", G1, d2f)
                + 0.125 * np.einsum("ijkl,abijkl->ab", V, d4f))

    new["G1"] = r * C_W * shift(d2ss, d4ss)
    DF = D + 2.0 * np.transpose(F, (0, 2, 1, 3))             # D_{12kl} + 2 F_{1k2l}
    new["H1"] = r * (lW * shift(d2ss, d4ss) + C_W * H * shift(d2pp, d4pp)
                     + C_W * Epp * H1
                     + 0.5 * C_W * np.einsum("abkl,abkl->ab", DF, d2pp))

    # dNTK.  𝒰_01 = λ_W σ_0 σ'_1 + C_W H_01 σ'_0 σ''_1
    Uf = lW * s[:, None] * p[None] + C_W * H[:, :, None] * p[:, None] * q[None]
    dU = grid.d1(Uf)
    Epq = E(q[:, None] * s[None])                            # ⟨σ''_a σ_b⟩
    Ep1p1qs = np.einsum("xm,ym,zm,wm,m->xyzw", p, p, q, s, grid.w0)
    new["P"] = (C_W * H[None, :, :, None] * np.einsum("xym,zwm,m->xyzw", Uf, u, grid.w0)
                + C_W**2 * (H[:, None, :, None] * H[None, :, :, None]) * Ep1p1qs
                + r * (C_W * np.einsum("yizj,xyi,zwj->xyzw", F, dU, du)
                       + C_W**2 * Epp[:, :, None, None] * Epq[None, None]
                       * np.einsum("xyzz->xyz", B)[..., None]
                       + C_W**2 * Epp[:, :, None, None] * np.einsum("xyzb,zwb->xyzw", P, du)))

    # Q: R_12 = λ_W σ'_1 σ_2 + C_W H_12 σ''_1 σ'_2,  R'_12 = R_21
    Rf = lW * p[:, None] * s[None] + C_W * H[:, :, None] * q[:, None] * p[None]
    Rtf = np.transpose(Rf, (1, 0, 2))
    dR, dRt = grid.d1(Rf), grid.d1(Rtf)
    w0 = grid.w0
    loc = (lW * C_W * (H[:, :, None, None] * np.einsum("xm,wm,ym,zm,m->xyzw", p, s, p, s, w0)
                       + H[:, None, :, None] * np.einsum("xm,wm,ym,zm,m->xyzw", p, s, s, p, w0))
           + C_W**2 * H[None, :, :, None]
           * (H[:, :, None, None] * np.einsum("xm,wm,ym,zm,m->xyzw", p, s, q, p, w0)
              + H[:, None, :, None] * np.einsum("xm,wm,ym,zm,m->xyzw", p, s, p, q, w0)))
    new["Q"] = loc + r * (C_W * np.einsum("xiyj,xwi,yzj->xyzw", F, du, dR)
                          + C_W * np.einsum("xizj,xwi,yzj->xyzw", F, du, dRt)
                          + C_W**2 * Epp[None, :, :, None] * np.einsum("xyzb,xwb->xyzw", Q, du))
    return new


# --------------------------------------------------------------------------------------
# driver


def _per_layer(value, depth, name):
    arr = np.broadcast_to(np.asarray(value, dtype=float), (depth,)) if np.ndim(value) == 0 \
        else np.asarray(value, dtype=float)
    if arr.shape != (depth,):
        raise ValueError(f"{name}: a number or one value per layer ({depth}), got shape {arr.shape}")
    return arr


def _identical_pair(gram: np.ndarray) -> bool:
    if gram.shape != (2, 2):
        return False
    scale = max(abs(gram[0, 0]), abs(gram[1, 1]), 1e-300)
    return (abs(gram[0, 0] - gram[1, 1]) <= 1e-14 * scale
            and abs(gram[0, 1] - gram[0, 0]) <= 1e-14 * scale)


def ntk_recursions(activation, gram, depth, C_b, C_W, lambda_b, lambda_W, widths=None,
                   order=None, rule="trapezoid"):
    """The order-1/n NTK statistics of layers 1..depth for N_D = 1 or 2 inputs.

    activation: (σ, σ', σ'') numpy callables, or a name for :func:`reference_for`.
    gram: x_a·x_b/n_0 — a number (one input), or a 1×1 / 2×2 matrix.
    C_b, C_W, lambda_b, lambda_W: numbers or one value per layer (index l-1 = layer l;
      layer 1 uses entry 0 in K^{(1)} = C_b + C_W gram, H^{(1)} = λ_b + λ_W gram).
    widths: None (equal widths) or (n_1, ..., n_{L-1}) (longer is accepted); the step
      ℓ → ℓ+1 multiplies the inherited terms by r = n_ℓ/n_{ℓ-1} (THEORY-NTK §8.1); n_0
      never matters (the layer-1 tensors vanish).
    order, rule: quadrature nodes per dimension and rule ("trapezoid" or "hermite"; see the
      module docstring for the measured accuracy).

    Returns a dict name → array for NAMES: K, H, G1, H1 of shape (L, N, N); V, A, B, D, F,
    P, Q of shape (L, N, N, N, N) with V[l,a1,a2,a3,a4] = V_{(a1a2)(a3a4)}, A likewise,
    D[l,a1,a2,a3,a4] = D_{a1a2a3a4}, B[l,a1,a3,a2,a4] = B_{a1a3a2a4}, F likewise,
    P[l,a0,a1,a2,a3] = P_{a0a1a2a3}, Q likewise.  No 1/n factors: E[z z] = K + G1/n_{l-1},
    E[Ĥ] = H + H1/n_{l-1}, and so on.
    """
    act = reference_for(activation) if isinstance(activation, str) else tuple(activation)
    gram = np.atleast_2d(np.asarray(gram, dtype=float))
    if gram.shape not in ((1, 1), (2, 2)) or not np.allclose(gram, gram.T, rtol=0, atol=0):
        raise ValueError(f"gram must be a number or a symmetric 1×1 / 2×2 matrix, got {gram!r}")
    if order is None:
        order = DEFAULT_ORDER[rule]
    depth = int(depth)
    if depth < 1:
        raise ValueError("depth must be >= 1")
    if _identical_pair(gram):
        single = ntk_recursions(act, gram[:1, :1], depth, C_b, C_W, lambda_b, lambda_W,
                                widths, order, rule)
        return {k: (v[:, [0, 0]][:, :, [0, 0]] if k in TWO_INDEX
                    else v[:, [0, 0]][:, :, [0, 0]][:, :, :, [0, 0]][:, :, :, :, [0, 0]])
                for k, v in single.items()}
    Cb, CW = _per_layer(C_b, depth, "C_b"), _per_layer(C_W, depth, "C_W")
    lb, lW = _per_layer(lambda_b, depth, "lambda_b"), _per_layer(lambda_W, depth, "lambda_W")
    if widths is None:
        ratio = np.ones(depth)
    else:
        n = np.asarray(widths, dtype=float)
        if n.ndim != 1 or len(n) < depth - 1 or np.any(n <= 0):
            raise ValueError("widths: (n_1, ..., n_{L-1}), positive")
        ratio = np.ones(depth)
        for ell in range(2, depth):                          # step ℓ → ℓ+1, ℓ ≥ 2
            ratio[ell] = n[ell - 1] / n[ell - 2]
    N = gram.shape[0]
    z2, z4 = np.zeros((N, N)), np.zeros((N,) * 4)
    state = {k: (z2 if k in TWO_INDEX else z4) for k in NAMES}
    state["K"] = Cb[0] + CW[0] * gram
    state["H"] = lb[0] + lW[0] * gram
    out = [state]
    for ell in range(1, depth):
        K = state["K"]
        if N == 2:
            c = K[0, 1] / math.sqrt(K[0, 0] * K[1, 1])
            if not (K[0, 0] > 0 and K[1, 1] > 0 and abs(c) < 1 - 1e-10):
                raise ValueError(f"layer {ell}: kernel {K.tolist()} is (nearly) singular; the "
                                 "Stein reference needs K⁻¹")
        elif not K[0, 0] > 0:
            raise ValueError(f"layer {ell}: kernel {K.tolist()} is not positive")
        grid = _Grid(K, order, rule)
        state = _step(state, grid, act, Cb[ell], CW[ell], lb[ell], lW[ell], ratio[ell])
        out.append(state)
    return {k: np.array([st[k] for st in out]) for k in NAMES}


# --------------------------------------------------------------------------------------
# scale-invariant closed forms (THEORY-NTK §7)


def scale_invariant_single_input_exact(depth, K, lambda_b, lambda_W, a_plus=1.0, a_minus=0.0):
    """Exact finite-ℓ single-input solution for σ = a₊zθ(z) + a₋zθ(−z) at criticality.

    C_b = 0, C_W = 1/A_2, K the (layer-independent) kernel, so the input has gram = K/C_W.
    Returns the dict of :func:`ntk_recursions` with N = 1 (G1 = H1 = 0; no 1/n factors).
    ReLU: a_plus=1, a_minus=0; linear: a_plus = a_minus = 1.
    """
    A2 = 0.5 * (a_plus**2 + a_minus**2)
    A4 = 0.5 * (a_plus**4 + a_minus**4)
    nu, mu = 3 * A4 / A2**2 - 1, A4 / A2**2 - 1
    w = lambda_W * A2
    th1 = lambda_b + w * K
    ell = np.arange(1, depth + 1, dtype=float)
    S1 = ell * (ell - 1) / 2                                  # Σ_{k<ℓ} k
    S2 = (ell - 1) * ell * (2 * ell - 1) / 6                  # Σ_{k<ℓ} k²
    vals = {
        "K": np.full(depth, float(K)),
        "H": ell * th1,
        "V": nu * K**2 * (ell - 1),
        "G1": np.zeros(depth),
        "F": (mu + 1) * K * th1 * S1,
        "B": (mu + 1) * th1**2 * S2,
        "D": (w * nu * K**2 + mu * K * th1) * S1,
        # A' − A = w²νK²ℓ² + wμKΘ₁(ℓ² + ℓ) + μΘ₁²ℓ²  summed over k < ℓ
        "A": (w**2 * nu * K**2 + mu * th1**2) * S2 + w * mu * K * th1 * (S2 + S1),
        "H1": np.zeros(depth),
        # P' − P = w(μ+1)KΘ₁(ℓ² + ℓ)/2, Q = 2P
        "P": w * (mu + 1) * K * th1 * (S2 + S1) / 2,
    }
    vals["Q"] = 2 * vals["P"]
    return {k: (vals[k].reshape(depth, 1, 1) if k in TWO_INDEX
                else vals[k].reshape(depth, 1, 1, 1, 1)) for k in NAMES}


def relu_single_input_exact(depth, K, lambda_b, lambda_W):
    """ReLU (C_W = 2, C_b = 0) case of :func:`scale_invariant_single_input_exact`."""
    return scale_invariant_single_input_exact(depth, K, lambda_b, lambda_W, 1.0, 0.0)
