"""Runtime: the :class:`Evaluator` around a generated module, input checks and results.

Stage *evaluate*: inputs X (N_D, n_0), depth, widths and per-layer
hyperparameters → :class:`FlowResult` with per-layer arrays of every state (K, H, V,
G1 and any declared observable; DESIGN.md conventions: ``res.K[l]`` is layer
l = 1..L; ``V[l][a1,a2,a3,a4]`` = V_{(a1a2)(a3a4)} without the 1/n).

Every bad input raises a subclass of :class:`derive.errors.RGFlowError` with a
one-line message *before* any large allocation: non-finite or mis-shaped X, depth
< 1, widths ≤ 0, negative C_W (or C_b, λ), a memory estimate for V beyond what
the machine has, and — during the run — a kernel that overflows or a quantity that
stops being finite (the message names the layer).
"""

from __future__ import annotations

import math
import numbers
import os
import warnings
from typing import Sequence

import numpy as np

from derive.errors import RGFlowError

from . import runtime

__all__ = ["Evaluator", "FlowResult", "LayerSeries", "InputError", "FlowOverflowError",
           "FlowMemoryError", "memory_estimate", "available_memory", "layer_parameters",
           "describe_module"]


class InputError(RGFlowError, ValueError):
    """Inputs of :meth:`Evaluator.run` that cannot be evaluated."""


class FlowOverflowError(RGFlowError, ArithmeticError):
    """A quantity overflowed (or stopped being finite) at some layer."""


class FlowMemoryError(RGFlowError, MemoryError):
    """The requested arrays would not fit in memory."""


class LayerSeries(Sequence):
    """Per-layer arrays with 1-based layer numbers: ``s[l]`` is layer l (``s.layers``).

    ``np.asarray(s)`` (or ``s.array``) is the stacked array, index 0 = layer ``first``
    (1, or L when only the last layer was kept).

    Examples
    --------
    >>> s = LayerSeries(np.arange(6.0).reshape(3, 2))
    >>> s[1], len(s), s.layers
    (array([0., 1.]), 3, range(1, 4))
    >>> LayerSeries(np.zeros((1, 2)), first=7).layers
    range(7, 8)
    """

    def __init__(self, array: np.ndarray, first: int = 1):
        self.array = array
        self.first = first

    def __getitem__(self, layer):
        if isinstance(layer, slice):
            raise TypeError("index LayerSeries by one layer number; use .array for slices")
        last = self.first + len(self.array) - 1
        if not isinstance(layer, numbers.Integral) or not self.first <= layer <= last:
            raise IndexError(f"layer {layer} out of range: layers are numbered {self.first}..{last}")
        return self.array[layer - self.first]

    def __len__(self):
        return len(self.array)

    def __iter__(self):
        return iter(self.array)

    def __array__(self, dtype=None, copy=None):
        return self.array if dtype is None else self.array.astype(dtype)

    @property
    def layers(self) -> range:
        return range(self.first, self.first + len(self.array))

    def __repr__(self):
        return (f"LayerSeries(layers={self.first}..{self.first + len(self.array) - 1}, "
                f"shape={self.array.shape[1:]})")


class FlowResult:
    """Per-layer results of one run: ``res.<name>`` is the :class:`LayerSeries` of every
    state the evaluator computed (``res.K``, ``res.H``, ``res.V``, ``res.G1`` and any
    declared observable), None for a declared observable it did not compute.

    Immutable: the series are fixed at construction; ``res.quantities`` lists them.
    """

    __slots__ = ("depth", "widths", "_series", "_known")

    def __init__(self, depth: int, widths, series: dict, known=("K", "H", "V", "G1")):
        object.__setattr__(self, "depth", depth)
        object.__setattr__(self, "widths", widths)
        object.__setattr__(self, "_series", dict(series))
        object.__setattr__(self, "_known", frozenset(known) | frozenset(series))

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        series = object.__getattribute__(self, "_series")
        if name in series:
            return series[name]
        if name in object.__getattribute__(self, "_known"):
            return None
        raise AttributeError(f"FlowResult has no quantity {name!r}; computed: {', '.join(series)}")

    def __setattr__(self, name, value):
        raise AttributeError("FlowResult is immutable")

    @property
    def quantities(self) -> tuple[str, ...]:
        """Names of the computed states, in the flow's order."""
        return tuple(self._series)

    def __repr__(self):
        return f"FlowResult(depth={self.depth}, quantities={self.quantities})"

    def vertex_ratio(self) -> np.ndarray:
        """V^{(ℓ)}_{(aa)(aa)} / (n_{ℓ−1} (K^{(ℓ)}_{aa})²) per layer (rows) and sample (columns).

        Uses the width of the previous layer (n_{ℓ−1}; layer 1 has V = 0).
        """
        if self.V is None:
            raise InputError("V was not computed; build the flow with observables including 'V'")
        K = np.asarray(self.K)
        V = np.asarray(self.V)
        n = np.arange(K.shape[1])
        diag_k = K[:, n, n]
        diag_v = V[:, n, n, n, n]
        widths = np.ones(self.depth) if self.widths is None else np.asarray(self.widths, dtype=float)
        prev = np.concatenate([[np.nan], widths[:-1]])[self.K.first - 1:]
        return diag_v / (prev[:, None] * diag_k**2)


# ---------------------------------------------------------------------------------
# Input checks
# ---------------------------------------------------------------------------------

def _as_inputs(X) -> np.ndarray:
    try:
        raw = np.asarray(X)
    except (TypeError, ValueError):
        raise InputError("X must be a real array of shape (N_D, n_0)") from None
    if np.iscomplexobj(raw):
        raise InputError("X must be real; got a complex array (pass X.real if the imaginary part is zero)")
    try:
        if raw.dtype.kind not in "biufO" or any(isinstance(v, complex) for v in raw.ravel()[:1000]
                                                if raw.dtype.kind == "O"):
            raise TypeError
        X = raw.astype(np.float64)
    except (TypeError, ValueError):
        raise InputError(f"X must be a real numeric array of shape (N_D, n_0), got dtype {raw.dtype}") from None
    if X.ndim != 2:
        hint = " (for one input use X[None, :])" if X.ndim == 1 else ""
        raise InputError(f"X must have shape (N_D, n_0), got an array with shape {X.shape}{hint}")
    if X.shape[0] < 1 or X.shape[1] < 1:
        raise InputError(f"X must have at least one input and one feature, got shape {X.shape}")
    bad = ~np.isfinite(X)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise InputError(f"X contains NaN or infinite values (first at row {row}, column {col})")
    return X


def _as_depth(depth) -> int:
    if isinstance(depth, bool) or not isinstance(depth, numbers.Integral):
        raise InputError(f"depth must be an integer >= 1, got {depth!r}")
    if depth < 1:
        raise InputError(f"depth must be >= 1, got {depth}")
    return int(depth)


def _as_width(w, where: str) -> int:
    """One width: a positive finite integer (``where`` names it in the message)."""
    if isinstance(w, bool) or not isinstance(w, numbers.Real):
        raise InputError(f"{where} must be a positive integer, got {w!r}")
    if not math.isfinite(w):
        raise InputError(f"{where} must be a finite positive integer, got {w!r}")
    if w != int(w):
        raise InputError(f"{where} must be a positive integer, got {w!r}")
    if w <= 0:
        raise InputError(f"{where} must be positive, got {w}")
    return int(w)


def _as_widths(width, depth: int):
    if width is None:
        return None
    if isinstance(width, (str, bytes)):
        raise InputError(f"width must be an integer or a list of {depth} integers, got the string {width!r}")
    if isinstance(width, numbers.Number) and not isinstance(width, bool):
        return (_as_width(width, "width"),) * depth
    if isinstance(width, bool):
        raise InputError(f"width must be a positive integer, got {width!r}")
    try:
        widths = list(width)
    except TypeError:
        raise InputError(f"width must be an integer or a list of {depth} integers, got {width!r}") from None
    if len(widths) != depth:
        raise InputError(f"width list has {len(widths)} entries; give one per layer ({depth}: n_1..n_{depth})")
    return tuple(_as_width(w, f"width of layer {i}") for i, w in enumerate(widths, 1))


def _as_parameter(name: str, value, depth: int) -> np.ndarray:
    if value is None:
        raise InputError(f"{name} must be given")
    if isinstance(value, (str, bytes)) or isinstance(value, bool):
        raise InputError(f"{name} must be a number or a sequence of {depth} numbers, got {value!r}")
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number or a sequence of {depth} numbers, got {value!r}") from None
    if np.iscomplexobj(arr) or arr.dtype.kind not in "biuf":
        raise InputError(f"{name} must be a real number or a sequence of {depth} real numbers, got {value!r}")
    arr = arr.astype(np.float64)
    if arr.ndim == 0:
        arr = np.full(depth, float(arr))
    elif arr.ndim != 1 or len(arr) != depth:
        raise InputError(f"{name} must be a number or a sequence of {depth} numbers (one per layer), "
                         f"got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise InputError(f"{name} must be finite, got {arr[~np.isfinite(arr)][0]}")
    if np.any(arr < 0):
        layer = int(np.argmax(arr < 0)) + 1
        raise InputError(f"{name} must be non-negative (it is a variance or a learning rate), "
                         f"got {arr[layer - 1]:g} at layer {layer}")
    return np.ascontiguousarray(arr)


def layer_parameters(depth, widths, C_b, C_W, lambda_b=None, lambda_W=None):
    """(C_b, C_W, λ_b, λ_W, r) arrays over layers, checked (r: width ratios n_ℓ/n_{ℓ−1})."""
    cb = _as_parameter("C_b", C_b, depth)
    cw = _as_parameter("C_W", C_W, depth)
    lb = _as_parameter("lambda_b", C_b if lambda_b is None else lambda_b, depth)
    lw = _as_parameter("lambda_W", C_W if lambda_W is None else lambda_W, depth)
    ratio = np.ones(depth)
    if widths is not None:
        for layer in range(2, depth):   # layer ℓ+1 from ℓ uses n_ℓ / n_{ℓ−1}
            ratio[layer] = widths[layer - 1] / widths[layer - 2]
    return cb, cw, lb, lw, ratio


def available_memory() -> int:
    """Bytes of memory available to a new allocation (MemAvailable on Linux)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 1 << 62


def memory_estimate(n_inputs: int, n_unique: int, depth: int, ranks, layers: int | None = None,
                    tiled: bool = False, block_tables: tuple[int, int, int] = (0, 0, 0)) -> int:
    """Bytes the run allocates: outputs of the ``depth`` stored layers of states with the
    given tensor ``ranks``, per-layer work arrays (pair atoms; the four-point function
    and its orbit representatives when a rank-4 state is present, and the block Hermite
    tables of ``block_tables`` = (factor pairs, single factors, order): the module's
    ``_BK_FIDS2``, ``_BK_FIDS1``, ``_BLOCK_ORDER``; none for a tiled run, whose per-sample tables are O(N_D L),
    but the unique inputs' outputs when inputs repeat) and the per-layer hyperparameters of
    all ``layers`` layers (default ``depth``)."""
    total = sum(depth * 8 * n_inputs**rank for rank in ranks)
    total += 8 * 8 * (depth if layers is None else layers)   # C_b, C_W, λ_b, λ_W, ratios, widths
    if tiled:
        return total + (sum(depth * 8 * n_unique**rank for rank in ranks) if n_unique != n_inputs else 0)
    work = 8 * 12 * n_unique**2
    fours = sum(rank == 4 for rank in ranks)
    if fours:
        work += 4 * 8 * n_unique**4 + (fours * depth * 8 * n_unique**4 if n_unique != n_inputs else 0)
        pairs, singles, order = block_tables
        side = order + 1
        if pairs:
            work += 8 * (pairs * n_unique**2 * (side**2 + 1) + 3 * n_unique**2 + singles * n_unique * (side + 1))
    return total + work


def _gib(x: float) -> str:
    return f"{x / 2**30:.3g} GiB"


def _zero_variance_message(layer: int, inputs: np.ndarray, cb: np.ndarray, cw: np.ndarray) -> str:
    """Why some K_aa is not positive at ``layer`` (the generated code's status 2), in words."""
    head = f"a sample's variance K_aa is zero at layer {layer}"
    if layer == 1 or cw[layer - 1] == 0:
        at = layer - 1
        if cb[at] == 0 and cw[at] == 0:
            return f"{head}: C_b = C_W = 0 there, so the kernel vanishes; give C_W > 0 or C_b > 0"
    if layer == 1:
        norms = np.einsum("ij,ij->i", inputs, inputs) / inputs.shape[1]
        a = int(np.argmin(norms))
        if not np.any(inputs[a]):
            return (f"{head}: input {a} is all zero and C_b = 0, so it stays exactly zero; "
                    "remove it or use C_b > 0")
        return (f"{head}: |x_{a}|^2/n_0 = {norms[a]:.3g} underflows in double precision "
                f"(largest |x| entry {np.max(np.abs(inputs[a])):.3g}); rescale the inputs")
    return (f"{head}: with C_b = {cb[layer - 1]:g} the activation maps every preactivation of some "
            "sample to exactly zero; use C_b > 0 or another activation")


# ---------------------------------------------------------------------------------
# Evaluator
# ---------------------------------------------------------------------------------

def describe_module(ev, module, flow, origin: str) -> None:
    """The attributes every evaluator has: its ``module``, ``flow``, ``origin``, the module's
    ``source_path``, ``signature``, ``quantities``, ``observables`` and ``states``."""
    ev.module, ev.flow, ev.origin = module, flow, origin
    ev.source_path = getattr(module, "__file__", "")
    ev.signature = module.SIGNATURE
    ev.quantities = tuple(module.QUANTITIES)
    ev.observables = tuple(module.OBSERVABLES)
    ev.states = tuple(module.STATES)


class Evaluator:
    """Numerical evaluator of one flow, backed by a generated numba module.

    Attributes
    ----------
    module : module
        The generated module (``generated.<stem>`` or a file in the user cache).
    source_path : str
        Path of that module's source file.
    signature : str
        Flow signature the module was generated from.
    quantities : tuple of str
        What :meth:`run` computes.
    """

    def __init__(self, module, flow=None, origin: str = ""):
        describe_module(self, module, flow, origin)

    def __repr__(self):
        return (f"Evaluator(activation={self.module.ACTIVATION!r}, quantities={self.quantities}, "
                f"origin={self.origin!r})")

    def _check_memory(self, n_inputs: int, n_unique: int, stored: int, depth: int, tiled: bool = False,
                      pairs: bool = False) -> None:
        """FlowMemoryError before anything large is allocated (the estimate comes first);
        ``pairs``: only the pair states are stored (per-pair sub-problems)."""
        ranks = [2] * len(getattr(self.module, "PAIR_STATES", ())) if pairs else [rank for _, rank in self.states]
        tables = (len(getattr(self.module, "_BK_FIDS2", ())), len(getattr(self.module, "_BK_FIDS1", ())),
                  getattr(self.module, "_BLOCK_ORDER", 0))
        need = memory_estimate(n_inputs, n_unique, stored, ranks, layers=depth, tiled=tiled or pairs,
                               block_tables=tables)
        have = available_memory()
        if need > 0.8 * have:
            detail = (f" (V alone: {stored} layers x N_D^4 x 8 bytes = {_gib(stored * 8 * n_inputs**4)})"
                      if "V" in self.quantities else "")
            raise FlowMemoryError(f"N_D = {n_inputs}, depth = {depth} needs about {_gib(need)}{detail}, "
                                  f"but only {_gib(have)} is available; use fewer inputs or layers, "
                                  "or request observables without V")

    def run(self, X, depth: int, width=None, C_b=0.0, C_W=1.0, lambda_b=None, lambda_W=None,
            keep: str = "all", progress=None, tile=None, out=None) -> FlowResult:
        """Evaluate the recursions for inputs ``X`` through ``depth`` layers.

        Parameters
        ----------
        X : array (N_D, n_0)
            Inputs, one row per sample.
        depth : int
            Number of layers L ≥ 1; results are given for layers 1..L.
        width : int, list of L ints, or None
            Widths n_1..n_L.  Only ratios n_ℓ/n_{ℓ−1} enter the recursions (V, G1);
            None means equal widths.
        C_b, C_W, lambda_b, lambda_W : float or sequence of L floats
            Per-layer hyperparameters (layer ℓ uses entry ℓ−1).  ``lambda_b`` and
            ``lambda_W`` default to C_b and C_W (neural-tangents' "ntk" convention).
        keep : "all" or "last"
            Return every layer 1..L, or only layer L (memory for one or two layers instead
            of L: for large N_D, and what a kernel library returns).
        progress : None, bool or callable
            Messages on stderr: that numba is compiling the evaluator (first use in a
            process with a cold numba cache) and, for runs longer than 2 s, how far it got.
            None: on unless ``$RGFLOW_QUIET`` is set; False: off; a callable is called as
            ``progress(done, total)`` instead — layers, or for a tiled run tiles (rows of
            the matrix with ``out``).
        tile : None, int or False
            Flows whose states are pair-closed (K, H; ``evaluator.tiled``) run by
            layer-fused tiles (``codegen.tiles``): the diagonal first, then each tile of
            pairs through all layers.  None: tiles of the default side (256); an int: that
            side; False: layer by layer (every layer streams the whole matrix).  Both give
            the same numbers up to the Gram matrix's rounding (≈ 1e-16).
        out : path or None
            With ``keep="last"``: write layer L of every state to ``out/<name>.npy``
            (N_D × N_D float64, e.g. ``out/K.npy``, ``out/H.npy``), tile strip by strip with
            resident memory bounded independently of N_D (tiled flows), after checking that
            the disk has room; the result's arrays are read-only memory maps of those
            files.  Flows that are not tiled compute in memory and then write the files.
        """
        X = _as_inputs(X)
        depth = _as_depth(depth)
        if keep not in ("all", "last"):
            raise InputError(f"keep must be 'all' or 'last', got {keep!r}")
        if tile is not None and tile is not False and (isinstance(tile, bool) or not isinstance(tile, numbers.Integral)
                                                       or tile < 1):
            raise InputError(f"tile must be None, False or a positive integer, got {tile!r}")
        if out is not None and keep != "last":
            raise InputError("out= writes layer L only; pass keep='last' with it")
        use_tiles = tile is not False and self.tiled
        use_pairs = (not self.tiled and tile is not None and tile is not False
                     and bool(getattr(self.module, "PAIR_STATES", ())))
        if use_pairs and out is not None:
            raise InputError("out= with a flow of four-point states writes them too; run it without tile=, or "
                             "request the pair states' flow")
        stored = depth if keep == "all" else (1 if use_tiles or use_pairs else min(2, depth))
        if out is None:
            self._check_memory(X.shape[0], X.shape[0], stored, depth, tiled=use_tiles, pairs=use_pairs)
        widths = _as_widths(width, depth)
        params = self._parameters(depth, widths, C_b, C_W, lambda_b, lambda_W)
        n_inputs = X.shape[0]
        unique, inverse = np.unique(X, axis=0, return_inverse=True)
        if len(unique) == n_inputs:
            unique, inverse = X, None
        n = len(unique)
        directory = None
        if out is not None:
            from . import tiles
            try:
                directory = tiles.output_directory(out, n_inputs, [q for q, _ in self.states], n_unique=n)
            except tiles.TileError as exc:
                raise InputError(str(exc)) from None
            if not use_tiles:
                self._check_memory(n_inputs, n, stored, depth)
        elif not use_tiles:
            self._check_memory(n_inputs, n, stored, depth, pairs=use_pairs)
        speak = runtime.messages_enabled(progress)
        threads = runtime.threads_for(self.module, n, tiled=use_tiles)
        parallel = threads is None and runtime.available_threads() > 1
        if use_pairs:
            return self._run_pairs(X, unique, inverse, depth, widths, params, keep, progress, speak, threads,
                                   parallel, tile)
        if use_tiles:
            arrays = self._run_tiles(X, unique, inverse, params, keep, progress, speak, threads, parallel,
                                     tile, directory)
        else:
            arrays = self._run_layers(X, unique, params, stored, progress, speak, threads, parallel)
        result = {}
        for (q, _), arr in zip(self.states, arrays):
            if directory is None or not use_tiles:   # (tiled runs into files return the files)
                if keep == "last":
                    arr = arr[(depth - 1) % len(arr)][None]
                if inverse is not None:
                    idx = inverse.ravel()
                    arr = arr[(slice(None),) + np.ix_(*([idx] * (arr.ndim - 1)))]
            result[q] = LayerSeries(arr, first=depth - len(arr) + 1)
        if directory is not None and not use_tiles:
            result = self._save(directory, result)
        return FlowResult(depth, widths, result, known=self._declared_names())

    def to_dask(self, X, depth: int, chunks: int = 2048, width=None, C_b=0.0, C_W=1.0, lambda_b=None,
                lambda_W=None, keep: str = "last", tile: int | None = None) -> dict:
        """Dask arrays of every state of a tiled flow (K, H): ``{"K": array, "H": array}``,
        each (N_D, N_D) for layer L (``keep="last"``) or (L, N_D, N_D) (``keep="all"``),
        chunked ``chunks`` × ``chunks``; one task per chunk runs the compiled tile kernel
        (``codegen/dask_graph.py``).  The inputs are checked and the diagonal pass is run
        here (O(N_D L): a bad input fails now, not inside a worker), once, and shared by
        every task.  Entries are bitwise equal to :meth:`run`'s.  Needs dask (``pip
        install -e ".[scale]"``); compute on any scheduler, e.g. a
        ``distributed.Client``, or store with ``dask.array.to_zarr``.
        """
        from . import dask_graph, tiles
        try:
            import dask.array  # noqa: F401
        except ImportError:
            raise InputError('to_dask needs dask: pip install -e ".[scale]" (or pip install "dask[array]")') from None
        if not self.tiled:
            raise InputError(f"to_dask evaluates tiled flows (pair-closed states such as K, H); this one computes "
                             f"{', '.join(self.quantities)}; use run()")
        X = _as_inputs(X)
        depth = _as_depth(depth)
        if keep not in ("all", "last"):
            raise InputError(f"keep must be 'all' or 'last', got {keep!r}")
        if tile is not None and (isinstance(tile, bool) or not isinstance(tile, numbers.Integral) or tile < 1):
            raise InputError(f"tile must be None or a positive integer, got {tile!r}")
        widths = _as_widths(width, depth)
        params = self._parameters(depth, widths, C_b, C_W, lambda_b, lambda_W)
        unique, inverse = np.unique(X, axis=0, return_inverse=True)
        if len(unique) == len(X):
            unique, inverse = X, None
        prep = tiles.prepare(self.module, unique, params)
        if prep.status:
            self._fail(prep.status, prep.layer, X, params, prep.flags)
        try:
            return dask_graph.dask_arrays(self.module, prep, chunks, keep == "all",
                                          tiles.DEFAULT_TILE if tile is None else int(tile), inverse)
        except RGFlowError as exc:
            raise InputError(str(exc)) from None

    @property
    def tiled(self) -> bool:
        """Whether :meth:`run` evaluates this flow by layer-fused tiles (pair-closed states)."""
        return bool(getattr(self.module, "TILED", False))

    def _parameters(self, depth, widths, C_b, C_W, lambda_b, lambda_W):
        return layer_parameters(depth, widths, C_b, C_W, lambda_b, lambda_W)

    def _fail(self, code: int, layer: int, X, params, flags) -> None:
        """Raise for run_layers' status ``code`` at ``layer``; warn for degraded quadrature."""
        cb, cw = params[0], params[1]
        depth = len(cb)
        if code == 2:
            raise InputError(_zero_variance_message(layer, X, cb, cw))
        if code:
            raise FlowOverflowError(f"{self._status_message(code)} at layer {layer} "
                                    f"(C_W = {cw[min(layer, depth) - 1]:g}, C_b = {cb[min(layer, depth) - 1]:g}): "
                                    "the network explodes; reduce C_W, the input scale or the depth")
        if flags[0]:
            warnings.warn("quadrature node limit reached (very large kernel): accuracy below the stated "
                          "tolerance for some expectations", RuntimeWarning, stacklevel=3)

    def _run_layers(self, X, unique, params, stored, progress, speak, threads, parallel):
        """Layer by layer: run_layers over whole tensors (every flow)."""
        n = len(unique)
        cb, cw, lb, lw, _ = params
        gram = unique @ unique.T / X.shape[1]
        init = self.module.initial_state(gram, cb[0], cw[0], lb[0], lw[0])
        arrays = tuple(np.empty((stored,) + (n,) * rank) for _, rank in self.states)
        flags = np.zeros(4, dtype=np.int64)
        with runtime.first_use(self.module, speak, parallel), runtime.thread_count(threads):
            hook = progress if callable(progress) else (runtime.Progress() if speak else None)
            with np.errstate(all="ignore"):
                code, layer = self.module.run_layers(init, params, arrays, flags, hook, parallel=parallel)
            if isinstance(hook, runtime.Progress):
                hook.done()
        self._fail(int(code), int(layer), X, params, flags)
        return arrays

    def _run_tiles(self, X, unique, inverse, params, keep, progress, speak, threads, parallel, tile, directory):
        """Diagonal pass, then layer-fused tiles (codegen.tiles): in memory or into .npy files."""
        from . import tiles
        side = tiles.DEFAULT_TILE if tile is None else int(tile)
        keep_all = keep == "all"
        with runtime.first_use(self.module, speak, parallel, tiled=True), runtime.thread_count(threads):
            prep = tiles.prepare(self.module, unique, params)
            if prep.status:
                self._fail(prep.status, prep.layer, X, params, prep.flags)
            hook = progress if callable(progress) else (runtime.Progress(unit="tiles") if speak else None)
            if directory is None:
                arrays, bad = tiles.run_in_memory(self.module, prep, keep_all, side, parallel, progress=hook)
            else:
                if isinstance(hook, runtime.Progress):
                    hook.unit = "rows"
                bad = tiles.write_npy(self.module, prep, directory, inverse, side, parallel, progress=hook)
                arrays = tuple(np.lib.format.open_memmap(directory / f"{q}.npy", mode="r")[None]
                               for q, _ in self.states)
            if isinstance(hook, runtime.Progress):
                hook.done()
        code, layer = tiles.bad_layer(self.module, prep, bad)
        self._fail(code, layer, X, params, prep.flags)
        return arrays

    def _run_pairs(self, X, unique, inverse, depth, widths, params, keep, progress, speak, threads, parallel, tile):
        """The pair states of a flow with four-point states, tile by tile from per-pair
        problems (codegen.tiles.run_pairs); the four-point states are not returned."""
        from . import tiles
        names = tiles.pair_states(self.module)
        with runtime.first_use(self.module, speak, parallel, tiled="pairs"), runtime.thread_count(threads):
            hook = progress if callable(progress) else (runtime.Progress(unit="tiles") if speak else None)
            arrays, (code, layer), flags = tiles.run_pairs(self.module, unique, params, keep == "all", int(tile),
                                                          parallel, progress=hook)
            if isinstance(hook, runtime.Progress):
                hook.done()
        self._fail(code, layer, X, params, flags)
        result = {}
        for q, arr in zip(names, arrays):
            if inverse is not None:
                idx = inverse.ravel()
                arr = arr[(slice(None),) + np.ix_(idx, idx)]
            result[q] = LayerSeries(arr, first=depth - len(arr) + 1)
        return FlowResult(depth, widths, result, known=self._declared_names())

    def _save(self, directory, result: dict) -> dict:
        """Layer L of every state into directory/<name>.npy (written atomically); the
        series become read-only memory maps of the files."""
        saved = {}
        for q, series in result.items():
            path = directory / f"{q}.npy"
            part = directory / f".{q}.npy.part-{os.getpid()}"
            try:
                with open(part, "wb") as fh:
                    np.save(fh, np.ascontiguousarray(series.array[-1]))
                os.replace(part, path)
            finally:
                if part.exists():
                    part.unlink()
            saved[q] = LayerSeries(np.load(path, mmap_mode="r")[None], first=series.first + len(series) - 1)
        return saved

    def _declared_names(self) -> tuple[str, ...]:
        from derive import observables
        return observables.names()

    def _status_message(self, code: int) -> str:
        """What the generated layer loop's status ``code`` means, from its STATUS table and
        the state's declaration (its description)."""
        name = self.module.STATUS.get(code)
        if name is None:
            return f"evaluation failed (status {code})"
        if code == 1:
            return f"the kernel overflowed (|{name}| > 1e300 or not finite)"
        description = ""
        if self.flow is not None:
            try:
                description = self.flow.recursion.declaration(name).description.split(" (")[0] + " "
            except KeyError:
                pass
        return f"the {description}{name} is not finite"
