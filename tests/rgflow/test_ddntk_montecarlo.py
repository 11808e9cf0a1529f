"""The ddNTK Monte Carlo (rgflow/ddntk_montecarlo.py): per-network Ξ, Ψ, Ω and the estimators R, S, T, U.

Checks: (1) Ξ reproduces the dNTK of the independent forward-mode code
(rgflow.ntk_statistics.ntk_tangent) through dĤ_{i0i1i2}(α0;α1,α2) = Ξ_{i1;i0i2}(α1;α0,α2) +
Ξ_{i2;i0i1}(α2;α0,α1); (2) exact symmetries of Ξ, Ψ, Ω; (3) the finite-difference steps have
converged (halving them changes nothing that matters); (4) linear networks with C_b = 0, where Ξ, Ω
(depth 2) and Ψ (depth 3) are closed-form polynomials in the weights, derived by hand below;
(5) the estimators are the stated averages of the per-network tensors; (6) isotropy in
expectation, E[Ψ_{i;iii}] = (R_{0123} + R_{0213} + R_{0312})/n and E[Ω_{ii;ii}] = (S + T + U)/n, for
tanh within 4 combined standard errors, with a clearly nonzero signal.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from derive.errors import RGFlowError
from rgflow import ntk_statistics
from rgflow.ddntk_montecarlo import ddntk_sample, ddntk_tensors
from rgflow.montecarlo import _Indices
from rgflow.training.ensemble import _init


def dtanh(z):
    return 1 - np.tanh(z) ** 2


def d2tanh(z):
    return -2 * np.tanh(z) * dtanh(z)


def identity(z):
    return z


def one(z):
    return np.ones_like(z)


def test_xi_gives_the_dntk_of_forward_mode():
    """Tanh, n0 = 3, widths 5, 6, 2 (depth 3), N_D = 2, C_b = 0.3, λ_b = 0.6, λ_W = 1.4: the dNTK built
    from Ξ equals ntk_tangent's forward-mode dĤ of the output layer to 1e-6 relative."""
    rng = np.random.default_rng(11)
    X = rng.standard_normal((2, 3))
    lb, lw = 0.6, 1.4
    Ws, bs = _init(rng, 3, [3, 5, 6, 2], 0.3, 1.0, antithetic=False)
    Xi, _, _ = ddntk_tensors(Ws, bs, X, np.tanh, dtanh, lb, lw)
    idx = _Indices(2)
    zs, Hs = ntk_statistics.ntk_forward(X, Ws, bs, np.tanh, dtanh, [lb] * 3, [lw] * 3, idx)
    _, Hdot, i0, a0 = ntk_statistics.ntk_tangent(X, Ws, zs, Hs, np.tanh, dtanh, d2tanh, [lb] * 3, [lw] * 3,
                                                  idx, target=2, neurons=2)
    assert len(i0) == 4
    for v, p in itertools.product(range(4), range(idx.np)):
        a, b = idx.pa[p], idx.pb[p]
        ours = (Xi[:, :, a, i0[v], a0[v], :, b] + Xi[:, :, b, i0[v], a0[v], :, a].transpose(0, 2, 1))
        ref = Hdot[:, v, p]                                                  # (M, i1, i2)
        assert np.abs(ours - ref).max() <= 1e-6 * np.abs(ref).max()
    assert np.abs(Hdot).max() > 1e-2


def test_symmetries():
    """Tanh, depth 4, n = 6, N_D = 2: Ξ_{i0;i1i2} symmetric in (i1α1) ↔ (i2α2) and Ψ_{i0;i1i2i3} in all
    permutations of its last three (index, sample) slots (finite differences: 1e-6 of the largest
    entry); Ω_{i0i1;i2i3}(α0α1;α2α3) = Ω_{i1i0;i3i2}(α1α0;α3α2)."""
    rng = np.random.default_rng(4)
    X = np.array([[0.9, -0.4], [0.3, 1.1]])
    Ws, bs = _init(rng, 3, [2, 6, 6, 6, 2], 0.2, 1.5, antithetic=False)
    Xi, Psi, Om = ddntk_tensors(Ws, bs, X, np.tanh, dtanh, 0.8, 1.2)
    assert np.abs(Xi - Xi.transpose(0, 1, 2, 5, 6, 3, 4)).max() <= 1e-6 * np.abs(Xi).max()
    slots = ((3, 4), (5, 6), (7, 8))
    for perm in itertools.permutations(range(3)):
        axes = (0, 1, 2) + sum((slots[k] for k in perm), ())
        assert np.abs(Psi - Psi.transpose(axes)).max() <= 1e-6 * np.abs(Psi).max()
    assert np.abs(Om - Om.transpose(0, 3, 4, 1, 2, 7, 8, 5, 6)).max() <= 1e-12 * np.abs(Om).max()
    assert np.abs(Psi).max() > 1e-2 and np.abs(Om).max() > 1e-2


def test_steps_have_converged():
    """Halving both finite-difference steps changes Ξ, Ω by < 1e-8 and Ψ by < 2e-6 of their largest
    entries (tanh, depth 3, n = 16, N_D = 2)."""
    rng = np.random.default_rng(2)
    X = np.array([[1.0], [0.5]])
    Ws, bs = _init(rng, 3, [1, 16, 16, 2], 0.1, 1.0, antithetic=False)
    ref = ddntk_tensors(Ws, bs, X, np.tanh, dtanh, 1.0, 1.0)
    half = ddntk_tensors(Ws, bs, X, np.tanh, dtanh, 1.0, 1.0, step_hvp=5e-6, step_psi=5e-5)
    for a, b, tol in zip(ref, half, (1e-8, 2e-6, 1e-8)):
        assert np.abs(a - b).max() <= tol * np.abs(a).max()


def _phi1(X, lb, lw):
    return lb + lw * (X @ X.T) / X.shape[1]


def test_linear_depth2_exact():
    """σ(z) = z, depth 2, C_b = 0 (so z = W2 h with h_α = W1 x_α).  With Φ_{αβ} = λ_b + λ_W x_α·x_β/n0
    and the λ-weighted gradients v_{kβ} (W2 part (λ_W/n) δ_{ik} h_{jβ}, b1 part λ_b W2_{kj}, W1 part
    (λ_W/n0) W2_{kj} x_β): Ψ = 0 (up to the stencil's roundoff),
        Ξ_{i0;i1i2}(α0;α1,α2) = (λ_W/n)[δ_{i0i1} Φ_{α0α2} z_{i2;α1} + δ_{i0i2} Φ_{α0α1} z_{i1;α2}],
        Ω_{i0i1;i2i3}(α0α1;α2α3) = (λ_W/n) δ_{i0i1} (W2 W2ᵀ)_{i2i3} Φ_{α0α2} Φ_{α1α3}
                                  + (λ_W/n)² δ_{i0i2} δ_{i1i3} (h_{α2}·h_{α3}) Φ_{α0α1},
    per network to 1e-8 relative."""
    rng = np.random.default_rng(5)
    X = rng.standard_normal((2, 3))
    lb, lw, n = 0.7, 1.3, 5
    Ws, bs = _init(rng, 3, [3, n, 2], 0.0, 1.2, antithetic=False)
    Xi, Psi, Om = ddntk_tensors(Ws, bs, X, identity, one, lb, lw)
    W1, W2 = Ws
    h = np.einsum("mjk,ak->maj", W1, X)                                      # (M, α, j)
    z = np.einsum("mij,maj->mia", W2, h)                                     # (M, i, α)
    phi, d = _phi1(X, lb, lw), np.eye(2)
    xi = lw / n * (np.einsum("pq,ac,mrb->mpaqbrc", d, phi, z) + np.einsum("pr,ab,mqc->mpaqbrc", d, phi, z))
    om = (lw / n * np.einsum("pq,mrs,ac,bd->mpaqbrcsd", d, W2 @ W2.transpose(0, 2, 1), phi, phi)
          + (lw / n) ** 2 * np.einsum("pr,qs,mcd,ab->mpaqbrcsd", d, d, h @ h.transpose(0, 2, 1), phi))
    assert np.abs(Xi - xi).max() <= 1e-8 * np.abs(xi).max()
    assert np.abs(Om - om).max() <= 1e-8 * np.abs(om).max()
    assert np.abs(Psi).max() <= 1e-6 * np.abs(xi).max()                       # roundoff ≈ ε|Θ|/h² ≈ 4e-8


def test_linear_depth3_exact_psi():
    """σ(z) = z, depth 3, C_b = 0: the cubic part of z_{i;α} is Σ W3_{ij} W2_{jl} (W1 x_α + b1)_l, so
    Ψ_{i;d1d2d3}(α) = Σ_{π ∈ S3} (A_{π1} B_{π2} c_{π3}(α))_i with, for the direction d = (k, β),
    A_d = (λ_W/n) e_k h2_βᵀ (the W3 part of v_d), B_d = (λ_W/n) W3_{k·}ᵀ h1_βᵀ (its W2 part) and
    c_d(α) = (W1 part)·x_α + (b1 part) = (W3 W2)_{k·} Φ_{βα}, h1_β = W1 x_β, h2_β = W2 h1_β;
    per network to 1e-7 relative (the stencil is exact for this cubic z; what is left is its roundoff,
    ≈ 6e-9; this also checks Ψ ≠ 0 and its symmetry)."""
    rng = np.random.default_rng(6)
    X = rng.standard_normal((2, 3))
    lb, lw, n = 0.5, 1.1, 4
    Ws, bs = _init(rng, 2, [3, n, n, 2], 0.0, 1.3, antithetic=False)
    _, Psi, _ = ddntk_tensors(Ws, bs, X, identity, one, lb, lw)
    W1, W2, W3 = Ws
    h1 = np.einsum("mjk,ak->maj", W1, X)                                     # (M, β, n)
    h2 = np.einsum("mjl,mal->maj", W2, h1)
    phi, eye = _phi1(X, lb, lw), np.eye(2)
    A = lw / n * np.einsum("ki,mbj->mkbij", eye, h2)                         # (M, k, β, i, j)
    B = lw / n * np.einsum("mkj,mbl->mkbjl", W3, h1)                         # (M, k, β, j, l)
    c = np.einsum("mkl,ba->mkbal", W3 @ W2, phi)                             # (M, k, β, α, l)
    M = W1.shape[0]
    A, B, c = A.reshape(M, 4, 2, n), B.reshape(M, 4, n, n), c.reshape(M, 4, 2, n)
    ref = np.zeros((M, 2, 2, 4, 4, 4))                                       # [m, i, α, d1, d2, d3]
    for d in itertools.product(range(4), repeat=3):
        for p in itertools.permutations(range(3)):
            ref[:, :, :, d[0], d[1], d[2]] += np.einsum("mij,mjl,mal->mia", A[:, d[p[0]]], B[:, d[p[1]]],
                                                        c[:, d[p[2]]])
    assert np.abs(Psi.reshape(ref.shape) - ref).max() <= 1e-7 * np.abs(ref).max()   # roundoff ≈ 6e-9
    assert np.abs(ref).max() > 1e-2


def test_estimators_are_the_stated_averages():
    """ddntk_sample's n·R, n·S, n·T, n·U, n·Ψ_{i;iii}, n·Ω_{ii;ii} are n × the network averages of
    Ψ_{i;ikk}, Ω_{ii;kk}, Ω_{ik;ik}, Ω_{ik;ki}, Ψ_{i;iii}, Ω_{ii;ii} over (i, k) = (0, 1), (1, 0) (written
    out entry by entry here), on the same networks (one chunk, same seed)."""
    X = np.array([[1.0, 0.2], [0.5, -0.7]])
    depth, n, M, seed = 3, 5, 6, 8
    r = ddntk_sample(np.tanh, dtanh, X, depth, n, 0.1, 1.0, 0.9, 1.1, M, seed=seed, chunk=M)
    Ws, bs = _init(np.random.default_rng(seed), M, [2, n, n, 2], 0.1, 1.0, antithetic=False)
    _, Psi, Om = ddntk_tensors(Ws, bs, X, np.tanh, dtanh, 0.9, 1.1)
    for a in itertools.product(range(2), repeat=4):
        a0, a1, a2, a3 = a
        per = {"R": [], "S": [], "T": [], "U": []}
        for i, k in ((0, 1), (1, 0)):
            per["R"].append(Psi[:, i, a0, i, a1, k, a2, k, a3])
            per["S"].append(Om[:, i, a0, i, a1, k, a2, k, a3])
            per["T"].append(Om[:, i, a0, k, a1, i, a2, k, a3])
            per["U"].append(Om[:, i, a0, k, a1, k, a2, i, a3])
        for name, vals in per.items():
            v = n * (vals[0] + vals[1]) / 2
            np.testing.assert_allclose(getattr(r, name)[a], v.mean(), rtol=1e-12)
            np.testing.assert_allclose(getattr(r, name + "_se")[a], v.std(ddof=1) / np.sqrt(M), rtol=1e-10)
        psi = n * (Psi[:, 0, a0, 0, a1, 0, a2, 0, a3] + Psi[:, 1, a0, 1, a1, 1, a2, 1, a3]) / 2
        om = n * (Om[:, 0, a0, 0, a1, 0, a2, 0, a3] + Om[:, 1, a0, 1, a1, 1, a2, 1, a3]) / 2
        np.testing.assert_allclose(r.psi_same[a], psi.mean(), rtol=1e-12)
        np.testing.assert_allclose(r.omega_same[a], om.mean(), rtol=1e-12)
    assert r.width == n and r.networks == M


@pytest.mark.parametrize("X, networks", [([[1.0]], 4000), ([[1.0], [0.5]], 2000)])
def test_isotropy_in_expectation(X, networks):
    """Tanh, depth 3, n = 16, C_W = 1, C_b = 0, λ = 1: n·E[Ψ_{i;iii}] = n(R_{0123} + R_{0213} + R_{0312})
    and n·E[Ω_{ii;ii}] = n(S + T + U) entry by entry within 4 combined standard errors (quadrature);
    the signal is clearly nonzero (n·E[Ψ_{i;iii}] ≈ −43 ± 1, n·E[Ω_{ii;ii}] ≈ 12 ± 0.3 at x = 1)."""
    X = np.array(X)
    r = ddntk_sample(np.tanh, dtanh, X, 3, 16, 0.0, 1.0, 1.0, 1.0, networks, seed=3)
    swap, cycle = (lambda t: t.transpose(0, 2, 1, 3)), (lambda t: t.transpose(0, 2, 3, 1))
    psi = r.R + swap(r.R) + cycle(r.R)                  # R_{α0α1α2α3} + R_{α0α2α1α3} + R_{α0α3α1α2}
    psi_se = np.sqrt(r.R_se ** 2 + swap(r.R_se) ** 2 + cycle(r.R_se) ** 2)
    om, om_se = r.S + r.T + r.U, np.sqrt(r.S_se ** 2 + r.T_se ** 2 + r.U_se ** 2)
    print("n·E[Ψ_iiii]", r.psi_same.ravel(), "±", r.psi_same_se.ravel())
    print("n·(R0123+R0213+R0312)", psi.ravel(), "±", psi_se.ravel())
    print("n·E[Ω_ii;ii]", r.omega_same.ravel(), "±", r.omega_same_se.ravel())
    print("n·(S+T+U)", om.ravel(), "±", om_se.ravel())
    assert np.all(np.abs(r.psi_same - psi) <= 4 * np.sqrt(r.psi_same_se ** 2 + psi_se ** 2))
    assert np.all(np.abs(r.omega_same - om) <= 4 * np.sqrt(r.omega_same_se ** 2 + om_se ** 2))
    assert np.all(np.abs(r.psi_same) > 10 * r.psi_same_se)
    assert np.all(np.abs(r.omega_same) > 10 * r.omega_same_se)


def test_bad_inputs():
    for kw in (dict(depth=1), dict(width=0), dict(networks=1), dict(chunk=0)):
        args = dict(depth=2, width=3, networks=4, chunk=None) | kw
        with pytest.raises(RGFlowError):
            ddntk_sample(np.tanh, dtanh, [[1.0]], args["depth"], args["width"], 0.0, 1.0, 1.0, 1.0,
                         args["networks"], chunk=args["chunk"])
