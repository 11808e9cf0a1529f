"""Arguments shared by the ``rgflow`` subcommands, and their checks.

:func:`preflight` checks the numbers, input files and output paths of a parsed command
line before anything is derived, compiled or sampled, so that a mistake costs
milliseconds; :func:`add_activation_arguments` and :func:`activation_of` are the
activation argument (a registry name or an expression in z, with ``-p NAME=VALUE``) of
every subcommand that takes one.  Imports only the standard library at module level
(``rgflow --help`` must not load sympy, numba, scipy, networkx or matplotlib).
"""

from __future__ import annotations

import math
from typing import Sequence

from derive.errors import RGFlowError

__all__ = ["add_activation_arguments", "activation_of", "parse_params", "preflight", "load_inputs",
           "check_writable"]


# ---------------------------------------------------------------------------------
# The activation argument
# ---------------------------------------------------------------------------------
def add_activation_arguments(parser):
    """Add the positional activation and the repeatable ``-p NAME=VALUE`` to ``parser``."""
    parser.add_argument("activation", help="registry name (tanh, relu, gelu, ...) or an expression in z")
    parser.add_argument("-p", "--param", action="append", metavar="NAME=VALUE",
                        help="bind a parameter of the activation (repeatable)")
    return parser


def parse_params(items: Sequence[str]) -> dict:
    """``["a=0.1", ...]`` → ``{"a": 0.1, ...}``; :class:`RGFlowError` for a malformed item."""
    values = {}
    for item in items or ():
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise RGFlowError(f"parameter {item!r} must look like NAME=VALUE")
        try:
            values[name.strip()] = float(value)
        except ValueError:
            raise RGFlowError(f"parameter value {value!r} is not a number") from None
    return values


def residual_couplings(text: str) -> tuple[float, float]:
    """``"XI,GAMMA"`` → (ξ, γ) of a residual block z' = ξz + γ(b + Wσ(z)); :class:`RGFlowError`
    unless both are finite numbers with ξ ≥ 0 and γ > 0."""
    try:
        values = [float(p) for p in text.split(",")]
    except ValueError:
        values = []
    if len(values) != 2 or not all(math.isfinite(v) for v in values) or values[0] < 0 or values[1] <= 0:
        raise RGFlowError(f"--residual must be XI,GAMMA with XI >= 0 and GAMMA > 0, got {text!r}")
    return values[0], values[1]


def activation_of(args):
    """The :class:`derive.activations.Activation` named by a parsed command line."""
    from derive.activations import activation
    return activation(args.activation, **parse_params(args.param))


# ---------------------------------------------------------------------------------
# Arguments are checked before anything is derived, compiled or sampled
# ---------------------------------------------------------------------------------
#: option → smallest allowed value, for integer options shared by the subcommands.
_AT_LEAST = {"depth": 1, "width": 1, "networks": 2, "seed": 0}
#: options that are variances or learning rates: finite and non-negative.
_NON_NEGATIVE = ("C_b", "C_W", "lambda_b", "lambda_W")
#: options naming an output file.
_OUTPUTS = ("plot", "graph")


def preflight(args) -> None:
    """Check the numbers, input files and output paths of a parsed command line (one
    :class:`RGFlowError` naming the option) so that a mistake costs milliseconds, not a
    derivation, a numba compilation or a Monte Carlo run."""
    import math
    for name, low in _AT_LEAST.items():
        value = getattr(args, name, None)
        if value is not None and value < low:
            raise RGFlowError(f"--{name} must be >= {low}, got {value}")
    for name in _NON_NEGATIVE:
        value = getattr(args, name, None)
        if value is not None and not (math.isfinite(value) and value >= 0):
            raise RGFlowError(f"--{name} must be finite and non-negative, got {value}")
    if getattr(args, "inputs", None) is not None:
        args.inputs = load_inputs(args.inputs)
    for name in _OUTPUTS:
        path = getattr(args, name, None)
        if path is not None:
            check_writable(path, f"--{name}", figure=(name == "plot"))


def load_inputs(path):
    """Inputs X of shape (N_D, n_0) from a ``.npy`` file (one row for a 1-D array): real,
    finite, non-empty; :class:`RGFlowError` otherwise.  Make one with
    ``numpy.save("inputs.npy", X)``."""
    import numpy as np
    try:
        X = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc).splitlines()[0]
        raise RGFlowError(f"cannot read inputs from {path}: {reason} "
                          "(expected a .npy file written by numpy.save, shape (N_D, n_0))") from None
    if not isinstance(X, np.ndarray) or X.dtype.kind not in "biuf":
        raise RGFlowError(f"inputs in {path} must be a real numeric array, got dtype {getattr(X, 'dtype', '?')}")
    if X.ndim == 1:
        X = X[None, :]
    if X.ndim != 2 or X.shape[0] < 1 or X.shape[1] < 1:
        raise RGFlowError(f"inputs in {path} must have shape (N_D, n_0), got {X.shape}")
    if not np.isfinite(X).all():
        raise RGFlowError(f"inputs in {path} contain NaN or infinite values")
    return X.astype(np.float64)


def check_writable(path, option: str, figure: bool = False) -> None:
    """:class:`RGFlowError` unless a file can be written at ``path`` (its nearest existing
    ancestor is a writable directory; for figures, the suffix is a format matplotlib writes)."""
    import os
    import pathlib
    import tempfile
    path = pathlib.Path(path)
    if path.is_dir():
        raise RGFlowError(f"{option} {path} is a directory; give a file name")
    parent = path.parent
    while not parent.exists():
        parent = parent.parent
    try:
        if path.exists():
            with open(path, "ab"):      # opened for appending: nothing is truncated
                pass
        else:                           # a probe file, as the real write will make one
            fd, probe = tempfile.mkstemp(dir=parent, prefix=".rgflow-probe-")
            os.close(fd)
            os.unlink(probe)
    except OSError as exc:
        where = path if path.exists() else parent
        raise RGFlowError(f"{option} {path}: cannot write to {where} ({exc.strerror or exc})") from None
    if figure:
        from matplotlib.backend_bases import FigureCanvasBase
        formats = FigureCanvasBase.get_supported_filetypes()
        if path.suffix.lower().lstrip(".") not in formats:
            raise RGFlowError(f"{option} {path}: unknown figure format {path.suffix or '(none)'}; "
                              f"use one of {', '.join('.' + f for f in sorted(formats))}")
