"""The NTK at order 1/n against real networks (issue #13), through ``rgflow validate``.

Layer 2 is exact at any width for every statistic (metric, vertex, NTK mean and the 1/n NTK
tensors A, B, D, F, P, Q: only local terms), so its z-scores test the compiled recursions
directly, without truncation: each case must pass the report's multiple-comparison rule
(max |z| ≤ Bonferroni(k, 1%), mean z² ≤ χ²₁ 1% quantile) with the standard errors measured
from the spread of independent networks.  Five activations (ReLU with its Dirac-delta
atoms, tanh, erf, GELU at its half-stable point, a custom expression), 1–3 inputs, on and
off criticality, two learning-rate settings, unequal widths once.
"""

import numpy as np
import pytest

from rgflow.defaults import critical_hyperparameters
from rgflow.validate import NTK_STATISTICS, validate

X1 = np.array([[1.0, 1.0]])
X2 = np.array([[1.0, 1.0], [1.4, 0.2]])
X3 = np.array([[1.0, 1.0], [1.4, 0.2], [-0.3, 0.9]])

CASES = [
    # activation, inputs, (C_b, C_W) or None for the critical point, lambda_b, lambda_W, widths
    ("relu", X2, (0.0, 2.0), 0.0, 1.0, 8),
    ("tanh", X3, (0.2, 1.5), 0.5, 1.0, (8, 5)),
    ("erf", X2, None, 0.3, 0.7, 8),
    ("gelu", X1, None, None, None, 8),
    ("tanh(z) + 0.1*z", X2, (0.1, 1.0), 0.2, 1.2, 6),
]


@pytest.mark.parametrize("act,X,point,lambda_b,lambda_W,width", CASES, ids=[c[0] for c in CASES])
def test_layer_two_is_exact_for_every_statistic(act, X, point, lambda_b, lambda_W, width):
    C_b, C_W = point if point is not None else critical_hyperparameters(act)
    rep = validate(act, X, depth=2, width=width, C_b=C_b, C_W=C_W, lambda_b=lambda_b, lambda_W=lambda_W,
                   networks=6000, seed=7, ntk_family=True)
    names = {c.quantity for c in rep.comparisons}
    assert set(NTK_STATISTICS) <= names and "ntk" in names
    assert rep.passes(), rep.to_text()
    # resolving power: the NTK-variance statistic is measured to better than 10 %
    b = [c for c in rep.select("B", layer=2)]
    assert all(c.se < 0.1 * abs(c.theory) for c in b if abs(c.theory) > 1e-6)
