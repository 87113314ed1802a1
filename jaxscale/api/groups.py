r"""Many data sets in one compiled call: ``fit(data, by=...)``.

Each group's rows are stacked into one padded array ``features[G, m, k]`` (padding rows carry
weight 0), so every (group, start) pair is one lane of the same compiled solver run:

.. math:: \hat\theta_g = \arg\min_\theta \sum_{i \in g} \rho\big(y_i - \hat z(\theta; x_i)\big)
          \quad \text{for every group } g \text{ at once.}

Groups may differ in size and input range; validation errors name the group.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd

from ..engine import resolve_starts
from ..engine.batching import TaskResults
from .fit import FitResult, _starts_frame, fit_recipe, resolve_prune, resolve_solver, setup
from .validation import as_frame


def group_keys(by) -> list[str]:
    """``by`` as a non-empty list of column names."""
    cols = [by] if isinstance(by, str) else list(by) if isinstance(by, (list, tuple)) else None
    if not cols or not all(isinstance(c, str) for c in cols):
        raise ValueError(f"by must be a column name or a list of column names, got {by!r}")
    return cols


def split_groups(frame: pd.DataFrame, by) -> tuple[list[str], list[Any], list[np.ndarray]]:
    """``(columns, keys, row positions per group)``, groups in sorted key order.

    A missing ``by`` column or a missing value in one raises a ValueError naming it.
    """
    cols = group_keys(by)
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise ValueError(f"by: column(s) {missing} not found; available columns: {list(map(str, frame.columns))}")
    for c in cols:
        bad = np.flatnonzero(frame[c].isna().to_numpy())
        if bad.size:
            raise ValueError(f"by: column {c!r} row {int(bad[0])} is missing ({bad.size} such row(s)); give every "
                             "row a group or drop those rows explicitly")
    grouped = frame.groupby(cols if len(cols) > 1 else cols[0], sort=True)
    keys = list(grouped.groups.keys())
    positions = [np.asarray(grouped.indices[k]) for k in keys]
    return cols, keys, positions


def stack_groups(parts: Sequence[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pad each group's ``(features[n_g, k], target[n_g])`` to ``m = max n_g`` rows.

    Padding rows repeat the group's first row (finite values) with weight 0. Returns
    ``(features[G, m, k], target[G, m], mask[G, m])``.
    """
    m = max(len(t) for _, t in parts)
    k = parts[0][0].shape[1]
    feats = np.empty((len(parts), m, k))
    target = np.empty((len(parts), m))
    mask = np.zeros((len(parts), m))
    for g, (f, t) in enumerate(parts):
        n = len(t)
        feats[g, :n], target[g, :n], mask[g, :n] = f, t, 1.0
        feats[g, n:], target[g, n:] = f[0], t[0]
    return feats, target, mask


@dataclass
class GroupedFitResult:
    """One :class:`FitResult` per group, fitted in one compiled call.

    Attributes
    ----------
    by : list of str
        The grouping columns.
    results : dict
        Group key -> :class:`FitResult` (also ``result[key]``).
    """

    by: list
    results: dict
    recipe: dict = field(default_factory=dict)

    def __getitem__(self, key) -> FitResult:
        try:
            return self.results[key]
        except KeyError:
            raise KeyError(f"no group {key!r}; groups: {list(self.results)[:10]}"
                           + (" ..." if len(self.results) > 10 else "")) from None

    def __iter__(self) -> Iterator:
        return iter(self.results)

    def __len__(self) -> int:
        return len(self.results)

    def items(self):
        return self.results.items()

    def _index(self) -> pd.Index:
        keys = list(self.results)
        if len(self.by) > 1:
            return pd.MultiIndex.from_tuples(keys, names=self.by)
        return pd.Index(keys, name=self.by[0])

    @property
    def params(self) -> pd.DataFrame:
        """Natural parameters, one row per group (fixed parameters included)."""
        return pd.DataFrame([r.params.to_numpy() for r in self.results.values()], index=self._index(),
                            columns=list(next(iter(self.results.values())).params.index))

    @property
    def objective(self) -> pd.Series:
        return pd.Series([r.objective for r in self.results.values()], index=self._index(), name="objective")

    @property
    def converged(self) -> pd.Series:
        return pd.Series([r.converged for r in self.results.values()], index=self._index(), name="converged")

    def predict(self, **inputs) -> pd.DataFrame:
        """Every group's prediction at the same inputs: one row per (group, point), tidy."""
        frames = []
        for key, res in self.results.items():
            value = np.atleast_1d(res.predict(**inputs))
            arrays = np.broadcast_arrays(*(np.asarray(v, np.float64) for v in inputs.values()))
            part = pd.DataFrame({name: a.ravel() for name, a in zip(inputs, arrays)})
            part["prediction"] = value.ravel()
            for col, k in zip(self.by, key if len(self.by) > 1 else (key,)):
                part.insert(0, col, k)
            frames.append(part)
        return pd.concat(frames, ignore_index=True)

    def compute_optimal(self, C, **other_inputs) -> pd.DataFrame:
        """Each group's compute-optimal allocation (see :meth:`FitResult.compute_optimal`), tidy."""
        frames = []
        for key, res in self.results.items():
            part = res.compute_optimal(np.atleast_1d(C), **other_inputs).copy()
            for col, k in zip(self.by, key if len(self.by) > 1 else (key,)):
                part.insert(0, col, k)
            frames.append(part)
        return pd.concat(frames, ignore_index=True)

    def summary(self) -> pd.DataFrame:
        """Parameters, objective, points and convergence per group."""
        table = self.params.copy()
        table["objective"] = self.objective
        table["n_points"] = [r.n_points for r in self.results.values()]
        table["converged"] = self.converged
        table["at_best"] = [r.n_at_best() for r in self.results.values()]
        table["notes"] = ["; ".join(r.notes()) for r in self.results.values()]
        return table

    def save(self, path):
        """Write every group's result in one ``.npz`` (no pickle, atomic); read it back with :func:`jaxscale.load`."""
        from .io import save_result

        return save_result(self, path)

    def __repr__(self) -> str:
        first = next(iter(self.results.values()))
        return (f"GroupedFitResult(law={first.law.name!r}, by={self.by}, groups={len(self)}, "
                f"converged={int(self.converged.sum())}/{len(self)})")


def fit_groups(data, by, *, law="chinchilla", starts=None, loss="huber", delta=1e-3, solver=None, n="N", d="D",
               y="loss", x="x", fixed=None, tied=None, columns: Mapping[str, str] | None = None, seed=0, polish=8,
               prune="auto", prune_iter=None, n_lanes=None, chunk_size=None, devices=None, c=None, executor=None,
               checkpoint=None, progress=None, retries: int = 2) -> GroupedFitResult:
    """Fit ``law`` to every group of ``data`` (rows sharing the ``by`` columns' values) in one run.

    Same parameters as :func:`jaxscale.fit`; see there. The groups are the rows of one
    :class:`~jaxscale.engine.scheduler.RowsJob` (row ``g`` = group ``g``'s 0/1 mask over its padded
    data), so ``executor=``/``checkpoint=`` work as for bootstraps. Returns a :class:`GroupedFitResult`.
    """
    from ..engine.scheduler import TASK_FIELDS, RowsJob, run_rows

    frame = as_frame(data)
    cols, keys, positions = split_groups(frame, by)
    parts, law_obj, loss_fn, solver_obj, names = [], None, None, None, None
    for key, rows in zip(keys, positions):
        sub = frame.iloc[rows]
        law_obj, loss_fn, solver_obj, _, names, f, t = setup(
            sub, law if law_obj is None else law_obj, loss, delta, solver if solver_obj is None else solver_obj,
            n, d, y, columns, x, fixed if law_obj is None else None, tied if law_obj is None else None,
            where=f"group {key!r}: ", c=c)
        parts.append((f, t))
    feats, target, mask = stack_groups(parts)
    start_points = resolve_starts(law_obj, starts, seed)
    n_groups, n_starts = len(keys), len(start_points)
    prune, prune_iter = resolve_prune(prune, prune_iter, n_starts)
    recipe = fit_recipe(law_obj, loss_fn, solver_obj, start_points, starts, prune, prune_iter, polish, names, y)
    job = RowsJob(solver_obj, law_obj, loss_fn, feats, target, start_points, weights=mask, prune_keep=prune,
                  prune_iter=prune_iter, polish_top=int(polish), n_lanes=n_lanes,
                  group_sizes=tuple(len(t) for _, t in parts), keep_tasks=True)
    best = run_rows(job, n_groups, executor=executor, checkpoint=checkpoint, chunk_size=chunk_size,
                    progress=progress, retries=retries, devices=devices, description=dict(recipe, by=cols))
    results = {}
    for g, key in enumerate(keys):
        tasks = TaskResults(*(best.tasks[name][g] for name in TASK_FIELDS))
        results[key] = FitResult(law_obj, loss_fn, best.theta[g], float(best.value[g]), bool(best.converged[g]),
                                 _starts_frame(law_obj, start_points, tasks), int(mask[g].sum()),
                                 dict(recipe, group=key if not isinstance(key, tuple) else list(key)))
    flagged = {key: said for key, said in ((k, r.notes()) for k, r in results.items()) if said}
    if flagged:
        warnings.warn(f"fit(by={cols}): {len(flagged)} of {len(keys)} group(s) cannot be trusted as they stand: "
                      + " | ".join(f"group {key!r}: " + "; ".join(said) for key, said in list(flagged.items())[:5])
                      + (" | ..." if len(flagged) > 5 else "") + " (see summary()['notes'])", UserWarning, stacklevel=3)
    return GroupedFitResult(cols, results, dict(recipe, by=cols))


@dataclass
class GroupedBootstrapResult:
    """One :class:`~jaxscale.BootstrapResult` per group, all resamples of all groups fitted in one run.

    Group ``g``'s resample ``r`` draws its own rows exactly as ``js.bootstrap`` of that group alone
    with the same ``seed`` would, so the two agree (to rounding of the lane arithmetic).
    """

    by: list
    results: dict
    recipe: dict = field(default_factory=dict)

    __getitem__ = GroupedFitResult.__getitem__
    __iter__ = GroupedFitResult.__iter__
    __len__ = GroupedFitResult.__len__
    items = GroupedFitResult.items
    _index = GroupedFitResult._index

    def _tidy(self, frames: dict) -> pd.DataFrame:
        parts = []
        for key, part in frames.items():
            part = part.copy()
            for col, k in zip(self.by, key if len(self.by) > 1 else (key,)):
                part.insert(0, col, k)
            parts.append(part)
        return pd.concat(parts, ignore_index=True)

    def _each(self, call, keep: tuple[str, ...] = ()) -> dict:
        """``call(result)`` per group. Every warning is re-issued naming its group; a group whose call
        fails (ValueError: nothing usable) gets the rows of a good group with NaN values (columns in
        ``keep`` kept) instead of an exception for all. Adds ``usable`` and ``note`` columns."""
        frames, errors = {}, {}
        for key, res in self.results.items():
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    frames[key] = call(res)
                except ValueError as err:
                    errors[key] = str(err)
            for w in caught:
                warnings.warn(f"group {key!r}: {w.message}", w.category, stacklevel=3)
        if not frames:
            key, message = next(iter(errors.items()))
            raise ValueError(f"no group has a usable bootstrap; group {key!r}: {message}")
        template = next(iter(frames.values()))
        out = {}
        for key in self.results:
            if key in frames:
                frame = frames[key].copy()
                said = frame.attrs.get("notes", [])
                frame["usable"], frame["note"] = frame.attrs.get("usable", True), "; ".join(said)
            else:
                frame = template.copy()
                for col in frame.columns:
                    if col not in keep and pd.api.types.is_float_dtype(frame[col]):
                        frame[col] = np.nan
                frame["usable"], frame["note"] = False, f"unusable: {errors[key]}"
                warnings.warn(f"group {key!r}: no usable bootstrap, its rows are NaN ({errors[key]})", RuntimeWarning,
                              stacklevel=3)
            out[key] = frame
        return out

    def summary(self, level: float = 0.95, method: str = "percentile") -> pd.DataFrame:
        """Each group's bootstrap table (estimate, SE, CI per parameter), stacked with the group in the index.

        Warnings name their group; a group without usable resamples gets NaN rows with ``usable``
        False and the reason in ``note`` (also the group's notes: unconverged draws, heavy tails,
        an estimate outside its own interval)."""
        frames = self._each(lambda res: _with_attrs(res.summary(level, method)))
        return self._tidy(frames).set_index(self.by + ["parameter"])

    def predict(self, level: float = 0.95, **inputs) -> pd.DataFrame:
        """Each group's prediction with its percentile interval over the draws (a CI of the mean curve);
        an unusable group's rows are NaN with ``usable`` False."""
        return self._tidy(self._each(lambda res: res.predict(level=level, **inputs), keep=tuple(inputs)))

    def compute_optimal(self, C, level: float = 0.95, **other_inputs) -> pd.DataFrame:
        """Each group's compute-optimal allocation with intervals, tidy; a group without usable draws or
        optimum gets NaN rows with ``usable`` False and the reason in ``note``, never an error for all."""
        return self._tidy(self._each(lambda res: res.compute_optimal(C, level, **other_inputs), keep=("C",)))

    def __repr__(self) -> str:
        first = next(iter(self.results.values()))
        return (f"GroupedBootstrapResult(law={first.law.name!r}, by={self.by}, groups={len(self)}, "
                f"n_resamples={first.n_resamples})")


def _with_attrs(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with its index as a column, keeping ``attrs`` (``reset_index`` may drop them)."""
    out = table.reset_index()
    out.attrs.update(table.attrs)
    return out


def bootstrap_groups(data, by, *, law="chinchilla", n_resamples=4000, starts="subgrid", seed=0, loss="huber",
                     delta=1e-3, solver=None, n="N", d="D", y="loss", x="x", fixed=None, tied=None,
                     columns: Mapping[str, str] | None = None, polish: int = 1, prune="auto",
                     prune_iter=None, n_subgrid=16, n_lanes=None, chunk_size=None, devices=None,
                     checkpoint=None, progress=None, executor=None, retries: int = 2) -> GroupedBootstrapResult:
    r"""Case-resampling bootstrap of every group at once (see :func:`jaxscale.bootstrap`).

    Rows of all groups are stacked (padded, weight 0) and run as one
    :class:`~jaxscale.engine.scheduler.RowsJob` with ``group_sizes``: job row ``r`` is resample
    ``r // G`` of group ``r % G``, drawn as
    :func:`~jaxscale.engine.resampling.resample_counts` ``(seed, r // G, n_g)`` (the draw a
    bootstrap of that group alone makes), and every (group, resample, start) triple is a lane of
    the same compiled run, in chunks that can be checkpointed or sent to an ``executor``
    exactly as an ungrouped bootstrap's. ``starts``: ``"grid"`` (the law's grid, pruned as
    ``prune``/``prune_iter`` say), ``"best"`` (each group's full-data optimum, with the warm-start
    solver unless one is given), ``"subgrid"`` (that optimum plus ``n_subgrid - 1`` spread grid
    starts), an int or an array; the vocabulary is that of :func:`jaxscale.fit`.
    """
    from ..engine.scheduler import RowsJob, run_rows
    from .bootstrap import BootstrapResult, _versions, resample_strategy

    if isinstance(starts, str) and starts not in ("grid", "best", "prune", "subgrid"):
        raise ValueError(f"starts={starts!r}: use 'grid', 'best', 'prune', 'subgrid', an int or an array")
    R = int(n_resamples)
    if R < 1 or R != n_resamples:
        raise ValueError(f"n_resamples must be a whole number >= 1, got {n_resamples!r}")
    fitted = fit_groups(data, by, law=law, starts=None if isinstance(starts, str) else starts, loss=loss,
                        delta=delta, solver=solver, n=n, d=d, y=y, x=x, fixed=fixed, tied=tied, columns=columns,
                        seed=seed, n_lanes=n_lanes, devices=devices if executor is None else None)
    frame = as_frame(data)
    cols, keys, positions = split_groups(frame, by)
    first = next(iter(fitted.results.values()))
    law_obj, loss_fn = first.law, first.loss
    solver_obj = resolve_solver(solver)
    parts = []
    for key, rows in zip(keys, positions):
        *_, f, t = setup(frame.iloc[rows], law_obj, loss_fn, delta, solver_obj, n, d, y, columns, x)
        parts.append((f, t))
    feats, target, _ = stack_groups(parts)
    G = len(parts)
    estimates = np.stack([fitted.results[k].theta for k in keys])
    start_points, prune, prune_iter, solver_obj = resample_strategy(law_obj, starts, estimates, n_subgrid, seed,
                                                                    prune, prune_iter, solver, solver_obj)
    n_starts = start_points.shape[-2]
    job = RowsJob(solver_obj, law_obj, loss_fn, feats, target, start_points, seed=int(seed), prune_keep=prune,
                  prune_iter=prune_iter, polish_top=int(polish), n_lanes=n_lanes,
                  group_sizes=tuple(len(t) for _, t in parts))
    recipe = {"law": law_obj.base.name, "fixed": law_obj.fixed, "tied": law_obj.tied, "loss": loss_fn.name,
              **dict(loss_fn.params), "solver": solver_obj.name, "solver_options": solver_obj.options,
              "starts": starts if isinstance(starts, (str, int)) else "array", "n_starts": int(n_starts),
              "prune": prune, "prune_iter": prune_iter if prune is not None else None, "polish": int(polish),
              "seed": int(seed), "n_resamples": R, "n_lanes": int(job.n_lanes),
              "indices": "jax.random.fold_in(PRNGKey(seed), r) per group", "by": cols, "versions": _versions()}
    rows = run_rows(job, G * R, executor=executor, checkpoint=checkpoint, chunk_size=chunk_size, progress=progress,
                    retries=retries, devices=devices, description=recipe)
    results = {}
    for g, key in enumerate(keys):
        sl = slice(g, G * R, G)  # job row r is resample r // G of group r % G
        f, t = parts[g]
        est = fitted.results[key]
        results[key] = BootstrapResult(law_obj, loss_fn, np.asarray(est.theta), float(est.objective), rows.theta[sl],
                                       rows.value[sl], rows.converged[sl], rows.n_at_best[sl], f, t,
                                       np.ones(len(t)), dict(recipe, group=list(key) if isinstance(key, tuple)
                                                             else key))
    return GroupedBootstrapResult(cols, results, recipe)
