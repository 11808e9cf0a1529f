"""The catalogue evaluators give the numbers they gave before the recursion IR (issue #10).

``tests/data/catalogue_reference.npz`` was written by ``tests/data/make_catalogue_reference.py``
with the generator as it was before observables became declarations; every change of the
generator since must reproduce it to 1e-14 (relative to each array's largest entry).
"""

import pathlib
import sys

import numpy as np
import pytest

HERE = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(HERE / "data"))
import make_catalogue_reference as reference  # noqa: E402

SAVED = np.load(HERE / "data" / "catalogue_reference.npz")


@pytest.fixture(scope="module")
def now():
    return reference.compute()


@pytest.mark.parametrize("key", sorted(SAVED.files))
def test_catalogue_values_unchanged(now, key):
    before, after = SAVED[key], now[key]
    assert before.shape == after.shape
    scale = max(float(np.max(np.abs(before))), 1e-300)
    assert np.max(np.abs(after - before)) <= 1e-14 * scale, key
