"""Three- and four-sample expectations by the block Hermite series (``_block_sums``).

The samples of a sorted quadruple split into two blocks that share none (two pairs; or the
doubled sample alone against the other two); each block's factors are integrated once per
layer against Hermite polynomials of its whitened coordinates (``_block_tables``) and the
blocks are coupled by the Wick/Mehler series in their cross-correlations.  Where the
blocks' canonical correlation is large or the series does not converge, the nested rule
(``_shared_nested``) takes over.  References here know nothing of either: tensor
Gauss–Hermite on the 4×4 covariance (degrees 40 and 48 bracketing their own error) and,
for the tables, Gauss–Hermite of degree 300.
"""

import importlib
import math

import numpy as np
import pytest
from numpy.polynomial.hermite_e import hermegauss, hermeval

from codegen.evaluator import memory_estimate
from codegen.lower import lower
from derive import flow
from derive.activations import activation
from rgflow.reference import expect_tensor

NTK = ("K", "H", "A", "B", "D", "F", "H1", "P", "Q")
#: sorted tuples of the three- and four-sample shapes (0123, 0012, 0112, 0122)
TUPLES = [(0, 1, 2, 3), (0, 0, 1, 3), (1, 2, 2, 4), (0, 2, 3, 3)]


def _module(name):
    return importlib.import_module(f"generated.flow_{name}")


def _kernel(n, scale, offset, seed, spread=None, dim=16):
    """A positive-definite kernel: inputs in ``dim`` dimensions (correlations ~ 1/sqrt(dim)),
    optionally unequal variances."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, dim))
    if spread is not None:
        X *= np.linspace(1.0, spread, n)[:, None]
    return np.ascontiguousarray(scale * (X @ X.T / dim + offset))


def _shape(module, t):
    r1 = 0 if t[1] == t[0] else 1
    r2 = r1 if t[2] == t[1] else r1 + 1
    r3 = r2 if t[3] == t[2] else r2 + 1
    return int(module._SHAPE_INDEX[r1 * 16 + r2 * 4 + r3])


def _block(module, K, t):
    """(used, sums) of _block_sums at the sorted tuple t."""
    tables = module._block_tables(K, module._BK_FIDS2, module._BK_FIDS1)
    s = np.zeros(4, dtype=np.int64)
    distinct = sorted(set(t))
    s[:len(distinct)] = distinct
    sums = np.zeros(module._SH_MAXSIG)
    return module._block_sums(np.int64(_shape(module, t)), s, K, *tables, sums), sums


def _slot_functions(act, name):
    letters = "ssss" if name == "ssss" else name[2:]
    table = {"s": act.numpy_function(), "d": act.numpy_derivative(1), "c": act.numpy_derivative(2)}
    return [table[c] for c in letters]


CASES = [  # activation, kernel scale, offset (C_b-like), unequal variances, Gauss-Hermite degrees
    ("tanh", 0.05, 0.0, None, (40, 48)),
    ("tanh", 0.6, 0.0, None, (48, 56)),
    ("tanh", 1.2, 0.1, 1.3, None),        # tensor Gauss-Hermite does not converge to 1e-9 here
    ("gelu", 1.0, 0.2, None, (40, 48)),
    ("erf", 0.8, 0.3, 1.5, (48, 56)),
]
#: the entries checked against tensor Gauss-Hermite (its cost: degree^4 nodes per entry)
GH_ENTRIES = {"tanh": [("ssss", (0, 1, 2, 3)), ("ssss", (0, 0, 1, 3)), ("ssss", (0, 2, 3, 3)),
                       ("q_ddss", (0, 1, 2, 3))],
              "gelu": [("ssss", (0, 1, 2, 3)), ("q_ddss", (0, 0, 1, 3))],
              "erf": [("ssss", (0, 1, 2, 3)), ("ssss", (1, 2, 2, 4))]}


def _atom_names():
    """The four-sample atoms of an NTK-family module, in plan order (sorted names: the same
    for every activation; lowering tanh's flow is the cheap way to read them)."""
    names = [q.name for q in lower(flow("tanh", NTK)).quads]
    assert names == sorted(names)
    return names


def _nested(module, K, t):
    """Every signature of t's shape by the nested trapezoid rule (the other rule)."""
    distinct = sorted(set(t))
    m = len(distinct)
    C = np.zeros((4, 4))
    C[:m, :m] = K[np.ix_(distinct, distinct)]
    sums = np.zeros(module._SH_MAXSIG)
    module._shared_nested(np.int64(_shape(module, t)), module._chol(C, np.int64(m)), module._TOL_ND,
                          np.int64(1), np.zeros(4, dtype=np.int64), sums)
    return sums


@pytest.mark.parametrize("act_name, scale, offset, spread, degrees", CASES)
def test_four_point_atoms_against_gauss_hermite(act_name, scale, offset, spread, degrees):
    """Every four-sample atom of the NTK family at the three- and four-sample shapes, where
    the block series is the rule used (asserted): every integral (signature) within 1e-9 of
    the largest against the nested rule, and ⟨σσσσ⟩ and ⟨σ'σ'σσ⟩ entries (GH_ENTRIES) within
    1e-9 of E|Π f| of tensor Gauss–Hermite wherever its two degrees agree to that."""
    module = _module(f"{act_name}_ntk")
    names = _atom_names()
    K = _kernel(5, scale, offset, seed=7, spread=spread)
    Q = dict(zip(names, module._quad(K, np.zeros(4, dtype=np.int64), module._multisets(np.int64(5)))))
    act = activation(act_name)
    checked = 0
    for t in TUPLES:
        used, sums = _block(module, K, t)
        assert used, t
        nsig = module._SH_NSIG[_shape(module, t)]
        ref = _nested(module, K, t)[:nsig]
        assert np.max(np.abs(sums[:nsig] - ref)) <= 1e-9 * np.max(np.abs(ref)), t
    for name, t in GH_ENTRIES[act_name] if degrees else ():
        sub = K[np.ix_(t, t)]
        fns = _slot_functions(act, name)
        lo, hi = (expect_tensor(fns, sub, degree) for degree in degrees)
        scale_ = expect_tensor([lambda x, f=f: np.abs(f(x)) for f in fns], sub, 24)
        if abs(lo - hi) < 1e-9 * scale_:
            checked += 1
            assert abs(Q[name][t] - hi) <= 1e-9 * scale_ + abs(lo - hi), (name, t, Q[name][t], hi)
    assert checked >= (len(GH_ENTRIES[act_name]) - 1 if degrees else 0)


def test_negative_correlations_and_the_v_flow():
    """⟨σσσσ⟩ of the (K, H, V, G1) module with anticorrelated samples."""
    module = _module("tanh_full")
    K = _kernel(4, 0.8, 0.0, seed=3)
    K[0, 1:] *= -1.0
    K[1:, 0] *= -1.0
    Q = module._quad(K, np.zeros(4, dtype=np.int64), module._multisets(np.int64(4)))[0]
    tanh = np.tanh
    for t in [(0, 1, 2, 3), (0, 0, 1, 2), (0, 1, 1, 3)]:
        assert _block(module, K, t)[0]
        sub = K[np.ix_(t, t)]
        lo, hi = (expect_tensor([tanh] * 4, sub, d) for d in (40, 48))
        scale = expect_tensor([lambda x: np.abs(np.tanh(x))] * 4, sub, 24)
        assert abs(Q[t] - hi) <= 1e-9 * scale + abs(lo - hi)


def test_tables_against_direct_quadrature():
    """T2[c, a, b, i, j] = E[f(z_a) g(z_b) He_i(w1) He_j(w2)] in the Cholesky coordinates of
    the pair, up to the table's order 40, and T1, S1, S2, by Gauss–Hermite of degree 300 (1e-10 of
    the normalised entries' bound sqrt(S): far inside the 1e-9 policy after the series)."""
    module = _module("tanh_ntk")
    K = _kernel(3, 0.9, 0.05, seed=1)
    T2, S2, L2, T1, S1 = module._block_tables(K, module._BK_FIDS2, module._BK_FIDS1)
    x, w = hermegauss(300)
    w = w / np.sqrt(2 * np.pi)
    a, b = 0, 2
    l11 = np.sqrt(K[a, a])
    l21 = K[a, b] / l11
    l22 = np.sqrt(K[b, b] - l21**2)
    np.testing.assert_allclose(L2[a, b], [l11, l21, l22], rtol=1e-14)
    u1, u2 = np.meshgrid(x, x, indexing="ij")
    W = np.outer(w, w)
    fns = {k: (lambda z, k=k: np.array([module._factor(np.int64(k), v) for v in z.ravel()]).reshape(z.shape))
           for k in set(module._BK_FIDS2.ravel()) | set(module._BK_FIDS1)}
    for c, (f, g) in enumerate(module._BK_FIDS2):
        F = fns[f](l11 * u1) * fns[g](l21 * u1 + l22 * u2) * W
        size = np.sqrt(S2[c, a, b])       # bounds every normalised entry (Bessel)
        for i, j in [(0, 0), (1, 0), (0, 1), (2, 3), (7, 5), (12, 0), (20, 4), (24, 24), (40, 3), (31, 40)]:
            ref = np.sum(F * hermeval(u1, np.eye(41)[i]) * hermeval(u2, np.eye(41)[j]))
            norm = math.sqrt(math.factorial(i) * math.factorial(j))
            assert abs(T2[c, a, b, i, j] - ref) <= 1e-10 * norm * size, (c, i, j, T2[c, a, b, i, j], ref)
        assert S2[c, a, b] == pytest.approx(np.sum((fns[f](l11 * u1) * fns[g](l21 * u1 + l22 * u2)) ** 2 * W),
                                            rel=1e-12)
    for c, f in enumerate(module._BK_FIDS1):
        vals = fns[f](np.sqrt(K[1, 1]) * x)
        for i in (0, 1, 6, 24, 40):
            ref = np.sum(w * vals * hermeval(x, np.eye(41)[i]))
            assert abs(T1[c, 1, i] - ref) <= 1e-10 * math.sqrt(math.factorial(i) * S1[c, 1]), (c, i)
        assert S1[c, 1] == pytest.approx(np.sum(w * vals**2), rel=1e-12)


def test_falls_back_where_the_series_does_not_apply():
    """Nearly coincident samples paired against each other's blocks (correlation 0.999 in
    every pairing) and a large K_aa: _block_sums declines, _quad still meets the policy
    through the nested rule; kinked activations never render the block rule."""
    module = _module("tanh_full")
    X = np.random.default_rng(2).normal(size=(1, 8)) + 0.03 * np.random.default_rng(3).normal(size=(4, 8))
    K = np.ascontiguousarray(0.5 * X @ X.T / 8)
    assert not _block(module, K, (0, 1, 2, 3))[0]
    big = _kernel(4, 60.0, 0.0, seed=5)
    assert module._block_tables(big, module._BK_FIDS2, module._BK_FIDS1)[0].shape[0] == 0
    assert not _block(module, big, (0, 1, 2, 3))[0]
    Q = module._quad(K, np.zeros(4, dtype=np.int64), module._multisets(np.int64(4)))[0]
    sub = K[np.ix_((0, 1, 2, 3), (0, 1, 2, 3))]
    lo, hi = (expect_tensor([np.tanh] * 4, sub, d) for d in (40, 48))
    scale = expect_tensor([lambda x: np.abs(np.tanh(x))] * 4, sub, 24)
    assert abs(Q[0, 1, 2, 3] - hi) <= 1e-9 * scale + abs(lo - hi)
    assert not hasattr(_module("relu_full"), "_block_sums")


def test_nearly_duplicate_inputs():
    """Two inputs at correlation 1 - 5e-8 (a valid, nearly singular kernel of a real
    network): paired in one block the series integrates the quadruple (0, 1, 2, 3); where the
    doubled sample stands alone against its near-copy (0, 1, 1, 3) the nested rule does;
    both within 1e-9 of E|Π σ| (plus the reference's own spread).  (A kernel with such a
    correlation whose other entries do not follow is indefinite; no rule owes it a value.)"""
    module = _module("tanh_full")
    rng = np.random.default_rng(2)
    X = rng.normal(size=(4, 16))
    X[1] = X[0] + 3e-4 * rng.normal(size=16)
    K = np.ascontiguousarray(0.5 * X @ X.T / 16)
    assert K[0, 1] / np.sqrt(K[0, 0] * K[1, 1]) > 1 - 1e-7
    Q = module._quad(K, np.zeros(4, dtype=np.int64), module._multisets(np.int64(4)))[0]
    for t, used in [((0, 1, 2, 3), True), ((0, 0, 2, 3), True), ((0, 1, 1, 3), False)]:
        assert _block(module, K, t)[0] == used, t
        sub = K[np.ix_(t, t)]
        lo, hi = (expect_tensor([np.tanh] * 4, sub, d) for d in (40, 48))
        scale = expect_tensor([lambda x: np.abs(np.tanh(x))] * 4, sub, 24)
        assert abs(Q[t] - hi) <= 1e-9 * scale + abs(lo - hi), (t, Q[t], hi)


def test_memory_estimate_counts_the_tables():
    module = _module("tanh_ntk")
    pairs, singles, order = len(module._BK_FIDS2), len(module._BK_FIDS1), module._BLOCK_ORDER
    without = memory_estimate(40, 40, 3, [2, 4])
    with_ = memory_estimate(40, 40, 3, [2, 4], block_tables=(pairs, singles, order))
    K = _kernel(40, 0.5, 0.0, seed=0)
    tables = module._block_tables(K, module._BK_FIDS2, module._BK_FIDS1)
    assert with_ - without == sum(t.nbytes for t in tables)
