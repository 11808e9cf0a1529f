"""rgflow.codegen: compile derive flows to self-contained numba evaluators.

Pipeline (one stage per module): ``lower`` (Flow → KernelPlan) → ``render``
(KernelPlan → module text, printed by ``printer``) → ``artifacts`` (committed
``generated/`` modules and manifest) or ``cache`` (content-addressed user cache) →
``evaluator`` (:class:`Evaluator` around the loaded module).

Examples
--------
>>> import numpy as np
>>> from derive.flow import flow
>>> ev = compile(flow("relu", ("K", "H")))
>>> res = ev.run(np.eye(2), depth=3, C_W=2.0)
>>> float(res.K[3][0, 0])      # K^(1) = C_W |x|^2/n_0 = 1, kept by ReLU at criticality
1.0
"""

from __future__ import annotations

import sys

from derive import lazy as _lazy

from .evaluator import (Evaluator, FlowMemoryError, FlowOverflowError, FlowResult, InputError,
                        LayerSeries)

__all__ = ["compile", "generate", "Evaluator", "FlowResult", "LayerSeries", "GeneratedModule",
           "InputError", "FlowOverflowError", "FlowMemoryError", "cache_key"]


def compile(f, command: str | None = None, backend=None) -> Evaluator:  # noqa: A001 - the public name
    """Evaluator of the flow ``f`` (a :class:`derive.flow.Flow`, or an activation name/expression).

    An order-1/n² flow (``flow(act, order=2)``) gives an :class:`~codegen.order2_runtime.Order2Evaluator`
    (:mod:`codegen.order2`), generated into the user cache on first use.

    ``backend`` (:mod:`codegen.backend`, default numba) renders the module.  Looks for
    ``f`` in ``generated/MANIFEST.json`` (committed numba catalogue); otherwise
    loads it from the user cache, generating it there first on a miss.  Never writes
    into ``generated/``.  Every module file is checked against its recorded sha256
    before it is executed: a committed file that does not match is skipped (with a
    warning), a cached one is regenerated (:func:`codegen.cache.load_verified`).
    """
    from derive.flow import Flow, flow

    from . import artifacts, cache
    if not isinstance(f, Flow):
        f = flow(f)
    from .backend import NUMBA
    from .driver import cache_key, generate
    from .order2 import is_order2
    if is_order2(f):
        return _compile_order2(f, command, cache)
    backend = NUMBA if backend is None else backend
    key = cache_key(f, backend)
    if backend.name == NUMBA.name:
        committed = _committed(key, f, artifacts, cache)
        if committed is not None:
            return committed
    root = cache.usable_root()
    path = cache.module_path(key, root)
    name = f"rgflow_cache_{key[:24]}"
    try:
        module = cache.load_verified(path, name)
    except cache.CacheIntegrityError:
        cmd = command or f"codegen.compile(flow({f.activation.name!r}, {tuple(f.observables)!r}))"
        cache.store(path, generate(f, cmd, backend).text)
        module = cache.load_verified(path, name)
    cache.discard_corrupt_numba_cache(module)
    return Evaluator(module, f, origin=str(path))


def _compile_order2(f, command, cache):
    """The order-1/n² evaluator of ``f`` (:mod:`codegen.order2`), from the user cache (generated there
    first on a miss; verified against its sha256 before it is executed)."""
    from derive.hashing import sha256_text

    from .order2 import ORDER2_FORMAT, render_order2
    from .order2_runtime import Order2Evaluator
    key = sha256_text(f"order2-format:{ORDER2_FORMAT}\n{f.signature()}")
    path = cache.module_path(key, cache.usable_root())
    name = f"rgflow_cache_{key[:24]}"
    try:
        module = cache.load_verified(path, name)
    except cache.CacheIntegrityError:
        cmd = command or f"codegen.compile(flow({f.activation.name!r}, {tuple(f.observables)!r}, order=2))"
        cache.store(path, render_order2(f, cmd))
        module = cache.load_verified(path, name)
    cache.discard_corrupt_numba_cache(module)
    return Order2Evaluator(module, f, origin=str(path))


def _committed(key: str, f, artifacts, cache) -> Evaluator | None:
    """The evaluator of ``f`` from ``generated/`` when the catalogue has it and its file
    matches the manifest's sha256; None otherwise."""
    stem = artifacts.find_stem(key)
    if stem is None:
        return None
    info = artifacts.read_manifest()["modules"][stem]
    try:
        module = cache.load_verified(artifacts.GENERATED_DIR / f"{stem}.py", f"generated.{stem}",
                                     expected_sha256=info["output_sha256"])
    except cache.CacheIntegrityError as exc:
        print(f"rgflow: warning: skipping the committed evaluator: {exc}; generating it in the user cache",
              file=sys.stderr, flush=True)
        return None
    if module.SIGNATURE != f.signature():
        return None
    cache.discard_corrupt_numba_cache(module)
    return Evaluator(module, f, origin=f"generated/{stem}.py")


def _reset_cache_modules():  # pragma: no cover - test helper
    for name in [m for m in sys.modules if m.startswith("rgflow_cache_")]:
        del sys.modules[name]


# the generator (sympy) is imported on first use, not by ``import codegen``
_lazy.install(__name__, {"GeneratedModule": ".driver", "cache_key": ".driver", "generate": ".driver",
                         "Backend": ".backend", "NUMBA": ".backend"})
