"""Start points: the law's default grid, user arrays, or seeded random starts."""
from __future__ import annotations

import numpy as np

from ..kernels.laws import Law, chinchilla_grid, product_grid

__all__ = ["chinchilla_grid", "product_grid", "random_starts", "resolve_starts", "spread_grid"]


def random_starts(law: Law, n_starts: int, seed: int = 0) -> np.ndarray:
    """``n_starts`` points drawn uniformly inside the bounding box of ``law.grid()``.

    Seeded with :func:`numpy.random.default_rng`, so the same ``seed`` gives the same starts.
    """
    if int(n_starts) < 1:
        raise ValueError(f"starts: need at least one random start, got {n_starts}")
    grid = law.grid()
    low, high = grid.min(axis=0), grid.max(axis=0)
    rng = np.random.default_rng(seed)
    return low + (high - low) * rng.random((int(n_starts), law.n_params))


def resolve_starts(law: Law, starts, seed: int = 0) -> np.ndarray:
    """Turn ``starts`` into a float64 array ``(K, p)`` in the law's log-space order.

    ``None`` or ``"grid"``: the law's default grid (Hoffmann's 4500 starts for Chinchilla);
    an ``int``: that many random starts; an array of shape ``(K, p)`` or ``(p,)``: used as is.
    """
    if starts is None or (isinstance(starts, str) and starts == "grid"):
        return law.grid()
    if isinstance(starts, (int, np.integer)) and not isinstance(starts, bool):
        return random_starts(law, int(starts), seed)
    if isinstance(starts, str):
        raise ValueError(f"starts={starts!r}: use None/'grid', an int, or an array of shape (K, {law.n_params})")
    try:
        arr = np.asarray(starts, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"starts must be numeric with columns {law.param_names}: {err}") from None
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != law.n_params or arr.shape[0] == 0:
        raise ValueError(
            f"starts has shape {np.shape(starts)}; law {law.name!r} needs (K, {law.n_params}) with "
            f"columns {law.param_names} in log space (e.g. a = log A)")
    bad = np.argwhere(~np.isfinite(arr))
    if bad.size:
        i, j = bad[0]
        raise ValueError(f"starts row {i}, column {law.param_names[j]!r} is {arr[i, j]}; every start must be finite")
    return arr


def spread_grid(law: Law, k: int) -> np.ndarray:
    """``k`` starts of ``law.grid()`` spread evenly over it (its first and last included): ``(k, p)``."""
    grid = law.grid()
    return grid[np.linspace(0, len(grid) - 1, max(1, int(k))).round().astype(int)]
