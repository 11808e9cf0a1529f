"""Text and LaTeX export of reports and single-input recursions.

Stage *export*: :class:`~derive.universality.UniversalityReport` or
:class:`~derive.activations.Activation` → deterministic strings.  LaTeX uses
sympy's printer with PDLT notation (K^{(\\ell)}, \\chi_\\parallel, \\chi_\\perp,
V^{(\\ell)}, \\langle\\cdot\\rangle_K); term order is sympy's canonical one, so
the same input always gives the same bytes.
"""

from __future__ import annotations

import sympy as sp

from .activations import integrand
from .gaussian import Expectation, expect1
from .symbols import C_W, C_b, K, lambda_W, lambda_b

__all__ = ["report_to_latex", "report_to_text", "recursions_to_latex", "latex"]

_NAMES = {"sigma": r"\sigma", "chi": r"\chi"}
_LAW_LATEX = {"K": r"K^{(\ell)}", "delta_delta_K": r"\delta\delta K^{(\ell)}", "V": r"V^{(\ell)}",
              "V/(n K^2)": r"V^{(\ell)} / \left(n\, (K^{(\ell)})^2\right)"}
_EXP_LATEX = {"p_K": r"p_K", "p_perp": r"p_\perp", "q_V": r"q_V"}


def latex(expr) -> str:
    """sympy's LaTeX with our conventions (ℓ as \\ell, fixed multiplication symbol)."""
    return sp.latex(sp.sympify(expr), symbol_names={sp.Symbol("ell", positive=True): r"\ell"},
                    mul_symbol=None, ln_notation=True)


def _taylor_name(key: str) -> str:
    head, _, index = key.partition("_")
    return f"{_NAMES.get(head, head)}_{{{index}}}"


def report_to_latex(rep) -> str:
    """LaTeX (an ``align*`` environment) of a universality report."""
    lines = [r"\begin{align*}",
             rf"\sigma(z) &= {latex(rep.activation.bound_expr)} \\",
             rf"\text{{class}} &: \text{{{rep.universality_class}}} \\",
             rf"\chi_\parallel(K) &= {latex(rep.chi_parallel)} \\",
             rf"\chi_\perp(K) &= {latex(rep.chi_perp)} \\"]
    for i, p in enumerate(rep.critical_points, 1):
        lines.append(rf"\text{{critical point {i}}} &: C_b = {latex(p.C_b)},\ C_W = {latex(p.C_W)},\ "
                     rf"K^\star = {latex(p.K_star)}\ \text{{({p.stability})}} \\")
    for key, value in rep.taylor:
        lines.append(rf"{_taylor_name(key)} &= {latex(value)} \\")
    for key, value in rep.exponents:
        lines.append(rf"{_EXP_LATEX[key]} &= {latex(value)} \\")
    for key, value in rep.asymptotics:
        lines.append(rf"{_LAW_LATEX[key]} &\simeq {latex(value)} \\")
    lines[-1] = lines[-1].removesuffix(r" \\")
    lines.append(r"\end{align*}")
    return "\n".join(lines) + "\n"


def report_to_text(rep) -> str:
    """Readable plain-text table of a universality report."""
    act = rep.activation
    rows = [f"activation        {act}", f"sigma(z)          {act.bound_expr}",
            f"class             {rep.universality_class}",
            f"chi_parallel(K)   {_short(rep.chi_parallel)}", f"chi_perp(K)       {_short(rep.chi_perp)}"]
    if rep.critical_points:
        rows.append("critical points   C_b | C_W | K* | stability")
        for p in rep.critical_points:
            rows.append(f"                  {_num(p.C_b)} | {_num(p.C_W)} | {_num(p.K_star)} | {p.stability}")
    else:
        rows.append("critical points   none")
    if rep.taylor:
        rows.append("taylor            " + ", ".join(f"{k}={_num(v)}" for k, v in rep.taylor))
    for key, value in rep.exponents:
        rows.append(f"{key:<18}{value}")
    for key, value in rep.asymptotics:
        rows.append(f"{key + ' ~':<18}{value}")
    for note in rep.notes:
        rows.append(f"note              {note}")
    return "\n".join(rows)


def _num(x) -> str:
    if isinstance(x, tuple):
        return "(" + ", ".join(_num(v) for v in x) + ")"
    x = sp.sympify(x)
    if x.atoms(sp.Float):
        return f"{float(x):.6f}"
    return str(x)


def _short(expr, width: int = 100) -> str:
    text = str(expr)
    return text if len(text) <= width else text[: width - 3] + "..."


def recursions_to_latex(act) -> str:
    """The single-input layer-to-layer recursions of K, V, G^{{1}} and H (THEORY.md §2–3, §6).

    Expectations with a closed form are written out; the others stay as
    \\langle f \\rangle_{K^{(\\ell)}}.
    """
    sigma, d1, d2 = act.bound_expr, act.derivative(1), act.derivative(2)
    Kl = sp.Symbol(r"K^{(\ell)}", positive=True)

    def avg(f):
        value = expect1(integrand(f)).xreplace({K: Kl})
        return value.replace(lambda e: isinstance(e, Expectation), lambda e: Expectation(
            e.integrand, e.variables, [[Kl]]))
    g, quartic, perp = avg(sigma**2), avg(sigma**4), avg(d1**2)
    g2 = avg(integrand(sigma**2, 4)) / 4
    chi_par = sp.Symbol(r"\chi_{\parallel}^{(\ell)}")
    V, G1, H = (sp.Symbol(s) for s in (r"V^{(\ell)}", r"G^{\{1\}(\ell)}", r"H^{(\ell)}"))
    eqs = [
        (r"K^{(\ell+1)}", C_b + C_W * g),
        (r"\chi_{\parallel}^{(\ell)}", C_W * avg(d1**2 + sigma * d2)),
        (r"\chi_{\perp}^{(\ell)}", C_W * perp),
        (r"V^{(\ell+1)}", C_W**2 * (quartic - g**2) + chi_par**2 * V),
        (r"G^{\{1\}(\ell+1)}", chi_par * G1 + C_W / 2 * g2 * V),
        (r"H^{(\ell+1)}", lambda_b + lambda_W * g + C_W * perp * H),
    ]
    body = " \\\\\n".join(f"{lhs} &= {latex(rhs)}" for lhs, rhs in eqs)
    return "\\begin{align*}\n" + body + "\n\\end{align*}\n"
