"""A custom activation end to end: classify, compile its recursions, check them on real networks.

    python examples/03_custom_activation.py [--out out/03_custom_activation.png] [--fast]
                                            [--expression "z*erf(z) + 0.5*z"]

σ(z) = z·erf(z) + z/2 is not in the registry.  rgflow finds its critical point (C_b, C_W)
— a half-stable one with K* ≈ 1.78, reached from above — generates and compiles the
N_D-input recursions for K, G1, V, H, and compares them with sampled networks of width
n at that critical point (two inputs starting above K*): the per-layer z-score table, and
the book-style figure V/(nK²) versus ℓ/n and K^{(ℓ)} versus ℓ.  --fast: fewer networks
and layers (the first run also compiles the evaluator with numba, ~15 s once).
"""

from __future__ import annotations

import argparse
import pathlib
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import codegen  # noqa: E402
from derive import activation, classify  # noqa: E402
from derive.flow import flow  # noqa: E402
from rgflow.defaults import critical_hyperparameters  # noqa: E402
from rgflow.validate import COMPLETE, validate  # noqa: E402
from rgflow.validation_plot import draw_reports  # noqa: E402


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("out/03_custom_activation.png"))
    parser.add_argument("--fast", action="store_true", help="fewer networks and layers (used by the tests)")
    parser.add_argument("--expression", default="z*erf(z) + 0.5*z")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    act = activation(args.expression)
    rep = classify(act)
    print(rep)
    C_b, C_W = critical_hyperparameters(act)
    print(f"\nusing the critical point C_b = {C_b:.6g}, C_W = {C_W:.6g}")
    ev = codegen.compile(flow(act))
    print(f"evaluator: {ev} ({time.perf_counter() - t0:.1f} s so far)")
    # inputs with K^{(1)} = C_b + C_W |x|²/n_0 = 3 and 2.6: above K*, the attracted side
    X = np.array([[1.0, 1.0], [1.2, 0.6]]) * np.sqrt((3.0 - C_b) / C_W)
    widths = (64,) if args.fast else (32, 64, 128)
    networks = 300 if args.fast else 1000
    reports = []
    for i, n in enumerate(widths):
        depth = 6 if args.fast else max(6, n // 8)
        r = validate(act, X, depth=depth, width=n, C_b=C_b, C_W=C_W, networks=networks, seed=30 + i,
                     ntk=False, evaluator=ev)
        reports.append(r)
        print()
        print(r.to_text() if n == widths[-1] else r.summary(COMPLETE))
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    draw_reports(axes[0], axes[1], reports)
    axes[0].set_title(f"σ(z) = {args.expression}: four-point vertex")
    axes[1].set_title(f"kernel at C_b = {C_b:.4g}, C_W = {C_W:.4g}")
    K_star = [p.K_star for p in rep.critical_points if float(p.C_W) == C_W]
    if K_star and K_star[0].is_number:
        axes[1].axhline(float(K_star[0]), color="grey", ls=":", lw=1, label="K*")
        axes[1].legend(fontsize=7)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=120)
    print(f"\nsaved {args.out} ({time.perf_counter() - t0:.1f} s)")


if __name__ == "__main__":
    main()
