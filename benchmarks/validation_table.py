"""Tables of docs/validation.md: the outcome of every validation case and per-layer z-scores.

    python benchmarks/validation_table.py

Runs exactly the cases of tests/validation_cases.py (same seeds and M) and prints
markdown: per case the number k of compared entries, max |z| and mean z² against the
1/n theory (with the Bonferroni threshold), the infinite-width four-point z, and the
resolving power (smallest relative error of V that the case rejects); then, for the
tanh and ReLU critical cases, the per-layer diagonal entries.  Run from the repository root.
"""

from __future__ import annotations

import pathlib
import sys

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from test_validation import evaluator, resolution, run_case  # noqa: E402
from validation_cases import CASES  # noqa: E402

from rgflow.validate import COMPLETE, bonferroni_threshold  # noqa: E402


def main():
    print("| case | C_b, C_W | N_D | n | L | M | seed | k | max abs z (Bonferroni) | mean z^2 | "
          "vertex: max abs z at n = inf | resolution of V |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    reports = {}
    for case in CASES:
        rep = run_case(case)
        reports[case.id] = rep
        z = rep.z(COMPLETE)
        z0 = rep.z("vertex", leading=True)
        print(f"| {case.id} | {rep.C_b:.4g}, {rep.C_W:.4g} | {len(rep.inputs)} | {case.width} | {case.depth} | "
              f"{case.networks} | {case.seed} | {z.size} | "
              f"{np.max(np.abs(z)):.2f} ({bonferroni_threshold(z.size):.2f}) | "
              f"{np.mean(z ** 2):.2f} | {np.max(np.abs(z0)):.1f} | {resolution(rep):.0%} |", flush=True)
    for cid in ("tanh-critical", "relu-critical"):
        rep = reports[cid]
        print(f"\n{cid}: sample 0 (K1 = {rep.K[0][0]:.3g}), n = {rep.widths[0]}, M = {rep.networks}\n")
        print("| layer | K + G1/n | E[z^2] (MC) | z | z (K alone) | V/n | E[z_i^2 z_j^2] - G^2 (MC) | z | "
              "kappa_4/3 (MC) | z |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for l in range(1, rep.depth + 1):
            m = rep.select("metric", layer=l)[0]
            row = f"| {l} | {m.theory:.5g} | {m.estimate:.5g} ± {m.se:.2g} | {m.z:.2f} | {m.z_leading:.1f} |"
            if l > 1:
                v = rep.select("vertex", layer=l)[0]
                s = rep.select("vertex_same", layer=l)[0]
                row += (f" {v.theory:.4g} | {v.estimate:.4g} ± {v.se:.2g} | {v.z:.2f} | "
                        f"{s.estimate:.4g} ± {s.se:.2g} | {s.z:.2f} |")
            else:
                row += " 0 | 0 (exact) | - | 0 (exact) | - |"
            print(row)


if __name__ == "__main__":
    main()
