"""Stage *print*: sympy expression → one line of numba-compatible Python.

:class:`NumbaPrinter` is sympy's ``PythonCodePrinter`` restricted to what numba
compiles in nopython mode (``math`` functions, builtins ``abs``/``min``/``max``),
``strict`` so that anything else raises instead of printing silently.  Numbers go
through one function, :func:`number_literal` (integers as ints, everything else as
the shortest round-trip ``repr(float)``); a sympy ``Float`` in an expression is an
error (exact arithmetic ends at the printer).

Guards for Gaussian closed forms evaluated in floating point: ``sqrt`` and
fractional powers take ``_pos(x) = max(x, 0)`` (their arguments are variances or
determinants, ≥ 0 up to rounding), ``asin``/``acos`` take ``_clip1(x)`` (correlations
in [−1, 1] up to rounding) and print as the module's polynomial ``_asin``/``_acos``
(≤ 3 ulp, vectorisable inside pair loops; ``codegen/arcsine.py``).  ``Heaviside`` and ``sign`` print as the module helpers
``_heaviside`` (H(0) = 1/2, sympy's convention) and ``_sign``.

Examples
--------
>>> import sympy as sp
>>> x, y = sp.symbols("x y")
>>> numba_code(sp.sqrt(x) + sp.asin(y) / 3)
'math.sqrt(_pos(x)) + (0.3333333333333333)*_asin(_clip1(y))'
>>> numba_code(sp.Heaviside(x) * x**2)
'x**2*_heaviside(x)'
"""

from __future__ import annotations

import math

import sympy as sp
from sympy.printing.pycode import PythonCodePrinter

from derive.errors import RGFlowError

__all__ = ["NumbaPrinter", "numba_code", "number_literal", "PrinterError", "NUMBA_FUNCTIONS"]

#: sympy function name → ``math`` function (all supported by numba in nopython mode).
NUMBA_FUNCTIONS = {
    "exp": "exp", "expm1": "expm1", "log": "log", "log1p": "log1p", "sin": "sin", "cos": "cos",
    "tan": "tan", "sinh": "sinh", "cosh": "cosh", "tanh": "tanh", "asinh": "asinh",
    "acosh": "acosh", "atanh": "atanh", "atan": "atan", "atan2": "atan2", "erf": "erf",
    "erfc": "erfc", "gamma": "gamma", "loggamma": "lgamma", "floor": "floor", "ceiling": "ceil",
}


class PrinterError(RGFlowError, ValueError):
    """An expression that cannot be printed as numba code."""


def number_literal(value) -> str:
    """The one way numbers are printed: ints exactly, other reals as ``repr(float)``."""
    value = sp.sympify(value)
    if value.is_Integer:
        return str(int(value))
    f = float(value)
    if not math.isfinite(f):
        raise PrinterError(f"non-finite constant {value}")
    return repr(f)


class NumbaPrinter(PythonCodePrinter):
    """Strict printer of sympy expressions to numba-compilable Python (see module docstring)."""

    printmethod = "_numbacode"
    language = "numba"

    def __init__(self, settings=None):
        settings = dict(settings or {})
        settings.setdefault("fully_qualified_modules", True)
        settings.setdefault("standard", "python3")
        settings["strict"] = True
        super().__init__(settings)
        self.known_functions = {k: f"math.{v}" for k, v in NUMBA_FUNCTIONS.items()}

    # -- names -----------------------------------------------------------------------
    def _print_Symbol(self, expr):
        """Symbols print as their names, which must be plain ASCII identifiers (a sympy
        Symbol may be named anything; such a name never reaches generated source)."""
        name = expr.name
        if not (name.isascii() and name.isidentifier()) or name.startswith("__"):
            raise PrinterError(f"symbol name {name!r} is not a plain ASCII identifier")
        return super()._print_Symbol(expr)

    # -- numbers ---------------------------------------------------------------------
    def _print_Integer(self, expr):
        return str(int(expr))

    def _print_Rational(self, expr):
        return number_literal(expr)

    def _print_Half(self, expr):
        return "0.5"

    def _print_Float(self, expr):
        raise PrinterError(f"floating-point constant {expr} in a symbolic expression; derive exact values")

    def _print_NumberSymbol(self, expr):
        return number_literal(expr)

    _print_Pi = _print_NumberSymbol
    _print_Exp1 = _print_NumberSymbol
    _print_EulerGamma = _print_NumberSymbol
    _print_Catalan = _print_NumberSymbol

    def _print_ImaginaryUnit(self, expr):
        raise PrinterError("complex unit I in a real expression")

    # -- guarded functions -------------------------------------------------------------
    def _print_Pow(self, expr, rational=False):
        if expr.is_number:
            return number_literal(expr)
        base, exp = expr.as_base_exp()
        if exp.is_Rational and not exp.is_Integer:
            guarded = f"_pos({self._print(base)})"
            if exp == sp.S.Half:
                return f"math.sqrt({guarded})"
            if exp == -sp.S.Half:
                return f"(1.0/math.sqrt({guarded}))"
            return f"{guarded}**{number_literal(exp)}"
        if exp.is_Integer:
            return super()._print_Pow(expr, rational=rational)
        return f"{self.parenthesize(base, 100)}**{self.parenthesize(exp, 100)}"

    def _print_asin(self, expr):
        return f"_asin(_clip1({self._print(expr.args[0])}))"

    def _print_acos(self, expr):
        return f"_acos(_clip1({self._print(expr.args[0])}))"

    def _print_Heaviside(self, expr):
        return f"_heaviside({self._print(expr.args[0])})"

    def _print_sign(self, expr):
        return f"_sign({self._print(expr.args[0])})"

    def _print_Abs(self, expr):
        return f"abs({self._print(expr.args[0])})"

    def _print_Max(self, expr):
        return "max(" + ", ".join(self._print(a) for a in expr.args) + ")"

    def _print_Min(self, expr):
        return "min(" + ", ".join(self._print(a) for a in expr.args) + ")"

    def _print_DiracDelta(self, expr):
        raise PrinterError("a Dirac delta cannot be evaluated pointwise")

    def _print_Function(self, expr):
        name = expr.func.__name__
        if name in NUMBA_FUNCTIONS:
            return f"math.{NUMBA_FUNCTIONS[name]}({', '.join(self._print(a) for a in expr.args)})"
        raise PrinterError(f"function {name} is not supported by the numba printer")

    def _print_Expectation(self, expr):
        raise PrinterError("an unevaluated Gaussian expectation reached the printer")


def numba_code(expr) -> str:
    """Print ``expr`` with :class:`NumbaPrinter`."""
    return NumbaPrinter().doprint(sp.sympify(expr))
