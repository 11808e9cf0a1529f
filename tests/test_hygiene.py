"""The suite itself: tests mirror the packages and never touch the user's cache."""

import os
import pathlib

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent


def test_the_run_uses_its_own_cache(tmp_path_factory):
    cache = pathlib.Path(os.environ["RGFLOW_CACHE_DIR"]).resolve()
    assert cache.is_relative_to(tmp_path_factory.getbasetemp().resolve())


def test_tests_mirror_the_packages():
    for package in ("derive", "codegen", "rgflow"):
        assert (ROOT / package).is_dir() and any((HERE / package).glob("test_*.py")), package
    loose = sorted(p.name for p in HERE.glob("test_*.py"))
    assert loose == ["test_hygiene.py", "test_layering.py"]      # cross-package checks only
