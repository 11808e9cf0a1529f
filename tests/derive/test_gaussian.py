"""Gaussian expectations: rule-derived closed forms vs mpmath and the THEORY.md §2 formulas."""

import math

import mpmath
import numpy as np
import pytest
import sympy as sp
from hypothesis import example, given, settings
from hypothesis import strategies as st

from derive import activation
from derive.activations import integrand
from derive.gaussian import Expectation, expect, expect1, expect2, expectation_series, has_atoms
from derive.quadrature import evaluate, expect_1d, expect_2d, integrand_in_K
from derive.symbols import K, z, z1, z2

from references import mp_gauss

K11, K22 = sp.symbols("K11 K22", positive=True)
K12 = sp.Symbol("K12", real=True)

# integrands whose expectation the rules must give in closed form
CLOSED = [
    ("relu", 2), ("relu", 4), ("leaky_relu", 2), ("erf", 2), ("sin", 2), ("exp", 2), ("gelu", 2),
    ("elu", 2), ("linear", 4), ("gelu", 1), ("elu", 1),
]


@pytest.mark.parametrize("name, power", CLOSED)
@pytest.mark.parametrize("kval", ["0.3", "1.7"])
def test_single_input_closed_forms_match_mpmath(name, power, kval):
    act = activation(name, a=sp.Rational(3, 10)) if name == "leaky_relu" else activation(name)
    expr = expect1(integrand(act.bound_expr**power))
    assert not has_atoms(expr), expr
    value = evaluate(expr, {K: sp.Rational(kval)}, dps=30)
    f = sp.lambdify(z, act.bound_expr**power, modules=[{"Heaviside": lambda x, h=0.5: mpmath.mpf(x > 0)}, "mpmath"])
    ref = mp_gauss(f, kval)
    assert abs(value - ref) <= 1e-25 * max(1, abs(ref))


@pytest.mark.parametrize("name", ["relu", "gelu", "elu", "tanh", "swish", "erf", "sin"])
def test_susceptibility_integrands_match_mpmath(name):
    """⟨σ'²⟩ and ⟨σσ''⟩ (with their delta terms) against direct mpmath quadrature."""
    act = activation(name)
    kval = mpmath.mpf("0.8")
    for expr, ref_fn in [
        (integrand(act.derivative(1) ** 2), lambda x, f=act.numpy_derivative(1): float(f(np.array(float(x))))**2),
    ]:
        value = evaluate(expect1(expr), {K: sp.Rational(4, 5)}, dps=20)
        ref = mp_gauss(lambda x: mpmath.mpf(ref_fn(x)), kval, dps=20)
        assert abs(value - ref) < 1e-13


def test_theory_relu_two_point_closed_forms():
    relu = activation("relu").bound_expr
    both = expect2(relu.subs(z, z1) * relu.subs(z, z2), K11, K12, K22)
    dboth = expect2(sp.Heaviside(z1) * sp.Heaviside(z2), K11, K12, K22)
    theta = sp.acos(K12 / sp.sqrt(K11 * K22))
    theory = sp.sqrt(K11 * K22) / (2 * sp.pi) * (sp.sin(theta) + (sp.pi - theta) * sp.cos(theta))
    for vals in [(1.3, 0.4, 0.9), (2.0, -1.1, 0.8), (1.0, 1.0, 1.0), (0.5, -0.49, 0.5)]:
        sub = dict(zip((K11, K12, K22), map(sp.Float, vals)))
        assert float(both.subs(sub)) == pytest.approx(float(theory.subs(sub)), rel=1e-13)
        assert float(dboth.subs(sub)) == pytest.approx(float(((sp.pi - theta) / (2 * sp.pi)).subs(sub)), rel=1e-13)


def test_theory_erf_sin_linear_two_point_closed_forms():
    erf = expect2(sp.erf(z1) * sp.erf(z2), K11, K12, K22)
    assert sp.simplify(erf - 2 / sp.pi * sp.asin(2 * K12 / sp.sqrt((1 + 2 * K11) * (1 + 2 * K22)))) == 0
    sin = expect2(sp.sin(z1) * sp.sin(z2), K11, K12, K22)
    assert sp.simplify((sin - sp.exp(-(K11 + K22) / 2) * sp.sinh(K12)).rewrite(sp.exp)) == 0
    assert expect2(z1 * z2, K11, K12, K22) == K12
    assert sp.expand(expect2(z1**2 * z2**2, K11, K12, K22) - K11 * K22 - 2 * K12**2) == 0  # Wick


@settings(max_examples=12, deadline=None)
@given(k11=st.floats(0.05, 4), k22=st.floats(0.05, 4), rho=st.floats(-1, 1))
@example(k11=1.0, k22=1.0, rho=0.984375)   # found by CI: the float ReLU reference was 1.4e-9 off
def test_two_point_closed_forms_vs_quadrature_on_random_psd_kernels(k11, k22, rho):
    """Property: closed forms agree with 2-D quadrature for any PSD kernel, coincident inputs included."""
    # exact kernel values: at ρ = ±1 a rounded K12 could exceed √(K11K22) and leave the PSD cone.
    # Small denominators: sympy factors the integers of √(p/q) (huge q from raw floats stalls it).
    q11, q22, qrho = (sp.Rational(v).limit_denominator(10**6) for v in (k11, k22, rho))
    k11, k22, rho = float(q11), float(q22), float(qrho)
    k12 = rho * math.sqrt(k11 * k22)
    exact = {K11: q11, K22: q22, K12: qrho * sp.sqrt(q11 * q22)}
    for name in ("relu", "erf", "gelu"):
        s = activation(name).bound_expr
        closed = expect2(s.subs(z, z1) * s.subs(z, z2), K11, K12, K22)
        value = float(closed.subs(exact).evalf(20))
        f = activation(name).numpy_function()
        if name == "relu":  # kink: adaptive quadrature split at the kinks (Gauss–Hermite is only algebraic)
            cov = [[exact[K11], exact[K12]], [exact[K12], exact[K22]]]   # exact: PSD at rho = ±1
            reference = evaluate(Expectation(s.subs(z, z1) * s.subs(z, z2), (z1, z2), cov), {})
        else:
            reference = expect_2d(f, f, k11, k12, k22, degree=160)
        assert value == pytest.approx(float(reference), rel=1e-9, abs=1e-12)


def test_two_variable_atom_quadrature_two_independent_methods():
    """Adaptive nested quadrature (split at kinks) vs Gauss–Hermite after Cholesky."""
    s = sp.tanh(z1) * sp.tanh(z2)
    cov = [[sp.Rational(13, 10), sp.Rational(-2, 5)], [sp.Rational(-2, 5), sp.Rational(9, 10)]]
    adaptive = evaluate(Expectation(s, (z1, z2), cov), {})
    gh = expect_2d(np.tanh, np.tanh, 1.3, -0.4, 0.9, degree=120)
    assert gh == pytest.approx(adaptive, rel=1e-11)
    # coincident inputs (singular covariance) reduce to the one-variable expectation
    coincident = evaluate(Expectation(s, (z1, z2), [[1, 1], [1, 1]]), {})
    assert coincident == pytest.approx(float(mp_gauss(lambda x: mpmath.tanh(x) ** 2, 1)), rel=1e-11)


def test_delta_rules():
    kval = sp.Rational(7, 5)
    assert sp.simplify(expect1(sp.DiracDelta(z) * sp.cos(z)) - 1 / sp.sqrt(2 * sp.pi * K)) == 0
    assert sp.simplify(expect1(z * sp.DiracDelta(z, 1)) + 1 / sp.sqrt(2 * sp.pi * K)) == 0  # zδ' = −δ
    # ⟨δ''(z)⟩ = p''(0) = −1/(√(2π) K^{3/2})
    assert sp.simplify(expect1(sp.DiracDelta(z, 2)) + 1 / (sp.sqrt(2 * sp.pi) * K ** sp.Rational(3, 2))) == 0
    assert expect1(sp.DiracDelta(z) ** 2) == sp.oo
    # two variables: ⟨δ(z1) z2²⟩ = (2πK11)^{-1/2} (K22 − K12²/K11)
    value = expect2(sp.DiracDelta(z1) * z2**2, K11, K12, K22)
    assert sp.simplify(value - (K22 - K12**2 / K11) / sp.sqrt(2 * sp.pi * K11)) == 0
    del kval


def test_odd_integrands_vanish_and_unknowns_stay_atoms():
    assert expect1(sp.tanh(z) * sp.exp(-z**2)) == 0
    expr = expect1(sp.tanh(z) ** 2)
    assert has_atoms(expr)


@pytest.mark.parametrize("f, order", [(sp.tanh(z) ** 2, 4), (sp.sin(z) ** 2, 4), (z * sp.erf(z), 3)])
def test_series_in_K_matches_quadrature(f, order):
    series = expectation_series(f, order)
    fn = sp.lambdify(z, f, modules="mpmath")
    for kval in ("0.01", "0.02"):
        ref = mp_gauss(fn, kval)
        value = series.subs(K, sp.Rational(kval))
        # remainder is O(K^{order+1}); the coefficients are O(10) here
        assert abs(float(value) - float(ref)) < 100 * float(kval) ** (order + 1)


def test_series_of_kinked_function_has_half_integer_powers():
    elu2 = activation("elu").bound_expr ** 2
    series = expectation_series(elu2, 2)
    assert series.coeff(K, 1) == 1 and series.coeff(K ** sp.Rational(3, 2)) == -sp.sqrt(2) / sp.sqrt(sp.pi)
    f = activation("elu").numpy_function()
    ref = mp_gauss(lambda x: mpmath.mpf(float(f(np.array(float(x))))) ** 2, "0.001")
    assert abs(float(series.subs(K, sp.Rational(1, 1000))) - float(ref)) < 1e-7


def test_vectorised_rules_match_mpmath():
    Ks = np.array([0.05, 0.7, 3.0, 40.0])
    tanh2 = integrand_in_K(sp.tanh(z) ** 2, z, K)(Ks)
    ref = [float(mp_gauss(lambda x: mpmath.tanh(x) ** 2, k)) for k in Ks]
    np.testing.assert_allclose(tanh2, ref, rtol=1e-13)
    # plain Gauss–Hermite: tanh² is entire but steep at K = 3, degree 150 gives ~2e-8
    np.testing.assert_allclose(expect_1d(lambda x: np.tanh(x) ** 2, Ks[:3], degree=150), ref[:3], rtol=1e-7)
    relu_like = integrand_in_K(activation("elu").bound_expr * activation("elu").derivative(2), z, K)(Ks)
    f, d2 = activation("elu").numpy_function(), activation("elu").numpy_derivative(2)
    ref = [float(mp_gauss(lambda x: mpmath.mpf(float(f(np.array(float(x))) * d2(np.array(float(x))))), k))
           for k in Ks]
    np.testing.assert_allclose(relu_like, ref, rtol=1e-12)


def test_covariance_shape_checked():
    with pytest.raises(ValueError):
        expect(z1 * z2, (z1, z2), [[K]])
