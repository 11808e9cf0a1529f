"""``rgflow classify`` and ``rgflow latex``: the symbolic reports of :mod:`derive`.

* ``rgflow classify ACT [--json] [--residual XI2]`` prints the universality report (a table, or JSON),
  with ``--residual`` also the large-depth law of the critical residual MLP (:func:`rgflow.residual.residual_law`);
* ``rgflow latex ACT [--what report|recursions|all]`` prints the report and the
  single-input recursions as LaTeX.
"""

from __future__ import annotations

import json

from ..arguments import activation_of, add_activation_arguments

__all__ = ["add_parsers"]


def _cmd_classify(args) -> int:
    from derive.universality import classify
    act = activation_of(args)
    report = classify(act)
    law = None
    if args.residual is not None:
        from ..residual import residual_law
        law = residual_law(act, args.residual)
    if args.json:
        text = report.to_json()
        if law is not None:
            data = json.loads(text)
            data["residual"] = law.to_dict()
            text = json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False)
        print(text)
    else:
        print(report if law is None else f"{report}\n{law}")
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
    p.add_argument("--residual", type=float, metavar="XI2",
                   help="add the large-depth law of the critical residual MLP with xi^2 = XI2 (0 <= XI2 < 1)")
    p.set_defaults(func=_cmd_classify)
    p = add_activation_arguments(sub.add_parser("latex", help="print the report and recursions as LaTeX"))
    p.add_argument("--what", choices=("report", "recursions", "all"), default="all")
    p.set_defaults(func=_cmd_latex)
