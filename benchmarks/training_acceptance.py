"""The order-1/n trained ensemble against real trained tanh networks over n = 32–256 (issue #15 acceptance).

    PYTHONPATH=. python benchmarks/training_acceptance.py conv 32,64,128,256 1000 20000 docs/figures/06_trained_tanh_convergence.png
    PYTHONPATH=. python benchmarks/training_acceptance.py 20 32,64,128,256 1000 20000 docs/figures/07_trained_tanh_20_steps.png

Arguments: steps ("conv" for convergence), widths, trained networks per width, frozen-NTK networks per width,
optional figure.  tanh at criticality (C_b = 0, C_W = 1), λ_b = λ_W = 1, depth 3, η = 0.5/λ_max(Θ_DD), the
inputs of tests/rgflow/test_training_predict.py; prints ``validate_training``'s report (docs/training.md).
"""
import sys
import time

import numpy as np

from rgflow.training import validate_training

X_train = np.array([[1.06, -1.32], [-0.02, 1.09], [-2.14, -2.74]])
y = np.array([-0.52, -0.91, -0.1])
X_test = np.array([[0.26, 0.04], [-0.25, 0.04]])
steps = None if sys.argv[1] == "conv" else int(sys.argv[1])
widths = tuple(int(w) for w in sys.argv[2].split(","))
t = time.time()
rep = validate_training("tanh", X_train, y, X_test, 3, widths, 0.0, 1.0, 1.0, 1.0, None, steps,
                        networks=int(sys.argv[3]), seed=5, frozen_networks=int(sys.argv[4]), tol=1e-8)
print(rep.to_text())
print("seconds", time.time() - t)
if len(sys.argv) > 5:
    rep.plot(sys.argv[5])
