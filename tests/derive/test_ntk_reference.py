"""Self-tests of tests/ntk_reference.py, the independent reference for the 1/n NTK recursions.

The reference evaluates the general-N_D recursions of THEORY-NTK §3, §4, §8.2 with Stein's
lemma (K⁻¹) and quadrature.  Here it is checked against things computed another way:

* the boxed single-input recursions of THEORY-NTK §3/§4/§8.2 written out separately, with
  g, h and their K-derivatives from σ's derivatives (d⟨f⟩/dK = ½⟨f''⟩) and adaptive
  quadrature (scipy.integrate.quad) — no Stein, no K⁻¹;
* the exact finite-ℓ scale-invariant solutions of THEORY-NTK §7, which must solve the
  boxed recursions with the exact Gaussian moments of a₊zθ(z) + a₋zθ(−z);
* deep linear networks: the Wishart-chain covariance of the Gram matrix, no 1/n metric or
  NTK-mean shift, and the index-by-index linear reduction of the general-N_D formulas;
* the all-equal-index entries of a two-input run equal the single-input run of that input;
* the tensor symmetries of THEORY-NTK §10, and the theory columns printed in THEORY-NTK §6.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from numpy.polynomial import Polynomial
from scipy import integrate

from ntk_reference import (NAMES, TWO_INDEX, ntk_recursions, reference_for,
                           relu_single_input_exact, scale_invariant_single_input_exact)


# --------------------------------------------------------------------------------------
# the boxed single-input recursions, written independently


def _tanh_derivatives(kmax):
    """σ^{(k)} of tanh as polynomials in t = tanh z: P_{k+1}(t) = P_k'(t)(1 − t²)."""
    polys = [Polynomial([0.0, 1.0])]
    for _ in range(kmax):
        polys.append(polys[-1].deriv() * Polynomial([1.0, 0.0, -1.0]))
    return [lambda z, P=P: P(np.tanh(z)) for P in polys]


def _sin_derivatives(kmax):
    return [lambda z, k=k: np.sin(z + k * math.pi / 2) for k in range(kmax + 1)]


def _gauss(f, K):
    s = math.sqrt(K)
    with warnings.catch_warnings():      # "roundoff detected" at epsrel 1e-13: harmless here
        warnings.simplefilter("ignore", integrate.IntegrationWarning)
        val, _ = integrate.quad(lambda u: f(s * u) * math.exp(-0.5 * u * u) / math.sqrt(2 * math.pi),
                                -np.inf, np.inf, epsabs=1e-15, epsrel=1e-13, limit=400)
    return val


def smooth_moments(derivs):
    """K ↦ the single-input moments of the boxed recursions, from σ's derivatives."""
    d = derivs(5)

    def moments(K):
        E = lambda f: _gauss(f, K)  # noqa: E731
        s0, s1, s2, s3, s4, s5 = d
        return dict(
            g=E(lambda z: s0(z) ** 2),
            g1=E(lambda z: s1(z) ** 2 + s0(z) * s2(z)),                       # ½⟨(σ²)''⟩
            g2=E(lambda z: 0.5 * s0(z) * s4(z) + 2 * s1(z) * s3(z) + 1.5 * s2(z) ** 2),
            h=E(lambda z: s1(z) ** 2),
            h1=E(lambda z: s2(z) ** 2 + s1(z) * s3(z)),
            h2=E(lambda z: 0.5 * s1(z) * s5(z) + 2 * s2(z) * s4(z) + 1.5 * s3(z) ** 2),
            s4=E(lambda z: s0(z) ** 4),
            p2s2=E(lambda z: s1(z) ** 2 * s0(z) ** 2),
            p4=E(lambda z: s1(z) ** 4),
            p2ss2=E(lambda z: s1(z) ** 2 * s0(z) * s2(z)),
        )
    return moments


def scale_invariant_moments(a_plus, a_minus):
    """Exact Gaussian moments of a₊zθ(z) + a₋zθ(−z) (σ'' terms vanish: σ(0) = 0)."""
    A2, A4 = (a_plus**2 + a_minus**2) / 2, (a_plus**4 + a_minus**4) / 2
    return lambda K: dict(g=A2 * K, g1=A2, g2=0.0, h=A2, h1=0.0, h2=0.0, s4=3 * A4 * K**2,
                          p2s2=A4 * K, p4=A4, p2ss2=0.0)


def boxed_single_input(moments, depth, gram, C_b, C_W, lambda_b, lambda_W, ratios=None):
    """THEORY-NTK §3/§4 boxed recursions, §8.2 H^{1}, THEORY.md §3 G^{1}; N_D = 1."""
    par = lambda v: np.broadcast_to(np.asarray(v, float), (depth,))  # noqa: E731
    Cb, CW, lb, lW = par(C_b), par(C_W), par(lambda_b), par(lambda_W)
    r = np.ones(depth) if ratios is None else np.asarray(ratios, float)
    st = dict.fromkeys(NAMES, 0.0)
    st["K"], st["H"] = Cb[0] + CW[0] * gram, lb[0] + lW[0] * gram
    rows = [dict(st)]
    for ell in range(1, depth):
        m = moments(st["K"])
        cw, lw, rr = CW[ell], lW[ell], r[ell]
        K, H, V, G1, A, B, D, F, H1, P, Q = (st[k] for k in NAMES)
        chi_par, chi_perp, dchi_perp = cw * m["g1"], cw * m["h"], cw * m["h1"]
        theta = lw * m["g1"] + cw * m["h1"] * H                # Θ_K = (λ_W/C_W)χ_∥ + Hχ_⊥′
        var_T = (lw**2 * (m["s4"] - m["g"] ** 2) + 2 * lw * cw * H * (m["p2s2"] - m["g"] * m["h"])
                 + cw**2 * H**2 * (m["p4"] - m["h"] ** 2))
        new = dict(
            K=Cb[ell] + cw * m["g"],
            H=lb[ell] + lw * m["g"] + chi_perp * H,
            V=rr * chi_par**2 * V + cw**2 * (m["s4"] - m["g"] ** 2),
            D=rr * (chi_par * chi_perp * D + chi_par * theta * V) + lw * cw * (m["s4"] - m["g"] ** 2)
            + cw**2 * H * (m["p2s2"] - m["h"] * m["g"]),
            F=rr * chi_par**2 * F + cw**2 * H * m["p2s2"],
            B=rr * chi_perp**2 * B + cw**2 * H**2 * m["p4"],
            A=rr * (chi_perp**2 * A + 2 * chi_perp * theta * D + theta**2 * V) + var_T,
            P=rr * (chi_perp * chi_par * P + theta * chi_par * F + chi_perp * (chi_par - chi_perp) * B)
            + lw * cw * H * m["p2s2"] + 2 * cw**2 * H**2 * m["p2ss2"],
            Q=rr * (chi_perp * chi_par * Q + 2 * theta * chi_par * F)
            + 2 * lw * cw * H * m["p2s2"] + 2 * cw**2 * H**2 * m["p2ss2"],
            G1=rr * (chi_par * G1 + 0.5 * cw * m["g2"] * V),
            H1=rr * (chi_perp * H1 + theta * G1 + 0.5 * (lw * m["g2"] + cw * H * m["h2"]) * V
                     + dchi_perp * (D + 2 * F)),
        )
        st = new
        rows.append(dict(st))
    return {k: np.array([row[k] for row in rows]) for k in NAMES}


def _assert_close(got, want, rtol, atol=0.0, names=NAMES):
    for k in names:
        g, w = np.asarray(got[k]).reshape(np.shape(want[k])), np.asarray(want[k])
        scale = max(np.max(np.abs(w)), 1e-300)
        err = np.max(np.abs(g - w)) / scale
        assert err <= rtol or np.max(np.abs(g - w)) <= atol, f"{k}: rel err {err:.2e}\n{g}\n{w}"


# --------------------------------------------------------------------------------------
# single input: Stein reference = boxed recursions


SMOOTH_CASES = [
    # id, derivatives, name, gram, C_b, C_W, λ_b, λ_W, widths
    ("tanh-critical", _tanh_derivatives, "tanh", 1.0, 0.0, 1.0, 0.5, 1.0, None),
    ("tanh-lb0", _tanh_derivatives, "tanh", 1.0, 0.0, 1.0, 0.0, 1.0, None),
    ("tanh-off", _tanh_derivatives, "tanh", 1.0, 0.3, 1.5, 0.5, 1.0, None),
    ("tanh-per-layer-widths", _tanh_derivatives, "tanh", 0.7,
     [0.1, 0.2, 0.0, 0.3, 0.1, 0.2], [1.2, 0.9, 1.4, 1.0, 1.6, 1.1],
     [0.5, 0.1, 0.7, 0.2, 0.0, 0.4], [1.0, 2.0, 0.5, 1.5, 1.0, 0.8], [16, 32, 8, 24, 40]),
    ("sin-off-widths", _sin_derivatives, "sin", 1.3, 0.1, 1.1, 0.3, 0.7, [10, 20, 10, 20, 10]),
]


@pytest.mark.parametrize("case", SMOOTH_CASES, ids=[c[0] for c in SMOOTH_CASES])
def test_single_input_equals_boxed_recursions(case):
    _, derivs, name, gram, Cb, CW, lb, lW, widths = case
    depth = 6
    ratios = None if widths is None else [1, 1] + [widths[i] / widths[i - 1] for i in range(1, depth - 1)]
    want = boxed_single_input(smooth_moments(derivs), depth, gram, Cb, CW, lb, lW, ratios)
    got = ntk_recursions(name, gram, depth, Cb, CW, lb, lW, widths=widths)
    _assert_close(got, want, rtol=1e-9)


# --------------------------------------------------------------------------------------
# scale-invariant closed forms (THEORY-NTK §7)


@pytest.mark.parametrize("slopes", [(1.0, 0.0), (1.0, 0.1), (1.0, -0.5), (2.0, 0.5), (1.0, 1.0)])
@pytest.mark.parametrize("lambda_b", [0.5, 0.0])
def test_scale_invariant_closed_forms_solve_boxed_recursions(slopes, lambda_b):
    a_plus, a_minus = slopes
    A2 = (a_plus**2 + a_minus**2) / 2
    K, lW, depth = 1.7, 0.8, 12
    want = boxed_single_input(scale_invariant_moments(a_plus, a_minus), depth, K * A2, 0.0,
                              1 / A2, lambda_b, lW)
    got = scale_invariant_single_input_exact(depth, K, lambda_b, lW, a_plus, a_minus)
    _assert_close(got, want, rtol=1e-13, atol=1e-12)
    np.testing.assert_allclose(got["Q"], 2 * got["P"], rtol=1e-15)


def test_relu_closed_forms_match_theory_ntk_table():
    """THEORY-NTK §6.2 theory column (C_W = 2, K = 2, λ_b = 0.5, λ_W = 1), layers 2..8."""
    o = {k: v.ravel() for k, v in relu_single_input_exact(8, 2.0, 0.5, 1.0).items()}
    np.testing.assert_allclose(o["V"][1:], [20, 40, 60, 80, 100, 120, 140])
    np.testing.assert_allclose(o["A"][[1, 2, 3, 4, 5, 7]], [10.25, 48.25, 131.5, 277.5, 503.75, 1267],
                               rtol=2e-4)
    np.testing.assert_allclose(o["B"][[1, 2, 3, 4, 5, 7]], [4.5, 22.5, 63, 135, 247.5, 630])
    np.testing.assert_allclose(o["D"][[1, 2, 3, 4, 5, 7]], [13, 39, 78, 130, 195, 364])
    np.testing.assert_allclose(o["F"][[1, 2, 3, 4, 5, 7]], [6, 18, 36, 60, 90, 168])
    np.testing.assert_allclose(o["P"][1:6], [3, 12, 30, 60, 105])
    np.testing.assert_allclose(o["Q"][1:6], [6, 24, 60, 120, 210])
    np.testing.assert_allclose((o["A"] + 2 * o["B"])[[1, 2, 3, 4, 5, 7]],
                               [19.25, 93.25, 257.5, 547.5, 998.75, 2527], rtol=2e-4)


def test_relu_large_depth_coefficients_lambda_b_zero():
    """THEORY-NTK TL;DR: ReLU, λ_b = 0: Var(Ĥ)/H² → 11ℓ/3, A/H² → 7ℓ/3, B/H² → 2ℓ/3."""
    ell = 4000
    o = {k: v.ravel()[-1] for k, v in relu_single_input_exact(ell, 1.3, 0.0, 1.0).items()}
    H2 = o["H"] ** 2
    assert o["A"] / H2 / ell == pytest.approx(7 / 3, rel=1e-3)
    assert o["B"] / H2 / ell == pytest.approx(2 / 3, rel=1e-3)
    assert (o["A"] + 2 * o["B"]) / H2 / ell == pytest.approx(11 / 3, rel=1e-3)


def test_linear_reference_equals_scale_invariant_closed_form():
    """σ = z is the scale-invariant member a₊ = a₋ = 1 (C_W = 1): Stein reference vs §7."""
    for gram in (0.6, 2.5):
        got = ntk_recursions("linear", gram, 7, 0.0, 1.0, 0.3, 1.4)
        want = scale_invariant_single_input_exact(7, gram, 0.3, 1.4, 1.0, 1.0)
        _assert_close(got, want, rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------------------
# deep linear networks, two inputs


GRAM2 = np.array([[1.0, 0.3], [0.3, 0.8]])


def test_linear_vertex_is_the_wishart_chain():
    """C_b = 0: Ĝ^{(ℓ+1)} = (C_W/n_ℓ) ZᵀZ with rows of Z ~ N(0, Ĝ^{(ℓ)}) gives exactly
    Cov(Ĝ'_12, Ĝ'_34) = C_W² Cov(Ĝ_12, Ĝ_34) + (C_W²/n_ℓ) E[Ĝ13Ĝ24 + Ĝ14Ĝ23], hence at 1/n
    V^{(ℓ)}_{(12)(34)} = (K13K24 + K14K23)^{(ℓ)} Σ_{k<ℓ} n_{ℓ−1}/n_k (any C_W, unequal widths)."""
    depth, CW, widths = 6, 1.3, [12, 30, 7, 20, 50]
    o = ntk_recursions("linear", GRAM2, depth, 0.0, CW, 0.2, 0.9, widths=widths)
    for ell in range(1, depth + 1):
        K = o["K"][ell - 1]
        np.testing.assert_allclose(K, CW**ell * GRAM2, rtol=1e-12)
        S = np.einsum("ac,bd->abcd", K, K) + np.einsum("ad,bc->abcd", K, K)
        factor = sum(widths[ell - 2] / widths[k - 1] for k in range(1, ell))
        np.testing.assert_allclose(o["V"][ell - 1], S * factor, rtol=1e-12, atol=1e-13)


def test_linear_has_no_metric_or_ntk_mean_shift():
    """For σ = z, E[zz] = C_b + C_W E[zz] and E[Ĥ'] = λ_b + λ_W E[Ĝ] + C_W E[Ĥ] exactly."""
    par = dict(C_b=[0.2, 0.4, 0.1, 0.0, 0.3], C_W=[1.0, 0.7, 1.3, 1.1, 0.9],
               lambda_b=[0.1, 0.5, 0.0, 0.2, 1.0], lambda_W=[1.0, 0.4, 2.0, 0.6, 1.2])
    for gram in (0.9, GRAM2):
        o = ntk_recursions("linear", gram, 5, widths=[5, 9, 4, 11], **par)
        assert np.max(np.abs(o["G1"])) < 1e-12 and np.max(np.abs(o["H1"])) < 1e-12
        assert np.max(np.abs(o["V"][-1])) > 0.1


def test_linear_two_inputs_equals_hand_reduced_recursions():
    """σ = z: ⟨∂_β z_a⟩ = δ_{βa}, so every contraction of §3/§4 is an index substitution:
    V' = C_W²(S + rV), D' = λ_WC_W(S + rV) + rC_W²D, F'_{1324} = C_W²(H12K34 + rF_{1324}),
    B'_{1324} = C_W²(H12H34 + rB), A' = λ_W²(S + rV) + r(λ_WC_W(D_{1234} + D_{3412}) + C_W²A),
    P'_{0123} = λ_WC_W H12K03 + r(λ_WC_W F_{1023} + C_W²P),
    Q'_{0123} = λ_WC_W(H01K23 + H02K13) + r(λ_WC_W(F_{0312} + F_{0321}) + C_W²Q),
    with S_{1234} = K13K24 + K14K23 (hyperparameters of layer ℓ+1, K, H of layer ℓ)."""
    depth = 6
    Cb, CW = [0.1, 0.3, 0.0, 0.2, 0.4, 0.1], [1.1, 0.8, 1.2, 0.9, 1.0, 1.3]
    lb, lW = [0.2, 0.0, 0.6, 0.1, 0.3, 0.5], [0.7, 1.3, 0.5, 1.1, 0.9, 1.0]
    widths = [10, 25, 5, 40, 12]
    o = ntk_recursions("linear", GRAM2, depth, Cb, CW, lb, lW, widths=widths)
    z4 = np.zeros((2,) * 4)
    K, H = Cb[0] + CW[0] * GRAM2, lb[0] + lW[0] * GRAM2
    V, D, F, B, A, P, Q = (z4,) * 7
    for ell in range(1, depth):
        cw, lw = CW[ell], lW[ell]
        r = 1.0 if ell == 1 else widths[ell - 1] / widths[ell - 2]
        S = np.einsum("ac,bd->abcd", K, K) + np.einsum("ad,bc->abcd", K, K)
        V, D, F, B, A, P, Q = (
            cw**2 * (S + r * V),
            lw * cw * (S + r * V) + r * cw**2 * D,
            cw**2 * (np.einsum("ab,cd->acbd", H, K) + r * F),
            cw**2 * (np.einsum("ab,cd->acbd", H, H) + r * B),
            lw**2 * (S + r * V) + r * (lw * cw * (D + D.transpose(2, 3, 0, 1)) + cw**2 * A),
            lw * cw * np.einsum("yz,xw->xyzw", H, K)
            + r * (lw * cw * np.einsum("yxzw->xyzw", F) + cw**2 * P),
            lw * cw * (np.einsum("xy,zw->xyzw", H, K) + np.einsum("xz,yw->xyzw", H, K))
            + r * (lw * cw * (np.einsum("xwyz->xyzw", F) + np.einsum("xwzy->xyzw", F)) + cw**2 * Q),
        )
        K, H = Cb[ell] + cw * K, lb[ell] + lw * K + cw * H
        for name, want in zip("KHVDFBAPQ", (K, H, V, D, F, B, A, P, Q)):
            np.testing.assert_allclose(o[name][ell], want, rtol=1e-11, atol=1e-12,
                                       err_msg=f"{name} at layer {ell + 1}")


# --------------------------------------------------------------------------------------
# two inputs: reductions and symmetries


TWO_INPUT_CASES = [
    ("tanh", [[1.0, 0.45], [0.45, 0.7]], 0.3, 1.5, 0.5, 1.0, [16, 32, 16, 32, 16]),
    ("erf", [[0.9, -0.3], [-0.3, 1.2]], 0.0, math.pi / 4, 0.2, 1.0, None),
    ("gelu", [[1.0, 0.8], [0.8, 1.1]], 0.172922, 1.983058, 0.0, 1.0, None),
]


@pytest.fixture(scope="module", params=TWO_INPUT_CASES, ids=[c[0] for c in TWO_INPUT_CASES])
def two_input_run(request):
    name, gram, Cb, CW, lb, lW, widths = request.param
    gram = np.array(gram)
    two = ntk_recursions(name, gram, 6, Cb, CW, lb, lW, widths=widths)
    singles = [ntk_recursions(name, gram[a, a], 6, Cb, CW, lb, lW, widths=widths) for a in (0, 1)]
    return two, singles


def test_all_equal_indices_are_the_single_input_values(two_input_run):
    """The network restricted to input a is the single-input network of input a."""
    two, singles = two_input_run
    for a in (0, 1):
        for k in NAMES:
            idx = (slice(None),) + (a,) * (2 if k in TWO_INDEX else 4)
            want = singles[a][k].reshape(two[k][idx].shape)
            np.testing.assert_allclose(two[k][idx], want, rtol=1e-10, atol=1e-13, err_msg=f"{k}[{a}...]")


def test_two_input_tensor_symmetries(two_input_run):
    two, _ = two_input_run
    t = lambda x, *axes: np.transpose(x, (0,) + tuple(a + 1 for a in axes))  # noqa: E731
    close = lambda x, y: np.testing.assert_allclose(x, y, rtol=1e-10, atol=1e-13)  # noqa: E731
    for k in TWO_INDEX:
        close(two[k], t(two[k], 1, 0))
    for k in ("V", "A"):                       # (12), (34), (12) ↔ (34)
        close(two[k], t(two[k], 1, 0, 2, 3))
        close(two[k], t(two[k], 2, 3, 0, 1))
    close(two["D"], t(two["D"], 1, 0, 2, 3))    # D: (12) and (34) only
    close(two["D"], t(two["D"], 0, 1, 3, 2))
    for k in ("F", "B"):                       # F_{1324} = F_{2413}
        close(two[k], t(two[k], 2, 3, 0, 1))
    close(two["B"], t(two["B"], 1, 0, 3, 2))    # B_{1324} = B_{3142} (swap the two Ĥ's)
    close(two["Q"], t(two["Q"], 0, 2, 1, 3))    # Q_{0123} = Q_{0213}


def test_identical_inputs_are_deduplicated():
    two = ntk_recursions("tanh", [[0.8, 0.8], [0.8, 0.8]], 5, 0.1, 1.3, 0.4, 1.0)
    one = ntk_recursions("tanh", 0.8, 5, 0.1, 1.3, 0.4, 1.0)
    for k in NAMES:
        np.testing.assert_array_equal(two[k], np.broadcast_to(one[k], two[k].shape))
    with pytest.raises(ValueError, match="singular"):
        ntk_recursions("tanh", [[1.0, -1.0], [-1.0, 1.0]], 3, 0.0, 1.0, 0.4, 1.0)


def test_nearly_identical_inputs_approach_the_coincident_limit():
    """Continuity through the de-duplication: with x·x' = (1 − ε)|x|² every quantity moves
    by O(ε) from the coincident-input values (Stein with cond(K) ~ 1/ε still works at
    ε = 1e-4; it degrades near ε ~ 1e-6, where G1 has lost ~4 digits)."""
    run = lambda eps: ntk_recursions("tanh", [[1.0, 1.0 - eps], [1.0 - eps, 1.0]], 5,  # noqa: E731
                                     0.1, 1.3, 0.4, 1.0)
    same, a, b = run(0.0), run(1e-3), run(1e-4)
    for k in NAMES:
        da, db = np.max(np.abs(a[k] - same[k])), np.max(np.abs(b[k] - same[k]))
        assert 0 < db and 8 < da / db < 12, (k, da, db)


# --------------------------------------------------------------------------------------
# THEORY-NTK §6 theory columns (printed to 4 significant digits)


def test_matches_theory_ntk_tables():
    o = ntk_recursions("tanh", 1.0, 8, 0.0, 1.0, 0.5, 1.0)             # §6.1
    rows = {"V": [0.09752, 0.06781, 0.05015, 0.03231, 0.02364],
            "A": [0.05648, 0.1344, 0.2739, 0.8298, 1.906],
            "B": [0.7684, 1.575, 2.654, 6.005, 11.45],
            "D": [-0.06457, -0.08672, -0.1059, -0.1438, -0.1825],
            "F": [0.1126, 0.1448, 0.1692, 0.2153, 0.2615]}
    for k, want in rows.items():
        np.testing.assert_allclose(o[k].ravel()[[1, 2, 3, 5, 7]], want, rtol=6e-4, err_msg=k)
    np.testing.assert_allclose(o["G1"].ravel()[[2, 3, 5, 7]], [-0.03093, -0.05268, -0.07986, -0.09618],
                               rtol=6e-4)
    np.testing.assert_allclose(o["H1"].ravel()[[2, 3, 5, 7]], [-0.02406, -0.04806, -0.07603, -0.06464],
                               rtol=6e-4)
    np.testing.assert_allclose(o["P"].ravel()[1:6], [-0.318, -0.6621, -1.1, -1.671, -2.403], rtol=6e-4)
    np.testing.assert_allclose(o["Q"].ravel()[1:6], [-0.2054, -0.3976, -0.6796, -1.081, -1.625],
                               rtol=6e-4)
    o = ntk_recursions("tanh", 1.0, 8, 0.0, 1.0, 0.0, 1.0)             # §6.1, λ_b = 0
    np.testing.assert_allclose(o["A"].ravel()[[1, 2, 3, 5, 7]],
                               [0.007242, 0.00615, 0.005246, 0.004552, 0.004504], rtol=6e-4)
    np.testing.assert_allclose(o["H1"].ravel()[[2, 3, 5, 7]], [-0.05189, -0.1227, -0.294, -0.4878],
                               rtol=6e-4)
    o = ntk_recursions("tanh", [[1, .5], [.5, 1]], 6, 0.0, 1.0, 0.5, 1.0)   # §6.3
    rows = {("V", 0, 1, 0, 1): [0.1386, 0.09676, 0.07126, 0.04543],
            ("V", 0, 0, 1, 1): [0.01787, 0.01311, 0.009869, 0.006417],
            ("A", 0, 1, 0, 1): [0.1195, 0.2279, 0.349, 0.6988],
            ("A", 0, 0, 1, 1): [0.004659, 0.01822, 0.0448, 0.154],
            ("D", 0, 1, 0, 1): [0.08628, 0.08169, 0.06836, 0.03934],
            ("D", 0, 0, 1, 1): [-0.008927, -0.01475, -0.01943, -0.02781],
            ("D", 1, 1, 0, 0): [-0.008927, -0.01475, -0.01943, -0.02781],
            ("B", 0, 0, 1, 1): [0.2336, 0.5779, 1.143, 3.222],
            ("B", 0, 1, 0, 1): [0.5256, 1.251, 2.268, 5.492],
            ("B", 0, 1, 1, 0): [0.2336, 0.5656, 1.115, 3.153],
            ("F", 0, 0, 1, 1): [0.01934, 0.03402, 0.04616, 0.06847],
            ("F", 0, 1, 0, 1): [0.2479, 0.3019, 0.3381, 0.4052],
            ("F", 0, 1, 1, 0): [0.01934, 0.02696, 0.03487, 0.05173]}
    for (k, *idx), want in rows.items():
        np.testing.assert_allclose(o[k][(np.array([1, 2, 3, 5]), *idx)], want, rtol=6e-4,
                                   err_msg=f"{k}{idx}")


# --------------------------------------------------------------------------------------
# quadrature accuracy and the activation table


def test_quadrature_is_converged():
    """221 trapezoid nodes vs 301: ≤ 1e-10 relative even at the SWISH critical point (K* ≈ 14.3)."""
    cases = [("swish", (14.320089 - 0.555143) / 1.988005, 0.555143, 1.988005),
             ("gelu", [[1.7, 1.2], [1.2, 1.9]], 0.172922, 1.983058)]
    for name, gram, Cb, CW in cases:
        a = ntk_recursions(name, gram, 5, Cb, CW, 0.5, 1.0)
        b = ntk_recursions(name, gram, 5, Cb, CW, 0.5, 1.0, order=301)
        _assert_close(a, {k: b[k] for k in NAMES}, rtol=1e-10)


@pytest.mark.parametrize("name", ["tanh", "erf", "gelu", "swish", "sin", "linear"])
def test_reference_activation_derivatives(name):
    sig, d1, d2 = reference_for(name)
    z = np.linspace(-4, 4, 41)
    h = 1e-5
    np.testing.assert_allclose(d1(z), (sig(z + h) - sig(z - h)) / (2 * h), atol=1e-8)
    np.testing.assert_allclose(d2(z), (d1(z + h) - d1(z - h)) / (2 * h), atol=1e-8)
