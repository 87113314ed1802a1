r"""Many data sets in one compiled call: ``fit(data, by=...)``.

Each group's rows are stacked into one padded array ``features[G, m, k]`` (padding rows carry
weight 0), so every (group, start) pair is one lane of the same compiled solver run:

.. math:: \hat\theta_g = \arg\min_\theta \sum_{i \in g} \rho\big(y_i - \hat z(\theta; x_i)\big)
          \quad \text{for every group } g \text{ at once.}

Groups may differ in size and input range; validation errors name the group.
"""
from __future__ import annotations

import warnings
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..engine import resolve_starts
from ..engine.batching import TaskResults
from ..engine.scheduler import TASK_FIELDS, RowsJob, run_rows
from .options import Columns, Runner
from .problem import Problem, prepare, recipe, versions
from .reach import data_span
from .results.bootstrap import BootstrapResult
from .results.fit import FitResult, _starts_frame, absurd_points
from .results.grouped import GroupedBootstrapResult, GroupedFitResult
from .search import BOOTSTRAP_STARTS, FIT_POLISH, RESAMPLE_POLISH, Search, resample_strategy, resolve_prune
from .validation import as_frame


def group_keys(by) -> list[str]:
    """``by`` as a non-empty list of column names."""
    cols = [by] if isinstance(by, str) else list(by) if isinstance(by, (list, tuple)) else None
    if not cols or not all(isinstance(c, str) for c in cols):
        raise ValueError(f"by must be a column name or a list of column names, got {by!r}")
    return cols


def split_groups(frame: pd.DataFrame, by) -> tuple[list[str], list[Any], list[np.ndarray]]:
    """``(columns, keys, row positions per group)``, groups in sorted key order.

    A missing ``by`` column or a missing value in one raises a ValueError naming it.
    """
    cols = group_keys(by)
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise ValueError(f"by: column(s) {missing} not found; available columns: {list(map(str, frame.columns))}")
    for c in cols:
        bad = np.flatnonzero(frame[c].isna().to_numpy())
        if bad.size:
            raise ValueError(f"by: column {c!r} row {int(bad[0])} is missing ({bad.size} such row(s)); give every "
                             "row a group or drop those rows explicitly")
    grouped = frame.groupby(cols if len(cols) > 1 else cols[0], sort=True)
    keys = list(grouped.groups.keys())
    positions = [np.asarray(grouped.indices[k]) for k in keys]
    return cols, keys, positions


def stack_groups(parts: Sequence[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pad each group's ``(features[n_g, k], target[n_g])`` to ``m = max n_g`` rows.

    Padding rows repeat the group's first row (finite values) with weight 0. Returns
    ``(features[G, m, k], target[G, m], mask[G, m])``.
    """
    m = max(len(t) for _, t in parts)
    k = parts[0][0].shape[1]
    feats = np.empty((len(parts), m, k))
    target = np.empty((len(parts), m))
    mask = np.zeros((len(parts), m))
    for g, (f, t) in enumerate(parts):
        n = len(t)
        feats[g, :n], target[g, :n], mask[g, :n] = f, t, 1.0
        feats[g, n:], target[g, n:] = f[0], t[0]
    return feats, target, mask


def prepare_groups(data, by, law, loss, delta, *, columns: Columns, solver=None, fixed=None,
                   tied=None) -> tuple[list[str], list[Any], list[Problem]]:
    """``(by columns, keys, one Problem per group)``: the law, loss and solver are resolved once (from the
    first group) and shared; validation errors name the group."""
    frame = as_frame(data)
    cols, keys, positions = split_groups(frame, by)
    problems: list[Problem] = []
    for key, rows in zip(keys, positions):
        first = problems[0] if problems else None
        problems.append(prepare(frame.iloc[rows], first.law if first else law, loss, delta, columns=columns,
                                solver=first.solver if first else solver, fixed=None if first else fixed,
                                tied=None if first else tied, where=f"group {key!r}: "))
    return cols, keys, problems


def stack_problems(problems: Sequence[Problem]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`stack_groups` of the groups' fitting-space data."""
    return stack_groups([(p.log_x, p.log_y) for p in problems])


def fit_groups(data, by, *, law="chinchilla", loss="huber", delta=1e-3, fixed=None, tied=None, seed=0,
               columns: Columns, search: Search, runner: Runner) -> GroupedFitResult:
    """Fit ``law`` to every group of ``data`` (rows sharing the ``by`` columns' values) in one run.

    Same parameters as :func:`jaxscale.fit`; see there. The groups are the rows of one
    :class:`~jaxscale.engine.scheduler.RowsJob` (row ``g`` = group ``g``'s 0/1 mask over its padded
    data), so ``runner.executor``/``runner.checkpoint`` work as for bootstraps. Returns a :class:`GroupedFitResult`.
    """
    cols, keys, problems = prepare_groups(data, by, law, loss, delta, columns=columns, solver=search.solver,
                                          fixed=fixed, tied=tied)
    first = problems[0]
    law_obj, loss_fn = first.law, first.loss
    feats, target, mask = stack_problems(problems)
    start_points = resolve_starts(law_obj, search.starts, seed)
    n_groups, n_starts = len(keys), len(start_points)
    prune, prune_iter = resolve_prune(search.prune, search.prune_iter, n_starts)
    polish = search.polish_or(FIT_POLISH)
    made = recipe(first, start_points, search.starts, prune=prune, prune_iter=prune_iter, polish=polish)
    job = RowsJob(first.solver, law_obj, loss_fn, feats, target, start_points, weights=mask, prune_keep=prune,
                  prune_iter=prune_iter, polish_top=polish, n_lanes=runner.n_lanes,
                  group_sizes=tuple(len(p.log_y) for p in problems), keep_tasks=True)
    best = run_rows(job, n_groups, **runner.jobs(), description=dict(made, by=cols))
    results = {}
    for g, key in enumerate(keys):
        tasks = TaskResults(*(best.tasks[name][g] for name in TASK_FIELDS))
        results[key] = FitResult(law_obj, loss_fn, best.theta[g], float(best.value[g]),
                                 bool(best.converged[g]) and not absurd_points(best.theta[g])[0],
                                 _starts_frame(law_obj, start_points, tasks), int(mask[g].sum()),
                                 dict(made, group=key if not isinstance(key, tuple) else list(key),
                                      data_span=data_span(law_obj.base, problems[g].log_x)))
    flagged = {key: said for key, said in ((k, r.notes()) for k, r in results.items()) if said}
    if flagged:
        warnings.warn(f"fit(by={cols}): {len(flagged)} of {len(keys)} group(s) cannot be trusted as they stand: "
                      + " | ".join(f"group {key!r}: " + "; ".join(said) for key, said in list(flagged.items())[:5])
                      + (" | ..." if len(flagged) > 5 else "") + " (see summary()['notes'])", UserWarning, stacklevel=3)
    return GroupedFitResult(cols, results, dict(made, by=cols))


def bootstrap_groups(data, by, *, law="chinchilla", n_resamples=4000, seed=0, loss="huber", delta=1e-3,
                     fixed=None, tied=None, columns: Columns, search: Search, runner: Runner) -> GroupedBootstrapResult:
    r"""Case-resampling bootstrap of every group at once (see :func:`jaxscale.bootstrap`).

    Rows of all groups are stacked (padded, weight 0) and run as one
    :class:`~jaxscale.engine.scheduler.RowsJob` with ``group_sizes``: job row ``r`` is resample
    ``r // G`` of group ``r % G``, drawn as
    :func:`~jaxscale.engine.resampling.resample_counts` ``(seed, r // G, n_g)`` (the draw a
    bootstrap of that group alone makes), and every (group, resample, start) triple is a lane of
    the same compiled run, in chunks that can be checkpointed or sent to an ``executor``
    exactly as an ungrouped bootstrap's. ``starts``: ``"subgrid"`` (default: each group's full-data
    optimum plus ``n_subgrid - 1`` spread grid starts, as :func:`jaxscale.bootstrap`), ``"grid"`` (the law's grid, pruned as
    ``prune``/``prune_iter`` say), ``"best"`` (each group's full-data optimum, with the warm-start
    solver unless one is given), ``"subgrid"`` (that optimum plus ``n_subgrid - 1`` spread grid
    starts), an int or an array; the vocabulary is that of :func:`jaxscale.fit`.
    """
    starts = BOOTSTRAP_STARTS if search.starts is None else search.starts
    R = int(n_resamples)
    if R < 1 or R != n_resamples:
        raise ValueError(f"n_resamples must be a whole number >= 1, got {n_resamples!r}")
    full_search = Search(starts=None if isinstance(starts, str) else starts, solver=search.solver)
    fitted = fit_groups(data, by, law=law, loss=loss, delta=delta, fixed=fixed, tied=tied, seed=seed,
                        columns=columns, search=full_search, runner=Runner(
                            n_lanes=runner.n_lanes, devices=runner.devices if runner.executor is None else None))
    first_fit = next(iter(fitted.results.values()))
    cols, keys, problems = prepare_groups(data, by, first_fit.law, first_fit.loss, delta, columns=columns,
                                          solver=search.solver)
    law_obj, loss_fn = first_fit.law, first_fit.loss
    feats, target, _ = stack_problems(problems)
    G = len(problems)
    estimates = np.stack([fitted.results[k].theta for k in keys])
    start_points, prune, prune_iter, solver_obj = resample_strategy(law_obj, starts, estimates, search.n_subgrid,
                                                                    seed, search.prune, search.prune_iter,
                                                                    search.solver, problems[0].solver)
    polish = search.polish_or(RESAMPLE_POLISH)
    job = RowsJob(solver_obj, law_obj, loss_fn, feats, target, start_points, seed=int(seed), prune_keep=prune,
                  prune_iter=prune_iter, polish_top=polish, n_lanes=runner.n_lanes,
                  group_sizes=tuple(len(p.log_y) for p in problems))
    made = recipe(problems[0], start_points, starts, prune=prune, prune_iter=prune_iter, polish=polish,
                  solver=solver_obj, seed=int(seed), n_resamples=R, n_lanes=int(job.n_lanes),
                  indices="jax.random.fold_in(PRNGKey(seed), r) per group", by=cols, versions=versions())
    rows = run_rows(job, G * R, **runner.jobs(), description=made)
    results = {}
    for g, key in enumerate(keys):
        sl = slice(g, G * R, G)  # job row r is resample r // G of group r % G
        f, t = problems[g].log_x, problems[g].log_y
        est = fitted.results[key]
        results[key] = BootstrapResult(law_obj, loss_fn, np.asarray(est.theta), float(est.objective), rows.theta[sl],
                                       rows.value[sl], rows.converged[sl], rows.n_at_best[sl], f, t,
                                       np.ones(len(t)), dict(made, group=list(key) if isinstance(key, tuple)
                                                             else key))
    return GroupedBootstrapResult(cols, results, made)
