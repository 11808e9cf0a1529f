"""Around a generated module's ``run_layers``: first-use messages, progress, threads.

Used by :meth:`codegen.evaluator.Evaluator.run` (stage *evaluate*); the generated
modules stay self-contained and know nothing of it (``run_layers`` only takes an
optional ``progress(layer, depth)`` callable).

* **First use.**  numba compiles a module's kernels on their first call in a process
  unless its on-disk cache has them.  :func:`first_use` runs ``run_layers`` once on one
  input and two layers (every kernel the real call runs, compiled or loaded) under a
  listener of numba's ``numba:compile`` event, which numba fires only when it really
  compiles (after a cache miss), never for a cache load: so the message
  ``rgflow: compiling the tanh evaluator (K, H; first use, cached afterwards)...`` and
  ``rgflow: compiled in 9.8 s`` appear exactly when there is something to wait for.
* **Progress.**  :class:`Progress` prints ``rgflow: layer 37/200 (12 s, about 52 s
  left)`` on stderr once a run has taken more than 2 s, then at most every 5 s.
* **Quiet.**  ``Evaluator.run(..., progress=False)`` or the environment variable
  ``RGFLOW_QUIET=1`` silence both.
* **Threads.**  :func:`threads_for` picks one thread for problems below the measured
  crossover size (``benchmarks/RESULTS.md``): a parallel launch costs more than a small
  layer's work, and on a loaded machine a worker thread that waits for a core stalls
  every launch.  Results are bitwise identical either way (each entry is computed by
  the same code; only which thread computes it changes).
"""

from __future__ import annotations

import contextlib
import os
import sys
import time

import numpy as np

__all__ = ["QUIET_ENV", "messages_enabled", "say", "Progress", "first_use", "threads_for", "thread_count", "available_threads",
           "PARALLEL_FROM", "kind"]

QUIET_ENV = "RGFLOW_QUIET"

#: Smallest number of distinct inputs N_D for which the parallel kernels are used, per kind
#: of module: K/H flows with closed-form atoms only, K/H flows with numeric (Mehler or
#: nested-rule) pair atoms, flows with V whose four-point function is (partly) numeric,
#: and flows with V in closed form (linear).  Measured on the 2-core development machine
#: with ``benchmarks/bench_threads.py`` (RESULTS.md, "Serial or parallel"): below these
#: sizes two threads gain at most ~1.3x when the machine is idle and lose 2-10x when
#: another process holds a core.  The V four-point loop has ms-long parallel iterations
#: and runs faster on two threads from N_D = 3, but below N_D = 6 a serial layer takes
#: under 40 ms while the parallel kernels cost about 5 s more to compile on first use
#: (benchmarks/RESULTS.md, "First use"), so they start at 6.
#: The tiled kernels (``codegen/tiles.py``) have their own entries: a tile does all layers of
#: its pairs in one launch, so two threads pay later for closed forms
#: (``benchmarks/bench_scale.py --only crossover``, RESULTS.md "Data-set scale").
PARALLEL_FROM = {"closed": 256, "numeric": 1024, "vertex-numeric": 6, "vertex-closed": 64,
                 "tiled-closed": 512, "tiled-numeric": 512}


def messages_enabled(progress=None) -> bool:
    """Whether rgflow may write progress and compile messages on stderr: ``progress`` if it
    is True or False, else unless ``$RGFLOW_QUIET`` is set (to anything but "" or "0")."""
    if progress is not None and not callable(progress):
        return bool(progress)
    return os.environ.get(QUIET_ENV, "").strip() in ("", "0")


def say(text: str) -> None:
    """One line ``rgflow: <text>`` on stderr (the current ``sys.stderr``), flushed."""
    print(f"rgflow: {text}", file=sys.stderr, flush=True)


class Progress:
    """``progress(layer, depth)`` callback for ``run_layers``: a line on stderr once the run
    has taken ``first_after`` seconds, then at most every ``every`` seconds; :meth:`done`
    adds the total if anything was printed."""

    def __init__(self, first_after: float = 2.0, every: float = 5.0, clock=time.perf_counter, unit: str = "layers"):
        self.clock = clock
        self.unit = unit
        self.t0 = clock()
        self.first_after = first_after
        self.every = every
        self.last = None
        self.depth = None

    def __call__(self, layer: int, depth: int) -> None:
        now = self.clock()
        elapsed = now - self.t0
        self.depth = depth
        if (layer >= depth or elapsed < self.first_after
                or (self.last is not None and now - self.last < self.every)):
            return   # the last layer is announced by done()
        self.last = now
        left = elapsed / max(layer - 1, 1) * (depth - layer)
        what = "layer" if self.unit == "layers" else self.unit
        say(f"{what} {layer}/{depth} ({elapsed:.0f} s, about {left:.0f} s left)")

    def done(self) -> None:
        if self.last is not None:
            say(f"{self.depth} {self.unit} in {self.clock() - self.t0:.1f} s")


class _CompileWatch:
    """numba ``numba:compile`` listener: says once that ``module`` is being compiled."""

    def __init__(self, module, enabled: bool):
        from numba.core import event
        self.module_name = module.__name__
        self.label = (f"the {getattr(module, 'ACTIVATION', '?')} evaluator "
                      f"({', '.join(getattr(module, 'QUANTITIES', ()))}; first use, cached afterwards)")
        self.enabled = enabled
        self.t0 = None

        class _Listener(event.Listener):
            def on_start(inner, ev):   # noqa: N805 - inner is the listener
                if self.t0 is not None:
                    return
                dispatcher = ev.data.get("dispatcher") if isinstance(ev.data, dict) else None
                func = getattr(dispatcher, "py_func", None)
                if getattr(func, "__module__", None) != self.module_name:
                    return
                self.t0 = time.perf_counter()
                if self.enabled:
                    say(f"compiling {self.label}...")

            def on_end(inner, ev):   # noqa: N805
                pass

        self._event = event
        self.listener = _Listener()

    @contextlib.contextmanager
    def watching(self):
        with self._event.install_listener("numba:compile", self.listener):
            yield self

    def finish(self) -> None:
        if self.t0 is not None and self.enabled:
            say(f"compiled in {time.perf_counter() - self.t0:.1f} s")
        self.t0 = None


#: (module name, parallel, tiled) of the kernels this process has compiled or loaded.
_READY: set[tuple[str, bool]] = set()


def _tiny_arguments(module):
    """run_layers arguments for one input and two layers, with the types of a real call."""
    init = module.initial_state(np.ones((1, 1)), 0.0, 1.0, 0.0, 1.0)
    params = (np.zeros(2), np.ones(2), np.zeros(2), np.ones(2), np.ones(2))
    states = tuple(np.empty((2,) + (1,) * rank) for _, rank in module.STATES)
    return init, params, states, np.zeros(4, dtype=np.int64)


def _tiny_pair_run(module, parallel: bool) -> None:
    """run_pair_tiles on two inputs and two layers (every pair kernel)."""
    from . import tiles
    params = (np.zeros(2), np.ones(2), np.zeros(2), np.ones(2), np.ones(2))
    tiles.run_pairs(module, np.eye(2), params, False, 2, parallel)


def _tiny_tiled_run(module, parallel: bool) -> None:
    """diagonal_pass and run_tiles on two inputs and two layers (every tiled kernel)."""
    from . import tiles
    params = (np.zeros(2), np.ones(2), np.zeros(2), np.ones(2), np.ones(2))
    prep = tiles.prepare(module, np.eye(2), params)
    outs = tuple(np.empty((1, 2, 2)) for _ in module.STATES)
    module.run_tiles(prep.X, prep.XT, tiles.upper_blocks(0, 2, 2), prep.diag, prep.params, outs, (0, 0), False,
                     prep.flags, parallel=parallel)


@contextlib.contextmanager
def first_use(module, enabled: bool, parallel: bool = True, tiled=False):
    """Context for a call of ``module.run_layers`` (its ``parallel`` or serial kernels), or
    of its tiled kernels (``tiled`` True: run_tiles; "pairs": run_pair_tiles): on their first use in this process, every kernel is
    compiled (or loaded from numba's cache) first by a tiny run, with a message on stderr
    if numba really compiles (``enabled``); a compile during the real call (a kernel the
    tiny run did not reach) is reported too."""
    key = (module.__name__, bool(parallel), str(tiled))
    if key in _READY:
        yield
        return
    watch = _CompileWatch(module, enabled)
    with watch.watching():
        with thread_count(1), np.errstate(all="ignore"):
            if tiled == "pairs":
                _tiny_pair_run(module, parallel)
            elif tiled:
                _tiny_tiled_run(module, parallel)
            else:
                module.run_layers(*_tiny_arguments(module), parallel=parallel)
        watch.finish()
        yield
        watch.finish()
    _READY.add(key)


def _kind(module, tiled: bool = False) -> str:
    methods = dict(getattr(module, "ATOM_METHODS", {}))
    if tiled:
        return "tiled-closed" if all(m in ("closed", "") for m in methods.values()) else "tiled-numeric"
    quads = [methods.pop(k) for k in sorted(methods) if k == "ssss" or k.startswith("q_")]
    if quads:
        return "vertex-closed" if all(q == "closed" for q in quads) else "vertex-numeric"
    return "closed" if all(m in ("closed", "") for m in methods.values()) else "numeric"


def kind(module, tiled: bool = False) -> str:
    """The module's key in :data:`PARALLEL_FROM` (for its tiled kernels with ``tiled``)."""
    return _kind(module, tiled)


def threads_for(module, n: int, tiled: bool = False) -> int | None:
    """1 for a problem with ``n`` distinct inputs below :data:`PARALLEL_FROM` of the
    module's kind, else None (numba's setting stands)."""
    return 1 if n < PARALLEL_FROM[_kind(module, tiled)] else None


def available_threads() -> int:
    """numba's current thread count (1 means the parallel kernels would gain nothing)."""
    import numba
    return numba.get_num_threads()


@contextlib.contextmanager
def thread_count(k: int | None):
    """numba's thread count is ``k`` (at most its current setting) inside the block."""
    if k is None:
        yield
        return
    import numba
    before = numba.get_num_threads()
    numba.set_num_threads(max(1, min(k, before)))
    try:
        yield
    finally:
        numba.set_num_threads(before)
