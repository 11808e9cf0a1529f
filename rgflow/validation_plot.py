"""The book-style validation figure (PDLT figs. 5.x): theory lines, Monte Carlo points.

Stage *plot*: :class:`rgflow.validate.ValidationReport` objects → matplotlib axes or a
PNG.  Left: V^{(ℓ)}/(n_{ℓ−1} K^{(ℓ)2}) versus ℓ/n (theory line; distinct-neuron Monte
Carlo estimate with its standard error); right: K^{(ℓ)} versus ℓ (theory line;
Monte Carlo E[z²] ± se).
"""

from __future__ import annotations

import pathlib

import numpy as np

__all__ = ["draw_reports", "plot_reports"]


def draw_reports(ax_vertex, ax_kernel, reports, sample_index: int = 0, label_activation: bool = False) -> None:
    """Draw reports on two matplotlib axes: V/(nK²) versus ℓ/n (theory line, Monte Carlo
    points with error bars) and K^{(ℓ)} versus ℓ (theory line, Monte Carlo E[z²] points)."""
    import matplotlib.pyplot as plt
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    a = sample_index
    for i, rep in enumerate(reports):
        c = colors[i % len(colors)]
        n = rep.widths[0]
        ell = np.arange(1, rep.depth + 1)
        rt = np.array(rep.ratio_theory)[:, a]
        rm, rs = np.array(rep.ratio_mc)[:, a], np.array(rep.ratio_se)[:, a]
        label = f"{rep.activation}, n = {n}" if label_activation else f"n = {n}"
        ax_vertex.plot(ell / n, rt, "-", color=c, label=f"theory, {label}")
        ax_vertex.errorbar(ell[1:] / n, rm[1:], yerr=rs[1:], fmt="o", ms=3, color=c, capsize=2,
                           label=f"Monte Carlo, M = {rep.networks}")
        K, G, Gs = (np.array(getattr(rep, f))[:, a] for f in ("K", "metric", "metric_se"))
        ax_kernel.plot(ell, K, "-", color=c, label=f"K (theory), {label}")
        ax_kernel.errorbar(ell, G, yerr=Gs, fmt="o", ms=3, color=c, capsize=2, label=r"$E[z^2]$ (Monte Carlo)")
    ax_vertex.set_xlabel(r"$\ell/n$")
    ax_vertex.set_ylabel(r"$V^{(\ell)}/(n\,(K^{(\ell)})^2)$")
    ax_vertex.legend(fontsize=7)
    ax_kernel.set_xlabel(r"$\ell$")
    ax_kernel.set_ylabel(r"$K^{(\ell)}$")
    ax_kernel.legend(fontsize=7)


def plot_reports(reports, path, title: str | None = None, sample_index: int = 0) -> None:
    """The book-style figure of :func:`draw_reports` for one or more reports, saved to ``path``.

    Examples
    --------
    >>> import tempfile
    >>> from rgflow.validate import validate
    >>> rep = validate("linear", np.array([[1.0, 0.5]]), depth=3, width=8, networks=20, ntk=False)
    >>> with tempfile.TemporaryDirectory() as d:
    ...     plot_reports([rep], pathlib.Path(d) / "v.png")
    ...     (pathlib.Path(d) / "v.png").stat().st_size > 10_000
    True
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    reports = list(reports)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    draw_reports(ax1, ax2, reports, sample_index, label_activation=len({r.activation for r in reports}) > 1)
    ax1.set_title("four-point vertex")
    ax2.set_title("kernel")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
