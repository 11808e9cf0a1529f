"""Speed and accuracy of rgflow's generated evaluators against peers (issue #3).

    /tmp/ntvenv/bin/python benchmarks/bench_flow.py [--only kh,tanh,vertex,compile] [--repeats 5]

Run from the repository root (the working directory on ``sys.path`` gives rgflow).
Every speed is a ratio to a peer run in the same process (``compile``: the same
script), after one warm-up call of each; medians of ``--repeats`` warm runs.
Sections (each prints a Markdown table):

``kh``      NNGP kernel K and NTK mean H of a fully connected ReLU / erf network,
            N_D = 3000 inputs, L = 10 layers, vs neural-tangents' jitted
            ``kernel_fn`` (``stax.Dense(parameterization='ntk')``, which is
            λ_b = C_b, λ_W = C_W, W_std² = C_W, b_std² = C_b).  Target ≥ 2×.
            Also the max difference of NT's (nngp, ntk) after L Dense layers and
            L−1 activations from rgflow's (K[L], H[L]) (target 1e-10 relative, x64).
``tanh``    tanh K+H, N_D = 300, L = 10, vs ``stax.ElementwiseNumerical(jnp.tanh,
            deg=25)``.  Both errors against ``rgflow.reference.reference_flow``
            (tensor Gauss–Hermite, degree2 = 300; its own error estimated by
            degree2 = 200 against it) on a subset of inputs (the K, H recursions of a subset of
            inputs are closed: entry (a, b) only needs entries of a and b).  Target ≥ 10×.
``tanhdeg`` the same at N_D = 60 with NT's deg = 25, 50, 100, 200: how NT's error
            and time grow with deg, i.e. the speed-up at equal accuracy.
``vertex``  four-point vertex V (K+V flow), tanh, N_D = 16, L = 32, vs the plain
            numpy tensor-product Gauss–Hermite recursion of
            ``rgflow.reference.reference_flow(..., quantities=("K", "V"), degree4=D)``.
            Accuracy: both against the same reference at degree4 = 64, on a 2-input
            subset (V's recursion is also closed on subsets), all 32 layers; the
            peer's D is the smallest of --peer-degrees whose error is ≤ rgflow's.
            The peer costs the same every layer (the same number of unique
            quadruples, each a degree⁴-point sum), so its time is measured on
            --peer-layers full layers (the loop body of reference_flow, started
            from rgflow's K, V at layer 16) and multiplied by the L − 1 updates.
            If one layer is estimated (from 20 timed quadruples) to exceed
            --max-peer-layer-s, the per-layer time is instead extrapolated from
            --peer-quadruples timed quadruples (stated in the output); the
            extrapolation is checked against a full layer at --check-degree.  Target ≥ 10×.
``compile`` warm ``codegen.compile(flow(name, obs))`` of a module already in the
            cache, in a fresh interpreter (target < 0.5 s), and import-to-first-result.

Peer environment (neural-tangents is a benchmark-only dependency: it pulls in jax,
jaxlib, tensorflow and tf2jax — ~1 GB, with tight version pins — and rgflow itself
never imports it; ``tests/rgflow/test_neural_tangents.py`` is skipped where it is absent)::

    python3.11 -m venv /tmp/ntvenv
    /tmp/ntvenv/bin/pip install neural-tangents==0.6.5 jax==0.4.30 jaxlib==0.4.30 \\
        tensorflow-cpu==2.21.0 tf2jax==0.3.6 \\
        sympy numba scipy networkx matplotlib mpmath pytest hypothesis

(neural-tangents 0.6.5 imports tensorflow and tf2jax at import time through
``neural_tangents.experimental``; tf2jax ≥ 0.3.7 requires jax ≥ 0.7, which
neural-tangents 0.6.5 does not support, hence the pins.)

rgflow runs numba threads (``prange`` over pairs and four-point multisets; NUMBA_NUM_THREADS,
default: every core); XLA may use every core too.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


def _interleaved(fns, repeats):
    """Median seconds of each callable, run alternately (so a shared machine's load hits all alike)."""
    times = [[] for _ in fns]
    for _ in range(repeats):
        for fn, ts in zip(fns, times):
            t = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t)
    return [statistics.median(ts) for ts in times]


def _inputs(n, n0=32, seed=0, normalise=False):
    X = np.random.default_rng(seed).standard_normal((n, n0))
    if normalise:
        X *= np.sqrt(n0) / np.linalg.norm(X, axis=1, keepdims=True)
    return X


def _jax():
    import jax
    jax.config.update("jax_enable_x64", True)
    return jax


def nt_kernel_fn(act: str, depth: int, C_b: float, C_W: float, deg: int = 25):
    """Jitted kernel_fn of L Dense layers with L−1 activations in between (NT "ntk" parameterisation)."""
    jax = _jax()
    import jax.numpy as jnp
    from neural_tangents import stax

    def dense():
        return stax.Dense(1, W_std=float(np.sqrt(C_W)), b_std=float(np.sqrt(C_b)), parameterization="ntk")

    def nonlin():
        if act == "relu":
            return stax.Relu()
        if act == "erf":
            return stax.Erf()                      # erf(x): a=1, b=1, c=0
        if act == "tanh":
            return stax.ElementwiseNumerical(fn=jnp.tanh, deg=deg)
        raise ValueError(act)
    layers = [dense()]
    for _ in range(depth - 1):
        layers += [nonlin(), dense()]
    _, _, kernel_fn = stax.serial(*layers)
    return jax.jit(kernel_fn, static_argnames="get")


def nt_eval(kfn, X):
    import jax.numpy as jnp
    out = kfn(jnp.asarray(X), None, ("nngp", "ntk"))
    out.nngp.block_until_ready()
    out.ntk.block_until_ready()
    return out


def kernel_diff(a, b):
    """Max |a−b| / sqrt(b_aa b_bb) over all entries of two (N, N) kernels (relative to the diagonal scale)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    d = np.sqrt(np.abs(np.diag(b)))
    return float(np.max(np.abs(a - b) / np.outer(d, d)))


def rel_diff(a, b):
    """(max |a−b|/|b| off the diagonal, on the diagonal) of two (N, N) kernels."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    rel = np.abs(a - b) / np.abs(b)
    diag = float(np.max(np.diag(rel)))
    np.fill_diagonal(rel, 0.0)
    return float(np.max(rel)), diag


# ---------------------------------------------------------------------------------
# K + H against neural-tangents' closed forms (ReLU, erf)
# ---------------------------------------------------------------------------------

KH_PARAMS = {"relu": (0.1, 2.0), "erf": (0.1, 1.5), "tanh": (0.1, 1.2)}


def bench_kh(args):
    from derive.flow import flow
    import codegen
    jax = _jax()
    n, L = args.kh_n, args.depth
    X = _inputs(n)
    print(f"\n### K+H, N_D = {n}, L = {L}, n_0 = {X.shape[1]} (float64 on both sides; "
          f"jax {jax.__version__}, devices {jax.devices()})\n")
    print("| activation | rgflow median s (layer L, like NT) | rgflow all layers s | NT jit median s "
          "| NT first call s | speed-up (NT/rgflow) | K rel. diff off-diag / diag | H rel. diff off-diag / diag |")
    print("|---|---|---|---|---|---|---|---|")
    rows = {}
    for act in ("relu", "erf"):
        C_b, C_W = KH_PARAMS[act]
        ev = codegen.compile(flow(act, ("K", "H")))
        ev.run(X[:4], depth=2, C_b=C_b, C_W=C_W)          # numba: load/compile once
        res = ev.run(X, depth=L, C_b=C_b, C_W=C_W)        # warm-up at full size
        kfn = nt_kernel_fn(act, L, C_b, C_W)
        t = time.perf_counter()
        out = nt_eval(kfn, X)                             # trace + XLA compile + run
        t_first = time.perf_counter() - t
        dK = rel_diff(np.asarray(out.nngp), res.K[L])
        dH = rel_diff(np.asarray(out.ntk), res.H[L])
        del res, out
        t_rg, t_all, t_nt = _interleaved([lambda: ev.run(X, depth=L, C_b=C_b, C_W=C_W, keep="last"),
                                          lambda: ev.run(X, depth=L, C_b=C_b, C_W=C_W),
                                          lambda: nt_eval(kfn, X)], args.repeats)
        rows[act] = dict(rgflow_s=t_rg, rgflow_all_s=t_all, nt_s=t_nt, nt_first_s=t_first, dK=dK, dH=dH)
        print(f"| {act} | {t_rg:.3f} | {t_all:.3f} | {t_nt:.3f} | {t_first:.2f} | {t_nt / t_rg:.2f}× | "
              f"{dK[0]:.1e} / {dK[1]:.1e} | {dH[0]:.1e} / {dH[1]:.1e} |", flush=True)
    print("\nC_b, C_W: " + ", ".join(f"{a} {KH_PARAMS[a]}" for a in ("relu", "erf"))
          + "; λ_b = C_b, λ_W = C_W.  Differences: max |NT − rgflow| / |rgflow| of NT's nngp / ntk vs rgflow's "
          "K[L] / H[L], off the diagonal and on it.  rgflow: ev.run(..., keep='last') returns layer L "
          "only, as NT does (two layers stored); 'all layers' returns K, H of layers 1..L.  "
          "Timings interleaved (rgflow, rgflow all, NT, ...); "
          "NT's first call (trace + XLA compile + run) is not in its median.")
    return rows


# ---------------------------------------------------------------------------------
# tanh K + H against NT's numerical (Gauss–Hermite) elementwise layer
# ---------------------------------------------------------------------------------

def bench_tanh(args):
    from derive.flow import flow
    from rgflow.reference import reference_flow
    import codegen
    _jax()
    n, L = args.tanh_n, args.depth
    C_b, C_W = KH_PARAMS["tanh"]
    X = _inputs(n, seed=1)
    ev = codegen.compile(flow("tanh", ("K", "H")))
    ev.run(X[:4], depth=2, C_b=C_b, C_W=C_W)
    res = ev.run(X, depth=L, C_b=C_b, C_W=C_W)
    kfn = nt_kernel_fn("tanh", L, C_b, C_W, deg=args.nt_deg)
    t = time.perf_counter()
    out = nt_eval(kfn, X)
    t_first = time.perf_counter() - t
    t_rg, t_nt = _interleaved([lambda: ev.run(X, depth=L, C_b=C_b, C_W=C_W), lambda: nt_eval(kfn, X)],
                              args.repeats)

    sub = np.arange(0, n, max(1, n // args.tanh_subset))[:args.tanh_subset]
    Xs = X[sub]
    refs = {deg: reference_flow("tanh", Xs, L, C_b, C_W, quantities=("K", "H"), degree2=deg)
            for deg in (200, 300)}
    ix = np.ix_(sub, sub)
    ref = refs[300]                                # numpy's hermegauss overflows beyond degree ~300

    def err(Ks, Hs):
        return (max(kernel_diff(Ks[l], ref["K"][l]) for l in range(L)),
                max(kernel_diff(Hs[l], ref["H"][l]) for l in range(L)))

    e_ref = err(refs[200]["K"], refs[200]["H"])    # estimate of the reference's own error
    e_rg = err([k[ix] for k in np.asarray(res.K)], [h[ix] for h in np.asarray(res.H)])
    e_nt = (kernel_diff(np.asarray(out.nngp)[ix], ref["K"][L - 1]),
            kernel_diff(np.asarray(out.ntk)[ix], ref["H"][L - 1]))
    e_rg_last = (kernel_diff(res.K[L][ix], ref["K"][L - 1]), kernel_diff(res.H[L][ix], ref["H"][L - 1]))
    print(f"\n### tanh K+H, N_D = {n}, L = {L}, C_b = {C_b}, C_W = {C_W} "
          f"(NT: ElementwiseNumerical(jnp.tanh, deg={args.nt_deg}), float64)\n")
    print("| | median s | first call s | speed-up | err K (layer L) | err H (layer L) | err K (max over layers) "
          "| err H (max over layers) |")
    print("|---|---|---|---|---|---|---|---|")
    print(f"| rgflow | {t_rg:.3f} | | {t_nt / t_rg:.1f}× | {e_rg_last[0]:.1e} | {e_rg_last[1]:.1e} | "
          f"{e_rg[0]:.1e} | {e_rg[1]:.1e} |")
    print(f"| neural-tangents | {t_nt:.3f} | {t_first:.2f} | 1 | {e_nt[0]:.1e} | {e_nt[1]:.1e} | | |")
    print(f"| reference_flow degree2 = 200 | | | | | | {e_ref[0]:.1e} | {e_ref[1]:.1e} |")
    print(f"\nErrors: max |Δ|/√(X_aa X_bb) against reference_flow(degree2=300) on {len(sub)} of the "
          "inputs (all their pairs); NT returns only layer L.", flush=True)
    return dict(rgflow_s=t_rg, nt_s=t_nt, nt_first_s=t_first, err_rg=e_rg_last, err_nt=e_nt, err_ref=e_ref)


def bench_tanh_deg(args):
    """NT's deg needed to reach rgflow's accuracy, and the speed-up there (small N_D)."""
    from derive.flow import flow
    from rgflow.reference import reference_flow
    import codegen
    _jax()
    n, L = args.deg_sweep_n, args.depth
    C_b, C_W = KH_PARAMS["tanh"]
    X = _inputs(n, seed=1)
    sub = np.arange(6)
    ix = np.ix_(sub, sub)
    ref = reference_flow("tanh", X[sub], L, C_b, C_W, quantities=("K", "H"), degree2=300)
    ev = codegen.compile(flow("tanh", ("K", "H")))
    res = ev.run(X, depth=L, C_b=C_b, C_W=C_W)
    print(f"\n### tanh K+H, N_D = {n}, L = {L}: NT's deg against accuracy\n")
    print("| | deg | median s | speed-up of rgflow | err K (layer L) | err H (layer L) |")
    print("|---|---|---|---|---|---|")
    rows = {}
    for deg in args.deg_sweep:
        kfn = nt_kernel_fn("tanh", L, C_b, C_W, deg=deg)
        out = nt_eval(kfn, X)
        t_rg, t_nt = _interleaved([lambda: ev.run(X, depth=L, C_b=C_b, C_W=C_W), lambda: nt_eval(kfn, X)],
                                  args.repeats)
        e = (kernel_diff(np.asarray(out.nngp)[ix], ref["K"][L - 1]), kernel_diff(np.asarray(out.ntk)[ix],
                                                                                  ref["H"][L - 1]))
        rows[deg] = dict(rgflow_s=t_rg, nt_s=t_nt, err=e)
        print(f"| neural-tangents | {deg} | {t_nt:.3f} | {t_nt / t_rg:.1f}× (rgflow {t_rg:.3f} s) | "
              f"{e[0]:.1e} | {e[1]:.1e} |", flush=True)
    e = (kernel_diff(res.K[L][ix], ref["K"][L - 1]), kernel_diff(res.H[L][ix], ref["H"][L - 1]))
    print(f"| rgflow | | | | {e[0]:.1e} | {e[1]:.1e} |")
    return rows


# ---------------------------------------------------------------------------------
# Four-point vertex V against the plain numpy tensor-product quadrature
# ---------------------------------------------------------------------------------

def _peer_layer(K, V, C_W, degree2, degree4, quad_sample=None):
    """One layer of reference_flow's loop (K, V only, equal widths); returns (seconds, how)."""
    from rgflow import reference as ref
    from derive.activations import activation
    act = activation("tanh")
    s = act.numpy_function()
    d = [s] + [act.numpy_derivative(k) for k in range(1, 5)]
    if quad_sample is None:
        t = time.perf_counter()
        ss = ref._pairs(s, s, K, degree2)
        ref._vertex(act, s, d, K, V, ss, C_W, 1.0, degree2, degree4, "ibp")
        return time.perf_counter() - t
    # extrapolation: time quad_sample unique quadruples, scale by their number, plus
    # the rest of the layer measured with a 2-point rule (same code path, negligible sums)
    n = K.shape[0]
    quads = list(itertools.combinations_with_replacement(range(n), 4))
    pick = [quads[i] for i in np.linspace(0, len(quads) - 1, quad_sample).astype(int)]
    t = time.perf_counter()
    for q in pick:
        ref.expect_tensor([s] * 4, K[np.ix_(q, q)], degree4)
    per_quad = (time.perf_counter() - t) / len(pick)
    t = time.perf_counter()
    ss = ref._pairs(s, s, K, degree2)
    ref._vertex(act, s, d, K, V, ss, C_W, 1.0, degree2, 2, "ibp")
    rest = time.perf_counter() - t
    return per_quad * len(quads) + rest


def bench_vertex(args):
    from derive.flow import flow
    from rgflow.reference import reference_flow
    import codegen
    n, L = args.v_n, args.v_depth
    C_b, C_W = 0.0, 1.0                    # tanh at criticality, inputs with |x|²/n_0 = 1
    X = _inputs(n, n0=8, seed=2, normalise=True)
    ev = codegen.compile(flow("tanh", ("K", "V")))
    ev.run(X[:2], depth=2, C_b=C_b, C_W=C_W)             # numba: load/compile once
    t = time.perf_counter()
    res = ev.run(X, depth=L, C_b=C_b, C_W=C_W)
    t_rg = time.perf_counter() - t
    print(f"\nrgflow K+V N_D = {n}, L = {L}: {t_rg:.1f} s", flush=True)

    # accuracy on a 2-input subset, all layers
    sub = [0, 1]
    Xs = X[sub]
    Vrg = np.asarray(ev.run(Xs, depth=L, C_b=C_b, C_W=C_W).V)
    block = np.asarray(res.V)[(slice(None),) + np.ix_(sub, sub, sub, sub)]
    subset_consistency = float(np.max(np.abs(block - Vrg)))
    hi = reference_flow("tanh", Xs, L, C_b, C_W, quantities=("K", "V"), degree4=args.v_ref_degree)["V"]
    scale = np.abs(hi).reshape(L, -1).max(axis=1)[1:]

    def err(V):
        e = np.abs(np.asarray(V) - hi).reshape(L, -1).max(axis=1)[1:] / scale
        return float(e.max()), float(e[-1])
    errors = {"rgflow": err(Vrg)}
    for deg in args.peer_degrees:
        errors[deg] = err(reference_flow("tanh", Xs, L, C_b, C_W, quantities=("K", "V"), degree4=deg)["V"])
    ok = [deg for deg in args.peer_degrees if errors[deg][0] <= errors["rgflow"][0]]
    deg = min(ok) if ok else max(args.peer_degrees)
    matched = bool(ok)

    # peer time per layer, started from rgflow's state at the middle layer
    mid = L // 2
    K, V = res.K[mid], res.V[mid]
    nquads = len(list(itertools.combinations_with_replacement(range(n), 4)))
    probe = _peer_layer(K, V, C_W, 80, deg, quad_sample=20)
    if probe <= args.max_peer_layer_s:
        layer_times = [_peer_layer(K, V, C_W, 80, deg) for _ in range(args.peer_layers)]
        how = f"{args.peer_layers} full layer(s) timed"
    else:
        layer_times = [_peer_layer(K, V, C_W, 80, deg, quad_sample=args.peer_quadruples)]
        how = (f"extrapolated: {args.peer_quadruples} timed quadruples scaled to the {nquads} unique "
               f"quadruples of a layer, + the rest of the layer timed")
    # the extrapolation checked against a full layer at a cheap degree
    check = (_peer_layer(K, V, C_W, 80, args.check_degree),
             _peer_layer(K, V, C_W, 80, args.check_degree, quad_sample=args.peer_quadruples))
    per_layer = statistics.median(layer_times)
    t_peer = per_layer * (L - 1)
    print(f"\n### Four-point vertex V (tanh, K+V), N_D = {n}, L = {L}, C_b = 0, C_W = 1\n")
    print("| | total s | per layer s | speed-up | rel. error of V, max over layers 2..L | at layer L |")
    print("|---|---|---|---|---|---|")
    print(f"| rgflow | {t_rg:.1f} (measured, one run) | {t_rg / (L - 1):.2f} | "
          f"{t_peer / t_rg:.1f}× | {errors['rgflow'][0]:.1e} | {errors['rgflow'][1]:.1e} |")
    print(f"| numpy tensor GH, degree4 = {deg} | {t_peer:.0f} (= {L - 1} × per layer) | {per_layer:.1f} "
          f"({how}) | 1 | {errors[deg][0]:.1e} | {errors[deg][1]:.1e} |")
    for other in args.peer_degrees:
        if other != deg:
            print(f"| numpy tensor GH, degree4 = {other} | | | | {errors[other][0]:.1e} | {errors[other][1]:.1e} |")
    print(f"\nErrors: max|ΔV| / max|V| per layer against reference_flow(degree4="
          f"{args.v_ref_degree}) on inputs {sub}; the peer's degree is "
          + ("the smallest with error ≤ rgflow's." if matched else
             "the largest tried: none of them reached rgflow's accuracy (the speed-up is a lower bound).")
          + f"  Subset consistency of rgflow (full-run block vs 2-input run): {subset_consistency:.1e}."
          f"  Extrapolation check at degree4 = {args.check_degree}: one full peer layer {check[0]:.1f} s, "
          f"extrapolated {check[1]:.1f} s.", flush=True)
    return dict(rgflow_s=t_rg, peer_s=t_peer, peer_layer_s=layer_times, how=how, degree=deg, errors=errors,
                extrapolation_check=check, subset_consistency=subset_consistency)


# ---------------------------------------------------------------------------------
# Warm compile in a fresh interpreter
# ---------------------------------------------------------------------------------

_CHILD = r"""
import time
t0 = time.perf_counter()
import numpy as np
from derive.flow import flow
import codegen
t1 = time.perf_counter()
import numba
t2 = time.perf_counter()
f = flow({name!r}, {obs!r})
t3 = time.perf_counter()
ev = codegen.compile(f)
t4 = time.perf_counter()
res = ev.run(np.eye(2) + 0.5, depth=3, C_b=0.1, C_W=1.0)
float(res.K[3][0, 1])
t5 = time.perf_counter()
print(t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t5 - t0)
"""


def bench_compile(args):
    flows = [("relu", ("K", "H")), ("erf", ("K", "H")), ("tanh", ("K", "H")), ("tanh", ("K", "V"))]
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    floor_cmd = [sys.executable, "-c", "import numpy, sympy, numba, networkx"]
    print("\n### Warm compile (module already cached), fresh interpreter each time\n")
    print("| flow | import derive.flow, codegen s | import numba s | flow() s | codegen.compile s "
          "| flow()+compile s (target < 0.5) | first run s | import → first result s | floor s |")
    print("|---|---|---|---|---|---|---|---|---|")
    rows = {}
    for name, obs in flows:
        code = _CHILD.format(name=name, obs=obs)
        subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=ROOT,
                       stdout=subprocess.DEVNULL)              # make sure module + numba cache exist
        samples, floors = [], []
        for _ in range(args.repeats):
            out = subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=ROOT,
                                 capture_output=True, text=True).stdout
            samples.append([float(v) for v in out.split()])
            t = time.perf_counter()
            subprocess.run(floor_cmd, check=True, env=env)
            floors.append(time.perf_counter() - t)
        med = [statistics.median(col) for col in zip(*samples)]
        floor = statistics.median(floors)
        rows[f"{name}{obs}"] = dict(medians=med, floor=floor)
        print(f"| {name} {'+'.join(obs)} | {med[0]:.2f} | {med[1]:.2f} | {med[2]:.3f} | {med[3]:.3f} "
              f"| {med[2] + med[3]:.3f} | {med[4]:.2f} | {med[5]:.2f} | {floor:.2f} |", flush=True)
    print("\nIn-process perf_counter intervals of a fresh interpreter, in this order: imports of rgflow, "
          "numba (which codegen.compile would otherwise import on first use), flow(), codegen.compile "
          "(module found in the cache), first ev.run (numba loads its on-disk cache), and their sum.  "
          "floor: wall time of a fresh interpreter importing numpy, sympy, numba and networkx "
          "(start-up included).")
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="kh,tanh,tanhdeg,vertex,compile")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--depth", type=int, default=10)
    parser.add_argument("--kh-n", type=int, default=3000)
    parser.add_argument("--tanh-n", type=int, default=300)
    parser.add_argument("--tanh-subset", type=int, default=6)
    parser.add_argument("--nt-deg", type=int, default=25)
    parser.add_argument("--deg-sweep", type=lambda s: [int(v) for v in s.split(",")], default=[25, 50, 100, 200])
    parser.add_argument("--deg-sweep-n", type=int, default=60)
    parser.add_argument("--v-n", type=int, default=16)
    parser.add_argument("--v-depth", type=int, default=32)
    parser.add_argument("--v-ref-degree", type=int, default=64)
    parser.add_argument("--peer-degrees", type=lambda s: [int(v) for v in s.split(",")], default=[32, 40, 48])
    parser.add_argument("--peer-layers", type=int, default=1)
    parser.add_argument("--max-peer-layer-s", type=float, default=900.0)
    parser.add_argument("--peer-quadruples", type=int, default=200)
    parser.add_argument("--check-degree", type=int, default=16)
    parser.add_argument("--json", help="also write the numbers to this file")
    args = parser.parse_args(argv)
    print(f"bench_flow: {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC, {os.cpu_count()} cores, "
          f"load {os.getloadavg()[0]:.2f}, python {sys.version.split()[0]}, numpy {np.__version__}")
    out = {}
    sections = {"kh": bench_kh, "tanh": bench_tanh, "tanhdeg": bench_tanh_deg, "vertex": bench_vertex, "compile": bench_compile}
    for key in args.only.split(","):
        out[key] = sections[key](args)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=1, default=str)


if __name__ == "__main__":
    main()
