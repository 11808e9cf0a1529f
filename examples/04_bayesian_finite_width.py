"""Finite-width Bayesian networks: generalisation error versus width N (Ariosto et al. 2022).

    python examples/04_bayesian_finite_width.py [--out docs/figures/04_bayesian_finite_width.png] [--fast]

One-hidden-layer ReLU networks on a noisy linear teacher generated here
(``rgflow.bayes.data.linear_teacher``: P = 100, N_0 = 50, label noise 0.5, seed 0),
inverse temperature β = 4, two last-layer priors λ_1.  For each λ_1 the figure
shows the kernel-renormalisation theory (saddle point of the proportional-limit
action, line), Langevin/MALA sampling of real networks (points, ±1 standard error
from independent chains) and the infinite-width NNGP (dashed).  Prints the table.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")   # small batched matrices: threads only hurt

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from rgflow.bayes import Architecture, criterion, predict  # noqa: E402
from rgflow.bayes.data import linear_teacher  # noqa: E402
from rgflow.bayes.langevin import sample_posterior  # noqa: E402

FULL = dict(P=100, N0=50, widths=(50, 100, 200, 400, 800), chains=8, steps=1200, burn=600, dense=40)
FAST = dict(P=40, N0=20, widths=(20, 80), chains=4, steps=120, burn=50, dense=10)
BETA, PRIORS, SEED_DATA, SEED_CHAINS = 4.0, (1.0, 5.0), 0, 1


def run(cfg):
    d = linear_teacher(P=cfg["P"], N0=cfg["N0"], n_test=200, noise=0.5, seed=SEED_DATA)
    dense = np.unique(np.geomspace(min(cfg["widths"]) / 2, max(cfg["widths"]) * 4, cfg["dense"]).astype(int))
    rows, curves = [], {}
    for lam in PRIORS:
        theory = [predict(Architecture("relu", (int(n),), BETA, (lam,)), d.X, d.y, d.X_test, d.y_test)
                  for n in dense]
        r = criterion(Architecture("relu", (1,), BETA, (lam,)), d.X, d.y)
        curves[lam] = (dense, [p.generalisation_error for p in theory], theory[0].nngp_generalisation_error, r)
        for n in cfg["widths"]:
            arch = Architecture("relu", (n,), BETA, (lam,))
            p = predict(arch, d.X, d.y, d.X_test, d.y_test)
            t0 = time.perf_counter()
            s = sample_posterior(arch, d.X, d.y, d.X_test, d.y_test, n_chains=cfg["chains"],
                                 n_steps=cfg["steps"], burn_in=cfg["burn"], thin=5, seed=SEED_CHAINS)
            rows.append((lam, n, cfg["P"] / n, p.saddle.Qbar[0], s.Qbar_mean, p.generalisation_error,
                         s.generalisation_error, s.standard_error, p.nngp_generalisation_error, r,
                         s.acceptance, s.drift / s.drift_se, time.perf_counter() - t0))
    return d, rows, curves


def table(rows) -> str:
    head = (f"{'λ_1':>5} {'N':>5} {'α':>6} {'Q̄ th':>7} {'Q̄ MC':>7} {'ε_g theory':>11} "
            f"{'ε_g Langevin':>17} {'(z)':>6} {'ε_g NNGP':>9} {'r=yK⁻¹y/P':>10} {'acc':>5} {'drift z':>7} {'s':>6}")
    out = [head, "-" * len(head)]
    for lam, n, a, qt, qm, th, mc, se, gp, r, acc, dz, t in rows:
        out.append(f"{lam:5.1f} {n:5d} {a:6.3f} {qt:7.4f} {qm:7.4f} {th:11.4f} {mc:9.4f} ± {se:6.4f} "
                   f"{(mc - th) / se:6.2f} {gp:9.4f} {r:10.3f} {acc:5.2f} {dz:7.2f} {t:6.1f}")
    return "\n".join(out)


def plot(rows, curves, cfg, out: pathlib.Path) -> None:
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    colors = {PRIORS[0]: "tab:blue", PRIORS[1]: "tab:red"}
    for lam in PRIORS:
        ns, eg, gp, r = curves[lam]
        c = colors[lam]
        ax.plot(ns, eg, color=c, label=f"theory, λ₁ = {lam:g}  (yᵀK⁻¹y/P = {r:.2f})")
        ax.axhline(gp, color=c, ls="--", lw=1, label=f"infinite width (NNGP), λ₁ = {lam:g}")
        pts = [(n, mc, se) for (l, n, _, _, _, _, mc, se, *_) in rows if l == lam]
        ax.errorbar([p[0] for p in pts], [p[1] for p in pts], yerr=[p[2] for p in pts], fmt="o",
                    color=c, capsize=3, label=f"Langevin (MALA), λ₁ = {lam:g}")
    ax.set_xscale("log")
    ax.set_xlabel("hidden width N")
    ax.set_ylabel("generalisation error ε_g")
    ax.set_title(f"1HL ReLU, noisy linear teacher: P = {cfg['P']}, N₀ = {cfg['N0']}, β = {BETA:g}")
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=150)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=pathlib.Path, default=pathlib.Path("docs/figures/04_bayesian_finite_width.png"))
    ap.add_argument("--fast", action="store_true", help="tiny sizes (seconds), for the test suite")
    args = ap.parse_args()
    cfg = FAST if args.fast else FULL
    _, rows, curves = run(cfg)
    print(table(rows))
    plot(rows, curves, cfg, args.out)
    print(f"figure: {args.out}")


if __name__ == "__main__":
    main()
