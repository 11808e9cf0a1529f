"""The rgflow command line: every named activation, JSON, LaTeX, one-line errors."""

import json
import subprocess
import sys

import pytest

from derive import registry_names
from derive.cli import main


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
    (["classify", "__import__('os').system('true')"], "only plain function calls"),
    (["classify", "__import__('os')"], "unknown function '__import__'"),
    (["classify", "leaky_relu", "-p", "a=nan"], "not finite"),
    (["classify", "leaky_relu", "-p", "b=1"], "no parameter"),
    (["classify", "tanh", "-p", "oops"], "NAME=VALUE"),
    (["latex", "z.real"], "unsupported syntax"),
])
def test_user_errors_are_one_line(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("rgflow: error:") and message in err


def test_console_script_exit_code_without_traceback():
    proc = subprocess.run([sys.executable, "-m", "derive.cli", "classify", "nope"], capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
