"""Input checks: every bad input raises a ValueError naming the column, the row and the fix."""
from __future__ import annotations

import numbers
import os
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from ..kernels.laws import Law

#: Seeds are unsigned 32-bit integers (``jax.random.PRNGKey`` folds them as uint32).
SEED_MAX = 2**32 - 1


# ---------------------------------------------------------------------- scalar options
def _is_integer(value) -> bool:
    return isinstance(value, (numbers.Integral, np.integer)) and not isinstance(value, (bool, np.bool_))


def check_int(name: str, value, minimum: int | None = None, maximum: int | None = None,
              optional: bool = False) -> int | None:
    """``value`` as a Python int, checked to be an integer (not a bool, float or string) in
    ``[minimum, maximum]``; ``None`` passes through when ``optional``.

    Raises a ValueError that starts with ``name`` (the CLI rewrites it to the matching flag).
    """
    if value is None and optional:
        return None
    bounds = (f" in [{minimum}, {maximum}]" if minimum is not None and maximum is not None
              else f" >= {minimum}" if minimum is not None else f" <= {maximum}" if maximum is not None else "")
    extra = " or None" if optional else ""
    if not _is_integer(value):
        hint = ""
        if isinstance(value, str):
            hint = " (a string; pass a number, e.g. int(text))"
        elif isinstance(value, (float, np.floating)):
            hint = " (a float; nothing is rounded silently, pass an int)"
        elif isinstance(value, (bool, np.bool_)):
            hint = " (a bool)"
        raise ValueError(f"{name} must be an integer{bounds}{extra}, got {value!r}{hint}")
    value = int(value)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ValueError(f"{name} must be an integer{bounds}{extra}, got {value}")
    return value


def available_memory() -> int:
    """Physical memory of this machine in bytes (a large number when it cannot be read)."""
    try:
        return int(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        return 1 << 50


def check_memory(name: str, value: int, n_bytes: int) -> None:
    """Refuse an argument whose arrays alone (``n_bytes``) would exceed this machine's memory."""
    have = available_memory()
    if n_bytes > have:
        raise ValueError(f"{name}={value:,} needs at least {n_bytes / 2**30:,.1f} GiB for its arrays alone, more than "
                         f"this machine's {have / 2**30:,.1f} GiB; use a smaller {name}")


def check_seed(value, name: str = "seed") -> int:
    """A seed: an integer in ``[0, 2**32 - 1]`` (what ``jax.random.PRNGKey`` and numpy accept alike)."""
    return check_int(name, value, 0, SEED_MAX)


def check_bool(name: str, value) -> bool:
    """``True`` or ``False`` (numpy bools too); 0/1, strings and None are refused."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def check_positive_number(name: str, value) -> float:
    """A finite real number > 0 (not a bool or a string) as float."""
    if not isinstance(value, (numbers.Real, np.floating, np.integer)) or isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}"
                         + (" (a string; pass a number, e.g. float(text))" if isinstance(value, str) else ""))
    value = float(value)
    if not (np.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return value


def check_level(level) -> float:
    """A confidence level strictly between 0 and 1."""
    if isinstance(level, (bool, np.bool_)) or not isinstance(level, (numbers.Real, np.floating)) \
            or not 0 < float(level) < 1:
        raise ValueError(f"level must be a number in (0, 1), e.g. 0.95; got {level!r}")
    return float(level)


# ---------------------------------------------------------------------- data
def as_frame(data) -> pd.DataFrame:
    """Accept a DataFrame or a mapping of equal-length 1-D arrays (2-D values are refused)."""
    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, Mapping):
        for key, values in data.items():
            if np.ndim(values) > 1:
                raise ValueError(
                    f"column {str(key)!r} is {np.ndim(values)}-D (shape {np.shape(values)}); give one 1-D array "
                    "per column (one value per run); flatten it yourself if that is what you mean")
        lengths = {str(k): np.size(v) for k, v in data.items()}
        if len(set(lengths.values())) > 1:
            first = next(iter(lengths))
            other = next(k for k, n in lengths.items() if n != lengths[first])
            raise ValueError(
                f"column {other!r} has {lengths[other]} values but {first!r} has {lengths[first]}; "
                "every column must have one value per run")
        return pd.DataFrame({k: np.ravel(np.asarray(v)) for k, v in data.items()})
    module = type(data).__module__.split(".")[0]
    if module in ("polars", "pyarrow"):
        raise ValueError(f"data is a {module} {type(data).__name__}; jaxscale reads pandas. Convert it with "
                         f"data.to_pandas() (or pass a dict of numpy arrays)")
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
    copies = int(np.sum(np.asarray(frame.columns == column)))
    if copies > 1:
        raise ValueError(
            f"column {column!r} ({role}) appears {copies} times in the data; rename or drop the duplicates "
            "(e.g. data.loc[:, ~data.columns.duplicated()]) so that each column name is unique")
    if len(frame) == 0:
        raise ValueError(f"the data has no rows (a CSV with only a header?); column {column!r} ({role}) is empty. "
                         "Give one row per training run")
    series = frame[column]
    if pd.api.types.is_complex_dtype(series):
        raise ValueError(f"column {column!r} ({role}) holds complex numbers (dtype {series.dtype}); a scaling law needs "
                         f"real values. Give the real quantity, e.g. data[{column!r}] = data[{column!r}].to_numpy().real "
                         "if the imaginary parts are 0")
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
    features = law.features(np.stack(inputs, axis=1))
    if np.unique(features, axis=0).shape[0] <= law.n_params:  # the points rule first: it says more
        raise ValueError(f"{where}{identifiability_problem(law, features, np.ones(n_rows), columns, f'{n_rows} rows')}")
    for c, name, values, needed in zip(columns, law.inputs, inputs, law.distinct_needed):
        if np.unique(values).size < needed:
            raise ValueError(f"{where}{too_few_values(law, c, name, np.unique(values), needed, f'all {n_rows} rows')}")
    problem = identifiability_problem(law, features, np.ones(n_rows), columns, what=f"{n_rows} rows")
    if problem:
        raise ValueError(f"{where}{problem}")
    return features, law.target(y)


# ---------------------------------------------------------------------- identifiability
def too_few_values(law: Law, column: str, name: str, values: np.ndarray, needed: int, what: str,
                   show: bool = True) -> str:
    """Message: input ``name`` (column ``column``) takes too few distinct ``values`` among ``what`` for ``law``."""
    shown = " (" + ", ".join(f"{v:g}" for v in values[:4]) + ")" if show else ""
    count = "a single distinct value" if values.size == 1 else f"only {values.size} distinct values"
    why = f" ({law.distinct_reason})" if law.distinct_reason and needed > 2 else ""
    return (f"column {column!r} (input {name}) has {count}{shown} in {what}; law {law.name!r} needs at least "
            f"{needed} distinct values of {name} to identify its parameters{why}. Use runs at several values of "
            f"{name}, or fix that term's exponent (fixed=...)")


def _levels(ids: np.ndarray, positive: np.ndarray) -> np.ndarray:
    """Number of distinct ``ids`` among the rows where ``positive[r]`` is True, per weights row ``r``.

    Columns are sorted by id and each id's block reduced with ``np.logical_or.reduceat``: O(R n).
    """
    positive = np.atleast_2d(positive)
    if ids.size == 0:
        return np.zeros(len(positive), np.int64)
    order = np.argsort(ids, kind="stable")
    sorted_ids = ids[order]
    first = np.flatnonzero(np.r_[True, sorted_ids[1:] != sorted_ids[:-1]])
    return np.count_nonzero(np.logical_or.reduceat(positive[:, order], first, axis=1), axis=1)


def identifiable(law: Law, features: np.ndarray, weights) -> np.ndarray:
    """Whether ``law`` can be identified from the rows of ``features[n, k]`` with weight > 0.

    For each weights row ``w`` (``weights[R, n]`` or ``[n]``) a fit is *unidentifiable* when

    - the rows with :math:`w_i > 0` hold at most ``law.n_params`` distinct input points
      (a ``p``-parameter curve through ``p`` points is an interpolation: objective ~0, no
      information on the parameters), or
    - one input takes fewer distinct values among those rows than the law needs for it
      (``law.distinct_needed``: 3 for an input whose power term sits beside a free constant, e.g.
      Chinchilla's N and D; 2 otherwise; 1 for ``constant_inputs``).

    Returns a bool array of shape ``(R,)`` (a bool for 1-D ``weights``).
    """
    positive = np.atleast_2d(np.asarray(weights) > 0)
    features = np.asarray(features)
    _, points = np.unique(features, axis=0, return_inverse=True)
    ok = _levels(points.ravel(), positive) > law.n_params
    for j, needed in enumerate(law.distinct_needed[:features.shape[1]]):
        if needed <= 1:
            continue
        _, level = np.unique(features[:, j], return_inverse=True)
        ok &= _levels(level.ravel(), positive) >= needed
    return ok if np.ndim(weights) > 1 else bool(ok[0])


def identifiability_problem(law: Law, features: np.ndarray, weights, columns: Sequence[str],
                            what: str = "rows with weight > 0") -> str | None:
    """A sentence saying why the rows with weight > 0 cannot identify ``law`` (see :func:`identifiable`),
    or ``None``. ``columns[j]`` names the column of input ``j`` in the message."""
    positive = np.asarray(weights) > 0
    feats = np.asarray(features)[positive]
    n_points = np.unique(feats, axis=0).shape[0]
    if n_points <= law.n_params:
        return (f"the {what} hold only {n_points} distinct input point(s); law {law.name!r} has {law.n_params} "
                f"free parameters {tuple(law.param_names)} and needs at least {law.n_params + 1} distinct points "
                "(with fewer the curve interpolates them: objective ~0, parameters not identified)")
    for c, name, values, needed in zip(columns, law.inputs, feats.T, law.distinct_needed):
        if np.unique(values).size < needed:
            return too_few_values(law, c, name, np.unique(values), needed, f"the {what}", show=False)
    return None


def check_law_shapes(law: Law, features: np.ndarray) -> None:
    """A user-defined law's ``grid()`` must be ``(K, p)`` and its ``log_predict(theta[p], features[m, k])`` must
    return ``(m,)``; say so, naming the law, instead of a shape error deep in pandas or JAX. Built-ins are skipped."""
    from ..kernels.laws import LAWS

    if LAWS.get(law.base.name) is law.base:
        return
    p, names = law.n_params, tuple(law.param_names)
    grid = np.asarray(law.grid())
    if grid.ndim != 2 or grid.shape[1] != p or grid.shape[0] == 0:
        raise ValueError(f"law {law.name!r}: grid() returns shape {grid.shape}; it must be (K, {p}), one column per "
                         f"parameter {names}, in fitting space")
    sample = np.asarray(features[:3], np.float64)
    try:
        out = np.shape(law.log_predict(grid[0], sample))
    except Exception as err:  # noqa: BLE001 - a user's function: report whatever it raised, naming the law
        raise ValueError(f"law {law.name!r}: log_predict(theta of shape ({p},), features of shape {sample.shape}) "
                         f"raised {type(err).__name__}: {err}. Index the inputs as x[:, j] and the parameters as "
                         "theta[i]") from None
    if out != (sample.shape[0],):
        raise ValueError(f"law {law.name!r}: log_predict(theta of shape ({p},), features of shape {sample.shape}) "
                         f"returns shape {out}; it must return one value per row, shape ({sample.shape[0]},) "
                         "(index the inputs as x[:, j], not x)")
