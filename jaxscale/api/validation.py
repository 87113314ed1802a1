"""Input checks: every bad input raises a ValueError naming the column, the row and the fix."""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from ..kernels.laws import Law


def as_frame(data) -> pd.DataFrame:
    """Accept a DataFrame or a mapping of equal-length 1-D arrays."""
    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, Mapping):
        lengths = {str(k): np.size(v) for k, v in data.items()}
        if len(set(lengths.values())) > 1:
            first = next(iter(lengths))
            other = next(k for k, n in lengths.items() if n != lengths[first])
            raise ValueError(
                f"column {other!r} has {lengths[other]} values but {first!r} has {lengths[first]}; "
                "every column must have one value per run")
        return pd.DataFrame({k: np.ravel(np.asarray(v)) for k, v in data.items()})
    raise ValueError(f"data must be a pandas DataFrame or a dict of arrays, got {type(data).__name__}")


def _row(frame: pd.DataFrame, position: int) -> str:
    label = frame.index[position]
    return f"row {position}" + ("" if label == position else f" (index label {label!r})")


def positive_column(frame: pd.DataFrame, column: str, role: str, option: str, positive: bool = True,
                    where: str = "") -> np.ndarray:
    """Column ``column`` as float64, checked to be present, numeric, finite and (if ``positive``) > 0.

    ``where`` (e.g. ``"group 'c4': "``) prefixes every message so grouped fits name the group.
    """
    try:
        return _checked_column(frame, column, role, option, positive)
    except ValueError as err:
        raise ValueError(f"{where}{err}") from None


def _checked_column(frame: pd.DataFrame, column: str, role: str, option: str, positive: bool) -> np.ndarray:
    if column not in frame.columns:
        raise ValueError(
            f"column {column!r} ({role}) not found; available columns: {list(map(str, frame.columns))}. "
            f"Name the right one with {option}=...")
    series = frame[column]
    if not (pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)):
        coerced = pd.to_numeric(series, errors="coerce")
        bad = np.flatnonzero(coerced.isna().to_numpy() & series.notna().to_numpy())
        where = f"; {_row(frame, int(bad[0]))} holds {series.iloc[int(bad[0])]!r}" if bad.size else ""
        raise ValueError(
            f"column {column!r} ({role}) is not numeric (dtype {series.dtype}){where}. "
            f"Convert it, e.g. data[{column!r}] = pd.to_numeric(data[{column!r}])")
    values = series.to_numpy(dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        i = int(bad[0])
        raise ValueError(
            f"column {column!r} ({role}) {_row(frame, i)} is {values[i]} ({bad.size} such row(s)); "
            "fix or drop those rows explicitly (e.g. data.dropna()) before fitting: nothing is dropped silently")
    bad = np.flatnonzero(values <= 0) if positive else np.empty(0, int)
    if bad.size:
        i = int(bad[0])
        raise ValueError(
            f"column {column!r} ({role}) {_row(frame, i)} is {values[i]:g} ({bad.size} such row(s)); "
            "it must be > 0 because the law works on its logarithm. Fix or drop those rows")
    return values


def prepare(data, law: Law, columns: Sequence[str], target: str, options: Sequence[str],
            where: str = "") -> tuple[np.ndarray, np.ndarray]:
    """Validate ``data`` and return ``(features[n, k], target[n])`` in ``law``'s fitting space.

    ``columns[j]`` names the column of input ``law.inputs[j]``; ``options[j]`` is the keyword
    that sets it (named in error messages). Log-scale inputs and targets must be > 0; every
    value must be finite. ``where`` prefixes messages (e.g. the group).
    """
    frame = as_frame(data)
    inputs = [positive_column(frame, c, f"input {name}", opt, scale == "log", where)
              for c, name, opt, scale in zip(columns, law.inputs, options, law.input_scale)]
    y = positive_column(frame, target, "target" if law.target_scale == "raw" else "loss", "y",
                        law.target_scale == "log", where)
    n_rows = len(frame)
    if n_rows <= law.n_params:
        raise ValueError(
            f"{where}only {n_rows} row(s); law {law.name!r} has {law.n_params} free parameters {law.param_names} "
            f"and needs at least {law.n_params + 1} runs. Add runs, fix parameters (fixed=...) or use a law with "
            "fewer parameters")
    for c, name, values in zip(columns, law.inputs, inputs):
        if np.unique(values).size < 2:
            raise ValueError(
                f"{where}column {c!r} (input {name}) has a single distinct value ({values[0]:g}) in all {n_rows} "
                f"rows, so its exponent cannot be identified. Use runs at several values of {name}")
    return law.features(np.stack(inputs, axis=1)), law.target(y)
