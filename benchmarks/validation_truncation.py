"""Measure the O(1/n²) truncation of the 1/n theory for every validation case.

    python benchmarks/validation_truncation.py [--factor 8] [--only ID ...]

For each case of tests/validation_cases.py (test width n_t, M networks) the residual
r(n) = MC(n) − theory(n) of every metric / vertex / vertex_same entry is measured at
n = n_t/4 (M·2·factor networks) and n = n_t/2 (M·factor networks), where the truncation
is 16× and 4× larger.  If the theory is right to O(1/n), r(n) = c/n² + O(1/n³): the
script prints, per case, the χ² of the hypothesis "n² r is the same at both widths"
(a check of the 1/n² scaling), and the largest predicted truncation at the test
point |ĉ|/n_t² in units of the test's own standard error (from a run of the test
itself), together with the 2σ upper bound (|ĉ| + 2 se_ĉ)/n_t² / se.
Run from the repository root.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from validation_cases import CASES  # noqa: E402

import codegen  # noqa: E402
from derive.flow import flow  # noqa: E402
from rgflow.validate import COMPLETE, validate  # noqa: E402


def study(case, factor: int):
    ev = codegen.compile(flow(case.activation))
    kw = dict(depth=case.depth, C_b=case.C_b, C_W=case.C_W, ntk=False, evaluator=ev)
    test = validate(case.activation, case.X(), width=case.width, networks=case.networks, seed=case.seed, **kw)
    runs = []
    for div, mult in ((4, 2 * factor), (2, factor)):
        n = case.width // div
        rep = validate(case.activation, case.X(), width=n, networks=case.networks * mult, seed=case.seed + 7919 * div,
                       **kw)
        comps = rep.select(COMPLETE)
        runs.append((n, np.array([c.estimate - c.theory for c in comps]), np.array([c.se for c in comps])))
    (n1, r1, s1), (n2, r2, s2) = runs
    c1, e1, c2, e2 = n1 ** 2 * r1, n1 ** 2 * s1, n2 ** 2 * r2, n2 ** 2 * s2
    w1, w2 = 1 / e1 ** 2, 1 / e2 ** 2
    c = (w1 * c1 + w2 * c2) / (w1 + w2)
    ec = 1 / np.sqrt(w1 + w2)
    chi2 = float(np.sum((c1 - c2) ** 2 / (e1 ** 2 + e2 ** 2)))
    se_t = np.array([x.se for x in test.select(COMPLETE)])
    ratio = np.abs(c) / case.width ** 2 / se_t
    bound = (np.abs(c) + 2 * ec) / case.width ** 2 / se_t
    labels = [f"L{x.layer} {x.label}" for x in test.select(COMPLETE)]
    worst = int(np.argmax(ratio))
    return dict(k=len(c), chi2=chi2, ratio=float(ratio.max()), bound=float(bound.max()), worst=labels[worst],
                zmax_quarter=float(np.max(np.abs(r1 / s1))), zmax_half=float(np.max(np.abs(r2 / s2))),
                test_maxz=float(np.max(np.abs(test.z(COMPLETE)))), test_meanz2=float(np.mean(test.z(COMPLETE) ** 2)))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--factor", type=int, default=8)
    parser.add_argument("--only", nargs="*", default=None)
    args = parser.parse_args(argv)
    print("| case | n, L, M | k | max abs z at n/4, n/2 | chi2 of 1/n^2 scaling (dof k) | truncation/se at n "
          "(worst entry) | 2-sigma bound | test max abs z, mean z^2 |")
    print("|---|---|---|---|---|---|---|---|")
    for case in CASES:
        if args.only and case.id not in args.only:
            continue
        t = time.perf_counter()
        s = study(case, args.factor)
        print(f"| {case.id} | {case.width}, {case.depth}, {case.networks} | {s['k']} | "
              f"{s['zmax_quarter']:.1f}, {s['zmax_half']:.1f} | {s['chi2']:.1f} | {s['ratio']:.2f} ({s['worst']}) | "
              f"{s['bound']:.2f} | {s['test_maxz']:.2f}, {s['test_meanz2']:.2f} |", flush=True)
        print(f"<!-- {case.id}: {time.perf_counter() - t:.0f} s -->", file=sys.stderr)


if __name__ == "__main__":
    main()
