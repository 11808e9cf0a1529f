"""Evaluator.to_dask (codegen/dask_graph.py): one task per chunk calling the tile kernel,
bitwise equal to ev.run on the threaded scheduler, on a two-process distributed.LocalCluster,
and through zarr."""

from __future__ import annotations

import numpy as np
import pytest

import codegen
from codegen.evaluator import InputError
from derive import flow

da = pytest.importorskip("dask.array")


def _setup(n=700, name="relu", C_W=2.0):
    ev = codegen.compile(flow(name, ("K", "H")))
    X = np.random.default_rng(3).standard_normal((n, 6))
    X[n // 2] = X[4]   # a repeated input
    return ev, X, dict(depth=5, C_b=0.1, C_W=C_W)


@pytest.mark.parametrize("keep", ["last", "all"])
def test_threaded_scheduler_equals_run_bitwise(keep):
    ev, X, kw = _setup(n=257, name="tanh", C_W=1.2)
    ref = ev.run(X, keep=keep, progress=False, **kw)
    arrays = ev.to_dask(X, chunks=100, keep=keep, tile=33, **kw)
    assert sorted(arrays) == ["H", "K"]
    for q in ("K", "H"):
        want = np.asarray(getattr(ref, q))
        got = arrays[q].compute(scheduler="threads")
        assert got.shape == (want[0].shape if keep == "last" else want.shape)
        assert np.array_equal(got, want[0] if keep == "last" else want)


def test_local_cluster_of_two_processes_equals_run_bitwise():
    distributed = pytest.importorskip("distributed")
    ev, X, kw = _setup(n=2500)
    ref = ev.run(X, keep="last", progress=False, **kw)
    arrays = ev.to_dask(X, chunks=800, **kw)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        K, H = client.compute([arrays["K"], arrays["H"]], sync=True)
        assert len(client.scheduler_info()["workers"]) == 2
    assert np.array_equal(K, np.asarray(ref.K)[0])
    assert np.array_equal(H, np.asarray(ref.H)[0])


def test_to_zarr_round_trip(tmp_path):
    zarr = pytest.importorskip("zarr")
    ev, X, kw = _setup(n=300)
    ref = ev.run(X, keep="last", progress=False, **kw)
    arrays = ev.to_dask(X, chunks=128, **kw)
    da.to_zarr(arrays["K"].rechunk(128), str(tmp_path / "K.zarr"))   # the repeated input made chunks irregular
    stored = zarr.open(str(tmp_path / "K.zarr"), mode="r")
    assert stored.shape == (300, 300)
    assert np.array_equal(stored[:], np.asarray(ref.K)[0])


def test_to_dask_refusals():
    ev, X, kw = _setup(n=10)
    with pytest.raises(InputError, match="chunks"):
        ev.to_dask(X, chunks=0, **kw)
    with pytest.raises(InputError, match="tiled"):
        codegen.compile(flow("relu", ("K", "V"))).to_dask(X, **kw)
    with pytest.raises(InputError, match="C_W"):
        ev.to_dask(X, depth=3, C_W=-1.0)
    from codegen.evaluator import FlowOverflowError
    with pytest.raises(FlowOverflowError, match="layer"):   # the diagonal pass runs here, not in a worker
        ev.to_dask(X, depth=80, C_W=1e9)
