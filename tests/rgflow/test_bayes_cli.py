"""``rgflow bayes`` through rgflow.cli.main: output, JSON, and one-line errors with exit 2."""

import json

import numpy as np
import pytest

from rgflow.bayes import Architecture, predict
from rgflow.bayes.data import linear_teacher
from rgflow.cli import main
from cli_checks import assert_cli_error


def run(argv, capsys):
    rc = main(argv)
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_solve_json_matches_api(capsys):
    rc, out, _ = run(["bayes", "solve", "--activation", "erf", "--widths", "30", "--beta", "2",
                      "--priors", "1.5", "--P", "30", "--N0", "10", "--json"], capsys)
    assert rc == 0
    got = json.loads(out)
    d = linear_teacher(P=30, N0=10, n_test=200, noise=0.5, seed=0)
    p = predict(Architecture("erf", (30,), 2.0, (1.5,)), d.X, d.y, d.X_test, d.y_test)
    assert got["Qbar"][0] == pytest.approx(p.saddle.Qbar[0], rel=1e-10)
    assert got["generalisation_error"] == pytest.approx(p.generalisation_error, rel=1e-10)
    assert list(got) == sorted(got)


def test_solve_from_npz(tmp_path, capsys):
    d = linear_teacher(P=20, N0=5, n_test=10, seed=3)
    f = tmp_path / "d.npz"
    np.savez(f, X=d.X, y=d.y, X_test=d.X_test, y_test=d.y_test)
    rc, out, _ = run(["bayes", "solve", "--data", str(f), "--widths", "10"], capsys)
    assert rc == 0 and "generalisation_error" in out


def test_latex_and_li_sompolinsky(capsys):
    rc, out, _ = run(["bayes", "latex", "--depth", "2"], capsys)
    assert rc == 0 and out.startswith("% deep action, L = 2") and r"\end{align}" in out
    rc, out, _ = run(["bayes", "latex", "--mean-correction"], capsys)
    assert rc == 0 and "mean correction" in out
    rc, out, _ = run(["bayes", "li-sompolinsky", "--alpha", "2", "--r", "0.5", "--depth", "3"], capsys)
    u = float(out.split("=")[1])
    assert rc == 0 and 1 - u == pytest.approx(2 * (1 - 0.5 / u**3), abs=1e-9)


def test_langevin_command(capsys):
    rc, out, _ = run(["bayes", "langevin", "--activation", "erf", "--widths", "8", "--P", "12", "--N0", "4",
                      "--n-test", "5", "--chains", "2", "--steps", "40", "--burn-in", "10"], capsys)
    assert rc == 0 and out.startswith("langevin") and "nngp" in out


@pytest.mark.parametrize("argv,msg", [
    (["bayes", "solve", "--widths", "-5"], "widths must be positive"),
    (["bayes", "solve", "--beta", "-1"], "inverse temperature"),
    (["bayes", "solve", "--priors", "0"], "priors must be finite positive"),
    (["bayes", "solve", "--widths", "10", "10", "--priors", "1"], "one prior per hidden layer"),
    (["bayes", "solve", "--activation", "tanh"], "not supported"),
    (["bayes", "solve", "--data", "/nonexistent.npz"], "not found"),
    (["bayes", "solve", "--activation", "linear", "--beta", "inf", "--P", "40", "--N0", "10"], "positive definite"),
    (["bayes", "li-sompolinsky", "--alpha", "-1", "--r", "1"], "alpha must be positive"),
    (["bayes", "langevin", "--widths", "5", "5", "--priors", "1", "1", "--P", "10", "--N0", "3"], "one hidden layer"),
])
def test_user_errors_are_one_line(argv, msg, capsys):
    rc, out, err = run(argv, capsys)
    assert rc == 2
    assert_cli_error(err, msg)
