"""Write catalogue_reference.npz: K, H, V, G1 of every catalogue evaluator for 1-3 inputs.

Run once before a change of the code generator (it was run on the tree of commit 320a89c,
before the recursion IR of issue #10) and commit the .npz; tests/codegen/test_catalogue_values.py
then checks that the evaluators still give the same numbers (<= 1e-14 relative).

    python tests/data/make_catalogue_reference.py
"""

import pathlib

import numpy as np

import codegen
from codegen.catalogue import ACTIVATIONS
from derive.flow import flow

HERE = pathlib.Path(__file__).resolve().parent
#: (C_b, C_W) per activation: near criticality, away from it where that is the interesting case.
HYPER = {"relu": (0.0, 2.0), "erf": (0.1, 1.2), "tanh": (0.0, 1.0), "gelu": (0.17, 1.98),
         "swish": (0.5, 1.9), "linear": (0.2, 0.9)}
DEPTH, WIDTHS = 5, [16, 24, 20, 16, 12]


def inputs(n: int) -> np.ndarray:
    return np.random.default_rng(100 + n).normal(size=(n, 4))


def compute() -> dict:
    out = {}
    for act in ACTIVATIONS:
        ev = codegen.compile(flow(act, ("K", "H", "V", "G1")))
        C_b, C_W = HYPER[act]
        for n in (1, 2, 3):
            res = ev.run(inputs(n), depth=DEPTH, width=WIDTHS, C_b=C_b, C_W=C_W, lambda_b=0.3, lambda_W=1.1,
                         progress=False)
            for q in ("K", "H", "V", "G1"):
                out[f"{act}/{n}/{q}"] = np.asarray(getattr(res, q))
    return out


if __name__ == "__main__":
    np.savez_compressed(HERE / "catalogue_reference.npz", **compute())
    print("wrote", HERE / "catalogue_reference.npz")
