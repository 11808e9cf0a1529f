"""Cost of the order-1/n NTK family against V alone (issue #13 target: full family for
N_D = 16, L = 32 costs at most 3x V alone).

    python benchmarks/bench_ntk_family.py [--n-inputs 16] [--depth 32] [--repeats 3]
                                          [--split] [--orbits-only]

In one process: compiles (a) ``flow("tanh", ("K", "V"))`` and (b)
``flow("tanh", ("K", "H", "A", "B", "D", "F", "H1", "P", "Q"))``, makes one warm-up
``ev.run`` of each (numba compilation or cache load; not timed), then times
``ev.run`` for (a) and (b) interleaved, ``--repeats`` times each, on N_D random
inputs (n0 = 4, seed 0), tanh at C_b = 0, C_W = 1, lambda_b = 0.5, lambda_W = 1,
equal widths n = 128 (only width ratios enter).  Prints the medians and (b)/(a).

``--split`` also times intermediate observable sets (K,H ; K,H,A,B ; K,H,A,B,D,F)
to show where the time goes.  Printed first: the orbits of quadruples (a1..a4) in
{0..N_D-1}^4 under each four-sample atom's slot symmetry (the entries that are distinct
integrals) and under each rank-4 state's symmetry (the entries updated per layer), and
per shape of a sorted quadruple the number of integrands accumulated on its shared
nodes (``codegen.lower.QuadShape.signatures``): every four-sample atom of a layer is
integrated in one pass per sorted quadruple (N_D(N_D+1)(N_D+2)(N_D+3)/24 of them).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

import codegen
from codegen import runtime
from codegen.lower import lower
from derive import flow

V_ONLY = ("K", "V")
FULL = ("K", "H", "A", "B", "D", "F", "H1", "P", "Q")
SPLIT = (("K", "H"), ("K", "H", "A", "B"), ("K", "H", "A", "B", "D", "F"))
PARAMS = dict(C_b=0.0, C_W=1.0, lambda_b=0.5, lambda_W=1.0)


def orbit_count(n: int, group) -> int:
    """Number of orbits of {0..n-1}^4 under the index permutations ``group`` (Burnside)."""
    total = 0
    for g in group:
        # a quadruple is fixed by g iff it is constant on each cycle of g
        seen, cycles = set(), 0
        for start in range(4):
            if start in seen:
                continue
            cycles += 1
            k = start
            while k not in seen:
                seen.add(k)
                k = g[k]
        total += n**cycles
    assert total % len(group) == 0
    return total // len(group)


def print_orbits(n: int) -> None:
    print(f"orbits of quadruples for N_D = {n} (N_D^4 = {n**4}):")
    print("| flow | kind | name | symmetry group order | orbits |")
    print("|---|---|---|---|---|")
    for label, obs in (("K,V", V_ONLY), ("full", FULL)):
        plan = lower(flow("tanh", obs))
        for q in plan.quads:
            print(f"| {label} | atom | {q.name} | {len(q.group)} | {orbit_count(n, q.group)} |")
        for s in plan.states:
            if s.rank == 4:
                print(f"| {label} | state | {s.name} | {len(s.group)} | {orbit_count(n, s.group)} |")
        shapes = ", ".join(f"{''.join('abcd'[v] for v in sh.rgs)}: {len(sh.signatures)}" for sh in plan.shapes)
        print(f"| {label} | integrands per sorted quadruple, by shape | {shapes} | | |")
    print()


def timed(ev, X, depth) -> float:
    start = time.perf_counter()
    ev.run(X, depth=depth, width=128, progress=False, **PARAMS)
    return time.perf_counter() - start


def main(argv=None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n-inputs", type=int, default=16)
    parser.add_argument("--depth", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--split", action="store_true")
    parser.add_argument("--orbits-only", action="store_true")
    args = parser.parse_args(argv)

    print_orbits(args.n_inputs)
    if args.orbits_only:
        return
    X = np.random.default_rng(0).standard_normal((args.n_inputs, 4))
    sets = [("K,V", V_ONLY), ("full", FULL)]
    if args.split:
        sets += [(",".join(s), s) for s in SPLIT]
    evs = {}
    for label, obs in sets:
        start = time.perf_counter()
        evs[label] = codegen.compile(flow("tanh", obs))
        compiled = time.perf_counter() - start
        warm = timed(evs[label], X, 2)   # numba compile / cache load (same N_D: same serial/parallel path), not timed
        print(f"{label}: flow+compile {compiled:.2f} s, warm-up run {warm:.2f} s", flush=True)
    times = {label: [] for label, _ in sets}
    for r in range(args.repeats):
        for label, _ in sets:
            times[label].append(timed(evs[label], X, args.depth))
            print(f"  repeat {r}: {label} {times[label][-1]:.3f} s  (load {os.getloadavg()[0]:.2f})",
                  flush=True)
    base = statistics.median(times["K,V"])
    print(f"\nN_D = {args.n_inputs}, L = {args.depth}, repeats = {args.repeats}, "
          f"numba threads = {runtime.available_threads()}")
    print("| observables | median s | min s | max s | per layer s | ratio to K,V |")
    print("|---|---|---|---|---|---|")
    for label, _ in sets:
        t = times[label]
        med = statistics.median(t)
        print(f"| {label} | {med:.3f} | {min(t):.3f} | {max(t):.3f} | {med / args.depth:.4f} | "
              f"{med / base:.2f} |")


if __name__ == "__main__":
    main()
