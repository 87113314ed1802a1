r"""Resampling of whole clusters of rows, as count weights, and wild-bootstrap multipliers.

Every row ``i`` belongs to a cluster ``c(i)`` in ``0..G-1`` (an isoFLOP budget, a model size, a
user column), or to ``-1`` (held out: weight 0 in every resample).

- Cluster bootstrap: resample ``r`` draws ``n_draws`` (default ``G``) cluster ids uniformly with
  replacement; row ``i`` gets the count of its cluster, :math:`w_i = \#\{j : c_j^* = c(i)\}`.
  With every row its own cluster this is the case bootstrap of those rows (used to resample
  only the training rows of a split).
- Wild cluster bootstrap: one multiplier per cluster from Webb's six-point distribution,
  :math:`v_c \in \{\pm\sqrt{1/2}, \pm 1, \pm\sqrt{3/2}\}` with probability 1/6 each
  (mean 0, variance 1; Webb 2023, "Reworking wild bootstrap-based inference for clustered errors").

Draw ``r`` of ``(seed, stream)`` uses ``fold_in(fold_in(PRNGKey(seed), stream), r)``: it depends on
nothing else, so chunking, device count and ``n_resamples`` never change a draw.
"""
from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from .precision import float64
from .resampling import draw_bucket, padded_ids

#: Webb's six-point distribution (mean 0, variance 1, E v^4 = 7/6).
WEBB_POINTS = np.array([-np.sqrt(1.5), -1.0, -np.sqrt(0.5), np.sqrt(0.5), 1.0, np.sqrt(1.5)])


@jax.jit
def _keys_of(seed, stream, ids) -> jnp.ndarray:
    base = jax.random.fold_in(jax.random.PRNGKey(seed), stream)
    return jax.vmap(lambda r: jax.random.fold_in(base, r))(ids)


def _keys(seed: int, stream: int, resample_ids) -> tuple[jnp.ndarray, int]:
    """Keys of ``resample_ids`` (padded to :func:`~jaxscale.engine.resampling.draw_bucket`) and the real count."""
    ids, count = padded_ids(resample_ids)
    return _keys_of(jnp.asarray(seed, jnp.uint32), jnp.asarray(stream, jnp.uint32), ids), count


@partial(jax.jit, static_argnames=("width", "draws"))
def _cluster_counts(keys, n_clusters, n_draws, width: int, draws: int):
    real = (jnp.arange(draws) < n_draws).astype(jnp.int32)  # draws beyond n_draws are padding

    def one(key):
        picks = jax.random.randint(key, (draws,), 0, n_clusters)
        return jnp.zeros(width, jnp.int32).at[picks].add(real)  # slots >= G: held-out rows, always 0

    return jax.vmap(one)(keys)


def check_clusters(cluster_of_row) -> tuple[np.ndarray, int]:
    """``cluster_of_row`` as int codes in ``-1..G-1`` with every code ``0..G-1`` used; returns ``(codes, G)``."""
    codes = np.asarray(cluster_of_row)
    if codes.ndim != 1 or not np.issubdtype(codes.dtype, np.integer):
        raise ValueError(f"cluster codes must be a 1-D integer array (one per row), got {codes.dtype} {codes.shape}")
    n_clusters = int(codes.max()) + 1 if codes.size else 0
    if n_clusters < 1 or codes.min() < -1:
        raise ValueError("cluster codes must be -1 (held out) or 0..G-1, with at least one cluster")
    used = np.unique(codes[codes >= 0])
    if used.size != n_clusters:
        missing = sorted(set(range(n_clusters)) - set(used.tolist()))
        raise ValueError(f"cluster codes skip {missing[:5]}; number the clusters 0..G-1 without gaps")
    return codes.astype(np.int64), n_clusters


def cluster_counts(seed: int, resample_ids, cluster_of_row, *, stream: int = 0,
                   n_draws: int | None = None) -> np.ndarray:
    """Row weights ``(len(resample_ids), n_rows)`` of cluster resamples (see the module docstring)."""
    codes, n_clusters = check_clusters(cluster_of_row)
    keys, count = _keys(seed, stream, resample_ids)
    n_draws = int(n_draws or n_clusters)
    counts = np.asarray(_cluster_counts(keys, jnp.asarray(n_clusters, jnp.int32), jnp.asarray(n_draws, jnp.int32),
                                        draw_bucket(n_clusters + 1, 8), draw_bucket(n_draws, 8)))[:count]
    return counts[:, np.where(codes < 0, n_clusters, codes)].astype(np.float64)


@partial(jax.jit, static_argnames=("n_clusters",))
def _webb(keys, n_clusters: int):
    points = jnp.asarray(WEBB_POINTS)
    return jax.vmap(lambda key: points[jax.random.randint(key, (n_clusters,), 0, 6)])(keys)


def webb_weights(seed: int, resample_ids, n_clusters: int, *, stream: int = 0) -> np.ndarray:
    """Webb six-point multipliers ``(len(resample_ids), n_clusters)``, one per cluster and resample."""
    keys, count = _keys(seed, stream, resample_ids)
    with float64():
        return np.asarray(_webb(keys, int(n_clusters)))[:count]
