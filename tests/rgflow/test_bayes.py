"""rgflow.bayes and derive.bayes: kernels, effective action, saddle point, closed forms, errors.

References used (each number is checked against at least two):
* closed-form kernels vs Monte Carlo (seeded) and vs rgflow.reference (independent code);
* the numerical saddle vs brute-force grid minimisation / finite differences of the action;
* one hidden layer, linear σ: saddle vs the exact finite-width scale mixture (eq. (11));
* deep linear, β = ∞: saddle vs the Li–Sompolinsky closed form, itself derived in sympy;
* the sympy action vs the numpy action at random order parameters.
"""

import math

import numpy as np
import pytest
import sympy as sp

from derive.bayes import action as act
from derive.errors import RGFlowError
from rgflow.bayes import Architecture, BayesInputError, NoSaddlePointError, criterion, predict, solve_saddle
from rgflow.bayes import saddle
from rgflow.bayes.data import linear_teacher
from rgflow.bayes.kernels import activation_mean, input_covariance, kernel_map, sigma
from rgflow.bayes.linear import deep_linear_zero_temperature, li_sompolinsky_root
from rgflow.bayes.mixture import mixture_posterior
from rgflow.reference import nngp_ntk_closed


@pytest.fixture(scope="module")
def data():
    return linear_teacher(P=60, N0=8, n_test=100, noise=0.5, seed=7)


# ---------------------------------------------------------------- kernels
@pytest.mark.parametrize("name", ["relu", "erf"])
def test_kernel_matches_reference_and_monte_carlo(name):
    rng = np.random.default_rng(11)
    X = rng.standard_normal((4, 3))
    C = input_covariance(X, lambda0=0.7)
    K = kernel_map(name, C)
    # independent implementation (rgflow.reference, layer 2 with C_W = 1, C_b = 0 maps K1 = C)
    Ks, _ = nngp_ntk_closed(name, X / math.sqrt(0.7), 2, 0.0, 1.0)
    np.testing.assert_allclose(K, Ks[1], rtol=1e-12, atol=1e-14)
    # Monte Carlo, 400 000 samples, seed 11: tolerance 5 standard errors
    h = rng.multivariate_normal(np.zeros(4), C, size=400_000)
    s = sigma(name, h)
    prod = np.einsum("na,nb->nab", s, s)
    se = prod.std(axis=0) / math.sqrt(len(h))
    assert np.all(np.abs(prod.mean(axis=0) - K) < 5 * se + 1e-12)
    m_se = s.std(axis=0) / math.sqrt(len(h))
    assert np.all(np.abs(s.mean(axis=0) - activation_mean(name, C)) < 5 * m_se + 1e-12)


# ---------------------------------------------------------------- symbolic action
def test_sympy_action_equals_numpy_action(data):
    """Spectral sympy action (L = 2, linear σ) = numpy eq. (2) at random (Q, Q̄)."""
    arch = Architecture("linear", widths=(40, 25), beta=3.0, priors=(0.8, 1.7), lambda0=1.3)
    X, y = data.X[:12], data.y[:12]
    C = input_covariance(X, lambda0=1.3)
    k, U = np.linalg.eigh(C)
    ytil = U.T @ y
    A = act.deep_action(2)
    Q, Qb, al, lam = act.symbols_for(2)
    rng = np.random.default_rng(3)
    for _ in range(3):
        q = rng.uniform(-0.5, 1.0, 2)
        qb = rng.uniform(0.3, 2.0, 2)
        subs = {Q[0]: q[0], Q[1]: q[1], Qb[0]: qb[0], Qb[1]: qb[1], al[0]: 12 / 40, al[1]: 12 / 25,
                lam[0]: 0.8, lam[1]: 1.7, act.beta: 3.0, act.P: 12}
        (total,) = A.action.atoms(sp.Sum)
        ks, ys = sp.symbols("ks ys")
        f = sp.lambdify((ks, ys), total.function.subs({act.k[act.i]: ks, act.yt[act.i]: ys}).subs(subs))
        expr = A.action.subs(total, float(np.sum(f(k, ytil)))).subs(subs)
        assert float(expr) == pytest.approx(saddle.action(arch, C, y, qb, q), rel=1e-10)


def test_li_sompolinsky_derived_symbolically():
    u, alpha, r = sp.symbols(r"\bar{Q} alpha r", positive=True)
    for L in (1, 2, 3):
        eq = act.li_sompolinsky(L)
        assert sp.simplify(eq.lhs - eq.rhs - ((1 - u) - alpha * (1 - r / u**L))) == 0


def test_latex_export_is_deterministic_and_complete():
    a, b = act.deep_action(1).to_latex(), act.deep_action(1).to_latex()
    assert a == b and r"\bar{Q}_1 &= \frac{1}{Q_{1} + 1}" in a and r"\sum_{i=1}^{P}" in a
    g = act.general_action(2).to_latex()
    assert "F{" in g and r"\operatorname{Tr}" in g
    m = act.mean_corrected_action().to_latex()
    assert r"\frac{1}{\lambda_{1} \left(Q_{1} + 1\right)}" in m


# ---------------------------------------------------------------- saddle vs brute force
@pytest.mark.parametrize("name,beta", [("erf", 5.0), ("relu", 2.0), ("linear", 20.0)])
def test_saddle_is_grid_minimum_of_reduced_action(data, name, beta):
    arch = Architecture(name, widths=(30,), beta=beta, priors=(2.0,), mean_correction=False)
    sp_ = solve_saddle(arch, data.X, data.y)
    C = input_covariance(data.X)
    # brute force: dense grid in Q̄, then golden refinement-free check on a finer local grid
    grid = np.exp(np.linspace(-3, 3, 3001))
    vals = [saddle.reduced_action(arch, C, data.y, [g]) for g in grid]
    g0 = grid[int(np.argmin(vals))]
    fine = np.linspace(g0 * 0.995, g0 * 1.005, 2001)
    vals = [saddle.reduced_action(arch, C, data.y, [g]) for g in fine]
    assert sp_.Qbar[0] == pytest.approx(fine[int(np.argmin(vals))], rel=2e-5)
    # and it is a stationary point of the *full* action S(Q, Q̄) (central differences)
    h = 1e-6
    q, qb = sp_.Q[0], sp_.Qbar[0]
    dq = (saddle.action(arch, C, data.y, [qb], [q + h]) - saddle.action(arch, C, data.y, [qb], [q - h])) / (2 * h)
    dqb = (saddle.action(arch, C, data.y, [qb + h], [q]) - saddle.action(arch, C, data.y, [qb - h], [q])) / (2 * h)
    assert abs(dq) < 1e-7 and abs(dqb) < 1e-7


def test_mean_corrected_saddle_by_finite_differences(data):
    """ReLU with the non-odd correction: analytic gradient (eq. (6)) = finite differences of S, and
    the solver's point is stationary for S evaluated directly."""
    y = data.y + 1.0            # a label mean couples to the K^(1) = m mᵀ direction
    arch = Architecture("relu", widths=(20,), beta=4.0, priors=(1.0,))
    assert arch.mean_correction
    C = input_covariance(data.X)
    h = 1e-6
    for qb, q in ((0.8, 0.3), (1.4, -0.2)):
        g = saddle.action_gradient(arch, C, y, [qb], [q])
        fd_qb = (saddle.action(arch, C, y, [qb + h], [q]) - saddle.action(arch, C, y, [qb - h], [q])) / (2 * h)
        fd_q = (saddle.action(arch, C, y, [qb], [q + h]) - saddle.action(arch, C, y, [qb], [q - h])) / (2 * h)
        np.testing.assert_allclose(g, [fd_qb, fd_q], rtol=1e-6, atol=1e-8)
    sp_ = solve_saddle(arch, data.X, y)
    qb, q = sp_.Qbar[0], sp_.Q[0]
    fd_qb = (saddle.action(arch, C, y, [qb + h], [q]) - saddle.action(arch, C, y, [qb - h], [q])) / (2 * h)
    fd_q = (saddle.action(arch, C, y, [qb], [q + h]) - saddle.action(arch, C, y, [qb], [q - h])) / (2 * h)
    assert abs(fd_qb) < 1e-7 and abs(fd_q) < 1e-7
    # the correction matters here: Q̄ ≠ 1/(1+Q) and the predictor differs from the uncorrected one
    assert abs(qb - 1 / (1 + q)) > 1e-3
    plain = Architecture("relu", widths=(20,), beta=4.0, priors=(1.0,), mean_correction=False)
    a = predict(arch, data.X, y, data.X_test, data.y_test + 1.0)
    b = predict(plain, data.X, y, data.X_test, data.y_test + 1.0)
    assert abs(a.generalisation_error - b.generalisation_error) > 1e-4
    # and at infinite width both reduce to the NNGP
    assert a.nngp_generalisation_error == pytest.approx(b.nngp_generalisation_error, rel=1e-12)


def test_saddle_is_robust_to_bad_scales(data):
    """Tiny/huge priors and temperatures: a certified solution or a clear error, never garbage."""
    for lam, beta in ((1e-4, 1.0), (1e4, 1.0), (1.0, 1e6), (1.0, 1e-4)):
        arch = Architecture("erf", widths=(30,), beta=beta, priors=(lam,))
        sp_ = solve_saddle(arch, data.X, data.y)
        assert sp_.residual < 1e-6 and sp_.Qbar[0] > 0


# ---------------------------------------------------------------- exact finite width (linear 1HL)
def test_saddle_converges_to_exact_scale_mixture():
    """Laplace (saddle) vs exact posterior of eq. (11): error O(1/N) at fixed α = P/N = 2."""
    errs = []
    for P in (60, 240):
        d = linear_teacher(P=P, N0=P // 2, n_test=100, noise=0.5, seed=5)
        N = P // 2
        arch = Architecture("linear", widths=(N,), beta=4.0, priors=(5.0,))
        p = predict(arch, d.X, d.y, d.X_test, d.y_test)
        ex = mixture_posterior(d.X, d.y, d.X_test, d.y_test, width=N, beta=4.0, prior=5.0)
        assert p.saddle.Qbar[0] == pytest.approx(ex.Qbar_mean, rel=0.03)
        errs.append(abs(p.saddle.Qbar[0] - ex.Qbar_mean) / ex.Qbar_mean)
        # finite width really matters here (the test discriminates): Q̄ far from 1
        assert abs(ex.Qbar_mean - 1) > 0.2
    assert errs[1] < 0.5 * errs[0]


# ---------------------------------------------------------------- deep linear / Li–Sompolinsky
@pytest.mark.parametrize("widths", [(20,), (20, 20), (20, 20, 20), (15, 40)])
def test_deep_linear_zero_temperature_closed_form(widths):
    d = linear_teacher(P=12, N0=16, n_test=10, noise=0.3, seed=2)    # P ≤ N0: K_GP invertible
    priors = tuple(1.0 + 0.3 * l for l in range(len(widths)))
    arch = Architecture("linear", widths=widths, beta=math.inf, priors=priors, lambda0=0.9)
    sp_ = solve_saddle(arch, d.X, d.y)
    r = criterion(arch, d.X, d.y)
    expected = deep_linear_zero_temperature(tuple(12 / n for n in widths), r)
    np.testing.assert_allclose(sp_.Qbar, expected, rtol=1e-7)
    if len(set(widths)) == 1:
        assert sp_.Qbar[0] == pytest.approx(li_sompolinsky_root(12 / widths[0], r, len(widths)), rel=1e-7)
    # large β approaches the β = ∞ solution
    hot = Architecture("linear", widths=widths, beta=1e7, priors=priors, lambda0=0.9)
    np.testing.assert_allclose(solve_saddle(hot, d.X, d.y).Qbar, expected, rtol=1e-3)


def test_li_sompolinsky_root_solves_polynomial():
    for alpha, r, L in ((0.5, 2.0, 1), (2.0, 0.3, 2), (1.0, 1.0, 4)):
        u = li_sompolinsky_root(alpha, r, L)
        assert 1 - u == pytest.approx(alpha * (1 - r / u**L), abs=1e-12)
    # L = 1: the quadratic formula
    a, r = 0.7, 1.9
    assert li_sompolinsky_root(a, r, 1) == pytest.approx(((1 - a) + math.sqrt((1 - a) ** 2 + 4 * a * r)) / 2)


# ---------------------------------------------------------------- the seed's qualitative claims (T → 0)
@pytest.mark.parametrize("name", ["erf", "relu"])
def test_criterion_and_last_layer_prior(name):
    d = linear_teacher(P=30, N0=40, n_test=100, noise=0.5, seed=9)
    beta = 1e8
    egs = {}
    for lam in (0.05, 20.0):
        base = Architecture(name, widths=(30,), beta=beta, priors=(lam,), mean_correction=False)
        r = criterion(base, d.X, d.y)
        for N in (15, 60, 240):
            arch = Architecture(name, widths=(N,), beta=beta, priors=(lam,), mean_correction=False)
            p = predict(arch, d.X, d.y, d.X_test, d.y_test)
            # yᵀK_GP⁻¹y > P  ⇔  Q̄ > 1  ⇔  finite width generalises worse than the NNGP
            assert (p.saddle.Qbar[0] > 1) == (r > 1)
            assert (p.generalisation_error > p.nngp_generalisation_error) == (r > 1)
            # the bias is independent of N and λ_1 at T = 0
            egs[(lam, N)] = p
        assert ((egs[(lam, 15)].generalisation_error - egs[(lam, 240)].generalisation_error) > 0) == (r > 1)
    assert {r > 1 for r in (criterion(Architecture(name, (30,), beta, (l,), mean_correction=False), d.X, d.y)
                            for l in (0.05, 20.0))} == {True, False}
    b = [p.bias2 for p in egs.values()]
    assert max(b) - min(b) < 1e-6 * max(b)
    # variance decreases with λ_1 at every N, as λ_1^{-1/2} at large λ_1 (Q̄ ≈ √(α λ_1 r_1))
    for N in (15, 60, 240):
        v = []
        for lam in (1e2, 1e4):
            arch = Architecture(name, widths=(N,), beta=beta, priors=(lam,), mean_correction=False)
            v.append(float(np.mean(predict(arch, d.X, d.y, d.X_test).variance)))
        assert math.log(v[1] / v[0]) / math.log(100.0) == pytest.approx(-0.5, abs=0.02)


# ---------------------------------------------------------------- errors
@pytest.mark.parametrize("kwargs", [dict(widths=(0,)), dict(widths=(-3,)), dict(beta=-1.0), dict(beta=0.0),
                                    dict(priors=(-1.0,)), dict(priors=(1.0, 2.0)), dict(lambda0=0.0),
                                    dict(activation="tanh"), dict(widths=(2.5,))])
def test_bad_architecture(kwargs):
    base = dict(activation="erf", widths=(10,), beta=1.0, priors=(1.0,))
    with pytest.raises(BayesInputError) as info:
        Architecture(**(base | kwargs))
    assert isinstance(info.value, RGFlowError) and "\n" not in str(info.value)


def test_bad_data_and_no_solution(data):
    arch = Architecture("erf", widths=(10,), beta=1.0, priors=(1.0,))
    with pytest.raises(BayesInputError, match="shape"):
        solve_saddle(arch, data.X, data.y[:-1])
    with pytest.raises(BayesInputError, match="non-finite"):
        solve_saddle(arch, np.full((3, 2), np.nan), np.zeros(3))
    with pytest.raises(BayesInputError, match="features"):
        predict(arch, data.X, data.y, data.X_test[:, :3])
    # P > N_0 with a linear network at T = 0: singular kernel, no saddle point
    lin = Architecture("linear", widths=(10,), beta=math.inf, priors=(1.0,))
    with pytest.raises(NoSaddlePointError, match="positive definite"):
        solve_saddle(lin, data.X, data.y)
    with pytest.raises(BayesInputError, match="singular"):
        criterion(lin, data.X, data.y)
    with pytest.raises(BayesInputError, match="positive semi-definite"):
        saddle._check_psd(np.array([[1.0, 2.0], [2.0, 1.0]]), "K")


def test_deep_nonlinear_saddle_is_grid_minimum(data):
    """L = 2, erf (not homogeneous: K^R_2 is not a multiple of a fixed matrix): the solver's point
    is the minimum of the reduced action on a 2-D grid, refined locally."""
    arch = Architecture("erf", widths=(30, 20), beta=5.0, priors=(0.7, 1.5))
    X, y = data.X[:30], data.y[:30]
    sp_ = solve_saddle(arch, X, y)
    C = input_covariance(X)
    f = lambda a, b: saddle.reduced_action(arch, C, y, [a, b])  # noqa: E731
    best = None
    for lo, hi, n in ((0.2, 3.0, 41), (None, None, 41)):
        if lo is None:
            a0, b0 = best[1:]
            ga, gb = np.linspace(a0 * 0.97, a0 * 1.03, n), np.linspace(b0 * 0.97, b0 * 1.03, n)
        else:
            ga = gb = np.geomspace(lo, hi, n)
        best = min((f(a, b), a, b) for a in ga for b in gb)
    np.testing.assert_allclose(sp_.Qbar, best[1:], rtol=2e-3)
    assert f(*sp_.Qbar) <= best[0] + 1e-12
