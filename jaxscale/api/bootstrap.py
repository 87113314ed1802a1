"""``jaxscale.bootstrap``: case-resampling uncertainty with full multi-start refits of every resample."""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Mapping

import jax.numpy as jnp
import numpy as np

from ..engine import float64
from ..engine.resampling import counts_from_indices
from ..engine.scheduler import RowsJob, run_rows
from ..kernels.laws import Law
from ..kernels.losses import Loss
from .cluster import cluster_bootstrap, resample_plan
from .fit import fit
from .groups import bootstrap_groups
from .options import Columns
from .problem import prepare, recipe, versions
from .results.bootstrap import BootstrapResult, identifiable_resamples, load
from .results.fit import FitResult
from .search import resample_strategy
from .validation import check_int, check_level, check_seed

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


class _Renamed:
    """Default of a renamed keyword: tells "not given" apart from ``None``."""

    def __repr__(self) -> str:
        return "<renamed>"


_RENAMED = _Renamed()


def bootstrap(data, law: str | Law = "chinchilla", n_resamples: int = 4000, starts="grid", seed: int = 0, *,
              indices=None, loss: str | Loss = "huber", delta: float = 1e-3, solver=None, n: str = "N",
              d: str = "D", y: str = "loss", x: str = "x", fixed: Mapping[str, float] | None = None,
              tied: Mapping[str, str] | None = None, by=None, columns: Mapping[str, str] | None = None,
              polish: int = 1, prune: int | str | None = "auto", prune_iter: int | None = None,
              n_subgrid: int = 16, chunk_size: int | None = None,
              n_lanes: int | None = None, devices=None, checkpoint: str | Path | None = None,
              progress: bool | None = None, estimate: FitResult | None = None, executor=None,
              retries: int = 2, c: str | None = None, resample: str = "case", cluster=None,
              budgets=None, prune_keep=_RENAMED) -> BootstrapResult:
    r"""Case-resampling bootstrap with a multi-start refit of every resample.

    Resample :math:`r` is a count vector :math:`w^{(r)}` (rows drawn with replacement); its
    fit minimises :math:`\sum_i w^{(r)}_i \rho(\log L_i - \log\hat L(\theta; x_i))` from every
    start and keeps the best end point. All (resample, start) pairs run as lanes of one
    compiled solver, in chunks of resamples run here (split across local devices) or on the
    workers of an executor (:func:`jaxscale.engine.scheduler.run_rows`).

    Parameters
    ----------
    data : DataFrame or dict of arrays
    law, loss, delta, solver, n, d, y, c, columns : as in :func:`jaxscale.fit`
    n_resamples : int
        Number of resamples (>= 1) drawn from ``seed`` (ignored when ``indices`` is given).
        Resamples whose drawn rows cannot identify the law (at most ``p`` distinct input points,
        or one value of an input) are flagged in ``draws["identifiable"]`` and left out of the
        intervals (with a warning); small data sets make many of them.
    solver : as in :func:`jaxscale.fit`; with one start per resample (``"best"``, or an array
        of one start) the default is ``"lm-warm"`` (exact Huber curvature once the set of points
        inside delta has settled: a few Newton steps from a start near the optimum).
    starts : "grid", "best", "prune", int or array (K, p)
        ``"grid"``: the law's grid for every resample (4500 for Chinchilla), pruned as set by
        ``prune`` (default: screened for ``prune_iter`` evaluations, the lowest 64 continued,
        as :func:`jaxscale.fit`; ``prune=None`` runs every start to convergence). ``"best"``:
        only the full-data optimum. ``"prune"``: the grid, pruned (same as ``"grid"`` unless
        ``prune=None``). ``"subgrid"``: the
        full-data optimum plus ``n_subgrid - 1`` grid starts spread evenly over the grid (for
        solvers that reach the optimum from almost anywhere; benchmarks/bench_bootstrap.py
        measures its agreement with the exhaustive grid). An int: seeded random starts; an
        array: those starts.
    seed : int
        An integer in ``[0, 2**32 - 1]``. Resample ``r`` uses ``jax.random.fold_in(PRNGKey(seed), r)``.
        Every draw is bit-identical whatever ``n_resamples``, ``chunk_size``, ``executor``, worker or
        device count (on one backend and jax version).
    indices : int array (R, m), optional
        Explicit resamples as row positions of ``data`` (e.g. Epoch's ``np.random.choice`` draws).
    polish : int
        As in :func:`jaxscale.fit`, per resample: for solvers that do not polish their own lanes (and
        for resamples whose best lane did not converge) the ``polish`` best end points of the resample
        are refined with exact Huber curvature and tight tolerances (default 1; 0 switches it off).
    prune, prune_iter : "auto", int or None; int or None
        The pruned multi-start of grid (and many-start) resamples, exactly as in :func:`jaxscale.fit`
        (``"auto"``: 64 kept after 20 screening evaluations; None: every start).
    prune_keep : deprecated
        The former name of ``prune`` (same meaning; warns).
    n_subgrid : int
        Starts of ``starts="subgrid"`` (>= 2).
    chunk_size : int, optional
        Fits (resamples x starts) per chunk. Default: chunks of about 5 s of work, from a timed
        probe chunk (the granularity of checkpoints and of executor tasks).
    n_lanes : int, optional
        Lanes advanced together (default fixed by the backend and the data size).
    devices : None, int or list
        Local devices to shard over (default all; with an executor, each worker's own).
    checkpoint : path, optional
        Directory for finished chunks; a rerun with the same arguments skips them and gives
        exactly the same result (more ``n_resamples`` reuses them too). Corrupt chunk files
        are detected and recomputed.
    progress : bool, optional
        ``tqdm`` progress bar (fits, fits/s, ETA); default: shown once a run lasts a few seconds.
    estimate : FitResult, optional
        A full-data fit to report as the point estimate (computed with the same starts if omitted).
        It must come from the same data (same rows and columns, unweighted), law, loss and delta.
    by : str or list of str, optional
        Bootstrap every group of rows (sharing these columns' values) in one compiled run; returns
        a :class:`~jaxscale.api.groups.GroupedBootstrapResult` (group ``g`` draws its resamples as a
        bootstrap of that group alone with the same seed would).
    executor : concurrent.futures-style executor, optional
        Runs the chunks: a Dask ``distributed.Client`` (or ``client.get_executor()``), a
        ``ProcessPoolExecutor``, submitit's ``AutoExecutor`` ... anything with ``submit``.
    retries : int
        Resubmissions of a chunk whose future failed (executor runs).
    resample : {"case", "cluster", "wild-cluster"}
        ``"case"``: rows (default). ``"cluster"``: whole clusters of rows; ``"wild-cluster"``: Webb
        six-point multipliers per cluster on leverage-corrected residuals (see :mod:`jaxscale.api.cluster`).
    cluster, budgets : optional
        The clusters: ``"budget"`` (compute, nearest of ``budgets`` or rounded to 0.1 decade), ``"size"``
        (N, same rule), a column name or one label per row. Warns below 10 clusters.
    """
    solver_given = solver
    seed = check_seed(seed)
    if prune_keep is not _RENAMED:
        warnings.warn("bootstrap(prune_keep=...) is now bootstrap(prune=...), as in fit()", DeprecationWarning,
                      stacklevel=2)
        prune = prune_keep
    polish = check_int("polish", polish, 0)
    if not (isinstance(prune, str) and prune == "auto"):
        prune = check_int("prune", prune, 1, optional=True)
    prune_iter = check_int("prune_iter", prune_iter, 1, optional=True)
    n_subgrid = check_int("n_subgrid", n_subgrid, 2)
    chunk_size = check_int("chunk_size", chunk_size, 1, optional=True)
    n_lanes = check_int("n_lanes", n_lanes, 1, optional=True)
    columns = Columns.from_keywords(n, d, y, x, columns, c)
    if by is not None:
        if indices is not None or estimate is not None or resample != "case":
            raise ValueError("by= takes case resamples drawn from seed, with each group's own full-data fit; for "
                             "indices=, estimate= or cluster resamples bootstrap the groups one by one")
        return bootstrap_groups(data, by, law=law, n_resamples=n_resamples, starts=starts, seed=seed, loss=loss,
                                delta=delta, solver=solver, fixed=fixed, tied=tied, columns=columns, polish=polish,
                                prune=prune, prune_iter=prune_iter, n_subgrid=n_subgrid, n_lanes=n_lanes,
                                chunk_size=chunk_size, devices=devices, checkpoint=checkpoint, progress=progress,
                                executor=executor, retries=retries)
    problem = prepare(data, law, loss, delta, columns=columns, solver=solver, fixed=fixed, tied=tied)
    law, loss_fn, solver, log_x, log_y = problem.law, problem.loss, problem.solver, problem.log_x, problem.log_y
    n_rows = len(problem.frame)
    clusters = resample_plan(problem.frame, resample, cluster, budgets, columns.column("N"), columns.column("D"),
                             indices, checkpoint)
    if clusters is not None and executor is not None:
        raise ValueError(f"resample={resample!r} runs locally; executor= is for case resamples")

    if indices is not None:
        fixed_counts = counts_from_indices(indices, n_rows)
        n_resamples = fixed_counts.shape[0]
        resample_ok = identifiable_resamples(law, log_x, seed, n_resamples, n_rows, fixed_counts)
    else:
        fixed_counts = None
        n_resamples = check_int("n_resamples", n_resamples, 1)
        resample_ok = None  # recomputed from (seed, r) when asked for

    if isinstance(starts, str) and starts not in ("grid", "best", "prune", "subgrid"):
        raise ValueError(f"starts={starts!r}: use 'grid', 'best', 'prune', 'subgrid', an int or an array "
                         f"(K, {law.n_params})")
    if estimate is None:
        full_starts = None if isinstance(starts, str) else starts
        estimate = fit(problem.frame, law=law, starts=full_starts, loss=loss_fn, solver=solver, columns=columns,
                       seed=seed, devices=devices if executor is None else None, n_lanes=n_lanes)
    else:
        check_estimate(estimate, law, loss_fn, log_x, log_y, problem.input_columns, problem.y)
    start_points, prune, prune_iter, solver = resample_strategy(law, starts, estimate.theta, n_subgrid, seed, prune,
                                                               prune_iter, solver_given, solver)
    steps = dict(prune=prune, prune_iter=prune_iter, polish=polish, solver=solver, seed=int(seed),
                 n_resamples=n_resamples)
    if clusters is not None:
        return cluster_bootstrap(resample=resample, clusters=clusters, law=law, loss=loss_fn, solver=solver,
                                 log_x=log_x, log_y=log_y, estimate=estimate, start_points=start_points,
                                 n_resamples=n_resamples, seed=seed, pruning=prune is not None, prune=prune,
                                 prune_iter=prune_iter, polish=polish, chunk_size=chunk_size, n_lanes=n_lanes,
                                 devices=devices, progress=progress, recipe=recipe(
                                     problem, start_points, starts, **steps, versions=versions(),
                                     cluster=cluster if isinstance(cluster, str) else "labels"))

    job = RowsJob(solver, law, loss_fn, log_x, log_y, start_points,
                  seed=None if fixed_counts is not None else int(seed),
                  weights=fixed_counts, prune_keep=prune, prune_iter=prune_iter,
                  polish_top=polish, n_lanes=n_lanes)
    made = recipe(problem, start_points, starts, **steps, n_lanes=int(job.n_lanes),
                  indices="explicit" if fixed_counts is not None else "jax.random.fold_in(PRNGKey(seed), r)",
                  versions=versions())
    rows = run_rows(job, n_resamples, executor=executor, checkpoint=checkpoint, chunk_size=chunk_size,
                    progress=progress, retries=retries, devices=devices, description=made)
    return BootstrapResult(law, loss_fn, np.asarray(estimate.theta), float(estimate.objective), rows.theta,
                           rows.value, rows.converged, rows.n_at_best, log_x, log_y, np.ones(n_rows), made,
                           _identifiable=resample_ok)
