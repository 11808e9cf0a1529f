"""``rgflow train-predict``: the order-1/n prediction of trained networks (:func:`rgflow.training.predict`);
``rgflow validate-training``: trained ensembles of real networks over widths against it
(:mod:`rgflow.training.validation`; docs/training.md), with the 1/n coefficients from a weighted fit and,
with ``--plot``, the figure of the means against 1/n."""

from __future__ import annotations

import pathlib

from derive.errors import RGFlowError

from ..arguments import activation_of, add_activation_arguments

__all__ = ["add_parsers"]


def _widths(text: str) -> tuple[int, ...]:
    try:
        widths = tuple(int(w) for w in text.split(",") if w.strip())
    except ValueError:
        raise RGFlowError(f"--widths must be comma-separated integers, got {text!r}") from None
    if not widths or min(widths) < 1 or len(set(widths)) != len(widths):
        raise RGFlowError(f"--widths must be distinct positive integers, got {text!r}")
    return widths


def _data(args):
    """(X_train, y_train, X_test) from --inputs/--targets (training inputs first) or the fixed defaults."""
    import numpy as np

    from ..arguments import load_inputs
    from ..defaults import TRAINING_INPUTS, TRAINING_TARGETS
    if (args.inputs is None) != (args.targets is None):
        raise RGFlowError("give --inputs and --targets together (training inputs first, then the test inputs)")
    X = TRAINING_INPUTS if args.inputs is None else args.inputs
    y = TRAINING_TARGETS if args.targets is None else load_inputs(args.targets).ravel()
    if not 0 < len(y) < X.shape[0]:
        raise RGFlowError(f"--targets has {len(y)} values for {X.shape[0]} inputs; the inputs must be the "
                          "training inputs (one per target) followed by at least one test input")
    return X[:len(y)], np.asarray(y, dtype=float), X[len(y):]


def _problem(args):
    """(activation, X_train, y_train, X_test, C_b, C_W, λ_b, λ_W, steps) of the shared arguments (:func:`_common`):
    the critical point and λ = C unless given, steps None with --converge."""
    from ..defaults import hyperparameters, learning_rates
    act = activation_of(args)
    X_train, y, X_test = _data(args)
    C_b, C_W = hyperparameters(act, args.C_b, args.C_W)
    lambda_b, lambda_W = learning_rates(C_b, C_W, args.lambda_b, args.lambda_W)
    return act, X_train, y, X_test, C_b, C_W, lambda_b, lambda_W, None if args.converge else args.steps


def _cmd_train_predict(args) -> int:
    from ..training.predict import predict
    act, X_train, y, X_test, C_b, C_W, lambda_b, lambda_W, steps = _problem(args)
    pred = predict(act, X_train, y, X_test, args.depth, args.width, C_b, C_W, lambda_b, lambda_W, args.eta, steps,
                   allow_kinked=args.allow_kinked)
    print(pred.to_text(), end="")
    if args.latex:
        print(pred.to_latex())
    return 0


def _cmd_validate_training(args) -> int:
    from ..training.validation import validate_training
    widths = _widths(args.widths)
    act, X_train, y, X_test, C_b, C_W, lambda_b, lambda_W, steps = _problem(args)
    rep = validate_training(act, X_train, y, X_test, args.depth, widths, C_b, C_W, lambda_b,
                            lambda_W, args.eta, steps, networks=args.networks, seed=args.seed,
                            frozen_networks=args.frozen_networks)
    print(rep.to_text(), end="")
    if args.plot:
        rep.plot(args.plot)
        print(f"saved {args.plot}")
    return 0


def _common(p, default_steps) -> None:
    """The arguments train-predict and validate-training share."""
    add_activation_arguments(p)
    p.add_argument("--depth", type=int, default=3, help="number of layers L (default 3)")
    p.add_argument("--steps", type=int, default=default_steps,
                   help=f"gradient-descent steps (default {default_steps or 'convergence'})")
    p.add_argument("--converge", action="store_true", help="train to convergence instead of --steps")
    p.add_argument("--eta", type=float, default=None, help="learning rate (default 0.5/lambda_max(H_train))")
    p.add_argument("--C_b", type=float, default=None, help="bias variance (default: critical point)")
    p.add_argument("--C_W", type=float, default=None, help="weight variance (default: critical point)")
    p.add_argument("--lambda_b", type=float, default=None, help="bias learning rate (default: C_b)")
    p.add_argument("--lambda_W", type=float, default=None, help="weight learning rate (default: C_W)")
    p.add_argument("--inputs", type=pathlib.Path, default=None, metavar="X.npy",
                   help="training inputs then test inputs, shape (N, n_0) (default: five fixed inputs)")
    p.add_argument("--targets", type=pathlib.Path, default=None, metavar="y.npy", help="training targets (N_train,)")


def add_parsers(subparsers) -> None:
    """Register ``rgflow train-predict`` and ``rgflow validate-training`` on an argparse subparsers object."""
    p = subparsers.add_parser("train-predict", help="the order-1/n prediction of trained networks",
                              description="Mean and covariance of MLPs trained by gradient descent at width n: "
                                          "the infinite-width ensemble plus its 1/n correction.")
    _common(p, None)
    p.add_argument("--width", type=int, default=64, help="hidden width n (default 64)")
    p.add_argument("--allow-kinked", action="store_true",
                   help="print flagged numbers for activations kinked at z = 0 instead of refusing")
    p.add_argument("--latex", action="store_true", help="also print the formula as LaTeX")
    p.set_defaults(func=_cmd_train_predict)
    p = subparsers.add_parser("validate-training", help="trained ensembles over widths against the theory",
                              description="Real networks trained by gradient descent at several widths "
                                          "against the infinite-width and the order-1/n prediction (its "
                                          "frozen-NTK and dynamical parts).")
    _common(p, 20)
    p.add_argument("--widths", default="16,32,64", help="comma-separated hidden widths (default 16,32,64)")
    p.add_argument("--networks", type=int, default=4000, help="networks per width and ensemble (default 4000)")
    p.add_argument("--frozen-networks", type=int, default=None,
                   help="also a larger independent frozen-NTK ensemble per width (no training: cheap) for the "
                        "combined, low-error estimate of the trained mean")
    p.add_argument("--seed", type=int, default=0, help="Monte Carlo seed (default 0)")
    p.add_argument("--plot", type=pathlib.Path, default=None, metavar="OUT.png", help="save the figure")
    p.set_defaults(func=_cmd_validate_training)
