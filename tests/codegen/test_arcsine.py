"""The polynomial arcsine/arccosine of the generated modules (codegen/arcsine.py).

References: mpmath at 40 digits and the platform libm (``math.asin``/``math.acos``).
Tolerance: 3 ulp of the result (the reduction costs about 2 ulp in the worst case;
libm itself is within 1 ulp of mpmath on the same grid).
"""

from __future__ import annotations

import math
import re

import mpmath
import numpy as np
import pytest

from codegen.arcsine import DEGREE, coefficients
from codegen.render import NUMERICS

def _template_namespace() -> dict:
    """The numerics template executed on its own (its functions are what generated modules
    paste; a module keeps only those it uses, so no single one need hold both)."""
    namespace = {}
    source = "import math\nimport numba\nimport numpy as np\n" + NUMERICS.replace("cache=True", "cache=False")
    exec(compile(source, "numerics_template", "exec"), namespace)   # no file: numba cannot cache
    return namespace


NAMESPACE = _template_namespace()


def _grid() -> np.ndarray:
    near_one = 1.0 - np.logspace(-16, -1, 200)
    tiny = np.logspace(-300, -1, 200)
    x = np.concatenate([np.linspace(-1.0, 1.0, 4001), near_one, tiny, [0.5, np.nextafter(0.5, 1), 1.0, 0.0]])
    return np.unique(np.concatenate([x, -x]))


def _ulp_error(values, reference):
    return np.max(np.abs(values - reference) / np.spacing(np.abs(reference)))


def test_template_coefficients_are_the_derived_interpolant():
    block = re.search(r"_ASIN_R = \((.*?)\)", NUMERICS, re.S).group(1)
    printed = tuple(float(v) for v in block.replace("\n", " ").split(",") if v.strip())
    assert len(printed) == DEGREE + 1
    np.testing.assert_allclose(printed, coefficients(), rtol=1e-15, atol=0)


@pytest.mark.parametrize("name", ["asin", "acos"])
def test_polynomial_arcsine_within_three_ulp_of_mpmath_and_libm(name):
    f = NAMESPACE[f"_{name}"]
    x = _grid()
    values = np.array([f(v) for v in x])
    with mpmath.workdps(40):
        reference = np.array([float(getattr(mpmath, name)(mpmath.mpf(v))) for v in x])
    libm = np.array([getattr(math, name)(v) for v in x])
    nonzero = reference != 0
    assert _ulp_error(values[nonzero], reference[nonzero]) <= 3
    assert _ulp_error(libm[nonzero], reference[nonzero]) <= 1          # the reference itself
    assert np.all(values[~nonzero] == 0.0)
    if name == "asin":
        assert math.copysign(1.0, f(-0.0)) == -1.0                    # odd, signed zero kept
        assert f(1.0) == math.pi / 2 and f(-1.0) == -math.pi / 2
    else:
        assert f(1.0) == 0.0 and f(-1.0) == math.pi
        # small angles keep full relative accuracy (no pi/2 - asin cancellation)
        x = 1.0 - 1e-14
        e = 1.0 - x                                                   # exact (Sterbenz)
        assert abs(f(x) / (math.sqrt(2 * e) * (1 + e / 12)) - 1) < 1e-15


def test_coefficients_converge_to_the_taylor_series():
    """The interpolant's low coefficients are R's Taylor coefficients (2k)!/(4^k k!^2 (2k+1))."""
    c = coefficients()
    for k in range(1, 4):
        taylor = math.factorial(2 * k) / (4**k * math.factorial(k) ** 2 * (2 * k + 1))
        assert abs(c[k - 1] - taylor) < 1e-9 * 10 ** (2 * k)
