"""Activations a user would try (issue #14 part 2): one classification test each.

Every expected value is recomputed here independently of the engine: Gaussian
expectations by ``scipy.integrate.quad`` split at the kinks (or mpmath), σ and its
derivatives written directly in numpy / as separate sympy expressions, Taylor
coefficients by sympy series of those expressions, and the kernel flow
F(K) = C_b + C_W⟨σ²⟩_K − K evaluated at small K to read off its leading power.
Inputs that have no answer must end in one RGFlowError (one CLI line), quickly.
"""

import math
import subprocess
import sys
import time

import mpmath
import numpy as np
import pytest
import scipy.integrate
import sympy as sp

from derive import activation, classify
from derive.criticality import numeric_susceptibilities
from derive.errors import RGFlowError
from derive.symbols import ell

x = sp.Symbol("x", real=True)


def gauss(f, K, points=()):
    """⟨f(z)⟩_K by adaptive quadrature, split at ``points`` (kinks of f)."""
    s = math.sqrt(K)
    cuts = [-14.0] + sorted(p / s for p in points) + [14.0]   # tails beyond 14 sd: < 1e-44
    g = lambda u: f(s * u) * math.exp(-u * u / 2) / math.sqrt(2 * math.pi)  # noqa: E731
    return sum(scipy.integrate.quad(g, a, b, limit=400, epsabs=1e-15, epsrel=1e-13)[0]
               for a, b in zip(cuts[:-1], cuts[1:]))


def flow(f, K, C_W, C_b=0.0, points=()):
    """F(K) = K' − K of the single-input kernel recursion (THEORY.md §4)."""
    return C_b + C_W * gauss(lambda t: f(t) ** 2, K, points) - K


def leading_power(f, C_W, Ks, points=()):
    """(c, p) of F(K) ≈ c·K^p from two small K (local log-slope)."""
    F = [flow(f, k, C_W, points=points) for k in Ks]
    p = math.log(F[1] / F[0]) / math.log(Ks[1] / Ks[0])
    return F[1] / Ks[1] ** p, p


def three_halves(f, C_W):
    """c of F(K) = c K^{3/2} + d K² + …: F/K^{3/2} at K and 4K, extrapolated in √K."""
    r1, r2 = (flow(f, k, C_W, points=(0,)) / k**1.5 for k in (1e-6, 4e-6))
    return 2 * r1 - r2


def law(rep, key):
    return dict(rep.asymptotics)[key]


def smooth_checks(expr, rep):
    """σ_1, σ_3 and a_1 of a smooth odd-ish σ against sympy series of ``expr`` (in x)."""
    series = sp.series(expr, x, 0, 5).removeO()
    s1, s2, s3 = (series.coeff(x, p) * sp.factorial(p) for p in (1, 2, 3))
    taylor = dict(rep.taylor)
    assert sp.simplify(taylor["sigma_1"] - s1) == 0 and sp.simplify(taylor["sigma_3"] - s3) == 0
    a1 = s3 / s1 + sp.Rational(3, 4) * (s2 / s1) ** 2
    assert sp.simplify(taylor["a_1"] - a1) == 0
    return s1, a1


# ---------------------------------------------------------------------------------
# K* = 0 with a kink at 0: softsign, tanh/(1+|z|), SELU, CELU
# ---------------------------------------------------------------------------------

@pytest.mark.parametrize("text, f", [
    ("z/(1+abs(z))", lambda t: t / (1 + abs(t))),
    ("tanh(z)/(1+abs(z))", lambda t: np.tanh(t) / (1 + abs(t))),
])
def test_softsign_family_is_k_star_zero_with_half_integer_flow(text, f):
    """σ = z − z|z| + …: ⟨σ²⟩ = K − c K^{3/2} + …, so K' − K ∝ −K^{3/2} and K ≈ 4/(c²ℓ²)."""
    rep = classify(activation(text))
    assert rep.universality_class == "K*=0 (p=2)"
    point = rep.critical_points[0]
    assert (point.C_b, point.C_W, point.K_star) == (0, 1, 0)
    assert point.stability.startswith("stable")
    # independent: χ_⊥ → 1 at small K with C_W = 1 (σ'(0) = 1 from both sides)
    d1 = lambda t: (f(t + 1e-6) - f(t - 1e-6)) / 2e-6  # noqa: E731
    assert gauss(lambda t: d1(t) ** 2, 1e-4, (0,)) == pytest.approx(1, abs=0.05)
    c, p = leading_power(f, 1.0, (1e-5, 4e-5), (0,))
    assert p == pytest.approx(1.5, abs=0.02) and c < 0
    assert float(law(rep, "K") * ell**2) == pytest.approx(4 / three_halves(f, 1.0) ** 2, rel=0.01)


def test_softsign_leading_coefficient_is_exact():
    """softsign: σ² = z² − 2z²|z| + …, ⟨σ²⟩ = K − 4√(2/π) K^{3/2}: A = 4/c² = π/8."""
    assert sp.simplify(law(classify("z/(1+abs(z))"), "K") - sp.pi / (8 * ell**2)) == 0


@pytest.mark.parametrize("text, values, lam, alpha", [
    ("1.0507*(relu(z) + 1.67326*(exp(z)-1)*step(-z))", {}, 1.0507, 1.67326),
    ("lam*(relu(z) + alpha*(exp(z)-1)*step(-z))", {"lam": 1.0507, "alpha": 1.67326}, 1.0507, 1.67326),
])
def test_selu_is_k_star_zero_with_one_sided_slopes(text, values, lam, alpha):
    rep = classify(activation(text, **values))
    assert rep.universality_class == "K*=0 (p=2)"
    point = rep.critical_points[0]
    cw = 2 / (lam**2 * (1 + alpha**2))            # 1/A_2 of the one-sided slopes λ, λα
    assert (point.C_b, point.K_star) == (0, 0) and float(point.C_W) == pytest.approx(cw, rel=1e-12)
    f = lambda t: lam * (t if t > 0 else alpha * math.expm1(t))  # noqa: E731
    c, p = leading_power(f, cw, (1e-5, 4e-5), (0,))
    assert p == pytest.approx(1.5, abs=0.02) and c < 0 and point.stability.startswith("stable")


@pytest.mark.parametrize("a", [1, 2])
def test_celu_matches_elu_form(a):
    """CELU max(0,z) + min(0, a(e^{z/a} − 1)): σ' continuous, σ'' jumps; a = 1 is ELU."""
    rep = classify(activation("max(0,z)+min(0,a*(exp(z/a)-1))", a=a))
    assert rep.universality_class == "K*=0 (p=2)"
    point = rep.critical_points[0]
    assert (point.C_b, point.C_W, point.K_star) == (0, 1, 0)
    f = lambda t: max(t, 0.0) + min(0.0, a * math.expm1(t / a))  # noqa: E731
    c, p = leading_power(f, 1.0, (1e-5, 4e-5), (0,))
    assert p == pytest.approx(1.5, abs=0.02) and c < 0
    assert float(law(rep, "K") * ell**2) == pytest.approx(4 / three_halves(f, 1.0) ** 2, rel=0.01)
    if a == 1:
        assert sp.simplify(law(rep, "K") - law(classify("elu"), "K")) == 0


# ---------------------------------------------------------------------------------
# clipped activations: hard-tanh, hard-sigmoid
# ---------------------------------------------------------------------------------

def hard_tanh(t):
    return min(max(t, -1.0), 1.0)


def test_hard_tanh_is_critical_at_zero_with_logarithmic_flow():
    rep = classify("min(max(z,-1),1)")
    assert rep.universality_class == "K*=0 (logarithmic)"
    (point,) = rep.critical_points
    assert (point.C_b, point.C_W, point.K_star) == (0, 1, 0) and point.stability.startswith("stable")
    taylor = dict(rep.taylor)
    assert (taylor["sigma_0"], taylor["sigma_1"], taylor["sigma_3"]) == (0, 1, 0)
    assert sp.simplify(law(rep, "K") - 1 / (2 * sp.log(ell))) == 0
    # no Dirac delta in σ': a box 1_{|z|<1}
    act = activation("min(max(z,-1),1)")
    assert not act.derivative(1).has(sp.DiracDelta)
    # χ_⊥ = P(|z| < 1), χ_∥ = g'(K) against quadrature, at C_W = 1
    par, perp = numeric_susceptibilities(act)
    for K in (0.05, 0.5, 2.0):
        g = lambda k: gauss(lambda t: hard_tanh(t) ** 2, k, (-1, 1))  # noqa: E731
        h = 1e-4 * K
        assert float(perp(K)[0]) == pytest.approx(math.erf(1 / math.sqrt(2 * K)), rel=1e-10)
        assert float(par(K)[0]) == pytest.approx((g(K + h) - g(K - h)) / (2 * h), rel=1e-6)
        assert flow(hard_tanh, K, 1.0, points=(-1, 1)) < 0            # K = 0 attracts
    # K − K' = 2⟨(z² − 1)Θ(z − 1)⟩ ∝ e^{−a/K}: a = −lim K log(K − K') = 1/2 (mpmath)
    with mpmath.workdps(40):
        for K, tol in ((mpmath.mpf("0.004"), 0.04), (mpmath.mpf("0.002"), 0.02)):
            s = mpmath.sqrt(K)
            drop = 2 * mpmath.quad(lambda u: ((s * u) ** 2 - 1) * mpmath.npdf(u), [1 / s, mpmath.inf])
            assert float(-K * mpmath.log(drop)) == pytest.approx(0.5, abs=tol)


@pytest.mark.parametrize("text", ["min(max(z/6+1/2,0),1)", "max(0,min(1,(z+3)/6))"])
def test_hard_sigmoid_cannot_be_critical(text):
    rep = classify(text)
    assert rep.universality_class == "none" and rep.critical_points == ()
    assert "σ(0) = 1/2" in rep.notes[0] and "χ_∥ ≠ χ_⊥" in rep.notes[0]
    act = activation(text)
    assert sp.simplify(act.derivative(1) - activation("max(0,min(1,(z+3)/6))").derivative(1)) == 0
    f = lambda t: min(max(t / 6 + 0.5, 0.0), 1.0)  # noqa: E731
    par, perp = numeric_susceptibilities(act)
    for K in (0.5, 3.0, 9.0, 30.0):
        g = lambda k: gauss(lambda t: f(t) ** 2, k, (-3, 3))  # noqa: E731
        h = 1e-4 * K
        g_prime = (g(K + h) - g(K - h)) / (2 * h)
        box = math.erf(3 / math.sqrt(2 * K)) / 36                      # ⟨σ'²⟩ = P(|z|<3)/36
        assert float(perp(K)[0]) == pytest.approx(box, rel=1e-10)
        assert float(par(K)[0]) == pytest.approx(g_prime, rel=1e-6)
        assert g_prime < box                                          # χ_∥ < χ_⊥ at every K


# ---------------------------------------------------------------------------------
# smooth activations
# ---------------------------------------------------------------------------------

@pytest.mark.parametrize("text, expr, f", [
    ("sin(z)+z", sp.sin(x) + x, lambda t: math.sin(t) + t),
    ("z/(1+z**2)", x / (1 + x**2), lambda t: t / (1 + t * t)),
])
def test_smooth_odd_activations_are_k_star_zero(text, expr, f):
    rep = classify(text)
    assert rep.universality_class == "K*=0"
    s1, a1 = smooth_checks(expr, rep)
    point = rep.critical_points[0]
    assert (point.C_b, point.K_star) == (0, 0) and sp.simplify(point.C_W - 1 / s1**2) == 0
    assert sp.simplify(law(rep, "K") - 1 / (-a1 * ell)) == 0
    c, p = leading_power(f, float(1 / s1**2), (1e-5, 2e-5))
    assert p == pytest.approx(2, abs=0.01) and c == pytest.approx(float(a1), rel=0.01)


def _half_stable_check(rep, expr):
    """⟨σσ''⟩ = 0, C_W = 1/⟨σ'²⟩, C_b = K* − C_W⟨σ²⟩ at the reported K* (quadrature)."""
    f, d1, d2 = (sp.lambdify(x, sp.diff(expr, x, k), "math") for k in (0, 1, 2))
    point = [p for p in rep.critical_points if p.K_star != 0][0]
    K, cw, cb = float(point.K_star), float(point.C_W), float(point.C_b)
    scale = gauss(lambda t: f(t) * f(t), K)
    assert abs(gauss(lambda t: f(t) * d2(t), K)) < 1e-9 * scale
    assert cw == pytest.approx(1 / gauss(lambda t: d1(t) ** 2, K), rel=1e-9)
    assert cb == pytest.approx(K - cw * scale, rel=1e-8, abs=1e-10) and cb >= 0
    return point


def test_mish_is_half_stable():
    """mish = z·tanh(softplus z): σ'(0) = tanh(log 2) = 3/5, a_1 > 0 (K* = 0 repels)."""
    expr = x * sp.tanh(sp.log(1 + sp.exp(x)))
    rep = classify("z*tanh(softplus(z))")
    assert rep.universality_class == "half-stable"
    zero = rep.critical_points[0]
    assert zero.K_star == 0 and zero.C_W == sp.Rational(25, 9) and zero.stability.startswith("unstable")
    _, a1 = smooth_checks(expr, rep)
    assert float(a1) > 0
    _half_stable_check(rep, expr)


def test_odd_cubic_rational_is_half_stable():
    """z³/(1+z²): σ'(0) = 0 (no K* = 0 point); one half-stable K* > 0."""
    expr = x**3 / (1 + x**2)
    rep = classify("z**3/(1+z**2)")
    assert rep.universality_class == "half-stable"
    point = _half_stable_check(rep, expr)
    assert point.stability.startswith("half-stable")


def test_squareplus_cannot_be_critical():
    """(z + √(z²+4))/2: σ > 0 and σ'' = 2/(z²+4)^{3/2} > 0, so ⟨σσ''⟩ > 0 at every K."""
    rep = classify("(z+sqrt(z**2+4))/2")
    assert rep.universality_class == "none" and rep.critical_points == ()
    f = lambda t: (t + math.sqrt(t * t + 4)) / 2  # noqa: E731
    for K in (0.01, 1.0, 100.0):
        assert gauss(lambda t: f(t) * 2 / (t * t + 4) ** 1.5, K) > 0
    assert "σ(0) = 1" in rep.notes[0] and "⟨σσ''⟩_K > 0" in rep.notes[0]


# ---------------------------------------------------------------------------------
# bounded cost and one clear error
# ---------------------------------------------------------------------------------

def test_triple_exponential_finishes_with_no_finite_moments():
    start = time.monotonic()
    rep = classify("exp(exp(exp(z)))")
    assert time.monotonic() - start < 30
    assert rep.universality_class == "none"
    assert any("diverges for every K > 0" in note for note in rep.notes)


@pytest.mark.parametrize("text", ["z*(((9**64)**64)**64)", "z*((9**64)**64)", "z*exp(exp(exp(100)))",
                                  "nan*z", "inf*z", "NaN*z", "Infinity*z", "oo*z", "zoo*z", "I*z", "j*z"])
def test_unbounded_or_non_finite_constants_are_rejected(text):
    start = time.monotonic()
    with pytest.raises(RGFlowError):
        activation(text)
    assert time.monotonic() - start < 2


def test_huge_bound_value_is_rejected():
    with pytest.raises(RGFlowError, match="digits"):
        activation("a*z", a=10**500)


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "rgflow", *args], capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize("text", ["z*(((9**64)**64)**64)", "nan*z"])
def test_cli_reports_one_error_line(text):
    out = _cli("classify", text)
    assert out.returncode == 2 and out.stdout == ""
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rgflow: error: ")


def test_cli_classifies_softsign():
    out = _cli("classify", "--json", "z/(1+abs(z))")
    assert out.returncode == 0, out.stderr
    assert '"universality_class": "K*=0 (p=2)"' in out.stdout
