r"""Figures of a scaling-law fit and its bootstrap (matplotlib; ``pip install "jaxscale[plot]"``).

Every function draws into the Axes or Figure it is given (or a new one), returns it, and
never calls ``show()``, switches the backend or touches ``rcParams``: save it, show it or
restyle it yourself.

==================  ===========================================================  ==============
kind (``KINDS``)    what it draws                                                needs
==================  ===========================================================  ==============
``isoflop``         loss vs N per isoFLOP budget, fitted curves, optimum marks   fit, data
``contours``        iso-loss contours over (N, D), compute-optimal frontier      fit (+ bootstrap band)
``pairs``           pair plot of bootstrap draws with CIs and the estimate       bootstrap
``tokens``          tokens per parameter D/N at the optimum vs compute C         fit or bootstrap
``residuals``       log residuals vs N and vs D with the Huber delta band        fit, data
``landscape``       basins of the multi-start fit, how many starts reach each    fit
==================  ===========================================================  ==============

The Chinchilla law :math:`L(N, D) = E + A N^{-\alpha} + B D^{-\beta}` with :math:`C = 6ND`
has the compute-optimal allocation of :mod:`jaxscale.kernels.allocation`,
:math:`N_{opt} = G (C/6)^{a}`, :math:`D_{opt} = G^{-1} (C/6)^{b}`.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

try:
    import matplotlib.pyplot as plt
    from matplotlib.axes import Axes
    from matplotlib.collections import PathCollection
    from matplotlib.colors import ListedColormap, LogNorm
    from matplotlib.figure import Figure
    from matplotlib.legend import Legend
    from matplotlib.lines import Line2D
    from matplotlib.ticker import (FixedLocator, FuncFormatter, LogLocator, MaxNLocator, NullFormatter,
                                   NullLocator)
except ImportError as err:  # pragma: no cover - exercised only without matplotlib
    raise ImportError('jaxscale.plot needs matplotlib: pip install "jaxscale[plot]"') from err

from .api.results.bootstrap import BootstrapResult
from .api.results.fit import FitResult
from .engine.multistart import BASIN_TOL
from .engine.multistart import basins as engine_basins

__all__ = ["isoflop", "contours", "pairs", "tokens_per_parameter", "residuals", "landscape", "KINDS",
           "NEEDS_BOOTSTRAP", "NEEDS_DATA", "extrapolation", "metric_artefact", "arms", "curves", "place_legend",
           "ticks_over", "shown_range", "split_label", "SPLIT_LABELS"]

CHINCHILLA_PARAMS = ("A", "B", "E", "alpha", "beta")
#: viridis without its palest yellow, which is hard to see on white.
BUDGET_CMAP = ListedColormap(plt.get_cmap("viridis")(np.linspace(0.0, 0.88, 256)), name="jaxscale_budgets")
ESTIMATE_COLOR = "tab:red"
LABELS = {"A": "$A$", "B": "$B$", "E": "$E$ (nats/token)", "alpha": r"$\alpha$", "beta": r"$\beta$",
          "a_opt": r"$a$  ($N_{opt} \propto C^{a}$)", "b_opt": r"$b$  ($D_{opt} \propto C^{b}$)",
          "G": "$G$ (allocation constant)"}

SYMBOLS = {"A": "$A$", "B": "$B$", "E": "$E$", "alpha": r"$\alpha$", "beta": r"$\beta$", "a_opt": "$a$",
           "b_opt": "$b$", "G": "$G$"}


# ---------------------------------------------------------------------- shared helpers
class _Model:
    """The law of a result, asked through its hooks (prediction, allocation): no parameter names."""

    def __init__(self, result: Any):
        if isinstance(result, FitResult):
            law, theta = result.law, result.theta
        elif isinstance(result, BootstrapResult):
            law, theta = result.law, result.estimate
        elif isinstance(result, Mapping):  # a mapping is read as Chinchilla's natural parameters
            fitted = FitResult.from_params(result, "chinchilla")
            law, theta = fitted.law, fitted.theta
        else:
            raise TypeError(f"expected a FitResult, a BootstrapResult or a mapping of Chinchilla parameters, "
                            f"got {type(result)}")
        if set(law.inputs) != {"N", "D"} or not law.has_allocation:
            raise ValueError(f"this plot draws L(N, D) along C = 6ND; law {law.name!r} has inputs "
                             f"{list(law.inputs)}")
        self.law, self.theta = law, np.asarray(theta, np.float64)

    def loss(self, N, D) -> np.ndarray:
        """Predicted loss at ``(N, D)`` (broadcast), from the law itself."""
        N, D = np.broadcast_arrays(np.asarray(N, np.float64), np.asarray(D, np.float64))
        cols = {"N": N.ravel(), "D": D.ravel()}
        x = np.stack([cols[name] for name in self.law.inputs], axis=1)
        return self.law.base.predict(self.law.expand(self.theta), x).reshape(N.shape)

    def optimum(self, C) -> tuple[np.ndarray, np.ndarray]:
        """``(N_opt, D_opt)`` for compute ``C`` (FLOP), from the law's allocation hook."""
        n_opt, d_opt = self.law.compute_optimal(self.theta, np.asarray(C, np.float64))
        return np.asarray(n_opt), np.asarray(d_opt)


def _new_axes(ax: Axes | None, figsize: tuple[float, float]) -> Axes:
    if ax is not None:
        return ax
    fig = plt.figure(figsize=figsize, layout="constrained")
    return fig.add_subplot()


def _sci_text(value: float, digits: int = 2) -> str:
    r"""``6e18 -> "$6{\times}10^{18}$"`` (mathtext), ``1e19 -> "$10^{19}$"``."""
    exponent = int(np.floor(np.log10(value)))
    mantissa = float(f"{value / 10.0 ** exponent:.{digits}g}")
    if mantissa >= 10:
        mantissa, exponent = mantissa / 10, exponent + 1
    if mantissa == 1:
        return f"$10^{{{exponent}}}$"
    return f"${mantissa:g}{{\\times}}10^{{{exponent}}}$"


def flop_label(value: float) -> str:
    """Budget label such as ``6×10^18 FLOP`` (mathtext)."""
    return f"{_sci_text(value)} FLOP"


def _columns(result: Any) -> tuple[str, str, str]:
    """Data columns ``(N, D, loss)`` the result was fitted on (its recipe), defaults ``N, D, loss``."""
    recipe = getattr(result, "recipe", {}) or {}
    cols = recipe.get("columns") or {}
    return cols.get("N", "N"), cols.get("D", "D"), recipe.get("y", "loss")


def _data_arrays(result: Any, data) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``N, D, loss, C`` of ``data`` (``C`` from its column, else ``6 N D``)."""
    frame = data if isinstance(data, pd.DataFrame) else pd.DataFrame(data)
    n_col, d_col, y_col = _columns(result)
    missing = [c for c in (n_col, d_col, y_col) if c not in frame.columns]
    if missing:
        raise ValueError(f"data lacks columns {missing}; it has {list(frame.columns)}")
    N, D, y = (frame[c].to_numpy(np.float64) for c in (n_col, d_col, y_col))
    C = frame["C"].to_numpy(np.float64) if "C" in frame.columns else 6.0 * N * D
    return N, D, y, C


def default_budgets(C: np.ndarray, max_distinct: int = 12) -> np.ndarray:
    """The isoFLOP budgets of the data.

    When the data hold at most ``max_distinct`` distinct budgets (to 2 significant digits),
    those; otherwise (budgets read off a figure, continuous compute) those of the values
    :math:`\\{1, 3\\} \\times 10^k` FLOP with at least three runs within a factor
    :math:`\\sqrt 3` of them.
    """
    C = np.asarray(C, np.float64)
    C = C[np.isfinite(C) & (C > 0)]
    if C.size == 0:
        raise ValueError("no finite, positive compute values to choose isoFLOP budgets from")
    rounded = np.unique(np.array([float(f"{c:.2g}") for c in C]))
    if rounded.size <= max_distinct:
        return rounded
    lo, hi = C.min(), C.max()
    candidates = np.array([m * 10.0 ** k for k in range(int(np.floor(np.log10(lo))), int(np.ceil(np.log10(hi))) + 1)
                           for m in (1.0, 3.0)])
    near = np.abs(np.log(C)[None, :] - np.log(candidates)[:, None]) < 0.5 * np.log(3.0)
    chosen = candidates[near.sum(axis=1) >= 3]
    return chosen if chosen.size else np.array([float(f"{np.median(C):.1g}")])


def _is_bootstrap(result: Any) -> bool:
    return isinstance(result, BootstrapResult)


# ---------------------------------------------------------------------- figure hygiene: ranges, colour bars, legends
#: Tukey's "far out" fence: a pairs-plot axis may leave out draws more than this many interquartile ranges beyond
#: the quartiles (on the axis' own scale) ...
FENCE_IQR = 3.0
#: ... but only when they would squash the other draws into less than 1/SQUASH of the axis.
SQUASH = 4.0


def shown_range(values, estimate: float | None = None, fence: float = FENCE_IQR,
                squash: float = SQUASH) -> tuple[bool, float, float]:
    r"""The axis a quantity's bootstrap draws are shown on: ``(log, low, high)``.

    The quartiles :math:`q_1, q_3` of the draws give the fences
    :math:`[q_1 - k\,(q_3 - q_1),\ q_3 + k\,(q_3 - q_1)]` (:math:`k` = ``fence``, 3: Tukey's "far
    out" values). Quartiles do not move when a few draws vanish (:math:`E \to 0` in some
    resamples, or a term's coefficient running off to :math:`10^{30}`), unlike the extreme
    percentiles of a few dozen draws.

    - Scale: logarithmic when every draw is positive and the draws inside the fences taken on the
      log scale span more than a factor 10 (``A``, ``B``, ``G``); else linear. A few vanishing
      draws therefore never make a log axis: :math:`E` with three draws at :math:`10^{-30}` is
      drawn on a linear axis, where they sit at 0.
    - Range: every draw, unless the draws beyond the fences (on the chosen scale) would squash
      the others into less than ``1/squash`` of the axis; then the draws inside the fences only
      (and the ``estimate``). The caller counts and marks the draws beyond: :func:`pairs` draws
      them at the axis edge and says how many, below or above which value.
    """
    v = np.asarray(values, np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return False, np.nan, np.nan

    def fenced(z):
        q1, q3 = np.quantile(z, [0.25, 0.75])
        spread = q3 - q1
        if spread <= 0:  # more than half the draws equal: the 1st-99th percentile span instead
            q1, q3 = np.quantile(z, [0.01, 0.99])
            spread = q3 - q1
        return (z >= q1 - fence * spread) & (z <= q3 + fence * spread)

    log = False
    if v.min() > 0:
        kept = v[fenced(np.log10(v))]
        log = bool(kept.size and kept.max() / kept.min() > 10)
    z = np.log10(v) if log else v
    keep = fenced(z)
    if not keep.any() or (z[keep].max() - z[keep].min()) * squash >= z.max() - z.min():
        keep = np.ones_like(keep)  # nothing far enough out to squash the rest: show every draw
    low, high = float(v[keep].min()), float(v[keep].max())
    if estimate is not None and np.isfinite(estimate) and (estimate > 0 or not log):
        low, high = min(low, float(estimate)), max(high, float(estimate))
    return log, low, high


def _padded(low: float, high: float, log: bool, pad: float = 0.05) -> tuple[float, float]:
    """Axis limits a fraction ``pad`` of the span beyond ``(low, high)`` (in log space on a log axis)."""
    if log:
        a, b = np.log10(low), np.log10(high)
        w = (b - a) or 0.1
        return 10.0 ** (a - pad * w), 10.0 ** (b + pad * w)
    w = (high - low) or (abs(high) * 0.1 or 1.0)
    return low - pad * w, high + pad * w


def _spread(ticks, low: float, high: float, log: bool, min_ticks: int = 3) -> np.ndarray | None:
    """``ticks`` inside ``[low, high]`` when at least ``min_ticks`` of them lie there with the first in the lowest
    and the last in the top third of the range (on its log or linear scale); else None."""
    ticks = np.sort(np.asarray(ticks, np.float64))
    tol = 1e-9
    ticks = ticks[(ticks >= low - tol * abs(low)) & (ticks <= high + tol * abs(high))]
    if len(ticks) < min_ticks:
        return None
    f = np.log10 if log else (lambda t: t)
    span = f(high) - f(low)
    if f(ticks[0]) - f(low) > span / 3 or f(high) - f(ticks[-1]) > span / 3:
        return None
    return ticks


def ticks_over(low: float, high: float, log: bool = True, min_ticks: int = 3) -> np.ndarray:
    """At least ``min_ticks`` round tick values spread over ``[low, high]`` (the first in the lowest and the last
    in the top third of the range, on its own scale).

    Log scale: :class:`~matplotlib.ticker.LogLocator` at the powers of ten, then at 1, 3 x 10^k, then 1, 2, 5 x
    10^k, then every integer multiple; a range too narrow for any of these (under a factor ~2) gets linear round
    values (:class:`~matplotlib.ticker.MaxNLocator`), as does a linear scale.
    """
    low, high = float(min(low, high)), float(max(low, high))
    if log and low > 0:
        for subs in ((1.0,), (1.0, 3.0), (1.0, 2.0, 5.0), tuple(float(k) for k in range(1, 10))):
            found = _spread(LogLocator(base=10.0, subs=subs, numticks=12).tick_values(low, high), low, high, True,
                            min_ticks)
            if found is not None:
                return found
    for nbins in (4, 6, 9):
        found = _spread(MaxNLocator(nbins=nbins, min_n_ticks=min_ticks).tick_values(low, high), low, high,
                        bool(log and low > 0), min_ticks)
        if found is not None:
            return found
    return np.linspace(low, high, min_ticks)


def _tick_labels(values: np.ndarray) -> FuncFormatter:
    """Mathtext labels (``3×10^19``) with the fewest significant digits (up to 4) that write every tick exactly
    and tell them apart."""
    values = np.asarray(values, np.float64)
    for digits in range(1, 5):
        exact = all(np.isclose(float(f"{v:.{digits}g}"), v, rtol=1e-9, atol=0) for v in values)
        if exact and len({_sci_text(v, digits) for v in values}) == len(values):
            break
    return FuncFormatter(lambda v, _: _sci_text(v, digits) if v > 0 else f"{v:.{digits}g}")


def _tick_colorbar(cbar, ticks: Sequence[float] | None = None) -> np.ndarray:
    """Put ``ticks`` (default :func:`ticks_over` the colour bar's range) on a colour bar, labelled; returns them."""
    norm = cbar.norm
    log = isinstance(norm, LogNorm)
    if not (np.isfinite(norm.vmin) and np.isfinite(norm.vmax) and norm.vmax > norm.vmin):
        return np.empty(0)
    if ticks is None:
        ticks = ticks_over(norm.vmin, norm.vmax, log=log)
    ticks = np.asarray(ticks, np.float64)
    axis = cbar.ax.yaxis if cbar.orientation == "vertical" else cbar.ax.xaxis
    axis.set_major_locator(FixedLocator(ticks))
    axis.set_major_formatter(_tick_labels(ticks) if log else FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_locator(NullLocator())
    return ticks


def _display_points(ax: Axes) -> tuple[np.ndarray, np.ndarray]:
    """``(points, line_samples)`` in display coordinates inside ``ax``: the scatter points and line markers, and
    samples along the drawn lines (9 per segment)."""
    points, samples = [np.empty((0, 2))], [np.empty((0, 2))]
    for coll in ax.collections:
        if isinstance(coll, PathCollection) and coll.get_visible() and len(coll.get_offsets()):
            points.append(coll.get_offset_transform().transform(np.asarray(coll.get_offsets(), np.float64)))
    t = np.linspace(0.0, 1.0, 9)[:, None, None]
    for line in ax.get_lines():
        xy = np.asarray(line.get_xydata(), np.float64)
        if not line.get_visible() or not len(xy):
            continue
        disp = line.get_transform().transform(xy)
        if line.get_marker() not in (None, "None", "none", "", " "):
            points.append(disp)
        if line.get_linestyle() not in ("None", "none", "", " ") and len(disp) > 1:
            samples.append((disp[:-1][None] * (1 - t) + disp[1:][None] * t).reshape(-1, 2))
    box = ax.get_window_extent()

    def within(p):
        p = p[np.all(np.isfinite(p), axis=1)]
        return p[(p[:, 0] >= box.x0) & (p[:, 0] <= box.x1) & (p[:, 1] >= box.y0) & (p[:, 1] <= box.y1)]

    return within(np.vstack(points)), within(np.vstack(samples))


_LEGEND_LOCS = ("upper left", "upper right", "lower left", "lower right", "upper center", "lower center",
                "center left", "center right")


def place_legend(ax: Axes, handles: Sequence[Any] | None = None, *, prefer: str = "upper left",
                 **kwargs: Any) -> Legend:
    """A legend on ``ax`` that covers no data point, measured after laying the figure out.

    The figure is laid out once (:meth:`~matplotlib.figure.Figure.draw_without_rendering`); then each corner
    and edge of the axes, ``prefer`` first, is tried and the legend's box compared with every scatter point and
    line marker in display coordinates. The first location covering no point (and, among those, the fewest
    samples along drawn lines) wins; when every location covers a point the legend goes beside the axes
    (right, top-aligned), where a constrained layout makes room for it. ``loc="best"`` is not enough: it
    minimises the overlap but still covers points when the axes are full of them.

    Call it after everything else is drawn on the axes and after any colour bar. ``kwargs`` go to
    :meth:`~matplotlib.axes.Axes.legend`. Returns the legend.
    """
    fig = ax.figure
    fig.draw_without_rendering()
    renderer = fig.canvas.get_renderer() if hasattr(fig.canvas, "get_renderer") else fig._get_renderer()
    points, samples = _display_points(ax)
    args = {"handles": handles} if handles is not None else {}
    best = None
    for loc in [prefer] + [loc for loc in _LEGEND_LOCS if loc != prefer]:
        box = ax.legend(**args, loc=loc, **kwargs).get_window_extent(renderer).padded(2.0)
        cover = tuple(int(np.sum((p[:, 0] >= box.x0) & (p[:, 0] <= box.x1) & (p[:, 1] >= box.y0)
                                 & (p[:, 1] <= box.y1))) for p in (points, samples))
        if best is None or cover < best[0]:
            best = (cover, loc)
        if cover == (0, 0):
            break
    if best[0][0] == 0:
        return ax.legend(**args, loc=best[1], **kwargs)
    return ax.legend(**args, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, **kwargs)


# ---------------------------------------------------------------------- isoFLOP curves
def isoflop(fit: FitResult | BootstrapResult, data, *, ax: Axes | None = None,
            budgets: Sequence[float] | None = None) -> Axes:
    r"""Loss vs model size per isoFLOP budget: the data, the fitted law's curves and their optima.

    For each budget :math:`C` the curve is the fitted law along :math:`6ND = C`,

    .. math:: L_C(N) = E + A N^{-\alpha} + B \left(\frac{C}{6N}\right)^{-\beta},

    drawn over the model sizes of the runs nearest that budget (a factor 10 either side of
    the optimum when none is near), and its minimum :math:`(N_{opt}(C), L(N_{opt}, D_{opt}))`
    is marked with a star; a dashed line joins the optima. The runs are coloured by their own
    compute on the same logarithmic colour scale as the curves (colour bar with a line at each
    budget, ticked at the budgets when they cover it, else over its whole range). The legend goes
    where it covers no run (:func:`place_legend`).

    Parameters
    ----------
    fit : FitResult or BootstrapResult
        A Chinchilla-law fit (a bootstrap's point estimate is used).
    data : DataFrame
        The runs: columns ``N``, ``D``, ``loss`` (or those the fit was made with) and ``C``
        (FLOP; ``6 N D`` when absent).
    ax : Axes, optional
        Drawn into; a new figure when omitted.
    budgets : sequence of float, optional
        Budgets (FLOP) to draw curves for; default :func:`default_budgets` of the data.

    Returns
    -------
    Axes
        Artists: one curve per budget (``gid="isoflop-curve"``), one scatter of the runs
        (``gid="isoflop-data"``), one scatter of the optima (``gid="isoflop-optima"``) and the
        frontier line (``gid="isoflop-frontier"``).
    """
    model = _Model(fit)
    N, D, y, C = _data_arrays(fit, data)
    budgets = np.sort(np.asarray(default_budgets(C) if budgets is None else budgets, np.float64))
    if budgets.size == 0 or np.any(~np.isfinite(budgets) | (budgets <= 0)):
        raise ValueError(f"budgets must be finite and > 0 FLOP, got {budgets}")
    ax = _new_axes(ax, (8.0, 5.2))
    norm = LogNorm(vmin=min(C.min(), budgets.min()), vmax=max(C.max(), budgets.max()))

    points = ax.scatter(N, y, c=C, cmap=BUDGET_CMAP, norm=norm, s=16, alpha=0.75, edgecolors="none", zorder=2,
                        gid="isoflop-data")
    nearest = np.argmin(np.abs(np.log(C)[:, None] - np.log(budgets)[None, :]), axis=1)
    n_opt, d_opt = model.optimum(budgets)
    loss_opt = model.loss(n_opt, d_opt)
    for j, budget in enumerate(budgets):
        near = N[(nearest == j) & (np.abs(np.log(C / budget)) < np.log(3.0))]
        lo, hi = (near.min() / 1.5, near.max() * 1.5) if near.size >= 2 else (n_opt[j] / 10, n_opt[j] * 10)
        lo, hi = min(lo, n_opt[j] / 1.5), max(hi, n_opt[j] * 1.5)
        n_line = np.geomspace(lo, hi, 200)
        ax.plot(n_line, model.loss(n_line, budget / (6.0 * n_line)), color=BUDGET_CMAP(norm(budget)),
                lw=1.6, zorder=3, gid="isoflop-curve", label=flop_label(budget))
    ax.plot(n_opt, loss_opt, ls="--", color="0.25", lw=1.0, zorder=4, gid="isoflop-frontier")
    ax.scatter(n_opt, loss_opt, marker="*", s=140, c=budgets, cmap=BUDGET_CMAP, norm=norm, edgecolors="black",
               linewidths=0.7, zorder=5, gid="isoflop-optima")

    ax.set_xscale("log")
    ax.set_xlabel("parameters N")
    ax.set_ylabel("loss (nats/token)")
    low, high = np.quantile(y, [0.0, 1.0])
    pad = 0.06 * (high - low)
    ax.set_ylim(min(low, loss_opt.min()) - pad, high + pad)
    ax.grid(True, which="major", alpha=0.3)
    ax.set_title("IsoFLOP profiles: data and fitted law")

    cbar = ax.figure.colorbar(points, ax=ax, pad=0.02)
    cbar.set_label("compute C (FLOP)")
    # ticks at the budgets when they cover the bar, else round values over it (the budgets keep their lines)
    _tick_colorbar(cbar, _spread(budgets, norm.vmin, norm.vmax, True))
    for budget in budgets:
        cbar.ax.axhline(budget, color="black", lw=0.6)
    handles = [Line2D([], [], ls="none", marker="o", color="0.4", alpha=0.75, markersize=5, label="training runs"),
               Line2D([], [], color="0.4", lw=1.6, label="fitted law along C = 6ND"),
               Line2D([], [], ls="--", marker="*", markersize=11, color="0.25", markerfacecolor="0.7",
                      markeredgecolor="black", label="compute-optimal $N_{opt}(C)$")]
    place_legend(ax, handles, prefer="lower left", framealpha=0.9)
    return ax


# ---------------------------------------------------------------------- iso-loss contours
def _frontier_band(boot: BootstrapResult, C: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Two edges of the frontier's ``level`` band: ``(N_low, D_high)`` and ``(N_high, D_low)`` per budget.

    Along :math:`6ND = C` each draw's optimum lies on the same line, so the interval of
    :math:`N_{opt}` maps to that of :math:`D_{opt} = C / (6 N_{opt})` end for end.
    """
    table = boot.compute_optimal(C, level=level)
    edge_small_n = np.c_[table["N_opt_low"], table["D_opt_high"]]
    edge_large_n = np.c_[table["N_opt_high"], table["D_opt_low"]]
    return edge_small_n, edge_large_n


def _crossings(model: "_Model", n_path: np.ndarray, d_path: np.ndarray, levels: np.ndarray,
               window: tuple[tuple[float, float], tuple[float, float]]) -> list[tuple[float, float]]:
    """Points where the law's loss along a path ``(n_path, d_path)`` (loss decreasing) equals each level."""
    (n_lo, n_hi), (d_lo, d_hi) = window
    keep = (n_path > n_lo) & (n_path < n_hi) & (d_path > d_lo) & (d_path < d_hi)
    n_path, d_path = n_path[keep], d_path[keep]
    if n_path.size < 2:
        return []
    loss = model.loss(n_path, d_path)
    order = np.argsort(loss)
    spots = []
    for value in levels:
        if loss.min() < value < loss.max():
            log_n = np.interp(value, loss[order], np.log(n_path[order]))
            log_d = np.interp(value, loss[order], np.log(d_path[order]))
            spots.append((float(np.exp(log_n)), float(np.exp(log_d))))
    return spots


def contours(fit: FitResult | BootstrapResult, boot: BootstrapResult | None = None, *, ax: Axes | None = None,
             level: float = 0.95, n_range: tuple[float, float] | None = None,
             d_range: tuple[float, float] | None = None, loss_levels: Sequence[float] | None = None,
             compute_lines: bool | Sequence[float] = True) -> Axes:
    r"""Iso-loss contours of the fitted law over (N, D), with the compute-optimal frontier.

    Draws labelled contours of :math:`L(N, D) = E + A N^{-\alpha} + B D^{-\beta}` on log-log
    axes, the frontier :math:`(N_{opt}(C), D_{opt}(C))` for all budgets crossing the window
    (where each line of constant :math:`C = 6ND` touches its lowest contour), optionally grey
    labelled lines of constant compute, and with a bootstrap the frontier's ``level`` band:
    per budget, the percentile interval of :math:`N_{opt}` along its line of constant
    :math:`C`.

    Parameters
    ----------
    fit : FitResult or BootstrapResult
        The law (a bootstrap's point estimate; a bootstrap given here also supplies the band
        when ``boot`` is omitted).
    boot : BootstrapResult, optional
        Draws for the frontier band.
    ax : Axes, optional
    level : float
        Two-sided level of the band (percentile interval over the draws).
    n_range, d_range : (float, float), optional
        Window in parameters and tokens; default :math:`10^7..10^{12}` parameters and
        :math:`10^8..10^{14}` tokens.
    loss_levels : sequence of float, optional
        Contour values (nats/token); default about ten levels spaced geometrically in
        :math:`L - E` over the window, rounded to two decimals.
    compute_lines : bool or sequence of float
        ``True``: lines of constant compute at every second power of ten FLOP in the window;
        a sequence: at those budgets; ``False``: none.

    Returns
    -------
    Axes
        Artists: the loss contour set (``gid="contours-loss"``), the frontier line
        (``gid="contours-frontier"``), the band polygon (``gid="contours-band"``, only with a
        bootstrap) and the compute contour set (``gid="contours-compute"``).
    """
    model = _Model(fit)
    if boot is None and _is_bootstrap(fit):
        boot = fit
    if boot is not None and not _is_bootstrap(boot):
        raise TypeError(f"boot must be a BootstrapResult, got {type(boot)}")
    n_lo, n_hi = n_range if n_range is not None else (1e7, 1e12)
    d_lo, d_hi = d_range if d_range is not None else (1e8, 1e14)
    if not (0 < n_lo < n_hi and 0 < d_lo < d_hi):
        raise ValueError(f"n_range and d_range must be increasing positive pairs, got {(n_lo, n_hi)}, {(d_lo, d_hi)}")
    ax = _new_axes(ax, (8.5, 6.0))
    # Scales and limits first: contour labels are placed (and rotated) in screen coordinates.
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(n_lo, n_hi)
    ax.set_ylim(d_lo, d_hi)

    n_grid = np.geomspace(n_lo, n_hi, 300)
    d_grid = np.geomspace(d_lo, d_hi, 300)
    NN, DD = np.meshgrid(n_grid, d_grid)
    L = model.loss(NN, DD)
    C_line = np.geomspace(6.0 * n_lo * d_lo, 6.0 * n_hi * d_hi, 400)
    n_opt, d_opt = model.optimum(C_line)
    inside = (n_opt >= n_lo) & (n_opt <= n_hi) & (d_opt >= d_lo) & (d_opt <= d_hi)
    if loss_levels is None:
        # Levels the frontier crosses inside the window, evenly spaced in log(L - E).
        on_frontier = model.loss(n_opt[inside], d_opt[inside]) if inside.any() else L.ravel()
        floor = float(model.loss(1e40, 1e40))  # the irreducible loss, as the law sees it
        excess = np.geomspace(on_frontier.min() - floor, on_frontier.max() - floor, 11)[1:-1]
        loss_levels = np.unique(np.round(floor + excess, 2))
    loss_levels = np.asarray(loss_levels, np.float64)
    loss_set = ax.contour(NN, DD, L, levels=loss_levels, cmap=BUDGET_CMAP, linewidths=1.1)
    loss_set.set_gid("contours-loss")
    # Labels in a row parallel to the frontier, a little above it, where each contour crosses that row.
    window = ((n_lo, n_hi), (d_lo, d_hi))
    spots = _crossings(model, n_opt, d_opt * 10 ** 0.7, loss_levels, window)
    ax.clabel(loss_set, fmt="%.2f", fontsize=8, inline_spacing=3, manual=spots if len(spots) else False)

    if compute_lines is not False:
        CC = 6.0 * NN * DD
        if compute_lines is True:
            k_lo, k_hi = int(np.ceil(np.log10(CC.min()))), int(np.floor(np.log10(CC.max())))
            compute_levels = [10.0 ** k for k in range(k_lo + (k_lo % 2), k_hi + 1, 2)]
        else:
            compute_levels = sorted(float(c) for c in compute_lines)
        # Labels below and right of the frontier, each on its own line of constant C (a factor 4 in N
        # from the optimum); by default only lines whose label falls inside the window are drawn.
        n_at, d_at = model.optimum(np.asarray(compute_levels))
        n_at, d_at = n_at * 4.0, d_at / 4.0
        fits = (n_at > n_lo) & (n_at < n_hi) & (d_at > d_lo) & (d_at < d_hi)
        if compute_lines is True:
            compute_levels = list(np.asarray(compute_levels)[fits])
            n_at, d_at = n_at[fits], d_at[fits]
        if compute_levels:
            compute_set = ax.contour(NN, DD, CC, levels=compute_levels, colors="0.4", linewidths=0.8,
                                     linestyles=":")
            compute_set.set_gid("contours-compute")
            spots = [(n, d) for n, d in zip(n_at, d_at) if n_lo < n < n_hi and d_lo < d < d_hi]
            ax.clabel(compute_set, fmt=lambda c: flop_label(c), fontsize=8, inline_spacing=2, colors="0.3",
                      manual=spots if spots else False)

    handles = [Line2D([], [], color=BUDGET_CMAP(0.5), lw=1.1, label="iso-loss contour (nats/token)")]
    if compute_lines is not False:
        handles.append(Line2D([], [], color="0.55", lw=0.7, ls=":", label="constant compute C = 6ND"))
    frontier, = ax.plot(n_opt[inside], d_opt[inside], color="black", lw=2.0, gid="contours-frontier",
                        label=r"compute-optimal frontier $(N_{opt}, D_{opt})$")
    handles.append(frontier)
    if boot is not None:
        C_band = np.geomspace(6.0 * n_lo * d_lo, 6.0 * n_hi * d_hi, 60)
        small_n, large_n = _frontier_band(boot, C_band, level)
        polygon = np.vstack([small_n, large_n[::-1]])
        band, = ax.fill(polygon[:, 0], polygon[:, 1], color="tab:orange", alpha=0.35, lw=0, gid="contours-band",
                        label=f"{level:.0%} bootstrap band ({boot.n_resamples:,} resamples)")
        handles.append(band)
    ax.set_xlabel("parameters N")
    ax.set_ylabel("training tokens D")
    ax.set_title("Iso-loss contours of the fitted law")
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, fontsize=8)
    return ax


# ---------------------------------------------------------------------- bootstrap pair plot
def _estimate_and_draws(boot: BootstrapResult, name: str) -> tuple[float, np.ndarray]:
    draws = boot.draws
    if name not in draws.columns:
        raise ValueError(f"unknown quantity {name!r}; choose from {list(draws.columns)}")
    estimate = boot.summary().get("estimate", pd.Series(dtype=float)).get(name)
    if estimate is None:  # a log-space parameter such as "a"
        estimate = boot.estimate[list(boot.law.param_names).index(name)]
    return float(estimate), draws[name].to_numpy(np.float64)


def _wide_positive(values: np.ndarray) -> bool:
    """True when a quantity is positive and spans more than a factor 10 (draw it on a log axis)."""
    finite = values[np.isfinite(values)]
    return finite.size > 0 and finite.min() > 0 and finite.max() / finite.min() > 10


def pairs(boot: BootstrapResult, names: Sequence[str] = ("alpha", "beta", "E", "a_opt"), *, fig: Figure | None = None,
          level: float = 0.95) -> Figure:
    r"""Pair plot of bootstrap draws with the point estimate and percentile intervals.

    A ``len(names)`` by ``len(names)`` grid: on the diagonal the histogram of each quantity's
    draws with the full-data estimate (solid red line) and the ``level`` percentile interval
    (dashed lines; the title states both); below it the draws of each pair (scatter, or hexbin
    for more than 5000 draws) with the estimate as a red cross; above it the Pearson
    correlation of the pair (bold where :math:`|r| \ge 0.5`, over every finite draw).

    Each quantity's axis follows the bulk of its draws (:func:`shown_range`: quartile fences), so a
    few resamples where a term vanishes (:math:`E \to 10^{-30}`) or runs off (:math:`A \to 10^{30}`)
    neither put it on a log axis spanning dozens of decades nor squash the other draws into a
    corner. Draws beyond the axis are not dropped: they are drawn at its edge as open triangles
    pointing their way (``gid="pairs-beyond"``), the diagonal's title says how many, and the
    figure's legend says how many lie below or above which value and how far they go. Quantities
    whose shown draws are positive and span more than a factor 10 (``A``, ``B``, ``G``) are drawn
    on logarithmic axes.

    Parameters
    ----------
    boot : BootstrapResult
    names : sequence of str
        Columns of ``boot.draws``: natural parameters, ``a_opt``, ``b_opt``, ``G`` or
        log-space parameters.
    fig : Figure, optional
        An empty figure to draw into; a new one when omitted.
    level : float
        Two-sided level of the percentile intervals.

    Returns
    -------
    Figure
        With ``len(names)**2`` axes.
    """
    if not _is_bootstrap(boot):
        raise TypeError(f"pairs needs a BootstrapResult (draws to plot), got {type(boot)}")
    names = list(names)
    if not names:
        raise ValueError("names must name at least one quantity")
    values = {name: _estimate_and_draws(boot, name) for name in names}
    k = len(names)
    if fig is None:
        fig = plt.figure(figsize=(2.2 * k + 1.0, 2.2 * k + 0.6), layout="constrained")
    axes = fig.subplots(k, k, squeeze=False)
    tail = (1 - level) / 2
    log_axis, limits, edges, beyond, said = {}, {}, {}, {}, []
    for name in names:
        est, x = values[name]
        log_axis[name], low, high = shown_range(x, est)
        limits[name] = _padded(low, high, log_axis[name]) if np.isfinite(low) else (0.0, 1.0)
        edges[name] = _padded(low, high, log_axis[name], pad=0.025) if np.isfinite(low) else (0.0, 1.0)
        with np.errstate(invalid="ignore"):
            below, above = x < limits[name][0], x > limits[name][1]
        beyond[name] = below | above
        n_bad = int(np.sum(~np.isfinite(x)))
        if beyond[name].any():
            parts = [f"{int(below.sum())} below {_sci_plain(limits[name][0])} (lowest {_sci_plain(x[below].min())})"
                     if below.any() else "",
                     f"{int(above.sum())} above {_sci_plain(limits[name][1])} (highest {_sci_plain(x[above].max())})"
                     if above.any() else ""]
            said.append(f"{name}: {int(beyond[name].sum())} of {x.size} draws beyond the axis, "
                        + ", ".join(p for p in parts if p))
        if n_bad:
            said.append(f"{name}: {n_bad} of {x.size} draws not finite (not drawn)")

    for i, row_name in enumerate(names):
        for j, col_name in enumerate(names):
            ax = axes[i, j]
            est_x, x = values[col_name]
            est_y, y = values[row_name]
            if i == j:
                finite = np.isfinite(x)
                shown = x[finite & ~beyond[col_name]]
                lim = limits[col_name]
                bins = np.geomspace(*lim, 31) if log_axis[col_name] else np.linspace(*lim, 31)
                ax.hist(shown, bins=bins, color="0.7", edgecolor="white", linewidth=0.4)
                lo, hi = np.quantile(x[finite], [tail, 1 - tail])
                ax.axvline(est_x, color=ESTIMATE_COLOR, lw=1.5)
                for bound in (lo, hi):
                    if lim[0] <= bound <= lim[1]:
                        ax.axvline(bound, color="black", ls="--", lw=1.0)
                n_out = int(beyond[col_name].sum())
                ax.set_title(f"{SYMBOLS.get(col_name, col_name)} = {est_x:.4g}\n[{lo:.4g}, {hi:.4g}]"
                             + (f"\n{n_out} of {x.size} draws beyond the axis" if n_out else ""), fontsize=8)
                ax.set_yticks([])
            elif i > j:
                ok = np.isfinite(x) & np.isfinite(y)
                inside = ok & ~beyond[col_name] & ~beyond[row_name]
                if inside.sum() > 5000:
                    ax.hexbin(x[inside], y[inside], gridsize=30, cmap="Greys", mincnt=1,
                              xscale="log" if log_axis[col_name] else "linear",
                              yscale="log" if log_axis[row_name] else "linear")
                else:
                    ax.scatter(x[inside], y[inside], s=4, alpha=0.35, color="0.3", edgecolors="none",
                               rasterized=True)
                _draw_beyond(ax, x[ok & ~inside], y[ok & ~inside], edges[col_name], edges[row_name])
                ax.plot([est_x], [est_y], marker="+", color=ESTIMATE_COLOR, markersize=12, mew=2.0, ls="none")
            else:
                ok = np.isfinite(x) & np.isfinite(y)
                r = np.corrcoef(x[ok], y[ok])[0, 1] if ok.sum() > 2 else np.nan
                ax.text(0.5, 0.5, f"r = {r:+.2f}", transform=ax.transAxes, ha="center", va="center",
                        fontsize=11, fontweight="bold" if abs(r) >= 0.5 else "normal")
                ax.set_xticks([])
                ax.set_yticks([])
                for spine in ax.spines.values():
                    spine.set_visible(False)
            if i >= j:
                _pairs_axis(ax, "x", log_axis[col_name], limits[col_name])
                if i > j:
                    _pairs_axis(ax, "y", log_axis[row_name], limits[row_name])
                ax.tick_params(labelsize=7)
            ax.set_xlabel(LABELS.get(col_name, col_name) if i == k - 1 else "")
            ax.set_ylabel(LABELS.get(row_name, row_name) if (j == 0 and i > 0) else "")
            if i < k - 1 and i >= j:
                ax.xaxis.set_major_formatter(NullFormatter())
                ax.xaxis.set_minor_formatter(NullFormatter())
            if j > 0 and i > j:
                ax.yaxis.set_major_formatter(NullFormatter())
                ax.yaxis.set_minor_formatter(NullFormatter())
    handles = [Line2D([], [], color=ESTIMATE_COLOR, lw=1.5, marker="+", markersize=10, mew=2,
                      label="full-data estimate"),
               Line2D([], [], color="black", ls="--", lw=1.0, label=f"{level:.0%} percentile interval"),
               Line2D([], [], ls="none", marker="o", color="0.3", alpha=0.5, markersize=4,
                      label=f"bootstrap draws ({boot.n_resamples:,})")]
    if said:
        import textwrap

        # two legend columns: the note fills the second one, wrapped to about half the figure's width
        width = max(30, int(fig.get_figwidth() * 72 / (9 * 0.55) / 2))
        lines = [textwrap.fill(line, width, subsequent_indent="  ") for line in said]
        handles.append(Line2D([], [], ls="none", marker=">", markerfacecolor="none", markeredgecolor=BEYOND_COLOR,
                              markersize=5, label="draws beyond an axis, drawn at its edge:\n" + "\n".join(lines)))
    fig.legend(handles=handles, loc="outside lower center", ncols=2 if said else 3, fontsize=9, frameon=False)
    fig.suptitle("Bootstrap distribution of the fitted parameters", fontsize=12)
    return fig


#: Colour of the draws drawn at the edge of a pairs-plot axis (beyond its range).
BEYOND_COLOR = "tab:purple"


def _sci_plain(value: float) -> str:
    """``1.7e-12``, ``1.41``: a short plain-text number for notes."""
    return f"{value:.3g}"


def _draw_beyond(ax: Axes, x: np.ndarray, y: np.ndarray, x_edge: tuple[float, float],
                 y_edge: tuple[float, float]) -> None:
    """Draws beyond the axes' range, drawn at the edge they lie beyond: an open triangle pointing their way
    (``gid="pairs-beyond"``)."""
    if not x.size:
        return
    xc, yc = np.clip(x, *x_edge), np.clip(y, *y_edge)
    side = np.where(x < x_edge[0], "<", np.where(x > x_edge[1], ">", np.where(y < y_edge[0], "v", "^")))
    for marker in ("<", ">", "v", "^"):
        pick = side == marker
        if pick.any():
            ax.scatter(xc[pick], yc[pick], marker=marker, s=16, facecolors="none", edgecolors=BEYOND_COLOR,
                       linewidths=0.8, clip_on=False, zorder=4, gid="pairs-beyond")


def _pairs_axis(ax: Axes, which: str, log: bool, limits: tuple[float, float]) -> None:
    """Scale, ticks and limits of a pairs-plot axis (``which``: "x" or "y"): log with round ticks over the range
    (no crowded minor labels), or linear with at most 3 ticks."""
    axis = ax.xaxis if which == "x" else ax.yaxis
    if log:
        getattr(ax, f"set_{which}scale")("log")
        ticks = ticks_over(*limits, log=True, min_ticks=2)
        axis.set_major_locator(FixedLocator(ticks))
        axis.set_major_formatter(_tick_labels(ticks))
        axis.set_minor_formatter(NullFormatter())
    else:
        axis.set_major_locator(MaxNLocator(3))
    getattr(ax, f"set_{which}lim")(limits)


# ---------------------------------------------------------------------- tokens per parameter
def tokens_per_parameter(result: FitResult | BootstrapResult, *, compare: Mapping[str, Any] | None = None,
                         C: Sequence[float] | np.ndarray | None = None, ax: Axes | None = None,
                         level: float = 0.95, label: str | None = None) -> Axes:
    r"""Compute-optimal tokens per parameter :math:`D_{opt}/N_{opt}` against compute.

    .. math:: \frac{D_{opt}}{N_{opt}} = G^{-2} \left(\frac{C}{6}\right)^{b - a},
              \quad a = \frac{\beta}{\alpha+\beta},\ b = \frac{\alpha}{\alpha+\beta}

    A line for the point estimate; with a :class:`BootstrapResult` also the ``level``
    percentile band of the ratio over the draws (as in Besiroglu et al. 2024, Fig. 4); one
    dashed line per entry of ``compare`` (e.g. Hoffmann et al.'s published law).

    Parameters
    ----------
    result : FitResult or BootstrapResult
    compare : mapping label -> FitResult, BootstrapResult or dict of ``A, B, E, alpha, beta``
        Further laws drawn for comparison (their point estimates).
    C : array of float, optional
        Compute budgets (FLOP); default 200 values from :math:`10^{18}` to :math:`10^{26}`.
    ax : Axes, optional
    level : float
        Two-sided level of the band.
    label : str, optional
        Legend label of ``result`` (default "this fit").

    Returns
    -------
    Axes
        Artists: the estimate line (``gid="tokens-estimate"``), the band (``gid="tokens-band"``,
        bootstrap only), one line per comparison (``gid="tokens-compare"``).
    """
    C = np.geomspace(1e18, 1e26, 200) if C is None else np.asarray(C, np.float64)
    if C.ndim != 1 or C.size < 2 or np.any(~np.isfinite(C) | (C <= 0)):
        raise ValueError("C must be a 1-d array of at least two finite compute values > 0 FLOP")
    C = np.sort(C)
    ax = _new_axes(ax, (7.5, 4.8))
    label = label or "this fit"
    model = _Model(result)
    n_opt, d_opt = model.optimum(C)
    ax.plot(C, d_opt / n_opt, color="tab:blue", lw=2.0, gid="tokens-estimate", label=label, zorder=3)
    if _is_bootstrap(result):
        table = result.compute_optimal(C, level=level)
        ax.fill_between(C, table["D_over_N_low"], table["D_over_N_high"], color="tab:blue", alpha=0.2, lw=0,
                        gid="tokens-band",
                        label=f"{level:.0%} bootstrap interval ({result.n_resamples:,} resamples)", zorder=1)
    styles = ["--", "-.", ":", (0, (5, 1, 1, 1))]
    colors = ["tab:red", "tab:green", "tab:purple", "tab:brown"]
    for j, (name, other) in enumerate((compare or {}).items()):
        other_model = _Model(other)
        n_o, d_o = other_model.optimum(C)
        ax.plot(C, d_o / n_o, ls=styles[j % len(styles)], color=colors[j % len(colors)], lw=1.8,
                gid="tokens-compare", label=name)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:g}" if str(f"{v:g}")[0] in "25" else ""))
    ax.set_xlim(C[0], C[-1])
    ax.set_xlabel("compute C (FLOP)")
    ax.set_ylabel("tokens per parameter $D_{opt}/N_{opt}$")
    ax.grid(True, which="major", alpha=0.3)
    ax.grid(True, which="minor", alpha=0.1)
    ax.set_title("Compute-optimal tokens per parameter")
    _shade_extrapolation(ax, result, C)
    place_legend(ax, prefer="upper left", framealpha=0.9, fontsize=9)
    return ax


def _shade_extrapolation(ax: Axes, result: Any, C: np.ndarray) -> None:
    """Shade the compute outside the fitted runs' span (``gid="extrapolation"``): predictions there extrapolate."""
    from .api.reach import result_span

    span = result_span(result)
    if not span or "C" not in span:
        return
    low, high = span["C"]
    label = "extrapolation (compute outside the fitted runs)"
    for a, b in ((C[0], low), (high, C[-1])):
        if b > a:
            ax.axvspan(a, b, color="0.85", alpha=0.5, lw=0, zorder=0, gid="extrapolation", label=label)
            label = None


# ---------------------------------------------------------------------- residuals
def _huber_delta(result: Any) -> float | None:
    loss = getattr(result, "loss", None)
    if loss is None or getattr(loss, "name", None) != "huber":
        return None
    return dict(loss.params).get("delta")


def residuals(fit: FitResult | BootstrapResult, data, *, fig: Figure | None = None) -> Figure:
    r"""Log residuals :math:`r_i = \log L_i - \log \hat L(N_i, D_i)` against N and against D.

    Two panels sharing the residual axis, each run coloured by its compute, a zero line and,
    for a Huber fit, the band :math:`|r| \le \delta` inside which the loss is quadratic
    (outside it every point pulls with the same force :math:`\delta`). The colour bar is ticked over
    its whole range (:func:`ticks_over`); the legend goes where it covers no run
    (:func:`place_legend`).

    Parameters
    ----------
    fit : FitResult or BootstrapResult
        A Chinchilla-law fit (a bootstrap's point estimate).
    data : DataFrame
        The runs (columns as for :func:`isoflop`).
    fig : Figure, optional
        An empty figure to draw into.

    Returns
    -------
    Figure
        With two axes (residuals vs N, vs D) and a colour bar.
    """
    model = _Model(fit)
    N, D, y, C = _data_arrays(fit, data)
    r = np.log(y) - np.log(model.loss(N, D))
    if fig is None:
        fig = plt.figure(figsize=(10.0, 4.2), layout="constrained")
    ax_n, ax_d = fig.subplots(1, 2, sharey=True)
    norm = LogNorm(vmin=C.min(), vmax=C.max()) if C.max() > C.min() else None
    delta = _huber_delta(fit)
    for ax, x, xlabel in ((ax_n, N, "parameters N"), (ax_d, D, "training tokens D")):
        if delta is not None:
            ax.axhspan(-delta, delta, color="tab:orange", alpha=0.35, lw=0, gid="residuals-delta",
                       label=f"Huber quadratic zone |r| ≤ δ = {delta:g}")
        ax.axhline(0.0, color="black", lw=0.8, gid="residuals-zero")
        points = ax.scatter(x, r, c=C, cmap=BUDGET_CMAP, norm=norm, s=14, alpha=0.8, edgecolors="none",
                            gid="residuals-data", label="training runs")
        ax.set_xscale("log")
        ax.set_xlabel(xlabel)
        ax.grid(True, which="major", alpha=0.3)
    ax_n.set_ylabel(r"log residual $\log L - \log\hat L$")
    ax_n.set_title("Residuals vs model size")
    ax_d.set_title("Residuals vs training tokens")
    bar = fig.colorbar(points, ax=[ax_n, ax_d], pad=0.01)
    bar.set_label("compute C (FLOP)")
    _tick_colorbar(bar)
    place_legend(ax_n, prefer="lower left", fontsize=8, framealpha=0.9)
    return fig


# ---------------------------------------------------------------------- multi-start landscape
def basins(objectives, tol: float = BASIN_TOL) -> pd.DataFrame:
    """:func:`jaxscale.engine.multistart.basins` as a table: one row per basin, best first, columns
    ``objective`` (its lowest value; nan for the non-finite end points) and ``count``."""
    objective, count = engine_basins(objectives, tol)
    return pd.DataFrame({"objective": objective, "count": count})


def _distinct_labels(values: np.ndarray) -> list[str]:
    """Shortest common precision (at least 6 significant digits) that tells all values apart."""
    for digits in range(6, 16):
        labels = [f"{v:.{digits}g}" for v in values]
        if len(set(labels)) == len(labels):
            break
    return labels


def landscape(fit: FitResult, *, ax: Axes | None = None, tol: float = 1e-9, max_basins: int = 12) -> Axes:
    r"""Where the starts of a multi-start fit end: one bar per basin with the number of starts in it.

    End objectives :math:`\sum_i w_i \rho(r_i)` are sorted and grouped into basins whose
    consecutive values differ by at most ``tol`` (:func:`basins`). The ``max_basins`` best
    basins get a bar each (the best in red), all further basins share one grey bar and
    starts ending at a non-finite objective another, so the bars add up to the number of
    starts. The title reads "k / K starts reach the best basin". Starts a pruned multi-start stopped
    while screening (status ``"pruned"``) have no end point and are left out (and counted in the title).

    Parameters
    ----------
    fit : FitResult
        A fit with its per-start table (``fit.starts``).
    ax : Axes, optional
    tol : float
        Absolute tolerance grouping objectives into one basin (and of the best basin).
    max_basins : int
        Basins drawn individually.

    Returns
    -------
    Axes
        Bars with ``gid="landscape-bar"`` whose heights sum to the number of starts.
    """
    if not isinstance(fit, FitResult):
        raise TypeError(f"landscape needs a FitResult (its per-start table), got {type(fit)}")
    objectives = fit.starts["objective"].to_numpy(np.float64) if "objective" in fit.starts else np.empty(0)
    if objectives.size == 0:
        raise ValueError("this fit has no per-start results (e.g. built from given parameters); nothing to draw")
    # a pruned multi-start: only continued starts have end points (pruned ones stopped while screened)
    pruned = (fit.starts["status"] == "pruned").to_numpy() if "status" in fit.starts else np.zeros(objectives.size, bool)
    objectives = objectives[~pruned]
    table = basins(objectives, tol)
    finite = table[np.isfinite(table["objective"])]
    shown = finite.iloc[:max_basins]
    rest = finite.iloc[max_basins:]
    labels = _distinct_labels(shown["objective"].to_numpy())
    counts = list(shown["count"])
    colors = [ESTIMATE_COLOR] + ["tab:blue"] * (len(shown) - 1) if len(shown) else []
    if len(rest):
        labels.append(f"{len(rest):,} more basins\n{rest['objective'].min():.3g} … {rest['objective'].max():.3g}")
        counts.append(int(rest["count"].sum()))
        colors.append("0.6")
    n_bad = int(table.loc[~np.isfinite(table["objective"]), "count"].sum())
    if n_bad:
        labels.append("non-finite")
        counts.append(n_bad)
        colors.append("0.3")

    ax = _new_axes(ax, (max(6.0, 0.75 * len(counts) + 3.0), 4.6))
    x = np.arange(len(counts))
    bars = ax.bar(x, counts, color=colors, width=0.7, gid="landscape-bar")
    for bar in bars:
        bar.set_gid("landscape-bar")
    ax.bar_label(bars, labels=[f"{c:,}" for c in counts], fontsize=8, padding=2)
    ax.set_xticks(x, labels, rotation=35, ha="right", rotation_mode="anchor", fontsize=8)
    # Head room above the tallest bar for its count and the legend.
    if max(counts) / max(min(counts), 1) > 30:
        ax.set_yscale("log")
        ax.set_ylim(0.7, max(counts) * 40.0)
    else:
        ax.set_ylim(0, max(counts) * 1.45)
    slack = (max(len(counts), 5) - len(counts)) / 2
    ax.set_xlim(-0.6 - slack, len(counts) - 0.4 + slack)
    ax.set_xlabel(f"end objective of each basin ({fit.loss.name.capitalize()} sum; grouped within {tol:g})")
    ax.set_ylabel("number of starts")
    n_starts = int(objectives.size)
    n_best = int(shown["count"].iloc[0]) if len(shown) else 0
    solver = fit.recipe.get("solver", "")
    ax.set_title(f"{n_best:,} / {n_starts:,} starts reach the best basin" + (f" (solver: {solver})" if solver else "")
                 + (f"\n{int(pruned.sum()):,} pruned starts not shown (js.search.exhaustive() fits every start)"
                    if pruned.any() else ""))
    handles = [Line2D([], [], ls="none", marker="s", markersize=9, color=ESTIMATE_COLOR, label="best basin")]
    if len(shown) > 1:
        handles.append(Line2D([], [], ls="none", marker="s", markersize=9, color="tab:blue", label="other basins"))
    if len(rest):
        handles.append(Line2D([], [], ls="none", marker="s", markersize=9, color="0.6",
                              label=f"beyond the {max_basins} best basins"))
    ax.legend(handles=handles, loc="upper center", ncols=len(handles), fontsize=8, framealpha=0.9)
    ax.grid(True, axis="y", alpha=0.3)
    return ax


# ---------------------------------------------------------------------- registry for the CLI
#: CLI name -> plotting function.
KINDS: dict[str, Callable[..., Any]] = {
    "isoflop": isoflop,
    "contours": contours,
    "pairs": pairs,
    "tokens": tokens_per_parameter,
    "residuals": residuals,
    "landscape": landscape,
}
#: Kinds that need a BootstrapResult (the others take a FitResult, contours and tokens either).
NEEDS_BOOTSTRAP: frozenset[str] = frozenset({"pairs"})
#: Kinds that take the data as their second argument.
NEEDS_DATA: frozenset[str] = frozenset({"isoflop", "residuals"})


# ---------------------------------------------------------------------- decisions (extrapolation audit)
def extrapolation(table: pd.DataFrame, *, ax: Axes | None = None, log: bool | None = None) -> Axes:
    """Held-out runs: actual vs predicted loss, with each run's prediction interval for a new run.

    ``table`` is :func:`jaxscale.extrapolation`'s output. At ``x = predicted`` a thin bar spans the
    prediction interval (``lower``..``upper``) and a thick one the interval of the mean curve
    (``mean_lower``..``mean_upper``); the marker is the actual loss: a dot when inside the
    prediction interval, a red cross when outside. The diagonal is actual = predicted; colours
    are the held-out budgets, on a colour bar named after the split (compute C, model size N or tokens D;
    :func:`split_label`) and ticked over its whole range (:func:`ticks_over`). The legend goes where it
    covers no run (:func:`place_legend`). ``log``: log axes (default: when the values span more than a
    factor 3). Returns the Axes (bars have ``gid="prediction-interval"``).
    """
    needed = {"predicted", "actual", "lower", "upper", "mean_lower", "mean_upper", "inside", "budget"}
    missing = sorted(needed - set(table.columns))
    if missing:
        raise ValueError(f"table lacks columns {missing}: pass the output of jaxscale.extrapolation")
    ax = _new_axes(ax, (6.0, 5.4))
    budgets = np.unique(table["budget"].to_numpy(np.float64))
    norm = LogNorm(budgets.min(), budgets.max()) if len(budgets) > 1 and budgets.min() > 0 else None
    for _, row in table.iterrows():
        color = BUDGET_CMAP(norm(row["budget"])) if norm is not None else "tab:blue"
        ax.plot([row["predicted"]] * 2, [row["lower"], row["upper"]], color=color, alpha=0.45, lw=1.2,
                gid="prediction-interval")
        ax.plot([row["predicted"]] * 2, [row["mean_lower"], row["mean_upper"]], color=color, lw=3.2, alpha=0.9,
                gid="mean-interval")
        if row["inside"]:
            ax.plot(row["predicted"], row["actual"], "o", color=color, ms=4.5, mec="k", mew=0.4, gid="inside")
        else:
            ax.plot(row["predicted"], row["actual"], "x", color="tab:red", ms=7, mew=1.8, gid="outside")
    lo = float(np.nanmin(table[["actual", "lower", "predicted"]].to_numpy()))
    hi = float(np.nanmax(table[["actual", "upper", "predicted"]].to_numpy()))
    log = bool(lo > 0 and hi / lo > 3) if log is None else bool(log and lo > 0)
    pad = (hi / lo) ** 0.05 if log else None
    limits = (lo / pad, hi * pad) if pad else (lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo))
    ax.plot(limits, limits, color="0.4", lw=0.8, ls="--", zorder=0)
    ax.set_xlim(limits)
    ax.set_ylim(limits)
    if log:
        ax.set_xscale("log")
        ax.set_yscale("log")
    ax.set_aspect("equal", adjustable="box")
    level = table.attrs.get("level", 0.95)
    n_in, n_all = int(table["inside"].sum()), len(table)
    from .api.reach import reach_note

    note = reach_note(table)
    import textwrap

    ax.set_title(f"{n_in} / {n_all} held-out runs inside their {level:.0%} prediction interval"
                 + (f"\n{textwrap.fill(note, 72)}" if note else ""), fontsize=9 if note else None)
    ax.set_xlabel("predicted loss (fit without these runs)")
    ax.set_ylabel("actual loss")
    handles = [Line2D([], [], color="0.5", alpha=0.6, lw=1.2, label=f"{level:.0%} prediction interval (new run)"),
               Line2D([], [], color="0.5", lw=3.2, label=f"{level:.0%} interval of the mean curve"),
               Line2D([], [], ls="none", marker="o", color="0.5", mec="k", mew=0.4, label="actual, inside"),
               Line2D([], [], ls="none", marker="x", color="tab:red", mew=1.8, label="actual, outside")]
    ax.grid(True, which="both", alpha=0.25)
    if norm is not None:
        mappable = plt.cm.ScalarMappable(norm=norm, cmap=BUDGET_CMAP)
        bar = ax.figure.colorbar(mappable, ax=ax, label=split_label(table))
        _tick_colorbar(bar)
    place_legend(ax, handles, prefer="upper left", fontsize=8, framealpha=0.9)
    return ax


#: What the held-out budgets of :func:`jaxscale.extrapolation` measure, by its ``split``.
SPLIT_LABELS = {"compute": "held-out budget: compute C (FLOP)", "N": "held-out budget: model size N (parameters)",
                "D": "held-out budget: training tokens D"}


def split_label(table: pd.DataFrame) -> str:
    """Colour-bar label of an extrapolation table's ``budget`` column, named after its split (``table.attrs``);
    a table without that attribute (e.g. read back from CSV) is labelled by its values."""
    split = table.attrs.get("split")
    if split in SPLIT_LABELS:
        return SPLIT_LABELS[split]
    return "held-out budget (FLOP)" if table["budget"].min() > 1e12 else "held-out budget"


def metric_artefact(table: pd.DataFrame, *, ax: Axes | None = None) -> Axes:
    """Exact match vs the per-token metric from the same loss fit, against model size, with bands and N*.

    ``table`` is :func:`jaxscale.metric_artefact`'s output. Both metrics are drawn from the same
    fitted loss; the vertical line is the apparent threshold :math:`N^*` (exact match = threshold)
    and the shaded span its interval when the table carries bootstrap bands. Returns the Axes
    (curves have ``gid="exact_match"`` / ``gid="per_token"``).
    """
    needed = {"N", "exact_match", "per_token"}
    if needed - set(table.columns):
        raise ValueError(f"table lacks columns {sorted(needed - set(table.columns))}: pass the output of "
                         "jaxscale.metric_artefact")
    ax = _new_axes(ax, (6.4, 4.4))
    T = table.attrs.get("answer_tokens", "T")
    for name, color, label in (("per_token", "tab:blue", "per-token probability $e^{-\\ell}$ (smooth)"),
                               ("exact_match", "tab:orange", f"exact match $e^{{-{T}\\ell}}$ ({T}-token answer)")):
        ax.plot(table["N"], table[name], color=color, lw=2, label=label, gid=name)
        if f"{name}_low" in table.columns:
            ax.fill_between(table["N"], table[f"{name}_low"], table[f"{name}_high"], color=color, alpha=0.2, lw=0)
    n_star = table.attrs.get("N_star")
    if n_star is not None and np.isfinite(n_star):
        ax.axvline(n_star, color="k", lw=1, ls="--", gid="N_star",
                   label=f"apparent threshold $N^*$ = {_sci_text(n_star)}")
        if "N_star_low" in table.attrs:
            ax.axvspan(table.attrs["N_star_low"], table.attrs["N_star_high"], color="0.5", alpha=0.15, lw=0,
                       label=f"{table.attrs.get('level', 0.95):.0%} interval of $N^*$")
    ax.set_xscale("log")
    ax.set_ylim(0, 1)
    ax.set_xlabel(f"parameters N (trained on D = {table.attrs.get('tokens_per_parameter', 20):g} N tokens)")
    ax.set_ylabel("metric")
    ax.set_title("Same loss, two metrics: sharp 'emergence' comes from exact match")
    ax.grid(True, which="both", alpha=0.25)
    place_legend(ax, prefer="upper left", fontsize=8)
    return ax


def arms(result: Any, C=None, *, baseline=None, other=None, level: float = 0.95, fig: Figure | None = None) -> Figure:
    """Two arms (:func:`jaxscale.fit_arms` / :func:`jaxscale.bootstrap_arms`): left, each arm's compute-optimal
    loss vs compute with its ``level`` band (interval of the mean curve, from the bootstrap draws); right, the
    effective compute multiplier of ``other`` over ``baseline`` vs compute with its band and the line 1
    (no difference). ``C``: budgets (default 64 log-spaced over the runs' compute range, one decade beyond).
    Returns the Figure (axes ``gid``: ``"arms-loss"``, ``"arms-multiplier"``).
    """
    lo, hi = result.recipe.get("compute_range", (np.nan, np.nan))
    if C is None:
        if not np.isfinite(lo):
            raise ValueError("give C= (budgets in FLOP): the result has no compute range")
        C = np.geomspace(lo, hi * 10.0, 64)
    table = result.compare(C, baseline=baseline, other=other, level=level)
    names = [col[5:] for col in table.columns if col.startswith("loss_") and not col.endswith(("_low", "_high"))]
    fig = fig if fig is not None else plt.figure(figsize=(11.0, 4.4))
    ax_loss, ax_mult = fig.subplots(1, 2)
    ax_loss.set_gid("arms-loss")
    ax_mult.set_gid("arms-multiplier")
    for name, color in zip(names, ("tab:blue", "tab:orange")):
        ax_loss.plot(table["C"], table[f"loss_{name}"], color=color, label=f"arm {name}")
        if f"loss_{name}_low" in table:
            ax_loss.fill_between(table["C"], table[f"loss_{name}_low"], table[f"loss_{name}_high"], color=color,
                                 alpha=0.25, lw=0)
    ax_mult.plot(table["C"], table["multiplier"], color="k", label=f"{names[1]} over {names[0]}")
    if "multiplier_low" in table:
        ax_mult.fill_between(table["C"], table["multiplier_low"], table["multiplier_high"], color="0.5", alpha=0.3,
                             lw=0, label=f"{level:.0%} interval (bootstrap, mean curves)")
    ax_mult.axhline(1.0, color="tab:red", lw=0.8, ls="--")
    for ax in (ax_loss, ax_mult):
        ax.set_xscale("log")
        ax.set_xlabel("compute C (FLOP)")
        if np.isfinite(hi):
            ax.axvspan(hi, table["C"].max(), color="0.9", zorder=0, label="beyond the runs")
        ax.grid(True, which="both", alpha=0.25)
    ax_loss.set_ylabel("compute-optimal loss")
    ax_mult.set_ylabel(f"effective compute multiplier of {names[1]}")
    for ax in (ax_loss, ax_mult):
        place_legend(ax, prefer="upper right", fontsize=8)
    return fig


def curves(result: Any, *, ax: Axes | None = None, max_runs: int = 12) -> Axes:
    """Checkpoint losses of each run (dots) and the fitted curve law through them (lines) vs step, for a
    :func:`jaxscale.fit_curves` / :func:`jaxscale.bootstrap_curves` result (the first ``max_runs`` runs).
    Returns the Axes."""
    ax = _new_axes(ax, (6.4, 4.6))
    cols = result.settings["columns"]
    data = result.data
    law = result.fit.law.base
    runs = list(pd.unique(data[cols.run]))[:max_runs]
    colors = plt.get_cmap("tab20")(np.linspace(0, 1, max(len(runs), 2)))
    for run, color in zip(runs, colors):
        part = data[data[cols.run] == run].sort_values(cols.step)
        inputs = {v: part[v if v != "N" else cols.n].to_numpy(np.float64) for v in law.inputs}
        ax.plot(part[cols.step], part[cols.loss], "o", ms=2.5, color=color)
        ax.plot(part[cols.step], np.atleast_1d(result.fit.predict(**inputs)), "-", color=color, lw=1, label=str(run))
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(f"{law.name}: checkpoints (dots) and the fitted law (lines)")
    ax.grid(True, alpha=0.25)
    place_legend(ax, prefer="upper right", fontsize=7, ncols=2)
    return ax
