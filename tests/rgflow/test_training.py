"""Trained networks: the infinite-width ensemble in closed form and the brute-force trainer.

References: finite differences of the loss (the trainer's gradients); the compiled NTK mean H of
the flow (the empirical NTK of the initial ensemble, which fixes the learning-rate tensor
convention); exact properties of the infinite-width formulas (no training: the prior GP(0, K);
testing on the training inputs after convergence: interpolation with zero variance); and
neural-tangents' ``gradient_descent_mse_ensemble`` where it is installed (the benchmark environment).
"""

import numpy as np
import pytest

import codegen
from derive import activation, flow
from derive.errors import RGFlowError
from rgflow.training import infinite_width_prediction, train_ensemble
from rgflow.training.ensemble import _init, empirical_ntk, gradients

X = np.array([[1.0, 0.2], [0.3, 1.0], [0.8, -0.5], [0.5, 0.5], [-0.4, 0.9]])
Y = np.array([0.5, -0.3, 0.2])


@pytest.fixture(scope="module")
def kernels():
    res = codegen.compile(flow("tanh", ("K", "H"))).run(X, depth=3, C_b=0.1, C_W=1.0, lambda_b=1.0, lambda_W=1.0)
    return res.K[3], res.H[3]


def test_gradients_match_finite_differences():
    act = activation("tanh")
    sigma, dsigma = act.numpy_function(), act.numpy_derivative(1)
    Ws, bs = _init(np.random.default_rng(0), 2, [2, 5, 4, 1], 0.1, 1.0, True)
    gW, gb, loss = gradients(Ws, bs, X[:3], Y, sigma, dsigma)
    h = 1e-6
    for l, i, j in [(0, 1, 0), (1, 2, 3), (2, 0, 1)]:
        Wp = [w.copy() for w in Ws]
        Wp[l][:, i, j] += h
        Wm = [w.copy() for w in Ws]
        Wm[l][:, i, j] -= h
        numeric = (gradients(Wp, bs, X[:3], Y, sigma, dsigma)[2] - gradients(Wm, bs, X[:3], Y, sigma, dsigma)[2]) / (2 * h)
        assert np.allclose(numeric, gW[l][:, i, j], rtol=1e-6, atol=1e-9)
    bp = [b.copy() for b in bs]
    bp[1][:, 2] += h
    bm = [b.copy() for b in bs]
    bm[1][:, 2] -= h
    numeric = (gradients(Ws, bp, X[:3], Y, sigma, dsigma)[2] - gradients(Ws, bm, X[:3], Y, sigma, dsigma)[2]) / (2 * h)
    assert np.allclose(numeric, gb[1][:, 2], rtol=1e-6, atol=1e-9)


def test_the_initial_ntk_is_the_flows_ntk_mean(kernels):
    """E[Θ] = H^{(L)} + O(1/n): 2000 networks of width 128 (the 1/n part is below the errors)."""
    _, H = kernels
    act = activation("tanh")
    Ws, bs = _init(np.random.default_rng(1), 2000, [2, 128, 128, 1], 0.1, 1.0, False)
    theta = empirical_ntk(Ws, bs, X, act.numpy_function(), act.numpy_derivative(1), 1.0, 1.0)
    mean, se = theta.mean(axis=0), theta.std(axis=0, ddof=1) / np.sqrt(theta.shape[0])
    z = (mean - H) / se
    assert np.max(np.abs(z)) < 4, z
    assert np.max(se / np.abs(H)) < 0.01                  # a 1 % check, not a vacuous one


def test_untrained_ensemble_is_the_prior(kernels):
    K, H = kernels
    e = train_ensemble("tanh", X[:3], Y, X[3:], 3, 64, 0.1, 1.0, 1.0, 1.0, 0.1, steps=0, networks=4000, seed=2)
    assert np.all(e.mean == 0)                               # antithetic pairs: exactly
    assert all(np.array_equal(a, b) for a, b in zip(e.initial[0], e.final[0]))   # nothing moved
    z = (e.covariance - K[3:, 3:]) / e.covariance_se
    assert np.max(np.abs(z)) < 4, z
    prior = infinite_width_prediction(K, H, Y, 3, 0.1, steps=0)
    assert np.allclose(prior.mean, 0) and np.allclose(prior.covariance, K[3:, 3:])


def test_infinite_width_interpolates_the_training_set(kernels):
    K, H = kernels
    idx = [0, 1, 2, 0, 2]                                   # test on two training inputs
    Kt, Ht = K[np.ix_(idx, idx)], H[np.ix_(idx, idx)]
    eta = 0.5 / np.linalg.eigvalsh(H[:3, :3]).max()
    converged = infinite_width_prediction(Kt, Ht, Y, 3, eta)
    assert np.allclose(converged.mean, Y[[0, 2]], atol=1e-10) and np.allclose(converged.covariance, 0, atol=1e-10)
    late = infinite_width_prediction(K, H, Y, 3, eta, steps=200_000)
    assert np.allclose(late.mean, infinite_width_prediction(K, H, Y, 3, eta).mean, atol=1e-10)


def test_bad_training_arguments(kernels):
    K, H = kernels
    with pytest.raises(RGFlowError, match="learning rate"):
        infinite_width_prediction(K, H, Y, 3, 10.0)
    with pytest.raises(RGFlowError, match="singular"):
        idx = [0, 0, 1, 3, 4]
        infinite_width_prediction(K[np.ix_(idx, idx)], H[np.ix_(idx, idx)], Y, 3, 0.1)
    with pytest.raises(RGFlowError, match="diverged"):
        train_ensemble("tanh", X[:3], Y, X[3:], 3, 16, 0.1, 1.0, 1.0, 1.0, 50.0, steps=50, networks=40, groups=5)


def test_against_neural_tangents(kernels):
    """neural-tangents' infinite-width ensemble (NTK parameterisation, trained to convergence)."""
    nt = pytest.importorskip("neural_tangents")
    import jax
    jax.config.update("jax_enable_x64", True)              # compare in double precision
    from neural_tangents import stax
    init_fn, apply_fn, kernel_fn = stax.serial(stax.Dense(512, W_std=1.0, b_std=np.sqrt(0.1)), stax.Erf(),
                                               stax.Dense(1, W_std=1.0, b_std=np.sqrt(0.1)))
    import jax.numpy as jnp
    predict = nt.predict.gradient_descent_mse_ensemble(kernel_fn, jnp.asarray(X[:3]), jnp.asarray(Y[:, None]))
    mean, cov = predict(x_test=jnp.asarray(X[3:]), get="ntk", compute_cov=True)
    res = codegen.compile(flow("erf", ("K", "H"))).run(X, depth=2, C_b=0.1, C_W=1.0, lambda_b=0.1, lambda_W=1.0)
    ours = infinite_width_prediction(res.K[2], res.H[2], Y, 3, 0.5 / np.linalg.eigvalsh(res.H[2][:3, :3]).max())
    assert np.allclose(ours.mean, np.asarray(mean)[:, 0], rtol=1e-10, atol=1e-10)
    assert np.allclose(ours.covariance, np.asarray(cov), rtol=1e-10, atol=1e-10)
