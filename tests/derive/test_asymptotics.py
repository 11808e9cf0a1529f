"""Dominant-balance solver against exact solutions and brute-force iteration."""

import numpy as np
import pytest
import sympy as sp

from derive.asymptotics import Term, solve_exact_affine, solve_power_law
from derive.symbols import ell


def iterate(step, x0, depth):
    xs = [x0]
    for l in range(1, depth):
        xs.append(xs[-1] + step(xs[-1], l))
    return np.array(xs)


@pytest.mark.parametrize("k, c", [(1, -2.0), (2, -30.0), (sp.Rational(1, 2), -0.8)])
def test_nonlinear_decay_law(k, c):
    law = solve_power_law([Term(c, 0, 1 + k)])
    assert law.exponent == -1 / sp.S(k)
    xs = iterate(lambda x, l: c * x ** (1 + float(k)), 0.05, 20000)
    assert xs[-1] == pytest.approx(float(law.amplitude) * 20000 ** float(law.exponent), rel=0.03)


def test_forced_linear_law_with_same_order_feedback():
    # V' − V = s ℓ^{-2} + r ℓ^{-1} V  ⇒  V ≈ s/(q − r) ℓ^{q}, q = −1
    law = solve_power_law([Term(sp.Rational(1, 2), -2, 0), Term(-4, -1, 1)])
    assert (law.amplitude, law.exponent) == (sp.Rational(1, 6), -1)
    xs = iterate(lambda v, l: 0.5 / l**2 - 4 * v / l, 0.0, 20000)
    assert xs[-1] * 20000 == pytest.approx(1 / 6, rel=0.01)


def test_homogeneous_cases():
    assert solve_power_law([Term(-2, -1, 1)]).exponent == -2
    assert solve_power_law([Term(3, -2, 1)]).kind == "constant"
    stretched = solve_power_law([Term(-2, sp.Rational(-1, 2), 1)])
    assert stretched.kind == "not a power law" and "stretched" in stretched.note


def test_growth_without_balance_is_reported():
    assert solve_power_law([Term(3, 0, 2)]).kind == "not a power law"


def test_exact_affine():
    assert sp.simplify(solve_exact_affine(5, 1, 0).expression - 5 * (ell - 1)) == 0
    geometric = solve_exact_affine(1, sp.Rational(1, 2), 0).expression
    assert [geometric.subs(ell, l) for l in (1, 2, 3)] == [0, 1, sp.Rational(3, 2)]
