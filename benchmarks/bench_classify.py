"""Cold-start time of `rgflow classify NAME` for every named activation (issue #2 target: < 2 s).

    python benchmarks/bench_classify.py [--repeats 5]

Each run is a fresh interpreter (``python -m rgflow classify NAME``), so it
includes importing sympy/numpy and every first-call cost.  The peer, run in the
same script and interleaved, is the floor no derivation can beat: a fresh
interpreter that only imports sympy and numpy.  Prints a Markdown table (median
and max over the repeats, and the ratio to the floor).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

from derive import registry_names

FLOOR = [sys.executable, "-c", "import sympy, numpy"]


def wall(cmd) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main(argv=None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    wall(FLOOR)  # warm the file cache
    print("| activation | median s | max s | floor s | ratio to floor |")
    print("|---|---|---|---|---|")
    worst = 0.0
    for name in registry_names():
        cmd = [sys.executable, "-m", "rgflow", "classify", name]
        wall(cmd)
        times, floors = [], []
        for _ in range(args.repeats):
            times.append(wall(cmd))
            floors.append(wall(FLOOR))
        med, floor = statistics.median(times), statistics.median(floors)
        worst = max(worst, med)
        print(f"| {name} | {med:.2f} | {max(times):.2f} | {floor:.2f} | {med / floor:.1f} |")
    print(f"\nslowest median: {worst:.2f} s (target < 2 s)")


if __name__ == "__main__":
    main()
