"""``rgflow classify`` and ``rgflow latex``: the symbolic reports of :mod:`derive`.

* ``rgflow classify ACT [--json]`` prints the universality report (a table, or JSON);
* ``rgflow latex ACT [--what report|recursions|all]`` prints the report and the
  single-input recursions as LaTeX.
"""

from __future__ import annotations

from ..arguments import activation_of, add_activation_arguments

__all__ = ["add_parsers"]


def _cmd_classify(args) -> int:
    from derive.universality import classify
    report = classify(activation_of(args))
    print(report.to_json() if args.json else report)
    return 0


def _cmd_latex(args) -> int:
    from derive.latex import recursions_to_latex
    from derive.universality import classify
    act = activation_of(args)
    if args.what in ("report", "all"):
        print(classify(act).to_latex(), end="")
    if args.what in ("recursions", "all"):
        print(recursions_to_latex(act), end="")
    return 0


def add_parsers(sub) -> None:
    """Register ``classify`` and ``latex`` on the ``rgflow`` subparsers ``sub``."""
    p = add_activation_arguments(sub.add_parser("classify", help="print the universality report"))
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_cmd_classify)
    p = add_activation_arguments(sub.add_parser("latex", help="print the report and recursions as LaTeX"))
    p.add_argument("--what", choices=("report", "recursions", "all"), default="all")
    p.set_defaults(func=_cmd_latex)
