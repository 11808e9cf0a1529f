"""The engine's NTK sector (derive.engine.ntk) reproduces the declared NTK rules H, H1, A, B, D, F
and the dNTK tensors P, Q.

References: the hand-typed rules of tests/declared_rules.py (from THEORY-NTK.md §3 and §8.2, and
checked there against Monte Carlo of real networks, tests/rgflow/test_validation_ntk.py) —
compared symbolically on distinct samples and by Gauss–Hermite quadrature of every atom with a
duplicated input (coincident samples, where the two forms use different atoms).
"""

from __future__ import annotations

import pytest
import sympy as sp
from declared_rules import DECLARED_RULES, HAND_TYPED

from derive import activation
from derive.engine.ntk import NTK_SYMMETRIES, ntk_entry, ntk_expectation, ntk_rule
from derive.engine.terms import canonical_entry
from derive.notation import symmetry_group
from derive.observables import state
from derive.symbols import lambda_W, lambda_b
from test_engine import _evaluate

#: The declared rules write a few one-point atoms the engine writes as Stein atoms (equal off the
#: diagonal); ⟨σ'_aσ'_b⟩ appears in both as dsds or p11_ss.
_RENAME = {"d2ss": "p20_ss", "d4ss": "p40_ss", "d3sds": "p31_ss", "d2sd2s": "p22_ss", "p11_ss": "dsds"}


def _canonical(expr: sp.Expr) -> sp.Expr:
    def fix(x):
        name = str(x.base.label)
        if name in NTK_SYMMETRIES:
            return state(name)[ntk_entry(name, tuple(x.indices))[1]]
        if name in ("V", "G1"):
            return state(name)[canonical_entry(name, tuple(x.indices))[1]]
        if name in _RENAME:
            return sp.IndexedBase(_RENAME[name])[x.indices]
        if name.startswith("q_"):      # ⟨Π f(z)⟩ is symmetric among the slots of one function
            codes, idx = name[2:], list(x.indices)
            for code in set(codes):
                where = [i for i, c in enumerate(codes) if c == code]
                for i, v in zip(where, sorted((idx[i] for i in where), key=str)):
                    idx[i] = v
            return x.base[tuple(idx)]
        return x
    return expr.replace(lambda e: isinstance(e, sp.Indexed), fix)


@pytest.mark.parametrize("name", ["H", "H1", "A", "B", "D", "F", "P", "Q"])
def test_derived_equals_declared_symbolically(name):
    declared = DECLARED_RULES[name][0].rhs
    assert sp.expand(_canonical(declared) - _canonical(ntk_rule(name).rhs)) == 0


def _symmetrised(rng, generators, rank):
    perms = symmetry_group(generators, rank)
    T = rng.normal(size=(3,) * rank)
    return sum(T.transpose(p) for p in perms) / len(perms)


@pytest.mark.parametrize("act_name", ["tanh", "gelu"])
def test_derived_equals_declared_numerically_with_coincident_samples(act_name, rng):
    act = activation(act_name)
    X = rng.normal(size=(3, 3))
    X[-1] = X[0]                                      # samples 0 and 2 coincide
    Kmat = 0.2 + X @ X.T / 3
    tensors = {n: _symmetrised(rng, NTK_SYMMETRIES[n], 4) for n in ("A", "B", "D", "F", "P", "Q")}
    tensors["V"] = _symmetrised(rng, ((1, 0, 2, 3), (0, 1, 3, 2), (2, 3, 0, 1)), 4)
    tensors.update(H=1.3 * Kmat, H1=_symmetrised(rng, ((1, 0),), 2), G1=_symmetrised(rng, ((1, 0),), 2))
    values = {lambda_b: 0.3, lambda_W: 0.8}
    cases = {"H1": [(0, 0), (0, 2), (0, 1)], "D": [(0, 0, 1, 1), (0, 2, 1, 2), (0, 0, 0, 0)],
             "A": [(0, 0, 1, 1), (0, 2, 0, 2), (1, 1, 1, 1)], "F": [(0, 2, 1, 2), (0, 0, 0, 0)],
             "B": [(0, 2, 1, 2), (0, 0, 0, 0)], "P": [(0, 1, 2, 1), (0, 0, 1, 1), (2, 2, 2, 2)],
             "Q": [(0, 1, 2, 1), (1, 0, 0, 1), (2, 2, 2, 2)]}
    for name, entries in cases.items():
        for idx in entries:
            d = _evaluate(act, DECLARED_RULES[name][0].rhs.subs(values), idx, tensors, Kmat)
            e = _evaluate(act, ntk_rule(name).rhs.subs(values), idx, tensors, Kmat)
            assert abs(d - e) <= 1e-10 * max(1.0, abs(d)), (name, idx, d, e)


def test_ntk_cumulant_structure():
    """E[Ĥ_tt f(z_t)] at order 1/n: H⟨f⟩ + H1⟨f⟩/n + ½(D + 2F)⟨f''⟩/n on one neuron; an off-diagonal
    Ĥ_tu has zero mean and only the F-term; two diagonal factors on distinct neurons add A⟨f⟩⟨g⟩."""
    a, b = sp.symbols("a b")
    one = ntk_expectation(((("s", a), ("H", (a, a))),), (), 1)
    tensors = sorted({e[0] for k in one for e in k.tensors})
    assert tensors == ["D", "F", "G1", "H", "H1", "V"]
    link = ntk_expectation(((("s", a),), (("s", b),)), ((0, 1, a, b),), 1)
    assert {e[0] for k in link for e in k.tensors} == {"F"} and all(k.order == 1 for k in link)
    two = ntk_expectation(((("s", a), ("H", (a, a))), (("s", b), ("H", (b, b)))), (), 1)
    assert any(e[0] == "A" for k in two for e in k.tensors)
    assert not any(e[0] == "B" for k in two for e in k.tensors)       # B needs a shared neuron pair
    # one neuron, two factors: κ(Ĥ_tt;ab, Ĥ_tt;cd) = (A_(ab)(cd) + B_acbd + B_adbc)/n exactly
    c, d = sp.symbols("c d")
    same = ntk_expectation(((("s", a), ("H", (a, b)), ("H", (c, d))),), (), 1)
    fluct = {k.tensors: v for k, v in same.items() if len(k.tensors) == 1 and k.tensors[0][0] in "AB"}
    assert fluct == {(ntk_entry("A", (a, b, c, d)),): 1, (ntk_entry("B", (a, c, b, d)),): 1,
                     (ntk_entry("B", (a, d, b, c)),): 1}
    # dNTK: E[dĤ_{t0t1t2} z_j] = (δ_{t0t1}δ_{t2j} P_{012β} + δ_{t0t2}δ_{t1j} P_{021β} + δ_{t0j}δ_{t1t2} Q_{012β})/n
    x0, x1, x2 = sp.symbols("x0:3")
    for pattern, expected in (((0, 0, 1), ntk_entry("P", (x0, x1, x2, b))), ((0, 1, 0), ntk_entry("P", (x0, x2, x1, b))),
                              ((1, 0, 0), ntk_entry("Q", (x0, x1, x2, b)))):
        got = ntk_expectation(((("s", a),), (("z", b),)), (), 1, (pattern, (x0, x1, x2)))
        assert {e for k in got for e in k.tensors} == {expected}, pattern
    with pytest.raises(ValueError, match="order 1/n"):
        ntk_expectation(((("s", a),),), (), 2)


def test_symmetry_groups_are_the_hand_typed_ones():
    """The index symmetries the engine derives from each tensor's definition (which the compiled
    flows now use) generate the same groups as the hand-typed declarations."""
    from derive.engine import symmetry_generators
    for o in HAND_TYPED:
        assert symmetry_group(symmetry_generators(o.name), o.rank) == symmetry_group(o.symmetries, o.rank), o.name
        if o.name in NTK_SYMMETRIES:
            idx = tuple(sp.symbols(f"x0:{o.rank}"))
            for perm in o.symmetries:
                assert ntk_entry(o.name, idx) == ntk_entry(o.name, tuple(idx[p] for p in perm))
