"""rgflow.derive: symbolic derivation of the effective theory of deep networks.

Public entry points (DESIGN.md): :func:`activation`, :func:`classify`, :func:`flow`.
"""

from .activations import Activation, ActivationError, activation, registry_names
from .errors import NotCriticalError, RGFlowError
from .flow import Flow, flow
from .universality import UniversalityReport, classify

__all__ = ["Activation", "ActivationError", "Flow", "NotCriticalError", "RGFlowError", "UniversalityReport",
           "activation", "classify", "flow", "registry_names"]
