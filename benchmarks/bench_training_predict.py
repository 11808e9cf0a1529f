"""Speed of the order-1/n trained-ensemble prediction against the Monte Carlo it replaces.

    python benchmarks/bench_training_predict.py [--repeat 3]

tanh at criticality (C_b = 0, C_W = 1, λ_b = λ_W = 1), depth 3, the 3 training and 2 test inputs of
tests/rgflow/test_training_predict.py, η = 0.5/λ_max, after 20 steps and at convergence.  Times, in this
process: ``training.predict`` (warm: its evaluator compiled beforehand; the first-use compile is reported
separately) and the cheapest Monte Carlo that measures the same 1/n coefficient of the mean — the
combined estimate of ``validate_training`` over n = 16, 32, 64 (400 trained networks and 16 000
frozen-NTK networks per width, the sizes of the tests), whose error on c is then ≈ 0.04 (≈ 10 %) — and
prints the median times, their ratio and the two coefficients.  Run from the repository root.
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
from rgflow.training import predict, validate_training  # noqa: E402

X_TRAIN = np.array([[1.06, -1.32], [-0.02, 1.09], [-2.14, -2.74]])
Y = np.array([-0.52, -0.91, -0.1])
X_TEST = np.array([[0.26, 0.04], [-0.25, 0.04]])
ARGS = dict(depth=3, C_b=0.0, C_W=1.0, lambda_b=1.0, lambda_W=1.0)



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    t0 = time.perf_counter()
    predict("tanh", X_TRAIN, Y, X_TEST, width=64, steps=20, progress=False, **ARGS)
    print(f"first use (compile the evaluator if cold, derive): {time.perf_counter() - t0:.1f} s")
    print("| steps | predict (s) | Monte Carlo c ± se (s) | ratio | c theory | c Monte Carlo |")
    print("|---|---|---|---|---|---|")
    for steps in (20, None):
        tp, pred = median_time(lambda: predict("tanh", X_TRAIN, Y, X_TEST, width=64, steps=steps, progress=False,
                                           **ARGS), args.repeat)
        tm, rep = median_time(lambda: validate_training("tanh", X_TRAIN, Y, X_TEST, 3, (16, 32, 64), 0.0, 1.0, 1.0, 1.0,
                                                    None, steps, networks=400, seed=3, frozen_networks=16000,
                                                    tol=1e-8), 1)
        label = "convergence" if steps is None else str(steps)
        print(f"| {label} | {tp:.3f} | {tm:.1f} | {tm / tp:.0f} | "
              + ", ".join(f"{c:.4f}" for c in pred.mean_correction) + " | "
              + ", ".join(f"{c:.3f} ± {e:.3f}" for c, e in zip(rep.c_combined, rep.c_combined_se)) + " |")


if __name__ == "__main__":
    main()
