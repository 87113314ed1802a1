"""``jaxscale.bootstrap``: case-resampling uncertainty with full multi-start refits of every resample."""
from __future__ import annotations

from typing import Mapping

import jax.numpy as jnp
import numpy as np

from ..engine import float64
from ..engine.resampling import counts_from_indices
from ..engine.scheduler import RowsJob, run_rows
from ..kernels.laws import Law
from ..kernels.losses import Loss
from .cluster import cluster_bootstrap, resample_plan
from .fit import fit_problem, warn_untrusted
from .groups import bootstrap_groups
from .migration import legacy_options
from .options import ClusterResample, Columns, Runner, as_columns, as_runner
from .problem import Problem, prepare, recipe, versions
from .results.bootstrap import BootstrapResult, identifiable_resamples, load
from .results.fit import FitResult
from .search import BOOTSTRAP_STARTS, RESAMPLE_POLISH, Search, as_search, resample_strategy
from .validation import check_int, check_level, check_memory, check_seed

__all__ = ["bootstrap", "BootstrapResult", "load", "check_estimate", "check_level"]


def check_estimate(estimate, law: Law, loss_fn: Loss, log_x: np.ndarray, log_y: np.ndarray, columns: dict,
                   y: str) -> None:
    """``estimate`` (a :class:`FitResult`) must come from the bootstrap's law, loss and data: the same law
    and loss, the same number of points and columns, and its objective re-evaluated on this data must
    equal the one it reports (so a fit of other rows with the same shape is caught too)."""
    if not isinstance(estimate, FitResult):
        raise ValueError(f"estimate must be a FitResult from jaxscale.fit, got {type(estimate).__name__}")
    if estimate.law != law or estimate.loss != loss_fn:
        raise ValueError(f"estimate was fitted with law {estimate.law.name!r} and loss {estimate.loss.name}"
                         f"{dict(estimate.loss.params)}, but this bootstrap uses law {law.name!r} and loss "
                         f"{loss_fn.name}{dict(loss_fn.params)}; fit the estimate with the same law, loss and delta")
    fix = "; fit the estimate on the bootstrap's data (estimate=js.fit(data, ...) with the same columns)"
    if estimate.n_points != len(log_y):
        raise ValueError(f"estimate was fitted to {estimate.n_points} points but this bootstrap's data has "
                         f"{len(log_y)} rows{fix}")
    fitted_columns = estimate.recipe.get("columns")
    if fitted_columns is not None and (dict(fitted_columns) != columns or estimate.recipe.get("y", y) != y):
        raise ValueError(f"estimate was fitted on columns {dict(fitted_columns)} (target "
                         f"{estimate.recipe.get('y')!r}) but this bootstrap uses {columns} (target {y!r}){fix}")
    with float64():
        residuals = jnp.asarray(log_y) - law.log_predict(jnp.asarray(estimate.theta), jnp.asarray(log_x))
        value = float(loss_fn.total(residuals, jnp.ones(len(log_y))))
    if not np.isclose(value, estimate.objective, rtol=1e-6, atol=1e-12):
        raise ValueError(f"estimate's objective {estimate.objective:.10g} is {value:.10g} on this bootstrap's data: "
                         f"it was fitted to other data (other rows or values, or weights){fix}")


@legacy_options(("starts", "seed"))
def bootstrap(data, law: str | Law = "chinchilla", n_resamples: int = 4000, *, seed: int = 0,
              loss: str | Loss = "huber", delta: float = 1e-3, fixed: Mapping[str, float] | None = None,
              tied: Mapping[str, str] | None = None, by=None, resample: str | ClusterResample = "case", indices=None,
              estimate: FitResult | None = None, columns: Columns | Mapping[str, str] | None = None,
              search: Search | None = None, runner: Runner | None = None) -> BootstrapResult:
    r"""Case-resampling bootstrap with a multi-start refit of every resample.

    Resample :math:`r` is a count vector :math:`w^{(r)}` (rows drawn with replacement); its
    fit minimises :math:`\sum_i w^{(r)}_i \rho(\log L_i - \log\hat L(\theta; x_i))` from every
    start and keeps the best end point. All (resample, start) pairs run as lanes of one
    compiled solver, in chunks of resamples run here (split across local devices) or on the
    workers of an executor (:func:`jaxscale.engine.scheduler.run_rows`).

    Parameters
    ----------
    data : DataFrame or dict of arrays
    law, loss, delta, fixed, tied, columns : as in :func:`jaxscale.fit`
    n_resamples : int
        Number of resamples (>= 1) drawn from ``seed`` (ignored when ``indices`` is given).
        Resamples whose drawn rows cannot identify the law (at most ``p`` distinct input points,
        or one value of an input) are flagged in ``draws["identifiable"]`` and left out of the
        intervals (with a warning); small data sets make many of them.
    seed : int
        An integer in ``[0, 2**32 - 1]``. Resample ``r`` uses ``jax.random.fold_in(PRNGKey(seed), r)``.
        Every draw is bit-identical whatever ``n_resamples``, chunk size, executor, worker or
        device count (on one backend and jax version).
    by : str or list of str, optional
        Bootstrap every group of rows (sharing these columns' values) in one compiled run; returns
        a :class:`~jaxscale.GroupedBootstrapResult` (group ``g`` draws its resamples as a
        bootstrap of that group alone with the same seed would).
    resample : "case" or ClusterResample
        ``"case"``: rows (default). ``js.ClusterResample(by="budget", budgets=..., wild=False)``: whole
        clusters of rows (``"budget"``: compute, nearest of ``budgets`` or rounded to 0.1 decade;
        ``"size"``: N, same rule; a column name or one label per row); ``wild=True``: Webb six-point
        multipliers per cluster on leverage-corrected residuals (see :mod:`jaxscale.api.cluster`).
        Warns below 10 clusters.
    indices : int array (R, m), optional
        Explicit resamples as row positions of ``data`` (e.g. Epoch's ``np.random.choice`` draws).
    estimate : FitResult, optional
        A full-data fit to report as the point estimate (computed with the same starts if omitted).
        It must come from the same data (same rows and columns, unweighted), law, loss and delta.
    search : Search, optional
        The search of every resample (:class:`~jaxscale.Search`). ``starts``: ``"subgrid"`` (default,
        as the CLI's: the full-data optimum plus ``n_subgrid - 1`` spread grid starts; issue 18 reports it
        matched the full grid on 100 of 100 resamples of 35 runs in 14-24 s where the full grid took
        ~57 min on a small CPU), ``"grid"`` (the law's grid, 4500 for Chinchilla, pruned as
        ``prune``/``prune_iter`` say, exactly as in :func:`jaxscale.fit`; ``js.search.exhaustive()`` runs
        every start), ``"best"`` (only the full-data optimum; ``js.search.warm()``), ``js.search.subgrid(k)``
        (``k`` subgrid starts; benchmarks/bench_bootstrap.py measures the agreement with the exhaustive
        grid), ``"prune"`` (the grid, pruned even with ``prune=None``), an int or an array.
        ``solver``: as in :func:`jaxscale.fit`; with one start per resample the default is
        ``"lm-warm"`` (a few Newton steps once the set of points inside delta has settled).
        ``polish``: per resample (default 1; 0 switches it off).
    runner : Runner, optional
        Where the chunks run (:class:`~jaxscale.Runner`; never changes a bit): ``chunk_size`` (fits
        per chunk; default about 5 s of work from a timed probe), ``n_lanes``, ``devices``,
        ``executor`` (anything with ``submit``: a Dask client, a ``ProcessPoolExecutor``,
        submitit ...), ``checkpoint`` (a directory of finished chunks: a rerun resumes, corrupt
        chunks are recomputed), ``progress``, ``retries``.

    Notes
    -----
    The former keywords (``starts, solver, polish, prune, prune_keep, prune_iter, n_subgrid, n, d,
    y, x, c, n_lanes, chunk_size, devices, executor, checkpoint, progress, retries, cluster,
    budgets`` and ``resample="cluster"``) still work for one minor release, with a
    ``DeprecationWarning`` naming the new spelling.
    """
    columns, search, runner = as_columns(columns), as_search(search), as_runner(runner)
    seed = check_seed(seed)
    if by is not None:
        if indices is not None or estimate is not None or resample != "case":
            raise ValueError("by= takes case resamples drawn from seed, with each group's own full-data fit; for "
                             "indices=, estimate= or cluster resamples bootstrap the groups one by one")
        return bootstrap_groups(data, by, law=law, n_resamples=n_resamples, seed=seed, loss=loss, delta=delta,
                                fixed=fixed, tied=tied, columns=columns, search=search, runner=runner)
    problem = prepare(data, law, loss, delta, columns=columns, solver=search.solver, fixed=fixed, tied=tied)
    clusters = resample_plan(problem.frame, resample, columns.column("N"), columns.column("D"), indices,
                             runner.checkpoint, c=columns.compute)
    if clusters is not None and runner.executor is not None:
        raise ValueError(f"resample={resample!r} runs locally; executor= is for case resamples")
    counts, n_resamples, resample_ok = resample_counts_of(problem, indices, n_resamples, seed)
    estimate = full_data_estimate(problem, estimate, search, seed, runner)
    starts, start_points, steps = resample_steps(problem, search, estimate, seed, n_resamples)
    prune, prune_iter, polish, solver = steps["prune"], steps["prune_iter"], steps["polish"], steps["solver"]
    if clusters is not None:
        return cluster_bootstrap(resample=resample.kind, clusters=clusters, law=problem.law, loss=problem.loss,
                                 solver=solver, log_x=problem.log_x, log_y=problem.log_y, estimate=estimate,
                                 start_points=start_points, n_resamples=n_resamples, seed=seed,
                                 pruning=prune is not None, prune=prune, prune_iter=prune_iter, polish=polish,
                                 chunk_size=runner.chunk_size, n_lanes=runner.n_lanes, devices=runner.devices,
                                 progress=runner.progress, recipe=recipe(
                                     problem, start_points, starts, **steps, versions=versions(),
                                     cluster=resample.by if isinstance(resample.by, str) else "labels"))
    job, made = case_resample_job(problem, starts, start_points, steps, counts, runner.n_lanes)
    rows = run_rows(job, n_resamples, **runner.jobs(), description=made)
    return BootstrapResult(problem.law, problem.loss, np.asarray(estimate.theta), float(estimate.objective),
                           rows.theta, rows.value, rows.converged, rows.n_at_best, problem.log_x, problem.log_y,
                           np.ones(len(problem.log_y)), made, _identifiable=resample_ok)


def resample_steps(problem: Problem, search: Search, estimate: FitResult, seed: int, n_resamples: int):
    """``(starts, start_points, steps)`` of every resample: the search's starts (the bootstrap default when
    not given) resolved around the point estimate, and ``steps`` (prune, prune_iter, polish, solver, seed,
    n_resamples) as recorded in the recipe."""
    starts = BOOTSTRAP_STARTS if search.starts is None else search.starts
    start_points, prune, prune_iter, solver = resample_strategy(problem.law, starts, estimate.theta, search.n_subgrid,
                                                               seed, search.prune, search.prune_iter, search.solver,
                                                               problem.solver)
    steps = dict(prune=prune, prune_iter=prune_iter, polish=search.polish_or(RESAMPLE_POLISH), solver=solver,
                 seed=int(seed), n_resamples=n_resamples)
    return starts, start_points, steps


def case_resample_job(problem: Problem, starts, start_points: np.ndarray, steps: dict, counts: np.ndarray | None,
                      n_lanes: int | None = None) -> tuple[RowsJob, dict]:
    """The :class:`RowsJob` of a case-resampling bootstrap (resample ``r`` drawn from ``steps["seed"]``, or row
    ``r`` of explicit ``counts``) and its recipe: what :func:`bootstrap` runs, and what a plan
    (:mod:`jaxscale.api.chunks`) cuts into array tasks."""
    seed = steps["seed"]
    job = RowsJob(steps["solver"], problem.law, problem.loss, problem.log_x, problem.log_y, start_points,
                  seed=None if counts is not None else int(seed), weights=counts, prune_keep=steps["prune"],
                  prune_iter=steps["prune_iter"], polish_top=steps["polish"], n_lanes=n_lanes)
    made = recipe(problem, start_points, starts, **steps, n_lanes=int(job.n_lanes),
                  indices="explicit" if counts is not None else "jax.random.fold_in(PRNGKey(seed), r)",
                  versions=versions())
    return job, made


def resample_counts_of(problem: Problem, indices, n_resamples: int, seed: int):
    """``(explicit counts[R, n] or None, R, identifiable[R] or None)``: explicit ``indices`` become count
    vectors (their identifiability known now); drawn resamples stay implicit (recomputed from the seed)."""
    if indices is None:
        n_resamples = check_int("n_resamples", n_resamples, 1)
        check_memory("n_resamples", n_resamples, n_resamples * (problem.law.n_params + 4) * 8)
        return None, n_resamples, None
    shape = np.shape(indices)
    if len(shape) == 2 and 0 in shape:
        raise ValueError(f"indices has shape {shape}: no {'resample' if shape[0] == 0 else 'row'}; give one row "
                         "per resample (R >= 1) holding its m >= 1 drawn row positions")
    counts = counts_from_indices(indices, len(problem.log_y))
    n_resamples = counts.shape[0]
    return counts, n_resamples, identifiable_resamples(problem.law, problem.log_x, seed, n_resamples,
                                                       len(problem.log_y), counts)


def full_data_estimate(problem: Problem, estimate: FitResult | None, search: Search, seed: int,
                       runner: Runner) -> FitResult:
    """The point estimate: ``estimate`` checked against the problem, or a fit of the full data with the same
    starts (the grid for a named per-resample strategy) and solver."""
    if estimate is not None:
        check_estimate(estimate, problem.law, problem.loss, problem.log_x, problem.log_y, problem.input_columns,
                       problem.y)
        return estimate
    full = Search(starts=None if isinstance(search.starts, str) else search.starts, solver=problem.solver)
    fitted = fit_problem(problem, np.ones(len(problem.log_y)), seed, full,
                         Runner(n_lanes=runner.n_lanes, devices=runner.devices if runner.executor is None else None))
    warn_untrusted(fitted, stacklevel=5)  # the point estimate's own notes, as js.fit says them
    return fitted
