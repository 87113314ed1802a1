r"""Approaches 1 and 2 of Hoffmann et al. (2022) beside Approach 3: ``isoflop``, ``approach1``, ``compare_approaches``.

Approach 2 (:func:`isoflop`): runs are grouped into compute budgets; per budget the final loss is
fitted as a function of :math:`\ln N` and its minimum :math:`N_{opt}(C)` taken; then
:math:`N_{opt} = k_N C^a` and :math:`D_{opt} = C / (6 N_{opt}) = k_D C^b` (:math:`b = 1 - a`,
:math:`k_D = 1/(6 k_N)`) by least squares in :math:`\log_{10}`. Approach 1 (:func:`approach1`):
the lower envelope of training curves over :math:`C = 6ND`. Intervals come from a bootstrap whose
every resample runs as a lane of one jitted kernel (:mod:`jaxscale.kernels.isoflop`).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from functools import partial
from typing import Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from ..engine import float64
from ..engine.resampling import resample_counts, stratified_counts
from ..kernels import isoflop as kernels
from . import notes
from .migration import legacy_options
from .options import Columns, Runner, as_columns
from .search import Search
from .validation import as_frame, positive_column

METHODS = ("parabola", "profile")
#: Resamples per compiled call (fixed, so that a draw never depends on ``n_resamples``).
CHUNK = {"parabola": 256, "profile": 32, "envelope": 128}
LN10 = float(np.log(10.0))
#: A per-budget interval needs a usable minimum in at least this share of resamples (else NaN bounds and a note).
MIN_USABLE_SHARE = 0.5


# ---------------------------------------------------------------------- shared: power laws from draws
def _interval(draws: np.ndarray, level: float) -> tuple[float, float]:
    finite = draws[np.isfinite(draws)]
    if finite.size == 0:
        return float("nan"), float("nan")
    tail = (1.0 - level) / 2.0
    lo, hi = np.quantile(finite, [tail, 1.0 - tail])
    return float(lo), float(hi)


def _check_level(level: float) -> float:
    if not 0.0 < float(level) < 1.0:
        raise ValueError(f"level must be in (0, 1), e.g. 0.95; got {level}")
    return float(level)


@dataclass
class PowerLaw:
    r"""A fitted :math:`N_{opt} = k_N C^a` with its bootstrap draws (:math:`D_{opt} = C/(6N_{opt})`).

    Attributes
    ----------
    a, log10_k : float
        Full-data estimate of the exponent and of :math:`\log_{10} k_N`.
    a_draws, log10_k_draws : ndarray (R,)
        The same per resample (NaN where a resample left fewer than 2 usable points).
    level : float
        Default interval level.
    """

    a: float
    log10_k: float
    a_draws: np.ndarray
    log10_k_draws: np.ndarray
    level: float = 0.95

    def allocation(self, level: float | None = None) -> pd.DataFrame:
        """Exponents ``a`` (of :math:`N_{opt}`) and ``b = 1 - a`` (of :math:`D_{opt}`): estimate, lower, upper."""
        level = self.level if level is None else _check_level(level)
        lo, hi = _interval(self.a_draws, level)
        table = pd.DataFrame({"estimate": [self.a, 1.0 - self.a], "lower": [lo, 1.0 - hi], "upper": [hi, 1.0 - lo]},
                             index=pd.Index(["a", "b"], name="exponent"))
        table.attrs["level"] = level
        return table

    def coefficients(self, level: float | None = None) -> pd.DataFrame:
        r"""Prefactors :math:`k_N` and :math:`k_D = 1/(6 k_N)` (natural units: parameters, tokens)."""
        level = self.level if level is None else _check_level(level)
        lo, hi = _interval(self.log10_k_draws, level)
        k = 10.0 ** np.array([self.log10_k, lo, hi])
        return pd.DataFrame({"estimate": [k[0], 1 / (6 * k[0])], "lower": [k[1], 1 / (6 * k[2])],
                             "upper": [k[2], 1 / (6 * k[1])]}, index=pd.Index(["k_N", "k_D"], name="coefficient"))

    def optimal(self, C, level: float | None = None) -> pd.DataFrame:
        """``N_opt`` and ``D_opt = C/(6 N_opt)`` at budgets ``C`` (FLOP) with percentile intervals."""
        level = self.level if level is None else _check_level(level)
        c = np.atleast_1d(np.asarray(C, dtype=np.float64))
        if np.any(~np.isfinite(c) | (c <= 0)):
            raise ValueError(f"compute C must be finite and > 0 FLOP, got {C}")
        log_c = np.log10(c)
        estimate = 10.0 ** (self.log10_k + self.a * log_c)
        draws = 10.0 ** (self.log10_k_draws[:, None] + self.a_draws[:, None] * log_c[None, :])
        bounds = np.array([_interval(draws[:, j], level) for j in range(c.size)]).reshape(c.size, 2)
        return pd.DataFrame({"C": c, "N_opt": estimate, "N_opt_lower": bounds[:, 0], "N_opt_upper": bounds[:, 1],
                             "D_opt": c / (6 * estimate), "D_opt_lower": c / (6 * bounds[:, 1]),
                             "D_opt_upper": c / (6 * bounds[:, 0])})

    def describe(self, level: float | None = None) -> list[str]:
        table, coef = self.allocation(level), self.coefficients(level)
        pct = f"{table.attrs['level']:.0%}"
        return [f"N_opt = k_N C^a:          a = {table.loc['a', 'estimate']:.4f}  {pct} [{table.loc['a', 'lower']:.4f}, "
                f"{table.loc['a', 'upper']:.4f}]   k_N = {coef.loc['k_N', 'estimate']:.4g}",
                f"D_opt = C/(6 N_opt) ∝ C^b: b = {table.loc['b', 'estimate']:.4f}  {pct} [{table.loc['b', 'lower']:.4f}, "
                f"{table.loc['b', 'upper']:.4f}]   k_D = {coef.loc['k_D', 'estimate']:.4g}"]

    @property
    def draws(self) -> pd.DataFrame:
        return pd.DataFrame({"a": self.a_draws, "b": 1.0 - self.a_draws, "k_N": 10.0 ** self.log10_k_draws,
                             "k_D": 1.0 / (6.0 * 10.0 ** self.log10_k_draws)})


class _PowerLawTables:
    """Tables shared by the results of Approaches 1 and 2 (both hold a :class:`PowerLaw` as ``power_law``)."""

    power_law: PowerLaw

    @property
    def allocation(self) -> pd.DataFrame:
        """Index ``a``, ``b``; columns ``estimate``, ``lower``, ``upper`` at the result's level."""
        return self.power_law.allocation()

    @property
    def coefficients(self) -> pd.DataFrame:
        """Index ``k_N``, ``k_D``; columns ``estimate``, ``lower``, ``upper``."""
        return self.power_law.coefficients()

    @property
    def draws(self) -> pd.DataFrame:
        """One row per resample: ``a``, ``b``, ``k_N``, ``k_D``."""
        return self.power_law.draws

    @property
    def n_resamples(self) -> int:
        return int(self.power_law.a_draws.size)

    def optimal(self, C, level: float | None = None) -> pd.DataFrame:
        """``N_opt = k_N C^a`` and ``D_opt = C/(6 N_opt)`` at budgets ``C`` with intervals."""
        return self.power_law.optimal(C, level)


def _plain(label):
    """A numpy scalar label as the Python value (so that messages read ``3``, not ``np.int64(3)``)."""
    return label.item() if isinstance(label, np.generic) else label


def _n_resamples(n_resamples) -> int:
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, (int, np.integer)) or n_resamples < 1:
        raise ValueError(f"n_resamples must be an integer >= 1, got {n_resamples!r}")
    return int(n_resamples)


def _compute(frame: pd.DataFrame, n: str, d: str, c: str | None) -> tuple[np.ndarray, np.ndarray]:
    """``(N, C)``: ``C`` from column ``c`` or ``6 N D``."""
    N = positive_column(frame, n, "model size N", "n")
    if c is not None:
        return N, positive_column(frame, c, "compute C (FLOP)", "c")
    return N, 6.0 * N * positive_column(frame, d, "tokens D (or give a compute column with c=...)", "d")


def _chunked(run_chunk, ids: np.ndarray, size: int) -> list:
    """Run ``run_chunk(ids)`` on fixed-size chunks of resample ids (the last padded by repeating ids)."""
    outputs = []
    for lo in range(0, ids.size, size):
        part = ids[lo:lo + size]
        padded = np.concatenate([part, np.full(size - part.size, part[-1], part.dtype)])
        outputs.append([np.asarray(o)[:part.size] for o in run_chunk(padded)])
    return [np.concatenate(col) for col in zip(*outputs)]


# ---------------------------------------------------------------------- Approach 2: budgets
def column_names(columns) -> tuple[str, str, str, str | None]:
    """``(n, d, y, c)``: the columns of model size, tokens, loss and compute (or None) of a :class:`Columns`."""
    columns = as_columns(columns)
    return columns.column("N"), columns.column("D"), columns.y, columns.compute


def group_budgets(log10_c: np.ndarray, tol: float) -> np.ndarray:
    r"""Budget label of every run: runs whose :math:`\log_{10} C` lie within a window ``tol`` wide.

    Greedy, densest first: the window :math:`[\ell, \ell + \mathrm{tol}]` holding the most ungrouped
    runs becomes a budget (ties: the lowest :math:`\ell`), until every run has one. Labels
    ``0..G-1`` are numbered by increasing compute.
    """
    order = np.argsort(log10_c, kind="stable")
    sorted_c = log10_c[order]
    label = np.full(log10_c.size, -1)
    left = np.ones(log10_c.size, bool)
    groups = []
    while left.any():
        idx = np.flatnonzero(left)
        x = sorted_c[idx]
        count = np.searchsorted(x, x + tol * (1 + 1e-12), side="right") - np.arange(x.size)
        start = int(np.argmax(count))
        members = idx[start:start + count[start]]
        groups.append(order[members])
        left[members] = False
    for number, members in enumerate(sorted(groups, key=lambda m: np.mean(log10_c[m]))):
        label[members] = number
    return label


def _labels(frame: pd.DataFrame, budget, log10_c: np.ndarray, tol: float) -> np.ndarray:
    """Budget label of every row (NaN: near no given nominal budget)."""
    if budget is None or not isinstance(budget, str):
        if not (np.isfinite(tol) and tol > 0):
            raise ValueError(f"budget_tol must be a finite number > 0 (dex of compute), got {tol!r}")
    if budget is None:
        return group_budgets(log10_c, float(tol))
    if not isinstance(budget, str):
        nominal = np.atleast_1d(np.asarray(budget, dtype=np.float64))
        if nominal.ndim != 1 or nominal.size < 2 or np.any(~np.isfinite(nominal) | (nominal <= 0)):
            raise ValueError(f"budget as nominal compute values needs at least 2 finite FLOP values > 0, got {budget!r}")
        distance = np.abs(log10_c[:, None] - np.log10(nominal)[None, :])
        nearest = np.argmin(distance, axis=1)
        within = distance[np.arange(log10_c.size), nearest] <= tol
        return np.where(within, nominal[nearest], np.nan)
    if budget not in frame.columns:
        raise ValueError(f"budget column {budget!r} not found; available columns: {list(map(str, frame.columns))}. "
                         "Name the column that labels each run's compute budget with budget=..., or leave budget=None "
                         "to group runs by compute")
    values = frame[budget]
    missing = np.flatnonzero(values.isna().to_numpy())
    if missing.size:
        raise ValueError(f"budget column {budget!r} row {int(missing[0])} is missing ({missing.size} such row(s)); "
                         "give every run a budget or drop those rows explicitly")
    return values.to_numpy()


@dataclass
class Budget:
    label: object
    rows: np.ndarray
    log10_c: float
    n_sizes: int

    def name(self, data_index: pd.Index) -> str:
        rows = list(data_index[self.rows][:6]) + (["..."] if self.rows.size > 6 else [])
        return (f"budget {self.label!r} (C ≈ {10 ** self.log10_c:.3g} FLOP, {self.rows.size} run(s) at rows {rows}, "
                f"{self.n_sizes} distinct model size(s))")


def _budgets(labels: np.ndarray, log10_c: np.ndarray, N: np.ndarray) -> list[Budget]:
    out = []
    for label in map(_plain, pd.unique(labels[~pd.isna(labels)])):
        rows = np.flatnonzero(labels == label)
        out.append(Budget(label, rows, float(np.mean(log10_c[rows])), int(np.unique(N[rows]).size)))
    return sorted(out, key=lambda b: b.log10_c)


@partial(jax.jit, static_argnames=("method", "robust", "n_iter", "require_bracket"))
def _minima_kernel(x, y, centre, log10_c, use, counts, exponents, method, robust, n_iter, require_bracket):
    """Per resample (row of ``counts``) and budget: minimum, curvature, bracketed; per resample: the power law
    (over the budgets in ``use`` whose minimum that resample brackets, when ``require_bracket``)."""
    one_budget = partial(kernels.budget_minimum, method=method, robust=robust, n_iter=n_iter, exponents=exponents)
    per_budget = jax.vmap(lambda xx, yy, ww: one_budget(xx, yy, ww))
    x_star, l_star, curvature = jax.vmap(lambda w: per_budget(x, y, w))(counts)
    bracket = jax.vmap(lambda w: jax.vmap(kernels.bracketed)(x, y, w))(counts)
    log10_n = (x_star + centre[None, :]) / LN10
    use_r = use[None, :] & (bracket | (not require_bracket))
    slope, intercept = jax.vmap(lambda ln, u: kernels.power_law_fit(log10_c, ln, u))(log10_n, use_r)
    return log10_n, l_star, curvature, slope, intercept, bracket


@dataclass
class IsoflopResult(_PowerLawTables):
    """Outcome of :func:`isoflop` (Hoffmann et al. 2022, Approach 2).

    Attributes
    ----------
    minima : DataFrame
        One row per budget used (index ``budget``): ``C`` (geometric mean of its runs' compute),
        ``N_opt`` (the fitted minimum), ``lower``/``upper`` (percentile interval over resamples),
        ``D_opt = C/(6 N_opt)``, ``loss_opt``, ``n_runs``, ``n_sizes``, ``N_min``/``N_max`` (sampled
        range), ``outside_range`` (the minimum lies outside it: vertex extrapolation),
        ``bracketed`` (the lowest observed loss lies strictly between the smallest and largest size:
        the data show a minimum), ``outside_share``, ``no_minimum_share`` and
        ``unbracketed_share`` (shares of resamples whose minimum lies outside, that have none, or
        whose drawn runs do not bracket it), ``usable_share`` (resamples entering the interval;
        below one half the bounds are NaN), ``used`` (entered the power law).
    allocation : DataFrame
        Index ``a``, ``b``; columns ``estimate``, ``lower``, ``upper`` at ``level``.
    power_law : PowerLaw
        Estimate and draws of :math:`N_{opt} = k_N C^a`; ``optimal(C)`` extrapolates it.
    excluded : DataFrame
        Budgets left out (too few distinct model sizes) and why.
    assignment : Series
        The budget of every input row (same index as the data).
    vertex_draws : ndarray (R, G)
        :math:`N_{opt}` of every resample and budget of ``minima`` (NaN: no minimum, or, with
        ``exclude_unbracketed``, no bracketed minimum in that resample).
    recipe : dict
    """

    minima: pd.DataFrame
    power_law: PowerLaw
    excluded: pd.DataFrame
    assignment: pd.Series
    vertex_draws: np.ndarray
    recipe: dict = field(default_factory=dict)

    def summary(self) -> str:
        r = self.recipe
        fit = f"{r['method']} in ln N ({'Huber IRLS, MAD scale' if r['robust'] else 'least squares'})"
        if isinstance(r["budget"], str):
            grouping = f"by column {r['budget']!r}"
        elif r["budget"] is not None:
            grouping = f"to the nearest of {len(r['budget'])} nominal budgets within {r['budget_tol']:g} dex"
        else:
            grouping = f"automatically (runs whose log10 C lie within {r['budget_tol']:g} dex)"
        lines = [f"jaxscale isoFLOP profiles (Hoffmann et al. 2022, Approach 2): {fit}",
                 f"{len(self.minima)} budgets from {int(self.minima['n_runs'].sum())} runs, grouped {grouping}; "
                 f"{self.n_resamples} resamples within budgets, seed {r['seed']}", ""]
        table = self.minima[["C", "N_opt", "lower", "upper", "n_runs", "N_min", "N_max", "outside_range", "bracketed",
                             "used"]]
        lines += [table.to_string(float_format=lambda v: f"{v:.4g}"), ""]
        lines += self.power_law.describe()
        said = self.notes()
        if said:
            lines += ["", "notes:"] + [f"  {i}. {n}" for i, n in enumerate(said, 1)]
        return "\n".join(lines)

    def notes(self) -> list[str]:
        """Every caveat of this result in words: unbracketed budgets, extrapolated vertices, resamples
        without a minimum, intervals not reported, an allocation interval outside [0, 1], excluded budgets."""
        r, said = self.recipe, []
        for label, row in self.minima.iterrows():
            if not row["bracketed"]:
                said.append(f"budget {label!r}: no bracketed minimum (lowest loss at the smallest or largest size "
                            f"in [{row['N_min']:.3g}, {row['N_max']:.3g}]); N_opt is an invented vertex"
                            + ("" if row["used"] else ", not used in the power law"))
            if row["outside_range"]:
                said.append(f"budget {label!r}: fitted minimum outside the sampled N range [{row['N_min']:.3g}, "
                            f"{row['N_max']:.3g}] (vertex extrapolation, Czech et al.)")
            lost = 1.0 - row["usable_share"]
            if lost > 0:
                kind = "bracketed minimum" if r.get("exclude_unbracketed", True) else "minimum"
                said.append(f"budget {label!r}: {lost:.1%} of resamples have no {kind} (left out of their power law)"
                            + ("; " + notes.minority_interval(row["usable_share"], MIN_USABLE_SHARE)
                               if row["usable_share"] < MIN_USABLE_SHARE else ""))
        bad = (~self.minima["bracketed"]) | (self.minima["usable_share"] < MIN_USABLE_SHARE)
        if (bad.sum() + len(self.excluded)) * 2 >= len(self.minima) + len(self.excluded):
            said.append(notes.NOT_ISOFLOP)
        alloc = self.allocation
        absurd = notes.allocation_interval(alloc.loc["a", "estimate"], alloc.loc["a", "lower"],
                                           alloc.loc["a", "upper"], self.power_law.level)
        if absurd:
            said.append(absurd)
        if len(self.excluded):
            said.append(f"{len(self.excluded)} budget(s) excluded (< {r['min_sizes']} distinct model sizes): "
                        + ", ".join(f"{b!r}" for b in self.excluded.index))
        return said

    def __repr__(self) -> str:
        table = self.allocation
        a = table.loc["a"]
        return (f"IsoflopResult({self.recipe['method']}, {len(self.minima)} budgets, {self.n_resamples} resamples: "
                f"a = {a['estimate']:.3f} [{a['lower']:.3f}, {a['upper']:.3f}], "
                f"b = {table.loc['b', 'estimate']:.3f})")


@legacy_options()
def isoflop(data, *, budget: str | Sequence[float] | None = None, budget_tol: float = 0.1,
            columns: Columns | Mapping[str, str] | None = None, method: str = "parabola", robust: bool = True,
            n_resamples: int = 1000, seed: int = 0, level: float = 0.95, min_sizes: int = 3,
            exclude_outside: bool = False, exclude_unbracketed: bool = True, n_iter: int = 50) -> IsoflopResult:
    r"""Approach 2 of Hoffmann et al. (2022): isoFLOP profiles, their minima and the allocation power laws.

    1. Runs are grouped into compute budgets on :math:`C = 6ND` (or the column ``c``):
       automatically, the densest window of ``budget_tol`` dex in :math:`\log_{10} C` first (see
       :func:`group_budgets`); or by the column named ``budget``; or, when ``budget`` is a list of
       nominal FLOP values, each run joins the nearest one within ``budget_tol`` dex (runs near none
       are left out with a warning and ``assignment`` NaN).
    2. Per budget the loss is fitted against :math:`x = \ln N - \overline{\ln N}`:
       ``method="parabola"`` :math:`L = c_0 + c_1 x + c_2 x^2` with minimum :math:`x^* = -c_1/(2c_2)`, or
       ``method="profile"``, the Chinchilla law along the isoFLOP line,
       :math:`L = E + A N^{-\alpha} + B' N^{\beta}` (:math:`B' N^\beta = B (C/6N)^{-\beta}`), exponents
       from a grid of 0.1..0.9, minimum :math:`N^* = (\alpha A / (\beta B'))^{1/(\alpha+\beta)}`.
       ``robust=True`` minimises :math:`\sum_i w_i H_\delta(r_i)` (Huber, :math:`\delta = 1.345 \cdot
       1.4826\,\mathrm{MAD}(r)`, IRLS); ``robust=False`` plain least squares.
    3. :math:`\log_{10} N_{opt} = \log_{10} k_N + a \log_{10} C` by least squares over budgets, and
       :math:`D_{opt} = C/(6 N_{opt}) = k_D C^{b}` with :math:`b = 1 - a`.

    Intervals: ``n_resamples`` bootstrap resamples, each drawing every budget's runs with
    replacement within that budget (count weights from ``fold_in(PRNGKey(seed), r)``, then the
    budget and the draw; a draw never depends on ``n_resamples``); all resamples and budgets are
    lanes of one jitted kernel; percentile intervals at ``level``.

    Parameters
    ----------
    data : DataFrame or dict of arrays
        One row per run: model size, tokens (or compute) and final loss.
    budget : str or sequence of float, optional
        Column labelling each run's budget, or nominal budgets in FLOP (e.g.
        ``js.datasets.HOFFMANN_BUDGETS``). ``None``: automatic grouping.
    budget_tol : float
        Automatic grouping: width in dex of :math:`\log_{10} C` of a budget (default 0.1, a factor
        1.26). Nominal budgets: the largest distance in dex between a run and its budget.
    columns : Columns or dict, optional
        Columns of model size (``N``), tokens (``D``), loss (``y``) and optionally compute (``compute``;
        without it :math:`C = 6ND`), as in :func:`jaxscale.fit`. Approach 2 fits parabolas, not a law from
        many starts, so it takes no ``search``/``runner``.
    method : {"parabola", "profile"}
    robust : bool
    n_resamples, seed, level : bootstrap size, seed, interval level.
    min_sizes : int
        Budgets with fewer distinct model sizes are excluded with a warning that names them
        (at least 3: a parabola needs 3 points).
    exclude_outside : bool
        Leave budgets whose full-data minimum lies outside their sampled N range out of the power law.
    exclude_unbracketed : bool
        Leave budgets without a bracketed minimum out of the power law (default): a budget whose lowest
        observed loss sits at its smallest or largest model size shows no minimum, so a fitted vertex
        there is invented. Applied per budget (full data, with a warning naming the budgets) and per
        resample (a resample whose drawn runs of a budget do not bracket its minimum leaves that budget
        out of its own power law and out of the budget's interval). Fewer than 2 budgets left: an error.
        A budget's interval needs a usable minimum in at least half of the resamples; otherwise its
        bounds are NaN, with a note.
    n_iter : int
        IRLS iterations.

    Returns
    -------
    IsoflopResult
    """
    if method not in METHODS:
        raise ValueError(f"method={method!r}: choose one of {METHODS}")
    n_resamples = _n_resamples(n_resamples)
    level = _check_level(level)
    if int(min_sizes) < 3:
        raise ValueError(f"min_sizes must be >= 3 (a parabola needs 3 model sizes), got {min_sizes}")
    frame = as_frame(data)
    n, d, y, c = column_names(columns)
    N, C = _compute(frame, n, d, c)
    loss = positive_column(frame, y, "loss", "y")
    log10_c = np.log10(C)
    labels = _labels(frame, budget, log10_c, budget_tol)
    unassigned = np.flatnonzero(pd.isna(labels))
    if unassigned.size:
        warnings.warn(f"isoflop: {unassigned.size} of {labels.size} runs lie farther than {budget_tol:g} dex of compute "
                      f"from every given budget and are not used (rows {list(frame.index[unassigned][:8])}"
                      f"{' ...' if unassigned.size > 8 else ''}); see result.assignment", stacklevel=2)
    budgets = _budgets(labels, log10_c, N)
    kept = [b for b in budgets if b.n_sizes >= min_sizes]
    dropped = [b for b in budgets if b.n_sizes < min_sizes]
    if len(kept) < 2:
        described = "; ".join(b.name(frame.index) for b in budgets[:8]) + (" ..." if len(budgets) > 8 else "")
        raise ValueError(f"need at least 2 budgets with >= {min_sizes} distinct model sizes, found {len(kept)} of "
                         f"{len(budgets)}: {described}. Add runs, widen budget_tol or check the budget column")
    if dropped:
        warnings.warn(f"isoflop: excluded {len(dropped)} budget(s) with fewer than {min_sizes} distinct model sizes: "
                      + "; ".join(b.name(frame.index) for b in dropped), stacklevel=2)

    G, M = len(kept), max(b.rows.size for b in kept)
    x = np.zeros((G, M))
    y_pad = np.zeros((G, M))
    mask = np.zeros((G, M))
    centre = np.zeros(G)
    for g, b in enumerate(kept):
        ln_n = np.log(N[b.rows])
        centre[g] = ln_n.mean()
        x[g, :b.rows.size] = ln_n - centre[g]
        y_pad[g, :b.rows.size] = loss[b.rows]
        mask[g, :b.rows.size] = 1.0
    budget_c = np.array([b.log10_c for b in kept])
    sizes = np.array([b.rows.size for b in kept])
    n_min = np.array([N[b.rows].min() for b in kept])
    n_max = np.array([N[b.rows].max() for b in kept])

    def run(counts, use):
        with float64():
            return _minima_kernel(jnp.asarray(x), jnp.asarray(y_pad), jnp.asarray(centre), jnp.asarray(budget_c),
                                  jnp.asarray(use), jnp.asarray(counts, jnp.float64),
                                  jnp.asarray(kernels.PROFILE_EXPONENTS), method, bool(robust), int(n_iter),
                                  bool(exclude_unbracketed))

    full = np.broadcast_to(mask, (CHUNK[method], G, M))  # the full-data fit, in the shape the draws compile to
    log10_n, l_star, _, slope, intercept, bracket = (np.asarray(o)[0] for o in run(full, np.ones(G, bool)))
    outside = ~((log10_n >= np.log10(n_min) - 1e-12) & (log10_n <= np.log10(n_max) + 1e-12)) & np.isfinite(log10_n)
    use = ~outside if exclude_outside else np.ones(G, bool)
    if exclude_unbracketed:
        use = use & bracket
    if not use.all():
        slope, intercept = (float(np.asarray(v)[0]) for v in run(full, use)[3:5])
    used = use & np.isfinite(log10_n)
    names = [f"budget {b.label!r} (C ≈ {10 ** b.log10_c:.3g} FLOP, N {lo:.3g}..{hi:.3g})"
             for b, lo, hi in zip(kept, n_min, n_max)]
    if used.sum() < 2:
        raise ValueError(notes.too_few_bracketed(int(used.sum()), names, bracket, outside, exclude_outside,
                                                 exclude_unbracketed))
    if exclude_unbracketed and not bracket.all():
        warnings.warn(notes.unbracketed_budgets([n for n, ok in zip(names, bracket) if not ok], G), stacklevel=2)

    def draw_chunk(ids):
        counts = stratified_counts(seed, ids, sizes, M)
        out = run(counts, use)
        return out[0], out[3], out[4], out[5]

    draws_n, draws_a, draws_k, draws_bracket = _chunked(draw_chunk, np.arange(n_resamples), CHUNK[method])
    power = PowerLaw(float(slope), float(intercept), draws_a, draws_k, level)

    finite = np.isfinite(draws_n)
    usable = finite & (draws_bracket | (not exclude_unbracketed))
    draws_n = np.where(usable, draws_n, np.nan)
    usable_share = usable.mean(axis=0)
    bounds = np.array([_interval(draws_n[:, g], level) if usable_share[g] >= MIN_USABLE_SHARE else (np.nan, np.nan)
                       for g in range(G)])
    vertex_draws = 10.0 ** draws_n
    out_draws = usable & ((vertex_draws < n_min[None, :] * (1 - 1e-12)) | (vertex_draws > n_max[None, :] * (1 + 1e-12)))
    budget_index = pd.Index([b.label for b in kept], name="budget")
    minima = pd.DataFrame({"C": 10.0 ** budget_c, "N_opt": 10.0 ** log10_n, "lower": 10.0 ** bounds[:, 0],
                           "upper": 10.0 ** bounds[:, 1]}, index=budget_index)
    minima["D_opt"] = minima["C"] / (6.0 * minima["N_opt"])
    minima["loss_opt"] = l_star
    minima["n_runs"] = sizes
    minima["n_sizes"] = [b.n_sizes for b in kept]
    minima["N_min"], minima["N_max"] = n_min, n_max
    minima["outside_range"] = outside
    minima["bracketed"] = bracket
    minima["outside_share"] = out_draws.mean(axis=0)
    minima["no_minimum_share"] = (~finite).mean(axis=0)
    minima["unbracketed_share"] = (~draws_bracket).mean(axis=0)
    minima["usable_share"] = usable_share
    minima["used"] = used
    excluded = pd.DataFrame({"C": [10.0 ** b.log10_c for b in dropped], "n_runs": [b.rows.size for b in dropped],
                             "n_sizes": [b.n_sizes for b in dropped],
                             "reason": [f"fewer than {min_sizes} distinct model sizes"] * len(dropped)},
                            index=pd.Index([b.label for b in dropped], name="budget"))
    assignment = pd.Series(labels, index=frame.index, name="budget")
    recipe = {"approach": 2, "method": method, "robust": bool(robust), "n_iter": int(n_iter),
              "budget": budget if budget is None or isinstance(budget, str) else np.ravel(budget).astype(float).tolist(),
              "budget_tol": None if isinstance(budget, str) else float(budget_tol), "n": n, "d": d, "y": y, "c": c,
              "compute": c if c is not None else "6 N D", "min_sizes": int(min_sizes),
              "exclude_outside": bool(exclude_outside), "exclude_unbracketed": bool(exclude_unbracketed),
              "n_resamples": n_resamples, "seed": int(seed),
              "level": level, "resampling": "within budgets, fold_in(fold_in(fold_in(PRNGKey(seed), r), budget), draw)",
              "profile_exponents": list(kernels.PROFILE_EXPONENTS) if method == "profile" else None}
    return IsoflopResult(minima, power, excluded, assignment, vertex_draws, recipe)


# ---------------------------------------------------------------------- Approach 1: training-curve envelope
@jax.jit
def _envelope_kernel(log_c_grid, run_log_c, run_loss, run_log_n, present):
    loss, inside = kernels.interpolate_curves(log_c_grid, run_log_c, run_loss)

    def one(p):
        best, best_loss, censored, n_cover = kernels.envelope(loss, inside, run_log_n, p)
        log10_n = run_log_n[best] / LN10
        slope, intercept = kernels.power_law_fit(log_c_grid / LN10, log10_n, ~censored)
        return best, best_loss, censored, n_cover, slope, intercept

    return jax.vmap(one)(present)


@dataclass
class EnvelopeResult(_PowerLawTables):
    """Outcome of :func:`approach1` (Hoffmann et al. 2022, Approach 1).

    Attributes
    ----------
    envelope : DataFrame
        One row per grid point: ``C``, ``loss`` (the lower envelope), ``run`` and ``N_opt`` (the run
        attaining it), ``n_covering`` (runs whose curve reaches that compute), ``censored`` (the
        attaining run is the smallest or largest model among those: not used in the power law).
    allocation : DataFrame
        Index ``a``, ``b``; columns ``estimate``, ``lower``, ``upper``.
    power_law : PowerLaw
    recipe : dict
    """

    envelope: pd.DataFrame
    power_law: PowerLaw
    recipe: dict = field(default_factory=dict)

    def summary(self) -> str:
        env = self.envelope
        kept = env[~env["censored"]]
        lines = [f"jaxscale training-curve envelope (Hoffmann et al. 2022, Approach 1): {self.recipe['n_runs']} runs, "
                 f"{len(env)} grid points of C, {len(kept)} uncensored "
                 f"(C {kept['C'].min():.3g} .. {kept['C'].max():.3g}); {self.n_resamples} resamples of runs, "
                 f"seed {self.recipe['seed']}", ""]
        lines += self.power_law.describe()
        lines += ["", f"envelope attained by {kept['run'].nunique()} distinct runs "
                      f"(N {kept['N_opt'].min():.3g} .. {kept['N_opt'].max():.3g})"]
        alloc = self.allocation
        absurd = notes.allocation_interval(alloc.loc["a", "estimate"], alloc.loc["a", "lower"],
                                           alloc.loc["a", "upper"], self.power_law.level)
        if absurd:
            lines += ["", "notes:", f"  1. {absurd}"]
        return "\n".join(lines)

    def __repr__(self) -> str:
        a = self.allocation.loc["a"]
        return (f"EnvelopeResult({self.recipe['n_runs']} runs, {self.n_resamples} resamples: "
                f"a = {a['estimate']:.3f} [{a['lower']:.3f}, {a['upper']:.3f}])")


@legacy_options()
def approach1(curves, *, run: str = "run", columns: Columns | Mapping[str, str] | None = None, n_grid: int = 64, c_range: tuple[float, float] | None = None, n_resamples: int = 1000, seed: int = 0,
              level: float = 0.95) -> EnvelopeResult:
    r"""Approach 1 of Hoffmann et al. (2022): the lower envelope of training curves.

    ``curves`` is long-format: one row per evaluation of a training run, with the run's id (column
    ``run``), its model size ``N`` (constant within a run), the tokens seen so far ``D`` (or the
    compute so far in column ``c``) and the loss. Each run needs at least 2 points of distinct compute.

    Each run's loss is interpolated linearly in :math:`\log C` (:math:`C = 6ND`) on ``n_grid``
    log-spaced budgets spanning all curves (or ``c_range``); outside its own compute range a run
    does not count. At each budget the run with the lowest loss gives :math:`N_{opt}(C)`. Budgets
    where that run is the smallest or largest model among the covering runs are censored (the
    optimum may lie beyond the sizes trained) and left out; the rest give
    :math:`\log_{10} N_{opt} = \log_{10} k_N + a \log_{10} C` by least squares, :math:`b = 1 - a`.

    Intervals: ``n_resamples`` case resamples of runs (a run drawn at least once takes part;
    ``fold_in(PRNGKey(seed), r)``), all resamples one batched, jitted kernel. They show how much
    the answer depends on which runs were trained; noise along one curve is not resampled.

    Parameters
    ----------
    curves : DataFrame or dict of arrays
        Training curves in long format (see above), e.g. :func:`jaxscale.datasets.training_curves`.
    run : str
        Column of the run id.
    columns : Columns or dict, optional
        Columns of model size, tokens so far, loss and (optionally) compute so far, as in :func:`isoflop`.
    n_grid : int
        Number of log-spaced compute values at which the envelope is taken.
    c_range : (float, float), optional
        Compute range of the grid (FLOP); default: from the earliest to the latest evaluation.
    n_resamples, seed, level : bootstrap size, seed and interval level.

    Returns
    -------
    EnvelopeResult
    """
    n_resamples = _n_resamples(n_resamples)
    level = _check_level(level)
    frame = as_frame(curves)
    if run not in frame.columns:
        raise ValueError(f"run column {run!r} not found; available columns: {list(map(str, frame.columns))}. "
                         "Approach 1 needs training curves: one row per evaluation with a run id (run=...)")
    n, d, y, c = column_names(columns)
    N, C = _compute(frame, n, d, c)
    loss = positive_column(frame, y, "loss", "y")
    ids = frame[run].to_numpy()
    if pd.isna(ids).any():
        raise ValueError(f"run column {run!r} row {int(np.flatnonzero(pd.isna(ids))[0])} is missing; "
                         "every evaluation needs its run id")
    runs = [_plain(r) for r in pd.unique(ids)]
    members = [np.flatnonzero(ids == r) for r in runs]
    for label, rows in zip(runs, members):
        if np.unique(N[rows]).size > 1:
            raise ValueError(f"run {label!r} has {np.unique(N[rows]).size} different model sizes in column {n!r}; "
                             "a training curve has one model size (give each model its own run id)")
        if np.unique(C[rows]).size < 2:
            raise ValueError(f"run {label!r} has {np.unique(C[rows]).size} distinct compute value(s); a training "
                             "curve needs at least 2 evaluations (use isoflop() for final losses only)")
    run_n = np.array([N[rows[0]] for rows in members])
    if np.unique(run_n).size < 3:
        raise ValueError(f"only {np.unique(run_n).size} distinct model size(s) among {len(runs)} runs; the envelope "
                         "needs at least 3 to place an optimum between them")
    P = max(rows.size for rows in members)
    run_log_c = np.zeros((len(runs), P))
    run_loss = np.zeros((len(runs), P))
    for i, rows in enumerate(members):
        order = rows[np.argsort(C[rows], kind="stable")]
        lc, lv = np.log(C[order]), loss[order]
        run_log_c[i] = np.concatenate([lc, np.full(P - lc.size, lc[-1])])
        run_loss[i] = np.concatenate([lv, np.full(P - lv.size, lv[-1])])
    if c_range is None:
        lo, hi = run_log_c[:, 0].min(), run_log_c[:, -1].max()
    else:
        bounds = np.asarray(c_range, dtype=np.float64)
        if bounds.shape != (2,) or not np.all(np.isfinite(bounds) & (bounds > 0)) or bounds[0] >= bounds[1]:
            raise ValueError(f"c_range must be (low, high) FLOP with 0 < low < high, got {c_range!r}")
        lo, hi = np.log(bounds)
    if int(n_grid) < 3:
        raise ValueError(f"n_grid must be >= 3, got {n_grid}")
    grid = np.linspace(lo, hi, int(n_grid))
    args = tuple(jnp.asarray(a) for a in (grid, run_log_c, run_loss, np.log(run_n)))

    def chunk(present):
        with float64():
            return _envelope_kernel(*args, jnp.asarray(present))

    everyone = np.ones((CHUNK["envelope"], len(runs)), bool)  # the full data, in the shape the draws compile to
    best, best_loss, censored, n_cover, slope, intercept = (np.asarray(o)[0] for o in chunk(everyone))
    if (~censored).sum() < 2:
        raise ValueError(f"the envelope is censored at {int(censored.sum())} of {grid.size} grid points (the lowest "
                         "curve is the smallest or largest model there); train sizes around the optimum or set c_range")

    def draw_chunk(ids_chunk):
        present = resample_counts(seed, ids_chunk, len(runs)) > 0
        out = chunk(present)
        return out[4], out[5]

    draws_a, draws_k = _chunked(draw_chunk, np.arange(n_resamples), CHUNK["envelope"])
    table = pd.DataFrame({"C": np.exp(grid), "loss": best_loss, "run": [runs[i] for i in best], "N_opt": run_n[best],
                          "n_covering": n_cover, "censored": censored})
    recipe = {"approach": 1, "run": run, "n": n, "d": d, "y": y, "c": c, "n_runs": len(runs), "n_grid": int(n_grid),
              "c_range": [float(np.exp(lo)), float(np.exp(hi))], "n_resamples": n_resamples, "seed": int(seed),
              "level": level, "resampling": "runs, fold_in(PRNGKey(seed), r)"}
    return EnvelopeResult(table, PowerLaw(float(slope), float(intercept), draws_a, draws_k, level), recipe)


# ---------------------------------------------------------------------- side by side
def compare_approaches(data, C: float, *, curves=None, n_resamples: int = 200, seed: int = 0, level: float = 0.95,
                       run: str = "run", isoflop_options: dict | None = None, bootstrap_options: dict | None = None,
                       columns: Columns | Mapping[str, str] | None = None, search: Search | None = None,
                       runner: Runner | None = None) -> pd.DataFrame:
    r"""Allocation exponents and the compute-optimal model at budget ``C`` from every available approach.

    - Approach 2: :func:`isoflop` on ``data`` (options in ``isoflop_options``).
    - Approach 3: :func:`jaxscale.bootstrap` on ``data`` with ``search=js.search.warm()`` (each resample refitted
      from the full-data optimum; options in ``bootstrap_options``): ``a_opt``, ``b_opt`` of its
      ``summary()`` and ``compute_optimal(C)``.
    - Approach 1: :func:`approach1` on ``curves`` (training curves with a ``run`` column), only if given.

    ``columns`` is used by every approach; ``search`` (default ``js.search.warm()``) and ``runner`` by
    Approach 3's bootstrap.

    Returns one row per approach (index ``approach``) with ``a``, ``b``, ``N_opt``, ``D_opt``, each
    with ``_lower``/``_upper`` at ``level``, and the ``method``.
    """
    from .bootstrap import bootstrap

    level = _check_level(level)
    rows = {}

    def power_row(result, method):
        alloc, opt = result.power_law.allocation(level), result.optimal(C, level).iloc[0]
        return {"method": method, "a": alloc.loc["a", "estimate"], "a_lower": alloc.loc["a", "lower"],
                "a_upper": alloc.loc["a", "upper"], "b": alloc.loc["b", "estimate"], "b_lower": alloc.loc["b", "lower"],
                "b_upper": alloc.loc["b", "upper"], "N_opt": opt["N_opt"], "N_opt_lower": opt["N_opt_lower"],
                "N_opt_upper": opt["N_opt_upper"], "D_opt": opt["D_opt"], "D_opt_lower": opt["D_opt_lower"],
                "D_opt_upper": opt["D_opt_upper"]}

    if curves is not None:
        rows["Approach 1"] = power_row(approach1(curves, run=run, n_resamples=n_resamples, seed=seed, level=level,
                                                 columns=columns), "training-curve envelope")
    iso = isoflop(data, n_resamples=n_resamples, seed=seed, level=level, columns=columns, **(isoflop_options or {}))
    rows["Approach 2"] = power_row(iso, f"isoFLOP {iso.recipe['method']}")
    boot = bootstrap(data, n_resamples=n_resamples, seed=seed, columns=columns,
                     search=search if search is not None else Search(starts="best"), runner=runner,
                     **(bootstrap_options or {}))
    summary = boot.summary(level=level)
    opt = boot.compute_optimal(C, level=level).iloc[0]
    rows["Approach 3"] = {"method": f"parametric fit ({boot.law.name}, Huber)",
                          "a": summary.loc["a_opt", "estimate"], "a_lower": summary.loc["a_opt", "ci_low"],
                          "a_upper": summary.loc["a_opt", "ci_high"], "b": summary.loc["b_opt", "estimate"],
                          "b_lower": summary.loc["b_opt", "ci_low"], "b_upper": summary.loc["b_opt", "ci_high"],
                          "N_opt": opt["N_opt"], "N_opt_lower": opt["N_opt_low"], "N_opt_upper": opt["N_opt_high"],
                          "D_opt": opt["D_opt"], "D_opt_lower": opt["D_opt_low"], "D_opt_upper": opt["D_opt_high"]}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "approach"
    table.attrs.update(C=float(C), level=level, n_resamples=int(n_resamples), seed=int(seed))
    return table
