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

import importlib
import sys

from .driver import GeneratedModule, cache_key, generate
from .evaluator import (Evaluator, FlowMemoryError, FlowOverflowError, FlowResult, InputError,
                        LayerSeries)

__all__ = ["compile", "generate", "Evaluator", "FlowResult", "LayerSeries", "GeneratedModule",
           "InputError", "FlowOverflowError", "FlowMemoryError", "cache_key"]


def compile(f, command: str | None = None) -> Evaluator:  # noqa: A001 - the public name of the issue
    """Evaluator of the flow ``f`` (a :class:`derive.flow.Flow`, or an activation name/expression).

    Looks for ``f`` in ``generated/MANIFEST.json`` (committed catalogue); otherwise
    loads it from the user cache, generating it there first on a miss.  Never writes
    into ``generated/``.
    """
    from derive.flow import Flow, flow

    from . import artifacts, cache
    if not isinstance(f, Flow):
        f = flow(f)
    key = cache_key(f)
    stem = artifacts.find_stem(key)
    if stem is not None:
        module = importlib.import_module(f"generated.{stem}")
        if module.SIGNATURE == f.signature():
            return Evaluator(module, f, origin=f"generated/{stem}.py")
    path = cache.module_path(key)
    if not path.exists():
        cmd = command or f"codegen.compile(flow({f.activation.name!r}, {tuple(f.observables)!r}))"
        cache.atomic_write(path, generate(f, cmd).text)
    module = cache.load_module(path, f"rgflow_cache_{key[:24]}")
    return Evaluator(module, f, origin=str(path))


def _reset_cache_modules():  # pragma: no cover - test helper
    for name in [m for m in sys.modules if m.startswith("rgflow_cache_")]:
        del sys.modules[name]
