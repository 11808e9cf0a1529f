"""The error types of rgflow: user mistakes raise a subclass of :class:`RGFlowError`."""


class RGFlowError(Exception):
    """Base class of errors caused by input (reported by the CLI in one line).

    ``cli`` is an optional wording for the command line, where advice names options
    (``-p a=0.1``) instead of Python calls (``activation('leaky_relu', a=0.1)``).
    """

    def __init__(self, *args, cli: str | None = None):
        super().__init__(*args)
        self.cli = cli


class NotCriticalError(RGFlowError, ValueError):
    """A requested critical quantity does not exist for this activation."""
