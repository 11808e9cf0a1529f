"""The four-point family at training-set size (issue #12 item 4): V for N_D = 64, L = 10.

    python benchmarks/bench_vertex_scale.py [--n-inputs 64] [--depth 10]
                                            [--compare-inputs 16] [--accuracy 8]

In one process:

1. times ``codegen.compile(flow("tanh", ("K", "V"))).run(X, depth, C_b=0, C_W=1)`` with
   ``X = default_rng(0).standard_normal((N_D, 32))`` (after an untimed warm-up run at
   N_D = 6 that compiles or loads the kernels) and prints the wall time and the cost per
   sorted four-point multiset per layer: layers 2..L integrate the four-point function of
   layers 1..L-1, C(N_D + 3, 4) sorted multisets each;
2. with ``--compare-inputs n`` (0: skip): renders the same flow with the block Hermite
   series switched off (``codegen.render.BLOCK_SERIES = False``: the nested trapezoid rule
   ``_shared_nested`` alone, the previous algorithm) into a temporary directory, and times
   the previous and the current ``_quad`` interleaved on the kernels K^(1..L-1) of the
   first n inputs, per layer (the speed-up per multiset), with the largest difference of
   the two rules relative to E|z|^4-like scale (sqrt(2 K_aa / pi) per sample);
3. with ``--accuracy k`` (0: skip): k random sorted multisets per layer (1, 2, L/2, L-1) of
   the N_D-input kernels, against tensor Gauss-Hermite of degrees 48 and 56 (independent of
   both rules), error relative to E|prod tanh| where the two degrees agree to 1e-10.

Timings on a shared machine vary; the comparison (2) is interleaved so ratios are less
affected than absolute times.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import os
import tempfile
import time

import numpy as np

import codegen
from codegen import render, runtime
from codegen.lower import lower
from derive import flow
from rgflow.reference import expect_tensor

OBS = ("K", "V")
PARAMS = dict(C_b=0.0, C_W=1.0)


def multisets(n: int) -> int:
    return math.comb(n + 3, 4)


def previous_module():
    """The flow's module rendered without the block Hermite series (the previous algorithm)."""
    saved = render.BLOCK_SERIES
    render.BLOCK_SERIES = False
    try:
        text = render.render_module(lower(flow("tanh", OBS)))
    finally:
        render.BLOCK_SERIES = saved
    path = os.path.join(tempfile.mkdtemp(prefix="rgflow_prev_"), "flow_tanh_kv_previous.py")
    with open(path, "w") as fh:
        fh.write(text)
    spec = importlib.util.spec_from_file_location("flow_tanh_kv_previous", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv=None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n-inputs", type=int, default=64)
    parser.add_argument("--depth", type=int, default=10)
    parser.add_argument("--compare-inputs", type=int, default=16)
    parser.add_argument("--accuracy", type=int, default=8)
    args = parser.parse_args(argv)
    X = np.random.default_rng(0).standard_normal((args.n_inputs, 32))

    ev = codegen.compile(flow("tanh", OBS))
    start = time.perf_counter()
    ev.run(X[:6], depth=2, **PARAMS)
    print(f"warm-up (compile or cache load, N_D = 6): {time.perf_counter() - start:.1f} s", flush=True)

    if args.n_inputs > 0:
        start = time.perf_counter()
        res = ev.run(X, depth=args.depth, **PARAMS)
        wall = time.perf_counter() - start
        count = multisets(args.n_inputs) * (args.depth - 1)
        print(f"N_D = {args.n_inputs}, L = {args.depth}: V run {wall:.1f} s wall "
              f"({runtime.available_threads()} numba threads, load {os.getloadavg()[0]:.2f}); "
              f"{count} multiset-layers, {wall / count * 1e6:.1f} us per multiset per layer", flush=True)

    module = ev.module
    flags = np.zeros(4, dtype=np.int64)
    if args.compare_inputs > 0:
        prev = previous_module()
        n = args.compare_inputs
        small = codegen.compile(flow("tanh", ("K", "H"))).run(X[:n], depth=args.depth, **PARAMS)
        ms = module._multisets(np.int64(n))
        warm = np.ascontiguousarray(small.K[1][:5, :5])
        for mod in (prev, module):
            mod._quad(warm, flags, mod._multisets(np.int64(5)))
        print(f"\nprevious vs current _quad, N_D = {n} ({len(ms)} multisets), interleaved:")
        print("| layer | K_aa range | previous us/multiset | current us/multiset | speed-up | max |diff| / E|prod| |")
        print("|---|---|---|---|---|---|")
        tp = tc = 0.0
        for layer in range(1, args.depth):
            K = np.ascontiguousarray(small.K[layer])
            t0 = time.perf_counter()
            Qp = prev._quad(K, flags, ms)[0]
            t1 = time.perf_counter()
            Qc = module._quad(K, flags, ms)[0]
            t2 = time.perf_counter()
            tp += t1 - t0
            tc += t2 - t1
            d = np.sqrt(2 / np.pi * np.diag(K))   # E|z| for small K: a scale of E|tanh z|
            scale = np.einsum("i,j,k,l->ijkl", d, d, d, d)
            diff = np.max(np.abs(Qp - Qc) / scale)
            print(f"| {layer} | {K.diagonal().min():.3f}-{K.diagonal().max():.3f} | "
                  f"{(t1 - t0) / len(ms) * 1e6:.1f} | {(t2 - t1) / len(ms) * 1e6:.1f} | "
                  f"{(t1 - t0) / (t2 - t1):.1f} | {diff:.1e} |", flush=True)
        print(f"all layers: previous {tp:.1f} s, current {tc:.1f} s, speed-up per multiset {tp / tc:.1f}")

    if args.accuracy > 0:
        rng = np.random.default_rng(1)
        full = res if args.n_inputs > 0 else None
        n = args.n_inputs
        if full is None:
            return
        print(f"\naccuracy, N_D = {n}: random sorted multisets vs tensor Gauss-Hermite (48, 56):")
        worst = 0.0
        for layer in sorted({1, 2, args.depth // 2, args.depth - 1}):
            K = np.ascontiguousarray(full.K[layer])
            Q = module._quad(K, flags, module._multisets(np.int64(n)))[0]
            errs = []
            for _ in range(args.accuracy):
                t = tuple(sorted(rng.integers(0, n, 4)))
                sub = K[np.ix_(t, t)]
                lo, hi = (expect_tensor([np.tanh] * 4, sub, deg) for deg in (48, 56))
                scale = expect_tensor([lambda x: np.abs(np.tanh(x))] * 4, sub, 24)
                if abs(lo - hi) <= 1e-10 * scale:
                    errs.append(abs(Q[t] - hi) / scale)
            if errs:
                worst = max(worst, max(errs))
                print(f"  layer {layer}: {len(errs)} multisets with a converged reference, "
                      f"max error {max(errs):.1e} of E|prod tanh|", flush=True)
        print(f"worst {worst:.1e}")


if __name__ == "__main__":
    main()
