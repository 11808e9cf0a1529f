"""Every example runs (fast mode) and produces its figure."""

import pathlib
import runpy
import sys

import pytest

EXAMPLES = sorted(pathlib.Path(__file__).resolve().parents[2].joinpath("examples").glob("[0-9]*.py"))


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_runs(path, tmp_path, monkeypatch, capsys):
    out = tmp_path / (path.stem + ".png")
    monkeypatch.setattr(sys, "argv", [str(path), "--fast", "--out", str(out)])
    runpy.run_path(str(path), run_name="__main__")
    assert out.exists() and out.stat().st_size > 10_000
    assert capsys.readouterr().out.strip()
