"""``jaxscale.fit``: multi-start robust fits of a scaling law, with a pandas-friendly result."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from ..engine import TaskResults, resolve_starts
from ..engine.multistart import best_of_starts
from ..kernels.laws import Law, constrain, get_law
from ..kernels.losses import Loss, get_loss
from ..kernels.solvers import SOLVERS, STATUS_NAMES, LaneSolver, LevenbergMarquardt
from .reach import data_span, describe_span, label_predictions
from .validation import (as_frame, check_int, check_positive_number, check_seed, identifiability_problem,
                         positive_column, prepare)


def resolve_solver(solver) -> Any:
    """``None``/``"lm"`` -> Levenberg-Marquardt (default), ``"bfgs"`` -> BFGS, or a solver instance."""
    if solver is None:
        return LevenbergMarquardt()
    if isinstance(solver, str):
        try:
            return SOLVERS[solver]()
        except KeyError:
            raise ValueError(f"unknown solver {solver!r}; choose one of {sorted(SOLVERS)}") from None
    if not isinstance(solver, LaneSolver):
        raise ValueError(f"solver {solver!r} is not a jaxscale lane solver: subclass "
                         "jaxscale.kernels.solvers.LaneSolver (init/step) or name one of "
                         f"{sorted(SOLVERS)}")
    return solver


def input_columns(law: Law, n: str, d: str, columns: Mapping[str, str] | None,
                  x: str = "x") -> tuple[list[str], list[str]]:
    """Column name and keyword for each law input (``N -> n``, ``D -> d``, ``x -> x``, others via ``columns``)."""
    keywords = {"N": ("n", n), "D": ("d", d), "x": ("x", x)}
    names, options = [], []
    for name in law.inputs:
        if columns and name in columns:
            names.append(columns[name])
            options.append(f"columns[{name!r}]")
        elif name in keywords:
            options.append(keywords[name][0])
            names.append(keywords[name][1])
        else:
            names.append(name)
            options.append(f"columns[{name!r}]")
    return names, options


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


def setup(data, law, loss, delta, solver, n, d, y, columns, x="x", fixed=None, tied=None, where="", c=None):
    """Resolve law, loss and solver and validate the data: the shared first step of fit and bootstrap.

    ``c``: a compute column from which ``D = C / (6 N)`` is derived (see :func:`tokens_from_compute`).
    Returns ``(law, loss, solver, frame, column_names, features, target)``.
    """
    law = law if isinstance(law, Law) and not (fixed or tied) else resolve_law(law, fixed, tied)
    loss_fn = get_loss(loss, check_positive_number("delta", delta))
    solver = resolve_solver(solver)
    frame = as_frame(data)
    names, options = input_columns(law, n, d, columns, x)
    if c is not None:
        frame, names, options = tokens_from_compute(frame, law, names, options, c, where)
    log_x, log_y = prepare(frame, law, names, y, options, where)
    return law, loss_fn, solver, frame, names, log_x, log_y


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


@dataclass
class FitResult:
    """Outcome of :func:`fit`.

    Attributes
    ----------
    law : Law
    loss : Loss
    theta : ndarray
        Best log-space parameters (``a, b, e, alpha, beta`` for Chinchilla).
    objective : float
        ``sum_i w_i rho(r_i)`` at ``theta`` (the summed Huber value by default).
    converged : bool
        Whether the lane that produced ``theta`` met its stopping test.
    starts : DataFrame
        One row per start, in the order given: the start (``start_<p>``), the end point
        (``<p>``), ``objective``, ``converged``, ``iterations``, ``grad_norm``, ``status``.
    n_points : int
    recipe : dict
        Everything needed to repeat the fit.
    """

    law: Law
    loss: Loss
    theta: np.ndarray
    objective: float
    converged: bool
    starts: pd.DataFrame
    n_points: int
    recipe: dict = field(default_factory=dict)

    @property
    def params(self) -> pd.Series:
        """Natural parameters (``A = exp(a)`` ...), full precision, indexed by name; includes fixed
        and tied parameters (see :attr:`fixed`, :attr:`tied`); fixed ones exactly as given."""
        base = self.law.base
        params = pd.Series(base.to_natural(self.law.expand(self.theta)), index=list(base.natural_names),
                           name="estimate")
        for name, value in self.law.fixed.items():
            params[name] = value
        return params

    @property
    def log_params(self) -> pd.Series:
        """Fitted-space parameters of the base law (``a = log A`` ...), fixed ones included."""
        base = self.law.base
        return pd.Series(self.law.expand(self.theta), index=list(base.param_names), name="estimate")

    @property
    def fixed(self) -> dict[str, float]:
        """Parameters held fixed in the fit (natural name -> value)."""
        return self.law.fixed

    @property
    def tied(self) -> dict[str, str]:
        """Parameters tied to another (name -> the parameter it equals)."""
        return self.law.tied

    def predict(self, N=None, D=None, *, labelled: bool = False, **inputs) -> np.ndarray | float | pd.DataFrame:
        """Prediction of the law at the given inputs (broadcast), in natural units (loss, accuracy).

        Every input of the law must be given (``N``, ``D``, ``U``, ``x`` ...); a missing or unknown
        input raises instead of guessing. ``labelled=True`` returns a table: the inputs, the prediction
        and how far beyond the fitted data each point lies (``beyond_log10_C``, ``beyond_log10_N`` ...,
        ``regime``: interpolation/extrapolation; see :func:`jaxscale.api.reach.label_predictions`).
        """
        if labelled:
            x, _ = input_arrays(self.law.base, N, D, inputs)
            out = pd.DataFrame({name: x[:, j] for j, name in enumerate(self.law.base.inputs)})
            out["loss" if self.law.base.target_scale == "log" else "prediction"] = self.law.base.predict(
                self.law.expand(self.theta), x)
            return pd.concat([out, label_predictions(self.law.base, self.recipe.get("data_span"), x)], axis=1)
        return predict_inputs(self.law, self.law.expand(self.theta), N, D, inputs)

    def compute_optimal(self, C, **other_inputs) -> pd.Series | pd.DataFrame:
        """Compute-optimal ``N_opt, D_opt, D/N`` and predicted loss for compute ``C = 6 N D``.

        Asks the law (:meth:`Law.compute_optimal`): closed form for Chinchilla, batched numerical
        minimisation along ``C = 6ND`` for other laws of N and D. Further inputs (``U`` for the
        data-constrained law) are held at ``other_inputs``. ``C`` scalar -> Series, array -> DataFrame.
        """
        C_arr = check_compute(C)
        n_opt, d_opt = self.law.compute_optimal(self.theta, C_arr, **other_inputs)
        frame = pd.DataFrame({"C": np.ravel(C_arr), "N_opt": np.ravel(n_opt), "D_opt": np.ravel(d_opt)})
        frame["D_over_N"] = frame["D_opt"] / frame["N_opt"]
        frame["loss"] = np.ravel(self.predict(N=frame["N_opt"].to_numpy(), D=frame["D_opt"].to_numpy(),
                                              **{k: np.full(len(frame), v, np.float64)
                                                 for k, v in other_inputs.items()}))
        return frame.iloc[0] if C_arr.ndim == 0 else frame

    def n_at_best(self, tol: float = 1e-9) -> int:
        """Number of starts whose end objective is within ``tol`` of the best (after a pruned
        multi-start, only continued starts can count)."""
        return int(np.sum(self.starts["objective"].to_numpy() <= self.objective + tol))

    def _pruned_note(self) -> str:
        pruned = int((self.starts["status"] == "pruned").sum()) if "status" in self.starts else 0
        if not pruned:
            return ""
        return (f"\npruned multi-start: {len(self.starts) - pruned} starts ran to their end (those that stopped within "
                f"the {self.recipe.get('prune_iter')} screening evaluations, then the {self.recipe.get('prune')} lowest "
                f"of the rest), {pruned} were pruned (prune=None runs every start to convergence)")

    def summary(self) -> str:
        """A printable table of the estimate and the fit's diagnostics."""
        lines = [f"jaxscale fit: law={self.law.name}, loss={self.loss.name}"
                 + "".join(f", {k}={v:g}" for k, v in self.loss.params)
                 + f", solver={self.recipe.get('solver', '?')}",
                 f"points={self.n_points}  starts={len(self.starts)}  converged={int(self.starts['converged'].sum())}"
                 f"  at best (1e-9)={self.n_at_best()}" + self._pruned_note(),
                 f"objective={self.objective:.14g}  converged={self.converged}",
                 "",
                 f"{'parameter':<10}{'estimate':>22}{'log-space':>14}{'':>4}"]
        base, full = self.law.base, self.law.expand(self.theta)
        fixed, tied = self.fixed, self.tied
        for name, log_name, value, raw in zip(base.natural_names, base.param_names, base.to_natural(full), full):
            log_col = f"{log_name}={raw:.7g}" if log_name != name else ""
            flag = "  (fixed)" if name in fixed else f"  (tied to {tied[name]})" if name in tied else ""
            lines.append(f"{name:<10}{value:>22.10g}  {log_col:>16}{flag}")
        derived = base.derived(dict(self.params))
        if "a_opt" in derived:
            lines += ["", f"N_opt ~ C^{derived['a_opt']:.4f}   D_opt ~ C^{derived['b_opt']:.4f}   (C = 6ND)"]
        small = [n for n, gone in zip(self.law.natural_names, vanishing_params(self.law, self.theta)[0]) if gone]
        if small:
            lines += ["", f"warning: {', '.join(small)} ran to ~0 (below 2e-9): that term vanishes and the objective "
                          "may still fall in that direction, so no minimum is attained; the law is not identified "
                          "by these data (consider fixed=... or a law without that term)"]
        lines += ["", describe_span(self.law.base, self.recipe.get("data_span"))]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.summary()

    @classmethod
    def from_params(cls, params: Mapping[str, float], law: str | Law = "chinchilla",
                    source: str = "given") -> "FitResult":
        """A result holding given natural parameters (e.g. a published law) so that ``predict``,
        ``compute_optimal`` and the plots work on it; ``objective`` is NaN and ``starts`` empty."""
        law = get_law(law)
        missing = [name for name in law.natural_names if name not in params]
        extra = [name for name in params if name not in law.natural_names]
        if extra:
            raise ValueError(f"unknown parameters {extra} for law {law.name!r}; its parameters are "
                             f"{list(law.natural_names)}")
        values = np.array([float(params[name]) for name in law.natural_names]) if not missing else None
        if values is not None and not np.all(np.isfinite(values)):
            bad = [n for n, v in zip(law.natural_names, values) if not np.isfinite(v)]
            raise ValueError(f"parameters {bad} are not finite; give finite values")
        if missing:
            raise ValueError(f"parameters {missing} are missing for law {law.name!r}; "
                             f"give all of {list(law.natural_names)}")
        theta = law.from_natural(values)
        no_starts = _starts_frame(law, np.empty((0, law.n_params)), None)
        return cls(law, get_loss("huber", 1e-3), theta, float("nan"), True, no_starts, 0,
                   {"law": law.name, "source": source})

    def save(self, path: str | Path) -> Path:
        """Write an ``.npz`` (theta, the per-start table, JSON metadata; no pickle) atomically; read it back
        with :func:`jaxscale.load`. See :func:`jaxscale.api.io.save_result`."""
        from .io import save_result

        return save_result(self, path)


def load_fit(path: str | Path) -> FitResult:
    """Read a fit written by :meth:`FitResult.save` (:func:`jaxscale.api.io.load` with ``kind="fit"``)."""
    from .io import load

    return load(path, kind="fit")


#: A log-scale parameter whose logarithm ends below this (natural value < 2e-9) has run to the edge of
#: its range: its term vanishes and the objective may still fall along that direction (no attained minimum).
VANISHING_LOG = -20.0


def vanishing_params(law: Law, theta: np.ndarray) -> np.ndarray:
    """``(K, p)`` bool: log-scale parameters of end points ``theta[K, p]`` below ``exp(VANISHING_LOG)``."""
    theta = np.atleast_2d(np.asarray(theta, np.float64))
    return np.asarray(law.log_scale, bool)[None, :] & (theta < VANISHING_LOG)


def vanishing(law: Law, theta: np.ndarray) -> np.ndarray:
    """``(K,)`` bool: end points ``theta[K, p]`` where a log-scale parameter is below ``exp(VANISHING_LOG)``."""
    return vanishing_params(law, theta).any(axis=1)


def _starts_frame(law: Law, starts: np.ndarray, res: TaskResults | None) -> pd.DataFrame:
    frame = pd.DataFrame(starts, columns=[f"start_{p}" for p in law.param_names])
    if res is None:  # no fit ran: the empty table with the same columns
        res = TaskResults(*(np.empty((0, law.n_params)) if f == "theta" else np.empty(0)
                            for f in TaskResults._fields))
    for j, name in enumerate(law.param_names):
        frame[name] = res.theta[:, j]
    frame["objective"] = res.value
    frame["converged"] = res.converged.astype(bool)
    frame["iterations"] = res.iterations
    frame["grad_norm"] = res.grad_norm
    frame["status"] = [STATUS_NAMES.get(int(s), "padding") for s in res.status]
    frame["vanishing"] = vanishing(law, res.theta.reshape(-1, law.n_params))
    return frame


def fit(data, law: str | Law = "chinchilla", starts=None, loss: str | Loss = "huber", delta: float = 1e-3,
        solver=None, n: str = "N", d: str = "D", y: str = "loss", *, x: str = "x", by=None, weights=None,
        fixed: Mapping[str, float] | None = None, tied: Mapping[str, str] | None = None,
        columns: Mapping[str, str] | None = None, seed: int = 0, polish: int = 8, prune: int | str | None = "auto",
        prune_iter: int | None = None,
        n_lanes: int | None = None, chunk_size: int | None = None, devices=None, c: str | None = None,
        executor=None, checkpoint=None, progress: bool | None = None, retries: int = 2):
    r"""Fit a scaling law by minimising a robust loss on log-loss residuals from many starts.

    .. math::
        \hat\theta = \arg\min_\theta \sum_i w_i\, \mathrm{Huber}_\delta\big(\log L_i - \log\hat L(\theta; N_i, D_i)\big)

    with :math:`\log\hat L = \mathrm{LSE}(a - \alpha\log N, b - \beta\log D, e)` for
    ``law="chinchilla"`` (Hoffmann et al. 2022, Approach 3; Epoch AI 2024).

    Parameters
    ----------
    data : DataFrame or dict of arrays
        One row per training run.
    law : str or Law
        A registered law (:data:`jaxscale.LAWS`: ``"chinchilla"`` (default), ``"kaplan"``,
        ``"data_constrained"``, ``"power_law"``, ``"pure_power_law"``, ``"broken_power_law"``,
        ``"sigmoid"``) or a :class:`~jaxscale.Law`.
    starts : None, "grid", int or array (K, p)
        Start points in the law's log-space order (``a, b, e, alpha, beta``). ``None``: the
        law's grid (Hoffmann's 4500 starts); int: that many seeded random starts.
    loss : {"huber", "squared"} or Loss
    delta : float
        Huber threshold (1e-3 as Hoffmann/Epoch).
    solver : None, "lm", "lm-warm", "lm-exact", "lm-irls", "bfgs" or a solver instance
        Default ``"lm"``: Levenberg-Marquardt on the IRLS model (reaches the global optimum from
        almost every start), polished with the exact Huber curvature once it meets its standard
        test. ``"bfgs"`` is the quasi-Newton path of the reference procedure.
    n, d, y : str
        Column names of model size, tokens and loss (the target).
    x : str
        Column of the input of one-variable laws (``power_law``, ``pure_power_law``, ``sigmoid`` ...),
        e.g. ``x="N"`` or ``x="C"``.
    by : str or list of str, optional
        Fit one law per group of rows sharing these columns' values, all groups as lanes of one
        compiled run; returns a :class:`~jaxscale.api.groups.GroupedFitResult`.
    weights : array (n_rows,), optional
        Per-row weights (resample counts, masks).
    fixed : dict, optional
        Parameters held at a value, e.g. ``{"alpha": 0.5}`` (natural names take natural values;
        fitted names such as ``"a"`` take fitted-space values). Reported in ``params``, flagged in
        ``summary()``.
    tied : dict, optional
        Parameters equal to another, e.g. ``{"beta": "alpha"}``.
    weights : array or Series (n_rows,), optional
        Per-row weights >= 0 (resample counts, masks). A Series is matched by index label.
        The rows with weight > 0 must identify the law: more distinct input points than free
        parameters and at least two values of every input, else a ValueError (a fit through
        ``p`` points is an exact interpolation with objective ~0 that reports ``converged``).
    columns : dict, optional
        Column of each further law input, e.g. ``{"U": "unique_tokens"}`` (an input without an
        entry is read from the column of its own name, e.g. ``U``).
    c : str, optional
        A training-compute column (FLOP): the tokens input is derived as :math:`D = C / (6N)`
        and the ``d`` column is not used (Epoch's Chinchilla CSV: ``n="Model Size",
        c="Training FLOP"``).
    seed : int
        Seed for random starts, an integer in ``[0, 2**32 - 1]``.
    polish : int
        For solvers that do not polish their lanes themselves (``"lm-irls"``, ``"bfgs"``), and for
        any solver when the best lane did not converge: the best ``polish`` end points are refined
        with exact Huber curvature and tight tolerances; the result is the best of all end points.
        ``0`` disables it.
    prune : "auto", int or None
        Pruned multi-start: every start is screened for ``prune_iter`` evaluations, then only the
        ``prune`` lowest continue to convergence; the others are reported with status
        ``"pruned"`` and ``converged=False``. ``"auto"`` (default): keep
        :data:`~jaxscale.engine.multistart.PRUNE_KEEP` (64) after
        :data:`~jaxscale.engine.multistart.PRUNE_ITER` (20) evaluations when there are more
        starts than that. A continued start resumes its own lane state, so it ends exactly where an
        unpruned run from it would; measured to reach the exhaustive grid's optimum on Epoch's data
        and on synthetic data sets of many shapes (``benchmarks/bench_strategy.py``) at about a
        sixth of the evaluations. ``None`` runs every start to convergence (every start's end
        point is then a converged fit, and ``n_at_best`` counts basins over all starts).
    prune_iter : int, optional
        Screening evaluations per start (default :data:`~jaxscale.engine.multistart.PRUNE_ITER`).
    n_lanes, chunk_size : int, optional
        Lanes advanced together and tasks per compiled call (memory bound), each >= 1.
    devices : None, int or list
        Local devices the starts are sharded over (default: all).
    executor, checkpoint, progress, retries : optional, with ``by=`` only
        The groups run as a chunked job exactly like :func:`jaxscale.bootstrap`'s resamples: on any
        ``concurrent.futures``-style executor (a Dask client ...), checkpointed chunk by chunk
        (a rerun resumes), with a ``tqdm`` bar; results are bit-identical however the groups are
        chunked or where they run.

    Returns
    -------
    FitResult
    """
    seed = check_seed(seed)
    polish = check_int("polish", polish, 0)
    prune = prune if isinstance(prune, str) and prune == "auto" else check_int("prune", prune, 1, optional=True)
    prune_iter = check_int("prune_iter", prune_iter, 1, optional=True)
    n_lanes = check_int("n_lanes", n_lanes, 1, optional=True)
    chunk_size = check_int("chunk_size", chunk_size, 1, optional=True)
    if by is not None:
        from .groups import fit_groups

        if weights is not None:
            raise ValueError("weights= and by= cannot be combined; mask rows before grouping")
        return fit_groups(data, by, law=law, starts=starts, loss=loss, delta=delta, solver=solver, n=n, d=d, y=y,
                          x=x, fixed=fixed, tied=tied, columns=columns, seed=seed, polish=polish, prune=prune,
                          prune_iter=prune_iter, n_lanes=n_lanes, chunk_size=chunk_size, devices=devices, c=c,
                          executor=executor, checkpoint=checkpoint, progress=progress, retries=retries)
    if executor is not None or checkpoint is not None:
        raise ValueError("executor= and checkpoint= split many fits into chunks: use them with by= (one fit per "
                         "group) or with js.bootstrap; a single fit runs here in one call")
    law, loss_fn, solver, frame, names, log_x, log_y = setup(data, law, loss, delta, solver, n, d, y, columns, x,
                                                             fixed, tied, c=c)
    w = row_weights(weights, len(frame), frame.index)
    problem = identifiability_problem(law, log_x, w, names) if weights is not None else None
    if problem:
        raise ValueError(f"weights: {problem}. Give weight to more runs")
    start_points = resolve_starts(law, starts, seed)
    prune, prune_iter = resolve_prune(prune, prune_iter, len(start_points))

    best = best_of_starts(solver, law, loss_fn, log_x, log_y, w, start_points, prune_keep=prune,
                          prune_iter=prune_iter, polish_top=int(polish), n_lanes=n_lanes, chunk_size=chunk_size,
                          devices=devices)
    if not np.isfinite(best.value[0]):
        raise RuntimeError("every start produced a non-finite objective; check the data and the starts")
    recipe = fit_recipe(law, loss_fn, solver, start_points, starts, prune, prune_iter, polish, names, y)
    recipe["data_span"] = data_span(law.base, log_x, w)
    return FitResult(law, loss_fn, best.theta[0], float(best.value[0]), bool(best.converged[0]),
                     _starts_frame(law, start_points, best.tasks), int(np.count_nonzero(w)), recipe)


def resolve_prune(prune, prune_iter, n_starts: int) -> tuple[int | None, int]:
    """``prune`` ("auto", an int >= 1 or None) and ``prune_iter`` -> (starts kept or None, screening evaluations).

    ``"auto"`` keeps :data:`PRUNE_KEEP` when there are more starts than that, else runs all.
    """
    from ..engine.multistart import PRUNE_ITER, PRUNE_KEEP

    if isinstance(prune, str):
        if prune != "auto":
            raise ValueError(f"prune={prune!r}: use 'auto', a number of starts to keep (>= 1) or None (every start)")
        prune = PRUNE_KEEP if n_starts > PRUNE_KEEP else None
    else:
        prune = check_int("prune", prune, 1, optional=True)
        prune = prune if prune is not None and prune < n_starts else None
    prune_iter = check_int("prune_iter", PRUNE_ITER if prune_iter is None else prune_iter, 1)
    return prune, prune_iter


def fit_recipe(law: Law, loss_fn: Loss, solver, start_points, starts, prune, prune_iter, polish, names, y) -> dict:
    """Everything needed to repeat a fit (stored in results and saved files)."""
    return {
        "law": law.base.name, "fixed": law.fixed, "tied": law.tied, "loss": loss_fn.name, **dict(loss_fn.params),
        "solver": solver.name, "solver_options": solver.options,
        "n_starts": int(len(start_points)), "starts": starts if isinstance(starts, (str, int)) or starts is None
        else "array", "prune": prune, "prune_iter": prune_iter if prune else None, "polish": int(polish),
        "columns": dict(zip(law.inputs, names)), "y": y,
    }
