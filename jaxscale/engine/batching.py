"""Scheduling of (weights row, start) tasks onto the compiled lane solver in bounded chunks."""
from __future__ import annotations

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


def run_tasks(solver, law: Law, loss: Loss, log_x: np.ndarray, log_y: np.ndarray, weights: np.ndarray,
              starts: np.ndarray, which: np.ndarray | None = None, *, n_lanes: int | None = None,
              chunk_size: int | None = None,
              on_chunk: Callable[[int, int], None] | None = None) -> TaskResults:
    """Fit every task ``t``: start ``starts[t]`` on weights row ``weights[which[t]]``.

    Tasks are cut into chunks of ``chunk_size`` (padded to one fixed shape, so one
    compilation serves all chunks); memory is bounded by the chunk, not the task count.
    ``on_chunk(done, total)`` is called after each chunk (progress bars).
    """
    starts = np.asarray(starts, np.float64)
    n_tasks = starts.shape[0]
    weights = np.atleast_2d(np.asarray(weights, np.float64))
    which = np.zeros(n_tasks, np.int32) if which is None else np.asarray(which, np.int32)
    if chunk_size is not None and int(chunk_size) < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    chunk = int(min(n_tasks, chunk_size or DEFAULT_CHUNK))
    lanes = int(n_lanes or default_lanes(n_tasks))
    pieces = []
    with float64():
        data = Data(jnp.asarray(log_x, jnp.float64), jnp.asarray(log_y, jnp.float64), jnp.asarray(weights))
        for lo in range(0, n_tasks, chunk):
            hi = min(lo + chunk, n_tasks)
            pad = chunk - (hi - lo)
            s = np.concatenate([starts[lo:hi], np.repeat(starts[:1], pad, axis=0)]) if pad else starts[lo:hi]
            w = np.concatenate([which[lo:hi], np.zeros(pad, np.int32)]) if pad else which[lo:hi]
            out = solve_queue(solver, law, loss, data, jnp.asarray(s), jnp.asarray(w),
                              jnp.asarray(hi - lo, jnp.int32), n_lanes=lanes)
            pieces.append(jax.tree.map(lambda x: np.asarray(x)[: hi - lo], out))
            if on_chunk is not None:
                on_chunk(hi, n_tasks)
    return TaskResults(*(np.concatenate(parts) for parts in zip(*pieces)))
