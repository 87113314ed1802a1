"""Figures a researcher would put in a paper (issue 21), checked on Epoch's Chinchilla runs.

- the pairs plot's axes follow the bulk of the draws (quartile fences), not a few vanishing ones, and say
  how many draws lie beyond them (drawn at the edge, never dropped silently);
- colour bars carry at least three ticks spread over their whole range;
- the extrapolation plot's colour bar is named after the split (model size N, tokens D, compute C);
- no legend covers a data point (measured in display coordinates after drawing).
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.collections import PathCollection  # noqa: E402

import jaxscale as js  # noqa: E402
from jaxscale import plot  # noqa: E402

PAIRS = ("alpha", "beta", "E", "a_opt")


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def vanishing_boot(chinchilla_240):
    """12 of the 240 runs, 40 resamples: in 3 resamples E vanishes (the fit puts it at ~1e-13). The settings of
    test_edges' eight-row bootstrap, so the suite compiles their programs once."""
    sub = chinchilla_240.sample(12, random_state=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return js.bootstrap(sub, n_resamples=40, starts="subgrid", seed=0, progress=False)


@pytest.fixture(scope="module")
def held_out(chinchilla_240):
    """Extrapolation tables of every fourth Chinchilla run (60) with the top two budgets held out, by model size,
    tokens and compute (test_compare's settings: the suite compiles their programs once)."""
    tables = {}

    def table(split):
        if split not in tables:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                tables[split] = js.extrapolation(chinchilla_240.iloc[::4], split=split, holdout=2, n_resamples=24,
                                                 search=js.Search(starts=6))
        return tables[split]

    return table


# ---------------------------------------------------------------------- measuring helpers (independent of plot.py)
def drawn(fig):
    fig.canvas.draw()
    return fig


def display_points(ax) -> np.ndarray:
    """Display coordinates of every scatter point and line marker of ``ax`` that lies inside the axes."""
    parts = []
    for coll in ax.collections:
        if isinstance(coll, PathCollection) and len(coll.get_offsets()):
            parts.append(coll.get_offset_transform().transform(np.asarray(coll.get_offsets(), float)))
    for line in ax.get_lines():
        if line.get_marker() not in (None, "None", "none", "", " ") and len(line.get_xydata()):
            parts.append(line.get_transform().transform(np.asarray(line.get_xydata(), float)))
    if not parts:
        return np.empty((0, 2))
    pts = np.vstack(parts)
    pts = pts[np.all(np.isfinite(pts), axis=1)]
    box = ax.get_window_extent()
    return pts[(pts[:, 0] >= box.x0) & (pts[:, 0] <= box.x1) & (pts[:, 1] >= box.y0) & (pts[:, 1] <= box.y1)]


def hidden_by_legends(fig) -> int:
    """Data points of any axes of ``fig`` inside the bounding box of any legend (axes or figure legends)."""
    drawn(fig)
    legends = [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None] + list(fig.legends)
    assert legends, "the figure has no legend"
    hidden = 0
    for legend in legends:
        box = legend.get_window_extent()
        for ax in fig.axes:
            pts = display_points(ax)
            hidden += int(np.sum((pts[:, 0] >= box.x0) & (pts[:, 0] <= box.x1)
                                 & (pts[:, 1] >= box.y0) & (pts[:, 1] <= box.y1)))
    return hidden


def colorbars(fig) -> list:
    return [ax for ax in fig.axes if getattr(ax, "_colorbar", None) is not None]


def assert_ticked_over_range(cax, min_ticks: int = 3) -> np.ndarray:
    """At least ``min_ticks`` major ticks inside the colour bar, the first in its lowest and the last in its top
    third (in the bar's own scale: log or linear)."""
    lo, hi = sorted(cax.get_ylim())
    ticks = np.asarray([t for t in cax.yaxis.get_majorticklocs() if lo * (1 - 1e-9) <= t <= hi * (1 + 1e-9)])
    assert len(ticks) >= min_ticks, f"colour bar over ({lo:.3g}, {hi:.3g}) has ticks {ticks}"
    scale = np.log10 if cax.get_yscale() == "log" else (lambda v: v)
    span = scale(hi) - scale(lo)
    assert scale(ticks.min()) - scale(lo) <= span / 3 and scale(hi) - scale(ticks.max()) <= span / 3, \
        f"colour bar over ({lo:.3g}, {hi:.3g}) has ticks only at one end: {ticks}"
    labels = [t.get_text() for t in cax.get_yticklabels() if t.get_text()]
    assert len(set(labels)) == len(labels) >= min_ticks, labels
    return ticks


# ---------------------------------------------------------------------- pairs: vanishing E
def test_pairs_vanishing_E_draws_do_not_make_a_log_axis(vanishing_boot):
    """Before: E on a log axis from 3.5e-14 to 9.3 (14 decades), the bulk (1.5..2.1) squeezed into one tick."""
    E = vanishing_boot.draws["E"].to_numpy()
    assert np.sum(E < 1e-6) >= 1 and np.log10(E.max() / E.min()) > 10  # the case of the issue: E ~ 0 in a few
    fig = plot.pairs(vanishing_boot, PAIRS)
    axes = np.array(fig.axes).reshape(4, 4)
    j = PAIRS.index("E")
    for ax, which in [(axes[i, j], "x") for i in range(j, 4)] + [(axes[j, jj], "y") for jj in range(j)]:
        assert getattr(ax, f"get_{which}scale")() == "linear"
        lo, hi = getattr(ax, f"get_{which}lim")()
        assert lo <= E.min() and E.max() <= hi < 3.0  # every draw shown, the vanishing ones at 0
    assert sum(p.get_height() for p in axes[j, j].patches) == 40
    assert "beyond the axis" not in axes[j, j].get_title()


def runaway(boot, n_small: int = 3, n_large: int = 2):
    """``boot`` without its vanishing draws, then ``n_small`` draws with E = 1e-30 and ``n_large`` with A = 1e30."""
    import dataclasses

    names = list(boot.law.param_names)
    ok = boot.draws["E"].to_numpy() > 1e-6
    theta = boot.theta[ok].copy()
    theta[:n_small, names.index("e")] = np.log(1e-30)
    theta[n_small:n_small + n_large, names.index("a")] = np.log(1e30)
    return dataclasses.replace(boot, theta=theta, objective=boot.objective[ok], converged=boot.converged[ok],
                               n_at_best=boot.n_at_best[ok], _identifiable=None), int(ok.sum())


def test_pairs_36_decades_of_E_and_a_runaway_A_are_counted_at_the_edge(vanishing_boot):
    """The issue's case: E = 1e-30 in 3 draws (36 decades below the rest) and A = 1e30 in 2 (27 decades above)."""
    boot, R = runaway(vanishing_boot)
    A = boot.draws["A"].to_numpy()
    fig = plot.pairs(boot, ("E", "A", "alpha"))
    axes = np.array(fig.axes).reshape(3, 3)
    lo, hi = axes[2, 0].get_xlim()
    assert axes[2, 0].get_xscale() == "linear" and lo <= 1e-30 and hi < 3.0  # E: linear, every draw
    assert axes[2, 1].get_xscale() == "log"
    lo, hi = axes[2, 1].get_xlim()  # A: log over the other draws only
    assert np.log10(hi / lo) < 6 and hi < 1e29 and lo <= np.sort(A)[0]
    assert np.sum(A > hi) == 2
    assert f"2 of {R} draws beyond the axis" in axes[1, 1].get_title()
    assert "beyond the axis" not in axes[0, 0].get_title()
    (legend,) = fig.legends
    note = " ".join(legend.get_texts()[-1].get_text().split())  # the note is wrapped to the figure's width
    assert f"A: 2 of {R} draws beyond the axis, 2 above {hi:.3g} (highest 1e+30)" in note
    # still drawn: at the edge of each scatter panel of A's row and column, pointing their way
    for ax in (axes[1, 0], axes[2, 1]):
        edge = [c for c in ax.collections if c.get_gid() == "pairs-beyond"]
        assert sum(len(c.get_offsets()) for c in edge) == 2
    assert sum(p.get_height() for p in axes[1, 1].patches) == R - 2


def test_pairs_keeps_every_draw_of_a_genuinely_wide_quantity(vanishing_boot):
    """alpha spreads from 0.05 to 0.5 and a_opt from 0.14 to 0.88 in the same 40 draws: nothing is cut."""
    fig = plot.pairs(vanishing_boot, ("alpha", "a_opt", "beta"))
    for ax, name in zip(np.array(fig.axes).reshape(3, 3).diagonal(), ("alpha", "a_opt", "beta")):
        x = vanishing_boot.draws[name].to_numpy()
        lo, hi = ax.get_xlim()
        assert lo <= x.min() and hi >= x.max() and ax.get_xscale() == "linear"
        assert "beyond the axis" not in ax.get_title()


def test_shown_range_rules():
    rng = np.random.default_rng(0)
    bulk = 1.8 + 0.25 * rng.standard_normal(200)
    assert plot.shown_range(bulk) == (False, bulk.min(), bulk.max())
    log, lo, hi = plot.shown_range(np.r_[bulk, 1e-30, 1e-25])  # vanishing next to a broad bulk: linear, kept at 0
    assert not log and lo == 1e-30
    tight = 1.8 + 0.02 * rng.standard_normal(200)
    log, lo, hi = plot.shown_range(np.r_[tight, 1e-30, 1e-25])  # next to a tight bulk they would squash it
    assert not log and lo == tight.min()
    log, lo, hi = plot.shown_range(np.r_[bulk, 40.0])  # one runaway draw would squash the rest: left out
    assert not log and hi == bulk.max()
    assert plot.shown_range(np.r_[bulk, 1.7], estimate=9.0)[2] == 9.0  # the estimate is always on the axis
    wide = 10 ** rng.uniform(2, 5, 200)
    log, lo, hi = plot.shown_range(np.r_[wide, 1e30])
    assert log and hi == wide.max()
    assert plot.shown_range(np.r_[wide, np.nan, np.inf])[0] is True


# ---------------------------------------------------------------------- colour bars
@pytest.mark.parametrize("split, words", [("N", "model size N"), ("D", "tokens D"), ("compute", "compute C")])
def test_extrapolation_colorbar_named_after_the_split_and_ticked(held_out, split, words):
    table = held_out(split)
    assert table.attrs["split"] == split
    ax = plot.extrapolation(table)
    (cax,) = colorbars(ax.figure)
    assert words in cax.get_ylabel()
    assert ("FLOP" in cax.get_ylabel()) == (split == "compute")
    drawn(ax.figure)
    assert_ticked_over_range(cax)


def test_isoflop_colorbar_ticked_over_its_range_with_one_budget(grid_fit, chinchilla_240):
    ax = plot.isoflop(grid_fit, chinchilla_240, budgets=[1e20])
    (cax,) = colorbars(ax.figure)
    drawn(ax.figure)
    assert_ticked_over_range(cax)


def test_residuals_colorbar_ticked_over_a_narrow_compute_range(grid_fit, chinchilla_240):
    C = chinchilla_240["C"]
    narrow = chinchilla_240[(C > 5e19) & (C < 2.5e20)]  # less than one decade of compute
    fig = plot.residuals(grid_fit, narrow)
    (cax,) = colorbars(fig)
    drawn(fig)
    assert_ticked_over_range(cax)


# ---------------------------------------------------------------------- legends
def test_residuals_legend_hides_no_run(grid_fit, chinchilla_csv):
    """All 245 runs (the 5 outliers kept) against the fit of the 240: the outliers stretch the residual axis
    and a legend at a fixed corner covers runs (17 of 245 before)."""
    every_run = js.datasets.chinchilla(chinchilla_csv, drop_outliers=False)
    fig = plot.residuals(grid_fit, every_run)
    assert hidden_by_legends(fig) == 0


@pytest.mark.parametrize("split", ["N", "compute"])
def test_extrapolation_legend_hides_no_run(held_out, split):
    ax = plot.extrapolation(held_out(split))
    assert hidden_by_legends(ax.figure) == 0


def test_isoflop_and_tokens_legends_hide_no_point(grid_fit, chinchilla_240):
    assert hidden_by_legends(plot.isoflop(grid_fit, chinchilla_240).figure) == 0
    assert hidden_by_legends(plot.tokens_per_parameter(grid_fit).figure) == 0


def test_legend_moves_outside_when_points_fill_the_axes():
    """Points everywhere: no corner is free, so the legend goes beside the axes; with a free corner it stays in."""
    fig = plt.figure(figsize=(5, 4), layout="constrained")
    ax = fig.add_subplot()
    x, y = np.meshgrid(np.linspace(0, 1, 25), np.linspace(0, 1, 25))
    ax.scatter(x.ravel(), y.ravel(), s=4, label="points")
    legend = plot.place_legend(ax)
    assert hidden_by_legends(fig) == 0
    assert legend.get_window_extent().x0 >= ax.get_window_extent().x1  # beside the axes
    fig2 = plt.figure(figsize=(5, 4), layout="constrained")
    ax2 = fig2.add_subplot()
    ax2.scatter(np.linspace(0, 1, 50), np.linspace(0, 1, 50), s=4, label="diagonal")
    legend2 = plot.place_legend(ax2, prefer="lower right")
    assert hidden_by_legends(fig2) == 0
    inner = ax2.get_window_extent()
    box = legend2.get_window_extent()
    assert inner.x0 <= box.x0 and box.x1 <= inner.x1  # a free corner: inside the axes
