"""``rgflow flow`` and ``rgflow compile``: the numerical side of the command line.

* ``rgflow compile EXPR`` derives the flow of an activation, generates (or finds)
  its numba evaluator and says where it lives and how each expectation is computed.
* ``rgflow flow ACT --depth L --width n`` evaluates the recursions for inputs
  (``--inputs FILE.npy``, shape (N_D, n_0); default the two fixed inputs of
  ``rgflow validate``, :data:`rgflow.defaults.DEFAULT_INPUTS`) and
  prints, per layer, K, the NTK mean H, the four-point vertex as V/(n K²) and the
  metric correction G1/n of the first input; ``--plot`` saves K and V/(nK²) versus
  ℓ, ``--graph`` exports the dependency graph as GraphML.  ``--residual XI,GAMMA`` evaluates the
  residual MLP instead (:mod:`rgflow.residual`: K, H, V by the bilinear closure); ``--order 2`` the
  order-1/n² statistics (K + G1/n + G2/n², V + V1/n, U; :mod:`codegen.order2`).

C_b and C_W default to the activation's first usable critical point when it has one
(:func:`rgflow.defaults.critical_hyperparameters`, the choice of ``rgflow validate``)
and must be given otherwise; λ_b and λ_W default to C_b and C_W
(:func:`rgflow.defaults.learning_rates`).  Registered by
:func:`rgflow.cli.build_parser` through :func:`add_parsers`.
"""

from __future__ import annotations

import pathlib
import shlex

import numpy as np

from derive.errors import RGFlowError

from ..arguments import activation_of, add_activation_arguments, residual_couplings

__all__ = ["add_parsers"]


def _flow_and_evaluator(args, observables):
    import codegen
    from derive.flow import flow
    from derive.recursions import ORDER2_OBSERVABLES
    act = activation_of(args)
    order = getattr(args, "order", 1)
    if order == 2 and observables == _DEFAULT_OBSERVABLES:
        observables = ORDER2_OBSERVABLES
    f = flow(act, observables, order=order)
    return act, f, codegen.compile(f, command=_command_line(args.command, f, order))


#: The --observables default (the order-1 statistics; --order 2 then means K, V, G1, G2, V1, U).
_DEFAULT_OBSERVABLES = "K,H,V,G1"


def _command_line(subcommand: str, f, order: int = 1) -> str:
    """The command written into a generated header, rebuilt from canonical values only
    (the activation's canonical name, bound values, observables): never the user's text."""
    act = f.activation
    words = ["rgflow", subcommand, shlex.quote(act.name)]
    words += [f"-p {name}={value}" for name, value in act.values]
    words.append(f"--observables {','.join(f.observables)}")
    if order == 2:
        words.append("--order 2")
    return " ".join(words)


def _cmd_compile(args) -> int:
    _, f, ev = _flow_and_evaluator(args, args.observables)
    print(f"activation : {f.activation.name}  sigma(z) = {f.activation.bound_expr}")
    print(f"quantities : {', '.join(f.quantities)}")
    print(f"module     : {ev.origin}")
    print(f"signature  : {ev.signature}")
    print("expectations:")
    methods = getattr(ev.module, "ATOM_METHODS", None)
    if methods is None:   # order 2: every engine atom by quadrature (codegen.order2_runtime)
        methods = {name: "quadrature" for name, _ in ev.module.ATOMS}
    for name, method in sorted(methods.items()):
        print(f"  {name:8s} {method}")
    return 0


def _cmd_residual_flow(args) -> int:
    """``rgflow flow ACT --residual XI,GAMMA``: rgflow.residual's K, H, V (bilinear closure); C_b, C_W
    default to the residual critical point γ²(C_b, C_W) = (1 − ξ²)(C_b*, C_W*)."""
    from ..defaults import DEFAULT_INPUTS, critical_hyperparameters, learning_rates
    from ..residual import residual_flow
    act = activation_of(args)
    xi, gamma = residual_couplings(args.residual)
    if args.graph or args.plot or args.observables != _DEFAULT_OBSERVABLES:
        raise RGFlowError("--residual takes no --graph, --plot or --observables (it computes K, H and V)")
    C_b, C_W = args.C_b, args.C_W
    if C_b is None or C_W is None:
        cb, cw = critical_hyperparameters(act)
        scale = (1 - xi * xi) / (gamma * gamma)
        if scale <= 0:
            raise RGFlowError("no residual critical point for xi >= 1; give --C_b and --C_W")
        C_b = cb * scale if C_b is None else C_b
        C_W = cw * scale if C_W is None else C_W
    X = np.array(DEFAULT_INPUTS) if args.inputs is None else args.inputs
    lambda_b, lambda_W = learning_rates(C_b, C_W, args.lambda_b, args.lambda_W)
    res = residual_flow(act, X, args.depth, xi=xi, gamma=gamma, C_b=C_b, C_W=C_W, lambda_b=lambda_b,
                        lambda_W=lambda_W, vertex=X.shape[0] <= 3)
    n = args.width
    print(f"# {act.name}, residual z' = {xi:g} z + {gamma:g} (b + W sigma(z)): depth {args.depth}, width {n}, "
          f"C_b = {C_b:.6g}, C_W = {C_W:.6g}, N_D = {X.shape[0]} (rgflow.residual, bilinear closure"
          f"{'' if res.V is not None else '; V for N_D <= 3 only'})")
    columns = ["l", "K_11"] + (["K_12"] if X.shape[0] > 1 else []) + ["H_11"]
    columns += ["V/(nK^2)"] if res.V is not None else []
    print("  ".join(f"{c:>13s}" for c in columns))
    for layer in range(args.depth):
        K = res.K[layer]
        row = [f"{layer + 1:13d}", f"{K[0, 0]:13.6e}"] + ([f"{K[0, 1]:13.6e}"] if X.shape[0] > 1 else [])
        row.append(f"{res.H[layer][0, 0]:13.6e}")
        if res.V is not None:
            row.append(f"{res.V[layer][0, 0, 0, 0] / (n * K[0, 0] ** 2):13.6e}")
        print("  ".join(row))
    return 0


def _hyperparameters_and_inputs(args, act):
    """(C_b, C_W, X): the given values, else the activation's critical point
    (:func:`rgflow.defaults.critical_hyperparameters`), and the inputs (read and checked by the
    preflight), else :data:`rgflow.defaults.DEFAULT_INPUTS`."""
    from ..defaults import DEFAULT_INPUTS, hyperparameters
    C_b, C_W = hyperparameters(act, args.C_b, args.C_W)
    return C_b, C_W, np.array(DEFAULT_INPUTS) if args.inputs is None else args.inputs


def _cmd_flow(args) -> int:
    from ..defaults import learning_rates
    if args.residual is not None:
        if args.order != 1:
            raise RGFlowError("--residual is derived at order 1/n; it takes no --order 2")
        return _cmd_residual_flow(args)
    if args.order == 2:
        return _cmd_order2_flow(args)
    act, f, ev = _flow_and_evaluator(args, args.observables)
    C_b, C_W, X = _hyperparameters_and_inputs(args, act)
    lambda_b, lambda_W = learning_rates(C_b, C_W, args.lambda_b, args.lambda_W)
    res = ev.run(X, depth=args.depth, width=args.width, C_b=C_b, C_W=C_W, lambda_b=lambda_b, lambda_W=lambda_W)
    n = args.width
    print(f"# {act.name}: depth {args.depth}, width {n}, C_b = {C_b:.6g}, C_W = {C_W:.6g}, "
          f"N_D = {X.shape[0]} ({ev.origin})")
    columns = ["l", "K_11"] + (["K_12"] if X.shape[0] > 1 else [])
    columns += [c for q, c in (("H", "H_11"), ("V", "V/(nK^2)"), ("G1", "G1_11/n")) if q in f.quantities]
    print("  ".join(f"{c:>13s}" for c in columns))
    ratio = res.vertex_ratio() if res.V is not None else None
    for layer in res.K.layers:
        K = res.K[layer]
        row = [f"{layer:13d}", f"{K[0, 0]:13.6e}"] + ([f"{K[0, 1]:13.6e}"] if X.shape[0] > 1 else [])
        if res.H is not None:
            row.append(f"{res.H[layer][0, 0]:13.6e}")
        if ratio is not None:
            row.append(f"{0.0 if layer == 1 else ratio[layer - 1, 0] * 1.0:13.6e}")
        if res.G1 is not None:
            row.append(f"{res.G1[layer][0, 0] / n:13.6e}")
        print("  ".join(row))
    if args.graph:
        f.write_graphml(args.graph)
        print(f"dependency graph written to {args.graph}")
    if args.plot:
        _plot(res, act.name, n, args.plot)
        print(f"plot written to {args.plot}")
    return 0


def _cmd_order2_flow(args) -> int:
    """``rgflow flow ACT --order 2``: K and the 1/n, 1/n² corrections of the first input per layer —
    the metric K + G1/n + G2/n², the four-point vertex at order 1 (V) and 2 (V + V1/n) over nK², and
    the six-point vertex U/(n²K³)."""
    if args.plot or args.lambda_b is not None or args.lambda_W is not None:
        raise RGFlowError("--order 2 computes the preactivation statistics; it takes no --plot, --lambda_b or --lambda_W")
    act, f, ev = _flow_and_evaluator(args, args.observables)
    C_b, C_W, X = _hyperparameters_and_inputs(args, act)
    res = ev.run(X, depth=args.depth, width=args.width, C_b=C_b, C_W=C_W)
    n = args.width
    print(f"# {act.name} at order 1/n^2: depth {args.depth}, width {n}, C_b = {C_b:.6g}, C_W = {C_W:.6g}, "
          f"N_D = {X.shape[0]} ({ev.origin})")
    columns = ["l", "K_11"] + (["K_12"] if X.shape[0] > 1 else [])
    wanted = (("G2", "E[zz]_11"), ("V", "V/(nK^2)"), ("V1", "(V+V1/n)/(nK^2)"), ("U", "U/(n^2K^3)"))
    columns += [c for q, c in wanted if q in f.quantities]
    print("  ".join(f"{c:>15s}" for c in columns))
    for layer in res.K.layers:
        K = res.K[layer]
        k11 = K[0, 0]
        row = [f"{layer:15d}", f"{k11:15.6e}"] + ([f"{K[0, 1]:15.6e}"] if X.shape[0] > 1 else [])
        if "G2" in f.quantities:
            row.append(f"{k11 + res.G1[layer][0, 0] / n + res.G2[layer][0, 0] / n**2:15.6e}")
        if "V" in f.quantities:
            row.append(f"{res.V[layer][0, 0, 0, 0] / (n * k11**2):15.6e}")
        if "V1" in f.quantities:
            row.append(f"{(res.V[layer][0, 0, 0, 0] + res.V1[layer][0, 0, 0, 0] / n) / (n * k11**2):15.6e}")
        if "U" in f.quantities:
            row.append(f"{res.U[layer][(0,) * 6] / (n**2 * k11**3):15.6e}")
        print("  ".join(row))
    if args.graph:
        f.write_graphml(args.graph)
        print(f"dependency graph written to {args.graph}")
    return 0


def _plot(res, name: str, width: int, path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    layers = np.array(list(res.K.layers))
    K = np.asarray(res.K)[:, 0, 0]
    panels = 2 if res.V is not None else 1
    fig, axes = plt.subplots(1, panels, figsize=(5.2 * panels, 3.8), squeeze=False)
    ax = axes[0, 0]
    ax.plot(layers, K, "o-", ms=3)
    ax.set_xlabel(r"layer $\ell$")
    ax.set_ylabel(r"$K^{(\ell)}$")
    ax.set_title(f"{name}: kernel")
    if res.V is not None:
        ax = axes[0, 1]
        ax.plot(layers / width, res.vertex_ratio()[:, 0] * 1.0, "o-", ms=3, label=f"n = {width}")
        ax.set_xlabel(r"$\ell / n$")
        ax.set_ylabel(r"$V^{(\ell)} / (n K^{(\ell)2})$")
        ax.set_title(f"{name}: four-point vertex")
        ax.legend()
    fig.tight_layout()
    pathlib.Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def add_parsers(sub) -> None:
    """Register ``flow`` and ``compile`` on the ``rgflow`` subparsers ``sub``."""
    def with_activation(p):
        add_activation_arguments(p)
        p.add_argument("--observables", default=_DEFAULT_OBSERVABLES,
                       help="comma-separated observables (default: K,H,V,G1; with --order 2: K,V,G1,G2,V1,U)")
        p.add_argument("--order", type=int, choices=(1, 2), default=1,
                       help="power of 1/n: 2 adds the metric G2, the vertex correction V1 and the six-point "
                            "vertex U (at most three distinct inputs; two for an activation kinked at 0)")
        return p

    p = with_activation(sub.add_parser("compile", help="generate (or find) the numba evaluator of a flow"))
    p.set_defaults(func=_cmd_compile)
    p = with_activation(sub.add_parser("flow", help="evaluate the recursions layer by layer"))
    p.add_argument("--depth", type=int, required=True, help="number of layers L")
    p.add_argument("--width", type=int, required=True, help="hidden width n (all layers)")
    p.add_argument("--inputs", help="inputs as a .npy array of shape (N_D, n_0), e.g. written by "
                   "numpy.save('x.npy', X) (default: two fixed inputs, |x|^2/n_0 = 1, overlap 0.8)")
    p.add_argument("--C_b", type=float, help="bias variance (default: the critical point)")
    p.add_argument("--C_W", type=float, help="weight variance (default: the critical point)")
    p.add_argument("--lambda_b", type=float, help="NTK bias learning rate (default: C_b)")
    p.add_argument("--lambda_W", type=float, help="NTK weight learning rate (default: C_W)")
    p.add_argument("--plot", help="save K and V/(nK^2) versus depth to this PNG")
    p.add_argument("--graph", help="export the dependency graph as GraphML")
    p.add_argument("--residual", metavar="XI,GAMMA",
                   help="the residual MLP z' = xi z + gamma (b + W sigma(z)) (rgflow.residual; K, H, V)")
    p.set_defaults(func=_cmd_flow)
