"""The backend seam: how a :class:`~codegen.lower.KernelPlan` becomes a loadable module.

Stage *render* is a backend's :meth:`Backend.render`.  Everything before it (``lower``)
is target-neutral, and everything after it (:mod:`codegen.cache`, the
:class:`~codegen.evaluator.Evaluator`) relies only on the **module contract**:

* metadata ``SIGNATURE`` (the flow signature), ``ACTIVATION``, ``OBSERVABLES``,
  ``QUANTITIES``, ``STATES`` ((name, rank) per state), ``STATUS`` (status code → state),
  ``ATOM_METHODS`` (atom → how it is evaluated);
* ``initial_state(gram, C_b, C_W, lambda_b, lambda_W)`` → the layer-1 tensors in
  ``STATES`` order;
* ``run_layers(init, params, states, flags, progress=None, parallel=True)`` →
  ``(status, layer)``, filling layer l+1 of each state at index ``l % nb`` of its array
  (status 0 ok, 1 kernel overflow, 2 a vanishing variance, others from ``STATUS``);
  ``parallel`` is a hint a backend may ignore.

:data:`NUMBA` is the production backend (``codegen.render``: self-contained numba
modules).  A backend has a ``name`` (part of every cache key, so two backends never share
a cached file) and a ``render`` method; ``tests/codegen/test_backend.py`` renders plain numpy
through this seam.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from .lower import KernelPlan

__all__ = ["Backend", "NumbaBackend", "NUMBA", "MODULE_CONTRACT"]

#: Names every generated module defines (the contract the evaluator relies on).
MODULE_CONTRACT = ("SIGNATURE", "ACTIVATION", "OBSERVABLES", "QUANTITIES", "STATES", "STATUS",
                   "ATOM_METHODS", "initial_state", "run_layers")


@runtime_checkable
class Backend(Protocol):
    """A code generator for one target."""

    name: str

    def render(self, plan: KernelPlan, command: str) -> str:
        """The module text for ``plan`` (deterministic; ``command`` goes into its header)."""


@dataclass(frozen=True)
class NumbaBackend:
    """Self-contained numba modules (:func:`codegen.render.render_module`)."""

    name: str = "numba"

    def render(self, plan: KernelPlan, command: str) -> str:
        from .render import render_module
        return render_module(plan, command)


#: The production backend.
NUMBA = NumbaBackend()
