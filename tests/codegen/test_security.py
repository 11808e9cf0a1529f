"""No user text reaches generated source, and no file is executed unless it matches its hash.

Issue: an activation string with a Python comment containing triple quotes closed the
generated module's docstring and ran code on import (``/tmp/PWNED``).  The parser now
refuses every character outside a small allow-list, :attr:`Activation.name` is the
canonical printed expression, the renderer refuses text it would have to escape, and the
cache executes only bytes whose sha256 matches the digest recorded when they were written.
"""

from __future__ import annotations

import ast
import os
import pathlib
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import codegen
from codegen import cache
from derive import activation
from derive.errors import RGFlowError
from derive.flow import flow

ROOT = pathlib.Path(__file__).resolve().parents[2]
PAYLOAD = 'z*tanh(z)+z/7 # """; open("{marker}","w").write("x"); """'

# ---------------------------------------------------------------------------------
# What a generated module may contain at its top level
# ---------------------------------------------------------------------------------
_IMPORTS = {("math", None), ("numba", None), ("numpy", "np")}
_CALLS = {"np.array", "np.zeros", "np.empty", "np.polynomial.legendre.leggauss"}
_FORBIDDEN_NAMES = {"open", "exec", "eval", "compile", "__import__", "getattr", "setattr", "globals",
                    "locals", "vars", "os", "sys", "subprocess", "input", "breakpoint", "delattr"}


def _literal(node: ast.AST) -> bool:
    """Constants, containers of constants, arithmetic on constants, numpy dtypes."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, (int, float, bool, str)) or node.value is None
    if isinstance(node, (ast.Tuple, ast.List)):
        return all(_literal(e) for e in node.elts)
    if isinstance(node, ast.Dict):
        return all(_literal(k) and _literal(v) for k, v in zip(node.keys, node.values))
    if isinstance(node, ast.UnaryOp):
        return _literal(node.operand)
    if isinstance(node, ast.BinOp):
        return _literal(node.left) and _literal(node.right)
    if isinstance(node, ast.Attribute):
        return ast.unparse(node) in {"np.float64", "np.int64", "np.bool_", "math.pi", "math.e"}
    if isinstance(node, ast.Call):   # math.sqrt(2.0 * math.pi) and the like
        return (isinstance(node.func, ast.Attribute) and ast.unparse(node.func.value) == "math"
                and not node.keywords and all(_literal(a) for a in node.args))
    if isinstance(node, ast.Name):
        return node.id.isupper() or node.id.startswith("_")   # module constants defined above
    return False


def assert_only_expected_definitions(text: str) -> None:
    """The module is a docstring, three imports, literal constants and jitted functions;
    nothing anywhere calls or names a builtin that could reach the system."""
    tree = ast.parse(text)
    body = tree.body
    assert isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
    for node in body[1:]:
        if isinstance(node, ast.Import):
            assert {(a.name, a.asname) for a in node.names} <= _IMPORTS, ast.unparse(node)
        elif isinstance(node, ast.Assign):
            target = node.targets[0]
            names = target.elts if isinstance(target, ast.Tuple) else [target]
            assert len(node.targets) == 1 and all(isinstance(t, ast.Name) for t in names), ast.unparse(node)
            value = node.value
            if isinstance(value, ast.Call):
                assert ast.unparse(value.func) in _CALLS, ast.unparse(node)
                assert all(_literal(a) for a in value.args), ast.unparse(node)
                assert all(_literal(k.value) for k in value.keywords), ast.unparse(node)
            else:
                assert _literal(value), ast.unparse(node)
        elif isinstance(node, ast.FunctionDef):
            for deco in node.decorator_list:
                assert isinstance(deco, ast.Call) and ast.unparse(deco.func) == "numba.njit", ast.unparse(deco)
                assert not deco.args and all(isinstance(k.value, ast.Constant) for k in deco.keywords)
        else:
            raise AssertionError(f"unexpected top-level statement: {ast.unparse(node)[:80]}")
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            assert node.id not in _FORBIDDEN_NAMES, node.id
        if isinstance(node, ast.Attribute):
            assert not node.attr.startswith("__"), ast.unparse(node)
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            assert node in body, "import inside a function"
    assert text.isascii()


# ---------------------------------------------------------------------------------
# The reported payload
# ---------------------------------------------------------------------------------
def test_injection_payload_is_refused_through_the_real_entry_point(tmp_path):
    marker = tmp_path / "PWNED"
    env = {**os.environ, "RGFLOW_CACHE_DIR": str(tmp_path / "cache")}
    proc = subprocess.run([sys.executable, "-m", "rgflow", "compile", PAYLOAD.format(marker=marker)],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("rgflow: error: character '#'") and proc.stderr.count("\n") == 1
    assert "Traceback" not in proc.stderr
    assert not marker.exists()
    assert not (tmp_path / "cache").exists() or not list((tmp_path / "cache").rglob("*.py"))


@pytest.mark.parametrize("text, what", [
    ('z*tanh(z) # uses """quotes"""', "'#'"),
    ("ｚ*tanh(ｚ)", "U+FF5A"),                 # NFKC would have turned it into z
    ("z*tanh(z)  # é", "'#'"),
    ("tanh(z)\nimport os", "U+000A"),
    ("tanh(z)\x00", "U+0000"),
    ("z**2 ^ 3", "write powers as z**3"),
    ("tanh(z) + 'a'", "\"'\""),
    ("tanh(z)\\", "'\\\\'"),
])
def test_parser_refuses_characters_outside_the_allow_list(text, what):
    with pytest.raises(RGFlowError) as info:
        activation(text)
    message = str(info.value)
    assert what in message and "\n" not in message


def test_name_is_canonical_text_and_catalogue_spellings_find_the_committed_module():
    assert activation("z*tanh(z)   +z/7").name == "z*tanh(z) + z/7"
    assert activation("tanh(z)").name == "tanh"
    assert activation("max(0, z)").name == "relu"
    assert activation("z*Phi(z)").name == "gelu"
    assert codegen.compile(flow("tanh(z)", ("K", "H"))).origin == "generated/flow_tanh_kh.py"


def test_renderer_refuses_a_hand_made_activation_name():
    import sympy as sp

    from derive.activations import Activation
    from derive.symbols import z
    evil = Activation(name='x"""; import os; """', expr=sp.tanh(z))
    with pytest.raises(RGFlowError, match="cannot appear in generated source"):
        codegen.generate(flow(evil, ("K",)))
    with pytest.raises(RGFlowError, match="generator command"):
        codegen.generate(flow("tanh", ("K",)), command="rgflow compile\nimport os")


# ---------------------------------------------------------------------------------
# Property: arbitrary text through parse → flow → generate
# ---------------------------------------------------------------------------------
_GOOD = ["z*tanh(z) + z/7", "z*erf(z) + z/2", "sin(z) + z", "z/(1 + z**2)", "max(z, 0.1*z)",
         "exp(-z**2)*z + z", "log(1 + exp(z))", "relu(z) + a*z"]
_JUNK = st.sampled_from(['#', '"""', "'''", "\\", "\n", "\r", "\x00", "é", "ｚ", "\u202e", "`", ";",
                         "import os", "open('x','w')", "__import__('os')", "\t", "$(id)", "%s"])


def _check_text(text: str) -> None:
    try:
        act = activation(text, **({"a": 0.1} if "a" in text else {}))
    except RGFlowError:
        return
    except TypeError:     # unexpected keyword: 'a' did not end up as a parameter
        act = activation(text)
    assert act.name.isascii() and act.name.isprintable()
    if not act.is_numeric:
        return
    try:
        f = flow(act, ("K",))
    except RGFlowError:
        return
    assert_only_expected_definitions(codegen.generate(f, command=f"rgflow compile {act.name}").text)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=60))
@example('z*tanh(z)+z/7 # """; open("/tmp/PWNED","w").write("x"); """')
@example("tanh(z)#")
def test_arbitrary_unicode_text_is_refused_or_canonical(text):
    _check_text(text)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(_GOOD), _JUNK, st.integers(0, 40))
def test_valid_expressions_with_injected_text(good, junk, position):
    position = min(position, len(good))
    with pytest.raises(RGFlowError):
        activation(good[:position] + junk + good[position:])


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(_GOOD[:6]), st.sampled_from(["", " ", "  ", "(", ")"]))
def test_accepted_expressions_generate_only_expected_definitions(good, pad):
    text = f"({good})" if pad in "()" and pad else pad + good + pad
    _check_text(text)


# ---------------------------------------------------------------------------------
# Cached files are verified before they are executed
# ---------------------------------------------------------------------------------
@pytest.fixture
def cached(tmp_path, monkeypatch):
    monkeypatch.setenv("RGFLOW_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(cache, "_FALLBACK", {})
    codegen._reset_cache_modules()
    f = flow("z*erf(z) + z/3", ("K",))
    ev = codegen.compile(f)
    codegen._reset_cache_modules()
    return f, pathlib.Path(ev.origin)


@pytest.mark.parametrize("damage", ["truncate", "empty", "tamper", "digest-missing"])
def test_damaged_cached_module_is_regenerated_never_executed(cached, damage, tmp_path):
    f, path = cached
    original = path.read_text()
    marker = tmp_path / "EXECUTED"
    if damage == "truncate":
        path.write_text(original[: len(original) // 3])
    elif damage == "empty":
        path.write_text("")
    elif damage == "tamper":
        path.write_text(original + f"\nopen({str(marker)!r}, 'w').write('x')\n")
    else:
        cache.digest_path(path).unlink()
    ev = codegen.compile(f)
    assert path.read_text() == original and ev.origin == str(path)
    assert not marker.exists()
    codegen._reset_cache_modules()


def test_tampered_committed_module_is_skipped(tmp_path, monkeypatch, capfd):
    from codegen import artifacts
    monkeypatch.setenv("RGFLOW_CACHE_DIR", str(tmp_path / "cache"))
    directory = tmp_path / "generated"
    directory.mkdir()
    for name in ("MANIFEST.json", "flow_linear_kh.py"):
        (directory / name).write_bytes((artifacts.GENERATED_DIR / name).read_bytes())
    (directory / "flow_linear_kh.py").write_text("raise SystemExit('executed')\n")
    monkeypatch.setattr(artifacts, "GENERATED_DIR", directory)
    monkeypatch.setattr(artifacts, "find_stem", lambda key, d=directory: "flow_linear_kh")
    monkeypatch.delitem(sys.modules, "generated.flow_linear_kh", raising=False)
    ev = codegen.compile(flow("linear", ("K", "H")))
    assert ev.origin != "generated/flow_linear_kh.py" and pathlib.Path(ev.origin).is_relative_to(tmp_path)
    assert "skipping the committed evaluator" in capfd.readouterr().err
    monkeypatch.delitem(sys.modules, "generated.flow_linear_kh", raising=False)
    codegen._reset_cache_modules()


def test_corrupt_numba_index_is_discarded_and_recompiled(tmp_path):
    code = ("import numpy as np, codegen; from derive.flow import flow; "
            "ev = codegen.compile(flow('z*erf(z) + z/3', ('K',))); "
            "print(ev.run(np.eye(2), depth=3, C_W=1.0).K[3][0, 0])")
    env = {**os.environ, "RGFLOW_CACHE_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)}
    first = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr
    indexes = list(tmp_path.rglob("*.nbi"))
    assert indexes
    for index in indexes:
        data = index.read_bytes()
        index.write_bytes(data[: len(data) // 2])
    second = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr
    assert second.stdout == first.stdout
    assert "discarded" in second.stderr and "Traceback" not in second.stderr


@pytest.mark.parametrize("kind", ["file", "read-only"])
def test_unusable_cache_directory_falls_back_to_a_private_one(tmp_path, monkeypatch, capfd, kind):
    root = tmp_path / "root"
    if kind == "file":
        root.write_text("not a directory")
    else:
        root.mkdir()
        monkeypatch.setattr(cache, "_unwritable", lambda d: "Read-only file system")
    monkeypatch.setenv("RGFLOW_CACHE_DIR", str(root))
    monkeypatch.setattr(cache, "_FALLBACK", {})
    codegen._reset_cache_modules()
    ev = codegen.compile(flow("z*erf(z) + z/5", ("K",)))
    err = capfd.readouterr().err
    assert "cannot be used" in err and "private temporary cache" in err and err.count("\n") == 1
    assert not pathlib.Path(ev.origin).is_relative_to(root)
    codegen._reset_cache_modules()


def test_cache_namespace_changes_with_the_generator_source(monkeypatch):
    before = cache.namespace()
    cache.source_digest.cache_clear()
    monkeypatch.setattr(cache, "source_digest", lambda: "0" * 64)
    assert cache.namespace() != before and cache.namespace().endswith("src000000000000")
