"""The derived order-1/n² rules for N_D inputs, evaluated (rgflow.order2_reference).

References: the single-input system (derive.engine.single_input, a different evaluation: moments
g_m(K) and their K-derivatives by the split Gauss–Legendre rule) — with a duplicated input every
entry of the N_D rules must equal it, which checks the share convention of coincident samples at
order 2 entry by entry.  The compiled evaluator (codegen.order2) is checked against this one and
against real networks with two distinct inputs (tests/codegen/test_order2.py).
"""

import numpy as np
import pytest

from derive.engine.single_input import single_input_flow
from rgflow.order2_reference import order2_flow


@pytest.mark.parametrize("name, K, C_b, C_W", [("tanh", 1.0, 0.0, 1.0), ("gelu", 3.561553, 0.172922, 1.983058)])
def test_a_duplicated_input_reproduces_the_single_input_system(name, K, C_b, C_W):
    depth = 5
    single = single_input_flow(name, depth, K, C_b, C_W)
    dup = order2_flow(name, np.full((2, 2), K), depth, C_b, C_W)
    for stat, values in single.items():
        entries = dup[stat].reshape(depth, -1)
        scale = np.max(np.abs(values)) or 1.0
        assert np.max(np.abs(entries - values[:, None])) <= 1e-9 * scale, stat


def test_what_the_reference_cannot_integrate_is_refused():
    with pytest.raises(Exception, match="linearly independent inputs"):
        order2_flow("relu", [[2.0, 2.0], [2.0, 2.0]], 3, 0.0, 2.0)      # a duplicated input, kinked σ
    with pytest.raises(Exception, match="kinks at z = 0 only"):
        order2_flow("min(max(z, -1), 1)", [[1.0]], 3, 0.0, 1.0)        # hard tanh


def test_integration_by_parts_agrees_with_derivatives():
    """The two atom methods on the same atoms (tanh, two distinct inputs): symbolic derivatives on a
    Gauss–Legendre grid, and Gaussian integration by parts (Hermite weights) in polar coordinates."""
    from derive import activation
    from rgflow.order2_reference import _Atoms
    K = np.array([[0.9, 0.35], [0.35, 0.6]])
    plain = _Atoms(activation("tanh"), K, 0)
    parts = _Atoms(activation("tanh"), K, 0)
    parts.kinked = True
    for atom in [((0, 2, 0), (1, 2, 0)), ((0, 1, 3), (1, 3, 1)), ((0, 2, 4), (1, 2, 2)), ((0, 4, 2), (1, 2, 0)),
                 ((0, 3, 1), (1, 3, 5)), ((1, 6, 4),)]:
        assert abs(plain.value(atom) - parts.value(atom)) <= 1e-11 * max(1.0, abs(plain.value(atom))), atom


@pytest.mark.parametrize("call", [
    lambda: order2_flow("tanh", [[1.0, 2.0], [2.0, 1.0]], 3),
    lambda: order2_flow("tanh", [[1.0]], 3, C_W=-1.0),
    lambda: single_input_flow("tanh", 3, -1.0, 0.0, 1.0),
    lambda: single_input_flow("tanh", 0, 1.0, 0.0, 1.0),
])
def test_bad_numbers_get_one_clear_error(call):
    from derive.errors import RGFlowError
    with pytest.raises(RGFlowError):
        call()
