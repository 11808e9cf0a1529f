"""Activation functions: a frozen value type, a named registry and a safe parser.

Stage *activation*: user text or a registry name → :class:`Activation`.

User expressions are parsed with :mod:`ast` and rebuilt node by node from an
allow-list of operators, functions and constants; user text is never passed to
``eval``, ``exec`` or ``sympify``.  Kinks are written with ``Heaviside`` so that the
Gaussian-expectation rules can treat them exactly (``max``, ``min``, ``abs``,
``sign`` and ``relu`` are rewritten into that form).
"""

from __future__ import annotations

import ast
import hashlib
import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Callable, Mapping

import numpy as np
import sympy as sp

from .errors import RGFlowError
from .symbols import z

__all__ = ["Activation", "ActivationError", "activation", "canonical_text", "parse_expression", "registry_names"]


class ActivationError(RGFlowError, ValueError):
    """An activation name or expression that cannot be accepted."""


@dataclass(frozen=True)
class Activation:
    """An activation function sigma(z) (THEORY.md §1).

    Attributes
    ----------
    name : str
        Registry name, or the canonical (printer-produced) text of a user expression
        (:func:`canonical_text`): never the user's raw text.
    expr : sympy.Expr
        sigma as an exact sympy expression in :data:`derive.symbols.z`; free
        parameters are real symbols.
    values : tuple of (str, sympy.Expr)
        Exact values bound to parameters, sorted by name.  Parameters without a
        value stay symbolic (e.g. the leaky-ReLU slope ``a``).

    Examples
    --------
    >>> activation("leaky_relu").free_parameters
    (a,)
    >>> activation("z*erf(z)+a*z", a=0.1).bound_expr
    z*erf(z) + z/10
    """

    name: str
    expr: sp.Expr
    values: tuple[tuple[str, sp.Expr], ...] = ()

    # -- structure -----------------------------------------------------------------
    @property
    def parameters(self) -> tuple[sp.Symbol, ...]:
        """All parameter symbols of ``expr``, sorted by name."""
        return tuple(sorted(self.expr.free_symbols - {z}, key=lambda s: s.name))

    @property
    def free_parameters(self) -> tuple[sp.Symbol, ...]:
        """Parameters that have no bound value."""
        bound = {name for name, _ in self.values}
        return tuple(p for p in self.parameters if p.name not in bound)

    @property
    def bound_expr(self) -> sp.Expr:
        """``expr`` with the bound parameter values substituted."""
        if not self.values:
            return self.expr
        by_name = {p.name: p for p in self.parameters}
        return self.expr.xreplace({by_name[k]: v for k, v in self.values})

    @property
    def is_numeric(self) -> bool:
        """True when every parameter has a value (needed for quadrature)."""
        return not self.free_parameters

    @property
    def kinks(self) -> tuple[sp.Expr, ...]:
        """Points where sigma or a derivative jumps (zeros of Heaviside arguments)."""
        points = set()
        for h in self.bound_expr.atoms(sp.Heaviside, sp.DiracDelta):
            points.update(sp.solve(h.args[0], z))
        return tuple(sorted(points, key=sp.default_sort_key))

    def derivative(self, order: int = 1) -> sp.Expr:
        """The ``order``-th derivative of sigma with Dirac deltas in canonical form.

        Terms f(z)·δ(z − z0) are reduced to f(z0)·δ(z − z0), so ``z·δ(z)`` vanishes
        as it must for ReLU.
        """
        return integrand(self.bound_expr, order)

    def with_values(self, **values) -> "Activation":
        """A copy with more parameters bound (exact values)."""
        return _bind(self.name, self.expr, values, previous=dict(self.values))

    # -- numerics ------------------------------------------------------------------
    def numpy_function(self) -> Callable[[np.ndarray], np.ndarray]:
        """sigma as a vectorised numpy function (all parameters must be bound)."""
        return _lambdify(self, self.bound_expr)

    def numpy_derivative(self, order: int = 1) -> Callable[[np.ndarray], np.ndarray]:
        """sigma^(order) as a numpy function; Dirac deltas are dropped (a.e. derivative)."""
        expr = self.derivative(order).replace(sp.DiracDelta, lambda *a: sp.S.Zero)
        return _lambdify(self, expr)

    # -- identity ------------------------------------------------------------------
    def signature(self) -> str:
        """Stable sha256 of the bound expression (independent of ``PYTHONHASHSEED``)."""
        return hashlib.sha256(sp.srepr(self.bound_expr).encode()).hexdigest()

    def __str__(self) -> str:
        if self.values:
            bound = ", ".join(f"{k}={v}" for k, v in self.values)
            return f"{self.name} ({bound})"
        return self.name


def canonical_steps(expr: sp.Expr) -> sp.Expr:
    """Θ(u)^k → Θ(u) and Θ(u)·Θ(−u) → 0 (exact as functions, a.e.), after expansion.

    Needed before differentiating powers of a kinked σ, so that no products of
    distributions such as δ(z)·Θ(z) appear.
    """
    expr = sp.expand(expr).replace(
        lambda e: e.is_Pow and isinstance(e.base, sp.Heaviside) and e.exp.is_Integer and e.exp > 0,
        lambda e: e.base)
    terms = []
    for term in sp.Add.make_args(expr):
        args = [f.args[0] for f in sp.Mul.make_args(term) if isinstance(f, sp.Heaviside)]
        if not any(sp.expand(a + b) == 0 for i, a in enumerate(args) for b in args[i + 1:]):
            terms.append(term)
    return sp.Add(*terms)


def integrand(expr: sp.Expr, order: int = 0) -> sp.Expr:
    """``order``-th z-derivative of a function of σ, in canonical distributional form."""
    return clean_deltas(sp.diff(canonical_steps(expr), z, order)) if order else canonical_steps(expr)


def clean_deltas(expr: sp.Expr) -> sp.Expr:
    """Put every f(z)·δ^{(k)}(z − z0) term in canonical form Σ_j c_j δ^{(j)}(z − z0).

    Uses f(z)δ^{(k)}(u) = Σ_{j≤k} (−1)^{k−j} C(k, j) f^{(k−j)}(z0) δ^{(j)}(u) for a
    linear u with root z0 and unit slope, so ``z·δ(z)`` vanishes and
    ``z·δ'(z) = −δ(z)``, as distributions.
    """
    expr = sp.expand(expr)
    terms = []
    for term in sp.Add.make_args(expr):
        deltas = [f for f in sp.Mul.make_args(term) if isinstance(f, sp.DiracDelta)]
        if len(deltas) == 1:
            delta = deltas[0]
            arg, order = delta.args[0], (int(delta.args[1]) if len(delta.args) > 1 else 0)
            slope = sp.diff(arg, z)
            if slope.is_number and slope != 0 and sp.diff(arg, z, 2) == 0:
                root = sp.solve(arg, z)[0]
                rest = term / delta
                # δ^{(k)}(s(z − z0)) = δ^{(k)}(z − z0) / (|s| s^k)
                scale = 1 / (abs(slope) * slope**order)
                shifted = z - root
                term = scale * sp.Add(*[
                    (-1) ** (order - j) * sp.binomial(order, j)
                    * sp.diff(rest, z, order - j).subs(z, root)
                    * (sp.DiracDelta(shifted, j) if j else sp.DiracDelta(shifted))
                    for j in range(order + 1)])
        terms.append(term)
    return sp.expand(sp.Add(*terms))


def _lambdify(act: Activation, expr: sp.Expr) -> Callable[[np.ndarray], np.ndarray]:
    if not act.is_numeric:
        names = ", ".join(p.name for p in act.free_parameters)
        raise ActivationError(f"activation {act.name!r} has unbound parameters ({names}); give values")
    if not expr.has(z):  # lambdify returns a scalar for constants: broadcast it
        value = float(expr)
        return lambda x: np.full(np.shape(x), value)
    from .quadrature import _NUMPY_MODULES
    if expr.has(sp.Heaviside):  # select branches so that e^z·Θ(−z) is 0, not ∞·0, at large z
        expr = sp.piecewise_fold(expr.rewrite(sp.Piecewise))
    fn = sp.lambdify(z, expr, modules=_NUMPY_MODULES)
    if expr.has(sp.Piecewise):
        def guarded(x, fn=fn):
            with np.errstate(over="ignore", invalid="ignore"):
                return fn(x)
        return lambda x: guarded(np.asarray(x, dtype=float))
    return lambda x: fn(np.asarray(x, dtype=float))


# ---------------------------------------------------------------------------------
# Safe parser
# ---------------------------------------------------------------------------------

def _heaviside(u):
    return sp.Heaviside(u)


def _relu(u):
    return u * sp.Heaviside(u)


def _max(a, b):
    return a * sp.Heaviside(a - b) + b * sp.Heaviside(b - a)


def _min(a, b):
    return a * sp.Heaviside(b - a) + b * sp.Heaviside(a - b)


def _abs(u):
    return u * (2 * sp.Heaviside(u) - 1)


def _sign(u):
    return 2 * sp.Heaviside(u) - 1


def _sigmoid(u):
    return 1 / (1 + sp.exp(-u))


def _softplus(u):
    return sp.log(1 + sp.exp(u))


def _phi(u):
    return (1 + sp.erf(u / sp.sqrt(2))) / 2


#: Functions a user expression may call: name → (arity, builder).
ALLOWED_FUNCTIONS: Mapping[str, tuple[int, Callable]] = {
    "exp": (1, sp.exp), "log": (1, sp.log), "sqrt": (1, sp.sqrt),
    "sin": (1, sp.sin), "cos": (1, sp.cos), "tan": (1, sp.tan),
    "sinh": (1, sp.sinh), "cosh": (1, sp.cosh), "tanh": (1, sp.tanh),
    "atan": (1, sp.atan), "arctan": (1, sp.atan), "asinh": (1, sp.asinh), "arcsinh": (1, sp.asinh),
    "erf": (1, sp.erf), "erfc": (1, sp.erfc), "Phi": (1, _phi),
    "sigmoid": (1, _sigmoid), "softplus": (1, _softplus), "relu": (1, _relu),
    "heaviside": (1, _heaviside), "Heaviside": (1, _heaviside), "step": (1, _heaviside),
    "theta": (1, _heaviside), "abs": (1, _abs), "Abs": (1, _abs), "sign": (1, _sign),
    "max": (2, _max), "Max": (2, _max), "min": (2, _min), "Min": (2, _min),
}
#: Named constants.
ALLOWED_CONSTANTS: Mapping[str, sp.Expr] = {"pi": sp.pi, "e": sp.E, "E": sp.E}

_MAX_LENGTH = 500
_MAX_INTEGER_POWER = 64
_MAX_DEPTH = 48
_BINARY = {ast.Add: sp.Add, ast.Sub: lambda a, b: a - b, ast.Mult: sp.Mul,
           ast.Div: lambda a, b: a / b, ast.Pow: None}


def parse_expression(text: str) -> sp.Expr:
    """Parse ``text`` into a sympy expression in ``z`` using only the allow-list.

    Raises
    ------
    ActivationError
        For anything outside the grammar: attribute access, subscripts, lambdas,
        keyword arguments, unknown functions, strings, complex numbers, names
        starting with an underscore, integer powers beyond 64.

    Examples
    --------
    >>> parse_expression("max(0, z)")
    z*Heaviside(z)
    >>> parse_expression("__import__('os')")
    Traceback (most recent call last):
    ...
    derive.activations.ActivationError: unknown function '__import__' in activation expression; allowed: Abs, Heaviside, ...
    """
    if not isinstance(text, str) or not text.strip():
        raise ActivationError("activation expression must be a non-empty string")
    if len(text) > _MAX_LENGTH:
        raise ActivationError(f"activation expression longer than {_MAX_LENGTH} characters")
    _check_characters(text)
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        raise ActivationError(f"malformed activation expression {text!r}: {exc.__class__.__name__}") from None
    depth = _depth(tree.body)
    if depth > _MAX_DEPTH:
        raise ActivationError(f"activation expression nested {depth} levels deep (limit {_MAX_DEPTH})")
    try:
        expr = _build(tree.body)
    except RecursionError:
        raise ActivationError("activation expression nested too deeply") from None
    if not isinstance(expr, sp.Expr) or expr.has(sp.zoo, sp.nan, sp.oo, -sp.oo):
        raise ActivationError(f"activation expression {text!r} is not a finite real expression")
    return expr


#: The only characters an expression may contain: ASCII letters, digits, '_', the arithmetic
#: operators, parentheses, the argument comma, the decimal point and spaces.  Everything else
#: (comments '#', quotes, backslashes, control characters, non-ASCII letters that Python would
#: NFKC-normalise into ASCII names) is refused before the text reaches the Python parser.
_ALLOWED_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+-*/()., ")


def _check_characters(text: str) -> None:
    """Refuse every character outside :data:`_ALLOWED_CHARACTERS`, naming the first one.

    Examples
    --------
    >>> _check_characters("z*tanh(z) # note")
    Traceback (most recent call last):
    ...
    derive.activations.ActivationError: character '#' (U+0023) at position 11 is not allowed in an activation expression (comments are not accepted); allowed: letters, digits, _ + - * / ( ) , . and spaces
    """
    for position, char in enumerate(text):
        if char in _ALLOWED_CHARACTERS:
            continue
        hint = {"#": " (comments are not accepted)", "^": " (write powers as z**3)"}.get(char, "")
        shown = f"{char!r} (U+{ord(char):04X})" if char.isprintable() and char.isascii() else f"U+{ord(char):04X}"
        raise ActivationError(
            f"character {shown} at position {position} is not allowed in an "
            f"activation expression{hint}; allowed: letters, digits, _ + - * / ( ) , . and spaces")


def _depth(node: ast.AST) -> int:
    children = list(ast.iter_child_nodes(node))
    return 1 + max((_depth(c) for c in children), default=0)


def _build(node: ast.AST) -> sp.Expr:
    if isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ActivationError(f"only real numbers are allowed as constants, not {value!r}")
        return _exact(value)
    if isinstance(node, ast.Name):
        return _name(node.id)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        operand = _build(node.operand)
        return -operand if isinstance(node.op, ast.USub) else operand
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _build(node.left), _build(node.right)
        if isinstance(node.op, ast.Pow):
            if right.is_Integer and abs(int(right)) > _MAX_INTEGER_POWER:
                raise ActivationError(f"integer power {right} exceeds the limit {_MAX_INTEGER_POWER}")
            return left ** right
        return _BINARY[type(node.op)](left, right)
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name):
            raise ActivationError("only plain function calls like tanh(z) are allowed")
        fname = node.func.id
        if fname not in ALLOWED_FUNCTIONS:
            raise ActivationError(
                f"unknown function {fname!r} in activation expression; allowed: "
                + ", ".join(sorted(ALLOWED_FUNCTIONS)))
        arity, builder = ALLOWED_FUNCTIONS[fname]
        if node.keywords or len(node.args) != arity:
            raise ActivationError(f"function {fname!r} takes exactly {arity} positional argument(s)")
        return builder(*(_build(a) for a in node.args))
    kind = type(node).__name__
    raise ActivationError(f"unsupported syntax in activation expression: {kind}")


def _name(name: str) -> sp.Expr:
    if name == "z":
        return z
    if name in ALLOWED_CONSTANTS:
        return ALLOWED_CONSTANTS[name]
    if name in ALLOWED_FUNCTIONS:
        raise ActivationError(f"function {name!r} used without arguments")
    if name.startswith("_") or len(name) > 16 or not name.isidentifier() or not name.isascii():
        raise ActivationError(f"parameter name {name!r} is not allowed (use short ASCII names)")
    return sp.Symbol(name, real=True)


def _exact(value) -> sp.Expr:
    """An exact sympy number for a finite int/float/str/Fraction/sympy value."""
    if isinstance(value, sp.Basic):
        if not value.is_number or not value.is_finite or value.is_real is False:
            raise ActivationError(f"parameter value {value} is not a finite real number")
        return sp.nsimplify(value) if isinstance(value, sp.Float) else value
    if isinstance(value, bool):
        raise ActivationError("parameter values must be numbers, not booleans")
    if isinstance(value, int):
        return sp.Integer(value)
    if isinstance(value, Fraction):
        return sp.Rational(value.numerator, value.denominator)
    if isinstance(value, (float, np.floating)):
        if not math.isfinite(value):
            raise ActivationError(f"parameter value {value} is not finite")
        return sp.Rational(repr(float(value)))
    if isinstance(value, str):
        try:
            return _exact(float(value))
        except ValueError:
            raise ActivationError(f"parameter value {value!r} is not a real number") from None
    raise ActivationError(f"parameter value {value!r} is not a real number")


# ---------------------------------------------------------------------------------
# Registry
# ---------------------------------------------------------------------------------

_a, _alpha = sp.symbols("a alpha", real=True)

#: Named activations: name → (expression, default parameter values).
REGISTRY: Mapping[str, tuple[sp.Expr, Mapping[str, sp.Expr]]] = {
    "linear": (z, {}),
    "relu": (z * sp.Heaviside(z), {}),
    "leaky_relu": (z * sp.Heaviside(z) + _a * z * sp.Heaviside(-z), {}),
    "tanh": (sp.tanh(z), {}),
    "sin": (sp.sin(z), {}),
    "erf": (sp.erf(z), {}),
    "sigmoid": (_sigmoid(z), {}),
    "softplus": (_softplus(z), {}),
    "swish": (z * _sigmoid(z), {}),
    "gelu": (z * _phi(z), {}),
    "step": (sp.Heaviside(z), {}),
    "elu": (z * sp.Heaviside(z) + _alpha * (sp.exp(z) - 1) * sp.Heaviside(-z), {"alpha": sp.Integer(1)}),
    "exp": (sp.exp(z), {}),
}
_ALIASES = {"perceptron": "step", "identity": "linear", "silu": "swish", "leaky": "leaky_relu"}


def registry_names() -> tuple[str, ...]:
    """Names of the registered activations, sorted."""
    return tuple(sorted(REGISTRY))


def activation(spec: "str | Activation", **values) -> Activation:
    """Build an :class:`Activation` from a registry name or a user expression in ``z``.

    Parameters
    ----------
    spec : str or Activation
        A registry name (see :func:`registry_names`; aliases ``perceptron``,
        ``identity``, ``silu``) or an expression such as ``"z*erf(z)+a*z"``.
    **values
        Exact values for parameters (floats are converted to exact decimals).

    Examples
    --------
    >>> activation("tanh").expr
    tanh(z)
    >>> activation("elu").values
    (('alpha', 1),)
    """
    if isinstance(spec, Activation):
        return spec.with_values(**values) if values else spec
    if not isinstance(spec, str):
        raise ActivationError(f"activation must be a name or an expression string, not {type(spec).__name__}")
    key = _ALIASES.get(spec.strip(), spec.strip())
    if key in REGISTRY:
        expr, defaults = REGISTRY[key]
        return _bind(key, expr, values, previous=dict(defaults))
    if key.isidentifier() and key not in ALLOWED_FUNCTIONS and key != "z":
        raise ActivationError(
            f"unknown activation {spec!r}; named activations: {', '.join(registry_names())}; "
            "or give an expression in z such as 'z*tanh(z)'")
    expr = parse_expression(spec)
    if not expr.has(z):
        raise ActivationError(f"activation expression {spec!r} does not depend on z")
    named = _registry_match(expr)
    if named is not None:
        return _bind(named, REGISTRY[named][0], values, previous=dict(REGISTRY[named][1]))
    return _bind(canonical_text(expr), expr, values, previous={})


def canonical_text(expr: sp.Expr) -> str:
    """The canonical text of a parsed expression: sympy's printer, never the user's raw text.

    It is what :attr:`Activation.name` holds for user expressions, so two spellings of one
    function share a name (and a cache entry), and only printer-produced text (ASCII
    identifiers, digits, operators, parentheses) ever reaches a header or a file.

    Examples
    --------
    >>> canonical_text(parse_expression("z*tanh(z)   +  z/7"))
    'z*tanh(z) + z/7'
    """
    return sp.sstr(expr)


def _registry_match(expr: sp.Expr) -> str | None:
    """The registry name whose σ is ``expr`` (so ``"tanh(z)"`` is ``tanh``), or None.

    An entry with default parameter values matches only the expression with those values
    substituted (``"z*step(z) + (exp(z) - 1)*step(-z)"`` is ``elu`` with alpha = 1).
    """
    expanded = sp.expand(expr)
    for key in sorted(REGISTRY):
        reference, defaults = REGISTRY[key]
        if defaults:
            by_name = {s.name: s for s in reference.free_symbols}
            reference = reference.xreplace({by_name[k]: v for k, v in defaults.items()})
        if expr == reference or expanded == sp.expand(reference):
            return key
    return None


def _bind(name: str, expr: sp.Expr, values: Mapping, previous: Mapping) -> Activation:
    names = {s.name for s in expr.free_symbols - {z}}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ActivationError(
            f"activation {name!r} has no parameter(s) {', '.join(unknown)}; "
            f"its parameters are: {', '.join(sorted(names)) or 'none'}")
    merged = dict(previous)
    for key, value in values.items():
        merged[key] = _exact(value)
    act = Activation(name=name, expr=expr, values=tuple(sorted(merged.items())))
    _check_real_line(act)
    return act


def _check_real_line(act: Activation) -> None:
    """σ must be real and finite on all of ℝ: Gaussian pre-activations take every real value.

    Each side of the kink at 0 is checked with ``sympy.calculus.util.continuous_domain``
    (erf, which it does not know, replaced by tanh: both are entire and real), the
    value at 0 must be finite, and a numeric scan catches what sympy cannot decide.
    """
    from sympy.calculus.util import continuous_domain
    generic = {p: sp.Rational(37, 100) for p in act.free_parameters}
    expr = act.bound_expr.xreplace(generic).replace(sp.erf, sp.tanh).replace(sp.erfc, lambda u: 1 - sp.tanh(u))
    kinked = expr.has(sp.Heaviside)
    branches = [(+1, sp.Interval.open(0, sp.oo)), (-1, sp.Interval.open(-sp.oo, 0))] if kinked \
        else [(0, sp.S.Reals)]
    for side, required in branches:
        branch = _side(expr, side) if kinked else expr
        at_zero = branch.subs(z, 0)
        if not (at_zero.is_finite and at_zero.is_real is not False):
            raise ActivationError(f"activation {act.name!r} is not finite at z = 0")
        try:
            domain = continuous_domain(branch, z, sp.S.Reals)
        except (NotImplementedError, ValueError, TypeError):
            continue
        if not required.is_subset(domain):
            raise ActivationError(
                f"activation {act.name!r} is not real and continuous for every real z (only on {domain}); "
                "Gaussian pre-activations take all real values")
    if not act.free_parameters:
        with np.errstate(all="ignore"):
            values = np.asarray(act.numpy_function()(np.linspace(-40.0, 40.0, 1601)), dtype=complex)
        if np.any(np.isnan(values)) or np.any(values.imag != 0):
            raise ActivationError(f"activation {act.name!r} is not real for some real z")


def _side(expr: sp.Expr, side: int) -> sp.Expr:
    """expr for sign(z) = side: Heaviside(±z + c) evaluated on that side near 0."""
    def h(arg, *rest):
        slope = sp.diff(arg, z)
        return sp.S.One if (slope * side).is_positive else sp.S.Zero
    return expr.replace(sp.Heaviside, h)
