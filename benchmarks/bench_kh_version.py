"""K+H at N_D = 3000, L = 10 (keep="last") with whichever rgflow is first on sys.path.

Run it alternately against two checkouts to compare versions of the generator in one
session (benchmarks/RESULTS.md, "Recursion IR"):

    PYTHONPATH=/path/to/old python benchmarks/bench_kh_version.py relu
    python benchmarks/bench_kh_version.py relu

Prints the median of ``--repeats`` timed runs after one untimed (compiling) run.
"""

import argparse
import statistics
import time

import numpy as np

import codegen
from derive.flow import flow

HYPER = {"relu": (0.0, 2.0), "erf": (0.0, 1.0)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("activation", choices=sorted(HYPER))
    ap.add_argument("--n", type=int, default=3000)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    C_b, C_W = HYPER[args.activation]
    X = np.random.default_rng(0).normal(size=(args.n, 32))
    ev = codegen.compile(flow(args.activation, ("K", "H")))
    ev.run(X, depth=10, C_b=C_b, C_W=C_W, keep="last")
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        ev.run(X, depth=10, C_b=C_b, C_W=C_W, keep="last")
        times.append(time.perf_counter() - t0)
    print(f"{args.activation} N_D={args.n} L=10 K+H keep=last: median {statistics.median(times):.4f} s "
          f"(min {min(times):.4f}, max {max(times):.4f}) [{codegen.__file__}]")


if __name__ == "__main__":
    main()
