"""Large-depth laws of the order-1/n NTK statistics reported by ``classify`` (THEORY-NTK.md §7).

Every coefficient is checked against two references that do not use the engine:

* the closed forms of THEORY-NTK.md §7, typed in literally here;
* a numerical iteration of the boxed single-input recursions (THEORY-NTK.md §3–4, §8.2;
  r = 1, C_b = 0) written out below with its own quadrature and hand-written σ, σ', σ'',
  σ''' — the slope of each ratio is read off between ℓ = L/2 and L.

Tolerances come from the iteration's finite-ℓ corrections: scale-invariant σ has exactly
polynomial tensors (H = Θ₁ℓ, A ∝ cubic in ℓ), so the ratio is aℓ + b + c/ℓ + …
and the slope r(L) − r(L−1) = a + O(L⁻²): 1e-6 relative.  For K* = 0 the corrections to
the laws are O(log ℓ/ℓ) (K = 1/(−a₁ℓ) + O(log ℓ/ℓ²)); the slope between L/2 and L
cancels the O(1) offset and leaves O(log L/L) ≈ 2e-3 at L = 4000 (observed ≤ 4e-4): 3e-3.
"""

import functools

import numpy as np
import pytest
import sympy as sp
from scipy.special import erf as _erf

from derive import classify
from derive.ntk_flow import little_o, rho
from derive.symbols import K, ell, lambda_W, lambda_b, n

# -- quadrature: Gauss–Legendre on u = z/√K ∈ [−14, 0] ∪ [0, 14] (split at the kink), 200 nodes each.
_x, _w = np.polynomial.legendre.leggauss(200)
_U = np.concatenate([(_x - 1) * 7, (_x + 1) * 7])
_W = np.concatenate([_w, _w]) * 7 * np.exp(-_U**2 / 2) / np.sqrt(2 * np.pi)


def _tanh(z):
    t = np.tanh(z)
    s1 = 1 - t * t
    return t, s1, -2 * t * s1, -2 * s1 * (1 - 3 * t * t)


def _erf_(z):
    e = 2 / np.sqrt(np.pi) * np.exp(-z * z)
    return _erf(z), e, -2 * z * e, (4 * z * z - 2) * e


def _leaky(a):
    def d(z):
        pos = z > 0
        return np.where(pos, z, a * z), np.where(pos, 1.0, a), 0 * z, 0 * z   # σσ'' = 0: σ(0) = 0
    return d


SIGMA = {"tanh": (_tanh, 1.0), "erf": (_erf_, np.pi / 4), "relu": (_leaky(0.0), 2.0),
         "leaky_relu": (_leaky(0.1), 2 / 1.01)}


@functools.lru_cache(maxsize=None)
def iterate(name, lam_b, lam_W, depth, K0=1.0):
    """(K, H, V, G1, D, F, B, A, P, Q, H1) for ℓ = 1..depth from the boxed recursions.

    Layer 1: K = K0, H = λ_b + λ_W K0/C_W (C_b = 0), every 1/n tensor zero.
    h' = ⟨σ''² + σ'σ'''⟩; g'' and h'' by the Hermite identity d²⟨f⟩/dK² = ⟨f He₄-like⟩/(4K⁴).
    Variances as ⟨(f − ⟨f⟩)²⟩ (no cancellation between large numbers).
    """
    derivs, C_W = SIGMA[name]
    Kl, H = K0, lam_b + lam_W * K0 / C_W
    V = G1 = D = F = B = A = P = Q = H1 = 0.0
    out = []
    for _ in range(depth):
        out.append((Kl, H, V, G1, D, F, B, A, P, Q, H1))
        z = np.sqrt(Kl) * _U
        s, d1, d2, d3 = derivs(z)
        avg = lambda f: f @ _W                                   # noqa: E731
        g, h = avg(s * s), avg(d1 * d1)
        dg, dh = avg(d1 * d1 + s * d2), avg(d2 * d2 + d1 * d3)
        hermite = (z**4 - 6 * Kl * z**2 + 3 * Kl**2) / (4 * Kl**4)
        d2g, d2h = avg(s * s * hermite), avg(d1 * d1 * hermite)
        s22, d4, s2sdd = avg(d1 * d1 * s * s), avg(d1**4), avg(d1 * d1 * s * d2)
        var_s2, cov = avg((s * s - g) ** 2), avg((s * s - g) * (d1 * d1 - h))
        T = lam_W * s * s + C_W * H * d1 * d1
        var_T = avg((T - avg(T)) ** 2)
        cpar, cperp = C_W * dg, C_W * h
        theta = lam_W * dg + C_W * dh * H
        Kl, H, V, G1, D, F, B, A, P, Q, H1 = (
            C_W * g,
            lam_b + lam_W * g + cperp * H,
            cpar**2 * V + C_W**2 * var_s2,
            cpar * G1 + C_W / 2 * d2g * V,
            cpar * cperp * D + cpar * theta * V + lam_W * C_W * var_s2 + C_W**2 * H * cov,
            cpar**2 * F + C_W**2 * H * s22,
            cperp**2 * B + C_W**2 * H**2 * d4,
            cperp**2 * A + 2 * cperp * theta * D + theta**2 * V + var_T,
            cperp * cpar * P + theta * cpar * F + cperp * (cpar - cperp) * B
            + lam_W * C_W * H * s22 + 2 * C_W**2 * H**2 * s2sdd,
            cperp * cpar * Q + 2 * theta * cpar * F + 2 * lam_W * C_W * H * s22 + 2 * C_W**2 * H**2 * s2sdd,
            cperp * H1 + theta * G1 + (lam_W * d2g + C_W * H * d2h) / 2 * V + C_W * dh * (D + 2 * F),
        )
    return np.array(out)


def ratios(name, lam_b, lam_W, depth):
    Kl, H, V, G1, D, F, B, A, P, Q, H1 = iterate(name, lam_b, lam_W, depth).T
    return {"A/(n H^2)": A / H**2, "B/(n H^2)": B / H**2, "Var(H)/H^2": (A + 2 * B) / H**2,
            "D/(n K H)": D / (Kl * H), "F/(n K H)": F / (Kl * H), "P/(n H^2)": P / H**2,
            "Q/(n H^2)": Q / H**2, "H1/(n H)": H1 / H, "H": H}


def slope(values, L, step):
    """d(ratio)/dℓ between ℓ = L − step and L (ℓ is 1-based)."""
    return (values[L - 1] - values[L - step - 1]) / step


def coefficient(law):
    """c of a law c·ℓ/n (must be exactly of that form)."""
    c = sp.simplify(law / (ell / n))
    assert not c.has(ell) and not c.has(n), law
    return c


KEYS = ("A/(n H^2)", "B/(n H^2)", "Var(H)/H^2", "D/(n K H)", "F/(n K H)", "P/(n H^2)", "Q/(n H^2)", "H1/(n H)")

# ---------------------------------------------------------------------------------
# THEORY-NTK.md §7, typed in literally (coefficients of ℓ/n)
# ---------------------------------------------------------------------------------
R = sp.Rational


def scale_invariant_table(nu, mu, r):
    return {"A/(n H^2)": (nu * r**2 + mu * r + mu) / 3, "B/(n H^2)": (mu + 1) / 3,
            "Var(H)/H^2": (nu * r**2 + mu * r + 3 * mu + 2) / 3, "D/(n K H)": (nu * r + mu) / 2,
            "F/(n K H)": (mu + 1) / 2, "P/(n H^2)": (mu + 1) * r / 6, "Q/(n H^2)": (mu + 1) * r / 3,
            "H1/(n H)": 0}


RELU_LAMBDA_B_0 = {"A/(n H^2)": R(7, 3), "B/(n H^2)": R(2, 3), "Var(H)/H^2": R(11, 3), "D/(n K H)": 3,
                   "F/(n K H)": 1, "P/(n H^2)": R(1, 3), "Q/(n H^2)": R(2, 3)}
ODD_LAMBDA_B_POS = {"A/(n H^2)": R(1, 15), "B/(n H^2)": R(1, 5), "Var(H)/H^2": R(7, 15),
                    "D/(n K H)": R(-1, 6), "F/(n K H)": R(1, 5), "P/(n H^2)": R(-1, 15), "Q/(n H^2)": R(-1, 15)}
ODD_LAMBDA_B_0 = {"B/(n H^2)": R(1, 3), "Var(H)/H^2": R(2, 3), "F/(n K H)": R(1, 4), "P/(n H^2)": R(-1, 12)}
ODD_CANCELLED = ("A/(n H^2)", "D/(n K H)", "Q/(n H^2)")       # o(ℓ/n) at λ_b = 0
# H^{{1}}/(nH): not in §7; the iteration below is the reference (ℓ/30 and −ℓ/4)
ODD_H1 = {">0": R(1, 30), "=0": R(-1, 4)}


# ---------------------------------------------------------------------------------
# scale-invariant class
# ---------------------------------------------------------------------------------

def test_relu_laws_in_rho_match_theory():
    laws = dict(classify("relu").asymptotics)
    table = scale_invariant_table(5, 1, rho)
    for key in KEYS:
        assert sp.simplify(laws[key] - table[key] * ell / n) == 0, key
    assert any("ρ = λ_W A_2 K/(λ_b + λ_W A_2 K)" in note for note in classify("relu").notes)
    assert sp.simplify(laws["H"] - ell * (lambda_b + lambda_W * K / 2)) == 0     # H = Θ₁ℓ exactly


def test_relu_lambda_b_zero_numbers_and_iteration():
    rep = classify("relu", lambda_b=0)
    laws = dict(rep.asymptotics)
    for key, value in RELU_LAMBDA_B_0.items():
        assert coefficient(laws[key]) == value, key
        assert coefficient(dict(classify("relu").asymptotics)[key].subs(rho, 1)) == value
    r = ratios("relu", 0.0, 1.0, 2000)
    for key, value in RELU_LAMBDA_B_0.items():
        assert slope(r[key], 2000, 1) == pytest.approx(float(value), rel=1e-6), key
    # H^{{1}} ≡ 0: only the round-off of the Hermite-identity g'', h'' (≈ 1e-16/K²) accumulates
    assert np.max(np.abs(r["H1/(n H)"])) < 1e-6


@pytest.mark.parametrize("lam_b, lam_W", [(0.5, 1.0), (2.0, 0.3), (0.0, 1.0)])
def test_relu_general_rho_matches_iteration(lam_b, lam_W):
    r_value = lam_W * 0.5 / (lam_b + lam_W * 0.5)               # A_2 = 1/2, K = 1
    laws = dict(classify("relu").asymptotics)
    r = ratios("relu", lam_b, lam_W, 2000)
    for key in KEYS:
        expected = float(scale_invariant_table(5, 1, r_value)[key])
        assert float(coefficient(laws[key]).subs(rho, r_value)) == pytest.approx(expected, rel=1e-12, abs=1e-14)
        assert slope(r[key], 2000, 1) == pytest.approx(expected, rel=1e-6, abs=1e-9), key   # abs: H1 round-off


@pytest.mark.parametrize("lam_b, lam_W", [(0.5, 1.0), (0.0, 1.0)])
def test_leaky_relu_general_rho(lam_b, lam_W):
    a = 0.1
    A2, A4 = (1 + a**2) / 2, (1 + a**4) / 2
    nu, mu = 3 * A4 / A2**2 - 1, A4 / A2**2 - 1
    r_value = lam_W * A2 / (lam_b + lam_W * A2)
    rep = classify("leaky_relu", a=a)
    laws = dict(rep.asymptotics)
    r = ratios("leaky_relu", lam_b, lam_W, 2000)
    for key in KEYS:
        expected = float(scale_invariant_table(nu, mu, r_value)[key])
        got = float(coefficient(laws[key]).subs(rho, r_value))
        assert got == pytest.approx(expected, rel=1e-10, abs=1e-14), key
        assert slope(r[key], 2000, 1) == pytest.approx(expected, rel=1e-6, abs=1e-9), key


def test_leaky_relu_symbolic_slope_reduces_to_relu_and_linear():
    laws = dict(classify("leaky_relu").asymptotics)
    a = [s for s in laws["A/(n H^2)"].free_symbols if s.name == "a"][0]
    for key in KEYS:
        assert sp.simplify(laws[key].subs(a, 0) - scale_invariant_table(5, 1, rho)[key] * ell / n) == 0
        assert sp.simplify(laws[key].subs(a, 1) - scale_invariant_table(2, 0, rho)[key] * ell / n) == 0  # linear


# ---------------------------------------------------------------------------------
# K* = 0 class (odd σ): both learning-rate regimes
# ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["tanh", "erf"])
def test_k_star_zero_lambda_b_positive(name):
    laws = dict(classify(name).asymptotics)
    assert sp.simplify(laws["H [lambda_b>0]"] - lambda_b * ell / 2) == 0
    r = ratios(name, 0.5, 1.0, 4000)
    assert r["H"][-1] / 4000 == pytest.approx(0.25, rel=3e-3)
    for key, value in {**ODD_LAMBDA_B_POS, "H1/(n H)": ODD_H1[">0"]}.items():
        law = laws[key + " [lambda_b>0]"]
        assert coefficient(law) == value, key
        assert slope(r[key], 4000, 2000) == pytest.approx(float(value), rel=3e-3), key


@pytest.mark.parametrize("name, H_inf", [("tanh", lambda_W / 2), ("erf", 2 * lambda_W / sp.pi)])
def test_k_star_zero_lambda_b_zero(name, H_inf):
    """H → λ_W σ'(0)²/(−a₁): λ_W/2 for tanh, 2λ_W/π for erf (THEORY's "λ_W/(−a₁)" assumes σ'(0) = 1)."""
    laws = dict(classify(name).asymptotics)
    assert sp.simplify(laws["H [lambda_b=0]"] - H_inf) == 0
    r = ratios(name, 0.0, 1.0, 4000)
    assert r["H"][-1] == pytest.approx(float(H_inf.subs(lambda_W, 1)), rel=3e-3)
    for key, value in {**ODD_LAMBDA_B_0, "H1/(n H)": ODD_H1["=0"]}.items():
        assert coefficient(laws[key + " [lambda_b=0]"]) == value, key
        assert slope(r[key], 4000, 2000) == pytest.approx(float(value), rel=3e-3), key


@pytest.mark.parametrize("name", ["tanh", "erf"])
def test_k_star_zero_lambda_b_zero_cancellation_is_reported(name):
    """A, D, Q: the leading source cancels (Θ_K → 0, local variance → 0); reported o(ℓ/n) with a note.

    The iteration agrees: their ratios/ℓ are ≤ 1e-3 of the other laws' size at ℓ = 4000 and
    still falling (A/(nH²) decays like ℓ^{-0.6}; D/(nKH), Q/(nH²) grow only like log ℓ).
    """
    rep = classify(name)
    laws = dict(rep.asymptotics)
    for key in ODD_CANCELLED:
        assert laws[key + " [lambda_b=0]"] == little_o(ell / n), key
    note = next(note for note in rep.notes if "λ_b=0" in note and "cancels" in note)
    assert all(t in note for t in ("D", "A", "Q", "Θ_K"))
    r = ratios(name, 0.0, 1.0, 4000)
    for key in ODD_CANCELLED:
        per_layer = np.abs(r[key][[1999, 3999]]) / np.array([2000, 4000])
        assert per_layer[1] < per_layer[0] and per_layer[1] < 1e-3, key
    assert r["A/(n H^2)"][3999] < r["A/(n H^2)"][1999] < r["A/(n H^2)"][999]          # A/H² itself decays


def test_general_rule_B_and_F_with_H_power():
    """H ∝ ℓ^q: B/(nH²) → ℓ/((2q+3)n), F/(nKH) → ℓ/((q+4)n) (THEORY-NTK.md §7)."""
    laws = dict(classify("tanh").asymptotics)
    for suffix, q in ((" [lambda_b>0]", 1), (" [lambda_b=0]", 0)):
        assert coefficient(laws["B/(n H^2)" + suffix]) == R(1, 2 * q + 3)
        assert coefficient(laws["F/(n K H)" + suffix]) == R(1, q + 4)


def test_fixed_learning_rates_pick_one_regime():
    zero = dict(classify("tanh", lambda_b=0, lambda_W=1).asymptotics)
    assert zero["H"] == sp.Rational(1, 2) and zero["A/(n H^2)"] == little_o(ell / n)
    pos = dict(classify("tanh", lambda_b=sp.Rational(1, 2)).asymptotics)
    assert coefficient(pos["D/(n K H)"]) == R(-1, 6) and "D/(n K H) [lambda_b>0]" not in pos


# ---------------------------------------------------------------------------------
# other classes and export
# ---------------------------------------------------------------------------------

def test_other_classes_report_a_law_or_a_reason():
    for name in ("gelu", "swish", "elu", "z - z**5"):
        laws = dict(classify(name).asymptotics)
        assert any(k.startswith("B/(n H^2)") for k in laws), name
    hard_tanh = classify("min(max(z,-1),1)")
    assert not any(k.startswith("A/(n H^2)") for k, _ in hard_tanh.asymptotics)
    assert any(note.startswith("NTK laws not derived") for note in hard_tanh.notes)
    assert not any(k.startswith("A/") for k, _ in classify("sigmoid").asymptotics)


def test_latex_and_json_carry_the_ntk_laws():
    tex = classify("relu").to_latex()
    for name in (r"\frac{A}{nH^2}", r"\frac{B}{nH^2}", r"\frac{\mathrm{Var}(\hat H)}{H^2}", r"\frac{D}{nKH}",
                 r"\frac{F}{nKH}", r"\frac{P}{nH^2}", r"\frac{Q}{nH^2}", r"\frac{H^{\{1\}}}{nH}"):
        assert name in tex
    assert r"\frac{\ell \left(5 \rho^{2} + \rho + 1\right)}{3 n}" in tex
    assert tex.endswith("\\end{align*}\n") and tex.count(r"\\") == tex.count("\n") - 3
    tanh_tex = classify("tanh").to_latex()
    assert r"\frac{A}{nH^2}\quad (\lambda_b = 0) &\simeq o{\left(\frac{\ell}{n} \right)}" in tanh_tex
    assert r"\frac{D}{nKH}\quad (\lambda_b > 0) &\simeq - \frac{\ell}{6 n}" in tanh_tex
    data = classify("tanh").to_dict()["asymptotics"]
    assert data["Var(H)/H^2 [lambda_b>0]"] == "7*ell/(15*n)" and data["A/(n H^2) [lambda_b=0]"] == "o(ell/n)"
    assert "Var(H)/H^2 [lambda_b=0] ~" in str(classify("tanh"))
