"""The ddNTK means R, S, T, U derived by the engine and compiled, against independent references:

* layer 2 in closed form (only the local terms: Ĥ^{(1)} is deterministic, so every inherited term
  vanishes), by a direct 1-D Gauss–Hermite quadrature of the forward-equation atoms;
* real random networks (rgflow.ddntk_montecarlo: second derivatives of the network function along
  gradient directions by central differences of exact gradients) at n = 32 and 64, extrapolated
  to infinite width by the two-point fit T = 2·(n v)_64 − (n v)_32 of n·value = T + c/n, within 4
  combined standard errors (Bonferroni over the entries), for tanh at criticality with one and two inputs
  (every inherited term — B, F, P, Q through Ξ, and R, S, T, U themselves — enters at layer 3) and off
  criticality with a bias (C_b = 0.1, C_W = 1.6, λ_b ≠ λ_W; the same compiled evaluator, so the suite pays
  one compile);
* scale-invariant σ: the classical σ'' and σ''' vanish, so U has no source (U ≡ 0 for ReLU and deep
  linear networks) while R, S, T do not.
"""

import numpy as np
import pytest
import sympy as sp

import codegen
from derive import activation, flow
from derive.engine.ntk import ntk_rule
from rgflow.ddntk_montecarlo import ddntk_sample
from rgflow.training.predict import FAMILY

DD = ("ddR", "ddS", "ddT", "ddU")
MC_NAMES = {"ddR": "R", "ddS": "S", "ddT": "T", "ddU": "U"}


def theory(act, X, depth, C_b, C_W, lb, lw):
    """The compiled statistics (the evaluator ``training.predict`` uses, so the suite compiles it once)."""
    return codegen.compile(flow(act, FAMILY)).run(X, depth=depth, C_b=C_b, C_W=C_W, lambda_b=lb, lambda_W=lw,
                                                  progress=False)


def test_layer_two_in_closed_form():
    """Layer 2, one input (K = C_W x²/n_0, H = λ_b + λ_W x²/n_0): R = λ_W C_W H²⟨σ''σσ'²⟩ + C_W²H³⟨σ'''σ'³⟩,
    S = λ_W C_W H²⟨σ'⁴⟩ + C_W²H³⟨σ''²σ'²⟩, T = λ_W²H⟨σ'²σ²⟩ + 2λ_W C_W H²⟨σ''σ'²σ⟩ + C_W²H³⟨σ''²σ'²⟩,
    U = C_W²H³⟨σ''²σ'²⟩ (the one-neuron terms of the forward equations)."""
    C_W, lb, lw = 1.3, 0.7, 1.1
    res = theory("tanh", np.array([[0.9]]), 2, 0.0, C_W, lb, lw)
    K, H = C_W * 0.81, lb + lw * 0.81
    x, w = np.polynomial.hermite_e.hermegauss(150)
    w = w / w.sum()
    s = np.tanh(np.sqrt(K) * x)
    d = 1 - s**2
    c, t = -2 * s * d, -2 * d**2 + 4 * s**2 * d
    E = lambda f: float(w @ f)
    expected = {"ddR": lw * C_W * H**2 * E(c * s * d * d) + C_W**2 * H**3 * E(t * d**3),
                "ddS": lw * C_W * H**2 * E(d**4) + C_W**2 * H**3 * E(c * c * d * d),
                "ddT": lw**2 * H * E(d * d * s * s) + 2 * lw * C_W * H**2 * E(c * d * d * s) + C_W**2 * H**3 * E(c * c * d * d),
                "ddU": C_W**2 * H**3 * E(c * c * d * d)}
    for q in DD:
        assert getattr(res, q)[2][0, 0, 0, 0] == pytest.approx(expected[q], rel=1e-6), q


def _extrapolated(act, X, depth, C_b, C_W, lb, lw, networks, seed):
    a = activation(act)
    sigma, dsigma = a.numpy_function(), a.numpy_derivative(1)
    r32 = ddntk_sample(sigma, dsigma, X, depth, 32, C_b, C_W, lb, lw, networks, seed=seed)
    r64 = ddntk_sample(sigma, dsigma, X, depth, 64, C_b, C_W, lb, lw, networks, seed=seed + 1)
    out = {}
    for q, m in MC_NAMES.items():
        v32, v64 = getattr(r32, m), getattr(r64, m)
        e32, e64 = getattr(r32, m + "_se"), getattr(r64, m + "_se")
        out[q] = (2 * v64 - v32, np.sqrt(4 * e64**2 + e32**2))
    return out


@pytest.mark.parametrize("act, X, C_b, C_W, lb, lw, networks", [
    ("tanh", np.array([[1.0]]), 0.0, 1.0, 1.0, 1.0, 5000),
    ("tanh", np.array([[1.0], [0.5]]), 0.0, 1.0, 1.0, 1.0, 2000),
    ("tanh", np.array([[1.0, -0.4]]), 0.1, 1.6, 0.5, 1.2, 4000),        # off criticality, C_b > 0
])
def test_against_real_networks(act, X, C_b, C_W, lb, lw, networks):
    res = theory(act, X, 3, C_b, C_W, lb, lw)
    mc = _extrapolated(act, X, 3, C_b, C_W, lb, lw, networks, seed=11)
    for q in DD:
        T, se = mc[q]
        th = np.asarray(getattr(res, q)[3])
        z = (T - th) / se
        print(q, "theory", np.round(th.ravel()[:4], 4), "MC", np.round(T.ravel()[:4], 4), "max |z|", np.abs(z).max())
        assert np.abs(z).max() < 4.0, (q, th, T, se)
    # the statistics are resolved (a test that could not fail would be a defect)
    assert max(np.abs(mc[q][0] / mc[q][1]).max() for q in DD) > 20


def test_scale_invariant_U_vanishes():
    """Every source term of U carries the classical σ'' (atoms with slot code c), which vanishes for ReLU and
    linear σ, so there U stays at its initial value 0; R, S, T keep terms without it."""
    for name in DD:
        rhs = ntk_rule(name).rhs.expand()
        sources = [t for t in rhs.args if not any(x.base.label.name == name for x in t.atoms(sp.Indexed))]
        free = [t for t in sources if not any("c" in x.base.label.name.split("_")[-1] or
                                              "t" in x.base.label.name.split("_")[-1]
                                              for x in t.atoms(sp.Indexed) if "_" in x.base.label.name)]
        assert (not free) == (name == "ddU"), (name, free[:2])
