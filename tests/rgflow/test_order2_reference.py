"""The derived order-1/n² rules for N_D inputs, evaluated (rgflow.order2_reference).

References: the single-input system (derive.engine.single_input, a different evaluation: moments
g_m(K) and their K-derivatives by the split Gauss–Legendre rule) — with a duplicated input every
entry of the N_D rules must equal it, which checks the share convention of coincident samples at
order 2 entry by entry; and real networks with two distinct inputs (Monte Carlo).
"""

import numpy as np
import pytest

from derive.engine.single_input import single_input_flow
from rgflow.metric_cumulants import sample
from rgflow.order2_reference import order2_flow
from rgflow.validate import bonferroni_threshold


@pytest.mark.parametrize("name, K, C_b, C_W", [("tanh", 1.0, 0.0, 1.0), ("gelu", 3.561553, 0.172922, 1.983058)])
def test_a_duplicated_input_reproduces_the_single_input_system(name, K, C_b, C_W):
    depth = 5
    single = single_input_flow(name, depth, K, C_b, C_W)
    dup = order2_flow(name, np.full((2, 2), K), depth, C_b, C_W)
    for stat, values in single.items():
        entries = dup[stat].reshape(depth, -1)
        scale = np.max(np.abs(values)) or 1.0
        assert np.max(np.abs(entries - values[:, None])) <= 1e-9 * scale, stat


def test_a_kinked_activation_is_refused():
    with pytest.raises(Exception, match="smooth activation"):
        order2_flow("relu", [[2.0, 1.0], [1.0, 2.0]], 3, 0.0, 2.0)


@pytest.mark.validation
def test_two_inputs_against_real_networks():
    """GELU at its half-stable point, inputs of correlation 0.5, n = 32, layer 5: every entry of
    the four-point function agrees with V/n + V1/n² and the order-1 theory is rejected."""
    K, Cb, CW, depth, n = 3.561553, 0.172922, 1.983058, 5, 32
    K1 = K * np.array([[1.0, 0.5], [0.5, 1.0]])
    th = order2_flow("gelu", K1, depth, Cb, CW)
    mc = sample("gelu", K1, depth, n, C_b=Cb, C_W=CW, networks=24_000, seed=5, progress=False)
    entries = [(0, 0, 0, 0), (0, 0, 1, 1), (0, 1, 0, 1), (0, 0, 0, 1)]
    L = depth - 1
    z2 = [(mc.four[(L,) + e] - th["V"][(L,) + e] / n - th["V1"][(L,) + e] / n**2) / mc.four_se[(L,) + e]
          for e in entries]
    z1 = [(mc.four[(L,) + e] - th["V"][(L,) + e] / n) / mc.four_se[(L,) + e] for e in entries]
    t = bonferroni_threshold(len(entries))
    assert max(map(abs, z2)) <= t, z2
    assert min(map(abs, z1)) > t, z1
