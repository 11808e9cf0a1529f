"""Universality class of an activation: the frozen report and :func:`classify`.

Stage *universality*: :class:`~derive.activations.Activation` →
:class:`UniversalityReport` (THEORY.md §5, PDLT ch. 5).  The large-depth laws are
not looked up: each comes from the local flow near the critical point
(:mod:`derive.criticality`) solved by dominant balance (:mod:`derive.asymptotics`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace

import sympy as sp

from .activations import Activation, activation
from .asymptotics import Term, solve_exact_affine, solve_power_law
from .criticality import (CriticalPoint, LocalFlow, critical_points, divergence_threshold, explain_absence,
                          is_scale_invariant, susceptibilities, taylor_coefficients)
from .symbols import K, ell, n

__all__ = ["UniversalityReport", "classify", "is_usable", "usable_critical_point"]

#: Keys of the kernel laws (rendered by :func:`derive.latex.report_to_latex`).
_KERNEL_LAWS = ("K", "delta_delta_K", "V", "V/(n K^2)")
#: LaTeX of the NTK law names and of the learning-rate regimes (:mod:`derive.ntk_flow`).
_NTK_LATEX = {"H": r"H^{(\ell)}", "A/(n H^2)": r"\frac{A}{nH^2}", "B/(n H^2)": r"\frac{B}{nH^2}",
              "Var(H)/H^2": r"\frac{\mathrm{Var}(\hat H)}{H^2}", "D/(n K H)": r"\frac{D}{nKH}",
              "F/(n K H)": r"\frac{F}{nKH}", "P/(n H^2)": r"\frac{P}{nH^2}", "Q/(n H^2)": r"\frac{Q}{nH^2}",
              "H1/(n H)": r"\frac{H^{\{1\}}}{nH}"}
_REGIME_LATEX = {" [lambda_b>0]": r"\quad (\lambda_b > 0)", " [lambda_b=0]": r"\quad (\lambda_b = 0)"}


def _ntk_latex_name(key: str) -> str:
    for suffix, tex in _REGIME_LATEX.items():
        if key.endswith(suffix):
            return _NTK_LATEX[key.removesuffix(suffix)] + tex
    return _NTK_LATEX[key]


@dataclass(frozen=True)
class UniversalityReport:
    """Criticality and universality of one activation (immutable).

    Attributes
    ----------
    activation : Activation
    universality_class : str
        "scale-invariant", "K*=0", "half-stable", "none", or a new label such as
        "K*=0 (p=1/2)" when the leading correction is not the generic one.
    critical_points : tuple of CriticalPoint
        (C_b, C_W, K_star, stability) for every critical point found.
    chi_parallel, chi_perp : sympy.Expr
        χ_∥(K) and χ_⊥(K) as functions of K and C_W.
    taylor : tuple of (str, sympy.Expr)
        σ_p = σ^{(p)}(0) (one-sided pairs at a kink), and a_1, b_1 when defined.
    exponents : tuple of (str, sympy.Expr)
        p_K (K − K* ∝ ℓ^{−p_K}), p_perp (δδK ∝ ℓ^{−p_perp}), q_V (V ∝ ℓ^{q_V}).
    asymptotics : tuple of (str, sympy.Expr)
        Leading large-depth laws of K, δδK, V and V/(nK²), expressions in ℓ, n.
    notes : tuple of str
        Why no critical point exists, or caveats of the analysis.
    """

    activation: Activation
    universality_class: str
    critical_points: tuple[CriticalPoint, ...]
    chi_parallel: sp.Expr
    chi_perp: sp.Expr
    taylor: tuple[tuple[str, sp.Expr], ...] = ()
    exponents: tuple[tuple[str, sp.Expr], ...] = ()
    asymptotics: tuple[tuple[str, sp.Expr], ...] = ()
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict:
        """JSON-ready dictionary (sympy values as strings, floats where numeric)."""
        def value(x):
            if isinstance(x, (tuple, list)):
                return [value(v) for v in x]
            x = sp.sympify(x)
            if x.is_number and x.is_real:
                exact = x.is_Rational or not x.atoms(sp.Float) and x.is_algebraic
                return str(x) if exact and not x.is_Integer else (int(x) if x.is_Integer else float(x))
            return str(x)
        return {
            "activation": self.activation.name,
            "expression": str(self.activation.bound_expr),
            "parameters": {k: str(v) for k, v in self.activation.values},
            "universality_class": self.universality_class,
            "critical_points": [
                {"C_b": value(p.C_b), "C_W": value(p.C_W), "K_star": value(p.K_star), "stability": p.stability}
                for p in self.critical_points],
            "chi_parallel": str(self.chi_parallel),
            "chi_perp": str(self.chi_perp),
            "taylor": {k: value(v) for k, v in self.taylor},
            "exponents": {k: value(v) for k, v in self.exponents},
            "asymptotics": {k: str(v) for k, v in self.asymptotics},
            "notes": list(self.notes),
        }

    def to_json(self) -> str:
        """Deterministic JSON text (sorted keys)."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True, ensure_ascii=False)

    def to_latex(self) -> str:
        """LaTeX block of the report (deterministic); NTK laws as e.g. \\frac{A}{nH^2}."""
        from .latex import latex, report_to_latex
        kernel = tuple((k, v) for k, v in self.asymptotics if k in _KERNEL_LAWS)
        text = report_to_latex(replace(self, asymptotics=kernel))
        extra = [(k, v) for k, v in self.asymptotics if k not in _KERNEL_LAWS]
        if not extra:
            return text
        lines = text.rstrip("\n").split("\n")
        end = lines.pop()
        lines[-1] += r" \\"
        lines += [rf"{_ntk_latex_name(k)} &\simeq {latex(v)} \\" for k, v in extra]
        lines[-1] = lines[-1].removesuffix(r" \\")
        return "\n".join(lines + [end]) + "\n"

    def _repr_latex_(self) -> str:
        return "$\\displaystyle " + self.to_latex().replace("\n", " ") + "$"

    def __str__(self) -> str:
        from .latex import report_to_text
        kernel = tuple((k, v) for k, v in self.asymptotics if k in _KERNEL_LAWS)
        rows = report_to_text(replace(self, asymptotics=kernel)).split("\n")
        extra = [(k, v) for k, v in self.asymptotics if k not in _KERNEL_LAWS]
        if extra:   # NTK laws after the kernel laws, before the notes
            at = next((i for i, r in enumerate(rows) if r.startswith("note ")), len(rows))
            width = max(18, max(len(k) for k, _ in extra) + 3)
            rows[at:at] = [f"{k + ' ~':<{width}}{v}" for k, v in extra]
        return "\n".join(rows)


def classify(act: "Activation | str", *, lambda_b=None, lambda_W=None, **values) -> UniversalityReport:
    """Derive the universality class of an activation (THEORY.md §4–5, THEORY-NTK.md §7).

    Besides the kernel laws (K, δδK, V) the asymptotics carry the leading large-depth
    laws of the NTK mean H and of the order-1/n NTK statistics (A, B, Var(Ĥ), D, F, P, Q,
    H^{{1}}) at the critical point, derived by :mod:`derive.ntk_flow`.  They depend on the
    learning rates: without ``lambda_b``/``lambda_W`` both regimes λ_b > 0 and λ_b = 0 are
    reported (keys suffixed `` [lambda_b>0]`` / `` [lambda_b=0]`` where they differ; for
    scale-invariant σ one law in ρ = λ_W A_2 K/(λ_b + λ_W A_2 K)); given values fix them.
    Other keyword ``values`` bind parameters of the activation.

    Examples
    --------
    >>> rep = classify("tanh")
    >>> rep.universality_class
    'K*=0'
    >>> dict(rep.asymptotics)["K"]
    1/(2*ell)
    >>> dict(classify("relu").asymptotics)["V/(n K^2)"]
    5*(ell - 1)/n
    >>> dict(rep.asymptotics)["B/(n H^2) [lambda_b>0]"]
    ell/(5*n)
    >>> dict(classify("relu", lambda_b=0).asymptotics)["A/(n H^2)"]
    7*ell/(3*n)
    """
    act = activation(act, **values) if not isinstance(act, Activation) or values else act
    chi_par, chi_perp = susceptibilities(act)
    points = critical_points(act)
    taylor = _taylor(act)
    usable = [(p, f) for p, f in points if f is not None and is_usable(p)]
    notes: list[str] = []
    threshold = divergence_threshold(act)
    if threshold is not None and threshold < 1e-6:
        notes.append("⟨σ²⟩_K diverges for every K > 0 (σ grows faster than any Gaussian): "
                     "the kernel recursion does not exist")
    elif threshold is not None:
        notes.append(f"⟨σ²⟩_K diverges for K ≥ {threshold:.4g} (σ grows like a Gaussian or faster): "
                     "the kernel recursion exists only below")
    for p, _ in points:
        if not is_usable(p):
            notes.append(f"critical point at K* = {p.K_star} is {p.stability}")
    if not usable:
        notes.append(explain_absence(act))
        return UniversalityReport(act, "none", tuple(p for p, _ in points), chi_par, chi_perp,
                                  taylor=taylor, notes=tuple(notes))
    point, flow = usable[0]
    laws = large_depth_laws(point, flow)
    label = _label(act, point, laws)
    exponents = tuple((k, laws[k]) for k in ("p_K", "p_perp", "q_V") if k in laws)
    asym = tuple((k, laws[k]) for k in _KERNEL_LAWS if k in laws)
    notes.extend(laws.get("notes", ()))
    lambdas = {k: v for k, v in (("lambda_b", lambda_b), ("lambda_W", lambda_W)) if v is not None}
    ntk, ntk_notes = _ntk_section(act, point, flow, laws, lambdas)
    asym += ntk
    notes.extend(ntk_notes)
    return UniversalityReport(act, label, tuple(p for p, _ in points), chi_par, chi_perp,
                              taylor=taylor, exponents=exponents, asymptotics=asym, notes=tuple(notes))


def _ntk_section(act, point, flow, laws, lambdas) -> tuple[tuple, list]:
    """The NTK laws of :func:`derive.ntk_flow.ntk_laws`, or a note saying why there are none."""
    from .ntk_flow import NoNTKLaw, ntk_laws
    if flow.beyond_all_orders is not None:
        return (), ["NTK laws not derived: K − K* decays logarithmically (no power law to expand in)"]
    if not flow.exact and "x_law" not in laws:
        return (), ["NTK laws not derived: K − K* has no power law"]
    try:
        found, notes = ntk_laws(act, point, laws.get("x_law"), lambdas)
    except NoNTKLaw as why:
        return (), [f"NTK laws not derived: {why}"]
    return tuple(found), notes


def is_usable(point: CriticalPoint) -> bool:
    """Whether a deep network can be initialised at ``point``: stable, half-stable (the
    flow approaches K* from one side) or marginal for every K (scale-invariant)."""
    return point.stability.startswith(("stable", "half-stable", "marginal (every"))


def usable_critical_point(report: UniversalityReport) -> CriticalPoint | None:
    """The first usable critical point of ``report`` (:func:`is_usable`), or None.

    The one choice of "the critical point" everywhere a default (C_b, C_W) is needed.

    Examples
    --------
    >>> usable_critical_point(classify("gelu")).stability    # not the unstable K* = 0 point
    'half-stable (attracts from above)'
    >>> usable_critical_point(classify("sigmoid")) is None
    True
    """
    return next((p for p in report.critical_points if is_usable(p)), None)


def _label(act, point, laws) -> str:
    if is_scale_invariant(act):
        return "scale-invariant"
    if point.K_star == 0:
        if laws.get("logarithmic"):
            return "K*=0 (logarithmic)"
        p = laws.get("p_K")
        return "K*=0" if p == 1 else f"K*=0 (p={p})"
    return "half-stable"


def _taylor(act) -> tuple:
    coeffs = taylor_coefficients(act, 5)
    out = [(f"sigma_{p}", v) for p, v in coeffs.items()]
    smooth = not any(isinstance(v, tuple) for v in coeffs.values())
    if smooth and coeffs[1] != 0:
        s1, s2, s3 = coeffs[1], coeffs[2], coeffs[3]
        out.append(("a_1", sp.simplify(s3 / s1 + sp.Rational(3, 4) * (s2 / s1) ** 2)))
        out.append(("b_1", sp.simplify(s3 / s1 + (s2 / s1) ** 2)))
    return tuple(out)


def large_depth_laws(point: CriticalPoint, flow: LocalFlow) -> dict:
    """Leading laws of K, δδK and V at a critical point, by dominant balance.

    Near the point x = K − K* obeys x' − x = Σ c x^{1+k}; then
    δδK' = (1 + Σ b x^j) δδK and V' = s(x) + (1 + Σ r x^k) V (THEORY.md §3–5).
    """
    if flow.exact:  # scale-invariant: every K is fixed, the recursions are affine
        (source, _), = flow.source
        V = solve_exact_affine(source * K**2, 1, 0)
        return {"p_K": sp.S.Zero, "p_perp": sp.S.Zero, "q_V": sp.S.One, "K": K,
                "delta_delta_K": sp.Symbol("A_perp"), "V": V.expression,
                "V/(n K^2)": sp.simplify(V.expression / (n * K**2))}
    if flow.beyond_all_orders is not None:
        return _logarithmic_laws(flow.beyond_all_orders)
    out: dict = {"notes": []}
    x = solve_power_law([Term(c, 0, p) for c, p in flow.increment], sign=flow.side)
    if x.kind != "power law" or x.amplitude is None:
        out["notes"].append(f"K − K* does not follow a power law: {x.note}")
        return out
    A, qx = x.amplitude, x.exponent
    out["x_law"] = (A, qx)
    out["p_K"] = -qx
    K_law = point.K_star + A * ell**qx
    out["K"] = K_law if point.K_star != 0 else A * ell**qx
    perp = solve_power_law([Term(b * A**j, qx * j, 1) for b, j in flow.chi_perp], sign=0)
    if perp.kind in ("power law", "constant") and perp.exponent is not None:
        out["p_perp"] = -perp.exponent
        out["delta_delta_K"] = sp.Symbol("A_perp") * ell**perp.exponent
    else:
        out["notes"].append(f"δδK: {perp.note}")
    V = solve_power_law([Term(s * A**m, qx * m, 0) for s, m in flow.source]
                        + [Term(r * A**k, qx * k, 1) for r, k in flow.chi_par_sq], sign=0)
    if V.kind == "power law":
        out["q_V"] = V.exponent
        out["V"] = V.law()
        K_lead = point.K_star if point.K_star != 0 else A * ell**qx
        out["V/(n K^2)"] = sp.nsimplify(sp.simplify(V.law() / (n * K_lead**2)), rational=False) \
            if point.K_star == 0 else sp.simplify(V.law() / (n * K_lead**2))
    else:
        out["notes"].append(f"V: {V.note}")
    return out


def _logarithmic_laws(a: sp.Expr) -> dict:
    """K' − K ≈ −c K^β e^{−a/K}: u = a/K obeys e^u u^{β−2} ≈ (c/a^{β−1}) ℓ, so K ≈ a/log ℓ.

    The corrections are relative O(log log ℓ / log ℓ); δδK and V are driven by
    the same e^{−a/K} ∝ 1/ℓ terms up to powers of log ℓ, which the power-law
    solver cannot resolve.
    """
    return {"logarithmic": True, "K": a / sp.log(ell),
            "notes": [f"K − K* decays logarithmically, K ≈ {sp.sstr(a / sp.log(ell))} (no power law: every power of K "
                      "cancels in K' − K); δδK and V are not derived for this flow"]}
