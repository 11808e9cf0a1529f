"""The ``rgflow`` command line.

Subcommands: ``classify`` (universality report), ``latex`` (report and
recursions as LaTeX), and those contributed by other packages (``flow``,
``compile``, ``validate``, ``bayes``) when they are installed.  User mistakes end
with one line ``rgflow: error: ...`` on stderr and exit status 2, never a
traceback.
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from .errors import RGFlowError

__all__ = ["main", "build_parser"]


def _parse_params(items: Sequence[str]) -> dict:
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


def _activation(args):
    from .activations import activation
    return activation(args.activation, **_parse_params(args.param))


def _cmd_classify(args) -> int:
    from .universality import classify
    report = classify(_activation(args))
    print(report.to_json() if args.json else report)
    return 0


def _cmd_latex(args) -> int:
    from .latex import recursions_to_latex
    from .universality import classify
    act = _activation(args)
    if args.what in ("report", "all"):
        print(classify(act).to_latex(), end="")
    if args.what in ("recursions", "all"):
        print(recursions_to_latex(act), end="")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rgflow", description=(
        "Derive criticality, universality and finite-width recursions of deep networks."))
    sub = parser.add_subparsers(dest="command", required=True)

    def with_activation(p):
        p.add_argument("activation", help="registry name (tanh, relu, gelu, ...) or an expression in z")
        p.add_argument("-p", "--param", action="append", metavar="NAME=VALUE",
                       help="bind a parameter of the activation (repeatable)")
        return p

    p = with_activation(sub.add_parser("classify", help="print the universality report"))
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_cmd_classify)
    p = with_activation(sub.add_parser("latex", help="print the report and recursions as LaTeX"))
    p.add_argument("--what", choices=("report", "recursions", "all"), default="all")
    p.set_defaults(func=_cmd_latex)
    for register in _plugins():
        register(sub)
    return parser


def _plugins():
    """Subcommands of other packages (each module offers ``add_parsers(subparsers)``)."""
    import importlib
    found = []
    for name in ("codegen.cli", "derive.validate", "derive.bayes.cli"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        found.append(module.add_parsers)
    return found


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except RGFlowError as exc:
        print(f"rgflow: error: {exc}", file=sys.stderr)
        return 2
    except (OverflowError, FloatingPointError) as exc:
        print(f"rgflow: error: numerical overflow: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
