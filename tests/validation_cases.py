"""The theory-vs-Monte-Carlo cases of tests/rgflow/test_validation.py (shared with
benchmarks/validation_truncation.py, which measures their O(1/n²) truncation).

Each case fixes activation, (C_b, C_W), inputs, depth, width n, networks M and seed.
Widths and depths are chosen so that the measured truncation of the 1/n theory
(residual ∝ 1/n², fitted at n/4 and n/2 with 8–16× more networks) is below half a
standard error at the test point; docs/validation.md lists the measured ratios.
ReLU-like activations (relu, linear, gelu, swish) have V/(nK²) ≈ c·ℓ/n with a large
c (5 for ReLU), so their relative truncation ≈ (c/2)(ℓ−2)/n forces depth 3–5 at
n = 128; the K* = 0 class (tanh, erf, sin) has V/(nK²) ≈ (2/3)ℓ/n and goes to depth 10.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

#: Inputs used by the cases: rows 0, 1 are rgflow.defaults.DEFAULT_INPUTS (K1 ∝ 1, 1,
#: overlap 0.8); row 2 has |x|²/n_0 = 0.9.  "coincident" repeats row 0 (tests N_D = 3
#: with two identical samples: the engine de-duplicates, the sampler does not).
INPUTS = {
    1: np.array([[1.0, 1.0]]),
    2: np.array([[1.0, 1.0], [1.4, 0.2]]),
    3: np.array([[1.0, 1.0], [1.4, 0.2], [-0.6, 1.2]]),
    "coincident": np.array([[1.0, 1.0], [1.4, 0.2], [1.0, 1.0]]),
}


class Case(NamedTuple):
    id: str
    activation: str
    C_b: float | None          # None: the critical point from derive.classify
    C_W: float | None
    inputs: object             # key of INPUTS
    depth: int
    width: int
    networks: int
    seed: int

    def X(self) -> np.ndarray:
        return INPUTS[self.inputs]


CASES = (
    Case("relu-critical", "relu", None, None, 2, 3, 128, 1500, 101),
    Case("relu-off", "relu", 0.2, 1.5, 1, 4, 128, 1200, 102),
    Case("linear-critical", "linear", None, None, 3, 5, 128, 1200, 103),
    Case("linear-off", "linear", 0.1, 0.9, 2, 5, 128, 2000, 104),
    Case("tanh-critical", "tanh", None, None, 2, 10, 128, 1000, 105),
    Case("tanh-off", "tanh", 0.3, 1.5, 3, 8, 64, 1500, 106),
    Case("erf-critical", "erf", None, None, 1, 10, 128, 1500, 107),
    Case("erf-off", "erf", 0.0, 1.2, 2, 8, 64, 1500, 108),
    Case("sin-critical", "sin", None, None, "coincident", 10, 128, 1000, 109),
    Case("sin-off", "sin", 0.1, 1.1, 1, 8, 64, 2000, 110),
    Case("gelu-critical", "gelu", None, None, 2, 3, 128, 1500, 111),
    Case("gelu-off", "gelu", 0.0, 2.2, 1, 3, 128, 1500, 112),
    Case("swish-critical", "swish", None, None, 3, 3, 128, 1500, 113),
    Case("swish-off", "swish", 0.0, 2.2, 2, 3, 128, 1500, 114),
)
