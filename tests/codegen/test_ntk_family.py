"""The NTK at order 1/n (issue #13): the compiled evaluator of the declared A, B, D, F, H1, P, Q
against two independent references.

* ``tests/ntk_reference.py`` — plain numpy, N_D ≤ 2, every expectation by 2-D tensor quadrature
  and every derivative contraction by Stein's lemma *with K⁻¹* (the evaluator uses the
  integration-by-parts form without K⁻¹ and the coincident-sample shares), for smooth σ;
* the exact finite-depth solution of the scale-invariant class at criticality
  (THEORY-NTK.md §7), for ReLU and leaky ReLU, single input — plus Q = 2P and H1 ≡ 0 there.
"""

import numpy as np
import pytest

import codegen
from derive import activation, flow
from ntk_reference import NAMES, ntk_recursions, reference_for, scale_invariant_single_input_exact

FAMILY = ("K", "H", "A", "B", "D", "F", "H1", "P", "Q")
DEPTH = 5


def _evaluator(act):
    return codegen.compile(flow(act, FAMILY))


def _series(res, name):
    return np.stack([np.asarray(getattr(res, name)[l]) for l in range(1, res.depth + 1)])


def _compare(res, ref, tol):
    for name in NAMES:
        got, want = _series(res, name), ref[name]
        scale = max(float(np.max(np.abs(want))), 1e-12)
        err = float(np.max(np.abs(got - want))) / scale
        assert err <= tol, f"{name}: relative error {err:.2e}"


CASES = [
    # (activation, C_b, C_W, lambda_b, lambda_W, inputs)
    ("tanh", 0.0, 1.0, 0.5, 1.0, [[1.0, 1.0]]),
    ("tanh", 0.0, 1.0, 0.0, 1.0, [[1.0, 1.0], [1.4, 0.2]]),
    ("tanh", 0.2, 1.5, 0.5, 1.0, [[1.0, 1.0], [-0.3, 1.2]]),
    ("erf", 0.1, 1.2, 0.3, 0.7, [[1.0, 0.5], [0.2, -1.1]]),
    ("gelu", 0.17, 1.98, 0.17, 1.98, [[1.0, 1.0], [1.4, 0.2]]),
]


@pytest.mark.parametrize("name,C_b,C_W,lambda_b,lambda_W,X", CASES)
def test_family_matches_the_inverse_kernel_reference(name, C_b, C_W, lambda_b, lambda_W, X):
    X = np.array(X)
    ev = _evaluator(activation(name))
    res = ev.run(X, depth=DEPTH, width=32, C_b=C_b, C_W=C_W, lambda_b=lambda_b, lambda_W=lambda_W)
    gram = X @ X.T / X.shape[1]
    ref = ntk_recursions(reference_for(name), gram, DEPTH, C_b, C_W, lambda_b, lambda_W)
    _compare(res, ref, 1e-8)


def test_unequal_widths_and_per_layer_parameters():
    X = np.array([[1.0, 1.0], [1.4, 0.2]])
    widths = [16, 32, 16, 24, 20]
    C_b, C_W = [0.0, 0.1, 0.0, 0.05, 0.0], [1.0, 1.2, 0.9, 1.0, 1.1]
    lb, lw = [0.5, 0.2, 0.4, 0.0, 0.3], [1.0, 0.8, 1.1, 1.0, 0.9]
    res = _evaluator(activation("tanh")).run(X, depth=DEPTH, width=widths, C_b=C_b, C_W=C_W,
                                             lambda_b=lb, lambda_W=lw)
    ref = ntk_recursions(reference_for("tanh"), X @ X.T / 2, DEPTH, C_b, C_W, lb, lw, widths=widths[:-1])
    _compare(res, ref, 1e-8)


@pytest.mark.parametrize("slope", [0.0, 0.1])
def test_scale_invariant_exact_solution(slope):
    """ReLU / leaky ReLU at criticality: V, F, B, D, A, P exact at every depth, Q = 2P, H1 = 0."""
    act = activation("relu") if slope == 0.0 else activation("leaky_relu", a=slope)
    A2 = (1 + slope**2) / 2
    X = np.array([[1.0, 1.0]])
    res = _evaluator(act).run(X, depth=8, width=64, C_b=0.0, C_W=1 / A2, lambda_b=0.5, lambda_W=1.0)
    exact = scale_invariant_single_input_exact(8, 1 / A2, 0.5, 1.0, a_plus=1.0, a_minus=slope)
    for name in ("V", "A", "B", "D", "F", "P", "Q", "H1"):
        np.testing.assert_allclose(_series(res, name), exact[name], rtol=1e-12, atol=1e-12, err_msg=name)
    np.testing.assert_allclose(_series(res, "Q"), 2 * _series(res, "P"), rtol=1e-13)
    assert np.all(_series(res, "H1") == 0.0)


def test_relu_two_inputs_ntk_mean_correction_is_not_zero():
    """The single-input ReLU NTK mean is exact at any width (H1 ≡ 0), with two inputs it is not
    (THEORY-NTK.md §8.2): the Dirac-delta atoms ⟨δ(z1)δ(z2)⟩ enter through D, F and V."""
    X = np.array([[1.0, 1.0], [1.4, 0.2]])
    res = _evaluator(activation("relu")).run(X, depth=4, width=64, C_b=0.0, C_W=2.0, lambda_b=0.0,
                                             lambda_W=1.0)
    H1 = _series(res, "H1")
    assert np.all(np.isfinite(H1)) and abs(H1[-1, 0, 1]) > 1e-3
    assert np.allclose(H1[:, 0, 0], 0.0, atol=1e-12) and np.allclose(H1[:, 1, 1], 0.0, atol=1e-12)
    for name in ("A", "B", "D", "F", "P", "Q"):
        assert np.all(np.isfinite(_series(res, name))), name


def test_latex_of_the_family():
    tex = flow("tanh", FAMILY).to_latex()
    for head in ("A^{(\\ell+1)}_{(\\alpha_{1}\\alpha_{2})(\\alpha_{3}\\alpha_{4})}", "B^{(\\ell+1)}",
                 "D^{(\\ell+1)}", "F^{(\\ell+1)}", "H^{\\{1\\}(\\ell+1)}", "P^{(\\ell+1)}", "Q^{(\\ell+1)}"):
        assert head in tex, head
    assert "\\sigma''_{" in tex and tex == flow("tanh", FAMILY).to_latex()
