"""One place for the symbols of the theory (PDLT notation, THEORY.md).

Every module builds its expressions from these objects so that two derivations of
the same quantity are structurally identical (and hash identically).
"""

from __future__ import annotations

import sympy as sp

#: The pre-activation variable of a single neuron, z.
z = sp.Symbol("z", real=True)
#: Pre-activations of two (or more) samples, z_1 .. z_4.
z1, z2, z3, z4 = sp.symbols("z1 z2 z3 z4", real=True)
SAMPLE_VARIABLES = (z1, z2, z3, z4)

#: Single-input kernel K (a variance, positive).
K = sp.Symbol("K", positive=True)
#: Bias and weight variances (C_W / n is the weight variance).
C_b = sp.Symbol("C_b", nonnegative=True)
C_W = sp.Symbol("C_W", positive=True)
#: Learning-rate weights of biases and weights (NTK).
lambda_b = sp.Symbol("lambda_b", nonnegative=True)
lambda_W = sp.Symbol("lambda_W", nonnegative=True)
#: Layer index and width.
ell = sp.Symbol("ell", positive=True)
n = sp.Symbol("n", positive=True)
#: Single-input four-point vertex and NLO metric correction.
V = sp.Symbol("V", real=True)
G1 = sp.Symbol("G1", real=True)


def kernel_matrix(size: int, name: str = "K") -> sp.ImmutableMatrix:
    """Symmetric symbolic kernel ``K_{ab}`` of ``size`` samples (diagonal positive)."""
    entries = {}
    for a in range(size):
        for b in range(a, size):
            assumptions = {"positive": True} if a == b else {"real": True}
            entries[(a, b)] = entries[(b, a)] = sp.Symbol(f"{name}{a + 1}{b + 1}", **assumptions)
    return sp.ImmutableMatrix(size, size, lambda a, b: entries[(a, b)])
