"""Residual MLPs: the bilinear-form closure against exact results, the plain-MLP limit, the
independent Hermite-basis numbers of THEORY-NTK.md §5 and Monte Carlo of real residual networks."""

import math

import numpy as np
import pytest

import codegen
from derive.activations import activation
from derive.errors import RGFlowError
from derive.flow import flow
from derive.quadrature import pair_expectations, split_plane_rule
from rgflow import montecarlo
from rgflow.montecarlo import sample
from rgflow.residual import residual_flow


def _arccos_relu(K):
    """⟨relu(z1) relu(z2)⟩ and P(z1 > 0, z2 > 0), closed form (Cho & Saul)."""
    th = math.acos(K[0, 1] / math.sqrt(K[0, 0] * K[1, 1]))
    return (math.sqrt(K[0, 0] * K[1, 1]) / (2 * math.pi) * (math.sin(th) + (math.pi - th) * math.cos(th)),
            (math.pi - th) / (2 * math.pi))


@pytest.mark.parametrize("K", [[[1.3, 0.4], [0.4, 0.9]], [[1.0, -0.95], [-0.95, 1.0]], [[2.0, 1.9], [1.9, 2.0]]])
def test_split_plane_rule_is_exact_for_kinks_at_zero(K):
    K = np.array(K)
    zs, w = split_plane_rule(K)
    mean, prob = _arccos_relu(K)
    assert abs(np.sum(w * np.maximum(zs[0], 0) * np.maximum(zs[1], 0)) - mean) < 1e-13
    assert abs(np.sum(w * (zs[0] > 0) * (zs[1] > 0)) - prob) < 1e-13
    assert abs(np.sum(w * zs[0] ** 2 * zs[1] ** 2) - (K[0, 0] * K[1, 1] + 2 * K[0, 1] ** 2)) < 1e-12


def test_pair_expectations_against_the_arc_cosine_kernels():
    """Every pair at once, a duplicated and a negated input included: ⟨relu relu⟩ and ⟨θθ⟩ closed forms."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(9, 4))
    X[4], X[7] = X[1], -X[2]
    K = X @ X.T / 4
    d = np.sqrt(np.diag(K))
    theta = np.arccos(np.clip(K / np.outer(d, d), -1, 1))
    relu = pair_expectations(lambda v: np.maximum(v, 0), lambda v: np.maximum(v, 0), K)
    step = pair_expectations(lambda v: (v > 0) * 1.0, lambda v: (v > 0) * 1.0, K)
    np.testing.assert_allclose(relu, np.outer(d, d) / (2 * np.pi) * (np.sin(theta) + (np.pi - theta) * np.cos(theta)),
                               atol=1e-13)
    np.testing.assert_allclose(step, (np.pi - theta) / (2 * np.pi), atol=1e-8)
    mixed = pair_expectations(lambda v: v, lambda v: np.maximum(v, 0), K)      # E[z_a relu(z_b)] = K_ab/2
    np.testing.assert_allclose(mixed, K / 2, atol=1e-13)


@pytest.mark.parametrize("act, cw", [("tanh", 1.0), ("relu", 2.0), ("gelu", 1.5)])
def test_plain_limit_equals_the_compiled_mlp_flow(act, cw):
    """ξ = 0, γ = 1 is the plain MLP: K, H, V equal the compiled recursions (two inputs)."""
    X = np.array([[1.0, 0.3], [0.2, -0.9]])
    kw = dict(C_b=0.1, C_W=cw, lambda_b=1.0, lambda_W=1.0)
    res = residual_flow(act, X, depth=4, xi=0.0, gamma=1.0, **kw)
    ref = codegen.compile(flow(act)).run(X, depth=4, **kw)
    for name in ("K", "H", "V"):
        a, b = getattr(res, name), getattr(ref, name)
        assert np.abs(a - b).max() <= 1e-10 * np.abs(b).max(), name


def _linear_exact(n, depth, K1, xi, gamma, C_W):
    """Exact n·Cov(z_i², z_k²) of a deep linear residual net (C_b = 0) at width n: |z'|² = |z|² X with
    X = |ξe + γ√(C_W/n) g|² independent per layer, and z/|z| uniform on the sphere."""
    chi = xi**2 + gamma**2 * C_W
    EX2 = chi**2 + (4 * xi**2 * gamma**2 * C_W + 2 * gamma**4 * C_W**2) / n
    return np.array([n * K1**2 * (EX2**(l - 1) - chi**(2 * (l - 1))) for l in range(1, depth + 1)])


def test_linear_sigma_exact():
    """Linear σ: both closures equal the 1/n term of the exact finite-width result (χ ≠ 1)."""
    xi, gamma, cw, depth = 0.8, 0.5, 1.3, 6
    bil = residual_flow("linear", np.array([[1.2]]), depth, xi=xi, gamma=gamma, C_W=cw)
    nai = residual_flow("linear", np.array([[1.2]]), depth, xi=xi, gamma=gamma, C_W=cw, closure="naive")
    K1 = cw * 1.44
    chi = xi**2 + gamma**2 * cw
    s = 4 * xi**2 * gamma**2 * cw + 2 * gamma**4 * cw**2
    exact = np.array([K1**2 * (l - 1) * s * chi**(2 * (l - 2)) for l in range(1, depth + 1)])
    np.testing.assert_allclose(bil.V[:, 0, 0, 0, 0], exact, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(nai.V[:, 0, 0, 0, 0], exact, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(bil.K[:, 0, 0], K1 * chi ** np.arange(depth), rtol=1e-13)
    # the leading term of the exact finite-n formula is the same number
    big = _linear_exact(1e8, depth, K1, xi, gamma, cw)
    np.testing.assert_allclose(big, exact, rtol=1e-6, atol=1e-10)


def test_linear_monte_carlo_matches_the_exact_finite_width_result():
    """The residual sampler: n·Cov(z_i², z_k²) of real linear residual nets = the exact formula at n."""
    xi, gamma, cw, n, depth = 0.8, 0.5, 1.3, 16, 5
    res = sample(lambda v: v, np.array([[1.2]]), depth, n, C_W=cw, networks=40000, seed=3, xi=xi, gamma=gamma)
    exact = _linear_exact(n, depth, cw * 1.44, xi, gamma, cw)
    est, se = n * res.vertex[:, 0, 0, 0, 0], n * res.vertex_se[:, 0, 0, 0, 0]
    assert np.all(np.abs(est[1:] - exact[1:]) < 4 * se[1:]), (est, exact, se)


# THEORY-NTK.md §5/§6.5, "V full (Hermite C)": the same closure solved independently in the Hermite
# basis of each layer (typed in from the document: a test reference, rounded as printed there).
HERMITE_C = {
    (0.7, 2.0, "relu"): [5.16, 12.04, 20.31, 29.72, 40.06, 51.18, 62.94],
    (0.5, 2.0, "relu"): [9.0, 21.91, 37.47, 54.88, 73.56, 93.16, 113.4],
    (0.7, 1.0, "tanh"): [0.1615, 0.228, 0.2473, 0.2439, 0.2305, 0.2133, 0.1955],
}
NAIVE = {(0.7, 2.0, "relu"): [5.16, 10.32, 15.48, 20.64, 25.8, 30.96, 36.12]}


@pytest.mark.parametrize("key", sorted(HERMITE_C))
def test_agrees_with_the_hermite_basis_solution(key):
    xi2, cw, act = key
    res = residual_flow(act, np.array([[1.0]]), 8, xi=math.sqrt(xi2), gamma=math.sqrt(1 - xi2), C_W=cw)
    ref = np.array(HERMITE_C[key])
    got = res.V[1:, 0, 0, 0, 0]
    assert np.all(np.abs(got - ref) <= 0.5 * 10.0 ** (np.floor(np.log10(np.abs(ref))) - 3) + 1e-12 * ref), got
    if key in NAIVE:
        naive = residual_flow(act, np.array([[1.0]]), 8, xi=math.sqrt(xi2), gamma=math.sqrt(1 - xi2), C_W=cw,
                              closure="naive")
        np.testing.assert_allclose(naive.V[1:, 0, 0, 0, 0], NAIVE[key], atol=0.006)


def test_relu_monte_carlo_confirms_the_bilinear_closure_and_rejects_the_naive_one():
    """ReLU, ξ² = 0.7 at criticality, layer 5: the O(1/n) coefficient fitted over n = 32, 64 (T + c/n)
    agrees with the bilinear closure within 3 se and is > 4 se from the V-only closure."""
    xi, gamma, depth = math.sqrt(0.7), math.sqrt(0.3), 5
    X = np.array([[1.0]])
    est, var = [], []
    widths = (32, 64)
    for n, networks in zip(widths, (24000, 12000)):
        r = sample(activation("relu"), X, depth, n, C_W=2.0, networks=networks, seed=11, xi=xi, gamma=gamma)
        est.append(n * r.vertex[-1, 0, 0, 0, 0])
        var.append((n * r.vertex_se[-1, 0, 0, 0, 0]) ** 2)
    # T + c/n through two widths: T = (n2 e2 − n1 e1)/(n2 − n1)
    n1, n2 = widths
    T = (n2 * est[1] - n1 * est[0]) / (n2 - n1)
    se = math.sqrt((n2 / (n2 - n1)) ** 2 * var[1] + (n1 / (n2 - n1)) ** 2 * var[0])
    full = residual_flow("relu", X, depth, xi=xi, gamma=gamma, C_W=2.0).V[-1, 0, 0, 0, 0]
    naive = residual_flow("relu", X, depth, xi=xi, gamma=gamma, C_W=2.0, closure="naive").V[-1, 0, 0, 0, 0]
    assert abs(T - full) < 3 * se, (T, se, full)
    assert abs(T - naive) > 4 * se, (T, se, naive)


def test_ntk_mean_linear_exact_and_relu_monte_carlo():
    """The NTK mean recursion: exact at any width for linear σ; ReLU within 4 se + its O(1/n) size."""
    xi, gamma = 0.8, 0.6
    X = np.array([[1.0, -0.5, 0.3], [0.2, 0.9, -0.4]])
    kw = dict(C_b=0.2, C_W=1.0, lambda_b=0.5, lambda_W=1.0)
    lin = residual_flow("linear", X, 4, xi=xi, gamma=gamma, **kw)
    mc = sample(lambda v: v, X, 4, 24, networks=3000, seed=5, xi=xi, gamma=gamma, dsigma=np.ones_like, **kw)
    assert np.all(np.abs(mc.ntk - lin.H) < 4 * mc.ntk_se + 1e-12)
    relu = residual_flow("relu", X, 4, xi=xi, gamma=gamma, **{**kw, "C_W": 2 * (1 - xi**2) / gamma**2})
    mc = sample(activation("relu"), X, 4, 128, networks=1500, seed=6, xi=xi, gamma=gamma,
                **{**kw, "C_W": 2 * (1 - xi**2) / gamma**2})
    assert np.all(np.abs(mc.ntk - relu.H) < 4 * mc.ntk_se + 0.02 * relu.H)
    # the kernel of the same networks: E[zz] = K + O(1/n) (ReLU's per-layer 1/n metric shift is ≲ 1 %)
    assert np.all(np.abs(mc.metric - relu.K) < 4 * mc.metric_se + 0.02 * np.abs(relu.K))


def test_residual_ntk_forward_equation_against_finite_differences():
    """The sampler's residual NTK (Ĥ' = ξ²Ĥ + ξγ(ĤDWᵀ + WDĤ) + γ²(WDĤDWᵀ + ΦI)) equals Σ_μ λ_μ ∂z∂z of
    the very networks it sampled, by central differences of the explicit forward pass."""
    X = np.array([[0.7, -0.4], [0.1, 0.8]])
    depth, n, xi, gamma, lb, lw, cb, cw = 3, 4, 0.7, 0.9, 0.3, 1.1, 0.2, 1.4
    res = sample(np.tanh, X, depth, n, C_b=cb, C_W=cw, networks=2, seed=9, xi=xi, gamma=gamma,
                 lambda_b=lb, lambda_W=lw, dsigma=lambda v: 1 - np.tanh(v) ** 2, vertex=False)
    root = np.random.SeedSequence(9)
    n0 = X.shape[1]
    fan = (n0, n, n)
    total = np.zeros((depth, 2, 2))
    for k in range(2):
        gen = np.random.Generator(np.random.PCG64(montecarlo._network_seed(root, k)))
        theta = gen.standard_normal(sum(n * f + n for f in fan))
        scale = np.concatenate([np.r_[np.full(n * f, math.sqrt(cw / f)), np.full(n, math.sqrt(cb))] for f in fan])
        lr = np.concatenate([np.r_[np.full(n * f, lw / f), np.full(n, lb)] for f in fan])
        theta = theta * scale

        def forward(t):
            out, off, z = [], 0, None
            for l, f in enumerate(fan):
                W = t[off:off + n * f].reshape(n, f)
                b = t[off + n * f:off + n * f + n]
                off += n * f + n
                u = (X @ W.T if l == 0 else np.tanh(z) @ W.T) + b
                z = u if l == 0 else xi * z + gamma * u
                out.append(z)
            return np.stack(out)                        # (depth, N_D, n)
        eps = 1e-6
        J = np.empty((theta.size, depth, 2, n))
        for p in range(theta.size):
            e = np.zeros(theta.size)
            e[p] = eps
            J[p] = (forward(theta + e) - forward(theta - e)) / (2 * eps)
        ntk = np.einsum("p,plai,plbi->lab", lr, J, J) / n
        total += ntk / 2
    np.testing.assert_allclose(res.ntk, total, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("bad, match", [
    (dict(xi=-0.1), "xi"), (dict(gamma=0.0), "gamma"), (dict(C_W=float("nan")), "C_W"),
    (dict(closure="V-only"), "closure"), (dict(depth=0), "depth")])
def test_bad_input(bad, match):
    kw = dict(act="tanh", X=np.array([[1.0]]), depth=3, xi=0.8, gamma=0.6)
    kw.update(bad)
    with pytest.raises(RGFlowError, match=match):
        residual_flow(**kw)


def test_sampler_bad_residual_input():
    X = np.array([[1.0]])
    with pytest.raises(ValueError, match="equal widths"):
        sample(np.tanh, X, 3, (8, 16, 8), networks=2, xi=0.5)
    with pytest.raises(ValueError, match="xi >= 0"):
        sample(np.tanh, X, 3, 8, networks=2, xi=-1.0)
    with pytest.raises(ValueError, match="not available"):
        sample(np.tanh, X, 3, 8, networks=2, xi=0.5, ntk_fluctuations=True)


def _hermite_coefficients(f, degree: int, nodes: int = 4000) -> np.ndarray:
    """a_c = ⟨f(u) He_c(u)/√c!⟩, u ~ N(0, 1), c = 0..degree (Gauss–Legendre on [−12, 12], normalised
    three-term recurrence)."""
    x, w = np.polynomial.legendre.leggauss(nodes)
    u, w = 12 * x, 12 * w * np.exp(-72 * x * x) / math.sqrt(2 * math.pi)
    fu = f(u) * w
    out = np.empty(degree + 1)
    h_prev, h = np.zeros_like(u), np.ones_like(u)
    for c in range(degree + 1):
        out[c] = fu @ h
        h_prev, h = h, (u * h - math.sqrt(c) * h_prev) / math.sqrt(c + 1)
    return out


def test_printed_single_input_system_reproduces_the_numbers():
    """The rules `rgflow derive relu --residual` prints (closed forms substituted), iterated with the
    cross-layer covariances Γ from Mehler's formula Σ_c ρ^c a_c a_c' (Hermite coefficients: a route
    independent of the polar quadrature), give the same V as residual_flow."""
    import sympy as sp
    from derive.engine import residual as R
    from derive.symbols import C_W, C_b, K
    xi, gamma, cw, depth = math.sqrt(0.7), math.sqrt(0.3), 2.0, 7
    rules = dict(R._rules(activation("relu"), xi, gamma))
    syms = (K, R.H, R.PSI_Z, R.PSI_S, R.OMEGA, R.V, C_W, C_b, R.LAMBDA_B, R.LAMBDA_W)
    fn = {name: sp.lambdify(syms, rules[name]) for name in ("K", "Psi_z", "Omega")}
    a = _hermite_coefficients(lambda u: np.maximum(u, 0.0) ** 2, 160)[1:]      # σ² at K = 1; σ² ∝ K
    c = np.arange(1, 161)
    Ks, chis, state = [2.0], [], dict(Psi_z=0.0, Omega=0.0)
    V = [0.0]
    for ell in range(1, depth):
        Kl = Ks[-1]
        chis.append(xi**2 + gamma**2 * cw * 0.5)          # g2' = 1/2 for ReLU
        psi_s = 0.0
        for m in range(1, ell):
            rho = xi ** (ell - m) * math.sqrt(Ks[m - 1] / Kl)
            prod = math.prod(chis[m:ell - 1])
            psi_s += gamma**2 * cw * prod * Ks[m - 1] * Kl * np.sum(rho**c * a * a)
        args = (Kl, 0.0, state["Psi_z"], psi_s, state["Omega"], 0.0, cw, 0.0, 0.0, 0.0)
        state = dict(Psi_z=fn["Psi_z"](*args), Omega=fn["Omega"](*args))
        Ks.append(fn["K"](*args))
        V.append(2 * state["Psi_z"] + state["Omega"])
    ref = residual_flow("relu", np.array([[1.0]]), depth, xi=xi, gamma=gamma, C_W=cw)
    np.testing.assert_allclose(Ks, ref.K[:, 0, 0], rtol=1e-13)
    np.testing.assert_allclose(V, ref.V[:, 0, 0, 0, 0], rtol=1e-9, atol=1e-12)


def test_residual_law_matches_closed_forms_and_the_flow():
    """ν: linear σ exactly ε(4 − 2ε) (the exact linear result of the test above, per layer); ReLU the
    Hermite-basis values of THEORY-NTK.md §5 (5.44, 3.75, 1.40; V-only ε(4 + ε)) and the per-layer
    growth of residual_flow at depth 40; tanh ε(2 − ε)·2/3."""
    from rgflow.residual import residual_law
    for xi2 in (0.5, 0.7, 0.9):
        eps = 1 - xi2
        lin = residual_law("linear", xi2)
        assert abs(lin.nu - eps * (4 - 2 * eps)) < 1e-10 and abs(lin.nu_naive - eps * (4 - 2 * eps)) < 1e-12
        relu = residual_law("relu", xi2)
        assert abs(relu.nu_naive - eps * (4 + eps)) < 1e-12
        assert abs(relu.nu - {0.5: 5.44, 0.7: 3.75, 0.9: 1.40}[xi2]) < 0.006
        assert abs(residual_law("tanh", xi2).nu - eps * (2 - eps) * 2 / 3) < 1e-12
    f = residual_flow("relu", np.array([[1.0]]), 40, xi=math.sqrt(0.5), gamma=1.0, C_W=1.0)
    V = f.V[:, 0, 0, 0, 0]
    # the depth-40 growth misses the cross-layer covariances beyond 39 layers: by Gebelein's inequality
    # at most 2 C_W² Var(σ²)/K² · ξ^39/(1 − ξ) = 2.5 ξ^39/(1 − ξ) ≈ 1.1e-5
    tail = 2.5 * 0.5 ** 19.5 / (1 - math.sqrt(0.5))
    assert 0 < residual_law("relu", 0.5).nu - (V[-1] - V[-2]) / f.K[-1, 0, 0] ** 2 < tail
    with pytest.raises(RGFlowError, match="below 1"):
        residual_law("relu", 1.0)
    assert residual_law("gelu", 0.5).nu is None


def test_kernel_only_path_many_inputs():
    """vertex=False: K and H for many inputs (pairs batched); at ξ = 0, γ = 1 the compiled MLP flow,
    and at ξ > 0 the same K, H as the full path on a subset (a duplicated input included)."""
    rng = np.random.default_rng(4)
    X = rng.normal(size=(12, 5))
    X[5] = X[2]
    kw = dict(C_b=0.1, C_W=2.0, lambda_b=0.5, lambda_W=1.0)
    res = residual_flow("relu", X, 4, xi=0.0, gamma=1.0, vertex=False, **kw)
    ref = codegen.compile(flow("relu")).run(X, depth=4, **kw)
    assert res.V is None
    for name in ("K", "H"):
        np.testing.assert_allclose(getattr(res, name), getattr(ref, name), rtol=1e-11, atol=1e-13)
    fast = residual_flow("gelu", X[:3], 5, xi=0.8, gamma=0.5, vertex=False, **kw)
    full = residual_flow("gelu", X[:3], 5, xi=0.8, gamma=0.5, **kw)
    np.testing.assert_allclose(fast.K, full.K, rtol=1e-14)
    np.testing.assert_allclose(fast.H, full.H, rtol=1e-14)
