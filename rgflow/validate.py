"""Theory versus Monte Carlo over real finite-width networks, layer by layer.

Stage *validate*: (activation, inputs ``X``, architecture, hyperparameters) →
:class:`ValidationReport`.  The theory side is the compiled flow
(:func:`codegen.compile` of :func:`derive.flow.flow`): K, G1, V and H of THEORY.md
§2, §3 and §6.  The Monte Carlo side is :func:`rgflow.montecarlo.sample` over ``M``
independent random networks.  Every comparison is one number per (quantity, layer,
sample-index tuple):

============  ======================================  ========================  ===========
quantity      Monte Carlo estimates                   theory to O(1/n)          leading
============  ======================================  ========================  ===========
metric        E[z_{i;a1} z_{i;a2}]                    K + G1/n_{l-1} (§3)       K
vertex        E[z_{i;a1}z_{i;a2}z_{j;a3}z_{j;a4}]     V_{(a1a2)(a3a4)}/n_{l-1}  0
              − G_{a1a2}G_{a3a4}, i ≠ j               (§3, PDLT eq. 4.90 form)
vertex_same   same-neuron fourth cumulant / 3         [V_(12)(34) + V_(13)(24)  0
                                                      + V_(14)(23)]/(3n_{l-1})
ntk           E[H_{ii;a1a2}] (diagonal NTK)           H (+ H1/n_{l-1} once      H
                                                      declared; §6)
A             Cov(Ĥ_{ii;a1a2}, Ĥ_{jj;a3a4}), i ≠ j     A_{(a1a2)(a3a4)}/n_{l-1}  0
B [a1a3a2a4]  E[Ĥ_{ij;a1a2} Ĥ_{ij;a3a4}], i ≠ j        B_{a1a3a2a4}/n_{l-1}      0
D             Cov(Ĥ_{ii;a1a2}, z_{j;a3}z_{j;a4})       D_{a1a2a3a4}/n_{l-1}      0
F [a1a3a2a4]  E[Ĥ_{ij;a1a2} z_{i;a3} z_{j;a4}]         F_{a1a3a2a4}/n_{l-1}      0
P [a0..a3]    E[dĤ_{iij;a0a1a2} z_{j;a3}], i ≠ j       P_{a0a1a2a3}/n_{l-1}      0
Q [a0..a3]    E[dĤ_{jii;a0a1a2} z_{j;a3}], i ≠ j       Q_{a0a1a2a3}/n_{l-1}      0
============  ======================================  ========================  ===========

A … Q are the order-1/n NTK statistics of THEORY-NTK.md §1 (dĤ the dNTK); they are
compared only when the theory result carries them (``getattr(theory, name)`` not None)
and N_D ≤ :data:`rgflow.montecarlo.MAX_NTK_STATISTICS_INPUTS`, and the sampler computes
them only then.  They are the leading terms of quantities that carry large O(1/n²)
corrections at practical widths (THEORY-NTK.md §6: 5–40 % at n = 32, ℓ = 4–8), so beyond
layer 2 (exact at any width) their z-scores test the theory only after width
extrapolation; they are not part of :data:`COMPLETE`.

``z = (estimate − theory)/se`` with the Monte Carlo standard error ``se``;
``z_leading`` uses the infinite-width prediction instead, so a report shows both
that the 1/n theory is consistent and that the infinite-width one is not.  While no
1/n NTK-mean observable (H1, estimator "ntk") is declared the NTK theory is H alone:
its comparison is then only meaningful where the O(1/n) NTK-mean correction is below
the standard error.

Entries fixed exactly by the construction (layer 1 of ``vertex``/``vertex_same``
— z^{(1)} is Gaussian — and of ``ntk`` and A … Q, since the layer-1 NTK is
deterministic) are not listed.  Only one representative of each symmetry orbit of
sample indices is listed (a1 ≤ a2; (a1a2) ≤ (a3a4) for ``vertex``; a1 ≤ a2 ≤ a3 ≤ a4 for
``vertex_same``; the smallest tuple of each orbit under :data:`NTK_STATISTICS` for A … Q).

Multiple comparisons (see :meth:`ValidationReport.passes`): the entries of one
report share networks and are strongly correlated across layers, so the rule must
hold under arbitrary correlation.  Two checks, each at family-wise level α:
Bonferroni on ``max |z|`` (threshold Φ⁻¹(1 − α/(2k)) for k entries, never below 3),
and ``mean z² ≤ q`` with q the (1 − α) quantile of χ²₁ — valid for any correlation
because a mean of squared correlated standard normals is a convex combination of
independent χ²₁ variables and, for q ≥ 1.54, such a combination never has a heavier
tail than χ²₁ itself (Székely & Bakirov 2003, *Extremal probabilities for Gaussian
quadratic forms*).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from derive.errors import RGFlowError

from .defaults import DEFAULT_INPUTS, critical_hyperparameters, learning_rates

__all__ = ["Comparison", "ValidationReport", "ValidationError", "validate", "build_report", "QUANTITIES",
           "COMPLETE", "NTK_STATISTICS", "bonferroni_threshold", "chi2_1_quantile", "orbit_representatives"]

#: Compared quantities, in report order.
QUANTITIES = ("metric", "vertex", "vertex_same", "ntk", "A", "B", "D", "F", "P", "Q")

#: The order-1/n NTK statistics (THEORY-NTK.md §1) and the generators of their index
#: symmetries, read off their declarations (:mod:`derive.observables`: the Monte Carlo field
#: of each is indexed like the tensor, B, F as [a1, a3, a2, a4], P, Q as [a0, a1, a2, a3]).
#: One comparison is listed per orbit (its smallest index tuple).
def _ntk_statistics() -> dict:
    from derive.observables import DECLARED
    return {d.estimator: d.symmetries for d in DECLARED if d.estimator in ("A", "B", "D", "F", "P", "Q")}


NTK_STATISTICS = _ntk_statistics()

#: Quantities whose theory includes every O(1/n) term (their residual is O(1/n²)).
COMPLETE = ("metric", "vertex", "vertex_same")

class ValidationError(RGFlowError, ValueError):
    """Bad arguments for a validation run (reported by the CLI in one line)."""


# ----------------------------------------------------------------------------------
# statistics helpers
# ----------------------------------------------------------------------------------
def _normal_upper_quantile(p: float) -> float:
    """x with P(N(0,1) > x) = p (bisection on erfc; no scipy import at module load)."""
    lo, hi = 0.0, 40.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if 0.5 * math.erfc(mid / math.sqrt(2)) > p:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def bonferroni_threshold(k: int, alpha: float = 0.01, floor: float = 3.0) -> float:
    """Two-sided Bonferroni bound on max |z| over ``k`` comparisons, never below ``floor``.

    P(max_i |z_i| > t) ≤ Σ_i P(|z_i| > t) = α for t = Φ⁻¹(1 − α/(2k)), whatever the
    correlation between the z_i.

    Examples
    --------
    >>> round(bonferroni_threshold(1, 0.05, floor=0), 3), round(bonferroni_threshold(50), 2)
    (1.96, 3.72)
    """
    if k < 1:
        return floor
    return max(floor, _normal_upper_quantile(alpha / (2 * k)))


def chi2_1_quantile(alpha: float = 0.01) -> float:
    """Upper α quantile of χ²₁ (= Φ⁻¹(1 − α/2)²); bounds mean z² at level α for any correlation.

    Examples
    --------
    >>> round(chi2_1_quantile(0.01), 3)
    6.635
    """
    return _normal_upper_quantile(alpha / 2) ** 2


# ----------------------------------------------------------------------------------
# report types
# ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Comparison:
    """One theory-versus-Monte-Carlo number.

    Attributes
    ----------
    quantity : str
        One of :data:`QUANTITIES`.
    layer : int
        l = 1..L.
    index : tuple of int
        Sample indices (a1, a2) or (a1, a2, a3, a4).
    theory : float
        Prediction including the 1/n term (see the module table).
    leading : float
        Infinite-width prediction.
    estimate, se : float
        Monte Carlo estimate and its standard error.

    Examples
    --------
    >>> c = Comparison("metric", 2, (0, 0), theory=1.0, leading=1.1, estimate=1.02, se=0.01)
    >>> round(c.z, 6), round(c.z_leading, 6)
    (2.0, -8.0)
    """

    quantity: str
    layer: int
    index: tuple[int, ...]
    theory: float
    leading: float
    estimate: float
    se: float

    @property
    def z(self) -> float:
        """(estimate − theory)/se."""
        return (self.estimate - self.theory) / self.se

    @property
    def z_leading(self) -> float:
        """(estimate − leading)/se: the infinite-width prediction's z-score."""
        return (self.estimate - self.leading) / self.se

    @property
    def label(self) -> str:
        return f"{self.quantity}[{','.join(map(str, self.index))}]"


@dataclass(frozen=True)
class ValidationReport:
    """Theory versus Monte Carlo for one architecture (immutable).

    Attributes
    ----------
    activation : str
        Activation name (with bound parameters, e.g. ``"leaky_relu (a=0.1)"``).
    depth : int
    widths : tuple of int
        (n_1, …, n_L).
    C_b, C_W : float
        Initialisation hyperparameters (same for every layer).
    lambda_b, lambda_W : float or None
        NTK learning-rate weights (None: NTK not compared).
    networks, seed : int
        Monte Carlo sample size M and seed.
    inputs : tuple of tuple of float
        The inputs X, one row per sample index.
    comparisons : tuple of Comparison
        Sorted by (quantity order of :data:`QUANTITIES`, layer, index).
    K : tuple of tuple of float
        Theory diagonal K^{(l)}_{aa}, per layer (rows) and sample (columns).
    metric, metric_se : tuple of tuple of float
        Monte Carlo diagonal metric E[z_a²] and its se, per layer and sample (for plots).
    ratio_theory, ratio_mc, ratio_se : tuple of tuple of float
        V^{(l)}_{(aa)(aa)}/(n_{l-1} (K^{(l)}_{aa})²) from the theory, and the distinct-neuron
        estimate (E[z_i² z_j²] − G_aa²)/G_aa² with its standard error (se of the numerator
        only: the metric's relative se is far smaller), per layer and sample; layer 1 is 0.
    """

    activation: str
    depth: int
    widths: tuple[int, ...]
    C_b: float
    C_W: float
    lambda_b: float | None
    lambda_W: float | None
    networks: int
    seed: int
    inputs: tuple[tuple[float, ...], ...]
    comparisons: tuple[Comparison, ...]
    K: tuple[tuple[float, ...], ...]
    metric: tuple[tuple[float, ...], ...]
    metric_se: tuple[tuple[float, ...], ...]
    ratio_theory: tuple[tuple[float, ...], ...]
    ratio_mc: tuple[tuple[float, ...], ...]
    ratio_se: tuple[tuple[float, ...], ...]

    def select(self, quantity: str | tuple | None = None, layer: int | None = None,
               layers: range | tuple | None = None) -> tuple[Comparison, ...]:
        """Comparisons of one quantity (or a tuple of quantities) and/or layer(s)."""
        wanted = (quantity,) if isinstance(quantity, str) else quantity
        return tuple(c for c in self.comparisons
                     if (wanted is None or c.quantity in wanted)
                     and (layer is None or c.layer == layer)
                     and (layers is None or c.layer in layers))

    def z(self, quantity: str | None = None, leading: bool = False, **kw) -> np.ndarray:
        """Array of z-scores (``leading=True``: of the infinite-width prediction)."""
        return np.array([c.z_leading if leading else c.z for c in self.select(quantity, **kw)])

    def passes(self, quantity: str | None = None, alpha: float = 0.01, leading: bool = False,
               **kw) -> bool:
        """Multiple-comparison rule: max |z| ≤ Bonferroni(k, α) and mean z² ≤ χ²₁ quantile(α)."""
        z = self.z(quantity, leading=leading, **kw)
        if z.size == 0:
            raise ValueError("no comparisons selected")
        return bool(np.max(np.abs(z)) <= bonferroni_threshold(z.size, alpha)
                    and np.mean(z ** 2) <= chi2_1_quantile(alpha))

    def summary(self, quantity: str | None = None, **kw) -> str:
        """One line: k, max|z|, mean z² for theory and leading order."""
        z, z0 = self.z(quantity, **kw), self.z(quantity, leading=True, **kw)
        return (f"k={z.size} max|z|={np.max(np.abs(z)):.2f} mean z^2={np.mean(z ** 2):.2f}"
                f" (Bonferroni {bonferroni_threshold(z.size):.2f}, chi2_1 {chi2_1_quantile():.2f});"
                f" infinite width: max|z|={np.max(np.abs(z0)):.1f} mean z^2={np.mean(z0 ** 2):.1f}")

    @property
    def ntk_complete(self) -> bool:
        """Whether the NTK-mean rows include the order-1/n correction H1 (THEORY-NTK.md §8.2):
        some row's theory differs from its leading order (H1 vanishes at layer 2)."""
        return any(c.theory != c.leading for c in self.select("ntk"))

    def to_text(self) -> str:
        """Per-layer table: theory, Monte Carlo ± se, z, and the infinite-width z."""
        head = (f"{self.activation}: depth {self.depth}, widths {_widths_text(self.widths)}, "
                f"C_b = {self.C_b:.6g}, C_W = {self.C_W:.6g}, N_D = {len(self.inputs)}, "
                f"M = {self.networks} networks, seed = {self.seed}")
        cols = (f"{'layer':>5}  {'quantity':<22}{'theory':>13}{'Monte Carlo':>13}{'se':>11}"
                f"{'z':>8}{'z(n=inf)':>10}")
        lines = [head, cols, "-" * len(cols)]
        for c in self.comparisons:
            lines.append(f"{c.layer:>5}  {c.label:<22}{c.theory:>13.6g}{c.estimate:>13.6g}{c.se:>11.2g}"
                         f"{c.z:>8.2f}{c.z_leading:>10.1f}")
        lines.append("-" * len(cols))
        for q in QUANTITIES:
            if self.select(q):
                lines.append(f"{q:<12} {self.summary(q)}")
        complete = COMPLETE + (("ntk",) if self.ntk_complete else ())
        z = self.z(complete)
        ok = self.passes(complete)
        lines.append(f"{'+'.join(complete)} (theory complete to O(1/n)): k={z.size} "
                     f"max|z|={np.max(np.abs(z)):.2f} mean z^2={np.mean(z ** 2):.2f} -> {'consistent' if ok else 'INCONSISTENT'} at family-wise 1%")
        if self.select(tuple(NTK_STATISTICS)):
            lines.append("A..Q: order-1/n NTK statistics; beyond layer 2 they carry large O(1/n^2) terms at "
                         "practical widths (THEORY-NTK.md section 6): test them by width extrapolation")
        if self.select("ntk") and not self.ntk_complete:
            lines.append("ntk: leading-order theory only; its O(1/n) mean correction (PDLT ch. 8) is not yet "
                         "derived, so |z| grows with M at fixed n")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_text()


def _widths_text(widths) -> str:
    return str(widths[0]) if len(set(widths)) == 1 else ",".join(map(str, widths))


# ----------------------------------------------------------------------------------
# the pure function
# ----------------------------------------------------------------------------------
def _as_inputs(X) -> np.ndarray:
    try:
        X = np.array(DEFAULT_INPUTS if X is None else X, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValidationError("inputs must be a real array of shape (N_D, n_0)") from None
    if X.ndim == 1:
        X = X[None, :]
    if X.ndim != 2 or X.shape[0] < 1 or X.shape[1] < 1:
        raise ValidationError(f"inputs must have shape (N_D, n_0), got {X.shape}")
    if not np.isfinite(X).all():
        raise ValidationError("inputs contain NaN or infinite values")
    from .montecarlo import MAX_VERTEX_INPUTS
    if X.shape[0] > MAX_VERTEX_INPUTS:
        raise ValidationError(f"at most {MAX_VERTEX_INPUTS} inputs (the vertex needs N_D^4 arrays), "
                              f"got {X.shape[0]}")
    return X


def validate(act, X=None, depth: int = 5, width=64, C_b: float | None = None, C_W: float | None = None,
             networks: int = 1000, seed: int = 0, ntk: bool = True, lambda_b: float | None = None,
             lambda_W: float | None = None, evaluator=None, progress: bool = False,
             ntk_family: bool = False) -> ValidationReport:
    """Compare the recursions with ``networks`` sampled finite-width networks.

    Parameters
    ----------
    act : Activation or str
        The activation (all parameters bound).
    X : array_like (N_D, n_0), optional
        Inputs; default :data:`rgflow.defaults.DEFAULT_INPUTS`.  A 1-D array is one input.
    depth : int
        L; layers 1..L are compared.
    width : int or sequence of int
        n_1..n_L (one int: equal widths).
    C_b, C_W : float, optional
        Default: the first usable critical point (both must then be None;
        :func:`rgflow.defaults.critical_hyperparameters`).
    networks, seed : int
        Monte Carlo sample size M ≥ 2 and seed (results are reproducible).
    ntk : bool
        Also compare the NTK mean, with its order-1/n correction H1 (THEORY-NTK.md §8.2);
        costs O(n³) per layer and network in the sampler.
    ntk_family : bool
        Also compare the NTK's order-1/n fluctuations A, B, D, F and the dNTK tensors P, Q
        (N_D ≤ 3; the sampler then propagates the dNTK forward, several times the cost).
    lambda_b, lambda_W : float, optional
        NTK learning rates; default C_b, C_W (:func:`rgflow.defaults.learning_rates`).
    evaluator : codegen.Evaluator, optional
        A compiled evaluator to reuse (saves the numba compilation): of ``flow(act)``, or with
        ``ntk`` of ``flow(act, derive.recursions.OBSERVABLES)`` (every declared observable).

    Returns
    -------
    ValidationReport

    Examples
    --------
    >>> rep = validate("linear", np.array([[1.0, 0.5]]), depth=3, width=8, networks=200, seed=1, ntk=False)
    >>> [c.label for c in rep.select(layer=3)]
    ['metric[0,0]', 'vertex[0,0,0,0]', 'vertex_same[0,0,0,0]']
    >>> rep.passes()
    True
    """
    import codegen

    from derive.activations import Activation, activation
    from derive.flow import flow
    from .montecarlo import sample

    act = act if isinstance(act, Activation) else activation(act)
    X = _as_inputs(X)
    if isinstance(depth, bool) or not isinstance(depth, (int, np.integer)) or depth < 1:
        raise ValidationError(f"depth must be an integer >= 1, got {depth!r}")
    depth = int(depth)
    if (C_b is None) != (C_W is None):
        raise ValidationError("give both C_b and C_W, or neither (then the critical point is used)")
    if C_b is None:
        C_b, C_W = critical_hyperparameters(act)
    rates = learning_rates(C_b, C_W, lambda_b, lambda_W)
    lambda_b, lambda_W = rates if ntk else (None, None)
    if evaluator is None:
        from derive.recursions import DEFAULT_OBSERVABLES, OBSERVABLES
        evaluator = codegen.compile(flow(act, OBSERVABLES if ntk else DEFAULT_OBSERVABLES))
    theory = evaluator.run(X, depth=depth, width=width, C_b=C_b, C_W=C_W,
                           lambda_b=rates[0], lambda_W=rates[1])
    widths = theory.widths
    from .montecarlo import MAX_NTK_STATISTICS_INPUTS
    has = {q for q in NTK_STATISTICS if getattr(theory, q, None) is not None}
    stats = ntk and ntk_family and X.shape[0] <= MAX_NTK_STATISTICS_INPUTS
    try:
        mc = sample(act, X, depth=depth, width=widths, C_b=C_b, C_W=C_W, networks=networks, seed=seed,
                    lambda_b=lambda_b, lambda_W=lambda_W, progress=progress,
                    ntk_fluctuations=stats and bool(has & {"A", "B", "D", "F"}),
                    dntk=stats and bool(has & {"P", "Q"}))
    except ValueError as exc:
        raise ValidationError(f"Monte Carlo: {exc}") from None
    return build_report(act, X, theory, mc)


def theory_of(theory, estimator: str, prev: np.ndarray):
    """(theory to O(1/n), leading order) per layer of the Monte Carlo statistic ``estimator``,
    read off the declarations (:mod:`derive.observables`): the sum of every computed
    observable declared with that estimator, times n_{ℓ−1}^(−order) (``prev``; inf at
    layer 1, where the 1/n terms vanish).  (None, None) when none was computed.

    >>> class R: K = np.ones((2, 1, 1)); G1 = np.full((2, 1, 1), 3.0)
    >>> total, leading = theory_of(R(), "metric", np.array([np.inf, 10.0]))
    >>> total[:, 0, 0].tolist(), leading[:, 0, 0].tolist()
    ([1.0, 1.3], [1.0, 1.0])
    """
    from derive import observables
    total = leading = None
    for d in observables.DECLARED:
        series = getattr(theory, d.name, None) if d.estimator == estimator else None
        if series is None:
            continue
        arr = np.asarray(series, dtype=float)
        with np.errstate(divide="ignore"):
            scale = (1.0 / prev) ** d.order if d.order else np.ones_like(prev)
        term = arr * scale.reshape((-1,) + (1,) * (arr.ndim - 1))
        total = term if total is None else total + term
        if d.order == 0:
            leading = term if leading is None else leading + term
    if total is not None and leading is None:
        leading = np.zeros_like(total)
    return total, leading


def orbit_representatives(nd: int, generators) -> list[tuple[int, ...]]:
    """The smallest index tuple of every orbit of range(nd)⁴ under the position permutations
    ``generators`` (and the group they generate), sorted.

    >>> orbit_representatives(2, [(2, 3, 0, 1)])[:4]
    [(0, 0, 0, 0), (0, 0, 0, 1), (0, 0, 1, 0), (0, 0, 1, 1)]
    >>> len(orbit_representatives(2, [(1, 0, 2, 3), (0, 1, 3, 2), (2, 3, 0, 1)]))
    6
    """
    reps = set()
    for t in itertools.product(range(nd), repeat=4):
        orbit, stack = {t}, [t]
        while stack:
            u = stack.pop()
            for g in generators:
                v = tuple(u[i] for i in g)
                if v not in orbit:
                    orbit.add(v)
                    stack.append(v)
        reps.add(min(orbit))
    return sorted(reps)


def build_report(act, X, theory, mc) -> ValidationReport:
    """Assemble the :class:`ValidationReport` from a FlowResult and a MonteCarloResult."""
    nd, depth, widths = X.shape[0], mc.depth, mc.widths
    prev = np.array([np.inf] + [float(w) for w in widths[:-1]])        # n_{l-1}; layer 1: V = G1 = 0
    metric, metric_leading = theory_of(theory, "metric", prev)
    vertex, _ = theory_of(theory, "vertex", prev)
    ntk, ntk_leading = theory_of(theory, "ntk", prev) if mc.ntk is not None else (None, None)
    K = np.asarray(theory.K)
    V = np.asarray(theory.V)
    rows = []
    pairs = [(a, b) for a in range(nd) for b in range(a, nd)]
    quads = [p + q for p, q in itertools.combinations_with_replacement(pairs, 2)]
    sorted4 = list(itertools.combinations_with_replacement(range(nd), 4))
    for l in range(depth):
        for (a, b) in pairs:
            rows.append(Comparison("metric", l + 1, (a, b), theory=float(metric[l, a, b]),
                                   leading=float(metric_leading[l, a, b]), estimate=float(mc.metric[l, a, b]),
                                   se=float(mc.metric_se[l, a, b])))
    for l in range(1, depth):
        if widths[l] >= 2:          # distinct neurons of layer l + 1 (n_{l+1} = widths[l])
            for t in quads:
                rows.append(Comparison("vertex", l + 1, t, theory=float(vertex[(l,) + t]), leading=0.0,
                                       estimate=float(mc.vertex[(l,) + t]), se=float(mc.vertex_se[(l,) + t])))
        for (a1, a2, a3, a4) in sorted4:
            sym = (vertex[l, a1, a2, a3, a4] + vertex[l, a1, a3, a2, a4] + vertex[l, a1, a4, a2, a3]) / 3
            t = (a1, a2, a3, a4)
            rows.append(Comparison("vertex_same", l + 1, t, theory=float(sym), leading=0.0,
                                   estimate=float(mc.vertex_same[(l,) + t]),
                                   se=float(mc.vertex_same_se[(l,) + t])))
    if ntk is not None:
        for l in range(1, depth):
            for (a, b) in pairs:
                rows.append(Comparison("ntk", l + 1, (a, b), theory=float(ntk[l, a, b]),
                                       leading=float(ntk_leading[l, a, b]),
                                       estimate=float(mc.ntk[l, a, b]), se=float(mc.ntk_se[l, a, b])))
    for name, generators in NTK_STATISTICS.items():
        est = getattr(mc, name, None)
        if est is None or getattr(theory, name, None) is None:
            continue
        th, th_leading = theory_of(theory, name, prev)
        if th is None:
            continue
        se = getattr(mc, name + "_se")
        for l in range(1, depth):
            for t in orbit_representatives(nd, generators):
                key = (l,) + t
                if not np.isfinite(est[key]):
                    continue                        # a width-1 layer: no distinct neurons
                rows.append(Comparison(name, l + 1, t, theory=float(th[key]), leading=float(th_leading[key]),
                                       estimate=float(est[key]), se=float(se[key])))
    order = {q: i for i, q in enumerate(QUANTITIES)}
    rows.sort(key=lambda c: (order[c.quantity], c.layer, c.index))

    diag = np.arange(nd)
    Kd = K[:, diag, diag]
    Gd = np.asarray(mc.metric)[:, diag, diag]
    Vd = V[:, diag, diag, diag, diag]
    with np.errstate(divide="ignore", invalid="ignore"):
        r_th = np.where(np.isfinite(prev)[:, None], Vd / (prev[:, None] * Kd ** 2), 0.0)
        r_mc = np.asarray(mc.vertex)[:, diag, diag, diag, diag] / Gd ** 2
        r_se = np.asarray(mc.vertex_se)[:, diag, diag, diag, diag] / Gd ** 2

    def tup(a):
        return tuple(tuple(float(x) for x in row) for row in np.asarray(a))

    lb = None if mc.lambda_b is None else float(mc.lambda_b[0])
    lw = None if mc.lambda_W is None else float(mc.lambda_W[0])
    return ValidationReport(activation=str(act), depth=depth, widths=tuple(widths), C_b=float(mc.C_b[0]),
                            C_W=float(mc.C_W[0]), lambda_b=lb, lambda_W=lw, networks=mc.networks, seed=mc.seed,
                            inputs=tup(X), comparisons=tuple(rows), K=tup(Kd), metric=tup(Gd),
                            metric_se=tup(np.asarray(mc.metric_se)[:, diag, diag]),
                            ratio_theory=tup(r_th), ratio_mc=tup(r_mc), ratio_se=tup(r_se))
