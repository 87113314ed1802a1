r"""``jaxscale.compare_laws``: which law forecasts better, and a prediction that survives a wrong law.

The question is the forecast one: fit below a compute budget, predict the runs above it. Every law is
fitted to the SAME extrapolation splits (weight rows over one data array: rolling by default, fit budgets
``1..k`` and predict budget ``k + 1``; see :mod:`jaxscale.api.extrapolation`), so the laws are scored on
the same held-out runs.

Score
    Out-of-sample error of law :math:`l` on held-out run :math:`i` (split :math:`s(i)`):
    :math:`e_{l,i} = z_i - \hat z_l(x_i; \hat\theta_{l,s(i)})` in fitting space (:math:`z = \log L`);
    the score is :math:`S_l = \frac1m \sum_i e_{l,i}^2` (``score="squared"``) or :math:`|e_{l,i}|`
    (``"absolute"``), lower is better.

Score differences with intervals (paired bootstrap)
    Resample :math:`r` refits every law on the SAME case resample of each split's training rows
    (:func:`jaxscale.api.extrapolation.split_counts`: the counts depend on the split, ``r`` and ``seed``
    only, never on the law) and resamples the held-out runs within each split (same indices for all laws);
    :math:`\Delta_{lm,r} = S_{l,r} - S_{m,r}`. The interval is the percentile interval of
    :math:`\Delta_{lm,r}`; when it excludes 0 the better law is named.

Information criteria
    None for a Huber (or asymmetric Huber) fit, on purpose: the Huber objective with a fixed
    :math:`\delta` is not a log-likelihood (no fitted scale; it is not :math:`-\log` of the density of
    any noise model whose scale was estimated), so AIC's :math:`2k` and BIC's :math:`k\log n` penalties
    have no justification, and Ronchetti's robust AIC needs a scale-equivariant M-estimator with an
    estimated scale, which this fit is not. With ``loss="squared"`` the Gaussian
    :math:`\mathrm{AIC} = n\log(\mathrm{RSS}/n) + 2(k + 1)` is reported (assumes i.i.d. Gaussian
    log-loss noise; valid for non-nested laws too). The out-of-sample score is the criterion either way.

Model-form prediction (stacking)
    Weights :math:`w` on the simplex minimise the out-of-sample squared error of the combined forecast,
    :math:`\min_w \sum_i (z_i - \sum_l w_l \hat z_{l,i})^2` (Breiman's stacking; solved exactly over
    active sets). :meth:`LawComparison.predict` gives the stacked point :math:`\sum_l w_l \hat z_l(x)` and a
    *model-form new-run* interval: the quantiles of the mixture, law :math:`l` with probability
    :math:`w_l`, of :math:`\hat z^*_{l,r}(x) + e_{l,j}` over the law's full-data bootstrap draws
    :math:`r` and its own out-of-sample errors :math:`j` (the errors carry run-to-run noise AND the law's
    misfit when it extrapolates one budget; the mixture carries the spread between laws).

Seed variance
    Runs with the same inputs (replicates, e.g. different seeds) are recognised. With replicates, the
    error term is split: out-of-sample errors are averaged within each replicate group (the misfit), and
    the pooled within-group deviations :math:`d_{gk} = (z_{gk} - \bar z_g)\sqrt{n_g/(n_g - 1)}` (the seed
    noise, unbiased in variance) are convolved in as a separate component. Without replicates the seed
    noise stays inside the errors and the result says it was not separated.
"""
from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from ..engine import resolve_starts
from ..kernels.laws import Law
from ..kernels.losses import Loss
from .bootstrap import bootstrap
from .extrapolation import _check_train, fit_splits, make_splits, training_rows
from .migration import legacy_options
from .options import Columns, Runner, as_columns, as_runner
from .prediction import quantile_pair
from .problem import Problem, input_arrays, prepare, resolve_law
from .reach import data_span, label_predictions, reach_note
from .results.bootstrap import BootstrapResult
from .search import Search, as_search
from .validation import check_level, check_seed

SCORES = ("squared", "absolute")
INTERVAL = "model-form new-run"
IC_NOTE = ("no information criterion: the {loss} objective with a fixed delta is not a log-likelihood (no fitted "
           "scale), so AIC/BIC penalties do not apply and a robust AIC (Ronchetti) needs an M-estimator with an "
           "estimated scale; the out-of-sample score is the criterion")


def stacking_weights(z: np.ndarray, preds: np.ndarray) -> np.ndarray:
    r"""Simplex weights minimising :math:`\sum_i (z_i - \sum_l w_l p_{l,i})^2` (``preds[L, m]``), exactly:
    every active set's equality-constrained least squares, keeping the best with all weights >= 0."""
    L = preds.shape[0]
    best, best_w = np.inf, None
    for k in range(1, L + 1):
        for active in itertools.combinations(range(L), k):
            P = preds[list(active)]
            # w = w0 + N u with sum(w) = 1: min over the affine set via the KKT system
            kkt = np.zeros((k + 1, k + 1))
            kkt[:k, :k] = P @ P.T
            kkt[:k, k] = kkt[k, :k] = 1.0
            rhs = np.concatenate([P @ z, [1.0]])
            w = np.linalg.lstsq(kkt, rhs, rcond=None)[0][:k]
            if np.any(w < -1e-12):
                continue
            w = np.clip(w, 0.0, None) / np.clip(w, 0.0, None).sum()
            err = float(np.sum((z - w @ P) ** 2))
            if err < best - 1e-15:
                best, best_w = err, np.zeros(L)
                best_w[list(active)] = w
    return best_w


def replicate_groups(features: np.ndarray) -> np.ndarray:
    """Group id per row: rows with identical inputs (to 1e-12 in fitting space) share an id."""
    keys = np.round(np.asarray(features, np.float64), 12)
    _, ids = np.unique(keys, axis=0, return_inverse=True)
    return ids.ravel()


def seed_deviations(z: np.ndarray, groups: np.ndarray) -> np.ndarray:
    r"""Within-replicate-group deviations :math:`(z - \bar z_g)\sqrt{n_g/(n_g-1)}` of groups with >= 2 runs."""
    out = []
    for g in np.unique(groups):
        vals = z[groups == g]
        if vals.size > 1:
            out.append((vals - vals.mean()) * np.sqrt(vals.size / (vals.size - 1)))
    return np.concatenate(out) if out else np.empty(0)


def _weighted_quantiles(values: Sequence[np.ndarray], weights: Sequence[float], q: np.ndarray) -> np.ndarray:
    """Quantiles of a mixture: component ``c`` (equally weighted values) with total weight ``weights[c]``."""
    vals = np.concatenate(values)
    wts = np.concatenate([np.full(v.size, w / v.size) for v, w in zip(values, weights)])
    order = np.argsort(vals, kind="stable")
    cum = np.cumsum(wts[order]) / wts.sum()
    return vals[order][np.minimum(np.searchsorted(cum, q), vals.size - 1)]


@dataclass
class LawComparison:
    """Outcome of :func:`compare_laws` (see the module docstring for every quantity).

    Attributes
    ----------
    scores : DataFrame
        Per law: ``score`` (out-of-sample), ``n_heldout``, ``weight`` (stacking), ``aic`` (``loss="squared"``
        only, else NaN), ``rank``.
    differences : DataFrame
        Per ordered pair (``law``, ``other``): ``difference`` (score of law minus other), ``low``, ``high``
        (percentile interval), ``excludes_zero``, ``better`` (the better law when the interval excludes 0).
    errors : DataFrame
        Per held-out run: ``split``, ``row``, ``actual`` (fitting space), ``error_<law>`` per law, and the
        distance beyond the split's training data (``beyond_*``, ``regime``).
    weights : Series
        The stacking weights (which laws carry the model-form prediction).
    boots : dict
        Each law's full-data :class:`BootstrapResult` (its single-law new-run intervals).
    criterion : str
        Which information criterion is reported and why (or why none).
    """

    scores: pd.DataFrame
    differences: pd.DataFrame
    errors: pd.DataFrame
    weights: pd.Series
    boots: dict
    criterion: str
    seed_sd: float
    n_replicate_groups: int
    level: float
    columns: dict = field(default_factory=dict)
    recipe: dict = field(default_factory=dict)
    _z: np.ndarray | None = field(default=None, repr=False)
    _groups: np.ndarray | None = field(default=None, repr=False)

    @property
    def best(self) -> str:
        """The law with the lowest out-of-sample score."""
        return str(self.scores["score"].idxmin())

    def _law_errors(self, name: str) -> np.ndarray:
        """Law ``name``'s out-of-sample errors; averaged within replicate groups when there are replicates."""
        e = self.errors[f"error_{name}"].to_numpy(np.float64)
        if self.n_replicate_groups == 0:
            return e[np.isfinite(e)]
        g = self._groups[self.errors["row"].to_numpy()]
        keep = np.isfinite(e)
        frame = pd.DataFrame({"g": g[keep], "e": e[keep], "s": self.errors["split"].to_numpy()[keep]})
        return frame.groupby(["s", "g"])["e"].mean().to_numpy()

    def predict(self, N=None, D=None, level: float | None = None, **inputs) -> pd.DataFrame:
        """Stacked prediction with its model-form new-run interval, every law's own prediction, and the
        distance beyond the data (see the module docstring). Columns: the inputs, ``loss`` (stacked),
        ``loss_low``/``loss_high`` (the model-form new-run interval), ``loss_<law>`` per law, ``beyond_*``,
        ``regime``. ``attrs``: ``interval`` ("model-form new-run"), ``weights``, ``level``."""
        level = check_level(self.level if level is None else level)
        given = {**inputs, **({"N": N} if N is not None else {}), **({"D": D} if D is not None else {})}
        names = list(self.weights.index)
        widest = max((self.boots[k].law.base for k in names), key=lambda law: len(law.inputs))
        missing = sorted({v for k in names for v in self.boots[k].law.base.inputs} - set(given))
        if missing:
            raise ValueError(f"predict needs every input of the compared laws; missing {missing}")
        x_all, _ = input_arrays(widest, inputs={k: given[k] for k in widest.inputs})
        out = pd.DataFrame({name: x_all[:, j] for j, name in enumerate(widest.inputs)})
        seeds = seed_deviations(self._z, self._groups) if self.n_replicate_groups else np.zeros(1)
        point = np.zeros(len(out))
        comps = [[] for _ in range(len(out))]
        for name in names:
            boot = self.boots[name]
            base = boot.law.base
            x, _ = input_arrays(base, inputs={k: given[k] for k in base.inputs})
            x = np.broadcast_to(x, (len(out), x.shape[1])) if len(x) != len(out) else x
            z_hat = base.target(base.predict(boot.law.expand(boot.estimate), x))
            out[f"loss_{name}"] = base.untarget(z_hat)
            point += self.weights[name] * z_hat
            if self.weights[name] <= 0:
                continue
            draws = base.target(base.predict(boot.law.expand(boot.theta[boot.usable()]), x))  # (R, m)
            noise = (self._law_errors(name)[:, None] + seeds[None, :]).ravel()
            for j in range(len(out)):
                col = draws[:, j][np.isfinite(draws[:, j])]
                comps[j].append(((col[:, None] + noise[None, :]).ravel(), float(self.weights[name])))
        q = quantile_pair(level)
        bounds = np.array([_weighted_quantiles([c[0] for c in cs], [c[1] for c in cs], q) for cs in comps])
        out.insert(len(widest.inputs), "loss", np.exp(point))
        out.insert(len(widest.inputs) + 1, "loss_low", np.exp(bounds[:, 0]))
        out.insert(len(widest.inputs) + 2, "loss_high", np.exp(bounds[:, 1]))
        span = data_span(widest, self.boots[_widest_name(self, widest)].log_x)
        out = pd.concat([out, label_predictions(widest, span, x_all)], axis=1)
        out.attrs.update(interval=INTERVAL, level=level, weights=self.weights.to_dict(), reach=reach_note(out))
        return out

    def summary(self) -> str:
        """The scores, the score differences with their intervals, the weights and the notes, as text."""
        lines = [f"jaxscale compare_laws: {len(self.scores)} laws, {self.recipe.get('mode')} splits by "
                 f"{self.recipe.get('split')}, score={self.recipe.get('score')} out-of-sample error of log loss, "
                 f"{self.recipe.get('n_resamples')} paired resamples", "",
                 self.scores.to_string(float_format=lambda v: f"{v:.6g}"), "",
                 f"score differences ({self.level:.0%} paired-bootstrap intervals; negative: first law better):",
                 self._pairs().to_string(index=False, float_format=lambda v: f"{v:.3g}"), "",
                 "model-form weight (stacking): " + ", ".join(f"{k} {v:.2f}" for k, v in self.weights.items()),
                 f"predict() gives a {INTERVAL} interval (mixture of the laws by these weights, each law's bootstrap "
                 "draws plus its own out-of-sample errors)",
                 self._seed_note(), self.criterion]
        reach = reach_note(self.errors)
        if reach:
            lines.append("held-out runs: " + reach)
        return "\n".join(lines)

    def _pairs(self) -> pd.DataFrame:
        """Each unordered pair once (in the order the laws were given)."""
        order = {name: k for k, name in enumerate(self.scores.index)}
        keep = [order[a] < order[b] for a, b in zip(self.differences["law"], self.differences["other"])]
        return self.differences[keep].drop(columns="n_resamples")

    def _seed_note(self) -> str:
        if self.n_replicate_groups:
            return (f"seed variance: {self.n_replicate_groups} groups of replicate runs (same inputs), pooled "
                    f"seed SD {self.seed_sd:.3g} in log loss, a separate component of the new-run interval")
        return "seed variance: no replicate runs (same inputs); it is not separated (it stays inside the errors)"

    def __repr__(self) -> str:
        return self.summary()


def _widest_name(comparison: LawComparison, widest: Law) -> str:
    """The name under which the law ``widest`` sits in ``comparison.boots``."""
    return next(k for k, b in comparison.boots.items() if b.law.base is widest)


def _z_at(law: Law, thetas: np.ndarray, features: np.ndarray) -> np.ndarray:
    """Fitting-space predictions ``[K, m]`` of ``thetas[K, p]`` at ``features[m, k]``."""
    base = law.base
    logs = np.asarray([s == "log" for s in base.input_scale])
    x = np.where(logs, np.exp(np.where(logs, features, 0.0)), features)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return base.target(base.predict(law.expand(np.atleast_2d(thetas)), x))


def _split_forecasts(problem: Problem, held, train, n_resamples, seed, search: Search, runner: Runner):
    """Each held-out run's forecast by its split's fit ``[m]`` and by that split's resamples ``[R, m]``."""
    law, log_x = problem.law, problem.log_x
    estimates, draws = fit_splits(problem.solver, law, problem.loss, log_x, problem.log_y, train, n_resamples, seed,
                                  resolve_starts(law, search.starts, seed), prune=search.prune,
                                  prune_iter=search.prune_iter, n_lanes=runner.n_lanes, chunk_size=runner.chunk_size,
                                  devices=runner.devices)
    point, resampled = [], []
    for s in range(len(held)):
        feats = log_x[held[s]]
        point.append(_z_at(law, estimates[s], feats)[0])
        resampled.append(_z_at(law, draws[s], feats))
    return np.concatenate(point), np.concatenate(resampled, axis=1)


def _score(errors: np.ndarray, score: str) -> np.ndarray:
    return errors ** 2 if score == "squared" else np.abs(errors)


def _differences(names, z, point, resampled, split_of, score, level, seed) -> pd.DataFrame:
    """Paired-bootstrap intervals of every ordered pair's score difference (module docstring)."""
    R = resampled.shape[1]
    rng = np.random.default_rng([seed, 20])
    idx = np.empty((R, z.size), np.int64)
    for s in np.unique(split_of):
        pos = np.flatnonzero(split_of == s)
        idx[:, pos] = rng.choice(pos, size=(R, pos.size))
    full = _score(z[None, :] - point, score).mean(axis=1)  # (L,)
    boot = np.stack([_score(z[idx] - np.take_along_axis(resampled[l], idx, axis=1), score).mean(axis=1)
                     for l in range(len(names))])  # (L, R)
    rows = []
    for a, b in itertools.permutations(range(len(names)), 2):
        diff = boot[a] - boot[b]
        diff = diff[np.isfinite(diff)]
        lo, hi = np.quantile(diff, quantile_pair(level)) if diff.size else (np.nan, np.nan)
        excludes = bool(lo > 0 or hi < 0)
        rows.append({"law": names[a], "other": names[b], "difference": full[a] - full[b], "low": lo, "high": hi,
                     "excludes_zero": excludes, "better": (names[a] if hi < 0 else names[b]) if excludes else "",
                     "n_resamples": int(diff.size)})
    return pd.DataFrame(rows)


def _gaussian_aic(boot: BootstrapResult) -> float:
    r""":math:`n\log(\mathrm{RSS}/n) + 2(k+1)` at the full-data squared-error estimate."""
    keep = boot.weights > 0
    z = _z_at(boot.law, boot.estimate, boot.log_x[keep])[0]
    rss = float(np.sum(boot.weights[keep] * (boot.log_y[keep] - z) ** 2))
    n = float(boot.weights[keep].sum())
    return n * np.log(rss / n) + 2.0 * (boot.law.n_params + 1)


@legacy_options()
def compare_laws(data, laws: Sequence[str | Law] = ("chinchilla", "kaplan"), *, split="compute",
                 mode: str = "rolling", holdout: int = 1, min_train: int = 2, budgets: Sequence[float] | None = None,
                 step: float = 0.1, score: str = "squared", level: float = 0.95, n_resamples: int = 200,
                 seed: int = 0, loss: str | Loss = "huber", delta: float = 1e-3,
                 columns: Columns | Mapping[str, str] | None = None, search: Search | None = None,
                 runner: Runner | None = None) -> LawComparison:
    r"""Compare several laws on the same data by out-of-sample forecast error, and stack them.

    Every law is fitted to the same extrapolation splits (weight rows; ``mode="rolling"``: fit budgets
    ``1..k``, predict budget ``k + 1``), scored on the same held-out runs, and the score differences get
    paired-bootstrap intervals; stacking weights combine the laws into a prediction with a model-form
    new-run interval (:meth:`LawComparison.predict`). The maths, the choice of criterion and the seed-variance
    component: see :mod:`jaxscale.api.compare`.

    Parameters
    ----------
    data : DataFrame or dict of arrays
    laws : sequence of str or Law
        Two or more registered or custom laws with the same target (log loss); their inputs are read
        through ``columns`` as in :func:`jaxscale.fit`.
    split, mode, holdout, min_train, budgets, step : the splits, as in :func:`jaxscale.extrapolation`
        (default: rolling over compute budgets, from 2 training budgets).
    score : {"squared", "absolute"}
        Out-of-sample error of log loss per held-out run.
    level : float
        Level of the difference intervals and of the model-form new-run interval.
    n_resamples : int
        Paired resamples of every split (score differences) and of the full data (each law's draws).
    seed : int
    loss, delta, columns : as in :func:`jaxscale.fit` (``loss="asymmetric_huber"`` too).
    search : Search, optional
        ``starts``, ``solver``, ``prune``, ``prune_iter`` of the split fits and each law's full-data
        bootstrap (default: the law's grid, pruned, for the fits and ``"subgrid"`` for the bootstrap: its
        estimate plus 15 spread grid starts per resample).
    runner : Runner, optional
        ``n_lanes``, ``chunk_size``, ``devices`` of every fit; the bootstraps take the whole runner (no
        progress bar unless ``progress=True``).

    Returns
    -------
    LawComparison
    """
    level, seed = check_level(level), check_seed(seed)
    columns, search, runner = as_columns(columns), as_search(search), as_runner(runner)
    if score not in SCORES:
        raise ValueError(f"score must be one of {SCORES}, got {score!r}")
    if isinstance(laws, (str, Law)) or len(laws) < 2:
        raise ValueError(f"laws needs two or more laws to compare, got {laws!r}")
    if int(n_resamples) < 20:
        raise ValueError(f"n_resamples={n_resamples}: use at least 20 for percentile intervals")
    R = int(n_resamples)
    law_columns = _law_columns(laws, columns)
    problems = [prepare(data, law, loss, delta, columns=cols, solver=search.solver)
                for law, cols in zip(laws, law_columns)]
    names = [p.law.name for p in problems]
    if len(set(names)) != len(names):
        raise ValueError(f"laws {names} repeat a name; give each law a distinct name")
    first = problems[0]
    z, frame = first.log_y, first.frame
    for p in problems[1:]:
        if p.law.target_scale != first.law.target_scale or not np.allclose(p.log_y, z, rtol=0, atol=1e-12):
            raise ValueError(f"law {p.law.name!r} does not fit the same target as {names[0]!r}; compare laws of the "
                             f"same quantity (y={columns.y!r}, all on log loss)")
    n, d = (columns.column(name) for name in ("N", "D"))
    for p in problems:  # D may be derived from a compute column
        n, d = p.input_columns.get("N", n), p.input_columns.get("D", d)
    held, budget, split_names = make_splits(frame, split, mode, holdout, min_train, n, d, budgets, step)
    train = training_rows(held, budget, mode)
    for p in problems:
        for s, name in enumerate(split_names):
            _check_train(p.log_x, train[s], p.law, name)
    rows = np.concatenate([np.flatnonzero(h) for h in held])
    split_of = np.concatenate([np.full(int(h.sum()), s) for s, h in enumerate(held)])
    forecasts = [_split_forecasts(p, held, train, R, seed, search, runner) for p in problems]
    point = np.stack([f[0] for f in forecasts])  # (L, m)
    resampled = np.stack([f[1] for f in forecasts])  # (L, R, m)
    z_held = z[rows]
    weights = pd.Series(stacking_weights(z_held, point), index=names, name="weight")
    boots = {p.law.name: _full_bootstrap(data, p, R, seed, cols, search, runner)
             for p, cols in zip(problems, law_columns)}
    squared = all(p.loss.name == "squared" for p in problems)
    criterion = ("Gaussian AIC n log(RSS/n) + 2(k + 1) (loss='squared': i.i.d. Gaussian log-loss noise assumed)"
                 if squared else IC_NOTE.format(loss=first.loss.name))
    scores = pd.DataFrame({"score": _score(z_held[None, :] - point, score).mean(axis=1),
                           "n_heldout": int(z_held.size), "weight": weights.to_numpy(),
                           "aic": [_gaussian_aic(boots[k]) if squared else np.nan for k in names]},
                          index=pd.Index(names, name="law"))
    scores["rank"] = scores["score"].rank(method="min").astype(int)
    errors = pd.DataFrame({"split": split_of, "split_name": [split_names[s] for s in split_of], "row": rows,
                           "budget": budget[rows], "actual": z_held})
    for k, name in enumerate(names):
        errors[f"error_{name}"] = z_held - point[k]
    widest = max(problems, key=lambda p: len(p.law.inputs))
    errors = pd.concat([errors, _split_labels(widest.law.base, widest.log_x, rows, split_of, train)], axis=1)
    groups = replicate_groups(np.concatenate([p.log_x for p in problems], axis=1))
    n_rep = int(np.sum(np.bincount(groups) > 1))
    devs = seed_deviations(z, groups)
    return LawComparison(
        scores=scores, differences=_differences(names, z_held, point, resampled, split_of, score, level, seed),
        errors=errors, weights=weights, boots=boots, criterion=criterion,
        seed_sd=float(np.sqrt(np.mean(devs ** 2))) if devs.size else float("nan"), n_replicate_groups=n_rep,
        level=level, recipe={"laws": names, "split": split if isinstance(split, str) else "mask", "mode": mode,
                             "splits": split_names, "score": score, "n_resamples": R, "seed": seed,
                             "loss": first.loss.name, "min_train": min_train, "holdout": holdout},
        _z=z, _groups=groups)


def _law_columns(laws: Sequence[str | Law], columns: Columns) -> list[Columns]:
    """Each law's own :class:`Columns`: the input mappings that name one of ITS inputs (laws of different
    inputs share one mapping, e.g. ``{"x": "S1"}`` for ``power_law`` beside ``lr_annealing``'s ``S1, S2``).
    A mapped name that is an input of none of the laws is an error."""
    resolved = [resolve_law(law) for law in laws]
    every = {name for law in resolved for name in law.inputs}
    unknown = [k for k in columns.inputs if k not in every]
    if unknown:
        raise ValueError(f"columns={dict(columns.inputs)!r}: none of the laws {[law.name for law in resolved]} has an "
                         f"input {unknown[0]!r}; their inputs are {sorted(every)}")
    return [Columns(inputs={k: v for k, v in columns.inputs.items() if k in law.inputs}, y=columns.y,
                    compute=columns.compute if {"N", "D"} <= set(law.inputs) else None) for law in resolved]


def _full_bootstrap(data, problem: Problem, n_resamples: int, seed: int, columns: Columns, search: Search,
                    runner: Runner) -> BootstrapResult:
    """The law's full-data bootstrap (its draws for the model-form and single-law new-run intervals):
    ``"subgrid"`` starts unless ``search`` names some, no progress bar unless the runner asks for one."""
    search = search.replace(starts="subgrid" if search.starts is None else search.starts, solver=problem.solver)
    runner = runner.replace(progress=False) if runner.progress is None else runner
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return bootstrap(data, law=problem.law, n_resamples=n_resamples, seed=seed, loss=problem.loss,
                         columns=columns, search=search, runner=runner)


def _split_labels(law: Law, features: np.ndarray, rows: np.ndarray, split_of: np.ndarray,
                  train: np.ndarray) -> pd.DataFrame:
    """Distance of each held-out run beyond its split's training rows (:func:`label_predictions`)."""
    logs = np.asarray([s == "log" for s in law.input_scale])
    x_nat = np.where(logs, np.exp(np.where(logs, features[rows], 0.0)), features[rows])
    labels = [label_predictions(law, data_span(law, features, train[s]), x_nat[split_of == s])
              for s in range(len(train))]
    return pd.concat(labels, ignore_index=True)
