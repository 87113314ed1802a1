"""A fixed pool of lanes refilled from a task queue inside ONE ``lax.while_loop``.

A plain ``vmap`` of a per-fit while-loop makes every lane wait for the slowest and keeps
finished lanes computing. Here ``n_lanes`` lanes each hold one task (a start point and a
row of weights). Every iteration advances all lanes by one objective evaluation; lanes
that stop write their outcome to the task's output slot and immediately take the next
task from the queue. The loop ends when the queue is empty and every lane has stopped, so
the cost is ~ (total evaluations) / n_lanes iterations, not (slowest fit) x (batches).

Results do not depend on ``n_lanes``: each task runs the same deterministic iteration
sequence wherever it is scheduled.

``budget`` (a traced scalar, so one compiled program serves every value) caps the evaluations of
each task of a call: a lane that reaches it stops with its status still ``RUNNING`` (0), which a
multi-start strategy reads as "screened, not finished" (see :mod:`jaxscale.engine.multistart`).
A task's iterates do not depend on the budget, so running a screened task again without one ends
exactly where an uninterrupted run of it ends.
"""
from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp

from .common import Outcome
from .objective import Data


def queue_loop(solver, law, loss, data: Data, starts: jnp.ndarray, which: jnp.ndarray,
               n_valid: jnp.ndarray, n_lanes: int, budget: jnp.ndarray | None = None):
    """Run every task ``t < n_valid`` to its stopping rule.

    Parameters
    ----------
    solver : LevenbergMarquardt or BFGS (hashable, static)
    law, loss : the model and loss (static)
    data : Data
        ``log_x[n, k]``, ``log_y[n]`` shared by all tasks and ``weights[R, n]``; or grouped
        ``log_x[G, m, k]``, ``log_y[G, m]``, ``weights[R, m]``, ``row_group[R]`` (see :class:`Data`).
    starts : array (T, p)
        Start point of each task.
    which : int array (T,)
        Row of ``data.weights`` each task uses.
    n_valid : int
        Tasks ``>= n_valid`` are padding and never run.
    n_lanes : int
        Number of lanes advanced together.
    budget : int, optional
        A task stops once its state has used this many evaluations (default: the solver's
        ``max_iter`` only); a task stopped by it reports status ``RUNNING`` (0).

    Returns
    -------
    Outcome with a leading axis of size T (padding rows hold the start and ``status=-1``).
    """
    n_tasks, p = starts.shape
    dtype = starts.dtype
    init = jax.vmap(solver.init)
    grouped = data.log_x.ndim == 3
    if grouped:  # each lane gathers its group's rows (static branch: one data set keeps shared arrays)
        step_one = jax.vmap(lambda state, x, y, w: solver.step(state, law, loss, x, y, w))

        def step(state, rows):
            group = data.row_group[rows]
            return step_one(state, data.log_x[group], data.log_y[group], data.weights[rows])
    else:
        step_one = jax.vmap(lambda state, w: solver.step(state, law, loss, data.log_x, data.log_y, w))

        def step(state, rows):
            return step_one(state, data.weights[rows])
    outcome = jax.vmap(solver.outcome)

    lane_task = jnp.arange(n_lanes, dtype=jnp.int32)
    active = lane_task < n_valid
    lane_task = jnp.minimum(lane_task, n_tasks - 1)
    lanes = init(starts[lane_task])
    results = Outcome(
        theta=starts,
        value=jnp.full((n_tasks,), jnp.nan, dtype),
        converged=jnp.zeros((n_tasks,), bool),
        iterations=jnp.zeros((n_tasks,), jnp.int32),
        grad_norm=jnp.full((n_tasks,), jnp.nan, dtype),
        status=jnp.full((n_tasks,), -1, jnp.int32),
    )
    next_task = jnp.asarray(n_lanes, jnp.int32)

    def cond(carry):
        return jnp.any(carry[2])

    def body(carry):
        lanes, lane_task, active, next_task, results = carry
        lanes = step(lanes, which[lane_task])
        stopped = lanes.status != 0
        if budget is not None:
            stopped = stopped | (lanes.iterations >= budget)
        done = active & stopped
        slot = jnp.where(done, lane_task, n_tasks)  # out of range -> dropped
        results = jax.tree.map(lambda out, new: out.at[slot].set(new, mode="drop"), results, outcome(lanes))
        queued = next_task + jnp.cumsum(done, dtype=jnp.int32) - 1
        refill = done & (queued < n_valid)
        lane_task = jnp.where(refill, queued, lane_task)
        active = jnp.where(done, refill, active)
        next_task = next_task + jnp.sum(done, dtype=jnp.int32)
        fresh = init(starts[lane_task])
        lanes = jax.tree.map(
            lambda new, old: jnp.where(refill.reshape((-1,) + (1,) * (old.ndim - 1)), new, old), fresh, lanes)
        return lanes, lane_task, active, next_task, results

    carry = jax.lax.while_loop(cond, body, (lanes, lane_task, active, next_task, results))
    return carry[4]


#: :func:`queue_loop` compiled (one program per solver, law, loss, lane count and shapes).
solve_queue = partial(jax.jit, static_argnames=("solver", "law", "loss", "n_lanes"))(queue_loop)
