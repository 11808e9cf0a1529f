"""The trained ensemble at order 1/n: ``training.predict`` (issue #15 item 2).

Stage *training, prediction*: activation, data, depth, widths, hyperparameters → :class:`TrainedPrediction`,
the ensemble mean and covariance of one-output MLPs trained by full-batch gradient descent on
½Σ_A (z(x_A) − y_A)² with PDLT's learning-rate tensor (η λ_b per bias, η λ_W/n_{ℓ−1} per weight), to
order 1/n (n = n_{L−1}, the width feeding the output; docs/training.md):

    E[z_T(x)]   = m_∞ + (δm_frozen + δm_dyn)/n + O(1/n²),
    Cov[z_T(x)] = Σ_∞ + (δΣ_frozen + δΣ_dyn)/n + O(1/n²).

* m_∞, Σ_∞ — the infinite-width ensemble (PDLT §10.2; :mod:`~rgflow.training.infinite`);
* δ·_frozen — the NTK's mean shift H1, fluctuations A, B, its correlation with the initial function
  D, F and the metric correction G1, kernel regression with the NTK frozen at initialisation
  (:func:`~rgflow.training.frozen.frozen_ntk_prediction`);
* δ·_dyn — the NTK's motion during training: the first-order dynamics of the function, the NTK and the
  second derivative Ξ = ∂²z[v, v] (v = λ∇z) with the dNTK–preactivation correlations P, Q and the
  ddNTK means R, S, T, U (:func:`~rgflow.training.dynamics.dynamical_correction`).

Every statistic comes from one compiled flow (:data:`FAMILY`) at the output layer.  Per-layer widths:
``width`` is n or the hidden widths n_1..n_{L−1}; each order-1/n tensor of layer ℓ carries 1/n_{ℓ−1}
and its recursion the ratios r = n_ℓ/n_{ℓ−1}, so the corrections are per n = n_{L−1}.

The expansion assumes σ is smooth on the scale of the training displacement of the preactivations;
σ kinked at z = 0 (ReLU, leaky ReLU) leave it at every width (docs/training.md, "ReLU"), so
``predict`` refuses them unless ``allow_kinked=True``, which returns the numbers flagged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from derive.errors import RGFlowError

from .dynamics import dynamical_correction
from .frozen import frozen_ntk_prediction
from .infinite import infinite_width_prediction

__all__ = ["TrainedPrediction", "predict", "FAMILY", "dynamics_tensors"]

#: The compiled statistics the prediction reads (output layer).
FAMILY = ("K", "H", "G1", "A", "B", "D", "F", "H1", "P", "Q", "ddR", "ddS", "ddT", "ddU")


@dataclass(frozen=True)
class TrainedPrediction:
    """The trained ensemble on the test inputs to order 1/n (module docstring): ``mean_infinite``
    (N_test,), ``mean_correction`` (N_test,), ``covariance_infinite`` and ``covariance_correction``
    (N_test, N_test), with their frozen-NTK and dynamical parts; ``width`` the reference width n = n_{L−1};
    ``outside_theory`` is True for σ kinked at z = 0 (only with ``allow_kinked``)."""

    activation: str
    depth: int
    width: int
    steps: int | None
    eta: float
    mean_infinite: np.ndarray
    mean_correction: np.ndarray
    covariance_infinite: np.ndarray
    covariance_correction: np.ndarray
    mean_frozen: np.ndarray
    mean_dynamical: np.ndarray
    covariance_frozen: np.ndarray
    covariance_dynamical: np.ndarray
    outside_theory: bool = False

    def mean_at(self, n: float | None = None) -> np.ndarray:
        """m_∞ + mean_correction/n at the width n (default: the width asked for)."""
        return self.mean_infinite + self.mean_correction / (self.width if n is None else n)

    def covariance_at(self, n: float | None = None) -> np.ndarray:
        """Σ_∞ + covariance_correction/n at the width n (default: the width asked for)."""
        return self.covariance_infinite + self.covariance_correction / (self.width if n is None else n)

    def to_text(self) -> str:
        """A plain-text report: per test input the infinite-width mean, the 1/n coefficient and its two
        parts, the mean at the width; then the covariances."""
        steps = "convergence" if self.steps is None else f"{self.steps} steps"
        lines = [f"{self.activation}, depth {self.depth}, width n = {self.width}: gradient descent to {steps} "
                 f"(eta = {self.eta:.6g})",
                 "test  mean_inf      1/n coef     (frozen      dynamical)   mean at n    sd_inf     sd at n"]
        for j in range(len(self.mean_infinite)):
            var_n = self.covariance_at()[j, j]
            lines.append(f"{j:<5d} {self.mean_infinite[j]:<13.6g} {self.mean_correction[j]:<12.6g} "
                         f"({self.mean_frozen[j]:<11.6g} {self.mean_dynamical[j]:<11.6g}) "
                         f"{self.mean_at()[j]:<12.6g} {np.sqrt(max(self.covariance_infinite[j, j], 0.0)):<10.4g} "
                         f"{np.sqrt(max(var_n, 0.0)):.4g}")
        lines.append("covariance_infinite:")
        lines += ["  " + " ".join(f"{v:12.6g}" for v in row) for row in self.covariance_infinite]
        lines.append("covariance_correction (x 1/n):")
        lines += ["  " + " ".join(f"{v:12.6g}" for v in row) for row in self.covariance_correction]
        if self.outside_theory:
            lines.append("warning: the activation is kinked at z = 0; trained ensembles of such networks approach "
                         "the infinite-width one roughly as n^(-1/2), not 1/n (docs/training.md), so these "
                         "corrections are not the finite-width answer")
        return "\n".join(lines) + "\n"

    def to_latex(self) -> str:
        """The formula used, as LaTeX (an ``align`` environment)."""
        horizon = r"\infty" if self.steps is None else str(self.steps)
        return LATEX.replace("<T>", horizon)


#: The formula of the module docstring; <T> is replaced by the number of steps (∞: convergence).
LATEX = r"""\begin{align}
\mathbb{E}\big[z_T(x)\big] &= m_T(x) + \frac{1}{n}\Big\{\mathcal{D}M_T[H^{\{1\}}]\,y
  + \tfrac12\textstyle\sum_{pq} C_{pq}\,\mathcal{D}^2M_T[e_p,e_q]\,y + \delta m^{\mathrm{dyn}}_T(x)\Big\}
  + O\!\left(\frac{1}{n^2}\right),\qquad T = <T>,\\
m_T &= \Theta_{x\mathcal{D}}\,\Theta_{\mathcal{D}\mathcal{D}}^{-1}\big(1 - (1-\eta\Theta_{\mathcal{D}\mathcal{D}})^T\big)\,y
  \equiv M_T(\Theta)\,y,\qquad \Theta = H^{(L)},\qquad
  C_{(ab)(cd)} = A_{(ab)(cd)} + B_{acbd} + B_{adbc},\\
\delta m^{\mathrm{dyn}}_T &= n\,\mathbb{E}\big[\delta z_T\big],\quad
\delta z_{t+1} = \delta z_t - \eta\,\Theta_{:\mathcal{D}}\,\delta\epsilon_t - \eta\,\delta H_t\,\epsilon_t
  + \tfrac{\eta^2}{2}\,\Xi_t[\epsilon_t,\epsilon_t] - \tfrac{\eta^3}{6}\,\Psi[\epsilon_t,\epsilon_t,\epsilon_t],\\
\delta H_{t+1,ab} &= \delta H_{t,ab} - \eta\sum_c\big(\Xi_{t,a;cb}+\Xi_{t,b;ca}\big)\epsilon_{t,c}
  + \tfrac{\eta^2}{2}\sum_{cd}\big(\Psi_{a;bcd}+\Psi_{b;acd}+\Omega_{ab;dc}+\Omega_{ab;cd}\big)\epsilon_{t,c}\epsilon_{t,d},\\
\Xi_{t+1,a;bc} &= \Xi_{t,a;bc} - \eta\sum_d\big(\Psi_{a;bcd}+\Omega_{ab;cd}+\Omega_{ac;bd}\big)\epsilon_{t,d},
  \qquad \epsilon_t = (1-\eta\Theta_{\mathcal{D}\mathcal{D}})^t\big(z_{0,\mathcal{D}}-y\big),\\
n\,\mathbb{E}\big[\Xi_{0,a;bc}\,z_{0,e}\big] &= \tfrac12\big(E_{bace}+E_{cabe}-E_{abce}\big),\quad
  E_{abce} = P_{abce}+P_{acbe}+Q_{abce},\\
n\,\mathbb{E}\big[\Psi_{a;bcd}\big] &= R_{abcd}+R_{acbd}+R_{adbc},\qquad
n\,\mathbb{E}\big[\Omega_{ab;cd}\big] = S_{abcd}+T_{abcd}+U_{abcd},
\end{align}
with $z_0\sim\mathcal{N}(0,K^{(L)})$, $\Xi_0$ correlated with $z_0$ as stated, and the covariance likewise
(the frozen part with $G^{\{1\}}$, $D$, $F$; the dynamical part $n\,\mathrm{Cov}(\delta z_T, z^{(0)}_T) + \mathrm{h.c.}$);
all tensors at the output layer $L$, $n = n_{L-1}$."""


def dynamics_tensors(P, Q, R, S, T, U) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The single-output tensors the dynamics reads, from the compiled neuron-structure tensors:
    X_{abce} = n κ(Ξ_{a;bc}, z_e) = ½(E_{bace} + E_{cabe} − E_{abce}) with E_{abce} = n E[dĤ_{a;bc} z_e] =
    P_{abce} + P_{acbe} + Q_{abce} (THEORY-NTK.md §1, all neurons equal; Ξ_{0;12} = ½(dĤ_{1;02} + dĤ_{2;01}
    − dĤ_{0;12})); ψ_{abcd} = n E[Ψ_{a;bcd}] = R_{abcd} + R_{acbd} + R_{adbc}; ω = n E[Ω_{ab;cd}] = S + T + U."""
    P, Q, R, S, T, U = (np.asarray(v, dtype=float) for v in (P, Q, R, S, T, U))
    E = P + np.einsum("acbe->abce", P) + Q
    X = 0.5 * (np.einsum("bace->abce", E) + np.einsum("cabe->abce", E) - E)
    psi = R + np.einsum("acbd->abcd", R) + np.einsum("adbc->abcd", R)
    return X, psi, S + T + U


def _hidden_widths(width, depth: int) -> tuple[int, ...]:
    widths = (width,) * (depth - 1) if np.ndim(width) == 0 else tuple(width)
    try:
        widths = tuple(int(w) for w in widths)
    except (TypeError, ValueError):
        raise RGFlowError(f"width must be an integer or {depth - 1} integers (n_1..n_(L-1)), got {width!r}") from None
    if len(widths) != depth - 1 or min(widths, default=1) < 1:
        raise RGFlowError(f"width must be a positive integer or {depth - 1} positive integers (n_1..n_(L-1)), "
                          f"got {width!r}")
    return widths


def predict(act, X_train, y_train, X_test, depth: int, width, C_b: float, C_W: float,
            lambda_b: float | None = None, lambda_W: float | None = None, eta: float | None = None,
            steps: int | None = None, allow_kinked: bool = False, progress=None) -> TrainedPrediction:
    """The trained ensemble of the module docstring on ``X_test``.

    Parameters
    ----------
    act : Activation or str
    X_train, y_train, X_test : arrays (N_train, n_0), (N_train,), (N_test, n_0)
    depth : int
        L ≥ 2 (one output neuron; a network without hidden layer has no 1/n).
    width : int or sequence of L−1 ints
        The hidden widths; the corrections are per n = n_{L−1}.
    C_b, C_W, lambda_b, lambda_W : float
        Initialisation variances and learning rates (λ default to C, neural-tangents' convention).
    eta : float or None
        Learning rate; None: 0.5/λ_max(Θ_DD).  Must lie in (0, 2/λ_max).
    steps : int or None
        Gradient-descent steps; None: trained to convergence.
    allow_kinked : bool
        Return (flagged) numbers for σ kinked at z = 0 instead of refusing.
    """
    import codegen
    from derive import activation, flow
    from derive.activations import Activation, kinked_at_zero
    act = act if isinstance(act, Activation) else activation(act)
    try:
        kinked = kinked_at_zero(act)
    except RGFlowError:
        kinked = True
    if kinked and not allow_kinked:
        raise RGFlowError(f"{act.name} is kinked: the order-1/n theory of trained networks does not apply "
                          "(its trained ensembles approach infinite width like n^(-1/2); docs/training.md); "
                          "pass allow_kinked=True (--allow-kinked) for the flagged numbers")
    if isinstance(depth, bool) or not isinstance(depth, (int, np.integer)) or depth < 2:
        raise RGFlowError(f"depth must be an integer >= 2, got {depth!r}")
    hidden = _hidden_widths(width, depth)
    X_train, X_test = np.atleast_2d(np.asarray(X_train, float)), np.atleast_2d(np.asarray(X_test, float))
    y = np.asarray(y_train, float).reshape(-1)
    if X_train.shape[0] != len(y) or X_train.shape[1] != X_test.shape[1] or not len(y) or not len(X_test):
        raise RGFlowError("need X_train (N_train, n_0), y_train (N_train,) and X_test (N_test, n_0), N's >= 1")
    if not (np.isfinite(X_train).all() and np.isfinite(X_test).all() and np.isfinite(y).all()):
        raise RGFlowError("the inputs and targets must be finite")
    if steps is not None and (isinstance(steps, bool) or int(steps) != steps or steps < 0):
        raise RGFlowError(f"steps must be a non-negative integer or None, got {steps!r}")
    lambda_b = C_b if lambda_b is None else lambda_b
    lambda_W = C_W if lambda_W is None else lambda_W
    n_train = len(y)
    res = codegen.compile(flow(act, FAMILY)).run(np.vstack([X_train, X_test]), depth=depth,
                                                 width=list(hidden) + [hidden[-1]], C_b=C_b, C_W=C_W,
                                                 lambda_b=lambda_b, lambda_W=lambda_W, keep="last",
                                                 progress=progress)
    S = {q: np.asarray(getattr(res, q)[depth]) for q in FAMILY}
    if eta is None:
        eta = 0.5 / np.linalg.eigvalsh(S["H"][:n_train, :n_train]).max()
    inf = infinite_width_prediction(S["K"], S["H"], y, n_train, eta, steps)
    fro = frozen_ntk_prediction(S["K"], S["H"], S["G1"], S["H1"], S["A"], S["B"], S["D"], S["F"], y, n_train,
                                eta, steps)
    X, psi, omega = dynamics_tensors(S["P"], S["Q"], S["ddR"], S["ddS"], S["ddT"], S["ddU"])
    dyn = dynamical_correction(S["K"], S["H"], X, psi, omega, y, n_train, eta, steps)
    return TrainedPrediction(act.name, depth, hidden[-1], steps, float(eta), inf.mean, fro.mean_correction
                             + dyn.mean_correction, inf.covariance,
                             fro.covariance_correction + dyn.covariance_correction, fro.mean_correction,
                             dyn.mean_correction, fro.covariance_correction, dyn.covariance_correction, kinked)
