"""Runtime of the order-1/n² evaluators: atoms by quadrature, the generated rules layer by layer.

Stage *evaluate, order 2*: inputs X (N_D, n_0), depth, widths, C_b, C_W → :class:`FlowResult` with
``res.K``, ``res.G1``, ``res.G2`` (N_D, N_D), ``res.V``, ``res.V1`` (N_D⁴) and ``res.U`` (N_D⁶) per
layer, ``U[l][a1,…,a6] = U_{(a1a2)(a3a4)(a5a6)}``; no powers of 1/n included (docs/derivation.md).

Every entry of an engine atom is, by the share convention, a Gaussian expectation over its distinct
samples of Π_groups (σ^m)^{(k)}/m^k (:mod:`codegen.order2`); each distinct expectation is computed
once per layer.  Quadrature policy (for one and two samples the one of
:mod:`rgflow.order2_reference`, whose numbers these match to rounding, tests/codegen/test_order2.py):

* smooth σ, one or two samples: the tensor product of the split Gauss–Legendre rule on |u| ≤ 12
  (320 nodes per sample, :func:`derive.quadrature.legendre_half_lines`) in the coordinates z = S u
  of the positive semi-definite square root S of the distinct samples' kernel (coincident inputs
  work), the slot functions differentiated symbolically by the generated module;
* smooth σ, three samples: the same rule (:data:`OUTER_NODES` per half-line) over two of them and,
  nested inside, the split rule with :data:`INNER_DEGREE` nodes per half-line over the conditional
  law of the third (the one of largest conditional variance; pseudo-inverse, so dependent inputs
  work), checked a posteriori: every such integral is also computed with :data:`INNER_CHECK` inner
  nodes, and a RuntimeWarning names the layer where the two differ by more than
  :data:`ND_TOLERANCE` (relative to the largest atom entry) — an activation that bends on a scale
  much below √K.  Against 160 inner nodes: 1e-14 for tanh at K ≈ 0.7, 1e-12 for SWISH at K ≈ 10–30;
* σ kinked at z = 0 (ReLU, leaky ReLU), one or two samples: no derivative of σ is taken — Gaussian
  integration by parts moves them onto the density (Hermite polynomials;
  :func:`derive.quadrature.hermite_weights`), and two samples are integrated in whitened polar
  coordinates with the angle split at the rays where σ bends
  (:func:`derive.quadrature.split_plane_rule`): exact up to the rule's resolution for
  piecewise-polynomial σ; this needs linearly independent inputs.

Duplicated inputs are evaluated once (the rules hold at coincident samples).  At most
:data:`MAX_INPUTS` distinct inputs: U has N_D⁶ entries and an entry of its six-slot atom is a
Gaussian integral over every distinct sample of the entry — this policy affords three samples for
a smooth σ and two (the split polar rule) for σ kinked at z = 0.
"""

from __future__ import annotations

import functools
import itertools
import math
import warnings

import numpy as np

from derive.quadrature import hermite_weights, legendre_half_lines, split_plane_rule

from . import runtime
from .evaluator import (FlowOverflowError, FlowResult, InputError, LayerSeries, _as_depth, _as_inputs, _as_widths,
                        _zero_variance_message, describe_module, layer_parameters)

__all__ = ["Order2Evaluator", "MAX_INPUTS", "INNER_DEGREE", "INNER_CHECK", "OUTER_NODES", "ND_TOLERANCE"]

#: Distinct inputs an order-2 evaluation takes: smooth σ, σ kinked at z = 0 (module docstring).
MAX_INPUTS = {False: 3, True: 2}
#: Split Gauss–Legendre nodes per half-line of the innermost sample of a three-sample integral,
#: and of its check.
INNER_DEGREE = 64
INNER_CHECK = 48
#: Split Gauss–Legendre nodes per half-line of each outer sample of a three-sample integral (the
#: outer integrand is smoothed by the inner integral: 80 agree with 160 to 4e-14 for tanh and SWISH).
OUTER_NODES = 80
#: Largest difference between the two (relative to the largest |atom entry| of the three samples)
#: before a RuntimeWarning.
ND_TOLERANCE = 1e-9


@functools.lru_cache(maxsize=None)
def _entry_plan(atoms: tuple, n: int):
    """For ``n`` samples: the distinct expectations every atom entry needs, as signatures
    ((sample, m, k), …) sorted by sample, and per atom the signature number of each entry (flat, C
    order)."""
    signatures: dict = {}
    index = {}
    for name, ks in atoms:
        ids = []
        for entry in itertools.product(range(n), repeat=len(ks)):
            groups: dict = {}
            for sample, k in zip(entry, ks):
                m, total = groups.get(sample, (0, 0))
                groups[sample] = (m + 1, total + k)
            sig = tuple((s, m, k) for s, (m, k) in sorted(groups.items()))
            ids.append(signatures.setdefault(sig, len(signatures)))
        index[name] = np.array(ids, dtype=np.int64)
    return tuple(signatures), index


class Order2Evaluator:
    """Evaluator of an order-1/n² flow (``codegen.compile(flow(act, order=2))``), backed by the module
    :mod:`codegen.order2` generated."""

    def __init__(self, module, flow=None, origin: str = ""):
        describe_module(self, module, flow, origin)
        self._factor = {mk: j for j, mk in enumerate(module.FACTORS)}

    def __repr__(self):
        return (f"Order2Evaluator(activation={self.module.ACTIVATION!r}, quantities={self.quantities}, "
                f"origin={self.origin!r})")

    def run(self, X, depth: int, width=None, C_b=0.0, C_W=1.0, keep: str = "all", progress=None) -> FlowResult:
        """Evaluate the order-2 recursions for inputs ``X`` (N_D, n_0) through ``depth`` layers.

        ``width`` (an int or n_1..n_L) enters through the ratios r = n_ℓ/n_{ℓ−1} (a layer-ℓ tensor of
        order (1/n)^p enters the next layer's rules with r^p); ``C_b``, ``C_W`` are numbers or one per
        layer; ``keep`` "all" or "last"; ``progress`` as for :meth:`codegen.Evaluator.run`.  At most
        :data:`MAX_INPUTS` distinct inputs (duplicates are free)."""
        X = _as_inputs(X)
        depth = _as_depth(depth)
        if keep not in ("all", "last"):
            raise InputError(f"keep must be 'all' or 'last', got {keep!r}")
        widths = _as_widths(width, depth)
        cb, cw, _, _, ratio = layer_parameters(depth, widths, C_b, C_W)
        unique, inverse = np.unique(X, axis=0, return_inverse=True)
        most = MAX_INPUTS[bool(self.module.KINKED)]
        if len(unique) > most:
            kind = "an activation kinked at z = 0" if self.module.KINKED else "a smooth activation"
            raise InputError(f"order 2 is evaluated for at most {most} distinct inputs with {kind} (got "
                             f"{len(unique)}): U has N_D^6 entries and its atoms need a Gaussian integral over all "
                             f"distinct samples of an entry; run the inputs in groups of {most}")
        if len(unique) == len(X):
            unique, inverse = X, None
        n = len(unique)
        gram = unique @ unique.T / X.shape[1]
        state = {name: np.zeros((n,) * rank) for name, rank in self.states}
        state["K"] = cb[0] + cw[0] * gram
        out = {name: np.empty((depth,) + (n,) * rank) for name, rank in self.states}
        speak = runtime.messages_enabled(progress)
        hook = progress if callable(progress) else None       # runtime.Progress from after the first layer
        watch = runtime._CompileWatch(self.module, speak)
        with watch.watching(), np.errstate(all="ignore"):
            for layer in range(1, depth + 1):          # 1-based layer of ``state``
                for name, _ in self.states:
                    out[name][layer - 1] = state[name]
                self._check(state, layer, X, cb, cw)
                if layer == depth:
                    break
                state = self._step(state, n, cb[layer], cw[layer], ratio[layer], layer + 1)
                watch.finish()          # says how long numba compiled, if it did (first use)
                if hook is None and speak:
                    hook = runtime.Progress()
                if hook is not None:
                    hook(layer + 1, depth)
        if isinstance(hook, runtime.Progress):
            hook.done()
        result = {}
        for name, _ in self.states:
            arr = out[name] if keep == "all" else out[name][-1:]
            if inverse is not None:
                idx = inverse.ravel()
                arr = arr[(slice(None),) + np.ix_(*([idx] * (arr.ndim - 1)))]
            result[name] = LayerSeries(arr, first=depth - len(arr) + 1)
        return FlowResult(depth, widths, result, known=self.quantities)

    # -- one layer ---------------------------------------------------------------------------
    def _check(self, state, layer, X, cb, cw) -> None:
        K = state["K"]
        if not np.all(np.isfinite(K)) or np.abs(K).max() > 1e300:
            raise FlowOverflowError(f"the kernel overflows at layer {layer} (C_W = {cw[layer - 1]:g}, "
                                    f"C_b = {cb[layer - 1]:g}): the network explodes; reduce C_W, the input "
                                    "scale or the depth")
        if np.any(np.diag(K) <= 0):
            raise InputError(_zero_variance_message(layer, X, cb, cw))

    def _step(self, state, n, cb, cw, r, layer):
        atoms, gap = self._atoms(state["K"], n)
        if gap > ND_TOLERANCE:
            warnings.warn(f"order-2 atoms over three distinct inputs at layer {layer - 1}: the inner quadrature "
                          f"rule and its check differ by {gap:.1e} (relative), above {ND_TOLERANCE:g}; "
                          "the activation bends on a scale the rule does not resolve - evaluate the inputs in pairs",
                          RuntimeWarning, stacklevel=4)
        arrays = {**state, **atoms}
        nxt = {}
        for name, rank in self.states:
            out = np.empty((n,) * rank)
            rule = getattr(self.module, f"next_{name}")
            bad = rule(np.int64(n), *[arrays[a] for a in self.module.RULE_ARGUMENTS[name]], float(cb), float(cw),
                       float(r), out)
            if bad:
                raise FlowOverflowError(f"{name} stops being finite at layer {layer}: the network explodes; "
                                        "reduce C_W, the input scale or the depth")
            nxt[name] = out
        return nxt

    def _atoms(self, K: np.ndarray, n: int) -> tuple[dict, float]:
        """Every atom array of the layer with kernel K (n × n), and the largest relative gap of the
        three-sample rule's a-posteriori check (0 without three distinct samples)."""
        signatures, index = _entry_plan(tuple(self.module.ATOMS), n)
        by_subset: dict = {}
        for i, sig in enumerate(signatures):
            by_subset.setdefault(tuple(s for s, _, _ in sig), []).append(i)
        values, worst = np.empty(len(signatures)), 0.0
        integrate = self._by_parts if self.module.KINKED else self._smooth
        for subset, ids in sorted(by_subset.items()):
            values[ids], gap = integrate(K[np.ix_(subset, subset)], [signatures[i] for i in ids])
            worst = max(worst, gap)
        return {name: values[index[name]].reshape((n,) * len(ks)) for name, ks in self.module.ATOMS}, worst

    def _values(self, j: int, x: np.ndarray) -> np.ndarray:
        return self.module.factor_values(np.int64(j), np.ascontiguousarray(x), np.empty(x.shape[0]))

    def _smooth(self, C: np.ndarray, sigs) -> tuple[np.ndarray, float]:
        """(⟨Π_rows f_{(m,k)}(z_row)⟩ over z ~ N(0, C) for every signature (one per row of C), relative
        gap of the check); three samples by the nested rule, checked against fewer inner nodes."""
        if len(C) <= 2:
            return self._tensor_rule(C, sigs, *legendre_half_lines()), 0.0
        fine = self._nested_rule(C, sigs, INNER_DEGREE)
        coarse = self._nested_rule(C, sigs, INNER_CHECK)
        return fine, float(np.max(np.abs(fine - coarse))) / max(float(np.max(np.abs(fine))), 1e-300)

    def _nested_rule(self, C: np.ndarray, sigs, degree: int) -> np.ndarray:
        """Three samples: the pair rule over the outer two, the split Gauss–Legendre rule with ``degree``
        nodes per half-line over the conditional law N(a·z_outer, s²) of the inner one (the one of
        largest conditional variance)."""
        cond = []
        for inner in range(3):
            outer = [r for r in range(3) if r != inner]
            a = C[inner, outer] @ np.linalg.pinv(C[np.ix_(outer, outer)])
            cond.append((max(C[inner, inner] - a @ C[outer, inner], 0.0), inner, outer, a))
        var, inner, outer, a = max(cond, key=lambda c: c[0])
        u, w = legendre_half_lines(OUTER_NODES)
        vals, vecs = np.linalg.eigh(C[np.ix_(outer, outer)])
        S = vecs * np.sqrt(np.clip(vals, 0.0, None))
        grid = np.array(np.meshgrid(u, u, indexing="ij")).reshape(2, -1)
        weight = np.outer(w, w).ravel()
        zo = S @ grid                                            # (2, P) outer samples
        e, we = legendre_half_lines(degree)
        zi = ((a @ zo)[:, None] + math.sqrt(var) * e[None, :]).ravel()    # (P·degree,) inner sample
        smoothed: dict = {}
        outer_values: dict = {}
        out = np.empty(len(sigs))
        for i, sig in enumerate(sigs):
            _, mi, ki = sig[inner]
            if (mi, ki) not in smoothed:
                values = self._values(self._factor[(mi, ki)], zi).reshape(-1, e.size)
                smoothed[(mi, ki)] = values @ we                # E[f(z_inner) | z_outer]
            integrand = weight * smoothed[(mi, ki)]
            for row, r in enumerate(outer):
                _, m, k = sig[r]
                if (row, m, k) not in outer_values:
                    outer_values[(row, m, k)] = self._values(self._factor[(m, k)], zo[row])
                integrand = integrand * outer_values[(row, m, k)]
            out[i] = float(np.sum(integrand))
        return out

    def _tensor_rule(self, C: np.ndarray, sigs, u: np.ndarray, w: np.ndarray) -> np.ndarray:
        """The tensor product of the rule (u, w) in the coordinates z = S x of C's PSD square root
        (one or two samples)."""
        d = len(C)
        vals, vecs = np.linalg.eigh(C)
        S = vecs * np.sqrt(np.clip(vals, 0.0, None))
        grid = np.array(np.meshgrid(*[u] * d, indexing="ij")).reshape(d, -1)
        weight = np.prod(np.array(np.meshgrid(*[w] * d, indexing="ij")).reshape(d, -1), axis=0)
        zs = S @ grid
        cache: dict = {}
        out = np.empty(len(sigs))
        for i, sig in enumerate(sigs):
            integrand = weight
            for row, (_, m, k) in enumerate(sig):
                key = (row, m, k)
                if key not in cache:
                    cache[key] = self._values(self._factor[(m, k)], zs[row])
                integrand = integrand * cache[key]
            out[i] = float(np.sum(integrand))
        return out

    def _by_parts(self, C: np.ndarray, sigs) -> tuple[np.ndarray, float]:
        """The same for σ kinked at z = 0 (one or two samples; no check, gap 0): ⟨Π σ^m h_k⟩ with the
        derivatives on the density, divided by the shares Π m^k."""
        out = np.empty(len(sigs))
        if len(C) == 1:
            u, w = legendre_half_lines()
            z = math.sqrt(C[0, 0]) * u
            for i, ((_, m, k),) in enumerate(sigs):
                he = np.polynomial.hermite_e.hermeval(u, [0.0] * k + [1.0])
                out[i] = float(np.sum(w * self._values(self._factor[(m, 0)], z) * he)) / C[0, 0] ** (k / 2) / m**k
            return out, 0.0
        if np.linalg.det(C) <= 1e-12 * C[0, 0] * C[1, 1]:
            raise InputError(f"two inputs are (nearly) parallel (correlation {C[0, 1] / math.sqrt(C[0, 0] * C[1, 1]):.12f}); "
                             "order 2 for an activation kinked at z = 0 integrates by parts over linearly "
                             "independent inputs — pass them separately")
        zs, weight = split_plane_rule(C)
        Cinv = np.linalg.inv(C)
        wz = Cinv @ zs
        powers = {}
        for i, ((_, ma, ka), (_, mb, kb)) in enumerate(sigs):
            for row, m in ((0, ma), (1, mb)):
                if (row, m) not in powers:
                    powers[(row, m)] = self._values(self._factor[(m, 0)], zs[row])
            h = hermite_weights(wz, Cinv, ka, kb)
            out[i] = float(np.sum(weight * powers[(0, ma)] * powers[(1, mb)] * h)) / (ma**ka * mb**kb)
        return out, 0.0
