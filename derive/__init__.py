"""rgflow.derive: symbolic derivation of the effective theory of deep networks.

Public entry points (DESIGN.md): :func:`activation`, :func:`classify`, :func:`flow`.
"""

from . import lazy as _lazy
from .errors import NotCriticalError, RGFlowError

__all__ = ["Activation", "ActivationError", "Flow", "NotCriticalError", "RGFlowError", "UniversalityReport",
           "activation", "classify", "flow", "registry_names"]

# sympy is imported on first use of a symbolic name, not by ``import derive``.
_lazy.install(__name__, {
    "Activation": ".activations", "ActivationError": ".activations", "activation": ".activations",
    "registry_names": ".activations", "Flow": ".flow", "flow": ".flow",
    "UniversalityReport": ".universality", "classify": ".universality"})
