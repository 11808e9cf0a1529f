"""rgflow.derive: symbolic derivation of the effective theory of deep networks.

Public entry points (DESIGN.md): :func:`activation`, :func:`classify`, :func:`flow`.
"""

from .activations import Activation, ActivationError, activation, registry_names
from .errors import NotCriticalError, RGFlowError

__all__ = ["Activation", "ActivationError", "NotCriticalError", "RGFlowError", "activation",
           "registry_names"]
