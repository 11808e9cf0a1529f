"""The order-1/n² statistics against real networks over widths (issue #11; docs/derivation.md).

    python benchmarks/validation_order2.py [--networks 40000] [--depth 6] [--widths 16 32 64 128]
    python benchmarks/validation_order2.py --inputs 2 [--networks 40000] [--widths 32 64]

For ReLU (C_W = 2, K = 2), GELU (its half-stable critical point C_b = 0.172922, C_W = 1.983058,
K = K* = 3.561553) and tanh (C_W = 1, K^{(1)} = 1), one input, samples real networks at each width
(rgflow.metric_cumulants) and prints, at every layer, the connected four-point function of
distinct neurons n·κ(Ĝ, Ĝ) ± se against the order-1 theory V and the order-2 theory V + V1/n,
the relative gaps, and the residual after order 2 scaled by n² (n³ κ − n² V − n V1): constant
across widths if the residual is O(1/n³).  Also the six-point function n² κ3 against U.
With ``--inputs 2`` (default GELU, SWISH, tanh; ``--only relu`` too: rgflow.order2_reference
integrates kinked atoms by parts) two inputs of correlation 0.5 at layer 1, and the entries
V_(00)(00), V_(00)(11), V_(01)(01) of the four-point function at the last layer.
Run from the repository root; prints a Markdown table.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from derive.engine.single_input import single_input_flow  # noqa: E402
from rgflow.metric_cumulants import sample  # noqa: E402

CASES = {"relu": (2.0, 0.0, 2.0), "gelu": (3.561553, 0.172922, 1.983058), "tanh": (1.0, 0.0, 1.0),
         "swish": (14.320174, 0.555143, 1.988005)}
TWO_INPUTS = ("gelu", "swish", "tanh")


def two_inputs(args) -> None:
    from rgflow.order2_reference import order2_flow
    L = args.depth - 1
    for name in args.only:
        K, Cb, CW = CASES[name]
        K1 = np.array([[K, 0.5 * K], [0.5 * K, K]])
        th = order2_flow(name, K1, args.depth, Cb, CW)
        print(f"\n### {name}, two inputs (K^(1) = {K}·[[1, .5], [.5, 1]], C_b = {Cb}, C_W = {CW}), layer "
              f"{args.depth}, {args.networks} networks per width\n")
        print("| entry | n | MC n·κ4 ± se | V (order 1) | V + V1/n (order 2) | gap order 1 | gap order 2 |")
        print("|---|---|---|---|---|---|---|")
        for n in args.widths:
            mc = sample(name, K1, args.depth, n, C_b=Cb, C_W=CW, networks=args.networks, seed=7, progress=False)
            for idx in ((0, 0, 0, 0), (0, 0, 1, 1), (0, 1, 0, 1)):
                four, se = n * mc.four[(L,) + idx], n * mc.four_se[(L,) + idx]
                o1 = th["V"][(L,) + idx]
                o2 = o1 + th["V1"][(L,) + idx] / n
                print(f"| {idx} | {n} | {four:.5g} ± {se:.2g} | {o1:.5g} | {o2:.5g} | {(o1 - four) / four:+.1%} "
                      f"| {(o2 - four) / four:+.1%} |")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--networks", type=int, default=40_000)
    parser.add_argument("--depth", type=int, default=6)
    parser.add_argument("--widths", type=int, nargs="+", default=[16, 32, 64, 128])
    parser.add_argument("--only", nargs="*")
    parser.add_argument("--inputs", type=int, choices=(1, 2), default=1)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    if args.inputs == 2:
        args.only = args.only or list(TWO_INPUTS)
        two_inputs(args)
        print(f"\n({time.perf_counter() - start:.0f} s)")
        return
    args.only = args.only or ["relu", "gelu", "tanh"]
    for name in args.only:
        K1, Cb, CW = CASES[name]
        th = single_input_flow(name, args.depth, K1, Cb, CW)
        print(f"\n### {name} (C_b = {Cb}, C_W = {CW}, K^(1) = {K1}), {args.networks} networks per width\n")
        print("| l | n | MC n·κ4 ± se | V (order 1) | V + V1/n (order 2) | gap order 1 | gap order 2 "
              "| n²·(MC − order 2) ± se | MC n²·κ6 ± se | U |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        runs = {n: sample(name, K1, args.depth, n, C_b=Cb, C_W=CW, networks=args.networks, seed=7,
                          progress=False) for n in args.widths}
        for l in range(2, args.depth):
            for n in args.widths:
                mc = runs[n]
                four, se = n * mc.four[l, 0, 0, 0, 0], n * mc.four_se[l, 0, 0, 0, 0]
                six, se6 = n**2 * mc.six[l].ravel()[0], n**2 * mc.six_se[l].ravel()[0]
                o1, o2 = th["V"][l], th["V"][l] + th["V1"][l] / n
                res, res_se = n**2 * (four - o2), n**2 * se
                print(f"| {l + 1} | {n} | {four:.5g} ± {se:.2g} | {o1:.5g} | {o2:.5g} | {(o1 - four) / four:+.1%} "
                      f"| {(o2 - four) / four:+.1%} | {res:.4g} ± {res_se:.2g} | {six:.4g} ± {se6:.2g} "
                      f"| {th['U'][l]:.4g} |")
    print(f"\n({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
