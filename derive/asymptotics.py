"""Large-depth power laws of layer recursions by dominant balance.

Stage *asymptotics*: a recursion X_{ℓ+1} − X_ℓ = Σ_i c_i ℓ^{e_i} X_ℓ^{m_i} (the
ℓ-powers come from substituting already solved power laws) → the leading
behaviour X_ℓ ≈ A ℓ^q, found by substituting the ansatz and matching the leading
orders (THEORY.md §5: "K ≈ cℓ^{−p}, V ≈ dℓ^q, match the leading orders").

The increment of the ansatz is X_{ℓ+1} − X_ℓ ≈ qAℓ^{q−1}.  Every pair of terms
(including that increment) whose exponents can be equal fixes a candidate q; a
candidate is accepted when the terms attaining the largest exponent balance for a
non-zero real amplitude A with the required sign.  Homogeneous linear recursions
X_{ℓ+1} = (1 + cℓ^{−1}) X_ℓ leave A free (set by the initial condition) and give
q = c; constant-coefficient affine recursions are solved exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from .symbols import ell

__all__ = ["Term", "PowerLaw", "solve_power_law", "solve_exact_affine", "solve_linear"]


@dataclass(frozen=True)
class Term:
    """One term c · ℓ^e · X^m of the increment X_{ℓ+1} − X_ℓ."""

    coefficient: sp.Expr
    ell_power: sp.Expr
    x_power: sp.Expr


@dataclass(frozen=True)
class PowerLaw:
    """X_ℓ ≈ amplitude · ℓ^exponent (amplitude None: fixed by initial conditions).

    ``kind`` is "power law", "constant" (X tends to a non-zero limit),
    "exact" (``expression`` is the exact solution) or "not a power law"
    (then ``note`` says what happens instead).
    """

    exponent: sp.Expr | None
    amplitude: sp.Expr | None
    kind: str = "power law"
    expression: sp.Expr | None = None
    note: str = ""

    def law(self) -> sp.Expr | None:
        """The leading behaviour as an expression in ℓ (free amplitude written as A)."""
        if self.expression is not None:
            return self.expression
        if self.exponent is None:
            return None
        amp = self.amplitude if self.amplitude is not None else sp.Symbol("A")
        return amp * ell ** self.exponent


def solve_exact_affine(constant: sp.Expr, slope: sp.Expr, initial: sp.Expr, start: int = 1) -> PowerLaw:
    """Exact solution of X_{ℓ+1} = slope·X_ℓ + constant with X_start = initial.

    Examples
    --------
    >>> solve_exact_affine(5, 1, 0).expression
    5*ell - 5
    """
    if sp.simplify(slope - 1) == 0:
        expr = sp.expand(initial + constant * (ell - start))
    else:
        fixed = constant / (1 - slope)
        expr = fixed + (initial - fixed) * slope ** (ell - start)
    return PowerLaw(exponent=None, amplitude=None, kind="exact", expression=sp.simplify(expr))


def solve_power_law(terms: list[Term], sign: int = +1) -> PowerLaw:
    """Leading power law of X_{ℓ+1} − X_ℓ = Σ terms, with sign(A) = ``sign`` (0: any).

    Examples
    --------
    >>> K = solve_power_law([Term(-2, 0, 2)])          # tanh: K' = K − 2K²
    >>> K.amplitude, K.exponent
    (1/2, -1)
    >>> V = solve_power_law([Term(sp.Rational(1, 2), -2, 0), Term(-4, -1, 1)])  # V' = V + 2K² − 8KV
    >>> V.amplitude, V.exponent
    (1/6, -1)
    """
    terms = [t for t in terms if sp.simplify(t.coefficient) != 0]
    if not terms:
        return PowerLaw(exponent=sp.S.Zero, amplitude=None, kind="constant",
                        note="the increment vanishes: X keeps its initial value")
    homogeneous = all(sp.simplify(t.x_power - 1) == 0 for t in terms)
    if homogeneous:
        return _homogeneous(terms)
    q = sp.Symbol("q", real=True)
    A = sp.Symbol("A", nonzero=True)
    exponents = [t.ell_power + t.x_power * q for t in terms]
    candidates = set()
    for i, e in enumerate(exponents):
        for other in [q - 1] + exponents[i + 1:]:
            sol = sp.solve(sp.Eq(e, other), q)
            candidates.update(s for s in sol if s.is_real)
    for qv in sorted(candidates, key=lambda v: float(v)):
        law = _try_balance(terms, qv, sign)
        if law is not None:
            return law
    return PowerLaw(exponent=None, amplitude=None, kind="not a power law",
                    note="no consistent dominant balance (logarithmic or faster-than-power behaviour)")


def _try_balance(terms, qv, sign):
    exps = [sp.simplify(t.ell_power + t.x_power * qv) for t in terms]
    top = max(exps, key=lambda e: float(e))
    lhs_order = qv - 1
    if float(lhs_order) > float(top) + 1e-12:
        return None  # the increment would dominate alone: only possible if q = 0 (constant)
    A = sp.Symbol("A")
    dominant = [t for t, e in zip(terms, exps) if sp.simplify(e - top) == 0]
    equation = sp.Add(*[t.coefficient * A ** t.x_power for t in dominant])
    if sp.simplify(lhs_order - top) == 0:
        equation -= qv * A
    if sp.simplify(equation.subs(A, 1) - equation.subs(A, 2)) == 0 and equation.subs(A, 1) == 0:
        return None
    solutions = [s for s in sp.solve(equation, A) if s != 0]
    for s in solutions:
        s = sp.simplify(s)
        if s.is_real is False:
            continue
        if sign and s.is_number and sp.sign(s) != sign:
            continue
        return PowerLaw(exponent=sp.nsimplify(qv), amplitude=s)
    return None


def _homogeneous(terms) -> PowerLaw:
    """X_{ℓ+1} = (1 + Σ c_i ℓ^{e_i}) X_ℓ: the slowest-decaying ℓ-power decides."""
    top = max(terms, key=lambda t: float(t.ell_power))
    e = sp.nsimplify(top.ell_power)
    c = sp.Add(*[t.coefficient for t in terms if sp.simplify(t.ell_power - e) == 0])
    if e == -1:
        return PowerLaw(exponent=sp.simplify(c), amplitude=None)
    if e < -1:
        return PowerLaw(exponent=sp.S.Zero, amplitude=None, kind="constant",
                        note="the correction is summable: X tends to a constant")
    return PowerLaw(exponent=None, amplitude=None, kind="not a power law",
                    note=f"log X ≈ {sp.simplify(c / (e + 1))}·ℓ^{e + 1} (stretched exponential)")


def increments_from_series(series: sp.Expr, x: sp.Symbol) -> list[tuple[sp.Expr, sp.Expr]]:
    """(coefficient, power) pairs of a series in (possibly fractional) powers of x, sorted."""
    series = sp.expand(series)
    pairs = {}
    for term in sp.Add.make_args(series):
        coeff, power = term.as_coeff_exponent(x)
        if term.has(x) and not coeff.has(x):
            pairs[power] = pairs.get(power, 0) + coeff
        elif not term.has(x):
            pairs[sp.S.Zero] = pairs.get(sp.S.Zero, 0) + term
        else:
            raise ValueError(f"cannot read {term} as c·{x}^p")
    return sorted(((sp.simplify(c), p) for p, c in pairs.items() if sp.simplify(c) != 0),
                  key=lambda cp: float(cp[1]))




def solve_linear(homogeneous: list[Term], source: list[Term] = (), small: sp.Expr | None = None) -> PowerLaw:
    """Leading law of a linear recursion X_{ℓ+1} − X_ℓ = Σ c_i ℓ^{e_i} X_ℓ + Σ s_j ℓ^{f_j} (+ o(ℓ^small)).

    The homogeneous part X_{ℓ+1} = (1 + cℓ^{−1} + …) X_ℓ grows as ℓ^c (c = 0 when its
    largest ℓ-power is below −1); a source s ℓ^f then gives the particular solution
    s ℓ^{f+1}/(f + 1 − c) when f + 1 > c, s ℓ^c log ℓ when f + 1 = c, and otherwise the
    homogeneous solution dominates (amplitude None: set by the initial condition).
    ``small`` is the exponent of a source known only to be o(ℓ^small) (its leading
    terms cancelled): the law is then kind "little-o", X = o(ℓ^{small+1}).
    Coefficients may contain log(ℓ) (slowly varying; kept as a factor).

    Examples
    --------
    >>> law = solve_linear([Term(-2, -1, 1)], [Term(1, 2, 0)])    # B' = (1 − 2/ℓ)B + ℓ²
    >>> law.amplitude, law.exponent
    (1/5, 3)
    >>> solve_linear([Term(-2, -1, 1)], small=0).kind              # A' = (1 − 2/ℓ)A + o(1)
    'little-o'
    """
    homogeneous = [t for t in homogeneous if not _vanishes(t.coefficient)]
    if any(t.x_power != 1 for t in homogeneous) or any(t.x_power != 0 for t in source):
        raise ValueError("solve_linear needs terms linear in X (x_power 1) and sources (x_power 0)")
    c = sp.S.Zero
    if homogeneous:
        e = max((sp.sympify(t.ell_power) for t in homogeneous), key=float)
        total = sp.Add(*[t.coefficient for t in homogeneous if _same(t.ell_power, e)])
        if float(e) > -1:
            return PowerLaw(exponent=None, amplitude=None, kind="not a power law",
                            note=f"log X ≈ {sp.simplify(total / (e + 1))}·ℓ^{e + 1} (faster than any power)")
        if _same(e, -1):
            c = _tidy_number(total)
    source = [t for t in source if not _vanishes(t.coefficient)]
    if small is not None and (not source or float(small) >= float(max(t.ell_power for t in source))):
        q = sp.sympify(small) + 1
        if float(q) > float(c):
            return PowerLaw(exponent=q, amplitude=None, kind="little-o",
                            note=f"the leading source cancels: X = o(ℓ^{q})")
        if float(q) < float(c):
            return PowerLaw(exponent=c, amplitude=None)
        return PowerLaw(exponent=None, amplitude=None, kind="not a power law",
                        note="a cancelled source resonates with the homogeneous growth: not determined")
    if not source:
        return PowerLaw(exponent=c, amplitude=None)
    f = max((sp.sympify(t.ell_power) for t in source), key=float)
    s = sp.Add(*[t.coefficient for t in source if _same(t.ell_power, f)])
    q = f + 1
    if float(q) > float(c) + 1e-12:
        return PowerLaw(exponent=q, amplitude=_tidy_number(s / (q - c)))
    if abs(float(q) - float(c)) <= 1e-12:
        return PowerLaw(exponent=c, amplitude=s * sp.log(ell), kind="power law",
                        note="resonance: a log ℓ factor")
    return PowerLaw(exponent=c, amplitude=None)


def _same(a, b) -> bool:
    """Equal exponents (exact, or floats of a numeric critical point to round-off)."""
    return abs(float(a) - float(b)) <= 1e-9 * max(1.0, abs(float(a)))


def _vanishes(coefficient) -> bool:
    """Exactly zero, or a float zero to round-off (numeric critical points)."""
    coefficient = sp.sympify(coefficient)
    if coefficient.atoms(sp.Float) and coefficient.is_number:
        return abs(complex(coefficient)) < 1e-12
    return sp.cancel(coefficient) == 0


def _tidy_number(x):
    x = sp.sympify(x)
    return x if x.atoms(sp.Float) else sp.cancel(x)
