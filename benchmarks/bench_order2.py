"""Speed of the compiled order-1/n² evaluator against the plain-numpy evaluation of the same rules.

    python benchmarks/bench_order2.py [--depth 6] [--repeat 3]

For tanh, GELU and ReLU with two distinct inputs, times ``codegen.compile(flow(act, order=2)).run``
(warm: numba compiled and cached beforehand; the first-use compile is reported separately) and
:func:`rgflow.order2_reference.order2_flow` on the same kernel, in this process, and prints the
median times and their ratio, with the largest relative difference of their numbers.  Run from the
repository root.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchtools import median_time  # noqa: E402
import codegen  # noqa: E402
from derive.flow import flow  # noqa: E402
from rgflow.order2_reference import order2_flow  # noqa: E402

CASES = [("tanh", 0.0, 1.0), ("gelu", 0.172922, 1.983058), ("relu", 0.0, 2.0)]



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depth", type=int, default=6)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    X = np.array([[1.0, 0.3], [0.2, 1.1]])
    print("| activation | first use (generate + compile) | compiled run | reference | ratio | max rel. diff |")
    print("|---|---|---|---|---|---|")
    for name, C_b, C_W in CASES:
        t0 = time.perf_counter()
        ev = codegen.compile(flow(name, order=2))
        ev.run(X, depth=2, C_b=C_b, C_W=C_W, progress=False)
        first = time.perf_counter() - t0
        t_c, res = median_time(lambda: ev.run(X, depth=args.depth, C_b=C_b, C_W=C_W, progress=False), args.repeat)
        K1 = C_b + C_W * X @ X.T / X.shape[1]
        t_r, ref = median_time(lambda: order2_flow(name, K1, args.depth, C_b, C_W), args.repeat)
        diff = max(float(np.max(np.abs(np.asarray(getattr(res, q)) - ref[q]))) / (float(np.abs(ref[q]).max()) or 1.0)
                   for q in ref)
        print(f"| {name} | {first:.1f} s | {t_c:.3f} s | {t_r:.2f} s | {t_r / t_c:.0f}x | {diff:.1e} |", flush=True)


if __name__ == "__main__":
    main()
