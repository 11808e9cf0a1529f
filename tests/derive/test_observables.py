"""Observables declared as data: one declaration flows through graph, codegen and results.

The observables below are declared here, in the test, and nowhere in the pipeline
(derive.recursions, derive.graph, codegen.lower/render/evaluator know none of them): the
acceptance test of the recursion IR.  Each is checked against an independent computation.
"""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

import codegen
from derive import observables as obs
from derive.errors import RGFlowError
from derive.flow import flow
from derive.symbols import C_W, C_b

a1, a2, a3, a4 = obs.sample_indices
ss, dsds, d2ss, ssss = (obs.atom(n) for n in ("ss", "dsds", "d2ss", "ssss"))

#: The NTK with lambda_b = 0, lambda_W = 1, declared again under another name: it must equal
#: the built-in H run with those learning rates (same loop shape, another code path).
THETA = obs.Observable(
    "Theta", 2, ((1, 0),), obs.gram[a1, a2],
    (obs.Rule("ab", (a1, a2), ss[a1, a2] + C_W * dsds[a1, a2] * obs.state("Theta")[a1, a2]),),
    0, r"\Theta", "", (2,), "ntk", "unit-learning-rate NTK")
#: A non-symmetric pair tensor (every ordered pair): C_W <sigma''_a sigma_b>.
M = obs.Observable(
    "M", 2, (), sp.S.Zero, (obs.Rule("ab", (a1, a2), C_W * d2ss[a1, a2]),),
    0, "M", "", (2,), "none", "second-derivative cross moment")
#: The local part of the four-point vertex with a smaller symmetry group than V's.
W = obs.Observable(
    "W", 4, ((1, 0, 2, 3), (0, 1, 3, 2)), sp.S.Zero,
    (obs.Rule("abcd", (a1, a2, a3, a4), C_W**2 * (ssss[a1, a2, a3, a4] - ss[a1, a2] * ss[a3, a4])),),
    1, "W", "", (2, 2), "none", "local four-point term")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("RGFLOW_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    f = flow("tanh", ("K", "H", "V", THETA, M, W))
    ev = codegen.compile(f)
    X = np.random.default_rng(5).normal(size=(3, 4))
    res = ev.run(X, depth=4, width=32, C_b=0.1, C_W=1.3, lambda_b=0.0, lambda_W=1.0, progress=False)
    yield f, ev, X, res
    mp.undo()


def test_declared_observable_reaches_graph_latex_and_plan(run):
    f, ev, _, _ = run
    assert f.quantities == ("K", "H", "V", "Theta", "M", "W")
    assert {"Theta'", "M'", "W'"} <= set(f.graph)
    assert "E[d2ss]" in f.graph.pred["M'"] and "Theta" in f.graph.pred["Theta'"]
    assert r"\Theta^{(\ell+1)}" in f.to_latex() and "W^{(\\ell+1)}_{(" in f.to_latex()
    loops = {s.name: s.loop for s in __import__("codegen.lower", fromlist=["lower"]).lower(f).states}
    assert loops == {"K": "symmetric-pairs", "H": "symmetric-pairs", "V": "quadruple-orbits",
                     "Theta": "symmetric-pairs", "M": "all-pairs", "W": "quadruple-orbits"}
    assert ev.states == (("K", 2), ("H", 2), ("V", 4), ("Theta", 2), ("M", 2), ("W", 4))


def test_declared_ntk_equals_the_builtin_one(run):
    _, _, _, res = run
    for layer in res.K.layers:
        np.testing.assert_allclose(res.Theta[layer], res.H[layer], rtol=1e-13, atol=0)


def test_non_symmetric_pair_tensor_against_tensor_quadrature(run):
    """M^{(l+1)}_{ab} = C_W <sigma''(z_a) sigma(z_b)>_{K^{(l)}} by a 2-D Gauss-Legendre rule
    in Cholesky coordinates on [-12, 12]^2 (Gauss-Hermite converges slowly for tanh)."""
    _, _, _, res = run
    x, w = np.polynomial.legendre.leggauss(400)
    x, w = 12 * x, 12 * w * np.exp(-72 * x**2) / np.sqrt(2 * np.pi)   # standard normal weights
    d2 = lambda t: -2 * t * (1 - t**2)   # noqa: E731 - sigma'' of tanh in terms of t = tanh z
    for layer in (2, 3, 4):
        K = res.K[layer - 1]
        expected = np.empty_like(K)
        for a in range(3):
            for b in range(3):
                if a == b:
                    t = np.tanh(np.sqrt(K[a, a]) * x)
                    expected[a, b] = np.sum(w * d2(t) * t)
                    continue
                L = np.linalg.cholesky(np.array([[K[a, a], K[a, b]], [K[b, a], K[b, b]]]))
                ta = np.tanh(L[0, 0] * x[:, None])
                tb = np.tanh(L[1, 0] * x[:, None] + L[1, 1] * x[None, :])
                expected[a, b] = np.sum(w[:, None] * w[None, :] * d2(ta) * tb)
        np.testing.assert_allclose(res.M[layer], 1.3 * expected, rtol=1e-10, atol=1e-13)
        assert not np.allclose(res.M[layer], res.M[layer].T)   # really not symmetric


def test_smaller_symmetry_group_gives_the_local_vertex(run):
    """V^{(2)} is exactly its local term (V^{(1)} = 0), so W^{(2)} = V^{(2)}; W keeps the pair
    exchange symmetry it was not told about."""
    _, _, _, res = run
    np.testing.assert_allclose(res.W[2], res.V[2], rtol=1e-13, atol=1e-16)
    W3 = res.W[3]
    np.testing.assert_allclose(W3, W3.transpose(2, 3, 0, 1), rtol=1e-12, atol=1e-15)
    assert np.abs(W3 - res.V[3]).max() > 1e-6          # at layer 3 V has its inherited term


def test_result_object_is_generic(run):
    _, _, _, res = run
    assert res.quantities == ("K", "H", "V", "Theta", "M", "W")
    assert res.G1 is None                                # declared, not computed
    with pytest.raises(AttributeError, match="no quantity 'Nope'"):
        res.Nope
    with pytest.raises(AttributeError):
        res.K = None


@pytest.mark.parametrize("bad, message", [
    (obs.Observable("X", 3, (), sp.S.Zero, (obs.Rule("ab", (a1, a2), ss[a1, a2]),), 0, "X", "", (3,), "none", ""),
     "rank 3"),
    (obs.Observable("Y", 2, ((1, 0),), sp.S.Zero, (obs.Rule("ab", (a1, a2), obs.atom("zz")[a1, a2]),), 0, "Y",
                    "", (2,), "none", ""), "unknown Gaussian atom"),
    (obs.Observable("K", 2, ((1, 0),), sp.S.Zero, (obs.Rule("ab", (a1, a2), C_b + ss[a1, a2]),), 0, "K", "",
                    (2,), "none", ""), "already declared differently"),
    (obs.Observable("Z", 2, ((1, 0),), obs.gram[a2, a1] + obs.gram[a1, a1], (obs.Rule("ab", (a1, a2), ss[a1, a2]),),
                    0, "Z", "", (2,), "none", ""), "initial condition"),
])
def test_malformed_declarations_are_clear_errors(bad, message):
    with pytest.raises(RGFlowError, match=message):
        flow("tanh", ("K", bad))
