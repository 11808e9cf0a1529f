"""Coverage of the block Hermite series on correlated inputs (benchmarks/RESULTS.md, data-set
scale §7):

    PYTHONPATH=. python benchmarks/bench_vertex_coverage.py

For tanh at criticality on 64 inputs X + c g (g one shared Gaussian row, c = 0, 0.5, 1), the
fraction of 2000 random four-distinct multisets per layer (1, 5, 9) that _block_sums takes
(the rest go to the nested rule), the median |correlation|, and the full V run time at c = 1.
"""
import math
import os
import time

import numpy as np

import codegen
from derive import flow
import generated.flow_tanh_full as m


def main():
    rng = np.random.default_rng(0)
    for c in (0.0, 0.5, 1.0):
        X = rng.standard_normal((64, 32)) + c * rng.standard_normal(32)
        res = codegen.compile(flow("tanh", ("K", "H"))).run(X, depth=10, C_b=0.0, C_W=1.0, progress=False)
        out = []
        for layer in (1, 5, 9):
            K = np.ascontiguousarray(res.K[layer])
            d = np.sqrt(np.diag(K))
            R = K / np.outer(d, d)
            tables = m._block_tables(K, m._BK_FIDS2, m._BK_FIDS1)
            ok = 0
            for _ in range(2000):
                t = np.array(sorted(rng.choice(64, 4, replace=False)), dtype=np.int64)
                ok += m._block_sums(np.int64(7), t, K, *tables, np.zeros(m._SH_MAXSIG))
            out.append((layer, np.median(np.abs(R[np.triu_indices(64, 1)])), ok / 2000))
        print(f"common {c}: " + "; ".join(f"layer {l}: median |rho| {r:.2f}, block {f:.3f}" for l, r, f in out),
              flush=True)
        if c == 1.0:
            ev = codegen.compile(flow("tanh", ("K", "V")))
            start = time.perf_counter()
            ev.run(X, depth=10, C_b=0.0, C_W=1.0, progress=False)
            wall = time.perf_counter() - start
            print(f"common {c}: V, N_D = 64, L = 10: {wall:.1f} s, "
                  f"{wall / (math.comb(67, 4) * 9) * 1e6:.1f} us per multiset-layer, load {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
