"""Trained finite-width ensembles against the infinite-width prediction (docs/training.md).

    python benchmarks/training_widths.py [--steps 200]

tanh at criticality (C_b = 0, C_W = 1, λ_b = λ_W = 1), depth 3, the 3 training and 2 test inputs
of tests/rgflow/test_training.py, η = 0.5/λ_max(H_train): ensembles of real networks
(rgflow.training.train_ensemble, antithetic pairs) at n = 32 … 512 after ``--steps`` steps, against
rgflow.training.infinite_width_prediction.  Prints a Markdown table (mean and variance of the two
test predictions, with standard errors and z against the infinite-width value).
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import codegen  # noqa: E402
from derive import flow  # noqa: E402
from rgflow.training import infinite_width_prediction, train_ensemble  # noqa: E402

X = np.array([[1.0, 0.2], [0.3, 1.0], [0.8, -0.5], [0.5, 0.5], [-0.4, 0.9]])
Y = np.array([0.5, -0.3, 0.2])
RUNS = ((32, 2000), (64, 1000), (128, 600), (256, 400), (512, 200))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args(argv)
    res = codegen.compile(flow("tanh", ("K", "H"))).run(X, depth=3, C_b=0.0, C_W=1.0, lambda_b=1.0, lambda_W=1.0)
    K, H = res.K[3], res.H[3]
    eta = 0.5 / np.linalg.eigvalsh(H[:3, :3]).max()
    inf = infinite_width_prediction(K, H, Y, 3, eta, args.steps)
    print(f"η = {eta:.6g}, {args.steps} steps; infinite width: mean {inf.mean.round(5).tolist()}, "
          f"variance {np.diag(inf.covariance).round(6).tolist()}\n")
    print("| n | networks | mean₁ ± se (z) | mean₂ ± se (z) | var₁ ± se (z) | var₂ ± se (z) | seconds |")
    print("|---|---|---|---|---|---|---|")
    for n, M in RUNS:
        start = time.perf_counter()
        e = train_ensemble("tanh", X[:3], Y, X[3:], 3, n, 0.0, 1.0, 1.0, 1.0, eta, args.steps, networks=M, seed=n)
        cells = []
        for value, se, ref in [(e.mean[0], e.mean_se[0], inf.mean[0]), (e.mean[1], e.mean_se[1], inf.mean[1]),
                               (e.covariance[0, 0], e.covariance_se[0, 0], inf.covariance[0, 0]),
                               (e.covariance[1, 1], e.covariance_se[1, 1], inf.covariance[1, 1])]:
            cells.append(f"{value:.5g} ± {se:.2g} ({(value - ref) / se:+.1f})")
        print(f"| {n} | {M} | " + " | ".join(cells) + f" | {time.perf_counter() - start:.0f} |", flush=True)


if __name__ == "__main__":
    main()
