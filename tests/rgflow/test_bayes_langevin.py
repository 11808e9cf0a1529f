"""Langevin (MALA) sampling of real finite-width networks vs the theory.

CI-sized check (not slow): a one-hidden-layer *linear* network, for which the exact
finite-width posterior is the scale mixture of eq. (11) (no large-P approximation),
so the sampler must agree with it within its measured standard error; the test
discriminates because the NNGP differs from the exact answer by many standard errors.
Seeds and sizes are fixed below; the standard error comes from 8 independent chains.
"""

import math

import numpy as np
import pytest

from rgflow.bayes import Architecture, BayesInputError, predict
from rgflow.bayes.data import linear_teacher
from rgflow.bayes.langevin import sample_posterior
from rgflow.bayes.mixture import mixture_posterior


def test_langevin_linear_network_matches_exact_posterior():
    d = linear_teacher(P=40, N0=6, n_test=60, noise=0.5, seed=4)
    N, beta, lam = 12, 4.0, 10.0
    arch = Architecture("linear", widths=(N,), beta=beta, priors=(lam,))
    r = sample_posterior(arch, d.X, d.y, d.X_test, d.y_test, n_chains=8, n_steps=700, burn_in=150,
                         thin=3, seed=2024)
    exact = mixture_posterior(d.X, d.y, d.X_test, d.y_test, width=N, beta=beta, prior=lam)
    theory = predict(arch, d.X, d.y, d.X_test, d.y_test)
    se = r.standard_error
    assert 0.3 < r.acceptance < 0.9
    assert abs(r.generalisation_error - exact.generalisation_error) < 4 * se
    assert abs(r.Qbar_mean - exact.Qbar_mean) < 0.05 * exact.Qbar_mean
    # the test can fail: the infinite-width answer is far away
    assert abs(theory.nngp_generalisation_error - exact.generalisation_error) > 10 * se
    # and the saddle point (P = 40, N = 12) is within a few per cent of the exact answer
    assert theory.generalisation_error == pytest.approx(exact.generalisation_error, rel=0.03)


def test_langevin_is_reproducible_and_checks_input():
    d = linear_teacher(P=10, N0=3, n_test=5, seed=1)
    arch = Architecture("erf", widths=(5,), beta=2.0, priors=(1.0,))
    a = sample_posterior(arch, d.X, d.y, d.X_test, d.y_test, n_chains=2, n_steps=30, burn_in=10, seed=3)
    b = sample_posterior(arch, d.X, d.y, d.X_test, d.y_test, n_chains=2, n_steps=30, burn_in=10, seed=3)
    assert a.generalisation_error == b.generalisation_error and np.all(a.chain_means == b.chain_means)
    with pytest.raises(BayesInputError):
        sample_posterior(Architecture("erf", (5, 5), 2.0, (1.0, 1.0)), d.X, d.y, d.X_test, d.y_test)
    with pytest.raises(BayesInputError):
        sample_posterior(Architecture("erf", (5,), math.inf, (1.0,)), d.X, d.y, d.X_test, d.y_test)
    with pytest.raises(BayesInputError):
        sample_posterior(arch, d.X, d.y, d.X_test, None)
    with pytest.raises(BayesInputError):
        sample_posterior(arch, d.X, d.y, d.X_test, d.y_test, n_chains=1)


@pytest.mark.slow
def test_langevin_relu_matches_saddle_within_errors():
    """ReLU, P = 60, N_0 = 30, N = 30 (α = 2), β = 4, λ_1 = 1 (data seed 0, chain seed 1, 8 chains):
    the theory is within 3 SE + 1% of sampling, and both are far from the NNGP.  (The larger
    table of docs/bayes.md comes from examples/04_bayesian_finite_width.py.)"""
    d = linear_teacher(P=60, N0=30, n_test=100, noise=0.5, seed=0)
    arch = Architecture("relu", widths=(30,), beta=4.0, priors=(1.0,))
    r = sample_posterior(arch, d.X, d.y, d.X_test, d.y_test, n_chains=8, n_steps=500, burn_in=250,
                         thin=5, seed=1)
    p = predict(arch, d.X, d.y, d.X_test, d.y_test)
    assert abs(r.generalisation_error - p.generalisation_error) < 3 * r.standard_error + 0.01 * p.generalisation_error
    assert abs(r.generalisation_error - p.nngp_generalisation_error) > 5 * r.standard_error
