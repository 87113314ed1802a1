"""Scheduling of (weights row, start) tasks onto the compiled lane solver in fixed-shape calls.

Exactness does not depend on layout. A task's arithmetic is that of the vectorised lane step,
and XLA vectorises (and sums inside its batched dot products) differently for different lane
counts: 1, 2-32 and >= 48 lanes give three different last bits on this CPU. So the lane count
is fixed by the backend and the data size only (:func:`default_lanes`), never by the number of
tasks in a job, a chunk or a device. Everything else a call sees is padding: tasks are padded to
a whole number of lanes (padding tasks never run), weights rows to a power of two (rows no task
reads), and the tasks of a call are split evenly over the local devices, each running its own
lane loop. Gathers and scatters are exact, so a task's result is bit-identical whatever the
chunk size, device count or ``n_resamples``.

Data rows are padded too (:func:`row_bucket`, :func:`pad_data`): a call on ``n`` rows runs on the
next bucket size (powers of two from :data:`MIN_DATA_ROWS`), the extra rows copies of a real row
with weight 0 in every weights row. A weight-0 row adds exactly 0 to the objective, gradient and
curvature sums, so a padded fit minimises the same function; only the summation order of the
(zero) extra terms changes the last bits. One compiled program then serves every row count of a
bucket (240 and 217 rows both run on 256), and the lane count follows the bucket, not ``n``.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..kernels.laws import Law
from ..kernels.losses import Loss
from ..kernels.solvers import Data, solve_queue
from .precision import float64

#: Most tasks per device in one compiled call (memory bound; padded shapes are powers of two).
DEFAULT_CHUNK = 1 << 16

#: Weights rows of a compiled call are padded to at least this many (one program for all small jobs).
MIN_WEIGHT_ROWS = 64

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


@lru_cache(maxsize=32)
def _sharded_queue(solver, law, loss, n_lanes: int, devices: tuple):
    """``solve_queue`` under ``shard_map``: each device runs its own loop over its share of tasks."""
    from jax.sharding import Mesh, PartitionSpec

    mesh = Mesh(np.array(devices), ("tasks",))
    split = PartitionSpec("tasks")

    def per_device(data, starts, which, n_valid):
        return solve_queue(solver, law, loss, data, starts, which, n_valid[0], n_lanes=n_lanes)

    return jax.jit(jax.shard_map(per_device, mesh=mesh, in_specs=(PartitionSpec(), split, split, split),
                                 out_specs=split, check_vma=False))


def call_shape(n_tasks: int, n_lanes: int, n_devices: int, chunk_size: int | None = None) -> int:
    """Tasks per device of one compiled call: ``n_lanes x 2^k`` covering the tasks, capped by the chunk.

    Padding tasks never run (the queue stops at ``n_valid``), so rounding up only costs memory;
    it keeps the number of distinct compiled shapes small.
    """
    cap = max(int(n_lanes), _pow2_floor(max(1, int(chunk_size or DEFAULT_CHUNK)) / max(1, n_devices)))
    need = -(-max(1, int(n_tasks)) // max(1, n_devices))
    size = int(n_lanes)
    while size < need and size < cap:
        size *= 2
    return size


def run_tasks(solver, law: Law, loss: Loss, log_x: np.ndarray, log_y: np.ndarray, weights: np.ndarray,
              starts: np.ndarray, which: np.ndarray | None = None, *, n_lanes: int | None = None,
              chunk_size: int | None = None, devices=None, shape_tasks: int | None = None,
              shape_rows: int | None = None, row_group: np.ndarray | None = None,
              on_chunk: Callable[[int, int], None] | None = None) -> TaskResults:
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
        Most tasks per compiled call (memory bound; default :data:`DEFAULT_CHUNK` per device).
    devices : None, int or list
        Local devices; each call's tasks are split evenly over them (``shard_map``), each
        device running its own lane loop, so no device waits for another's slowest lane.
    row_group : int array ``(R,)``, optional
        Many data sets: with ``log_x[G, m, k]``, ``log_y[G, m]``, the group (data set) of each
        weights row (see :class:`~jaxscale.kernels.solvers.Data`).
    shape_tasks, shape_rows : int, optional
        Pad calls as if there were this many tasks / weights rows, so that calls of a smaller
        job reuse the compiled program of a larger one (a scheduler's fixed chunk shape).
    on_chunk : callable, optional
        ``on_chunk(done, total)`` after each compiled call (progress bars).

    Results are bit-identical for any ``chunk_size``, device count and padding.
    """
    starts = np.asarray(starts, np.float64)
    n_tasks = starts.shape[0]
    weights = np.atleast_2d(np.asarray(weights, np.float64))
    which = np.zeros(n_tasks, np.int32) if which is None else np.asarray(which, np.int32)
    if chunk_size is not None and int(chunk_size) < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    lanes = int(n_lanes or default_lanes(np.shape(log_y)[-1], starts.shape[1]))
    devs = resolve_devices(devices)
    n_dev = len(devs) if n_tasks >= len(devs) else 1
    block = call_shape(max(n_tasks, int(shape_tasks or 0)), lanes, n_dev, chunk_size)
    # weights rows padded to a power of two, at least MIN_WEIGHT_ROWS (within 16 MiB): small jobs share shapes
    least = min(MIN_WEIGHT_ROWS, _pow2_floor((1 << 24) / (8 * row_bucket(weights.shape[1]))))
    n_rows = _pow2_ceil(max(weights.shape[0], int(shape_rows or 0), least))
    if n_rows > weights.shape[0]:  # rows no task reads: shape only
        weights = np.concatenate([weights, np.zeros((n_rows - weights.shape[0], weights.shape[1]))])
    log_x, log_y, weights = pad_data(log_x, log_y, weights)
    sharded = _sharded_queue(solver, law, loss, lanes, tuple(devs[:n_dev])) if n_dev > 1 else None
    pieces = []
    with float64():
        groups = None
        if row_group is not None:  # padded weights rows belong to group 0 (no task reads them)
            groups = np.zeros(weights.shape[0], np.int32)
            groups[:len(row_group)] = np.asarray(row_group, np.int32)
            groups = jnp.asarray(groups)
        data = Data(jnp.asarray(log_x, jnp.float64), jnp.asarray(log_y, jnp.float64), jnp.asarray(weights), groups)
        for lo in range(0, n_tasks, block * n_dev):
            count = min(block * n_dev, n_tasks - lo)
            # an even split: device d takes `share[d]` consecutive tasks at the front of its block
            share = np.full(n_dev, count // n_dev) + (np.arange(n_dev) < count % n_dev)
            first = lo + np.concatenate([[0], np.cumsum(share)[:-1]])
            slot = np.arange(block)
            index = np.where(slot[None, :] < share[:, None], first[:, None] + slot[None, :], lo).ravel()
            s, w = jnp.asarray(starts[index]), jnp.asarray(which[index])
            if sharded is not None:
                out = sharded(data, s, w, jnp.asarray(share, jnp.int32))
            else:
                out = solve_queue(solver, law, loss, data, s, w, jnp.asarray(count, jnp.int32), n_lanes=lanes)
            keep = (slot[None, :] < share[:, None]).ravel()
            pieces.append(jax.tree.map(lambda x: np.asarray(x)[keep], out))
            if on_chunk is not None:
                on_chunk(lo + count, n_tasks)
    if not pieces:
        raise ValueError("run_tasks needs at least one task (starts has 0 rows)")
    return TaskResults(*(np.concatenate(parts) for parts in zip(*pieces)))
