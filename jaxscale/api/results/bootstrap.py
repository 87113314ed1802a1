"""The result of a bootstrap: :class:`BootstrapResult` (draws, intervals, predictions) and its file codec."""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pandas as pd

from ...engine import float64, run_tasks
from ...engine.multistart import POLISHER
from ...engine.resampling import resample_counts
from ...kernels.laws import Law
from ...kernels.losses import Loss
from .. import io
from .. import notes as notes_wording
from ..problem import check_compute, input_arrays
from ..reach import data_span, describe_span, label_predictions
from ..validation import check_bool, check_level, identifiable
from .export import bootstrap_dataset, natural_quantities
from .summary import Summary


def _norm_ppf(q):
    from jax.scipy.stats import norm

    with float64():
        return np.asarray(norm.ppf(jnp.asarray(q, jnp.float64)))


def _norm_cdf(x):
    from jax.scipy.stats import norm

    with float64():
        return np.asarray(norm.cdf(jnp.asarray(x, jnp.float64)))


@io.register_kind("bootstrap")
@dataclass
class BootstrapResult:
    """Bootstrap draws of a scaling-law fit.

    Attributes
    ----------
    law, loss : the model and the loss
    estimate : ndarray (p,)
        Log-space full-data estimate (the point estimate of every table).
    estimate_objective : float
    theta : ndarray (R, p)
        Per-resample best log-space parameters.
    objective : ndarray (R,)
    converged : ndarray (R,) of bool
    n_at_best : ndarray (R,)
        Starts of that resample whose end objective is within 1e-9 of its best.
    log_x, log_y, weights : the data the draws were made from (for BCa's jackknife)
    recipe : dict
        Law, loss, delta, starts, solver, tolerances, seed, versions.

    Intervals (:meth:`ci`, :meth:`summary`, :meth:`predict`, :meth:`compute_optimal`) and
    :meth:`cov` use the *usable* draws: a resample is left out when it **failed** (non-finite
    objective or parameters) or is **unidentifiable** (its drawn rows hold at most ``p``
    distinct input points for ``p`` free parameters, or a single value of an input; see
    :attr:`identifiable`). Each call warns with the counts it left out;
    ``include_unidentifiable=True`` keeps the unidentifiable ones.

    A resample whose best start did **not converge** (finite objective, ``converged`` False) stays
    in the intervals: leaving it out would keep only the resamples that are easy to fit and narrow
    the interval. It is counted instead (``summary().attrs["n_not_converged"]``, among the used
    draws) and every call warns with that count.
    """

    law: Law
    loss: Loss
    estimate: np.ndarray
    estimate_objective: float
    theta: np.ndarray
    objective: np.ndarray
    converged: np.ndarray
    n_at_best: np.ndarray
    log_x: np.ndarray
    log_y: np.ndarray
    weights: np.ndarray
    recipe: dict = field(default_factory=dict)
    _jackknife: np.ndarray | None = field(default=None, repr=False)
    _identifiable: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self):
        n_failed = int(np.sum(self.failed))
        if n_failed and n_failed == self.n_resamples:
            warnings.warn(f"every one of the {n_failed} bootstrap resamples failed (non-finite objective or "
                          "parameters); no interval can be computed. Check the starts and the data", RuntimeWarning,
                          stacklevel=4)

    def __repr__(self) -> str:
        starts = self.recipe.get("starts", "?")
        est = ", ".join(f"{k}={float(v):.4g}" for k, v in
                        zip(self.law.base.natural_names, self.law.base.to_natural(self.law.expand(self.estimate))))
        return (f"BootstrapResult(law={self.law.name!r}, loss={self.loss.name!r}, n_resamples={self.n_resamples}, "
                f"starts={starts!r} ({self.recipe.get('n_starts', '?')} per resample), seed={self.recipe.get('seed')}, "
                f"usable={int(np.sum(self.usable()))}/{self.n_resamples}, estimate: {est})")

    # ------------------------------------------------------------------ which draws count
    @property
    def n_resamples(self) -> int:
        return int(self.theta.shape[0])

    @property
    def failed(self) -> np.ndarray:
        """``(R,)`` bool: the resample's objective, parameters or derived quantities are not finite."""
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            ok = np.isfinite(self.objective) & np.all(np.isfinite(self.theta), axis=1)
            for values in self._natural(self.theta).values():
                ok &= np.isfinite(np.asarray(values, np.float64))
        return ~ok

    @property
    def identifiable(self) -> np.ndarray:
        """``(R,)`` bool: the resample's drawn rows identify the law (more distinct input points than
        free parameters and at least two values of every input; see
        :func:`jaxscale.api.validation.identifiable`). For resamples drawn from a seed it is
        recomputed from ``(seed, r)`` when not stored; for explicit ``indices`` it is known only
        from the run that drew them (a file without it reads as all True)."""
        if self._identifiable is None:
            if str(self.recipe.get("indices", "")).startswith("jax.random") and "seed" in self.recipe:
                self._identifiable = identifiable_resamples(self.law, self.log_x, int(self.recipe["seed"]),
                                                            self.n_resamples, len(self.log_y))
            else:
                self._identifiable = np.ones(self.n_resamples, bool)
        return np.asarray(self._identifiable, bool)

    def usable(self, include_unidentifiable: bool = False) -> np.ndarray:
        """``(R,)`` bool: the draws intervals use (not failed, and identifiable unless included)."""
        mask = ~self.failed
        return mask if check_bool("include_unidentifiable", include_unidentifiable) else mask & self.identifiable

    def _usable_mask(self, include_unidentifiable: bool, warn: bool = True) -> np.ndarray:
        """:meth:`usable`, warning with the counts left out and raising when nothing is left."""
        mask = self.usable(include_unidentifiable)
        failed = self.failed
        n_failed = int(np.sum(failed))
        n_unid = 0 if include_unidentifiable else int(np.sum(~failed & ~self.identifiable))
        why = []
        if n_unid:
            why.append(f"{n_unid} unidentifiable (their drawn rows hold at most {self.law.n_params} distinct input "
                       "points or too few distinct values of an input for the law's power terms, "
                       f"{dict(zip(self.law.inputs, self.law.distinct_needed))}; keep them with "
                       "include_unidentifiable=True)")
        if n_failed:
            why.append(f"{n_failed} failed (non-finite objective or parameters)")
        used = int(np.sum(mask))
        n_unconverged = int(np.sum(mask & ~np.asarray(self.converged, bool)))
        if n_unconverged and used and warn:
            warnings.warn(notes_wording.unconverged_resamples(n_unconverged, used), RuntimeWarning, stacklevel=3)
        if used == 0:
            raise ValueError(f"none of the {self.n_resamples} bootstrap resamples can be used: {'; '.join(why)}. "
                             + ("Too few runs for a bootstrap of this law: add runs. " if n_unid else "")
                             + ("Check the starts and the data" if n_failed else ""))
        if why and warn:
            warnings.warn(f"bootstrap: using {used} of {self.n_resamples} resamples; left out " + "; ".join(why),
                          RuntimeWarning, stacklevel=3)
        return mask

    def _natural(self, theta: np.ndarray) -> dict[str, np.ndarray]:
        """Natural parameters of the base law (fixed ones included) and the law's derived quantities."""
        return natural_quantities(self.law, theta)

    @property
    def draws(self) -> pd.DataFrame:
        """One row per resample: natural and log parameters, derived allocation, diagnostics."""
        frame = pd.DataFrame(self._natural(self.theta))
        for j, name in enumerate(self.law.param_names):
            if name not in frame.columns:
                frame[name] = self.theta[:, j]
        frame["objective"] = self.objective
        frame["converged"] = self.converged.astype(bool)
        frame["n_at_best"] = self.n_at_best
        frame["identifiable"] = self.identifiable
        frame.index.name = "resample"
        return frame

    def _values(self, name: str) -> tuple[float, np.ndarray]:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # failed draws are masked by callers
            est, draws = self._natural(self.estimate), self._natural(self.theta)
        if name in est:
            return float(est[name]), np.asarray(draws[name])
        if name in self.law.param_names:
            j = self.law.param_names.index(name)
            return float(self.estimate[j]), self.theta[:, j]
        raise ValueError(f"unknown quantity {name!r}; choose from {list(est) + list(self.law.param_names)}")

    def ci(self, name: str, level: float = 0.95, method: str = "percentile", *,
           include_unidentifiable: bool = False) -> tuple[float, float]:
        r"""Two-sided ``level`` interval of ``name``.

        ``"percentile"``: the :math:`(1\pm level)/2` quantiles of the draws. ``"bca"``:
        bias-corrected and accelerated (Efron 1987), with bias
        :math:`z_0 = \Phi^{-1}(\#\{\theta^*_r < \hat\theta\}/R)` and acceleration from a
        leave-one-row-out jackknife of the full-data fit,
        :math:`a = \sum (\bar\theta - \theta_{(i)})^3 / (6 [\sum (\bar\theta - \theta_{(i)})^2]^{3/2})`.

        Only the usable draws count (see the class notes); a warning gives the counts left out.
        """
        return self._interval(name, check_level(level), method, self._usable_mask(include_unidentifiable))

    def _interval(self, name: str, level: float, method: str, mask: np.ndarray) -> tuple[float, float]:
        level = check_level(level)
        est, draws = self._values(name)
        draws = draws[mask]
        tail = (1 - level) / 2
        if method == "percentile":
            q = np.array([tail, 1 - tail])
        elif method == "bca":
            if self.recipe.get("resample", "case") != "case":
                raise ValueError(f"BCa's jackknife leaves out single rows, which does not match a "
                                 f"resample={self.recipe['resample']!r} bootstrap; use method='percentile'")
            z0 = float(_norm_ppf(np.clip(np.mean(draws < est), 1e-12, 1 - 1e-12)))
            jack = self._jackknife_values(name)
            dev = jack.mean() - jack
            denom = 6.0 * np.sum(dev**2) ** 1.5
            accel = float(np.sum(dev**3) / denom) if denom > 0 else 0.0
            z = _norm_ppf(np.array([tail, 1 - tail]))
            q = _norm_cdf(z0 + (z0 + z) / (1 - accel * (z0 + z)))
        else:
            raise ValueError(f"method must be 'percentile' or 'bca', got {method!r}")
        lo, hi = np.quantile(draws, q)
        return float(lo), float(hi)

    def summary(self, level: float = 0.95, method: str = "percentile", *,
                include_unidentifiable: bool = False) -> Summary:
        """Estimate (full-data fit), bootstrap SE and CI for every natural parameter and a_opt, b_opt, G.

        Fixed and tied parameters are listed too, with a ``held`` column saying so ("fixed": SE 0 by
        construction, not a measured certainty; "tied to alpha": the draws of ``alpha``).

        Uses the usable draws only (see the class notes): ``table.attrs`` holds ``n_resamples``
        (drawn), ``n_used``, ``n_unidentifiable`` and ``n_failed``, and a warning names the counts
        left out.
        """
        level = check_level(level)
        mask = self._usable_mask(include_unidentifiable)
        base = self.law.base
        names = list(base.natural_names) + list(base.derived(self._natural(self.estimate)))
        fixed, tied = dict(self.law.fixed), dict(self.law.tied)
        rows = []
        for name in names:
            est, draws = self._values(name)
            lo, hi = self._interval(name, level, method, mask)
            used = draws[mask]
            rows.append({"estimate": est, "se": float(np.std(used, ddof=1)) if used.size > 1 else float("nan"),
                         "se_robust": notes_wording.robust_spread(used), "ci_low": lo, "ci_high": hi,
                         "held": "fixed" if name in fixed else f"tied to {tied[name]}" if name in tied else ""})
        table = pd.DataFrame(rows, index=pd.Index(names, name="parameter"))
        if not (fixed or tied):
            table = table.drop(columns="held")
        failed = self.failed
        n_unconverged = int(np.sum(mask & ~np.asarray(self.converged, bool)))
        said = ([notes_wording.unconverged_resamples(n_unconverged, int(np.sum(mask)))] if n_unconverged else [])
        said += notes_wording.heavy_tails(table["se"], table["se_robust"])
        said += notes_wording.outside_own_interval(table, level)
        interval = (f"{level:.0%} {method} confidence interval of each parameter over bootstrap resamples "
                    f"({self.recipe.get('resample', 'case')}) of the runs")
        table.attrs.update(data_span=describe_span(base, self.data_span))
        table.attrs.update(level=level, method=method, n_resamples=self.n_resamples, n_used=int(np.sum(mask)),
                           n_failed=int(np.sum(failed)),
                           n_unidentifiable=int(np.sum(~failed & ~self.identifiable)),
                           n_not_converged=n_unconverged, notes=said, interval=interval)
        left_out = self.n_resamples - table.attrs["n_used"]
        title = [f"jaxscale bootstrap: law={self.law.name}, loss={self.loss.name}, {self.n_resamples} resamples "
                 f"({self.recipe.get('resample', 'case')}), {table.attrs['n_used']} used",
                 f"{level:.0%} {method} intervals of the parameters (a confidence interval of the law, not of a "
                 "new run)"]
        notes = [f"{left_out} resamples left out ({table.attrs['n_failed']} failed, "
                 f"{table.attrs['n_unidentifiable']} unidentifiable)" if left_out else "", table.attrs["data_span"]]
        if said:
            notes.append("\n".join(["warnings:"] + [f"  {i}. {n}" for i, n in enumerate(said, 1)]))
        return Summary.of(table, title, notes)

    def cov(self, log: bool = False, *, include_unidentifiable: bool = False) -> pd.DataFrame:
        """Covariance of the usable draws: natural parameters, or log-space (``a, b, e, ...``) with ``log=True``."""
        mask = self._usable_mask(include_unidentifiable)
        if log:
            return pd.DataFrame(self.theta[mask], columns=list(self.law.param_names)).cov()
        return self.draws.loc[mask, list(self.law.natural_names)].cov()

    def corr(self, log: bool = False, *, include_unidentifiable: bool = False) -> pd.DataFrame:
        cov = self.cov(log, include_unidentifiable=include_unidentifiable)
        sd = np.sqrt(np.diag(cov))
        return cov / np.outer(sd, sd)

    # ------------------------------------------------------------------ derived quantities
    def compute_optimal(self, C, level: float = 0.95, *, include_unidentifiable: bool = False,
                        **other_inputs) -> pd.DataFrame:
        """``N_opt, D_opt, D/N`` and the predicted loss at the optimum for each budget ``C``, with percentile
        intervals over the draws (a confidence interval of the law's optimum, not of a new run).

        The law computes the allocation (closed form for Chinchilla, batched numerical search along
        ``C = 6ND`` otherwise), vectorised over all draws; further inputs (``U``) via ``other_inputs``.
        """
        level = check_level(level)
        C_arr = np.atleast_1d(check_compute(C))
        if not self.law.has_allocation:
            raise ValueError(f"compute_optimal needs a law with inputs N and D; law {self.law.name!r} has "
                             f"{list(self.law.inputs)}")
        mask = self._usable_mask(include_unidentifiable)
        base = self.law.base
        full_est, full_draws = self.law.expand(self.estimate), self.law.expand(self.theta[mask])
        n_est, d_est = self.law.compute_optimal(self.estimate, C_arr, **other_inputs)
        n_draw, d_draw = self.law.compute_optimal(self.theta[mask], C_arr, **other_inputs)  # (R, m)
        extra = {k: float(v) for k, v in other_inputs.items()}

        def loss_at(theta, n_opt, d_opt):
            x, _ = input_arrays(base, n_opt.ravel(), d_opt.ravel(), {k: np.full(n_opt.size, v) for k, v in extra.items()})
            return base.predict(theta, x)

        n_est, d_est = np.asarray(n_est, np.float64), np.asarray(d_est, np.float64)
        found = np.isfinite(n_est) & np.isfinite(d_est) & (n_est > 0) & (d_est > 0)
        loss_est = np.full(C_arr.size, np.nan)  # no optimum (e.g. a non-positive exponent): NaN, not an error
        if found.any():
            loss_est[found] = loss_at(full_est, n_est[found], d_est[found])
        loss_draw = _predict_draws(base, full_draws, n_draw, d_draw, extra)
        tail = (1 - level) / 2
        rows = []
        for j, c in enumerate(C_arr):
            est = {"N_opt": n_est[j], "D_opt": d_est[j], "D_over_N": d_est[j] / n_est[j], "loss": loss_est[j]}
            draws = {"N_opt": n_draw[:, j], "D_opt": d_draw[:, j], "D_over_N": d_draw[:, j] / n_draw[:, j],
                     "loss": loss_draw[:, j]}
            row = {"C": c}
            for q in ("N_opt", "D_opt", "D_over_N", "loss"):
                lo, hi = np.nanquantile(draws[q], [tail, 1 - tail])
                row.update({q: float(est[q]), f"{q}_low": lo, f"{q}_high": hi})
            rows.append(row)
        table = pd.DataFrame(rows)
        if not found.all():
            table.attrs["usable"] = False
            table.attrs["notes"] = [notes_wording.no_optimum(C_arr[~found])]
            warnings.warn(f"compute_optimal: {table.attrs['notes'][0]}", RuntimeWarning, stacklevel=2)
        return table

    def predict(self, N=None, D=None, level: float = 0.95, kind: str = "mean", *,
                include_unidentifiable: bool = False, **inputs) -> pd.DataFrame:
        """Prediction at the given inputs (every input of the law, broadcast) with a ``level`` interval.

        ``kind="mean"``: columns ``loss_low, loss_high`` (``prediction_*`` for raw-target laws), the
        percentile interval of the draws' predictions, a confidence interval of the MEAN curve: where
        the law lies. ``kind="new_run"``: columns ``loss_new_run_low, loss_new_run_high``, a prediction
        interval for ONE NEW training run: every draw's prediction plus every leverage-corrected
        full-data residual (in log space for loss laws), see :mod:`jaxscale.api.prediction`. It is
        wider: it adds run-to-run noise to the uncertainty of the curve. Only usable draws count
        (not failed; identifiable unless ``include_unidentifiable``).
        """
        level = check_level(level)
        if kind not in ("mean", "new_run"):
            raise ValueError(f"kind must be 'mean' (interval of the mean curve) or 'new_run' (prediction "
                             f"interval for one new run), got {kind!r}")
        base = self.law.base
        x, _ = input_arrays(base, N, D, inputs)
        mask = self._usable_mask(include_unidentifiable)
        est = base.predict(self.law.expand(self.estimate), x)
        draws = base.predict(self.law.expand(self.theta[mask]), x)
        out = pd.DataFrame({name: x[:, j] for j, name in enumerate(base.inputs)})
        target = "loss" if base.target_scale == "log" else "prediction"
        out[target] = est
        if kind == "new_run":
            from ..prediction import new_run_bounds

            lo, hi = base.untarget(np.array(new_run_bounds(base.target(draws), self.residuals(), level)))
            out[f"{target}_new_run_low"], out[f"{target}_new_run_high"] = lo, hi
        else:
            tail = (1 - level) / 2
            out[f"{target}_low"], out[f"{target}_high"] = np.nanquantile(draws, [tail, 1 - tail], axis=0)
        out = pd.concat([out, label_predictions(base, self.data_span, x)], axis=1)
        out.attrs.update(kind=kind, level=level)
        return out

    @property
    def data_span(self) -> dict[str, list[float]]:
        """Range of every input (and of ``6ND``) over the rows with weight > 0 (see :mod:`jaxscale.api.reach`)."""
        return data_span(self.law.base, self.log_x, self.weights)

    def residuals(self) -> np.ndarray:
        """Leverage-corrected fitting-space residuals of the full-data estimate (rows with weight > 0),
        the run-to-run noise of ``predict(kind="new_run")``; see :mod:`jaxscale.api.prediction`."""
        from ..prediction import corrected_residuals

        keep = self.weights > 0
        return corrected_residuals(self.law, self.loss, self.estimate, self.log_x, self.log_y, self.weights)[keep]

    # ------------------------------------------------------------------ jackknife for BCa
    def _jackknife_values(self, name: str) -> np.ndarray:
        if self._jackknife is None:
            rows = np.flatnonzero(self.weights > 0)
            weights = np.repeat(self.weights[None, :], rows.size, axis=0)
            weights[np.arange(rows.size), rows] = 0.0
            res = run_tasks(POLISHER, self.law, self.loss, self.log_x, self.log_y, weights,
                            np.repeat(self.estimate[None, :], rows.size, axis=0), np.arange(rows.size))
            self._jackknife = res.theta
        est_values = self._natural(self._jackknife)
        if name in est_values:
            return np.asarray(est_values[name])
        return self._jackknife[:, self.law.param_names.index(name)]

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> Path:
        """Write an ``.npz`` (arrays + JSON metadata; no pickle) atomically. :func:`load` restores it bit-exactly.
        See :func:`jaxscale.api.io.save_result`."""
        return io.save_result(self, path)

    def to_xarray(self):
        """The draws as an :class:`xarray.Dataset` (``pip install "jaxscale[xarray]"``).

        Variables: ``draws`` (``resample x parameter``: natural parameters, then derived ones such as
        ``a_opt, b_opt, G``), ``theta`` (``resample x log_parameter``: the fitting-space draws), ``estimate``
        and ``log_estimate`` (the full-data fit), and per resample ``objective``, ``converged``,
        ``n_at_best``, ``identifiable`` and ``usable`` (the draws intervals use). Coordinates: ``resample``
        (0..R-1, the resample index that seeds its draw), ``parameter``, ``log_parameter``. Attributes: law,
        loss, seed, n_resamples, starts, the whole recipe (JSON) and ``interval`` (what a percentile
        interval over the usable draws is). Values are this result's own arrays, not copies of a summary.
        See :mod:`jaxscale.api.results.export`.
        """
        return bootstrap_dataset(self)

    # ------------------------------------------------------------------ file codec (see jaxscale.api.io)
    ARRAYS = ("estimate", "theta", "objective", "converged", "n_at_best", "log_x", "log_y", "weights")

    def _to_file(self) -> tuple[dict, dict]:
        meta = {**io.result_meta(self.law, self.loss, self.recipe), "kind": "bootstrap",
                "estimate_objective": float(self.estimate_objective)}
        arrays = {name: getattr(self, name) for name in self.ARRAYS}
        if self._jackknife is not None:
            arrays["jackknife"] = self._jackknife
        return meta, arrays

    @classmethod
    def _check_file(cls, meta: dict, path) -> tuple[io.Header, set[str]]:
        header = io.law_loss_header(meta, path, "bootstrap")
        io.meta_field(meta, "estimate_objective", io.is_number, "a number", path)
        return header, set(cls.ARRAYS)

    @classmethod
    def _from_file(cls, meta: dict, arrays: dict, header: io.Header, path) -> "BootstrapResult":
        p, k = header.law.n_params, len(header.law.inputs)
        theta = io.checked_array(arrays, "theta", path, "f", ("R", p))
        log_y = io.checked_array(arrays, "log_y", path, "f", ("n",), finite=True)
        r, n = theta.shape[0], log_y.shape[0]
        if r == 0 or n == 0:
            raise ValueError(f"{path}: a bootstrap needs at least one resample and one data row, got R={r}, n={n}")
        weights = io.checked_array(arrays, "weights", path, "f", (n,), finite=True)
        if (weights < 0).any():
            raise ValueError(f"{path}: array 'weights' must be >= 0 (row {int(np.argmax(weights < 0))} is negative)")
        jackknife = arrays.get("jackknife")
        if jackknife is not None:
            jackknife = io.checked_array(arrays, "jackknife", path, "f", ("m", p))
        return cls(
            header.law, header.loss, io.checked_array(arrays, "estimate", path, "f", (p,), finite=True),
            float(meta["estimate_objective"]), theta,
            io.checked_array(arrays, "objective", path, "f", (r,)), io.checked_array(arrays, "converged", path, "b", (r,)),
            io.checked_array(arrays, "n_at_best", path, "iu", (r,)),
            io.checked_array(arrays, "log_x", path, "f", (n, k), finite=True), log_y, weights, meta["recipe"], jackknife)


def load(path: str | Path) -> BootstrapResult:
    """Read a :class:`BootstrapResult` written by :meth:`BootstrapResult.save` (:func:`jaxscale.api.io.load`
    with ``kind="bootstrap"``)."""
    return io.load(path, kind="bootstrap")


def identifiable_resamples(law: Law, log_x: np.ndarray, seed: int, n_resamples: int, n_rows: int,
                           counts: np.ndarray | None = None) -> np.ndarray:
    """``(R,)`` bool: which resamples identify ``law`` (:func:`~jaxscale.api.validation.identifiable`),
    from explicit ``counts[R, n]`` or from the draws of ``seed`` (recomputed in blocks, no fits)."""
    if counts is not None:
        return identifiable(law, log_x, np.atleast_2d(counts))
    block = max(1, min(n_resamples, (1 << 22) // max(n_rows, 1)))
    return np.concatenate([
        identifiable(law, log_x, resample_counts(seed, np.arange(lo, lo + block), n_rows))[:n_resamples - lo]
        for lo in range(0, n_resamples, block)])


def _predict_draws(base: Law, full_draws: np.ndarray, n_opt: np.ndarray, d_opt: np.ndarray, extra: dict):
    """Prediction of draw ``r`` at its own optimum ``(n_opt[r, j], d_opt[r, j])``: ``(R, m)``."""
    import jax

    R, m = n_opt.shape
    cols = {"N": np.log(n_opt), "D": np.log(d_opt)}
    for k, v in extra.items():
        cols[k] = np.full((R, m), np.log(v) if base.input_scale[base.inputs.index(k)] == "log" else v)
    feats = np.stack([cols[name] for name in base.inputs], axis=-1)  # (R, m, k)
    with float64():
        fn = jax.jit(jax.vmap(base.log_predict))
        return np.asarray(base.untarget(fn(jnp.asarray(full_draws), jnp.asarray(feats))))
