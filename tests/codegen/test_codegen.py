"""Compiled evaluators (codegen.compile → Evaluator.run) against independent references.

References, none of which shares code with the generated modules:
* closed forms of THEORY.md §2, §6 (arc-cosine ReLU, arcsine erf) iterated in numpy —
  the same formulas neural-tangents implements for its "ntk" parameterisation
  (``tests/rgflow/test_neural_tangents.py`` compares with neural-tangents itself where installed);
* mpmath (30 digits) single-input recursions of THEORY.md §3 (K, H, V, G1), with g''(K)
  from the Hermite form ⟨σ²(z⁴ − 6Kz² + 3K²)⟩/(4K⁴) (no derivatives of σ);
* a tensor Gauss–Legendre product rule in Cholesky coordinates for two-input
  expectations (``pair_gl`` below, 2×240 nodes on [−9, 9]: error < 1e-14 for the
  analytic activations used here);
* ``rgflow.reference.reference_flow``: plain numpy tensor-product Gauss–Hermite of the
  N_D-input recursions (its own accuracy is measured from two degrees in each test).

Stated accuracy of the evaluators (codegen/numerics_template.py): closed forms to
rounding; one-sample quadrature 1e-13, pairs 1e-11 (Mehler series 1e-12), three-
and four-sample expectations 1e-9, each relative to the size of the integrand.
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest

import codegen
from codegen.evaluator import FlowMemoryError, FlowOverflowError, InputError
from derive import activation
from derive.flow import flow
from rgflow.reference import nngp_ntk_closed, reference_flow


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("RGFLOW_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "rgflow-cache"))


def inputs(n, n0=3, seed=0, scale=1.0):
    return scale * np.random.default_rng(seed).normal(size=(n, n0))


# ---------------------------------------------------------------------------------
# independent references
# ---------------------------------------------------------------------------------
_gx, _gw = np.polynomial.legendre.leggauss(240)
_U = np.concatenate([(_gx - 1) * 4.5, (_gx + 1) * 4.5])
_WU = np.concatenate([_gw, _gw]) * 4.5 * np.exp(-_U**2 / 2) / math.sqrt(2 * math.pi)


def pair_gl(f, g, k11, k12, k22):
    """⟨f(z1) g(z2)⟩ for (z1, z2) ~ N(0, [[k11, k12], [k12, k22]]) by a tensor Gauss–Legendre rule."""
    l11 = math.sqrt(k11)
    l21 = k12 / l11
    l22 = math.sqrt(max(k22 - l21**2, 0.0))
    u, w = np.meshgrid(_U, _U, indexing="ij")
    return float(np.sum(np.outer(_WU, _WU) * f(l11 * u) * g(l21 * u + l22 * w)))


def gl_flow(name, X, depth, C_b, C_W):
    """K and H of the N_D-input recursions (THEORY.md §2, §6; λ = C) with ``pair_gl``."""
    act = activation(name)
    s, d = act.numpy_function(), act.numpy_derivative(1)
    K = C_b + C_W * X @ X.T / X.shape[1]
    H = K.copy()
    Ks, Hs = [K], [H]
    n = len(X)
    for _ in range(depth - 1):
        ss, dd = np.empty((n, n)), np.empty((n, n))
        for a in range(n):
            for b in range(a, n):
                ss[a, b] = ss[b, a] = pair_gl(s, s, K[a, a], K[a, b], K[b, b])
                dd[a, b] = dd[b, a] = pair_gl(d, d, K[a, a], K[a, b], K[b, b])
        H = C_b + C_W * ss + C_W * dd * H
        K = C_b + C_W * ss
        Ks.append(K), Hs.append(H)
    return np.array(Ks), np.array(Hs)


def mp_single(name, K1, depth, C_b, C_W, dps=30):
    """Single-input K, H, V, G1 (equal widths) by mpmath quadrature (THEORY.md §3, §6)."""
    act = activation(name)
    f = _mp_function(act)
    df = _mp_function(act, 1)
    with mpmath.workdps(dps):
        def E(h, k):
            s = mpmath.sqrt(k)
            return mpmath.quad(lambda u: h(s * u) * mpmath.npdf(u), [-mpmath.inf, -3, 0, 3, mpmath.inf])
        k, h, v, g1 = mpmath.mpf(K1), mpmath.mpf(K1), mpmath.mpf(0), mpmath.mpf(0)
        out = [(k, h, v, g1)]
        cb, cw = mpmath.mpf(C_b), mpmath.mpf(C_W)
        for _ in range(depth - 1):
            g = E(lambda z: f(z) ** 2, k)
            quartic = E(lambda z: f(z) ** 4, k)
            chi_par = cw * E(lambda z: f(z) ** 2 * (z * z - k), k) / (2 * k * k)     # C_W g'(K)
            chi_perp = cw * E(lambda z: df(z) ** 2, k)
            g2 = E(lambda z: f(z) ** 2 * (z**4 - 6 * k * z * z + 3 * k * k), k) / (4 * k**4)  # g''(K)
            k, h, v, g1 = (cb + cw * g, cb + cw * g + chi_perp * h,
                           cw**2 * (quartic - g * g) + chi_par**2 * v, chi_par * g1 + cw / 2 * g2 * v)
            out.append((k, h, v, g1))
    return np.array([[float(x) for x in row] for row in out])


def _mp_function(act, order=0):
    import sympy as sp
    from derive.symbols import z
    expr = act.bound_expr if order == 0 else act.derivative(order)
    return sp.lambdify(z, expr, modules="mpmath")


def run(name, X, depth, observables=("K", "H", "V", "G1"), **kw):
    return codegen.compile(flow(name, observables)).run(X, depth=depth, **kw)


# ---------------------------------------------------------------------------------
# K and H: closed-form activations (same formulas as neural-tangents)
# ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["relu", "erf"])
@pytest.mark.parametrize("C_b,C_W", [(0.0, 2.0), (0.3, 1.1)])
def test_kernel_and_ntk_closed_forms(name, C_b, C_W):
    """K and H to 1e-12 relative against the arc-cosine / arcsine recursions (rounding only)."""
    X = inputs(6)
    res = run(name, X, 8, ("K", "H"), C_b=C_b, C_W=C_W)
    K, H = nngp_ntk_closed(name, X, 8, C_b, C_W)
    np.testing.assert_allclose(np.asarray(res.K), K, rtol=1e-12, atol=0)
    np.testing.assert_allclose(np.asarray(res.H), H, rtol=1e-12, atol=0)


def test_per_layer_hyperparameters_and_learning_rates():
    """Per-layer C_b, C_W, λ_b, λ_W (λ ≠ C): each layer uses its own entry (THEORY.md §6),
    checked against the arcsine closed form of erf iterated by hand."""
    X = inputs(3, seed=1)
    cb, cw = [0.1, 0.0, 0.2, 0.05], [1.0, 2.0, 1.5, 1.8]
    lb, lw = [0.3, 0.1, 0.0, 0.2], [1.0, 0.5, 2.0, 1.0]
    res = run("erf", X, 4, ("K", "H"), C_b=cb, C_W=cw, lambda_b=lb, lambda_W=lw)
    K = cb[0] + cw[0] * X @ X.T / 3
    H = lb[0] + lw[0] * X @ X.T / 3
    for layer in range(1, 4):
        q = 1 + 2 * np.diag(K)
        ss = 2 / np.pi * np.arcsin(2 * K / np.sqrt(np.outer(q, q)))
        dd = 4 / np.pi / np.sqrt(np.outer(q, q) - 4 * K**2)
        H = lb[layer] + lw[layer] * ss + cw[layer] * dd * H
        K = cb[layer] + cw[layer] * ss
        np.testing.assert_allclose(res.K[layer + 1], K, rtol=1e-12)
        np.testing.assert_allclose(res.H[layer + 1], H, rtol=1e-12)


# ---------------------------------------------------------------------------------
# K and H: quadrature activations
# ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name,C_b,C_W", [("tanh", 0.0, 1.0), ("gelu", 0.172922, 1.983058),
                                          ("swish", 0.555143, 1.988005), ("tanh", 0.2, 1.4)])
def test_kernel_and_ntk_quadrature_vs_gauss_legendre(name, C_b, C_W):
    """Off-diagonal entries vs pair_gl (error < 1e-14) within the stated 1e-11 pair accuracy,
    which is relative to the size of the integrand: |Δ_ab| ≤ 2e-11 √(X_aa X_bb)."""
    X = inputs(3, seed=2, scale=1.2)
    res = run(name, X, 5, ("K", "H"), C_b=C_b, C_W=C_W)
    K, H = gl_flow(name, X, 5, C_b, C_W)
    for got, ref in ((np.asarray(res.K), K), (np.asarray(res.H), H)):
        d = np.sqrt(np.einsum("lii->li", ref))
        scale = d[:, :, None] * d[:, None, :]
        assert np.all(np.abs(got - ref) <= 2e-11 * scale)
        assert np.all(np.abs(got - ref) <= 1e-10 * np.abs(ref))     # and entry-wise unless tiny


@pytest.mark.parametrize("name,C_b,C_W", [("tanh", 0.0, 1.0), ("gelu", 0.172922, 1.983058),
                                          ("swish", 0.555143, 1.988005)])
def test_single_input_all_observables_vs_mpmath(name, C_b, C_W):
    """K, H, V, G1 of one input against 30-digit mpmath iteration of the single-input recursions."""
    depth = 5
    X = np.array([[1.3, -0.4]])
    K1 = C_b + C_W * float((X @ X.T)[0, 0]) / 2
    ref = mp_single(name, K1, depth, C_b, C_W)
    res = run(name, X, depth, C_b=C_b, C_W=C_W)
    got = np.stack([np.asarray(getattr(res, q))[:, 0, 0] for q in ("K", "H")]
                   + [np.asarray(res.V)[:, 0, 0, 0, 0], np.asarray(res.G1)[:, 0, 0]], axis=1)
    scale = np.max(np.abs(ref), axis=0)
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-12 * scale.max())


# ---------------------------------------------------------------------------------
# V: exact results and the classify report
# ---------------------------------------------------------------------------------
def test_relu_single_input_vertex_is_exactly_five_ell_minus_one():
    """ReLU at criticality: V^{(ℓ)} = 5(ℓ−1) K² exactly (THEORY.md §5), and G1 ≡ 0."""
    X = np.array([[0.7, 1.1, -0.2]])
    res = run("relu", X, 12, C_b=0.0, C_W=2.0)
    K = np.asarray(res.K)[:, 0, 0]
    V = np.asarray(res.V)[:, 0, 0, 0, 0]
    ell = np.arange(1, 13)
    np.testing.assert_allclose(K, K[0], rtol=1e-14)
    np.testing.assert_allclose(V, 5 * (ell - 1) * K**2, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(np.asarray(res.G1)[:, 0, 0], 0.0, atol=1e-13)


def test_vertex_ratio_matches_classify_laws():
    """V/(nK²) from the evaluator vs the classify report: ReLU 5(ℓ−1)/n exactly; the linear
    network 2(ℓ−1)/n exactly (its E[z⁴] law); tanh → (2/3)(ℓ/n) at large depth."""
    from derive import classify
    from derive.symbols import ell, n
    for name, C_W in (("relu", 2.0), ("linear", 1.0)):
        law = dict(classify(name).asymptotics)["V/(n K^2)"]
        res = run(name, np.array([[1.0, 0.5]]), 30, width=50, C_W=C_W)
        expected = [float(law.subs({ell: layer, n: 50})) for layer in range(2, 31)]
        np.testing.assert_allclose(res.vertex_ratio()[1:, 0], expected, rtol=1e-12)
    law = dict(classify("tanh").asymptotics)["V/(n K^2)"]
    res = run("tanh", np.array([[1.0, 0.5]]), 400, width=1, C_W=1.0)
    ratio = res.vertex_ratio()[:, 0]
    slope = (ratio[399] - ratio[199]) / 200     # d(V/nK²)/dℓ at large depth
    assert slope == pytest.approx(float(law.subs({ell: 1, n: 1})), rel=0.02)


# ---------------------------------------------------------------------------------
# multi-input V and G1 against the plain tensor-quadrature reference
# ---------------------------------------------------------------------------------
def test_multi_input_vertex_and_metric_correction_vs_tensor_quadrature():
    """tanh, three inputs, unequal widths: V and G1 vs reference_flow (integration-by-parts form).

    The reference's own error is taken as the change between Gauss–Hermite degrees
    (24, 32) in 4-D; the evaluator must agree to within 3× that plus its stated 1e-9.
    """
    X = inputs(3, seed=3, scale=0.6)
    widths = [40, 64, 32, 50]
    res = run("tanh", X, 4, width=widths, C_b=0.05, C_W=1.2)
    lo = reference_flow("tanh", X, 4, 0.05, 1.2, width=widths, degree2=80, degree4=24)
    hi = reference_flow("tanh", X, 4, 0.05, 1.2, width=widths, degree2=120, degree4=32)
    for q in ("K", "H", "V", "G1"):
        got, ref = np.asarray(getattr(res, q)), hi[q]
        tol = 3 * np.max(np.abs(hi[q] - lo[q])) + 1e-9 * np.max(np.abs(ref))
        assert np.max(np.abs(got - ref)) <= tol, q
    V = np.asarray(res.V)
    assert np.abs(V).max() > 0.01                      # not trivially zero
    np.testing.assert_array_equal(V, V.transpose(0, 2, 1, 3, 4))     # (a1 <-> a2)
    np.testing.assert_array_equal(V, V.transpose(0, 3, 4, 1, 2))     # pair exchange


def test_relu_multi_input_vertex_vs_inverse_kernel_form():
    """ReLU (kinked: σ'' is a Dirac delta) two inputs: the integration-by-parts V and G1 of the
    engine against PDLT's original inverse-kernel form (no derivatives) in the reference."""
    X = np.array([[1.0, 0.2, -0.3], [0.4, 0.9, 0.5]])
    res = run("relu", X, 4, C_b=0.0, C_W=2.0)
    ref = reference_flow("relu", X, 4, 0.0, 2.0, degree2=150, degree4=32, form="inverse")
    for q in ("V", "G1"):
        got = np.asarray(getattr(res, q))
        scale = np.max(np.abs(got))
        assert scale > 0.05 or q == "G1"
        np.testing.assert_allclose(got, ref[q], atol=3e-3 * max(scale, 1.0))   # kinks: GH is only algebraic


def test_coincident_inputs_equal_unique_inputs():
    """Duplicated rows (coincident samples) give exactly the entries of the unique inputs."""
    X = inputs(2, seed=4)
    Xd = np.vstack([X, X[:1]])
    a = run("tanh", X, 3, C_W=1.0)
    b = run("tanh", Xd, 3, C_W=1.0)
    idx = [0, 1, 0]
    for q in ("K", "H", "G1"):
        np.testing.assert_array_equal(np.asarray(getattr(b, q)), np.asarray(getattr(a, q))[:, idx][:, :, idx])
    np.testing.assert_array_equal(np.asarray(b.V), np.asarray(a.V)[:, idx][:, :, idx][:, :, :, idx][:, :, :, :, idx])


def test_ntk_parameterisation_defaults_lambda_to_C():
    X = inputs(2)
    a = run("erf", X, 4, ("K", "H"), C_b=0.1, C_W=1.3)
    b = run("erf", X, 4, ("K", "H"), C_b=0.1, C_W=1.3, lambda_b=0.1, lambda_W=1.3)
    np.testing.assert_array_equal(np.asarray(a.H), np.asarray(b.H))
    c = run("erf", X, 4, ("K", "H"), C_b=0.1, C_W=1.3, lambda_b=0.0, lambda_W=0.0)
    np.testing.assert_allclose(np.asarray(c.H), 0.0)


# ---------------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs,match", [
    (dict(X=np.array([[np.nan, 1.0]])), "NaN"),
    (dict(X=np.array([1.0, 2.0])), "shape"),
    (dict(X=np.zeros((0, 3))), "at least one"),
    (dict(depth=0), "depth"),
    (dict(depth=2.5), "depth"),
    (dict(width=0), "positive"),
    (dict(width=[10, -3, 4]), "positive"),
    (dict(width=[10, 10]), "one per layer"),
    (dict(C_W=-1.0), "non-negative"),
    (dict(C_b=[0.0, 0.1]), "one per layer"),
    (dict(lambda_W=float("inf")), "finite"),
])
def test_bad_input_is_a_clear_error(kwargs, match):
    ev = codegen.compile(flow("relu", ("K", "H")))
    args = dict(X=np.eye(2), depth=3, C_W=2.0)
    args.update(kwargs)
    with pytest.raises(InputError, match=match):
        ev.run(args.pop("X"), **args)


def test_exploding_network_names_the_layer():
    ev = codegen.compile(flow("relu", ("K", "H")))
    with pytest.raises(FlowOverflowError, match=r"layer \d+"):
        ev.run(np.eye(2), depth=2000, C_W=3.0)


def test_zero_input_without_bias_is_reported():
    ev = codegen.compile(flow("tanh", ("K", "H")))
    with pytest.raises(InputError, match="input 0 is all zero and C_b = 0"):
        ev.run(np.zeros((1, 3)), depth=3, C_W=1.0)


def test_vertex_memory_estimate_before_allocating(monkeypatch):
    from codegen import evaluator
    monkeypatch.setattr(evaluator, "available_memory", lambda: 2**30)
    ev = codegen.compile(flow("relu"))
    X = np.random.default_rng(0).normal(size=(200, 3))
    with pytest.raises(FlowMemoryError, match=r"GiB.*V alone"):
        ev.run(X, depth=10, C_W=2.0)
    # K and H only: the same inputs fit
    res = codegen.compile(flow("relu", ("K", "H"))).run(X, depth=2, C_W=2.0)
    assert res.K[2].shape == (200, 200)


def test_layer_series_indexing():
    res = run("relu", np.eye(2), 3, ("K", "H"), C_W=2.0)
    assert len(res.K) == 3 and list(res.K.layers) == [1, 2, 3]
    with pytest.raises(IndexError, match="1..3"):
        res.K[0]
    assert res.V is None and res.G1 is None


def test_four_point_quadrature_patterns_to_stated_accuracy():
    """Every coincidence pattern of ⟨σσσσ⟩ (tanh, nested trapezoid + tabulated inner level)
    against 4-D tensor Gauss–Hermite at degrees 40 and 48 (which agree to ≲1e-8 here), to
    the stated 1e-9 relative accuracy."""
    import generated.flow_tanh_full as module
    for scale, offset in ((0.5, 0.05), (0.35, 0.03), (0.2, 0.01)):
        X = scale * np.random.default_rng(5).normal(size=(4, 3))
        _check_four_point_patterns(module, X @ X.T / 3 + offset)


def _check_four_point_patterns(module, K):
    from rgflow.reference import expect_tensor
    multisets = module._multisets(np.int64(K.shape[0]))
    Q = module._quad(np.ascontiguousarray(K), np.zeros(4, dtype=np.int64), multisets)[0]   # every quadruple
    cases = {"abcd": (0, 1, 2, 3), "aabc": (2, 2, 0, 3), "aabb": (1, 1, 3, 3), "aaab": (3, 3, 3, 0),
             "aaaa": (1, 1, 1, 1)}
    for key, t in cases.items():
        got = Q[t]
        sub = K[np.ix_(t, t)]
        lo, hi = (expect_tensor([np.tanh] * 4, sub, degree) for degree in (40, 48))
        assert abs(lo - hi) < 1e-8 * abs(hi)                   # the reference has converged ...
        assert abs(got - hi) <= 1e-9 * abs(hi) + abs(lo - hi), key   # ... to within |lo - hi|


@pytest.mark.parametrize("name,observables", [("relu", ("K", "H")), ("tanh", ("K", "H", "V", "G1"))])
def test_keep_last_layer_equals_the_last_of_all(name, observables):
    """keep="last" stores two layers (ping-pong) and returns layer L only, bit-identical."""
    X = inputs(3, seed=6)
    ev = codegen.compile(flow(name, observables))
    full = ev.run(X, depth=5, width=[8, 16, 16, 32, 32], C_W=1.5, C_b=0.1)
    last = ev.run(X, depth=5, width=[8, 16, 16, 32, 32], C_W=1.5, C_b=0.1, keep="last")
    assert list(last.K.layers) == [5]
    for q in observables:
        np.testing.assert_array_equal(getattr(last, q)[5], getattr(full, q)[5])
    if "V" in observables:
        np.testing.assert_array_equal(last.vertex_ratio()[0], full.vertex_ratio()[4])
    with pytest.raises(IndexError, match="5..5"):
        last.K[4]
    with pytest.raises(InputError, match="keep"):
        ev.run(X, depth=2, keep="first")
    one = ev.run(X, depth=1, C_W=1.5, C_b=0.1, keep="last")      # depth 1: one stored layer
    np.testing.assert_array_equal(one.K[1], full.K[1])
