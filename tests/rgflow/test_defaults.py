"""rgflow.defaults owns every default: inputs, the critical point, the NTK learning rates.

Each default is checked where it is used: validation, Monte Carlo, references, the
``rgflow flow`` command, and codegen's Evaluator.run, which applies the λ convention
itself (codegen cannot import rgflow) and must agree with rgflow's.
"""

from __future__ import annotations

import numpy as np
import pytest

import codegen
from derive import classify
from derive.errors import NotCriticalError
from derive.flow import flow
from derive.universality import usable_critical_point
from rgflow.defaults import DEFAULT_INPUTS, critical_hyperparameters, learning_rates
from rgflow.montecarlo import sample
from rgflow.reference import reference_flow
from validation_cases import INPUTS


def test_default_inputs_are_the_validation_inputs_and_read_only():
    np.testing.assert_array_equal(INPUTS[2], DEFAULT_INPUTS)
    np.testing.assert_array_equal(INPUTS[3][:2], DEFAULT_INPUTS)
    np.testing.assert_allclose(DEFAULT_INPUTS @ DEFAULT_INPUTS.T / 2, [[1.0, 0.8], [0.8, 1.0]])
    with pytest.raises(ValueError):
        DEFAULT_INPUTS[0, 0] = 2.0


@pytest.mark.parametrize("name", ["relu", "tanh", "gelu"])
def test_critical_point_is_the_first_usable_one(name):
    point = usable_critical_point(classify(name))
    assert critical_hyperparameters(name) == (float(point.C_b), float(point.C_W))


def test_no_usable_critical_point_is_one_error():
    with pytest.raises(NotCriticalError, match="no usable critical point; give --C_b and --C_W"):
        critical_hyperparameters("sigmoid")


def test_learning_rates_default_to_the_variances():
    assert learning_rates(0.1, 1.5) == (0.1, 1.5)
    assert learning_rates(0.1, 1.5, lambda_b=0.0) == (0.0, 1.5)
    assert learning_rates([0.1, 0.2], [1.0, 2.0], lambda_W=0.5) == ([0.1, 0.2], 0.5)


@pytest.mark.parametrize("C_b, C_W", [(0.1, 1.5), ([0.0, 0.2, 0.1], [2.0, 1.0, 1.5])])
def test_codegen_applies_the_same_learning_rate_convention(C_b, C_W):
    ev = codegen.compile(flow("linear", ("K", "H")))
    implicit = ev.run(DEFAULT_INPUTS, depth=3, width=8, C_b=C_b, C_W=C_W)
    explicit = ev.run(DEFAULT_INPUTS, depth=3, width=8, C_b=C_b, C_W=C_W, **dict(zip(
        ("lambda_b", "lambda_W"), learning_rates(C_b, C_W))))
    np.testing.assert_array_equal(np.asarray(implicit.H), np.asarray(explicit.H))
    ref = reference_flow("linear", DEFAULT_INPUTS, 3, C_b=C_b, C_W=C_W, quantities=("K", "H"))
    np.testing.assert_allclose(np.asarray(implicit.H), ref["H"], rtol=1e-12)


def test_monte_carlo_completes_a_single_learning_rate_with_the_default():
    res = sample(np.tanh, DEFAULT_INPUTS, depth=2, width=4, C_b=0.3, C_W=1.2, networks=4, seed=0,
                 lambda_W=0.5, dsigma=lambda z: 1 - np.tanh(z) ** 2, vertex=False)
    assert res.lambda_b == (0.3, 0.3) and res.lambda_W == (0.5, 0.5)
