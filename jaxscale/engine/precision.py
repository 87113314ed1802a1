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
    if hasattr(jax, "enable_x64"):  # jax >= 0.8: config state usable as a context manager
        with jax.enable_x64(True):
            yield
    else:  # pragma: no cover - older jax
        from jax.experimental import enable_x64

        with enable_x64():
            yield
