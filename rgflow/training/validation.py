"""Trained ensembles of real networks against the theory over widths (issue #15 item 3; ``rgflow
validate-training``).

Stage *training, validation*: activation, data, depth, widths → :class:`TrainingValidation`: at each
width the ensemble mean of real networks trained by gradient descent (:func:`train_ensemble`,
antithetic pairs) and of the same networks trained with their NTK frozen at initialisation
(:func:`frozen_predictions`), and their difference network by network (paired: the NTK's motion), against the infinite-width mean and the frozen-NTK order-1/n theory
(:func:`frozen_ntk_prediction`); the 1/n coefficients of both ensembles by the weighted fit
n(mean − m_∞) = c + d/n (:func:`inverse_width_fit`).  The frozen ensemble's c must match the frozen
theory; the paired difference's c is the dynamical part (the NTK's motion: dNTK, ddNTK; PDLT
ch. 11), which the order-1/n theory of trained networks adds and which is not built yet.  The ratio of
successive deviations |mean − m_∞| per doubling of the width shows the scaling (0.5: 1/n; 0.71:
n^(−1/2), ReLU's trained ensembles; docs/training.md).  Activations kinked at z = 0 are flagged: their
trained ensembles leave the 1/n regime, so their fitted c is not a 1/n coefficient.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from derive.errors import RGFlowError

from .ensemble import ensemble_statistics, train_ensemble
from .frozen import frozen_ntk_prediction, frozen_predictions, inverse_width_fit

__all__ = ["TrainingValidation", "validate_training", "FAMILY"]

#: The compiled statistics the frozen-NTK theory reads (the committed NTK-family evaluators).
FAMILY = ("K", "H", "V", "G1", "A", "B", "D", "F", "H1", "P", "Q")


@dataclass(frozen=True)
class TrainingValidation:
    """Per width (``widths``): ``trained``/``frozen`` means and standard errors (len(widths), N_test), the
    frozen predictions made by the same initial networks; ``moved`` = the mean of trained − frozen network
    by network (the NTK's motion; paired, so its error is far below either's); ``mean_infinite``, the
    frozen theory's ``frozen_correction``; fitted 1/n coefficients ``c_trained``, ``c_frozen``, ``c_moved``
    with errors (None with fewer than three widths); ``kinked`` for σ kinked at z = 0."""

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

    def doubling_ratios(self) -> np.ndarray:
        """|trained − m_∞| at each width over that at the previous width (widths doubling: 0.5 for 1/n)."""
        dev = np.abs(self.trained - self.mean_infinite)
        return dev[1:] / dev[:-1]

    def to_text(self) -> str:
        """A Markdown report: the table per width and test input, then the fits."""
        steps = "convergence" if self.steps is None else f"{self.steps} steps"
        lines = [f"# {self.activation}: trained ensembles against the theory ({steps}, eta = {self.eta:.6g})", "",
                 "| n | test | trained mean ± se | frozen-NTK mean ± se | trained - frozen (paired) | infinite width "
                 "| frozen theory m + c/n |",
                 "|---|---|---|---|---|---|---|"]
        for i, n in enumerate(self.widths):
            for j in range(self.trained.shape[1]):
                lines.append(f"| {n} | {j} | {self.trained[i, j]:.6g} ± {self.trained_se[i, j]:.2g} | "
                             f"{self.frozen[i, j]:.6g} ± {self.frozen_se[i, j]:.2g} | "
                             f"{self.moved[i, j]:.4g} ± {self.moved_se[i, j]:.2g} | {self.mean_infinite[j]:.6g} | "
                             f"{self.mean_infinite[j] + self.frozen_correction[j] / n:.6g} |")
        lines.append("")
        if self.c_trained is not None:
            for j in range(self.trained.shape[1]):
                lines.append(f"test {j}: 1/n coefficient (weighted fit c + d/n): frozen ensemble "
                             f"{self.c_frozen[j]:.4g} ± {self.c_frozen_se[j]:.2g} (theory {self.frozen_correction[j]:.4g}); "
                             f"trained {self.c_trained[j]:.4g} ± {self.c_trained_se[j]:.2g}; dynamical part (trained - "
                             f"frozen, paired) {self.c_moved[j]:.4g} ± {self.c_moved_se[j]:.2g}")
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
            ax.plot(grid, self.mean_infinite[j] + self.frozen_correction[j] * grid, "-", label="frozen theory, order 1/n")
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
                      networks: int = 4000, seed: int = 0) -> TrainingValidation:
    """Run the comparison of the module docstring; ``eta`` defaults to 0.5/λ_max(H_train)."""
    import codegen
    from derive import activation, flow
    from derive.activations import Activation, kinked_at_zero
    act = act if isinstance(act, Activation) else activation(act)
    widths = tuple(int(w) for w in widths)
    if not widths or min(widths) < 1 or len(set(widths)) != len(widths):
        raise RGFlowError("widths must be distinct positive integers")
    X_train, X_test = np.atleast_2d(np.asarray(X_train, float)), np.atleast_2d(np.asarray(X_test, float))
    y = np.asarray(y_train, float).reshape(-1)
    X = np.vstack([X_train, X_test])
    res = codegen.compile(flow(act, FAMILY)).run(X, depth=depth, C_b=C_b, C_W=C_W, lambda_b=lambda_b,
                                                lambda_W=lambda_W, progress=False)
    S = {q: np.asarray(getattr(res, q)[depth]) for q in FAMILY}
    n_train = X_train.shape[0]
    if eta is None:
        eta = 0.5 / np.linalg.eigvalsh(S["H"][:n_train, :n_train]).max()
    theory = frozen_ntk_prediction(S["K"], S["H"], S["G1"], S["H1"], S["A"], S["B"], S["D"], S["F"], y, n_train,
                                   eta, steps)
    sigma, dsigma = act.numpy_function(), act.numpy_derivative(1)
    trained, trained_se, frozen, frozen_se, moved, moved_se = [], [], [], [], [], []
    for n in widths:
        run = train_ensemble(act, X_train, y, X_test, depth, n, C_b, C_W, lambda_b, lambda_W, eta, steps,
                             networks=networks, seed=seed + n)
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
    fits = [None] * 6
    if len(widths) >= 3:
        ft = inverse_width_fit(widths, trained, trained_se, theory.mean_infinite)
        ff = inverse_width_fit(widths, frozen, frozen_se, theory.mean_infinite)
        fd = inverse_width_fit(widths, moved, moved_se, np.zeros_like(theory.mean_infinite))
        fits = [ft.c, ft.c_se, ff.c, ff.c_se, fd.c, fd.c_se]
    try:
        kinked = kinked_at_zero(act)
    except RGFlowError:          # a bend away from z = 0: kinked too
        kinked = True
    return TrainingValidation(act.name, widths, np.array(trained), np.array(trained_se), np.array(frozen),
                              np.array(frozen_se), np.array(moved), np.array(moved_se), theory.mean_infinite,
                              theory.mean_correction, *fits, steps, float(eta), kinked)
