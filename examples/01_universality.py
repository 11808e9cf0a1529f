"""Classify every named activation and plot χ_∥, χ_⊥ versus K at criticality.

    python examples/01_universality.py [--out out/01_susceptibilities.png] [--fast]

Prints the classification table (class, critical point, large-depth laws) and saves
a figure with one panel per critical activation: χ_∥(K) and χ_⊥(K) with C_W (and
C_b) set to their critical values — both cross 1 at K*, and for the
scale-invariant class they are 1 for every K.
"""

from __future__ import annotations

import argparse
import pathlib

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from derive import activation, classify, registry_names  # noqa: E402
from derive.criticality import numeric_susceptibilities  # noqa: E402


def table(reports) -> str:
    head = f"{'activation':<14}{'class':<16}{'C_b':>10}{'C_W':>14}{'K*':>12}  V/(n K^2) at large depth"
    rows = [head, "-" * len(head)]
    for rep in reports:
        usable = [p for p in rep.critical_points if not p.stability.startswith(("unstable", "unreachable"))]
        p = usable[0] if usable else None
        fmt = lambda x: f"{float(x):.6g}" if x is not None and x.is_number else str(x)  # noqa: E731
        law = dict(rep.asymptotics).get("V/(n K^2)", "-")
        rows.append(f"{rep.activation.name:<14}{rep.universality_class:<16}"
                    f"{fmt(p.C_b) if p else '-':>10}{fmt(p.C_W) if p else '-':>14}{fmt(p.K_star) if p else '-':>12}"
                    f"  {law}")
    return "\n".join(rows)


def plot(reports, out: pathlib.Path) -> None:
    critical = [r for r in reports if r.universality_class != "none" and r.activation.is_numeric]
    cols = 4
    rows = -(-len(critical) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.6 * rows), squeeze=False)
    for ax, rep in zip(axes.flat, critical):
        point = [p for p in rep.critical_points if not p.stability.startswith(("unstable", "unreachable"))][0]
        cw = float(point.C_W)
        k_star = float(point.K_star) if point.K_star.is_number else None   # None: every K is critical
        Ks = np.geomspace(k_star / 50, k_star * 50, 200) if k_star else np.geomspace(1e-3, 10, 200)
        par, perp = numeric_susceptibilities(rep.activation)
        ax.semilogx(Ks, cw * par(Ks), label=r"$\chi_\parallel$")
        ax.semilogx(Ks, cw * perp(Ks), "--", label=r"$\chi_\perp$")
        ax.axhline(1, color="grey", lw=0.6)
        if k_star:
            ax.axvline(k_star, color="grey", lw=0.6, ls=":")
        ax.set_title(f"{rep.activation.name}: {rep.universality_class}", fontsize=9)
        ax.set_xlabel("K")
        ax.set_ylim(0, 2)
    for ax in list(axes.flat)[len(critical):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=8)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("out/01_susceptibilities.png"))
    parser.add_argument("--fast", action="store_true", help="a subset of activations (used by the tests)")
    args = parser.parse_args(argv)
    names = ("relu", "tanh", "gelu", "sigmoid") if args.fast else registry_names()
    reports = [classify(activation(name)) for name in names]
    reports.append(classify(activation("z - z**5")))
    print(table(reports))
    plot(reports, args.out)
    print(f"\nsaved {args.out}")


if __name__ == "__main__":
    main()
