"""The rgflow command line: every named activation, JSON, LaTeX, one-line errors."""

import json
import subprocess
import sys

import pytest

from derive import registry_names
from rgflow.cli import main
from cli_checks import assert_cli_error


@pytest.mark.parametrize("name", registry_names())
def test_classify_every_named_activation(name, capsys):
    assert main(["classify", name]) == 0
    out = capsys.readouterr().out
    assert out.startswith("activation") and "class" in out


def test_classify_json_and_param(capsys):
    assert main(["classify", "leaky_relu", "-p", "a=0.1", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["critical_points"][0]["C_W"] == "200/101" and data["parameters"] == {"a": "1/10"}


def test_latex_command(capsys):
    assert main(["latex", "tanh"]) == 0
    out = capsys.readouterr().out
    assert out.count(r"\begin{align*}") == 2 and r"V^{(\ell+1)}" in out


@pytest.mark.parametrize("argv, message", [
    (["classify", "tanhh"], "unknown activation"),
    (["classify", "__import__('os').system('true')"], "character \"'\" (U+0027)"),
    (["classify", "__import__(z).system(z)"], "only plain function calls"),
    (["classify", "__import__(z)"], "unknown function '__import__'"),
    (["classify", "leaky_relu", "-p", "a=nan"], "not finite"),
    (["classify", "leaky_relu", "-p", "b=1"], "no parameter"),
    (["classify", "tanh", "-p", "oops"], "NAME=VALUE"),
    (["latex", "z.real"], "unsupported syntax"),
])
def test_user_errors_are_one_line(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert_cli_error(err, message)


def test_console_script_exit_code_without_traceback():
    proc = subprocess.run([sys.executable, "-m", "rgflow", "classify", "nope"], capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


def test_flow_command_table_plot_and_graph(tmp_path, capsys):
    plot, graph = tmp_path / "flow.png", tmp_path / "g.graphml"
    assert main(["flow", "relu", "--depth", "6", "--width", "32", "--plot", str(plot),
                 "--graph", str(graph)]) == 0
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines() if line.strip()[:1].isdigit()]
    assert [int(r[0]) for r in rows] == [1, 2, 3, 4, 5, 6]
    header = out.splitlines()[1].split()
    ratio = [float(r[header.index("V/(nK^2)")]) for r in rows]
    assert ratio == pytest.approx([5 * (layer - 1) / 32 for layer in range(1, 7)], rel=1e-9)  # ReLU critical
    # the default inputs of rgflow.defaults (those of 'rgflow validate'): |x|^2/n_0 = 1, overlap 0.8, C_W = 2
    assert [float(rows[0][header.index(c)]) for c in ("K_11", "K_12")] == pytest.approx([2.0, 1.6], rel=1e-12)
    assert plot.stat().st_size > 10_000 and graph.read_text().startswith("<?xml")


def test_flow_command_inputs_file_and_explicit_hyperparameters(tmp_path, capsys):
    import numpy as np
    path = tmp_path / "X.npy"
    np.save(path, np.array([[1.0, 2.0, 0.0]]))
    assert main(["flow", "erf", "--depth", "3", "--width", "10", "--inputs", str(path),
                 "--C_b", "0.1", "--C_W", "1.5", "--observables", "K,H"]) == 0
    out = capsys.readouterr().out
    first = [line.split() for line in out.splitlines() if line.strip().startswith("1 ")][0]
    assert float(first[1]) == pytest.approx(0.1 + 1.5 * 5 / 3)


def test_compile_command(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("RGFLOW_CACHE_DIR", str(tmp_path))
    assert main(["compile", "tanh", "--observables", "K,H"]) == 0
    out = capsys.readouterr().out
    assert "generated/flow_tanh_kh.py" in out and "dsds" in out


@pytest.mark.parametrize("argv, message", [
    (["flow", "sigmoid", "--depth", "3", "--width", "8"], "critical point"),
    (["flow", "relu", "--depth", "0", "--width", "8"], "--depth"),
    (["flow", "relu", "--depth", "3", "--width", "-2"], "--width"),
    (["flow", "relu", "--depth", "3", "--width", "8", "--C_W", "-1"], "non-negative"),
    (["flow", "relu", "--depth", "3", "--width", "8", "--inputs", "/nonexistent.npy"], "cannot read inputs"),
    (["flow", "relu", "--depth", "2000", "--width", "8", "--C_W", "3", "--observables", "K"], "overflowed (|K| > 1e300 or not finite) at layer"),
    (["compile", "tanh", "--observables", "K,Z"], "unknown observable"),
])
def test_flow_user_errors_are_one_line(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert_cli_error(err, message)
