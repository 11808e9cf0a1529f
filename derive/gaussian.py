"""Gaussian expectations ⟨f(z_1..z_m)⟩_K: closed forms by rules, atoms otherwise.

Stage *expectation*: integrand (sympy, in the sample variables) and covariance
(sympy matrix) → sympy expression, closed form where the rules reach, otherwise a
sum of unevaluated :class:`Expectation` atoms (the numeric fall-back marker).

One general reduction handles every integrand built from polynomials,
``exp(quadratic)``, Heaviside and Dirac-delta kinks and ``erf`` of linear arguments
(sin/cos/sinh/cosh are rewritten as exponentials):

1. **Delta**: ⟨δ^{(k)}(z_v − c) G⟩ = (−∂_t)^k [p_v(t) E[G | z_v = t]] at t = c,
   the conditional Gaussian computed exactly (THEORY.md §3, the kink rule
   ⟨δ(z_a)F⟩ = (2πK_aa)^{−1/2} E[F | z_a = 0]).
2. **Exponential tilt**: exp(−½zᵀAz + bᵀz + c) re-centres and rescales the Gaussian,
   K' = K(1 + AK)^{−1}, mean K'b, weight e^{c + ½bᵀK'b} / √det(1 + KA).
3. **Stein's lemma** (Gaussian integration by parts): ⟨z_v G⟩ = Σ_j K_vj ⟨∂_j G⟩.
4. **Orthant base case**: what is left is a product of Heaviside and erf factors
   of linear arguments.  With erf(x) = E_ε[2Θ(√2 x + ε) − 1] (ε ~ N(0, 1)) every
   term is a Gaussian orthant probability: Φ for one form, ¼ + arcsin(ρ)/2π for
   two centred forms, ⅛ + Σ arcsin(ρ_ij)/4π for three centred forms.

Anything else (tanh, sigmoid, shifted two-form orthants, ...) stays an
:class:`Expectation` atom after the parity rule (odd integrands vanish), to be
evaluated by :func:`derive.quadrature` or replaced by a series in K.
"""

from __future__ import annotations

import functools
import itertools

import sympy as sp

from .symbols import K as K_symbol
from .symbols import z

__all__ = ["Expectation", "expect", "expect1", "expect2", "expectation_series",
           "atoms_of", "has_atoms"]


class Expectation(sp.Expr):
    """Unevaluated Gaussian expectation ⟨integrand⟩ over ``variables`` ~ N(0, covariance).

    The numeric fall-back marker: no rule gave a closed form.  ``args`` are
    (integrand, Tuple(variables), ImmutableMatrix(covariance)).
    """

    is_real = True
    is_commutative = True

    def __new__(cls, integrand, variables, covariance):
        return sp.Expr.__new__(cls, sp.sympify(integrand), sp.Tuple(*variables),
                               sp.ImmutableMatrix(covariance))

    @property
    def integrand(self) -> sp.Expr:
        return self.args[0]

    @property
    def variables(self) -> tuple[sp.Symbol, ...]:
        return tuple(self.args[1])

    @property
    def covariance(self) -> sp.ImmutableMatrix:
        return self.args[2]

    @property
    def free_symbols(self):
        return self.integrand.free_symbols - set(self.variables) | self.covariance.free_symbols

    def _eval_subs(self, old, new):
        if old in self.variables:
            return self
        return None

    def _latex(self, printer):
        body = printer._print(self.integrand)
        cov = self.covariance
        if cov.shape == (1, 1):
            sub = printer._print(cov[0, 0])
        else:
            sub = "K"
        return r"\left\langle " + body + r" \right\rangle_{" + sub + "}"

    def _sympystr(self, printer):
        return f"E[{printer._print(self.integrand)}; {printer._print(self.covariance.tolist())}]"


def atoms_of(expr: sp.Expr) -> tuple[Expectation, ...]:
    """The distinct :class:`Expectation` atoms of ``expr``, in a canonical order."""
    return tuple(sorted(expr.atoms(Expectation), key=sp.default_sort_key))


def has_atoms(expr: sp.Expr) -> bool:
    """True when ``expr`` still needs numerical quadrature."""
    return bool(expr.atoms(Expectation))


# ---------------------------------------------------------------------------------
# Public entry points
# ---------------------------------------------------------------------------------

def expect(integrand: sp.Expr, variables, covariance) -> sp.Expr:
    """⟨integrand⟩ with ``variables`` ~ N(0, ``covariance``), exact where possible.

    Examples
    --------
    >>> from derive.symbols import z, K
    >>> expect(z**4, (z,), [[K]])
    3*K**2
    >>> expect(sp.sin(z)**2, (z,), [[K]]).simplify()
    1/2 - exp(-2*K)/2
    """
    variables = tuple(variables)
    cov = sp.ImmutableMatrix(covariance)
    if cov.shape != (len(variables), len(variables)):
        raise ValueError("covariance shape does not match the number of variables")
    return _expect(_prepare(sp.sympify(integrand)), variables, cov)


def expect1(integrand: sp.Expr, K=K_symbol, variable=z) -> sp.Expr:
    """Single-input ⟨f(z)⟩_K (PDLT's ⟨f⟩_K), simplified."""
    return _tidy(expect(integrand, (variable,), [[K]]))


def expect2(integrand: sp.Expr, K11, K12, K22, variables=None) -> sp.Expr:
    """Two-input ⟨f(z_1, z_2)⟩ with covariance [[K11, K12], [K12, K22]]."""
    from .symbols import z1, z2
    variables = variables or (z1, z2)
    return expect(integrand, variables, [[K11, K12], [K12, K22]])


def expectation_series(integrand: sp.Expr, order: int, K=K_symbol, variable=z) -> sp.Expr:
    """⟨f(z)⟩_K as a series in √K up to and including K^order (exact coefficients).

    Uses one-sided Taylor coefficients at the kink z = 0, so it is valid for
    piecewise-smooth f: ⟨f⟩_K = Σ_j K^{j/2} [f_+^{(j)} + (−1)^j f_−^{(j)}] m_j / j!,
    with the half-line moments m_j = E[u^j Θ(u)] = 2^{j/2−1} Γ((j+1)/2)/√π of u ~ N(0,1).
    For smooth f this is Σ_k f^{(2k)}(0) K^k / (2^k k!).

    Examples
    --------
    >>> expectation_series(sp.tanh(z)**2, 2)
    -2*K**2 + K
    """
    branches = [taylor_branch(integrand, side, 2 * order, variable) for side in (+1, -1)]
    return series_from_branches(branches, order, K, variable)


@functools.lru_cache(maxsize=256)
def taylor_branch(f: sp.Expr, side: int, degree: int, variable=z) -> sp.Poly:
    """Taylor polynomial of degree ``degree`` of f on the side sign(z) = ``side`` of 0.

    Smooth f (no Heaviside/DiracDelta) have one expansion for both sides.
    """
    if side < 0 and not f.has(sp.Heaviside, sp.DiracDelta):
        return taylor_branch(f, +1, degree, variable)
    branch = _one_sided(f, variable, side)
    local = sp.series(branch, variable, 0, degree + 1).removeO() if branch.has(variable) else branch
    if local.has(sp.Order) or any(not c.is_finite for c in sp.Poly(local, variable).coeffs()):
        raise ValueError(f"{f} is not smooth on either side of 0")
    return sp.Poly(local, variable)


def truncated_power(poly: sp.Poly, power: int, degree: int) -> sp.Poly:
    """poly**power with terms above ``degree`` dropped (cheap series of σ^k)."""
    gens = poly.gens
    result = sp.Poly(1, *gens)
    for _ in range(power):
        product = (result * poly).terms()
        result = sp.Poly(sp.Add(*[c * gens[0] ** m[0] for m, c in product if m[0] <= degree]), *gens)
    return result


def series_from_branches(branches, order: int, K=K_symbol, variable=z) -> sp.Expr:
    """Gaussian expectation series from the (+, −) one-sided Taylor polynomials."""
    total = sp.S.Zero
    for side, poly in zip((+1, -1), branches):
        for (j,), coeff in poly.terms():
            if j > 2 * order:
                continue
            # E[u^j Θ(±u)] for u ~ N(0,1): (±1)^j 2^{j/2-1} Γ((j+1)/2)/√π
            moment = side**j * 2 ** sp.Rational(j - 2, 2) * sp.gamma(sp.Rational(j + 1, 2)) / sp.sqrt(sp.pi)
            total += coeff * moment * sp.sqrt(K) ** j
    return sp.expand(sp.nsimplify(total) if total.has(sp.Float) else total)


def _one_sided(f: sp.Expr, v: sp.Symbol, side: int) -> sp.Expr:
    """f restricted to sign(v) = side near 0: Heaviside(±v) → 1/0, deltas → 0."""
    def h(arg, *rest):
        at_zero = arg.subs(v, 0)
        if at_zero != 0:
            return sp.Heaviside(at_zero)
        return sp.S.One if (sp.diff(arg, v) * side).is_positive else sp.S.Zero
    return f.replace(sp.DiracDelta, lambda *a: sp.S.Zero).replace(sp.Heaviside, h)


# ---------------------------------------------------------------------------------
# The reduction
# ---------------------------------------------------------------------------------

def _prepare(f: sp.Expr) -> sp.Expr:
    from .activations import canonical_steps
    f = f.rewrite(sp.exp) if f.has(sp.sin, sp.cos, sp.sinh, sp.cosh) else f
    return canonical_steps(f) if f.has(sp.Heaviside) else f


def _tidy(expr: sp.Expr, budget: int = 20) -> sp.Expr:
    """A short form of a derived expectation, cheaply.

    Expressions with atoms are expanded (one atom per term); small closed forms
    get the full ``simplify``; larger ones the shortest (by operation count) of
    the raw form and ``factor_terms`` — ``simplify`` on these is slow and rarely
    shorter.
    """
    if has_atoms(expr):
        return sp.expand(expr)
    if sp.count_ops(expr) <= budget:
        return sp.simplify(expr)
    return min((expr, sp.factor_terms(expr)), key=sp.count_ops)


def _expect(f: sp.Expr, variables, cov) -> sp.Expr:
    f = sp.expand(sp.powsimp(sp.expand(f, power_exp=False)))
    total = sp.S.Zero
    for term in sp.Add.make_args(f):
        coeff, rest = term.as_independent(*variables, as_Add=False)
        if coeff == 0:
            continue
        total += coeff * _expect_term(rest, variables, cov)
    return total


@functools.lru_cache(maxsize=100_000)
def _expect_term(term: sp.Expr, variables: tuple, cov: sp.ImmutableMatrix) -> sp.Expr:
    if term == 1:
        return sp.S.One
    present = tuple(v for v in variables if term.has(v))
    if len(present) < len(variables):  # marginalise unused variables
        idx = [variables.index(v) for v in present]
        return _expect_term(term, present, cov.extract(idx, idx))
    if _is_odd(term, variables):
        return sp.S.Zero
    parts = _split(term, variables)
    if parts is None:
        return Expectation(term, variables, cov)
    poly, exps, deltas, steps = parts
    if sp.oo in deltas:
        return sp.oo
    if _disjoint_steps(steps):
        return sp.S.Zero
    if deltas:
        return _delta_rule(term, deltas[0], variables, cov)
    if exps:
        return _tilt_rule(poly * steps, exps, variables, cov)
    if poly != 1:
        return _stein_rule(poly, steps, variables, cov)
    return _orthant_rule(steps, variables, cov)


def _is_odd(term, variables) -> bool:
    flipped = term.xreplace({v: -v for v in variables})
    return sp.expand(flipped + term) == 0


def _linear_in(arg, variables) -> bool:
    try:
        return sp.Poly(arg, *variables).total_degree() <= 1
    except sp.PolynomialError:
        return False


def _split(term, variables):
    """Factor a product into (polynomial, exponent args, delta factors, step/erf factors)."""
    poly, exps, deltas, steps = sp.S.One, [], [], sp.S.One
    for factor in sp.Mul.make_args(term):
        base, power = factor.as_base_exp()
        if base in variables and power.is_Integer and power > 0:
            poly *= factor
        elif isinstance(factor, sp.exp) or (isinstance(base, sp.exp) and power.is_number):
            arg = factor.args[0] if isinstance(factor, sp.exp) else base.args[0] * power
            try:
                if sp.Poly(arg, *variables).total_degree() > 2:
                    return None
            except sp.PolynomialError:
                return None
            exps.append(arg)
        elif isinstance(base, sp.DiracDelta) and _linear_in(base.args[0], variables):
            if power != 1:
                return poly * 0, [], [sp.oo], steps  # δ(u)^2: divergent
            deltas.append(base)
        elif isinstance(base, (sp.Heaviside, sp.erf)) and _linear_in(base.args[0], variables):
            if not (power.is_Integer and power > 0):
                return None
            steps *= base if isinstance(base, sp.Heaviside) else factor
        else:
            return None
    return poly, exps, deltas, steps


def _disjoint_steps(steps) -> bool:
    """Θ(u)·Θ(−u) vanishes almost everywhere."""
    args = [f.args[0] for f in sp.Mul.make_args(steps) if isinstance(f, sp.Heaviside)]
    return any(sp.expand(a + b) == 0 for a, b in itertools.combinations(args, 2))


def _delta_rule(term, delta, variables, cov):
    """⟨δ^{(k)}(u) G⟩ by conditioning on the variable that u fixes (exact)."""
    arg = delta.args[0]
    order = int(delta.args[1]) if len(delta.args) > 1 else 0
    poly = sp.Poly(arg, *variables)
    involved = [v for v in variables if poly.coeff_monomial(v) != 0]
    if len(involved) != 1:
        return Expectation(term, variables, cov)
    v = involved[0]
    slope = poly.coeff_monomial(v)
    root = -poly.coeff_monomial(1) / slope
    rest = term / delta
    if rest.has(sp.DiracDelta) and any(
            isinstance(d, sp.DiracDelta) and d.args[0].has(v) for d in rest.atoms(sp.DiracDelta)):
        return sp.oo  # δ(z)² : the expectation diverges
    t = sp.Dummy("t", real=True)
    i = variables.index(v)
    others = [w for w in variables if w != v]
    k_vv = cov[i, i]
    density = sp.exp(-t**2 / (2 * k_vv)) / sp.sqrt(2 * sp.pi * k_vv)
    if others:
        idx = [variables.index(w) for w in others]
        k_rv = cov.extract(idx, [i])
        cond_cov = sp.ImmutableMatrix(sp.simplify(cov.extract(idx, idx) - k_rv * k_rv.T / k_vv))
        shift = {w: w + k_rv[j, 0] * t / k_vv for j, w in enumerate(others)}
        inner = _expect(rest.xreplace({v: t}).xreplace(shift), tuple(others), cond_cov)
    else:
        inner = rest.xreplace({v: t})
    h = density * inner
    value = ((-1) ** order * sp.diff(h, t, order)).subs(t, root)
    value = value / (abs(slope) * slope**order)
    if value.has(sp.DiracDelta):
        value = value.replace(sp.DiracDelta, lambda *a: sp.oo if a[0] == 0 else sp.S.Zero)
    return value


def _tilt_rule(rest, exps, variables, cov):
    """exp(−½zᵀAz + bᵀz + c) G: re-centre and rescale the Gaussian (exact)."""
    arg = sp.expand(sp.Add(*exps))
    m = len(variables)
    poly = sp.Poly(arg, *variables)
    A = sp.zeros(m, m)
    b = sp.zeros(m, 1)
    for i, v in enumerate(variables):
        b[i] = poly.coeff_monomial(v)
        for j, w in enumerate(variables):
            coeff = poly.coeff_monomial(v * w) if i != j else poly.coeff_monomial(v**2)
            A[i, j] = -2 * coeff if i == j else -coeff
    c = poly.coeff_monomial(1)
    K = sp.Matrix(cov)
    M = sp.eye(m) + A * K
    if A.is_zero_matrix:
        new_cov, det = cov, sp.S.One
    else:
        new_cov = sp.ImmutableMatrix(sp.simplify(K * M.inv()))
        det = sp.factor(M.det())
    mean = new_cov * b
    weight = sp.exp(c + (b.T * new_cov * b)[0, 0] / 2) / sp.sqrt(det)
    for i in range(m):
        if mean[i] != 0 and mean[i].is_real is not True and rest.has(sp.Heaviside, sp.erf, sp.DiracDelta):
            return Expectation(rest * sp.exp(arg), variables, cov)
    shifted = rest.xreplace({v: v + mean[i] for i, v in enumerate(variables)})
    return sp.simplify(weight) * _expect(shifted, variables, new_cov)


def _stein_rule(poly, steps, variables, cov):
    """⟨z_v G⟩ = Σ_j K_vj ⟨∂_j G⟩ (Gaussian integration by parts)."""
    v = next(v for v in variables if poly.has(v))
    G = poly / v * steps
    total = sp.S.Zero
    for j, w in enumerate(variables):
        k = cov[variables.index(v), j]
        if k != 0:
            total += k * _expect(sp.diff(G, w), variables, cov)
    return total


def _orthant_rule(steps, variables, cov):
    """Products of Θ and erf of linear forms → Gaussian orthant probabilities."""
    forms = []  # (coefficient row, noise variance, shift, kind)
    for factor in sp.Mul.make_args(steps):
        base, power = factor.as_base_exp()
        poly = sp.Poly(base.args[0], *variables)
        row = [poly.coeff_monomial(v) for v in variables]
        shift = poly.coeff_monomial(1)
        for _ in range(int(power)):
            forms.append((row, shift, isinstance(base, sp.erf)))
    # erf(x) = E[2Θ(√2 x + ε) − 1]: expand into signed Θ products
    total = sp.S.Zero
    erf_positions = [i for i, f in enumerate(forms) if f[2]]
    if _orthant_closed(forms, cov) is None:
        return Expectation(steps, variables, cov)
    for chosen in itertools.product((0, 1), repeat=len(erf_positions)):
        keep = [i for i, f in enumerate(forms) if not f[2]]
        keep += [erf_positions[j] for j, c in enumerate(chosen) if c]
        sign = sp.Integer((-1) ** (len(chosen) - sum(chosen))) * 2 ** sum(chosen)
        if not keep:
            total += sign
            continue
        total += sign * _orthant([forms[i] for i in sorted(keep)], cov)
    return total


def _orthant_closed(forms, cov):
    """True when every signed Θ product of ``forms`` has a closed orthant form, else None."""
    shifted = [f for f in forms if f[1] != 0]
    if len(forms) > 3 or (shifted and len(forms) > 1):
        return None
    return True


def _orthant(forms, cov):
    """P(Y_i + c_i > 0 for all i) for Y_i = row_i·z (+ √2-scaled noise for erf forms)."""
    rows, shifts, scale = [], [], []
    for row, shift, is_erf in forms:
        s = sp.sqrt(2) if is_erf else sp.S.One
        rows.append([s * r for r in row])
        shifts.append(s * shift)
        scale.append(1 if is_erf else 0)
    L = sp.Matrix(rows)
    C = L * sp.Matrix(cov) * L.T + sp.diag(*scale)
    sd = [sp.sqrt(C[i, i]) for i in range(len(forms))]
    if len(forms) == 1:
        return (1 + sp.erf(shifts[0] / (sd[0] * sp.sqrt(2)))) / 2
    rho = {(i, j): C[i, j] / (sd[i] * sd[j]) for i in range(len(forms)) for j in range(i + 1, len(forms))}
    if len(forms) == 2:
        return sp.Rational(1, 4) + sp.asin(rho[(0, 1)]) / (2 * sp.pi)
    return sp.Rational(1, 8) + sum(sp.asin(r) for r in rho.values()) / (4 * sp.pi)
