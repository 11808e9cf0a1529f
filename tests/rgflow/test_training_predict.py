"""The trained ensemble at order 1/n (rgflow.training.predict; issue #15).

References:
* the infinite-width part: the closed form of rgflow.training.infinite and neural-tangents'
  ``gradient_descent_mse_ensemble`` (skipped where neural-tangents is absent);
* an exact case: a deep linear network with one hidden layer after one gradient step is a quadratic
  function of the initial parameters, z_1 = z_0 − ηĤε + (η²/2)Ξ[ε, ε], whose mean η E[Ĥ] y − η² E[Ξz] y
  has no 1/n² term (E[Ĥ] = H and the layer-2 P, Q are exact at every width), so mean_at(n) must equal
  the Monte Carlo mean of real networks at n = 2 and 4 — where a truncated expansion would be far off;
* real tanh networks at criticality (λ_b = λ_W = 1, depth 3) over n = 16, 32, 64, after 20 steps and at
  convergence: the 1/n coefficients of the trained mean (the combined estimate: a large frozen-NTK
  ensemble + the paired trained − frozen difference, both pure Monte Carlo) and of its dynamical part
  against ``mean_correction`` and ``mean_dynamical``, that of the covariance (the big frozen ensemble's +
  the paired trained − frozen difference) against ``covariance_correction``, and the order-1/n mean closer
  to the finite-width ensemble than the infinite-width one.
"""

import numpy as np
import pytest

import codegen
from derive import flow
from derive.errors import RGFlowError
from rgflow.training import infinite_width_prediction, predict, train_ensemble, validate_training

X_TRAIN = np.array([[1.06, -1.32], [-0.02, 1.09], [-2.14, -2.74]])   # cond(Θ_DD) = 5: converges in ~100 steps
Y = np.array([-0.52, -0.91, -0.1])
X_TEST = np.array([[0.26, 0.04], [-0.25, 0.04]])                     # 1/n corrections ≈ 2.4 prior sd


def test_the_infinite_width_part_is_the_closed_form():
    pred = predict("tanh", X_TRAIN, Y, X_TEST, depth=3, width=64, C_b=0.0, C_W=1.0, lambda_b=1.0, lambda_W=1.0,
                   steps=30, progress=False)
    res = codegen.compile(flow("tanh", ("K", "H"))).run(np.vstack([X_TRAIN, X_TEST]), depth=3, C_b=0.0, C_W=1.0,
                                                        lambda_b=1.0, lambda_W=1.0, progress=False)
    inf = infinite_width_prediction(res.K[3], res.H[3], Y, 3, pred.eta, 30)
    assert np.allclose(pred.mean_infinite, inf.mean, rtol=1e-12, atol=1e-14)
    assert np.allclose(pred.covariance_infinite, inf.covariance, rtol=1e-12, atol=1e-14)
    assert pred.eta == pytest.approx(0.5 / np.linalg.eigvalsh(res.H[3][:3, :3]).max(), rel=1e-12)
    assert np.allclose(pred.mean_correction, pred.mean_frozen + pred.mean_dynamical)
    assert np.allclose(pred.mean_at(32), pred.mean_infinite + pred.mean_correction / 32)
    assert np.allclose(pred.mean_at(), pred.mean_at(64))
    assert np.allclose(pred.covariance_correction, pred.covariance_correction.T)
    assert r"\begin{align}" in pred.to_latex() and "T = 30" in pred.to_latex()
    assert "1/n coef" in pred.to_text()
    # per-layer widths: equal lists are the scalar width; unequal ones change the correction per n = n_{L−1}
    # only through the inherited terms' ratios r = n_ℓ/n_{ℓ−1} (and not the infinite-width part)
    same = predict("tanh", X_TRAIN, Y, X_TEST, depth=3, width=[64, 64], C_b=0.0, C_W=1.0, lambda_b=1.0,
                   lambda_W=1.0, steps=30, progress=False)
    assert np.allclose(same.mean_correction, pred.mean_correction, rtol=1e-12)
    wide_first = predict("tanh", X_TRAIN, Y, X_TEST, depth=3, width=[256, 64], C_b=0.0, C_W=1.0, lambda_b=1.0,
                         lambda_W=1.0, steps=30, progress=False)
    assert wide_first.width == 64 and np.allclose(wide_first.mean_infinite, pred.mean_infinite, rtol=1e-12)
    assert not np.allclose(wide_first.mean_correction, pred.mean_correction, rtol=1e-3)


def test_against_neural_tangents():
    """neural-tangents' infinite-width ensemble (NTK parameterisation, to convergence, double precision)."""
    nt = pytest.importorskip("neural_tangents")
    import jax
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    from neural_tangents import stax
    init_fn, apply_fn, kernel_fn = stax.serial(stax.Dense(512, W_std=1.0, b_std=np.sqrt(0.1)), stax.Erf(),
                                               stax.Dense(512, W_std=1.0, b_std=np.sqrt(0.1)), stax.Erf(),
                                               stax.Dense(1, W_std=1.0, b_std=np.sqrt(0.1)))
    ens = nt.predict.gradient_descent_mse_ensemble(kernel_fn, jnp.asarray(X_TRAIN), jnp.asarray(Y[:, None]))
    mean, cov = ens(x_test=jnp.asarray(X_TEST), get="ntk", compute_cov=True)
    pred = predict("erf", X_TRAIN, Y, X_TEST, depth=3, width=512, C_b=0.1, C_W=1.0, progress=False)
    assert np.allclose(pred.mean_infinite, np.asarray(mean)[:, 0], rtol=1e-10, atol=1e-10)
    assert np.allclose(pred.covariance_infinite, np.asarray(cov), rtol=1e-10, atol=1e-10)


def test_bad_input_and_kinked_activations():
    with pytest.raises(RGFlowError, match="kinked"):
        predict("relu", X_TRAIN, Y, X_TEST, depth=3, width=64, C_b=0.0, C_W=2.0)
    with pytest.raises(RGFlowError, match="depth"):
        predict("tanh", X_TRAIN, Y, X_TEST, depth=1, width=64, C_b=0.0, C_W=1.0)
    with pytest.raises(RGFlowError, match="width"):
        predict("tanh", X_TRAIN, Y, X_TEST, depth=3, width=-4, C_b=0.0, C_W=1.0)
    with pytest.raises(RGFlowError, match="width"):
        predict("tanh", X_TRAIN, Y, X_TEST, depth=3, width=[8, 8, 8], C_b=0.0, C_W=1.0)
    with pytest.raises(RGFlowError, match="X_train"):
        predict("tanh", X_TRAIN, Y[:2], X_TEST, depth=3, width=8, C_b=0.0, C_W=1.0)
    with pytest.raises(RGFlowError, match="steps"):
        predict("tanh", X_TRAIN, Y, X_TEST, depth=3, width=8, C_b=0.0, C_W=1.0, steps=-1)
    with pytest.raises(RGFlowError, match="learning rate"):
        predict("tanh", X_TRAIN, Y, X_TEST, depth=3, width=8, C_b=0.0, C_W=1.0, eta=50.0)


@pytest.mark.parametrize("n", [2, 4])
def test_deep_linear_one_step_is_exact_at_every_width(n):
    """Depth 2, σ(z) = z, one step: the order-1/n mean is the exact finite-width mean (module docstring)."""
    X_train, X_test = np.array([[1.0, 0.3], [-0.4, 0.8]]), np.array([[0.6, 0.6]])
    y = np.array([1.0, -0.5])
    pred = predict("linear", X_train, y, X_test, depth=2, width=n, C_b=0.2, C_W=1.0, lambda_b=0.5, lambda_W=1.0,
                   eta=0.3, steps=1, progress=False)
    run = train_ensemble("linear", X_train, y, X_test, 2, n, 0.2, 1.0, 0.5, 1.0, 0.3, steps=1, networks=400_000,
                         seed=n)
    z_exact = (run.mean - pred.mean_at(n)) / run.mean_se
    z_infinite = (run.mean - pred.mean_infinite) / run.mean_se
    print(n, run.mean, pred.mean_at(n), pred.mean_infinite, z_exact, z_infinite)
    assert np.abs(z_exact).max() < 4
    assert np.abs(z_infinite).max() > 20          # the 1/n term is resolved (and large at n = 2, 4)
    assert np.abs(pred.mean_dynamical).max() > 0.1 * np.abs(pred.mean_correction).max()


@pytest.mark.parametrize("steps", [20, None])
def test_against_real_tanh_networks(steps):
    """tanh at criticality, λ_b = λ_W = 1, depth 3, η = 0.5/λ_max: the trained ensemble over n = 16, 32, 64
    (400 trained networks and 16 000 frozen ones per width), weighted fit n(mean − m_∞) = c + d/n."""
    rep = validate_training("tanh", X_TRAIN, Y, X_TEST, 3, (16, 32, 64), 0.0, 1.0, 1.0, 1.0, None, steps,
                            networks=400, seed=3, frozen_networks=16000, tol=1e-8)
    print(rep.to_text())
    z_total = (rep.c_combined - rep.correction) / rep.c_combined_se
    z_dynamical = (rep.c_moved - rep.dynamical) / rep.c_moved_se
    z_covariance = (rep.c_covariance - rep.covariance_correction) / rep.c_covariance_se
    assert np.abs(z_total).max() < 3 and np.abs(z_dynamical).max() < 3.5 and np.abs(z_covariance).max() < 3.5
    assert np.abs(rep.c_covariance / rep.c_covariance_se).max() > 2.5      # a covariance correction is seen
    j = int(np.argmax(np.abs(rep.correction)))             # the input with the larger 1/n effect
    for i, n in enumerate(rep.widths[1:], start=1):        # n = 32, 64: order 1/n beats infinite width
        order1 = rep.mean_infinite[j] + rep.correction[j] / n
        assert abs(rep.combined[i, j] - order1) < abs(rep.combined[i, j] - rep.mean_infinite[j])
        assert abs(rep.combined[i, j] - rep.mean_infinite[j]) > 3 * rep.combined_se[i, j]


def test_train_predict_command(capsys):
    from cli_checks import assert_cli_error
    from rgflow.cli import main
    assert main(["train-predict", "tanh", "--width", "32", "--steps", "10", "--latex"]) == 0
    out = capsys.readouterr().out
    assert "width n = 32" in out and "1/n coef" in out and r"\begin{align}" in out
    assert main(["train-predict", "relu"]) == 2
    assert_cli_error(capsys.readouterr().err, "kinked")
