"""``rgflow derive``: the derived recursions as text and LaTeX, and its one-line errors.

The ReLU lines are checked against hand-derived closed forms (⟨relu^m⟩_K = (m−1)!! K^{m/2}/2):
V' local term C_W²(⟨σ⁴⟩ − ⟨σ²⟩²) = (5/4)C_W²K², U' local term C_W³(⟨σ⁶⟩ − 3⟨σ⁴⟩⟨σ²⟩ + 2⟨σ²⟩³)
= (11/2)C_W³K³, χ_∥ = C_W/2 for G1, G2.
"""

import pytest

from cli_checks import assert_cli_error
from rgflow.cli import main


def test_relu_order_two_single_input(capsys):
    assert main(["derive", "relu", "--order", "2"]) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert "G1' = C_W*G1*r/2" in lines and "G2' = C_W*G2*r**2/2" in lines
    assert "V' = 5*C_W**2*K**2/4 + C_W**2*V*r/4" in lines
    assert "U' = 11*C_W**3*K**3/2 + 15*C_W**3*K*V*r/4 + C_W**3*U*r**2/8" in lines
    assert captured.err.startswith("rgflow: deriving")


def test_latex_and_general_forms(capsys):
    assert main(["derive", "tanh", "--observables", "V,G1", "--latex"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(r"\begin{align}") and out.rstrip().endswith(r"\end{align}")
    assert r"G^{\{1\}(\ell+1)}" in out and "K^{(" not in out          # only the requested ones
    assert main(["derive", "tanh", "--observables", "V", "--general"]) == 0
    out = capsys.readouterr().out
    assert "V_next[a1,a2,a3,a4] = " in out and "ssss[a1, a2, a3, a4]" in out


@pytest.mark.parametrize("argv, message", [
    (["derive", "relu", "--observables", "U"], "unknown statistic(s) U at order 1"),
    (["derive", "tanhh"], "unknown activation"),
])
def test_one_line_errors(argv, message, capsys):
    assert main(argv) == 2
    assert_cli_error(capsys.readouterr().err, message)
