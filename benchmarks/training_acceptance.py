"""The order-1/n trained ensemble against real trained networks over widths (issue #15 acceptance).

    PYTHONPATH=. python benchmarks/training_acceptance.py --steps conv --plot docs/figures/06_trained_tanh_convergence.png
    PYTHONPATH=. python benchmarks/training_acceptance.py --steps 20 --plot docs/figures/07_trained_tanh_20_steps.png
    PYTHONPATH=. python benchmarks/training_acceptance.py --activation gelu --steps 20 --widths 32,64,128 --seed 9

Default: tanh at criticality (C_b = 0, C_W = 1), λ_b = λ_W = 1, depth 3, η = 0.5/λ_max(Θ_DD), n = 32–256,
1 000 trained and 20 000 frozen-NTK networks per width, the inputs of tests/rgflow/test_training_predict.py;
another activation runs at its critical point with λ = C.  Prints ``validate_training``'s report
(docs/training.md).
"""
import argparse
import time

import numpy as np

from rgflow.defaults import critical_hyperparameters
from rgflow.training import validate_training

X_TRAIN = np.array([[1.06, -1.32], [-0.02, 1.09], [-2.14, -2.74]])
Y = np.array([-0.52, -0.91, -0.1])
X_TEST = np.array([[0.26, 0.04], [-0.25, 0.04]])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--activation", default="tanh")
    p.add_argument("--steps", default="conv", help="gradient-descent steps, or conv (to convergence)")
    p.add_argument("--widths", default="32,64,128,256")
    p.add_argument("--networks", type=int, default=1000)
    p.add_argument("--frozen-networks", type=int, default=20000)
    p.add_argument("--seed", type=int, default=5)
    p.add_argument("--plot", default=None)
    a = p.parse_args()
    if a.activation == "tanh":
        C_b, C_W, lb, lw = 0.0, 1.0, 1.0, 1.0
    else:
        C_b, C_W = critical_hyperparameters(a.activation)
        lb, lw = C_b, C_W
    steps = None if a.steps == "conv" else int(a.steps)
    widths = tuple(int(w) for w in a.widths.split(","))
    t = time.time()
    rep = validate_training(a.activation, X_TRAIN, Y, X_TEST, 3, widths, C_b, C_W, lb, lw, None, steps,
                            networks=a.networks, seed=a.seed, frozen_networks=a.frozen_networks, tol=1e-8)
    print(rep.to_text())
    print("seconds", time.time() - t)
    if a.plot:
        rep.plot(a.plot)


if __name__ == "__main__":
    main()
