"""Results of grouped runs (``by=``): one fit or bootstrap per group, and the grouped fit's file codec."""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np
import pandas as pd

from .. import io
from .export import grouped_dataset
from .fit import FitResult
from .summary import Summary


@io.register_kind("grouped-fit")
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

    def summary(self) -> Summary:
        """Parameters, objective, points and convergence per group (a :class:`Summary`; groups whose best
        start did not converge are named in the notes)."""
        table = self.params.copy()
        table["objective"] = self.objective
        table["n_points"] = [r.n_points for r in self.results.values()]
        table["converged"] = self.converged
        table["at_best"] = [r.n_at_best() for r in self.results.values()]
        said = {key: r.notes() for key, r in self.results.items()}
        table["notes"] = ["; ".join(n) for n in said.values()]
        first = next(iter(self.results.values()))
        failed = [key for key, r in self.results.items() if not r.converged]
        flagged = [f"group {key!r}: " + "; ".join(n) for key, n in said.items() if n]
        return Summary.of(table, [f"jaxscale grouped fit: law={first.law.name}, by={self.by}, {len(self)} groups"],
                          [f"not converged: groups {failed}" if failed else "",
                           "\n".join(["warnings:"] + [f"  {line}" for line in flagged]) if flagged else ""])

    def save(self, path):
        """Write every group's result in one ``.npz`` (no pickle, atomic); read it back with :func:`jaxscale.load`."""
        return io.save_result(self, path)

    def to_xarray(self):
        """Every group's :meth:`FitResult.to_xarray` stacked along ``group`` (dims ``group x start x parameter``;
        ``pip install "jaxscale[xarray]"``). The ``group`` coordinate holds the keys (a MultiIndex over the
        ``by`` columns when there are several); each ``by`` column is a coordinate along ``group``."""
        return grouped_dataset(self, FitResult.to_xarray)

    # ------------------------------------------------------------------ file codec (see jaxscale.api.io)
    def _to_file(self) -> tuple[dict, dict]:
        """One file for every group: stacked ``theta[G, p]``, the per-start tables concatenated group by group."""
        members = list(self.results.values())
        first = members[0]
        meta = {**io.result_meta(first.law, first.loss, {k: v for k, v in first.recipe.items() if k != "group"}),
                "kind": "grouped-fit", "by": list(self.by), "keys": [io.json_key(k) for k in self.results],
                "groups": [{"objective": float(r.objective), "converged": bool(r.converged),
                            "n_points": int(r.n_points)} for r in members],
                "start_columns": list(first.starts.columns)}
        starts = pd.concat([r.starts for r in members], ignore_index=True)
        return meta, {"theta": np.stack([r.theta for r in members])} | io.starts_arrays(starts)

    @classmethod
    def _check_file(cls, meta: dict, path) -> tuple[io.Header, set[str]]:
        """The shared law/loss header, ``by``, ``keys`` and one small meta dict per group."""
        by = io.meta_field(meta, "by", lambda v: isinstance(v, list) and v and all(isinstance(c, str) for c in v),
                           "a list of column names", path)
        keys = io.meta_field(meta, "keys", lambda v: isinstance(v, list) and v, "a non-empty list of group keys", path)
        if any(isinstance(k, list) != (len(by) > 1) or (isinstance(k, list) and len(k) != len(by)) for k in keys):
            raise ValueError(f"{path}: meta field 'keys' must hold one value per group (a list of {len(by)} values "
                             "per group when grouped by several columns)")
        groups = io.meta_field(meta, "groups", lambda v: isinstance(v, list) and len(v) == len(keys) and all(
            isinstance(g, dict) and io.is_number(g.get("objective")) and isinstance(g.get("converged"), bool)
            and isinstance(g.get("n_points"), int) and g["n_points"] >= 0 for g in v),
            "a list of {objective, converged, n_points} per group", path)
        member = {k: v for k, v in meta.items() if k not in ("by", "keys", "groups")}
        header, needed = FitResult._check_file({**member, "objective": groups[0]["objective"],
                                                "converged": groups[0]["converged"],
                                                "n_points": groups[0]["n_points"]}, path)
        return io.Header("grouped-fit", header.law, header.loss), needed

    @classmethod
    def _from_file(cls, meta: dict, arrays: dict, header: io.Header, path) -> "GroupedFitResult":
        keys = [tuple(k) if isinstance(k, list) else k for k in meta["keys"]]
        G, p = len(keys), header.law.n_params
        theta = io.checked_array(arrays, "theta", path, "f", (G, p), finite=True)
        columns = meta["start_columns"]
        total = arrays[f"starts/{columns[0]}"].shape[0] if columns else 0
        if total % G:
            raise ValueError(f"{path}: the per-start table has {total} rows, not a multiple of the {G} groups")
        k = total // G
        table = {c: io.checked_array(arrays, f"starts/{c}", path, "biufU", (total,)) for c in columns}
        results = {}
        for g, key in enumerate(keys):
            info = meta["groups"][g]
            starts = pd.DataFrame({c: v[g * k:(g + 1) * k] for c, v in table.items()})
            results[key] = FitResult(header.law, header.loss, theta[g], float(info["objective"]), info["converged"],
                                     starts, info["n_points"], dict(meta["recipe"], group=meta["keys"][g]))
        return cls(list(meta["by"]), results, dict(meta["recipe"], by=list(meta["by"])))

    def __repr__(self) -> str:
        first = next(iter(self.results.values()))
        return (f"GroupedFitResult(law={first.law.name!r}, by={self.by}, groups={len(self)}, "
                f"converged={int(self.converged.sum())}/{len(self)})")


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

    def summary(self, level: float = 0.95, method: str = "percentile") -> Summary:
        """Each group's bootstrap table (estimate, SE, CI per parameter), stacked with the group in the index
        (a :class:`Summary`).

        Warnings name their group; a group without usable resamples gets NaN rows with ``usable``
        False and the reason in ``note`` (also the group's notes: unconverged draws, heavy tails,
        an estimate outside its own interval)."""
        frames = self._each(lambda res: _with_attrs(res.summary(level, method)))
        first = next(iter(self.results.values()))
        unusable = [key for key, frame in frames.items() if not frame["usable"].all()]
        return Summary.of(self._tidy(frames).set_index(self.by + ["parameter"]),
                          [f"jaxscale grouped bootstrap: law={first.law.name}, by={self.by}, {len(self)} groups, "
                           f"{first.n_resamples} resamples each", f"{level:.0%} {method} intervals of the parameters"],
                          [f"no usable bootstrap (NaN rows): groups {unusable}" if unusable else ""])

    def predict(self, level: float = 0.95, **inputs) -> pd.DataFrame:
        """Each group's prediction with its percentile interval over the draws (a CI of the mean curve);
        an unusable group's rows are NaN with ``usable`` False."""
        return self._tidy(self._each(lambda res: res.predict(level=level, **inputs), keep=tuple(inputs)))

    def compute_optimal(self, C, level: float = 0.95, **other_inputs) -> pd.DataFrame:
        """Each group's compute-optimal allocation with intervals, tidy; a group without usable draws or
        optimum gets NaN rows with ``usable`` False and the reason in ``note``, never an error for all."""
        return self._tidy(self._each(lambda res: res.compute_optimal(C, level, **other_inputs), keep=("C",)))

    def to_xarray(self):
        """Every group's :meth:`BootstrapResult.to_xarray` stacked along ``group`` (dims ``group x resample x
        parameter``; ``pip install "jaxscale[xarray]"``). Group ``g``'s resample ``r`` is the draw of
        ``js.bootstrap`` of that group alone with the same seed. The ``group`` coordinate holds the keys (a
        MultiIndex over the ``by`` columns when there are several); each ``by`` column is a coordinate along
        ``group``; attributes shared by every group (law, loss, seed, n_resamples, interval) are kept."""
        from .bootstrap import BootstrapResult

        return grouped_dataset(self, BootstrapResult.to_xarray)

    def __repr__(self) -> str:
        first = next(iter(self.results.values()))
        return (f"GroupedBootstrapResult(law={first.law.name!r}, by={self.by}, groups={len(self)}, "
                f"n_resamples={first.n_resamples})")


def _with_attrs(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` (a plain DataFrame) with its index as a column, keeping ``attrs`` (``reset_index`` may drop them)."""
    out = pd.DataFrame(table).reset_index()
    out.attrs.update(table.attrs)
    return out
