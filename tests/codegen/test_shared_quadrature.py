"""Four-sample atoms on shared nodes (``_quad`` → ``_shared_nested``, issue #13's cost).

Every four-sample atom of a layer is integrated in one pass per sorted quadruple and
scattered to all 24 permutations through per-shape tables (codegen.lower.QuadShape).  These
tests check the scatter and the integrals entry by entry against references that know
nothing of it: 4-D tensor Gauss–Hermite on the 4×4 covariance of the index tuple (coincident
samples included) for tanh, where it converges, and Monte Carlo for ReLU, whose kinks only
the nested rule resolves; plus the slot symmetries and that every entry is written.
"""

import importlib
import itertools

import numpy as np
import pytest

from codegen.lower import lower, symmetry_group
from derive import flow
from derive.activations import activation
from rgflow.reference import expect_tensor

NTK = ("K", "H", "A", "B", "D", "F", "H1", "P", "Q")
#: index tuples: every shape of a sorted quadruple (0123 twice, 0112, 0012, 0122, 0011, 0111,
#: 0001, 0000), most of them unsorted
TUPLES = [(0, 1, 2, 3), (3, 1, 0, 2), (2, 2, 0, 3), (0, 4, 0, 2), (3, 1, 0, 3), (1, 3, 1, 3), (4, 0, 4, 4),
          (0, 0, 0, 4), (1, 1, 1, 1)]


def _slot_functions(act, name):
    """numpy functions of the slots of a four-sample atom: ssss, or q_<letters> with
    s = σ, d = σ', c = classical σ''."""
    letters = "ssss" if name == "ssss" else name[2:]
    table = {"s": act.numpy_function(), "d": act.numpy_derivative(1), "c": act.numpy_derivative(2)}
    return [table[c] for c in letters]


def _layer(name, n, scale, seed):
    module = importlib.import_module(f"generated.flow_{name}_ntk")
    names = [q.name for q in lower(flow(name, NTK)).quads]
    X = scale * np.random.default_rng(seed).normal(size=(n, 3))
    K = np.ascontiguousarray(X @ X.T / 3 + 0.05 * scale**2)
    Q = module._quad(K, np.zeros(4, dtype=np.int64), module._multisets(np.int64(n)))
    return K, dict(zip(names, Q))


@pytest.fixture(scope="module")
def tanh_layer():
    return _layer("tanh", 5, 0.4, 11)


def test_every_entry_is_written_and_has_the_slot_symmetry(tanh_layer):
    K, atoms = tanh_layer
    for name, Q in atoms.items():
        assert np.all(np.isfinite(Q)), name
        letters = "ssss" if name == "ssss" else name[2:]
        generators = [tuple(k2 if v == k else k if v == k2 else v for v in range(4))
                      for k, k2 in itertools.combinations(range(4), 2) if letters[k] == letters[k2]]
        for g in symmetry_group(generators, 4):
            np.testing.assert_array_equal(Q, np.transpose(Q, np.argsort(g)), err_msg=f"{name} {g}")


def test_tanh_atoms_against_gauss_hermite(tanh_layer):
    """Each atom at sorted and permuted tuples of every shape, to the stated 1e-9 of the
    integrand scale E|Π f| (tensor Gauss–Hermite, degrees 40 and 48 bracketing its own error)."""
    K, atoms = tanh_layer
    act = activation("tanh")
    for name, Q in sorted(atoms.items()):
        fns = _slot_functions(act, name)
        # three and four distinct samples: the block series (test_block_series.py checks every
        # atom there against this reference and the nested rule); here ⟨σσσσ⟩ only
        for t in TUPLES if name == "ssss" else [t for t in TUPLES if len(set(t)) <= 2]:
            sub = K[np.ix_(t, t)]
            lo, hi = (expect_tensor(fns, sub, degree) for degree in (40, 48))
            scale = expect_tensor([lambda x, f=f: np.abs(f(x)) for f in fns], sub, 24)
            assert abs(lo - hi) < 1e-8 * scale
            assert abs(Q[t] - hi) <= 1e-9 * scale + abs(lo - hi), (name, t, Q[t], hi)


def test_relu_atoms_against_monte_carlo():
    """ReLU: the numeric (kinked) four-distinct entries and the closed ones, against 4·10^6
    Gaussian samples per tuple (5 standard errors)."""
    K, atoms = _layer("relu", 4, 1.0, 3)
    act = activation("relu")
    rng = np.random.default_rng(7)
    for t in ((0, 1, 2, 3), (2, 0, 3, 1), (1, 1, 2, 3), (3, 0, 3, 0)):
        z = rng.multivariate_normal(np.zeros(4), K[np.ix_(t, t)], size=4_000_000, method="eigh").T
        for name, Q in sorted(atoms.items()):
            product = np.prod([f(z[k]) for k, f in enumerate(_slot_functions(act, name))], axis=0)
            mean, se = product.mean(), product.std() / np.sqrt(product.size)
            assert abs(Q[t] - mean) <= 5 * se + 1e-12, (name, t, Q[t], mean, se)
