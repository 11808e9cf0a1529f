"""The polynomial arcsine of the generated modules (coefficients and their derivation).

Closed Gaussian pair forms (arc-sine kernel of erf, arc-cosine kernels of ReLU and
step) cost one arcsine per pair of samples, O(N_D²) per layer.  ``math.asin`` is a
call into libm that LLVM cannot vectorise (numba vectorises it only through Intel
SVML), so the generated modules use ``_asin``/``_acos`` (``numerics_template.py``)
built only from arithmetic, ``sqrt``, ``abs``, ``copysign`` and selects, which LLVM
turns into SIMD code inside the pair loop.  The reduction is the classical one:

* |x| ≤ 1/2:  asin x = x + x z R(z),  z = x²;
* |x| > 1/2:  asin |x| = π/2 − 2 asin √z,  z = (1 − |x|)/2 ≤ 1/4,  and
  asin √z = √z + √z z R(z);  acos |x| = 2 asin √z (no cancellation near |x| = 1),

with R(z) = (asin(√z)/√z − 1)/z = 1/6 + 3z/40 + … on [0, 1/4].  R is replaced by its
interpolant of degree :data:`DEGREE` at the Chebyshev points of [0, 1/4], computed
here in 60-digit mpmath; its singularity at z = 1 gives a convergence factor ≈ 1/14 per
degree, so degree 12 is far below float64 rounding.  Realised accuracy of the float64
evaluation, ``tests/codegen/test_codegen.py``: ≤ 3 ulp against mpmath and against libm on a
dense grid including both ends, ±0, and points within 1e-16 of ±1.

Examples
--------
>>> c = coefficients()
>>> len(c) == DEGREE + 1, abs(c[0] - 1 / 6) < 1e-15, abs(c[1] - 3 / 40) < 1e-12
(True, True, True)
"""

from __future__ import annotations

import functools

__all__ = ["DEGREE", "coefficients"]

#: Degree of the polynomial interpolant of R(z) on [0, 1/4].
DEGREE = 12
_DPS = 60


@functools.lru_cache(maxsize=4)
def coefficients(degree: int = DEGREE) -> tuple[float, ...]:
    """Monomial coefficients c_0 … c_degree (increasing powers of z) of the Chebyshev
    interpolant of R(z) = (asin(√z)/√z − 1)/z on [0, 1/4], rounded to float64."""
    import mpmath as mp

    with mp.workdps(_DPS):
        half = mp.mpf(1) / 8

        def R(x):
            if x == 0:
                return mp.mpf(1) / 6
            s = mp.sqrt(x)
            return (mp.asin(s) / s - 1) / x

        nodes = [half * (1 - mp.cos(mp.pi * (k + mp.mpf(1) / 2) / (degree + 1))) for k in range(degree + 1)]
        A = mp.matrix([[x**j for j in range(degree + 1)] for x in nodes])
        c = mp.lu_solve(A, mp.matrix([R(x) for x in nodes]))
        return tuple(float(c[j]) for j in range(degree + 1))
