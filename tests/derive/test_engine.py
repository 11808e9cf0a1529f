"""The derivation engine (issue #11) reproduces the declared order-1/n rules and the exact
finite-width statistics of deep linear and ReLU networks to order 1/n².

References, independent of the engine: the declared rules of :mod:`derive.observables`
(typed in from THEORY.md, checked there against Monte Carlo), compared symbolically on
distinct samples and by Gauss–Hermite quadrature of every atom at coincident samples; the
exact layer-to-layer law of single-input deep linear networks (the collective metric is
multiplied by C_W χ²_n/n per layer) and of single-input ReLU networks at C_b = 0 (by
(C_W/n) χ²_N with N ~ Binomial(n, ½) active neurons), expanded in 1/n with exact rationals.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
import sympy as sp
from declared_rules import DECLARED_RULES

from derive import activation
from derive.engine import derived_rule
from derive.engine.single_input import moment, scalar, single_input_system
from derive.engine.terms import canonical_entry
from derive.engine.wick import joint_cumulant
from derive.numpy_functions import NUMPY_MODULES
from derive.observables import sample_indices, state, width_ratio
from derive.recursions import _atom_cached, partition_key
from derive.symbols import C_W, C_b, K, z
from rgflow.reference import expect_tensor

a1, a2, a3, a4 = sample_indices

# ---------------------------------------------------------------------------------
# Derived = declared (K, V, G1)
# ---------------------------------------------------------------------------------

#: Declared atoms whose off-diagonal entries are the engine's Stein-derivative atoms.
_RENAME = {"dsds": "p11_ss", "d2ss": "p20_ss", "d4ss": "p40_ss", "d3sds": "p31_ss", "d2sd2s": "p22_ss"}


def _canonical_tensors(expr: sp.Expr) -> sp.Expr:
    def fix(x):
        name = str(x.base.label)
        if name in ("V", "G1"):
            n, idx = canonical_entry(name, tuple(x.indices))
            return state(n)[idx]
        return x
    return expr.replace(lambda e: isinstance(e, sp.Indexed), fix)


def _off_diagonal(rules):
    return next(r for r in rules if r.pattern in ("ab", "a<b", "abcd"))


@pytest.mark.parametrize("name", ["K", "V", "G1"])
def test_derived_equals_declared_symbolically_on_distinct_samples(name):
    declared = _off_diagonal(DECLARED_RULES[name]).rhs
    declared = declared.replace(lambda e: isinstance(e, sp.Indexed) and str(e.base.label) in _RENAME,
                                lambda e: sp.IndexedBase(_RENAME[str(e.base.label)])[e.indices])
    derived = derived_rule(name).rhs
    assert sp.expand(_canonical_tensors(declared) - _canonical_tensors(derived)) == 0


def _pattern_key(values) -> str:
    first = {}
    rgs = tuple(first.setdefault(v, len(first)) for v in values)
    return partition_key(rgs) if len(values) == 4 else ("a" if len(set(values)) == 1 else "ab")


@functools.lru_cache(maxsize=None)
def _factor_fn(expr):
    return sp.lambdify(z, expr, modules=NUMPY_MODULES) if expr.has(z) else (lambda x, c=float(expr): np.full_like(x, c))


def _atom_value(act, name, values, Kmat, degree):
    """⟨…⟩ of the atom entry by tensor Gauss–Hermite over its distinct samples."""
    atom = _atom_cached(act, name)
    pattern = atom.pattern(_pattern_key(values))
    distinct = list(dict.fromkeys(values))
    C = Kmat[np.ix_(distinct, distinct)]
    return expect_tensor([_factor_fn(f) for f in pattern.factors], C, degree)


def _evaluate(act, expr, index_values, tensors, Kmat, degree=48):
    expr = expr.subs(dict(zip(sample_indices, index_values)))
    subs = {}
    for x in expr.atoms(sp.Indexed):
        name, idx = str(x.base.label), tuple(int(i) for i in x.indices)
        if name in tensors:
            subs[x] = tensors[name][idx]
        else:
            subs[x] = _atom_value(act, name, idx, Kmat, degree if len(set(idx)) <= 2 else 20)
    return float(expr.subs(subs).subs({C_W: 1.3, C_b: 0.2, width_ratio: 0.7}))


def _random_state(rng, nd):
    X = rng.normal(size=(nd, 3))
    X[-1] = X[0]                                   # a duplicated input: a singular (PSD) kernel
    Kmat = 0.2 + X @ X.T / 3
    V = rng.normal(size=(nd,) * 4)
    V = sum(V.transpose(p) for p in [(0, 1, 2, 3), (1, 0, 2, 3), (0, 1, 3, 2), (1, 0, 3, 2)])
    V = V + V.transpose(2, 3, 0, 1)
    G1 = rng.normal(size=(nd, nd))
    return Kmat, {"V": V, "G1": G1 + G1.T}


@pytest.mark.parametrize("act_name", ["tanh", "gelu"])
@pytest.mark.parametrize("name", ["V", "G1"])
def test_derived_equals_declared_numerically_with_coincident_samples(act_name, name, rng):
    """Coincident samples: the declared rules use one-point atoms (⟨σ''σ⟩, ⟨(σ²)''''⟩), the
    derived ones the shares of the Stein atoms; both are integrated by Gauss–Hermite."""
    act = activation(act_name)
    Kmat, tensors = _random_state(rng, 3)        # samples 0 and 2 coincide
    o = DECLARED_RULES[name]
    cases = [(0, 0, 1, 1), (0, 2, 1, 2), (0, 0, 0, 0), (0, 1, 0, 2)] if name == "V" else [(0, 0), (0, 2), (0, 1)]
    for values in cases:
        if name == "G1" and values[0] == values[1]:
            rule = next(r for r in o if r.pattern == "aa")
            declared = rule.rhs
        else:
            declared = _off_diagonal(o).rhs
        d = _evaluate(act, declared, values, tensors, Kmat)
        e = _evaluate(act, derived_rule(name).rhs, values, tensors, Kmat)
        assert abs(d - e) <= 1e-10 * max(1.0, abs(d)), (values, d, e)


def test_the_cluster_property_is_checked_not_assumed():
    """Two neurons at order 0 are independent: their cumulant is empty, and asking for a
    cumulant of three neurons' observables below its cluster order is refused."""
    s = (("s", a1), ("s", a2))
    assert joint_cumulant((s, s), (0, 1), 0) == {}
    assert joint_cumulant((s, s, s), (0, 1, 2), 1) == {}
    assert len(joint_cumulant((s, s, s), (0, 1, 2), 2)) > 0


# ---------------------------------------------------------------------------------
# Exact finite-width references to order 1/n² (single input)
# ---------------------------------------------------------------------------------

x = sp.Symbol("x", positive=True)   # 1/n


def _iterate(system, g, depth, K1, CW, Cb=0):
    """Layers 1..depth of (K, G1, G2, V, V1, U) from the single-input system with moments g[m](K)."""
    values = {"K": sp.Rational(K1), "G1": 0, "G2": 0, "V": 0, "V1": 0, "U": 0}
    out = [dict(values)]
    rhs = {name: expr.subs({C_W: CW, C_b: Cb, width_ratio: 1}).subs({moment(m): g(m) for m in (2, 4, 6)}).doit()
           for name, expr in system.items()}
    for _ in range(depth - 1):
        subs = {scalar(name): value for name, value in values.items()}
        values = {name: sp.nsimplify(sp.simplify(expr.subs(subs))) for name, expr in rhs.items()}
        out.append(dict(values))
    return out


def _exact_statistics(ratio_moments, depth, K1):
    """(G, κ2, κ3) of the collective metric Γ_ℓ = K1 Π ρ over depth−1 independent ratios ρ with
    E[ρ^k] = ratio_moments(k), expanded to x² = 1/n²."""
    m = [sp.Integer(1)] + [K1**k * ratio_moments(k) ** (depth - 1) for k in (1, 2, 3)]
    kappa = (m[1], m[2] - m[1]**2, m[3] - 3 * m[2] * m[1] + 2 * m[1]**3)
    return tuple(sp.series(sp.simplify(c), x, 0, 3).removeO() for c in kappa)


def _check(layers, ratio_moments, K1):
    for depth, values in enumerate(layers, start=1):
        G, k2, k3 = _exact_statistics(ratio_moments, depth, sp.Rational(K1))
        assert sp.simplify(G - (values["K"] + values["G1"] * x + values["G2"] * x**2)) == 0, depth
        assert sp.simplify(k2 - (values["V"] * x + values["V1"] * x**2)) == 0, depth
        assert sp.simplify(k3 - values["U"] * x**2) == 0, depth


@pytest.fixture(scope="module")
def system():
    return single_input_system(2)


def test_deep_linear_networks_exactly_to_order_n_minus_2(system):
    """σ(z) = z: Γ_{ℓ+1} = Γ_ℓ C_W χ²_n/n, E[(χ²_n/n)^k] = Π_{i<k} (1 + 2i x)."""
    CW = sp.Rational(3, 2)
    g = lambda m: sp.factorial2(m - 1) * K ** sp.Rational(m, 2)   # ⟨z^m⟩ for even m
    layers = _iterate(system, g, 5, 1, CW)
    _check(layers, lambda k: CW**k * sp.Mul(*[1 + 2 * i * x for i in range(k)]), 1)


def _binomial_chi2_moment(k):
    """E[(χ²_N/n)^k] with N ~ Binomial(n, ½), as a polynomial in x = 1/n: E[Π_{i<k}(N + 2i)]
    through the factorial moments E[N(N−1)…(N−j+1)] = n(n−1)…(n−j+1)/2^j."""
    N, n = sp.symbols("N n", positive=True)
    poly = sp.Poly(sp.expand(sp.Mul(*[N + 2 * i for i in range(k)])), N)
    total = sp.S.Zero
    for (power,), c in poly.terms():
        # N^power in falling factorials (Stirling numbers of the second kind)
        for j in range(power + 1):
            total += c * sp.functions.combinatorial.numbers.stirling(power, j) * sp.ff(n, j) / 2**j
    return sp.expand(total / n**k).subs(n, 1 / x)


def test_single_input_relu_exactly_to_order_n_minus_2(system):
    """ReLU at C_b = 0: Γ_{ℓ+1} = Γ_ℓ (C_W/n) χ²_N, N ~ Binomial(n, ½); g_m(K) = (m−1)!! K^{m/2}/2."""
    CW = 2
    g = lambda m: sp.factorial2(m - 1) * K ** sp.Rational(m, 2) / 2
    layers = _iterate(system, g, 5, 2, CW)
    _check(layers, lambda k: CW**k * _binomial_chi2_moment(k), 2)


def _trunc(e, top: int = 3):
    """The polynomial ``e`` in x = 1/n without the powers above x^top."""
    poly = sp.Poly(sp.expand(e), x)
    return sp.Add(*[c * x**k for (k,), c in poly.terms() if k <= top])


def _power_sum_moment(i: int):
    """E[S^i] to x³ for S = (1/n) Σ_j u_j⁴, u_j ~ N(0, 1) i.i.d. (x = 1/n): the i factors fall on m
    distinct neurons in block sizes λ (an integer partition of i; i!/Π(λ_k! mult!) ways, n(n−1)…
    assignments), contributing x^{i−m} Π(1 − jx) Π E[u^{4λ_k}]."""
    from sympy.utilities.iterables import partitions
    total = sp.S.Zero
    for part in partitions(i):
        sizes = [size for size, mult in part.items() for _ in range(mult)]
        m = len(sizes)
        if i - m > 3:
            continue
        ways = sp.factorial(i) / sp.Mul(*[sp.factorial(s_) for s_ in sizes]) / sp.Mul(
            *[sp.factorial(mult) for mult in part.values()])
        total += ways * sp.Mul(*[sp.factorial2(4 * s_ - 1) for s_ in sizes]) * sp.Mul(
            *[1 - j * x for j in range(m)]) * x**(i - m)
    return _trunc(total)


def test_quadratic_activation_exactly_to_order_n_minus_2(system):
    """σ(z) = z², C_b > 0: Γ_{ℓ+1} = C_b + C_W Γ_ℓ² S with S = (1/n)Σ_j u_j⁴ independent of Γ_ℓ, so
    every moment of Γ is exact by recursion; g_m(K) = (2m−1)!! K^m.  Unlike the linear and ReLU
    cases g_2 is curved, so G1 and G2 are not zero and every term of their rules is exercised."""
    CW, Cb, K1, depth = sp.Rational(1, 5), sp.Rational(1, 10), sp.Rational(1, 2), 5
    g = lambda m: sp.factorial2(2 * m - 1) * K**m
    layers = _iterate(system, g, depth, K1, CW, Cb)
    need = 3 * 2 ** (depth - 1)                              # moments of Γ_1 that Γ_depth's third needs
    S = {i: _power_sum_moment(i) for i in range(need // 2 + 1)}
    moments = {k: K1**k for k in range(need + 1)}            # layer 1: Γ deterministic
    for depth_, values in enumerate(layers, start=1):
        m1, m2, m3 = (moments[k] for k in (1, 2, 3))
        exact = (m1, m2 - m1**2, m3 - 3 * m2 * m1 + 2 * m1**3)
        G, k2, k3 = (_trunc(e, 2) for e in exact)
        assert sp.expand(G - (values["K"] + values["G1"] * x + values["G2"] * x**2)) == 0, depth_
        assert sp.expand(k2 - (values["V"] * x + values["V1"] * x**2)) == 0, depth_
        assert sp.expand(k3 - values["U"] * x**2) == 0, depth_
        top = max(k for k in moments if 2 * k in moments)
        moments = {k: sp.expand(sum(sp.binomial(k, i) * Cb**(k - i) * CW**i * moments[2 * i] * S[i]
                                    for i in range(k + 1)))
                   for k in range(top + 1)}
        moments = {k: _trunc(v) for k, v in moments.items()}
    assert any(v["G2"] != 0 for v in layers) and any(v["G1"] != 0 for v in layers)


# ---------------------------------------------------------------------------------
# The disk cache of derivations
# ---------------------------------------------------------------------------------

def test_derivations_are_cached_as_verified_data(tmp_path, monkeypatch, capsys):
    from derive.engine import store
    from derive.engine.wick import metric_cumulant
    monkeypatch.setenv("RGFLOW_CACHE_DIR", str(tmp_path))
    s = (("s", a1), ("s", a2))
    series = metric_cumulant((s, s), 1)
    assert store.decode(store.encode(series)) == series
    calls = []

    def compute():
        calls.append(1)
        return series
    assert store.cached("test|V", compute) == series and calls == [1]
    assert store.cached("test|V", compute) == series and calls == [1]        # read back, not derived
    (path,) = store.directory().glob("*.json")
    assert path.read_text().startswith('{"format":1')                       # data, not code
    path.write_text(path.read_text().replace('"1/4"', '"1/5"', 1))          # tampered
    assert store.cached("test|V", compute) == series and calls == [1, 1]
    assert "does not match its sha256" in capsys.readouterr().err


def test_a_family_of_derivations_is_computed_once_and_read_back_member_by_member(tmp_path, monkeypatch):
    from derive.engine import store
    from derive.engine.wick import metric_cumulant
    monkeypatch.setenv("RGFLOW_CACHE_DIR", str(tmp_path))
    s = (("s", a1), ("s", a2))
    family = {"one": metric_cumulant((s,), 1), "two": metric_cumulant((s, s), 1)}
    calls = []

    def compute():
        calls.append(1)
        return family
    assert store.cached_family("test|fam", ("one", "two"), compute) == family and calls == [1]
    assert store.cached_family("test|fam", ("one", "two"), compute) == family and calls == [1]
    assert len(list(store.directory().glob("*.json"))) == 2                 # one verified file per member


def test_an_unwritable_cache_costs_the_write_not_the_derivation(tmp_path, monkeypatch, capsys):
    from derive.engine import store
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("RGFLOW_CACHE_DIR", str(blocker))
    assert store.cached("test|K", lambda: {}) == {}
    assert "cannot cache derivations" in capsys.readouterr().err
    assert store.cached("test|V", lambda: {}) == {}
    assert capsys.readouterr().err == ""                      # said once per process and directory
