"""Scheduling of (weights row, start) tasks onto the compiled lane solver in bounded chunks."""
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

DEFAULT_CHUNK = 1 << 16


class TaskResults(NamedTuple):
    """Per-task outcome as numpy arrays (leading axis = task)."""

    theta: np.ndarray
    value: np.ndarray
    converged: np.ndarray
    iterations: np.ndarray
    grad_norm: np.ndarray
    status: np.ndarray


def default_lanes(n_tasks: int) -> int:
    """Lanes advanced together: up to 256 on CPU (amortises loop overhead), 8192 on accelerators.

    Small jobs use the next power of two >= ``n_tasks``. The count depends on the whole job,
    never on the chunk size, so results do not depend on chunking (a lane's arithmetic is
    bit-identical for a fixed lane count; other counts vectorise differently and agree to rounding).
    """
    wide = 8192 if jax.default_backend() in ("gpu", "cuda", "rocm", "tpu") else 256
    return int(min(wide, 1 << max(0, int(n_tasks) - 1).bit_length()))


#: CPU: lanes x rows x parameters of one lane step (a cache-sized working set; see lanes_for_rows).
CPU_LANE_WORK = 1 << 16

#: Bytes of per-lane working arrays (about ``p + 12`` float64 values per row and lane) one call may hold.
LANE_MEMORY = 1 << 28


def _pow2_floor(x: float) -> int:
    return 1 << max(0, int(np.floor(np.log2(max(1.0, x)))))


def lanes_for_rows(n_rows: int, n_params: int = 5, backend: str | None = None) -> int:
    r"""Lanes advanced together, from the backend and the data size only (never the job).

    A lane step holds about ``(p + 12)`` float64 values per data row (residuals, Jacobian
    columns, weights), so the lanes are capped by :data:`LANE_MEMORY` / (``8 (p + 12) n``): memory
    stays bounded for any row count (1 lane from about two million rows at ``p = 5``). Below that
    cap, CPU uses the power of two nearest below :data:`CPU_LANE_WORK` / (rows x parameters),
    between 16 and 256 (32 for 240 rows and 5 parameters); accelerators up to 8192.
    """
    n_rows, n_params = max(1, int(n_rows)), max(1, int(n_params))
    backend = backend or jax.default_backend()
    memory = _pow2_floor(LANE_MEMORY / (8.0 * (n_params + 12) * n_rows))
    if backend in ("gpu", "cuda", "rocm", "tpu"):
        return int(max(1, min(8192, memory)))
    return int(max(1, min(memory, max(16, min(256, _pow2_floor(CPU_LANE_WORK / (n_rows * n_params)))))))


def resolve_devices(devices=None) -> list:
    """``None`` -> all local devices; an int -> the first that many; or a list of devices."""
    local = jax.local_devices()
    if devices is None:
        return local
    if isinstance(devices, int):
        if not 1 <= devices <= len(local):
            raise ValueError(f"devices={devices}: this process has {len(local)} local device(s)")
        return local[:devices]
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


def run_tasks(solver, law: Law, loss: Loss, log_x: np.ndarray, log_y: np.ndarray, weights: np.ndarray,
              starts: np.ndarray, which: np.ndarray | None = None, *, n_lanes: int | None = None,
              chunk_size: int | None = None, devices=None, row_group: np.ndarray | None = None,
              on_chunk: Callable[[int, int], None] | None = None) -> TaskResults:
    """Fit every task ``t``: start ``starts[t]`` on weights row ``weights[which[t]]``.

    Tasks are cut into chunks of ``chunk_size`` (padded to one fixed shape, so one
    compilation serves all chunks); memory is bounded by the chunk, not the task count.
    With several local devices each chunk is split evenly across them (``shard_map``), each
    device running its own lane loop, so no device waits for another's slowest lane.
    Results do not depend on ``chunk_size`` or the number of devices.
    ``on_chunk(done, total)`` is called after each chunk (progress bars).

    Many data sets: ``log_x[G, m, k]``, ``log_y[G, m]`` with ``row_group[R]`` naming the group of
    each weights row (see :class:`~jaxscale.kernels.solvers.Data`).
    """
    starts = np.asarray(starts, np.float64)
    n_tasks = starts.shape[0]
    weights = np.atleast_2d(np.asarray(weights, np.float64))
    which = np.zeros(n_tasks, np.int32) if which is None else np.asarray(which, np.int32)
    if chunk_size is not None and int(chunk_size) < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    chunk = int(min(n_tasks, chunk_size or DEFAULT_CHUNK))
    lanes = int(n_lanes or min(default_lanes(n_tasks), lanes_for_rows(np.shape(log_y)[-1], starts.shape[1])))
    devs = resolve_devices(devices)
    n_dev = len(devs) if n_tasks >= 2 * len(devs) else 1
    if n_dev > 1:
        chunk = -(-chunk // n_dev) * n_dev  # a multiple of the device count
        sharded = _sharded_queue(solver, law, loss, lanes, tuple(devs[:n_dev]))
    pieces = []
    with float64():
        groups = None if row_group is None else jnp.asarray(np.asarray(row_group, np.int32))
        data = Data(jnp.asarray(log_x, jnp.float64), jnp.asarray(log_y, jnp.float64), jnp.asarray(weights), groups)
        for lo in range(0, n_tasks, chunk):
            hi = min(lo + chunk, n_tasks)
            pad = chunk - (hi - lo)
            s = np.concatenate([starts[lo:hi], np.repeat(starts[:1], pad, axis=0)]) if pad else starts[lo:hi]
            w = np.concatenate([which[lo:hi], np.zeros(pad, np.int32)]) if pad else which[lo:hi]
            if n_dev > 1:
                share = chunk // n_dev
                valid = np.clip((hi - lo) - share * np.arange(n_dev), 0, share).astype(np.int32)
                out = sharded(data, jnp.asarray(s), jnp.asarray(w), jnp.asarray(valid))
            else:
                out = solve_queue(solver, law, loss, data, jnp.asarray(s), jnp.asarray(w),
                                  jnp.asarray(hi - lo, jnp.int32), n_lanes=lanes)
            pieces.append(jax.tree.map(lambda x: np.asarray(x)[: hi - lo], out))
            if on_chunk is not None:
                on_chunk(hi, n_tasks)
    return TaskResults(*(np.concatenate(parts) for parts in zip(*pieces)))
