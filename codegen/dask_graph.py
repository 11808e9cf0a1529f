"""Dask arrays of a tiled flow: one task per chunk calling the compiled tile kernel (issue #12).

:meth:`codegen.evaluator.Evaluator.to_dask` builds, for the unique inputs, a graph with

* one key holding the inputs and the diagonal pass (:class:`codegen.tiles.Prepared`),
  computed once here — it is O(N_D L) and raises bad inputs (overflow, a vanishing
  variance) at once — and shared by every task;
* one task per chunk (rows × columns) that loads the generated module in its process
  (:class:`codegen.tiles.ModuleRef`: path and sha256, verified before it is executed) and
  runs :func:`codegen.tiles.block` — the same kernel on the same inputs as ``ev.run``, so
  the entries are bitwise equal to the in-memory run's;
* per state, the chunk's array of that state.

The arrays compute on any Dask scheduler (threads, processes, a ``distributed`` cluster)
and store with ``to_zarr``.  Dask is an optional dependency (``pip install -e ".[scale]"``).
"""

from __future__ import annotations

import numbers

import numpy as np

from derive.errors import RGFlowError

from . import tiles

__all__ = ["dask_arrays", "chunk_task", "ChunkOverflowError"]


class ChunkOverflowError(RGFlowError, ArithmeticError):
    """A state stopped being finite inside a chunk (what ``ev.run`` reports as
    :class:`codegen.evaluator.FlowOverflowError`, raised in the worker that computed it)."""


def _chunk_bounds(n: int, chunks) -> tuple[int, ...]:
    """Chunk sizes along one axis of N_D entries: an int (equal chunks, the last shorter)."""
    if isinstance(chunks, bool) or not isinstance(chunks, numbers.Integral) or chunks < 1:
        raise RGFlowError(f"chunks must be a positive integer (inputs per chunk side), got {chunks!r}")
    chunks = int(chunks)
    return tuple(min(chunks, n - i) for i in range(0, n, chunks))


def chunk_task(ref: tiles.ModuleRef, prep: tiles.Prepared, rows, cols, keep_all: bool, tile: int):
    """One chunk of every state (a tuple in STATES order), computed in whatever process runs
    the task; a bad entry raises :class:`ChunkOverflowError` with its layer."""
    module = ref.load()
    outs, bad = tiles.block(module, prep, tuple(rows), tuple(cols), keep_all=keep_all, tile=tile, parallel=False)
    code, layer = tiles.bad_layer(module, prep, bad)
    if code:
        raise ChunkOverflowError(f"the state {module.STATUS.get(code, 'K')} is not finite at layer {layer}: "
                                "the network explodes; reduce C_W, the input scale or the depth")
    return outs if keep_all else tuple(o[0] for o in outs)


def dask_arrays(module, prep: tiles.Prepared, chunks, keep_all: bool, tile: int, inverse=None) -> dict:
    """{state name: dask array} of shape (N_D, N_D) (layer L) or (L, N_D, N_D) (``keep_all``)."""
    import dask.array as da
    from dask.base import tokenize
    from dask.highlevelgraph import HighLevelGraph

    n = prep.n
    sizes = _chunk_bounds(n, chunks)
    starts = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
    ref = tiles.ModuleRef.of(module)
    token = tokenize(ref, prep.X, prep.params, sizes, keep_all, tile)
    prep_key = f"rgflow-diagonal-{token}"
    chunk_name = f"rgflow-chunk-{token}"
    layers = {prep_key: prep}
    for i in range(len(sizes)):
        for j in range(len(sizes)):
            rows = (int(starts[i]), int(starts[i + 1]))
            cols = (int(starts[j]), int(starts[j + 1]))
            layers[(chunk_name, i, j)] = (chunk_task, ref, prep_key, rows, cols, keep_all, tile)
    out = {}
    for s, (name, _) in enumerate(module.STATES):
        state_name = f"rgflow-{name}-{token}"
        tasks = {}
        for i in range(len(sizes)):
            for j in range(len(sizes)):
                key = (state_name, 0, i, j) if keep_all else (state_name, i, j)
                tasks[key] = (_getitem, (chunk_name, i, j), s)
        hlg = HighLevelGraph({chunk_name: layers, state_name: tasks}, {chunk_name: set(), state_name: {chunk_name}})
        shape = (prep.depth, n, n) if keep_all else (n, n)
        chunk_spec = ((prep.depth,), sizes, sizes) if keep_all else (sizes, sizes)
        arr = da.Array(hlg, state_name, chunk_spec, dtype=np.float64, shape=shape)
        if inverse is not None:
            idx = np.asarray(inverse).ravel()
            arr = arr[..., idx, :][..., idx]
        out[name] = arr
    return out


def _getitem(values, k):
    return values[k]
