"""Monte Carlo over real random finite-width networks at initialisation.

Stage *montecarlo*: (activation, inputs ``X``, architecture) → :class:`MonteCarloResult`.

:func:`sample` draws ``M`` independent fully connected networks with the PDLT
initialisation of THEORY.md §1,

    z^{(1)}_{i;a}   = b^{(1)}_i   + Σ_j W^{(1)}_{ij}   x_{j;a}
    z^{(l+1)}_{i;a} = b^{(l+1)}_i + Σ_j W^{(l+1)}_{ij} σ(z^{(l)}_{j;a}),
    b^{(l)} ~ N(0, C_b^{(l)}),  W^{(l)} ~ N(0, C_W^{(l)} / n_{l-1}),

and estimates, for every layer l = 1..L and with standard errors, the quantities the
effective theory predicts: the metric G^{(l)} (THEORY.md §2–3), the four-point vertex
V^{(l)}/n_{l-1} (THEORY.md §3, PDLT eq. 4.90 form) from distinct and from identical
neurons, and the mean and the variance of the diagonal neural tangent kernel
(THEORY.md §6, PDLT ch. 7–8); on request also the order-1/n NTK statistics of
THEORY-NTK.md §1 — the NTK fluctuations A, B, D, F and the dNTK tensors P, Q — from
distinct neurons (estimators and forward-mode dNTK in :mod:`rgflow.ntk_statistics`).

Statistical conventions
-----------------------
*Neurons of one network are correlated* (they share the previous layer), so every
estimator is built from **per-network** averages over neurons, and every standard
error is computed from the spread of those per-network averages across the ``M``
independent networks.  Products of ensemble means are replaced by their unbiased
U-statistic (``x̄ ȳ − Ĉov(x, y)/M``), so each point estimate below is **exactly
unbiased** for the finite-width quantity it names; what remains is the *theory*
truncation (e.g. V/n versus its O(1/n²) corrections), stated per field.  Standard
errors of nonlinear estimators use the first-order delta method (equal to the
jackknife to leading order in 1/M; relative error O(1/M)).

*Heavy tails.*  log Ĝ^{(l)} is a sum of l nearly independent terms of variance ≈ c/n
(c = 2 for linear, 5 for ReLU networks), so when c·l/n is O(1) the per-network
four-point statistics are strongly right-skewed (relative variance ≈ e^{4cl/n}): a
sample that misses the tail underestimates both the estimate and its standard error,
and the z-score is skewed to the left.  Keep c·l/n ≲ 0.7 or raise M (docs/validation.md).

Exact identities used in the documentation (and the tests): given layer l−1, the
preactivations z^{(l)}_{i;·} of different neurons i are i.i.d. Gaussian with
covariance Ĝ^{(l-1)}_{ab} = C_b + (C_W/n_{l-1}) Σ_j σ(z_{j;a}) σ(z_{j;b}) (for l = 1,
Ĝ = K^{(1)} is deterministic).  Hence, exactly at any width,

* G^{(l)} = E[Ĝ^{(l-1)}]  — so G^{(1)} = K^{(1)} and G^{(2)} = C_b + C_W⟨σσ⟩_{K^{(1)}};
* distinct-neuron connected correlator = Cov(Ĝ_{a1a2}, Ĝ_{a3a4});
* same-neuron fourth cumulant = the sum of that covariance over the three pairings.

Reproducibility
---------------
Network ``k`` (0-based) draws all its parameters from its own stream
``np.random.SeedSequence(seed).spawn(M)[k]`` (built lazily, identically), in the fixed
order W^{(1)}, b^{(1)}, W^{(2)}, b^{(2)}, …; per-network statistics are reduced in
fixed blocks of networks.  Results therefore do not depend on ``chunk``, and the
first ``M'`` networks of a run with ``M > M'`` are the networks of a run with ``M'``.
Standard normals are drawn for the biases even when C_b = 0, so runs differing only
in C_b, C_W or σ use the same underlying random numbers (common random numbers).
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, replace
from numbers import Integral, Real
from typing import Callable

import numpy as np

from . import ntk_statistics
from .defaults import learning_rates

__all__ = ["MonteCarloResult", "sample", "MAX_VERTEX_INPUTS", "MAX_NTK_STATISTICS_INPUTS"]

#: Largest number of inputs N_D for which the N_D⁴ vertex arrays are computed.
MAX_VERTEX_INPUTS = 8
#: Largest N_D for the order-1/n NTK statistics A, B, D, F, P, Q (full NTK matrices per
#: sample pair and, for the dNTK, one forward-mode pass per (layer, i0, a0)).
MAX_NTK_STATISTICS_INPUTS = 3
#: Peak working memory targeted when ``chunk`` is chosen automatically (bytes).
_MEMORY_BUDGET = 512 * 2**20
#: Networks per reduction block (fixed: makes results independent of ``chunk``).
_BLOCK = 128
#: Upper bound on the automatic chunk (very large batches of tiny networks are slower).
_MAX_AUTO_CHUNK = 4096


# ----------------------------------------------------------------------------------
# result type
# ----------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class MonteCarloResult:
    """Per-layer Monte Carlo estimates over ``networks`` random networks.

    Every array has a leading layer axis of length ``depth``: index ``l - 1`` holds
    layer ``l`` (l = 1..L).  Sample indices follow the rows of the input ``X``.
    Each ``*_se`` array is the standard error of the estimate of the same name,
    computed from the spread across independent networks (never across the
    correlated neurons of one network).  Fields of quantities that were not
    requested are ``None``.  Arrays are read-only.

    Attributes
    ----------
    metric, metric_se : ndarray, shape (L, N_D, N_D)
        Estimate of the metric G^{(l)}_{a1a2} = E[z_{i;a1} z_{i;a2}] (THEORY.md §3:
        G = K + G^{{1}}/n_{l-1} + O(1/n²)); mean over neurons and networks.
        Exactly unbiased.  G^{(1)} = K^{(1)} and G^{(2)} = C_b + C_W⟨σσ⟩_{K^{(1)}}
        hold exactly at any width.
    vertex, vertex_se : ndarray, shape (L, N_D, N_D, N_D, N_D) or None
        Distinct-neuron connected four-point function
        ``vertex[l-1, a1, a2, a3, a4] = E[z_{i;a1} z_{i;a2} z_{j;a3} z_{j;a4}] − G_{a1a2} G_{a3a4}``
        with i ≠ j, which by THEORY.md §3 equals **V^{(l)}_{(a1a2)(a3a4)} / n_{l-1}**
        + O(1/n²): the 1/n_{l-1} factor IS included (unlike ``V`` in DESIGN.md).
        Exactly unbiased for the left-hand side; exactly 0 for layer 1; exactly
        Cov(Ĝ^{(l-1)}_{a1a2}, Ĝ^{(l-1)}_{a3a4}) (see module docstring).
        NaN for a layer of width 1 (no distinct pairs).
    vertex_same, vertex_same_se : ndarray, shape (L, N_D, N_D, N_D, N_D) or None
        One third of the same-neuron fourth cumulant,
        ``(E[z_{i;a1} z_{i;a2} z_{i;a3} z_{i;a4}] − G12 G34 − G13 G24 − G14 G23) / 3``,
        fully symmetric in (a1..a4); estimates
        [V_{(12)(34)} + V_{(13)(24)} + V_{(14)(23)}] / (3 n_{l-1}) + O(1/n²) (THEORY.md
        §3 with i1 = i2 = i3 = i4).  For a single input it estimates V/n_{l-1}.  Its
        expectation equals the pairing-symmetrised ``vertex`` exactly (conditional
        Gaussianity).  Exactly unbiased.
    ntk, ntk_se : ndarray, shape (L, N_D, N_D) or None
        Mean of the diagonal NTK H^{(l)}_{ii;a1a2} = Σ_μ λ_μ ∂z^{(l)}_{i;a1}/∂θ_μ
        ∂z^{(l)}_{i;a2}/∂θ_μ over all parameters of layers 1..l, with λ_b^{(l')} per bias
        and λ_W^{(l')}/n_{l'-1} per weight of layer l' (THEORY.md §6; its infinite-width
        recursion is exact for layers 1 and 2).  Computed exactly (analytic
        backpropagation); exactly unbiased.  Layer 1 is deterministic (se = 0).
    ntk_var, ntk_var_se : ndarray, shape (L, N_D, N_D) or None
        Variance of one diagonal NTK entry over the ensemble (neurons and networks),
        Var(H^{(l)}_{ii;a1a2}) = E[H_ii²] − E[H_ii]²  — the O(1/n) NTK fluctuation of
        PDLT ch. 8 (for the single-neuron diagonal it is (A + 2B)/n_{l-1} in the
        book's notation, up to O(1/n²)).  Exactly unbiased.
    A, A_se : ndarray, shape (L, N_D, N_D, N_D, N_D) or None
        NTK-fluctuation tensor A of THEORY-NTK.md §1 (computed with
        ``ntk_fluctuations=True``): ``A[l-1, a1, a2, a3, a4] = Cov(Ĥ_{ii;a1a2}, Ĥ_{jj;a3a4})``,
        i ≠ j, which equals **A^{(l)}_{(a1a2)(a3a4)} / n_{l-1}** + O(1/n²) (the 1/n_{l-1} IS
        included, like ``vertex``).  Product of means by its U-statistic: exactly unbiased
        for the left-hand side.  Symmetric within (a1a2), within (a3a4) and under
        (a1a2) ↔ (a3a4), exactly.  Exactly 0 for layer 1 (deterministic NTK); at layer 2
        the left-hand side equals the local term Cov(𝒯12, 𝒯34)/n_1 of THEORY-NTK.md §3 at
        any width.  NaN for a layer of width 1.
    B, B_se : ndarray, shape (L, N_D, N_D, N_D, N_D) or None
        ``B[l-1, a1, a3, a2, a4] = E[Ĥ_{ij;a1a2} Ĥ_{ij;a3a4}]``, i ≠ j (``ntk_fluctuations=True``):
        **B^{(l)}_{a1a3a2a4} / n_{l-1}** + O(1/n²), indexed as the subscripts (first pair
        a1 a3 belongs to neuron i).  No mean is subtracted (E[Ĥ_ij] = 0 exactly):
        exactly unbiased.  Exactly symmetric under [a1,a3,a2,a4] → [a2,a4,a1,a3] and
        [a3,a1,a4,a2].  Layer 1 exactly 0; layer 2 exact at any width (local term).
    D, D_se : ndarray, shape (L, N_D, N_D, N_D, N_D) or None
        ``D[l-1, a1, a2, a3, a4] = Cov(Ĥ_{ii;a1a2}, z_{j;a3} z_{j;a4})``, i ≠ j
        (``ntk_fluctuations=True``): **D^{(l)}_{a1a2a3a4} / n_{l-1}** + O(1/n²).  U-statistic:
        exactly unbiased.  Exactly symmetric within (a1a2) and within (a3a4).  Layer 1
        exactly 0; layer 2 exact at any width.
    F, F_se : ndarray, shape (L, N_D, N_D, N_D, N_D) or None
        ``F[l-1, a1, a3, a2, a4] = E[Ĥ_{ij;a1a2} z_{i;a3} z_{j;a4}]``, i ≠ j
        (``ntk_fluctuations=True``): **F^{(l)}_{a1a3a2a4} / n_{l-1}** + O(1/n²) (first pair:
        NTK sample then preactivation sample of neuron i).  Exactly unbiased (no mean
        subtracted).  Exactly symmetric under [a1,a3,a2,a4] → [a2,a4,a1,a3].  Layer 1
        exactly 0; layer 2 exact at any width.
    P, P_se : ndarray, shape (L, N_D, N_D, N_D, N_D) or None
        dNTK tensor (``dntk=True``): ``P[l-1, a0, a1, a2, a3] = E[dĤ_{iij;a0a1a2} z_{j;a3}]``,
        i ≠ j, with dĤ_{i0i1i2;a0a1a2} = Σ_μ λ_μ ∂z_{i0;a0}/∂θ_μ ∂Ĥ_{i1i2;a1a2}/∂θ_μ (THEORY-NTK.md
        §1): **P^{(l)}_{a0a1a2a3} / n_{l-1}** + O(1/n²).  dĤ by forward-mode differentiation
        of the NTK forward equation (:mod:`rgflow.ntk_statistics`) for the output neurons
        i0 = 0..``dntk_neurons``−1 of every network, averaged over j ≠ i0.  Exactly
        unbiased (E[dĤ] = 0).  Layer 1 exactly 0; layer 2 exact at any width.
    Q, Q_se : ndarray, shape (L, N_D, N_D, N_D, N_D) or None
        ``Q[l-1, a0, a1, a2, a3] = E[dĤ_{jii;a0a1a2} z_{j;a3}]``, i ≠ j (``dntk=True``):
        **Q^{(l)}_{a0a1a2a3} / n_{l-1}** + O(1/n²).  Same construction as P; exactly
        symmetric in a1 ↔ a2.
    networks : int
        Number M of sampled networks.
    seed : int
        Entropy of the root ``SeedSequence`` (the ``seed`` argument, or the fresh
        entropy drawn when ``seed`` was None).
    widths : tuple of int
        (n_1, …, n_L).
    depth : int
        L.
    n0 : int
        Input dimension.
    C_b, C_W : tuple of float
        Per-layer initialisation hyperparameters.
    lambda_b, lambda_W : tuple of float or None
        Per-layer learning-rate weights (None when the NTK was not computed).
    xi, gamma : float or None, float
        The residual couplings (``xi`` None for a plain MLP).
    """

    metric: np.ndarray
    metric_se: np.ndarray
    vertex: np.ndarray | None
    vertex_se: np.ndarray | None
    vertex_same: np.ndarray | None
    vertex_same_se: np.ndarray | None
    ntk: np.ndarray | None
    ntk_se: np.ndarray | None
    ntk_var: np.ndarray | None
    ntk_var_se: np.ndarray | None
    networks: int
    seed: int
    widths: tuple[int, ...]
    depth: int
    n0: int
    C_b: tuple[float, ...]
    C_W: tuple[float, ...]
    lambda_b: tuple[float, ...] | None
    lambda_W: tuple[float, ...] | None
    A: np.ndarray | None = None
    A_se: np.ndarray | None = None
    B: np.ndarray | None = None
    B_se: np.ndarray | None = None
    D: np.ndarray | None = None
    D_se: np.ndarray | None = None
    F: np.ndarray | None = None
    F_se: np.ndarray | None = None
    P: np.ndarray | None = None
    P_se: np.ndarray | None = None
    Q: np.ndarray | None = None
    Q_se: np.ndarray | None = None
    xi: float | None = None
    gamma: float = 1.0

    def __repr__(self) -> str:  # arrays are large: keep the repr to the metadata
        parts = ["metric"]
        if self.vertex is not None:
            parts.append("vertex")
        if self.ntk is not None:
            parts.append("ntk")
        if self.A is not None:
            parts.append("A+B+D+F")
        if self.P is not None:
            parts.append("P+Q")
        return (f"MonteCarloResult(networks={self.networks}, seed={self.seed}, depth={self.depth}, "
                f"widths={self.widths}, N_D={self.metric.shape[1]}, fields={'+'.join(parts)})")


# ----------------------------------------------------------------------------------
# input handling
# ----------------------------------------------------------------------------------
def _is_int(v) -> bool:
    return isinstance(v, Integral) and not isinstance(v, bool)


def _per_layer(name: str, value, depth: int, *, integer: bool) -> tuple:
    """Broadcast a scalar or validate a length-``depth`` sequence of hyperparameters."""
    if isinstance(value, (str, bytes)):
        raise ValueError(f"{name} must be a number or a sequence of {depth} numbers, got {value!r}.")
    if np.ndim(value) == 0:
        values = [value] * depth
    else:
        values = list(np.asarray(value).ravel()) if isinstance(value, np.ndarray) else list(value)
        if np.ndim(value) != 1 or len(values) != depth:
            raise ValueError(f"{name} must be a scalar or a sequence of length depth={depth}, "
                             f"got shape {np.shape(value)}.")
    out = []
    for v in values:
        if integer:
            if not _is_int(v):
                raise ValueError(f"{name} must contain integers, got {v!r}.")
            v = int(v)
            if v <= 0:
                raise ValueError(f"{name} must be positive, got {v}.")
        else:
            if isinstance(v, bool) or not isinstance(v, Real):
                raise ValueError(f"{name} must contain real numbers, got {v!r}.")
            v = float(v)
            if not math.isfinite(v):
                raise ValueError(f"{name} must be finite, got {v}.")
            if v < 0:
                raise ValueError(f"{name} must be non-negative, got {v}.")
        out.append(v)
    return tuple(out)


def _as_vectorised(f: Callable, what: str) -> Callable[[np.ndarray], np.ndarray]:
    """Wrap a numpy callable so that it always returns a float array of the input shape."""
    if not callable(f):
        raise ValueError(f"{what} must be a numpy-vectorised callable, got {type(f).__name__}.")

    def g(z: np.ndarray) -> np.ndarray:
        out = np.asarray(f(z), dtype=np.float64)
        if out.shape != z.shape:
            try:
                out = np.broadcast_to(out, z.shape)
            except ValueError:
                raise ValueError(f"{what} returned shape {out.shape} for an input of shape {z.shape}; "
                                 "it must be elementwise (numpy-vectorised).") from None
        return out

    return g


def _resolve_activation(sigma, dsigma, need_derivative: bool, d2sigma=None, need_second: bool = False):
    if hasattr(sigma, "numpy_function") and callable(getattr(sigma, "numpy_function")):
        f = sigma.numpy_function()
        if dsigma is None and need_derivative and hasattr(sigma, "numpy_derivative"):
            dsigma = sigma.numpy_derivative()
        if d2sigma is None and need_second and hasattr(sigma, "numpy_derivative"):
            d2sigma = sigma.numpy_derivative(2)
    elif callable(sigma):
        f = sigma
    else:
        raise ValueError("sigma must be a numpy callable or an object with .numpy_function(), "
                         f"got {type(sigma).__name__}.")
    f = _as_vectorised(f, "sigma")
    df = None
    if need_derivative:
        if dsigma is None:
            raise ValueError("dsigma (the derivative of sigma) is required to compute the NTK "
                             "(lambda_b / lambda_W given) when sigma has no .numpy_derivative().")
        df = _as_vectorised(dsigma, "dsigma")
    if not need_second:
        return f, df
    if d2sigma is None:
        raise ValueError("d2sigma (the second derivative of sigma) is required for the dNTK (dntk=True) "
                         "when sigma has no .numpy_derivative().")
    return f, df, _as_vectorised(d2sigma, "d2sigma")


# ----------------------------------------------------------------------------------
# index bookkeeping for symmetric sample-index tensors
# ----------------------------------------------------------------------------------
class _Indices:
    """Unique pairs p = (a ≤ b) of sample indices and unique pairs of pairs t = (p ≤ q)."""

    def __init__(self, nd: int):
        self.nd = nd
        pa, pb = np.triu_indices(nd)
        self.pa, self.pb = pa, pb
        self.np = len(pa)
        self.pair = np.empty((nd, nd), dtype=np.intp)
        self.pair[pa, pb] = np.arange(self.np)
        self.pair[pb, pa] = np.arange(self.np)
        tp, tq = np.triu_indices(self.np)
        self.tp, self.tq = tp, tq
        self.nt = len(tp)
        self.tri = np.empty((self.np, self.np), dtype=np.intp)
        self.tri[tp, tq] = np.arange(self.nt)
        self.tri[tq, tp] = np.arange(self.nt)

    def full2(self, v: np.ndarray) -> np.ndarray:
        """(..., np) pair vector → (..., nd, nd) symmetric matrix."""
        return v[..., self.pair]


# ----------------------------------------------------------------------------------
# streaming co-moment accumulator (Chan et al. pairwise update, fixed blocks)
# ----------------------------------------------------------------------------------
class _Accumulator:
    """Means and centred co-moments of per-network feature vectors, merged blockwise.

    ``specs`` maps a name to (slice_x, slice_y, kind) with kind 'full' (the matrix
    Σ_k δx_k δy_kᵀ) or 'diag' (the elementwise Σ_k δx_k δy_k).  Features carry a
    leading layer axis: a block is an array (B, L, d).
    """

    def __init__(self, specs: dict):
        self.specs = specs
        self.count = 0
        self.mean = None
        self.co = {}

    @staticmethod
    def _product(dx, dy, kind):
        if kind == "full":
            return np.einsum("kli,klj->lij", dx, dy)
        return np.einsum("kli,kli->li", dx, dy)

    def update(self, block: np.ndarray) -> None:
        nb = block.shape[0]
        mean_b = block.mean(axis=0)
        dev = block - mean_b
        co_b = {name: self._product(dev[..., sx], dev[..., sy], kind)
                for name, (sx, sy, kind) in self.specs.items()}
        if self.count == 0:
            self.count, self.mean, self.co = nb, mean_b, co_b
            return
        na = self.count
        n = na + nb
        delta = mean_b - self.mean
        w = na * nb / n
        for name, (sx, sy, kind) in self.specs.items():
            dx, dy = delta[:, sx], delta[:, sy]
            extra = dx[:, :, None] * dy[:, None, :] if kind == "full" else dx * dy
            self.co[name] = self.co[name] + co_b[name] + w * extra
        self.mean = self.mean + delta * (nb / n)
        self.count = n

    def cov(self, name: str) -> np.ndarray:
        """Unbiased (ddof = 1) covariance between networks."""
        return self.co[name] / (self.count - 1)


# ----------------------------------------------------------------------------------
# the sampler
# ----------------------------------------------------------------------------------
def _network_seed(root: np.random.SeedSequence, k: int) -> np.random.SeedSequence:
    """The k-th child of ``root``: identical to ``root.spawn(M)[k]`` for any M > k."""
    return np.random.SeedSequence(root.entropy, spawn_key=tuple(root.spawn_key) + (k,),
                                  pool_size=root.pool_size)


def _auto_chunk(nd: int, n0: int, widths, n_params: int, idx: _Indices, vertex: bool, ntk: bool,
                networks: int, fluctuations: bool = False, dntk_directions: int = 0,
                residual_ntk: bool = False) -> int:
    """Networks per batch so that the working arrays stay under ~512 MiB."""
    nmax = max((n0,) + tuple(widths))
    floats = 2 * n_params + 8 * nd * nmax                      # parameters, forward pass
    if vertex:
        floats += 3 * idx.np * nmax + 4 * idx.np ** 2          # pair products, S, P
    if ntk:
        floats += 4 * idx.np * nmax + nmax ** 2                # pair derivatives, W²
        if len(widths) >= 3:
            floats += 5 * idx.np * nmax ** 2                   # full NTK matrices + temporaries
        if fluctuations:
            floats += 4 * idx.np * nmax ** 2                   # last layer's full NTK, transposes
        if residual_ntk:
            floats += 6 * idx.np * nmax ** 2                   # full NTK from layer 1 + cross terms
        if dntk_directions:
            floats += (len(widths) + 1) * idx.np * nmax ** 2   # every layer's full NTK
            floats += 7 * dntk_directions * idx.np * nmax ** 2  # tangents and temporaries
    per_network = 8 * floats
    return int(max(1, min(networks, _MAX_AUTO_CHUNK, _MEMORY_BUDGET // per_network)))


def sample(sigma, X, depth: int, width, C_b=0.0, C_W=1.0, networks: int = 1000, seed: int | None = 0,
           lambda_b=None, lambda_W=None, dsigma=None, chunk: int | None = None,
           progress: bool = False, vertex: bool = True, ntk_fluctuations: bool = False,
           dntk: bool = False, dntk_neurons: int = 1, d2sigma=None, xi=None,
           gamma=1.0) -> MonteCarloResult:
    """Sample random MLPs at initialisation and estimate metric, vertex and NTK per layer.

    Parameters
    ----------
    sigma : callable or Activation-like
        The activation: a numpy-vectorised callable (ndarray → ndarray), or any object
        with ``.numpy_function()`` (and ``.numpy_derivative()``, used when the NTK is
        requested and ``dsigma`` is None) returning such callables.
    X : array_like, shape (N_D, n_0)
        Inputs, one row per sample index α.  Must be finite.
    depth : int
        L ≥ 1; preactivations of every layer 1..L are measured.
    width : int or sequence of int
        One width n for all layers n_1..n_L, or the sequence (n_1, …, n_L).
    C_b, C_W : float or sequence of float
        Bias variance and (rescaled) weight variance, scalars or per layer (length L),
        non-negative: b^{(l)} ~ N(0, C_b), W^{(l)} ~ N(0, C_W / n_{l-1}).
    networks : int
        Number M ≥ 2 of independent networks.
    seed : int or None
        Root entropy of ``np.random.SeedSequence``; network k uses child k.
    lambda_b, lambda_W : float, sequence of float or None
        NTK learning-rate weights (per layer allowed): λ_b per bias, λ_W/n_{l-1} per
        weight of layer l.  If both are None the NTK is skipped; if only one is given,
        the other defaults to C_b or C_W (:func:`rgflow.defaults.learning_rates`).
    dsigma : callable, optional
        σ' as a numpy callable; required for the NTK unless ``sigma`` provides
        ``.numpy_derivative()``.  For kinked activations any a.e. derivative works.
    chunk : int, optional
        Networks processed per vectorised batch; default chosen so that working
        memory stays below ~512 MiB.  Results do not depend on it.
    progress : bool
        Print a progress line to stderr.
    vertex : bool
        Compute the four-point estimates (requires N_D ≤ 8).
    ntk_fluctuations : bool
        Also estimate the NTK fluctuations A, B, D, F (THEORY-NTK.md §1; fields ``A`` …
        ``F_se``); requires N_D ≤ 3 and turns on the NTK (λ's default to C_b, C_W).
        Default False: cost and results of other fields unchanged.
    dntk : bool
        Also estimate the dNTK tensors P, Q (fields ``P`` … ``Q_se``), by forward-mode
        differentiation of the NTK; requires N_D ≤ 3, σ'' (``d2sigma`` or
        ``sigma.numpy_derivative(2)``) and turns on the NTK.
    dntk_neurons : int
        Output neurons i0 per network and layer used for P, Q (one forward-mode pass per
        (layer, i0, a0)); more reduces the variance at proportional cost.
    d2sigma : callable, optional
        σ'' as a numpy callable (a.e. second derivative; 0 for ReLU), for ``dntk=True``.
    xi, gamma : float, optional
        Residual MLP (THEORY-NTK.md §5) when ``xi`` is given: layer 1 as above, then
        z^{(l+1)} = ξ z^{(l)} + γ (b^{(l+1)} + W^{(l+1)} σ(z^{(l)})) with equal widths; the NTK follows
        Ĥ' = ξ²Ĥ + ξγ(Ĥ D_{a2} Wᵀ + W D_{a1} Ĥ) + γ²(W D_{a1} Ĥ D_{a2} Wᵀ + Φ I).  ``vertex`` then
        estimates n·Cov(z_i z_i, z_j z_j)/n (the residual four-point function, not a variance of Ĝ).
        Not combined with ``ntk_fluctuations`` or ``dntk``.  ξ ≥ 0, γ > 0.

    Returns
    -------
    MonteCarloResult
        See its docstring for exactly what each field estimates and its bias.

    Raises
    ------
    ValueError
        Bad input (shape, non-finite values, non-positive widths, negative
        variances or learning rates, fewer than 2 networks, N_D > 8 with
        ``vertex=True``, N_D > 3 with ``ntk_fluctuations`` or ``dntk``, ``dntk=True``
        without σ'') or a network whose activity becomes non-finite (the
        message names the layer).

    Notes
    -----
    Cost per network is O(Σ_l n_l n_{l-1}) for sampling and the forward pass, plus
    O(N_D² Σ_{l≥3} n_l n_{l-1}²) for the NTK (the full NTK matrix is propagated
    forward, H^{(l+1)}_{a1a2} = W D_{a1} H^{(l)}_{a1a2} D_{a2} Wᵀ + Φ^{(l+1)}_{a1a2} I with
    D_a = diag σ'(z^{(l)}_a) and Φ^{(l+1)}_{a1a2} = λ_b + (λ_W/n_l) Σ_j σ_{j;a1} σ_{j;a2};
    only its diagonal is needed at the last layer, and H^{(1)} = Φ^{(1)} I).  In practice
    the NTK of layers ≥ 3 dominates: about 30 ms per network at n = 256, N_D = 3, L = 4
    on two cores.  ``dntk=True`` adds O(dntk_neurons · N_D³ Σ_{t≤L} Σ_{l≤t} n_l n_{l-1}²)
    (one forward-mode pass through layers 1..t per target layer t, i0 and a0).  Memory for the reduction is independent of ``networks``: per-network
    statistics are merged blockwise (Chan et al. co-moment update).

    Examples
    --------
    >>> import numpy as np
    >>> res = sample(np.tanh, np.array([[1.0, -0.5]]), depth=2, width=8, networks=50, seed=0)
    >>> res.metric.shape, res.vertex.shape, res.ntk is None
    ((2, 1, 1), (2, 1, 1, 1, 1), True)
    """
    # ---- validation ------------------------------------------------------------
    if not _is_int(depth) or depth < 1:
        raise ValueError(f"depth must be an integer >= 1, got {depth!r}.")
    depth = int(depth)
    try:
        X = np.array(X, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError("X must be a real array of shape (N_D, n_0).") from None
    if X.ndim != 2 or X.shape[0] < 1 or X.shape[1] < 1:
        raise ValueError(f"X must be a non-empty 2-D array of shape (N_D, n_0), got shape {X.shape}.")
    if not np.isfinite(X).all():
        raise ValueError("X contains NaN or infinite values.")
    nd, n0 = X.shape
    widths = _per_layer("width", width, depth, integer=True)
    cb = _per_layer("C_b", C_b, depth, integer=False)
    cw = _per_layer("C_W", C_W, depth, integer=False)
    if not _is_int(networks) or networks < 2:
        raise ValueError(f"networks must be an integer >= 2 (standard errors need two), got {networks!r}.")
    networks = int(networks)
    for name, v in (("ntk_fluctuations", ntk_fluctuations), ("dntk", dntk)):
        if not isinstance(v, (bool, np.bool_)):
            raise ValueError(f"{name} must be True or False, got {v!r}.")
    fluct, dntk = bool(ntk_fluctuations), bool(dntk)
    if (fluct or dntk) and nd > MAX_NTK_STATISTICS_INPUTS:
        raise ValueError(f"the NTK fluctuation and dNTK statistics need N_D**4 arrays of full NTK matrices and "
                         f"are supported only for N_D <= {MAX_NTK_STATISTICS_INPUTS} inputs, got N_D = {nd}; "
                         "pass ntk_fluctuations=False, dntk=False.")
    if not _is_int(dntk_neurons) or dntk_neurons < 1:
        raise ValueError(f"dntk_neurons must be an integer >= 1, got {dntk_neurons!r}.")
    want_ntk = lambda_b is not None or lambda_W is not None or fluct or dntk
    lambda_b, lambda_W = learning_rates(C_b, C_W, lambda_b, lambda_W)
    lb = _per_layer("lambda_b", lambda_b, depth, integer=False) if want_ntk else None
    lw = _per_layer("lambda_W", lambda_W, depth, integer=False) if want_ntk else None
    if not isinstance(vertex, (bool, np.bool_)):
        raise ValueError(f"vertex must be True or False, got {vertex!r}.")
    vertex = bool(vertex)
    if vertex and nd > MAX_VERTEX_INPUTS:
        raise ValueError(f"the vertex needs N_D**4 arrays and is supported only for N_D <= "
                         f"{MAX_VERTEX_INPUTS} inputs, got N_D = {nd}; pass vertex=False.")
    if chunk is not None and (not _is_int(chunk) or chunk < 1):
        raise ValueError(f"chunk must be None or an integer >= 1, got {chunk!r}.")
    if seed is not None and (not _is_int(seed) or seed < 0):
        raise ValueError(f"seed must be None or a non-negative integer, got {seed!r}.")
    residual = xi is not None
    if residual:
        for name, v in (("xi", xi), ("gamma", gamma)):
            if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) \
                    or not math.isfinite(v):
                raise ValueError(f"{name} must be a finite real number, got {v!r}.")
        if xi < 0 or gamma <= 0:
            raise ValueError(f"a residual network needs xi >= 0 and gamma > 0, got xi={xi!r}, gamma={gamma!r}.")
        if len(set(widths)) != 1:
            raise ValueError(f"a residual network needs equal widths, got {widths}.")
        if fluct or dntk:
            raise ValueError("ntk_fluctuations and dntk are not available for residual networks.")
        xi, gamma = float(xi), float(gamma)
    if dntk:
        f, df, d2f = _resolve_activation(sigma, dsigma, True, d2sigma, True)
    else:
        f, df = _resolve_activation(sigma, dsigma, want_ntk)

    # ---- layout --------------------------------------------------------------------
    root = np.random.SeedSequence(seed)
    idx = _Indices(nd)
    fan_in = (n0,) + widths[:-1]
    offsets, off = [], 0
    for l in range(depth):
        w_off = off
        off += widths[l] * fan_in[l]
        offsets.append((w_off, off))
        off += widths[l]
    n_params = off
    w_std = [math.sqrt(cw[l] / fan_in[l]) for l in range(depth)]
    b_std = [math.sqrt(cb[l]) for l in range(depth)]
    if chunk is None:
        chunk = _auto_chunk(nd, n0, widths, n_params, idx, vertex, want_ntk, networks, fluct,
                            nd * min(int(dntk_neurons), max(widths)) if dntk else 0,
                            residual and want_ntk)
    chunk = min(int(chunk), networks)

    # features per (network, layer): [m | S | P | h | hq]
    npair, ntri = idx.np, idx.nt
    sl_m = slice(0, npair)
    sl_S = sl_P = sl_h = sl_q = None
    d = npair
    specs = {"mm": (sl_m, sl_m, "full")}
    if vertex:
        sl_S = slice(d, d + ntri)
        sl_P = slice(d + ntri, d + 2 * ntri)
        d += 2 * ntri
        specs.update(SS=(sl_S, sl_S, "diag"), Sm=(sl_S, sl_m, "full"),
                     PP=(sl_P, sl_P, "diag"), Pm=(sl_P, sl_m, "full"))
    if want_ntk:
        sl_h = slice(d, d + npair)
        sl_q = slice(d + npair, d + 2 * npair)
        d += 2 * npair
        specs.update(hh=(sl_h, sl_h, "diag"), qq=(sl_q, sl_q, "diag"), qh=(sl_q, sl_h, "diag"))
    fl_lay = dn_lay = None
    if fluct:
        fl_lay = ntk_statistics.FluctuationLayout(idx, d, sl_m, sl_h)
        d = fl_lay.stop
        specs.update(fl_lay.specs)
    if dntk:
        dn_lay = ntk_statistics.DntkLayout(idx, d)
        d = dn_lay.stop
        specs.update(dn_lay.specs)
    keep_full = fluct or dntk
    acc = _Accumulator(specs)
    pending: list[np.ndarray] = []
    n_pending = 0

    pa, pb = idx.pa, idx.pb
    if want_ntk:
        phi1 = lb[0] + lw[0] / n0 * (X @ X.T)[pa, pb]            # (np,), deterministic

    # ---- main loop over chunks -------------------------------------------------------
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        for start in range(0, networks, chunk):
            c = min(chunk, networks - start)
            buf = np.empty((c, n_params))
            for j in range(c):
                gen = np.random.Generator(np.random.PCG64(_network_seed(root, start + j)))
                gen.standard_normal(out=buf[j])
            Ws, bs = [], []
            for l in range(depth):
                w0, w1 = offsets[l]
                buf[:, w0:w1] *= w_std[l]
                buf[:, w1:w1 + widths[l]] *= b_std[l]
                Ws.append(buf[:, w0:w1].reshape(c, widths[l], fan_in[l]))
                bs.append(buf[:, w1:w1 + widths[l]])

            feats = np.zeros((c, depth, d))
            H = None            # full NTK matrices of the previous layer, (c, np, n, n)
            z_prev = None
            zs, Hs = [], []     # every layer's z and full NTK (dNTK only)
            for l in range(depth):
                W, n_l = Ws[l], widths[l]
                if l == 0:
                    z = np.matmul(X, W.transpose(0, 2, 1))
                else:
                    s_prev = f(z_prev)
                    _check_finite(s_prev, l, start, "sigma of the preactivations")
                    z = np.matmul(s_prev, W.transpose(0, 2, 1))
                z += bs[l][:, None, :]
                if residual and l > 0:
                    z *= gamma
                    z += xi * z_prev
                _check_finite(z, l + 1, start, "preactivations")

                # metric and four-point features
                A = z[:, pa, :] * z[:, pb, :]                      # (c, np, n_l)
                m = A.sum(axis=-1) / n_l
                feats[:, l, sl_m] = m
                if vertex:
                    S = np.matmul(A, A.transpose(0, 2, 1))[:, idx.tp, idx.tq] / n_l
                    feats[:, l, sl_S] = S
                    if n_l >= 2:
                        feats[:, l, sl_P] = (n_l * m[:, idx.tp] * m[:, idx.tq] - S) / (n_l - 1)

                # NTK
                if want_ntk:
                    if l == 0:
                        h_diag = np.broadcast_to(phi1[None, :, None], (c, npair, n_l))
                    else:
                        s_prev_p = s_prev[:, pa, :] * s_prev[:, pb, :]            # (c, np, n_{l-1})
                        phi = lb[l] + lw[l] / fan_in[l] * s_prev_p.sum(axis=-1)  # (c, np)
                        ds = df(z_prev)
                        _check_finite(ds, l, start, "dsigma of the preactivations")
                        dd = ds[:, pa, :] * ds[:, pb, :]                          # (c, np, n_{l-1})
                        if residual:
                            H, h_diag = _residual_ntk_step(H, phi1, phi, W, ds, idx, xi, gamma, l, n_l)
                        else:
                            H, h_diag = _ntk_step(H, phi1, phi, W, ds, dd, idx, l, l + 1 < depth or keep_full)
                        _check_finite(h_diag, l + 1, start, "NTK")
                    feats[:, l, sl_h] = h_diag.sum(axis=-1) / n_l
                    feats[:, l, sl_q] = (h_diag * h_diag).sum(axis=-1) / n_l
                    if fluct and l >= 1:
                        feats[:, l, fl_lay.PH.start:fl_lay.stop] = ntk_statistics.fluctuation_features(z, H, idx)
                    if dntk:
                        zs.append(z)
                        Hs.append(H if l >= 1 else None)
                z_prev = z
            if dntk:
                feats[:, :, dn_lay.P.start:dn_lay.stop] = ntk_statistics.dntk_features(
                    X, Ws, zs, Hs, f, df, d2f, lb, lw, idx, int(dntk_neurons))
                del zs, Hs
            _check_finite(feats, None, start, "four-point and NTK statistics")

            pending.append(feats)
            n_pending += c
            while n_pending >= _BLOCK or (start + c == networks and n_pending > 0):
                allp = np.concatenate(pending, axis=0) if len(pending) > 1 else pending[0]
                take = min(_BLOCK, n_pending)
                acc.update(allp[:take])
                rest = allp[take:]
                pending = [rest] if len(rest) else []
                n_pending = len(rest)
            if progress:
                done = start + c
                print(f"\rmontecarlo: {done}/{networks} networks", end="" if done < networks else "\n",
                      file=sys.stderr, flush=True)

    res = _finalise(acc, idx, vertex, want_ntk, widths, networks, root, depth, n0, cb, cw, lb, lw,
                    sl_m, sl_S, sl_P, sl_h, sl_q, fl_lay, dn_lay)
    return replace(res, xi=xi, gamma=float(gamma)) if residual else res


def _ntk_step(H, phi1, phi, W, ds, dd, idx: _Indices, l: int, need_full: bool):
    """Full NTK matrices of layer l+1 from those of layer l (None for l = 1: Ĥ^{(1)} = Φ^{(1)} I) and
    their diagonal: Ĥ' = W D_{a1} Ĥ D_{a2} Wᵀ + Φ I (module docstring).  Returns (Ĥ' or None when
    ``need_full`` is False, its diagonal)."""
    pa, pb = idx.pa, idx.pb
    if l == 1:      # H^{(1)} = phi1 · I
        h_diag = (phi1[None, :, None] * np.matmul(dd, (W * W).transpose(0, 2, 1))
                  + phi[:, :, None])
        if need_full:
            WD = W[:, None, :, :] * dd[:, :, None, :]            # (c, np, n_l, n_{l-1})
            Hn = np.matmul(WD, W[:, None].transpose(0, 1, 3, 2))
            Hn *= phi1[None, :, None, None]
    else:
        Ad = ds[:, pa, :, None] * H * ds[:, pb, None, :]          # D_a H D_b
        WA = np.matmul(W[:, None], Ad)                            # (c, np, n_l, n_{l-1})
        h_diag = np.einsum("cpij,cij->cpi", WA, W) + phi[:, :, None]
        if need_full:
            Hn = np.matmul(WA, W[:, None].transpose(0, 1, 3, 2))
        del Ad, WA
    if not need_full:
        return None, h_diag
    diag = np.arange(Hn.shape[-1])
    Hn[:, :, diag, diag] += phi[:, :, None]
    return Hn, h_diag


def _residual_ntk_step(H, phi1, phi, W, ds, idx: _Indices, xi: float, gamma: float, l: int, n: int):
    """Full NTK matrices of layer l+1 of a residual MLP from those of layer l (THEORY-NTK.md §5):
    Ĥ' = ξ²Ĥ + ξγ(Ĥ D_{a2} Wᵀ + W D_{a1} Ĥ) + γ²(W D_{a1} Ĥ D_{a2} Wᵀ + Φ I), D_a = diag σ'(z_a),
    with Ĥ^{(1)} = Φ^{(1)} I.  Returns (Ĥ', its diagonal)."""
    c = W.shape[0]
    eye = np.eye(n)
    if l == 1:
        H = phi1[None, :, None, None] * np.broadcast_to(eye, (c, len(phi1), n, n))
    da, db = ds[:, idx.pa, None, :], ds[:, idx.pb, None, :]       # (c, np, 1, n) column scalings
    WDa = W[:, None] * da                                           # W D_{a1}
    HDbWt = np.matmul(H * db, W[:, None].transpose(0, 1, 3, 2))   # Ĥ D_{a2} Wᵀ
    Hn = (xi * xi) * H + (xi * gamma) * (HDbWt + np.matmul(WDa, H))
    Hn += (gamma * gamma) * np.matmul(WDa, HDbWt)
    diag = np.arange(n)
    Hn[:, :, diag, diag] += (gamma * gamma) * phi[:, :, None]
    return Hn, Hn[:, :, diag, diag].copy()


def _check_finite(a: np.ndarray, layer: int | None, start: int, what: str) -> None:
    if np.isfinite(a).all():
        return
    bad = ~np.isfinite(a.reshape(a.shape[0], -1)).all(axis=1)
    k = start + int(np.argmax(bad))
    if layer is None:
        # features: (c, L, d) — locate the first bad layer
        per_layer = ~np.isfinite(a).all(axis=(0, 2))
        layer = int(np.argmax(per_layer)) + 1
    raise ValueError(f"non-finite {what} at layer {layer} (network {k}): the network exploded; "
                     "reduce C_W, C_b, the depth or the input scale.")


# ----------------------------------------------------------------------------------
# estimators
# ----------------------------------------------------------------------------------
def _readonly(a):
    if a is not None:
        a.setflags(write=False)
    return a


def _finalise(acc: _Accumulator, idx: _Indices, vertex: bool, want_ntk: bool, widths, M: int, root,
              depth, n0, cb, cw, lb, lw, sl_m, sl_S, sl_P, sl_h, sl_q, fl_lay=None,
              dn_lay=None) -> MonteCarloResult:
    mean = acc.mean                                   # (L, d)
    Cmm = acc.cov("mm")                               # (L, np, np)
    Cmm = 0.5 * (Cmm + np.swapaxes(Cmm, 1, 2))        # exactly symmetric (rounding)
    mbar = mean[:, sl_m]                              # (L, np)
    var_m = np.diagonal(Cmm, axis1=1, axis2=2)
    metric = idx.full2(mbar)
    metric_se = idx.full2(np.sqrt(np.maximum(var_m, 0.0) / M))

    # unbiased estimate of G_p G_q:  m̄_p m̄_q − Ĉov(m_p, m_q)/M
    GG = mbar[:, :, None] * mbar[:, None, :] - Cmm / M          # (L, np, np)

    vtx = vtx_se = same = same_se = None
    if vertex:
        nd = idx.nd
        a1, a2, a3, a4 = (g.ravel() for g in np.indices((nd,) * 4))
        p12, p34 = idx.pair[a1, a2], idx.pair[a3, a4]
        t = idx.tri[p12, p34]
        L = depth
        lay = np.arange(L)[:, None]

        # distinct neurons: θ = E[P] − G12 G34,  ψ = P − G34 m12 − G12 m34
        Pbar = mean[:, sl_P][:, t]
        vtx = Pbar - GG[:, p12, p34]
        Cpm = acc.cov("Pm")                                      # (L, nt, np)
        varP = acc.cov("PP")[:, t]
        g12, g34 = mbar[:, p12], mbar[:, p34]
        var_psi = (varP + g34 ** 2 * var_m[:, p12] + g12 ** 2 * var_m[:, p34]
                   + 2 * g12 * g34 * Cmm[lay, p12, p34]
                   - 2 * g34 * Cpm[lay, t, p12] - 2 * g12 * Cpm[lay, t, p34])
        vtx_se = np.sqrt(np.maximum(var_psi, 0.0) / M)
        for l in range(L):
            if widths[l] < 2:
                vtx[l] = np.nan
                vtx_se[l] = np.nan

        # same neuron: κ4/3 with κ4 = E[S] − Σ_pairings G G,  ψ = S − Σ (G_y m_x + G_x m_y).
        # Evaluated at the sorted index tuple, so the result is exactly fully symmetric.
        a1, a2, a3, a4 = np.sort(np.stack([a1, a2, a3, a4]), axis=0)
        p12, p34 = idx.pair[a1, a2], idx.pair[a3, a4]
        t = idx.tri[p12, p34]
        p13, p24 = idx.pair[a1, a3], idx.pair[a2, a4]
        p14, p23 = idx.pair[a1, a4], idx.pair[a2, a3]
        Sbar = mean[:, sl_S][:, t]
        kappa = Sbar - GG[:, p12, p34] - GG[:, p13, p24] - GG[:, p14, p23]
        same = kappa / 3.0
        r = np.stack([p12, p34, p13, p24, p14, p23], axis=-1)                 # (nd⁴, 6)
        partner = np.stack([p34, p12, p24, p13, p23, p14], axis=-1)
        coef = mbar[:, partner]                                               # (L, nd⁴, 6)
        Csm = acc.cov("Sm")                                                   # (L, nt, np)
        varS = acc.cov("SS")[:, t]
        cross = np.einsum("lku,lku->lk", coef, Csm[lay[:, :, None], t[None, :, None], r[None]])
        quad = np.einsum("lku,lkuv,lkv->lk", coef,
                         Cmm[lay[:, :, None, None], r[None, :, :, None], r[None, :, None, :]], coef)
        var_psi_s = varS - 2 * cross + quad
        same_se = np.sqrt(np.maximum(var_psi_s, 0.0) / M) / 3.0

        shape = (L, nd, nd, nd, nd)
        vtx, vtx_se, same, same_se = (a.reshape(shape) for a in (vtx, vtx_se, same, same_se))

    ntk = ntk_se = ntk_var = ntk_var_se = None
    if want_ntk:
        hbar, qbar = mean[:, sl_h], mean[:, sl_q]
        var_h, var_q, cov_qh = acc.cov("hh"), acc.cov("qq"), acc.cov("qh")
        ntk = idx.full2(hbar)
        ntk_se = idx.full2(np.sqrt(np.maximum(var_h, 0.0) / M))
        # Var(H_ii) = E[q] − E[h]²,  unbiased: q̄ − (h̄² − Ĉov(h,h)/M);  ψ = q − 2 h̄ h
        ntk_var = idx.full2(qbar - hbar ** 2 + var_h / M)
        var_psi = var_q - 4 * hbar * cov_qh + 4 * hbar ** 2 * var_h
        ntk_var_se = idx.full2(np.sqrt(np.maximum(var_psi, 0.0) / M))

    arrays = [_readonly(np.ascontiguousarray(a)) if a is not None else None
              for a in (metric, metric_se, vtx, vtx_se, same, same_se, ntk, ntk_se, ntk_var, ntk_var_se)]
    extra = {}
    if fl_lay is not None:
        names = ("A", "A_se", "B", "B_se", "D", "D_se", "F", "F_se")
        values = ntk_statistics.finalise_fluctuations(acc, idx, fl_lay, sl_m, sl_h, widths, M)
        extra.update(zip(names, values))
    if dn_lay is not None:
        extra.update(zip(("P", "P_se", "Q", "Q_se"), ntk_statistics.finalise_dntk(acc, idx, dn_lay, widths, M)))
    extra = {k: _readonly(np.ascontiguousarray(v)) for k, v in extra.items()}
    return MonteCarloResult(*arrays, networks=M, seed=int(root.entropy), widths=tuple(widths), depth=depth,
                            n0=n0, C_b=cb, C_W=cw, lambda_b=lb, lambda_W=lw, **extra)
