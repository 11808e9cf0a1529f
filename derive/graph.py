"""The dependency graph of a recursion system (networkx ``DiGraph``).

Stage *graph*: :class:`~derive.recursions.Recursion` → ``networkx.DiGraph`` whose
nodes are the per-layer parameters, the layer-ℓ states (K, H, V, G1, any declared
observable), the distinct Gaussian-expectation atoms (each once, shared by every
update that reads it) and the update rules of layer ℓ+1; an edge u → v means "v
reads u".  Node attributes
are plain strings, integers and booleans so that the graph exports to GraphML.

Determinism: nodes and edges are inserted in sorted order, and the schedule is
``nx.lexicographical_topological_sort`` with :func:`natural_key`, never a plain
topological sort of a graph built from sets.

Examples
--------
>>> from derive.recursions import build_recursion
>>> g = build_graph(build_recursion("relu", ("K", "H")))
>>> schedule(g)[-2:]
("K'", "H'")
>>> sorted(n for n in g if g.nodes[n]["kind"] == "expectation")
['E[dsds]', 'E[ss]']
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sympy as sp

from .recursions import Recursion

if TYPE_CHECKING:
    import networkx as nx


def _networkx():
    """networkx, imported on first use (keeps `rgflow classify` cold start under its budget)."""
    import networkx
    return networkx

__all__ = ["build_graph", "frozen", "prune", "schedule", "natural_key", "write_graphml", "atom_node", "update_node"]

_KIND_ORDER = {"parameter": 0, "state": 1, "expectation": 2, "update": 3}


def atom_node(name: str) -> str:
    """Graph node name of the expectation atom ``name``."""
    return f"E[{name}]"


def update_node(quantity: str) -> str:
    """Graph node name of the layer-(ℓ+1) update of ``quantity``."""
    return f"{quantity}'"


def natural_key(graph: nx.DiGraph):
    """Sort key for nodes of ``graph``: (kind, quantity order, name); the quantity order is
    the graph's own (declaration order), so declared-elsewhere observables sort too."""
    order = {q: i for i, q in enumerate(graph.graph.get("quantities", "").split(","))}

    def key(node):
        data = graph.nodes[node]
        quantity = data.get("quantity", "")
        return (_KIND_ORDER.get(data.get("kind"), 9), order.get(quantity, len(order)), str(node))
    return key


def _bases(expr: sp.Expr) -> list[str]:
    return sorted({str(i.base.label) for i in expr.atoms(sp.Indexed)})


def build_graph(rec: Recursion) -> nx.DiGraph:
    """The dependency graph of ``rec`` (see the module docstring)."""
    nx = _networkx()
    g = nx.DiGraph(activation=rec.activation.name, observables=",".join(rec.observables),
                   quantities=",".join(rec.quantities))
    for p in rec.parameters:
        g.add_node(p.name, kind="parameter", label=p.name)
    for q in rec.quantities:
        g.add_node(q, kind="state", quantity=q, label=f"{q}^(l)")
    atom_names = {a.name for a in rec.atoms}
    for atom in rec.atoms:
        attrs = {"kind": "expectation", "label": atom.description, "rank": atom.rank,
                 "symmetric": atom.symmetric, "method": atom.method,
                 "patterns": ",".join(f"{p.key}:{'closed' if p.is_closed else 'quadrature'}"
                                      for p in atom.patterns)}
        for p in atom.patterns:
            attrs[f"value_{p.key}"] = str(p.closed) if p.is_closed else "quadrature"
            attrs[f"ops_{p.key}"] = int(sp.count_ops(p.closed)) if p.is_closed else 0
        g.add_node(atom_node(atom.name), **attrs)
        g.add_edge("K", atom_node(atom.name))
    for q in rec.quantities:
        rules = rec.updates_of(q)
        text = "; ".join(f"[{u.pattern}] {u.lhs} = {u.rhs}" for u in rules)
        ops = sum(int(sp.count_ops(u.rhs)) for u in rules)
        g.add_node(update_node(q), kind="update", quantity=q, label=f"{q}^(l+1)", rule=text, ops=ops)
        reads = sorted({b for u in rules for b in _bases(u.rhs)})
        symbols = sorted({s.name for u in rules for s in u.rhs.free_symbols if isinstance(s, sp.Symbol)})
        for b in reads:
            source = atom_node(b) if b in atom_names else b
            if source not in g:
                raise ValueError(f"update of {q} reads {b}, which the recursion does not define")
            g.add_edge(source, update_node(q))
        for s in symbols:
            if s in g and g.nodes[s]["kind"] == "parameter":
                g.add_edge(s, update_node(q))
    return prune(g, rec.observables)


def prune(graph: nx.DiGraph, outputs) -> nx.DiGraph:
    """Subgraph of what the updates of ``outputs`` need (their ancestors), in sorted order.

    Updates read the layer-ℓ state of their own quantity, so asking for K and H
    keeps no V or G1 node and no atom only they read.
    """
    keep = set()
    wanted = {update_node(q) for q in outputs if update_node(q) in graph}
    stack = sorted(wanted)
    while stack:
        node = stack.pop()
        if node in keep:
            continue
        keep.add(node)
        stack.extend(sorted(graph.predecessors(node)))
        data = graph.nodes[node]
        if data.get("kind") == "state" and update_node(node) in graph:
            stack.append(update_node(node))   # a state is carried by its own update
    key = natural_key(graph)
    out = _networkx().DiGraph(**graph.graph)
    for node in sorted(keep, key=key):
        out.add_node(node, **graph.nodes[node])
    for u, v in sorted(graph.edges, key=lambda e: (key(e[0]), key(e[1]))):
        if u in keep and v in keep:
            out.add_edge(u, v)
    return out


def frozen(graph: nx.DiGraph) -> nx.DiGraph:
    """``graph`` frozen (networkx raises on any later mutation)."""
    return _networkx().freeze(graph)


def schedule(graph: nx.DiGraph) -> tuple[str, ...]:
    """Deterministic evaluation order of ``graph``'s nodes (lexicographic topological sort)."""
    return tuple(_networkx().lexicographical_topological_sort(graph, key=natural_key(graph)))


def write_graphml(graph: nx.DiGraph, path) -> None:
    """Export ``graph`` as GraphML (attributes are already GraphML-safe scalars)."""
    _networkx().write_graphml(graph, str(path))
