"""The prepared problem: one :func:`prepare` turns data, law, loss and columns into a :class:`Problem`;
one :func:`recipe` records how a result was made.

Every driver (fit, bootstrap, grouped runs, cluster bootstraps, decision helpers) starts here, so column
handling, validation and the recorded recipe cannot drift apart between them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import pandas as pd

from ..kernels.laws import Law, constrain, get_law
from ..kernels.losses import Loss, get_loss
from . import validation
from .options import Columns, as_columns
from .search import resolve_solver
from .validation import as_frame, check_positive_number, positive_column

#: Keyword that named each input's column before :class:`Columns` (used in error messages).
KEYWORDS = {"N": "n", "D": "d", "x": "x"}


@dataclass(frozen=True, eq=False)
class Problem:
    """A validated data set for one law: what every driver fits.

    Attributes
    ----------
    law : Law
        The law, with ``fixed``/``tied`` parameters applied.
    loss : Loss
    solver : LaneSolver
        The lane solver (Levenberg-Marquardt unless one was given).
    frame : DataFrame
        The data (with the derived ``D = C / (6N)`` column when ``columns.compute`` is set).
    columns : Columns
    names : list of str
        The column read for each law input, in ``law.inputs`` order.
    log_x : ndarray (n, k)
        Inputs in the law's fitting space (logarithms of log-scale inputs).
    log_y : ndarray (n,)
        Target in fitting space (log loss for loss laws).
    """

    law: Law
    loss: Loss
    solver: Any
    frame: pd.DataFrame
    columns: Columns
    names: list
    log_x: np.ndarray
    log_y: np.ndarray

    @property
    def y(self) -> str:
        """The target column."""
        return self.columns.y

    @property
    def input_columns(self) -> dict[str, str]:
        """Law input -> the column it was read from (as recorded in recipes)."""
        return dict(zip(self.law.inputs, self.names))


def input_columns(law: Law, columns: Columns) -> tuple[list[str], list[str]]:
    """Column name and the option naming it, for each law input (``N -> n``, ``D -> d``, ``x -> x``,
    others ``columns['U']``); the option is quoted in error messages."""
    unknown = [k for k in columns.inputs if k not in law.inputs]
    if unknown:
        raise ValueError(f"columns={dict(columns.inputs)!r}: law {law.name!r} has no input {unknown[0]!r}; its inputs "
                         f"are {list(law.inputs)} (map those, e.g. columns={{{law.inputs[0]!r}: 'my_column'}})")
    names = [columns.column(name) for name in law.inputs]
    options = [KEYWORDS.get(name, f"columns[{name!r}]") for name in law.inputs]
    seen = {}
    for name, column, option in zip(law.inputs, names, options):
        if column in seen:
            other, other_option = seen[column]
            raise ValueError(f"inputs {other} ({other_option}) and {name} ({option}) both read column {column!r}; law "
                             f"{law.name!r} would fit L({other}, {name}) on one column. Name a different column for each")
        seen[column] = (name, option)
    return names, options


def prepare(data, law: str | Law = "chinchilla", loss: str | Loss = "huber", delta: float = 1e-3, *,
            columns: Columns | Mapping | None = None, solver=None, fixed: Mapping[str, float] | None = None,
            tied: Mapping[str, str] | None = None, where: str = "") -> Problem:
    """Resolve law, loss and solver and validate the data: the first step of every driver.

    ``columns.compute``: a compute column from which ``D = C / (6 N)`` is derived (see
    :func:`tokens_from_compute`). ``where`` prefixes error messages (e.g. the group).
    """
    law = law if isinstance(law, Law) and not (fixed or tied) else resolve_law(law, fixed, tied)
    loss_fn = get_loss(loss, check_positive_number("delta", delta))
    solver = resolve_solver(solver)
    columns = as_columns(columns)
    frame = as_frame(data)
    names, options = input_columns(law, columns)
    if columns.compute is not None:
        frame, names, options = tokens_from_compute(frame, law, names, options, columns.compute, where)
    log_x, log_y = validation.prepare(frame, law, names, columns.y, options, where)
    validation.check_law_shapes(law, log_x)
    return Problem(law, loss_fn, solver, frame, columns, names, log_x, log_y)


def recipe(problem: Problem, start_points: np.ndarray, starts, *, prune, prune_iter, polish, solver=None,
           **extra) -> dict:
    """Everything needed to repeat a result (stored in results and saved files): the law and its
    constraints, the loss, the solver and its options, the starts, pruning and polishing, the columns,
    then ``extra`` (seed, resamples, grouping ...). ``solver`` overrides the problem's (a bootstrap's
    resamples may run the warm-start solver)."""
    law, loss_fn, solver = problem.law, problem.loss, solver or problem.solver
    return {
        "law": law.base.name, "fixed": law.fixed, "tied": law.tied, "loss": loss_fn.name, **dict(loss_fn.params),
        "solver": solver.name, "solver_options": solver.options,
        "n_starts": int(np.shape(start_points)[-2]), "starts": starts if isinstance(starts, (str, int)) or starts is None
        else "array", "prune": prune, "prune_iter": prune_iter if prune is not None else None, "polish": int(polish),
        "columns": problem.input_columns, "y": problem.y, **extra,
    }


def versions() -> dict:
    """Versions of jaxscale and the libraries a result was computed with."""
    import jax

    from .._version import __version__

    return {"jaxscale": __version__, "jax": jax.__version__, "numpy": np.__version__, "pandas": pd.__version__}


def resolve_law(law, fixed=None, tied=None) -> Law:
    """A registered law (or a Law) with ``fixed``/``tied`` parameters applied (see :func:`constrain`)."""
    return constrain(get_law(law), fixed, tied)


def tokens_from_compute(frame: pd.DataFrame, law: Law, names: list[str], options: list[str], c: str,
                        where: str = "") -> tuple[pd.DataFrame, list[str], list[str]]:
    r"""Derive the tokens input from a compute column: :math:`D = C / (6 N)` (Kaplan et al.'s
    :math:`C \approx 6ND`), as Epoch's Chinchilla CSV gives ``Model Size`` and ``Training FLOP``.

    Returns a copy of ``frame`` with the derived column (named ``"<c> / (6 <n>)"``) and the updated
    column names and keywords (the D column's keyword becomes ``c``).
    """
    if not isinstance(c, str):
        raise ValueError(f"c must be a column name (training compute in FLOP), got {c!r}")
    if not {"N", "D"} <= set(law.inputs):
        raise ValueError(f"c= derives D = C / (6 N) for laws with inputs N and D; law {law.name!r} takes "
                         f"{list(law.inputs)} (for a law of compute alone use x={c!r})")
    i_n, i_d = law.inputs.index("N"), law.inputs.index("D")
    n_values = positive_column(frame, names[i_n], "input N", options[i_n], True, where)
    c_values = positive_column(frame, c, "compute C", "c", True, where)
    derived = f"{c} / (6 {names[i_n]})"
    frame = frame.assign(**{derived: c_values / (6.0 * n_values)})
    names, options = list(names), list(options)
    names[i_d], options[i_d] = derived, "c"
    return frame, names, options


def input_arrays(law: Law, N=None, D=None, inputs: Mapping | None = None) -> tuple[np.ndarray, tuple]:
    """Every input of ``law`` from keywords, broadcast: ``(x[n, k] natural units, shape)``.

    A missing input, an unknown one, or a value the law cannot take (<= 0 on a log-scale input,
    non-finite) raises a ValueError naming it.
    """
    inputs = dict(inputs or {})
    if N is not None:
        inputs["N"] = N
    if D is not None:
        inputs["D"] = D
    missing = [name for name in law.inputs if name not in inputs]
    unknown = [name for name in inputs if name not in law.inputs]
    if missing or unknown:
        raise ValueError(f"law {law.name!r} takes inputs {list(law.inputs)}"
                         + (f"; missing {missing}" if missing else "") + (f"; unknown {unknown}" if unknown else "")
                         + f" (e.g. predict({', '.join(f'{v}=...' for v in law.inputs)}))")
    try:
        arrays = np.broadcast_arrays(*(np.asarray(inputs[name], np.float64) for name in law.inputs))
    except (TypeError, ValueError) as err:
        raise ValueError(f"inputs {list(law.inputs)} must be numbers or arrays of one broadcastable shape: {err}") \
            from None
    for name, values, scale in zip(law.inputs, arrays, law.input_scale):
        bad = ~np.isfinite(values) | ((values <= 0) if scale == "log" else False)
        if np.any(bad):
            rule = "finite and > 0 (the law works on its logarithm)" if scale == "log" else "finite"
            raise ValueError(f"input {name} must be {rule} for law {law.name!r}; got {values[bad].ravel()[0]}")
    shape = arrays[0].shape
    return np.stack([a.ravel() for a in arrays], axis=1), shape


def predict_inputs(law: Law, full_theta: np.ndarray, N=None, D=None, inputs: Mapping | None = None):
    """Natural-scale prediction of ``law.base`` at ``full_theta[p]`` (float or array shaped like the inputs)."""
    x, shape = input_arrays(law.base, N, D, inputs)
    out = law.base.predict(full_theta, x)
    return out.reshape(shape) if shape else float(out[0])


def check_compute(C) -> np.ndarray:
    """Compute budgets as float64, each finite and > 0 FLOP."""
    try:
        C_arr = np.asarray(C, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"compute C must be a number or an array of numbers (FLOP), got {C!r}") from None
    if C_arr.size == 0 or np.any(~np.isfinite(C_arr) | (C_arr <= 0)):
        raise ValueError(f"compute C must be finite and > 0 FLOP, got {C}")
    return C_arr


def row_weights(weights, n_rows: int, index: pd.Index | None = None) -> np.ndarray:
    """Per-row weights (count weights of a resample, or 0/1 masks), checked.

    A pandas Series is matched to the data by its index labels (``index``, the data's index), not by
    position; labels that do not match the data's raise. Arrays and lists go by position.
    """
    if weights is None:
        return np.ones(n_rows)
    if isinstance(weights, pd.Series) and index is not None and not weights.index.equals(index):
        missing = index.difference(weights.index)
        extra = weights.index.difference(index)
        if missing.size or extra.size or not weights.index.is_unique or not index.is_unique:
            raise ValueError(
                "weights is a pandas Series whose index does not match the data's index"
                + (f": no weight for data labels {list(missing[:5])}" if missing.size else "")
                + (f"; labels {list(extra[:5])} are not in the data" if extra.size else "")
                + ("; an index has duplicate labels" if not (weights.index.is_unique and index.is_unique) else "")
                + ". Give one weight per data row with the data's index (weights.reindex(data.index)), or a "
                  "plain array in row order (weights.to_numpy())")
        weights = weights.reindex(index)
    if isinstance(weights, pd.DataFrame) or np.ndim(weights) > 1:
        raise ValueError(f"weights must be 1-D (one weight per row), got shape {np.shape(weights)}")
    w = np.asarray(weights, dtype=np.float64).ravel()
    if w.size != n_rows:
        raise ValueError(f"weights has {w.size} values but data has {n_rows} rows; give one weight per row")
    bad = np.flatnonzero(~np.isfinite(w) | (w < 0))
    if bad.size:
        raise ValueError(f"weights row {int(bad[0])} is {w[bad[0]]}; weights must be finite and >= 0")
    if np.count_nonzero(w) == 0:
        raise ValueError("all weights are zero; at least some rows must count")
    return w
