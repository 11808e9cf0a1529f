"""Universality reports of every named activation against independent references.

References: numeric iteration of the exact single-input recursions with a quadrature
written here (not the engine's), mpmath root finding for K* > 0, the deep-linear
exact product, and THEORY.md §5 known values.
"""

import json
import subprocess
import sys

import mpmath
import numpy as np
import pytest
import sympy as sp

from derive import activation, classify
from derive.symbols import K, ell, n

from references import mp_gauss

# -- an independent quadrature for iterating the recursions: Gauss–Legendre on
#    [-14, 0] and [0, 14] in u = z/√K (split at the kink), 200 nodes each.
_x, _w = np.polynomial.legendre.leggauss(200)
_U = np.concatenate([(_x - 1) * 7, (_x + 1) * 7])
_W = np.concatenate([_w, _w]) * 7 * np.exp(-_U**2 / 2) / np.sqrt(2 * np.pi)


def gauss(f, k):
    return f(np.sqrt(k) * _U) @ _W


def iterate(name, depth, K0, C_W, C_b=0.0, **params):
    """K, V (single input, equal widths) and δδK ratios by direct iteration (THEORY.md §3–4)."""
    act = activation(name, **params)
    s, d1, d2 = act.numpy_function(), act.numpy_derivative(1), act.numpy_derivative(2)
    Ks, Vs, perp = [K0], [0.0], [1.0]
    k, v, dd = K0, 0.0, 1.0
    for _ in range(depth - 1):
        g, quartic = gauss(lambda x: s(x) ** 2, k), gauss(lambda x: s(x) ** 4, k)
        chi_par = C_W * gauss(lambda x: d1(x) ** 2 + s(x) * d2(x), k)
        chi_perp = C_W * gauss(lambda x: d1(x) ** 2, k)
        k, v, dd = C_b + C_W * g, C_W**2 * (quartic - g**2) + chi_par**2 * v, chi_perp * dd
        Ks.append(k), Vs.append(v), perp.append(dd)
    return np.array(Ks), np.array(Vs), np.array(perp)


def local_exponent(values, l1, l2):
    return np.log(values[l2 - 1] / values[l1 - 1]) / np.log(l2 / l1)


def law(rep, key):
    return dict(rep.asymptotics)[key]


# ---------------------------------------------------------------------------------
# scale-invariant class
# ---------------------------------------------------------------------------------

def test_relu_exact_vertex_matches_iteration():
    rep = classify("relu")
    assert rep.universality_class == "scale-invariant"
    (point,) = rep.critical_points
    assert (point.C_b, point.C_W) == (0, 2)
    assert sp.simplify(law(rep, "V/(n K^2)") - 5 * (ell - 1) / n) == 0
    Ks, Vs, _ = iterate("relu", 12, 0.7, 2.0)
    np.testing.assert_allclose(Ks, 0.7, rtol=1e-13)
    np.testing.assert_allclose(Vs / Ks**2, 5 * np.arange(12), rtol=1e-12, atol=1e-12)


def test_linear_vertex_is_first_order_of_exact_deep_linear_product():
    """E[z⁴]/(3E[z²]²) = Π_{l'<l}(1 + 2/n) = 1 + V/(nK²) + O(1/n²) (THEORY.md §5)."""
    rep = classify("linear")
    eps = sp.Symbol("eps")  # 1/n
    exact = (1 + 2 * eps) ** (ell - 1)
    first_order = sp.diff(exact, eps).subs(eps, 0)
    assert sp.simplify(law(rep, "V/(n K^2)") * n - first_order) == 0
    assert rep.critical_points[0].C_W == 1


def test_leaky_relu_symbolic_criticality():
    rep = classify("leaky_relu")
    a = activation("leaky_relu").free_parameters[0]
    assert sp.simplify(rep.critical_points[0].C_W - 2 / (1 + a**2)) == 0
    vertex = law(rep, "V/(n K^2)")
    assert sp.simplify(vertex.subs(a, 0) - 5 * (ell - 1) / n) == 0      # ReLU
    assert sp.simplify(vertex.subs(a, 1) - 2 * (ell - 1) / n) == 0      # linear
    bound = classify("leaky_relu", a=0.1)
    Ks, Vs, _ = iterate("leaky_relu", 6, 1.3, float(bound.critical_points[0].C_W), a=0.1)
    coefficient = float(sp.limit(law(bound, "V/(n K^2)") * n / (ell - 1), ell, sp.oo))
    np.testing.assert_allclose(Vs[1:] / Ks[1:] ** 2 / np.arange(1, 6), coefficient, rtol=1e-10)


# ---------------------------------------------------------------------------------
# K* = 0 class (and its a_1 = 0 and kinked variants)
# ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name, a1, cw", [("tanh", -2, 1), ("sin", -1, 1), ("erf", -2, sp.pi / 4)])
def test_k_star_zero_class_laws_match_iteration(name, a1, cw):
    rep = classify(name)
    assert rep.universality_class == "K*=0"
    taylor = dict(rep.taylor)
    assert taylor["a_1"] == a1 and taylor["b_1"] == a1            # THEORY.md §5: a_1 = b_1 for these
    point = rep.critical_points[0]
    assert (point.C_b, point.K_star) == (0, 0) and sp.simplify(point.C_W - cw) == 0
    assert sp.simplify(law(rep, "K") - 1 / (-a1 * ell)) == 0
    assert sp.simplify(law(rep, "V/(n K^2)") - sp.Rational(2, 3) * ell / n) == 0
    assert dict(rep.exponents)["p_perp"] == 1                       # p_⊥ = b_1/a_1
    Ks, Vs, dd = iterate(name, 4000, 1.0, float(cw))
    # corrections are O(log ℓ / ℓ): 2 % at ℓ = 4000
    assert Ks[-1] * 4000 * (-a1) == pytest.approx(1, rel=0.02)
    assert Vs[-1] / Ks[-1] ** 2 / 4000 == pytest.approx(2 / 3, rel=0.03)
    assert local_exponent(dd, 2000, 4000) == pytest.approx(-1, abs=0.03)


def test_a1_zero_activation_goes_to_next_order():
    """σ = z − z⁵: a_1 = 0, K' = K − 30K³ ⇒ K ≈ (60ℓ)^{-1/2}, a new exponent."""
    rep = classify("z - z**5")
    assert rep.universality_class == "K*=0 (p=1/2)"
    assert dict(rep.taylor)["a_1"] == 0
    assert sp.simplify(law(rep, "K") - 1 / sp.sqrt(60 * ell)) == 0
    assert dict(rep.exponents)["p_perp"] == sp.Rational(1, 2)
    assert sp.simplify(law(rep, "V") - sp.Rational(1, 90)) == 0
    Ks, Vs, dd = iterate("z - z**5", 20000, 0.02, 1.0)
    assert Ks[-1] * np.sqrt(60 * 20000) == pytest.approx(1, rel=0.03)
    assert Vs[-1] == pytest.approx(1 / 90, rel=0.05)
    assert local_exponent(dd, 10000, 20000) == pytest.approx(-0.5, abs=0.03)


def test_elu_kink_gives_half_integer_series_and_new_exponent():
    rep = classify("elu")
    assert rep.universality_class == "K*=0 (p=2)"
    assert sp.simplify(law(rep, "K") - 2 * sp.pi / ell**2) == 0
    Ks, Vs, dd = iterate("elu", 3000, 0.5, 1.0)
    assert Ks[-1] * 3000**2 / (2 * np.pi) == pytest.approx(1, rel=0.05)
    assert Vs[-1] / Ks[-1] ** 2 / 3000 == pytest.approx(2 / 3, rel=0.05)


def test_taylor_formula_and_series_derivation_agree():
    """a_1 from σ_p (THEORY.md formula) equals the K² coefficient derived from ⟨σ²⟩ series."""
    from derive.criticality import critical_points
    for name in ("tanh", "sin", "erf", "gelu", "swish"):
        rep = classify(name)
        zero = [f for p, f in critical_points(activation(name)) if p.K_star == 0][0]
        lead_c, lead_power = zero.increment[0]
        assert lead_power == 2 and sp.simplify(lead_c - dict(rep.taylor)["a_1"]) == 0


# ---------------------------------------------------------------------------------
# half-stable class: independent mpmath solution
# ---------------------------------------------------------------------------------

def _mp_critical_point(name):
    act = activation(name)
    f = sp.lambdify(sp.Symbol("z", real=True), act.bound_expr, "mpmath")
    d1 = sp.lambdify(sp.Symbol("z", real=True), act.derivative(1), "mpmath")
    d2 = sp.lambdify(sp.Symbol("z", real=True), act.derivative(2), "mpmath")
    with mpmath.workdps(25):
        h = lambda k: mp_gauss(lambda x: f(x) * d2(x), k, dps=25, points=())  # noqa: E731
        k_star = mpmath.findroot(h, float(classify(name).critical_points[1].K_star) * 1.001, tol=1e-22)
        cw = 1 / mp_gauss(lambda x: d1(x) ** 2, k_star, dps=25, points=())
        cb = k_star - cw * mp_gauss(lambda x: f(x) ** 2, k_star, dps=25, points=())
    return float(cb), float(cw), float(k_star)


@pytest.mark.parametrize("name, theory", [
    ("gelu", (0.172922, 1.983058, 3.561553)),
    ("swish", (0.555143, 1.988005, None)),   # THEORY.md's K* = 14.320089 is off (see note below)
])
def test_half_stable_points_match_mpmath_and_theory(name, theory):
    rep = classify(name)
    assert rep.universality_class == "half-stable"
    unstable, point = rep.critical_points
    assert unstable.K_star == 0 and unstable.stability.startswith("unstable")
    assert point.stability.startswith("half-stable")
    ref = _mp_critical_point(name)
    got = (float(point.C_b), float(point.C_W), float(point.K_star))
    np.testing.assert_allclose(got, ref, rtol=1e-9)
    for value, known in zip(got, theory):
        if known is not None:
            assert value == pytest.approx(known, abs=2e-6)
    # stability side by finite differences of the kernel map, independent of g'' identities
    act = activation(name)
    s = act.numpy_function()
    step = 1e-2 * ref[2]
    moves = [ref[0] + ref[1] * gauss(lambda x: s(x) ** 2, ref[2] + d) - (ref[2] + d) for d in (-step, step)]
    assert np.sign(moves[0]) == np.sign(moves[1])          # same sign on both sides: half-stable
    attracts_from_above = moves[1] < 0
    assert point.stability.endswith("above)" if attracts_from_above else "below)")


# ---------------------------------------------------------------------------------
# no criticality
# ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name, sign", [("sigmoid", -1), ("softplus", +1), ("exp", +1)])
def test_sigma0_nonzero_cannot_be_critical(name, sign):
    rep = classify(name)
    assert rep.universality_class == "none" and rep.critical_points == ()
    assert "σ(0)" in rep.notes[0] and "χ_∥ ≠ χ_⊥" in rep.notes[0]
    act = activation(name)
    f = sp.lambdify(sp.Symbol("z", real=True), act.bound_expr * act.derivative(2), "mpmath")
    for k in ("0.01", "1", "30"):
        assert mpmath.sign(mp_gauss(f, k, dps=20, points=())) == sign


def test_gaussian_growth_reports_where_the_kernel_map_diverges():
    """⟨e^{2z²}⟩_K = (1 − 4K)^{-1/2}: infinite from K = 1/4 on (exact)."""
    rep = classify("exp(z**2)")
    assert rep.universality_class == "none"
    assert any("diverges for K ≥ 0.25" in note for note in rep.notes)
    assert any("every K > 0" in note for note in classify("exp(exp(z))").notes)
    assert not any("diverges" in note for note in classify("tanh").notes)


def test_unstable_zero_point_is_explained():
    rep = classify("z + z**3")          # a_1 = 6 > 0: K = 0 repels
    assert rep.universality_class == "none"
    assert any("K* = 0 is unstable" in note for note in rep.notes)


def test_step_cannot_be_critical():
    rep = classify("step")
    assert rep.universality_class == "none"
    assert "diverges" in rep.notes[0]


# ---------------------------------------------------------------------------------
# export
# ---------------------------------------------------------------------------------

RELU_LATEX = r"""\begin{align*}
\sigma(z) &= z \theta\left(z\right) \\
\text{class} &: \text{scale-invariant} \\
\chi_\parallel(K) &= \frac{C_{W}}{2} \\
\chi_\perp(K) &= \frac{C_{W}}{2} \\
\text{critical point 1} &: C_b = 0,\ C_W = 2,\ K^\star = K\ \text{(marginal (every K is a fixed point))} \\
\sigma_{0} &= 0 \\
\sigma_{1} &= \left( 1, \  0\right) \\
\sigma_{2} &= 0 \\
\sigma_{3} &= 0 \\
\sigma_{4} &= 0 \\
\sigma_{5} &= 0 \\
p_K &= 0 \\
p_\perp &= 0 \\
q_V &= 1 \\
K^{(\ell)} &\simeq K \\
\delta\delta K^{(\ell)} &\simeq A_{perp} \\
V^{(\ell)} &\simeq 5 K^{2} \left(\ell - 1\right) \\
V^{(\ell)} / \left(n\, (K^{(\ell)})^2\right) &\simeq \frac{5 \left(\ell - 1\right)}{n} \\
H^{(\ell)} &\simeq \frac{\ell \left(K \lambda_{W} + 2 \lambda_{b}\right)}{2} \\
\frac{A}{nH^2} &\simeq \frac{\ell \left(5 \rho^{2} + \rho + 1\right)}{3 n} \\
\frac{B}{nH^2} &\simeq \frac{2 \ell}{3 n} \\
\frac{\mathrm{Var}(\hat H)}{H^2} &\simeq \frac{\ell \left(5 \rho^{2} + \rho + 5\right)}{3 n} \\
\frac{D}{nKH} &\simeq \frac{\ell \left(5 \rho + 1\right)}{2 n} \\
\frac{F}{nKH} &\simeq \frac{\ell}{n} \\
\frac{P}{nH^2} &\simeq \frac{\ell \rho}{3 n} \\
\frac{Q}{nH^2} &\simeq \frac{2 \ell \rho}{3 n} \\
\frac{H^{\{1\}}}{nH} &\simeq 0
\end{align*}
"""


def test_relu_latex_golden():
    assert classify("relu").to_latex() == RELU_LATEX


def test_latex_is_deterministic_across_hash_seeds():
    code = "from derive import classify; print(classify('tanh').to_latex()); print(classify('gelu').to_json())"
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={"PYTHONHASHSEED": seed, "PATH": ""}).stdout for seed in ("0", "4242")}
    assert len(outs) == 1


def test_json_round_trip_and_repr_latex():
    rep = classify("tanh")
    data = json.loads(rep.to_json())
    assert data["universality_class"] == "K*=0" and data["exponents"]["p_K"] == 1
    assert data["asymptotics"]["V/(n K^2)"] == "2*ell/(3*n)"
    assert rep._repr_latex_().startswith("$\\displaystyle")
    assert "K*=0" in str(rep)
