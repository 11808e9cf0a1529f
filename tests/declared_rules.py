"""The hand-typed recursions (THEORY.md §3, §6; THEORY-NTK.md §3, §4, §8.2): test references.

These formulas were the source of the compiled flows until the derivation engine produced them
(issue #11); :mod:`derive.observables` now builds every rule from :mod:`derive.engine`, and the
tests compare the two (tests/derive/test_engine.py, tests/derive/test_engine_ntk.py).  The
integration-by-parts form, no K⁻¹: ``DECLARED_RULES[name]`` is the tuple of :class:`Rule` of each
observable, with its own index patterns (G1: its diagonal "aa" in one-point atoms, "a<b" off it).
"""

from __future__ import annotations

import itertools

import sympy as sp

from derive.notation import atom, gram, pair_derivative, sample_indices, state, width_ratio
from derive.observables import Observable, Rule
from derive.symbols import C_W, C_b, lambda_W, lambda_b

__all__ = ["DECLARED_RULES", "HAND_TYPED"]


def derivatives(terms, k: int) -> dict:
    """{label sequence (β1..βk): ⟨∂_{β1}…∂_{βk} F⟩} for F = Σ coef · f(z_x) g(z_y) given as
    ``terms`` = [(coef, f, g, x, y)], over all 2^k sequences of the labels of each term
    (THEORY-NTK.md §2: the β's run over the samples the bracket depends on)."""
    out: dict = {}
    for coef, f, g, x, y in terms:
        for seq in itertools.product((0, 1), repeat=k):
            labels = tuple((x, y)[v] for v in seq)
            ka = seq.count(0)
            out[labels] = out.get(labels, sp.S.Zero) + coef * pair_derivative(f, g, ka, k - ka, x, y)
    return out


def contract(tensor, head: tuple, *derivs, weight=1) -> sp.Expr:
    """weight · Σ tensor[head + β's] Π ⟨∂_β…⟩ over the label sequences of each ``derivs``
    dictionary (:func:`derivatives`), the β's of each appended after ``head`` in order."""
    total = sp.S.Zero
    for combo in itertools.product(*[sorted(d.items(), key=str) for d in derivs]):
        labels = tuple(l for seq, _ in combo for l in seq)
        total += tensor[head + labels] * sp.Mul(*[value for _, value in combo])
    return weight * total


def interleaved(tensor, a, b, f: dict, g: dict) -> sp.Expr:
    """Σ_{β1 β2} tensor[a, β1, b, β2] ⟨∂_{β1} f⟩⟨∂_{β2} g⟩ (ℱ, THEORY-NTK.md §2: the first
    pair of F's indices belongs to the first neuron)."""
    return sp.Add(*[tensor[a, s1[0], b, s2[0]] * v1 * v2
                    for s1, v1 in sorted(f.items(), key=str) for s2, v2 in sorted(g.items(), key=str)])


def _declarations() -> tuple[Observable, ...]:
    a1, a2, a3, a4 = sample_indices
    K, H, V, G1 = (state(q) for q in ("K", "H", "V", "G1"))
    ss, dsds, d2ss, d4ss, d3sds, d2sd2s, s2d2, s2d4, ssss = (
        atom(n) for n in ("ss", "dsds", "d2ss", "d4ss", "d3sds", "d2sd2s", "s2d2", "s2d4", "ssss"))
    r = width_ratio
    pair = ((1, 0),)

    # V: the integration-by-parts form (no K^-1: coincident inputs allowed), THEORY.md §3
    left = (((a1, a1), d2ss[a1, a2]), ((a1, a2), 2 * dsds[a1, a2]), ((a2, a2), d2ss[a2, a1]))
    right = (((a3, a3), d2ss[a3, a4]), ((a3, a4), 2 * dsds[a3, a4]), ((a4, a4), d2ss[a4, a3]))
    inherited = sp.Add(*[wl * wr * V[cl[0], cl[1], cr[0], cr[1]] for cl, wl in left for cr, wr in right])
    v_rule = C_W**2 * (ssss[a1, a2, a3, a4] - ss[a1, a2] * ss[a3, a4]) + C_W**2 * r / 4 * inherited

    # G1: off the diagonal the labelled derivatives; on it the one-sample (σ²)'' and (σ²)''''
    # (their labelled pieces diverge separately for kinked σ), THEORY.md §6
    metric = G1[a1, a1] * d2ss[a1, a2] + 2 * G1[a1, a2] * dsds[a1, a2] + G1[a2, a2] * d2ss[a2, a1]
    quartic = (V[a1, a1, a1, a1] * d4ss[a1, a2] + 4 * V[a1, a2, a1, a1] * d3sds[a1, a2]
               + (2 * V[a1, a1, a2, a2] + 4 * V[a1, a2, a1, a2]) * d2sd2s[a1, a2]
               + 4 * V[a1, a2, a2, a2] * d3sds[a2, a1] + V[a2, a2, a2, a2] * d4ss[a2, a1])
    g1_off = r * C_W * (metric / 2 + quartic / 8)
    g1_diag = r * C_W * (G1[a1, a1] * s2d2[a1] / 2 + V[a1, a1, a1, a1] * s2d4[a1] / 8)

    return (
        Observable("K", 2, pair, C_b + C_W * gram[a1, a2],
                   (Rule("ab", (a1, a2), C_b + C_W * ss[a1, a2]),),
                   0, "K", "", (2,), "metric", "kernel (the metric at infinite width)"),
        Observable("H", 2, pair, lambda_b + lambda_W * gram[a1, a2],
                   (Rule("ab", (a1, a2), lambda_b + lambda_W * ss[a1, a2] + C_W * dsds[a1, a2] * H[a1, a2]),),
                   0, "H", "", (2,), "ntk", "NTK mean at leading order"),
        Observable("V", 4, ((1, 0, 2, 3), (0, 1, 3, 2), (2, 3, 0, 1)), sp.S.Zero,
                   (Rule("abcd", (a1, a2, a3, a4), v_rule),),
                   1, "V", "", (2, 2), "vertex", "four-point vertex (connected four-point function x n)"),
        Observable("G1", 2, pair, sp.S.Zero,
                   (Rule("a<b", (a1, a2), g1_off), Rule("aa", (a1, a1), g1_diag)),
                   1, "G", r"\{1\}", (2,), "metric", "1/n correction of the metric"),
    )


def _ntk_declarations() -> tuple[Observable, ...]:
    """The NTK at order 1/n: A, B, D, F (THEORY-NTK.md §3), the NTK mean's 1/n correction H1
    (§8.2) and the dNTK–preactivation tensors P, Q (§4), general N_D, in the
    integration-by-parts form (no K⁻¹).  Notation of §2: 𝒦_12 = C_W σ1σ2,
    𝒯_12 = λ_W σ1σ2 + C_W H_12 σ'1σ'2, and the contractions 𝒱, 𝒟, ℱ, 𝒫, 𝒬 of the layer-ℓ
    tensors with Stein derivatives of the bracket.  σ'' written ``c`` is the classical
    second derivative of the dNTK forward equation (Dirac deltas dropped: a real network's
    gradient descent sees σ'' = 0 almost everywhere for piecewise-linear σ)."""
    a1, a2, a3, a4 = sample_indices
    K, H, V, G1, A, B, D, F, P, Q = (state(q) for q in ("K", "H", "V", "G1", "A", "B", "D", "F", "P", "Q"))
    ss, dsds, d2ss, ssss = (atom(n) for n in ("ss", "dsds", "d2ss", "ssss"))
    q_ddss, q_dddd, q_cdds, e_cs = (atom(n) for n in ("q_ddss", "q_dddd", "q_cdds", "e_cs"))
    r = width_ratio

    def hess_ss(x, y):
        # ⟨∂∂(σ_x σ_y)⟩ with the exact one-point values on x = y (finite: ⟨σ''σ⟩, ⟨σ'σ'⟩), as in V
        return {(x, x): d2ss[x, y], (x, y): dsds[x, y], (y, x): dsds[x, y], (y, y): d2ss[y, x]}

    def add(*parts):
        out: dict = {}
        for coef, d in parts:
            for key, value in d.items():
                out[key] = out.get(key, sp.S.Zero) + coef * value
        return out

    def hess_T(x, y):    # ⟨∂∂ 𝒯_xy⟩ (H_xy is a number)
        return add((lambda_W, hess_ss(x, y)), (C_W * H[x, y], derivatives([(1, "d", "d", x, y)], 2)))

    def hess_K(x, y):    # ⟨∂∂ 𝒦_xy⟩
        return add((C_W, hess_ss(x, y)))

    def cov_TK(x, y, u, v):   # Cov(𝒯_xy, 𝒦_uv)
        return (lambda_W * C_W * (ssss[x, y, u, v] - ss[x, y] * ss[u, v])
                + C_W**2 * H[x, y] * (q_ddss[x, y, u, v] - dsds[x, y] * ss[u, v]))

    def vertex(f, g):         # 𝒱[f, g] = ¼ Σ V ⟨∂∂f⟩⟨∂∂g⟩
        return contract(V, (), f, g, weight=sp.Rational(1, 4))

    def dcon(x, y, g):        # 𝒟_xy[g] = ½ Σ D_{xy β3β4} ⟨∂∂g⟩
        return contract(D, (x, y), g, weight=sp.Rational(1, 2))

    # D'_{1234} = Cov(𝒯12, 𝒦34) + r{𝒱[𝒯12, 𝒦34] + C_W⟨σ'1σ'2⟩𝒟12[𝒦34]}
    d_rule = cov_TK(a1, a2, a3, a4) + r * (vertex(hess_T(a1, a2), hess_K(a3, a4))
                                           + C_W * dsds[a1, a2] * dcon(a1, a2, hess_K(a3, a4)))
    # A'_{(12)(34)} = Cov(𝒯12, 𝒯34) + r{𝒱[𝒯12, 𝒯34] + C_W⟨σ'1σ'2⟩𝒟12[𝒯34] + C_W⟨σ'3σ'4⟩𝒟34[𝒯12]
    #                 + C_W²⟨σ'1σ'2⟩⟨σ'3σ'4⟩A}
    cov_TT = (lambda_W**2 * (ssss[a1, a2, a3, a4] - ss[a1, a2] * ss[a3, a4])
              + lambda_W * C_W * H[a1, a2] * (q_ddss[a1, a2, a3, a4] - dsds[a1, a2] * ss[a3, a4])
              + lambda_W * C_W * H[a3, a4] * (q_ddss[a3, a4, a1, a2] - ss[a1, a2] * dsds[a3, a4])
              + C_W**2 * H[a1, a2] * H[a3, a4] * (q_dddd[a1, a2, a3, a4] - dsds[a1, a2] * dsds[a3, a4]))
    a_rule = cov_TT + r * (vertex(hess_T(a1, a2), hess_T(a3, a4))
                           + C_W * dsds[a1, a2] * dcon(a1, a2, hess_T(a3, a4))
                           + C_W * dsds[a3, a4] * dcon(a3, a4, hess_T(a1, a2))
                           + C_W**2 * dsds[a1, a2] * dsds[a3, a4] * A[a1, a2, a3, a4])
    # F'_{1324} = C_W²{H12⟨σ'1σ3σ'2σ4⟩ + r ℱ12[σ'1σ3, σ'2σ4]}; stored F[α1, α3, α2, α4]
    f_rule = C_W**2 * (H[a1, a3] * q_ddss[a1, a3, a2, a4]
                       + r * interleaved(F, a1, a3, derivatives([(1, "d", "s", a1, a2)], 1),
                                         derivatives([(1, "d", "s", a3, a4)], 1)))
    # B'_{1324} = C_W²{H12 H34⟨σ'1σ'3σ'2σ'4⟩ + r⟨σ'1σ'3⟩⟨σ'2σ'4⟩B_{1324}}; stored B[α1, α3, α2, α4]
    b_rule = C_W**2 * (H[a1, a3] * H[a2, a4] * q_dddd[a1, a2, a3, a4]
                       + r * dsds[a1, a2] * dsds[a3, a4] * B[a1, a2, a3, a4])

    # H1'_{12} = r{λ_W[½ΣG1⟨∂∂(σ1σ2)⟩ + ⅛ΣV⟨∂⁴(σ1σ2)⟩] + C_W H12[same with σ'1σ'2]
    #             + C_W⟨σ'1σ'2⟩H1_12 + (C_W/2)Σ(D_{12β3β4} + 2F_{1β3 2β4})⟨∂β3∂β4(σ'1σ'2)⟩}
    def metric_part(f):
        two, four = derivatives([(1, f, f, a1, a2)], 2), derivatives([(1, f, f, a1, a2)], 4)
        return contract(G1, (), two, weight=sp.Rational(1, 2)) + contract(V, (), four, weight=sp.Rational(1, 8))

    dd2 = derivatives([(1, "d", "d", a1, a2)], 2)
    fluct = (contract(D, (a1, a2), dd2)
             + 2 * sp.Add(*[F[a1, seq[0], a2, seq[1]] * value for seq, value in sorted(dd2.items(), key=str)]))
    h1_rule = r * (lambda_W * metric_part("s") + C_W * H[a1, a2] * metric_part("d")
                   + C_W * dsds[a1, a2] * state("H1")[a1, a2] + C_W / 2 * fluct)

    # P'_{0123} (indices a1..a4 = α0..α3), 𝒰_01 = λ_W σ0σ'1 + C_W H01 σ'0σ''1
    i0, i1, i2, i3 = a1, a2, a3, a4
    U01 = derivatives([(lambda_W, "s", "d", i0, i1), (C_W * H[i0, i1], "d", "c", i0, i1)], 1)
    ds23 = derivatives([(1, "d", "s", i2, i3)], 1)
    p_rule = (C_W * H[i1, i2] * (lambda_W * q_ddss[i1, i2, i0, i3] + C_W * H[i0, i1] * q_cdds[i1, i0, i2, i3])
              + C_W**2 * H[i0, i2] * H[i1, i2] * q_cdds[i2, i0, i1, i3]
              + r * (C_W * interleaved(F, i1, i2, U01, ds23)
                     + C_W**2 * dsds[i0, i1] * e_cs[i2, i3] * B[i0, i1, i2, i2]
                     + C_W**2 * dsds[i0, i1] * contract(P, (i0, i1, i2), ds23)))
    # Q'_{0123}
    ds03 = derivatives([(1, "d", "s", i0, i3)], 1)
    g1 = derivatives([(lambda_W, "d", "s", i1, i2), (C_W * H[i1, i2], "c", "d", i1, i2)], 1)
    g2 = derivatives([(lambda_W, "d", "s", i2, i1), (C_W * H[i1, i2], "c", "d", i2, i1)], 1)
    q_rule = (lambda_W * C_W * (H[i0, i1] * q_ddss[i0, i1, i3, i2] + H[i0, i2] * q_ddss[i0, i2, i3, i1])
              + C_W**2 * H[i1, i2] * (H[i0, i1] * q_cdds[i1, i0, i2, i3] + H[i0, i2] * q_cdds[i2, i0, i1, i3])
              + r * (C_W * interleaved(F, i0, i1, ds03, g1) + C_W * interleaved(F, i0, i2, ds03, g2)
                     + C_W**2 * dsds[i1, i2] * contract(Q, (i0, i1, i2), ds03)))

    pairs = ((1, 0, 2, 3), (0, 1, 3, 2))
    quad = (a1, a2, a3, a4)
    return (
        Observable("A", 4, pairs + ((2, 3, 0, 1),), sp.S.Zero, (Rule("abcd", quad, a_rule),), 1, "A", "",
                   (2, 2), "A", "NTK variance, same-neuron-pair part (x n)"),
        Observable("B", 4, ((2, 3, 0, 1), (1, 0, 3, 2)), sp.S.Zero, (Rule("abcd", quad, b_rule),), 1, "B", "",
                   (4,), "B", "NTK variance, crossed part B[a1,a3,a2,a4] (x n)"),
        Observable("D", 4, pairs, sp.S.Zero, (Rule("abcd", quad, d_rule),), 1, "D", "",
                   (2, 2), "D", "NTK-preactivation cross-correlation, same-neuron-pair part (x n)"),
        Observable("F", 4, ((2, 3, 0, 1),), sp.S.Zero, (Rule("abcd", quad, f_rule),), 1, "F", "",
                   (4,), "F", "NTK-preactivation cross-correlation, crossed part F[a1,a3,a2,a4] (x n)"),
        Observable("H1", 2, ((1, 0),), sp.S.Zero, (Rule("ab", (a1, a2), h1_rule),), 1, "H", r"\{1\}",
                   (2,), "ntk", "1/n correction of the NTK mean"),
        Observable("P", 4, (), sp.S.Zero, (Rule("abcd", quad, p_rule),), 1, "P", "",
                   (4,), "P", "dNTK-preactivation correlation P[a0,a1,a2,a3] (x n)"),
        Observable("Q", 4, ((0, 2, 1, 3),), sp.S.Zero, (Rule("abcd", quad, q_rule),), 1, "Q", "",
                   (4,), "Q", "dNTK-preactivation correlation Q[a0,a1,a2,a3] (x n)"),
    )



#: The hand-typed observables (metadata as in :data:`derive.observables.DECLARED`).
HAND_TYPED: tuple[Observable, ...] = _declarations() + _ntk_declarations()
#: name → its hand-typed rules.
DECLARED_RULES = {o.name: o.rules for o in HAND_TYPED}
