"""Residual MLPs: the four-point function of real residual networks against the closures (issue #11).

    python benchmarks/validation_residual.py [--depth 8] [--widths 32 64 128] [--networks 60000 24000 8000]
    python benchmarks/validation_residual.py --inputs 2 [--only tanh relu]

Samples z' = ξz + γ(b + Wσ(z)) at criticality (γ² C_W = (1 − ξ²) C_W*, γ² = 1 − ξ², K^{(1)} = C_W* for
ReLU, 1 for tanh and linear) with rgflow.montecarlo and prints, per layer, n·Cov(z_i², z_k²) ± se at
each width, the weighted least-squares extrapolation T + c/n + d/n² (T + c/n for two widths) with its
standard error, and the order-1/n theory of the bilinear-form closure (rgflow.residual) and of the
V-only closure, with z = (T − theory)/se.  Cases: ReLU at ξ² = 0.5, 0.7, 0.9, tanh at ξ² = 0.7,
linear at ξ² = 0.7 (exact).  ``--inputs 2``: two inputs of correlation 0.5, entries (00)(00),
(00)(11), (01)(01) at the last layer.  Run from the repository root; prints a Markdown table.
"""

from __future__ import annotations

import argparse
import math
import pathlib
import sys
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from derive.activations import activation  # noqa: E402
from rgflow.montecarlo import sample  # noqa: E402
from rgflow.residual import residual_flow  # noqa: E402

#: name → (activation, ξ², C_W* of the MLP, K^{(1)})
CASES = {"relu-0.5": ("relu", 0.5, 2.0, 2.0), "relu-0.7": ("relu", 0.7, 2.0, 2.0),
         "relu-0.9": ("relu", 0.9, 2.0, 2.0), "tanh-0.7": ("tanh", 0.7, 1.0, 1.0),
         "linear-0.7": ("linear", 0.7, 1.0, 1.0)}


def extrapolate(widths, est, se):
    """Weighted least squares of est ≈ T + c/n (+ d/n² with three or more widths): (T, se of T)."""
    n = np.asarray(widths, dtype=float)
    cols = [np.ones_like(n), 1 / n] + ([1 / n**2] if len(n) >= 3 else [])
    A = np.stack(cols, axis=1) / np.asarray(se)[:, None]
    b = np.asarray(est) / np.asarray(se)
    coef = np.linalg.lstsq(A, b, rcond=None)[0]
    cov = np.linalg.inv(A.T @ A)
    return coef[0], math.sqrt(cov[0, 0])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--depth", type=int, default=8)
    parser.add_argument("--widths", type=int, nargs="+", default=[32, 64, 128])
    parser.add_argument("--networks", type=int, nargs="+", default=[60000, 24000, 8000])
    parser.add_argument("--inputs", type=int, choices=(1, 2), default=1)
    parser.add_argument("--only", nargs="+", default=None)
    args = parser.parse_args(argv)
    if len(args.networks) != len(args.widths):
        parser.error("give one --networks per width")
    names = args.only or (list(CASES) if args.inputs == 1 else ["tanh-0.7", "relu-0.7"])
    entries = [(0, 0, 0, 0)] if args.inputs == 1 else [(0, 0, 0, 0), (0, 0, 1, 1), (0, 1, 0, 1)]
    for name in names:
        act_name, xi2, cw_star, K1 = CASES[name]
        xi, gamma = math.sqrt(xi2), math.sqrt(1 - xi2)
        X = np.array([[1.0]]) * math.sqrt(K1 / cw_star) if args.inputs == 1 else \
            math.sqrt(K1 / cw_star) * np.array([[1.0, 0.0], [0.5, math.sqrt(0.75)]])
        kw = dict(xi=xi, gamma=gamma, C_W=cw_star)
        full = residual_flow(act_name, X, args.depth, closure="bilinear", **kw).V
        naive = residual_flow(act_name, X, args.depth, closure="naive", **kw).V
        act = activation(act_name)
        t0 = time.perf_counter()
        runs = [sample(act, X, args.depth, n, networks=M, seed=17, **kw) for n, M in zip(args.widths, args.networks)]
        seconds = time.perf_counter() - t0
        print(f"\n### {name}: xi^2 = {xi2}, gamma^2 C_W = {(1 - xi2) * cw_star:g}, K^(1) = {K1}, "
              f"{args.inputs} input(s), networks {args.networks} ({seconds:.0f} s)\n")
        head = " | ".join(f"n={n}: n·Cov ± se" for n in args.widths)
        print(f"| l | entry | {head} | fit T ± se | V bilinear | z | V-only | z |")
        print("|---" * (len(args.widths) + 7) + "|")
        for layer in range(2, args.depth + 1):
            for idx in entries:
                est = [n * r.vertex[(layer - 1,) + idx] for n, r in zip(args.widths, runs)]
                se = [n * r.vertex_se[(layer - 1,) + idx] for n, r in zip(args.widths, runs)]
                T, sT = extrapolate(args.widths, est, se)
                vf, vn = full[(layer - 1,) + idx], naive[(layer - 1,) + idx]
                cells = " | ".join(f"{e:.4g} ± {s:.2g}" for e, s in zip(est, se))
                print(f"| {layer} | {idx} | {cells} | {T:.4g} ± {sT:.2g} | {vf:.4g} | {(T - vf) / sT:+.1f} | "
                      f"{vn:.4g} | {(T - vn) / sT:+.1f} |")


if __name__ == "__main__":
    main()
