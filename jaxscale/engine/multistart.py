"""Best-of-many-starts fits for many weight vectors at once (the full fit and every bootstrap resample).

For weights rows ``r = 0..R-1`` and starts ``s = 0..S-1`` every pair is one lane task. Two
strategies:

- exhaustive: every (r, s) runs to its stopping rule;
- pruned (``prune_keep=k``): every (r, s) runs ``prune_iter`` evaluations, then only the ``k``
  lowest objectives of each ``r`` continue from where they stopped to full convergence.

Then the ``polish_top`` best end points of each ``r`` are refined with the exact Huber
curvature and tight tolerances (:data:`POLISHER`); the best end point of all is reported.
"""
from __future__ import annotations

import dataclasses
import sys
from typing import NamedTuple

import numpy as np

from ..kernels.solvers import LevenbergMarquardt
from .batching import TaskResults, run_tasks

#: Final refinement: exact Huber curvature from the first accepted step, tight tolerances.
POLISHER = LevenbergMarquardt(max_iter=300, gtol=1e-13, ftol=1e-15, xtol=1e-12, polish_tol=1.0)

#: End objectives within this of a row's best count as "the best basin".
BASIN_TOL = 1e-9


class BestOf(NamedTuple):
    theta: np.ndarray  # (R, p) best end point per weights row
    value: np.ndarray  # (R,)
    converged: np.ndarray  # (R,)
    n_at_best: np.ndarray  # (R,) starts whose end objective is within BASIN_TOL of the best
    tasks: TaskResults  # per (r, s) end points, r-major (after pruning: full results for the kept ones)


def _finite(values: np.ndarray) -> np.ndarray:
    return np.where(np.isfinite(values), values, np.inf)


def best_of_starts(solver, law, loss, log_x, log_y, weights, starts, *, prune_keep: int | None = None,
                   prune_iter: int = 40, polish_top: int = 1, n_lanes: int | None = None,
                   chunk_size: int | None = None, devices=None, shape_rows: int | None = None,
                   row_group=None) -> BestOf:
    """Fit every weights row from every start and keep each row's best end point.

    Each row's result depends only on that row (its tasks, its pruning and its polish), never
    on the other rows of the call. ``shape_rows`` pads the weights to that many rows and every
    compiled call to the largest call shape (padding tasks never run): a scheduler's fixed chunk
    shape, so one compilation per solver serves every chunk, whatever its rows or starts.
    ``row_group[r]`` names the data set (group) of weights row ``r`` when ``log_x`` stacks
    several (``log_x[G, m, k]``); see :func:`~jaxscale.engine.batching.run_tasks`.
    ``starts`` is ``(S, p)`` (every row from the same starts) or ``(R, S, p)`` (row ``r`` from
    ``starts[r]``, e.g. each row from its own data set's estimate).
    """
    weights = np.atleast_2d(np.asarray(weights, np.float64))
    starts = np.asarray(starts, np.float64)
    n_rows, n_starts, p = weights.shape[0], starts.shape[-2], starts.shape[-1]
    if starts.ndim == 3 and starts.shape[0] != n_rows:
        raise ValueError(f"per-row starts have {starts.shape[0]} rows but weights has {n_rows}")
    which = np.repeat(np.arange(n_rows), n_starts)
    tiled = starts.reshape(-1, p) if starts.ndim == 3 else np.tile(starts, (n_rows, 1))
    full_calls = None if shape_rows is None else sys.maxsize  # capped at the largest call shape

    def run(solver_, starts_, which_):
        return run_tasks(solver_, law, loss, log_x, log_y, weights, starts_, which_, n_lanes=n_lanes,
                         chunk_size=chunk_size, devices=devices, shape_tasks=full_calls, shape_rows=shape_rows,
                         row_group=row_group)

    if prune_keep is not None and 0 < prune_keep < n_starts:
        cheap = dataclasses.replace(solver, max_iter=int(prune_iter))
        tasks = run(cheap, tiled, which)
        order = np.argsort(_finite(tasks.value).reshape(n_rows, n_starts), axis=1, kind="stable")[:, :prune_keep]
        flat = (np.arange(n_rows)[:, None] * n_starts + order).ravel()
        full = run(solver, tasks.theta[flat], which[flat])
        # report the kept lanes' full runs; their iterations include the cheap phase
        full = full._replace(iterations=full.iterations + tasks.iterations[flat])
        tasks = TaskResults(*(np.array(a) for a in tasks))
        for field_name, values in full._asdict().items():
            getattr(tasks, field_name)[flat] = values
    else:
        tasks = run(solver, tiled, which)

    values = _finite(tasks.value).reshape(n_rows, n_starts)
    rows = np.arange(n_rows)
    best_k = np.argmin(values, axis=1)
    best = values[rows, best_k]
    theta = tasks.theta.reshape(n_rows, n_starts, p)[rows, best_k]
    converged = tasks.converged.reshape(n_rows, n_starts)[rows, best_k].astype(bool)
    n_at_best = np.sum(values <= best[:, None] + BASIN_TOL, axis=1)

    if polish_top > 0:
        top = np.argsort(values, axis=1, kind="stable")[:, :polish_top]
        flat = (rows[:, None] * n_starts + top).ravel()
        refined = run(POLISHER, tasks.theta[flat], which[flat])
        r_values = _finite(refined.value).reshape(n_rows, -1)
        k = np.argmin(r_values, axis=1)
        better = r_values[rows, k] <= best
        theta = np.where(better[:, None], refined.theta.reshape(n_rows, -1, p)[rows, k], theta)
        best = np.where(better, r_values[rows, k], best)
        converged = np.where(better, refined.converged.reshape(n_rows, -1)[rows, k] | converged, converged)
    return BestOf(theta, best, converged, n_at_best, tasks)
