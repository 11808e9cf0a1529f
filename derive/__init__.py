"""rgflow.derive: symbolic derivation of the effective theory of deep networks.

Public entry points (DESIGN.md): :func:`activation`, :func:`classify`, :func:`flow`.
"""

from .activations import Activation, ActivationError, activation, registry_names
from .errors import NotCriticalError, RGFlowError
from .universality import UniversalityReport, classify

__all__ = ["Activation", "ActivationError", "NotCriticalError", "RGFlowError", "UniversalityReport",
           "activation", "classify", "registry_names"]
