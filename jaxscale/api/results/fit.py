"""The result of a fit: :class:`FitResult` (estimate, per-start table, recipe) and its file codec."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from ...engine.batching import TaskResults
from ...kernels.laws import Law, get_law
from ...kernels.losses import Loss, get_loss
from ...kernels.solvers import STATUS_NAMES
from .. import io
from .. import notes as notes_wording
from ..problem import check_compute, input_arrays, predict_inputs
from ..reach import describe_span, label_predictions
from .export import fit_dataset
from .summary import Summary


@io.register_kind("fit")
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
        found = (np.isfinite(frame[["N_opt", "D_opt"]]) & (frame[["N_opt", "D_opt"]] > 0)).all(axis=1).to_numpy()
        frame["loss"] = np.nan  # no optimum (e.g. a non-positive exponent): NaN, not an error
        if found.any():
            frame.loc[found, "loss"] = np.ravel(self.predict(
                N=frame["N_opt"].to_numpy()[found], D=frame["D_opt"].to_numpy()[found],
                **{k: np.full(int(found.sum()), v, np.float64) for k, v in other_inputs.items()}))
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
                f"of the rest), {pruned} were pruned (search=js.search.exhaustive() runs every start to convergence)")

    def summary(self) -> Summary:
        """The estimate and the fit's diagnostics: a :class:`~jaxscale.api.results.summary.Summary` (a table
        indexed by parameter with ``estimate``, ``log_value``, ``held``; the header and the notes around it
        print with it)."""
        title = [f"jaxscale fit: law={self.law.name}, loss={self.loss.name}"
                 + "".join(f", {k}={v:g}" for k, v in self.loss.params)
                 + f", solver={self.recipe.get('solver', '?')}",
                 f"points={self.n_points}  starts={len(self.starts)}  converged={int(self.starts['converged'].sum())}"
                 f"  at best (1e-9)={self.n_at_best()}" + self._pruned_note(),
                 f"objective={self.objective:.14g}  converged={self.converged}"]
        lines = [f"{'parameter':<10}{'estimate':>22}{'log-space':>14}{'':>4}"]
        base, full = self.law.base, self.law.expand(self.theta)
        fixed, tied = self.fixed, self.tied
        rows = []
        for name, log_name, value, raw in zip(base.natural_names, base.param_names, base.to_natural(full), full):
            log_col = f"{log_name}={raw:.7g}" if log_name != name else ""
            held = "fixed" if name in fixed else f"tied to {tied[name]}" if name in tied else ""
            lines.append(f"{name:<10}{value:>22.10g}  {log_col:>16}" + (f"  ({held})" if held else ""))
            rows.append({"parameter": name, "estimate": value, "log_name": log_name, "log_value": raw, "held": held})
        notes = []
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):  # said in the notes below
            derived = base.derived(dict(self.params))
        if "a_opt" in derived:
            notes.append(f"N_opt ~ C^{derived['a_opt']:.4f}   D_opt ~ C^{derived['b_opt']:.4f}   (C = 6ND)")
        said = self.notes()
        if said:
            title.insert(1, notes_wording.banner(len(said)))
            notes.append("\n".join(["warnings:"] + [f"  {i}. {n}" for i, n in enumerate(said, 1)]))
        notes.append(describe_span(self.law.base, self.recipe.get("data_span")))
        table = pd.DataFrame(rows).set_index("parameter")
        table.attrs["notes"] = said
        return Summary.of(table, title, ["\n\n".join(notes)], body="\n".join(lines))

    def notes(self) -> list[str]:
        """Why this estimate cannot be trusted, in words (empty when nothing applies): not converged (not
        a verified minimum), a vanishing term (no attained minimum), a non-positive decay exponent, an
        allocation exponent outside [0, 1], a flat optimum (converged starts ending within 0.1 % of the best
        objective at clearly different parameters), parameters a custom law ignores. ``summary()``, ``repr`` and a
        warning from :func:`jaxscale.fit` say them (wording: :mod:`jaxscale.api.notes`)."""
        if not np.all(np.isfinite(self.theta)):
            return ["the estimate is not finite"]
        best = self.starts.iloc[int(np.argmin(self.starts["objective"].to_numpy()))] if len(self.starts) else None
        small = [n for n, gone in zip(self.law.natural_names, vanishing_params(self.law, self.theta)[0]) if gone]
        params = self.params
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):  # a bad estimate is what is reported
            derived = self.law.base.derived(dict(params))
        a_opt = float(derived["a_opt"]) if "a_opt" in derived else None
        said = notes_wording.fit_notes(self.converged, None if best is None else str(best["status"]),
                                       None if best is None else float(best["grad_norm"]), small,
                                       {k: float(params[k]) for k in self.law.base.exponents
                                        if k not in self.law.fixed}, a_opt)
        flat = near_equal_minima(self.law, self.starts, self.theta, self.objective)
        if flat is not None:
            said.append(notes_wording.flat_optimum(*flat))
        unused = self.recipe.get("unused_params") or []
        if unused:
            said.append(f"unused parameter(s) {', '.join(unused)}: law {self.law.name!r}'s prediction does not depend "
                        "on them (zero derivative at the estimate and the starts), so their values are arbitrary; "
                        "check the law's log_predict or fix them (fixed=...)")
        return said

    def __repr__(self) -> str:
        return self.summary().text

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

    def to_xarray(self):
        """The multi-start fit as an :class:`xarray.Dataset` (``pip install "jaxscale[xarray]"``): one row per start.

        Variables: ``start_theta`` and ``theta`` (``start x log_parameter``: where each start began and
        ended), ``params`` (``start x parameter``: the end points' natural parameters and derived
        quantities), ``estimate`` / ``log_estimate`` (the fit), and every other column of :attr:`starts`
        (``objective``, ``converged``, ``iterations``, ``grad_norm``, ``status``, ``vanishing``) along
        ``start``. Attributes: law, loss, objective, converged, n_points, notes and the recipe (JSON).
        See :mod:`jaxscale.api.results.export`.
        """
        return fit_dataset(self)

    def save(self, path: str | Path) -> Path:
        """Write an ``.npz`` (theta, the per-start table, JSON metadata; no pickle) atomically; read it back
        with :func:`jaxscale.load`. See :func:`jaxscale.api.io.save_result`."""
        return io.save_result(self, path)

    # ------------------------------------------------------------------ file codec (see jaxscale.api.io)
    def _to_file(self) -> tuple[dict, dict]:
        meta = {**io.result_meta(self.law, self.loss, self.recipe), "kind": "fit", "objective": float(self.objective),
                "converged": bool(self.converged), "n_points": int(self.n_points),
                "start_columns": list(self.starts.columns)}
        return meta, {"theta": self.theta} | io.starts_arrays(self.starts)

    @classmethod
    def _check_file(cls, meta: dict, path) -> tuple[io.Header, set[str]]:
        header = io.law_loss_header(meta, path, "fit")
        io.meta_field(meta, "objective", io.is_number, "a number", path)
        io.meta_field(meta, "converged", lambda v: isinstance(v, bool), "true or false", path)
        io.meta_field(meta, "n_points", lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0,
                      "an integer >= 0", path)
        columns = io.meta_field(meta, "start_columns", lambda v: isinstance(v, list) and all(
            isinstance(c, str) for c in v) and len(set(v)) == len(v), "a list of distinct column names", path)
        return header, {"theta"} | {f"starts/{c}" for c in columns}

    @classmethod
    def _from_file(cls, meta: dict, arrays: dict, header: io.Header, path) -> "FitResult":
        p = header.law.n_params
        theta = io.checked_array(arrays, "theta", path, "f", (p,), finite=True)
        columns = meta["start_columns"]
        k = arrays[f"starts/{columns[0]}"].shape[0] if columns and arrays[f"starts/{columns[0]}"].ndim else 0
        starts = pd.DataFrame({c: io.checked_array(arrays, f"starts/{c}", path, "biufU", (k,)) for c in columns})
        return cls(header.law, header.loss, theta, float(meta["objective"]), meta["converged"], starts,
                   meta["n_points"], meta["recipe"])


def load_fit(path: str | Path) -> FitResult:
    """Read a fit written by :meth:`FitResult.save` (:func:`jaxscale.api.io.load` with ``kind="fit"``)."""
    return io.load(path, kind="fit")


#: A log-scale parameter whose logarithm ends below this (natural value < 2e-9) has run to the edge of
#: its range: its term vanishes and the objective may still fall along that direction (no attained minimum).
VANISHING_LOG = -20.0


def vanishing_params(law: Law, theta: np.ndarray) -> np.ndarray:
    """``(K, p)`` bool: log-scale parameters of end points ``theta[K, p]`` below ``exp(VANISHING_LOG)``."""
    theta = np.atleast_2d(np.asarray(theta, np.float64))
    return np.asarray(law.log_scale, bool)[None, :] & (theta < VANISHING_LOG)


#: A fitting-space parameter beyond this magnitude (e.g. alpha = 1e300) is no fitted value: every term it
#: touches has overflowed or vanished, the gradient is 0 there and a solver would report it converged.
ABSURD_PARAM = 1e6


def absurd_points(theta: np.ndarray) -> np.ndarray:
    """``(K,)`` bool: end points ``theta[K, p]`` with a parameter beyond :data:`ABSURD_PARAM` in fitting space."""
    theta = np.atleast_2d(np.asarray(theta, np.float64))
    return np.any(np.abs(theta) > ABSURD_PARAM, axis=1)


def vanishing(law: Law, theta: np.ndarray) -> np.ndarray:
    """``(K,)`` bool: end points ``theta[K, p]`` where a log-scale parameter is below ``exp(VANISHING_LOG)``."""
    return vanishing_params(law, theta).any(axis=1)


def near_equal_minima(law: Law, starts: pd.DataFrame, theta: np.ndarray, objective: float):
    r"""Distinct minima that fit almost as well as the estimate, from the multi-start's own end points.

    An end point counts when it converged, its objective :math:`f_k` satisfies
    :math:`f_k - f^* \le` :data:`~jaxscale.api.notes.FLAT_REL` :math:`|f^*|` (``f^*`` = ``objective``) and one of
    its fitted parameters differs from ``theta``'s by more than a factor
    :data:`~jaxscale.api.notes.FLAT_FACTOR` (log-scale parameters: :math:`|\theta_{kj} - \hat\theta_j| > \log 2`;
    others: :math:`|\theta_{kj} - \hat\theta_j| > \tfrac12 \max(|\theta_{kj}|, |\hat\theta_j|)`); a log-scale
    parameter below ``exp(VANISHING_LOG)`` at both points does not count (the vanishing-term note says it).

    Returns ``None`` when there is none, else ``(n_near, n_converged, gap, spans)`` for
    :func:`~jaxscale.api.notes.flat_optimum`: ``gap`` the smallest relative objective above the best
    among them, ``spans`` the natural range (with the estimate) of every parameter that differs.
    """
    names = list(law.param_names)
    if not len(starts) or not np.isfinite(objective) or not set(names) <= set(starts.columns):
        return None
    ends = starts[names].to_numpy(np.float64)
    values = starts["objective"].to_numpy(np.float64)
    ok = starts["converged"].to_numpy(bool) & np.isfinite(values) & np.all(np.isfinite(ends), axis=1)
    near = ok & (values - objective <= notes_wording.FLAT_REL * abs(objective))
    log_scale = np.asarray(law.log_scale, bool)
    theta = np.asarray(theta, np.float64)
    diff = np.abs(ends - theta)
    shrink = 1.0 - 1.0 / notes_wording.FLAT_FACTOR
    both_vanish = vanishing_params(law, ends) & vanishing_params(law, theta)  # the vanishing-term note says these
    differs = np.where(log_scale, (diff > np.log(notes_wording.FLAT_FACTOR)) & ~both_vanish,
                       diff > shrink * np.maximum(np.abs(ends), np.abs(theta)))
    distinct = near & differs.any(axis=1)
    if not distinct.any():
        return None
    natural = law.to_natural(np.vstack([theta, ends[distinct]]))
    moved = differs[distinct].any(axis=0)
    spans = {law.natural_names[j]: (float(natural[:, j].min()), float(natural[:, j].max()), float(natural[0, j]))
             for j in np.flatnonzero(moved)}
    gap = float(np.min(values[distinct] - objective) / abs(objective)) if objective else 0.0
    return int(distinct.sum()), int(ok.sum()), max(gap, 0.0), spans


def _starts_frame(law: Law, starts: np.ndarray, res: TaskResults | None) -> pd.DataFrame:
    frame = pd.DataFrame(starts, columns=[f"start_{p}" for p in law.param_names])
    if res is None:  # no fit ran: the empty table with the same columns
        res = TaskResults(*(np.empty((0, law.n_params)) if f == "theta" else np.empty(0)
                            for f in TaskResults._fields))
    for j, name in enumerate(law.param_names):
        frame[name] = res.theta[:, j]
    frame["objective"] = res.value
    absurd = absurd_points(res.theta.reshape(-1, law.n_params))
    frame["converged"] = res.converged.astype(bool) & ~absurd
    frame["iterations"] = res.iterations
    frame["grad_norm"] = res.grad_norm
    frame["status"] = ["absurd" if far else STATUS_NAMES.get(int(s), "padding") for s, far in zip(res.status, absurd)]
    frame["vanishing"] = vanishing(law, res.theta.reshape(-1, law.n_params))
    return frame
