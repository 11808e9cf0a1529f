"""Trained ensembles of real networks against the theory over widths (issue #15 item 3; ``rgflow
validate-training``).

Stage *training, validation*: activation, data, depth, widths → :class:`TrainingValidation`: at each
width the ensemble mean of real networks trained by gradient descent (:func:`train_ensemble`,
antithetic pairs) and of the same networks trained with their NTK frozen at initialisation
(:func:`frozen_predictions`), and their difference network by network (paired: the NTK's motion), against the infinite-width mean and the order-1/n theory
(:func:`~rgflow.training.predict.predict`: its frozen-NTK part and its dynamical part); the 1/n
coefficients by the weighted fit n(mean − m_∞) = c + d/n (:func:`inverse_width_fit`).  The frozen
ensemble's c must match the frozen part, the paired difference's c the dynamical part (the NTK's motion:
dNTK, ddNTK; PDLT ch. 11), the trained ensemble's c their sum.  With ``frozen_networks`` the frozen mean
also comes from a larger independent frozen ensemble (no training, so cheap) and the *combined* estimate of
the trained mean, that frozen mean + the paired difference, has a far smaller error than the trained
networks' own mean (the two are independent; both are pure Monte Carlo of real networks).  The ratio of
successive deviations |mean − m_∞| per doubling of the width shows the scaling (0.5: 1/n; 0.71:
n^(−1/2), ReLU's trained ensembles; docs/training.md).  Activations kinked at z = 0 are flagged: their
trained ensembles leave the 1/n regime, so their fitted c is not a 1/n coefficient.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from derive.errors import RGFlowError

from .ensemble import ensemble_statistics, train_ensemble
from .frozen import frozen_ensemble, frozen_predictions, inverse_width_fit
from .predict import predict

__all__ = ["TrainingValidation", "validate_training"]


@dataclass(frozen=True)
class TrainingValidation:
    """Per width (``widths``): ``trained``/``frozen`` means and standard errors (len(widths), N_test), the
    frozen predictions made by the same initial networks; ``moved`` = the mean of trained − frozen network
    by network (the NTK's motion; paired, so its error is far below either's); ``mean_infinite``, the
    frozen theory's ``frozen_correction``; fitted 1/n coefficients ``c_trained``, ``c_frozen``, ``c_moved``
    with errors (None with fewer than three widths); ``kinked`` for σ kinked at z = 0; the full theory's
    ``correction`` and its ``dynamical`` part; with ``frozen_networks``, the combined trained estimate
    ``combined`` ± ``combined_se`` (else the trained mean) and its fitted ``c_combined`` ± ``c_combined_se``;
    the same for the covariance of the test predictions: ``covariance`` ± ``covariance_se`` (len(widths),
    N_test, N_test; combined likewise: the big frozen ensemble's covariance + the paired difference of the
    trained and frozen covariances of the same networks), the theory's ``covariance_infinite`` and
    ``covariance_correction``, the fitted ``c_covariance`` ± ``c_covariance_se`` (N_test, N_test)."""

    activation: str
    widths: tuple
    trained: np.ndarray
    trained_se: np.ndarray
    frozen: np.ndarray
    frozen_se: np.ndarray
    moved: np.ndarray
    moved_se: np.ndarray
    mean_infinite: np.ndarray
    frozen_correction: np.ndarray
    c_trained: np.ndarray | None
    c_trained_se: np.ndarray | None
    c_frozen: np.ndarray | None
    c_frozen_se: np.ndarray | None
    c_moved: np.ndarray | None
    c_moved_se: np.ndarray | None
    steps: int | None
    eta: float
    kinked: bool
    correction: np.ndarray
    dynamical: np.ndarray
    combined: np.ndarray
    combined_se: np.ndarray
    c_combined: np.ndarray | None
    c_combined_se: np.ndarray | None
    covariance: np.ndarray
    covariance_se: np.ndarray
    covariance_infinite: np.ndarray
    covariance_correction: np.ndarray
    c_covariance: np.ndarray | None
    c_covariance_se: np.ndarray | None

    def doubling_ratios(self) -> np.ndarray:
        """|trained − m_∞| at each width over that at the previous width (widths doubling: 0.5 for 1/n)."""
        dev = np.abs(self.trained - self.mean_infinite)
        return dev[1:] / dev[:-1]

    def to_text(self) -> str:
        """A Markdown report: the table per width and test input, then the fits."""
        steps = "convergence" if self.steps is None else f"{self.steps} steps"
        lines = [f"# {self.activation}: trained ensembles against the theory ({steps}, eta = {self.eta:.6g})", "",
                 "| n | test | trained mean ± se | combined estimate ± se | frozen-NTK mean ± se "
                 "| trained - frozen (paired) | infinite width | theory m + c/n |",
                 "|---|---|---|---|---|---|---|---|"]
        for i, n in enumerate(self.widths):
            for j in range(self.trained.shape[1]):
                lines.append(f"| {n} | {j} | {self.trained[i, j]:.6g} ± {self.trained_se[i, j]:.2g} | "
                             f"{self.combined[i, j]:.6g} ± {self.combined_se[i, j]:.2g} | "
                             f"{self.frozen[i, j]:.6g} ± {self.frozen_se[i, j]:.2g} | "
                             f"{self.moved[i, j]:.4g} ± {self.moved_se[i, j]:.2g} | {self.mean_infinite[j]:.6g} | "
                             f"{self.mean_infinite[j] + self.correction[j] / n:.6g} |")
        lines.append("")
        if self.c_trained is not None:
            for j in range(self.trained.shape[1]):
                lines.append(f"test {j}: 1/n coefficient (weighted fit c + d/n): trained {self.c_trained[j]:.4g} ± "
                             f"{self.c_trained_se[j]:.2g}, combined {self.c_combined[j]:.4g} ± {self.c_combined_se[j]:.2g} "
                             f"(theory {self.correction[j]:.4g}); frozen ensemble {self.c_frozen[j]:.4g} ± "
                             f"{self.c_frozen_se[j]:.2g} (theory {self.frozen_correction[j]:.4g}); dynamical part "
                             f"(trained - frozen, paired) {self.c_moved[j]:.4g} ± {self.c_moved_se[j]:.2g} "
                             f"(theory {self.dynamical[j]:.4g})")
            for j, k in zip(*np.triu_indices(self.trained.shape[1])):
                lines.append(f"covariance ({j}, {k}): 1/n coefficient {self.c_covariance[j, k]:.4g} ± "
                             f"{self.c_covariance_se[j, k]:.2g} (theory {self.covariance_correction[j, k]:.4g})")
        ratios = self.doubling_ratios()
        for j in range(ratios.shape[1] if len(ratios) else 0):
            lines.append(f"test {j}: |trained - infinite| per step in width: "
                         + ", ".join(f"{r:.2f}" for r in ratios[:, j]) + " (doubling widths: 0.50 for 1/n, 0.71 for n^-1/2)")
        if self.kinked:
            lines.append("warning: the activation is kinked at z = 0 — its trained ensembles leave the 1/n regime "
                         "(docs/training.md), so the trained fit's c is not a 1/n coefficient")
        return "\n".join(lines) + "\n"

    def plot(self, path) -> None:
        """The trained and frozen means against 1/n with error bars, the infinite-width value and the
        frozen theory's order-1/n line, one panel per test input."""
        import pathlib

        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        inv = 1.0 / np.asarray(self.widths, dtype=float)
        k = self.trained.shape[1]
        fig, axes = plt.subplots(1, k, figsize=(4.6 * k, 3.8), squeeze=False)
        grid = np.linspace(0.0, inv.max() * 1.05, 50)
        for j, ax in enumerate(axes[0]):
            ax.errorbar(inv, self.trained[:, j], self.trained_se[:, j], fmt="o", ms=4, capsize=3, label="trained (MC)")
            ax.errorbar(inv, self.frozen[:, j], self.frozen_se[:, j], fmt="s", ms=4, capsize=3, label="frozen NTK (MC)")
            if not np.array_equal(self.combined, self.trained):
                ax.errorbar(inv, self.combined[:, j], self.combined_se[:, j], fmt="D", ms=3, capsize=3,
                            label="trained (MC, frozen + paired)")
            ax.plot(grid, self.mean_infinite[j] + self.correction[j] * grid, "-", label="theory, order 1/n")
            ax.plot(grid, self.mean_infinite[j] + self.frozen_correction[j] * grid, "--", label="frozen part of the theory")
            ax.axhline(self.mean_infinite[j], ls=":", color="k", label="infinite width")
            ax.set_xlabel("1/n")
            ax.set_ylabel(f"ensemble mean, test input {j}")
            ax.legend(fontsize=7)
        fig.suptitle(f"{self.activation}: trained networks at finite width")
        fig.tight_layout()
        pathlib.Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=120)
        plt.close(fig)


def validate_training(act, X_train, y_train, X_test, depth: int, widths, C_b: float, C_W: float,
                      lambda_b: float, lambda_W: float, eta: float | None = None, steps: int | None = 20,
                      networks: int = 4000, seed: int = 0, frozen_networks: int | None = None,
                      tol: float = 1e-10) -> TrainingValidation:
    """Run the comparison of the module docstring; ``eta`` defaults to 0.5/λ_max(H_train); ``tol`` is the
    relative training residual that counts as converged (``steps=None``)."""
    from derive import activation
    from derive.activations import Activation, kinked_at_zero
    act = act if isinstance(act, Activation) else activation(act)
    widths = tuple(int(w) for w in widths)
    if not widths or min(widths) < 1 or len(set(widths)) != len(widths):
        raise RGFlowError("widths must be distinct positive integers")
    X_train, X_test = np.atleast_2d(np.asarray(X_train, float)), np.atleast_2d(np.asarray(X_test, float))
    y = np.asarray(y_train, float).reshape(-1)
    X = np.vstack([X_train, X_test])
    theory = predict(act, X_train, y, X_test, depth, min(widths), C_b, C_W, lambda_b, lambda_W, eta, steps,
                     allow_kinked=True, progress=False)
    eta = theory.eta
    sigma, dsigma = act.numpy_function(), act.numpy_derivative(1)
    trained, trained_se, frozen, frozen_se, moved, moved_se, combined, combined_se = ([] for _ in range(8))
    covariance, covariance_se = [], []
    for n in widths:
        run = train_ensemble(act, X_train, y, X_test, depth, n, C_b, C_W, lambda_b, lambda_W, eta, steps,
                             networks=networks, seed=seed + n, tol=tol)
        fro = frozen_predictions(list(run.initial[0]), list(run.initial[1]), X_train, y, X_test, sigma, dsigma,
                                 lambda_b, lambda_W, eta, steps)           # the same networks, NTK frozen
        fro_mean, fro_se, _, _ = ensemble_statistics(fro, True, 2)
        diff_mean, diff_se, _, _ = ensemble_statistics(run.predictions - fro, True, 2)
        trained.append(run.mean)
        trained_se.append(run.mean_se)
        frozen.append(fro_mean)
        frozen_se.append(fro_se)
        moved.append(diff_mean)
        moved_se.append(diff_se)
        if frozen_networks:
            chunk = int(max(2, min(2000, 2e8 // (8 * n * n * X.shape[0]))) // 2 * 2)
            big = frozen_ensemble(act, X_train, y, X_test, depth, n, C_b, C_W, lambda_b, lambda_W, eta, steps,
                                  networks=frozen_networks, seed=seed + 7919 * n + 1, chunk=chunk)
            combined.append(big.mean + diff_mean)
            combined_se.append(np.hypot(big.mean_se, diff_se))
            shift, shift_se = _paired_covariance_difference(run.predictions, fro)
            covariance.append(big.covariance + shift)
            covariance_se.append(np.hypot(big.covariance_se, shift_se))
        else:
            combined.append(run.mean)
            combined_se.append(run.mean_se)
            covariance.append(run.covariance)
            covariance_se.append(run.covariance_se)
    fits, cov_fit = [None] * 8, [None, None]
    if len(widths) >= 3:
        ft = inverse_width_fit(widths, trained, trained_se, theory.mean_infinite)
        ff = inverse_width_fit(widths, frozen, frozen_se, theory.mean_infinite)
        fd = inverse_width_fit(widths, moved, moved_se, np.zeros_like(theory.mean_infinite))
        fc = inverse_width_fit(widths, combined, combined_se, theory.mean_infinite)
        fits = [ft.c, ft.c_se, ff.c, ff.c_se, fd.c, fd.c_se, fc.c, fc.c_se]
        k = len(theory.mean_infinite)
        fv = inverse_width_fit(widths, np.reshape(covariance, (len(widths), k * k)),
                               np.reshape(covariance_se, (len(widths), k * k)), theory.covariance_infinite.ravel())
        cov_fit = [fv.c.reshape(k, k), fv.c_se.reshape(k, k)]
    try:
        kinked = kinked_at_zero(act)
    except RGFlowError:          # a bend away from z = 0: kinked too
        kinked = True
    return TrainingValidation(act.name, widths, np.array(trained), np.array(trained_se), np.array(frozen),
                              np.array(frozen_se), np.array(moved), np.array(moved_se), theory.mean_infinite,
                              theory.mean_frozen, *fits[:6], steps, float(eta), kinked, theory.mean_correction,
                              theory.mean_dynamical, np.array(combined), np.array(combined_se), *fits[6:],
                              np.array(covariance), np.array(covariance_se), theory.covariance_infinite,
                              theory.covariance_correction, *cov_fit)


def _paired_covariance_difference(trained: np.ndarray, frozen: np.ndarray, groups: int = 20):
    """Cov(trained) − Cov(frozen) over the same networks (M, N_test) — paired, so most of the sampling noise
    cancels — and its standard error from the spread over ``groups`` groups of antithetic pairs."""
    def cov(p):
        return np.cov(p, rowvar=False, ddof=1).reshape(p.shape[1], p.shape[1])
    members = np.arange(len(trained)).reshape(-1, 2)
    parts = np.array([cov(trained[g.ravel()]) - cov(frozen[g.ravel()]) for g in np.array_split(members, groups)])
    return cov(trained) - cov(frozen), parts.std(axis=0, ddof=1) / np.sqrt(groups)
