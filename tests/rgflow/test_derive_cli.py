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


def test_residual_system(capsys):
    """ReLU at ξ = 0.8, γ = 0.6 by hand: g₂ = K/2, g₂′ = 1/2, Var σ² = 5K²/4, so Ω' = ξ⁴Ω +
    2ξ²γ²C_W(Ψ_σ + Ω/2) + γ⁴C_W²(5K²/4 + Ψ_σ + Ω/4) and the V-only V' = χ²V + (5/4)γ⁴C_W²K² + 2ξ²γ²C_W K²."""
    assert main(["derive", "relu", "--residual", "0.8,0.6"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "K' = 9*C_W*K/50 + 9*C_b/25 + 16*K/25" in lines
    assert "H' = 9*C_W*H/50 + 16*H/25 + 9*K*lambda_W/50 + 9*lambda_b/25" in lines
    assert ("Omega' = 81*C_W**2*K**2/500 + 81*C_W**2*Omega/2500 + 81*C_W**2*Psi_sigma/625 + 144*C_W*Omega/625"
            " + 288*C_W*Psi_sigma/625 + 256*Omega/625") in lines
    assert "V = Omega + 2*Psi_z" in lines
    assert main(["derive", "tanh", "--residual", "0.8,0.6", "--latex"]) == 0
    out = capsys.readouterr().out
    assert r"\Psi_\sigma^{(\ell)} &= " in out and out.rstrip().endswith(r"\end{align}")


def test_classify_residual(capsys):
    import json
    assert main(["classify", "relu", "--residual", "0.7"]) == 0
    out = capsys.readouterr().out
    assert "V/(n K^2) ~       3.74891*ell/n   (bilinear closure; V-only closure 1.29*ell/n)" in out
    assert main(["classify", "tanh", "--residual", "0.5", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)["residual"]
    assert data["nu"] == pytest.approx(0.5) and data["gamma2_C_W"] == pytest.approx(0.5)


@pytest.mark.parametrize("argv, message", [
    (["derive", "relu", "--residual", "0.8"], "--residual must be XI,GAMMA"),
    (["derive", "relu", "--residual", "0.8,0"], "--residual must be XI,GAMMA"),
    (["derive", "relu", "--residual", "0.8,0.6", "--order", "2"], "single-input order-1/n system"),
    (["classify", "relu", "--residual", "1"], "below 1"),
    (["classify", "relu", "--residual", "nan"], "xi2 must be a finite"),
    (["classify", "sigmoid", "--residual", "0.5"], "no usable critical point"),
])
def test_residual_errors(argv, message, capsys):
    assert main(argv) == 2
    assert_cli_error(capsys.readouterr().err, message)


def test_flow_residual(capsys):
    """`rgflow flow relu --residual` at the critical point (γ²C_W = 2(1 − ξ²)): K stays at the input's
    C_W|x|²/n_0 and V/(nK²) at layer 6 is the bilinear closure's 40.06/(64·4) (docs/residual.md)."""
    xi, gamma = 0.7 ** 0.5, 0.3 ** 0.5
    assert main(["flow", "relu", "--depth", "6", "--width", "64", "--residual", f"{xi},{gamma}"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "bilinear closure" in lines[0] and "C_W = 2," in lines[0]
    last = [float(v) for v in lines[-1].split()]
    assert last[0] == 6 and abs(last[-1] - 40.06 / 256) < 2e-4
    assert main(["flow", "relu", "--depth", "3", "--width", "8", "--residual", "0.8,0.6", "--plot", "x.png"]) == 2
    assert_cli_error(capsys.readouterr().err, "--residual takes no")


def test_flow_at_order_two(tmp_path, capsys):
    """`rgflow flow relu --order 2` at criticality (C_W = 2, K = 2 for the default inputs): V = 20(ℓ−1),
    V1' = V1 + 5V, U' = 352 + 60V + U (docs/derivation.md), so at layer 6, n = 64: V/(nK²) = 100/256,
    (V + V1/n)/(nK²) = (100 + 1000/64)/256 and U/(n²K³) = 13760/(4096·8)."""
    assert main(["flow", "relu", "--order", "2", "--depth", "6", "--width", "64"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "order 1/n^2" in lines[0] and lines[1].split()[-4:] == ["E[zz]_11", "V/(nK^2)", "(V+V1/n)/(nK^2)",
                                                                   "U/(n^2K^3)"]
    last = [float(v) for v in lines[-1].split()]
    expected = [6, 2.0, None, 2.0, 100 / 256, (100 + 1000 / 64) / 256, 13760 / 32768]
    for got, want in zip(last, expected):
        if want is not None:
            assert abs(got - want) <= 1e-6 * max(1.0, abs(want)), (last, expected)
    import numpy as np
    three = tmp_path / "three.npy"
    np.save(three, np.eye(3))
    assert main(["flow", "relu", "--order", "2", "--depth", "3", "--width", "8", "--inputs", str(three)]) == 2
    assert_cli_error(capsys.readouterr().err, "at most 2 distinct inputs")
    assert main(["flow", "relu", "--order", "2", "--depth", "3", "--width", "8", "--observables", "K,H"]) == 2
    assert_cli_error(capsys.readouterr().err, "order 1/n only")
    assert main(["flow", "relu", "--order", "2", "--depth", "3", "--width", "8", "--residual", "0.8,0.6"]) == 2
    assert_cli_error(capsys.readouterr().err, "no --order 2")
