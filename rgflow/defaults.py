"""The defaults of rgflow, each defined once: every command and function that needs one
takes it from here.

* **Inputs** — :data:`DEFAULT_INPUTS`, two fixed inputs with n_0 = 2, |x|²/n_0 = 1 for
  both and overlap x_1·x_2/n_0 = 0.8 (``rgflow flow``, ``rgflow validate``,
  :func:`rgflow.validate.validate`; tests/validation_cases.py builds on them).
* **(C_b, C_W)** — :func:`critical_hyperparameters`, the first *usable* critical point of
  the activation (:func:`derive.universality.usable_critical_point`: stable, half-stable
  or marginal for every K — for GELU the half-stable point, not the unstable K* = 0).
* **(λ_b, λ_W)** — :func:`learning_rates`, λ_b = C_b and λ_W = C_W unless given
  (neural-tangents' "ntk" convention).  :meth:`codegen.Evaluator.run` applies the same
  convention itself, since codegen cannot import rgflow; tests/rgflow/test_defaults.py checks
  that the two agree, and rgflow passes its values explicitly.

Examples
--------
>>> DEFAULT_INPUTS @ DEFAULT_INPUTS.T / 2
array([[1. , 0.8],
       [0.8, 1. ]])
>>> learning_rates(0.1, 1.5), learning_rates(0.1, 1.5, lambda_W=0.0)
((0.1, 1.5), (0.1, 0.0))
"""

from __future__ import annotations

import numpy as np

__all__ = ["DEFAULT_INPUTS", "TRAINING_INPUTS", "TRAINING_TARGETS", "critical_hyperparameters", "hyperparameters",
           "learning_rates"]

#: Two fixed inputs (n_0 = 2): |x|²/n_0 = 1 for both, overlap x_1·x_2/n_0 = 0.8 (read-only).
DEFAULT_INPUTS = np.array([[1.0, 1.0], [1.4, 0.2]])
DEFAULT_INPUTS.flags.writeable = False
#: Five fixed inputs (n_0 = 2) — the first three are training inputs with targets TRAINING_TARGETS, the
#: last two test inputs — of ``rgflow validate-training`` and the training tests (read-only).
TRAINING_INPUTS = np.array([[1.0, 0.2], [0.3, 1.0], [0.8, -0.5], [0.5, 0.5], [-0.4, 0.9]])
TRAINING_TARGETS = np.array([0.5, -0.3, 0.2])
TRAINING_INPUTS.flags.writeable = TRAINING_TARGETS.flags.writeable = False


def critical_hyperparameters(act) -> tuple[float, float]:
    """(C_b, C_W) of the first usable critical point of ``act`` (THEORY.md §4–5).

    Raises :class:`derive.errors.NotCriticalError` when there is none.

    Examples
    --------
    >>> critical_hyperparameters("relu")
    (0.0, 2.0)
    """
    from derive.errors import NotCriticalError
    from derive.universality import classify, usable_critical_point
    rep = classify(act)
    point = usable_critical_point(rep)
    if point is not None:
        return float(point.C_b), float(point.C_W)
    raise NotCriticalError(f"{rep.activation} has no usable critical point; give --C_b and --C_W "
                           f"({'; '.join(rep.notes) or 'no critical point found'})")


def hyperparameters(act, C_b=None, C_W=None) -> tuple:
    """(C_b, C_W): each one given, else that of :func:`critical_hyperparameters` (computed only when
    one is missing)."""
    if C_b is None or C_W is None:
        cb, cw = critical_hyperparameters(act)
        C_b, C_W = (cb if C_b is None else C_b), (cw if C_W is None else C_W)
    return C_b, C_W


def learning_rates(C_b, C_W, lambda_b=None, lambda_W=None) -> tuple:
    """(λ_b, λ_W) of the NTK: each one given, else C_b and C_W respectively (scalars or
    per-layer sequences, passed through unchanged)."""
    return (C_b if lambda_b is None else lambda_b, C_W if lambda_W is None else lambda_W)
