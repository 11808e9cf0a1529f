"""The suite itself: tests mirror the packages and never touch the user's cache."""

import os
import pathlib

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent


def test_the_run_uses_its_own_cache(tmp_path_factory):
    cache = pathlib.Path(os.environ["RGFLOW_CACHE_DIR"]).resolve()
    run = tmp_path_factory.getbasetemp().resolve()
    if os.environ.get("PYTEST_XDIST_WORKER"):        # the workers of one run share its root
        run = run.parent
    assert cache.is_relative_to(run)


def test_tests_mirror_the_packages():
    for package in ("derive", "codegen", "rgflow"):
        assert (ROOT / package).is_dir() and any((HERE / package).glob("test_*.py")), package
    loose = sorted(p.name for p in HERE.glob("test_*.py"))
    assert loose == ["test_hygiene.py", "test_layering.py"]      # cross-package checks only
