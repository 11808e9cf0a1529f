"""rgflow.metric_cumulants against the general Monte Carlo (rgflow.montecarlo) and exact results.

Two independent samplers of real networks (different code, seeds and input handling: the general
one draws first-layer weights for explicit inputs X, this one draws z^{(1)} ~ N(0, K^{(1)})) must
agree on the metric and on the distinct-neuron four-point function within their errors; and for
deep linear networks the cumulants of the collective metric are known exactly at any width
(Γ_{ℓ+1} = C_W Γ_ℓ χ²_n/n).
"""

import numpy as np
import pytest

from derive import activation
from rgflow.metric_cumulants import MetricCumulantsError, sample
from rgflow.montecarlo import sample as general_sample


def test_agrees_with_the_general_monte_carlo():
    X = np.array([[1.0, 0.0, 0.5], [0.2, 1.0, -0.4]])
    C_W, depth, n = 1.5, 4, 16
    K1 = C_W * X @ X.T / X.shape[1]
    ours = sample("tanh", K1, depth, n, C_W=C_W, networks=6000, seed=1, progress=False)
    theirs = general_sample(activation("tanh"), X, depth, n, C_W=C_W, networks=6000, seed=2)
    for l in range(1, depth):
        z = (ours.metric[l] - theirs.metric[l]) / np.hypot(ours.metric_se[l], theirs.metric_se[l])
        assert np.max(np.abs(z)) < 4.5, (l, z)
        z = (ours.four[l] - theirs.vertex[l]) / np.hypot(ours.four_se[l], theirs.vertex_se[l])
        assert np.max(np.abs(z)) < 4.5, (l, z)


def test_deep_linear_cumulants_are_exact():
    """E[Γ^k] = K^k C_W^{k(ℓ−1)} [Π_{i<k} (1 + 2i/n)]^{ℓ−1}: the three cumulants at layer 4, n = 8."""
    K, C_W, depth, n = 0.7, 1.2, 4, 8
    mc = sample("z", K, depth, n, C_W=C_W, networks=60_000, seed=4, progress=False)
    L = depth - 1
    m = [K**k * C_W**(k * L) * np.prod([1 + 2 * i / n for i in range(k)]) ** L for k in range(4)]
    exact = (m[1], m[2] - m[1]**2, m[3] - 3 * m[2] * m[1] + 2 * m[1]**3)
    got = (mc.metric[L, 0, 0], mc.four[L].ravel()[0], mc.six[L].ravel()[0])
    se = (mc.metric_se[L, 0, 0], mc.four_se[L].ravel()[0], mc.six_se[L].ravel()[0])
    for g, e, s in zip(got, exact, se):
        assert abs(g - e) <= 4 * s, (g, e, s)
    assert abs(got[2]) > 10 * se[2]


@pytest.mark.parametrize("kwargs, message", [
    (dict(networks=10), "networks = 10"),
    (dict(C_W=-1.0), "C_W = -1.0"),
    (dict(C_b=float("nan")), "C_b = nan"),
    (dict(width=0), "width = 0"),
    (dict(K1=[[1.0, 2.0], [2.0, 1.0]]), "not positive semi-definite"),
    (dict(K1=[[1.0, 0.5], [0.4, 1.0]]), "symmetric"),
])
def test_bad_arguments_get_one_clear_error(kwargs, message):
    args = dict(act="tanh", K1=1.0, depth=3, width=8, progress=False) | kwargs
    with pytest.raises(MetricCumulantsError, match=message):
        sample(**args)
