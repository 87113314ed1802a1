r"""Laws over whole training curves: every checkpoint is a row, a run is a cluster.

Input: a long-format table, one row per checkpoint: a run id, the step, the loss, and the learning
rate, either a column (the LR at each logged step; logs at some steps only are linearly interpolated
to every step; its initially rising steps are the warm-up) or ``schedules=`` (a description per run, or one for all, see
:func:`jaxscale.kernels.schedules.lr_schedule`). Optional columns: tokens, model size ``N``.

For every run the per-step LR gives, at each checkpoint :math:`s`,
:math:`S_1(s) = \sum_{i \le s}\eta_i`, :math:`S_2(s)` (Tissue et al.'s annealing area, decay
:math:`\lambda`) and :math:`M(s)` (Wang et al.'s annealing momentum); see
:mod:`jaxscale.kernels.schedules`. The curve laws then fit like any law (same lanes, solvers, starts):

- ``"lr_annealing"``: :math:`L = L_0 + A S_1^{-\alpha} - C S_2` (one model size);
- ``"forward_momentum"``: :math:`L = L_0 + A S_1^{-\alpha_S} + B N^{-\alpha_N} - C M` (several sizes).

Checkpoints of one run share its noise (the same seed, data order, instabilities), so
:func:`bootstrap_curves` resamples RUNS (the cluster bootstrap of :mod:`jaxscale.api.cluster`, every
run one cluster), never single checkpoints: the intervals are those of a new set of runs.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
import pandas as pd

from ..kernels.laws import get_law
from ..kernels.schedules import TISSUE_LAMBDA, lr_schedule, rising_steps, schedule_areas, warmup_steps_of
from .bootstrap import BootstrapResult, bootstrap
from .fit import FitResult, fit
from .migration import RUNNER_KEYWORDS, SEARCH_KEYWORDS
from .options import ClusterResample, Columns, Runner
from .search import Search
from .validation import as_frame, check_level, positive_column

#: Curve laws and the area each reads besides S1.
CURVE_LAWS = {"lr_annealing": "S2", "forward_momentum": "M"}


@dataclass(frozen=True)
class CurveColumns:
    """Column names of the long-format checkpoint table."""

    run: str = "run"
    step: str = "step"
    loss: str = "loss"
    lr: str | None = "lr"
    n: str = "N"


def _schedule_of(spec, run_id, last_step: int) -> tuple[np.ndarray, int]:
    """``(per-step LR, warm-up steps)`` of one run from a description dict or a per-step array."""
    if isinstance(spec, Mapping):
        spec = dict(spec)
        kind = spec.pop("kind", None)
        if kind is None:
            raise ValueError(f"run {run_id!r}: the schedule description needs a 'kind' (cosine, linear, wsd, constant)")
        total = int(spec.pop("total_steps", last_step))
        if total < last_step:
            raise ValueError(f"run {run_id!r}: its schedule has {total} steps but a checkpoint is at step {last_step}")
        try:
            lr = lr_schedule(kind, total, **spec)
        except TypeError as err:
            raise ValueError(f"run {run_id!r}: bad schedule description ({err}); keys: kind, total_steps, peak_lr, "
                             "warmup, decay, final_lr") from None
        return lr, warmup_steps_of(spec, total)
    lr = np.asarray(spec, np.float64)
    if lr.ndim != 1 or lr.size < last_step:
        raise ValueError(f"run {run_id!r}: its per-step learning rates have shape {lr.shape}; give one per step "
                         f"up to the last checkpoint ({last_step})")
    return lr, rising_steps(lr)


def _lr_from_column(steps: np.ndarray, lrs: np.ndarray, run_id) -> np.ndarray:
    """Every step's LR from the LR logged at some steps (linear interpolation; the first value before it)."""
    bad = np.flatnonzero(~np.isfinite(lrs) | (lrs < 0))
    if bad.size:
        raise ValueError(f"run {run_id!r}: learning rate at step {int(steps[bad[0]])} is {lrs[bad[0]]}; it must be "
                         "finite and >= 0")
    order = np.argsort(steps)
    return np.interp(np.arange(1, int(steps.max()) + 1), steps[order], lrs[order])


def curve_areas(data, *, columns: CurveColumns = CurveColumns(), schedules=None, decay: float = TISSUE_LAMBDA,
                momentum: Mapping | None = None) -> pd.DataFrame:
    r"""The checkpoint table with columns ``S1``, ``S2`` and ``M`` added (module docs).

    Parameters
    ----------
    data : DataFrame or dict of arrays
        One row per checkpoint.
    columns : CurveColumns
        Names of the run id, step (whole numbers >= 1), loss, LR and model-size columns.
    schedules : dict, optional
        One schedule description for every run (``{"kind": "cosine", "peak_lr": 3e-4, "warmup": 0.01}``,
        ``total_steps`` defaulting to the run's last checkpoint), or ``{run id: description or per-step LR
        array}``. Without it the ``columns.lr`` column is read.
    decay : float
        Tissue et al.'s :math:`\lambda` of :math:`S_2`.
    momentum : dict, optional
        Options of Wang et al.'s :math:`M` (:func:`~jaxscale.kernels.schedules.annealing_momentum`).
    """
    frame = as_frame(data)
    for name, option in ((columns.run, "run"), (columns.step, "step")):
        if name not in frame.columns:
            raise ValueError(f"column {name!r} ({option}) not found; available: {list(map(str, frame.columns))}. "
                             f"Name it with columns=CurveColumns({option}=...)")
    if frame[columns.run].isna().any():
        raise ValueError(f"column {columns.run!r} (run id) row {int(np.flatnonzero(frame[columns.run].isna())[0])} "
                         "is missing; give every checkpoint its run")
    steps = positive_column(frame, columns.step, "step", "columns.step")
    if np.any(steps != np.round(steps)):
        raise ValueError(f"column {columns.step!r} (step) row {int(np.flatnonzero(steps != np.round(steps))[0])} is "
                         "not a whole step number")
    one_for_all = isinstance(schedules, Mapping) and "kind" in schedules
    if schedules is None and (columns.lr is None or columns.lr not in frame.columns):
        raise ValueError(f"no learning rates: give an LR column (columns.lr, now {columns.lr!r}) or schedules=")
    out = {k: np.empty(len(frame)) for k in ("S1", "S2", "M")}
    for run_id, rows in frame.groupby(columns.run, sort=False).indices.items():
        run_steps = steps[rows].astype(np.int64)
        if np.unique(run_steps).size != run_steps.size:
            raise ValueError(f"run {run_id!r} has two checkpoints at one step; keep one row per (run, step)")
        if schedules is None:
            lr = _lr_from_column(run_steps, frame[columns.lr].to_numpy(np.float64)[rows], run_id)
            warm = rising_steps(lr)
        else:
            spec = schedules if one_for_all else schedules.get(run_id) if isinstance(schedules, Mapping) else None
            if spec is None:
                raise ValueError(f"schedules has no entry for run {run_id!r}")
            lr, warm = _schedule_of(spec, run_id, int(run_steps.max()))
        areas = schedule_areas(lr, run_steps, decay=decay, warmup_steps=warm, momentum=momentum)
        for key in out:
            out[key][rows] = areas[key]
    return frame.assign(**out)


@dataclass
class CurveResult:
    """A curve law fitted to checkpoints (:func:`fit_curves`), with its run bootstrap if one was run.

    Attributes
    ----------
    fit : FitResult
    boot : BootstrapResult or None
        Runs resampled as clusters (:func:`bootstrap_curves`).
    data : DataFrame
        The checkpoints with ``S1``, ``S2``, ``M``.
    settings : dict
        Columns, decay, momentum options: how a new schedule's areas are computed.
    """

    fit: FitResult
    boot: BootstrapResult | None
    data: pd.DataFrame
    settings: dict = field(default_factory=dict)

    @property
    def params(self) -> pd.Series:
        return self.fit.params

    def summary(self) -> str:
        runs = self.data[self.settings["columns"].run].nunique()
        text = f"training curves: {len(self.data)} checkpoints of {runs} runs\n" + self.fit.summary().text
        if self.boot is not None:
            text += ("\n\nrun bootstrap (every run one cluster, " f"{self.boot.n_resamples} resamples):\n"
                     + self.boot.summary().text)
        return text

    __repr__ = summary

    def areas(self, schedule, steps=None) -> dict[str, np.ndarray]:
        """``S1``, ``S2``, ``M`` of a new run's schedule (a description or a per-step LR array) at ``steps``."""
        last = int(np.max(steps)) if steps is not None else None
        if isinstance(schedule, Mapping):
            if last is None and "total_steps" not in schedule:
                raise ValueError("give steps= or the schedule's total_steps")
            lr, warm = _schedule_of(schedule, "new run", last or int(schedule["total_steps"]))
        else:
            lr, warm = _schedule_of(schedule, "new run", last or np.size(schedule))
        at = np.arange(1, lr.size + 1) if steps is None else np.asarray(steps)
        return schedule_areas(lr, at, decay=self.settings["decay"], warmup_steps=warm,
                              momentum=self.settings["momentum"])

    def predict(self, schedule, steps=None, N: float | None = None, level: float = 0.95,
                kind: str = "new_run") -> pd.DataFrame:
        r"""The loss curve of an unseen run (new schedule, length or size) at ``steps``.

        Columns ``step``, the areas, ``loss`` (the fit), and with a bootstrap ``loss_low``/``loss_high``
        (``kind="mean"``: interval of the mean curve) or ``loss_new_run_low``/``_high`` (``kind="new_run"``,
        default: one new run, the draws' curves plus the leverage-corrected checkpoint residuals).
        Beyond the fitted runs' longest schedule or largest size it is an extrapolation: ``attrs["note"]``
        says so, and every row carries its distance beyond the fitted checkpoints (``beyond_log10_S1``,
        ``beyond_S2`` ..., ``regime``; :mod:`jaxscale.api.reach`).
        """
        check_level(level)
        areas = self.areas(schedule, steps)
        law = self.fit.law.base
        inputs = {"S1": areas["S1"]}
        if "N" in law.inputs:
            if N is None:
                raise ValueError(f"law {law.name!r} needs the new run's model size: predict(..., N=...)")
            inputs["N"] = np.full(areas["S1"].shape, float(N))
        inputs[CURVE_LAWS.get(law.name, "S2")] = areas[CURVE_LAWS.get(law.name, "S2")]
        if self.boot is not None:
            out = self.boot.predict(level=level, kind=kind, **inputs)
        else:
            out = self.fit.predict(labelled=True, **inputs)
        step_values = np.arange(1, areas["S1"].size + 1) if steps is None else np.asarray(steps)
        out.insert(0, "step", step_values)
        out.attrs["note"] = self._extrapolation_note(areas["S1"], N)
        return out

    def _extrapolation_note(self, s1: np.ndarray, N) -> str:
        notes = []
        if np.max(s1) > self.data["S1"].max() * (1 + 1e-12):
            notes.append(f"S1 up to {np.max(s1):.4g}, beyond the fitted runs' {self.data['S1'].max():.4g} "
                         "(a longer run than any fitted)")
        n_col = self.settings["columns"].n
        if N is not None and n_col in self.data and float(N) > self.data[n_col].max():
            notes.append(f"N={float(N):.4g} beyond the largest fitted run's {self.data[n_col].max():.4g}")
        return "extrapolation: " + "; ".join(notes) if notes else ""


def _curve_inputs(law_name: str, columns: CurveColumns) -> dict:
    law = get_law(law_name)
    if not {"S1"} <= set(law.inputs):
        raise ValueError(f"law {law.name!r} is not a curve law (inputs {list(law.inputs)}); use one of "
                         f"{sorted(CURVE_LAWS)} or a law with input S1")
    inputs = {v: v for v in law.inputs if v in ("S1", "S2", "M")}
    if "N" in law.inputs:
        inputs["N"] = columns.n
    return {"columns": Columns(inputs=inputs, y=columns.loss)}


def fit_curves(data, law: str = "lr_annealing", *, columns: CurveColumns = CurveColumns(), schedules=None,
               decay: float = TISSUE_LAMBDA, momentum: Mapping | None = None, **fit_options: Any) -> CurveResult:
    r"""Fit a curve law to every checkpoint of every run (module docs).

    .. math:: \hat\theta = \arg\min_\theta \sum_{\text{runs } r} \sum_{\text{checkpoints } s}
              \mathrm{Huber}_\delta\big(\log L_{rs} - \log\hat L(\theta; S_1(r,s), S_2(r,s) \text{ or } N_r, M(r,s))\big)

    ``fit_options`` go to :func:`jaxscale.fit` (``starts``, ``loss``, ``delta``, ``solver``, ``fixed`` ...).

    Examples
    --------
    >>> import jaxscale as js
    >>> runs = js.synthetic_curves(sizes=[1e8], noise=0.0)
    >>> result = js.fit_curves(runs, law="lr_annealing", schedules=None)   # doctest: +SKIP
    """
    frame = curve_areas(data, columns=columns, schedules=schedules, decay=decay, momentum=momentum)
    fitted = fit(frame, law=law, **_curve_inputs(law, columns), **fit_options)
    return CurveResult(fitted, None, frame, {"columns": columns, "decay": decay, "momentum": momentum})


def bootstrap_curves(data, law: str = "lr_annealing", n_resamples: int = 200, *,
                     columns: CurveColumns = CurveColumns(), schedules=None, decay: float = TISSUE_LAMBDA,
                     momentum: Mapping | None = None, starts="subgrid", seed: int = 0,
                     **options: Any) -> CurveResult:
    """Fit the curve law and bootstrap it by resampling whole RUNS (every run one cluster).

    Uses :func:`jaxscale.bootstrap` with ``resample="cluster"`` and ``cluster=`` the run column; with fewer
    than ~10 runs it warns that the interval is rough. ``starts``/``options`` as there.
    """
    frame = curve_areas(data, columns=columns, schedules=schedules, decay=decay, momentum=momentum)
    kw = _curve_inputs(law, columns)
    options = dict(options)  # the former flat keywords, spelled with the option objects (no DeprecationWarning)
    search = options.pop("search", None) or Search(starts=starts, **{k: options.pop(k) for k in SEARCH_KEYWORDS
                                                                       if k in options and k != "starts"})
    runner = options.pop("runner", None) or Runner(**{k: options.pop(k) for k in RUNNER_KEYWORDS if k in options})
    fit_kw = {k: v for k, v in options.items() if k in ("loss", "delta", "fixed", "tied")}
    estimate = fit(frame, law=law, seed=seed, search=Search(solver=search.solver), **kw, **fit_kw)
    boot = bootstrap(frame, law=law, n_resamples=n_resamples, seed=seed, estimate=estimate,
                     resample=ClusterResample(by=columns.run), search=search, runner=runner, **kw, **options)
    return CurveResult(estimate, boot, frame, {"columns": columns, "decay": decay, "momentum": momentum})


def schedules_from_columns(data, *, run: str = "run", kind: str = "kind", total_steps: str = "T",
                           **common: float) -> dict:
    """``{run id: schedule description}`` from per-run columns (schedule kind, total steps) and shared
    settings (``peak_lr``, ``warmup``, ``decay``, ``final_lr``), e.g. for :func:`synthetic_curves` output."""
    frame = as_frame(data)
    missing = [c for c in (run, kind, total_steps) if c not in frame.columns]
    if missing:
        raise ValueError(f"schedule columns {missing} not found; available: {list(map(str, frame.columns))}")
    out = {}
    for run_id, part in frame.groupby(run, sort=False):
        kinds, totals = part[kind].unique(), part[total_steps].unique()
        if kinds.size != 1 or totals.size != 1:
            raise ValueError(f"run {run_id!r} has several schedule kinds {list(kinds)} or lengths {list(totals)}; "
                             "one per run")
        out[run_id] = {"kind": str(kinds[0]), "total_steps": int(totals[0]), **common}
    return out


def synthetic_curves(params: Mapping | None = None, sizes=(3e7, 1e8, 3e8), steps=(2000, 4000),
                     kinds=("cosine", "wsd"), *, peak_lr: float = 3e-3, warmup: float = 0.01,
                     batch_tokens: float = 2**20, every: int = 200, noise: float = 0.005,
                     seed: int = 0) -> pd.DataFrame:
    r"""Checkpoints of synthetic runs from the forward-momentum law (Chinchilla's terms plus annealing).

    Run = (size N, length T steps, schedule kind), each logged every ``every`` steps:
    :math:`L = L_0 + A S_1^{-\alpha_S} + B N^{-\alpha_N} - C M`, times log-normal noise (``noise``), with
    Chinchilla's constants by default (:math:`L_0 = E = 1.82, B = 482, \alpha_N = 0.35` from Epoch; the
    data term :math:`A S_1^{-\alpha_S}` is Chinchilla's :math:`B/D^\beta` with :math:`D` counted in
    LR-weighted steps, :math:`A = 2.2, \alpha_S = 0.37`; :math:`C = 10^{-3}`). Columns ``run``, ``N``,
    ``step``, ``tokens`` (``step x batch_tokens``), ``lr``, ``kind``, ``T``, ``loss``.
    """
    p = {"L0": 1.82, "A": 2.2, "B": 482.0, "alpha_S": 0.37, "alpha_N": 0.35, "C": 1e-3, **dict(params or {})}
    rng = np.random.default_rng(seed)
    parts = []
    for run, (n, T, kind) in enumerate((n, T, k) for n in sizes for T in steps for k in kinds):
        lr = lr_schedule(kind, int(T), peak_lr, warmup=warmup)
        at = np.arange(every, int(T) + 1, every)
        areas = schedule_areas(lr, at, warmup_steps=int(round(warmup * T)))
        clean = p["L0"] + p["A"] * areas["S1"] ** -p["alpha_S"] + p["B"] * float(n) ** -p["alpha_N"] \
            - p["C"] * areas["M"]
        loss = clean * np.exp(noise * rng.standard_normal(clean.shape)) if noise > 0 else clean
        parts.append(pd.DataFrame({"run": run, "N": float(n), "step": at, "tokens": at * float(batch_tokens),
                                   "lr": lr[at - 1], "kind": kind, "T": int(T), "loss": loss}))
    return pd.concat(parts, ignore_index=True)


def final_loss_check(data, target_run, *, law: str = "forward_momentum", columns: CurveColumns = CurveColumns(),
                     tokens: str = "tokens", schedules=None, n_resamples: int = 100, level: float = 0.95,
                     seed: int = 0, **options: Any) -> pd.DataFrame:
    r"""Predict one run's final loss from the OTHER runs, two ways, next to the observed value.

    - ``"curves"``: the curve law fitted to every checkpoint of the other runs (:func:`bootstrap_curves`,
      runs resampled), evaluated at the target run's schedule, last step and size;
    - ``"final loss only"``: Chinchilla's :math:`E + A/N^\alpha + B/D^\beta` fitted to the last checkpoint of
      each other run (``D`` from the ``tokens`` column), bootstrapped by runs (one row per run).

    Both with the ``level`` new-run interval. Returns one row per method: ``predicted``, ``low``,
    ``high``, ``observed``, ``rel_error`` (:math:`|\hat L - L| / L`) and ``covered``.
    """
    frame = curve_areas(data, columns=columns, schedules=schedules)
    runs = frame[columns.run]
    if not (runs == target_run).any():
        raise ValueError(f"target_run {target_run!r} is not a run of the data ({columns.run!r} column)")
    target, train = frame[runs == target_run], frame[runs != target_run]
    last = target.loc[target[columns.step].idxmax()]
    observed = float(last[columns.loss])
    train_schedules = None if schedules is None else schedules if "kind" in schedules else \
        {k: v for k, v in schedules.items() if k != target_run}
    curves = bootstrap_curves(train, law=law, n_resamples=n_resamples, columns=columns, schedules=train_schedules,
                              seed=seed, **options)
    spec = schedules if schedules is None or "kind" in schedules else schedules[target_run]
    if spec is None:
        spec = _lr_from_column(target[columns.step].to_numpy(np.int64), target[columns.lr].to_numpy(np.float64),
                               target_run)
    step = int(last[columns.step])
    n_value = float(last[columns.n]) if columns.n in frame else None
    by_curves = curves.predict(spec, steps=[step], N=n_value, level=level).iloc[0]
    finals = train.loc[train.groupby(columns.run)[columns.step].idxmax()]
    final_columns = Columns(inputs={"N": columns.n, "D": tokens}, y=columns.loss)
    final_est = fit(finals, law="chinchilla", columns=final_columns, seed=seed)
    final_boot = bootstrap(finals, law="chinchilla", n_resamples=n_resamples, seed=seed, estimate=final_est,
                           columns=final_columns, search=Search(starts="subgrid"))
    by_final = final_boot.predict(N=n_value, D=float(last[tokens]), level=level, kind="new_run").iloc[0]
    rows = []
    for method, row in (("curves", by_curves), ("final loss only", by_final)):
        lo, hi = float(row["loss_new_run_low"]), float(row["loss_new_run_high"])
        rows.append({"method": method, "predicted": float(row["loss"]), "low": lo, "high": hi, "observed": observed,
                     "rel_error": abs(float(row["loss"]) - observed) / observed, "covered": lo <= observed <= hi})
    out = pd.DataFrame(rows).set_index("method")
    out.attrs.update(level=level, interval="new run", train_runs=int(train[columns.run].nunique()),
                     checkpoints=int(len(train)), note=by_curves.get("note", ""))
    return out
