"""First use of a catalogue evaluator: numba compiling it in a fresh process (issue #14).

    python benchmarks/bench_first_use.py [--flows relu:kh,tanh:full] [--repeats 3] [--inputs 3]

Run from the repository root.  For every flow, ``--repeats`` times: a fresh interpreter
with an empty temporary ``NUMBA_CACHE_DIR`` (so numba has to compile; the catalogue
module itself is committed in ``generated/``) runs

    ev = codegen.compile(flow(name, observables))
    ev.run(X, depth=3, C_b=0.1, C_W=1.0)          # X: --inputs samples, 4 features

and reports, as medians (min–max): the first ``ev.run`` (what numba compiles, plus a
negligible 3-layer run), the whole process (interpreter start, imports, ``flow()``,
compile, run; measured from outside), and a second process on the now warm cache
(``ev.run`` loading the compiled code from disk).  RGFLOW_QUIET=1 is set (messages
off; they cost nothing measurable).  The 1-minute load average is printed before
and after each flow: the machine has 2 cores and is shared, so quote times with it.

Flows: ``name:kh`` is observables ("K", "H"), ``name:full`` is ("K", "H", "V", "G1").
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OBS = {"kh": ("K", "H"), "full": ("K", "H", "V", "G1")}
DEFAULT = "relu:kh,erf:kh,tanh:kh,gelu:kh,relu:full,erf:full,tanh:full,gelu:full"

CHILD = r"""
import json, sys, time
import numpy as np
import codegen
from derive.flow import flow
name, obs, n = sys.argv[1], tuple(sys.argv[2].split(",")), int(sys.argv[3])
ev = codegen.compile(flow(name, obs))
X = np.random.default_rng(0).standard_normal((n, 4))
t = time.perf_counter()
ev.run(X, depth=3, C_b=0.1, C_W=1.0)
print(json.dumps({"run": time.perf_counter() - t}))
"""


def _child(name, obs, n, cache_dir):
    env = {**os.environ, "NUMBA_CACHE_DIR": cache_dir, "RGFLOW_QUIET": "1", "PYTHONPATH": ROOT}
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", CHILD, name, ",".join(obs), str(n)], env=env, cwd=ROOT,
                         capture_output=True, text=True, check=True)
    wall = time.perf_counter() - t
    return json.loads(out.stdout.strip().splitlines()[-1])["run"], wall


def _fmt(xs):
    return f"{statistics.median(xs):.2f} ({min(xs):.2f}–{max(xs):.2f})"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--flows", default=DEFAULT)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--inputs", type=int, default=3)
    args = ap.parse_args(argv)
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores")
    print("| flow | load before/after | first ev.run s (cold) | whole process s (cold) | first ev.run s (warm cache) |")
    print("|---|---|---|---|---|")
    for item in args.flows.split(","):
        name, kind = item.split(":")
        load0 = os.getloadavg()[0]
        cold_run, cold_wall, warm_run = [], [], []
        for _ in range(args.repeats):
            with tempfile.TemporaryDirectory(prefix="rgflow-numba-") as d:
                r, w = _child(name, OBS[kind], args.inputs, d)
                cold_run.append(r)
                cold_wall.append(w)
                warm_run.append(_child(name, OBS[kind], args.inputs, d)[0])
        load1 = os.getloadavg()[0]
        print(f"| {name} {'+'.join(OBS[kind])} | {load0:.1f}/{load1:.1f} | {_fmt(cold_run)} | {_fmt(cold_wall)} "
              f"| {_fmt(warm_run)} |", flush=True)


if __name__ == "__main__":
    main()
