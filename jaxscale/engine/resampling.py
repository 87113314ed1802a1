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
    flat = (np.arange(idx.shape[0])[:, None] * n_rows + idx).ravel()
    return np.bincount(flat, minlength=idx.shape[0] * n_rows).reshape(idx.shape[0], n_rows).astype(np.int32)


@partial(jax.jit, static_argnames=("max_size",))
def _stratified_counts(seed: jnp.ndarray, resample_ids: jnp.ndarray, sizes: jnp.ndarray, max_size: int) -> jnp.ndarray:
    base = jax.random.PRNGKey(seed)
    slots = jnp.arange(max_size)

    def one(r):
        key_r = jax.random.fold_in(base, r)

        def group(g, size):
            key_g = jax.random.fold_in(key_r, g)
            draw = jax.vmap(lambda j: jax.random.randint(jax.random.fold_in(key_g, j), (), 0, jnp.maximum(size, 1)))
            return jnp.zeros(max_size, jnp.int32).at[draw(slots)].add((slots < size).astype(jnp.int32))

        return jax.vmap(group)(jnp.arange(sizes.shape[0]), sizes)

    return jax.vmap(one)(resample_ids)


def stratified_counts(seed: int, resample_ids, group_sizes, max_size: int | None = None) -> np.ndarray:
    """Count weights ``(len(resample_ids), G, max_size)`` of resamples drawn within groups.

    Group ``g`` of ``group_sizes[g]`` rows (stored in the first slots of a padded row) gets as many
    draws, uniformly with replacement from its own rows. Draw ``j`` of group ``g`` in resample ``r``
    uses ``fold_in(fold_in(fold_in(PRNGKey(seed), r), g), j)``: it never depends on the number of
    resamples, the padding or chunking.
    """
    sizes = np.asarray(group_sizes, dtype=np.int32)
    ids = jnp.asarray(np.asarray(resample_ids, dtype=np.uint32))
    width = int(max_size or sizes.max())
    return np.asarray(_stratified_counts(jnp.asarray(seed, jnp.uint32), ids, jnp.asarray(sizes), width))
