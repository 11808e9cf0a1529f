"""Errors of :mod:`derive.bayes` (user mistakes; the CLI prints them in one line)."""

from ..errors import RGFlowError

__all__ = ["BayesInputError", "NoSaddlePointError"]


class BayesInputError(RGFlowError, ValueError):
    """Invalid input: shapes, non-positive widths/temperatures/priors, non-PSD kernels."""


class NoSaddlePointError(RGFlowError, ArithmeticError):
    """The effective action has no stationary point the solver could certify."""
