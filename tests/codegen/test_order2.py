"""The compiled order-1/n² flows (issue #11): ``codegen.compile(flow(act, order=2))``.

References, each independent of the generated module: the plain-numpy evaluation of the same
derived rules (rgflow.order2_reference: its own loops over entries and terms, its own atom cache);
the single-input system (derive.engine.single_input: moments g_m(K) and their K-derivatives, no
N_D atoms at all); the exact finite-width law of deep linear networks with unequal widths (the
width ratios r of the rules); the ReLU single-input recursions in exact rationals (derived from
the chi-square-mixture law, docs/derivation.md); and real networks (Monte Carlo, marker validation).
"""

import hashlib
import os
import subprocess
import sys

import numpy as np
import pytest

import codegen
from codegen.evaluator import InputError
from derive.engine.single_input import single_input_flow
from derive.flow import flow
from derive.recursions import FlowError
from rgflow.order2_reference import order2_flow

STATS = ("K", "G1", "G2", "V", "V1", "U")


def _inputs_for(K1, C_b, C_W):
    """Inputs X (N_D, N_D) whose layer-1 kernel C_b + C_W X Xᵀ/N_D is K1."""
    G = (np.asarray(K1, dtype=float) - C_b) / C_W
    return np.linalg.cholesky(G) * np.sqrt(len(G))


@pytest.fixture(scope="module")
def compiled():
    cache = {}

    def get(name):
        if name not in cache:
            cache[name] = codegen.compile(flow(name, order=2))
        return cache[name]
    return get


@pytest.mark.parametrize("name, C_b, C_W", [("tanh", 0.0, 1.0), ("relu", 0.0, 2.0)])
def test_two_inputs_equal_the_plain_numpy_evaluation_of_the_same_rules(compiled, name, C_b, C_W):
    X = np.array([[1.0, 0.3], [0.2, 1.1]])
    res = compiled(name).run(X, depth=4, C_b=C_b, C_W=C_W, progress=False)
    ref = order2_flow(name, C_b + C_W * X @ X.T / 2, 4, C_b, C_W)
    for stat in STATS:
        got = np.asarray(getattr(res, stat))
        assert got.shape == ref[stat].shape, stat
        scale = np.abs(ref[stat]).max() or 1.0
        assert np.max(np.abs(got - ref[stat])) <= 1e-10 * scale, stat
    assert np.abs(np.asarray(res.U)[-1]).max() > 0 and np.abs(np.asarray(res.V1)[-1]).max() > 0


@pytest.mark.parametrize("name, K, C_b, C_W", [("tanh", 1.0, 0.0, 1.0), ("relu", 2.0, 0.0, 2.0),
                                              ("gelu", 3.561553, 0.172922, 1.983058)])
def test_one_input_and_its_duplicate_equal_the_single_input_system(compiled, name, K, C_b, C_W):
    depth = 5
    single = single_input_flow(name, depth, K, C_b, C_W)
    X = _inputs_for([[K]], C_b, C_W)
    res = compiled(name).run(np.vstack([X, X]), depth=depth, C_b=C_b, C_W=C_W, progress=False)
    for stat, values in single.items():
        entries = np.asarray(getattr(res, stat)).reshape(depth, -1)
        scale = np.max(np.abs(values)) or 1.0
        assert np.max(np.abs(entries - values[:, None])) <= 1e-9 * scale, stat


def _brute_force(act, K, factors, nodes=60):
    """⟨Π_i f_i(z_i)⟩, z ~ N(0, K), f_i = (σ^m)^{(k)}/m^k for factors[i] = (m, k): the full tensor
    product of the split Gauss–Legendre rule (2·nodes per sample) in Cholesky coordinates, the
    derivatives by sympy — independent of the generated module and of the nested rule."""
    import sympy as sp
    from derive import activation
    from derive.numpy_functions import NUMPY_MODULES
    from derive.quadrature import legendre_half_lines
    from derive.symbols import z
    sigma = activation(act).bound_expr
    fns = [sp.lambdify(z, sp.diff(sigma**m, z, k) / m**k, modules=NUMPY_MODULES) for m, k in factors]
    u, w = legendre_half_lines(nodes)
    L = np.linalg.cholesky(K)
    grid = np.array(np.meshgrid(*[u] * len(K), indexing="ij")).reshape(len(K), -1)
    weight = np.prod(np.array(np.meshgrid(*[w] * len(K), indexing="ij")).reshape(len(K), -1), axis=0)
    zs = L @ grid
    return float(np.sum(weight * np.prod([f(zs[i]) for i, f in enumerate(fns)], axis=0)))


def test_three_sample_atoms_against_a_full_tensor_product(compiled):
    """Entries of the engine atoms over three distinct samples (the nested rule) against an
    independent 3-D integration; the share convention groups coincident slots."""
    K = np.array([[0.9, 0.4, -0.2], [0.4, 0.7, 0.3], [-0.2, 0.3, 1.1]])
    atoms, gap = compiled("tanh")._atoms(K, 3)
    assert gap <= 1e-9
    cases = [("g2110_ssss", (0, 1, 2, 2), [(1, 2), (1, 1), (2, 1)]),
             ("g1111_ssss", (0, 1, 2, 0), [(2, 2), (1, 1), (1, 1)]),
             ("g4000_ssss", (2, 0, 1, 0), [(2, 0), (1, 0), (1, 4)]),
             ("g000000_ssssss", (0, 0, 1, 1, 2, 2), [(2, 0), (2, 0), (2, 0)]),
             ("g000000_ssssss", (2, 1, 1, 1, 0, 1), [(1, 0), (4, 0), (1, 0)])]
    for name, entry, factors in cases:
        want = _brute_force("tanh", K, factors)
        got = atoms[name][entry]
        assert abs(got - want) <= 1e-10 * max(1.0, abs(want)), (name, entry, got, want)


def test_the_three_sample_check_warns_when_the_rule_is_too_coarse(compiled, monkeypatch):
    """The a-posteriori check of the nested rule can fail: with 4 check nodes per half-line it does."""
    from codegen import order2_runtime
    K1 = np.array([[1.0, 0.5, 0.3], [0.5, 1.0, 0.5], [0.3, 0.5, 1.0]])
    monkeypatch.setattr(order2_runtime, "INNER_CHECK", 4)
    with pytest.warns(RuntimeWarning, match="inner quadrature rule and its check differ"):
        compiled("tanh").run(_inputs_for(K1, 0.0, 1.0), depth=2, progress=False)


def test_the_order_two_names_are_declared_once():
    from derive.observables import ORDER2_NAMES, order2
    from derive.recursions import ORDER2_OBSERVABLES
    assert tuple(o.name for o in order2()) == ORDER2_NAMES
    assert ORDER2_OBSERVABLES[-len(ORDER2_NAMES):] == ORDER2_NAMES


def test_relu_single_input_in_exact_rationals(compiled):
    """C_W = 2, K = 1: V' = 5 + V, V1' = V1 + 5V, U' = 44 + 30V + U, G1 = G2 = 0 (docs/derivation.md,
    from the exact law Γ' = Γ (2/n) χ²_N, N ~ Binomial(n, ½))."""
    depth = 7
    res = compiled("relu").run(np.full((1, 2), np.sqrt(0.5)), depth=depth, C_W=2.0, progress=False)   # K = 1
    V, V1, U = [0.0], [0.0], [0.0]
    for _ in range(depth - 1):
        V, V1, U = V + [5 + V[-1]], V1 + [V1[-1] + 5 * V[-1]], U + [44 + 30 * V[-1] + U[-1]]
    for stat, exact in (("V", V), ("V1", V1), ("U", U), ("G1", [0.0] * depth), ("G2", [0.0] * depth)):
        got = np.asarray(getattr(res, stat)).reshape(depth)
        assert np.max(np.abs(got - exact)) <= 1e-9 * max(1.0, max(exact)), (stat, got, exact)


def test_deep_linear_networks_with_unequal_widths_are_exact(compiled):
    """σ(z) = z, C_b = 0: Γ_L = C_W Γ_{L−1} χ²_{n_{L−1}}/n_{L−1}, so E[Γ_L] = K_L, Var Γ_L =
    K_L²(Π(1 + 2/n_ℓ) − 1) and κ3(Γ_L) = K_L³(Π(1 + 2/n_ℓ)(1 + 4/n_ℓ) − 3Π(1 + 2/n_ℓ) + 2) over
    ℓ = 1..L−1; in 1/n with n = n_{L−1}: V/n + V1/n² = Var Γ and U/n² = κ3(Γ) (single input: the
    connected four-point function is 3 Var Γ = 3(V/n + …), the six-point 15 κ3(Γ) = 15 U/n² + …)."""
    widths = [48, 96, 32, 64, 80, 40]
    depth = len(widths)
    C_W = 1.3
    res = compiled("linear").run(np.ones((1, 2)), depth=depth, width=widths, C_W=C_W, progress=False)
    for L in range(2, depth + 1):
        n = widths[L - 2]
        x = [n / w for w in widths[:L - 1]]
        K = C_W ** L
        pairs = sum(x[i] * x[j] for i in range(len(x)) for j in range(i + 1, len(x)))
        exact = {"K": K, "G1": 0.0, "G2": 0.0, "V": 2 * K**2 * sum(x), "V1": 4 * K**2 * pairs,
                 "U": K**3 * (8 * sum(v * v for v in x) + 24 * pairs)}
        for stat, value in exact.items():
            got = float(np.asarray(getattr(res, stat)[L]).ravel()[0])
            assert abs(got - value) <= 1e-12 * max(1.0, abs(value)), (L, stat, got, value)


def test_what_order_two_cannot_evaluate_is_refused(compiled):
    with pytest.raises(InputError, match="at most 3 distinct inputs with a smooth activation"):
        compiled("tanh").run(np.eye(4), depth=2, progress=False)
    with pytest.raises(InputError, match="at most 2 distinct inputs with an activation kinked"):
        compiled("relu").run(np.eye(3), depth=2, C_W=2.0, progress=False)
    with pytest.raises(InputError, match="parallel"):
        compiled("relu").run(np.array([[1.0, 1.0], [2.0, 2.0]]), depth=3, C_W=2.0, progress=False)
    with pytest.raises(FlowError, match="order=2"):
        flow("tanh", ("G2",))
    with pytest.raises(FlowError, match="order 1/n only"):
        flow("tanh", ("K", "H"), order=2)
    with pytest.raises(FlowError, match="order must be 1 or 2"):
        flow("tanh", order=3)


def test_the_flow_shows_the_new_tensors():
    f = flow("tanh", ("U",), order=2)
    assert f.quantities == ("K", "V", "U")       # U' reads V and U (and K through its atoms)
    g = flow("relu", order=2).graph
    for node in ("G2'", "V1'", "U'", "E[g000000_ssssss]", "E[p80_ss]"):
        assert node in g, node
    assert "E[g000000_ssssss]" in set(g.predecessors("U'"))
    tex = flow("tanh", order=2).to_latex()
    for head in (r"U^{(\ell+1)}_{(\alpha_{1}\alpha_{2})(\alpha_{3}\alpha_{4})(", r"G^{\{2\}(\ell+1)}_{\alpha_{1}\alpha_{2}}",
                 r"V^{\{1\}(\ell+1)}", r"\langle \sigma_{1} \sigma_{2} \sigma_{3} \sigma_{4} \sigma_{5} \sigma_{6} \rangle"):
        assert head in tex, head


_RENDER = ("import hashlib, sys; from derive.flow import flow; from codegen.order2 import render_order2; "
           "print(hashlib.sha256(render_order2(flow(sys.argv[1], order=2), 'test').encode()).hexdigest())")


def test_the_generated_module_is_deterministic():
    from codegen.order2 import render_order2
    text = render_order2(flow("relu", order=2), "test")
    digests = set()
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run([sys.executable, "-c", _RENDER, "relu"], capture_output=True, text=True, env=env,
                             check=True)
        digests.add(out.stdout.strip())
    assert digests == {hashlib.sha256(text.encode()).hexdigest()}
    assert text.startswith("# Generated by `test` -- DO NOT EDIT")
    imported = {line.split()[1].split(".")[0] for line in text.splitlines() if line.startswith(("import ", "from "))}
    assert imported == {"math", "numba", "numpy"}
    assert codegen.compile(flow("relu", order=2)).module.SIGNATURE == flow("relu", order=2).signature()


#: Four-point entries compared with real networks (two inputs).
ENTRIES = [(0, 0, 0, 0), (0, 0, 1, 1), (0, 1, 0, 1), (0, 0, 0, 1)]


def _four_point_at_both_orders(compiled, name, K1, depth, n, C_b, C_W, networks, seed):
    """The compiled order-2 four-point function agrees with real networks in every entry of the last
    layer (Bonferroni bound); order 1 is rejected in every entry at the same threshold."""
    from rgflow.metric_cumulants import sample
    from rgflow.validate import bonferroni_threshold
    res = compiled(name).run(_inputs_for(K1, C_b, C_W), depth=depth, C_b=C_b, C_W=C_W, progress=False)
    V, V1 = np.asarray(res.V), np.asarray(res.V1)
    mc = sample(name, K1, depth, n, C_b=C_b, C_W=C_W, networks=networks, seed=seed, progress=False)
    at = [(depth - 1,) + e for e in ENTRIES]
    z2 = [(mc.four[i] - V[i] / n - V1[i] / n**2) / mc.four_se[i] for i in at]
    z1 = [(mc.four[i] - V[i] / n) / mc.four_se[i] for i in at]
    t = bonferroni_threshold(len(at))
    assert max(map(abs, z2)) <= t, z2
    assert min(map(abs, z1)) > t, z1


@pytest.mark.validation
def test_two_gelu_inputs_against_real_networks(compiled):
    """GELU at its half-stable point, inputs of correlation 0.5, n = 32, layer 5."""
    K = 3.561553
    _four_point_at_both_orders(compiled, "gelu", K * np.array([[1.0, 0.5], [0.5, 1.0]]), 5, 32, 0.172922,
                               1.983058, 24_000, 5)


@pytest.mark.validation
def test_three_tanh_inputs_against_real_networks(compiled):
    """tanh at criticality (C_W = 1), three inputs, n = 32, layer 6: order 2 agrees in every entry, and
    order 1 is rejected in the entries (0,1,0,2) — three distinct samples, the nested rule — and
    (0,2,0,2) (measured: z = −5.4, −4.8 at order 1; ≤ 1.5 at order 2)."""
    from rgflow.metric_cumulants import sample
    from rgflow.validate import bonferroni_threshold
    K1 = np.array([[1.0, 0.5, 0.3], [0.5, 1.0, 0.5], [0.3, 0.5, 1.0]])
    depth, n = 6, 32
    res = compiled("tanh").run(_inputs_for(K1, 0.0, 1.0), depth=depth, progress=False)
    V, V1 = np.asarray(res.V), np.asarray(res.V1)
    mc = sample("tanh", K1, depth, n, networks=24_000, seed=5, progress=False)
    entries = [(0, 0, 1, 2), (0, 1, 0, 2), (1, 1, 0, 2), (2, 2, 0, 1), (0, 0, 1, 1), (0, 2, 0, 2)]
    at = [(depth - 1,) + e for e in entries]
    z2 = [(mc.four[i] - V[i] / n - V1[i] / n**2) / mc.four_se[i] for i in at]
    z1 = {e: (mc.four[i] - V[i] / n) / mc.four_se[i] for e, i in zip(entries, at)}
    t = bonferroni_threshold(len(at))
    assert max(map(abs, z2)) <= t, z2
    assert abs(z1[(0, 1, 0, 2)]) > t and abs(z1[(0, 2, 0, 2)]) > t, z1


@pytest.mark.validation
def test_two_relu_inputs_against_real_networks(compiled):
    """ReLU (C_W = 2), inputs of correlation 0.5, n = 64, layer 5 (kinked atoms by integration by parts)."""
    _four_point_at_both_orders(compiled, "relu", 2.0 * np.array([[1.0, 0.5], [0.5, 1.0]]), 5, 64, 0.0, 2.0,
                               24_000, 3)
