"""The frozen-NTK trained ensemble at order 1/n (rgflow.training.frozen; issue #15).

References: real networks — the empirical NTK of each network at initialisation, its kernel-regression
prediction averaged over the ensemble at several widths, the 1/n coefficient by a weighted fit with the
infinite-width value known exactly (marker validation) — and, for the expansion itself, the exact
mean of F(H + Δ) over a small Gaussian Δ (second order is exact for a Gaussian with the right
covariance only up to its fourth-order terms, which a small scale suppresses).
"""

import numpy as np
import pytest

import codegen
from derive import flow
from derive.errors import RGFlowError
from rgflow.training import infinite_width_prediction
from rgflow.training.frozen import frozen_ensemble, frozen_ntk_prediction, inverse_width_fit, ntk_covariance
from rgflow.validate import bonferroni_threshold

X = np.array([[1.0, 0.2], [0.3, 1.0], [0.8, -0.5], [0.5, 0.5], [-0.4, 0.9]])
Y = np.array([0.5, -0.3, 0.2])
DEPTH = 3


@pytest.fixture(scope="module")
def stats():
    """tanh at criticality (C_b = 0, C_W = 1), λ_b = λ_W = 1, depth 3: the output layer's statistics."""
    family = ("K", "H", "V", "G1", "A", "B", "D", "F", "H1", "P", "Q")      # the committed tanh NTK evaluator
    res = codegen.compile(flow("tanh", family)).run(X, depth=DEPTH, C_b=0.0, C_W=1.0, lambda_b=1.0, lambda_W=1.0,
                                                    progress=False)
    return {q: np.asarray(getattr(res, q)[DEPTH]) for q in family}


def _theory(stats, eta, steps):
    S = stats
    return frozen_ntk_prediction(S["K"], S["H"], S["G1"], S["H1"], S["A"], S["B"], S["D"], S["F"], Y, 3, eta, steps)


def _eta(H):
    return 0.5 / np.linalg.eigvalsh(H[:3, :3]).max()


@pytest.mark.parametrize("steps", [None, 20])
def test_the_expansion_is_the_small_fluctuation_limit(stats, steps):
    """E[F(H + εH1 + √ε Δ)] over Gaussian Δ with covariance n·Cov = C, by exact sampling: (· − F(H))/ε → c."""
    H, H1, A, B = stats["H"], stats["H1"], stats["A"], stats["B"]
    eta = _eta(H)
    th = _theory(stats, eta, steps)
    infinite = infinite_width_prediction(stats["K"], H, Y, 3, eta, steps)
    assert np.allclose(th.mean_infinite, infinite.mean, atol=1e-12)
    assert np.allclose(th.covariance_infinite, infinite.covariance, atol=1e-12)
    pairs = [(a, b) for a in range(5) for b in range(a, 5)]
    C4 = ntk_covariance(A, B)
    C = np.array([[C4[a, b, c, d] for c, d in pairs] for a, b in pairs])
    rng = np.random.default_rng(3)
    eps = 1e-3
    L = np.linalg.cholesky(C + 1e-12 * np.eye(len(C)))
    draws = rng.standard_normal((20_000, len(C)))
    draws = np.concatenate([draws, -draws])                         # antithetic: odd orders cancel exactly
    total = np.zeros(2)
    for x in draws @ L.T:
        D = np.zeros((5, 5))
        for (a, b), v in zip(pairs, x):
            D[a, b] = D[b, a] = v
        M = H + eps * H1 + np.sqrt(eps) * D
        G = np.linalg.solve(M[:3, :3], Y if steps is None else
                            (np.eye(3) - np.linalg.matrix_power(np.eye(3) - eta * M[:3, :3], steps)) @ Y)
        total += M[3:, :3] @ G
    estimate = (total / len(draws) - th.mean_infinite) / eps
    assert np.allclose(estimate, th.mean_correction, rtol=0.03, atol=0.03 * np.abs(th.mean_correction).max()), \
        (estimate, th.mean_correction)


@pytest.mark.validation
@pytest.mark.parametrize("steps", [None, 20])
def test_the_frozen_ntk_ensemble_against_real_networks(stats, steps):
    """n(statistic_n − its infinite-width value) = c + d/n fitted over n = 16, 32, 64 (weighted), for the
    mean (2 test inputs) and the covariance (3 entries): c agrees with the theory's correction in all
    five (Bonferroni), and the infinite-width mean is rejected at n = 16 (the 1/n part is resolved).
    Measured (steps = ∞): covariance corrections 0.0374, 0.0140, 0.4117 against n(MC − ∞) at n = 32 of
    0.035 ± 0.002, 0.020 ± 0.003, 0.41 ± 0.02."""
    eta = _eta(stats["H"])
    th = _theory(stats, eta, steps)
    widths, runs = (16, 32, 64), []
    for n, M in zip(widths, (40_000, 40_000, 20_000)):
        runs.append(frozen_ensemble("tanh", X[:3], Y, X[3:], DEPTH, n, 0.0, 1.0, 1.0, 1.0, eta, steps,
                                    networks=M, seed=n))
    upper = np.triu_indices(2)
    mean_fit = inverse_width_fit(widths, [r.mean for r in runs], [r.mean_se for r in runs], th.mean_infinite)
    cov_fit = inverse_width_fit(widths, [r.covariance[upper] for r in runs], [r.covariance_se[upper] for r in runs],
                                th.covariance_infinite[upper])
    z = np.concatenate([(mean_fit.c - th.mean_correction) / mean_fit.c_se,
                        (cov_fit.c - th.covariance_correction[upper]) / cov_fit.c_se])
    assert np.max(np.abs(z)) <= bonferroni_threshold(len(z)), z
    assert np.all(np.abs(runs[0].mean - th.mean_infinite) > 5 * runs[0].mean_se)


def test_bad_arguments(stats):
    S = stats
    args = (S["K"], S["H"], S["G1"], S["H1"], S["A"], S["B"], S["D"], S["F"])
    with pytest.raises(RGFlowError, match="learning rate"):
        frozen_ntk_prediction(*args, Y, 3, 10.0)
    with pytest.raises(RGFlowError, match="y_train"):
        frozen_ntk_prediction(*args, Y[:2], 3, 0.1)
    with pytest.raises(RGFlowError, match="even number of networks"):
        frozen_ensemble("tanh", X[:3], Y, X[3:], DEPTH, 8, 0.0, 1.0, 1.0, 1.0, 0.1, networks=41)
    with pytest.raises(RGFlowError, match="three widths"):
        inverse_width_fit([16, 32], [[0.0], [0.0]], [[1.0], [1.0]], [0.0])


def test_validate_training_command(tmp_path, capsys):
    """`rgflow validate-training`: the table, the fits, the figure, the kink flag and one-line errors."""
    from cli_checks import assert_cli_error
    from rgflow.cli import main
    out = tmp_path / "trained.png"
    assert main(["validate-training", "tanh", "--widths", "8,16,32", "--networks", "200", "--steps", "5",
                 "--plot", str(out)]) == 0
    text = capsys.readouterr().out
    assert "| 32 | 1 |" in text and "1/n coefficient" in text and "test 1: |trained - infinite| per step" in text
    assert "kinked" not in text and out.stat().st_size > 10_000
    assert main(["validate-training", "relu", "--widths", "8,16", "--networks", "40", "--steps", "2"]) == 0
    assert "warning: the activation is kinked at z = 0" in capsys.readouterr().out
    assert main(["validate-training", "tanh", "--widths", "8,x"]) == 2
    assert_cli_error(capsys.readouterr().err, "--widths must be comma-separated integers")
    y = tmp_path / "y.npy"
    np.save(y, np.zeros(5))
    np.save(tmp_path / "x.npy", np.ones((5, 2)))
    assert main(["validate-training", "tanh", "--inputs", str(tmp_path / "x.npy"), "--targets", str(y)]) == 2
    assert_cli_error(capsys.readouterr().err, "followed by at least one test input")


def test_the_inverse_width_fit_is_exact_on_exact_data():
    """Means m + c/n + d/n² with any errors: the weighted fit returns c and d exactly; its c_se is the
    weighted least-squares error (one width's error doubled moves nothing on exact data)."""
    widths = np.array([16, 32, 64, 128])
    m, c, d = np.array([0.3, -1.0]), np.array([0.7, -0.2]), np.array([2.0, 5.0])
    means = m + c / widths[:, None] + d / widths[:, None] ** 2
    ses = np.full_like(means, 1e-3) * np.array([1.0, 2.0, 1.0, 1.0])[:, None]
    fit = inverse_width_fit(widths, means, ses, m)
    assert np.allclose(fit.c, c, atol=1e-9) and np.allclose(fit.d, d, atol=1e-7)
    assert np.all(fit.c_se > 0) and np.all(fit.d_se > fit.c_se)
