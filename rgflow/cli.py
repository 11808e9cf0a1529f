"""The ``rgflow`` command line (also ``python -m rgflow``).

Subcommands, one module each: ``classify`` and ``latex``
(:mod:`rgflow.commands.symbolic`), ``derive`` (:mod:`rgflow.commands.derive`), ``compile`` and ``flow``
(:mod:`rgflow.commands.flow`), ``validate`` (:mod:`rgflow.commands.validate`) and
``bayes`` (:mod:`rgflow.bayes.cli`).  Arguments are checked before any work
(:func:`rgflow.arguments.preflight`); user mistakes end with one line
``rgflow: error: ...`` on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from derive.errors import RGFlowError

from .arguments import preflight

__all__ = ["main", "build_parser", "cli_message"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rgflow", description=(
        "Derive criticality, universality and finite-width recursions of deep networks."))
    sub = parser.add_subparsers(dest="command", required=True)
    for register in _subcommands():
        register(sub)
    return parser


def _subcommands():
    """``add_parsers`` of every subcommand module, in help order.

    They are part of rgflow: a failure to import one is a broken installation and is
    reported, never silently dropped.  The modules import only light dependencies at
    module level (sympy, scipy and numba load when a command runs)."""
    from .bayes.cli import add_parsers as bayes
    from .commands.derive import add_parsers as derivation
    from .commands.flow import add_parsers as numerical
    from .commands.symbolic import add_parsers as symbolic
    from .commands.training import add_parsers as training
    from .commands.validate import add_parsers as validation
    return [symbolic, derivation, numerical, validation, training, bayes]


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        preflight(args)
        return int(args.func(args) or 0)
    except RGFlowError as exc:
        print(f"rgflow: error: {cli_message(exc)}", file=sys.stderr)
        return 2
    except (OverflowError, FloatingPointError) as exc:
        print(f"rgflow: error: numerical overflow: {exc}", file=sys.stderr)
        return 2


def cli_message(exc: RGFlowError) -> str:
    """The one-line message of ``exc`` for the command line (its CLI wording when it has one)."""
    text = getattr(exc, "cli", None) or str(exc)
    return " ".join(text.split())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
