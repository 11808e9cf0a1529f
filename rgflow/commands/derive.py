"""``rgflow derive``: the layer-to-layer recursions derived from the forward equation (issue #11).

    rgflow derive ACT [-p NAME=VALUE] [--order {1,2}] [--observables K,G1,...] [--general] [--latex]
    rgflow derive ACT --residual XI,GAMMA [--latex]

prints the recursions of the preactivation statistics to the requested order in 1/n, derived by
:mod:`derive.engine` (single input in the moments g_m(K) = ⟨σ^m⟩_K, or with ``--general`` entry-wise
for N_D inputs over Gaussian atoms).  ``--residual XI,GAMMA`` prints instead the order-1/n system of
the residual MLP z' = ξz + γ(b + Wσ(z)) (single input; :mod:`derive.engine.residual`).
"""

from __future__ import annotations

import sys

from derive.errors import RGFlowError

from ..arguments import activation_of, add_activation_arguments, residual_couplings

__all__ = ["add_parsers"]


def _cmd_derive(args) -> int:
    from derive.engine.text import derivation_latex, derivation_text, statistics_for
    act = activation_of(args)
    if args.residual is not None:
        from derive.engine.residual import residual_latex, residual_text
        xi, gamma = residual_couplings(args.residual)
        if args.order != 1 or args.general or args.observables is not None:
            raise RGFlowError("--residual prints the single-input order-1/n system; it takes no --order 2, "
                              "--general or --observables (N_D inputs: rgflow.residual.residual_flow)")
        print((residual_latex if args.latex else residual_text)(act, xi, gamma), end="")
        return 0
    observables = None if args.observables is None else [s.strip() for s in args.observables.split(",")]
    try:
        statistics_for(args.order, observables)
    except ValueError as exc:
        raise RGFlowError(str(exc)) from None
    print(f"rgflow: deriving the order-{args.order} recursions of {act.name} ...", file=sys.stderr, flush=True)
    render = derivation_latex if args.latex else derivation_text
    print(render(act, args.order, observables, args.general), end="")
    return 0


def add_parsers(sub) -> None:
    """Register ``derive`` on the ``rgflow`` subparsers ``sub``."""
    p = add_activation_arguments(sub.add_parser("derive", help="print the recursions derived from the forward equation"))
    p.add_argument("--order", type=int, choices=(1, 2), default=1, help="order in 1/n (default 1)")
    p.add_argument("--observables", metavar="LIST", help="comma-separated statistics (K,G1,G2,V,V1,U)")
    p.add_argument("--general", action="store_true", help="entry-wise rules for N_D inputs (default: single input)")
    p.add_argument("--latex", action="store_true", help="print LaTeX instead of text")
    p.add_argument("--residual", metavar="XI,GAMMA",
                   help="the residual MLP z' = xi z + gamma (b + W sigma(z)) instead (single input, order 1/n)")
    p.set_defaults(func=_cmd_derive)
