"""Bootstrap case resamples as count weights over one shared data array.

Resample ``r`` of seed ``s`` draws ``n`` row positions uniformly with replacement from
``jax.random.fold_in(PRNGKey(s), r)``; its weight vector is the count of each row. A draw
depends only on ``(s, r)``, never on chunking or the number of devices.
"""
from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np


@partial(jax.jit, static_argnames=("n_rows", "n_draws"))
def _counts(seed: jnp.ndarray, resample_ids: jnp.ndarray, n_rows: int, n_draws: int) -> jnp.ndarray:
    base = jax.random.PRNGKey(seed)

    def one(r):
        rows = jax.random.randint(jax.random.fold_in(base, r), (n_draws,), 0, n_rows)
        return jnp.zeros(n_rows, jnp.int32).at[rows].add(1)

    return jax.vmap(one)(resample_ids)


def resample_counts(seed: int, resample_ids, n_rows: int, n_draws: int | None = None) -> np.ndarray:
    """Count weights ``(len(resample_ids), n_rows)`` of case resamples ``resample_ids`` of ``seed``."""
    ids = jnp.asarray(np.asarray(resample_ids, dtype=np.uint32))
    return np.asarray(_counts(jnp.asarray(seed, jnp.uint32), ids, int(n_rows), int(n_draws or n_rows)))


def counts_from_indices(indices, n_rows: int) -> np.ndarray:
    """Count weights from explicit resamples: ``indices[R, m]`` row positions in ``[0, n_rows)``."""
    idx = np.asarray(indices)
    if idx.ndim != 2 or not np.issubdtype(idx.dtype, np.integer):
        raise ValueError(f"indices must be an integer array of shape (R, m) of row positions, got {idx.dtype} "
                         f"{idx.shape}")
    bad = np.argwhere((idx < 0) | (idx >= n_rows))
    if bad.size:
        r, j = bad[0]
        raise ValueError(f"indices[{r}, {j}] = {idx[r, j]} is not a row position of the data (0..{n_rows - 1}); "
                         "convert labels with data.index.get_indexer(labels)")
    counts = np.zeros((idx.shape[0], n_rows), np.int32)
    np.add.at(counts, (np.repeat(np.arange(idx.shape[0]), idx.shape[1]), idx.ravel()), 1)
    return counts
