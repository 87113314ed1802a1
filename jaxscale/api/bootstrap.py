"""``jaxscale.bootstrap``: case-resampling uncertainty with full multi-start refits of every resample."""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import jax.numpy as jnp
import numpy as np
import pandas as pd

from ..engine import float64, resolve_starts, run_tasks
from ..engine.grids import spread_grid
from ..engine.resampling import counts_from_indices, resample_counts
from ..engine.scheduler import RowsJob, run_rows
from ..kernels.laws import Law
from ..kernels.losses import Loss
from ..engine.multistart import POLISHER, PRUNE_KEEP, WARM_SOLVER
from .fit import FitResult, check_compute, fit, input_arrays, resolve_prune, setup
from .reach import data_span, describe_span, label_predictions
from .validation import check_bool, check_int, check_level, check_seed, identifiable





def _norm_ppf(q):
    from jax.scipy.stats import norm

    with float64():
        return np.asarray(norm.ppf(jnp.asarray(q, jnp.float64)))


def _norm_cdf(x):
    from jax.scipy.stats import norm

    with float64():
        return np.asarray(norm.cdf(jnp.asarray(x, jnp.float64)))


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
                       "points or a single value of an input; keep them with include_unidentifiable=True)")
        if n_failed:
            why.append(f"{n_failed} failed (non-finite objective or parameters)")
        used = int(np.sum(mask))
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
        base = self.law.base
        natural = base.to_natural(self.law.expand(theta))
        out = {n: natural[..., j] for j, n in enumerate(base.natural_names)}
        out.update({n: np.full_like(out[n], v) for n, v in self.law.fixed.items()})  # exactly as given
        out.update(base.derived(out))
        return out

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
                include_unidentifiable: bool = False) -> pd.DataFrame:
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
                         "ci_low": lo, "ci_high": hi,
                         "held": "fixed" if name in fixed else f"tied to {tied[name]}" if name in tied else ""})
        table = pd.DataFrame(rows, index=pd.Index(names, name="parameter"))
        if not (fixed or tied):
            table = table.drop(columns="held")
        failed = self.failed
        table.attrs.update(data_span=describe_span(base, self.data_span))
        table.attrs.update(level=level, method=method, n_resamples=self.n_resamples, n_used=int(np.sum(mask)),
                           n_failed=int(np.sum(failed)),
                           n_unidentifiable=int(np.sum(~failed & ~self.identifiable)))
        return table

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

        loss_est = loss_at(full_est, np.asarray(n_est), np.asarray(d_est))
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
        return pd.DataFrame(rows)

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
            from .prediction import new_run_bounds

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
        from .prediction import corrected_residuals

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
        from .io import save_result

        return save_result(self, path)


def load(path: str | Path) -> BootstrapResult:
    """Read a :class:`BootstrapResult` written by :meth:`BootstrapResult.save` (:func:`jaxscale.api.io.load`
    with ``kind="bootstrap"``)."""
    from .io import load as load_result

    return load_result(path, kind="bootstrap")


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


def check_estimate(estimate, law: Law, loss_fn: Loss, log_x: np.ndarray, log_y: np.ndarray, columns: dict,
                   y: str) -> None:
    """``estimate`` (a :class:`FitResult`) must come from the bootstrap's law, loss and data: the same law
    and loss, the same number of points and columns, and its objective re-evaluated on this data must
    equal the one it reports (so a fit of other rows with the same shape is caught too)."""
    if not isinstance(estimate, FitResult):
        raise ValueError(f"estimate must be a FitResult from jaxscale.fit, got {type(estimate).__name__}")
    if estimate.law != law or estimate.loss != loss_fn:
        raise ValueError(f"estimate was fitted with law {estimate.law.name!r} and loss {estimate.loss.name}"
                         f"{dict(estimate.loss.params)}, but this bootstrap uses law {law.name!r} and loss "
                         f"{loss_fn.name}{dict(loss_fn.params)}; fit the estimate with the same law, loss and delta")
    fix = "; fit the estimate on the bootstrap's data (estimate=js.fit(data, ...) with the same columns)"
    if estimate.n_points != len(log_y):
        raise ValueError(f"estimate was fitted to {estimate.n_points} points but this bootstrap's data has "
                         f"{len(log_y)} rows{fix}")
    fitted_columns = estimate.recipe.get("columns")
    if fitted_columns is not None and (dict(fitted_columns) != columns or estimate.recipe.get("y", y) != y):
        raise ValueError(f"estimate was fitted on columns {dict(fitted_columns)} (target "
                         f"{estimate.recipe.get('y')!r}) but this bootstrap uses {columns} (target {y!r}){fix}")
    with float64():
        residuals = jnp.asarray(log_y) - law.log_predict(jnp.asarray(estimate.theta), jnp.asarray(log_x))
        value = float(loss_fn.total(residuals, jnp.ones(len(log_y))))
    if not np.isclose(value, estimate.objective, rtol=1e-6, atol=1e-12):
        raise ValueError(f"estimate's objective {estimate.objective:.10g} is {value:.10g} on this bootstrap's data: "
                         f"it was fitted to other data (other rows or values, or weights){fix}")


# ---------------------------------------------------------------------- the driver
def _versions() -> dict:
    import jax

    from .. import __version__

    return {"jaxscale": __version__, "jax": jax.__version__, "numpy": np.__version__, "pandas": pd.__version__}


def resample_strategy(law: Law, starts, estimate: np.ndarray, n_subgrid: int, seed: int, prune, prune_iter,
                      solver_given, solver):
    """The starts, pruning and solver of every resample: ``(start_points, prune, prune_iter, solver)``.

    ``starts``: ``"best"`` (the full-data estimate), ``"subgrid"`` (it plus ``n_subgrid - 1`` spread
    grid starts), ``"grid"``/``"prune"`` (the law's grid; ``"prune"`` prunes even with ``prune=None``),
    an int or an array. ``estimate`` is ``(p,)``, or ``(G, p)`` for grouped bootstraps (each group
    from its own estimate: starts ``(G, S, p)``). One start per resample and no solver given: the
    warm-start solver (Newton steps once the set of points inside delta settles).
    """
    estimate = np.asarray(estimate, np.float64)
    if isinstance(starts, str) and starts == "best":
        start_points = estimate[..., None, :]
    elif isinstance(starts, str) and starts == "subgrid":
        spread = spread_grid(law, n_subgrid - 1)
        start_points = np.concatenate([estimate[..., None, :],
                                       np.broadcast_to(spread, estimate.shape[:-1] + spread.shape)], axis=-2)
    elif isinstance(starts, str):
        start_points = law.grid()
    else:
        start_points = resolve_starts(law, starts, seed)
    n_starts = start_points.shape[-2]
    prune, prune_iter = resolve_prune(PRUNE_KEEP if isinstance(starts, str) and starts == "prune" and prune is None
                                      else prune, prune_iter, n_starts)
    if solver_given is None and n_starts == 1:
        solver = WARM_SOLVER
    return start_points, prune, prune_iter, solver


class _Renamed:
    """Default of a renamed keyword: tells "not given" apart from ``None``."""

    def __repr__(self) -> str:
        return "<renamed>"


_RENAMED = _Renamed()


def bootstrap(data, law: str | Law = "chinchilla", n_resamples: int = 4000, starts="grid", seed: int = 0, *,
              indices=None, loss: str | Loss = "huber", delta: float = 1e-3, solver=None, n: str = "N",
              d: str = "D", y: str = "loss", x: str = "x", fixed: Mapping[str, float] | None = None,
              tied: Mapping[str, str] | None = None, by=None, columns: Mapping[str, str] | None = None,
              polish: int = 1, prune: int | str | None = "auto", prune_iter: int | None = None,
              n_subgrid: int = 16, chunk_size: int | None = None,
              n_lanes: int | None = None, devices=None, checkpoint: str | Path | None = None,
              progress: bool | None = None, estimate: FitResult | None = None, executor=None,
              retries: int = 2, c: str | None = None, resample: str = "case", cluster=None,
              budgets=None, prune_keep=_RENAMED) -> BootstrapResult:
    r"""Case-resampling bootstrap with a multi-start refit of every resample.

    Resample :math:`r` is a count vector :math:`w^{(r)}` (rows drawn with replacement); its
    fit minimises :math:`\sum_i w^{(r)}_i \rho(\log L_i - \log\hat L(\theta; x_i))` from every
    start and keeps the best end point. All (resample, start) pairs run as lanes of one
    compiled solver, in chunks of resamples run here (split across local devices) or on the
    workers of an executor (:func:`jaxscale.engine.scheduler.run_rows`).

    Parameters
    ----------
    data : DataFrame or dict of arrays
    law, loss, delta, solver, n, d, y, c, columns : as in :func:`jaxscale.fit`
    n_resamples : int
        Number of resamples (>= 1) drawn from ``seed`` (ignored when ``indices`` is given).
        Resamples whose drawn rows cannot identify the law (at most ``p`` distinct input points,
        or one value of an input) are flagged in ``draws["identifiable"]`` and left out of the
        intervals (with a warning); small data sets make many of them.
    solver : as in :func:`jaxscale.fit`; with one start per resample (``"best"``, or an array
        of one start) the default is ``"lm-warm"`` (exact Huber curvature once the set of points
        inside delta has settled: a few Newton steps from a start near the optimum).
    starts : "grid", "best", "prune", int or array (K, p)
        ``"grid"``: the law's grid for every resample (4500 for Chinchilla), pruned as set by
        ``prune`` (default: screened for ``prune_iter`` evaluations, the lowest 64 continued,
        as :func:`jaxscale.fit`; ``prune=None`` runs every start to convergence). ``"best"``:
        only the full-data optimum. ``"prune"``: the grid, pruned (same as ``"grid"`` unless
        ``prune=None``). ``"subgrid"``: the
        full-data optimum plus ``n_subgrid - 1`` grid starts spread evenly over the grid (for
        solvers that reach the optimum from almost anywhere; benchmarks/bench_bootstrap.py
        measures its agreement with the exhaustive grid). An int: seeded random starts; an
        array: those starts.
    seed : int
        An integer in ``[0, 2**32 - 1]``. Resample ``r`` uses ``jax.random.fold_in(PRNGKey(seed), r)``.
        Every draw is bit-identical whatever ``n_resamples``, ``chunk_size``, ``executor``, worker or
        device count (on one backend and jax version).
    indices : int array (R, m), optional
        Explicit resamples as row positions of ``data`` (e.g. Epoch's ``np.random.choice`` draws).
    polish : int
        As in :func:`jaxscale.fit`, per resample: for solvers that do not polish their own lanes (and
        for resamples whose best lane did not converge) the ``polish`` best end points of the resample
        are refined with exact Huber curvature and tight tolerances (default 1; 0 switches it off).
    prune, prune_iter : "auto", int or None; int or None
        The pruned multi-start of grid (and many-start) resamples, exactly as in :func:`jaxscale.fit`
        (``"auto"``: 64 kept after 20 screening evaluations; None: every start).
    prune_keep : deprecated
        The former name of ``prune`` (same meaning; warns).
    n_subgrid : int
        Starts of ``starts="subgrid"`` (>= 2).
    chunk_size : int, optional
        Fits (resamples x starts) per chunk. Default: chunks of about 5 s of work, from a timed
        probe chunk (the granularity of checkpoints and of executor tasks).
    n_lanes : int, optional
        Lanes advanced together (default fixed by the backend and the data size).
    devices : None, int or list
        Local devices to shard over (default all; with an executor, each worker's own).
    checkpoint : path, optional
        Directory for finished chunks; a rerun with the same arguments skips them and gives
        exactly the same result (more ``n_resamples`` reuses them too). Corrupt chunk files
        are detected and recomputed.
    progress : bool, optional
        ``tqdm`` progress bar (fits, fits/s, ETA); default: shown once a run lasts a few seconds.
    estimate : FitResult, optional
        A full-data fit to report as the point estimate (computed with the same starts if omitted).
        It must come from the same data (same rows and columns, unweighted), law, loss and delta.
    by : str or list of str, optional
        Bootstrap every group of rows (sharing these columns' values) in one compiled run; returns
        a :class:`~jaxscale.api.groups.GroupedBootstrapResult` (group ``g`` draws its resamples as a
        bootstrap of that group alone with the same seed would).
    executor : concurrent.futures-style executor, optional
        Runs the chunks: a Dask ``distributed.Client`` (or ``client.get_executor()``), a
        ``ProcessPoolExecutor``, submitit's ``AutoExecutor`` ... anything with ``submit``.
    retries : int
        Resubmissions of a chunk whose future failed (executor runs).
    resample : {"case", "cluster", "wild-cluster"}
        ``"case"``: rows (default). ``"cluster"``: whole clusters of rows; ``"wild-cluster"``: Webb
        six-point multipliers per cluster on leverage-corrected residuals (see :mod:`jaxscale.api.cluster`).
    cluster, budgets : optional
        The clusters: ``"budget"`` (compute, nearest of ``budgets`` or rounded to 0.1 decade), ``"size"``
        (N, same rule), a column name or one label per row. Warns below 10 clusters.
    """
    solver_given = solver
    seed = check_seed(seed)
    if prune_keep is not _RENAMED:
        warnings.warn("bootstrap(prune_keep=...) is now bootstrap(prune=...), as in fit()", DeprecationWarning,
                      stacklevel=2)
        prune = prune_keep
    polish = check_int("polish", polish, 0)
    if not (isinstance(prune, str) and prune == "auto"):
        prune = check_int("prune", prune, 1, optional=True)
    prune_iter = check_int("prune_iter", prune_iter, 1, optional=True)
    n_subgrid = check_int("n_subgrid", n_subgrid, 2)
    chunk_size = check_int("chunk_size", chunk_size, 1, optional=True)
    n_lanes = check_int("n_lanes", n_lanes, 1, optional=True)
    if by is not None:
        from .groups import bootstrap_groups

        if indices is not None or estimate is not None or resample != "case":
            raise ValueError("by= takes case resamples drawn from seed, with each group's own full-data fit; for "
                             "indices=, estimate= or cluster resamples bootstrap the groups one by one")
        return bootstrap_groups(data, by, law=law, n_resamples=n_resamples, starts=starts, seed=seed, loss=loss,
                                delta=delta, solver=solver, n=n, d=d, y=y, x=x, fixed=fixed, tied=tied,
                                columns=columns, polish=polish, prune=prune, prune_iter=prune_iter,
                                n_subgrid=n_subgrid, n_lanes=n_lanes, chunk_size=chunk_size, devices=devices,
                                checkpoint=checkpoint, progress=progress, executor=executor, retries=retries)
    law, loss_fn, solver, frame, names, log_x, log_y = setup(data, law, loss, delta, solver, n, d, y, columns, x,
                                                             fixed, tied, c=c)
    n_rows = len(frame)
    from .cluster import resample_plan

    clusters = resample_plan(frame, resample, cluster, budgets, n, d, indices, checkpoint)
    if clusters is not None and executor is not None:
        raise ValueError(f"resample={resample!r} runs locally; executor= is for case resamples")

    if indices is not None:
        fixed_counts = counts_from_indices(indices, n_rows)
        n_resamples = fixed_counts.shape[0]
        resample_ok = identifiable_resamples(law, log_x, seed, n_resamples, n_rows, fixed_counts)
    else:
        fixed_counts = None
        n_resamples = check_int("n_resamples", n_resamples, 1)
        resample_ok = None  # recomputed from (seed, r) when asked for

    if isinstance(starts, str) and starts not in ("grid", "best", "prune", "subgrid"):
        raise ValueError(f"starts={starts!r}: use 'grid', 'best', 'prune', 'subgrid', an int or an array "
                         f"(K, {law.n_params})")
    if estimate is None:
        full_starts = None if isinstance(starts, str) else starts
        estimate = fit(frame, law=law, starts=full_starts, loss=loss_fn, solver=solver, n=n, d=d, y=y, x=x,
                       columns=columns, seed=seed, devices=devices if executor is None else None, n_lanes=n_lanes,
                       c=c)
    else:
        check_estimate(estimate, law, loss_fn, log_x, log_y, dict(zip(law.inputs, names)), y)
    start_points, prune, prune_iter, solver = resample_strategy(law, starts, estimate.theta, n_subgrid, seed, prune,
                                                               prune_iter, solver_given, solver)
    n_starts = start_points.shape[0]
    pruning = prune is not None
    if clusters is not None:
        from .cluster import cluster_bootstrap

        return cluster_bootstrap(resample=resample, clusters=clusters, law=law, loss=loss_fn, solver=solver,
                                 log_x=log_x, log_y=log_y, estimate=estimate, start_points=start_points,
                                 n_resamples=n_resamples, seed=seed, pruning=pruning, prune=prune,
                                 prune_iter=prune_iter, polish=polish, chunk_size=chunk_size, n_lanes=n_lanes,
                                 devices=devices, progress=progress, recipe={
                                     "law": law.name, "loss": loss_fn.name, **dict(loss_fn.params),
                                     "solver": solver.name, "starts": starts if isinstance(starts, (str, int))
                                     else "array", "n_starts": int(n_starts), "polish": polish,
                                     "seed": int(seed), "n_resamples": n_resamples,
                                     "cluster": cluster if isinstance(cluster, str) else "labels",
                                     "columns": dict(zip(law.inputs, names)), "y": y, "versions": _versions()})

    job = RowsJob(solver, law, loss_fn, log_x, log_y, start_points,
                  seed=None if fixed_counts is not None else int(seed),
                  weights=fixed_counts, prune_keep=prune, prune_iter=prune_iter,
                  polish_top=polish, n_lanes=n_lanes)
    recipe = {"law": law.base.name, "fixed": law.fixed, "tied": law.tied, "loss": loss_fn.name,
              **dict(loss_fn.params), "solver": solver.name, "solver_options": solver.options,
              "starts": starts if isinstance(starts, (str, int)) else "array", "n_starts": int(n_starts),
              "prune": prune, "prune_iter": prune_iter if pruning else None,
              "polish": polish, "seed": int(seed), "n_resamples": n_resamples, "n_lanes": int(job.n_lanes),
              "indices": "explicit" if fixed_counts is not None else "jax.random.fold_in(PRNGKey(seed), r)",
              "columns": dict(zip(law.inputs, names)), "y": y, "versions": _versions()}
    rows = run_rows(job, n_resamples, executor=executor, checkpoint=checkpoint, chunk_size=chunk_size,
                    progress=progress, retries=retries, devices=devices, description=recipe)
    return BootstrapResult(law, loss_fn, np.asarray(estimate.theta), float(estimate.objective), rows.theta,
                           rows.value, rows.converged, rows.n_at_best, log_x, log_y, np.ones(n_rows), recipe,
                           _identifiable=resample_ok)
