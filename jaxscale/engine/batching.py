"""Scheduling of (weights row, start) tasks onto the compiled lane solver in fixed-shape calls.

Exactness does not depend on layout. A task's arithmetic is that of the vectorised lane step,
and XLA vectorises (and sums inside its batched dot products) differently for different lane
counts: 1, 2-32 and >= 48 lanes give three different last bits on this CPU. So the lane count
is fixed by the backend and the data size only (:func:`default_lanes`), never by the number of
tasks in a job, a chunk or a device. Everything else a call sees is padding: every call has
:func:`task_slots` task slots per device (padding tasks never run) and :func:`weight_rows` weights
rows (rows no task reads), and the tasks of a call are split evenly over the local devices, each
running its own lane loop. So ONE compiled program (:func:`lane_program`) per law, loss, solver
family and data bucket serves a fit, its pruning and polish, every bootstrap chunk, every split
of an extrapolation audit and every ``n_resamples``. Gathers and scatters are exact, so a task's
result is bit-identical whatever the chunk size, device count or ``n_resamples``.

Data rows are padded too (:func:`row_bucket`, :func:`pad_data`): a call on ``n`` rows runs on the
next bucket size (powers of two from :data:`MIN_DATA_ROWS`), the extra rows copies of a real row
with weight 0 in every weights row. A weight-0 row adds exactly 0 to the objective, gradient and
curvature sums, so a padded fit minimises the same function; only the summation order of the
(zero) extra terms changes the last bits. One compiled program then serves every row count of a
bucket (240 and 217 rows both run on 256), and the lane count follows the bucket, not ``n``.
"""
from __future__ import annotations

import dataclasses
from functools import lru_cache
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..kernels.laws import Law
from ..kernels.losses import Loss
from ..kernels.solvers import Data, queue_loop
from .precision import float64

#: Data rows of a compiled call are padded (weight 0) to a power of two, at least this many.
MIN_DATA_ROWS = 64

#: Above this many data rows the buckets are multiples of it instead of powers of two (padding <= 1/8).
DATA_ROWS_STEP = 8192

#: Backends on which a wide vector of lanes is cheap.
ACCELERATORS = ("gpu", "cuda", "rocm", "tpu")

#: CPU: lanes x rows x parameters evaluated per lane step (fixes the CPU lane count; see default_lanes).
CPU_LANE_WORK = 1 << 17

#: Accelerators: bytes of Jacobian (lanes x rows x parameters x 8) one lane step may hold.
ACCELERATOR_LANE_BYTES = 1 << 30

#: Any backend: bytes of per-lane working arrays (about ``p + 12`` float64 values per row and lane) one
#: lane step may hold; caps the lanes on large data so memory stays bounded for any row count.
LANE_MEMORY = 1 << 28


class TaskResults(NamedTuple):
    """Per-task outcome as numpy arrays (leading axis = task)."""

    theta: np.ndarray
    value: np.ndarray
    converged: np.ndarray
    iterations: np.ndarray
    grad_norm: np.ndarray
    status: np.ndarray


def _pow2_floor(x: float) -> int:
    return 1 << max(0, int(np.floor(np.log2(max(1.0, x)))))


def _pow2_ceil(n: int) -> int:
    return 1 << max(0, int(n) - 1).bit_length()


def row_bucket(n_rows: int) -> int:
    """Data rows a call on ``n_rows`` rows is padded to: the next power of two, at least
    :data:`MIN_DATA_ROWS` (64, 128, ..., 8192), then the next multiple of :data:`DATA_ROWS_STEP`.

    Every row count of a bucket shares one compiled program per law, loss, solver and stage.
    """
    n_rows = max(1, int(n_rows))
    if n_rows > DATA_ROWS_STEP:
        return -(-n_rows // DATA_ROWS_STEP) * DATA_ROWS_STEP
    return max(MIN_DATA_ROWS, _pow2_ceil(n_rows))


def pad_data(log_x: np.ndarray, log_y: np.ndarray, weights: np.ndarray):
    r"""``(log_x, log_y, weights)`` padded to :func:`row_bucket` data rows; exact.

    One data set (``log_x[n, k]``, ``log_y[n]``, ``weights[R, n]``) or many (``log_x[G, m, k]``,
    ``log_y[G, m]``, ``weights[R, m]``): the extra rows repeat each data set's first row and get
    weight 0 in every weights row, so :math:`\sum_i w_i \rho(r_i)` and its derivatives gain terms
    that are exactly 0 (the residuals there are those of a real row, finite wherever that row's are).
    """
    log_x, log_y = np.asarray(log_x, np.float64), np.asarray(log_y, np.float64)
    n = log_y.shape[-1]
    extra = row_bucket(n) - n
    if extra <= 0:
        return log_x, log_y, weights
    axis = log_y.ndim - 1

    def take(a):
        return np.concatenate([a, np.repeat(np.take(a, [0], axis=axis), extra, axis=axis)], axis=axis)

    weights = np.concatenate([weights, np.zeros(weights.shape[:-1] + (extra,), weights.dtype)], axis=-1)
    return take(log_x), take(log_y), weights


def default_lanes(n_rows: int, n_params: int = 5, backend: str | None = None) -> int:
    r"""Lanes advanced together: fixed by the backend and the data size, never by the job.

    CPU: the power of two at or below :data:`CPU_LANE_WORK` / (rows x parameters), between 16
    and 256: 64 lanes for 240 rows and 5 parameters, 128 for 108 rows, 256 for 30 rows. Measured
    on this 2-core CPU in CPU time (the machine was shared, so wall times were not usable), a lane
    step's throughput levels off once lanes x rows reaches about 4,000-8,000: on 240 rows, 16-64
    lanes are within 15 % of each other (64 the best on a 4500-start grid fit and on 256
    resamples x 16 starts), 256 lanes 5-20 % slower on those and 2.3x slower on 1,000
    single-start fits, whose last lane loads wait for their slowest lane. A lone fit pays for
    every idle lane: a single-start fit on 240 rows takes 27 ms with 64 lanes, 14 ms with 32 and
    113 ms with 256 (after compilation, quiet machine).
    Accelerators: 8192 lanes, fewer when a lane step's Jacobian would exceed
    :data:`ACCELERATOR_LANE_BYTES`.

    Memory: a lane step holds about ``(p + 12)`` float64 values per data row, so on every backend
    the lanes are at most :data:`LANE_MEMORY` / (``8 (p + 12) n``), and at least 1: 16 lanes up to
    about 120,000 rows at ``p = 5``, 1 lane from about two million.

    The count follows the data's :func:`row_bucket` (the rows a call runs on), so every row count
    of a bucket gets the same lanes (and program).

    Because the count never depends on the number of tasks, a task's floating-point result
    never depends on the chunk size, the device count or ``n_resamples``.
    """
    n_rows, n_params = row_bucket(n_rows), max(1, int(n_params))
    backend = backend or jax.default_backend()
    memory = _pow2_floor(LANE_MEMORY / (8.0 * (n_params + 12) * n_rows))
    if backend in ACCELERATORS:
        lanes = max(64, min(8192, _pow2_floor(ACCELERATOR_LANE_BYTES / (8 * n_rows * n_params))))
    else:
        lanes = max(16, min(256, _pow2_floor(CPU_LANE_WORK / (n_rows * n_params))))
    return int(max(1, min(lanes, memory)))


def resolve_devices(devices=None) -> list:
    """``None`` -> all local devices; an int -> the first that many; or a list of devices."""
    local = jax.local_devices()
    if devices is None:
        return local
    if isinstance(devices, (int, np.integer)) and not isinstance(devices, bool):
        if not 1 <= devices <= len(local):
            raise ValueError(f"devices={devices}: this process has {len(local)} local device(s)")
        return local[:int(devices)]
    return list(devices)


#: Task slots per device of every compiled call (padding slots never run); see :func:`task_slots`.
TASK_SLOTS = 1 << 14

#: Most weights rows of one compiled call, and most bytes of that weights array (see :func:`weight_rows`).
MAX_WEIGHT_ROWS = 1024
CALL_WEIGHT_BYTES = 1 << 23

#: Data sets (groups) of a grouped call are padded to a power of two, at least this many.
MIN_GROUPS = 8

#: Evaluation budget meaning "no budget" (run every task to its stopping rule).
NO_BUDGET = 1 << 30


def task_slots(n_lanes: int) -> int:
    """Task slots per device of every compiled call: :data:`TASK_SLOTS`, at least ``8 x n_lanes``.

    Fixed by the lane count (so by the backend and data bucket), never by a job: a single fit, a
    4500-start screening and a bootstrap chunk run the same program; larger jobs take several calls.
    """
    return max(TASK_SLOTS, 8 * int(n_lanes))


def weight_rows(n_data: int) -> int:
    """Weights rows of every compiled call on ``n_data`` data rows: :data:`MAX_WEIGHT_ROWS`, fewer when
    that array would exceed :data:`CALL_WEIGHT_BYTES` on the data's :func:`row_bucket` (a power of two)."""
    return max(1, min(MAX_WEIGHT_ROWS, _pow2_floor(CALL_WEIGHT_BYTES / (8.0 * row_bucket(n_data)))))


def _settings_values(solver, settings: dict) -> dict:
    """A solver's traced settings as 0-d arrays whose dtypes follow the static part's defaults (bool, int32,
    float64): the same dtypes on every call, so one program serves every value."""
    out = {}
    for name, value in settings.items():
        kind = type(getattr(solver, name))
        dtype = np.bool_ if kind is bool else np.int32 if kind is int else np.float64
        out[name] = jnp.asarray(value, dtype)
    return out


@lru_cache(maxsize=64)
def lane_program(solver, law: Law, loss: Loss, n_lanes: int, devices: tuple):
    """THE compiled program: ``queue_loop`` under ``shard_map``, each device running its own lane loop
    over its share of a call's task slots.

    Keyed by the solver's static part (:meth:`~jaxscale.kernels.solvers.base.LaneSolver.program_parts`),
    the law, the loss, the lane count and the devices; its inputs have fixed shapes per data bucket
    (:func:`task_slots`, :func:`weight_rows`). The solver's numeric settings and the evaluation budget
    are values, so a fit's screening and continuation, every bootstrap chunk, the warm-start solver and
    the polisher all run this one program.
    """
    from jax.sharding import Mesh, PartitionSpec

    mesh = Mesh(np.array(devices), ("tasks",))
    split, same = PartitionSpec("tasks"), PartitionSpec()

    def per_device(data, starts, which, n_valid, budget, settings):
        lane_solver = dataclasses.replace(solver, **settings) if settings else solver
        return queue_loop(lane_solver, law, loss, data, starts, which, n_valid[0], n_lanes, budget)

    return jax.jit(jax.shard_map(per_device, mesh=mesh, in_specs=(same, split, split, split, same, same),
                                 out_specs=split, check_vma=False))


def _call_ranges(which: np.ndarray, per_call: int, n_weight_rows: int):
    """Consecutive task ranges ``[lo, hi)`` of at most ``per_call`` tasks whose weights rows lie within
    ``n_weight_rows`` consecutive rows (tasks are row-major in every caller, so calls stay full)."""
    lo, n = 0, which.shape[0]
    while lo < n:
        w = which[lo:lo + per_call]
        fits = (np.maximum.accumulate(w) - np.minimum.accumulate(w)) < n_weight_rows
        hi = lo + (w.shape[0] if fits.all() else max(1, int(np.argmin(fits))))
        yield lo, hi
        lo = hi


def _pad_groups(log_x: np.ndarray, log_y: np.ndarray):
    """Grouped data padded to a power of two of groups (copies of group 0 no weights row reads)."""
    n_groups = log_y.shape[0]
    extra = max(MIN_GROUPS, _pow2_ceil(n_groups)) - n_groups
    if extra <= 0:
        return log_x, log_y
    return (np.concatenate([log_x, np.repeat(log_x[:1], extra, axis=0)]),
            np.concatenate([log_y, np.repeat(log_y[:1], extra, axis=0)]))


def run_tasks(solver, law: Law, loss: Loss, log_x: np.ndarray, log_y: np.ndarray, weights: np.ndarray,
              starts: np.ndarray, which: np.ndarray | None = None, *, n_lanes: int | None = None,
              chunk_size: int | None = None, devices=None, row_group: np.ndarray | None = None,
              budget: int | None = None, on_chunk: Callable[[int, int], None] | None = None) -> TaskResults:
    r"""Fit every task ``t``: start ``starts[t]`` on weights row ``weights[which[t]]``.

    Parameters
    ----------
    solver, law, loss : the lane solver, the model and the loss
    log_x, log_y : arrays ``(n, k)`` and ``(n,)``, shared by every task
    weights : array ``(R, n)``
        Count/mask weights; task ``t`` minimises :math:`\sum_i w_{which[t], i}\,\rho(r_i)`.
    starts : array ``(T, p)``
    which : int array ``(T,)``, optional (default row 0)
    n_lanes : int, optional
        Lanes advanced together; default :func:`default_lanes` of the data (fixed per data
        size, so results never depend on the number of tasks).
    chunk_size : int, optional
        Most tasks per compiled call (default: every task slot of the call, :func:`task_slots` per device).
    devices : None, int or list
        Local devices; each call's tasks are split evenly over them (``shard_map``), each
        device running its own lane loop, so no device waits for another's slowest lane.
    row_group : int array ``(R,)``, optional
        Many data sets: with ``log_x[G, m, k]``, ``log_y[G, m]``, the group (data set) of each
        weights row (see :class:`~jaxscale.kernels.solvers.Data`).
    budget : int, optional
        Evaluations after which a task stops with status ``RUNNING`` (a screening); default none.
    on_chunk : callable, optional
        ``on_chunk(done, total)`` after each compiled call (progress bars).

    Every call has the same shapes for a given data bucket (:func:`lane_program`): the data padded to
    :func:`row_bucket` rows, :func:`weight_rows` weights rows, :func:`task_slots` task slots per device.
    Results are bit-identical for any ``chunk_size``, device count and padding.
    """
    starts = np.asarray(starts, np.float64)
    n_tasks = starts.shape[0]
    if n_tasks == 0:
        raise ValueError("run_tasks needs at least one task (starts has 0 rows)")
    weights = np.atleast_2d(np.asarray(weights, np.float64))
    which = np.zeros(n_tasks, np.int32) if which is None else np.asarray(which, np.int32)
    if chunk_size is not None and int(chunk_size) < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    lanes = int(n_lanes or default_lanes(np.shape(log_y)[-1], starts.shape[1]))
    devs = tuple(resolve_devices(devices))
    n_dev = len(devs)  # every call on every device (a device without tasks stops at once): one program
    slots = task_slots(lanes)
    per_call = slots * n_dev if chunk_size is None else max(1, min(slots * n_dev, int(chunk_size)))
    n_weights = weight_rows(np.shape(log_y)[-1])
    log_x, log_y, weights = pad_data(log_x, log_y, weights)
    if row_group is not None:
        log_x, log_y = _pad_groups(log_x, log_y)
    static, settings = solver.program_parts()
    program = lane_program(static, law, loss, lanes, devs)
    pieces, slot, previous = [], np.arange(slots), None
    with float64():
        x, y = jnp.asarray(log_x, jnp.float64), jnp.asarray(log_y, jnp.float64)
        values = _settings_values(static, settings)
        limit = jnp.asarray(NO_BUDGET if budget is None else int(budget), jnp.int32)
        for lo, hi in _call_ranges(which, per_call, n_weights):
            first_row = int(which[lo:hi].min())
            if first_row != previous:  # the call's weights rows (and groups), padded with rows no task reads
                block = np.zeros((n_weights, weights.shape[1]))
                part = weights[first_row:first_row + n_weights]
                block[:part.shape[0]] = part
                groups = None
                if row_group is not None:
                    groups = np.zeros(n_weights, np.int32)
                    got = np.asarray(row_group, np.int32)[first_row:first_row + n_weights]
                    groups[:got.shape[0]] = got
                    groups = jnp.asarray(groups)
                data, previous = Data(x, y, jnp.asarray(block), groups), first_row
            count = hi - lo
            # an even split: device d takes `share[d]` consecutive tasks at the front of its block
            share = np.full(n_dev, count // n_dev) + (np.arange(n_dev) < count % n_dev)
            first = lo + np.concatenate([[0], np.cumsum(share)[:-1]])
            index = np.where(slot[None, :] < share[:, None], first[:, None] + slot[None, :], lo).ravel()
            out = program(data, jnp.asarray(starts[index]), jnp.asarray(which[index] - first_row),
                          jnp.asarray(share, jnp.int32), limit, values)
            keep = (slot[None, :] < share[:, None]).ravel()
            pieces.append(jax.tree.map(lambda a: np.asarray(a)[keep], out))
            if on_chunk is not None:
                on_chunk(hi, n_tasks)
    return TaskResults(*(np.concatenate(parts) for parts in zip(*pieces)))
