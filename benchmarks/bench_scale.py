"""Data-set scale (issue #12): layer-fused tiles, out-of-core output, serial crossover.

    python benchmarks/bench_scale.py --only limit,crossover,ooc [--ooc-n 50000]
    /tmp/ntvenv/bin/python benchmarks/bench_scale.py --only ntbatch [--nt-n 20000]

Run from the repository root.  Sections (each prints a Markdown table):

``limit``     K+H, ReLU and erf, N_D = 3000, L = 10, keep="last": the tiled run against the
              layer-by-layer one (``tile=False``), interleaved; then how close the tile
              kernel is to this machine's arithmetic limit: the floating-point operations
              per pair and layer (counted in the generated pair update: the closed forms
              with the polynomial arcsine, the update rules) times pairs × layers, over the
              serial tile kernel's time, against the peak of a numba loop of independent
              vectorised multiply-adds measured in the same process (the best this
              compiler reaches on this core).
``crossover`` serial and parallel tiled runs at N_D = 32 … 2048 (relu, tanh): where two
              threads start to pay (``codegen.runtime.PARALLEL_FROM``).
``ooc``       ``ev.run(X, depth=10, keep="last", out=DIR)`` for ReLU K+H at N_D = --ooc-n in
              a child process: wall time, the child's peak resident memory (ru_maxrss),
              the files' size, and a check of 64 random rows against an in-memory run of
              those inputs (K, H of a subset of inputs are closed on it).  DIR is deleted after.
``ntbatch``   neural-tangents' ``nt.batch(kernel_fn, batch_size)`` (K and NTK of layer L in
              memory) at N_D = --nt-n in a child process (time, peak RSS), against rgflow's
              in-memory and out-of-core runs at the same N_D, also in child processes.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from benchmarks.bench_flow import _interleaved  # noqa: E402 - after the path set-up

PARAMS = {"relu": (0.1, 2.0), "erf": (0.1, 1.5), "tanh": (0.1, 1.2)}


def _inputs(n, n0=32, seed=0):
    return np.random.default_rng(seed).standard_normal((n, n0))


def _evaluator(act):
    import codegen
    from derive.flow import flow
    return codegen.compile(flow(act, ("K", "H")))


# ---------------------------------------------------------------------------------
# arithmetic limit
# ---------------------------------------------------------------------------------

def _peak_kernel():
    import numba

    @numba.njit(cache=False)
    def peak(x, y, reps):
        # per element a chain of 16 multiply-adds in registers (like a Horner polynomial),
        # independent across elements: LLVM vectorises over i; one load and one store per
        # 32 flops, so the arithmetic units, not memory, set the pace
        n = x.shape[0]
        for _ in range(reps):
            for i in range(n):
                p = x[i]
                p = p * 0.999 + 0.5
                p = p * 0.999 + 0.5
                p = p * 0.999 + 0.5
                p = p * 0.999 + 0.5
                p = p * 0.999 + 0.5
                p = p * 0.999 + 0.5
                p = p * 0.999 + 0.5
                p = p * 0.999 + 0.5
                p = p * 0.999 + 0.5
                p = p * 0.999 + 0.5
                p = p * 0.999 + 0.5
                p = p * 0.999 + 0.5
                p = p * 0.999 + 0.5
                p = p * 0.999 + 0.5
                p = p * 0.999 + 0.5
                p = p * 0.999 + 0.5
                y[i] = p
        return y[0]
    return peak


def measure_peak() -> float:
    """Double-precision flops/s of the peak kernel on one core (32 flops per element)."""
    peak = _peak_kernel()
    x = np.random.default_rng(0).standard_normal(2048)
    y = np.zeros(2048)
    peak(x, y, 10)
    best = 0.0
    for _ in range(5):
        t = time.perf_counter()
        peak(x, y, 2000)
        best = max(best, 32.0 * 2048 * 2000 / (time.perf_counter() - t))
    return best


def pair_flops(module_name_or_ev) -> int:
    """Floating-point operations of one pair update of the generated tile kernel: the closed
    pair form's arithmetic (sympy operation count of the lowered forms), the polynomial
    arcsine/arccosine where it is called (codegen/arcsine.py: degree-12 Horner and the
    reduction, ~32 operations, two square roots counted as one each), and the rules."""
    import sympy as sp
    from codegen.lower import lower
    ev = module_name_or_ev
    plan = lower(ev.flow)
    _, _, pair = plan.closed_off_split
    ops = sum(sp.count_ops(e, visual=False) for e in pair)
    calls = sum(str(e).count("asin") + str(e).count("acos") for e in pair)
    ops += calls * 32
    ops += sum(sp.count_ops(s.rules[0].rhs, visual=False) for s in plan.states)
    return int(ops)


def bench_limit(args):
    from codegen import tiles
    print(f"\n### K+H, N_D = {args.limit_n}, L = 10, keep='last': tiles vs layer by layer; arithmetic limit\n")
    peak = measure_peak()
    print("| activation | tiled s | layer by layer s | speed-up | flops / pair / layer | serial tile kernel s "
          "| achieved Gflop/s (1 core) | peak Gflop/s (1 core) | fraction of peak |")
    print("|---|---|---|---|---|---|---|---|---|")
    for act in ("relu", "erf"):
        ev = _evaluator(act)
        X = _inputs(args.limit_n)
        C_b, C_W = PARAMS[act]
        kw = dict(depth=10, C_b=C_b, C_W=C_W, keep="last", progress=False)
        ev.run(X, **kw), ev.run(X, tile=False, **kw)
        t_tile, t_layer = _interleaved([lambda: ev.run(X, **kw), lambda: ev.run(X, tile=False, **kw)], args.repeats)
        params = ev._parameters(10, None, C_b, C_W, None, None)
        prep = tiles.prepare(ev.module, X, params)
        blocks = tiles.upper_blocks(0, len(X), tiles.DEFAULT_TILE)
        outs = tuple(np.empty((1, len(X), len(X))) for _ in ev.states)
        run = lambda: ev.module.run_tiles(prep.X, prep.XT, blocks, prep.diag, prep.params, outs, (0, 0), False,  # noqa: E731
                                          prep.flags, parallel=False)
        run()
        t_serial = min(_interleaved([run], 1) for _ in range(args.repeats))[0]
        flops = pair_flops(ev)
        pairs = len(X) * (len(X) - 1) / 2
        achieved = flops * pairs * 9 / t_serial   # 9 updates after layer 1 (gram and layer 1 not counted)
        print(f"| {act} | {t_tile:.3f} | {t_layer:.3f} | {t_layer / t_tile:.2f}x | {flops} | {t_serial:.3f} | "
              f"{achieved / 1e9:.1f} | {peak / 1e9:.1f} | {achieved / peak:.2f} |")


# ---------------------------------------------------------------------------------
# serial / parallel crossover
# ---------------------------------------------------------------------------------

def bench_crossover(args):
    from codegen import runtime
    print("\n### Tiled K+H, L = 10: serial vs two threads\n")
    print("| activation | N_D | serial s | parallel s | parallel / serial |")
    print("|---|---|---|---|---|")
    for act in ("relu", "tanh"):
        ev = _evaluator(act)
        C_b, C_W = PARAMS[act]
        for n in args.crossover_n:
            X = _inputs(n)
            kw = dict(depth=10, C_b=C_b, C_W=C_W, keep="last", progress=False)
            saved = dict(runtime.PARALLEL_FROM)
            try:
                def serial():
                    runtime.PARALLEL_FROM.update(dict.fromkeys(saved, 10**9))
                    ev.run(X, **kw)

                def parallel():
                    runtime.PARALLEL_FROM.update(dict.fromkeys(saved, 0))
                    ev.run(X, **kw)
                serial(), parallel()
                ts, tp = _interleaved([serial, parallel], args.repeats)
            finally:
                runtime.PARALLEL_FROM.update(saved)
            print(f"| {act} | {n} | {ts:.4f} | {tp:.4f} | {tp / ts:.2f} |")


# ---------------------------------------------------------------------------------
# out of core, and neural-tangents' nt.batch
# ---------------------------------------------------------------------------------

CHILD_RGFLOW = r"""
import json, os, resource, sys, time
import numpy as np
sys.path.insert(0, {root!r})
import codegen
from derive.flow import flow
n, out = {n}, {out!r}
ev = codegen.compile(flow("relu", ("K", "H")))
X = np.random.default_rng(0).standard_normal((n, 32))
ev.run(X[:300], depth=10, C_b=0.1, C_W=2.0, keep="last", progress=False)   # compile / load outside the timing
t = time.perf_counter()
res = ev.run(X, depth=10, C_b=0.1, C_W=2.0, keep="last", out=out or None)
wall = time.perf_counter() - t
check = None
if out:
    idx = np.sort(np.random.default_rng(1).choice(n, 64, replace=False))
    sub = ev.run(X[idx], depth=10, C_b=0.1, C_W=2.0, keep="last", progress=False)
    check = max(float(np.max(np.abs(np.load(os.path.join(out, q + ".npy"), mmap_mode="r")[idx][:, idx]
                                    - np.asarray(getattr(sub, q))[0]) / np.max(np.abs(np.asarray(getattr(sub, q))))))
                for q in ("K", "H"))
print(json.dumps(dict(wall=wall, maxrss_kib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, check=check)))
"""

CHILD_NT = r"""
import json, resource, sys, time
import numpy as np
sys.path.insert(0, {root!r})
sys.argv = ["x"]
from benchmarks.bench_flow import _jax
jax = _jax()
import neural_tangents as nt
from neural_tangents import stax
import jax.numpy as jnp
n, batch = {n}, {batch}
layers = [stax.Dense(1, W_std=float(np.sqrt(2.0)), b_std=float(np.sqrt(0.1)), parameterization="ntk")]
for _ in range(9):
    layers += [stax.Relu(), stax.Dense(1, W_std=float(np.sqrt(2.0)), b_std=float(np.sqrt(0.1)), parameterization="ntk")]
_, _, kernel_fn = stax.serial(*layers)
kfn = nt.batch(kernel_fn, batch_size=batch, store_on_device=False)
X = np.random.default_rng(0).standard_normal((n, 32))
kfn(jnp.asarray(X[:2 * batch]), None, ("nngp", "ntk"))   # trace and compile outside the timing
t = time.perf_counter()
out = kfn(jnp.asarray(X), None, ("nngp", "ntk"))
np.asarray(out.nngp); np.asarray(out.ntk)
wall = time.perf_counter() - t
print(json.dumps(dict(wall=wall, maxrss_kib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)))
"""


def _child(code: str, python=sys.executable) -> dict:
    env = dict(os.environ, RGFLOW_QUIET="1")
    proc = subprocess.run([python, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT)
    if proc.returncode:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _rgflow_child(n: int, out_dir: str | None) -> dict:
    return _child(CHILD_RGFLOW.format(root=ROOT, n=n, out=out_dir or ""))


def bench_ooc(args):
    n = args.ooc_n
    base = args.ooc_dir or tempfile.gettempdir()
    out = tempfile.mkdtemp(prefix="rgflow-ooc-", dir=base)
    try:
        r = _rgflow_child(n, out)
        size = sum(os.path.getsize(os.path.join(out, f)) for f in os.listdir(out)) if "error" not in r else 0
    finally:
        shutil.rmtree(out, ignore_errors=True)
    print(f"\n### Out of core: ReLU K+H, N_D = {n}, L = 10, keep='last', out=DIR ({base})\n")
    print("| N_D | wall s | peak RSS GiB | files GiB | 64-row check (max rel. diff vs in-memory subset) |")
    print("|---|---|---|---|---|")
    if "error" in r:
        print(f"| {n} | error: {r['error']} | | | |")
        return
    print(f"| {n} | {r['wall']:.1f} | {r['maxrss_kib'] / 2**20:.2f} | {size / 2**30:.1f} | {r['check']:.1e} |")


def bench_ntbatch(args):
    n = args.nt_n
    print(f"\n### neural-tangents nt.batch vs rgflow, ReLU K+H, N_D = {n}, L = 10 (each in a child process)\n")
    print("| run | wall s | peak RSS GiB |")
    print("|---|---|---|")
    nt = _child(CHILD_NT.format(root=ROOT, n=n, batch=args.nt_batch))
    if "error" in nt:
        print(f"| neural-tangents nt.batch(batch_size={args.nt_batch}) | error: {nt['error']} | |")
    else:
        print(f"| neural-tangents nt.batch(batch_size={args.nt_batch}), store_on_device=False | {nt['wall']:.1f} | "
              f"{nt['maxrss_kib'] / 2**20:.2f} |")
    mem = _rgflow_child(n, None)
    print(f"| rgflow ev.run(keep='last') in memory | {mem['wall']:.1f} | {mem['maxrss_kib'] / 2**20:.2f} |")
    out = tempfile.mkdtemp(prefix="rgflow-ooc-", dir=args.ooc_dir or tempfile.gettempdir())
    try:
        ooc = _rgflow_child(n, out)
    finally:
        shutil.rmtree(out, ignore_errors=True)
    print(f"| rgflow ev.run(keep='last', out=DIR) | {ooc['wall']:.1f} | {ooc['maxrss_kib'] / 2**20:.2f} |")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="limit,crossover,ooc")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--limit-n", type=int, default=3000)
    parser.add_argument("--crossover-n", type=lambda s: [int(v) for v in s.split(",")],
                        default=[32, 64, 128, 256, 512, 1024, 2048])
    parser.add_argument("--ooc-n", type=int, default=50000)
    parser.add_argument("--ooc-dir", default=None, help="where the out-of-core files go (default: the temp dir)")
    parser.add_argument("--nt-n", type=int, default=20000)
    parser.add_argument("--nt-batch", type=int, default=1000)
    args = parser.parse_args(argv)
    sections = {"limit": bench_limit, "crossover": bench_crossover, "ooc": bench_ooc, "ntbatch": bench_ntbatch}
    for name in args.only.split(","):
        sections[name](args)


if __name__ == "__main__":
    main()
