"""The residual MLP's order-1/n system, single input, as sympy rules (``rgflow derive --residual``).

For z^{(ℓ+1)} = ξ z^{(ℓ)} + γ [b + W σ(z^{(ℓ)})] the four-point function does not close on V: the
cross-neuron covariance is a bilinear form 𝒞_ℓ[f, g] = n Cov(f(z_i), g(z_k)) that closes as
D[f]Ψ[g] + Ψ[f]D[g] + D[f]ΩD[g] (derivation in :mod:`rgflow.residual` and docs/residual.md).  For one
input, in the moments g_m(K) = ⟨σ^m⟩_K of :mod:`derive.engine.single_input` (D[σ²] = g₂′,
Cov(σ², z²) = 2K²g₂′ by Stein, Cov(σ², σ²) = g₄ − g₂²), with e₂(K) = ⟨σ′²⟩_K for the NTK:

    K'   = ξ²K + γ²(C_b + C_W g₂)
    H'   = ξ²H + γ²(λ_b + λ_W g₂ + C_W e₂ H)
    Ψ_z' = ξ² χ Ψ_z + 2ξ²γ²C_W K² g₂′,                        χ = ξ² + γ²C_W g₂′
    Ψ_σ  = γ²C_W Σ_{m<ℓ} (Π_{m<j<ℓ} χ_j) Γ_{mℓ},              Γ_{mℓ} = Cov(σ²(z_m), σ²(z_ℓ))
    Ω'   = ξ⁴Ω + 2ξ²γ²C_W(Ψ_σ + g₂′Ω) + γ⁴C_W²(g₄ − g₂² + 2g₂′Ψ_σ + g₂′²Ω)
    V    = 2Ψ_z + Ω

with Corr(z_m, z_ℓ) along the residual stream = ξ^{ℓ−m}√(K_m/K_ℓ).  The V-only ("naive") closure is
V' = χ²V + γ⁴C_W²(g₄ − g₂²) + 4ξ²γ²C_W K²g₂′ (exact for linear σ only).

>>> rules = residual_single_input_system()
>>> sorted(rules)
['H', 'K', 'Omega', 'Psi_sigma', 'Psi_z', 'V', 'V_naive']
>>> rules["V"]
Omega + 2*Psi_z
"""

from __future__ import annotations

import sympy as sp

from ..symbols import C_W, C_b, K
from .single_input import algebraic_expectation, moment, specialise

__all__ = ["XI", "GAMMA", "residual_single_input_system", "residual_text", "residual_latex"]

XI, GAMMA = sp.symbols("xi gamma", nonnegative=True)
H, PSI_Z, PSI_S, OMEGA, V = sp.symbols("H Psi_z Psi_sigma Omega V", real=True)
LAMBDA_B, LAMBDA_W = sp.symbols("lambda_b lambda_W", nonnegative=True)
#: ⟨σ′(z)²⟩_K, the NTK's susceptibility atom.
E2 = sp.Function("e2")(K)
#: Γ_{mℓ} and χ_j of the unrolled Ψ_σ sum (indexed functions of the layer labels m, j).
m_, j_, ell_ = sp.symbols("m j ell", integer=True, positive=True)
GAMMA_CROSS = sp.Function("Gamma")
CHI = sp.Function("chi")

#: Order of the rules and their left-hand sides in text and LaTeX.
_ORDER = ("K", "H", "Psi_z", "Psi_sigma", "Omega", "V", "V_naive")
_LHS_TEXT = {"K": "K'", "H": "H'", "Psi_z": "Psi_z'", "Psi_sigma": "Psi_sigma", "Omega": "Omega'", "V": "V",
             "V_naive": "V' (V-only closure)"}
_LHS_TEX = {"K": r"K^{(\ell+1)}", "H": r"H^{(\ell+1)}", "Psi_z": r"\Psi_z^{(\ell+1)}",
            "Psi_sigma": r"\Psi_\sigma^{(\ell)}", "Omega": r"\Omega^{(\ell+1)}", "V": r"V^{(\ell)}",
            "V_naive": r"V^{(\ell+1)}_{\text{V-only}}"}


def residual_single_input_system() -> dict[str, sp.Expr]:
    """The right-hand sides of the single-input residual system (module docstring); layer-ℓ symbols
    K, H, Ψ_z, Ψ_σ, Ω, V; moments g_m(K); Ψ_σ as its unrolled sum over earlier layers m."""
    g2, g4 = moment(2), moment(4)
    dg2 = sp.diff(g2, K)
    a2, b2 = XI**2, GAMMA**2
    chi = a2 + b2 * C_W * dg2
    return {
        "K": a2 * K + b2 * (C_b + C_W * g2),
        "H": a2 * H + b2 * (LAMBDA_B + LAMBDA_W * g2 + C_W * E2 * H),
        "Psi_z": a2 * chi * PSI_Z + 2 * a2 * b2 * C_W * K**2 * dg2,
        "Psi_sigma": b2 * C_W * sp.Sum(sp.Product(CHI(j_), (j_, m_ + 1, ell_ - 1)) * GAMMA_CROSS(m_, ell_),
                                       (m_, 1, ell_ - 1)),
        "Omega": a2**2 * OMEGA + 2 * a2 * b2 * C_W * (PSI_S + dg2 * OMEGA)
        + b2**2 * C_W**2 * (g4 - g2**2 + 2 * dg2 * PSI_S + dg2**2 * OMEGA),
        "V": 2 * PSI_Z + OMEGA,
        "V_naive": chi**2 * V + b2**2 * C_W**2 * (g4 - g2**2) + 4 * a2 * b2 * C_W * K**2 * dg2,
    }


def _rules(act, xi=None, gamma=None) -> list[tuple[str, sp.Expr]]:
    values = {}
    if xi is not None:
        values[XI] = sp.nsimplify(xi)
    if gamma is not None:
        values[GAMMA] = sp.nsimplify(gamma)
    e2 = _susceptibility_atom(act)
    if e2 is not None:
        values[E2] = e2
    system = residual_single_input_system()
    return [(name, specialise(system[name].subs(values), act) if name != "Psi_sigma" else system[name].subs(values))
            for name in _ORDER]


def _susceptibility_atom(act) -> sp.Expr | None:
    """⟨σ′²⟩_K in closed form where it is algebraic (as :func:`specialise` does for the moments); σ′
    is the almost-everywhere derivative (a Dirac term z δ(z) of a kink at 0 is zero)."""
    from ..symbols import z
    derivative = sp.expand(sp.diff(act.bound_expr, z)).replace(sp.DiracDelta, lambda *args: sp.S.Zero)  # a.e.
    return algebraic_expectation(derivative ** 2)


def residual_text(act, xi=None, gamma=None) -> str:
    """The single-input residual system of ``act`` as plain text (ξ, γ substituted when given)."""
    lines = [f"Residual MLP recursions of {act.name} to order 1/n (single input): "
             "z' = xi z + gamma (b + W sigma(z)).",
             "g_m(K) = <sigma(z)^m> over z ~ N(0, K); e2(K) = <sigma'(z)^2>; primes are K-derivatives; "
             "n Cov(f(z_i), g(z_k)) = D[f] Psi[g] + Psi[f] D[g] + D[f] Omega D[g] with D[f] = d<f>/dK; "
             "Psi_z = Psi[z^2], Psi_sigma = Psi[sigma^2]; Gamma(m, ell) = Cov(sigma(z_m)^2, sigma(z_ell)^2) "
             "along the residual stream (correlation xi^(ell-m) sqrt(K_m/K_ell)); chi(j) = xi^2 + gamma^2 C_W g2'(K_j)."]
    lines += [f"{_LHS_TEXT[name]} = {sp.sstr(rhs)}" for name, rhs in _rules(act, xi, gamma)]
    return "\n".join(lines) + "\n"


def residual_latex(act, xi=None, gamma=None) -> str:
    """The same as a LaTeX ``align`` environment."""
    names = {moment(2): "g_2", moment(4): "g_4", PSI_Z: r"\Psi_z", PSI_S: r"\Psi_\sigma", OMEGA: r"\Omega"}
    rows = [f"{_LHS_TEX[name]} &= {sp.latex(rhs, symbol_names=names)}" for name, rhs in _rules(act, xi, gamma)]
    return "\\begin{align}\n" + " \\\\\n".join(rows) + "\n\\end{align}\n"
