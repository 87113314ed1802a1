r"""Emergence: predict a downstream metric through the loss, and see when "emergence" is a metric artefact.

Two-step prediction (:func:`two_step`)
    Step 1 fits a loss law :math:`\hat L(N, D; \theta_1)` to pretraining runs; step 2 fits a
    metric law of the loss, :math:`\hat m(L; \theta_2)` (default the sigmoid
    :math:`m = b + a / (1 + e^{-k (L - x_0)})`, raw target), to (loss, metric) pairs. The chained
    prediction is :math:`\hat m(\hat L(N, D; \theta_1); \theta_2)`. A joint bootstrap refits both
    steps on resample ``r`` of each data set (independent case resamples; or, with ``pair_on``,
    the same resampled models in both data sets) and propagates both uncertainties:
    :math:`m^*_r = \hat m(\hat L(N, D; \theta^*_{1r}); \theta^*_{2r})`.

The metric-artefact view (:func:`metric_artefact`; Schaeffer, Miranda & Koyejo 2023)
    With the per-token task loss taken as the reducible loss of the fit,
    :math:`\ell(N) = \hat L(N, D) - \hat L(\infty, \infty)`, the per-token probability of the right
    token is :math:`p = e^{-\ell}`. A smooth metric (``per_token = p``) improves gradually with
    scale; exact match over an answer of ``answer_tokens`` tokens, :math:`EM = p^{T} = e^{-T\ell}`,
    stays near 0 and then rises sharply: an apparent threshold :math:`N^*` where
    :math:`EM(N^*) = ` ``threshold`` that comes from the metric, not from the model. Both are
    computed from the same fit and its bootstrap draws, so :math:`N^*` gets an interval.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Mapping

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from ..engine import float64
from ..engine.cluster_resampling import cluster_counts
from ..engine.multistart import best_of_starts
from ..kernels.laws import LAWS, Law, product_grid
from .bootstrap import BootstrapResult, check_level
from .cluster import refuse_one_cluster
from .fit import FitResult, fit_problem
from .migration import legacy_options
from .options import Columns, Runner, as_columns, as_runner
from .search import Search, as_search
from .problem import input_arrays, prepare
from .prediction import quantile_pair


# ---------------------------------------------------------------------- a sigmoid metric law (fallback)
def _sigmoid_log_predict(theta, x):
    a, b, k, x0 = theta[0], theta[1], theta[2], theta[3]
    return b + a * jax.nn.sigmoid(k * (x[:, 0] - x0))


def _sigmoid_grid() -> np.ndarray:
    return product_grid(a=np.array([0.25, 0.5, 1.0]), b=np.array([0.0, 0.25]), k=np.array([-20.0, -8.0, -3.0, 3.0]),
                        x0=np.array([1.5, 2.0, 2.5, 3.0, 4.0]))


#: ``m = b + a / (1 + exp(-k (x - x0)))`` on a raw input (the loss) and a raw target (accuracy).
#: Used when no law named ``"sigmoid"`` is registered.
SIGMOID_FALLBACK = Law(name="sigmoid", inputs=("x",), param_names=("a", "b", "k", "x0"),
                       natural_names=("a", "b", "k", "x0"), log_predict=_sigmoid_log_predict,
                       log_scale=(False, False, False, False), grid=_sigmoid_grid, input_scale=("raw",),
                       target_scale="raw", description="m = b + a / (1 + exp(-k (x - x0))), x = loss")


def metric_law(law: str | Law | None = None) -> Law:
    """The step-2 law: ``law``, else the registered ``"sigmoid"``, else :data:`SIGMOID_FALLBACK`."""
    if law is None or (isinstance(law, str) and law == "sigmoid"):
        return LAWS.get("sigmoid", SIGMOID_FALLBACK)
    from ..kernels.laws import get_law

    return get_law(law)


# ---------------------------------------------------------------------- two-step prediction
@dataclass
class TwoStepResult:
    """Both fits and their joint bootstrap draws (row ``r`` of both arrays is one joint draw)."""

    loss_fit: FitResult
    metric_fit: FitResult
    loss_draws: np.ndarray  # (R, p1)
    metric_draws: np.ndarray  # (R, p2)
    recipe: dict

    def predict(self, N=None, D=None, level: float = 0.95, **inputs) -> pd.DataFrame:
        r"""Loss and chained metric at the inputs, each with a ``level`` percentile interval over the
        joint draws (intervals of the mean curves). ``metric_step2_low/high``: the interval with the loss
        held at its estimate, i.e. step 2's share of the uncertainty alone."""
        check_level(level)
        loss_law = self.loss_fit.law
        x, _ = input_arrays(loss_law.base, N, D, inputs)
        loss_est = loss_law.base.predict(loss_law.expand(self.loss_fit.theta), x)
        loss_draws = loss_law.base.predict(loss_law.expand(self.loss_draws), x)  # (R, m)
        m_est = self._metric(self.metric_fit.theta[None, :], loss_est[None, :])[0]
        m_joint = self._metric(self.metric_draws, loss_draws)
        m_step2 = self._metric(self.metric_draws, np.broadcast_to(loss_est, loss_draws.shape))
        q = quantile_pair(level)
        out = pd.DataFrame({name: x[:, j] for j, name in enumerate(loss_law.base.inputs)})
        out["loss"] = loss_est
        out["loss_low"], out["loss_high"] = np.nanquantile(loss_draws, q, axis=0)
        out["metric"] = m_est
        out["metric_low"], out["metric_high"] = np.nanquantile(m_joint, q, axis=0)
        out["metric_step2_low"], out["metric_step2_high"] = np.nanquantile(m_step2, q, axis=0)
        out.attrs.update(level=level, n_resamples=len(self.loss_draws))
        return out

    def _metric(self, thetas: np.ndarray, losses: np.ndarray) -> np.ndarray:
        """Metric law of draw ``r`` at loss values ``losses[r, m]`` (the law's features of the loss)."""
        law = self.metric_fit.law
        feats = np.stack([law.features(losses[r][:, None]) for r in range(losses.shape[0])])  # (R, m, 1)
        with float64():
            fn = jax.jit(jax.vmap(lambda t, f: law.log_predict(t, f)))
            z = fn(jnp.asarray(thetas), jnp.asarray(feats))  # the fitted law's own (free) parameters
            return np.asarray(law.untarget(z))


#: A sigmoid whose amplitude exceeds this multiple of the observed metric range is degenerate.
DEGENERATE_AMPLITUDE = 10.0


def step_notes(loss_fit: FitResult, metric_fit: FitResult, metric_values: np.ndarray) -> list[str]:
    """Why either step of :func:`two_step` cannot be trusted: each fit's notes (not converged, ...),
    and a degenerate sigmoid (asymptotes far outside the observed metric: no saturation in the data)."""
    said = [f"step 1 (loss law {loss_fit.law.name!r}): {n}" for n in loss_fit.notes()]
    said += [f"step 2 (metric law {metric_fit.law.name!r}): {n}" for n in metric_fit.notes()]
    params = metric_fit.params
    if {"a", "b"} <= set(params.index):
        span = float(np.ptp(metric_values)) if np.size(metric_values) else 0.0
        a, b = float(params["a"]), float(params["b"])
        if not np.isfinite(a) or abs(a) > DEGENERATE_AMPLITUDE * max(span, 1e-12):
            said.append(f"step 2 (metric law {metric_fit.law.name!r}): degenerate sigmoid, a = {a:.4g}, b = {b:.4g}: its "
                        f"asymptotes (b and a + b) lie far outside the observed metric range (span {span:.3g}), so the "
                        "data show no saturation and the curve is an exponential piece with arbitrary asymptotes; "
                        "consider metric='exponential_metric' (Gadre et al.: Err = eps - k exp(-gamma L))")
    return said


@legacy_options()
def two_step(loss_data, metric_data, *, loss_law: str | Law = "chinchilla", metric: str | Law | None = None,
             metric_col: str = "accuracy", loss_col: str = "loss", n_resamples: int = 200, seed: int = 0,
             loss_starts=None, metric_starts=None, pair_on: str | None = None, delta: float = 1e-3,
             metric_loss: str = "squared", columns: Columns | Mapping[str, str] | None = None,
             search: Search | None = None, runner: Runner | None = None) -> TwoStepResult:
    r"""Fit loss -> metric in two steps and bootstrap both jointly (see the module docstring).

    Parameters
    ----------
    loss_data : DataFrame with ``N``, ``D``, ``loss`` (step 1: Huber on log loss, ``delta``)
    metric_data : DataFrame with ``loss_col`` (the loss of each model) and ``metric_col`` (step 2;
        ``metric_loss`` ``"squared"`` by default, on the raw metric)
    metric : the step-2 law (default the sigmoid; see :func:`metric_law`)
    n_resamples, seed : joint draw ``r`` resamples the loss data with stream 1 and the metric data
        with stream 2 of ``fold_in(PRNGKey(seed), stream)``; with ``pair_on`` (a column in both data
        sets, e.g. the model name) the keys are resampled once (stream 0) and every row of a drawn
        key counts in both steps.
    loss_starts, metric_starts : starts of the full-data fits (default the laws' grids);
        resamples start from the full-data estimates.
    columns : Columns or dict, optional
        The loss data's columns (law inputs and the loss, as in :func:`jaxscale.fit`).
    search : Search, optional
        ``solver``, ``prune``, ``prune_iter``, ``polish`` of both full-data fits (their starts are
        ``loss_starts`` and ``metric_starts``).
    runner : Runner, optional
        ``n_lanes``, ``devices`` of the joint bootstrap.
    """
    m_law = metric_law(metric)
    if m_law.target_scale != "raw" or len(m_law.inputs) != 1:
        raise ValueError(f"the metric law must take one input (the loss) and a raw target; {m_law.name!r} has "
                         f"inputs {list(m_law.inputs)} and target_scale {m_law.target_scale!r}")
    R = int(n_resamples)
    if R < 2:
        raise ValueError(f"n_resamples must be >= 2, got {n_resamples}")
    columns, search, runner = as_columns(columns), as_search(search), as_runner(runner)
    loss_problem = prepare(loss_data, loss_law, "huber", delta, columns=columns, solver=search.solver)
    metric_problem = prepare(metric_data, m_law, metric_loss, delta, solver=search.solver,
                             columns=Columns(inputs={m_law.inputs[0]: loss_col}, y=metric_col))
    l_law, l_loss, solver, l_frame, l_x, l_y = (loss_problem.law, loss_problem.loss, loss_problem.solver,
                                                loss_problem.frame, loss_problem.log_x, loss_problem.log_y)
    m_law, m_loss, m_frame, m_x, m_y = (metric_problem.law, metric_problem.loss, metric_problem.frame,
                                        metric_problem.log_x, metric_problem.log_y)
    loss_fit = fit_problem(loss_problem, np.ones(len(l_y)), seed, search.replace(starts=loss_starts), Runner())
    metric_fit = fit_problem(metric_problem, np.ones(len(m_y)), seed, search.replace(starts=metric_starts), Runner())
    said = step_notes(loss_fit, metric_fit, m_y)
    if said:
        warnings.warn("two_step: " + "; ".join(said), UserWarning, stacklevel=2)
    if pair_on is not None:
        for name, frame in (("loss_data", l_frame), ("metric_data", m_frame)):
            if pair_on not in frame.columns:
                raise ValueError(f"pair_on={pair_on!r}: column not in {name}; give a key present in both data sets")
        keys, codes = np.unique(np.concatenate([l_frame[pair_on].to_numpy(), m_frame[pair_on].to_numpy()]),
                                return_inverse=True)
        if keys.size < 2:
            refuse_one_cluster(int(keys.size), f"pair_on={pair_on!r}", keys)
        counts = cluster_counts(seed, np.arange(R), codes, stream=0)
        l_counts, m_counts = counts[:, :len(l_frame)], counts[:, len(l_frame):]
    else:
        l_counts = cluster_counts(seed, np.arange(R), np.arange(len(l_frame)), stream=1)
        m_counts = cluster_counts(seed, np.arange(R), np.arange(len(m_frame)), stream=2)
    run = dict(polish_top=1, n_lanes=runner.n_lanes, devices=runner.devices)
    l_draws = best_of_starts(solver, l_law, l_loss, l_x, l_y, l_counts, loss_fit.theta[None, :], **run).theta
    m_draws = best_of_starts(solver, m_law, m_loss, m_x, m_y, m_counts, metric_fit.theta[None, :], **run).theta
    recipe = {"loss_law": l_law.name, "metric_law": m_law.name, "n_resamples": R, "seed": int(seed),
              "pair_on": pair_on, "metric_loss": m_loss.name, "delta": delta}
    return TwoStepResult(loss_fit, metric_fit, l_draws, m_draws, recipe)


# ---------------------------------------------------------------------- metric artefact
def _thetas(result: FitResult | BootstrapResult) -> tuple[Law, np.ndarray, np.ndarray | None]:
    if isinstance(result, BootstrapResult):
        return result.law, result.estimate, result.theta
    if isinstance(result, FitResult):
        return result.law, result.theta, None
    raise ValueError(f"expected a FitResult or BootstrapResult, got {type(result).__name__}")


def metric_artefact(result: FitResult | BootstrapResult, *, answer_tokens: int = 5, N=None,
                    tokens_per_parameter: float = 20.0, threshold: float = 0.5, level: float = 0.95) -> pd.DataFrame:
    r"""Exact match vs a smooth metric computed from the same loss fit (see the module docstring).

    Along models trained at :math:`D = \text{tokens\_per\_parameter} \cdot N`, with
    :math:`\ell(N) = \hat L(N, D) - \hat L(10^{40}, 10^{40})` (the reducible loss; the second term is
    the law's irreducible loss, read off the law itself):

    - ``per_token`` :math:`= e^{-\ell}` (smooth),
    - ``exact_match`` :math:`= e^{-T \ell}` with :math:`T` = ``answer_tokens`` (sharp),

    and the apparent threshold :math:`N^*`: :math:`EM(N^*) = ` ``threshold`` (bisection on
    :math:`\log N`, per draw). With a bootstrap, bands and the interval of :math:`N^*` come from the draws.

    Returns
    -------
    DataFrame, one row per ``N`` (default 200 sizes from 1e7 to 1e13): ``N``, ``D``, ``loss``,
    ``task_loss``, ``per_token``, ``exact_match`` (+ ``_low``/``_high`` with a bootstrap);
    ``attrs``: ``N_star`` (+ ``N_star_low``/``N_star_high``), ``answer_tokens``, ``threshold``.
    """
    check_level(level)
    law, est, draws = _thetas(result)
    if sorted(law.inputs) != ["D", "N"]:
        raise ValueError(f"metric_artefact needs a loss law of N and D; law {law.name!r} has {list(law.inputs)}")
    if int(answer_tokens) < 1 or not 0 < threshold < 1:
        raise ValueError(f"answer_tokens must be >= 1 and threshold in (0, 1); got {answer_tokens}, {threshold}")
    if not (np.isfinite(tokens_per_parameter) and tokens_per_parameter > 0):
        raise ValueError(f"tokens_per_parameter must be > 0, got {tokens_per_parameter}")
    N = np.logspace(7, 13, 200) if N is None else np.atleast_1d(np.asarray(N, np.float64))
    base = law.base
    thetas = law.expand(np.atleast_2d(est) if draws is None else np.concatenate([np.atleast_2d(est), draws]))
    T, tpp = int(answer_tokens), float(tokens_per_parameter)

    i_n, i_d = base.inputs.index("N"), base.inputs.index("D")

    def z_of(theta, log_n):  # fitting-space prediction at N = e^log_n, D = tpp N
        feats = jnp.zeros(log_n.shape + (2,), log_n.dtype).at[..., i_n].set(log_n)
        feats = feats.at[..., i_d].set(log_n + np.log(tpp))
        return base.log_predict(theta, feats.reshape(-1, 2)).reshape(log_n.shape)

    def ell_of(theta, log_n):  # reducible loss: prediction minus the prediction at N = D = 1e40
        far = base.untarget(base.log_predict(theta, jnp.full((1, 2), np.log(1e40))))[0]
        return base.untarget(z_of(theta, log_n)) - far

    goal = -np.log(threshold) / T

    def n_star_of(theta):  # the reducible loss falls with N: bisection on log N for ell = goal
        def body(_, ab):
            mid = 0.5 * (ab[0] + ab[1])
            above = ell_of(theta, mid[None])[0] > goal
            return jnp.where(above, jnp.stack([mid, ab[1]]), jnp.stack([ab[0], mid]))

        a, b = jax.lax.fori_loop(0, 100, body, jnp.array([np.log(1e3), np.log(1e20)]))
        reached = ell_of(theta, jnp.array([np.log(1e20)]))[0] <= goal
        return jnp.where(reached, jnp.exp(0.5 * (a + b)), jnp.nan)

    with float64():
        ell = np.asarray(jax.jit(jax.vmap(ell_of, in_axes=(0, None)))(jnp.asarray(thetas), jnp.log(jnp.asarray(N))))
        n_star = np.asarray(jax.jit(jax.vmap(n_star_of))(jnp.asarray(thetas)))
        loss_est = np.asarray(base.untarget(z_of(jnp.asarray(thetas[0]), jnp.log(jnp.asarray(N)))))
    reached = np.isfinite(n_star)

    out = pd.DataFrame({"N": N, "D": tpp * N, "loss": loss_est})
    out["task_loss"] = ell[0]
    out["per_token"], out["exact_match"] = np.exp(-ell[0]), np.exp(-T * ell[0])
    out.attrs.update(N_star=float(n_star[0]), answer_tokens=T, threshold=threshold, level=level,
                     tokens_per_parameter=tpp)
    if draws is not None:
        q = quantile_pair(level)
        for name, values in (("per_token", np.exp(-ell[1:])), ("exact_match", np.exp(-T * ell[1:]))):
            out[f"{name}_low"], out[f"{name}_high"] = np.nanquantile(values, q, axis=0)
        lo_star, hi_star = np.nanquantile(n_star[1:], q)
        out.attrs.update(N_star_low=float(lo_star), N_star_high=float(hi_star),
                         N_star_unreached=int(np.sum(~reached[1:])))
    return out
