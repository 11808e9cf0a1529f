"""Layer-fused tiles: evaluate pair-closed flows (K, H) block by block (issue #12).

A module whose ``TILED`` is true has ``diagonal_pass`` and ``run_tiles``
(``codegen/render_tiles.py``): after the diagonal pass (O(N_D L)), any rectangle of pairs
runs all L layers on its own and writes each output entry once.  This module plans the
rectangles and drives them for the three consumers:

* :func:`run_in_memory` — ``Evaluator.run``: upper-triangle tiles on threads, each
  written at (a, b) and (b, a), the diagonal from the diagonal pass;
* :func:`write_npy` — ``Evaluator.run(..., out=PATH)``: whole row strips of tiles written
  sequentially into ``.npy`` files, so resident memory is bounded by the strip, not by N_D²;
* :func:`block` — one chunk (rows × columns, any position), what a Dask task computes
  (``codegen.distributed``).

All three call the same compiled ``_tile`` on the same inputs, so their entries are
bitwise equal; against the layer-by-layer path (``tile=False``) they differ only by the
summation order of the Gram entries (≈ 1e-16 relative).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import pathlib
import shutil
import sys

import numpy as np

from derive.errors import RGFlowError

__all__ = ["DEFAULT_TILE", "STRIP_BYTES", "Prepared", "supported", "prepare", "upper_blocks", "chunk_blocks",
           "block", "run_in_memory", "write_npy", "bad_layer", "ModuleRef", "disk_estimate"]

#: Side of the square tiles of the in-memory run: a row segment of 256 pairs per state stays
#: in L1 through all layers, and N_D = 3000 gives 78 tiles for two threads (RESULTS.md).
DEFAULT_TILE = 256

#: Bytes of one output row strip (all states) held in memory by :func:`write_npy`.
STRIP_BYTES = 256 * 2**20


class TileError(RGFlowError, ValueError):
    """A tiled evaluation that cannot be done (bad tile size, output path, disk space)."""


def supported(module) -> bool:
    """Whether ``module`` evaluates by layer-fused tiles (its flow is pair-closed)."""
    return bool(getattr(module, "TILED", False))


@dataclasses.dataclass(frozen=True)
class Prepared:
    """Inputs of every tile: the unique inputs X and X.T (C-contiguous), the per-layer
    parameters, the diagonal pass (status and first bad layer as ``run_layers`` reports
    them, and its arrays) and the quadrature flags."""

    X: np.ndarray
    XT: np.ndarray
    params: tuple
    status: int
    layer: int
    diag: tuple
    flags: np.ndarray

    @property
    def n(self) -> int:
        return self.X.shape[0]

    @property
    def depth(self) -> int:
        return self.params[0].shape[0]

    def diagonal(self, state: int, layer_index: int) -> np.ndarray:
        """Entries (a, a) of state number ``state`` at layer ``layer_index + 1``."""
        return self.diag[0][state, layer_index]


def prepare(module, X: np.ndarray, params) -> Prepared:
    """The diagonal pass of ``module`` for the (unique, float64) inputs ``X``."""
    X = np.ascontiguousarray(X, dtype=np.float64)
    XT = np.ascontiguousarray(X.T)
    gd = np.einsum("ij,ij->i", X, X) / X.shape[1]
    flags = np.zeros(4, dtype=np.int64)
    params = tuple(np.ascontiguousarray(p, dtype=np.float64) for p in params)
    with np.errstate(all="ignore"):
        status, layer, diag = module.diagonal_pass(gd, params, flags)
    return Prepared(X, XT, params, int(status), int(layer), diag, flags)


def _check_tile(tile) -> int:
    if isinstance(tile, bool) or not isinstance(tile, (int, np.integer)) or tile < 1:
        raise TileError(f"tile must be a positive integer (pairs per side), got {tile!r}")
    return int(tile)


def upper_blocks(lo: int, hi: int, tile: int) -> np.ndarray:
    """Tiles (i0, i1, j0, j1) covering the pairs a < b of [lo, hi)², j0 >= i0: rows of an int64
    array, ordered so that consecutive tiles have similar cost (threads split the list)."""
    tile = _check_tile(tile)
    out = [(i, min(i + tile, hi), j, min(j + tile, hi)) for i in range(lo, hi, tile) for j in range(i, hi, tile)]
    return np.array(out, dtype=np.int64).reshape(-1, 4)


def _minus(a: tuple[int, int], b: tuple[int, int]) -> list[tuple[int, int]]:
    """The interval a without b (zero, one or two intervals)."""
    lo, hi = max(a[0], b[0]), min(a[1], b[1])
    if lo >= hi:
        return [a] if a[0] < a[1] else []
    return [iv for iv in ((a[0], lo), (hi, a[1])) if iv[0] < iv[1]]


def chunk_blocks(rows: tuple[int, int], cols: tuple[int, int], tile: int) -> np.ndarray:
    """Tiles whose pairs a < b, stored at (a, b) and (b, a), cover every off-diagonal entry
    of the chunk rows × cols once: the chunk R × C itself and its mirror image C × R
    (whose pairs a < b are the entries below the diagonal) without the part I × I,
    I = R ∩ C, that R × C already has."""
    tile = _check_tile(tile)
    R, C = tuple(rows), tuple(cols)
    inter = (max(R[0], C[0]), min(R[1], C[1]))
    rects = [(R, C)]
    if inter[0] < inter[1]:
        rects += [(c, R) for c in _minus(C, inter)] + [(inter, r) for r in _minus(R, inter)]
    else:
        rects.append((C, R))
    out = []
    for (i0, i1), (j0, j1) in rects:
        for i in range(i0, i1, tile):
            for j in range(j0, j1, tile):
                if i < min(j + tile, j1) - 1:   # some pair a < b in the tile
                    out.append((i, min(i + tile, i1), j, min(j + tile, j1)))
    return np.array(out, dtype=np.int64).reshape(-1, 4)


def bad_layer(module, prep: Prepared, bad: np.ndarray) -> tuple[int, int]:
    """(status, layer) of the earliest failure: the diagonal pass's, else the first layer
    where a tile had a bad entry (the state's status code; 1 for the kernel)."""
    if prep.status:
        return prep.status, prep.layer
    if bad.size == 0 or not bad.any():
        return 0, 0
    first = np.where(bad > 0, bad, np.iinfo(np.int64).max).min(axis=0)
    k = int(np.argmin(first))
    name = module.STATES[k][0]
    code = 1 if k == 0 else next(c for c, s in module.STATUS.items() if s == name)
    return code, int(first[k])


def _fill_diagonal(prep: Prepared, outs, keep_all: bool, rows: tuple[int, int], cols: tuple[int, int]) -> None:
    lo, hi = max(rows[0], cols[0]), min(rows[1], cols[1])
    if lo >= hi:
        return
    idx = np.arange(lo, hi)
    layers = range(prep.depth) if keep_all else [prep.depth - 1]
    for s, out in enumerate(outs):
        for k, layer in enumerate(layers):
            out[k, idx - rows[0], idx - cols[0]] = prep.diagonal(s, layer)[lo:hi]


def block(module, prep: Prepared, rows: tuple[int, int], cols: tuple[int, int], keep_all: bool = False,
          tile: int = DEFAULT_TILE, parallel: bool = False):
    """Every state on the chunk rows × cols (layer L, or all layers with ``keep_all``): a
    tuple of arrays (layers, rows, cols) in STATES order, and the tiles' bad-layer table."""
    stored = prep.depth if keep_all else 1
    shape = (stored, rows[1] - rows[0], cols[1] - cols[0])
    outs = tuple(np.empty(shape) for _ in module.STATES)
    blocks = chunk_blocks(rows, cols, tile)
    with np.errstate(all="ignore"):
        bad = module.run_tiles(prep.X, prep.XT, blocks, prep.diag, prep.params, outs, (rows[0], cols[0]),
                               keep_all, prep.flags, parallel=parallel)
    _fill_diagonal(prep, outs, keep_all, rows, cols)
    return outs, bad


def run_in_memory(module, prep: Prepared, keep_all: bool, tile: int = DEFAULT_TILE, parallel: bool = True,
                  progress=None):
    """Every state on all pairs: arrays (layers, N_D, N_D), and the bad-layer table.  With
    ``progress``, the tiles run in up to 20 launches and ``progress(done, total)`` is
    called after each (tiles done)."""
    n = prep.n
    stored = prep.depth if keep_all else 1
    outs = tuple(np.empty((stored, n, n)) for _ in module.STATES)
    blocks = upper_blocks(0, n, tile)
    launches = 1 if progress is None else min(20, max(1, len(blocks) // 8))
    bads = []
    for part in np.array_split(np.arange(len(blocks)), launches):
        with np.errstate(all="ignore"):
            bads.append(module.run_tiles(prep.X, prep.XT, np.ascontiguousarray(blocks[part]), prep.diag, prep.params,
                                         outs, (0, 0), keep_all, prep.flags, parallel=parallel))
        if progress is not None:
            progress(int(part[-1]) + 1 if len(part) else 0, len(blocks))
    _fill_diagonal(prep, outs, keep_all, (0, n), (0, n))
    return outs, np.concatenate(bads)


# ---------------------------------------------------------------------------------
# Flows that are not pair-closed: pair sub-problems
# ---------------------------------------------------------------------------------

def pair_states(module) -> tuple[str, ...]:
    """The rank-2 states ``run_pair_tiles`` computes (empty for pair-closed flows, whose
    fused tiles are faster)."""
    return tuple(getattr(module, "PAIR_STATES", ()))


def run_pairs(module, X: np.ndarray, params, keep_all: bool, tile: int = DEFAULT_TILE, parallel: bool = True,
              progress=None):
    """The pair states (K, H, G1, H1, ...) of a flow with four-point states, on all pairs of the
    (unique) inputs X, each pair from its own two-input problem (and each diagonal entry from
    its one-input problem), tile by tile: arrays (layers, N_D, N_D) in PAIR_STATES order and
    (status, layer) of the earliest failure."""
    X = np.ascontiguousarray(X, dtype=np.float64)
    params = tuple(np.ascontiguousarray(p, dtype=np.float64) for p in params)
    n, depth = X.shape[0], params[0].shape[0]
    stored = depth if keep_all else 1
    outs = tuple(np.empty((stored, n, n)) for _ in pair_states(module))
    blocks = upper_blocks(0, n, tile)
    flags = np.zeros(4, dtype=np.int64)
    launches = 1 if progress is None else min(20, max(1, len(blocks) // 8))
    bads = []
    for part in np.array_split(np.arange(len(blocks)), launches):
        with np.errstate(all="ignore"):
            bads.append(module.run_pair_tiles(X, np.ascontiguousarray(blocks[part]), params, outs, (0, 0), keep_all,
                                              flags, parallel=parallel))
        if progress is not None:
            progress(int(part[-1]) + 1 if len(part) else 0, len(blocks))
    bad = np.concatenate(bads)
    failed = bad[bad[:, 0] > 0]
    status = (0, 0) if not len(failed) else tuple(int(v) for v in failed[np.argmin(failed[:, 1])])
    return outs, status, flags


# ---------------------------------------------------------------------------------
# Out of core
# ---------------------------------------------------------------------------------

def disk_estimate(n_inputs: int, n_states: int, n_unique: int | None = None) -> int:
    """Bytes :func:`write_npy` writes: one (N_D, N_D) float64 matrix per state plus a header
    each, and while it runs the unique inputs' matrices when some inputs repeat."""
    extra = 0 if n_unique is None or n_unique == n_inputs else 8 * n_unique * n_unique + 4096
    return n_states * (8 * n_inputs * n_inputs + 4096 + extra)


def output_directory(path, n_inputs: int, names, n_unique: int | None = None) -> pathlib.Path:
    """The directory ``path`` (created if missing) after checking that the ``.npy`` files of
    ``names`` can be written there and that its disk has room for them (estimate first)."""
    directory = pathlib.Path(os.fsdecode(path))
    if directory.exists() and not directory.is_dir():
        raise TileError(f"out must be a directory for the .npy files, but {directory} is a file")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise TileError(f"cannot create the output directory {directory}: {exc.strerror or exc}") from None
    if not os.access(directory, os.W_OK):
        raise TileError(f"the output directory {directory} is not writable")
    need = disk_estimate(n_inputs, len(names), n_unique)
    for name in names:   # files being replaced free their space
        f = directory / f"{name}.npy"
        if f.exists():
            need -= f.stat().st_size
    free = shutil.disk_usage(directory).free
    if need > free:
        raise TileError(f"the output needs {need / 2**30:.3g} GiB ({len(names)} x {n_inputs}^2 float64) but the disk "
                        f"of {directory} has {free / 2**30:.3g} GiB free; choose another out directory")
    return directory


def _strip_rows(n: int, n_states: int, tile: int) -> int:
    """Rows per strip: STRIP_BYTES over the strip's buffers (a multiple of ``tile``)."""
    rows = STRIP_BYTES // max(1, 8 * n_states * n)
    return max(tile, (rows // tile) * tile)


def _create_npy(path: pathlib.Path, n: int) -> int:
    """A (sparse) float64 ``.npy`` file of shape (n, n) at ``path``; returns the byte offset
    of its data."""
    mm = np.lib.format.open_memmap(path, mode="w+", dtype=np.float64, shape=(n, n))
    offset = mm.offset
    del mm
    return offset


def _write_rows(path: pathlib.Path, offset: int, n_cols: int, first_row: int, rows: np.ndarray) -> None:
    """Write the C-contiguous float64 rows at row ``first_row`` of the (·, n_cols) ``.npy`` data
    (one sequential write: no mapping, so nothing of the file counts as resident memory)."""
    data = np.ascontiguousarray(rows, dtype=np.float64)
    view = memoryview(data).cast("B")
    fd = os.open(path, os.O_WRONLY)
    try:
        pos, start = 0, offset + 8 * n_cols * first_row
        while pos < len(view):
            pos += os.pwrite(fd, view[pos:], start + pos)
    finally:
        os.close(fd)


def _write_strips(module, prep: Prepared, paths: dict, offsets: dict, tile: int, parallel: bool, progress) -> list:
    """Layer L of every state on all unique pairs into the ``.npy`` files ``paths``: whole
    rows [i0, i1) per strip (the entries left of the diagonal are the mirror tiles' pairs,
    computed again rather than read back), each strip one sequential write per file."""
    names = [name for name, _ in module.STATES]
    n = prep.n
    rows_per = _strip_rows(n, len(names), tile)
    bads = []
    for i0 in range(0, n, rows_per):
        i1 = min(i0 + rows_per, n)
        outs, bad = block(module, prep, (i0, i1), (0, n), tile=tile, parallel=parallel)
        bads.append(bad)
        for name, out in zip(names, outs):
            _write_rows(paths[name], offsets[name], n, i0, out[0])
        if progress is not None:
            progress(i1, n)
    return bads


def write_npy(module, prep: Prepared, directory: pathlib.Path, inverse=None, tile: int = DEFAULT_TILE,
              parallel: bool = True, progress=None) -> np.ndarray:
    """Layer L of every state into ``directory/<name>.npy`` (N_D, N_D), row strip by row strip.

    Each strip of rows is computed whole into a buffer of :data:`STRIP_BYTES` and written
    with one sequential write per file: resident memory is the buffer, whatever N_D, and
    the disk sees sequential writes only.  With duplicate inputs (``inverse`` from
    ``np.unique``) the unique matrix is written first and then expanded strip by strip.
    Files are written under temporary names and renamed when complete.  Returns the tiles'
    bad-layer table.
    """
    names = [name for name, _ in module.STATES]
    n_out = prep.n if inverse is None else len(inverse)
    final = {name: directory / f"{name}.npy" for name in names}
    part = {name: directory / f".{name}.npy.part-{os.getpid()}" for name in names}
    uniq = {name: directory / f".{name}.unique.npy.part-{os.getpid()}" for name in names}
    try:
        first = part if inverse is None else uniq
        offsets = {name: _create_npy(first[name], prep.n) for name in names}
        bads = _write_strips(module, prep, first, offsets, tile, parallel, progress)
        if inverse is not None:
            inverse = np.asarray(inverse).ravel()
            rows_per = _strip_rows(n_out, len(names), tile)
            for name in names:
                src = np.load(uniq[name], mmap_mode="r")
                offset = _create_npy(part[name], n_out)
                for i0 in range(0, n_out, rows_per):
                    i1 = min(i0 + rows_per, n_out)
                    _write_rows(part[name], offset, n_out, i0, np.asarray(src[inverse[i0:i1]])[:, inverse])
                del src
        for name in names:
            os.replace(part[name], final[name])
    finally:
        for name in names:
            for f in (part[name], uniq[name]):
                try:
                    f.unlink()
                except FileNotFoundError:
                    pass
    return np.concatenate(bads) if bads else np.zeros((0, len(names)), dtype=np.int64)


# ---------------------------------------------------------------------------------
# A module that another process can load (Dask workers)
# ---------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class ModuleRef:
    """Where a generated module lives and the sha256 its bytes must have: picklable, so a
    worker process loads (and verifies) the same module (:meth:`load`)."""

    path: str
    name: str
    sha256: str

    @classmethod
    def of(cls, module) -> "ModuleRef":
        path = pathlib.Path(module.__file__)
        digest = getattr(module, "__rgflow_sha256__", None)
        if digest is None:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        return cls(str(path), module.__name__, digest)

    def load(self):
        """The module (imported once per process, after checking its sha256)."""
        module = sys.modules.get(self.name)
        if module is not None and getattr(module, "SIGNATURE", None) is not None:
            return module
        from .cache import load_verified
        return load_verified(pathlib.Path(self.path), self.name, expected_sha256=self.sha256)
