"""Finite-width layer-to-layer recursions for N_D inputs (THEORY.md §2, §3, §6).

Stage *recursions*: :class:`~derive.activations.Activation` + observables →
:class:`Recursion` (immutable): the Gaussian-expectation atoms the recursions
need, each evaluated in closed form by :mod:`derive.gaussian` where the rule table
reaches, and the entry-wise update rules written with ``sympy.IndexedBase``
tensors over sample indices ``a1..a4``.

Quantities (layer ℓ → ℓ+1; K = K^{(ℓ)}, r = n_ℓ/n_{ℓ−1}, every β, γ over {a1, a2}):

* ``K``:  K'_{a1a2} = C_b + C_W ⟨σ_{a1}σ_{a2}⟩
* ``H``:  H'_{a1a2} = λ_b + λ_W ⟨σ_{a1}σ_{a2}⟩ + C_W ⟨σ'_{a1}σ'_{a2}⟩ H_{a1a2}
* ``V``:  V'_{(a1a2)(a3a4)} = C_W²[⟨σ_{a1}σ_{a2}σ_{a3}σ_{a4}⟩ − ⟨σ_{a1}σ_{a2}⟩⟨σ_{a3}σ_{a4}⟩]
  + (C_W²/4) r Σ_{γ1γ2 ∈ {a1,a2}} Σ_{γ3γ4 ∈ {a3,a4}} V_{(γ1γ2)(γ3γ4)} ⟨∂γ1∂γ2(σ_{a1}σ_{a2})⟩⟨∂γ3∂γ4(σ_{a3}σ_{a4})⟩
  (the integration-by-parts form: no K⁻¹, coincident inputs allowed).
* ``G1``: G1'_{a1a2} = r C_W [½ Σ_{β1β2} G1_{β1β2} ⟨∂β1∂β2(σ_{a1}σ_{a2})⟩
  + ⅛ Σ_{β1..β4} V_{(β1β2)(β3β4)} ⟨∂β1..∂β4(σ_{a1}σ_{a2})⟩].

The γ/β sums run over the *labels* of the two samples, so ⟨∂_{a1}∂_{a2}(σσ)⟩ =
⟨σ'σ'⟩ and ⟨∂_{a1}²(σσ)⟩ = ⟨σ''_{a1}σ_{a2}⟩.  For coincident samples (a1 = a2)
the labelled V rule is still exact; the G1 rule is written with the one-sample
derivatives ⟨(σ²)''⟩, ⟨(σ²)''''⟩ instead (the labelled pieces diverge separately
for kinked σ, e.g. ⟨δ(z)²⟩ for ReLU, while their sum is finite).  Single input this
is G1' = χ_∥ G1 + (C_W/2) g''(K) V and V' = C_W²(⟨σ⁴⟩ − ⟨σ²⟩²) + χ_∥² V.

Examples
--------
>>> from derive import activation
>>> rec = build_recursion(activation("relu"), ("K", "H"))
>>> rec.quantities
('K', 'H')
>>> [a.name for a in rec.atoms]
['ss', 'dsds']
>>> rec.atom("ss").pattern("a").closed
K11/2
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import sympy as sp

from .activations import Activation, activation, canonical_steps, clean_deltas, integrand
from . import observables as _declared
from .errors import RGFlowError
from .gaussian import atoms_of, expect, has_atoms
from .symbols import C_W, C_b, kernel_matrix, lambda_W, lambda_b, z, z1, z2, z3, z4

__all__ = ["FlowError", "AtomPattern", "GaussianAtom", "Update", "Recursion", "build_recursion",
           "OBSERVABLES", "DEFAULT_OBSERVABLES", "REQUIRES", "width_ratio", "sample_indices",
           "normalise_observables", "resolve_observables", "ORDER2_OBSERVABLES", "stein_slots", "stabilise", "closed_expectation",
           "is_atom_name", "atom_sort_key", "set_partitions", "partition_key", "SLOTS"]

#: Observables in canonical order and what each requires, read off the declarations
#: (:mod:`derive.observables`).
OBSERVABLES = _declared.names()
#: What ``flow(act)`` computes when no observables are named: the preactivation statistics
#: to order 1/n and the NTK mean (the NTK's own 1/n family is asked for by name).
DEFAULT_OBSERVABLES = ("K", "H", "V", "G1")
#: What an order-2 flow computes (and all it may be asked for): the preactivation statistics to 1/n².
ORDER2_OBSERVABLES = ("K", "V", "G1") + _declared.ORDER2_NAMES
REQUIRES = {o.name: _declared.requires(o) for o in _declared.DECLARED}
width_ratio = _declared.width_ratio
sample_indices = _declared.sample_indices
_SAMPLE_VARS = (z1, z2, z3, z4)


class FlowError(RGFlowError, ValueError):
    """A flow that cannot be built (unknown observable, divergent expectation, ...)."""


@dataclass(frozen=True)
class AtomPattern:
    """One coincidence pattern of an expectation atom.

    ``factors[i]`` is the function of the i-th distinct sample (a sympy expression
    in :data:`derive.symbols.z`), so the integrand is Π_i factors[i](z_{i+1}) with
    (z_1..z_m) ~ N(0, K) and K = :func:`~derive.symbols.kernel_matrix` (m).
    ``closed`` is the exact value in the symbols K11, K12, ... or None when
    numerical quadrature is needed; ``remaining`` lists the rule-table atoms that
    prevented a closed form (for the record).
    """

    key: str
    multiplicities: tuple[int, ...]
    factors: tuple[sp.Expr, ...]
    closed: sp.Expr | None
    remaining: tuple = ()

    @property
    def size(self) -> int:
        """Number of distinct samples (dimension of the Gaussian integral)."""
        return len(self.factors)

    @property
    def is_closed(self) -> bool:
        return self.closed is not None

    def canonical_text(self) -> str:
        closed = "numeric" if self.closed is None else sp.srepr(self.closed)
        factors = ";".join(sp.srepr(f) for f in self.factors)
        return f"{self.key}|{self.multiplicities}|{factors}|{closed}"


@dataclass(frozen=True)
class GaussianAtom:
    """A Gaussian expectation the recursions share (one node of the dependency graph).

    ``rank`` is the number of sample indices of its array (1: per sample, 2: per
    pair, 4: per quadruple); ``symmetric`` says whether the rank-2 array is
    symmetric.  ``patterns`` holds its coincidence patterns.
    """

    name: str
    rank: int
    symmetric: bool
    description: str
    latex: str
    patterns: tuple[AtomPattern, ...]

    def pattern(self, key: str) -> AtomPattern:
        for p in self.patterns:
            if p.key == key:
                return p
        raise KeyError(key)

    @property
    def is_closed(self) -> bool:
        """True when every pattern has a closed form."""
        return all(p.is_closed for p in self.patterns)

    @property
    def method(self) -> str:
        if self.is_closed:
            return "closed"
        return "quadrature" if not any(p.is_closed for p in self.patterns) else "mixed"

    def canonical_text(self) -> str:
        return "|".join([self.name, str(self.rank), str(self.symmetric)]
                        + [p.canonical_text() for p in self.patterns])


@dataclass(frozen=True)
class Update:
    """One entry-wise update rule ``lhs = rhs`` for the index pattern ``pattern``.

    ``pattern`` is ``"ab"`` (every pair, diagonal included), ``"a<b"`` (off-diagonal
    pairs only), ``"aa"`` (diagonal only) or ``"abcd"`` (every quadruple).
    """

    quantity: str
    pattern: str
    lhs: sp.Expr
    rhs: sp.Expr

    def canonical_text(self) -> str:
        return f"{self.quantity}|{self.pattern}|{sp.srepr(self.lhs)}|{sp.srepr(self.rhs)}"


@dataclass(frozen=True)
class Recursion:
    """The N_D-input recursions of one activation (immutable).

    Attributes
    ----------
    activation : Activation
    observables : tuple of str
        What the user asked for.
    quantities : tuple of str
        What is computed: the observables and everything they need, in declaration order
        (K, H, V, G1, then observables declared elsewhere).
    atoms : tuple of GaussianAtom
        The distinct expectations, each once.
    updates : tuple of Update
    parameters : tuple of sympy.Symbol
        Per-layer parameters (C_b, C_W, lambda_b, lambda_W, r).
    declarations : tuple of Observable
        The declarations of ``quantities`` (:mod:`derive.observables`), in order.
    """

    activation: Activation
    observables: tuple[str, ...]
    quantities: tuple[str, ...]
    atoms: tuple[GaussianAtom, ...]
    updates: tuple[Update, ...]
    parameters: tuple[sp.Symbol, ...]
    declarations: tuple = ()

    def atom(self, name: str) -> GaussianAtom:
        for a in self.atoms:
            if a.name == name:
                return a
        raise KeyError(name)

    def updates_of(self, quantity: str) -> tuple[Update, ...]:
        return tuple(u for u in self.updates if u.quantity == quantity)

    def canonical_text(self) -> str:
        parts = [self.activation.name, sp.srepr(self.activation.bound_expr), ",".join(self.observables),
                 ",".join(self.quantities)]
        parts += [a.canonical_text() for a in self.atoms]
        parts += [u.canonical_text() for u in self.updates]
        parts += [p.name for p in self.parameters]
        parts += [d.canonical_text() for d in self.declarations]
        return "\n".join(parts)

    def declaration(self, name: str):
        """The :class:`~derive.observables.Observable` of the quantity ``name``."""
        for d in self.declarations:
            if d.name == name:
                return d
        raise KeyError(name)


# ---------------------------------------------------------------------------------
# Atom definitions
# ---------------------------------------------------------------------------------

#: Pair atoms ⟨σ^{(i)}(z_a) σ^{(j)}(z_b)⟩: name → (i, j, symmetric, patterns).
PAIR_ATOMS = {
    "ss": (0, 0, True, ("a", "ab")),
    "dsds": (1, 1, True, ("a", "ab")),
    "d2ss": (2, 0, False, ("a", "ab")),
    "d4ss": (4, 0, False, ("ab",)),
    "d3sds": (3, 1, False, ("ab",)),
    "d2sd2s": (2, 2, True, ("ab",)),
}
#: Per-sample atoms ⟨(σ²)^{(k)}(z_a)⟩: name → k.
DIAG_ATOMS = {"s2d2": 2, "s2d4": 4}
#: Atoms each quantity's update reads (read off its declared rules).
NEEDS = {o.name: _declared.atoms_read(o) for o in _declared.DECLARED}
_ATOM_ORDER = ("ss", "dsds", "d2ss", "d4ss", "d3sds", "d2sd2s", "s2d2", "s2d4", "ssss")
_PRIMES = {0: "", 1: "'", 2: "''", 3: "'''", 4: "''''"}
_TEX_PRIMES = {0: "", 1: "'", 2: "''", 3: "'''", 4: "^{(4)}"}

#: Slot functions of the composed atom names: s = σ, d = σ', c = the *classical* σ'' (its
#: Dirac deltas dropped: the pointwise second derivative that a real network's forward
#: equations — the dNTK's, THEORY-NTK.md §1 — use; zero for piecewise-linear σ), t the
#: classical third derivative (the ddNTK's forward equations).
SLOTS = {"s": (0, False), "d": (1, False), "c": (2, True), "t": (3, True)}
_SLOT_TEXT = {"s": "sigma", "d": "sigma'", "c": "sigma''", "t": "sigma'''"}
_SLOT_TEX = {"s": r"\sigma", "d": r"\sigma'", "c": r"\sigma''", "t": r"\sigma'''"}
#: Composed atom names: ``p<ka><kb>_<f><g>`` = ⟨∂_a^{ka} ∂_b^{kb} (f(z_a) g(z_b))⟩ (Stein
#: derivatives, distributional) whose coincident entry a = b is the share
#: ⟨(f g)^{(ka+kb)}⟩ / 2^{ka+kb} (a rule sums the 2^{ka+kb} label sequences of one
#: derivative, so the shares add up to the one-sample derivative even where the labelled
#: pieces diverge separately, e.g. ⟨δ(z)²⟩ for ReLU); ``e_<f><g>`` = ⟨f(z_a) g(z_b)⟩
#: (a = b: ⟨f g⟩ at one point); ``q_<f1f2f3f4>`` = ⟨f1(z_a) f2(z_b) f3(z_c) f4(z_d)⟩.
_COMPOSED = re.compile(r"^(?:p([0-4])([0-4])_([sdct])([sdct])|e_([sdct])([sdct])|q_([sdct]{4}))$")


#: Atoms of the derivation engine's rules (:mod:`derive.engine.collect`), which the order-1/n²
#: flows read: ``ss``, ``ssss``, ``p<ka><kb>_ss`` (up to eight derivatives) and ``g<k1…km>_<s…s>``
#: = ⟨Π_t ∂^{k_t} σ(z_{α_t})⟩ over m = 4 or 6 slots.  Where samples coincide, a group G of slots
#: with k_G derivatives in all is the share ⟨(σ^{|G|})^{(k_G)}⟩/|G|^{k_G} (Stein derivatives split
#: evenly over the slot sequences a rule sums, so kinked σ stay finite).
_STEIN = re.compile(r"^(?:p([0-9])([0-9])_ss|g([0-9]{4}|[0-9]{6})_(ssss|ssssss)|ss|ssss)$")


def stein_slots(name: str) -> tuple[int, ...]:
    """The derivative count of each slot of an engine atom (:data:`_STEIN`).

    >>> stein_slots("p31_ss"), stein_slots("g2110_ssss"), stein_slots("ssss")
    ((3, 1), (2, 1, 1, 0), (0, 0, 0, 0))
    """
    m = _STEIN.match(name)
    if m is None or (m.group(3) is not None and len(m.group(3)) != len(m.group(4))):
        raise FlowError(f"{name!r} is not an atom of the derivation engine")
    if m.group(1) is not None:
        return (int(m.group(1)), int(m.group(2)))
    if m.group(3) is not None:
        return tuple(int(c) for c in m.group(3))
    return (0,) * (len(name))


def is_atom_name(name: str) -> bool:
    """Whether ``name`` is a Gaussian atom this module can build (fixed, composed, or an atom of
    the derivation engine's order-1/n² rules)."""
    return name in _ATOM_ORDER or _COMPOSED.match(name) is not None or _STEIN.match(name) is not None


def atom_sort_key(name: str):
    """Canonical atom order: the fixed atoms in their order, then the composed pair atoms,
    then the composed four-sample atoms, then the six-slot atoms, each by name."""
    if name in _ATOM_ORDER:
        return (0, _ATOM_ORDER.index(name), name)
    if name.startswith("g"):
        return (2 if name.endswith("_ssss") else 3, 0, name)
    return (2 if name.startswith("q_") else 1, 0, name)


def _slot_function(act: Activation, code: str) -> sp.Expr:
    order, classical = SLOTS[code]
    expr = _sigma_derivative(act, order)
    if classical:
        expr = canonical_steps(expr.replace(lambda e: isinstance(e, sp.DiracDelta), lambda e: sp.S.Zero))
    return expr


def normalise_observables(observables) -> tuple[str, ...]:
    """Validate and order observable names (a string "K,H" or an iterable)."""
    return resolve_observables(observables)[0]


def resolve_observables(observables, order: int = 1) -> tuple[tuple[str, ...], tuple[_declared.Observable, ...]]:
    """(requested names in canonical order, declarations in force) for ``observables``: a
    string "K,H", or an iterable of names and :class:`~derive.observables.Observable` values.
    ``order=2`` adds the order-1/n² statistics G2, V1, U (:func:`derive.observables.order2`) to
    what may be asked for; there the NTK sector (derived at order 1/n only) is refused."""
    if order not in (1, 2) or isinstance(order, bool):
        raise FlowError(f"order must be 1 or 2 (the power of 1/n the recursions are derived to), got {order!r}")
    known = OBSERVABLES + (_declared.ORDER2_NAMES if order == 2 else ())
    if isinstance(observables, (str, _declared.Observable)):
        observables = ([s for s in observables.replace(" ", ",").split(",") if s]
                       if isinstance(observables, str) else [observables])
    try:
        items = [o if isinstance(o, _declared.Observable) else str(o) for o in observables]
    except TypeError:
        raise FlowError(f"observables must be names among {', '.join(known)}") from None
    if not items:
        raise FlowError("no observable requested; choose from " + ", ".join(known))
    names = [o if isinstance(o, str) else o.name for o in items]
    asked = [o for o in items if isinstance(o, str) and o in _declared.ORDER2_NAMES]
    if order == 1 and asked:
        raise FlowError(f"{', '.join(asked)} {'is an order-1/n^2 statistic' if len(asked) == 1 else 'are order-1/n^2 statistics'}"
                        "; build the flow with order=2 (rgflow flow --order 2)")
    other = [name for name in names if name not in ORDER2_OBSERVABLES]
    if order == 2 and other:
        raise FlowError(f"order 2 is derived for the preactivation statistics {', '.join(ORDER2_OBSERVABLES)}; "
                        f"{', '.join(other)} {'is' if len(other) == 1 else 'are'} derived at order 1/n only "
                        "(build that flow with order=1)")
    for o in items:
        if isinstance(o, _declared.Observable):
            try:
                _declared.check(o)
            except ValueError as exc:
                raise FlowError(str(exc)) from None
    try:
        names, declarations = _declared.resolve(items, order)
    except KeyError as exc:
        raise FlowError(f"unknown observable(s) {exc.args[0]}; choose from {', '.join(known)}") from None
    except ValueError as exc:
        raise FlowError(str(exc)) from None
    return names, declarations


def _canonical(expr: sp.Expr) -> sp.Expr:
    """Products of σ-derivatives in canonical distributional form (Θ² → Θ, f δ → f(0) δ)."""
    expr = canonical_steps(sp.expand(expr))
    return clean_deltas(expr) if expr.has(sp.DiracDelta) else expr


def _orthant_forms(expr: sp.Expr) -> int:
    """Largest number of Heaviside/erf factors in one term (the orthant rule closes ≤ 3)."""
    worst = 0
    for term in sp.Add.make_args(sp.expand(expr)):
        count = 0
        for factor in sp.Mul.make_args(term):
            base, power = factor.as_base_exp()
            if isinstance(base, sp.Heaviside):
                count += 1
            elif isinstance(base, sp.erf):
                count += int(power) if power.is_Integer and power > 0 else 99
        worst = max(worst, count)
    return worst


def stabilise(expr: sp.Expr) -> sp.Expr:
    """Real form with merged exponentials (exp(a)·exp(b) → exp(a+b), no 0·∞ underflow)."""
    if expr.has(sp.I):
        expr = sp.expand_complex(expr)
        if expr.has(sp.I):
            expr = sp.simplify(expr)
    expr = sp.powsimp(expr, combine="exp", deep=True)
    return expr.replace(lambda e: isinstance(e, sp.exp), lambda e: sp.exp(sp.cancel(e.args[0])))


def closed_expectation(integrand_expr: sp.Expr, size: int) -> tuple[sp.Expr | None, tuple]:
    """⟨integrand⟩ over (z1..z_size) ~ N(0, kernel_matrix(size)): (closed form, remaining atoms).

    Integrands with more than three Heaviside/erf factors in a term cannot close
    (the orthant rule stops at three forms) and are not attempted.
    """
    if _orthant_forms(integrand_expr) > 3:
        return None, ()
    variables = _SAMPLE_VARS[:size]
    value = expect(integrand_expr, variables, kernel_matrix(size))
    if has_atoms(value):
        return None, atoms_of(value)
    if value.has(sp.oo, -sp.oo, sp.zoo, sp.nan):
        return sp.oo, ()
    value = stabilise(value)
    if value.has(sp.I):
        return None, ()
    return value, ()


#: Largest number of terms of an expanded integrand over three or more samples with
#: Heaviside/erf factors for which a closed form is attempted: the orthant rule's cost grows
#: with every such term (GELU's ⟨σ''σ'σ'σ⟩, 36 terms, took 400 s to close), while quadrature
#: of the same atom costs microseconds per entry at the stated accuracy.
CLOSING_TERMS = 8


#: Largest operation count of a composed atom's integrand for which a closed form is
#: attempted (SWISH's <sigma''' sigma'''> failed to close after 14 s; the
#: closable ones, ReLU's and erf's, stay below 20).
CLOSING_OPS = 60


def _beyond_closing_budget(integrand_expr: sp.Expr, size: int, composed: bool) -> bool:
    if composed and sp.count_ops(integrand_expr) > CLOSING_OPS:
        return True
    if composed and size == 4 and not integrand_expr.is_polynomial(*_SAMPLE_VARS):
        return True   # four distinct samples: Isserlis only (erf's closed forms took 10 s each)
    if size < 3 or _orthant_forms(integrand_expr) == 0:
        return False
    return len(sp.Add.make_args(sp.expand(integrand_expr))) > CLOSING_TERMS


@functools.lru_cache(maxsize=1024)
def _closed_cached(integrand_expr: sp.Expr, size: int):
    """:func:`closed_expectation`, once per distinct integrand (four-sample atoms repeat them
    across coincidence patterns and atoms)."""
    return closed_expectation(integrand_expr, size)


def _pattern(key, multiplicities, factors, what: str, composed: bool = False) -> AtomPattern:
    size = len(factors)
    integrand_expr = sp.Mul(*[f.xreplace({z: _SAMPLE_VARS[i]}) for i, f in enumerate(factors)])
    if _beyond_closing_budget(integrand_expr, size, composed):
        closed, remaining = None, ()
    else:
        closed, remaining = _closed_cached(integrand_expr, size)
    if closed is sp.oo:
        raise FlowError(f"the Gaussian expectation {what} diverges for this activation "
                        f"(pattern {key}); the requested observables cannot be computed")
    if closed is None and any(f.has(sp.DiracDelta) for f in factors):
        raise FlowError(f"{what} (pattern {key}) has no closed form and its integrand contains a "
                        "Dirac delta, which quadrature cannot evaluate")
    return AtomPattern(key, tuple(multiplicities), tuple(factors), closed, tuple(remaining))


def _sigma_derivative(act: Activation, k: int) -> sp.Expr:
    return canonical_steps(act.bound_expr) if k == 0 else act.derivative(k)


def _pair_atom(act: Activation, name: str) -> GaussianAtom:
    i, j, symmetric, keys = PAIR_ATOMS[name]
    fi, fj = _sigma_derivative(act, i), _sigma_derivative(act, j)
    desc = f"<sigma{_PRIMES[i]}(z_a) sigma{_PRIMES[j]}(z_b)>"
    tex = rf"\langle \sigma{_TEX_PRIMES[i]}_{{a}} \sigma{_TEX_PRIMES[j]}_{{b}} \rangle_{{K}}"
    patterns = []
    for key in keys:
        if key == "a":
            patterns.append(_pattern("a", (2,), (_canonical(fi * fj),), desc))
        else:
            patterns.append(_pattern("ab", (1, 1), (fi, fj), desc))
    return GaussianAtom(name, 2, symmetric, desc, tex, tuple(patterns))


def _diag_atom(act: Activation, name: str) -> GaussianAtom:
    k = DIAG_ATOMS[name]
    desc = f"<(sigma^2){_PRIMES[k]}(z_a)>"
    tex = rf"\langle (\sigma^2){_TEX_PRIMES[k]}_{{a}} \rangle_{{K}}"
    pattern = _pattern("a", (2,), (integrand(act.bound_expr ** 2, k),), desc)
    return GaussianAtom(name, 1, True, desc, tex, (pattern,))


def _composed_pair(act: Activation, name: str, f: str, g: str, ka: int, kb: int, share: bool) -> GaussianAtom:
    fa, fb = _slot_function(act, f), _slot_function(act, g)
    k = ka + kb
    if share:
        desc = f"<d_a^{ka} d_b^{kb} ({_SLOT_TEXT[f]}(z_a) {_SLOT_TEXT[g]}(z_b))>"
        tex = (rf"\langle \partial_a^{{{ka}}} \partial_b^{{{kb}}} ({_SLOT_TEX[f]}_{{a}} {_SLOT_TEX[g]}_{{b}}) "
               r"\rangle_{K}")
        diag = integrand(fa * fb, k) / 2**k
    else:
        desc = f"<{_SLOT_TEXT[f]}(z_a) {_SLOT_TEXT[g]}(z_b)>"
        tex = rf"\langle {_SLOT_TEX[f]}_{{a}} {_SLOT_TEX[g]}_{{b}} \rangle_{{K}}"
        diag = _canonical(fa * fb)
    patterns = (_pattern("a", (2,), (diag,), desc, True),
                _pattern("ab", (1, 1), (integrand(fa, ka), integrand(fb, kb)), desc, True))
    return GaussianAtom(name, 2, (f, ka) == (g, kb), desc, tex, patterns)


def set_partitions(size: int = 4) -> tuple[tuple[int, ...], ...]:
    """Coincidence patterns of ``size`` slots as restricted-growth strings in lexicographic
    order: entry k is the distinct sample of slot k, numbered by first appearance
    ((0, 0, 1, 2): the first two slots coincide).

    >>> len(set_partitions(4)), set_partitions(2)
    (15, ((0, 0), (0, 1)))
    """
    out = [()]
    for _ in range(size):
        out = [p + (v,) for p in out for v in range(max(p, default=-1) + 2)]
    return tuple(out)


def partition_key(rgs) -> str:
    """Pattern key of a coincidence pattern: (0, 0, 1, 2) → "aabc"."""
    return "".join("abcdef"[v] for v in rgs)


def _stein_atom(act: Activation, name: str) -> GaussianAtom:
    """An engine atom (:data:`_STEIN`) with every coincidence pattern of its slots: the distinct
    sample of a group G of slots carries (σ^{|G|})^{(k_G)}/|G|^{k_G} (the share convention).
    Evaluated by quadrature (codegen.order2): no pattern is closed here."""
    ks = stein_slots(name)
    size = len(ks)
    primes = ["'" * k if k < 3 else f"^({k})" for k in ks]
    desc = "<" + " ".join(f"sigma{p}(z_{i + 1})" for i, p in enumerate(primes)) + ">"
    tex = (r"\langle " + " ".join(rf"\sigma^{{({k})}}_{{{i + 1}}}" if k else rf"\sigma_{{{i + 1}}}"
                                  for i, k in enumerate(ks)) + r" \rangle_{K}")
    sigma = act.bound_expr
    patterns = []
    for rgs in set_partitions(size):
        m = max(rgs) + 1
        groups = [[t for t in range(size) if rgs[t] == v] for v in range(m)]
        factors = tuple(integrand(sigma ** len(g), sum(ks[t] for t in g)) / len(g) ** sum(ks[t] for t in g)
                        for g in groups)
        patterns.append(AtomPattern(partition_key(rgs), tuple(len(g) for g in groups), factors, None))
    return GaussianAtom(name, size, len(set(ks)) == 1, desc, tex, tuple(patterns))


def _composed_quad(act: Activation, name: str, slots: str) -> GaussianAtom:
    fs = [_slot_function(act, c) for c in slots]
    desc = "<" + " ".join(f"{_SLOT_TEXT[c]}(z_{x})" for c, x in zip(slots, "abcd")) + ">"
    tex = r"\langle " + " ".join(f"{_SLOT_TEX[c]}_{{{x}}}" for c, x in zip(slots, "abcd")) + r" \rangle_{K}"
    patterns = []
    for rgs in set_partitions(4):
        m = max(rgs) + 1
        factors = tuple(_canonical(sp.Mul(*[fs[k] for k in range(4) if rgs[k] == v])) for v in range(m))
        patterns.append(_pattern(partition_key(rgs), tuple(rgs.count(v) for v in range(m)), factors, desc,
                                 name != "ssss"))
    return GaussianAtom(name, 4, len(set(slots)) == 1, desc, tex, tuple(patterns))


def _make_atom(act: Activation, name: str) -> GaussianAtom:
    if name in PAIR_ATOMS:
        return _pair_atom(act, name)
    if name in DIAG_ATOMS:
        return _diag_atom(act, name)
    if name == "ssss":
        return _composed_quad(act, name, "ssss")
    m = _COMPOSED.match(name)
    if m.group(1) is not None:
        return _composed_pair(act, name, m.group(3), m.group(4), int(m.group(1)), int(m.group(2)), True)
    if m.group(5) is not None:
        return _composed_pair(act, name, m.group(5), m.group(6), 0, 0, False)
    return _composed_quad(act, name, m.group(7))


# ---------------------------------------------------------------------------------
# Update rules
# ---------------------------------------------------------------------------------

def _updates(declarations) -> tuple[Update, ...]:
    """The declared rules as :class:`Update` records, in declaration order."""
    return tuple(Update(o.name, rule.pattern, _declared.next_state(o.name)[rule.indices], rule.rhs)
                 for o in declarations for rule in o.rules)


@functools.lru_cache(maxsize=64)
def _build(act: Activation, observables: tuple[str, ...], declarations) -> Recursion:
    quantities = _declared.closure(observables, declarations)
    used = tuple(d for d in declarations if d.name in quantities)
    wanted = {n for d in used for n in _declared.atoms_read(d, declarations)}
    unknown = sorted(n for n in wanted if not is_atom_name(n))
    if unknown:
        raise FlowError(f"observable rules read unknown Gaussian atom(s) {', '.join(unknown)}; "
                        f"known atoms: {', '.join(_ATOM_ORDER)} and the composed names "
                        "p<ka><kb>_<f><g>, e_<f><g>, q_<f1f2f3f4> (f among s, d, c, t)")
    names = sorted(wanted, key=atom_sort_key)
    stein = any(d.order >= 2 for d in used)      # order 1/n²: every atom by quadrature (codegen.order2)
    atoms = tuple(_atom_cached(act, n, stein) for n in names)
    parameters = (C_b, C_W, lambda_b, lambda_W, width_ratio)
    return Recursion(act, observables, quantities, atoms, _updates(used), parameters, used)


@functools.lru_cache(maxsize=256)
def _atom_cached(act: Activation, name: str, stein: bool = False) -> GaussianAtom:
    return _stein_atom(act, name) if stein else _make_atom(act, name)


def build_recursion(act, observables=DEFAULT_OBSERVABLES, order: int = 1) -> Recursion:
    """The :class:`Recursion` of ``act`` for ``observables`` (and what they need).

    Parameters
    ----------
    act : Activation or str
        An activation or anything :func:`derive.activation` accepts.  All its
        parameters must be bound (numerical evaluation needs values).
    observables : iterable of str or str
        Names among :data:`OBSERVABLES` (a comma-separated string works too); default
        :data:`DEFAULT_OBSERVABLES`.
    order : 1 or 2
        With 2, the order-1/n² statistics G2, V1, U may be asked for too
        (:data:`ORDER2_OBSERVABLES`).
    """
    act = activation(act) if not isinstance(act, Activation) else act
    if not act.is_numeric:
        names = ", ".join(p.name for p in act.free_parameters)
        first = act.free_parameters[0].name
        raise FlowError(f"activation {act.name!r} has unbound parameters ({names}); give values, "
                        f"e.g. activation({act.name!r}, {first}=0.1)",
                        cli=f"activation {act.name!r} has unbound parameters ({names}); give values, "
                            + " ".join(f"-p {p.name}=0.1" for p in act.free_parameters)
                            + " for example")
    return _build(act, *resolve_observables(observables, order))
