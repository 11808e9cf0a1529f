"""Shared fixtures.

The tests mirror the packages (``tests/derive``, ``tests/codegen``, ``tests/rgflow``); the
helpers they share (``references``, ``validation_cases``, ``cli_checks``, ``data/``) live
here, in ``tests/``, which is put on ``sys.path``.

Every test-suite run compiles into its own user cache (``RGFLOW_CACHE_DIR`` under
pytest's temporary directory, inherited by the subprocesses tests start): no test reads
or writes the user's ``~/.cache/rgflow``.  Under pytest-xdist (``-n 2``, the CI command)
the workers share that one cache — its writes are atomic and content-addressed
(:mod:`codegen.cache`), so a flow is compiled once per run, not once per worker.  Tests
that need an empty cache set their own.
"""

import os
import pathlib
import sys

import numpy as np
import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))


@pytest.fixture(scope="session", autouse=True)
def _per_run_cache(tmp_path_factory):
    """The user cache of this test-suite run."""
    before = os.environ.get("RGFLOW_CACHE_DIR")
    if os.environ.get("PYTEST_XDIST_WORKER"):       # basetemp is .../popen-gwN: share its parent
        shared = tmp_path_factory.getbasetemp().parent / "rgflow-cache"
        shared.mkdir(exist_ok=True)
        os.environ["RGFLOW_CACHE_DIR"] = str(shared)
    else:
        os.environ["RGFLOW_CACHE_DIR"] = str(tmp_path_factory.mktemp("rgflow-cache"))
    yield
    if before is None:
        os.environ.pop("RGFLOW_CACHE_DIR", None)
    else:
        os.environ["RGFLOW_CACHE_DIR"] = before


@pytest.fixture
def rng():
    return np.random.default_rng(20261122)
