"""rgflow's K and H against neural-tangents' analytic kernels (ReLU, erf), float64.

neural-tangents is a benchmark-only dependency (see benchmarks/bench_flow.py for
the environment); without it this module is skipped.

Correspondence: NT's ``stax.Dense(1, W_std, b_std, parameterization="ntk")`` is
C_W = λ_W = W_std², C_b = λ_b = b_std²; after L Dense layers with L − 1
activations in between, NT's (nngp, ntk) are rgflow's (K[L], H[L]).

One known difference: NT's ReLU layer takes the angle as
arctan2(sqrt(K_aa K_bb - K_ab^2), K_ab); on the diagonal the radicand is rounding
noise, which gives θ ≈ sqrt(eps) ≈ 1e-8 instead of 0 and so a relative error of a
few 1e-8 in the diagonal of H (rgflow uses the exact diagonal value 1/2 of <σ'σ'>; an mpmath
evaluation agrees with rgflow to 1e-15).  That diagonal is compared with the
exact arc-cosine closed form instead, and with NT only to 1e-6.
"""

import numpy as np
import pytest

nt = pytest.importorskip("neural_tangents")
jax = pytest.importorskip("jax")

from neural_tangents import stax  # noqa: E402

import codegen  # noqa: E402
from derive.flow import flow  # noqa: E402
from rgflow.reference import nngp_ntk_closed  # noqa: E402

RTOL = 1e-10


@pytest.fixture(scope="module", autouse=True)
def x64():
    previous = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", previous)


def nt_kernels(name, X, depth, C_b, C_W):
    def dense():
        return stax.Dense(1, W_std=float(np.sqrt(C_W)), b_std=float(np.sqrt(C_b)), parameterization="ntk")
    act = {"relu": stax.Relu, "erf": stax.Erf}[name]
    layers = [dense()]
    for _ in range(depth - 1):
        layers += [act(), dense()]
    _, _, kernel_fn = stax.serial(*layers)
    out = kernel_fn(jax.numpy.asarray(X, dtype=jax.numpy.float64), None, ("nngp", "ntk"))
    nngp, ntk = np.asarray(out.nngp), np.asarray(out.ntk)
    assert nngp.dtype == np.float64
    return nngp, ntk


def rel(a, b):
    """|a − b| / |b|, with |b| floored at 1e-6 sqrt(b_aa b_bb) (entries that are exactly 0, e.g. ReLU
    with C_b = 0 and anti-aligned inputs, are compared on the diagonal scale)."""
    d = np.sqrt(np.diag(b))
    return np.abs(a - b) / np.maximum(np.abs(b), 1e-6 * np.outer(d, d))


@pytest.mark.parametrize("name, C_b, C_W", [("relu", 0.1, 2.0), ("relu", 0.0, 2.0), ("erf", 0.1, 1.5),
                                             ("erf", 0.0, 1.0)])
@pytest.mark.parametrize("depth", [1, 2, 6])
def test_k_and_h_match_neural_tangents(name, C_b, C_W, depth):
    rng = np.random.default_rng(3)
    X = rng.standard_normal((7, 5))
    X[3] = X[1]                      # a repeated input (exercises the de-duplication path)
    X[4] = -0.5 * X[2]               # an anti-aligned one
    res = codegen.compile(flow(name, ("K", "H"))).run(X, depth=depth, C_b=C_b, C_W=C_W)
    K, H = res.K[depth], res.H[depth]
    nngp, ntk = nt_kernels(name, X, depth, C_b, C_W)
    assert np.max(rel(nngp, K)) < RTOL
    diag = np.eye(len(X), dtype=bool)
    same = diag.copy()
    same[1, 3] = same[3, 1] = True       # X[1] == X[3]: a diagonal-type entry (correlation exactly 1)
    assert H[1, 3] == H[1, 1] == H[3, 3]
    assert np.max(rel(ntk, H)[~same]) < RTOL
    if name == "erf":
        assert np.max(rel(ntk, H)) < RTOL
    else:
        # NT's rounding on correlation-1 entries (module docstring); the diagonal against the closed form
        assert np.max(rel(ntk, H)) < 1e-6
        _, Hc = nngp_ntk_closed(name, X, depth, C_b, C_W)
        assert np.max(rel(H, Hc[-1])[diag]) < 1e-12
