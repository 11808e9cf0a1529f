"""The numpy namespace of ``sympy.lambdify`` for the expressions the engine produces.

Owned here, not by :mod:`derive.quadrature` or :mod:`derive.activations`, because both
lambdify with it (activations → numpy callables, quadrature → integrands): a module of
its own keeps them from importing each other.

Examples
--------
>>> import sympy as sp
>>> from derive.symbols import z
>>> f = sp.lambdify(z, sp.Heaviside(z) + sp.erf(z), modules=NUMPY_MODULES)
>>> [round(float(v), 6) for v in f(np.array([-1.0, 0.0, 1.0]))]
[-0.842701, 0.5, 1.842701]
"""

from __future__ import annotations

import numpy as np

__all__ = ["NUMPY_MODULES"]


def _special(name):
    def call(*args):
        import scipy.special
        return getattr(scipy.special, name)(*args)
    return call


#: lambdify namespace: numpy plus the special functions the engine produces
#: (imported lazily: the scipy printer would pull in sympy.physics at import).
NUMPY_MODULES = [{"Heaviside": lambda x, h=0.5: np.heaviside(x, float(h)), "erf": _special("erf"),
                  "erfc": _special("erfc")}, "numpy"]
