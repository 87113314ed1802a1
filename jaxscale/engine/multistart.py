r"""Best-of-many-starts fits for many weight vectors at once (the full fit and every bootstrap resample).

For weights rows ``r = 0..R-1`` and starts ``s = 0..S-1`` every pair is one lane task. Two
strategies:

- exhaustive (``prune_keep=None``): every (r, s) runs to its stopping rule;
- pruned (``prune_keep=k``): every (r, s) is *screened* for ``prune_iter`` evaluations, then the
  ``k`` lowest objectives of each ``r`` continue from where they stopped to full convergence;
  the other starts are reported with status ``pruned``. Both phases run in ONE compiled program
  (:func:`pruned_program`): the lane loop is traced once and run twice, with the selection
  between the two runs done on the device (an ``all_gather`` of the screened objectives, so every
  device selects the same starts and results never depend on the device count).

The default solver (:data:`DEFAULT_SOLVER`) polishes every lane it runs to convergence with the
exact Huber curvature (``polish_after``). For other solvers the ``polish_top`` best end points of
each row are refined afterwards with :data:`POLISHER`; the best end point of all is reported.

Which strategy is the default, and why it reaches the same optimum as the exhaustive grid, is
measured in ``benchmarks/bench_strategy.py`` (Epoch's data and synthetic data sets of many shapes).
"""
from __future__ import annotations

import sys
from functools import lru_cache
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..kernels.solvers import SOLVERS, Data, LevenbergMarquardt, Outcome, queue_loop
from ..kernels.solvers.common import PRUNED, RUNNING
from .batching import TaskResults, default_lanes, pad_data, resolve_devices, run_tasks
from .precision import float64

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

#: Evaluation budget meaning "no budget" in the second phase of the pruned program.
_NO_BUDGET = 1 << 30


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


@lru_cache(maxsize=32)
def pruned_program(solver, law, loss, n_lanes: int, devices: tuple, n_starts: int, keep: int):
    """The pruned multi-start as one compiled program over ``devices``.

    Inputs (global arrays; each device holds a block of ``B`` task slots): ``data``; ``starts[nB, p]``,
    ``which[nB]`` (weights row), ``ids[nB]`` (task id ``r * n_starts + s``, or ``R * n_starts`` for
    padding), ``n_valid[n]`` (valid slots at the front of each block), ``n_rows_valid`` (rows that
    have tasks) and ``budget`` (screening evaluations). Returns the screening outcome per slot,
    the continuation outcome per slot, the task id each continuation slot ran and the number of
    continuation slots used per device. The continuation resumes each chosen task's lane state,
    so a continued task ends exactly where an unpruned run of it would (same iterates).
    """
    from jax.sharding import Mesh, PartitionSpec

    mesh = Mesh(np.array(devices), ("tasks",))
    split, same = PartitionSpec("tasks"), PartitionSpec()
    n_dev = len(devices)

    def per_device(data, starts, which, ids, n_valid, n_rows_valid, budget):
        block = starts.shape[0]
        n_rows = data.weights.shape[0]
        sentinel = n_rows * n_starts
        device = jax.lax.axis_index("tasks")
        k_valid = n_rows_valid * keep
        share = k_valid // n_dev + (device < k_valid % n_dev).astype(jnp.int32)
        first = device * (k_valid // n_dev) + jnp.minimum(device, k_valid % n_dev)
        slot = jnp.arange(block, dtype=jnp.int32)

        def phase(index, carry):
            screened, finished, states, _ = carry
            # selection from the screening (used in phase 1; cheap and ignored in phase 0)
            values = jax.lax.all_gather(screened.value, "tasks", tiled=True)
            all_states = jax.tree.map(lambda x: jax.lax.all_gather(x, "tasks", tiled=True), states)
            all_ids = jax.lax.all_gather(ids, "tasks", tiled=True)
            table = jnp.full(sentinel + 1, jnp.inf, values.dtype).at[all_ids].set(
                jnp.where(jnp.isfinite(values), values, jnp.inf))
            where_is = jnp.zeros(sentinel + 1, jnp.int32).at[all_ids].set(
                jnp.arange(all_ids.shape[0], dtype=jnp.int32))
            _, best = jax.lax.top_k(-table[:sentinel].reshape(n_rows, n_starts), keep)
            chosen = (jnp.arange(n_rows, dtype=jnp.int32)[:, None] * n_starts + best).ravel()
            mine = chosen[jnp.minimum(first + slot, n_rows * keep - 1)]
            second = index == 1
            # phase 1 resumes the chosen tasks' lane states: their iterates are those of an uninterrupted run
            resumed = jax.tree.map(lambda x, own: jnp.where(second, x[where_is[mine]], own), all_states, states)
            outcome, end_states = queue_loop(solver, law, loss, data, starts,
                                             jnp.where(second, mine // n_starts, which),
                                             jnp.where(second, share, n_valid[0]), n_lanes,
                                             jnp.where(second, _NO_BUDGET, budget), states=resumed)
            keep_old = lambda new, old, use: jnp.where(use, new, old)  # noqa: E731
            screened = jax.tree.map(lambda new, old: keep_old(new, old, ~second), outcome, screened)
            finished = jax.tree.map(lambda new, old: keep_old(new, old, second), outcome, finished)
            return screened, finished, end_states, mine

        empty = Outcome(starts, jnp.full(block, jnp.inf, starts.dtype), jnp.zeros(block, bool),
                        jnp.zeros(block, jnp.int32), jnp.zeros(block, starts.dtype), jnp.zeros(block, jnp.int32))
        states = jax.vmap(solver.init)(starts)
        screened, finished, _, mine = jax.lax.fori_loop(0, 2, phase, (empty, empty, states,
                                                                      jnp.zeros(block, jnp.int32)))
        return screened, finished, mine, share[None]

    return jax.jit(jax.shard_map(per_device, mesh=mesh,
                                 in_specs=(same, split, split, split, split, same, same),
                                 out_specs=(split, split, split, split), check_vma=False))


def _block(n_tasks: int, n_lanes: int, n_devices: int) -> int:
    """Task slots per device: ``n_lanes x 2^k`` covering an even share (few distinct compiled shapes)."""
    need, size = -(-max(1, n_tasks) // n_devices), int(n_lanes)
    while size < need:
        size *= 2
    return size


def pruned_tasks(solver, law, loss, log_x, log_y, weights, starts, *, keep: int, budget: int,
                 n_lanes: int | None = None, devices=None, row_group=None,
                 shape_rows: int | None = None) -> tuple[TaskResults, np.ndarray, np.ndarray]:
    """Screen every (row, start) task for ``budget`` evaluations, continue the ``keep`` lowest per row.

    ``starts`` is ``(S, p)`` (every row from the same starts) or ``(R, S, p)`` (row ``r`` from ``starts[r]``).

    Returns the per-task results (r-major; pruned tasks keep their screening end point with status
    :data:`~jaxscale.kernels.solvers.common.PRUNED`, continued ones report where they ended, the
    same end point as an unpruned run from that start), a bool mask of the continued tasks and every task's objective at
    the end of the screening.
    """
    weights = np.atleast_2d(np.asarray(weights, np.float64))
    starts = np.asarray(starts, np.float64)
    n_rows, n_starts, p = weights.shape[0], starts.shape[-2], starts.shape[-1]
    tiled = starts.reshape(-1, p) if starts.ndim == 3 else np.tile(starts, (n_rows, 1))
    padded_rows = max(n_rows, int(shape_rows or 0))
    if padded_rows > n_rows:  # rows no task reads: one compiled shape for every chunk of a job
        weights = np.concatenate([weights, np.zeros((padded_rows - n_rows, weights.shape[1]))])
        if row_group is not None:
            row_group = np.concatenate([np.asarray(row_group), np.zeros(padded_rows - n_rows, int)])
    n_tasks = n_rows * n_starts
    lanes = int(n_lanes or default_lanes(np.shape(log_y)[-1], p))
    devs = resolve_devices(devices)
    n_dev = len(devs) if n_tasks >= len(devs) else 1
    block = _block(padded_rows * n_starts, lanes, n_dev)
    share = n_tasks // n_dev + (np.arange(n_dev) < n_tasks % n_dev)
    first = np.concatenate([[0], np.cumsum(share)[:-1]])
    slot = np.arange(block)
    valid = slot[None, :] < share[:, None]
    task = np.where(valid, first[:, None] + slot[None, :], 0).ravel()
    sentinel = padded_rows * n_starts
    program = pruned_program(solver, law, loss, lanes, tuple(devs[:n_dev]), n_starts, int(keep))
    log_x, log_y, weights = pad_data(log_x, log_y, weights)  # data rows to their bucket (weight 0): exact
    with float64():
        groups = None if row_group is None else jnp.asarray(np.asarray(row_group, np.int32))
        data = Data(jnp.asarray(log_x, jnp.float64), jnp.asarray(log_y, jnp.float64), jnp.asarray(weights), groups)
        out = program(data, jnp.asarray(tiled[task]), jnp.asarray((task // n_starts).astype(np.int32)),
                      jnp.asarray(np.where(valid.ravel(), task, sentinel).astype(np.int32)),
                      jnp.asarray(share.astype(np.int32)), jnp.asarray(n_rows, jnp.int32),
                      jnp.asarray(int(budget), jnp.int32))
        screened, finished, mine, used = jax.tree.map(np.asarray, out)
    order = np.argsort(np.where(valid.ravel(), task, n_tasks), kind="stable")[:n_tasks]
    tasks = TaskResults(*(np.array(field)[order] for field in screened))
    screened_value = tasks.value.copy()
    tasks.status[tasks.status == RUNNING] = PRUNED
    done = (slot[None, :] < used[:, None]).ravel()
    ids = mine[done]
    for name, values in zip(TaskResults._fields, finished):  # iterations count both phases (resumed state)
        getattr(tasks, name)[ids] = values[done]
    continued = np.zeros(n_tasks, bool)
    continued[ids] = True
    return tasks, continued, screened_value


def subsample(n_rows: int, size: int = SUBSAMPLE_ROWS) -> np.ndarray:
    """Sorted row positions of the screening subsample: ``size`` of ``n_rows`` drawn without
    replacement by ``numpy.random.default_rng(0)`` (the same rows on every machine)."""
    return np.sort(np.random.default_rng(0).choice(int(n_rows), size=int(size), replace=False))


def _screen_on_subsample(solver, law, loss, log_x, log_y, weights, starts, keep, budget, n_lanes, devices,
                         shape_rows, run) -> TaskResults:
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
                                       keep=keep, budget=budget, n_lanes=n_lanes, devices=devices,
                                       shape_rows=shape_rows)
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

    ``prune_keep=k`` (``k < S``) runs the pruned multi-start (:func:`pruned_tasks`: one compiled
    program; on more than :data:`SUBSAMPLE_ROWS` rows screened on a subsample and the best
    :data:`SUBSAMPLE_FINISH` end points fitted to every row). For solvers that polish every lane
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
    full_calls = None if shape_rows is None else sys.maxsize  # capped at the largest call shape

    def run(solver_, starts_, which_):
        return run_tasks(solver_, law, loss, log_x, log_y, weights, starts_, which_, n_lanes=n_lanes,
                         chunk_size=chunk_size, devices=devices, shape_tasks=full_calls, shape_rows=shape_rows,
                         row_group=row_group)

    pruning = prune_keep is not None and 0 < prune_keep < n_starts
    if pruning and row_group is None and np.shape(log_y)[0] > SUBSAMPLE_ROWS:
        tasks = _screen_on_subsample(solver, law, loss, np.asarray(log_x), np.asarray(log_y), weights, starts,
                                     int(prune_keep), int(prune_iter), n_lanes, devices, shape_rows, run)
    elif pruning:
        tasks, _, _ = pruned_tasks(solver, law, loss, log_x, log_y, weights, starts, keep=int(prune_keep),
                                   budget=int(prune_iter), n_lanes=n_lanes, devices=devices, row_group=row_group,
                                   shape_rows=shape_rows)
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
