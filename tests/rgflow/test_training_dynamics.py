"""The dynamical part of the 1/n trained ensemble (rgflow.training.dynamics; issue #15).

References: an explicit model with a few parameters, z(θ) = z0 + Jθ + ½θᵀQθ + (1/6)T[θ, θ, θ], trained by
real gradient descent — its exact H, Ξ, Ψ, Ω at θ = 0 fed to the linearised dynamics must predict
z_T − z_T^{linear} to O(ε²), which checks the dynamics equations themselves (each of the Ξ, Ψ, Ω terms,
dropped, leaves an O(ε) miss) — plain Monte Carlo over z_0 ~ N(0, K) for the Gauss–Hermite
expectations, and the former implementation (:func:`_reference`: one rule over all points jointly, the
dynamics of every Ξ_{a;bc}) for the per-test-point factorisation that replaced it.
"""

import itertools

import numpy as np
import pytest

from derive.errors import RGFlowError
from rgflow.training import dynamics, infinite_width_prediction
from rgflow.training.dynamics import MAX_TRAIN, dynamical_correction, linearised_trajectory

N_P, N_TRAIN = 5, 3


def _symmetrised(T, axes):
    """T averaged over the permutations of its ``axes``."""
    perms = list(itertools.permutations(axes))
    out = np.zeros_like(T)
    for p in perms:
        order = list(range(T.ndim))
        for src, dst in zip(axes, p):
            order[src] = dst
        out += np.transpose(T, order)
    return out / len(perms)


def _random_inputs(seed, rank=None, points=N_P, n_train=N_TRAIN):
    """K (of the given rank), H̄, X (in K's range), psi, omega with their symmetries; y; η = 0.5/λ_max."""
    rng = np.random.default_rng(seed)
    rank = points if rank is None else rank
    G = rng.normal(size=(points, rank))
    K = G @ G.T / rank
    Hroot = rng.normal(size=(points, points + 3))
    H = Hroot @ Hroot.T / (points + 3)
    X = np.einsum("abcf,fe->abce", _symmetrised(rng.normal(size=(points,) * 4), (1, 2)), K)
    psi = _symmetrised(rng.normal(size=(points,) * 4), (1, 2, 3))
    O = rng.normal(size=(points,) * 4)
    omega = O + np.einsum("badc->abcd", O)
    y = rng.normal(size=n_train)
    eta = 0.5 / np.linalg.eigvalsh(H[:n_train, :n_train]).max()
    return K, H, X, psi, omega, y, eta


def _correction(inputs, steps=20, **kw):
    K, H, X, psi, omega, y, eta = inputs
    args = dict(K=K, H=H, X=X, psi=psi, omega=omega, y_train=y, n_train=N_TRAIN, eta=eta, steps=steps)
    args.update(kw)
    return dynamical_correction(**args)


def test_zero_tensors_give_zero_corrections():
    K, H, X, psi, omega, y, eta = _random_inputs(0)
    zero = np.zeros_like(X)
    for steps in (20, None):
        c = _correction((K, H, zero, zero, zero, y, eta), steps)
        assert np.all(c.mean_correction == 0) and np.all(c.covariance_correction == 0)


@pytest.mark.parametrize("steps", [20, None])
def test_the_corrections_are_linear_in_the_tensors(steps):
    a, b = _random_inputs(1), _random_inputs(2)
    ca = _correction(a, steps)
    base = a[:2]
    one = _correction(base + a[2:5] + a[5:], steps)
    two = _correction(base + tuple(2 * t for t in a[2:5]) + a[5:], steps)
    b_on_a = _correction(base + b[2:5] + a[5:], steps)
    summed = _correction(base + tuple(s + t for s, t in zip(a[2:5], b[2:5])) + a[5:], steps)
    assert np.abs(ca.mean_correction).max() > 1e-3 and np.abs(ca.covariance_correction).max() > 1e-3
    assert np.allclose(two.mean_correction, 2 * one.mean_correction, rtol=1e-8, atol=1e-12)
    assert np.allclose(two.covariance_correction, 2 * one.covariance_correction, rtol=1e-8, atol=1e-12)
    assert np.allclose(summed.mean_correction, one.mean_correction + b_on_a.mean_correction, rtol=1e-8, atol=1e-12)
    assert np.allclose(summed.covariance_correction, one.covariance_correction + b_on_a.covariance_correction,
                       rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("steps", [20, None])
def test_the_zeroth_order_is_the_infinite_width_ensemble(steps):
    K, H, X, psi, omega, y, eta = inputs = _random_inputs(3)
    c = _correction(inputs, steps)
    inf = infinite_width_prediction(K, H, y, N_TRAIN, eta, steps)
    assert np.allclose(c.mean_infinite, inf.mean, atol=1e-9)
    assert np.allclose(c.covariance_infinite, inf.covariance, atol=1e-9)
    assert c.nodes == 3 ** (N_TRAIN + 1) and (steps is None or c.steps == steps)


class ExplicitModel:
    """z_a(θ) = z0_a + J_a·θ + ½θᵀQ_aθ + (1/6)T_a[θ, θ, θ], λ a random positive diagonal, with
    Q = ε Q1 + √ε Q2 and T = ε T1.  Q1, T1 (symmetric) and J live on the first 6 ("visible") parameters;
    Q2_a = U_a Wᵀ + W U_aᵀ couples the 3 "hidden" ones (U_a) to the visible ones (W), so that
    Ξ = Q[v, v] is O(ε) (v = λJᵀ has no hidden part) while Ω = (Q v)·λ·(Q v) is O(ε) with a generic
    index structure.  Flipping the hidden parameters maps Q2 → −Q2 and commutes with gradient descent,
    so z_T is a function of ε, not √ε: the first-order prediction must be right to O(ε²)."""

    VISIBLE, HIDDEN, Q2_SCALE = 6, 3, 0.3

    def __init__(self, seed=4):
        rng = np.random.default_rng(seed)
        v, P = self.VISIBLE, self.VISIBLE + self.HIDDEN
        self.J = np.zeros((N_P, P))
        self.J[:, :v] = rng.normal(size=(N_P, v)) / np.sqrt(v)
        self.lam = rng.uniform(0.5, 1.5, P)
        self.Q1, self.T1 = np.zeros((N_P, P, P)), np.zeros((N_P, P, P, P))
        self.Q1[:, :v, :v] = _symmetrised(rng.normal(size=(N_P, v, v)), (1, 2))
        self.T1[:, :v, :v, :v] = _symmetrised(rng.normal(size=(N_P, v, v, v)), (1, 2, 3))
        U, W = np.zeros((N_P, P, self.HIDDEN)), np.zeros((P, self.HIDDEN))
        U[:, v:] = rng.normal(size=(N_P, self.HIDDEN, self.HIDDEN))
        W[:v] = rng.normal(size=(v, self.HIDDEN))
        UW = np.einsum("aim,jm->aij", U, W)
        self.Q2 = self.Q2_SCALE * (UW + UW.transpose(0, 2, 1))
        self.z0 = rng.normal(size=N_P)
        self.y = rng.normal(size=N_TRAIN)
        self.H = self.J @ (self.lam[:, None] * self.J.T)
        self.eta = 0.5 / np.linalg.eigvalsh(self.H[:N_TRAIN, :N_TRAIN]).max()

    def _QT(self, eps):
        return eps * self.Q1 + np.sqrt(eps) * self.Q2, eps * self.T1

    def train(self, eps, steps):
        """Real full-batch gradient descent on the training points, the outputs z_T on all points."""
        Q, T = self._QT(eps)
        theta = np.zeros(len(self.lam))

        def outputs(th):
            return (self.z0 + self.J @ th + 0.5 * np.einsum("aij,i,j->a", Q, th, th)
                    + np.einsum("aijk,i,j,k->a", T, th, th, th) / 6)

        for _ in range(steps):
            grad = self.J + np.einsum("aij,j->ai", Q, theta) + 0.5 * np.einsum("aijk,j,k->ai", T, theta, theta)
            theta = theta - self.eta * self.lam * (grad[:N_TRAIN].T @ (outputs(theta)[:N_TRAIN] - self.y))
        return outputs(theta)

    def tensors(self, eps):
        """Ξ_{a;bc}, Ψ_{a;bcd}, Ω_{ab;cd} at θ = 0, exactly."""
        Q, T = self._QT(eps)
        v = self.lam[:, None] * self.J.T
        xi = np.einsum("aij,ib,jc->abc", Q, v, v)
        psi = np.einsum("aijk,ib,jc,kd->abcd", T, v, v, v)
        Qv = np.einsum("aij,jc->aic", Q, v)
        return xi, psi, np.einsum("aic,i,bid->abcd", Qv, self.lam, Qv)

    def predicted(self, xi, psi, omega, steps):
        return linearised_trajectory(self.z0, xi[None], psi, omega, self.H, self.y, N_TRAIN, self.eta, steps)


@pytest.mark.parametrize("steps, eps, real_steps", [(20, 2e-3, 20), (None, 5e-4, 3000)])
def test_the_linearised_dynamics_predict_real_training_of_an_explicit_model(steps, eps, real_steps):
    """z_T − z_T^{linear} = δz_T + O(ε²): the miss falls by 4 when ε halves, and dropping any one of
    Ξ_0, Ψ, Ω leaves a miss several times larger (so each term of the dynamics is checked)."""
    model = ExplicitModel()
    linear = model.train(0.0, real_steps)
    misses = []
    for e in (eps, eps / 2):
        xi, psi, omega = model.tensors(e)
        traj = model.predicted(xi, psi, omega, steps)
        assert np.allclose(traj.z[0], linear, atol=1e-9)
        actual = model.train(e, real_steps) - linear
        miss = np.abs(actual - traj.dz[0]).max()
        assert miss < 0.1 * np.abs(traj.dz[0]).max()
        for dropped in ((0 * xi, psi, omega), (xi, 0 * psi, omega), (xi, psi, 0 * omega)):
            assert np.abs(actual - model.predicted(*dropped, steps).dz[0]).max() > 4 * miss
        misses.append(miss)
    assert 3.5 < misses[0] / misses[1] < 4.5


def test_at_convergence_the_training_outputs_interpolate():
    """δz_∞ vanishes on the training points (z_∞ = y there at every order), not on the test points."""
    K, H, X, psi, omega, y, eta = _random_inputs(5)
    rng = np.random.default_rng(6)
    z0 = rng.normal(size=(50, N_P))
    xi0 = _symmetrised(rng.normal(size=(50, N_P, N_P, N_P)), (2, 3))
    traj = linearised_trajectory(z0, xi0, psi, omega, H, y, N_TRAIN, eta)
    assert np.abs(traj.z[:, :N_TRAIN] - y).max() < 1e-8
    scale = np.abs(traj.dz).max()
    assert np.abs(traj.dz[:, N_TRAIN:]).max() > 0.1 * scale
    assert np.abs(traj.dz[:, :N_TRAIN]).max() < 1e-8 * scale


@pytest.mark.parametrize("rank", [N_P, N_P - 1])
def test_the_quadrature_agrees_with_monte_carlo(rank):
    """Gauss–Hermite against plain Monte Carlo over z_0 ~ N(0, K) with Ξ_0 = n⁻¹X K⁺ z_0 (its conditional
    mean), within 4 standard errors; a singular K (rank N_P − 1, X in its range) too."""
    K, H, X, psi, omega, y, eta = inputs = _random_inputs(7, rank)
    c = _correction(inputs, 20)
    rng = np.random.default_rng(8)
    lam, V = np.linalg.eigh(K)
    root = (V * np.sqrt(np.clip(lam, 0, None))) @ V.T
    z0 = rng.normal(size=(40_000, N_P)) @ root
    xi0 = np.tensordot(z0 @ np.linalg.pinv(K, hermitian=True), X, axes=([1], [3]))
    traj = linearised_trajectory(z0, xi0, psi, omega, H, y, N_TRAIN, eta, 20)
    dz, centred = traj.dz[:, N_TRAIN:], traj.z[:, N_TRAIN:] - c.mean_infinite
    cross = np.einsum("ni,nj->nij", dz, centred)
    samples = {"mean": (dz, c.mean_correction), "covariance": (cross + cross.transpose(0, 2, 1),
                                                                c.covariance_correction)}
    for name, (draws, exact) in samples.items():
        se = draws.std(axis=0) / np.sqrt(len(draws))
        assert np.all(np.abs(draws.mean(axis=0) - exact) < 4 * se), name
        assert np.abs(exact / se).max() > 5, name                  # the comparison has power


def test_bad_inputs_are_refused():
    K, H, X, psi, omega, y, eta = inputs = _random_inputs(9)
    lam_max = np.linalg.eigvalsh(H[:N_TRAIN, :N_TRAIN]).max()
    with pytest.raises(RGFlowError, match="learning rate"):
        _correction(inputs, eta=2 / lam_max)
    with pytest.raises(RGFlowError, match="did not converge"):
        _correction(inputs, None, max_steps=5)
    with pytest.raises(RGFlowError, match="does not converge"):
        linearised_trajectory(np.zeros(N_P), np.zeros((1,) + (N_P,) * 3), psi, omega, H, y, N_TRAIN, 2 / lam_max)
    with pytest.raises(RGFlowError, match="X must be symmetric"):
        _correction(inputs, X=np.einsum("abce->aecb", X))
    with pytest.raises(RGFlowError, match="psi must be symmetric"):
        _correction(inputs, psi=np.einsum("abcd->bacd", psi))
    with pytest.raises(RGFlowError, match="omega must be symmetric"):
        _correction(inputs, omega=np.einsum("abcd->acbd", omega))
    with pytest.raises(RGFlowError, match="steps"):
        _correction(inputs, -1)
    big = MAX_TRAIN + 1                                 # training points; any number of test points is fine
    with pytest.raises(RGFlowError, match=f"at most {MAX_TRAIN} training points"):
        dynamical_correction(np.eye(big + 2), np.eye(big + 2), *(np.zeros((big + 2,) * 4),) * 3, np.zeros(big), big,
                             0.5)


def _reference_step(z, dz, dH, xi, H_D, psi_D, ddi_D, source_D, y, eta):
    """The former step: the dynamics of all points jointly, Ξ_{a;bc} (c ∈ D) for every a, b."""
    N = len(y)
    eps = z[:, :N] - y

    def quadratic(T):
        return np.einsum("n...d,nd->n...", np.einsum("n...cd,nc->n...d", T, eps), eps)

    xi_dd = xi[:, :, :N, :]
    dz_new = (dz - eta * dz[:, :N] @ H_D.T - eta * np.einsum("nab,nb->na", dH, eps) + eta ** 2 / 2 * quadratic(xi_dd)
              - eta ** 3 / 6 * quadratic(np.tensordot(eps, psi_D, axes=([1], [3]))))
    xi_eps = np.einsum("nacb,nc->nab", xi_dd, eps) + np.einsum("nbac,nc->nab", xi[:, :N], eps)
    dH_new = dH - eta * xi_eps + eta ** 2 / 2 * np.einsum("nabc,nc->nab", np.tensordot(eps, ddi_D, axes=([1], [3])),
                                                          eps)
    return z - eta * eps @ H_D.T, dz_new, dH_new, xi - eta * np.tensordot(eps, source_D, axes=([1], [3]))


def _reference_trajectory(z0, xi0, psi, omega, H, y, N, eta, steps=None, tol=1e-10):
    """The former linearised_trajectory: (z⁽⁰⁾_T, δz_T, steps) over all points jointly."""
    D = slice(0, N)
    ddi = psi + np.einsum("bacd->abcd", psi) + np.einsum("abdc->abcd", omega) + omega
    source = (psi + omega + np.einsum("acbd->abcd", omega))[:, :, D, D]
    tensors = (H[:, D], psi[:, D, D, D], ddi[:, D, D, D], source)
    state = (z0, np.zeros_like(z0), np.zeros(z0.shape + (N,)), xi0[..., D])
    gap = 1 - np.abs(1 - eta * np.linalg.eigvalsh(H[D, D])).max()
    eps0, t = np.abs(z0[:, D] - y).max(), 0
    while steps is None or t < steps:
        new = _reference_step(*state, *tensors, y, eta)
        t += 1
        done = (np.abs(new[0][:, D] - y).max() <= tol * gap * eps0
                and np.abs(new[1] - state[1]).max() <= tol * gap * np.abs(new[1]).max())
        state = new
        if steps is None and done:
            break
    return state[0], state[1], t


def _reference(K, H, X, psi, omega, y, n_train, eta, steps=None, tol=1e-10):
    """The former dynamical_correction (mean_correction, covariance_correction, steps): one 3-node
    Gauss–Hermite rule over z_0 on all N_P points jointly (3^{N_P} nodes), Ξ_0 regressed on all of z_0."""
    P = len(K)
    lam, V = np.linalg.eigh(K)
    keep = lam > 1e-12 * lam.max()
    x, w = np.polynomial.hermite_e.hermegauss(3)
    index = np.array(list(itertools.product(range(3), repeat=P)))
    z0 = x[index] @ ((V * np.where(keep, np.sqrt(np.clip(lam, 0, None)), 0)) @ V.T)
    weights = np.prod(w[index] / np.sqrt(2 * np.pi), axis=1)
    K_plus = (V * np.where(keep, 1 / np.where(keep, lam, 1), 0)) @ V.T
    xi0 = np.tensordot(z0 @ K_plus, X, axes=([1], [3]))
    z, dz, t = _reference_trajectory(z0, xi0, psi, omega, H, y, n_train, eta, steps, tol)
    z, dz = z[:, n_train:], dz[:, n_train:]
    centred = z - weights @ z
    cross = np.einsum("n,ni,nj->ij", weights, dz, centred)
    return weights @ dz, cross + cross.T, t


def _assert_close(new, ref, rel=1e-10):
    assert np.abs(new - ref).max() <= rel * np.abs(ref).max()


def test_the_row_dynamics_equal_the_joint_dynamics():
    """linearised_trajectory (training block + uncoupled test rows) against the former dynamics of all
    points jointly, for an arbitrary Ξ_0 (also its test–test entries, which nothing reads)."""
    K, H, X, psi, omega, y, eta = _random_inputs(10)
    rng = np.random.default_rng(11)
    z0, xi0 = rng.normal(size=(30, N_P)), _symmetrised(rng.normal(size=(30, N_P, N_P, N_P)), (2, 3))
    for steps in (20, None):
        traj = linearised_trajectory(z0, xi0, psi, omega, H, y, N_TRAIN, eta, steps)
        z, dz, t = _reference_trajectory(z0, xi0, psi, omega, H, y, N_TRAIN, eta, steps)
        assert traj.steps == t
        _assert_close(traj.z, z, 1e-12)
        _assert_close(traj.dz, dz, 1e-12)


@pytest.mark.parametrize("seed, rank, points, n_train", [(12, None, 5, 3), (13, 4, 5, 3), (14, None, 5, 2),
                                                         (15, None, 6, 1), (16, 5, 6, 4)])
def test_the_factorised_quadrature_equals_the_joint_one(seed, rank, points, n_train):
    """Mean over z_{0,D} and one column at a time over z_{0,D∪{b}} (Ξ_0 regressed on those alone) equal
    the former joint rule over all points to 1e-10, after 20 steps and at convergence at the steps reached
    (the joint rule's own criterion, on other nodes, stops a step or two away: within tol of the limit,
    so 1e-8 there); singular K too."""
    K, H, X, psi, omega, y, eta = _random_inputs(seed, rank, points, n_train)
    for steps in (20, None):
        c = dynamical_correction(K, H, X, psi, omega, y, n_train, eta, steps)
        mean, cov, t = _reference(K, H, X, psi, omega, y, n_train, eta, c.steps)
        _assert_close(c.mean_correction, mean)
        _assert_close(c.covariance_correction, cov)
        assert c.nodes == 3 ** (n_train + 1) and t == c.steps
        if steps is None:
            mean, cov, t = _reference(K, H, X, psi, omega, y, n_train, eta)
            assert abs(t - c.steps) <= 0.05 * t
            _assert_close(c.mean_correction, mean, 1e-8)
            _assert_close(c.covariance_correction, cov, 1e-8)


def test_many_test_points_factorise_over_single_points_and_pairs():
    """N_train = 3, N_test = 10 (13 points: 3^13 nodes jointly): each test point's mean correction is that
    of a run with it alone, each covariance entry that of a run with the pair alone (at the same steps)."""
    N, T = 3, 10
    K, H, X, psi, omega, y, eta = _random_inputs(17, points=N + T, n_train=N)
    c = dynamical_correction(K, H, X, psi, omega, y, N, eta)
    inf = infinite_width_prediction(K, H, y, N, eta)
    assert np.allclose(c.mean_infinite, inf.mean, atol=1e-9) and np.allclose(c.covariance_infinite, inf.covariance,
                                                                               atol=1e-9)
    assert c.covariance_correction.shape == (T, T) and np.allclose(c.covariance_correction, c.covariance_correction.T)
    scale = np.abs(c.covariance_correction).max()

    def alone(*tests):
        P = np.r_[0:N, tests]
        return dynamical_correction(K[np.ix_(P, P)], H[np.ix_(P, P)], *(t[np.ix_(P, P, P, P)] for t in (X, psi, omega)),
                                    y, N, eta, c.steps)

    for a in range(T):
        assert abs(alone(N + a).mean_correction[0] - c.mean_correction[a]) <= 1e-12 * np.abs(c.mean_correction).max()
    for a, b in itertools.combinations(range(T), 2):
        pair = alone(N + a, N + b).covariance_correction
        assert np.abs(pair - c.covariance_correction[np.ix_([a, b], [a, b])]).max() <= 1e-12 * scale


@pytest.mark.parametrize("steps", [20, None])
def test_chunking_does_not_change_the_result(monkeypatch, steps):
    """One test row and one column per chunk: the same values at the same steps; at convergence every chunk
    is brought to the largest convergence steps (equal to a run with those steps)."""
    inputs = _random_inputs(18, points=7, n_train=3)
    whole = _correction(inputs, steps, n_train=3)
    monkeypatch.setattr(dynamics, "CHUNK", 1)
    chunked = _correction(inputs, steps, n_train=3)
    fixed = _correction(inputs, chunked.steps, n_train=3)
    monkeypatch.undo()
    assert chunked.steps >= whole.steps and (steps is None or chunked.steps == steps)
    for c, rel in ((fixed, 1e-12), (whole, 1e-12 if steps else 1e-8)):
        _assert_close(chunked.mean_correction, c.mean_correction, rel)
        _assert_close(chunked.covariance_correction, c.covariance_correction, rel)
