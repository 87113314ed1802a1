"""float64 for fitting, enabled locally (never by mutating the user's global config)."""
from __future__ import annotations

import contextlib
from typing import Iterator

import jax


@contextlib.contextmanager
def float64() -> Iterator[None]:
    """Context in which JAX computes in float64, restoring the caller's setting on exit.

    Huber with ``delta = 1e-3`` on log residuals needs float64: float32 misses the optimum.
    """
    with jax.enable_x64(True):  # jax >= 0.8 (the floor in pyproject.toml): a config state as context manager
        yield
