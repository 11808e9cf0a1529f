"""How trained ReLU ensembles approach the infinite-width prediction (issue #15, docs/training.md).

    python benchmarks/training_relu_scaling.py [--steps 400] [--activation EXPR] [--C_W 2.0]

ReLU (C_b = 0, C_W = 2, λ_b = 0, λ_W = 1), depth 3, the 3 training and 2 test inputs of
tests/rgflow/test_training.py, η = 0.5/λ_max(H_train), a fixed number of steps.  For each width:
the deviation of the ensemble mean of the trained prediction from the infinite-width one, for
(a) the real trained networks and (b) the same networks trained with their NTK frozen at
initialisation (kernel regression with the empirical Θ_0 and f_0: no feature learning, no kink
crossings), and (c) the fraction of (hidden neuron, input) pairs whose ReLU switched on or off
during training.  If (b) scales as 1/n but (a) more slowly, the difference is the dynamics of the
NTK — for ReLU, neurons crossing the kink.  (d) isolates that difference network by network:
(a) − (b) on the same initial networks, whose paired standard error is far below either's, so
its exponent in n can be measured; ``--activation`` runs the same for a smooth activation (e.g.
softplus ``log(1+exp(4*z))/4``, a ReLU with its kink rounded over |z| ≲ 1/4) for comparison.
Prints a Markdown table.
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
from derive import activation, flow  # noqa: E402
from rgflow.training import infinite_width_prediction, train_ensemble  # noqa: E402
from rgflow.training.ensemble import forward  # noqa: E402
from rgflow.training.frozen import frozen_predictions  # noqa: E402

X = np.array([[1.0, 0.2], [0.3, 1.0], [0.8, -0.5], [0.5, 0.5], [-0.4, 0.9]])
Y = np.array([0.5, -0.3, 0.2])
RUNS = ((32, 2000), (64, 1200), (128, 600), (256, 300))


def frozen(Ws, bs, eta, steps, act):
    """Trained prediction on the test inputs of each network with its NTK frozen at Θ_0."""
    return frozen_predictions(Ws, bs, X[:3], Y, X[3:], act.numpy_function(), act.numpy_derivative(1), 0.0, 1.0,
                              eta, steps)


def switched(initial, final, act):
    """Fraction of (hidden neuron, input) pairs whose preactivation changed sign in training."""
    sigma = act.numpy_function()
    before = forward(list(initial[0]), list(initial[1]), X, sigma)[:-1]
    after = forward(list(final[0]), list(final[1]), X, sigma)[:-1]
    flips = sum(np.sum(np.sign(a) != np.sign(b)) for a, b in zip(before, after))
    return flips / sum(a.size for a in before)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--activation", default="relu")
    parser.add_argument("--C_W", type=float, default=2.0)
    args = parser.parse_args(argv)
    act = activation(args.activation)
    res = codegen.compile(flow(act, ("K", "H"))).run(X, depth=3, C_b=0.0, C_W=args.C_W, lambda_b=0.0, lambda_W=1.0)
    K, H = res.K[3], res.H[3]
    eta = 0.5 / np.linalg.eigvalsh(H[:3, :3]).max()
    inf = infinite_width_prediction(K, H, Y, 3, eta, args.steps)
    print(f"η = {eta:.6g}, {args.steps} steps; infinite width: mean {inf.mean.round(5).tolist()}\n")
    print(f"{act.name}, C_W = {args.C_W}\n")
    print("| n | networks | trained − ∞ (test 1, 2) ± se | frozen NTK − ∞ (test 1, 2) ± se "
          "| trained − frozen, paired (test 1, 2) ± se | switched signs | s |")
    print("|---|---|---|---|---|---|---|")
    for n, M in RUNS:
        start = time.perf_counter()
        e = train_ensemble(act, X[:3], Y, X[3:], 3, n, 0.0, args.C_W, 0.0, 1.0, eta, args.steps, networks=M, seed=n)
        fz = frozen(list(e.initial[0]), list(e.initial[1]), eta, args.steps, act)
        pairs = fz.reshape(-1, 2, 2).mean(axis=1)
        fz_mean, fz_se = fz.mean(axis=0), pairs.std(axis=0, ddof=1) / np.sqrt(pairs.shape[0])
        diff = (e.predictions - fz).reshape(-1, 2, 2).mean(axis=1)      # antithetic pairs
        df_mean, df_se = diff.mean(axis=0), diff.std(axis=0, ddof=1) / np.sqrt(diff.shape[0])
        d, dz = e.mean - inf.mean, fz_mean - inf.mean
        print(f"| {n} | {M} | {d[0]:+.5f} ± {e.mean_se[0]:.5f}, {d[1]:+.5f} ± {e.mean_se[1]:.5f} "
              f"| {dz[0]:+.5f} ± {fz_se[0]:.5f}, {dz[1]:+.5f} ± {fz_se[1]:.5f} "
              f"| {df_mean[0]:+.6f} ± {df_se[0]:.6f}, {df_mean[1]:+.6f} ± {df_se[1]:.6f} "
              f"| {switched(e.initial, e.final, act):.4f} | {time.perf_counter() - start:.0f} |", flush=True)


if __name__ == "__main__":
    main()
