"""Order-1/n NTK statistics of the Monte Carlo sampler: A, B, D, F and the dNTK P, Q.

Definitions: THEORY-NTK.md §1 and the docstring of rgflow/ntk_statistics.py.  Every
estimate is exactly unbiased for its finite-width left-hand side, so the checks below
compare against values that are *exact at any width*: layer 2, where only the local
terms of THEORY-NTK.md §3–4 exist (given layer 1, the neurons of layer 2 are i.i.d.; the
layer-1 neurons are i.i.d. Gaussian with covariance K^{(1)}), computed here with
Gauss–Hermite quadrature (numpy.polynomial.hermite_e; 1-D degree 120: error < 1e-7, 2-D
degree 80²: error < 1e-5 (measured against degree 240), both far below the standard
errors, ≥ 1e-3).

Tolerance: |n·estimate − reference| ≤ 3.5 n·se with the sampler's own standard error
(spread of per-network averages over M networks); per entry a false alarm has
probability ≈ 5e-4 for a Gaussian estimate, the seeds are fixed, so the tests are
deterministic.  The measured relative standard errors are quoted in each test (they
fix the resolving power: a reference off by more than 3.5 se is rejected).

The dNTK is computed by forward-mode differentiation of the NTK forward equation; it is
checked against central finite differences of the NTK along v = λ ∂z_{i0;a0}/∂θ, where
both v and the NTK are built from an independent finite-difference Jacobian.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from numpy.polynomial.hermite_e import hermegauss

from rgflow import ntk_statistics
from rgflow.montecarlo import MAX_NTK_STATISTICS_INPUTS, _Indices, sample

TOL = 3.5  # standard errors
NAMES = ("A", "B", "D", "F", "P", "Q")


def dtanh(z):
    return 1.0 - np.tanh(z) ** 2


def d2tanh(z):
    t = np.tanh(z)
    return -2.0 * t * (1.0 - t * t)


def relu(z):
    return np.maximum(z, 0.0)


def drelu(z):
    return (z > 0).astype(float)


def zero(z):
    return np.zeros_like(z)


def assert_within(est, ref, se, tol=TOL):
    est, ref, se = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in (est, ref, se)))
    z = (est - ref) / se
    assert np.all(np.abs(z) <= tol), f"z = {z}\nest = {est}\nref = {ref}\nse = {se}"
    return z


# ----------------------------------------------------------------------------------
# Gaussian expectations over layer 1 (z ~ N(0, K^{(1)}))
# ----------------------------------------------------------------------------------
def gauss_points(K, degree):
    """Nodes (Q, N_D) and weights (Q,) of a tensor Gauss–Hermite rule for N(0, K)."""
    x, w = hermegauss(degree)
    w = w / w.sum()
    nd = K.shape[0]
    grid = np.array(list(itertools.product(x, repeat=nd)))
    wts = np.prod(np.array(list(itertools.product(w, repeat=nd))), axis=1)
    return grid @ np.linalg.cholesky(K).T, wts


def local_terms(K, H, C_W, lambda_W, degree):
    """Layer-2 values of A, B, D, F, P, Q (THEORY-NTK.md §3–4 local terms, general N_D):

    A_(12)(34) = Cov(𝒯12, 𝒯34),  𝒯12 = λ_W σ1σ2 + C_W H12 σ'1σ'2;   D_1234 = Cov(𝒯12, C_W σ3σ4);
    F_1324 = C_W² H12 ⟨σ'1σ3σ'2σ4⟩;   B_1324 = C_W² H12 H34 ⟨σ'1σ'3σ'2σ'4⟩;
    P_0123 = C_W H12 ⟨(λ_W σ0σ'1 + C_W H01 σ'0σ''1) σ'2σ3⟩ + C_W² H02 H12 ⟨σ'0σ'1σ''2σ3⟩;
    Q_0123 = λ_W C_W [H01⟨σ'0σ3σ'1σ2⟩ + H02⟨σ'0σ3σ1σ'2⟩] + C_W² H12 [H01⟨σ'0σ3σ''1σ'2⟩ + H02⟨σ'0σ3σ'1σ''2⟩].
    Arrays indexed as the sampler's fields (A[a1,a2,a3,a4], B[a1,a3,a2,a4], …, P[a0,a1,a2,a3]).
    """
    z, w = gauss_points(K, degree)
    s, ds, dds = np.tanh(z), dtanh(z), d2tanh(z)            # (Q, N_D)
    nd = K.shape[0]
    E = lambda f: np.tensordot(w, f, axes=(0, 0))
    T = lambda_W * s[:, :, None] * s[:, None, :] + C_W * H * ds[:, :, None] * ds[:, None, :]   # (Q, nd, nd)
    Kc = C_W * s[:, :, None] * s[:, None, :]
    cov = lambda X, Y: (E(X[:, :, :, None, None] * Y[:, None, None, :, :])
                        - np.multiply.outer(E(X), E(Y)))
    A = cov(T, T)
    D = cov(T, Kc)
    # F[a1, a3, a2, a4] = C_W² H_{a1a2} ⟨σ'1 σ3 σ'2 σ4⟩
    F = C_W ** 2 * H[:, None, :, None] * E(np.einsum("qa,qc,qb,qd->qacbd", ds, s, ds, s))
    B = C_W ** 2 * H[:, None, :, None] * H[None, :, None, :] * E(np.einsum("qa,qc,qb,qd->qacbd", ds, ds, ds, ds))
    P = np.zeros((nd,) * 4)
    Q = np.zeros((nd,) * 4)
    for a0, a1, a2, a3 in itertools.product(range(nd), repeat=4):
        U01 = lambda_W * s[:, a0] * ds[:, a1] + C_W * H[a0, a1] * ds[:, a0] * dds[:, a1]
        P[a0, a1, a2, a3] = (C_W * H[a1, a2] * E(U01 * ds[:, a2] * s[:, a3])
                             + C_W ** 2 * H[a0, a2] * H[a1, a2] * E(ds[:, a0] * ds[:, a1] * dds[:, a2] * s[:, a3]))
        o = ds[:, a0] * s[:, a3]
        Q[a0, a1, a2, a3] = (lambda_W * C_W * (H[a0, a1] * E(o * ds[:, a1] * s[:, a2])
                                               + H[a0, a2] * E(o * s[:, a1] * ds[:, a2]))
                             + C_W ** 2 * H[a1, a2] * (H[a0, a1] * E(o * dds[:, a1] * ds[:, a2])
                                                       + H[a0, a2] * E(o * ds[:, a1] * dds[:, a2])))
    return dict(A=A, B=B, D=D, F=F, P=P, Q=Q)


def tanh_run(X, width, networks, seed, depth=2, **kw):
    return sample(np.tanh, X, depth=depth, width=width, C_b=0.0, C_W=1.0, networks=networks, seed=seed,
                  lambda_b=0.5, lambda_W=1.0, dsigma=dtanh, d2sigma=d2tanh, ntk_fluctuations=True, dntk=True,
                  vertex=False, **kw)


# ----------------------------------------------------------------------------------
# 1. layer 2 is exact at any width: single input, closed local terms
# ----------------------------------------------------------------------------------
def test_layer2_exact_single_input_tanh():
    """tanh, C_W = 1, C_b = 0, λ_b = 0.5, λ_W = 1, |x|²/n0 = 1: K^{(1)} = 1, H^{(1)} = λ_b + λ_W = 1.5.

    THEORY-NTK.md §3–4 at layer 2 (r-terms vanish: layer-1 tensors are 0), ⟨·⟩ over N(0, 1):
    A = Var(λ_W σ² + C_W H σ'²), B = C_W² H² ⟨σ'⁴⟩, D = λ_W C_W(⟨σ⁴⟩ − ⟨σ²⟩²) + C_W² H(⟨σ'²σ²⟩ −
    ⟨σ'²⟩⟨σ²⟩), F = C_W² H ⟨σ'²σ²⟩, P = λ_W C_W H ⟨σ'²σ²⟩ + 2 C_W² H² ⟨σ'²σσ''⟩,
    Q = 2 λ_W C_W H ⟨σ'²σ²⟩ + 2 C_W² H² ⟨σ'²σσ''⟩.  Unequal widths (n_1, n_2) = (8, 5): the
    fields carry 1/n_1.  M = 40000: relative se 5.3% (A), 0.5% (B), 3.8% (D), 1.6% (F),
    1.1% (P), 1.9% (Q).
    """
    X = np.ones((1, 4))
    C_W, lb, lw, K, H = 1.0, 0.5, 1.0, 1.0, 1.5
    x, w = hermegauss(120)
    w = w / w.sum()
    E = lambda f: float(w @ f)
    s, ds, dds = np.tanh(x * np.sqrt(K)), dtanh(x * np.sqrt(K)), d2tanh(x * np.sqrt(K))
    tau = lw * s ** 2 + C_W * H * ds ** 2
    ref = dict(A=E(tau ** 2) - E(tau) ** 2,
               B=C_W ** 2 * H ** 2 * E(ds ** 4),
               D=lw * C_W * (E(s ** 4) - E(s ** 2) ** 2) + C_W ** 2 * H * (E(ds ** 2 * s ** 2) - E(ds ** 2) * E(s ** 2)),
               F=C_W ** 2 * H * E(ds ** 2 * s ** 2),
               P=lw * C_W * H * E(ds ** 2 * s ** 2) + 2 * C_W ** 2 * H ** 2 * E(ds ** 2 * s * dds),
               Q=2 * lw * C_W * H * E(ds ** 2 * s ** 2) + 2 * C_W ** 2 * H ** 2 * E(ds ** 2 * s * dds))
    # the general-N_D local terms reduce to the same numbers
    gen = local_terms(np.array([[K]]), np.array([[H]]), C_W, lw, 120)
    for q in NAMES:
        assert gen[q][0, 0, 0, 0] == pytest.approx(ref[q], rel=1e-12, abs=1e-14)
    n1 = 8
    res = tanh_run(X, (n1, 5), networks=40000, seed=21)
    for q in NAMES:
        est, se = n1 * getattr(res, q)[1, 0, 0, 0, 0], n1 * getattr(res, q + "_se")[1, 0, 0, 0, 0]
        assert_within(est, ref[q], se)
        assert se < 0.06 * abs(ref[q])                     # resolving power (see docstring)
        assert getattr(res, q)[0, 0, 0, 0, 0] == 0.0       # layer 1: deterministic NTK


# ----------------------------------------------------------------------------------
# 2. layer 2, two inputs: the general-N_D local terms, every index tuple
# ----------------------------------------------------------------------------------
def test_layer2_exact_two_inputs_tanh():
    """N_D = 2 (|x|²/n0 = 1, overlap 0.5), widths (6, 4), M = 40000: all 16 entries of each of
    A, B, D, F (THEORY-NTK.md §3 local terms) and of P, Q (§4 local terms, general N_D — only
    their single-input reductions are MC-tested in THEORY-NTK.md §6) within 3.5 se, and the
    96 correlated z's have mean z² ≤ 6.63 (the 1% point of χ²₁, valid for any correlation:
    rgflow.validate.chi2_1_quantile).  Median relative se: A 17%, B 0.6%, D 7%, F 3%, P 1.4%, Q 4%."""
    X = np.array([[1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, -1.0]])
    G = X @ X.T / X.shape[1]
    C_W, lb, lw = 1.0, 0.5, 1.0
    ref = local_terms(C_W * G, lb + lw * G, C_W, lw, 80)
    n1 = 6
    res = tanh_run(X, (n1, 4), networks=40000, seed=22)
    zs = []
    for q in NAMES:
        est, se = n1 * getattr(res, q)[1], n1 * getattr(res, q + "_se")[1]
        zs.append(assert_within(est, ref[q], se).ravel())
    z = np.concatenate(zs)
    assert np.mean(z ** 2) <= 6.63, np.mean(z ** 2)


# ----------------------------------------------------------------------------------
# 3. ReLU at criticality: Q = 2P at leading order (scale-invariant σ, THEORY-NTK.md §4)
# ----------------------------------------------------------------------------------
def test_relu_Q_equals_2P():
    """ReLU, C_W = 2, C_b = 0, λ_b = 0, λ_W = 1, |x|²/n0 = 1 (K = 2), n = 64, layer 3, M = 10000.

    The leading-order theory gives P = 2, 8 and Q = 4, 16 at layers 2, 3 (THEORY-NTK.md §7
    closed forms: P' − P = w(μ+1)KΘ₁(ℓ² + ℓ)/2 with w = 1/2, μ = 1, Θ₁ = 1).  Checked:
    layer 2 exactly (P = HK = 2, Q = 2HK = 4, σ'' = 0 a.e.); Q − 2P at layer 3 consistent
    with 0 using the conservative se(Q) + 2 se(P) (P and Q share networks; the bound holds
    for any correlation), while the wrong relation Q = P is rejected.
    """
    n = 64
    res = sample(relu, np.ones((1, 4)), depth=3, width=n, C_b=0.0, C_W=2.0, networks=10000, seed=23,
                 lambda_b=0.0, lambda_W=1.0, dsigma=drelu, d2sigma=zero, dntk=True, vertex=False)
    P, Q = n * res.P[:, 0, 0, 0, 0], n * res.Q[:, 0, 0, 0, 0]
    Ps, Qs = n * res.P_se[:, 0, 0, 0, 0], n * res.Q_se[:, 0, 0, 0, 0]
    assert_within(P[1], 2.0, Ps[1])
    assert_within(Q[1], 4.0, Qs[1])
    bound = Qs[2] + 2 * Ps[2]
    assert abs(Q[2] - 2 * P[2]) <= TOL * bound, (Q[2], P[2], bound)
    assert abs(Q[2] - P[2]) > 3 * (Qs[2] + Ps[2])
    assert res.A is None and res.B is None          # fluctuations not requested


# ----------------------------------------------------------------------------------
# 4. forward-mode dNTK against finite differences; the NTK against explicit gradients
# ----------------------------------------------------------------------------------
def _network(rng, n0, widths, C_W=1.3, C_b=0.2):
    fan = (n0,) + tuple(widths[:-1])
    Ws = [rng.standard_normal((1, widths[l], fan[l])) * np.sqrt(C_W / fan[l]) for l in range(len(widths))]
    bs = [rng.standard_normal((1, widths[l])) * np.sqrt(C_b) for l in range(len(widths))]
    return Ws, bs


def _flat(Ws, bs):
    return np.concatenate([a.ravel() for pair in zip(Ws, bs) for a in pair])


def _unflat(theta, Ws, bs):
    out_W, out_b, o = [], [], 0
    for W, b in zip(Ws, bs):
        out_W.append(theta[o:o + W.size].reshape(W.shape)); o += W.size
        out_b.append(theta[o:o + b.size].reshape(b.shape)); o += b.size
    return out_W, out_b


def _lambda_vector(Ws, bs, lb, lw, n0):
    fan = [n0] + [W.shape[1] for W in Ws[:-1]]
    return np.concatenate([np.concatenate([np.full(W.size, lw[l] / fan[l]), np.full(b.size, lb[l])])
                           for l, (W, b) in enumerate(zip(Ws, bs))])


def test_dntk_forward_mode_equals_finite_differences():
    """Small tanh network (n0 = 3, widths 5, 6, 4, N_D = 2, per-layer λ): (a) the NTK of
    ntk_forward equals J Λ Jᵀ with J the central-difference Jacobian of z^{(l)} (1e-7);
    (b) the tangent ż^{(l)}_{j;a} equals Ĥ^{(l)}_{j i0;a a0} (1e-12); (c) dĤ from forward mode
    equals the central difference of Ĥ^{(l)} along v = Λ ∂z^{(l)}_{i0;a0}/∂θ (v from the
    finite-difference Jacobian), at layers 2 and 3, for two output neurons: 1e-6 relative."""
    rng = np.random.default_rng(7)
    X = rng.standard_normal((2, 3))
    widths = (5, 6, 4)
    lb, lw = (0.3, 0.7, 0.5), (1.2, 0.8, 1.5)
    Ws, bs = _network(rng, 3, widths)
    idx = _Indices(2)
    theta0 = _flat(Ws, bs)
    lam = _lambda_vector(Ws, bs, lb, lw, 3)

    def fwd(theta):
        W, b = _unflat(theta, Ws, bs)
        return ntk_statistics.ntk_forward(X, W, b, np.tanh, dtanh, lb, lw, idx)

    zs, Hs = fwd(theta0)
    # (a) explicit-gradient NTK
    eps = 1e-5
    jac = [np.zeros((2, w, theta0.size)) for w in widths]
    for mu in range(theta0.size):
        e = np.zeros_like(theta0); e[mu] = eps
        zp, _ = fwd(theta0 + e)
        zm, _ = fwd(theta0 - e)
        for l in range(3):
            jac[l][:, :, mu] = (zp[l][0] - zm[l][0]) / (2 * eps)
    for l in range(3):
        Hexp = np.einsum("aim,m,bjm->abij", jac[l], lam, jac[l])
        for p, (a, b) in enumerate(zip(idx.pa, idx.pb)):
            np.testing.assert_allclose(Hs[l][0, p], Hexp[a, b], rtol=1e-7, atol=1e-9)
    # (b), (c)
    for target in (1, 2):
        zdot, Hdot, i0, a0 = ntk_statistics.ntk_tangent(X, Ws, zs, Hs, np.tanh, dtanh, d2tanh, lb, lw, idx,
                                                         target, neurons=2)
        assert len(i0) == 4
        Hfull = Hs[target][0]
        for v in range(len(i0)):
            for p, (a, b) in enumerate(zip(idx.pa, idx.pb)):
                if b == a0[v]:
                    np.testing.assert_allclose(zdot[0, v, a], Hfull[p, :, i0[v]], rtol=1e-12, atol=1e-13)
                if a == a0[v]:
                    np.testing.assert_allclose(zdot[0, v, b], Hfull[p, i0[v], :], rtol=1e-12, atol=1e-13)
            direction = lam * jac[target][a0[v], i0[v]]
            h = 1e-4
            Hp = fwd(theta0 + h * direction)[1][target][0]
            Hm = fwd(theta0 - h * direction)[1][target][0]
            fd = (Hp - Hm) / (2 * h)
            scale = np.abs(fd).max()
            assert np.abs(Hdot[0, v] - fd).max() <= 1e-6 * scale, np.abs(Hdot[0, v] - fd).max() / scale


# ----------------------------------------------------------------------------------
# 5. exact symmetries, zeros, reproducibility, errors
# ----------------------------------------------------------------------------------
def test_symmetries_zeros_and_chunk_independence():
    """Estimator symmetries hold exactly (not only in expectation): A in (12), (34), (12)↔(34);
    D in (12), (34); B_{1324} = B_{2413} = B_{3142}; F_{1324} = F_{2413}; Q_{0123} = Q_{0213}.
    Layer 1 is exactly 0 (se 0); a width-1 layer gives NaN; chunking does not change anything."""
    X = np.array([[1.0, 0.5, -0.3], [0.2, -1.0, 0.7], [-0.6, 0.4, 0.9]])
    kw = dict(depth=3, width=(4, 5, 3), networks=40, seed=9, dntk_neurons=2)
    runs = [tanh_run(X, chunk=c, **kw) for c in (7, None)]
    r = runs[0]
    for q in NAMES:
        np.testing.assert_array_equal(getattr(runs[0], q), getattr(runs[1], q))
        np.testing.assert_array_equal(getattr(runs[0], q + "_se"), getattr(runs[1], q + "_se"))
        assert getattr(r, q).shape == (3, 3, 3, 3, 3)
        assert np.all(getattr(r, q)[0] == 0) and np.all(getattr(r, q + "_se")[0] == 0)
        assert np.all(getattr(r, q + "_se")[1:] > 0)
        assert not getattr(r, q).flags.writeable
    eq = np.testing.assert_array_equal
    eq(r.A, np.einsum("labcd->lbacd", r.A)); eq(r.A, np.einsum("labcd->labdc", r.A))
    eq(r.A, np.einsum("labcd->lcdab", r.A))
    eq(r.D, np.einsum("labcd->lbacd", r.D)); eq(r.D, np.einsum("labcd->labdc", r.D))
    eq(r.B, np.einsum("labcd->lcdab", r.B)); eq(r.B, np.einsum("labcd->lbadc", r.B))
    eq(r.F, np.einsum("labcd->lcdab", r.F))
    eq(r.Q, np.einsum("labcd->lacbd", r.Q))
    assert not np.array_equal(r.D, np.einsum("labcd->lcdab", r.D))    # D has no (12)<->(34) symmetry
    # a width-1 layer has no distinct neurons
    r1 = tanh_run(X[:1], width=(3, 1), networks=5, seed=1)
    for q in NAMES:
        assert np.all(np.isnan(getattr(r1, q)[1]))
    assert "A+B+D+F" in repr(r) and "P+Q" in repr(r)


def test_defaults_and_errors():
    X = np.ones((1, 3))
    r = sample(np.tanh, X, depth=2, width=4, networks=4, lambda_b=0.1, dsigma=dtanh)
    assert all(getattr(r, q) is None and getattr(r, q + "_se") is None for q in NAMES)
    # requesting the statistics turns the NTK on with λ = (C_b, C_W)
    r = sample(np.tanh, X, depth=2, width=4, networks=4, dsigma=dtanh, ntk_fluctuations=True)
    assert r.lambda_W == (1.0, 1.0) and r.A is not None and r.P is None
    X4 = np.ones((MAX_NTK_STATISTICS_INPUTS + 1, 3))
    with pytest.raises(ValueError, match="N_D <= 3"):
        sample(np.tanh, X4, depth=2, width=4, networks=4, dsigma=dtanh, ntk_fluctuations=True)
    with pytest.raises(ValueError, match="d2sigma"):
        sample(np.tanh, X, depth=2, width=4, networks=4, dsigma=dtanh, dntk=True)
    with pytest.raises(ValueError, match="dntk_neurons"):
        sample(np.tanh, X, depth=2, width=4, networks=4, dsigma=dtanh, d2sigma=d2tanh, dntk=True, dntk_neurons=0)
    with pytest.raises(ValueError, match="ntk_fluctuations"):
        sample(np.tanh, X, depth=2, width=4, networks=4, dsigma=dtanh, ntk_fluctuations="yes")
    # an Activation supplies σ' and σ'' itself
    from derive.activations import activation
    r = sample(activation("tanh"), X, depth=2, width=4, networks=4, dntk=True)
    assert r.P is not None
