r"""``jaxscale.extrapolation``: does the law predict runs it has not seen, inside its interval?

A *split* holds out some runs (the top compute budgets, one budget, or a user mask), fits the law
to the rest and predicts the held-out runs with a 95 % PREDICTION interval for a new run
(bootstrap of the training rows + leverage-corrected training residuals, see
:mod:`jaxscale.api.prediction`). Every split is a row of weights over the same data array
(0 for held-out rows), and every bootstrap resample of a split is a row of count weights
restricted to its training rows, so

- all splits' full fits are the rows of ONE multi-start call (:func:`best_of_starts`), and
- all splits x resamples are the rows of ONE more call, each row started from its own split's
  estimate (per-row starts).

Modes (``split="compute"``, ``"N"`` or ``"D"``: runs grouped into budgets, see
:func:`jaxscale.api.cluster.budget_labels`):

- ``"holdout"``: hold out the top ``holdout`` budgets;
- ``"leave-one-out"``: each budget held out once (leave-one-budget-out; inner budgets test
  interpolation, the extremes extrapolation);
- ``"rolling"``: fit budgets ``1..k``, predict budget ``k + 1``, for ``k = min_train .. G - 1``.

``split`` may also be a boolean mask (``True`` = held out): one split.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from ..engine import float64, resolve_starts
from ..engine.grids import spread_grid
from ..engine.cluster_resampling import cluster_counts
from ..engine.multistart import best_of_starts
from ..kernels.laws.base import _predict_fn
from ..kernels.laws import Law
from ..kernels.losses import Loss
from .bootstrap import check_level
from .cluster import budget_labels, compute_of
from .migration import legacy_options
from .options import Columns, Runner, as_columns, as_runner
from .problem import prepare
from .search import Search, as_search, resolve_prune
from .reach import data_span, label_predictions
from .prediction import corrected_residuals, new_run_bounds, quantile_pair

MODES = ("holdout", "leave-one-out", "rolling")


def make_splits(frame: pd.DataFrame, split, mode: str, holdout: int, min_train: int, n: str, d: str,
                budgets: Sequence[float] | None, step: float) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """``(held_out[S, n] bool, budget_of_row[n], names[S])`` for the split spec (see the module docstring)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    n_rows = len(frame)
    if not isinstance(split, str):
        mask = np.asarray(split)
        if mask.dtype != bool or mask.shape != (n_rows,):
            raise ValueError(f"split must be 'compute', 'N', 'D' or a boolean mask with one value per row ({n_rows}); "
                             f"got dtype {mask.dtype}, shape {mask.shape}")
        if mode != "holdout":
            raise ValueError("a boolean split mask defines one split: use mode='holdout'")
        return mask[None, :], np.where(mask, 1.0, 0.0), ["mask"]
    if split == "compute":
        values = compute_of(frame, n, d)
    elif split in ("N", "D"):
        column = n if split == "N" else d
        if column not in frame.columns:
            raise ValueError(f"split={split!r} needs the {'model-size' if split == 'N' else 'tokens'} column "
                             f"{column!r}")
        values = frame[column].to_numpy(np.float64)
    else:
        raise ValueError(f"split must be 'compute', 'N', 'D' or a boolean mask, got {split!r}")
    labels = budget_labels(values, budgets, step)
    levels = np.unique(labels)
    G = len(levels)
    rank = np.searchsorted(levels, labels)
    if mode == "holdout":
        if not (isinstance(holdout, (int, np.integer)) and 1 <= holdout < G):
            raise ValueError(f"holdout={holdout!r}: hold out between 1 and {G - 1} of the {G} budgets")
        tests = [rank >= G - holdout]
        names = [f"top {holdout} of {G} budgets"]
    elif mode == "leave-one-out":
        tests = [rank == g for g in range(G)]
        names = [f"leave out budget {g + 1}/{G}" for g in range(G)]
    else:
        if not 1 <= int(min_train) < G:
            raise ValueError(f"min_train={min_train}: fit at least 1 and at most {G - 1} budgets of {G}")
        tests = [rank == k for k in range(int(min_train), G)]
        names = [f"fit budgets 1-{k}, predict {k + 1}" for k in range(int(min_train), G)]
    return np.array(tests), labels, names


def training_rows(held: np.ndarray, budget: np.ndarray, mode: str) -> np.ndarray:
    """``train[S, n]``: the rows each split fits. ``"rolling"`` fits only the budgets BELOW the held-out one
    (budgets ``1..k`` for predicting ``k + 1``); the other modes fit every row not held out."""
    if mode != "rolling":
        return ~held
    return np.array([budget < budget[h].min() for h in held])


def _check_train(log_x: np.ndarray, train: np.ndarray, law: Law, name: str) -> None:
    k = int(train.sum())
    if k <= law.n_params:
        raise ValueError(f"split {name!r}: only {k} training rows for {law.n_params} parameters; hold out fewer "
                         "budgets (holdout=, min_train=)")
    for j, (inp, needed) in enumerate(zip(law.inputs, law.distinct_needed)):
        if np.unique(log_x[train, j]).size < needed:
            raise ValueError(f"split {name!r}: input {inp} takes {np.unique(log_x[train, j]).size} distinct value(s) "
                             f"in the training rows; law {law.name!r} needs {needed}; hold out fewer")


def split_counts(train: np.ndarray, n_resamples: int, seed: int) -> np.ndarray:
    """Case-resample count weights of each split's training rows: ``(S * R, n)``, split-major; split ``s``
    resample ``r`` from ``fold_in(fold_in(PRNGKey(seed), s), r)``, held-out rows weight 0."""
    return np.concatenate([cluster_counts(seed, np.arange(n_resamples), np.where(t, np.cumsum(t) - 1, -1), stream=s)
                           for s, t in enumerate(train)])


def fit_splits(solver, law: Law, loss: Loss, log_x, log_y, train: np.ndarray, n_resamples: int, seed: int,
               start_points: np.ndarray, *, prune="auto", prune_iter: int | None = None, resample_starts: str = "best",
               n_lanes=None, chunk_size=None, devices=None) -> tuple[np.ndarray, np.ndarray]:
    """Each split's estimate ``[S, p]`` (one multi-start call over the split masks) and its bootstrap draws
    ``[S, R, p]`` (one call over all split x resample count rows, each from its own split's estimate)."""
    S, R = len(train), int(n_resamples)
    run = dict(n_lanes=n_lanes, chunk_size=chunk_size, devices=devices)
    prune, prune_iter = resolve_prune(prune, prune_iter, len(start_points))
    full = best_of_starts(solver, law, loss, log_x, log_y, train.astype(np.float64), start_points, prune_keep=prune,
                          prune_iter=prune_iter, polish_top=8, **run)
    own = np.repeat(full.theta, R, axis=0)[:, None, :]
    if resample_starts == "subgrid":
        spread = spread_grid(law, 15)
        own = np.concatenate([own, np.broadcast_to(spread, (S * R,) + spread.shape)], axis=1)
    draws = best_of_starts(solver, law, loss, log_x, log_y, split_counts(train, R, seed), own, polish_top=1, **run)
    return full.theta, draws.theta.reshape(S, R, -1)


@legacy_options()
def extrapolation(data, law: str | Law = "chinchilla", split="compute", holdout: int = 1, *, mode: str = "holdout",
                  level: float = 0.95, n_resamples: int = 1000, seed: int = 0, resample_starts: str = "best",
                  min_train: int = 3, budgets: Sequence[float] | None = None, step: float = 0.1,
                  loss: str | Loss = "huber", delta: float = 1e-3, fixed: Mapping[str, float] | None = None,
                  tied: Mapping[str, str] | None = None, columns: Columns | Mapping[str, str] | None = None,
                  search: Search | None = None, runner: Runner | None = None) -> pd.DataFrame:
    r"""Fit below held-out budgets and predict the held-out runs with prediction intervals.

    For split ``s`` with training rows :math:`T_s`: the estimate
    :math:`\hat\theta_s = \arg\min \sum_{i \in T_s} \rho(z_i - \hat z(\theta; x_i))` (multi-start),
    ``n_resamples`` case resamples of :math:`T_s` refitted from :math:`\hat\theta_s`, and for every
    held-out run the interval of :math:`\hat z^*_r(x) + \tilde r_i` over draws ``r`` and
    leverage-corrected training residuals ``i`` (a prediction interval for a new run).

    Parameters
    ----------
    data : DataFrame or dict of arrays
    law, loss, delta, fixed, tied, columns : as in :func:`jaxscale.fit` (with ``columns.compute`` the
        tokens are derived as ``D = C / (6N)``)
    split : "compute", "N", "D" or bool array
        Budgets by training compute (``C`` column, else ``6ND``), by model size or by training
        tokens, grouped to the nearest of ``budgets`` or to ``step`` decades; or a mask of
        held-out rows.
    holdout : int
        ``mode="holdout"``: how many of the top budgets to hold out.
    mode : {"holdout", "leave-one-out", "rolling"}
    level : float
        Level of both intervals.
    n_resamples, seed : bootstrap resamples per split (split ``s`` resample ``r`` uses
        ``fold_in(fold_in(PRNGKey(seed), s), r)``).
    search : Search, optional
        ``starts``, ``prune``, ``prune_iter``, ``solver`` of each split's full fit, as in :func:`jaxscale.fit`
        (default the law's grid, pruned: ``"auto"``; ``prune=None`` runs every start).
    runner : Runner, optional
        ``n_lanes``, ``chunk_size``, ``devices``.
    resample_starts : {"best", "subgrid"}
        Resamples start from their split's estimate (``"best"``), or from it and 15 spread grid starts.
    min_train : int
        ``mode="rolling"``: budgets in the first training set.

    Returns
    -------
    DataFrame
        One row per (split, held-out run): ``split``, ``budget``, ``row`` (position in ``data``), the
        inputs, ``actual``, ``predicted`` (the split's fit), ``lower``/``upper`` (the prediction interval
        for a new run), ``inside`` (bool), ``mean_lower``/``mean_upper`` (the interval of the mean curve),
        ``log_residual`` (``log actual - log predicted``; ``residual`` for raw-target laws),
        ``relative_error`` (``actual / predicted - 1``), ``n_train``, and the distance beyond the split's
        training data (``beyond_log10_C``, ``beyond_log10_N`` ..., ``regime``; :mod:`jaxscale.api.reach`).
        ``attrs`` hold the level, mode, resamples, the split (``"compute"``, ``"N"``, ``"D"`` or
        ``"mask"``: what ``budget`` measures) and the split names.
    """
    check_level(level)
    columns, search, runner = as_columns(columns), as_search(search), as_runner(runner)
    problem = prepare(data, law, loss, delta, columns=columns, solver=search.solver, fixed=fixed, tied=tied)
    n, d = (problem.input_columns.get(name, name) for name in ("N", "D"))  # D may be derived from compute
    law, loss_fn, solver, frame, names = problem.law, problem.loss, problem.solver, problem.frame, problem.names
    log_x, log_y = problem.log_x, problem.log_y
    if int(n_resamples) < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")
    if resample_starts not in ("best", "subgrid"):
        raise ValueError(f"resample_starts must be 'best' or 'subgrid', got {resample_starts!r}")
    held, budget, split_names = make_splits(frame, split, mode, holdout, min_train, n, d, budgets, step)
    train = training_rows(held, budget, mode)
    for s, name in enumerate(split_names):
        if not held[s].any():
            raise ValueError(f"split {name!r} holds out no rows")
        _check_train(log_x, train[s], law, name)
    S, R = len(split_names), int(n_resamples)
    estimates, draws = fit_splits(solver, law, loss_fn, log_x, log_y, train, R, seed,
                                  resolve_starts(law, search.starts, seed), prune=search.prune,
                                  prune_iter=search.prune_iter, resample_starts=resample_starts,
                                  n_lanes=runner.n_lanes, chunk_size=runner.chunk_size, devices=runner.devices)
    with float64():
        predict = _predict_fn(law, True)  # compiled once per law (a repeated call does not compile)
        rows = []
        for s in range(S):
            test = np.flatnonzero(held[s])
            feats = jnp.asarray(log_x[test])
            point = np.asarray(predict(jnp.asarray(estimates[s:s + 1]), feats))[0]
            z_draws = np.asarray(predict(jnp.asarray(draws[s]), feats))  # (R, m)
            res = corrected_residuals(law, loss_fn, estimates[s], log_x, log_y, train[s].astype(np.float64))
            lo, hi = new_run_bounds(z_draws, res[train[s]], level)
            mean_lo, mean_hi = np.nanquantile(z_draws, quantile_pair(level), axis=0)
            part = pd.DataFrame({"split": s, "budget": budget[test], "row": test})
            for j, inp in enumerate(law.inputs):
                part[inp] = frame[names[j]].to_numpy(np.float64)[test]
            actual, predicted = law.untarget(log_y[test]), law.untarget(point)
            part["actual"], part["predicted"] = actual, predicted
            part["lower"], part["upper"] = law.untarget(lo), law.untarget(hi)
            part["inside"] = (part["lower"] <= actual) & (actual <= part["upper"])
            part["mean_lower"], part["mean_upper"] = law.untarget(mean_lo), law.untarget(mean_hi)
            part["log_residual" if law.target_scale == "log" else "residual"] = log_y[test] - point
            part["relative_error"] = actual / predicted - 1.0
            part["n_train"] = int(train[s].sum())
            x_test = np.stack([part[inp].to_numpy() for inp in law.inputs], axis=1)
            part = pd.concat([part, label_predictions(law.base, data_span(law.base, log_x, train[s]), x_test)], axis=1)
            rows.append(part)
    table = pd.concat(rows, ignore_index=True)
    table.attrs.update(level=level, mode=mode, n_resamples=R, splits=split_names, law=law.name,
                       split=split if isinstance(split, str) else "mask",
                       interval="lower/upper: prediction interval for a new run; mean_lower/mean_upper: "
                                "interval of the mean curve")
    return table
