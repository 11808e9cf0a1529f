"""Serial vs parallel kernels by problem size: where the crossover lies (issue #14).

    python benchmarks/bench_threads.py [--kinds closed,numeric,vertex-numeric,vertex-closed] [--sizes 64,128] [--repeats 5]

Run from the repository root.  For each kind of module (the classes of
``codegen.runtime.PARALLEL_FROM``: ``closed`` = relu K+H, ``numeric`` = tanh K+H,
``vertex-numeric`` = tanh K+H+V+G1, ``vertex-closed`` = linear K+H+V+G1) and each N_D, the same
``ev.run(X, depth=L, keep="last")`` is timed with numba's threads set to 1 and to all
cores (``NUMBA_NUM_THREADS``, default every core), interleaved, after a warm-up call;
medians of ``--repeats``.  ``serial/parallel`` > 1 means the parallel kernels win.
Results are identical either way (``tests/codegen/test_first_use.py``).  The 1-minute load
average is printed per row: on a busy machine a parallel launch waits for a core, so
the crossover moves up.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

KINDS = {
    "closed": ("relu", ("K", "H"), 50, (2, 8, 32, 64, 128, 256, 384, 512, 1024)),
    "numeric": ("tanh", ("K", "H"), 10, (2, 4, 8, 16, 24, 32, 64, 128, 300)),
    "vertex-numeric": ("tanh", ("K", "H", "V", "G1"), 3, (1, 2, 3, 4, 6, 8)),
    "vertex-closed": ("linear", ("K", "H", "V", "G1"), 10, (2, 4, 8, 12, 16, 24, 32)),
}


def main(argv=None):
    import numba

    import codegen
    from codegen import runtime
    from derive.flow import flow
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kinds", default=",".join(KINDS))
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--sizes", default=None, help="comma-separated N_D (default: per kind)")
    args = ap.parse_args(argv)
    cores = numba.get_num_threads()
    print(f"numba {numba.__version__}, threading layer after first run below, {cores} threads")
    for kind in args.kinds.split(","):
        name, obs, depth, sizes = KINDS[kind]
        if args.sizes:
            sizes = tuple(int(x) for x in args.sizes.split(","))
        ev = codegen.compile(flow(name, obs))
        assert runtime.kind(ev.module) == kind, (kind, runtime.kind(ev.module))
        print(f"\n{kind}: {name} {'+'.join(obs)}, depth {depth}, keep='last'")
        print("| N_D | load | 1 thread ms/layer | parallel ms/layer | serial/parallel |")
        print("|---|---|---|---|---|")
        for n in sizes:
            X = np.random.default_rng(0).standard_normal((n, 8))
            times = {1: [], cores: []}
            for k in (1, cores):   # warm-up
                runtime.PARALLEL_FROM = dict.fromkeys(runtime.PARALLEL_FROM, 10**9 if k == 1 else 0)
                ev.run(X, depth=depth, C_b=0.1, C_W=1.0, keep="last", progress=False)
            for _ in range(args.repeats):
                for k in (1, cores):
                    runtime.PARALLEL_FROM = dict.fromkeys(runtime.PARALLEL_FROM, 10**9 if k == 1 else 0)
                    t = time.perf_counter()
                    ev.run(X, depth=depth, C_b=0.1, C_W=1.0, keep="last", progress=False)
                    times[k].append((time.perf_counter() - t) / depth * 1e3)
            s, p = statistics.median(times[1]), statistics.median(times[cores])
            print(f"| {n} | {os.getloadavg()[0]:.1f} | {s:.3g} | {p:.3g} | {s / p:.2f} |", flush=True)
    print(f"\nthreading layer: {numba.threading_layer()}")


if __name__ == "__main__":
    main()
