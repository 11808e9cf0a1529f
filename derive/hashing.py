"""Stable signatures: sha256 of canonical text, never Python's ``hash()``.

Stage *hashing*: any derivation value (sympy objects, strings, numbers, tuples,
networkx graphs) → hex digest that is identical across processes, platforms and
``PYTHONHASHSEED`` values.  sympy objects are hashed through ``srepr`` (their
canonical constructor text); containers are hashed element by element in their
given order (callers sort sets before hashing); graphs are hashed as a Merkle
tree over nodes sorted by name.

Examples
--------
>>> import sympy as sp
>>> signature_of(sp.Symbol("x") + 1) == signature_of(1 + sp.Symbol("x"))
True
>>> len(signature_of(("a", 1)))
64
"""

from __future__ import annotations

import hashlib
from typing import Any

import sympy as sp

__all__ = ["sha256_text", "signature_of", "graph_signature"]


def sha256_text(text: str) -> str:
    """sha256 hex digest of ``text`` encoded as UTF-8."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _canonical_text(obj: Any) -> str:
    if obj is None:
        return "None"
    if isinstance(obj, bool):
        return f"bool:{obj}"
    if isinstance(obj, int):
        return f"int:{obj}"
    if isinstance(obj, float):
        return f"float:{obj!r}"
    if isinstance(obj, str):
        return f"str:{len(obj)}:{obj}"
    if isinstance(obj, sp.Basic):
        return f"sympy:{sp.srepr(obj)}"
    if isinstance(obj, (tuple, list)):
        inner = ",".join(_canonical_text(x) for x in obj)
        return f"{type(obj).__name__}[{inner}]"
    if isinstance(obj, dict):
        items = sorted((_canonical_text(k), _canonical_text(v)) for k, v in obj.items())
        return "dict{" + ",".join(f"{k}:{v}" for k, v in items) + "}"
    if isinstance(obj, (set, frozenset)):
        return "set{" + ",".join(sorted(_canonical_text(x) for x in obj)) + "}"
    canonical = getattr(obj, "canonical_text", None)
    if callable(canonical):
        return f"{type(obj).__name__}:{canonical()}"
    raise TypeError(f"cannot compute a stable signature of {type(obj).__name__}")


def signature_of(obj: Any) -> str:
    """Stable sha256 signature of a derivation value (see module docstring)."""
    return sha256_text(_canonical_text(obj))


def graph_signature(graph) -> str:
    """Merkle signature of a networkx DiGraph: nodes sorted by name, with attributes and successors."""
    leaves = []
    for node in sorted(graph.nodes, key=str):
        attrs = {str(k): str(v) for k, v in graph.nodes[node].items()}
        succ = sorted(str(s) for s in graph.successors(node))
        leaves.append(signature_of((str(node), attrs, tuple(succ))))
    return signature_of(tuple(leaves))
