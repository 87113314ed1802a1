"""``jaxscale.bootstrap``: case-resampling uncertainty with full multi-start refits of every resample."""
from __future__ import annotations

import hashlib
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import jax.numpy as jnp
import numpy as np
import pandas as pd

from ..engine import float64, resolve_starts, run_tasks
from ..engine.resampling import counts_from_indices, resample_counts
from ..kernels.laws import Law, get_law
from ..kernels.losses import Loss, get_loss
from ..engine.multistart import POLISHER, best_of_starts
from .fit import FitResult, check_compute, fit, input_arrays, setup

FORMAT_VERSION = 1


class Progress:
    """A one-line progress report on stderr: fits done, fits/s, ETA."""

    def __init__(self, total: int, enabled: bool):
        self.total, self.enabled, self.t0 = total, enabled, time.perf_counter()

    def __call__(self, done: int) -> None:
        if not self.enabled:
            return
        elapsed = time.perf_counter() - self.t0
        rate = done / elapsed if elapsed > 0 else float("nan")
        eta = (self.total - done) / rate if rate and rate > 0 else float("nan")
        sys.stderr.write(f"\rjaxscale bootstrap: {done:,}/{self.total:,} fits  {rate:,.0f} fits/s  ETA {eta:,.0f} s ")
        if done >= self.total:
            sys.stderr.write("\n")
        sys.stderr.flush()


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

    # ------------------------------------------------------------------ tables
    @property
    def n_resamples(self) -> int:
        return int(self.theta.shape[0])

    def _natural(self, theta: np.ndarray) -> dict[str, np.ndarray]:
        """Natural parameters of the base law (fixed ones included) and the law's derived quantities."""
        base = self.law.base
        natural = base.to_natural(self.law.expand(theta))
        out = {n: natural[..., j] for j, n in enumerate(base.natural_names)}
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
        frame.index.name = "resample"
        return frame

    def _values(self, name: str) -> tuple[float, np.ndarray]:
        est, draws = self._natural(self.estimate), self._natural(self.theta)
        if name in est:
            return float(est[name]), np.asarray(draws[name])
        if name in self.law.param_names:
            j = self.law.param_names.index(name)
            return float(self.estimate[j]), self.theta[:, j]
        raise ValueError(f"unknown quantity {name!r}; choose from {list(est) + list(self.law.param_names)}")

    def ci(self, name: str, level: float = 0.95, method: str = "percentile") -> tuple[float, float]:
        r"""Two-sided ``level`` interval of ``name``.

        ``"percentile"``: the :math:`(1\pm level)/2` quantiles of the draws. ``"bca"``:
        bias-corrected and accelerated (Efron 1987), with bias
        :math:`z_0 = \Phi^{-1}(\#\{\theta^*_r < \hat\theta\}/R)` and acceleration from a
        leave-one-row-out jackknife of the full-data fit,
        :math:`a = \sum (\bar\theta - \theta_{(i)})^3 / (6 [\sum (\bar\theta - \theta_{(i)})^2]^{3/2})`.
        """
        if not 0 < level < 1:
            raise ValueError(f"level must be in (0, 1), got {level}")
        est, draws = self._values(name)
        draws = draws[np.isfinite(draws)]
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

    def summary(self, level: float = 0.95, method: str = "percentile") -> pd.DataFrame:
        """Estimate (full-data fit), bootstrap SE and CI for every natural parameter and a_opt, b_opt, G."""
        base = self.law.base
        names = list(self.law.natural_names) + list(base.derived(self._natural(self.estimate)))
        rows = []
        for name in names:
            est, draws = self._values(name)
            lo, hi = self.ci(name, level, method)
            rows.append({"estimate": est, "se": float(np.std(draws[np.isfinite(draws)], ddof=1)),
                         "ci_low": lo, "ci_high": hi})
        table = pd.DataFrame(rows, index=pd.Index(names, name="parameter"))
        table.attrs.update(level=level, method=method, n_resamples=self.n_resamples)
        return table

    def cov(self, log: bool = False) -> pd.DataFrame:
        """Covariance of the draws: natural parameters, or log-space (``a, b, e, ...``) with ``log=True``."""
        if log:
            return pd.DataFrame(self.theta, columns=list(self.law.param_names)).cov()
        return self.draws[list(self.law.natural_names)].cov()

    def corr(self, log: bool = False) -> pd.DataFrame:
        cov = self.cov(log)
        sd = np.sqrt(np.diag(cov))
        return cov / np.outer(sd, sd)

    # ------------------------------------------------------------------ derived quantities
    def compute_optimal(self, C, level: float = 0.95, **other_inputs) -> pd.DataFrame:
        """``N_opt, D_opt, D/N`` and the predicted loss at the optimum for each budget ``C``, with percentile
        intervals over the draws (a confidence interval of the law's optimum, not of a new run).

        The law computes the allocation (closed form for Chinchilla, batched numerical search along
        ``C = 6ND`` otherwise), vectorised over all draws; further inputs (``U``) via ``other_inputs``.
        """
        check_level(level)
        C_arr = np.atleast_1d(check_compute(C))
        if not self.law.has_allocation:
            raise ValueError(f"compute_optimal needs a law with inputs N and D; law {self.law.name!r} has "
                             f"{list(self.law.inputs)}")
        base = self.law.base
        full_est, full_draws = self.law.expand(self.estimate), self.law.expand(self.theta)
        n_est, d_est = self.law.compute_optimal(self.estimate, C_arr, **other_inputs)
        n_draw, d_draw = self.law.compute_optimal(self.theta, C_arr, **other_inputs)  # (R, m)
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

    def predict(self, N=None, D=None, level: float = 0.95, kind: str = "mean", **inputs) -> pd.DataFrame:
        """Prediction at the given inputs (every input of the law, broadcast) with a ``level`` interval.

        ``kind="mean"``: columns ``loss_low, loss_high`` (``prediction_*`` for raw-target laws), the
        percentile interval of the draws' predictions, a confidence interval of the MEAN curve: where
        the law lies. ``kind="new_run"``: columns ``loss_new_run_low, loss_new_run_high``, a prediction
        interval for ONE NEW training run: every draw's prediction plus every leverage-corrected
        full-data residual (in log space for loss laws), see :mod:`jaxscale.api.prediction`. It is
        wider: it adds run-to-run noise to the uncertainty of the curve.
        """
        check_level(level)
        if kind not in ("mean", "new_run"):
            raise ValueError(f"kind must be 'mean' (interval of the mean curve) or 'new_run' (prediction "
                             f"interval for one new run), got {kind!r}")
        base = self.law.base
        x, _ = input_arrays(base, N, D, inputs)
        est = base.predict(self.law.expand(self.estimate), x)
        draws = base.predict(self.law.expand(self.theta), x)
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
        out.attrs.update(kind=kind, level=level)
        return out

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
        """Write an ``.npz`` (arrays + JSON metadata; no pickle). :func:`load` restores it bit-exactly."""
        path = Path(path)
        meta = {"format": FORMAT_VERSION, "law": self.law.name, "loss": self.loss.name,
                "loss_params": dict(self.loss.params), "estimate_objective": self.estimate_objective,
                "recipe": self.recipe}
        arrays = {"estimate": self.estimate, "theta": self.theta, "objective": self.objective,
                  "converged": self.converged, "n_at_best": self.n_at_best, "log_x": self.log_x,
                  "log_y": self.log_y, "weights": self.weights, "meta": np.array(json.dumps(meta, default=str))}
        if self._jackknife is not None:
            arrays["jackknife"] = self._jackknife
        with open(path, "wb") as handle:
            np.savez(handle, **arrays)
        return path


def load(path: str | Path) -> BootstrapResult:
    """Read a :class:`BootstrapResult` written by :meth:`BootstrapResult.save` (``allow_pickle=False``)."""
    with np.load(Path(path), allow_pickle=False) as npz:
        meta = json.loads(str(npz["meta"]))
        if meta.get("format") != FORMAT_VERSION:
            raise ValueError(f"{path}: unsupported jaxscale result format {meta.get('format')}")
        law = get_law(meta["law"])
        loss = get_loss(meta["loss"], **meta["loss_params"])
        return BootstrapResult(law, loss, npz["estimate"], float(meta["estimate_objective"]), npz["theta"],
                               npz["objective"], npz["converged"], npz["n_at_best"], npz["log_x"], npz["log_y"],
                               npz["weights"], meta["recipe"],
                               npz["jackknife"] if "jackknife" in npz.files else None)


def check_level(level) -> float:
    """A confidence level strictly between 0 and 1."""
    if isinstance(level, bool) or not isinstance(level, (int, float, np.floating)) or not 0 < float(level) < 1:
        raise ValueError(f"level must be a number in (0, 1), e.g. 0.95; got {level!r}")
    return float(level)


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


# ---------------------------------------------------------------------- the driver
def _versions() -> dict:
    import jax

    from .. import __version__

    return {"jaxscale": __version__, "jax": jax.__version__, "numpy": np.__version__, "pandas": pd.__version__}


def bootstrap(data, law: str | Law = "chinchilla", n_resamples: int = 4000, starts="grid", seed: int = 0, *,
              indices=None, loss: str | Loss = "huber", delta: float = 1e-3, solver=None, n: str = "N",
              d: str = "D", y: str = "loss", x: str = "x", fixed: Mapping[str, float] | None = None,
              tied: Mapping[str, str] | None = None, columns: Mapping[str, str] | None = None, polish: bool = True,
              prune_keep: int = 8, prune_iter: int = 40, n_subgrid: int = 16, chunk_size: int | None = None,
              n_lanes: int | None = None, devices=None, checkpoint: str | Path | None = None,
              progress: bool | None = None, estimate: FitResult | None = None, resample: str = "case",
              cluster=None, budgets=None) -> BootstrapResult:
    r"""Case-resampling bootstrap with a multi-start refit of every resample.

    Resample :math:`r` is a count vector :math:`w^{(r)}` (rows drawn with replacement); its
    fit minimises :math:`\sum_i w^{(r)}_i \rho(\log L_i - \log\hat L(\theta; x_i))` from every
    start and keeps the best end point. All (resample, start) pairs run as lanes of one
    compiled solver, chunked to bound memory and split across local devices.

    Parameters
    ----------
    data : DataFrame or dict of arrays
    law, loss, delta, solver, n, d, y, columns : as in :func:`jaxscale.fit`
    n_resamples : int
        Number of resamples drawn from ``seed`` (ignored when ``indices`` is given).
    starts : "grid", "best", "prune", int or array (K, p)
        ``"grid"``: the law's grid for every resample (4500 for Chinchilla). ``"best"``: only
        the full-data optimum. ``"prune"``: every grid start for ``prune_iter`` evaluations,
        then the ``prune_keep`` most promising per resample to convergence. ``"subgrid"``: the
        full-data optimum plus ``n_subgrid - 1`` grid starts spread evenly over the grid (for
        solvers that reach the optimum from almost anywhere; benchmarks/bench_bootstrap.py
        measures its agreement with the exhaustive grid). An int: seeded random starts; an
        array: those starts.
    seed : int
        Resample ``r`` uses ``jax.random.fold_in(PRNGKey(seed), r)``: draws never depend on
        ``chunk_size`` or the device count.
    indices : int array (R, m), optional
        Explicit resamples as row positions of ``data`` (e.g. Epoch's ``np.random.choice`` draws).
    polish : bool
        Refine each resample's best end point with exact Huber curvature and tight tolerances.
    chunk_size : int, optional
        Lanes' tasks per compiled call (memory bound); default about 2**16 tasks.
    devices : None, int or list
        Local devices to shard over (default all).
    checkpoint : path, optional
        Directory for finished chunks; a restarted run with the same arguments resumes and
        gives exactly the same result.
    progress : bool, optional
        Progress line on stderr (default: on for runs of more than a million fits).
    estimate : FitResult, optional
        A full-data fit to report as the point estimate (computed with the same starts if omitted).
    resample : {"case", "cluster", "wild-cluster"}
        ``"case"``: rows (default). ``"cluster"``: whole clusters of rows; ``"wild-cluster"``: Webb
        six-point multipliers per cluster on leverage-corrected residuals (see :mod:`jaxscale.api.cluster`).
    cluster, budgets : optional
        The clusters: ``"budget"`` (compute, nearest of ``budgets`` or rounded to 0.1 decade), ``"size"``
        (N, same rule), a column name or one label per row. Warns below 10 clusters.
    """
    law, loss_fn, solver, frame, names, log_x, log_y = setup(data, law, loss, delta, solver, n, d, y, columns, x,
                                                             fixed, tied)
    n_rows = len(frame)
    from .cluster import resample_plan

    clusters = resample_plan(frame, resample, cluster, budgets, n, d, indices, checkpoint)

    if indices is not None:
        fixed_counts = counts_from_indices(indices, n_rows)
        n_resamples = fixed_counts.shape[0]
    else:
        fixed_counts = None
        if int(n_resamples) < 1:
            raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")
        n_resamples = int(n_resamples)

    if isinstance(starts, str) and starts not in ("grid", "best", "prune", "subgrid"):
        raise ValueError(f"starts={starts!r}: use 'grid', 'best', 'prune', 'subgrid', an int or an array "
                         f"(K, {law.n_params})")
    if estimate is None:
        full_starts = None if isinstance(starts, str) else starts
        estimate = fit(frame, law=law, starts=full_starts, loss=loss_fn, solver=solver, n=n, d=d, y=y, x=x,
                       columns=columns, seed=seed, devices=devices)
    elif not isinstance(estimate, FitResult):
        raise ValueError(f"estimate must be a FitResult from jaxscale.fit, got {type(estimate).__name__}")
    elif estimate.law != law or estimate.loss != loss_fn:
        raise ValueError(f"estimate was fitted with law {estimate.law.name!r} and loss {estimate.loss.name}"
                         f"{dict(estimate.loss.params)}, but this bootstrap uses law {law.name!r} and loss "
                         f"{loss_fn.name}{dict(loss_fn.params)}; fit the estimate with the same law, loss and delta")
    if isinstance(starts, str) and starts == "best":
        start_points = estimate.theta[None, :]
    elif isinstance(starts, str) and starts == "subgrid":
        grid = law.grid()
        spread = grid[np.linspace(0, len(grid) - 1, max(1, n_subgrid - 1)).round().astype(int)]
        start_points = np.concatenate([estimate.theta[None, :], spread])
    elif isinstance(starts, str):
        start_points = law.grid()
    else:
        start_points = resolve_starts(law, starts, seed)
    n_starts = start_points.shape[0]
    pruning = isinstance(starts, str) and starts == "prune"
    if clusters is not None:
        from .cluster import cluster_bootstrap

        return cluster_bootstrap(resample=resample, clusters=clusters, law=law, loss=loss_fn, solver=solver,
                                 log_x=log_x, log_y=log_y, estimate=estimate, start_points=start_points,
                                 n_resamples=n_resamples, seed=seed, pruning=pruning, prune_keep=prune_keep,
                                 prune_iter=prune_iter, polish=polish, chunk_size=chunk_size, n_lanes=n_lanes,
                                 devices=devices, progress=progress, recipe={
                                     "law": law.name, "loss": loss_fn.name, **dict(loss_fn.params),
                                     "solver": solver.name, "starts": starts if isinstance(starts, (str, int))
                                     else "array", "n_starts": int(n_starts), "polish": bool(polish),
                                     "seed": int(seed), "n_resamples": n_resamples,
                                     "cluster": cluster if isinstance(cluster, str) else "labels",
                                     "columns": dict(zip(law.inputs, names)), "y": y, "versions": _versions()})

    per_chunk = max(1, int(chunk_size or (1 << 16)) // n_starts)
    recipe = {"law": law.name, "loss": loss_fn.name, **dict(loss_fn.params), "solver": solver.name,
              "solver_options": {k: v for k, v in vars(solver).items() if k != "name"},
              "starts": starts if isinstance(starts, (str, int)) else "array", "n_starts": int(n_starts),
              "prune_keep": prune_keep if pruning else None, "prune_iter": prune_iter if pruning else None,
              "polish": bool(polish), "seed": int(seed), "n_resamples": n_resamples,
              "indices": "explicit" if fixed_counts is not None else "jax.random.fold_in(PRNGKey(seed), r)",
              "columns": dict(zip(law.inputs, names)), "y": y, "versions": _versions()}
    fingerprint = hashlib.sha256(json.dumps(
        {k: v for k, v in recipe.items() if k != "versions"} | {
            "data": hashlib.sha256(np.ascontiguousarray(np.c_[log_x, log_y]).tobytes()).hexdigest(),
            "counts": None if fixed_counts is None else hashlib.sha256(fixed_counts.tobytes()).hexdigest(),
            "starts_hash": hashlib.sha256(np.ascontiguousarray(start_points).tobytes()).hexdigest(),
            "per_chunk": per_chunk}, sort_keys=True, default=str).encode()).hexdigest()

    ckpt = Path(checkpoint) if checkpoint is not None else None
    if ckpt is not None:
        ckpt.mkdir(parents=True, exist_ok=True)
        stamp = ckpt / "recipe.json"
        if stamp.exists() and json.loads(stamp.read_text()).get("fingerprint") != fingerprint:
            raise ValueError(f"checkpoint {ckpt} holds a different run (other data or arguments); "
                             "use a new directory or delete it")
        stamp.write_text(json.dumps({"fingerprint": fingerprint, "recipe": recipe}, indent=2, default=str))

    total_fits = n_resamples * n_starts
    report = Progress(total_fits, progress if progress is not None else total_fits > 1_000_000)
    outputs = []
    for lo in range(0, n_resamples, per_chunk):
        hi = min(lo + per_chunk, n_resamples)
        part = ckpt / f"chunk_{lo:09d}.npz" if ckpt is not None else None
        if part is not None and part.exists():
            with np.load(part, allow_pickle=False) as z:
                outputs.append({k: z[k] for k in z.files})
            report(hi * n_starts)
            continue
        counts = fixed_counts[lo:hi] if fixed_counts is not None else resample_counts(seed, np.arange(lo, hi), n_rows)
        best = best_of_starts(solver, law, loss_fn, log_x, log_y, counts.astype(np.float64), start_points,
                              prune_keep=prune_keep if pruning else None, prune_iter=prune_iter,
                              polish_top=1 if polish else 0, n_lanes=n_lanes, devices=devices)
        chunk_out = {"theta": best.theta, "objective": best.value, "converged": best.converged,
                     "n_at_best": best.n_at_best}
        if part is not None:
            tmp = part.with_suffix(".part.npz")
            with open(tmp, "wb") as handle:
                np.savez(handle, **chunk_out)
            tmp.replace(part)
        outputs.append(chunk_out)
        report(hi * n_starts)

    joined = {k: np.concatenate([o[k] for o in outputs]) for k in ("theta", "objective", "converged", "n_at_best")}
    return BootstrapResult(law, loss_fn, np.asarray(estimate.theta), float(estimate.objective), joined["theta"],
                           joined["objective"], joined["converged"], joined["n_at_best"], log_x, log_y,
                           np.ones(n_rows), recipe)
