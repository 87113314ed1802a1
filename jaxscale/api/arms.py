r"""Arm versus arm: one law fitted to several arms with shared parameters, and the effective compute multiplier.

Arms (architectures, data mixes, optimisers) are groups of runs. :func:`fit_arms` fits them in ONE
compiled run as one law over all rows: an ``arm`` code is an extra input, and every base parameter
is either shared by all arms (one free parameter, i.e. tied across the groups) or has one copy per
arm. For Chinchilla with ``shared=("E", "alpha", "beta")``:

.. math:: \hat L_k(N, D) = E + A_k N^{-\alpha} + B_k D^{-\beta}, \qquad k = \text{arm}.

``shared=()`` is the separate fit of every arm (same optimum as fitting each alone).

Effective compute multiplier of arm B over arm A at budget :math:`C` (the compute A needs to reach
the loss B reaches with :math:`C`, divided by :math:`C`), with :math:`L^*_k(C)` the compute-optimal
loss of arm :math:`k` (:math:`\min_{6ND=C} \hat L_k`, or :math:`\hat L_k(C)` for a law of compute alone):

.. math:: m(C) = \frac{(L^*_A)^{-1}\big(L^*_B(C)\big)}{C}, \qquad \Delta(C) = L^*_B(C) - L^*_A(C).

:math:`m > 1` and :math:`\Delta < 0`: B is better. Where :math:`L^*_B(C)` is below A's irreducible
loss, no compute lets A reach it: :math:`m = \infty`. For Chinchilla, :math:`L^*(C) - E \propto
C^{-\alpha\beta/(\alpha+\beta)}` and the inverse is closed form; other laws invert numerically on a
fine log-compute grid.

:func:`bootstrap_arms` resamples each arm's runs with replacement (stratified: each arm keeps its
number of runs), or, with ``paired=`` a column matching runs across arms (model size, budget), resamples
the matched keys so that both arms' runs at a drawn key enter together; every resample refits the
joint law (lanes of one compiled program, warm starts), and :math:`m(C)`, :math:`\Delta(C)` and
:math:`P(\text{B better}) = P(\Delta(C) < 0)` come from the same draws (a joint interval).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from ..engine.cluster_resampling import cluster_counts
from ..engine.grids import spread_grid
from ..engine.multistart import WARM_SOLVER, best_of_starts
from ..kernels import allocation
from ..kernels.laws import Law, get_law
from ..kernels.laws.chinchilla import ChinchillaLaw
from ..kernels.losses import get_loss
from .cluster import budget_labels, compute_of
from .cluster import warn_few_clusters
from .fit import FitResult, fit
from .migration import RUNNER_KEYWORDS, SEARCH_KEYWORDS
from .options import Columns, Runner
from .reach import data_span
from .results.fit import vanishing_params
from .search import Search, resolve_solver
from .validation import as_frame, check_level

#: Arm code column added to the data (the extra input of the joint law).
ARM_CODE = "_arm_code"
#: Points of the log-compute grid of the numerical inverse (laws without a closed form).
_INVERSE_GRID = 2049


# ---------------------------------------------------------------- the joint law
@functools.lru_cache(maxsize=32)
def arms_law(base: Law, n_arms: int, shared: tuple[str, ...]) -> Law:
    """The joint law of ``n_arms`` arms of ``base`` with the natural parameters ``shared`` common to all.

    Cached: the same (law, arm count, shared set) is the same Law object, so it compiles once.
    """
    unknown = [s for s in shared if s not in base.natural_names]
    if unknown:
        raise ValueError(f"shared={list(shared)}: law {base.name!r} has no parameters {unknown}; its parameters are "
                         f"{list(base.natural_names)}")
    if n_arms < 2:
        raise ValueError("arms: the data hold one arm; give at least two (an arm column with two or more values)")
    index, names, naturals, logs = [], [], [], []  # index[j][k]: free slot of base parameter j in arm k
    for j, (p, nat) in enumerate(zip(base.param_names, base.natural_names)):
        copies = 1 if nat in shared else n_arms
        slots = list(range(len(names), len(names) + copies))
        index.append(slots * n_arms if copies == 1 else slots)
        names += [p] if copies == 1 else [f"{p}[{k}]" for k in range(n_arms)]
        naturals += [nat] if copies == 1 else [f"{nat}[{k}]" for k in range(n_arms)]
        logs += [base.log_scale[j]] * copies
    table = np.asarray(index, np.int32).T  # (n_arms, p_base)

    def per_arm(x):  # (n_arms, n) 0/1 masks of the rows of each arm
        codes = jnp.round(x[:, -1])
        return jnp.stack([(codes == k).astype(x.dtype) for k in range(n_arms)])

    def log_predict(theta, x):
        masks = per_arm(x)
        return sum(masks[k] * base.log_predict(theta[jnp.asarray(table[k])], x[:, :-1]) for k in range(n_arms))

    def log_predict_and_jacobian(theta, x):
        masks = per_arm(x)
        z = jnp.zeros(x.shape[0], x.dtype)
        jac = jnp.zeros((x.shape[0], len(names)), x.dtype)
        for k in range(n_arms):
            z_k, j_k = base.log_predict_and_jacobian(theta[jnp.asarray(table[k])], x[:, :-1])
            z = z + masks[k] * z_k
            jac = jac.at[:, jnp.asarray(table[k])].add(masks[k][:, None] * j_k)
        return z, jac

    return Law(name=f"{base.name}[{n_arms} arms, shared {','.join(shared) or 'none'}]",
               inputs=tuple(base.inputs) + ("arm",), param_names=tuple(names), natural_names=tuple(naturals),
               log_predict=log_predict, log_scale=tuple(logs), grid=_joint_grid(base, table, len(names)),
               log_predict_and_jacobian=log_predict_and_jacobian if base.log_predict_and_jacobian else None,
               input_scale=tuple(base.input_scale) + ("raw",), target_scale=base.target_scale,
               description=f"{base.description}; one copy of each parameter per arm except {list(shared)}")


def _joint_grid(base: Law, table: np.ndarray, n_free: int):
    """Starts of the joint law: each base start with every arm's copy at the same value."""
    def grid():
        base_grid = np.asarray(base.grid(), np.float64)
        out = np.empty((len(base_grid), n_free))
        for k in range(table.shape[0]):
            out[:, table[k]] = base_grid
        return out
    return grid


def arm_parameters(law: Law, theta: np.ndarray, n_arms: int, base: Law) -> np.ndarray:
    """Fitted ``theta[..., p_joint]`` -> each arm's base-law parameters ``[..., n_arms, p_base]``."""
    theta = np.asarray(theta, np.float64)
    full = law.expand(theta)
    names = law.base.param_names if hasattr(law, "base") else law.param_names
    cols = []
    for k in range(n_arms):
        idx = [names.index(p) if p in names else names.index(f"{p}[{k}]") for p in base.param_names]
        cols.append(full[..., idx])
    return np.stack(cols, axis=-2)


# ---------------------------------------------------------------- compute-optimal loss and its inverse
def optimal_loss(base: Law, theta: np.ndarray, C: np.ndarray) -> np.ndarray:
    r""":math:`L^*(C)` for parameters ``theta[R, p]`` (fitted space) at budgets ``C[m]``: ``(R, m)``."""
    theta = np.atleast_2d(np.asarray(theta, np.float64))
    C = np.atleast_1d(np.asarray(C, np.float64))
    if isinstance(base, ChinchillaLaw):  # closed form, vectorised over draws and budgets
        A, B, E, alpha, beta = (base.to_natural(theta)[:, j:j + 1] for j in range(5))
        n_opt, d_opt = allocation.compute_optimal(A, B, alpha, beta, C[None, :])
        return allocation.chinchilla_loss(A, B, E, alpha, beta, n_opt, d_opt)
    if base.has_allocation:
        n_opt, d_opt = base.compute_optimal(theta, C)
        n_opt, d_opt = np.broadcast_to(n_opt, (len(theta), C.size)), np.broadcast_to(d_opt, (len(theta), C.size))
        out = np.empty((len(theta), C.size))
        i_n, i_d = base.inputs.index("N"), base.inputs.index("D")
        for r in range(len(theta)):
            x = np.empty((C.size, 2))
            x[:, i_n], x[:, i_d] = n_opt[r], d_opt[r]
            out[r] = base.predict(theta[r], x)
        return out
    if len(base.inputs) == 1:
        return np.atleast_2d(base.predict(theta, C[:, None]))
    raise ValueError(f"law {base.name!r} has neither inputs N and D (a compute-optimal loss) nor a single compute "
                     "input; the compute multiplier needs one of them")


def _chinchilla_inverse(theta: np.ndarray, target: np.ndarray, C_ref: np.ndarray) -> np.ndarray:
    r"""Compute at which Chinchilla's :math:`L^*` equals ``target``: :math:`C_{ref}\,((L^*(C_{ref}) - E)/(L - E))^{1/\gamma}`."""
    natural = CHINCH.to_natural(theta)
    E, alpha, beta = natural[:, 2:3], natural[:, 3:4], natural[:, 4:5]
    gamma = alpha * beta / (alpha + beta)
    ref = optimal_loss(CHINCH, theta, C_ref) - E
    gap = target - E
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(gap > 0, C_ref[None, :] * (ref / gap) ** (1.0 / gamma), np.inf)


def inverse_optimal_loss(base: Law, theta: np.ndarray, target: np.ndarray, C_ref: np.ndarray) -> np.ndarray:
    r"""The compute :math:`C` with :math:`L^*(C)` = ``target[R, m]`` for each draw (``inf`` below the floor).

    Chinchilla: closed form. Other laws: :math:`\log C` interpolated on a grid of :data:`_INVERSE_GRID`
    points over 8 decades either side of ``C_ref`` (``nan`` outside it).
    """
    theta = np.atleast_2d(np.asarray(theta, np.float64))
    if isinstance(base, ChinchillaLaw):
        return _chinchilla_inverse(theta, target, C_ref)
    grid = np.geomspace(C_ref.min() * 1e-8, C_ref.max() * 1e8, _INVERSE_GRID)
    values = optimal_loss(base, theta, grid)
    out = np.full(target.shape, np.nan)
    for r in range(len(theta)):
        order = np.argsort(values[r])
        out[r] = np.exp(np.interp(target[r], values[r][order], np.log(grid)[order], left=np.nan, right=np.nan))
    return out


CHINCH = get_law("chinchilla")


# ---------------------------------------------------------------- data and fits
def _arm_frame(data, arm: str, arms: Sequence | None) -> tuple[pd.DataFrame, list]:
    """The data with the arm code column added, and the arm labels in code order (``arms`` or sorted)."""
    frame = as_frame(data)
    if arm not in frame.columns:
        raise ValueError(f"arm column {arm!r} not found; available: {list(map(str, frame.columns))}. Name it with arm=")
    if frame[arm].isna().any():
        raise ValueError(f"arm column {arm!r} row {int(np.flatnonzero(frame[arm].isna())[0])} is missing; give every "
                         "run its arm")
    present = list(pd.unique(frame[arm]))
    labels = sorted(present, key=str) if arms is None else list(arms)
    unknown = [a for a in present if a not in labels]
    if unknown:
        raise ValueError(f"arms={labels} leaves out arms {unknown} present in column {arm!r}; drop those rows or "
                         "name them")
    missing = [a for a in labels if a not in present]
    if missing:
        raise ValueError(f"arms {missing} have no rows in column {arm!r}")
    codes = frame[arm].map({a: k for k, a in enumerate(labels)}).to_numpy(np.float64)
    return frame.assign(**{ARM_CODE: codes}), labels


@dataclass
class ArmsResult:
    """Several arms fitted together (:func:`fit_arms`), with their joint bootstrap when one was run.

    Attributes
    ----------
    fit : FitResult
        The joint fit (law with an ``arm`` input; parameters ``name[k]`` per arm, shared ones once).
    arms : list
        Arm labels; arm ``k`` is ``arms[k]``.
    base : Law
        The law of each arm.
    shared : tuple of str
    draws : ndarray (R, p) or None
        Bootstrap draws of the joint law's fitted parameters (rows that failed are NaN).
    recipe : dict
    """

    fit: FitResult
    arms: list
    base: Law
    shared: tuple
    draws: np.ndarray | None = None
    recipe: dict = field(default_factory=dict)

    @property
    def params(self) -> pd.DataFrame:
        """Natural parameters, one row per arm (shared ones equal in every row)."""
        theta = arm_parameters(self.fit.law, self.fit.theta, len(self.arms), self.base)
        return pd.DataFrame(self.base.to_natural(theta), index=pd.Index(self.arms, name="arm"),
                            columns=list(self.base.natural_names))

    def arm(self, label) -> FitResult:
        """Arm ``label``'s law as a :class:`FitResult` (``predict``, ``compute_optimal``, plots)."""
        if label not in self.arms:
            raise ValueError(f"no arm {label!r}; arms: {self.arms}")
        result = FitResult.from_params(dict(self.params.loc[label]), law=self.base,
                                       source=f"arm {label!r} of fit_arms")
        spans = self.recipe.get("data_spans")
        if spans:  # the arm's own runs: predict(labelled=True) says how far beyond them a point lies
            result.recipe["data_span"] = spans[self.arms.index(label)]
        return result

    def _pair(self, baseline, other) -> tuple[int, int]:
        labels = list(self.arms)
        baseline = labels[0] if baseline is None else baseline
        other = (labels[1] if labels[0] == baseline else labels[0]) if other is None else other
        for a in (baseline, other):
            if a not in labels:
                raise ValueError(f"no arm {a!r}; arms: {labels}")
        if baseline == other:
            raise ValueError("compare two different arms (baseline= and other=)")
        return labels.index(baseline), labels.index(other)

    def _gap_and_multiplier(self, theta: np.ndarray, C: np.ndarray, a: int, b: int):
        per_arm = arm_parameters(self.fit.law, theta, len(self.arms), self.base)
        loss_a = optimal_loss(self.base, per_arm[:, a], C)
        loss_b = optimal_loss(self.base, per_arm[:, b], C)
        reach = inverse_optimal_loss(self.base, per_arm[:, a], loss_b, C)
        return loss_a, loss_b, reach / C[None, :]

    def compare(self, C, baseline=None, other=None, level: float = 0.95) -> pd.DataFrame:
        r"""Effective compute multiplier of ``other`` over ``baseline`` (default: the first two arms) at budgets ``C``.

        Columns: ``C``, ``loss_<arm>`` (compute-optimal loss of each arm), ``gap`` (:math:`L^*_{other} -
        L^*_{baseline}`), ``multiplier`` (module docs); with a bootstrap also ``loss_<arm>_low/high``, ``gap_low/high``,
        ``multiplier_low/high`` (percentile intervals of the same draws: a confidence interval of the mean
        curves, not of a new run) and ``p_better`` (:math:`P(L^*_{other} < L^*_{baseline})` over the draws,
        ties counted half).
        Budgets beyond the data's compute range are extrapolations (``attrs["note"]``).
        """
        level = check_level(level)
        C = np.atleast_1d(np.asarray(C, np.float64))
        if C.size == 0 or np.any(~np.isfinite(C) | (C <= 0)):
            raise ValueError(f"C must be finite budgets > 0 (FLOP), got {C}")
        a, b = self._pair(baseline, other)
        la, lb, mult = self._gap_and_multiplier(self.fit.theta[None], C, a, b)
        out = pd.DataFrame({"C": C, f"loss_{self.arms[a]}": la[0], f"loss_{self.arms[b]}": lb[0],
                            "gap": lb[0] - la[0], "multiplier": mult[0]})
        if self.draws is not None:
            ok = np.all(np.isfinite(self.draws), axis=1)
            da, db, dm = self._gap_and_multiplier(self.draws[ok], C, a, b)
            tail = (1.0 - level) / 2.0
            gap = db - da
            out["gap_low"], out["gap_high"] = np.quantile(gap, [tail, 1 - tail], axis=0)
            for k, draws_k in ((a, da), (b, db)):
                out[f"loss_{self.arms[k]}_low"], out[f"loss_{self.arms[k]}_high"] = \
                    np.quantile(draws_k, [tail, 1 - tail], axis=0)
            finite = np.where(np.isnan(dm), np.inf, dm)  # nan: beyond the inverse grid, counted as unreachable
            out["multiplier_low"], out["multiplier_high"] = np.quantile(finite, [tail, 1 - tail], axis=0)
            out["p_better"] = np.mean(gap < 0, axis=0) + 0.5 * np.mean(gap == 0, axis=0)  # ties count half
            out.attrs.update(level=level, n_draws=int(ok.sum()), n_failed=int((~ok).sum()),
                             interval="percentile bootstrap, runs resampled within each arm"
                             + (f", paired by {self.recipe.get('paired')!r}" if self.recipe.get("paired") else "")
                             + " (interval of the mean curves)")
        lo, hi = self.recipe.get("compute_range", (np.nan, np.nan))
        far = C[(C < lo) | (C > hi)]
        out.attrs["note"] = (f"extrapolation: C={', '.join(f'{c:.3g}' for c in far)} outside the runs' compute "
                             f"{lo:.3g}..{hi:.3g}") if far.size else ""
        if np.any(np.isinf(out["multiplier"])):
            out.attrs["note"] += ("; multiplier inf: the other arm's loss is below the baseline's irreducible loss "
                                  "there (no compute lets the baseline reach it)")
        return out

    def summary(self) -> str:
        lines = [f"jaxscale arms: law={self.base.name}, arms={self.arms}, shared={list(self.shared)}",
                 f"points={self.fit.n_points}  objective={self.fit.objective:.10g}  converged={self.fit.converged}",
                 "", self.params.to_string()]
        if self.draws is not None:
            lines += ["", f"bootstrap: {len(self.draws)} resamples ({self.recipe.get('resampling')})"]
        gone = [p for p, v in zip(self.fit.law.natural_names, vanishing_params(self.fit.law, self.fit.theta)[0]) if v]
        if gone:
            lines += ["", f"warning: {', '.join(gone)} ran to ~0: that term vanishes and is not identified by these "
                          "runs (share it across arms or fix it)"]
        return "\n".join(lines)

    __repr__ = summary


def fit_arms(data, arm: str = "arm", law: str | Law = "chinchilla", shared: Sequence[str] = ("E", "alpha", "beta"),
             *, arms: Sequence | None = None, n: str = "N", d: str = "D", y: str = "loss", c: str | None = None,
             starts=None, seed: int = 0, **fit_options: Any) -> ArmsResult:
    r"""Fit ``law`` to every arm at once with the parameters ``shared`` common to all arms (module docs).

    Parameters
    ----------
    data : DataFrame or dict of arrays
        One row per run, with an ``arm`` column.
    arm : str
        Column naming each run's arm.
    law : str or Law
        The law of each arm (``"chinchilla"``, ``"power_law"`` with ``x=``, ...).
    shared : sequence of str
        Natural parameters common to all arms (any subset; ``()`` fits every arm separately).
    arms : sequence, optional
        Arm labels in order (the first is the baseline of :meth:`ArmsResult.compare`); default sorted.
    n, d, y, c, starts, seed, fit_options : as in :func:`jaxscale.fit`
        (``fixed``/``tied`` name joint parameters, e.g. ``"A[0]"``.)

    Returns
    -------
    ArmsResult
    """
    base = get_law(law)
    frame, labels = _arm_frame(data, arm, arms)
    if c is not None:  # D = C / (6 N) as a column of the frame, so resamples read the same features
        frame = frame.assign(**{f"{c} / (6 {n})": frame[c].to_numpy(np.float64) / (6.0 * frame[n].to_numpy(np.float64))})
        d = f"{c} / (6 {n})"
    unknown = [p for p in shared if p not in base.natural_names]
    if unknown or isinstance(shared, str):
        raise ValueError(f"shared={shared!r}: law {base.name!r} has no parameters {unknown or [shared]}; give a list "
                         f"of its parameters {list(base.natural_names)}")
    joint = arms_law(base, len(labels), tuple(p for p in base.natural_names if p in shared))
    columns = dict(fit_options.pop("columns", None) or {}, arm=ARM_CODE)
    options = dict(fit_options)  # the former flat keywords, spelled with the option objects (no DeprecationWarning)
    search = options.pop("search", None) or Search(starts=starts, **{k: options.pop(k) for k in SEARCH_KEYWORDS
                                                                       if k in options and k != "starts"})
    runner = options.pop("runner", None) or Runner(**{k: options.pop(k) for k in RUNNER_KEYWORDS if k in options})
    spelled = Columns.from_keywords(n=n, d=d, y=y, x=options.pop("x", "x"), columns=columns)
    fitted = fit(frame, law=joint, columns=spelled, search=search, runner=runner, seed=seed, **options)
    recipe = {"arm": arm, "n": n, "d": d, "y": y, "c": c, "columns": fitted.recipe["columns"],
              "compute_range": _compute_range(frame, base, n, d, c, fit_options.get("x")),
              "data_spans": _arm_spans(frame, base, fitted.recipe["columns"], len(labels))}
    return ArmsResult(fitted, labels, base, tuple(p for p in base.natural_names if p in shared), None, recipe)


def _arm_spans(frame: pd.DataFrame, base: Law, columns: Mapping[str, str], n_arms: int) -> list[dict]:
    """Each arm's data span (:func:`jaxscale.api.reach.data_span` of its own runs), in arm order."""
    x = frame[[columns[name] for name in base.inputs]].to_numpy(np.float64)
    feats = np.where(np.asarray(base.input_scale) == "log", np.log(np.where(x > 0, x, 1.0)), x)
    codes = frame[ARM_CODE].to_numpy()
    return [data_span(base, feats[codes == k]) for k in range(n_arms)]


def _compute_range(frame, base: Law, n, d, c, x) -> tuple[float, float]:
    if c is not None:
        C = frame[c].to_numpy(np.float64)
    elif base.has_allocation:
        C = 6.0 * frame[n].to_numpy(np.float64) * frame[d].to_numpy(np.float64)
    elif x is not None and x in frame:
        C = frame[x].to_numpy(np.float64)
    else:
        return (np.nan, np.nan)
    return float(np.min(C)), float(np.max(C))


def _pair_keys(frame: pd.DataFrame, paired, n: str, d: str) -> np.ndarray:
    """The key matching runs across arms: a column, ``"size"`` (``n``) or ``"budget"`` (6ND, 0.1 decade)."""
    if isinstance(paired, str) and paired in frame:
        return frame[paired].to_numpy()
    if paired == "budget":
        return budget_labels(compute_of(frame, n, d))
    if paired == "size":
        return frame[n].to_numpy()
    raise ValueError(f"paired={paired!r}: not 'size', 'budget' or a column; columns: {list(map(str, frame.columns))}")


def resample_weights(frame: pd.DataFrame, seed: int, ids: np.ndarray, *, paired=None, run: str | None = None,
                     n: str = "N", d: str = "D") -> np.ndarray:
    """Row weights ``(len(ids), n_rows)`` of :func:`bootstrap_arms`' resamples ``ids``.

    Unpaired: each arm's runs (``run`` column, else every row is a run) drawn with replacement within
    the arm, one stream per arm. Paired: the keys of ``paired`` (a column, ``"size"`` for ``n`` or
    ``"budget"`` for compute ``6ND`` rounded to 0.1 decade) drawn with replacement, every row of a drawn key
    in, whatever its arm.
    """
    codes_arm = frame[ARM_CODE].to_numpy(np.int64)
    units = np.arange(len(frame)) if run is None else pd.factorize(frame[run])[0]
    if paired is not None:
        return cluster_counts(seed, ids, pd.factorize(_pair_keys(frame, paired, n, d))[0].astype(np.int64))
    total = np.zeros((len(ids), len(frame)))
    for k in np.unique(codes_arm):
        inside = codes_arm == k
        codes = np.full(len(frame), -1, np.int64)
        codes[inside] = pd.factorize(units[inside])[0]
        total += cluster_counts(seed, ids, codes, stream=int(k) + 1)
    return total


def bootstrap_arms(data, arm: str = "arm", law: str | Law = "chinchilla",
                   shared: Sequence[str] = ("E", "alpha", "beta"), n_resamples: int = 200, *,
                   arms: Sequence | None = None, paired=None, run: str | None = None, starts="best",
                   n_subgrid: int = 16, seed: int = 0, n: str = "N", d: str = "D", y: str = "loss",
                   c: str | None = None, chunk: int = 512, **fit_options: Any) -> ArmsResult:
    r""":func:`fit_arms` plus a joint bootstrap of all arms (module docs): draws for :meth:`ArmsResult.compare`.

    ``starts``: ``"best"`` (every resample from the full-data optimum with the warm-start solver: fast,
    measured by ``benchmarks/arms_coverage.py``) or ``"subgrid"`` (it plus ``n_subgrid - 1`` spread grid
    starts). ``paired``: match runs across arms by a column, ``"size"`` or ``"budget"`` and resample the
    matches; ``run``: a run-id column when a run has several rows (checkpoints). Resample ``r`` is drawn from
    ``fold_in(PRNGKey(seed), stream)`` and ``r`` only: chunking never changes it.
    """
    est = fit_arms(data, arm, law, shared, arms=arms, n=n, d=d, y=y, c=c, seed=seed, **fit_options)
    frame, _ = _arm_frame(data, arm, est.arms)
    if c is not None:
        frame = frame.assign(**{est.recipe["d"]: frame[c].to_numpy(np.float64) / (6.0 * frame[n].to_numpy(np.float64))})
    joint = est.fit.law
    x = np.column_stack([frame[est.recipe["columns"][v]].to_numpy(np.float64) for v in joint.inputs])
    log_x, log_y = joint.features(x), joint.target(frame[y].to_numpy(np.float64))
    if starts == "best":
        start_points, solver = est.fit.theta[None, :], WARM_SOLVER
    elif starts == "subgrid":
        start_points, solver = np.vstack([est.fit.theta[None, :], spread_grid(joint, n_subgrid - 1)]), None
    else:
        raise ValueError(f"starts={starts!r}: use 'best' or 'subgrid'")
    solver = resolve_solver(fit_options.get("solver")) if solver is None else solver
    loss_fn = get_loss(fit_options.get("loss", "huber"), fit_options.get("delta", 1e-3))
    if paired is not None:
        warn_few_clusters(int(pd.unique(_pair_keys(frame, paired, n, est.recipe["d"])).size),
                          f"bootstrap_arms(paired={paired!r}): matched keys")
    else:
        units = frame[run].to_numpy() if run is not None else np.arange(len(frame))
        warn_few_clusters(int(pd.Series(units).groupby(frame[ARM_CODE].to_numpy()).nunique().min()),
                          "bootstrap_arms: runs of the smallest arm")
    draws = np.empty((int(n_resamples), joint.n_params))
    for lo in range(0, int(n_resamples), chunk):
        ids = np.arange(lo, min(lo + chunk, int(n_resamples)))
        weights = resample_weights(frame, seed, ids, paired=paired, run=run, n=n, d=est.recipe["d"])
        best = best_of_starts(solver, joint, loss_fn, log_x, log_y, weights, start_points, polish_top=1)
        draws[ids] = np.where(np.isfinite(best.value)[:, None], best.theta, np.nan)
    est.draws = draws
    est.recipe.update(n_resamples=int(n_resamples), seed=int(seed), starts=starts, paired=paired, run=run,
                      resampling=("paired by " + str(paired)) if paired is not None else
                      "runs resampled within each arm")
    return est


def compare_sharing(data, arm: str = "arm", law: str | Law = "chinchilla",
                    candidates: Mapping[str, Sequence[str]] | None = None, *, holdout: int = 1,
                    n: str = "N", d: str = "D", y: str = "loss", **fit_options: Any) -> pd.DataFrame:
    r"""Shared versus separate parameters, judged on held-out compute budgets (no likelihood needed).

    Every candidate (``{label: shared parameters}``; default ``E, alpha, beta`` shared versus none shared)
    is fitted to the runs below the ``holdout`` largest compute budgets (budgets: :math:`6ND` rounded to
    0.1 decade) of the data, as 0/1 weight rows of the same data, and scored on the held-out runs by
    the error of :math:`\log L`: ``rmse``, ``mae``, ``bias`` (mean of :math:`\log\hat L - \log L`), with
    ``n_params`` and the training objective. Lower held-out error: better extrapolation in compute.
    """
    base = get_law(law)
    candidates = dict(candidates or {"shared E, alpha, beta": ("E", "alpha", "beta"), "separate": ()})
    frame, labels = _arm_frame(data, arm, None)
    budget = budget_labels(compute_of(frame, n, d))
    held = np.sort(np.unique(budget))[-int(holdout):]
    test = np.isin(budget, held)
    if test.all() or not test.any():
        raise ValueError(f"holdout={holdout} leaves no training or no held-out runs; the data have "
                         f"{np.unique(budget).size} budgets")
    rows = []
    for label, shared in candidates.items():
        res = fit_arms(frame.drop(columns=[ARM_CODE]), arm, base, shared, arms=labels, n=n, d=d, y=y,
                       weights=(~test).astype(np.float64), **fit_options)
        x = {v: frame[col].to_numpy(np.float64) for v, col in res.recipe["columns"].items()}
        pred = np.log(np.asarray(res.fit.predict(**x), np.float64)[test])
        err = pred - np.log(frame[y].to_numpy(np.float64)[test])
        rows.append({"candidate": label, "shared": ", ".join(shared) or "none", "n_params": res.fit.law.n_params,
                     "train_objective": res.fit.objective, "heldout_runs": int(test.sum()),
                     "rmse": float(np.sqrt(np.mean(err ** 2))), "mae": float(np.mean(np.abs(err))),
                     "bias": float(np.mean(err))})
    out = pd.DataFrame(rows).set_index("candidate")
    out.attrs["heldout_budgets"] = [float(b) for b in held]
    return out


def synthetic_arms(multiplier: float = 2.0, params: Mapping | None = None, budgets=None, sizes_per_budget: int = 8,
                   noise: float = 0.01, seed: int = 0) -> pd.DataFrame:
    r"""Two arms of isoFLOP runs where arm ``"B"`` is arm ``"A"`` with ``multiplier`` times the compute.

    Arm A: :func:`jaxscale.datasets.synthetic` (Chinchilla, Epoch's parameters by default). Arm B: the same
    law with :math:`A_B = A\,m^{-\alpha/2}`, :math:`B_B = B\,m^{-\beta/2}` (every run as if N and D were
    :math:`\sqrt m` times larger), so :math:`L^*_B(C) = L^*_A(mC)` exactly and the effective compute
    multiplier is :math:`m` at every budget. Both arms use the same (N, D) design (column ``config``
    matches them) with independent noise (seeds ``seed`` and ``seed + 1``).
    """
    from . import datasets

    p = dict(datasets.EPOCH_PARAMS if params is None else params)
    q = dict(p, A=p["A"] * multiplier ** (-p["alpha"] / 2.0), B=p["B"] * multiplier ** (-p["beta"] / 2.0))
    a = datasets.synthetic(p, budgets, sizes_per_budget, noise, seed)
    b = datasets.synthetic(q, budgets, sizes_per_budget, 0.0, seed)
    n_opt_a = datasets.synthetic(p, budgets, sizes_per_budget, 0.0, seed)[["N", "D"]]
    b[["N", "D", "C"]] = n_opt_a[["N", "D"]].assign(C=6.0 * n_opt_a["N"] * n_opt_a["D"]).to_numpy()
    from ..kernels.allocation import chinchilla_loss

    clean = chinchilla_loss(q["A"], q["B"], q["E"], q["alpha"], q["beta"], b["N"].to_numpy(), b["D"].to_numpy())
    rng = np.random.default_rng(seed + 1)
    b["loss"] = clean * np.exp(noise * rng.standard_normal(clean.shape)) if noise > 0 else clean
    a["arm"], b["arm"] = "A", "B"
    a["config"] = b["config"] = np.arange(len(a))
    return pd.concat([a, b], ignore_index=True)
