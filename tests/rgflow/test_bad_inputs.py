"""Numbers in, clear errors out — before anything is allocated, derived or compiled.

Every case goes through the real entry point (``python -m rgflow``, what the
``rgflow`` script runs): exit status 2, exactly one line on stderr, no traceback, and
the refusals that need no derivation come back in well under the time a derivation takes.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import time

import numpy as np
import pytest

import codegen
from codegen import InputError
from derive.flow import flow
from cli_checks import assert_cli_error

ROOT = pathlib.Path(__file__).resolve().parents[2]


def rgflow(*argv, env=None, timeout=600):
    """Run the command line as a user does; (exit status, stdout, stderr, seconds)."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "rgflow", *argv], capture_output=True, text=True,
                          cwd=ROOT, env={**os.environ, **(env or {})}, timeout=timeout)
    return proc.returncode, proc.stdout, proc.stderr, time.perf_counter() - start


def assert_one_line_error(code, err, message):
    assert code == 2, err
    assert_cli_error(err, message)


@pytest.fixture(scope="module")
def npy_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("inputs")
    files = {"complex": np.array([[1.0 + 1j, 0.0]]), "nan": np.array([[np.nan, 1.0]]),
             "three_d": np.ones((2, 2, 2)), "empty": np.zeros((0, 3)), "strings": np.array([["a", "b"]])}
    for name, value in files.items():
        np.save(d / f"{name}.npy", value)
    (d / "garbage.npy").write_bytes(b"\x93NUMPY garbage")
    return d


# Refusals decided by the arguments alone: no derivation, no compilation (the issue measured
# 14 s for --depth 0 and 31 s for --C_W nan before).
@pytest.mark.parametrize("argv, message", [
    (["flow", "relu", "--depth", "0", "--width", "8"], "--depth must be >= 1"),
    (["flow", "relu", "--depth", "3", "--width", "0"], "--width must be >= 1"),
    (["flow", "relu", "--depth", "3", "--width", "8", "--C_W", "nan"], "--C_W must be finite"),
    (["flow", "relu", "--depth", "3", "--width", "8", "--C_b", "inf"], "--C_b must be finite"),
    (["flow", "relu", "--depth", "3", "--width", "8", "--lambda_W", "-1"], "--lambda_W must be finite and non-negative"),
    (["validate", "tanh", "--depth", "0"], "--depth must be >= 1"),
    (["validate", "tanh", "--networks", "1"], "--networks must be >= 2"),
    (["validate", "tanh", "--seed", "-3"], "--seed must be >= 0"),
    (["flow", "relu", "--depth", "3", "--width", "8", "--plot", "/proc/rgflow.png"], "cannot write"),
    (["flow", "relu", "--depth", "3", "--width", "8", "--plot", "{tmp}"], "is a directory"),
    (["flow", "relu", "--depth", "3", "--width", "8", "--plot", "{tmp}/k.nosuchformat"], "unknown figure format"),
    (["flow", "relu", "--depth", "3", "--width", "8", "--graph", "/proc/1/g.graphml"], "cannot write"),
    (["validate", "tanh", "--plot", "/proc/v.png"], "cannot write"),
    (["flow", "relu", "--depth", "3", "--width", "8", "--inputs", "/nonexistent.npy"], "No such file"),
    (["flow", "relu", "--depth", "3", "--width", "8", "--inputs", "{npy}/garbage.npy"], "cannot read inputs"),
    (["flow", "relu", "--depth", "3", "--width", "8", "--inputs", "{npy}/complex.npy"], "real numeric array"),
    (["flow", "relu", "--depth", "3", "--width", "8", "--inputs", "{npy}/strings.npy"], "real numeric array"),
    (["flow", "relu", "--depth", "3", "--width", "8", "--inputs", "{npy}/nan.npy"], "NaN or infinite"),
    (["flow", "relu", "--depth", "3", "--width", "8", "--inputs", "{npy}/three_d.npy"], "shape (N_D, n_0)"),
    (["validate", "relu", "--inputs", "{npy}/empty.npy"], "shape (N_D, n_0)"),
    (["classify", "z*tanh(z) # comment"], "comments are not accepted"),
    (["compile", "tanh(z)\nimport os"], "U+000A"),
])
def test_cli_refuses_bad_arguments_before_any_work(argv, message, tmp_path, npy_files):
    argv = [a.format(tmp=tmp_path, npy=npy_files) for a in argv]
    code, _, err, seconds = rgflow(*argv)
    assert_one_line_error(code, err, message)
    assert seconds < 10, f"refusal took {seconds:.1f} s: was something derived or compiled first?"


def test_cli_suggests_cli_syntax_for_unbound_parameters():
    code, _, err, _ = rgflow("flow", "leaky_relu", "--depth", "3", "--width", "8")
    assert_one_line_error(code, err, "-p a=0.1")
    assert "activation(" not in err


def test_plot_path_is_checked_before_the_work(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK) and os.geteuid() == 0:
            target = "/proc/plot.png"      # root can write anywhere else
        else:
            target = str(locked / "plot.png")
        code, out, err, _ = rgflow("flow", "relu", "--depth", "3", "--width", "8", "--plot", target)
        assert_one_line_error(code, err, "--plot")
        assert out == ""                   # the table was not computed first
    finally:
        locked.chmod(0o700)


def test_help_does_not_import_the_symbolic_engine():
    code = ("import sys; from rgflow.cli import build_parser; build_parser(); "
            "print(sorted(m for m in ('sympy', 'numba', 'scipy', 'networkx', 'matplotlib') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


# ---------------------------------------------------------------------------------
# Library: Evaluator.run
# ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def relu():
    return codegen.compile(flow("relu", ("K", "H")))


@pytest.mark.parametrize("kwargs, message", [
    ({"width": float("inf")}, "width must be a finite positive integer"),
    ({"width": float("nan")}, "width must be a finite positive integer"),
    ({"width": "64"}, "got the string '64'"),
    ({"width": [8, 8, float("inf")]}, "width of layer 3 must be a finite"),
    ({"width": True}, "positive integer"),
    ({"C_W": "abc"}, "C_W must be a number"),
    ({"C_W": 1 + 2j}, "C_W must be a real number"),
    ({"C_b": [0.0, float("nan"), 0.0]}, "C_b must be finite"),
    ({"lambda_W": -1.0}, "lambda_W must be non-negative"),
    ({"X": np.eye(2) + 0j}, "X must be real; got a complex array"),
    ({"X": np.array([["a", "b"]])}, "real numeric array"),
    ({"depth": 10**12}, "needs about"),
    ({"depth": 10**12, "keep": "last"}, "needs about"),
    ({"C_W": 0.0, "C_b": 0.0}, "C_b = C_W = 0"),
    ({"X": np.eye(2) * 1e-200}, "underflows in double precision"),
    ({"X": np.array([[0.0, 0.0], [1.0, 0.0]])}, "input 0 is all zero"),
])
def test_run_rejects_bad_numbers_with_one_clear_error(relu, kwargs, message):
    args = {"X": np.eye(2), "depth": 3, "C_W": 2.0, **kwargs}
    start = time.perf_counter()
    with pytest.raises(InputError if "needs about" not in message else codegen.FlowMemoryError) as info:
        relu.run(**args)
    assert message in str(info.value) and "\n" not in str(info.value)
    assert time.perf_counter() - start < 5          # refused before allocating 10**12 layers


def test_object_arrays_of_real_numbers_are_accepted(relu):
    res = relu.run(np.eye(2).astype(object), depth=2, C_W=2.0)
    assert np.allclose(res.K[2], relu.run(np.eye(2), depth=2, C_W=2.0).K[2])
