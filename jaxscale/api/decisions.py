r"""Decisions from a fitted law: what to run next, how big to train, how much the fit depends on delta.

- :func:`plan`: isoFLOP grids of (N, D) runs per compute budget with FLOPs and GPU-hours;
- :func:`rank_next_runs`: which candidate run shrinks the interval of a target most per FLOP
  (simulate its outcome from the bootstrap draws, refit, re-bootstrap: all batched);
- :func:`inference_optimal`: Sardana et al. (2024)'s training + inference optimum at a target loss;
- :func:`delta_sweep`: the fit for many Huber deltas in one compiled call.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from ..engine import float64, resolve_starts
from ..engine.multistart import WARM_SOLVER, best_of_starts
from ..engine.resampling import resample_counts
from ..kernels.laws import Law
from ..kernels.losses import Loss, huber
from ..kernels.solvers.objective import predict_and_jacobian
from .bootstrap import BootstrapResult, bootstrap, check_level
from .fit import FitResult, fit_problem
from .migration import legacy_options
from .options import Columns, Runner, as_columns, as_runner
from .problem import Problem, check_compute, input_arrays, input_columns, prepare
from .search import FIT_POLISH, Search, as_search, resolve_prune
from .prediction import corrected_residuals, quantile_pair
from .validation import check_int

#: Dense BF16 peak of an NVIDIA H100 SXM (FLOP/s), the default of :func:`plan`.
H100_BF16_PEAK = 989e12


# ---------------------------------------------------------------------- plan
def plan(budgets, *, result: FitResult | BootstrapResult | None = None, n_per_budget: int = 7, span: float = 10.0,
         tokens_per_parameter: float = 20.0, peak_flops: float = H100_BF16_PEAK,
         utilisation: float = 0.4) -> pd.DataFrame:
    r"""IsoFLOP grids: ``n_per_budget`` model sizes per compute budget, log-spaced over a factor ``span``
    around the budget's optimum, with ``D = C / (6N)`` and the GPU time they take.

    The centre is :math:`N_{opt}(C)` of ``result`` (its law's allocation) when given, else
    :math:`N = \sqrt{C / (6 \cdot \text{tokens\_per\_parameter})}` (Hoffmann et al.'s ~20 tokens per
    parameter). GPU-hours :math:`= 6ND / (\text{peak\_flops} \times \text{utilisation}) / 3600`.

    Returns
    -------
    DataFrame
        One row per run: ``budget``, ``N``, ``D``, ``tokens_per_parameter``, ``flops`` (= 6ND),
        ``gpu_hours``, ``centre`` (bool: the budget's optimum) and, with ``result``, the predicted
        ``loss``. ``attrs["total_gpu_hours"]``, ``attrs["total_flops"]``.
    """
    C = np.atleast_1d(check_compute(budgets)).ravel()
    n_per_budget = check_int("n_per_budget", n_per_budget, 1)
    for name, value in (("span", span), ("tokens_per_parameter", tokens_per_parameter), ("peak_flops", peak_flops)):
        if not (np.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    if span < 1 or (span == 1 and n_per_budget > 1):
        raise ValueError(f"span is the ratio of the largest to the smallest N of a budget; it must be > 1 for "
                         f"n_per_budget={n_per_budget} sizes (span={span!r} would plan the same (N, D) "
                         f"{n_per_budget} times), e.g. span=10")
    if not 0 < utilisation <= 1:
        raise ValueError(f"utilisation is a fraction of peak in (0, 1], got {utilisation!r}")
    if result is not None:
        opt = result.compute_optimal(C)
        centre = np.atleast_1d(opt["N_opt"].to_numpy() if isinstance(opt, pd.DataFrame) else opt["N_opt"])
    else:
        centre = np.sqrt(C / (6.0 * tokens_per_parameter))
    k = int(n_per_budget)
    offsets = np.linspace(-0.5, 0.5, k) * np.log10(span) if k > 1 else np.zeros(1)
    N = (centre[:, None] * 10.0 ** offsets[None, :]).ravel()
    budget = np.repeat(C, k)
    D = budget / (6.0 * N)
    table = pd.DataFrame({"budget": budget, "N": N, "D": D, "tokens_per_parameter": D / N, "flops": 6.0 * N * D})
    table["gpu_hours"] = table["flops"] / (peak_flops * utilisation) / 3600.0
    table["centre"] = np.tile(np.abs(offsets) == np.abs(offsets).min(), len(C))
    if result is not None:
        model = result if isinstance(result, FitResult) else None
        table["loss"] = (model.predict(N=N, D=D) if model is not None
                         else result.predict(N=N, D=D)["loss"].to_numpy())
    table.attrs.update(total_gpu_hours=float(table["gpu_hours"].sum()), total_flops=float(table["flops"].sum()),
                       peak_flops=peak_flops, utilisation=utilisation)
    return table


# ---------------------------------------------------------------------- targets
def target_function(law: Law, target) -> tuple[Callable[[np.ndarray], np.ndarray], str]:
    """``(values(theta[R, p]) -> [R], label)`` for a target spec.

    ``("N_opt", C)``, ``("D_opt", C)``: the compute-optimal allocation at ``C`` FLOP;
    ``("loss", {"N": ..., "D": ...})``: the law's prediction there; a derived quantity name
    (``"a_opt"``) or natural parameter (``"alpha"``); or a callable ``f(law, theta) -> values``.
    """
    if callable(target):
        return (lambda theta: np.asarray(target(law, theta), np.float64)), getattr(target, "__name__", "target")
    if isinstance(target, tuple) and len(target) == 2 and target[0] in ("N_opt", "D_opt"):
        C = float(check_compute(target[1]))
        j = 0 if target[0] == "N_opt" else 1
        return (lambda theta: np.asarray(law.compute_optimal(theta, np.asarray([C]))[j])[..., 0]), \
            f"{target[0]} at C={C:.3g}"
    if isinstance(target, tuple) and len(target) == 2 and target[0] == "loss":
        x, _ = input_arrays(law.base, inputs=dict(target[1]))
        return (lambda theta: law.base.predict(law.expand(theta), x)[..., 0]), \
            "loss at " + ", ".join(f"{k}={float(v):.3g}" for k, v in dict(target[1]).items())
    if isinstance(target, str):
        base = law.base

        def values(theta):
            natural = base.to_natural(law.expand(theta))
            named = {nm: natural[..., j] for j, nm in enumerate(base.natural_names)}
            named.update(base.derived(named))
            if target not in named:
                raise ValueError(f"unknown target {target!r}; choose from {sorted(named)}")
            return np.asarray(named[target])

        return values, target
    raise ValueError(f"target must be ('N_opt', C), ('D_opt', C), ('loss', {{'N': ..., 'D': ...}}), a parameter or "
                     f"derived name such as 'a_opt', or a callable f(law, theta); got {target!r}")


def interval_width(values: np.ndarray, level: float) -> float:
    """Width of the percentile interval of the finite ``values``."""
    v = values[np.isfinite(values)]
    lo, hi = np.quantile(v, quantile_pair(level))
    return float(hi - lo)


# ---------------------------------------------------------------------- rank_next_runs
@legacy_options()
def rank_next_runs(data, candidates, target, *, law: str | Law = "chinchilla", n_outcomes: int = 8,
                   n_resamples: int = 200, level: float = 0.95, seed: int = 0, estimate: FitResult | None = None,
                   loss: str | Loss = "huber", delta: float = 1e-3, per_flop: bool = True,
                   columns: Columns | Mapping[str, str] | None = None, search: Search | None = None,
                   runner: Runner | None = None) -> pd.DataFrame:
    r"""Rank candidate next runs by the expected shrinkage of a target's interval per FLOP.

    For candidate ``c`` (inputs :math:`x_c`, cost :math:`6 N_c D_c`) and simulated outcome
    ``s = 1..S``:

    1. the outcome :math:`z_{cs} = \hat z(\theta^*_{r_s}; x_c) + \tilde r_{u_s}`: the prediction of
       bootstrap draw :math:`r_s` of the current data plus a leverage-corrected residual
       :math:`u_s` (the same :math:`(r_s, u_s)` for every candidate: common random numbers);
    2. the augmented data set (data + that run) is refitted from the current estimate and
       bootstrapped (``n_resamples`` case resamples of ``seed``, each from the refit);
    3. :math:`W_{cs}` = width of the target's ``level`` percentile interval.

    :math:`\bar W_c = \frac1S \sum_s W_{cs}`; the score is :math:`(W_0 - \bar W_c) / (6 N_c D_c)` with
    :math:`W_0` the width from the current data's bootstrap (same settings). All
    ``K x S`` augmented data sets and their ``K x S x R`` resamples run as lanes of two compiled
    calls (per-row-group data). The Monte Carlo error of :math:`\bar W_c` is reported
    (``width_after_se``); common random numbers make differences between candidates far more
    precise than each width.

    Parameters
    ----------
    data : DataFrame
    candidates : DataFrame or dict (one row per candidate run)
        The same columns as the data's law inputs (``columns.inputs``: ``N``, ``D``, ``U`` ...); with
        ``columns.compute`` the compute column instead of the tokens (``D = C / (6N)``).
    target : see :func:`target_function`, e.g. ``("N_opt", 1e24)`` or ``("loss", {"N": 70e9, "D": 1.4e12})``
    n_outcomes : int
        Simulated outcomes per candidate (``S``).
    n_resamples : int
        Bootstrap resamples of each augmented data set (``R``).
    estimate : FitResult, optional
        The current full-data fit (default: ``fit(data, search=Search(starts=search.starts))``).
    per_flop : bool
        Rank by shrinkage per FLOP (default) or by shrinkage alone.
    columns, search, runner : as in :func:`jaxscale.fit`; ``search.starts`` seeds the full-data fit,
        ``search.solver`` the refits (default: the warm-start solver for the one-start bootstraps).

    Returns
    -------
    DataFrame sorted best first: ``N``, ``D``, ``flops``, ``width_now``, ``width_after``,
    ``width_after_se``, ``shrinkage`` (``1 - width_after / width_now``), ``shrinkage_per_flop``,
    ``rank``; ``attrs["outcomes"]`` is the ``(K, S)`` array of simulated fitting-space outcomes.
    """
    check_level(level)
    S, R = int(n_outcomes), int(n_resamples)
    if S < 1 or R < 2:
        raise ValueError(f"n_outcomes must be >= 1 and n_resamples >= 2, got {n_outcomes}, {n_resamples}")
    columns, search, runner = as_columns(columns), as_search(search), as_runner(runner)
    problem = prepare(data, law, loss, delta, columns=columns, solver=search.solver)
    law_obj, loss_fn, solver_obj = problem.law, problem.loss, problem.solver
    log_x, log_y = problem.log_x, problem.log_y
    cand_x = candidate_inputs(problem, candidates)
    K = len(cand_x)
    if estimate is None:
        estimate = fit_problem(problem, np.ones(len(log_y)), seed, Search(starts=search.starts, solver=solver_obj),
                               runner.local)
    values, label = target_function(law_obj, target)
    boot_seed = int(seed)
    # the bootstraps below start every resample from one point: the warm-start solver, as js.bootstrap uses
    warm = WARM_SOLVER if search.solver is None else solver_obj
    current = bootstrap(problem.frame, law=law_obj, n_resamples=R, seed=boot_seed, loss=loss_fn, estimate=estimate,
                        columns=problem.columns, search=Search(starts="best", solver=warm),
                        runner=Runner(n_lanes=runner.n_lanes, devices=runner.devices))
    width_now = interval_width(values(current.theta), level)

    rng = np.random.default_rng([int(seed), 1])
    draw_idx = rng.choice(R, size=S, replace=S > R)
    res = corrected_residuals(law_obj, loss_fn, estimate.theta, log_x, log_y)
    res_idx = rng.integers(0, len(res), size=S)
    feats = law_obj.features(cand_x)  # (K, k)
    with float64():
        z_c = np.asarray(jax.jit(jax.vmap(law_obj.log_predict, in_axes=(0, None)))(
            jnp.asarray(current.theta[draw_idx]), jnp.asarray(feats)))  # (S, K)
    outcomes = (z_c + res[res_idx][:, None]).T  # (K, S)

    n_rows, G = len(log_y), K * S
    aug_x = np.concatenate([np.broadcast_to(log_x, (G,) + log_x.shape),
                            np.repeat(feats, S, axis=0)[:, None, :]], axis=1)  # (G, n+1, k)
    aug_y = np.concatenate([np.broadcast_to(log_y, (G, n_rows)), outcomes.reshape(G, 1)], axis=1)
    run = dict(n_lanes=runner.n_lanes, devices=runner.devices)
    refit = best_of_starts(solver_obj, law_obj, loss_fn, aug_x, aug_y, np.ones((G, n_rows + 1)),
                           estimate.theta[None, :], polish_top=1, row_group=np.arange(G), **run)
    counts = resample_counts(boot_seed, np.arange(R), n_rows + 1).astype(np.float64)
    draws = best_of_starts(warm, law_obj, loss_fn, aug_x, aug_y, np.tile(counts, (G, 1)),
                           np.repeat(refit.theta, R, axis=0)[:, None, :], polish_top=1,
                           row_group=np.repeat(np.arange(G), R), **run).theta
    target_draws = values(draws).reshape(K, S, R)
    widths = np.array([[interval_width(target_draws[c, s], level) for s in range(S)] for c in range(K)])

    table = pd.DataFrame({name: cand_x[:, j] for j, name in enumerate(law_obj.base.inputs)})
    table["flops"] = 6.0 * table["N"] * table["D"] if {"N", "D"} <= set(table.columns) else np.nan
    table["width_now"] = width_now
    table["width_after"] = widths.mean(axis=1)
    table["width_after_se"] = widths.std(axis=1, ddof=1) / np.sqrt(S) if S > 1 else np.nan
    table["shrinkage"] = 1.0 - table["width_after"] / width_now
    table["shrinkage_per_flop"] = (width_now - table["width_after"]) / width_now / table["flops"]
    key = "shrinkage_per_flop" if per_flop else "shrinkage"
    table = table.sort_values(key, ascending=False, kind="stable")
    table["rank"] = np.arange(1, K + 1)
    table.attrs.update(target=label, level=level, n_outcomes=S, n_resamples=R, outcomes=outcomes,
                       widths=widths, draw_index=draw_idx, residual_index=res_idx, ranked_by=key)
    return table


def candidate_inputs(problem: Problem, candidates) -> np.ndarray:
    """``x[K, k]`` (natural units) of candidate runs, read from the same columns as the data: every law input
    from its column (``columns.inputs``, e.g. ``U``), and with ``columns.compute`` the tokens derived as
    ``D = C / (6 N)`` from the candidates' compute column."""
    names, _ = input_columns(problem.law, problem.columns)
    try:
        cand = candidates if isinstance(candidates, pd.DataFrame) else pd.DataFrame(candidates)
    except (TypeError, ValueError) as err:
        raise ValueError(f"candidates must be a DataFrame or a dict of equally long columns {names} (one row per "
                         f"candidate run); got {type(candidates).__name__}: {err}") from None
    if len(cand) == 0:
        raise ValueError("candidates is empty; give at least one (N, D) run")
    if problem.columns.compute is not None:
        i_d = problem.law.inputs.index("D")
        names[i_d] = problem.columns.compute
    missing = [col for col in names if col not in cand.columns]
    if missing:
        raise ValueError(f"candidates lack the input column(s) {missing}; give one row per candidate run with "
                         f"columns {names} (the data's columns)")
    inputs = {name: cand[col].to_numpy(np.float64) for name, col in zip(problem.law.inputs, names)}
    if problem.columns.compute is not None:
        inputs["D"] = inputs["D"] / (6.0 * inputs["N"])
    cand_x, _ = input_arrays(problem.law, inputs=inputs)
    return cand_x


# ---------------------------------------------------------------------- inference-aware optimum
_GRID, _BISECT, _GOLDEN = 257, 60, 50


def _inference_optimum(law: Law, thetas: np.ndarray, target_z: float, d_inf: np.ndarray) -> np.ndarray:
    r"""``(log N, log D_train)[R, m, 2]`` minimising :math:`6ND + 2ND_{inf}` on :math:`\hat z(N, D) = z^*`."""
    i_n, i_d = law.inputs.index("N"), law.inputs.index("D")
    lo_n, hi_n = np.log(1e3), np.log(1e16)
    lo_d, hi_d = np.log(1e3), np.log(1e30)

    def z_at(theta, log_n, log_d):
        feats = jnp.zeros((1, 2), log_n.dtype).at[0, i_n].set(log_n).at[0, i_d].set(log_d)
        return law.log_predict(theta, feats)[0]

    def log_d_for(theta, log_n):
        # the loss falls with D: bisection on log D for z(N, D) = target; +inf when even D = 1e30 is not enough
        def body(_, ab):
            a, b = ab
            mid = 0.5 * (a + b)
            above = z_at(theta, log_n, mid) > target_z
            return jnp.where(above, jnp.stack([mid, b]), jnp.stack([a, mid]))

        a, b = jax.lax.fori_loop(0, _BISECT, body, jnp.stack([jnp.asarray(lo_d), jnp.asarray(hi_d)]))
        feasible = z_at(theta, log_n, jnp.asarray(hi_d)) <= target_z
        return jnp.where(feasible, 0.5 * (a + b), jnp.inf)

    def one(theta, log_dinf):
        def cost(log_n):  # log(6 N D + 2 N D_inf)
            log_d = log_d_for(theta, log_n)
            return jnp.where(jnp.isfinite(log_d), log_n + jnp.logaddexp(jnp.log(6.0) + log_d,
                                                                         jnp.log(2.0) + log_dinf), jnp.inf)

        grid = jnp.linspace(lo_n, hi_n, _GRID)
        costs = jax.vmap(cost)(grid)
        k = jnp.argmin(costs)
        step = (hi_n - lo_n) / (_GRID - 1)
        ratio = 0.5 * (np.sqrt(5.0) - 1.0)

        def golden(_, ab):
            a, b = ab
            x1, x2 = b - ratio * (b - a), a + ratio * (b - a)
            return jnp.where(cost(x1) < cost(x2), jnp.stack([a, x2]), jnp.stack([x1, b]))

        a, b = jax.lax.fori_loop(0, _GOLDEN, golden, jnp.stack([grid[k] - step, grid[k] + step]))
        log_n = 0.5 * (a + b)
        return jnp.stack([log_n, log_d_for(theta, log_n)])

    with float64():
        fn = jax.jit(jax.vmap(jax.vmap(one, in_axes=(None, 0)), in_axes=(0, None)))
        return np.asarray(fn(jnp.asarray(thetas, jnp.float64), jnp.log(jnp.asarray(d_inf, jnp.float64))))


def inference_optimal(result: FitResult | BootstrapResult, loss, inference_tokens, *,
                      level: float = 0.95) -> pd.DataFrame:
    r"""Training + inference optimum at a target loss (Sardana et al. 2024, "Beyond Chinchilla-Optimal").

    .. math:: \min_{N, D_{tr}}\; 6 N D_{tr} + 2 N D_{inf} \quad \text{s.t.} \quad \hat L(N, D_{tr}) = \ell

    For each ``N`` on a log grid (1e3 to 1e16) the training tokens that reach ``loss`` are found by
    bisection on :math:`\log D` (the law's loss falls with ``D``), then golden-section refines the
    grid's best cell. ``inference_tokens = 0`` gives the compute-optimal (Chinchilla) model at that
    loss. With a bootstrap, every draw is optimised and percentile intervals are reported.

    Parameters
    ----------
    result : FitResult or BootstrapResult (law with inputs N, D)
    loss : float
        Target loss (nats/token), above the law's irreducible loss.
    inference_tokens : float or array
        Tokens to be generated/processed over the model's life (:math:`D_{inf}`).

    Returns
    -------
    DataFrame, one row per ``inference_tokens``: ``N``, ``D_train``, ``tokens_per_parameter``,
    ``train_flops``, ``inference_flops``, ``total_flops``; with a bootstrap also ``*_low``/``*_high``.
    """
    check_level(level)
    law = result.law
    if sorted(law.inputs) != ["D", "N"]:
        raise ValueError(f"inference_optimal needs a law of N and D; law {law.name!r} has inputs {list(law.inputs)}")
    loss = float(loss)
    if not (np.isfinite(loss) and loss > 0):
        raise ValueError(f"loss must be a finite target loss > 0, got {loss!r}")
    d_inf = np.atleast_1d(np.asarray(inference_tokens, np.float64)).ravel()
    if np.any(~np.isfinite(d_inf) | (d_inf < 0)):
        raise ValueError(f"inference_tokens must be finite and >= 0, got {inference_tokens!r}")
    target_z = float(law.base.target(np.asarray(loss)))
    boot = isinstance(result, BootstrapResult)
    theta_est = result.estimate if boot else result.theta
    full = law.expand(np.atleast_2d(theta_est))
    safe_inf = np.maximum(d_inf, 1e-300)  # log(0) -> the 2 N D_inf term vanishes
    est = _inference_optimum(law.base, full, target_z, safe_inf)[0]
    if not np.all(np.isfinite(est)):
        raise ValueError(f"loss {loss} is not reachable by the fitted law for N <= 1e16 and D <= 1e30 (is it below "
                         "the irreducible loss?)")

    def columns(log_nd):
        N, D = np.exp(log_nd[..., 0]), np.exp(log_nd[..., 1])
        return {"N": N, "D_train": D, "tokens_per_parameter": D / N, "train_flops": 6 * N * D,
                "inference_flops": 2 * N * d_inf, "total_flops": 6 * N * D + 2 * N * d_inf}

    table = pd.DataFrame({"loss": loss, "inference_tokens": d_inf, **columns(est)})
    if boot:
        draws = columns(_inference_optimum(law.base, law.expand(result.theta), target_z, safe_inf))
        for name, values in draws.items():
            lo, hi = np.nanquantile(np.where(np.isfinite(values), values, np.nan), quantile_pair(level), axis=0)
            table[f"{name}_low"], table[f"{name}_high"] = lo, hi
        table.attrs["unreachable_draws"] = int(np.sum(~np.isfinite(draws["N"][:, 0])))
    table.attrs.update(level=level, law=law.name)
    return table


# ---------------------------------------------------------------------- delta sweep
@lru_cache(maxsize=None)
def delta_scaled(base: Law) -> Law:
    r"""``base`` with Huber's delta as data: an extra input column :math:`\log\delta` divides the prediction.

    With targets :math:`z_i/\delta`, predictions :math:`\hat z_i/\delta`, ``huber(1)`` and weights
    :math:`\delta^2`, the objective is :math:`\sum_i \delta^2 H_1(r_i/\delta) = \sum_i H_\delta(r_i)`, and
    its gradient and (IRLS) Gauss-Newton matrix equal those of ``huber(delta)`` exactly: every delta is
    a group of rows in ONE compiled run, and each fit follows the same iterations as ``fit(delta=...)``.
    """
    k = len(base.inputs)

    def log_predict(theta, feats):
        return base.log_predict(theta, feats[:, :k]) * jnp.exp(-feats[:, k])

    def with_jacobian(theta, feats):
        z, jac = predict_and_jacobian(base, theta, feats[:, :k])
        scale = jnp.exp(-feats[:, k])
        return z * scale, jac * scale[:, None]

    return Law(name=f"{base.name}[delta as data]", inputs=tuple(base.inputs) + ("delta",),
               param_names=base.param_names, natural_names=base.natural_names, log_predict=log_predict,
               log_scale=base.log_scale, grid=base.grid, log_predict_and_jacobian=with_jacobian,
               input_scale=tuple(base.input_scale) + ("log",), target_scale=base.target_scale,
               description=base.description)


@legacy_options()
def delta_sweep(data, deltas: Sequence[float] = tuple(np.logspace(-5, 4, 10)), *, law: str | Law = "chinchilla",
                C: float = 5.88e23, seed: int = 0, fixed=None, tied=None,
                columns: Columns | Mapping[str, str] | None = None, search: Search | None = None,
                runner: Runner | None = None) -> pd.DataFrame:
    r"""Refit for every Huber ``delta`` in ONE compiled call and show how the estimate moves.

    ``delta`` enters as data (see :func:`delta_scaled`), so all deltas x starts are lanes of one run
    (per-row-group data). Large deltas approach least squares (``delta = 1e4`` on log residuals of
    ~1e-2 is squared loss), small ones least absolute deviations.

    Parameters
    ----------
    data, law, seed, fixed, tied : as in :func:`jaxscale.fit`
    deltas : sequence of float
        Huber thresholds (> 0).
    C : float
        Compute budget (FLOP) of the reported compute-optimal allocation.
    columns, search, runner : as in :func:`jaxscale.fit` (``search.polish`` defaults to 8).

    Returns
    -------
    DataFrame, one row per delta: natural parameters, the law's derived quantities, ``objective``
    (the Huber-delta sum), ``converged``, ``inside_delta`` (residuals with :math:`|r| \le \delta`), and
    for laws of N and D the compute-optimal ``N_opt``, ``D_opt``, ``D_over_N``, ``loss_opt`` at ``C``.
    """
    columns, search, runner = as_columns(columns), as_search(search), as_runner(runner)
    problem = prepare(data, law, columns=columns, solver=search.solver, fixed=fixed, tied=tied)
    law_obj, solver_obj, log_x, log_y = problem.law, problem.solver, problem.log_x, problem.log_y
    try:
        deltas = np.asarray(deltas, np.float64).ravel()
    except (TypeError, ValueError):
        raise ValueError(f"deltas must be finite numbers > 0 (Huber thresholds on log loss, e.g. [1e-4, 1e-3, 1e-2]), "
                         f"got {deltas!r}") from None
    if deltas.size == 0 or np.any(~np.isfinite(deltas) | (deltas <= 0)):
        raise ValueError(f"deltas must be finite numbers > 0, got {deltas}")
    scaled = delta_scaled(law_obj)
    G, n_rows = deltas.size, len(log_y)
    feats = np.concatenate([np.broadcast_to(log_x, (G,) + log_x.shape),
                            np.broadcast_to(np.log(deltas)[:, None, None], (G, n_rows, 1))], axis=2)
    targets = log_y[None, :] / deltas[:, None]
    weights = np.broadcast_to((deltas**2)[:, None], (G, n_rows))
    start_points = resolve_starts(law_obj, search.starts, seed)
    prune, prune_iter = resolve_prune(search.prune, search.prune_iter, len(start_points))
    best = best_of_starts(solver_obj, scaled, huber(1.0), feats, targets, weights, start_points,
                          prune_keep=prune, prune_iter=prune_iter, polish_top=search.polish_or(FIT_POLISH),
                          n_lanes=runner.n_lanes, devices=runner.devices,
                          row_group=np.arange(G))
    base = law_obj.base
    natural = base.to_natural(law_obj.expand(best.theta))
    table = pd.DataFrame(natural, columns=list(base.natural_names))
    table.insert(0, "delta", deltas)
    named = {c: table[c].to_numpy() for c in base.natural_names}
    for key, value in base.derived(named).items():
        table[key] = value
    table["objective"] = best.value
    table["converged"] = best.converged
    with float64():
        z_hat = np.asarray(jax.vmap(law_obj.log_predict, in_axes=(0, None))(jnp.asarray(best.theta),
                                                                           jnp.asarray(log_x)))
    table["inside_delta"] = np.sum(np.abs(log_y[None, :] - z_hat) <= deltas[:, None], axis=1)
    if law_obj.has_allocation and set(law_obj.inputs) == {"N", "D"}:
        n_opt, d_opt = law_obj.compute_optimal(best.theta, np.asarray([float(check_compute(C))]))
        table["N_opt"], table["D_opt"] = n_opt[:, 0], d_opt[:, 0]
        table["D_over_N"] = table["D_opt"] / table["N_opt"]
        x_opt = np.stack([table["N_opt"], table["D_opt"]] if base.inputs == ("N", "D")
                         else [table["D_opt"], table["N_opt"]], axis=1)
        table["loss_opt"] = [float(base.predict(law_obj.expand(t), x_opt[i:i + 1])[0]) for i, t in enumerate(best.theta)]
    table.attrs.update(C=C, law=law_obj.name, n_starts=int(len(start_points)))
    return table
