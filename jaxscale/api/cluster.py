r"""Cluster-aware bootstrap: ``bootstrap(data, resample=ClusterResample(by=..., budgets=..., wild=False))``.

Runs of one isoFLOP budget (or one model size) share more than their (N, D): a learning-rate
schedule, a tokenizer run, the pixel grid of a digitised figure. Their errors are then correlated,
and the case bootstrap, which treats rows as independent, gives intervals that are too narrow.

``resample=ClusterResample(by=...)``
    Resample whole clusters with replacement: resample ``r`` draws ``G`` cluster ids, and
    row ``i`` gets weight :math:`w_i = \#\{\text{draws of } c(i)\}` (count weights over the one
    shared data array, like the case bootstrap); every resample refits the law.
``resample=ClusterResample(by=..., wild=True)``
    Keep every row, perturb the targets: with the full-data fit :math:`\hat z_i`, its
    leverage-corrected residuals :math:`\tilde r_i` (block CR2 correction per cluster, see
    :mod:`jaxscale.api.prediction`) and one Webb six-point multiplier :math:`v_c` per cluster and
    resample,

    .. math:: z^*_i = \hat z_i + v_{c(i)} \tilde r_i ,

    then refit on :math:`z^*`. Every resample is its own data set: they run as lanes of one
    compiled call over per-row-group data (``log_y[R, n]``, ``row_group = r``).

With fewer than about 10 clusters both become unreliable (a warning says so): there are only a
handful of independent pieces of information, whatever the number of rows.

Which one (measured by ``benchmarks/coverage.py --clustered``, nominal 95 %, errors with a random
effect per budget): with Hoffmann's 9 budgets the case bootstrap covers alpha, beta, E only 55-69 % of
the time, the cluster bootstrap 95.5-99 % (conservative), the wild cluster bootstrap 77-86 % (it
under-covers with Huber's small delta, where the fit behaves like least absolute deviations); with
36 budgets: case 77-83 %, cluster 94-96 % (a_opt 98 %), wild 81-87 %. Recommended: ``ClusterResample(wild=False)``.

Clusters (``ClusterResample(by=...)``): ``"budget"`` (compute ``C`` -- the ``C`` column, else ``6 N D`` -- assigned to
the nearest of ``budgets=`` in log space, or rounded to ``step`` decades), ``"size"`` (``N`` by the same
rule), a column name, or an array of labels (one per row).
"""
from __future__ import annotations

import time
import warnings
from typing import Sequence

import numpy as np
import pandas as pd

from ..engine.cluster_resampling import cluster_counts, webb_weights
from ..engine.multistart import best_of_starts
from ..engine.scheduler import progress_bar
from .options import ClusterResample
from .prediction import corrected_residuals, fitted_and_jacobian
from .results.bootstrap import BootstrapResult

RESAMPLE_KINDS = ("case", "cluster", "wild-cluster")
#: Hoffmann et al. (2022)'s nine isoFLOP budgets (FLOP), e.g. ``budgets=`` for Epoch's Chinchilla runs.
HOFFMANN_BUDGETS = (6e18, 1e19, 3e19, 6e19, 1e20, 3e20, 6e20, 1e21, 3e21)
#: Fewer clusters than this trigger a warning.
MIN_CLUSTERS = 10
#: Leverage correction of the wild cluster bootstrap's residuals (see :func:`corrected_residuals`).
WILD_CORRECTION = "CR2"
#: Resamples per compiled call of the wild bootstrap (each carries its own copy of the data).
WILD_CHUNK = 4096


def budget_labels(values, budgets: Sequence[float] | None = None, step: float = 0.1) -> np.ndarray:
    r"""The budget of each value: nearest of ``budgets`` in :math:`\log_{10}`, else
    :math:`10^{\,step \cdot \mathrm{round}(\log_{10} v / step)}` (``step`` decades, default 0.1).

    Examples: Hoffmann et al.'s isoFLOP budgets ``(6e18, 1e19, 3e19, 6e19, 1e20, 3e20, 6e20, 1e21, 3e21)``
    group Epoch's 240 Chinchilla runs into 9 budgets; ``step=0.1`` into 36.
    """
    v = np.asarray(values, np.float64)
    if np.any(~np.isfinite(v) | (v <= 0)):
        bad = int(np.flatnonzero(~np.isfinite(v) | (v <= 0))[0])
        raise ValueError(f"budgets: row {bad} has value {v[bad]}; compute and sizes must be finite and > 0")
    if budgets is not None:
        b = np.sort(np.asarray(budgets, np.float64).ravel())
        if b.size == 0 or np.any(~np.isfinite(b) | (b <= 0)):
            raise ValueError(f"budgets must be finite positive numbers, got {budgets!r}")
        near = np.argmin(np.abs(np.log10(v)[:, None] - np.log10(b)[None, :]), axis=1)
        return b[near]
    if not (np.isfinite(step) and step > 0):
        raise ValueError(f"step must be a positive number of decades, e.g. 0.1; got {step!r}")
    return 10.0 ** (step * np.round(np.log10(v) / step))


def compute_of(frame: pd.DataFrame, n: str = "N", d: str = "D", c: str | None = None) -> np.ndarray:
    """Training compute per row: the compute column ``c`` when given (``Columns(compute=...)``), else the ``C``
    column when present, else ``6 N D``."""
    if c is not None:
        if c not in frame.columns:
            raise ValueError(f"budgets: compute column {c!r} not found; columns: {list(map(str, frame.columns))}")
        return frame[c].to_numpy(np.float64)
    if "C" in frame.columns:
        return frame["C"].to_numpy(np.float64)
    missing = [c for c in (n, d) if c not in frame.columns]
    if missing:
        raise ValueError(f"budgets need a 'C' column or the columns {n!r} and {d!r}; missing {missing}")
    return 6.0 * frame[n].to_numpy(np.float64) * frame[d].to_numpy(np.float64)


def cluster_codes(frame: pd.DataFrame, cluster, *, n: str = "N", d: str = "D",
                  budgets: Sequence[float] | None = None, step: float = 0.1,
                  c: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(codes[n_rows] in 0..G-1, labels[G])`` for a cluster spec (see the module docstring); ``c``: the compute
    column budgets are read from (default ``C``, else ``6 N D``)."""
    if isinstance(cluster, str) and cluster == "budget":
        values = budget_labels(compute_of(frame, n, d, c), budgets, step)
    elif isinstance(cluster, str) and cluster == "size" and cluster not in frame.columns:
        if n not in frame.columns:
            raise ValueError(f"cluster='size' groups by model size: column {n!r} not found")
        values = budget_labels(frame[n].to_numpy(np.float64), budgets, step)
    elif isinstance(cluster, str):
        if cluster not in frame.columns:
            raise ValueError(f"cluster={cluster!r}: not 'budget', 'size' or a column; columns: "
                             f"{list(map(str, frame.columns))}")
        series = frame[cluster]
        bad = np.flatnonzero(series.isna().to_numpy())
        if bad.size:
            raise ValueError(f"cluster column {cluster!r} row {int(bad[0])} is missing ({bad.size} such row(s)); "
                             "give every row a cluster")
        values = series.to_numpy()
    elif cluster is None:
        raise ValueError("resample='cluster'/'wild-cluster' needs cluster= ('budget', 'size', a column or labels)")
    else:
        values = np.asarray(cluster)
        if values.ndim != 1 or len(values) != len(frame):
            raise ValueError(f"cluster labels have shape {values.shape}; give one label per row ({len(frame)})")
        if pd.isna(values).any():
            raise ValueError(f"cluster labels row {int(np.flatnonzero(pd.isna(values))[0])} is missing")
    labels, codes = np.unique(values, return_inverse=True)
    return codes.astype(np.int64), labels


def resample_plan(frame: pd.DataFrame, resample, n: str, d: str, indices,
                  checkpoint, c: str | None = None) -> tuple[np.ndarray, np.ndarray] | None:
    """Check ``bootstrap``'s ``resample`` (``"case"`` or a :class:`~jaxscale.ClusterResample`); ``None`` for the
    case bootstrap, else ``(codes, labels)`` of the clusters."""
    if isinstance(resample, str) and resample == "case":
        return None
    if not isinstance(resample, ClusterResample):
        raise ValueError(f"resample must be one of 'case' or a jaxscale.ClusterResample(by=..., budgets=..., "
                         f"wild=...), got {resample!r}")
    if indices is not None:
        raise ValueError(f"indices= gives explicit case resamples; it cannot be combined with "
                         f"resample={resample.kind!r}")
    if checkpoint is not None:
        raise ValueError(f"checkpoint= is only supported for resample='case' (resample={resample.kind!r} runs in "
                         "one go); drop checkpoint=")
    codes, labels = cluster_codes(frame, resample.by, n=n, d=d, budgets=resample.budgets, c=c)
    by = resample.by if isinstance(resample.by, str) else "labels"
    refuse_one_cluster(len(labels), f"resample={resample.kind!r} (js.ClusterResample(by={by!r}"
                       + (", wild=True))" if resample.wild else "))"), labels)
    return codes, labels


def refuse_one_cluster(n_clusters: int, what: str, labels=()) -> None:
    """A cluster bootstrap needs 2 clusters or more: with one, every resample redraws the same cluster (or scales
    all residuals by one multiplier) and the interval is zero-width or meaningless."""
    if n_clusters < 2:
        shown = f" ({list(labels)[:1]!r})" if len(labels) else ""
        raise ValueError(f"{what}: the data form {n_clusters} cluster{shown}; a cluster bootstrap needs at least 2 "
                         "(with one, every resample draws the same rows and the interval has zero width). Use finer "
                         "clusters (js.ClusterResample(by='size'), a column or labels) or resample='case'")


def warn_few_clusters(n_clusters: int, what: str = "cluster bootstrap") -> None:
    if n_clusters < MIN_CLUSTERS:
        warnings.warn(f"{what}: only {n_clusters} clusters; with fewer than ~{MIN_CLUSTERS} clusters the intervals "
                      "are unreliable (usually too narrow). Use finer clusters if the errors allow, and read the "
                      "intervals as rough", UserWarning, stacklevel=4)


def wild_targets(fitted: np.ndarray, residuals: np.ndarray, codes: np.ndarray, multipliers: np.ndarray) -> np.ndarray:
    r""":math:`z^*_{ri} = \hat z_i + v_{r, c(i)} \tilde r_i` for multipliers ``(R, G)``: ``(R, n)``."""
    return fitted[None, :] + multipliers[:, codes] * residuals[None, :]


def cluster_bootstrap(*, resample: str, clusters: tuple[np.ndarray, np.ndarray], law, loss, solver, log_x, log_y,
                      estimate, start_points, n_resamples: int, seed: int, pruning: bool, prune: int | None,
                      prune_iter: int, polish: int, chunk_size, n_lanes, devices, progress, recipe: dict):
    """Run the cluster or wild cluster bootstrap (called by :func:`jaxscale.bootstrap`); see the module docstring."""
    codes, labels = clusters
    n_clusters = len(labels)
    warn_few_clusters(n_clusters, f"resample={resample!r}")
    n_rows, n_starts = len(log_y), len(start_points)
    per_chunk = max(1, int(chunk_size or (1 << 16)) // n_starts)
    if resample == "wild-cluster":
        per_chunk = min(per_chunk, WILD_CHUNK)
        fitted, _ = fitted_and_jacobian(law, estimate.theta, log_x)
        residuals = corrected_residuals(law, loss, estimate.theta, log_x, log_y, clusters=codes,
                                        correction=WILD_CORRECTION)
    bar = progress_bar(n_resamples * n_starts, 0, progress)
    run = dict(prune_keep=prune if pruning else None, prune_iter=prune_iter, polish_top=polish,
               n_lanes=n_lanes, devices=devices)
    outputs = []
    t0 = time.perf_counter()
    with bar:
        for lo in range(0, n_resamples, per_chunk):
            ids = np.arange(lo, min(lo + per_chunk, n_resamples))
            if resample == "cluster":
                weights = cluster_counts(seed, ids, codes)
                best = best_of_starts(solver, law, loss, log_x, log_y, weights, start_points, **run)
            else:
                targets = wild_targets(fitted, residuals, codes, webb_weights(seed, ids, n_clusters))
                best = best_of_starts(solver, law, loss, np.broadcast_to(log_x, (len(ids),) + log_x.shape), targets,
                                      np.ones((len(ids), n_rows)), start_points, row_group=np.arange(len(ids)), **run)
            outputs.append(best)
            bar.update(len(ids) * n_starts)
    join = {f: np.concatenate([getattr(b, f) for b in outputs]) for f in ("theta", "value", "converged", "n_at_best")}
    sizes = np.bincount(codes, minlength=n_clusters)
    recipe = dict(recipe, resample=resample, n_clusters=int(n_clusters),
                  cluster_sizes={str(k): int(v) for k, v in zip(labels, sizes)},
                  residuals=f"leverage-corrected ({WILD_CORRECTION} blocks)" if resample == "wild-cluster" else None,
                  multipliers="Webb six-point" if resample == "wild-cluster" else None,
                  seconds=time.perf_counter() - t0)
    return BootstrapResult(law, loss, np.asarray(estimate.theta), float(estimate.objective), join["theta"],
                           join["value"], join["converged"], join["n_at_best"], log_x, log_y, np.ones(n_rows), recipe)
