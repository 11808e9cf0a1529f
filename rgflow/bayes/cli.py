"""``rgflow bayes …`` subcommands (registered by :func:`rgflow.cli.build_parser`).

* ``rgflow bayes latex [--depth L | --general | --mean-correction]`` — action and
  saddle-point equations as LaTeX;
* ``rgflow bayes solve --activation relu --widths 100 --beta 4 --priors 1`` — saddle
  point, predicted generalisation error and the NNGP on a dataset (``--data F.npz``
  with arrays ``X, y, X_test, y_test``, or a generated noisy linear teacher);
* ``rgflow bayes langevin …`` — the same architecture sampled by MALA;
* ``rgflow bayes li-sompolinsky --alpha A --r R --depth L`` — the closed form.

Examples
--------
>>> from rgflow.cli import main
>>> main(["bayes", "li-sompolinsky", "--alpha", "0.5", "--r", "2", "--depth", "1"])
Qbar = 1.2807764064
0
"""

from __future__ import annotations

import json
import pathlib

import numpy as np

from derive.bayes.errors import BayesInputError

__all__ = ["add_parsers"]


def _data(args):
    from .data import linear_teacher
    if args.data is None:
        d = linear_teacher(P=args.P, N0=args.N0, n_test=args.n_test, noise=args.noise, seed=args.seed)
        return d.X, d.y, d.X_test, d.y_test
    path = pathlib.Path(args.data)
    if not path.is_file():
        raise BayesInputError(f"data file {str(path)!r} not found")
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = sorted({"X", "y", "X_test", "y_test"} - set(f.files))
            if missing:
                raise BayesInputError(f"data file lacks arrays: {', '.join(missing)}")
            return f["X"], f["y"], f["X_test"], f["y_test"]
    except (OSError, ValueError) as exc:
        raise BayesInputError(f"cannot read {str(path)!r} as .npz: {exc}") from None


def _arch(args):
    from .architecture import Architecture
    mc = None if args.mean_correction == "auto" else args.mean_correction == "on"
    return Architecture(args.activation, tuple(args.widths), args.beta, tuple(args.priors),
                        args.lambda0, mean_correction=mc)


def _cmd_latex(args) -> int:
    from derive.bayes import action
    if args.mean_correction:
        a = action.mean_corrected_action()
    elif args.general:
        a = action.general_action(args.depth)
    else:
        a = action.deep_action(args.depth)
    print(a.to_latex(), end="")
    return 0


def _cmd_solve(args) -> int:
    from .saddle import criterion, predict
    arch = _arch(args)
    X, y, Xt, yt = _data(args)
    p = predict(arch, X, y, Xt, yt)
    try:
        r = criterion(arch, X, y)
    except BayesInputError:
        r = None
    out = {"activation": arch.activation, "widths": list(arch.widths), "beta": arch.beta,
           "priors": list(arch.priors), "lambda0": arch.lambda0, "P": len(y),
           "alphas": list(p.saddle.alphas), "Qbar": list(p.saddle.Qbar), "Q": list(p.saddle.Q),
           "mean_correction": arch.mean_correction, "residual": p.saddle.residual,
           "generalisation_error": p.generalisation_error,
           "nngp_generalisation_error": p.nngp_generalisation_error, "criterion_r": r}
    if args.json:
        print(json.dumps(out, sort_keys=True))
    else:
        for key in sorted(out):
            print(f"{key:28s} {out[key]}")
    return 0


def _cmd_langevin(args) -> int:
    from .langevin import sample_posterior
    from .saddle import predict
    arch = _arch(args)
    X, y, Xt, yt = _data(args)
    s = sample_posterior(arch, X, y, Xt, yt, n_chains=args.chains, n_steps=args.steps,
                         burn_in=args.burn_in, thin=args.thin, seed=args.chain_seed)
    p = predict(arch, X, y, Xt, yt)
    print(f"langevin   eps_g = {s.generalisation_error:.6f} +- {s.standard_error:.6f} "
          f"({s.n_chains} chains, acceptance {s.acceptance:.2f}, Qbar {s.Qbar_mean:.4f})")
    print(f"theory     eps_g = {p.generalisation_error:.6f} (Qbar {p.saddle.Qbar[0]:.4f})")
    print(f"nngp       eps_g = {p.nngp_generalisation_error:.6f}")
    return 0


def _cmd_ls(args) -> int:
    from .linear import li_sompolinsky_root
    print(f"Qbar = {li_sompolinsky_root(args.alpha, args.r, args.depth):.12g}")
    return 0


def add_parsers(subparsers) -> None:
    """Register ``rgflow bayes`` and its subcommands on ``subparsers``."""
    p = subparsers.add_parser("bayes", help="finite-width Bayesian networks (kernel renormalisation)")
    sub = p.add_subparsers(dest="bayes_command", required=True)

    q = sub.add_parser("latex", help="effective action and saddle-point equations as LaTeX")
    q.add_argument("--depth", type=int, default=1)
    q.add_argument("--general", action="store_true", help="matrix form for any activation")
    q.add_argument("--mean-correction", action="store_true", help="one hidden layer, non-odd σ")
    q.set_defaults(func=_cmd_latex)

    def common(q):
        q.add_argument("--activation", default="relu", help="erf | linear | relu")
        q.add_argument("--widths", type=int, nargs="+", default=[100], help="N_1 .. N_L")
        q.add_argument("--beta", type=float, default=4.0, help="inverse temperature (inf allowed)")
        q.add_argument("--priors", type=float, nargs="+", default=None, help="λ_1 .. λ_L (default 1)")
        q.add_argument("--lambda0", type=float, default=1.0, help="first-layer prior λ_0")
        q.add_argument("--mean-correction", choices=("auto", "on", "off"), default="auto")
        q.add_argument("--data", default=None, help=".npz with X, y, X_test, y_test")
        q.add_argument("--P", type=int, default=100, help="teacher: training points")
        q.add_argument("--N0", type=int, default=50, help="teacher: input dimension")
        q.add_argument("--n-test", type=int, default=200)
        q.add_argument("--noise", type=float, default=0.5)
        q.add_argument("--seed", type=int, default=0, help="teacher data seed")

    q = sub.add_parser("solve", help="saddle point, generalisation error and the NNGP")
    common(q)
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=_with_priors(_cmd_solve))

    q = sub.add_parser("langevin", help="MALA sampling of real networks (one hidden layer)")
    common(q)
    q.add_argument("--chains", type=int, default=8)
    q.add_argument("--steps", type=int, default=800)
    q.add_argument("--burn-in", type=int, default=200)
    q.add_argument("--thin", type=int, default=5)
    q.add_argument("--chain-seed", type=int, default=1)
    q.set_defaults(func=_with_priors(_cmd_langevin))

    q = sub.add_parser("li-sompolinsky", help="solve 1 − Q̄ = α(1 − r/Q̄^L)")
    q.add_argument("--alpha", type=float, required=True)
    q.add_argument("--r", type=float, required=True)
    q.add_argument("--depth", type=int, default=1)
    q.set_defaults(func=_cmd_ls)


def _with_priors(fn):
    def wrapped(args):
        if args.priors is None:
            args.priors = [1.0] * len(args.widths)
        return fn(args)
    return wrapped
