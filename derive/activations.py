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
from .numpy_functions import NUMPY_MODULES
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
    distributions such as δ(z)·Θ(z) appear.  Steps in a non-polynomial position
    (a denominator, a function argument, nested steps: ``z/(1+abs(z))``,
    ``min(max(z,-1),1)``) are first rewritten by :func:`canonical_piecewise`;
    products of steps of one variable become one interval indicator,
    Θ(z+1)·Θ(z−1) → Θ(z−1), Θ(z−1)·Θ(−z−1) → 0.

    >>> canonical_steps(z / (1 + _abs(z)))
    z*Heaviside(z)/(z + 1) + z*Heaviside(-z)/(1 - z)
    """
    if not _polynomial_in_steps(expr):
        expr = canonical_piecewise(expr)
    expr = sp.expand(expr).replace(
        lambda e: e.is_Pow and isinstance(e.base, sp.Heaviside) and e.exp.is_Integer and e.exp > 0,
        lambda e: e.base)
    terms = []
    for term in sp.Add.make_args(expr):
        args = [f.args[0] for f in sp.Mul.make_args(term) if isinstance(f, sp.Heaviside)]
        if not any(sp.expand(a + b) == 0 for i, a in enumerate(args) for b in args[i + 1:]):
            term = _merge_intervals(term) if len(args) > 1 else term
            if term != 0:
                terms.append(term)
    return sp.Add(*terms)


def kinked_at_zero(act: "Activation") -> bool:
    """True for σ whose only non-smooth points are at z = 0 (ReLU, leaky ReLU, …), False for a
    smooth σ; :class:`RGFlowError` for a bend elsewhere (numerical integrators that split at z = 0
    cannot take it).

    >>> kinked_at_zero(activation("relu")), kinked_at_zero(activation("tanh"))
    (True, False)
    """
    expr = canonical_steps(act.bound_expr)
    steps = expr.atoms(sp.Heaviside)
    if not steps and not expr.has(sp.Abs, sp.sign):
        return False
    if expr.has(sp.Abs, sp.sign) or any(sp.simplify(h.args[0] ** 2 - z**2) != 0 for h in steps):
        raise RGFlowError(f"{act.name} bends away from z = 0; this integrator handles kinks at z = 0 only")
    return True


def _polynomial_in_steps(expr: sp.Expr) -> bool:
    """True when every Heaviside is a polynomial factor with a linear, step-free argument."""
    if not expr.has(sp.Heaviside):
        return True
    if isinstance(expr, sp.Heaviside):
        arg = expr.args[0]
        return not arg.has(sp.Heaviside, sp.DiracDelta) and all(
            sp.diff(arg, s, 2) == 0 for s in arg.free_symbols)
    if expr.is_Add or expr.is_Mul:
        return all(_polynomial_in_steps(a) for a in expr.args)
    if expr.is_Pow and expr.exp.is_Integer and expr.exp > 0:
        return _polynomial_in_steps(expr.base)
    return False


def _unit_step(h):
    """(variable, +1/−1, root) for Θ(s·(v − r)) with numeric s ≠ 0 and r, else None."""
    arg = h.args[0]
    if len(arg.free_symbols) != 1:
        return None
    (v,) = arg.free_symbols
    slope = sp.diff(arg, v)
    if not (slope.is_number and slope != 0 and sp.diff(slope, v) == 0):
        return None
    root = -arg.subs(v, 0) / slope
    return (v, 1 if slope > 0 else -1, root) if root.is_number else None


def _merge_intervals(term: sp.Expr) -> sp.Expr:
    """Θ(v − a)Θ(v − b) → Θ(v − max(a, b)), Θ(v − a)Θ(b − v) → 0 for b ≤ a (a.e.)."""
    keep, bounds = [], {}
    for factor in sp.Mul.make_args(term):
        info = _unit_step(factor) if isinstance(factor, sp.Heaviside) else None
        if info is None:
            keep.append(factor)
        else:
            bounds.setdefault(info[0], []).append(info[1:])
    for v, items in bounds.items():
        lows = [r for s, r in items if s > 0]
        highs = [r for s, r in items if s < 0]
        lo = max(lows, key=float) if lows else None
        hi = min(highs, key=float) if highs else None
        if lo is not None and hi is not None and float(lo) >= float(hi):
            return sp.S.Zero
        keep += [sp.Heaviside(v - lo)] if lo is not None else []
        keep += [sp.Heaviside(hi - v)] if hi is not None else []
    return sp.Mul(*keep)


def canonical_piecewise(expr: sp.Expr, v: sp.Symbol = z) -> sp.Expr:
    """Σ_i f_i(v)·1_{(p_i, p_{i+1})}(v): smooth branches times interval indicators.

    p_1 < … < p_m are the real zeros of every Heaviside argument (nested ones
    first, branch by branch); f_i is ``expr`` with each Θ(u) replaced by its value
    on (p_i, p_{i+1}) (the branch substitution of ``_side``).  The indicators are
    Θ(p_1 − v), Θ(v − p_i)·Θ(p_{i+1} − v) and Θ(v − p_m), so powers of (2Θ − 1),
    steps in denominators and steps of steps disappear: 1/(1 + |z|) becomes
    Θ(z)/(1 + z) + Θ(−z)/(1 − z), and hard-tanh −Θ(−z−1) + zΘ(z+1)Θ(1−z) + Θ(z−1).
    Equal neighbouring branches are merged.

    Raises
    ------
    ActivationError
        When the kinks cannot be located exactly (infinitely many, or ordered only
        once parameter values are given).
    """
    points = _breakpoints(expr, v)
    edges = [None, *points, None]
    pieces = []   # [lo, hi, branch]
    for lo, hi in zip(edges[:-1], edges[1:]):
        branch = _branch(expr, v, lo, hi)
        if pieces and sp.expand(pieces[-1][2] - branch) == 0:
            pieces[-1][1] = hi
        else:
            pieces.append([lo, hi, branch])
    total = sp.S.Zero
    for lo, hi, branch in pieces:
        low = sp.Heaviside(v - lo) if lo is not None else sp.S.One
        high = sp.Heaviside(hi - v) if hi is not None else sp.S.One
        total += branch * low * high
    return total


_MAX_KINKS = 32


def _breakpoints(expr: sp.Expr, v: sp.Symbol) -> list:
    """Sorted real zeros of the Heaviside arguments of ``expr`` (nested ones included)."""
    points = set()
    for h in expr.atoms(sp.Heaviside):
        u = h.args[0]
        if not u.has(v):
            continue
        inner = _breakpoints(u, v) if u.has(sp.Heaviside) else []
        points.update(inner)
        edges = [None, *inner, None]
        for lo, hi in zip(edges[:-1], edges[1:]):
            branch = _branch(u, v, lo, hi) if inner else u
            points.update(r for r in _real_roots(branch, v, expr)
                          if (lo is None or _less(lo, r)) and (hi is None or _less(r, hi)))
        if len(points) > _MAX_KINKS:
            raise ActivationError(f"activation has more than {_MAX_KINKS} kinks; not supported")
    return _ordered(points, expr)


def _real_roots(u: sp.Expr, v: sp.Symbol, expr: sp.Expr) -> list:
    if not u.has(v) or sp.expand(u) == 0:
        return []
    try:
        roots = sp.solveset(u, v, sp.S.Reals)
    except (NotImplementedError, ValueError, TypeError):
        roots = None
    if not isinstance(roots, sp.FiniteSet) or len(roots) > _MAX_KINKS:
        raise ActivationError(
            f"cannot locate the kinks of {expr} exactly: the zeros of {u} are {roots}")
    return list(roots)


def _less(a, b) -> bool:
    diff = sp.sympify(b - a)
    if diff.is_positive is not None:
        return bool(diff.is_positive)
    if diff.is_number:
        return bool(diff.evalf(30) > 0)
    raise ActivationError(f"cannot order the kinks {a} and {b}; give values for the parameters")


def _ordered(points, expr) -> list:
    points = list(points)
    if len(points) > 1 and any(not p.is_number for p in points):
        names = ", ".join(sorted({s.name for p in points for s in p.free_symbols}))
        raise ActivationError(f"the kinks of {expr} move with parameters ({names}); give their values")
    return sorted(points, key=lambda p: (float(p.evalf(30)) if p.is_number else 0.0))


def _branch(expr: sp.Expr, v: sp.Symbol, lo, hi) -> sp.Expr:
    """``expr`` on the open interval (lo, hi) (None: unbounded), steps replaced by 0/1."""
    if lo is None and hi is None:
        t = sp.S.Zero
    elif lo is None:
        t = hi - 1
    elif hi is None:
        t = lo + 1
    else:
        t = (lo + hi) / 2

    def value(u):
        at = u.subs(v, t)
        if at.is_zero:   # u vanishes on the whole interval (a branch of a step of a step)
            return sp.Heaviside(sp.S.Zero)
        positive = at.is_positive
        if positive is None and at.is_number:
            positive = bool(at.evalf(30) > 0)
        if positive is None:
            where = f"({'-oo' if lo is None else lo}, {'oo' if hi is None else hi})"
            raise ActivationError(f"cannot decide the sign of {u} for z in {where}; give parameter values")
        return sp.S.One if positive else sp.S.Zero
    return _replace_steps(expr, v, value)


def _replace_steps(expr: sp.Expr, v: sp.Symbol, value) -> sp.Expr:
    """Bottom-up: each Heaviside(u) with u depending on v (inner ones first) → value(u)."""
    if not expr.has(sp.Heaviside):
        return expr
    if isinstance(expr, sp.Heaviside):
        u = _replace_steps(expr.args[0], v, value)
        return value(u) if u.has(v) else sp.Heaviside(u)
    return expr.func(*[_replace_steps(a, v, value) for a in expr.args])


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
        if len(deltas) > 1 and _disjoint_deltas(deltas):
            continue   # δ(z − a)·δ(z − b) with a ≠ b: disjoint supports
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


def as_piecewise(expr: sp.Expr, v: sp.Symbol = z) -> sp.Expr:
    """``expr`` as a Piecewise over the intervals between its kinks (one branch each).

    Built from the branches of :func:`canonical_piecewise`, so its cost is linear in
    the number of kinks (``piecewise_fold`` of the Heaviside form is exponential).
    Falls back to ``piecewise_fold`` when the kinks depend on parameters.
    """
    try:
        points = _breakpoints(expr, v)
    except ActivationError:
        return sp.piecewise_fold(expr.rewrite(sp.Piecewise))
    edges = [None, *points, None]
    values = [_branch(expr, v, lo, hi) for lo, hi in zip(edges[:-1], edges[1:])]
    branches = []
    for i, p in enumerate(points):
        branches.append((values[i], v < p))
        left, right = values[i].subs(v, p), values[i + 1].subs(v, p)
        if sp.simplify(left - right) != 0:   # a jump: the Θ(0) = 1/2 mean, as Heaviside
            branches.append(((left + right) / 2, sp.Eq(v, p)))
    branches.append((values[-1], True))
    return sp.Piecewise(*branches) if len(branches) > 1 else values[0]


def _disjoint_deltas(deltas) -> bool:
    """True when two of the deltas sit at different points of the same variable."""
    points = [(i[0], i[2]) for i in map(_unit_step, deltas) if i is not None]
    return any(v == w and sp.simplify(a - b) != 0 for k, (v, a) in enumerate(points) for w, b in points[k + 1:])


def _lambdify(act: Activation, expr: sp.Expr) -> Callable[[np.ndarray], np.ndarray]:
    if not act.is_numeric:
        names = ", ".join(p.name for p in act.free_parameters)
        raise ActivationError(f"activation {act.name!r} has unbound parameters ({names}); give values",
                              cli=f"activation {act.name!r} has unbound parameters ({names}); give values "
                                  "with -p NAME=VALUE")
    if not expr.has(z):  # lambdify returns a scalar for constants: broadcast it
        value = float(expr)
        return lambda x: np.full(np.shape(x), value)
    if expr.has(sp.Heaviside):  # select branches so that e^z·Θ(−z) is 0, not ∞·0, at large z
        expr = as_piecewise(expr)
    fn = sp.lambdify(z, expr, modules=NUMPY_MODULES)
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
    >>> parse_expression("__import__(z)")
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
    derive.activations.ActivationError: character '#' (U+0023) at position 10 is not allowed in an activation expression (comments are not accepted); allowed: letters, digits, _ + - * / ( ) , . and spaces
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
            _check_power(left, right)
            return _bounded(left ** right)
        return _bounded(_BINARY[type(node.op)](left, right))
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
        return _bounded(builder(*(_build(a) for a in node.args)))
    kind = type(node).__name__
    raise ActivationError(f"unsupported syntax in activation expression: {kind}")


#: Names that would read as non-finite or complex numbers (compared in lower case).
_RESERVED_NAMES = frozenset({"nan", "inf", "infinity"})
#: Largest number of decimal digits of a constant (numerator, denominator or 10-exponent);
#: every finite float fits (5e-324 has a 325-digit denominator).
_MAX_DIGITS = 400


def _bounded(expr: sp.Expr) -> sp.Expr:
    """``expr``, after checking that a constant has at most ``_MAX_DIGITS`` digits.

    Applied to every node of the parse bottom-up, so each check evaluates a number
    built from already bounded parts (cheap); stops ``(9**64)**64)**64`` or
    ``exp(exp(exp(100)))`` before sympy or mpmath spend minutes on them.
    """
    if not expr.is_number:
        return expr
    if expr.is_Rational:
        bits = max(abs(expr.p).bit_length(), expr.q.bit_length())
        digits = bits * math.log10(2)
    else:
        value = sp.N(abs(expr), 15)
        digits = 0.0 if value == 0 or not value.is_finite else abs(float(sp.log(value, 10)))
        if not value.is_finite:
            digits = math.inf
    if digits > _MAX_DIGITS:
        raise ActivationError(f"constant {sp.sstr(expr)[:40]}... has more than {_MAX_DIGITS} digits "
                              "(too large or too small to be an activation parameter)")
    return expr


def _check_power(base: sp.Expr, exponent: sp.Expr) -> None:
    """Reject base**exponent of numbers whose size (|exponent|·log10|base|) exceeds the bound."""
    if not (base.is_number and exponent.is_number) or base == 0:
        return
    size = abs(float(sp.N(exponent, 15)) * float(sp.N(sp.log(abs(base), 10), 15)))
    if size > _MAX_DIGITS:
        raise ActivationError(f"constant {sp.sstr(base)[:40]}**{sp.sstr(exponent)[:40]} has about "
                              f"{size:.3g} digits (limit {_MAX_DIGITS})")


def _name(name: str) -> sp.Expr:
    if name == "z":
        return z
    if name in ALLOWED_CONSTANTS:
        return ALLOWED_CONSTANTS[name]
    if name in ALLOWED_FUNCTIONS:
        raise ActivationError(f"function {name!r} used without arguments")
    if name.lower() in _RESERVED_NAMES or name in ("I", "j", "oo", "zoo"):
        raise ActivationError(f"{name!r} is not a finite real number and cannot name a parameter")
    if name.startswith("_") or len(name) > 16 or not name.isidentifier() or not name.isascii():
        raise ActivationError(f"parameter name {name!r} is not allowed (use short ASCII names)")
    return sp.Symbol(name, real=True)


def _exact(value) -> sp.Expr:
    """An exact sympy number for a finite int/float/str/Fraction/sympy value."""
    if isinstance(value, sp.Basic):
        if not value.is_number or not value.is_finite or value.is_real is False:
            raise ActivationError(f"parameter value {value} is not a finite real number")
        return _bounded(sp.nsimplify(value) if isinstance(value, sp.Float) else value)
    if isinstance(value, bool):
        raise ActivationError("parameter values must be numbers, not booleans")
    if isinstance(value, int):
        return _bounded(sp.Integer(value))
    if isinstance(value, Fraction):
        return _bounded(sp.Rational(value.numerator, value.denominator))
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
