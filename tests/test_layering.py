"""Layers import one way: derive ← codegen ← rgflow (DESIGN.md, issue #10).

``derive`` is what is derived (sympy), ``codegen`` what is compiled (numba), ``rgflow``
what is run for a user (CLI, Monte Carlo, validation, figures, Bayesian numerics).  Every
import statement of the three packages is read with ``ast`` — at module level and inside
functions, relative imports resolved, plus ``importlib.import_module("literal")`` — and:

* no two modules of derive/codegen/rgflow import each other, directly or through others
  (a cycle held together by function-level imports is still a cycle);
* no derive module imports codegen, numba, matplotlib or rgflow;
* no codegen module imports rgflow;

and in a fresh interpreter ``import derive`` loads neither numba, matplotlib nor sympy
(derive/lazy.py), ``import codegen`` neither rgflow nor matplotlib.
"""

from __future__ import annotations

import ast
import importlib.util
import pathlib
import subprocess
import sys
from typing import NamedTuple

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGES = ("derive", "codegen", "rgflow")
#: package → top-level names its modules must never import.
FORBIDDEN = {"derive": ("codegen", "numba", "matplotlib", "rgflow"), "codegen": ("rgflow",)}


class Import(NamedTuple):
    source: str      # importing module, dotted
    target: str      # imported module, dotted (the submodule when ``from pkg import submodule``)
    line: int

    def __str__(self):
        return f"{self.source} → {self.target} ({self.source.replace('.', '/')}.py:{self.line})"


def modules() -> dict[str, tuple[pathlib.Path, bool]]:
    """Dotted name → (file, is_package) for every module of the three packages."""
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            found[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return found


def _absolute(name: str, is_package: bool, level: int, module: str | None) -> str:
    """The absolute name of ``from <level dots><module> import ...`` inside module ``name``."""
    package = name.split(".") if is_package else name.split(".")[:-1]
    if level > len(package):
        raise AssertionError(f"{name}: relative import beyond the top-level package")
    base = package[:len(package) - (level - 1)]
    return ".".join(base + ([module] if module else []))


def imports_of(name: str, path: pathlib.Path, is_package: bool, known) -> list[Import]:
    """Every import in the module ``name`` (module level and inside functions)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [Import(name, alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(name, is_package, node.level, node.module) if node.level else node.module
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.append(Import(name, sub if sub in known else base, node.lineno))
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr == "import_module" and node.args
              and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            target, package = node.args[0].value, node.args[1] if len(node.args) > 1 else None
            if target.startswith("."):          # relative: only to a literal package
                if not (isinstance(package, ast.Constant) and isinstance(package.value, str)):
                    continue
                target = importlib.util.resolve_name(target, package.value)
            found.append(Import(name, target, node.lineno))
    return found


def _internal(target: str, known) -> str | None:
    """The module of the three packages that ``target`` names (longest known prefix)."""
    parts = target.split(".")
    while parts:
        if ".".join(parts) in known:
            return ".".join(parts)
        parts.pop()
    return None


def import_graph():
    known = modules()
    edges: dict[str, dict[str, Import]] = {name: {} for name in known}
    every = []
    for name, (path, is_package) in known.items():
        for imp in imports_of(name, path, is_package, known):
            every.append(imp)
            target = _internal(imp.target, known)
            if target is not None and target != name:
                edges[name].setdefault(target, imp)
    return edges, every


def strongly_connected(edges: dict[str, dict]) -> list[list[str]]:
    """Tarjan's strongly connected components with more than one module, sorted."""
    index, low, stack, on_stack, components = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return sorted(components)


# ---------------------------------------------------------------------------------
# The analysis itself
# ---------------------------------------------------------------------------------
def test_the_analysis_sees_relative_function_level_and_cyclic_imports():
    src = {"a": "from .b import f\n", "a.b.d": "def f():\n    from .. import c\n    from ..c import g\n",
           "a.c": "import importlib\nimportlib.import_module('.b', 'a')\nimportlib.import_module('numba')\n"}
    known = {"a": None, "a.b": None, "a.c": None, "a.c.g": None}
    assert [i.target for i in imports_of("a", _text(src["a"]), True, known)] == ["a.b"]
    assert [i.target for i in imports_of("a.b.d", _text(src["a.b.d"]), False, known)] == ["a.c", "a.c.g"]
    assert [i.target for i in imports_of("a.c", _text(src["a.c"]), False, known)] == ["importlib", "a.b", "numba"]
    assert strongly_connected({"a": {"a.b": 0}, "a.b": {"a.c": 0}, "a.c": {"a": 0}, "d": {"a": 0}}) \
        == [["a", "a.b", "a.c"]]
    assert strongly_connected({"a": {"a.b": 0}, "a.b": {}}) == []


def _text(source: str):
    class Source:
        def read_text(self, encoding=None):
            return source
    return Source()


# ---------------------------------------------------------------------------------
# The rules
# ---------------------------------------------------------------------------------
def test_every_package_is_analysed():
    known = modules()
    for name in ("derive.flow", "codegen.evaluator", "rgflow.cli", "rgflow.validate", "rgflow.bayes.saddle",
                 "derive.bayes.action"):
        assert name in known


def test_no_import_cycles():
    edges, _ = import_graph()
    cycles = strongly_connected(edges)
    report = ["  " + " ↔ ".join(c) + ": " + "; ".join(str(edges[a][b]) for a in c for b in c if b in edges[a])
              for c in cycles]
    assert not cycles, "import cycles:\n" + "\n".join(report)


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_lower_layers_never_import_higher_ones(package):
    _, every = import_graph()
    bad = [str(i) for i in every if i.source.split(".")[0] == package
           and i.target.split(".")[0] in FORBIDDEN[package]]
    assert not bad, f"{package} must not import {', '.join(FORBIDDEN[package])}:\n  " + "\n  ".join(bad)


@pytest.mark.parametrize("statement, absent", [
    ("import derive, derive.bayes, derive.errors", ("numba", "matplotlib", "sympy", "codegen", "rgflow")),
    ("import codegen", ("rgflow", "matplotlib")),
])
def test_importing_a_layer_loads_nothing_above_it(statement, absent):
    code = f"import sys; {statement}; print(sorted(m for m in {absent!r} if m in sys.modules))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
