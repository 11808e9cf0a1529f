"""The error types of rgflow: user mistakes raise a subclass of :class:`RGFlowError`."""


class RGFlowError(Exception):
    """Base class of errors caused by input (reported by the CLI in one line)."""


class NotCriticalError(RGFlowError, ValueError):
    """A requested critical quantity does not exist for this activation."""
