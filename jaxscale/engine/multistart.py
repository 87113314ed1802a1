r"""Best-of-many-starts fits for many weight vectors at once (the full fit and every bootstrap resample).

For weights rows ``r = 0..R-1`` and starts ``s = 0..S-1`` every pair is one lane task. Two
strategies:

- exhaustive (``prune_keep=None``): every (r, s) runs to its stopping rule;
- pruned (``prune_keep=k``): every (r, s) is *screened* for ``prune_iter`` evaluations, then the
  ``k`` lowest objectives of each ``r`` run to full convergence; the other starts are reported with
  status ``pruned``. A task's iterates never depend on the budget, so a continued task ends exactly
  where an unpruned run of it ends. Both phases are calls of the same compiled program as every
  other call (:func:`~jaxscale.engine.batching.lane_program`); the selection between them is made
  on the host from the screened objectives, so it never depends on the device count.

The default solver (:data:`DEFAULT_SOLVER`) polishes every lane it runs to convergence with the
exact Huber curvature (``polish_after``). For other solvers the ``polish_top`` best end points of
each row are refined afterwards with :data:`POLISHER`; the best end point of all is reported.

Which strategy is the default, and why it reaches the same optimum as the exhaustive grid, is
measured in ``benchmarks/bench_strategy.py`` (Epoch's data and synthetic data sets of many shapes).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..kernels.solvers import SOLVERS, LevenbergMarquardt
from ..kernels.solvers.common import PRUNED, RUNNING
from .batching import TaskResults, run_tasks

#: Final refinement: exact Huber curvature from the first accepted step, tight tolerances.
POLISHER = LevenbergMarquardt(max_iter=300, gtol=1e-13, ftol=1e-15, xtol=1e-12, polish_tol=1.0, polish_after=False,
                              settle_steps=0)

#: The default lane solver: Levenberg-Marquardt on the IRLS model (reaches the global optimum from
#: almost every start), which polishes with the exact curvature once the standard test is met.
DEFAULT_SOLVER = LevenbergMarquardt()

#: For warm starts (a start at or near the optimum: a bootstrap resample started from the
#: full-data optimum or a published fit): switch to the exact curvature as soon as the set of
#: points inside delta stays the same for one step (a damped Newton method from there), with a small
#: initial damping (Gauss-Newton steps from the first evaluation).
WARM_SOLVER = SOLVERS["lm-warm"]()

#: Default pruning of a multi-start fit: screen every start for PRUNE_ITER evaluations, then
#: continue the PRUNE_KEEP lowest to convergence (measured in benchmarks/bench_strategy.py).
PRUNE_KEEP = 64
PRUNE_ITER = 20

#: Data with more rows than this are screened on a fixed subsample of this many rows (the pruned
#: multi-start's both phases), then the SUBSAMPLE_FINISH best end points are fitted to all rows.
SUBSAMPLE_ROWS = 2048
SUBSAMPLE_FINISH = 8

#: End objectives within this of a row's best count as "the best basin".
BASIN_TOL = 1e-9


def basins(objectives, tol: float = BASIN_TOL) -> tuple[np.ndarray, np.ndarray]:
    """Group end objectives into basins: sorted values whose neighbours differ by at most ``tol``.

    Returns ``(objective, count)``, one entry per basin, best first: the basin's lowest value and how
    many end points it holds; non-finite objectives form a last entry with ``objective = nan``.
    """
    values = np.asarray(objectives, np.float64).ravel()
    finite = np.sort(values[np.isfinite(values)])
    groups = np.split(finite, np.flatnonzero(np.diff(finite) > tol) + 1) if finite.size else []
    lowest = [group[0] for group in groups]
    counts = [group.size for group in groups]
    n_bad = int(values.size - finite.size)
    if n_bad:
        lowest.append(np.nan)
        counts.append(n_bad)
    return np.asarray(lowest, np.float64), np.asarray(counts, np.int64)


class BestOf(NamedTuple):
    theta: np.ndarray  # (R, p) best end point per weights row
    value: np.ndarray  # (R,)
    converged: np.ndarray  # (R,)
    n_at_best: np.ndarray  # (R,) starts whose end objective is within BASIN_TOL of the best
    tasks: TaskResults  # per (r, s) end points, r-major (after pruning: full results for the kept ones)


def _finite(values: np.ndarray) -> np.ndarray:
    return np.where(np.isfinite(values), values, np.inf)


def polishes(solver) -> bool:
    """Whether ``solver`` already ends every converged lane with an exact-curvature polish."""
    return isinstance(solver, LevenbergMarquardt) and solver.polish_after


def pruned_tasks(solver, law, loss, log_x, log_y, weights, starts, *, keep: int, budget: int,
                 n_lanes: int | None = None, devices=None,
                 row_group=None) -> tuple[TaskResults, np.ndarray, np.ndarray]:
    """Screen every (row, start) task for ``budget`` evaluations, continue the ``keep`` lowest per row.

    ``starts`` is ``(S, p)`` (every row from the same starts) or ``(R, S, p)`` (row ``r`` from ``starts[r]``).
    The ``keep`` lowest screened objectives of a row (non-finite ones last, ties by start order) that the
    budget stopped run again without one: the same iterates as an uninterrupted run from that start (a kept
    start that ended within the budget already holds its final outcome).

    Returns the per-task results (r-major; pruned tasks keep their screening end point with status
    :data:`~jaxscale.kernels.solvers.common.PRUNED`, continued ones report where they ended, the
    same end point as an unpruned run from that start), a bool mask of the continued tasks and every task's objective at
    the end of the screening.
    """
    weights = np.atleast_2d(np.asarray(weights, np.float64))
    starts = np.asarray(starts, np.float64)
    n_rows, n_starts, p = weights.shape[0], starts.shape[-2], starts.shape[-1]
    tiled = starts.reshape(-1, p) if starts.ndim == 3 else np.tile(starts, (n_rows, 1))
    which = np.repeat(np.arange(n_rows, dtype=np.int32), n_starts)

    def run(starts_, which_, budget_=None):
        return run_tasks(solver, law, loss, log_x, log_y, weights, starts_, which_, n_lanes=n_lanes,
                         devices=devices, row_group=row_group, budget=budget_)

    tasks = run(tiled, which, int(budget))
    screened_value = tasks.value.copy()
    unfinished = tasks.status == RUNNING  # stopped by the budget; the others already ended where they end
    tasks.status[unfinished] = PRUNED
    order = np.argsort(_finite(screened_value).reshape(n_rows, n_starts), axis=1, kind="stable")
    ids = (np.arange(n_rows)[:, None] * n_starts + order[:, :int(keep)]).ravel()
    again = ids[unfinished[ids]]
    if again.size:
        finished = run(tiled[again], which[again])
        for name, values in zip(TaskResults._fields, finished):
            getattr(tasks, name)[again] = values
    continued = np.zeros(n_rows * n_starts, bool)
    continued[ids] = True
    return tasks, continued, screened_value


def subsample(n_rows: int, size: int = SUBSAMPLE_ROWS) -> np.ndarray:
    """Sorted row positions of the screening subsample: ``size`` of ``n_rows`` drawn without
    replacement by ``numpy.random.default_rng(0)`` (the same rows on every machine)."""
    return np.sort(np.random.default_rng(0).choice(int(n_rows), size=int(size), replace=False))


def _screen_on_subsample(solver, law, loss, log_x, log_y, weights, starts, keep, budget, n_lanes, devices,
                         run) -> TaskResults:
    """Pruned multi-start on :func:`subsample` rows, then the best ends fitted to every row.

    Rows' weights are scaled by ``sum(w) / sum(w_sub)`` so objectives keep the full data's scale.
    Tasks seen only on the subsample are reported with a NaN objective and status ``pruned``
    (their objective on the full data was never computed).
    """
    n_rows, n_starts = weights.shape[0], starts.shape[-2]
    rows = subsample(log_y.shape[0])
    sub_w = weights[:, rows]
    scale = weights.sum(axis=1, keepdims=True) / np.maximum(sub_w.sum(axis=1, keepdims=True), 1e-300)
    tasks, continued, _ = pruned_tasks(solver, law, loss, log_x[rows], log_y[rows], sub_w * scale, starts,
                                       keep=keep, budget=budget, n_lanes=n_lanes, devices=devices)
    values = np.where(continued, _finite(tasks.value), np.inf).reshape(n_rows, n_starts)
    top = np.argsort(values, axis=1, kind="stable")[:, :min(SUBSAMPLE_FINISH, keep)]
    flat = (np.arange(n_rows)[:, None] * n_starts + top).ravel()
    which = np.repeat(np.arange(n_rows), n_starts)
    full = run(solver, tasks.theta[flat], which[flat])
    out = TaskResults(*(np.array(a) for a in tasks))
    out.value[:] = np.nan
    out.converged[:] = False
    out.status[:] = PRUNED
    for name, values in full._asdict().items():
        if name == "iterations":
            values = values + tasks.iterations[flat]
        getattr(out, name)[flat] = values
    return out


def best_of_starts(solver, law, loss, log_x, log_y, weights, starts, *, prune_keep: int | None = None,
                   prune_iter: int = PRUNE_ITER, polish_top: int = 1, n_lanes: int | None = None,
                   chunk_size: int | None = None, devices=None, row_group=None) -> BestOf:
    """Fit every weights row from every start and keep each row's best end point.

    Each row's result depends only on that row (its tasks, its pruning and its polish), never
    on the other rows of the call. Every compiled call has the fixed shapes of the data's bucket
    (:func:`~jaxscale.engine.batching.lane_program`), so one compilation per law, loss and solver
    family serves every job: its rows, starts, pruning and polish.
    ``row_group[r]`` names the data set (group) of weights row ``r`` when ``log_x`` stacks
    several (``log_x[G, m, k]``); see :func:`~jaxscale.engine.batching.run_tasks`.
    ``starts`` is ``(S, p)`` (every row from the same starts) or ``(R, S, p)`` (row ``r`` from
    ``starts[r]``, e.g. each row from its own data set's estimate).

    ``prune_keep=k`` (``k < S``) runs the pruned multi-start (:func:`pruned_tasks`; on more than
    :data:`SUBSAMPLE_ROWS` rows screened on a subsample and the best :data:`SUBSAMPLE_FINISH` end points
    fitted to every row). For solvers that polish every lane
    themselves (:func:`polishes`) ``polish_top`` applies only to rows whose best lane did not
    converge (e.g. stopped at ``max_iter``).
    """
    weights = np.atleast_2d(np.asarray(weights, np.float64))
    starts = np.asarray(starts, np.float64)
    n_rows, n_starts, p = weights.shape[0], starts.shape[-2], starts.shape[-1]
    if starts.ndim == 3 and starts.shape[0] != n_rows:
        raise ValueError(f"per-row starts have {starts.shape[0]} rows but weights has {n_rows}")
    which = np.repeat(np.arange(n_rows), n_starts)
    tiled = starts.reshape(-1, p) if starts.ndim == 3 else np.tile(starts, (n_rows, 1))

    def run(solver_, starts_, which_):
        return run_tasks(solver_, law, loss, log_x, log_y, weights, starts_, which_, n_lanes=n_lanes,
                         chunk_size=chunk_size, devices=devices, row_group=row_group)

    pruning = prune_keep is not None and 0 < prune_keep < n_starts
    if pruning and row_group is None and np.shape(log_y)[0] > SUBSAMPLE_ROWS:
        tasks = _screen_on_subsample(solver, law, loss, np.asarray(log_x), np.asarray(log_y), weights, starts,
                                     int(prune_keep), int(prune_iter), n_lanes, devices, run)
    elif pruning:
        tasks, _, _ = pruned_tasks(solver, law, loss, log_x, log_y, weights, starts, keep=int(prune_keep),
                                   budget=int(prune_iter), n_lanes=n_lanes, devices=devices, row_group=row_group)
    else:
        tasks = run(solver, tiled, which)

    values = _finite(tasks.value).reshape(n_rows, n_starts)
    rows = np.arange(n_rows)
    best_k = np.argmin(values, axis=1)
    best = values[rows, best_k]
    theta = tasks.theta.reshape(n_rows, n_starts, p)[rows, best_k]
    converged = tasks.converged.reshape(n_rows, n_starts)[rows, best_k].astype(bool)
    n_at_best = np.sum(values <= best[:, None] + BASIN_TOL, axis=1)

    # rows to polish: all (solvers that do not polish), else only rows whose best lane did not converge
    todo = rows if not polishes(solver) else np.flatnonzero(~converged)
    if polish_top > 0 and todo.size:
        top = np.argsort(values[todo], axis=1, kind="stable")[:, :polish_top]
        flat = (todo[:, None] * n_starts + top).ravel()
        refined = run(POLISHER, tasks.theta[flat], which[flat])
        r_values = _finite(refined.value).reshape(todo.size, -1)
        k = np.argmin(r_values, axis=1)
        here = np.arange(todo.size)
        better = r_values[here, k] <= best[todo]
        theta[todo] = np.where(better[:, None], refined.theta.reshape(todo.size, -1, p)[here, k], theta[todo])
        best[todo] = np.where(better, r_values[here, k], best[todo])
        converged[todo] = np.where(better, refined.converged.reshape(todo.size, -1)[here, k] | converged[todo],
                                   converged[todo])
    return BestOf(theta, best, converged, n_at_best, tasks)
