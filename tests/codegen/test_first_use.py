"""First use and long work (issue #14): compile messages, progress, quiet, threads, lean modules."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import pathlib
import shutil
import sys

import numpy as np
import pytest

import codegen
from codegen import runtime
from codegen.catalogue import CATALOGUE
from codegen.evaluator import Evaluator
from derive.flow import flow

ROOT = pathlib.Path(__file__).resolve().parents[2]
GENERATED = ROOT / "generated"
QUADRATURE = {"_nested", "_expect_1d", "_expect_pair_nested", "_level_nodes", "_inner",
              "_mehler_tables", "_mehler_value", "_chol", "_factor", "_smooth", "_shared_nested",
              "_shared_last", "_node_sum", "_level_nodes_at", "_monomials", "_interp6_rows"}


def _functions(stem):
    tree = ast.parse((GENERATED / f"{stem}.py").read_text(encoding="ascii"))
    return tree, {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}


def _fresh_module(tmp_path, stem, tag):
    """The generated module ``stem`` copied to a new file and imported under a new name:
    new dispatchers whose numba cache (next to the file, or under NUMBA_CACHE_DIR) is cold."""
    path = tmp_path / f"{stem}_{tag}.py"
    shutil.copy(GENERATED / f"{stem}.py", path)
    name = f"rgflow_test_first_use_{tag}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _run(module, **kw):
    return Evaluator(module).run(np.eye(3)[:2], depth=3, C_W=1.0, C_b=0.1, **kw)


def test_compile_message_on_first_compile_only(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv(runtime.QUIET_ENV, raising=False)
    cold = _fresh_module(tmp_path, "flow_linear_kh", "cold")
    res = _run(cold)
    err = capsys.readouterr().err
    assert "rgflow: compiling the linear evaluator (K, H; first use, cached afterwards)..." in err
    assert "rgflow: compiled in " in err and err.count("compiling") == 1
    _run(cold)                                        # same process: nothing to compile
    assert capsys.readouterr().err == ""
    # a new process would find numba's disk cache warm: same file, new dispatchers
    spec = importlib.util.spec_from_file_location("rgflow_test_first_use_warm", tmp_path / "flow_linear_kh_cold.py")
    warm = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = warm
    spec.loader.exec_module(warm)
    again = _run(warm)
    assert capsys.readouterr().err == ""
    assert np.array_equal(np.asarray(res.K), np.asarray(again.K))


@pytest.mark.parametrize("how", ["env", "argument"])
def test_quiet_compile(tmp_path, capsys, monkeypatch, how):
    if how == "env":
        monkeypatch.setenv(runtime.QUIET_ENV, "1")
    else:
        monkeypatch.delenv(runtime.QUIET_ENV, raising=False)
    module = _fresh_module(tmp_path, "flow_linear_kh", f"quiet_{how}")
    _run(module, **({"progress": False} if how == "argument" else {}))
    assert capsys.readouterr().err == ""


def test_progress_lines_are_rate_limited(capsys):
    now = [0.0]
    p = runtime.Progress(first_after=2.0, every=5.0, clock=lambda: now[0])
    for layer in range(2, 201):
        now[0] = layer * 0.1           # 0.1 s per layer: 20 s in all
        p(layer, 200)
    p.done()
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "rgflow: layer 20/200 (2 s, about 19 s left)"
    assert [line.split()[2] for line in lines[:-1]] == ["20/200", "70/200", "120/200", "170/200"]
    assert lines[-1] == "rgflow: 200 layers in 20.0 s"
    q = runtime.Progress(clock=lambda: 0.0)         # a short run prints nothing
    q(2, 3)
    q.done()
    assert capsys.readouterr().err == ""


def test_progress_callable_sees_every_layer(capsys):
    seen = []
    codegen.compile(flow("relu", ("K", "H"))).run(np.eye(2), depth=5, C_W=2.0, tile=False,
                                                  progress=lambda layer, depth: seen.append((layer, depth)))
    assert seen == [(2, 5), (3, 5), (4, 5), (5, 5)]


def test_progress_callable_sees_the_tiles_of_a_tiled_run():
    """A tiled run reports tiles done (up to 20 launches), ending at the total."""
    seen = []
    X = np.random.default_rng(0).standard_normal((300, 3))
    codegen.compile(flow("relu", ("K", "H"))).run(X, depth=3, C_W=2.0, tile=16,
                                                  progress=lambda done, total: seen.append((done, total)))
    total = 19 * 20 // 2   # 19 tiles of 16 per side, upper triangle with the diagonal
    assert len(seen) == 20 and seen[-1] == (total, total)
    assert all(a[0] < b[0] for a, b in zip(seen, seen[1:]))


def test_messages_enabled(monkeypatch):
    monkeypatch.delenv(runtime.QUIET_ENV, raising=False)
    assert runtime.messages_enabled(None) and not runtime.messages_enabled(False)
    monkeypatch.setenv(runtime.QUIET_ENV, "1")
    assert not runtime.messages_enabled(None) and runtime.messages_enabled(True)
    monkeypatch.setenv(runtime.QUIET_ENV, "0")
    assert runtime.messages_enabled(None)


@pytest.mark.parametrize("name, observables, n", [("relu", ("K", "H"), 40), ("tanh", ("K", "H"), 12),
                                                  ("tanh", ("K", "H", "V", "G1"), 5), ("erf", ("K", "H", "V", "G1"), 6)])
def test_serial_and_parallel_give_identical_results(monkeypatch, name, observables, n):
    ev = codegen.compile(flow(name, observables))
    X = np.random.default_rng(1).standard_normal((n, 5))
    results = []
    for threshold in (10**9, 0):                     # everything serial, then everything parallel
        monkeypatch.setattr(runtime, "PARALLEL_FROM", dict.fromkeys(runtime.PARALLEL_FROM, threshold))
        assert runtime.threads_for(ev.module, n) == (1 if threshold else None)
        results.append(ev.run(X, depth=4, C_b=0.1, C_W=1.2, progress=False))
    for q in observables:
        assert np.array_equal(np.asarray(getattr(results[0], q)), np.asarray(getattr(results[1], q))), q


def test_small_problems_run_on_one_thread(monkeypatch):
    import numba
    ev = codegen.compile(flow("relu", ("K", "H")))
    seen = []
    ev.run(np.eye(2), depth=3, C_W=2.0, tile=False,
           progress=lambda layer, depth: seen.append(numba.get_num_threads()))
    assert seen == [1, 1]
    ev.run(np.eye(2), depth=3, C_W=2.0, progress=lambda done, total: seen.append(numba.get_num_threads()))
    assert seen == [1, 1, 1]
    assert runtime.threads_for(ev.module, 10**6) is None


def test_thread_count_restores_the_setting():
    import numba
    before = numba.get_num_threads()
    with runtime.thread_count(1):
        assert numba.get_num_threads() == 1
    assert numba.get_num_threads() == before


@pytest.mark.parametrize("entry", CATALOGUE, ids=[e.stem for e in CATALOGUE])
def test_modules_define_only_what_run_layers_uses(entry):
    """No dead definitions: everything at module level after the metadata is reachable
    from run_layers (or the tiled entry points), so closed-form modules carry no
    quadrature helpers."""
    tree, functions = _functions(entry.stem)
    defs = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            defs[node.name] = node
        elif isinstance(node, ast.Assign):
            for t in node.targets:
                for n in ast.walk(t):
                    if isinstance(n, ast.Name):
                        defs[n.id] = node
    metadata = {"SIGNATURE", "GENERATOR_FORMAT", "ACTIVATION", "SIGMA", "OBSERVABLES", "QUANTITIES",
                "ATOM_METHODS", "SCHEDULE", "STATES", "STATUS", "TILED", "PAIR_STATES", "__all__"}
    reached, todo = set(), ["run_layers", "initial_state", "diagonal_pass", "run_tiles", "run_pair_tiles"]
    while todo:
        name = todo.pop()
        if name in reached or name not in defs:
            continue
        reached.add(name)
        todo += [n.id for n in ast.walk(defs[name]) if isinstance(n, ast.Name)]
    assert set(defs) - metadata - reached == set()
    methods = set(importlib.import_module(f"generated.{entry.stem}").ATOM_METHODS.values())
    if methods <= {"closed"}:
        assert not QUADRATURE & set(functions), sorted(QUADRATURE & set(functions))
    else:   # the nested rule: per atom, or for all four-sample atoms on shared nodes
        assert {"_factor", "_monomials"} & set(functions) and {"_nested", "_shared_nested"} & set(functions)


@pytest.mark.parametrize("entry", CATALOGUE, ids=[e.stem for e in CATALOGUE])
def test_compiled_calls_pass_no_integer_literals(entry):
    """numba compiles a jitted callee once per distinct integer literal it is called with;
    generated code passes np.int64(...) so each kernel is compiled once."""
    _, functions = _functions(entry.stem)
    jitted = {name for name, f in functions.items() if f.decorator_list}
    for name in jitted:
        for call in (c for c in ast.walk(functions[name]) if isinstance(c, ast.Call)):
            if isinstance(call.func, ast.Name) and call.func.id in jitted:
                literal = [ast.unparse(a) for a in call.args
                           if isinstance(a, ast.Constant) and type(a.value) is int]
                assert not literal, (name, ast.unparse(call))
