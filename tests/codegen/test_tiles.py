"""Layer-fused tiles (codegen/render_tiles.py, codegen/tiles.py): the same numbers as the
layer-by-layer path, for every tiled catalogue flow, tile size and chunk; out-of-core files;
the failures of both paths alike."""

from __future__ import annotations

import os

import numpy as np
import pytest

import codegen
from codegen import tiles
from codegen.evaluator import FlowOverflowError, InputError
from derive import flow

TILED = [("relu", 2.0), ("erf", 1.5), ("tanh", 1.2), ("gelu", 1.8), ("swish", 2.0), ("linear", 1.0)]


def _inputs(n, n0=5, seed=0, duplicate=False):
    X = np.random.default_rng(seed).standard_normal((n, n0))
    if duplicate and n > 3:
        X[n - 1] = X[1]
    return X


def test_catalogue_kh_flows_are_tiled_and_others_not():
    for name, _ in TILED:
        assert codegen.compile(flow(name, ("K", "H"))).tiled
    assert not codegen.compile(flow("relu", ("K", "V"))).tiled   # V reads (a1, a3), ...


@pytest.mark.parametrize("name, C_W", TILED)
@pytest.mark.parametrize("n, tile", [(1, None), (2, 1), (7, 3), (40, 17), (41, 1000)])
def test_tiled_equals_layer_by_layer(name, C_W, n, tile):
    """1e-14 of the largest entry (the Gram entries are summed in another order), every
    layer and the last, odd tile sizes, a repeated input."""
    ev = codegen.compile(flow(name, ("K", "H")))
    X = _inputs(n, duplicate=True)
    kw = dict(depth=5, C_b=0.1, C_W=C_W, progress=False)
    for keep in ("all", "last"):
        ref = ev.run(X, keep=keep, tile=False, **kw)
        got = ev.run(X, keep=keep, tile=tile, **kw)
        for q in ("K", "H"):
            a, b = np.asarray(getattr(ref, q)), np.asarray(getattr(got, q))
            assert a.shape == b.shape and getattr(got, q).layers == getattr(ref, q).layers
            assert np.max(np.abs(a - b)) <= 1e-14 * np.max(np.abs(a)), (keep, q)
            assert np.array_equal(b, np.swapaxes(b, 1, 2))


def test_three_hundred_inputs_tiled_equals_layer_by_layer():
    ev = codegen.compile(flow("erf", ("K", "H")))
    X = _inputs(300, n0=16)
    kw = dict(depth=6, C_b=0.2, C_W=1.6, keep="last", progress=False)
    ref, got = ev.run(X, tile=False, **kw), ev.run(X, tile=37, **kw)
    for q in ("K", "H"):
        a, b = np.asarray(getattr(ref, q)), np.asarray(getattr(got, q))
        assert np.max(np.abs(a - b)) <= 1e-14 * np.max(np.abs(a))


def _chunk_cases():
    return [((0, 7), (0, 7)), ((0, 7), (7, 23)), ((7, 23), (0, 7)), ((3, 17), (9, 30)), ((20, 30), (0, 25)),
            ((5, 6), (0, 30)), ((0, 30), (0, 30))]


@pytest.mark.parametrize("rows, cols", _chunk_cases())
def test_any_chunk_is_bitwise_the_in_memory_block(rows, cols):
    """What a Dask task computes (any rectangle, above, below or across the diagonal,
    any tile size) is bitwise the corresponding block of the in-memory run."""
    ev = codegen.compile(flow("tanh", ("K", "H")))
    X = _inputs(30)
    params = ev._parameters(4, None, 0.1, 1.3, None, None)
    prep = tiles.prepare(ev.module, X, params)
    full, _ = tiles.run_in_memory(ev.module, prep, keep_all=True, tile=8, parallel=False)
    for tile in (1, 5, 64):
        part, bad = tiles.block(ev.module, prep, rows, cols, keep_all=True, tile=tile)
        assert not bad.any()
        for a, b in zip(full, part):
            assert np.array_equal(a[:, rows[0]:rows[1], cols[0]:cols[1]], b)


def test_chunk_blocks_compute_each_pair_once():
    for rows, cols in _chunk_cases():
        blocks = tiles.chunk_blocks(rows, cols, 4)
        pairs = [(a, b) for i0, i1, j0, j1 in blocks for a in range(i0, i1) for b in range(j0, j1) if a < b]
        assert len(pairs) == len(set(pairs))
        want = {(min(a, b), max(a, b)) for a in range(*rows) for b in range(*cols) if a != b}
        assert set(pairs) == want


def test_failures_are_reported_alike():
    ev = codegen.compile(flow("relu", ("K", "H")))
    X = _inputs(12)
    messages = []
    for tile in (False, None):
        with pytest.raises(FlowOverflowError) as exc:
            ev.run(X, depth=80, C_W=1e9, progress=False, tile=tile)
        messages.append(str(exc.value))
        with pytest.raises(InputError) as exc:
            ev.run(np.zeros((3, 2)), depth=3, C_b=0.0, C_W=2.0, progress=False, tile=tile)
        messages.append(str(exc.value))
    assert messages[:2] == messages[2:]
    assert "layer" in messages[0] and "explodes" in messages[0]


@pytest.mark.parametrize("tile", [0, -3, 2.5, "8", True])
def test_bad_tile_sizes_are_refused(tile):
    with pytest.raises(InputError, match="tile"):
        codegen.compile(flow("relu", ("K", "H"))).run(np.eye(2), depth=2, tile=tile)


# ---------------------------------------------------------------------------------
# out of core
# ---------------------------------------------------------------------------------

def test_out_of_core_files_reopen_with_the_in_memory_values(tmp_path, monkeypatch):
    monkeypatch.setattr(tiles, "STRIP_BYTES", 8 * 2 * 130 * 16)   # strips of 16 rows: many strips
    ev = codegen.compile(flow("gelu", ("K", "H")))
    X = _inputs(130, duplicate=True)
    kw = dict(depth=4, C_b=0.1, C_W=1.8, keep="last", progress=False)
    ref = ev.run(X, tile=False, **kw)
    res = ev.run(X, out=tmp_path / "kernels", tile=7, **kw)
    assert sorted(os.listdir(tmp_path / "kernels")) == ["H.npy", "K.npy"]
    for q in ("K", "H"):
        disk = np.load(tmp_path / "kernels" / f"{q}.npy", mmap_mode="r")
        assert disk.shape == (130, 130) and disk.dtype == np.float64
        mem = np.asarray(getattr(ref, q))[0]
        assert np.max(np.abs(disk - mem)) <= 1e-14 * np.max(np.abs(mem))
        assert np.array_equal(np.asarray(getattr(res, q))[0], disk)
        assert getattr(res, q).layers == range(4, 5)
    again = ev.run(X, out=tmp_path / "kernels", tile=7, **kw)   # replaces the files
    assert np.array_equal(np.asarray(again.K)[0], np.asarray(res.K)[0])


def test_out_of_core_for_a_flow_that_is_not_tiled(tmp_path):
    ev = codegen.compile(flow("relu"))      # the catalogue's (K, H, V, G1): compiled by other tests too
    X = _inputs(3)
    ref = ev.run(X, depth=3, keep="last", progress=False)
    res = ev.run(X, depth=3, keep="last", out=tmp_path, progress=False)
    assert np.array_equal(np.load(tmp_path / "V.npy"), np.asarray(ref.V)[0])
    assert np.array_equal(np.asarray(res.V)[0], np.asarray(ref.V)[0])


def test_out_of_core_refuses_a_full_disk_before_writing(tmp_path, monkeypatch):
    import collections
    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(tiles.shutil, "disk_usage", lambda p: usage(10**9, 10**9 - 10**6, 10**6))
    ev = codegen.compile(flow("relu", ("K", "H")))
    with pytest.raises(InputError, match=r"needs .* GiB .* has .* GiB free"):
        ev.run(_inputs(500), depth=3, keep="last", out=tmp_path / "o", progress=False)
    assert not any((tmp_path / "o").iterdir())


def test_out_of_core_argument_errors(tmp_path):
    ev = codegen.compile(flow("relu", ("K", "H")))
    with pytest.raises(InputError, match="keep='last'"):
        ev.run(np.eye(2), depth=2, out=tmp_path)
    (tmp_path / "f").write_text("x")
    with pytest.raises(InputError, match="directory"):
        ev.run(np.eye(2), depth=2, keep="last", out=tmp_path / "f")


def test_memory_estimate_of_a_tiled_run_is_its_outputs():
    from codegen.evaluator import memory_estimate
    assert memory_estimate(100, 100, 1, [2, 2], layers=10, tiled=True) == 2 * 8 * 100**2 + 64 * 10
    assert memory_estimate(100, 90, 1, [2, 2], layers=10, tiled=True) == 2 * 8 * (100**2 + 90**2) + 64 * 10


# ---------------------------------------------------------------------------------
# flows with four-point states: pair states from per-pair sub-problems
# ---------------------------------------------------------------------------------

# one catalogue flow here (each flow compiles its pair kernel: the whole call tree of its
# layer kernels); tanh (K, H, V, G1) and the relu NTK family (H1) pass the same check
# (benchmarks/RESULTS.md, "Data-set scale")
@pytest.mark.parametrize("name, observables, C_W", [("relu", ("K", "H", "V", "G1"), 2.0)])
def test_pair_states_by_tiles_equal_the_layer_path(name, observables, C_W):
    """G1 (and H1) only need the pair block of the four-point states: each pair's two-input
    problem gives them; 1e-13 of the largest entry against the layer path (Gram rounding)."""
    ev = codegen.compile(flow(name, observables))
    assert not ev.tiled and "G1" in ev.module.PAIR_STATES
    X = _inputs(6, duplicate=True)
    kw = dict(depth=4, C_b=0.1, C_W=C_W, progress=False)
    for keep in ("all", "last"):
        ref = ev.run(X, keep=keep, **kw)
        for tile in (1, 4):
            got = ev.run(X, keep=keep, tile=tile, **kw)
            assert got.quantities == ev.module.PAIR_STATES and got.V is None
            for q in got.quantities:
                a, b = np.asarray(getattr(ref, q)), np.asarray(getattr(got, q))
                a = a if keep == "all" else a[-1:]
                assert a.shape == b.shape
                assert np.max(np.abs(a - b)) <= 1e-13 * np.max(np.abs(a)), (q, keep, tile)


def test_pair_tiles_report_failures_like_the_layer_path():
    ev = codegen.compile(flow("relu", ("K", "H", "V", "G1")))
    for tile in (None, 8):
        with pytest.raises(FlowOverflowError, match="layer"):
            ev.run(_inputs(5), depth=80, C_W=1e9, progress=False, tile=tile)
        with pytest.raises(InputError, match="variance"):
            ev.run(np.zeros((3, 2)), depth=3, C_b=0.0, C_W=2.0, progress=False, tile=tile)
    with pytest.raises(InputError, match="out="):
        ev.run(_inputs(3), depth=3, keep="last", tile=8, out="never-written")
