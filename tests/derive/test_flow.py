"""The symbolic flow: recursions, dependency graph, LaTeX and the CLI around them."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import sympy as sp

from derive import activation
from derive.flow import flow
from derive.graph import atom_node, schedule
from derive.recursions import FlowError
from derive.symbols import kernel_matrix


def expectation_nodes(f):
    return sorted(n for n in f.graph if f.graph.nodes[n]["kind"] == "expectation")


def test_pruning_keeps_only_what_the_observables_need():
    full = flow("tanh")
    kh = flow("tanh", ("K", "H"))
    assert full.quantities == ("K", "H", "V", "G1")
    assert expectation_nodes(kh) == ["E[dsds]", "E[ss]"]
    assert not {"V", "G1", "V'", "G1'"} & set(kh.graph)
    # asking for G1 alone pulls in what it needs (V, hence K) but not H
    g1 = flow("tanh", ("G1",))
    assert g1.quantities == ("K", "V", "G1") and "H'" not in g1.graph


def test_shared_atoms_appear_once_and_feed_every_reader():
    f = flow("tanh")
    names = expectation_nodes(f)
    assert len(names) == len(set(names)) == len(f.recursion.atoms)
    readers = sorted(f.graph.successors(atom_node("p11_ss")))
    assert readers == ["G1'", "V'"]             # one atom, two updates (⟨∂∂(σσ)⟩, derived rules)
    assert sorted(f.graph.successors(atom_node("ss"))) == ["H'", "K'", "V'"]
    assert nx.is_directed_acyclic_graph(f.graph)
    order = f.schedule()
    assert order.index("E[ss]") < order.index("K'") and order.index("V") < order.index("G1'")


def test_closed_forms_in_the_graph():
    f = flow("relu", ("K", "H"))
    data = f.graph.nodes["E[ss]"]
    assert data["method"] == "closed"
    closed = f.recursion.atom("ss").pattern("ab").closed
    K11, K12, K22 = sp.symbols("K11 K12 K22", positive=True)
    K = kernel_matrix(2)
    # the arc-cosine kernel of THEORY.md §2 at one numeric point
    values = {K[0, 0]: 1.3, K[0, 1]: 0.4, K[1, 1]: 0.8}
    theta = np.arccos(0.4 / np.sqrt(1.3 * 0.8))
    expected = np.sqrt(1.3 * 0.8) / (2 * np.pi) * (np.sin(theta) + (np.pi - theta) * np.cos(theta))
    assert float(closed.subs(values)) == pytest.approx(expected, rel=1e-14)
    assert flow("tanh", ("K",)).graph.nodes["E[ss]"]["method"] == "quadrature"


def test_graph_is_frozen_and_exports_to_graphml(tmp_path):
    f = flow("gelu")
    with pytest.raises(nx.NetworkXError):
        f.graph.add_node("x")
    path = tmp_path / "g.graphml"
    f.write_graphml(path)
    back = nx.read_graphml(path)
    assert sorted(back.nodes) == sorted(f.graph.nodes)
    assert sorted(back.edges) == sorted(f.graph.edges)


def test_schedule_and_signature_are_deterministic_across_hash_seeds():
    import subprocess
    import sys
    code = ("from derive.flow import flow; f = flow('swish'); "
            "print(f.signature()); print(f.schedule()); print(f.to_latex())")
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={**__import__("os").environ, "PYTHONHASHSEED": seed}).stdout
            for seed in ("0", "1")}
    assert len(outs) == 1


def test_latex_of_the_recursions():
    tex = flow("relu", ("K", "H")).to_latex()
    lines = tex.splitlines()
    assert lines[0] == r"\begin{align*}" and lines[-1] == r"\end{align*}"
    assert lines[1] == (r"K^{(\ell+1)}_{\alpha_{1}\alpha_{2}} &= C_{W} \langle \sigma_{\alpha_{1}} "
                        r"\sigma_{\alpha_{2}} \rangle_{K^{(\ell)}} + C_{b} \\")
    assert r"\lambda_{W}" in lines[2] and r"H^{(\ell)}_{\alpha_{1}\alpha_{2}}" in lines[2]
    full = flow("tanh").to_latex()
    assert r"V^{(\ell+1)}_{(\alpha_{1}\alpha_{2})(\alpha_{3}\alpha_{4})}" in full
    assert r"\frac{n_{\ell}}{n_{\ell-1}}" in full
    assert r"\text{Gaussian quadrature}" in full          # tanh atoms have no closed form
    assert flow("tanh").to_latex() == full                 # deterministic


def test_bad_flows_are_clear_errors():
    with pytest.raises(FlowError, match="unknown observable"):
        flow("tanh", ("K", "Z"))
    with pytest.raises(FlowError, match="no observable"):
        flow("tanh", ())
    with pytest.raises(FlowError, match="unbound parameters"):
        flow("leaky_relu")
    with pytest.raises(FlowError, match="diverges|Dirac"):
        flow("step", ("K", "H"))                          # <delta delta> of the perceptron diverges
    assert flow(activation("leaky_relu", a=0.1), ("K",)).quantities == ("K",)
