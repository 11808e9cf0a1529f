"""``rgflow validate``: theory versus Monte Carlo per layer, with z-scores
(:func:`rgflow.validate.validate`), and optionally the figure
(:func:`rgflow.validation_plot.plot_reports`)."""

from __future__ import annotations

import pathlib

from ..arguments import activation_of, add_activation_arguments

__all__ = ["add_parsers"]


def _cmd_validate(args) -> int:
    from ..validate import validate
    from ..validation_plot import plot_reports
    act = activation_of(args)
    rep = validate(act, args.inputs, depth=args.depth, width=args.width, C_b=args.C_b,
                   C_W=args.C_W, networks=args.networks, seed=args.seed, ntk=not args.no_ntk,
                   progress=args.progress, ntk_family=args.ntk_family)
    print(rep.to_text())
    if args.plot:
        plot_reports([rep], args.plot, title=f"{rep.activation}: C_b = {rep.C_b:.4g}, C_W = {rep.C_W:.4g}")
        print(f"saved {args.plot}")
    return 0


def add_parsers(subparsers) -> None:
    """Register ``rgflow validate`` on an argparse subparsers object."""
    p = subparsers.add_parser("validate", help="compare the recursions with Monte Carlo networks",
                              description="Theory vs Monte Carlo per layer, with z-scores.")
    add_activation_arguments(p)
    p.add_argument("--depth", type=int, default=6, help="number of layers L (default 6)")
    p.add_argument("--width", type=int, default=64, help="hidden width n (default 64)")
    p.add_argument("--networks", type=int, default=1000, help="Monte Carlo networks M (default 1000)")
    p.add_argument("--C_b", type=float, default=None, help="bias variance (default: critical point)")
    p.add_argument("--C_W", type=float, default=None, help="weight variance (default: critical point)")
    p.add_argument("--seed", type=int, default=0, help="Monte Carlo seed (default 0)")
    p.add_argument("--inputs", type=pathlib.Path, default=None, metavar="FILE.npy",
                   help="inputs X, shape (N_D, n_0) (default: two fixed inputs)")
    p.add_argument("--no-ntk", action="store_true", help="skip the NTK (faster)")
    p.add_argument("--ntk-family", action="store_true",
                   help="also compare the NTK's 1/n fluctuations A, B, D, F and the dNTK P, Q (N_D <= 3)")
    p.add_argument("--plot", type=pathlib.Path, default=None, metavar="OUT.png", help="save the figure")
    p.add_argument("--progress", action="store_true", help="Monte Carlo progress on stderr")
    p.set_defaults(func=_cmd_validate)
